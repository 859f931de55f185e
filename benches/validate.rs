//! `cargo bench --bench validate`: keymap validation throughput on one core, on the
//! bundled data (a plain keymap and one whose every key is a C expression, some of
//! them lossy) and, when ../shared is there, on QMK's 142 real keymaps. Goal:
//! 10,000 keymaps/s.

use std::path::Path;
use std::time::Instant;

use qmk_api::keyboard::{self, Keyboards};
use qmk_api::keymap::{self, Context, Keycodes, Source};
use qmk_api::source::DataTree;
use qmk_api::spec;

/// Validations timed per case.
const ROUNDS: usize = 20_000;

fn main() {
    let tree = DataTree::Bundled;
    let keyboards = keyboard::load(&tree).unwrap();
    let keycodes = Keycodes::new(&spec::load(&tree).unwrap().constants, None).unwrap();
    let plain = clueboard(|layer, key| match (layer, key) {
        (0, 0) => "KC_ESC".to_owned(),
        (_, 0) => "MO(1)".to_owned(),
        (_, key) => ["KC_A", "KC_TRNS", "KC_LSFT", "KC_SPC"][key % 4].to_owned(),
    });
    let expressions = clueboard(|layer, key| {
        let forms =
            ["LT(1, KC_A)", "LCTL_T(KC_ESC)", "LCTL(LSFT(KC_Z))", "OSM(MOD_LCTL | MOD_LSFT)", "KC_TILD", "QK_USER + 1"];
        let lossy = ["LT(2, KC_RPRN)", "RALT(S(KC_8))", "MO(33)"];
        if key % 10 == 9 { lossy[(key + layer) % 3].to_owned() } else { forms[(key + layer) % forms.len()].to_owned() }
    });
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
    let checkout = DataTree::Checkout(qmk.clone());
    let keyboards: Keyboards = keyboard::load(&checkout).unwrap();
    let headers = keymap::headers::load(&checkout);
    let keycodes = Keycodes::with_headers(&spec::load(&checkout).unwrap().constants, None, &headers).unwrap();
    let real: Vec<String> = walkdir::WalkDir::new(qmk.join("keyboards"))
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_name() == "keymap.json")
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    measure(
        &format!("QMK's {} real keymaps, in turn", real.len()),
        &real,
        Context { keyboards: &keyboards, keycodes: &keycodes },
    );
}

/// A clueboard/66/rev2 LAYOUT_all keymap of three layers, key by key.
fn clueboard(key: impl Fn(usize, usize) -> String) -> String {
    let layers: Vec<Vec<String>> = (0..3).map(|layer| (0..73).map(|k| key(layer, k)).collect()).collect();
    serde_json::json!({"keyboard": "clueboard/66/rev2", "keymap": "bench", "layout": "LAYOUT_all", "layers": layers})
        .to_string()
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
