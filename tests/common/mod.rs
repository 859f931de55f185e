//! Helpers shared by the integration tests: the binary, the reference data and fixture trees.

#![allow(dead_code)] // each test crate uses its own part of these helpers

pub mod firmware;
pub mod picture;
pub mod postgres;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// 2026-08-10 00:00:00 GMT.
pub const EPOCH: &str = "1786320000";

/// `../shared` beside the checkout, when it is there; tests that need it skip with a reason otherwise.
pub fn shared() -> Option<PathBuf> {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if shared.join("qmk/data/constants").is_dir() {
        Some(shared)
    } else {
        eprintln!("skipped: {} is absent (reference data lives beside the checkout in CI)", shared.display());
        None
    }
}

/// Runs the binary with a clean environment for the things it reads.
pub fn run(args: &[&str]) -> Output {
    run_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

pub fn run_in(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_qmk-api"))
        .args(args)
        .current_dir(dir)
        .env_remove("QMK_HOME")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "the binary panicked on {args:?}:\n{stderr}");
    output
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Asserts the exit code and returns stderr for further checks.
#[track_caller]
pub fn expect_exit(output: &Output, code: i32) -> String {
    let stderr = stderr(output);
    assert_eq!(output.status.code(), Some(code), "stderr:\n{stderr}");
    stderr
}

/// A data tree laid out like a QMK checkout, in a temporary directory.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        Fixture { dir: tempfile::tempdir().unwrap() }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn root_arg(&self) -> String {
        self.root().display().to_string()
    }

    /// Writes `data/constants/keycodes/<name>`.
    pub fn keycodes(&self, name: &str, text: &str) -> &Self {
        self.file(&format!("data/constants/keycodes/{name}"), text)
    }

    pub fn file(&self, relative: &str, text: &str) -> &Self {
        let path = self.root().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// Copies a folder of the checkout's bundled `data/` (`from`, e.g. `keyboards/dz60`) to `to` in this tree.
    pub fn copy_bundled(&self, from: &str, to: &str) -> &Self {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(from);
        for entry in walkdir::WalkDir::new(&source).into_iter().map(Result::unwrap).filter(|e| e.file_type().is_file())
        {
            let target = self.root().join(to).join(entry.path().strip_prefix(&source).unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(entry.path(), target).unwrap();
        }
        self
    }

    pub fn out(&self) -> PathBuf {
        self.root().join("public")
    }

    pub fn out_arg(&self) -> String {
        self.out().display().to_string()
    }

    /// `qmk-api build` over this tree into its `public/`.
    pub fn build(&self) -> Output {
        run(&["build", "--qmk-home", &self.root_arg(), "--out", &self.out_arg()])
    }

    pub fn published(&self, channel: &str, file: &str) -> String {
        std::fs::read_to_string(self.out().join(channel).join("v1").join(file)).unwrap()
    }

    pub fn published_json(&self, channel: &str, file: &str) -> serde_json::Value {
        serde_json::from_str(&self.published(channel, file)).unwrap()
    }
}

/// Every file under `dir` with its bytes, sorted by path.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| (e.path().strip_prefix(dir).unwrap().to_owned(), std::fs::read(e.path()).unwrap()))
        .collect();
    files.sort();
    files
}

/// The example payload of one revision of the API page, if it carries a whole one.
pub fn seed_payload(text: &str) -> Option<serde_json::Value> {
    let text: String = text.lines().filter(|l| l.trim() != "|").collect::<Vec<_>>().join("\n");
    let start = text[..text.find("\"keyboard\"")?].rfind('{')?;
    serde_json::Deserializer::from_str(&text[start..]).into_iter::<serde_json::Value>().next()?.ok()
}

/// The payloads of the seeds' API pages, newest page last (the pages are numbered).
pub fn seed_payloads(shared: &Path) -> Vec<serde_json::Value> {
    let mut pages: Vec<PathBuf> =
        std::fs::read_dir(shared.join("seeds")).unwrap().map(|entry| entry.unwrap().path()).collect();
    pages.sort();
    pages.iter().filter_map(|page| seed_payload(&std::fs::read_to_string(page).unwrap())).collect()
}

/// The current seed's payload: the one using QK_BOOT.
pub fn current_seed_payload(shared: &Path) -> serde_json::Value {
    seed_payloads(shared)
        .into_iter()
        .find(|payload| payload["layers"].to_string().contains("\"QK_BOOT\""))
        .expect("a seed payload using QK_BOOT")
}

/// A stand-in for the current seed's payload, for when ../shared is absent: three
/// layers of clueboard/66/rev2's LAYOUT_all with the seed's layer keys where the
/// seed has them, and QK_BOOT on layer 2.
pub fn stand_in_seed_payload() -> serde_json::Value {
    let with = |first: &str, keys: &[(usize, &str)]| {
        let mut layer = layer(first);
        for (index, keycode) in keys {
            layer[*index] = (*keycode).to_owned();
        }
        layer
    };
    serde_json::json!({
        "keyboard": "clueboard/66/rev2",
        "keymap": "my_awesome_keymap",
        "layout": "LAYOUT_all",
        "layers": [
            with("KC_GRV", &[(69, "MO(1)")]),
            with("KC_ESC", &[(33, "MO(2)"), (69, "MO(1)")]),
            with("KC_TRNS", &[(20, "QK_BOOT"), (33, "MO(2)"), (69, "MO(1)")]),
        ],
    })
}

/// A clueboard/66/rev2 LAYOUT_all keymap of three layers, key by key, as text.
pub fn clueboard_keymap(key: impl Fn(usize, usize) -> String) -> String {
    let layers: Vec<Vec<String>> = (0..3).map(|layer| (0..73).map(|k| key(layer, k)).collect()).collect();
    serde_json::json!({"keyboard": "clueboard/66/rev2", "keymap": "bench", "layout": "LAYOUT_all", "layers": layers})
        .to_string()
}

/// A clueboard/66/rev2 keymap whose every key is a C expression, one in ten lossy.
pub fn expressions_keymap() -> String {
    clueboard_keymap(|layer, key| {
        let forms =
            ["LT(1, KC_A)", "LCTL_T(KC_ESC)", "LCTL(LSFT(KC_Z))", "OSM(MOD_LCTL | MOD_LSFT)", "KC_TILD", "QK_USER + 1"];
        let lossy = ["LT(2, KC_RPRN)", "RALT(S(KC_8))", "MO(33)"];
        if key % 10 == 9 { lossy[(key + layer) % 3].to_owned() } else { forms[(key + layer) % forms.len()].to_owned() }
    })
}

/// A layer of clueboard/66/rev2's LAYOUT_all (73 keys): `first`, then KC_TRNS.
pub fn layer(first: &str) -> Vec<String> {
    let mut keys = vec!["KC_TRNS".to_owned(); 73];
    keys[0] = first.to_owned();
    keys
}

/// A QMK tree's keyboards and its newest keycodes, with the definitions of its keycode headers.
pub fn load_tree(qmk: &Path) -> (qmk_api::keyboard::Keyboards, qmk_api::keymap::Keycodes) {
    let tree = qmk_api::source::DataTree::Checkout(qmk.to_owned());
    let keyboards = qmk_api::keyboard::load(&tree).unwrap();
    let constants = qmk_api::spec::load(&tree).unwrap().constants;
    (keyboards, qmk_api::keymap::Keycodes::for_tree(&constants, None, &tree).unwrap())
}

/// Every `keymap.json` below a QMK tree's `keyboards/`, with its path below it, sorted.
pub fn keymap_files(qmk: &Path) -> Vec<(PathBuf, String)> {
    let root = qmk.join("keyboards");
    let mut found: Vec<(PathBuf, String)> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_name() == "keymap.json")
        .map(|e| (e.path().strip_prefix(&root).unwrap().to_owned(), std::fs::read_to_string(e.path()).unwrap()))
        .collect();
    found.sort();
    found
}

/// `qmk-api import` of ../shared/qmk into a fixture's `data/`: the fixture (keep it
/// alive) and that folder.
pub fn import_shared(shared: &Path) -> (Fixture, PathBuf) {
    let fixture = Fixture::new();
    let data = fixture.root().join("data");
    let qmk = shared.join("qmk").display().to_string();
    expect_exit(&run(&["import", "--qmk-home", &qmk, "--out", &data.display().to_string()]), 0);
    (fixture, data)
}

/// Why a browser test cannot run here, if it cannot: Chromium, node and
/// playwright-core (in `tests/browser`) are needed.
pub fn browser_missing(browser_dir: &Path) -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&chromium).is_file() {
        return Some(format!("no Chromium at {chromium}"));
    }
    if std::process::Command::new("node").arg("--version").output().is_err() {
        return Some("no node".into());
    }
    if !browser_dir.join("node_modules/playwright-core").is_dir() {
        return Some(format!("playwright-core is not installed (npm ci --prefix {})", browser_dir.display()));
    }
    None
}

/// `tests/browser`, when a browser test can run; `None` (after saying why) when it
/// cannot here. CI installs everything (.ci/run): there a missing piece is a failure.
pub fn browser_dir() -> Option<PathBuf> {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if let Some(reason) = browser_missing(&browser_dir) {
        assert!(std::env::var_os("CI").is_none(), "the browser test cannot run in CI: {reason}");
        eprintln!("skipped: {reason}");
        return None;
    }
    Some(browser_dir)
}
