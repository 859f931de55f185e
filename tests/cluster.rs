//! Several nodes on one PostgreSQL server that the tests start (skipped, saying why,
//! where PostgreSQL is not installed): `qmk-api serve` nodes and `qmk-api worker`
//! nodes as separate processes on 127.0.0.1, sharing the queue, results and firmware.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use common::layer;
use common::postgres::Postgres;
use common::server::{Server, Worker, bundled_site, fake_qmk_tree, set_build_seconds};
use serde_json::{Value, json};

const CLIENTS: usize = 50;
const JOBS_PER_CLIENT: usize = 100;

fn payload(keymap: &str, first: &str) -> Value {
    json!({"keyboard": "clueboard/66/rev2", "keymap": keymap, "layout": "LAYOUT_all", "layers": [layer(first)]})
}

/// `serve` arguments for a node of `database` serving `site`, with a short lease so
/// that a killed node's jobs move on within seconds.
fn node_args<'a>(database: &'a str, site: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    ["--database", database, "--site", site, "--lease", "2s"].into_iter().chain(more.iter().copied()).collect()
}

/// The HTTP client of the load: it turns to another node when one does not answer.
struct Client {
    agent: ureq::Agent,
    nodes: Arc<RwLock<Vec<String>>>,
    turn: usize,
}

impl Client {
    /// The answer of the first node that answers, trying them in turn for up to a minute.
    fn request(
        &mut self,
        send: impl Fn(&ureq::Agent, &str) -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> (u16, Value) {
        let started = Instant::now();
        loop {
            let node = {
                let nodes = self.nodes.read().unwrap();
                nodes[self.turn % nodes.len()].clone()
            };
            match send(&self.agent, &node) {
                Ok(mut reply) => {
                    let body: Value = serde_json::from_reader(reply.body_mut().as_reader()).unwrap();
                    return (reply.status().as_u16(), body);
                }
                Err(error) => {
                    assert!(started.elapsed() < Duration::from_secs(60), "no node answered: {error}");
                    self.turn += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }

    /// Submits a job; returns its id once a node acknowledged it.
    fn submit(&mut self, payload: &Value) -> String {
        let body = payload.to_string();
        let (status, answer) = self.request(|agent, node| agent.post(&format!("{node}/v1/compile")).send(&body));
        assert_eq!(status, 200, "{answer}");
        answer["job_id"].as_str().unwrap().to_owned()
    }

    fn status(&mut self, id: &str) -> Value {
        let (status, job) = self.request(|agent, node| agent.get(&format!("{node}/v1/compile/{id}")).call());
        assert_eq!(status, 200, "{job}");
        job
    }
}

#[test]
fn two_api_nodes_and_a_worker_end_5000_jobs_once_each_through_a_kill_9() {
    let Some(postgres) = Postgres::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let site = bundled_site(dir.path());
    let url = postgres.url();
    let states: Vec<_> = ["a", "b", "worker"].iter().map(|name| dir.path().join(name)).collect();
    // Started at once on an empty database: their migrations race.
    let start = |state: &Path| Server::start(state, &node_args(&url, &site, &[]), &[]);
    let (first, second, worker) = std::thread::scope(|scope| {
        let first = scope.spawn(|| start(&states[0]));
        let second = scope.spawn(|| start(&states[1]));
        let worker = scope.spawn(|| Worker::start(&states[2], &["--database", &url, "--lease", "2s"], &[]));
        (first.join().unwrap(), second.join().unwrap(), worker.join().unwrap())
    });
    assert_eq!(postgres.query("SELECT count(*) FROM qmk_api_schema"), "3", "each migration applied once");
    let nodes = Arc::new(RwLock::new(vec![first.base.clone(), second.base.clone()]));
    let acknowledged = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut client = Client { agent, nodes: nodes.clone(), turn: n };
            let acknowledged = acknowledged.clone();
            std::thread::spawn(move || {
                (0..JOBS_PER_CLIENT)
                    .map(|job| {
                        let keymap = format!("load_{n}_{job}");
                        client.turn += 1;
                        let id = client.submit(&payload(&keymap, "KC_A"));
                        acknowledged.fetch_add(1, Ordering::Relaxed);
                        loop {
                            std::thread::sleep(Duration::from_millis(10));
                            let job = client.status(&id);
                            match job["status"].as_str() {
                                Some("finished") => break,
                                Some("queued" | "running") => {}
                                other => panic!("job {id} ended {other:?}: {job}"),
                            }
                        }
                        (id, keymap)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    while acknowledged.load(Ordering::Relaxed) < CLIENTS * JOBS_PER_CLIENT / 3 {
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill();
    let killed_at = acknowledged.load(Ordering::Relaxed);
    let first = Server::start(&states[0], &node_args(&url, &site, &[]), &[]);
    nodes.write().unwrap()[0] = first.base.clone();
    let jobs: Vec<(String, String)> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let elapsed = started.elapsed();

    // Every acknowledged job ended once, as submitted, and every node answers for it.
    let ids: HashMap<&str, &str> = jobs.iter().map(|(id, keymap)| (id.as_str(), keymap.as_str())).collect();
    assert_eq!(ids.len(), CLIENTS * JOBS_PER_CLIENT, "each submission got its own job");
    for node in [&first, &second] {
        for (id, keymap) in &ids {
            let job = node.get(&format!("/v1/compile/{id}")).json();
            assert_eq!((job["status"].as_str(), job["result"]["keymap"].as_str()), (Some("finished"), Some(*keymap)));
        }
    }
    let logs = [first.log(), second.log(), worker.log()].concat();
    let mut ends: BTreeMap<&str, usize> = BTreeMap::new();
    for line in logs.lines().filter(|line| line.contains(" ended ")) {
        if let Some(id) = line.split("job=").nth(1).and_then(|rest| rest.split_whitespace().next()) {
            *ends.entry(id).or_default() += 1;
        }
    }
    let submitted: usize = postgres.query("SELECT count(*) FROM jobs").parse().unwrap();
    let ended: usize =
        postgres.query("SELECT count(*) FROM jobs WHERE status IN ('finished', 'failed')").parse().unwrap();
    let taken_again: usize = postgres.query("SELECT count(*) FROM jobs WHERE attempts > 1").parse().unwrap();
    let twice = ends.values().filter(|&&n| n > 1).count();
    let lost = ids.keys().filter(|id| !ends.contains_key(**id)).count();
    eprintln!(
        "cluster: {submitted} jobs submitted ({} acknowledged, node killed after {killed_at}), {ended} ended, \
         {twice} ended twice, {lost} acknowledged without an end in the logs, {taken_again} taken again; {:.1} s",
        ids.len(),
        elapsed.as_secs_f64()
    );
    assert!(submitted >= ids.len(), "every acknowledged job is stored");
    assert_eq!(ended, submitted, "every stored job ended, acknowledged or not");
    assert_eq!(twice, 0, "no job ended twice");
    // A line may be lost with the killed node, between the commit and the write.
    assert!(lost <= 2, "{lost} acknowledged jobs have no end in the logs");
    assert_eq!(second.get("/v1").json()["queue_length"], 0);
}

/// Commits the stand-in tree with git, so that its revision (a part of every cache
/// key) is the same for every node; false, saying why, where git is missing.
fn commit(tree: &Path) -> bool {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(tree)
            .args(["-c", "user.name=test", "-c", "user.email=test@localhost"])
            .args(args)
            .output()
            .is_ok_and(|out| out.status.success())
    };
    let committed = git(&["init", "-q"]) && git(&["add", "-A"]) && git(&["commit", "-q", "-m", "tree"]);
    if !committed {
        eprintln!("skipped: git cannot commit the stand-in tree (is git installed?)");
    }
    committed
}

#[test]
fn an_identical_request_on_another_node_reuses_the_first_nodes_firmware() {
    let Some(postgres) = Postgres::start() else { return };
    let (tree, dir) = (fake_qmk_tree(), tempfile::tempdir().unwrap());
    if !commit(tree.path()) {
        return;
    }
    let (site, url, home) = (bundled_site(dir.path()), postgres.url(), tree.path().display().to_string());
    let args = node_args(&url, &site, &["--qmk-home", &home, "--workers", "1"]);
    let env = [];
    let first = Server::start(&dir.path().join("a"), &args, &env);
    let built = first.submit(&payload("shared", "KC_A"));
    assert_eq!(first.wait_for(&built, &["finished", "failed"])["status"], "finished");
    let firmware = first.get(&format!("/v1/compile/{built}/download")).body;
    first.kill();

    let second = Server::start(&dir.path().join("b"), &args, &env);
    assert_eq!(second.get(&format!("/v1/compile/{built}/download")).body, firmware, "the first node's firmware");
    let again = second.submit(&payload("shared", "KC_A"));
    let job = second.wait_for(&again, &["finished", "failed"]);
    let output = job["result"]["output"].as_str().unwrap();
    assert!(output.starts_with(&format!("Identical to job {built}: its files are reused.")), "{output}");
    assert_eq!(second.get(&format!("/v1/compile/{again}/download")).body, firmware);
    assert_eq!(postgres.query("SELECT count(*) FROM firmware"), "1", "one copy of the firmware");
    assert!(!dir.path().join("b/jobs").exists(), "no firmware in the node's own folder");
}

#[test]
fn the_queue_limit_and_length_hold_over_api_nodes_until_a_worker_runs_the_jobs() {
    let Some(postgres) = Postgres::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (site, url) = (bundled_site(dir.path()), postgres.url());
    let args = node_args(&url, &site, &["--workers", "0", "--queue-limit", "3"]);
    let nodes = [Server::start(&dir.path().join("a"), &args, &[]), Server::start(&dir.path().join("b"), &args, &[])];
    let ids: Vec<String> = (0..3).map(|n| nodes[n % 2].submit(&payload(&format!("q{n}"), "KC_A"))).collect();
    for node in &nodes {
        let refused = node.post("/v1/compile", payload("over", "KC_A").to_string().as_bytes());
        assert_eq!((refused.status, refused.header("retry-after")), (503, "10"));
        assert!(refused.json()["message"].as_str().unwrap().contains("the queue is full (3 jobs wait)"));
        let about = node.get("/v1").json();
        assert_eq!((about["queue_length"].as_u64(), about["job_store"].as_str()), (Some(3), Some("postgresql")));
    }
    let _worker = Worker::start(&dir.path().join("w"), &["--database", &url], &[]);
    for id in &ids {
        assert_eq!(nodes[1].wait_for(id, &["finished", "failed"])["status"], "finished");
    }
    assert_eq!(nodes[0].get("/v1/healthcheck").json()["queue_length"], 0);
}

#[test]
fn while_the_database_is_down_submissions_get_503_and_every_node_recovers_with_it() {
    let Some(postgres) = Postgres::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (site, url) = (bundled_site(dir.path()), postgres.url());
    let api = Server::start(&dir.path().join("a"), &node_args(&url, &site, &["--workers", "0"]), &[]);
    let _worker = Worker::start(&dir.path().join("w"), &["--database", &url], &[]);
    let before = api.submit(&payload("before", "KC_A"));
    assert_eq!(api.wait_for(&before, &["finished", "failed"])["status"], "finished");
    postgres.stop();
    let refused = api.post("/v1/compile", payload("during", "KC_A").to_string().as_bytes());
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (503, "10"),
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert!(refused.json()["message"].as_str().unwrap().contains("try again later"));
    assert_eq!(api.get("/v1/healthcheck").status, 503, "a load balancer takes the node out");
    let lookup = api.get(&format!("/v1/compile/{before}"));
    assert_eq!((lookup.status, lookup.json()["code"].as_u64()), (503, Some(503)), "the store cannot answer: 503");
    assert!(lookup.json()["message"].as_str().unwrap().contains("the job store cannot answer"));
    assert_eq!(lookup.header("retry-after"), "10");
    postgres.restart();
    let after = api.submit(&payload("after", "KC_A"));
    assert_eq!(api.wait_for(&after, &["finished", "failed"])["status"], "finished", "the worker took it");
    assert_eq!(api.get("/v1/healthcheck").status, 200);
}

#[test]
fn a_worker_stopped_with_sigterm_hands_its_job_to_another_node_at_once() {
    let Some(postgres) = Postgres::start() else { return };
    // Two stand-in trees alike but for how long a build takes.
    let (slow_tree, fast_tree, dir) = (fake_qmk_tree(), fake_qmk_tree(), tempfile::tempdir().unwrap());
    set_build_seconds(slow_tree.path(), "60");
    set_build_seconds(fast_tree.path(), "0.1");
    let (site, url) = (bundled_site(dir.path()), postgres.url());
    let api = Server::start(&dir.path().join("a"), &node_args(&url, &site, &["--workers", "0"]), &[]);
    // The default lease, 30 s: the job moves on well before it would run out.
    let worker_args = |tree: &Path| {
        let home = tree.display().to_string();
        ["--database", url.as_str(), "--qmk-home", &home, "--workers", "1"].map(str::to_owned)
    };
    let slow =
        Worker::start(&dir.path().join("slow"), &worker_args(slow_tree.path()).each_ref().map(String::as_str), &[]);
    let id = api.submit(&payload("handed_on", "KC_A"));
    api.wait_for(&id, &["running"]);
    let fast_args = worker_args(fast_tree.path());
    let _fast = Worker::start(&dir.path().join("fast"), &fast_args.each_ref().map(String::as_str), &[]);
    let stopped = Instant::now();
    slow.terminate();
    assert_eq!(api.wait_for(&id, &["finished", "failed"])["status"], "finished");
    assert!(stopped.elapsed() < Duration::from_secs(10), "taken over in {:?}", stopped.elapsed());
    assert_eq!(postgres.query(&format!("SELECT attempts FROM jobs WHERE id = '{id}'")), "2");
}

#[test]
fn a_serve_node_stopped_with_sigterm_hands_its_running_job_to_another_node_within_2_s() {
    let Some(postgres) = Postgres::start() else { return };
    // Two stand-in trees alike but for how long a build takes.
    let (slow_tree, fast_tree, dir) = (fake_qmk_tree(), fake_qmk_tree(), tempfile::tempdir().unwrap());
    set_build_seconds(slow_tree.path(), "60");
    set_build_seconds(fast_tree.path(), "0.1");
    let (site, url) = (bundled_site(dir.path()), postgres.url());
    let (slow_home, fast_home) = (slow_tree.path().display().to_string(), fast_tree.path().display().to_string());
    // The default lease, 30 s: the job must move on long before it would run out.
    let args =
        ["--database", url.as_str(), "--site", site.as_str(), "--qmk-home", slow_home.as_str(), "--workers", "1"];
    let slow = Server::start(&dir.path().join("slow"), &args, &[]);
    let id = slow.submit(&payload("handed_on", "KC_A"));
    slow.wait_for(&id, &["running"]);
    let worker_args = ["--database", url.as_str(), "--qmk-home", fast_home.as_str(), "--workers", "1"];
    let _fast = Worker::start(&dir.path().join("fast"), &worker_args, &[]);
    let attempts = || postgres.query(&format!("SELECT attempts FROM jobs WHERE id = '{id}'"));
    assert_eq!(attempts(), "1", "the fast worker cannot take a running job");
    let log = slow.state.join("server.log");
    let (status, stopped_in) = slow.stop_with(libc::SIGTERM);
    let log = std::fs::read_to_string(log).unwrap();
    assert_eq!(status.code(), Some(0), "serve ends with 0 on SIGTERM:\n{log}");
    assert!(log.contains("handed the running jobs back to the queue jobs=1"), "{log}");
    // Timed from the signal: the stop itself, then the other node's claim.
    let signalled = Instant::now() - stopped_in;
    while attempts() != "2" {
        assert!(signalled.elapsed() < Duration::from_secs(10), "the job stayed with the stopped node");
        std::thread::sleep(Duration::from_millis(20));
    }
    let taken = signalled.elapsed();
    eprintln!("stopped in {stopped_in:?}; the job was taken by another node {taken:?} after SIGTERM");
    assert!(taken < Duration::from_secs(2), "taken {taken:?} after the signal");
    while postgres.query(&format!("SELECT status FROM jobs WHERE id = '{id}'")) != "finished" {
        assert!(signalled.elapsed() < Duration::from_secs(30), "the other node finishes the job");
        std::thread::sleep(Duration::from_millis(50));
    }
}
