//! `cargo bench --bench workers`: keyboard-aware workers on real AVR firmware. Two
//! worker nodes (`qmk-api worker`, one thread each, each with its own state and build
//! cache, as two machines) and an API node share one PostgreSQL job store, which the
//! benchmark starts. 200 random keymaps over 20 keyboards, ten each, are submitted at
//! once in a random order; the run ends when every job has ended. Twice, on a fresh
//! store and fresh caches: with `--prefer-warm 30s` (the default) and `--prefer-warm
//! off` (first come, first served). Reports jobs per minute, the median and 95th
//! percentile of submit-to-finished, and how many reference builds (a keyboard warmed
//! on a node) each run took; checks that every job finished. Takes about 15 minutes on
//! two cores. Needs ../shared, make, qmk, gcc-avr and PostgreSQL.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::firmware::{Draws, random_keymap};
use common::postgres::Postgres;
use common::server::{Server, Worker, bundled_site};
use serde_json::Value;

/// AVR keyboards that build in the tree.
const KEYBOARDS: [&str; 20] = [
    "clueboard/66/rev2",
    "10bleoledhub",
    "acekeyboard/titan60",
    "aplyard/aplx6/rev2",
    "atreus/promicro",
    "canary/canary60rgb/v1",
    "doodboard/duckboard",
    "evyd13/atom47/rev2",
    "foxlab/leaf60/hotswap",
    "grid600/press",
    "handwired/magicforce68",
    "jkdlab/binary_monkey",
    "kopibeng/xt65",
    "mechkeys/espectro",
    "noxary/x268",
    "owlab/spring",
    "reviung/reviung41",
    "smallkeyboard",
    "splitkb/zima",
    "wolf/kuku65",
];
const JOBS_PER_KEYBOARD: usize = 10;
const POLL_EVERY: Duration = Duration::from_millis(250);

fn main() {
    let Some((shared, scratch)) = common::firmware::bench_scratch() else { return };
    let tree = scratch.path().join("qmk");
    let info: Value = serde_json::from_slice(&std::fs::read(shared.join("expected/info_json.json")).unwrap()).unwrap();
    let jobs = keymaps(&info);
    println!(
        "{} jobs over {} keyboards, two worker nodes with a cache each, one PostgreSQL store",
        jobs.len(),
        KEYBOARDS.len()
    );
    for prefer_warm in ["30s", "off"] {
        let Some(postgres) = Postgres::start() else { return };
        let run = scratch.path().join(format!("prefer-warm-{prefer_warm}"));
        let outcome = run_jobs(&postgres.url(), &tree, &run, prefer_warm, &jobs);
        println!(
            "--prefer-warm {prefer_warm:>3}: {:.1} jobs/min ({} jobs in {:.0} s), submit to finished p50 {:.0} s, p95 {:.0} s; \
             {} reference builds",
            outcome.per_minute(),
            outcome.latencies.len(),
            outcome.elapsed.as_secs_f64(),
            outcome.percentile(50),
            outcome.percentile(95),
            outcome.reference_builds
        );
    }
}

/// Ten random keymaps of each keyboard, shuffled.
fn keymaps(info: &Value) -> Vec<Value> {
    let mut draws = Draws::new(21);
    let mut jobs = Vec::new();
    for keyboard in KEYBOARDS {
        let (layout, keys) = info[keyboard]["layouts"].as_object().unwrap().iter().next().unwrap();
        let keys = keys["layout"].as_array().unwrap().len();
        for n in 0..JOBS_PER_KEYBOARD {
            jobs.push(random_keymap(&mut draws, keyboard, &format!("bench_{n}"), layout, keys));
        }
    }
    for at in (1..jobs.len()).rev() {
        jobs.swap(at, draws.below(at + 1));
    }
    jobs
}

struct Outcome {
    elapsed: Duration,
    /// Submit to finished, in seconds, sorted.
    latencies: Vec<f64>,
    reference_builds: usize,
}

impl Outcome {
    fn per_minute(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64() * 60.0
    }

    fn percentile(&self, p: usize) -> f64 {
        self.latencies[(self.latencies.len() * p / 100).min(self.latencies.len() - 1)]
    }
}

fn run_jobs(url: &str, tree: &Path, run: &Path, prefer_warm: &str, jobs: &[Value]) -> Outcome {
    let home = tree.display().to_string();
    let site = bundled_site(run);
    let common = ["--database", url, "--qmk-home", &home, "--idle-mass-compile", "off", "--prefer-warm", prefer_warm];
    let api: Vec<&str> = common.iter().copied().chain(["--site", &site, "--workers", "0"]).collect();
    let server = Server::start(&run.join("api"), &api, &[]);
    let node: Vec<&str> = common.iter().copied().chain(["--workers", "1"]).collect();
    let workers: Vec<Worker> = (0..2).map(|n| Worker::start(&run.join(format!("node{n}")), &node, &[])).collect();
    let started = Instant::now();
    let mut waiting: HashMap<String, Instant> = jobs.iter().map(|job| (server.submit(job), Instant::now())).collect();
    let mut latencies = Vec::new();
    while !waiting.is_empty() {
        std::thread::sleep(POLL_EVERY);
        waiting.retain(|id, submitted| {
            let job = server.get(&format!("/v1/compile/{id}")).json();
            match job["status"].as_str().unwrap() {
                "finished" => {
                    latencies.push(submitted.elapsed().as_secs_f64());
                    false
                }
                "failed" => panic!("job {id} failed: {}", job["result"]["output"]),
                _ => true,
            }
        });
    }
    let elapsed = started.elapsed();
    let reference_builds =
        workers.iter().map(|worker| worker.log().matches("reference build: filled the cache").count()).sum();
    latencies.sort_by(f64::total_cmp);
    Outcome { elapsed, latencies, reference_builds }
}
