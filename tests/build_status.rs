//! The catalogue: `serve`'s idle-time mass compile, the five build-status endpoints in
//! qmk_api's shapes (on each job store), the catalogue yielding to a request, and
//! `qmk-api mass-compile` on real keyboards of ../shared/qmk.

mod common;

use std::time::{Duration, Instant};

use common::firmware::on_path;
use common::postgres::Postgres;
use common::server::{Server, bundled_site, fake_qmk_tree, set_build_seconds};
use common::*;
use serde_json::{Value, json};

/// Stand-in build rules that print QMK's size check, then do what `fake_qmk_tree`'s
/// do: a build of a tree keymap (no keymap folder of the service's) fails, as `cp`
/// finds no keymap.json.
const RULES_WITH_SIZE: &str = "\
-include builddefs/seconds.mk
all:
\t@echo building $(KEYBOARD):$(KEYMAP)
\t@sleep $(FAKE_BUILD_SECONDS)
\t@echo ' * The firmware size is fine - 1000/28672 (3%, 27672 bytes free)'
\t@mkdir -p .build
\t@cp $(MAIN_KEYMAP_PATH_1)/keymap.json .build/$(TARGET).hex
\t@cp .build/$(TARGET).hex $(TARGET).hex
";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Polls `path` until `done` holds for its JSON.
fn wait_until(server: &Server, path: &str, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let reply = server.get(path);
        assert_eq!(reply.status, 200, "{path}: {}", String::from_utf8_lossy(&reply.body));
        let value = reply.json();
        if done(&value) {
            return value;
        }
        assert!(started.elapsed() < limit, "{path} stayed {value}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_five_build_status_endpoints_answer_in_qmk_apis_shapes_on_each_store() {
    the_endpoints_answer(&[]);
    if let Some(postgres) = Postgres::start() {
        the_endpoints_answer(&["--database", &postgres.url(), "--lease", "2s"]);
    }
}

fn the_endpoints_answer(store: &[&str]) {
    let (tree, state) = (fake_qmk_tree(), tempfile::tempdir().unwrap());
    std::fs::write(tree.path().join("builddefs/build_keyboard.mk"), RULES_WITH_SIZE).unwrap();
    let args: Vec<&str> = ["--workers", "1", "--idle-mass-compile", "0s"].iter().chain(store).copied().collect();
    let started = now();
    let server = Server::with_fake_toolchain(state.path(), tree.path(), &args, "0.05");
    let keyboards: Vec<String> = serde_json::from_value(server.get("/v1/keyboards").json()).unwrap();
    assert!(keyboards.len() > 5, "{keyboards:?}");
    let every = |status: &Value| status.as_object().is_some_and(|map| map.len() == keyboards.len());
    let status = wait_until(&server, "/v1/keyboards/build_status", Duration::from_secs(120), every);

    // build_status: {keyboard: works}, every keyboard the service knows.
    let names: Vec<&String> = status.as_object().unwrap().keys().collect();
    assert_eq!(names, keyboards.iter().collect::<Vec<_>>());
    // ferris/0_1 has a default keymap in the tree, which the stand-in cannot build;
    // clueboard/66/rev2 has none, so it gets the generated one, which builds.
    assert_eq!(status["ferris/0_1"], false);
    assert_eq!(status["clueboard/66/rev2"], true);

    // build_log: {keyboard: {works, warnings, last_tested, message, ...}}.
    let log = server.get("/v1/keyboards/build_log").json();
    for (keyboard, entry) in log.as_object().unwrap() {
        assert_eq!(entry["works"], status[keyboard], "{keyboard}");
        assert_eq!(entry["warnings"], false, "{keyboard}");
        let tested = entry["last_tested"].as_i64().unwrap();
        assert!((started..=now()).contains(&tested), "{keyboard}: last_tested {tested}");
        let message = entry["message"].as_str().unwrap();
        assert!(message.contains(&format!("building {keyboard}:{}", entry["keymap"].as_str().unwrap())), "{message}");
    }
    let clueboard = &log["clueboard/66/rev2"];
    assert_eq!(clueboard["keymap"], "generated");
    assert_eq!((clueboard["firmware_size"].clone(), clueboard["maximum_size"].clone()), (json!(1000), json!(28672)));
    assert_eq!(log["ferris/0_1"]["keymap"], "default");
    assert!(log["ferris/0_1"]["message"].as_str().unwrap().contains("keymap.json"), "cp's complaint is kept");

    // build_summary: the same without `message`.
    let summary = server.get("/v1/keyboards/build_summary").json();
    let without: serde_json::Map<String, Value> = log
        .as_object()
        .unwrap()
        .iter()
        .map(|(keyboard, entry)| {
            let mut entry = entry.clone();
            entry.as_object_mut().unwrap().remove("message");
            (keyboard.clone(), entry)
        })
        .collect();
    assert_eq!(summary, Value::Object(without));

    // One keyboard's log is its entry, which its page on the site links to (and shows
    // through status.js); unknown keyboards are 404 with a message.
    assert_eq!(server.get("/v1/keyboards/clueboard/66/rev2/build_log").json(), *clueboard);
    let page = String::from_utf8(server.get("/keyboards/clueboard.66.rev2.html").body).unwrap();
    let link = page.split("data-build-log=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap();
    // As a browser reads the attribute: minijinja writes `/` as `&#x2f;`.
    let link = link.replace("&#x2f;", "/");
    let from_page = link.strip_prefix("../").map(|path| format!("/{path}")).unwrap();
    assert_eq!(server.get(&from_page).json(), *clueboard);
    assert!(page.contains("assets/status.js") && server.get("/assets/status.js").status == 200);
    let unknown = server.get_new("/v1/keyboards/no/such/build_log");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["message"], "no keyboard `no/such`");

    // error_log: [{severity, message}], each of QMK's findings in the keyboards' info.
    let all = server.get("/v1/keyboards/all").json();
    let mut expected = Vec::new();
    for (keyboard, info) in all["keyboards"].as_object().unwrap() {
        for (field, severity, prefix) in [("parse_errors", "error", "Error"), ("parse_warnings", "warning", "Warning")]
        {
            for finding in info[field].as_array().into_iter().flatten() {
                let message = format!("{prefix}: {keyboard}: {}", finding.as_str().unwrap());
                expected.push(json!({"severity": severity, "message": message}));
            }
        }
    }
    let mut error_log = server.get("/v1/keyboards/error_log").json().as_array().unwrap().clone();
    let key = |v: &Value| v["message"].as_str().unwrap().to_owned();
    error_log.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(error_log, expected);

    if store.is_empty() {
        the_keyboard_page_shows_its_build(&server, state.path());
    }

    // Nothing is built again while the tree stays as it is.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(server.get("/v1/keyboards/build_log").json(), log);
}

/// In a real browser: the page `serve` serves shows the build and its size; the same
/// page from disk (a static host's) shows no Build section.
fn the_keyboard_page_shows_its_build(server: &Server, state: &std::path::Path) {
    let Some(browser_dir) = browser_dir() else { return };
    let page = "keyboards/clueboard.66.rev2.html";
    let output = std::process::Command::new("node")
        .arg(browser_dir.join("status.mjs"))
        .arg(format!("{}/{page}", server.base))
        .arg(state.join("site/master").join(page))
        .output()
        .unwrap();
    let (stdout, stderr) = (stdout(&output), stderr(&output));
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("result: Builds with its generated keymap (tested "), "{stdout}");
    assert!(stdout.contains("size: Firmware: 1000 bytes of 28672 (3%).\nmeter: 1000/28672"), "{stdout}");
}

#[test]
fn a_request_stops_the_catalogue_build_and_runs_at_once() {
    let (tree, state) = (fake_qmk_tree(), tempfile::tempdir().unwrap());
    // The catalogue's builds (the tree's `default`, the service's `generated`) take a
    // minute; a request's a moment.
    let seconds = "$(if $(filter default generated,$(KEYMAP)),60,0.1)";
    let server = Server::with_fake_toolchain(
        state.path(),
        tree.path(),
        &["--workers", "1", "--idle-mass-compile", "0s"],
        seconds,
    );
    let started = Instant::now();
    while !server.log().contains("catalogue build started") {
        assert!(started.elapsed() < Duration::from_secs(30), "no catalogue build started:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let submitted = Instant::now();
    let id = server.submit(&json!({
        "keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [layer("KC_A")]
    }));
    let job = server.wait_within(&id, &["finished", "failed"], Duration::from_secs(30));
    let took = submitted.elapsed();
    assert_eq!(job["status"], "finished", "{job}");
    assert!(took < Duration::from_secs(10), "the request waited {took:?} for a catalogue build");
    let log = server.log();
    assert!(log.contains("catalogue build stopped: a job waits"), "{log}");
    // The catalogue goes on once the queue is empty, and nothing was recorded of the
    // stopped build.
    let again = Instant::now();
    while server.log().matches("catalogue build started").count() < 2 {
        assert!(again.elapsed() < Duration::from_secs(30), "the catalogue did not go on:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(server.get("/v1/keyboards/build_status").json(), json!({}));
}

#[test]
fn the_catalogue_is_off_with_off_and_without_firmware_builds() {
    let state = tempfile::tempdir().unwrap();
    let tree = fake_qmk_tree();
    let server = Server::with_fake_toolchain(state.path(), tree.path(), &["--idle-mass-compile", "off"], "0");
    std::thread::sleep(Duration::from_secs(2));
    assert!(!server.log().contains("catalogue build"), "{}", server.log());
    assert_eq!(server.get("/v1/keyboards/build_log").json(), json!({}));
    let unbuilt = server.get_new("/v1/keyboards/clueboard/66/rev2/build_log");
    assert_eq!(unbuilt.status, 404);
    assert_eq!(unbuilt.json()["message"], "keyboard `clueboard/66/rev2` has not been built yet");
}

#[test]
fn mass_compile_refuses_what_it_cannot_do_naming_it() {
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().display().to_string();
    let no_tree = run(&["mass-compile", "--state", &state_arg, "clueboard/66/rev2"]);
    assert!(expect_exit(&no_tree, 2).contains("give it a qmk_firmware checkout"));
    let tree = fake_qmk_tree();
    let home = tree.path().display().to_string();
    let unknown = run(&["--qmk-home", &home, "mass-compile", "--state", &state_arg, "no/such"]);
    assert!(expect_exit(&unknown, 1).contains("no/such"), "{}", stderr(&unknown));
    let bad_keymap = run(&["--qmk-home", &home, "mass-compile", "--state", &state_arg, "--keymap=-x"]);
    assert!(expect_exit(&bad_keymap, 2).contains("is not a keymap name"));
}

#[test]
fn mass_compile_builds_the_test_keymaps_records_them_and_fails_with_a_failed_build() {
    let (tree, state) = (fake_qmk_tree(), tempfile::tempdir().unwrap());
    set_build_seconds(tree.path(), "0");
    let (home, state_arg) = (tree.path().display().to_string(), state.path().display().to_string());
    let mass = |extra: &[&str]| {
        let args: Vec<&str> = ["--qmk-home", &home, "mass-compile", "--no-sandbox", "--state", &state_arg]
            .iter()
            .chain(extra)
            .copied()
            .collect();
        run(&args)
    };
    let planned = mass(&["-n", "clueboard/66/rev2", "ferris/0_1"]);
    assert_eq!(expect_exit(&planned, 0), "");
    assert_eq!(stdout(&planned), "clueboard/66/rev2:generated\nferris/0_1:default\n");
    let filtered = mass(&["-n", "-f", "processor=STM32F303", "clueboard/66/rev2", "ferris/0_1", "zsa/moonlander"]);
    assert_eq!(stdout(&filtered), "zsa/moonlander:generated\n", "{}", stderr(&filtered));
    let nested = mass(&["-n", "-f", "usb.vid=0x3297", "-f", "processor", "clueboard/66/rev2", "zsa/moonlander"]);
    assert_eq!(stdout(&nested), "zsa/moonlander:generated\n", "{}", stderr(&nested));

    let built = mass(&["-j", "2", "clueboard/66/rev2", "ferris/0_1"]);
    let errors = expect_exit(&built, 1);
    assert!(errors.contains("failed: ferris/0_1:default"), "{errors}");
    assert!(errors.contains("built 1, failed 1, skipped 0, in "), "{errors}");
    let skipped = mass(&["--keymap", "default", "clueboard/66/rev2"]);
    assert!(expect_exit(&skipped, 0).contains("built 0, failed 0, skipped 1"), "{}", stderr(&skipped));

    // What it recorded is what `serve` answers with.
    let server = Server::with_fake_toolchain(state.path(), tree.path(), &["--idle-mass-compile", "off"], "0");
    assert_eq!(
        server.get("/v1/keyboards/build_status").json(),
        json!({"clueboard/66/rev2": true, "ferris/0_1": false})
    );
    // Not beside that running service: its running jobs would be queued again.
    let beside = mass(&["clueboard/66/rev2"]);
    assert!(expect_exit(&beside, 2).contains("another process (a serve or a mass-compile) is using"));
}

/// Real keyboards of ../shared/qmk, AVR, through the sandboxed builder.
#[test]
fn mass_compile_builds_real_avr_keyboards() {
    let Some(shared) = shared() else {
        return eprintln!("skipped: no ../shared (QMK's tree)");
    };
    let missing: Vec<&str> = ["make", "qmk", "avr-gcc"].into_iter().filter(|p| !on_path(p)).collect();
    if !missing.is_empty() {
        return eprintln!("skipped: {missing:?} not on PATH");
    }
    let state = tempfile::tempdir().unwrap();
    let home = shared.join("qmk").display().to_string();
    let state_arg = state.path().display().to_string();
    let started = Instant::now();
    let keyboards = ["clueboard/66/rev2", "dz60", "planck/rev5"];
    let args: Vec<&str> = ["--qmk-home", &home, "mass-compile", "-j", "2", "--state", &state_arg]
        .iter()
        .chain(&keyboards)
        .copied()
        .collect();
    let output = run(&args);
    let errors = expect_exit(&output, 0);
    eprintln!("{errors}(took {:.0?})", started.elapsed());
    assert!(errors.contains("built 3, failed 0, skipped 0"), "{errors}");
    let site = bundled_site(state.path());
    let args = ["--qmk-home", &home, "--site", &site, "--idle-mass-compile", "off", "--workers", "1"];
    let server = Server::start(state.path(), &args, &[]);
    let log = server.get("/v1/keyboards/build_log").json();
    for keyboard in keyboards {
        let entry = &log[keyboard];
        assert_eq!(entry["works"], true, "{keyboard}: {entry}");
        let (size, maximum) = (entry["firmware_size"].as_i64().unwrap(), entry["maximum_size"].as_i64().unwrap());
        assert!(0 < size && size <= maximum && maximum <= 32768, "{keyboard}: {size}/{maximum}");
        assert!(entry["message"].as_str().unwrap().contains("The firmware size is fine"), "{keyboard}");
    }
}
