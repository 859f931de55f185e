//! `cargo bench --bench validate`: keymap validation throughput on one core, on the
//! bundled data (a plain keymap and one whose every key is a C expression, some of
//! them lossy) and, when ../shared is there, on QMK's 142 real keymaps. Goal:
//! 10,000 keymaps/s. Then what an editor's save costs: `qmk-api validate --qmk-home`
//! of one real keymap, a new process each time (the median of 10 runs; goal 85 ms,
//! a tenth of the 0.85 s it took when it loaded the whole tree).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use qmk_api::keyboard;
use qmk_api::keymap::{self, Context, Keycodes, Source};
use qmk_api::source::DataTree;
use qmk_api::spec;

/// Validations timed per case.
const ROUNDS: usize = 20_000;

fn main() {
    let tree = DataTree::Bundled;
    let keyboards = keyboard::load(&tree).unwrap();
    let keycodes = Keycodes::new(&spec::load(&tree).unwrap().constants, None).unwrap();
    let plain = common::clueboard_keymap(|layer, key| match (layer, key) {
        (0, 0) => "KC_ESC".to_owned(),
        (_, 0) => "MO(1)".to_owned(),
        (_, key) => ["KC_A", "KC_TRNS", "KC_LSFT", "KC_SPC"][key % 4].to_owned(),
    });
    let expressions = common::expressions_keymap();
    println!("Keymap validation, one core (goal 10,000 keymaps/s):");
    for (what, text) in
        [("plain keymap (3 layers of 73 keys)", &plain), ("every key an expression, 1 in 10 lossy", &expressions)]
    {
        measure(what, std::slice::from_ref(text), Context { keyboards: &keyboards, keycodes: &keycodes });
    }
    let qmk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/qmk");
    if !qmk.join("keyboards").is_dir() {
        println!("  QMK's real keymaps: skipped, {} is absent", qmk.display());
        return;
    }
    let (keyboards, keycodes) = common::load_tree(&qmk);
    let real: Vec<String> = common::keymap_files(&qmk).into_iter().map(|(_, text)| text).collect();
    measure(
        &format!("QMK's {} real keymaps, in turn", real.len()),
        &real,
        Context { keyboards: &keyboards, keycodes: &keycodes },
    );
    let keymap = qmk.join("keyboards/ferris/keymaps/default/keymap.json");
    let mut runs: Vec<Duration> = (0..10)
        .map(|_| {
            let started = Instant::now();
            let status = Command::new(env!("CARGO_BIN_EXE_qmk-api"))
                .arg("--qmk-home")
                .arg(&qmk)
                .args(["-q", "validate"])
                .arg(&keymap)
                .status()
                .unwrap();
            assert!(status.success());
            started.elapsed()
        })
        .collect();
    runs.sort();
    println!(
        "  {:<45} {:>9.0} ms (median of 10 processes)",
        "validate --qmk-home, one keymap",
        runs[5].as_secs_f64() * 1000.0
    );
}

fn measure(what: &str, keymaps: &[String], context: Context) {
    let implied = |text: &str| if text.contains("\"keyboard\"") { None } else { Some("unknown") };
    for text in keymaps {
        let (_, report) = keymap::check(&Source::new("keymap.json", text), implied(text), context);
        assert!(report.is_valid() || keymaps.len() > 1, "{:?}", report.diagnostics);
    }
    let rounds = ROUNDS.div_ceil(keymaps.len()) * keymaps.len();
    let start = Instant::now();
    for text in keymaps.iter().cycle().take(rounds) {
        let (_, report) = keymap::check(&Source::new("keymap.json", text), None, context);
        std::hint::black_box(report);
    }
    let elapsed = start.elapsed();
    println!(
        "  {what:<45} {:>9.0} keymaps/s ({:.1} µs each)",
        rounds as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / rounds as f64
    );
}
