//! The job store's contract, held by both backends: SQLite in a temporary folder, and
//! PostgreSQL on a server the test starts (skipped where PostgreSQL is not installed).
//! Then what only PostgreSQL does: leases that run out and are renewed, the queue
//! limit over several nodes, migrations racing at start, an outage.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::postgres::Postgres;
use qmk_api::compile::store::{
    BuildRecord, Claim, Ending, Firmware, JobStore, PgSettings, PgStore, Preference, Recorded, SqliteStore, Status,
    StoreError,
};
use serde_json::{Value, json};

/// A store of each backend, with room for `limit` queued jobs; the PostgreSQL server
/// (when there is one) lives as long as its store.
fn each_backend(limit: u64, test: impl Fn(&dyn JobStore)) {
    let dir = tempfile::tempdir().unwrap();
    test(&SqliteStore::open(dir.path(), limit).unwrap().0);
    if let Some(server) = Postgres::start() {
        test(&pg_store(&server, limit, Duration::from_secs(30)));
    }
}

fn pg_store(server: &Postgres, queue_limit: u64, lease: Duration) -> PgStore {
    PgStore::open(&PgSettings { url: server.url(), queue_limit, lease, connections: 4 }).unwrap()
}

fn ending<'a>(result: &'a Value, cache_key: &'a str, firmware: Firmware<'a>) -> Ending<'a> {
    let status = if result["returncode"] == 0 { Status::Finished } else { Status::Failed };
    Ending { status, result, sources: Some("{\"keymap_c\": \"…\"}"), cache_key, firmware }
}

fn claim(store: &dyn JobStore) -> Claim {
    store.claim().unwrap().expect("a job waits")
}

#[test]
fn a_job_goes_from_queued_to_running_to_finished_once() {
    each_backend(10, |store| {
        let id = store.enqueue(r#"{"keyboard": "planck/rev6"}"#, "submitted", 100).unwrap();
        let job = store.get(&id).unwrap().unwrap();
        assert_eq!(
            (job.status, job.request.as_str(), job.created_at),
            (Status::Queued, r#"{"keyboard": "planck/rev6"}"#, 100)
        );
        let claimed = claim(store);
        assert_eq!(
            (claimed.job.id.as_str(), claimed.job.status, claimed.job.enqueued_at),
            (id.as_str(), Status::Running, 100)
        );
        assert_eq!(store.get(&id).unwrap().unwrap().status, Status::Running, "{}", store.backend());
        assert!(store.claim().unwrap().is_none(), "nothing else waits");
        let result = json!({"returncode": 0});
        assert_eq!(store.finish(&claimed, &ending(&result, "built", Firmware::None)).unwrap(), Recorded::Ended);
        let done = store.get(&id).unwrap().unwrap();
        assert_eq!((done.status, done.result.as_ref()), (Status::Finished, Some(&result)));
        assert_eq!(done.cache_key, "built", "the key as built replaces the key as submitted");
        assert_eq!(store.sources(&id).unwrap().as_deref(), Some("{\"keymap_c\": \"…\"}"));
        let other = json!({"returncode": 1});
        assert_eq!(store.finish(&claimed, &ending(&other, "built", Firmware::None)).unwrap(), Recorded::NotHeld);
        assert_eq!(store.get(&id).unwrap().unwrap().result, Some(result), "the first end stands");
        assert!(store.get("0b7e3e1c-0000-4000-8000-000000000000").unwrap().is_none());
        assert!(store.get("not-a-job").unwrap().is_none());
        assert!(store.firmware(&id, "firmware.hex").unwrap().is_none());
    });
}

#[test]
fn jobs_are_claimed_oldest_first_and_each_once() {
    let dir = tempfile::tempdir().unwrap();
    claimed_oldest_first_and_each_once(Arc::new(SqliteStore::open(dir.path(), 1000).unwrap().0));
    if let Some(server) = Postgres::start() {
        claimed_oldest_first_and_each_once(Arc::new(pg_store(&server, 1000, Duration::from_secs(30))));
    }
}

fn claimed_oldest_first_and_each_once(store: Arc<dyn JobStore>) {
    let ids: Vec<String> = (0..200).map(|i| store.enqueue("{}", "k", i).unwrap()).collect();
    assert_eq!(claim(&*store).job.id, ids[0]);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            std::thread::spawn(move || {
                std::iter::from_fn(|| store.claim().unwrap()).map(|c| c.job.id).collect::<Vec<_>>()
            })
        })
        .collect();
    let mut claimed: Vec<String> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    claimed.sort();
    let mut expected = ids[1..].to_vec();
    expected.sort();
    assert_eq!(claimed, expected, "{}: every job claimed exactly once", store.backend());
}

#[test]
fn a_worker_prefers_keyboards_it_holds_warm_but_passes_the_oldest_job_over_only_so_long() {
    each_backend(100, |store| {
        let submit =
            |keyboard: &str, at: i64| store.enqueue(&json!({"keyboard": keyboard}).to_string(), "k", at).unwrap();
        let (cold_old, cold_new, warm, other_warm) =
            (submit("cold/a", 100), submit("cold/b", 110), submit("warm/a", 120), submit("warm/b", 125));
        let unnamed = store.enqueue("{}", "k", 130).unwrap();
        let warm_ones = ["warm/a".to_owned(), "warm/b".to_owned()];
        let take = |now: i64| {
            let preference = Preference { warm: &warm_ones, passed_over_before: now - 60, now };
            store.claim_preferring(Some(&preference)).unwrap().expect("a job waits").job.id
        };
        let backend = store.backend();
        assert_eq!(take(140), warm, "{backend}: the oldest job of a warm keyboard, passing the oldest job over");
        assert_eq!(take(150), other_warm, "{backend}: passed over since 140, the oldest job is not yet past the bound");
        assert_eq!(take(205), cold_old, "{backend}: passed over for more than the bound, it comes first");
        assert_eq!(store.claim().unwrap().unwrap().job.id, cold_new, "{backend}: first come, the default");
        assert_eq!(take(300), unnamed, "{backend}");
        assert!(
            store
                .claim_preferring(Some(&Preference { warm: &warm_ones, passed_over_before: 0, now: 0 }))
                .unwrap()
                .is_none()
        );
    });
}

#[test]
fn a_node_leaves_keyboards_other_nodes_hold_warm_to_them_until_they_stop() {
    let Some(server) = Postgres::start() else { return };
    let (this, other) =
        (pg_store(&server, 100, Duration::from_secs(30)), pg_store(&server, 100, Duration::from_secs(30)));
    other.note_warm("theirs/a", 100).unwrap();
    let submit = |keyboard: &str, at: i64| this.enqueue(&json!({"keyboard": keyboard}).to_string(), "k", at).unwrap();
    let (theirs, nobodys, second) = (submit("theirs/a", 100), submit("nobodys/a", 110), submit("theirs/a", 120));
    let preference = Preference { warm: &[], passed_over_before: 0, now: 130 };
    assert_eq!(this.claim_preferring(Some(&preference)).unwrap().unwrap().job.id, nobodys, "no node holds it warm");
    let held = other.claim_preferring(Some(&preference)).unwrap().unwrap();
    assert_eq!(held.job.id, theirs, "its own warm keyboard");
    assert_eq!(other.release().unwrap(), 1, "the job it held goes back");
    assert_eq!(
        this.claim_preferring(Some(&preference)).unwrap().unwrap().job.id,
        theirs,
        "stopped, it holds nothing warm"
    );
    assert_eq!(this.claim_preferring(Some(&preference)).unwrap().unwrap().job.id, second);
}

#[test]
fn a_full_queue_refuses_new_jobs() {
    each_backend(2, |store| {
        store.enqueue("{}", "k", 1).unwrap();
        store.enqueue("{}", "k", 2).unwrap();
        assert!(matches!(store.enqueue("{}", "k", 3), Err(StoreError::QueueFull(2))), "{}", store.backend());
        assert_eq!(store.queued().unwrap(), 2);
        let _running = claim(store);
        assert_eq!(store.queued().unwrap(), 1);
        store.enqueue("{}", "k", 4).unwrap();
    });
}

#[test]
fn firmware_is_kept_reused_and_pruned_with_its_jobs() {
    each_backend(10, |store| {
        let work = tempfile::tempdir().unwrap();
        let old = store.enqueue("{}", "same", 10).unwrap();
        let new = store.enqueue("{}", "same", 20).unwrap();
        assert!(store.finished_with("same").unwrap().is_none(), "nothing finished yet");
        let built = work.path().join("firmware.hex");
        std::fs::write(&built, ":00000001FF\n").unwrap();
        let result = json!({"returncode": 0, "firmware": "firmware.hex"});
        let first = claim(store);
        assert_eq!(store.finish(&first, &ending(&result, "same", Firmware::Built(&built))).unwrap(), Recorded::Ended);
        let second = claim(store);
        let reused = Firmware::Reused { from: &old, name: "firmware.hex" };
        assert_eq!(store.finish(&second, &ending(&result, "same", reused)).unwrap(), Recorded::Ended);
        assert_eq!(store.finished_with("same").unwrap().unwrap().id, new, "the newest");
        assert!(store.finished_with("other").unwrap().is_none());
        for id in [&old, &new] {
            assert_eq!(store.firmware(id, "firmware.hex").unwrap().as_deref(), Some(&b":00000001FF\n"[..]), "{id}");
        }
        assert_eq!(store.prune(15).unwrap(), 1, "{}", store.backend());
        assert!(store.get(&old).unwrap().is_none() && store.firmware(&old, "firmware.hex").unwrap().is_none());
        assert!(store.firmware(&new, "firmware.hex").unwrap().is_some(), "the newer job keeps the shared firmware");
        assert_eq!(store.prune(25).unwrap(), 1);
        assert!(store.firmware(&new, "firmware.hex").unwrap().is_none());
    });
}

#[test]
fn a_job_whose_lease_runs_out_is_taken_again_and_ends_once() {
    let Some(server) = Postgres::start() else { return };
    let lease = Duration::from_secs(1);
    let gone = pg_store(&server, 10, lease);
    let id = gone.enqueue("{}", "k", 1).unwrap();
    let stale = claim(&gone);
    // The node stops: nothing renews the lease any more.
    drop(gone);
    let other = pg_store(&server, 10, lease);
    let started = Instant::now();
    let taken = loop {
        if let Some(claim) = other.claim().unwrap() {
            break claim;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the job is taken again once its lease runs out");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(started.elapsed() >= Duration::from_millis(500), "not before its lease ran out");
    assert_eq!(taken.job.id, id);
    let late = json!({"returncode": 1, "output": "the first node's late result"});
    let result = json!({"returncode": 0});
    assert_eq!(other.finish(&taken, &ending(&result, "k", Firmware::None)).unwrap(), Recorded::Ended);
    assert_eq!(other.finish(&stale, &ending(&late, "k", Firmware::None)).unwrap(), Recorded::NotHeld);
    assert_eq!(other.get(&id).unwrap().unwrap().result, Some(result));
    assert_eq!(server.query(&format!("SELECT attempts FROM jobs WHERE id = '{id}'")), "2");
}

#[test]
fn a_lease_is_renewed_while_its_job_runs_and_handed_back_at_shutdown() {
    let Some(server) = Postgres::start() else { return };
    let lease = Duration::from_secs(1);
    let (running, other) = (pg_store(&server, 10, lease), pg_store(&server, 10, lease));
    let id = running.enqueue("{}", "k", 1).unwrap();
    let held = claim(&running);
    std::thread::sleep(lease * 3);
    assert!(other.claim().unwrap().is_none(), "a renewed lease keeps the job with its node");
    assert_eq!(running.release().unwrap(), 1);
    let taken = claim(&other);
    assert_eq!(taken.job.id, id, "a released job is taken at once");
    drop(held);
}

#[test]
fn the_queue_limit_holds_over_nodes_submitting_at_once() {
    // 30 connections at most: below 60 - 30 queued jobs, submissions run side by side;
    // past it, one at a time. Either way no more than 60 wait.
    let Some(server) = Postgres::start_with(&[("fsync", "off"), ("max_connections", "30")]) else { return };
    let nodes: Vec<Arc<PgStore>> = (0..2).map(|_| Arc::new(pg_store(&server, 60, Duration::from_secs(30)))).collect();
    let clients: Vec<_> = (0..8)
        .map(|n| {
            let node = nodes[n % 2].clone();
            std::thread::spawn(move || {
                (0..25)
                    .map(|i| match node.enqueue("{}", "k", i) {
                        Ok(_) => 1,
                        Err(StoreError::QueueFull(waiting)) => {
                            assert!(waiting >= 60, "refused while only {waiting} waited");
                            0
                        }
                        Err(error) => panic!("{error}"),
                    })
                    .sum::<u32>()
            })
        })
        .collect();
    let accepted: u32 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(accepted, 60, "of 200 submissions");
    for node in &nodes {
        assert_eq!(node.queued().unwrap(), 60, "every node counts every node's jobs");
    }
}

#[test]
fn nodes_starting_at_once_apply_each_migration_once() {
    let Some(server) = Postgres::start() else { return };
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = server.url();
            std::thread::spawn(move || {
                PgStore::open(&PgSettings { url, queue_limit: 10, lease: Duration::from_secs(30), connections: 2 })
                    .map(drop)
            })
        })
        .collect();
    for start in starts {
        start.join().unwrap().unwrap();
    }
    assert_eq!(server.query("SELECT version FROM qmk_api_schema ORDER BY version"), "1\n2\n3");
    server.query("INSERT INTO qmk_api_schema (version, description) VALUES (99, 'from the future')");
    let refused = PgStore::open(&PgSettings {
        url: server.url(),
        queue_limit: 10,
        lease: Duration::from_secs(30),
        connections: 2,
    });
    let message = refused.err().expect("a newer schema is refused").to_string();
    assert!(message.contains("schema is version 99, newer than this program's 3"), "{message}");
}

#[test]
fn an_outage_fails_calls_without_losing_jobs_and_ends_with_the_server_back() {
    let Some(server) = Postgres::start() else { return };
    let store = pg_store(&server, 10, Duration::from_secs(30));
    let id = store.enqueue("{}", "k", 1).unwrap();
    server.stop();
    let refused = store.enqueue("{}", "k", 2);
    assert!(matches!(refused, Err(StoreError::Postgres(_) | StoreError::Pool(_))), "{refused:?}");
    assert!(store.claim().is_err() && store.queued().is_err());
    server.restart();
    let started = Instant::now();
    let claimed = loop {
        match store.claim() {
            Ok(Some(claim)) => break claim,
            _ if started.elapsed() < Duration::from_secs(20) => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("the store did not come back: {:?}", other.map(|c| c.map(|c| c.job.id))),
        }
    };
    assert_eq!(claimed.job.id, id, "the job queued before the outage");
    assert_eq!(
        store.finish(&claimed, &ending(&json!({"returncode": 0}), "k", Firmware::None)).unwrap(),
        Recorded::Ended
    );
    assert_eq!(store.queued().unwrap(), 0);
}

#[test]
fn a_database_url_that_is_not_postgresql_is_refused_with_its_reason() {
    let settings =
        PgSettings { url: "postgres://[::1".into(), queue_limit: 1, lease: Duration::from_secs(1), connections: 1 };
    let message = PgStore::open(&settings).err().expect("refused").to_string();
    assert!(message.contains("not a PostgreSQL URL"), "{message}");
}

/// A certificate authority of the test's own, and its certificate in PEM.
fn certificate_authority(name: &str) -> (rcgen::Issuer<'static, rcgen::KeyPair>, String) {
    let mut params = rcgen::CertificateParams::new(Vec::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let key = rcgen::KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    (rcgen::Issuer::new(params, key), pem)
}

#[test]
fn postgresql_over_tls_checks_the_server_as_libpq_does() {
    let (authority, authority_pem) = certificate_authority("qmk-api test CA");
    let (_, stranger_pem) = certificate_authority("another CA");
    // Issued for a name that is not the address the store connects to.
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate =
        rcgen::CertificateParams::new(vec!["db.example".to_owned()]).unwrap().signed_by(&key, &authority).unwrap();
    let tls_only = "hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n";
    let Some(server) = Postgres::start_with_files(
        &[("fsync", "off"), ("ssl", "on"), ("ssl_cert_file", "server.crt"), ("ssl_key_file", "server.key")],
        &[("server.crt", &certificate.pem()), ("server.key", &key.serialize_pem()), ("pg_hba.conf", tls_only)],
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (ours, theirs) = (dir.path().join("ca.pem"), dir.path().join("stranger.pem"));
    std::fs::write(&ours, &authority_pem).unwrap();
    std::fs::write(&theirs, &stranger_pem).unwrap();
    let open = |parameters: &str| {
        // The name the certificate was issued for, when a parameter gives its address.
        let url = match parameters.contains("hostaddr=") {
            true => server.url().replace("@127.0.0.1:", "@db.example:"),
            false => server.url(),
        };
        let url = format!("{url}?{parameters}");
        PgStore::open(&PgSettings { url, queue_limit: 10, lease: Duration::from_secs(30), connections: 2 })
    };
    for parameters in [
        String::new(),
        "sslmode=require".to_owned(),
        format!("sslmode=verify-ca&sslrootcert={}", ours.display()),
        format!("sslmode=require&sslrootcert={}", ours.display()),
        format!("sslmode=verify-full&sslrootcert={}&hostaddr=127.0.0.1", ours.display()),
    ] {
        let store = open(&parameters).unwrap_or_else(|e| panic!("`{parameters}`: {e}"));
        store.enqueue("{}", "k", 1).unwrap();
        let encrypted = "SELECT count(*) > 0 AND bool_and(ssl) FROM pg_stat_ssl \
                         JOIN pg_stat_activity USING (pid) WHERE application_name = 'qmk-api'";
        assert_eq!(server.query(encrypted), "t", "`{parameters}`: every connection is encrypted");
    }
    for (parameters, expected) in [
        ("sslmode=disable".to_owned(), "no encryption"),
        (format!("sslmode=verify-ca&sslrootcert={}", theirs.display()), "UnknownIssuer"),
        (format!("sslmode=require&sslrootcert={}", theirs.display()), "UnknownIssuer"),
        (format!("sslmode=verify-full&sslrootcert={}", ours.display()), "certificate not valid for name \"127.0.0.1\""),
    ] {
        let message = open(&parameters).err().unwrap_or_else(|| panic!("`{parameters}` is refused")).to_string();
        assert!(message.contains(expected), "`{parameters}`: {message}");
    }
}

#[test]
fn a_job_handed_back_at_shutdown_is_not_taken_back_by_its_nodes_lease_keeper() {
    let Some(server) = Postgres::start() else { return };
    let lease = Duration::from_secs(1);
    let stopping = pg_store(&server, 10, lease);
    let id = stopping.enqueue("{}", "k", 1).unwrap();
    // The worker still holds its claim while the process ends: its build is not waited for.
    let held = claim(&stopping);
    assert_eq!(stopping.release().unwrap(), 1);
    // Past several renewals of the lease.
    std::thread::sleep(lease * 2);
    assert_eq!(server.query(&format!("SELECT status FROM jobs WHERE id = '{id}'")), "queued");
    let result = json!({"returncode": 0});
    assert_eq!(stopping.finish(&held, &ending(&result, "k", Firmware::None)).unwrap(), Recorded::NotHeld);
    let other = pg_store(&server, 10, lease);
    assert_eq!(claim(&other).job.id, id);
}

#[test]
fn sqlite_hands_its_running_jobs_back_at_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path(), 10).unwrap().0;
    let id = store.enqueue("{}", "k", 1).unwrap();
    let held = claim(&store);
    assert_eq!(store.release().unwrap(), 1);
    assert_eq!(store.get(&id).unwrap().unwrap().status, Status::Queued);
    let result = json!({"returncode": 0});
    assert_eq!(store.finish(&held, &ending(&result, "k", Firmware::None)).unwrap(), Recorded::NotHeld);
    assert_eq!(claim(&store).job.id, id, "taken again");
}

/// A state folder holding a SQLite store of one firmware job (with its folder in
/// `jobs/`) and `more` keymap-only jobs, closed; returns the ids.
fn closed_sqlite_store(dir: &std::path::Path, firmware: bool, more: usize) -> Vec<String> {
    let store = SqliteStore::open(dir, 1000).unwrap().0;
    let mut ids = Vec::new();
    let work = tempfile::tempdir().unwrap();
    let built = work.path().join("firmware.hex");
    std::fs::write(&built, ":00000001FF\n").unwrap();
    for n in 0..more + usize::from(firmware) {
        let id = store.enqueue(&format!("{{\"keymap\": \"k{n}\", \"padding\": \"{}\"}}", "x".repeat(3000)), "k", 1);
        ids.push(id.unwrap());
        let claimed = claim(&store);
        let with_firmware = firmware && n == 0;
        let result = json!({"returncode": 0, "firmware": with_firmware.then_some("firmware.hex")});
        let kept = if with_firmware { Firmware::Built(&built) } else { Firmware::None };
        assert_eq!(store.finish(&claimed, &ending(&result, "k", kept)).unwrap(), Recorded::Ended);
    }
    ids
}

#[test]
fn an_emptied_missing_or_schemaless_sqlite_store_beside_kept_jobs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    closed_sqlite_store(dir.path(), true, 3);
    let path = dir.path().join("jobs.sqlite");
    let refused = |how: &str| match SqliteStore::open(dir.path(), 10) {
        Err(error @ StoreError::Unusable { .. }) => error.to_string(),
        Err(other) => panic!("{how}: {other}"),
        Ok(_) => panic!("{how}: a store that lost its jobs was opened as a new one"),
    };
    std::fs::write(&path, b"").unwrap();
    let message = refused("emptied");
    for needle in [&path.display().to_string(), "is empty (0 bytes)", "the folder of a job", "Restore", "move "] {
        assert!(message.contains(needle), "{needle:?} in {message}");
    }
    std::fs::remove_file(&path).unwrap();
    assert!(refused("removed").contains("is missing"));
    rusqlite::Connection::open(&path).unwrap().execute_batch("CREATE TABLE other (x)").unwrap();
    assert!(refused("replaced").contains("holds no jobs table"));

    // A store of keymap-only jobs keeps no job folder: its mark tells of its loss.
    let keymap_only = tempfile::tempdir().unwrap();
    closed_sqlite_store(keymap_only.path(), false, 3);
    std::fs::write(keymap_only.path().join("jobs.sqlite"), b"").unwrap();
    match SqliteStore::open(keymap_only.path(), 10) {
        Err(error) => assert!(error.to_string().contains("the mark (.job-store) of a store"), "{error}"),
        Ok(_) => panic!("an emptied store of keymap-only jobs was opened as a new one"),
    }
    // As the message says: with `jobs/` moved away, a new store starts.
    std::fs::rename(keymap_only.path().join("jobs"), keymap_only.path().join("jobs.lost")).unwrap();
    assert_eq!(SqliteStore::open(keymap_only.path(), 10).unwrap().0.queued().unwrap(), 0);
}

#[test]
fn garbage_in_sqlite_is_refused_when_opened_or_read_as_an_error_never_as_a_missing_job() {
    let dir = tempfile::tempdir().unwrap();
    let ids = closed_sqlite_store(dir.path(), true, 257);
    let path = dir.path().join("jobs.sqlite");
    let clean = std::fs::read(&path).unwrap();
    let pages = clean.len() / 4096;
    assert!(pages > 100, "{pages} pages");
    let mut noise = 0x9e37_79b9_7f4a_7c15u64;
    let mut opened = 0;
    for page in [1, pages / 4, pages / 2, pages * 3 / 4, pages - 1] {
        let mut bytes = clean.clone();
        // A page and a half, from the middle of a page.
        for byte in &mut bytes[page * 4096 + 2048..(page * 4096 + 2048 + 6144).min(clean.len())] {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            *byte = noise as u8;
        }
        std::fs::write(&path, &bytes).unwrap();
        match SqliteStore::open(dir.path(), 10) {
            Err(error) => {
                let message = error.to_string();
                assert!(message.contains(&path.display().to_string()), "{message}");
                assert!(message.contains("is damaged") || message.contains("cannot be read"), "page {page}: {message}");
            }
            // Damage that no check of the pages can see (in a row's text): each job is
            // found or its lookup fails, none is missing, and a failure is remembered.
            Ok((store, _)) => {
                let found: Vec<_> = ids.iter().map(|id| store.get(id)).collect();
                let missing = found.iter().filter(|found| matches!(found, Ok(None))).count();
                let failed = found.iter().filter(|found| found.is_err()).count();
                assert_eq!(missing, 0, "page {page}: {missing} jobs silently missing, {failed} failed");
                assert!(failed == 0 || store.check().is_err(), "page {page}: the damage seen is remembered");
                opened += 1;
            }
        }
    }
    assert!(opened <= 1, "only damage within rows' text passes the check");
    std::fs::write(&path, &clean).unwrap();
    let store = SqliteStore::open(dir.path(), 10).unwrap().0;
    assert!(ids.iter().all(|id| store.get(id).unwrap().is_some()), "the clean store opens whole");
    assert_eq!(store.check().unwrap(), 0);
}

fn record(keyboard: &str, works: bool, last_tested: i64, tree: &str) -> BuildRecord {
    BuildRecord {
        keyboard: keyboard.to_owned(),
        keymap: "default".to_owned(),
        works,
        warnings: false,
        last_tested,
        message: format!("built {keyboard}"),
        firmware_size: works.then_some(20_000),
        maximum_size: Some(28_672),
        tree: tree.to_owned(),
    }
}

#[test]
fn the_catalogue_takes_each_keyboard_once_records_it_and_prunes_it() {
    each_backend(10, |store| {
        let keyboards: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let take = |now| store.take_next_build(&keyboards, "t1", now, now - 1000, now + 600).unwrap();
        // Held keyboards are not taken again until they are recorded or let go.
        assert_eq!(
            [take(100), take(100), take(100), take(100)],
            [Some("a"), Some("b"), Some("c"), None].map(|k| k.map(String::from))
        );
        assert!(store.builds(true).unwrap().is_empty(), "holds are no results");
        store.record_build(&record("a", true, 100, "t1")).unwrap();
        store.record_build(&record("b", false, 101, "t0")).unwrap();
        store.drop_hold("c").unwrap();
        assert_eq!(take(200).as_deref(), Some("c"), "a keyboard let go is taken again");
        assert_eq!(take(200).as_deref(), Some("b"), "one built from another tree is built again");
        assert_eq!(take(200), None, "a is fresh; b and c are held");
        // Later the holds have run out: c, never built, first; then the longest untested.
        assert_eq!(
            [take(2000), take(2000), take(2000)],
            [Some("c"), Some("a"), Some("b")].map(|k| k.map(String::from))
        );
        let builds = store.builds(true).unwrap();
        assert_eq!(builds, vec![record("a", true, 100, "t1"), record("b", false, 101, "t0")], "{}", store.backend());
        let summary = store.builds(false).unwrap();
        assert!(summary.iter().all(|b| b.message.is_empty()), "no messages read");
        assert_eq!(store.build_of("b").unwrap(), Some(record("b", false, 101, "t0")));
        assert_eq!(store.build_of("c").unwrap(), None, "held, never built");
        store.prune(101).unwrap();
        assert_eq!(store.builds(false).unwrap().iter().map(|b| b.keyboard.as_str()).collect::<Vec<_>>(), ["b"]);
    });
}

#[test]
fn nodes_sharing_postgresql_never_build_one_keyboard_at_once_and_see_each_others_results() {
    let Some(server) = Postgres::start() else { return };
    let nodes: Vec<PgStore> = (0..3).map(|_| pg_store(&server, 10, Duration::from_secs(30))).collect();
    let keyboards: Vec<String> = (0..30).map(|n| format!("kb{n}")).collect();
    let taken: Vec<String> = std::thread::scope(|scope| {
        let takers: Vec<_> = nodes
            .iter()
            .map(|node| {
                let keyboards = &keyboards;
                scope.spawn(move || {
                    std::iter::from_fn(|| node.take_next_build(keyboards, "t", 100, 0, 700).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        takers.into_iter().flat_map(|taker| taker.join().unwrap()).collect()
    });
    let mut sorted = taken.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 30, "each keyboard taken once: {taken:?}");
    assert_eq!(taken.len(), 30);
    nodes[0].record_build(&record("kb7", true, 150, "t")).unwrap();
    assert_eq!(nodes[2].build_of("kb7").unwrap(), Some(record("kb7", true, 150, "t")));
}
