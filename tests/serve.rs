//! `qmk-api serve` over HTTP on 127.0.0.1: the compile API's contract, bad requests,
//! downloads, firmware builds with a stand-in toolchain, the cache, and a crash. What
//! holds for both job stores is checked on each: SQLite, and PostgreSQL on a server
//! the test starts where PostgreSQL is installed.

mod common;

use std::io::Read;

use common::postgres::Postgres;
use common::server::{Reply, Server, bundled_site, fake_qmk_tree};
use common::*;
use serde_json::{Value, json};

/// Runs `test` with the arguments that choose each job store: none for SQLite, then
/// `--database` for a PostgreSQL server of its own, where PostgreSQL is installed.
fn on_each_store(test: impl Fn(&[&str])) {
    test(&[]);
    if let Some(postgres) = Postgres::start() {
        test(&["--database", &postgres.url(), "--lease", "2s"]);
    }
}

fn payload(keymap: &str, first: &str) -> Value {
    json!({"keyboard": "clueboard/66/rev2", "keymap": keymap, "layout": "LAYOUT_all", "layers": [layer(first)]})
}

/// The current seed's payload (the one using QK_BOOT), when ../shared is there.
fn seed_payload_with_qk_boot() -> Option<Value> {
    shared().map(|shared| current_seed_payload(&shared))
}

fn unzip_names(bytes: &[u8]) -> Vec<String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len()).map(|i| archive.by_index(i).unwrap().name().unwrap().into_owned()).collect()
}

fn unzip_file(bytes: &[u8], name: &str) -> String {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut text = String::new();
    archive.by_name(name).unwrap().read_to_string(&mut text).unwrap();
    text
}

#[test]
fn the_seed_payload_is_compiled_keymap_only_with_every_field() {
    // The stand-in always runs: it is what a fresh clone without ../shared checks.
    for payload in seed_payload_with_qk_boot().into_iter().chain([stand_in_seed_payload()]) {
        let state = tempfile::tempdir().unwrap();
        compiles_keymap_only_with_every_field(&Server::start(state.path(), &[], &[]), &payload);
    }
}

#[test]
fn the_contract_holds_with_postgresql_as_the_job_store() {
    let Some(postgres) = Postgres::start() else { return };
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &["--database", &postgres.url()], &[]);
    compiles_keymap_only_with_every_field(&server, &stand_in_seed_payload());
    assert_eq!(server.get("/v1").json()["job_store"], "postgresql");
}

fn compiles_keymap_only_with_every_field(server: &Server, payload: &Value) {
    let id = server.submit(payload);
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    let job = server.wait_for(&id, &["finished", "failed"]);
    assert_eq!(job["status"], "finished", "{job:#}");
    assert_eq!(job["is_failed"], false);
    assert_eq!(job["id"], id.as_str());
    let date = job["created_at"].as_str().unwrap();
    assert!(time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc2822).is_ok(), "{date}");
    assert!(date.ends_with(" GMT") && job["enqueued_at"] == job["created_at"]);
    let result = &job["result"];
    let keys: Vec<&str> = result.as_object().unwrap().keys().map(String::as_str).collect();
    for key in [
        "firmware_filename",
        "firmware_keymap_url",
        "firmware_source_url",
        "output",
        "keyboard",
        "keymap",
        "layout",
        "returncode",
    ] {
        assert!(keys.contains(&key), "{key} in {keys:?}");
    }
    // A keymap-only job: no binary, so QMK Configurator's Firmware button is disabled.
    assert!(!keys.contains(&"firmware_binary_url"), "{keys:?}");
    assert_eq!(result["firmware_filename"], "");
    assert_eq!(result["firmware_keymap_url"], json!([format!("{}/v1/compile/{id}/keymap", server.base)]));
    assert_eq!(result["firmware_source_url"], json!([format!("{}/v1/compile/{id}/source", server.base)]));
    assert_eq!(
        (&result["keyboard"], &result["keymap"], &result["layout"]),
        (&payload["keyboard"], &payload["keymap"], &payload["layout"])
    );
    assert_eq!(result["returncode"], 0);
    assert!(result["output"].as_str().unwrap().contains("No firmware toolchain is configured"));

    let keymap = server.get(&format!("/v1/compile/{id}/keymap"));
    assert_eq!(keymap.status, 200);
    assert_eq!(
        keymap.header("content-disposition"),
        format!("attachment; filename=clueboard_66_rev2_{}_keymap.c", payload["keymap"].as_str().unwrap())
    );
    let keymap_c = String::from_utf8(keymap.body.clone()).unwrap();
    // The seed's payload, or without ../shared the stand-in one: each key lands in keymap.c.
    let mut keys = payload["layers"].as_array().unwrap().iter().flat_map(|l| l.as_array().unwrap());
    assert!(
        keymap_c.contains("[0] = LAYOUT_all(") && keys.all(|k| keymap_c.contains(k.as_str().unwrap())),
        "{keymap_c}"
    );
    assert_eq!(result["keymap_svg_url"], json!([format!("{}/v1/compile/{id}/svg", server.base)]));
    let picture = server.get(&format!("/v1/compile/{id}/svg"));
    assert_eq!((picture.status, picture.header("content-type")), (200, "image/svg+xml; charset=utf-8"));
    assert!(picture.header("content-disposition").starts_with("inline; filename=clueboard_66_rev2_"));
    assert_eq!(picture.header("content-security-policy"), "default-src 'none'; style-src 'unsafe-inline'");
    let svg = String::from_utf8(picture.body.clone()).unwrap();
    common::picture::check_seed_picture(&svg, payload);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), payload.to_string()).unwrap();
    let drawn = run(&["draw", &file.path().display().to_string()]);
    assert_eq!(stdout(&drawn), svg, "the API draws the picture `qmk-api draw` draws");
    let source = server.get(&format!("/v1/compile/{id}/source"));
    assert_eq!((source.status, source.header("content-type")), (200, "application/zip"));
    assert_eq!(unzip_names(&source.body), ["keymap.json", "keymap.c"]);
    assert_eq!(unzip_file(&source.body, "keymap.c"), keymap_c);
    for firmware in ["download", "hex"] {
        let missing = server.get(&format!("/v1/compile/{id}/{firmware}"));
        assert_eq!(missing.status, 404);
        assert!(missing.json()["message"].as_str().unwrap().contains("no firmware toolchain is configured"));
    }
    let log = server.log();
    let lines = |needle: &str| log.lines().filter(|line| line.contains(needle)).count();
    for state_change in [" queued ", " running ", " ended "] {
        let job_lines = log.lines().filter(|l| l.contains(&id) && l.contains(state_change)).count();
        assert_eq!(job_lines, 1, "one log line for {state_change:?}:\n{log}");
    }
    assert_eq!(lines("method=POST uri=/v1/compile "), 1, "one line per request:\n{log}");
    assert!(lines(&format!("uri=/v1/compile/{id}/keymap")) == 1 && log.contains("status=404"), "{log}");
}

#[test]
fn bad_requests_get_their_status_and_a_json_message() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &["--body-limit", "100000"], &[]);
    let valid = payload("mine", "KC_A");
    let without = |key: &str| {
        let mut request = valid.clone();
        request.as_object_mut().unwrap().remove(key);
        request.to_string()
    };
    let with = |key: &str, value: Value| {
        let mut request = valid.clone();
        request[key] = value;
        request.to_string()
    };
    let huge = json!({"keyboard": "clueboard/66/rev2", "keymap": "x", "layout": "LAYOUT_all", "layers": [vec!["KC_A"; 30_000]]});
    let cases: Vec<(String, u16, &str)> = vec![
        ("{\"keyboard\": ".into(), 400, "not valid JSON"),
        ("".into(), 400, "not valid JSON"),
        ("[1, 2]".into(), 400, "must be a JSON object, not `[1,2]`"),
        ("\"clueboard\"".into(), 400, "must be a JSON object, not `\"clueboard\"`"),
        (without("keyboard"), 400, "the request lacks `keyboard`"),
        (without("layers"), 400, "the request lacks `layers`"),
        ("{}".into(), 400, "the request lacks `keyboard`, `keymap`, `layout`, `layers`"),
        (with("layers", json!("KC_A")), 400, "`layers`: invalid type: string \"KC_A\", expected a sequence"),
        (with("keymap", json!(7)), 400, "`keymap`: invalid type: integer `7`, expected a string"),
        (with("keyboard", json!("../../../etc")), 422, "is not a keyboard name"),
        (with("keyboard", json!("/etc/passwd")), 422, "is not a keyboard name"),
        (with("keymap", json!("../default")), 422, "is not a keymap name"),
        (with("keymap", json!("a b")), 422, "is not a keymap name"),
        (with("keymap", json!("-km")), 422, "`keymap`: \"-km\" is not a keymap name"),
        (with("keymap", json!("--help")), 422, "not starting with `-`"),
        (with("layout", json!("LAYOUT_all(")), 422, "is not a C identifier"),
    ];
    for (body, status, message) in &cases {
        let reply = server.post("/v1/compile", body.as_bytes());
        assert_eq!(reply.status, *status, "{body:.80}: {}", String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.header("content-type"), "application/json");
        let answer = reply.json();
        assert_eq!(answer["code"], *status);
        assert!(answer["message"].as_str().unwrap().contains(message), "{answer} should say {message}");
    }
    for (path, status) in [
        ("/v1/compile/0b7e3e1c-0000-4000-8000-000000000000", 404),
        ("/v1/compile/not-a-uuid", 404),
        ("/v1/compile/0b7e3e1c-0000-4000-8000-000000000000/keymap", 404),
        ("/v1/compile/0b7e3e1c-0000-4000-8000-000000000000/svg", 404),
        ("/v1/compile/0b7e3e1c-0000-4000-8000-000000000000/etc", 404),
    ] {
        let reply = server.get(path);
        assert_eq!((reply.status, reply.json()["code"].as_u64()), (status, Some(u64::from(status))), "{path}");
    }
    // Sent byte for byte, as a client library would normalize these paths.
    for path in [
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/v1/compile/00000000-0000-4000-8000-000000000000/..%2fjobs.sqlite",
    ] {
        assert_eq!(raw_status(&server.base, path), "HTTP/1.1 404 Not Found", "{path}");
    }
    let wrong_method = server.get("/v1/compile");
    assert_eq!((wrong_method.status, wrong_method.json()["code"].as_u64()), (405, Some(405)));
    assert_eq!(server.get("/v1/healthcheck").json()["status"], "ok");
    let about = server.get("/v1").json();
    assert_eq!((about["status"].as_str(), about["builder"].as_str()), (Some("running"), Some("keymap-only")));
    assert_eq!(about["queue_length"], 0);
    // Last: the server answers before reading the whole body, then closes the connection.
    let too_large = server.post("/v1/compile", huge.to_string().as_bytes());
    assert_eq!((too_large.status, too_large.json()["code"].as_u64()), (413, Some(413)));
    assert!(too_large.json()["message"].as_str().unwrap().contains("too large"));
}

/// The status line of a GET of `path` sent as it is.
fn raw_status(base: &str, path: &str) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn an_invalid_keymap_fails_with_the_validators_diagnostics() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[], &[]);
    let old = shared()
        .and_then(|shared| seed_payloads(&shared).into_iter().find(|p| p["layout"] == "KEYMAP"))
        .unwrap_or_else(|| json!({"keyboard": "clueboard/66/rev2", "keymap": "old", "layout": "KEYMAP", "layers": [layer("RESET")]}));
    let id = server.submit(&old);
    let job = server.wait_for(&id, &["finished", "failed"]);
    assert_eq!((job["status"].as_str(), job["is_failed"].as_bool()), (Some("failed"), Some(true)));
    let output = job["result"]["output"].as_str().unwrap();
    assert!(output.starts_with("The keymap is not valid:"), "{output}");
    assert!(output.contains("KEYMAP") && output.contains("LAYOUT"), "names the retired layout macro: {output}");
    assert_ne!(job["result"]["returncode"], 0);
    assert_eq!(job["result"]["firmware_keymap_url"], json!([]));
    let keymap = server.get(&format!("/v1/compile/{id}/keymap"));
    assert_eq!(keymap.status, 404);
    assert!(keymap.json()["message"].as_str().unwrap().contains("the job failed"));
    assert_eq!(job["result"]["keymap_svg_url"], json!([]));
    let picture = server.get(&format!("/v1/compile/{id}/svg"));
    assert_eq!((picture.status, picture.header("content-type")), (404, "application/json"));
    let message = picture.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("made no keymap picture: the job failed"), "{message}");

    let unknown = server.submit(
        &json!({"keyboard": "clueboard/66/rev9", "keymap": "x", "layout": "LAYOUT_all", "layers": [layer("KC_A")]}),
    );
    let output = server.wait_for(&unknown, &["failed"])["result"]["output"].as_str().unwrap().to_owned();
    assert!(output.contains("clueboard/66/rev9") && output.contains("clueboard/66/rev2"), "suggests: {output}");
}

#[test]
fn the_chosen_channel_of_the_site_is_served_at_the_root() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &["--channel", "develop"], &[]);
    let metadata = server.get("/v1/constants_metadata.json");
    assert_eq!(metadata.status, 200);
    assert!(metadata.json()["constants"]["keycodes"].as_array().unwrap().contains(&json!("0.0.8")));
    assert_eq!(metadata.header("access-control-allow-origin"), "*");
    let home = server.get("/");
    assert_eq!(home.status, 200);
    assert!(String::from_utf8_lossy(&home.body).contains("<h1"));
    assert_eq!(server.get("/no/such/page.html").status, 404);
    assert_eq!(server.get("/../../../etc/passwd").status, 404);
    let built = state.path().join("site/develop/index.html");
    assert!(built.is_file(), "the site was built into the state folder");

    let elsewhere = tempfile::tempdir().unwrap();
    let given = Server::start(elsewhere.path(), &["--site", &state.path().join("site").display().to_string()], &[]);
    assert_eq!(given.get("/v1/constants_metadata.json").status, 200);
    assert!(!elsewhere.path().join("site").exists(), "--site is served as it is");
}

#[test]
fn firmware_is_built_in_folders_of_its_own_and_identical_requests_reuse_it() {
    on_each_store(|store| {
        let args: Vec<&str> = ["--workers", "2"].iter().chain(store).copied().collect();
        builds_in_folders_of_its_own_and_reuses(&args);
    });
}

fn builds_in_folders_of_its_own_and_reuses(args: &[&str]) {
    let (tree, state) = (fake_qmk_tree(), tempfile::tempdir().unwrap());
    let server = Server::with_fake_toolchain(state.path(), tree.path(), args, "0.5");
    assert_eq!(server.get("/v1").json()["builder"], "qmk-firmware");
    // Two jobs at once with the same keyboard and keymap name but different keys.
    let first = server.submit(&payload("same_name", "KC_A"));
    let second = server.submit(&payload("same_name", "KC_B"));
    let running = server.wait_for(&first, &["running", "finished"]);
    assert_eq!(running["status"], "running", "a half-second build is seen running");
    assert_eq!(running["result"], Value::Null);
    for (id, key) in [(&first, "KC_A"), (&second, "KC_B")] {
        let job = server.wait_for(id, &["finished", "failed"]);
        assert_eq!(job["status"], "finished", "{job:#}");
        let result = &job["result"];
        assert!(result["output"].as_str().unwrap().contains("building clueboard/66/rev2:same_name"));
        assert_eq!(result["firmware_binary_url"], json!([format!("{}/v1/compile/{id}/download", server.base)]));
        assert_eq!(result["firmware_filename"], "clueboard_66_rev2_same_name.hex");
        let firmware = server.get(&format!("/v1/compile/{id}/download"));
        assert_eq!(firmware.status, 200);
        assert_eq!(firmware.header("content-disposition"), "attachment; filename=clueboard_66_rev2_same_name.hex");
        let firmware = String::from_utf8(firmware.body).unwrap();
        assert!(firmware.contains(&format!("[\"{key}\", \"KC_TRNS\"")), "job {id} got its own keymap's build");
        assert_eq!(server.get(&format!("/v1/compile/{id}/hex")).body, firmware.as_bytes());
        let source = server.get(&format!("/v1/compile/{id}/source")).body;
        assert_eq!(unzip_names(&source), ["keymap.json", "keymap.c", "keymaps/same_name/keymap.json"]);
        assert_eq!(
            unzip_file(&source, "keymaps/same_name/keymap.json"),
            firmware,
            "the folder built is the one shipped"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(tree.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 3, "no firmware copies left in the tree: {leftovers:?}");
    // A job's folder goes once its end is recorded (the store takes its firmware from it): just after.
    let started = std::time::Instant::now();
    let building = loop {
        let building: Vec<_> =
            std::fs::read_dir(state.path().join("work")).unwrap().map(|e| e.unwrap().path()).collect();
        if building.is_empty() || started.elapsed() > std::time::Duration::from_secs(10) {
            break building;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(building.is_empty(), "build folders are removed: {building:?}");

    let again = server.submit(&payload("same_name", "KC_A"));
    let job = server.wait_for(&again, &["finished", "failed"]);
    let output = job["result"]["output"].as_str().unwrap();
    assert!(output.starts_with(&format!("Identical to job {first}: its files are reused.")), "{output}");
    let reused = server.get(&format!("/v1/compile/{again}/download")).body;
    assert_eq!(reused, server.get(&format!("/v1/compile/{first}/download")).body);

    // Any change to the tree under the running server, even a new file, is a new build.
    std::fs::write(tree.path().join("builddefs/extra.mk"), "# changed\n").unwrap();
    let changed = server.submit(&payload("same_name", "KC_A"));
    let job = server.wait_for(&changed, &["finished", "failed"]);
    assert_eq!(job["status"], "finished");
    assert!(job["result"]["output"].as_str().unwrap().contains("building clueboard/66/rev2:same_name"), "{job:#}");
    let again = server.submit(&payload("same_name", "KC_A"));
    let job = server.wait_for(&again, &["finished", "failed"]);
    assert!(job["result"]["output"].as_str().unwrap().starts_with(&format!("Identical to job {changed}")));
}

#[test]
fn a_build_over_the_time_limit_is_stopped_and_fails() {
    let (tree, state) = (fake_qmk_tree(), tempfile::tempdir().unwrap());
    let server = Server::with_fake_toolchain(state.path(), tree.path(), &["--build-time-limit", "1s"], "30");
    let started = std::time::Instant::now();
    let id = server.submit(&payload("slow", "KC_A"));
    let job = server.wait_for(&id, &["finished", "failed"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "stopped at the limit, not after 30 s");
    assert_eq!(job["status"], "failed");
    assert!(job["result"]["output"].as_str().unwrap().contains("longer than 1 s"), "{job:#}");
    assert_eq!(server.get(&format!("/v1/compile/{id}/download")).status, 404);
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    on_each_store(|store| {
        let (tree, state) = (fake_qmk_tree(), tempfile::tempdir().unwrap());
        let args: Vec<&str> = ["--workers", "1", "--queue-limit", "2"].iter().chain(store).copied().collect();
        answers_503_when_full(&Server::with_fake_toolchain(state.path(), tree.path(), &args, "5"));
    });
}

fn answers_503_when_full(server: &Server) {
    let running = server.submit(&payload("a", "KC_A"));
    server.wait_for(&running, &["running"]);
    server.submit(&payload("b", "KC_A"));
    server.submit(&payload("c", "KC_A"));
    let refused = server.post("/v1/compile", payload("d", "KC_A").to_string().as_bytes());
    assert_eq!(refused.status, 503);
    assert_eq!(refused.header("retry-after"), "10");
    assert!(refused.json()["message"].as_str().unwrap().contains("the queue is full"));
    assert_eq!(server.get("/v1").json()["queue_length"], 2);
}

#[test]
fn every_acknowledged_job_finishes_after_a_kill_9() {
    on_each_store(|store| {
        let args: Vec<&str> = ["--workers", "2"].iter().chain(store).copied().collect();
        finishes_every_job_after_a_kill_9(&args);
    });
}

fn finishes_every_job_after_a_kill_9(args: &[&str]) {
    let (tree, state) = (fake_qmk_tree(), tempfile::tempdir().unwrap());
    let start = || Server::with_fake_toolchain(state.path(), tree.path(), args, "0.02");
    let server = start();
    let ids: Vec<String> = (0..200).map(|n| server.submit(&payload(&format!("crash_{n}"), "KC_A"))).collect();
    server.wait_for(&ids[10], &["running", "finished"]);
    server.kill();

    let server = start();
    let mut statuses = std::collections::BTreeMap::new();
    for (n, id) in ids.iter().enumerate() {
        let job = server.wait_for(id, &["finished", "failed"]);
        assert_eq!(job["result"]["keymap"], format!("crash_{n}"));
        *statuses.entry(job["status"].as_str().unwrap().to_owned()).or_insert(0) += 1;
        let firmware = server.get(&format!("/v1/compile/{id}/download"));
        assert_eq!(firmware.status, 200, "job {n} has its firmware");
    }
    assert_eq!(statuses, [("finished".to_owned(), 200)].into());
}

#[test]
fn jobs_older_than_keep_are_removed_with_their_firmware() {
    let (tree, state) = (fake_qmk_tree(), tempfile::tempdir().unwrap());
    let server = Server::with_fake_toolchain(state.path(), tree.path(), &[], "0");
    let id = server.submit(&payload("old", "KC_A"));
    assert_eq!(server.wait_for(&id, &["finished", "failed"])["status"], "finished");
    assert!(state.path().join("jobs").join(&id).is_dir());
    server.kill();

    let server = Server::with_fake_toolchain(state.path(), tree.path(), &["--keep", "1h"], "0");
    assert_eq!(server.get(&format!("/v1/compile/{id}")).status, 200, "a young job is kept");
    server.kill();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let server = Server::with_fake_toolchain(state.path(), tree.path(), &["--keep", "1s"], "0");
    let started = std::time::Instant::now();
    while server.get(&format!("/v1/compile/{id}")).status != 404 {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the pruner removes the old job");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The store forgets the job first, then its files go, then the pruner says so.
    while !server.log().contains("pruned ended jobs and their files") {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the pruner logs what it did");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!state.path().join("jobs").join(&id).exists(), "its firmware is gone too");
}

#[test]
fn a_client_too_slow_to_send_its_headers_is_disconnected() {
    use std::io::Write;
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &["--header-time-limit", "1s"], &[]);
    let mut slow = std::net::TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    write!(slow, "GET /v1 HTTP/1.1\r\nHost: test\r\n").unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    slow.read_to_end(&mut answer).expect("the server closes the connection rather than waiting on");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "closed after about a second");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    assert_eq!(server.get("/v1/healthcheck").status, 200, "others are served meanwhile");
}

#[test]
fn an_injected_dip_switch_never_reaches_keymap_c() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[], &[]);
    let mut request = payload("evil", "KC_A");
    request["dip_switches"] = json!([{"on": "KC_A)\n#include \"/etc/passwd\"\n//", "off": "KC_B"}]);
    let id = server.submit(&request);
    let job = server.wait_for(&id, &["finished", "failed"]);
    assert_eq!(job["status"], "failed", "{job:#}");
    let output = job["result"]["output"].as_str().unwrap();
    assert!(output.contains("dip_switches"), "names the field: {output}");
    let keymap = server.get(&format!("/v1/compile/{id}/keymap"));
    assert_eq!(keymap.status, 404);
    assert!(!String::from_utf8_lossy(&keymap.body).contains("#include \"/etc/passwd\""));
}

/// An HTTP/2 frame: length, type, flags, stream and payload.
fn http2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut frame = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    frame.extend([kind, flags]);
    frame.extend(stream.to_be_bytes());
    frame.extend(payload);
    frame
}

/// Opens a connection, sends `bytes` and reads until the server closes it, for at most
/// 15 s; returns what it read and how long the server took to close after the send.
fn closed_after(base: &str, bytes: &[u8]) -> (Vec<u8>, std::time::Duration) {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(15))).unwrap();
    stream.write_all(bytes).unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => answer.extend(&buffer[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the connection stayed open for {:?}: {e}", started.elapsed()),
        }
    }
    (answer, started.elapsed())
}

#[test]
fn idle_connections_are_closed_over_http2_as_over_http1() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &["--header-time-limit", "1s"], &[]);
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let settings = http2_frame(4, 0, 0, &[]);
    // GET /v1/healthcheck in HPACK: :method GET, :scheme http, then :path and :authority as literals.
    let mut headers = vec![0x82, 0x86, 0x04, 15];
    headers.extend(b"/v1/healthcheck");
    headers.extend([0x01, 4]);
    headers.extend(b"test");
    let request = http2_frame(1, 0x05, 1, &headers);
    let handshake: Vec<u8> = preface.iter().copied().chain(settings.iter().copied()).collect();
    let with_request: Vec<u8> = handshake.iter().copied().chain(request).collect();
    let cases: [(&str, &[u8]); 4] = [
        ("a silent connection", &[]),
        ("an HTTP/1 connection after a request", b"GET /v1/healthcheck HTTP/1.1\r\nHost: test\r\n\r\n"),
        ("an HTTP/2 connection that sends no request", &handshake),
        ("an HTTP/2 connection after a request", &with_request),
    ];
    for (what, bytes) in cases {
        let (answer, open_for) = closed_after(&server.base, bytes);
        assert!(open_for < std::time::Duration::from_secs(5), "{what} stayed open for {open_for:?}");
        if what.contains("after a request") {
            let answer = String::from_utf8_lossy(&answer);
            assert!(answer.contains("\"status\":\"ok\""), "{what} was answered: {answer:?}");
        }
    }
}

/// The job ids acknowledged, and the first refusal, of submissions until the store fails.
fn submit_until_refused(server: &Server) -> (Vec<String>, Reply) {
    let mut acknowledged = Vec::new();
    for n in 0..2000 {
        let reply = server.post("/v1/compile", payload(&format!("full_{n}"), "KC_A").to_string().as_bytes());
        if reply.status != 200 {
            return (acknowledged, reply);
        }
        acknowledged.push(reply.json()["job_id"].as_str().unwrap().to_owned());
    }
    panic!("the store never filled up");
}

#[test]
fn a_full_disk_loses_no_job_and_strands_none() {
    let (tree, state) = (fake_qmk_tree(), tempfile::tempdir().unwrap());
    let site = bundled_site(state.path());
    let args = ["--qmk-home", &tree.path().display().to_string(), "--site", &site, "--workers", "1"];
    // The server may not grow a file past 256 KiB: its job store's write-ahead log soon reaches that.
    let server = Server::start_with_file_size_limit(state.path(), &args, &[], 256 << 10);
    let (acknowledged, refused) = submit_until_refused(&server);
    assert!(acknowledged.len() >= 2, "some jobs were stored before the disk filled");
    assert_eq!(refused.status, 503, "{}", String::from_utf8_lossy(&refused.body));
    assert_eq!(refused.json()["code"], 503);
    assert!(refused.json()["message"].as_str().unwrap().contains("try again"), "{}", refused.json());
    // While the store cannot write, the queue length is the number of jobs that wait.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let queued = || {
        acknowledged.iter().filter(|id| server.get(&format!("/v1/compile/{id}")).json()["status"] == "queued").count()
    };
    let waiting = queued();
    assert!(waiting > 0, "jobs wait for the store");
    assert_eq!(server.get("/v1").json()["queue_length"], waiting as u64, "the queue length counts them");

    server.lift_file_size_limit();
    // No new submission: the waiting jobs run on their own.
    for id in &acknowledged {
        let job = server.wait_for(id, &["finished", "failed"]);
        assert_eq!(job["status"], "finished", "{job:#}");
    }
    assert_eq!(server.get("/v1").json()["queue_length"], 0);
    server.submit(&payload("after", "KC_A"));
}

/// How a job stands in a stopped server's SQLite store.
fn stored_status(state: &std::path::Path, id: &str) -> String {
    let store = rusqlite::Connection::open(state.join("jobs.sqlite")).unwrap();
    store.query_row("SELECT status FROM jobs WHERE id = ?1", [id], |row| row.get(0)).unwrap()
}

#[test]
fn sigterm_and_ctrl_c_end_the_server_with_0_and_hand_its_running_job_back_at_once() {
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let (tree, state) = (fake_qmk_tree(), tempfile::tempdir().unwrap());
        let server = Server::with_fake_toolchain(state.path(), tree.path(), &["--workers", "1"], "60");
        let running = server.submit(&payload("stopped", "KC_A"));
        server.wait_for(&running, &["running"]);
        let waiting = server.submit(&payload("waiting", "KC_A"));
        let (status, took) = server.stop_with(signal);
        let log = std::fs::read_to_string(state.path().join("server.log")).unwrap();
        assert_eq!(status.code(), Some(0), "{name}: exit 0, not a panic:\n{log}");
        assert!(!log.contains("panicked"), "{log}");
        assert!(took < std::time::Duration::from_secs(5), "{name}: stopped in {took:?}, not after the build");
        assert!(log.contains("handed the running jobs back to the queue jobs=1"), "{name}:\n{log}");
        // In the store at once, not at the next start; and no job was taken after the signal.
        assert_eq!(stored_status(state.path(), &running), "queued", "{name}");
        assert_eq!(stored_status(state.path(), &waiting), "queued", "{name}");
        let wal = state.path().join("jobs.sqlite-wal");
        assert!(std::fs::metadata(&wal).map_or(0, |m| m.len()) == 0, "jobs.sqlite alone holds the jobs");

        let server = Server::with_fake_toolchain(state.path(), tree.path(), &["--workers", "1"], "0");
        for id in [&running, &waiting] {
            assert_eq!(server.wait_for(id, &["finished", "failed"])["status"], "finished", "{name}");
        }
    }
}

/// A state folder whose SQLite store holds `jobs` finished keymap-only jobs, and one
/// finished firmware job (with its folder in `jobs/`), written by a server since
/// stopped, its write-ahead log folded into the database; returns the ids.
fn stopped_store_with_jobs(state: &std::path::Path, jobs: usize) -> Vec<String> {
    let tree = fake_qmk_tree();
    let server = Server::with_fake_toolchain(state, tree.path(), &["--workers", "2"], "0");
    let mut ids: Vec<String> = (0..jobs).map(|n| server.submit(&payload(&format!("kept_{n}"), "KC_A"))).collect();
    ids.push(server.submit(&payload("firmware", "KC_B")));
    for id in &ids {
        assert_eq!(server.wait_for(id, &["finished", "failed"])["status"], "finished");
    }
    server.kill();
    let store = rusqlite::Connection::open(state.join("jobs.sqlite")).unwrap();
    store.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    ids
}

#[test]
fn an_emptied_job_store_is_refused_at_start_saying_what_to_do() {
    let state = tempfile::tempdir().unwrap();
    stopped_store_with_jobs(state.path(), 3);
    let database = state.path().join("jobs.sqlite");
    std::fs::write(&database, b"").unwrap();
    let (status, log) = Server::try_start(state.path(), &[], &[]).err().expect("an empty store beside jobs is refused");
    assert_eq!(status.code(), Some(2), "{log}");
    let said = log.lines().last().unwrap_or_default();
    for needle in [database.display().to_string().as_str(), "is empty (0 bytes)", "the folders of", "Restore", "move"] {
        assert!(said.contains(needle), "{needle:?} in {said}");
    }
    assert_eq!(std::fs::metadata(&database).unwrap().len(), 0, "the refused store is left as it was");
    // Done as the message says: with the jobs' folder moved away, a new store starts.
    std::fs::rename(state.path().join("jobs"), state.path().join("jobs.lost")).unwrap();
    let server = Server::start(state.path(), &[], &[]);
    assert_eq!(server.get("/v1/healthcheck").json()["queue_length"], 0);
}

#[test]
fn garbage_in_the_middle_of_the_job_store_is_refused_at_start_never_started_empty() {
    let state = tempfile::tempdir().unwrap();
    let ids = stopped_store_with_jobs(state.path(), 257);
    let database = state.path().join("jobs.sqlite");
    let mut bytes = std::fs::read(&database).unwrap();
    let middle = bytes.len() / 2;
    let mut noise = 0x2545_f491_4f6c_dd1du64;
    for byte in &mut bytes[middle..middle + 8192] {
        noise ^= noise << 13;
        noise ^= noise >> 7;
        noise ^= noise << 17;
        *byte = noise as u8;
    }
    std::fs::write(&database, &bytes).unwrap();
    match Server::try_start(state.path(), &[], &[]) {
        Err((status, log)) => {
            assert_eq!(status.code(), Some(2), "{log}");
            let said = log.lines().last().unwrap_or_default();
            assert!(said.contains(&database.display().to_string()) && said.contains("is damaged"), "{said}");
            assert!(said.contains("integrity_check") && said.contains("Restore"), "{said}");
        }
        // Had the damage passed the check: every job is found, or the answer says the store cannot answer.
        Ok(server) => {
            let statuses: Vec<u16> = ids.iter().map(|id| server.get(&format!("/v1/compile/{id}")).status).collect();
            assert!(statuses.iter().all(|s| [200, 503].contains(s)), "{statuses:?}");
            if statuses.contains(&503) {
                assert_eq!(server.get("/v1/healthcheck").status, 503);
            }
        }
    }
}

#[test]
fn a_damaged_job_answers_503_with_its_reason_and_the_health_check_turns_503() {
    let state = tempfile::tempdir().unwrap();
    let ids = stopped_store_with_jobs(state.path(), 20);
    // Damage one job's stored result where no check of SQLite's pages can see it.
    let database = state.path().join("jobs.sqlite");
    let mut bytes = std::fs::read(&database).unwrap();
    let at = bytes.windows(14).position(|w| w == b"{\"returncode\":").expect("a stored result");
    bytes[at..at + 14].copy_from_slice(b"\x01\x02garbage\x03\x04\x05\x06\x07");
    std::fs::write(&database, &bytes).unwrap();
    let server = Server::start(state.path(), &[], &[]);
    assert_eq!(server.get("/v1/healthcheck").status, 200, "nothing seen yet");
    let replies: Vec<Reply> = ids.iter().map(|id| server.get(&format!("/v1/compile/{id}"))).collect();
    let damaged: Vec<&Reply> = replies.iter().filter(|reply| reply.status != 200).collect();
    assert_eq!(damaged.len(), 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let reply = damaged[0];
    assert_eq!((reply.status, reply.json()["code"].as_u64()), (503, Some(503)));
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("the job store cannot answer") && message.contains("damaged"), "{message}");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let health = server.get("/v1/healthcheck");
    assert_eq!((health.status, health.json()["code"].as_u64()), (503, Some(503)), "the damage is not kept quiet");
}

#[test]
fn the_health_check_reads_the_store_and_answers_503_when_it_cannot() {
    for damage in ["emptied", "removed"] {
        let state = tempfile::tempdir().unwrap();
        let server = Server::start(state.path(), &[], &[]);
        let id = server.submit(&payload("healthy", "KC_A"));
        server.wait_for(&id, &["finished"]);
        assert_eq!(server.get("/v1/healthcheck").status, 200);
        let database = state.path().join("jobs.sqlite");
        match damage {
            "emptied" => std::fs::write(&database, b"").unwrap(),
            _ => std::fs::remove_file(&database).unwrap(),
        }
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let health = server.get("/v1/healthcheck");
        assert_eq!((health.status, health.json()["code"].as_u64()), (503, Some(503)), "{damage}");
        let message = health.json()["message"].as_str().unwrap().to_owned();
        assert!(message.contains("jobs.sqlite"), "{damage}: {message}");
        assert_eq!(health.header("retry-after"), "10");
    }
}

#[test]
fn every_answer_says_nosniff_and_every_refusal_is_json() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &["--body-limit", "1000"], &[]);
    let id = server.submit(&payload("sniffed", "KC_A"));
    server.wait_for(&id, &["finished"]);
    let mut replies: Vec<(String, Reply)> = [
        "/",
        "/v1",
        "/v1/healthcheck",
        "/v1/constants_metadata.json",
        "/v1/keyboards",
        "/v1/keyboards/all",
        "/v1/keyboards/clueboard/66/rev2",
        "/v1/usb",
        "/v1/skeletons/keymap",
        &format!("/v1/compile/{id}"),
        &format!("/v1/compile/{id}/keymap"),
        &format!("/v1/compile/{id}/source"),
        &format!("/v1/compile/{id}/svg"),
        &format!("/v1/compile/{id}/download"),
        "/v1/compile/0b7e3e1c-0000-4000-8000-000000000000",
        "/v1/keyboards/nope",
        "/no/such/page.html",
        "/v1/converters/kle",
        "/v1/compile",
    ]
    .iter()
    .map(|path| (format!("GET {path}"), server.get(path)))
    .collect();
    for (path, body) in [
        ("/v1/compile", &b"{"[..]),
        ("/v1/compile", &[b' '; 2000][..]),
        ("/v1/converters/kle", b"not json"),
        ("/v1/keyboards/all", b"{}"),
        ("/index.html", b"{}"),
    ] {
        replies.push((format!("POST {path}"), server.post(path, body)));
    }
    for (request, reply) in &replies {
        assert_eq!(reply.header("x-content-type-options"), "nosniff", "{request}");
        if reply.status >= 400 {
            assert_eq!(reply.header("content-type"), "application/json", "{request}");
            let answer = reply.json();
            assert_eq!(answer["code"], reply.status, "{request}");
            assert!(!answer["message"].as_str().unwrap().is_empty(), "{request}");
        }
    }
    let statuses: Vec<u16> = replies.iter().map(|(_, reply)| reply.status).collect();
    for status in [200, 400, 404, 405, 413] {
        assert!(statuses.contains(&status), "{status} among {statuses:?}");
    }
}

#[test]
fn every_post_route_caps_its_body() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &["--body-limit", "100000"], &[]);
    // A KLE layout of 1.5 MB: under axum's own default limit, over the server's.
    let raw = format!("[{}]", vec!["\"Esc\""; 250_000].join(","));
    let body = json!({"raw": raw}).to_string();
    for path in ["/v1/converters/kle", "/v1/converters/kle2qmk", "/v1/compile"] {
        let reply = server.post(path, body.as_bytes());
        assert_eq!((reply.status, reply.json()["code"].as_u64()), (413, Some(413)), "{path}");
        assert!(reply.json()["message"].as_str().unwrap().contains("over the limit of 100000"), "{path}");
    }
    let small = json!({"raw": "[\"Esc\"]"}).to_string();
    assert_eq!(server.post("/v1/converters/kle", small.as_bytes()).status, 200);
}

/// A keymap of 32 layers of assorted keys, whose picture costs some drawing.
fn many_layers(keymap: &str) -> Value {
    let keys = ["KC_A", "LT(1, KC_C)", "MT(MOD_LCTL, KC_D)", "LCTL(KC_E)", "KC_EXLM", "MO(2)", "KC_TRNS", "KC_NO"];
    let layers: Vec<Vec<&str>> = (0..32).map(|l| (0..73).map(|k| keys[(k * 7 + l) % keys.len()]).collect()).collect();
    json!({"keyboard": "clueboard/66/rev2", "keymap": keymap, "layout": "LAYOUT_all", "layers": layers})
}

/// GETs each of `paths` at once, each on a connection of its own.
fn all_at_once(server: &Server, paths: &[String]) -> Vec<Reply> {
    std::thread::scope(|scope| {
        let asks: Vec<_> = paths.iter().map(|path| scope.spawn(move || server.get_new(path))).collect();
        asks.into_iter().map(|ask| ask.join().unwrap()).collect()
    })
}

#[test]
fn a_keymap_picture_is_drawn_once_however_many_ask_at_once() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[], &[]);
    let id = server.submit(&many_layers("drawn_once"));
    server.wait_for(&id, &["finished"]);
    let paths = vec![format!("/v1/compile/{id}/svg"); 20];
    let replies = all_at_once(&server, &paths);
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.body, replies[0].body);
    }
    assert!(replies[0].body.starts_with(b"<svg"), "a picture");
    assert_eq!(server.get(&paths[0]).body, replies[0].body, "and again later");
    let drawn = server.log().lines().filter(|line| line.contains("drew a keymap picture")).count();
    assert_eq!(drawn, 1, "drawn once for 21 requests");
}

#[test]
fn costly_requests_past_the_limit_get_503_with_retry_after() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &["--heavy-limit", "1"], &[]);
    let ids: Vec<String> = (0..16).map(|n| server.submit(&many_layers(&format!("busy_{n}")))).collect();
    for id in &ids {
        server.wait_for(id, &["finished"]);
    }
    let paths: Vec<String> = ids.iter().map(|id| format!("/v1/compile/{id}/svg")).collect();
    let replies = all_at_once(&server, &paths);
    let statuses: Vec<u16> = replies.iter().map(|reply| reply.status).collect();
    assert!(statuses.iter().all(|status| [200, 503].contains(status)), "{statuses:?}");
    assert!(statuses.contains(&200) && statuses.contains(&503), "one drawn at a time, one waits: {statuses:?}");
    for reply in replies.iter().filter(|reply| reply.status == 503) {
        assert_eq!(reply.header("retry-after"), "5");
        assert!(reply.json()["message"].as_str().unwrap().contains("busy drawing keymap pictures"));
    }
    // Refused for now, not for good.
    for (path, _) in paths.iter().zip(&replies).filter(|(_, reply)| reply.status == 503) {
        assert_eq!(server.get(path).status, 200, "{path}");
    }
}
