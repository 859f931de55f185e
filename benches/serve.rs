//! `cargo bench --bench serve`: a bounded load on loopback. 50 clients each submit
//! 100 distinct keymap-only jobs, one at a time, and poll each until it ends. Reports
//! throughput and submit-to-finished latency, and checks that no job was lost,
//! duplicated or mixed up. Nodes log at info level, as they would in service.
//!
//! Job stores: SQLite (one node), then PostgreSQL with 1, 2 and 3 `serve` nodes on one
//! server that the benchmark starts (skipped where PostgreSQL is not installed):
//! with the server's default durability (each commit waits for the disk), and with
//! `synchronous_commit=off` for new jobs and ends too, which like SQLite's WAL mode
//! loses no commit when a process dies, only the last few on a crash of the machine.
//! `cargo bench --bench serve -- TEXT` runs only the loads whose name holds TEXT.

#[path = "../tests/common/postgres.rs"]
#[allow(dead_code)]
mod postgres;
#[path = "../tests/common/server.rs"]
#[allow(dead_code)]
mod server;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use postgres::Postgres;
use serde_json::json;
use server::Server;

const CLIENTS: usize = 50;
const JOBS_PER_CLIENT: usize = 100;
const POLL_EVERY: Duration = Duration::from_millis(5);

/// Whether the load called `name` is to run: the arguments (past cargo's `--bench`) hold
/// part of its name, or there are none.
fn wanted(name: &str) -> bool {
    let filters: Vec<String> = std::env::args().skip(1).filter(|arg| !arg.starts_with("--")).collect();
    filters.is_empty() || filters.iter().any(|filter| name.contains(filter.as_str()))
}

fn main() {
    println!(
        "Load on loopback: {CLIENTS} clients × {JOBS_PER_CLIENT} keymap-only jobs, each client on one node in turn; \
         {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let disk = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let site = server::bundled_site(disk.path());
    for (what, parent) in
        [("SQLite, state on this disk", env!("CARGO_TARGET_TMPDIR")), ("SQLite, state on /dev/shm", "/dev/shm")]
    {
        if Path::new(parent).is_dir() && wanted(what) {
            let state = tempfile::tempdir_in(parent).unwrap();
            let node = Server::start(state.path(), &["--site", &site], &[]);
            let total = run(what, std::slice::from_ref(&node));
            let store = rusqlite::Connection::open(state.path().join("jobs.sqlite")).unwrap();
            let stored: i64 =
                store.query_row("SELECT COUNT(*) FROM jobs WHERE status = 'finished'", [], |row| row.get(0)).unwrap();
            assert_eq!(stored, total as i64, "the store holds each job once, finished");
        }
    }
    // The server's own durability: on this disk, with fsync.
    let Some(postgres) = Postgres::start_with(&[]) else { return };
    for (durability, options) in
        [("commits wait for the disk", ""), ("synchronous_commit=off", "?options=-c%20synchronous_commit%3Doff")]
    {
        for count in 1..=3 {
            let what = format!("PostgreSQL, {count} node{}, {durability}", if count > 1 { "s" } else { "" });
            if !wanted(&what) {
                continue;
            }
            // A database of its own for each run, migrated by its nodes as they start.
            let database = format!("bench_{}_{count}", if options.is_empty() { "durable" } else { "relaxed" });
            postgres.query(&format!("CREATE DATABASE {database}"));
            let url = format!("{}{options}", postgres.database_url(&database));
            let states: Vec<_> = (0..count).map(|_| tempfile::tempdir_in(&disk).unwrap()).collect();
            let nodes: Vec<Server> = states
                .iter()
                .map(|state| Server::start(state.path(), &["--database", &url, "--site", &site], &[]))
                .collect();
            let total = run(&what, &nodes);
            let stored = postgres.query_in(&database, "SELECT count(*) FROM jobs WHERE status = 'finished'");
            assert_eq!(stored, total.to_string(), "the store holds each job once, finished");
        }
    }
}

/// Puts the load on `nodes`; returns how many jobs ran.
fn run(what: &str, nodes: &[Server]) -> usize {
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let base = nodes[client % nodes.len()].base.clone();
            std::thread::spawn(move || drive(&base, client))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut ids = HashSet::new();
    for client in clients {
        for (id, latency) in client.join().expect("a client thread ends") {
            assert!(ids.insert(id.clone()), "job id {id} was handed out twice");
            latencies.push(latency);
        }
    }
    let elapsed = started.elapsed();
    let total = CLIENTS * JOBS_PER_CLIENT;
    assert_eq!(ids.len(), total, "every submission got its own job");
    for node in nodes {
        assert_eq!(node.get("/v1").json()["queue_length"], 0);
    }
    latencies.sort();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "  {what:<52} {total} jobs in {:5.2} s: {:5.0} jobs/s; submit to finished p50 {:5.1} ms, p99 {:6.1} ms, max {:6.1} ms",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        ms(percentile(50)),
        ms(percentile(99)),
        ms(*latencies.last().unwrap()),
    );
    total
}

/// One client: submit, poll until the job ends, check it is this client's, repeat.
fn drive(base: &str, client: usize) -> Vec<(String, Duration)> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut keys = vec!["KC_TRNS"; 73];
    keys[0] = "KC_A";
    (0..JOBS_PER_CLIENT)
        .map(|n| {
            let keymap = format!("load_{client}_{n}");
            let payload =
                json!({"keyboard": "clueboard/66/rev2", "keymap": keymap, "layout": "LAYOUT_all", "layers": [keys]});
            let submitted = Instant::now();
            let mut reply = agent.post(&format!("{base}/v1/compile")).send(payload.to_string()).unwrap();
            assert_eq!(reply.status(), 200);
            let answer: serde_json::Value = serde_json::from_reader(reply.body_mut().as_reader()).unwrap();
            let id = answer["job_id"].as_str().unwrap().to_owned();
            loop {
                std::thread::sleep(POLL_EVERY);
                let mut reply = agent.get(&format!("{base}/v1/compile/{id}")).call().unwrap();
                let job: serde_json::Value = serde_json::from_reader(reply.body_mut().as_reader()).unwrap();
                match job["status"].as_str() {
                    Some("finished") => {
                        assert_eq!(job["result"]["keymap"], keymap.as_str(), "job {id} is the one submitted");
                        return (id, submitted.elapsed());
                    }
                    Some("queued" | "running") => {}
                    other => panic!("job {id} ended {other:?}: {job}"),
                }
            }
        })
        .collect()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
