//! `cargo bench --bench serve`: a bounded load on loopback. 50 clients each submit
//! 100 distinct keymap-only jobs, one at a time, and poll each until it ends. Reports
//! throughput and submit-to-finished latency, and checks that no job was lost,
//! duplicated or mixed up. The server logs at info level, as it would in service.

#[path = "../tests/common/server.rs"]
#[allow(dead_code)]
mod server;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use server::Server;

const CLIENTS: usize = 50;
const JOBS_PER_CLIENT: usize = 100;
const POLL_EVERY: Duration = Duration::from_millis(5);

fn main() {
    println!(
        "Load on loopback: {CLIENTS} clients × {JOBS_PER_CLIENT} keymap-only jobs; goal ≥ 1000 jobs/s, p99 < 50 ms"
    );
    let disk = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    run("state on this disk", disk.path());
    if Path::new("/dev/shm").is_dir() {
        let memory = tempfile::tempdir_in("/dev/shm").unwrap();
        run("state on /dev/shm", memory.path());
    }
}

fn run(what: &str, state: &Path) {
    let server = Server::start(state, &["--site", &server::bundled_site(state)], &[]);
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let base = server.base.clone();
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
    let store = rusqlite::Connection::open(state.join("jobs.sqlite")).unwrap();
    let stored: i64 =
        store.query_row("SELECT COUNT(*) FROM jobs WHERE status = 'finished'", [], |row| row.get(0)).unwrap();
    assert_eq!(stored, total as i64, "the store holds each job once, finished");
    assert_eq!(server.get("/v1").json()["queue_length"], 0);
    latencies.sort();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "  {what:<20} {total} jobs in {:.2} s: {:.0} jobs/s; submit to finished p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        ms(percentile(50)),
        ms(percentile(99)),
        ms(*latencies.last().unwrap()),
    );
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
