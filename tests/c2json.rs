//! keymap.c → keymap JSON, measured against QMK: its own `c2json` over the tree's
//! keymap.c files, and the round trip of its real keymap.json through json2c.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use qmk_api::convert::{self, Input, c::CKeymap};
use qmk_api::keyboard::Keyboards;
use qmk_api::keymap::{Context, Keycodes};
use qmk_api::source::DataTree;

/// Every keymap.c below the tree's keyboards/, relative to the tree, sorted.
fn keymap_c_files(qmk: &Path) -> Vec<String> {
    let mut files: Vec<String> = walkdir::WalkDir::new(qmk.join("keyboards"))
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| {
            e.file_name() == "keymap.c"
                && e.path().parent().and_then(|p| p.parent()).is_some_and(|p| p.ends_with("keymaps"))
        })
        .map(|e| e.path().strip_prefix(qmk).unwrap().display().to_string())
        .collect();
    files.sort();
    files
}

/// The keyboard and keymap a tree's keymap file is for, from its path.
fn names_of(file: &str) -> (String, String) {
    let inside = file.strip_prefix("keyboards/").unwrap();
    let (keyboard, rest) = inside.rsplit_once("/keymaps/").unwrap();
    (keyboard.to_owned(), rest.split('/').next().unwrap().to_owned())
}

fn read_c(qmk: &Path, tree: &DataTree, context: Context, file: &str) -> Result<CKeymap, String> {
    let (keyboard, keymap) = names_of(file);
    let path = qmk.join(file);
    let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
    let input = Input {
        shown: file,
        text: &text,
        keyboard: Some(&keyboard),
        keymap: Some(&keymap),
        folder: path.parent(),
        tree: Some(tree),
    };
    convert::c::read(context, &input).map_err(|e| e.to_string())
}

/// What QMK's `c2json` printed for each file, or `None` where it failed: read from the
/// JSON lines `QMK_API_C2JSON_REFERENCE` names (`file`, `ok`, `output`), else run in
/// one process of QMK's Python over `files`; `None` when neither is to hand.
fn qmk_c2json(qmk: &Path, files: &[String]) -> Option<BTreeMap<String, Option<serde_json::Value>>> {
    let lines = match std::env::var_os("QMK_API_C2JSON_REFERENCE") {
        Some(reference) => std::fs::read_to_string(reference).ok()?,
        None => run_qmk_python(qmk, files)?,
    };
    let mut results = BTreeMap::new();
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let output = record["output"].as_str().and_then(|o| serde_json::from_str(o).ok());
        let output = if record["ok"] == true { output } else { None };
        results.insert(record["file"].as_str().unwrap().to_owned(), output);
    }
    Some(results)
}

/// QMK's c2json as its command runs it (keyboard and keymap from the path, cpp on),
/// once per file in one Python process of QMK's CLI.
fn run_qmk_python(qmk: &Path, files: &[String]) -> Option<String> {
    let python = qmk_python()?;
    let script = r#"
import json, os, re, sys
sys.path.append(os.path.join(os.environ['QMK_HOME'], 'lib', 'python'))
os.chdir(os.environ['QMK_HOME'])
from qmk.keymap import c2json, generate_json
for rel in sys.stdin.read().split():
    keyboard, keymap = re.match(r'keyboards/(.+)/keymaps/([^/]+)/', rel).groups()
    try:
        got = c2json(keyboard, keymap, os.path.abspath(rel), use_cpp=True)
        got = generate_json(got['keymap'], got['keyboard'], got['layout'], got['layers'])
        print(json.dumps({'file': rel, 'ok': True, 'output': json.dumps(got)}))
    except Exception:
        print(json.dumps({'file': rel, 'ok': False, 'output': None}))
"#;
    let mut child = Command::new(python)
        .args(["-c", script])
        .env("QMK_HOME", qmk)
        .env("ORIG_CWD", qmk)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take().unwrap().write_all(files.join("\n").as_bytes()).unwrap();
    let output = child.wait_with_output().ok()?;
    output.status.success().then(|| String::from_utf8(output.stdout).unwrap())
}

/// The Python beside the `qmk` on PATH (CI puts its virtual environment there).
fn qmk_python() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let python = std::env::split_paths(&path).find(|dir| dir.join("qmk").is_file())?.join("python");
    let works = Command::new(&python).args(["-c", "import qmk_cli, pygments"]).output().ok()?.status.success();
    works.then_some(python)
}

/// How one file's layers compare with QMK's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Same,
    /// QMK lists layers in the order written; C places `[N] =` layers at N, leaves
    /// the layers it skips KC_NO and keeps the last of a layer given twice.
    QmkIgnoresDesignators,
    /// A layer written with another LAYOUT macro than layer 0's: QMK keeps its keys as
    /// written under layer 0's layout, qmk-api moves them by matrix position.
    QmkKeepsOtherLayouts,
    /// A layer of QMK's has another number of keys than the layout: a name its cpp
    /// could not expand (a header it cannot see) kept as one key, or tokens its lexer
    /// dropped or joined.
    QmkKeyCountWrong,
    /// QMK kept a name C has no value for here (a macro of a header its cpp cannot see).
    QmkNameUnknown,
    /// QMK's cpp runs without the keyboard's features: a layer inside `#ifdef
    /// BACKLIGHT_ENABLE` is left out on a keyboard that has a backlight.
    QmkDecidesIfWithoutFeatures,
    /// Another number of layers: unexplained.
    LayerCountDiffers,
    /// Layers whose keys differ in value: unexplained.
    ValueDiffers,
    QmkFailsQmkApiReads,
    BothFail,
    QmkApiFails,
}

fn normalized(text: &str) -> String {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    match text.as_str() {
        "_______" => "KC_TRNS".to_owned(),
        "XXXXXXX" => "KC_NO".to_owned(),
        _ => text,
    }
}

fn compare(
    ours: &CKeymap,
    text: &str,
    qmk: &serde_json::Value,
    keycodes: &Keycodes,
    layout_keys: Option<usize>,
) -> Outcome {
    let theirs: Vec<Vec<String>> = qmk["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer.as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()).collect())
        .collect();
    let same_key = |a: &str, b: &str| {
        normalized(a) == normalized(b)
            || matches!((ours.value_of(keycodes, a), ours.value_of(keycodes, b)), (Some(x), Some(y)) if x == y)
    };
    let same_layer = |a: &[String], b: &[String]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_key(x, y));
    let same_count = ours.layers.len() == theirs.len();
    if same_count && ours.layers.iter().zip(&theirs).all(|(o, t)| same_layer(o, t)) {
        return Outcome::Same;
    }
    let present: Vec<&Vec<String>> =
        ours.layers.iter().enumerate().filter(|(i, _)| !ours.missing_layers.contains(i)).map(|(_, l)| l).collect();
    let all_found = present.iter().all(|o| theirs.iter().any(|t| same_layer(o, t)));
    if all_found && theirs.len() == present.len() + ours.overridden_layers {
        return Outcome::QmkIgnoresDesignators;
    }
    if !ours.relaid_layers.is_empty() {
        return Outcome::QmkKeepsOtherLayouts;
    }
    if theirs.iter().any(|t| Some(t.len()) != layout_keys) {
        return Outcome::QmkKeyCountWrong;
    }
    if theirs.iter().flatten().any(|k| ours.value_of(keycodes, k).is_none()) {
        return Outcome::QmkNameUnknown;
    }
    if decides_features(text) {
        return Outcome::QmkDecidesIfWithoutFeatures;
    }
    if !same_count {
        return Outcome::LayerCountDiffers;
    }
    Outcome::ValueDiffers
}

/// Whether a conditional directive of the keymap asks for a feature (`#ifdef
/// BACKLIGHT_ENABLE`), which QMK's cpp, run without the build's definitions, takes as off.
fn decides_features(text: &str) -> bool {
    text.lines().map(str::trim_start).any(|line| {
        let directive = line.strip_prefix('#').map(str::trim_start).unwrap_or_default();
        (directive.starts_with("if") || directive.starts_with("elif")) && line.contains("_ENABLE")
    })
}

/// QMK's c2json and qmk-api's over the tree's keymap.c files: every `QMK_API_C2JSON_EVERY`-th
/// (20 unless set; 1 reads all 4386), each difference classified by its cause.
#[test]
fn c2json_reads_what_qmks_c2json_reads_and_more() {
    let Some(shared) = common::shared() else { return };
    let qmk = shared.join("qmk");
    let every: usize = std::env::var("QMK_API_C2JSON_EVERY").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    let files: Vec<String> = keymap_c_files(&qmk).into_iter().step_by(every).collect();
    let Some(reference) = qmk_c2json(&qmk, &files) else {
        eprintln!("skipped: no `qmk` (QMK's CLI) on PATH, nor QMK_API_C2JSON_REFERENCE set");
        return;
    };
    let tree = DataTree::Checkout(qmk.clone());
    let (keyboards, keycodes): (Keyboards, Keycodes) = common::load_tree(&qmk);
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let mut outcomes: BTreeMap<Outcome, Vec<String>> = BTreeMap::new();
    let mut invalid: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut carried = [0usize; 4];
    for file in &files {
        let ours = read_c(&qmk, &tree, context, file);
        if let Ok(ours) = &ours {
            let extended = &ours.extended;
            carried[0] += usize::from(!extended.combos.is_empty());
            carried[1] += usize::from(!extended.tap_dances.is_empty());
            carried[2] += usize::from(!extended.key_overrides.is_empty());
            carried[3] += usize::from(ours.layer_names.is_some());
            let json = qmk_api::keymap::to_keymap_json(&ours.document());
            let source = qmk_api::keymap::Source::new(file, &json).with_folder_of(&qmk.join(file));
            let (_, report) = qmk_api::keymap::check(&source, None, context);
            if let Some(error) = report.diagnostics.iter().find(|d| d.severity == qmk_api::diagnostic::Severity::Error)
            {
                let message: String = error.message.chars().take(90).collect();
                invalid.entry(message).or_default().push(file.clone());
            }
        }
        let theirs = reference.get(file).cloned().flatten();
        let outcome = match (&ours, &theirs) {
            (Ok(ours), Some(theirs)) => {
                let layout_keys = keyboards
                    .resolve(&ours.keyboard)
                    .ok()
                    .and_then(|k| k.layout(ours.layout.as_deref()?))
                    .map(|(_, layout)| layout.keys.len());
                let text = std::fs::read_to_string(qmk.join(file)).unwrap();
                compare(ours, &text, theirs, &keycodes, layout_keys)
            }
            (Ok(_), None) => Outcome::QmkFailsQmkApiReads,
            (Err(_), None) => Outcome::BothFail,
            (Err(error), Some(_)) => {
                eprintln!("{file}: {error}");
                Outcome::QmkApiFails
            }
        };
        outcomes.entry(outcome).or_default().push(file.clone());
    }
    for (outcome, files) in &outcomes {
        eprintln!("{outcome:?}: {}", files.len());
        if *outcome != Outcome::Same && *outcome != Outcome::QmkFailsQmkApiReads {
            for file in files {
                eprintln!("    {file}");
            }
        }
    }
    let [combos, dances, overrides, layer_names] = carried;
    eprintln!(
        "carried: layer names from {layer_names} files, combos from {combos}, tap dances from {dances}, key overrides from {overrides}"
    );
    let invalid_count: usize = invalid.values().map(Vec::len).sum();
    eprintln!("qmk-api's keymap JSON has errors for {invalid_count} files:");
    let mut by_count: Vec<(&String, &Vec<String>)> = invalid.iter().collect();
    by_count.sort_by_key(|(_, files)| std::cmp::Reverse(files.len()));
    for (message, files) in by_count {
        eprintln!("  {:4} {message} (e.g. {})", files.len(), files[0]);
    }
    let unexplained: Vec<&String> = [Outcome::ValueDiffers, Outcome::LayerCountDiffers, Outcome::QmkApiFails]
        .iter()
        .flat_map(|o| outcomes.get(o))
        .flatten()
        .collect();
    assert!(unexplained.is_empty(), "differences without a known cause: {unexplained:?}");
    assert!(outcomes.get(&Outcome::Same).is_some_and(|same| same.len() * 10 > files.len() * 9));
}

/// json2c then c2json gives back the layout, layers (each key with its value) and
/// encoders of every real keymap.json, and the layer names when the keymap has them.
#[test]
fn json2c_then_c2json_gives_back_every_real_keymap_json() {
    let Some(shared) = common::shared() else { return };
    let qmk = shared.join("qmk");
    let tree = DataTree::Checkout(qmk.clone());
    let (keyboards, keycodes) = common::load_tree(&qmk);
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    let settings = keyboards.settings();
    let (mut plain, mut named, mut without_layers) = (0, 0, Vec::new());
    for (path, text) in common::keymap_files(&qmk) {
        let shown = path.display().to_string();
        let (keymap, _) = qmk_api::keymap::read(&qmk_api::keymap::Source::new(&shown, &text), settings);
        let mut keymap = keymap.unwrap();
        let Some(layers) = keymap.layers.clone() else {
            without_layers.push(shown);
            continue;
        };
        for with_names in [false, true] {
            if with_names {
                keymap.extensions.layer_names = (0..layers.len()).map(|i| format!("QA_LAYER_{i}")).collect();
            }
            let c = qmk_api::keymap::json2c(&keymap).unwrap();
            let folder = qmk.join("keyboards").join(&path).parent().unwrap().to_owned();
            let keyboard = keymap.keyboard.clone().unwrap_or_else(|| names_of(&format!("keyboards/{shown}")).0);
            let input = Input {
                shown: &shown,
                text: &c,
                keyboard: Some(&keyboard),
                keymap: keymap.keymap.as_deref(),
                folder: Some(&folder),
                tree: Some(&tree),
            };
            let back = convert::c::read(context, &input).unwrap_or_else(|e| panic!("{shown}: {e}"));
            assert_eq!(back.layout, keymap.layout, "{shown}");
            assert_eq!(back.layers.len(), layers.len(), "{shown}");
            for (index, (theirs, ours)) in layers.iter().zip(&back.layers).enumerate() {
                assert_eq!(theirs.len(), ours.len(), "{shown}: layer {index}");
                for (a, b) in theirs.iter().zip(ours) {
                    let same =
                        normalized(a) == normalized(b) || back.value_of(&keycodes, a) == back.value_of(&keycodes, b);
                    assert!(same, "{shown}: layer {index}: `{a}` came back as `{b}`");
                }
            }
            let names = keymap.extensions.layer_names.clone();
            assert_eq!(back.layer_names.clone().unwrap_or_default(), names, "{shown}");
            if let Some(encoders) = &keymap.encoders {
                let back_encoders = back.encoders.as_ref().unwrap_or_else(|| panic!("{shown}: no encoders came back"));
                assert_eq!(back_encoders.as_array().map(|a| a.len()), Some(encoders.len()), "{shown}");
            }
            if with_names { named += 1 } else { plain += 1 }
        }
    }
    eprintln!("{plain} real keymap.json came back through json2c and c2json, and {named} with layer names");
    eprintln!("without layers (nothing to write as C): {without_layers:?}");
    assert_eq!((plain + without_layers.len(), named), (142, plain));
}

/// A keymap.c for clueboard/66/rev2's LAYOUT_all (73 keys) as people write them: a
/// layer enum, custom keycodes, the keymap's own macros (a row macro among them), a
/// conditional on a feature, an encoder map, a combo, tap dances, a key override and
/// code in callbacks.
fn written_keymap_c(layer_1_first: &str) -> String {
    let fill = |count: usize| vec!["_______"; count].join(", ");
    format!(
        r#"#include QMK_KEYBOARD_H
#include "missing_header.h"

enum layers {{ _BASE, _NAV }};
enum custom_keycodes {{ MY_MACRO = SAFE_RANGE, OTHER_KEY }};
enum dances {{ ESC_CAPS, SHIFTY }};

#define ROW3 KC_A, KC_B, KC_C
#define NAV_SPC LT(_NAV, KC_SPC)
#ifdef RGBLIGHT_ENABLE
#    define LIGHT UG_TOGG
#else
#    define LIGHT KC_NO
#endif

const uint16_t PROGMEM keymaps[][MATRIX_ROWS][MATRIX_COLS] = {{
    [_BASE] = LAYOUT_all(ROW3, NAV_SPC, MY_MACRO, TD(ESC_CAPS), LIGHT, {base}),
    [_NAV] = LAYOUT_all({first}, {nav})
}};

const uint16_t PROGMEM jk_combo[] = {{KC_J, KC_K, COMBO_END}};
combo_t key_combos[] = {{ COMBO(jk_combo, KC_ESC) }};

tap_dance_action_t tap_dance_actions[] = {{
    [ESC_CAPS] = ACTION_TAP_DANCE_DOUBLE(KC_ESC, KC_CAPS),
    [SHIFTY] = ACTION_TAP_DANCE_FN(shifty_finished),
}};

const key_override_t delete_override = ko_make_basic(MOD_MASK_SHIFT, KC_BSPC, KC_DEL);
const key_override_t *key_overrides[] = {{ &delete_override }};

bool process_record_user(uint16_t keycode, keyrecord_t *record) {{
    return true;
}}
"#,
        base = fill(73 - 7),
        first = layer_1_first,
        nav = fill(72),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn c2json_carries_what_json_can_hold_and_notes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "mine.c", &written_keymap_c("KC_ESC"));
    let file = file.display().to_string();
    let output = common::run(&["c2json", &file, "--keyboard", "clueboard/66/rev2"]);
    let json: serde_json::Value = serde_json::from_str(&common::stdout(&output)).unwrap();
    let stderr = common::stderr(&output);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(json["keyboard"], "clueboard/66/rev2");
    assert_eq!(json["keymap"], "mine", "the keymap's name comes from the file's name");
    assert_eq!(json["layout"], "LAYOUT_all");
    let base = json["layers"][0].as_array().unwrap();
    assert_eq!(base.len(), 73);
    // `#ifdef RGBLIGHT_ENABLE` holds: clueboard/66/rev2 has RGB lighting.
    assert_eq!(&base[..7], ["KC_A", "KC_B", "KC_C", "LT(_NAV, KC_SPC)", "MY_MACRO", "TD(ESC_CAPS)", "UG_TOGG"]);
    assert_eq!(base[7], "KC_TRNS");
    assert_eq!(json["layer_names"], serde_json::json!(["_BASE", "_NAV"]));
    assert_eq!(json["keycodes"], serde_json::json!([{"key": "MY_MACRO"}, {"key": "OTHER_KEY"}]));
    assert_eq!(json["combos"], serde_json::json!([{"keys": ["KC_J", "KC_K"], "output": "KC_ESC"}]));
    assert_eq!(
        json["tap_dances"],
        serde_json::json!([{"name": "ESC_CAPS", "on_tap": "KC_ESC", "on_double_tap": "KC_CAPS"}, {"name": "SHIFTY"}])
    );
    assert_eq!(
        json["key_overrides"],
        serde_json::json!([{"trigger": "KC_BSPC", "replacement": "KC_DEL", "trigger_mods": "MOD_MASK_SHIFT"}])
    );
    for note in [
        "cannot find `missing_header.h`",
        "tap dance 1 is `ACTION_TAP_DANCE_FN(…)`",
        "`process_record_user` is code QMK calls",
    ] {
        assert!(stderr.contains(note), "{note} in {stderr}");
    }
    assert!(stderr.contains(&format!("{file}:32: `process_record_user`")), "notes name the line: {stderr}");

    // The JSON it writes validates, as does the keymap.c itself, findings at their line.
    let written = write(dir.path(), "mine.json", &common::stdout(&output));
    common::expect_exit(&common::run(&["validate", &written.display().to_string()]), 0);
    let bad = write(dir.path(), "bad.c", &written_keymap_c("KC_NOPE"));
    let output = common::run(&["validate", &bad.display().to_string(), "--keyboard", "clueboard/66/rev2"]);
    let stderr = common::expect_exit(&output, 1);
    assert!(stderr.contains("no keycode `KC_NOPE`") && stderr.contains(&format!("{}:18", bad.display())), "{stderr}");
    // The same through convert, and drawn.
    let via_convert =
        common::run(&["convert", "--from", "c", "--to", "json", &file, "--keyboard", "clueboard/66/rev2"]);
    assert_eq!(common::stdout(&via_convert), std::fs::read_to_string(&written).unwrap());
    let drawn = common::run(&["draw", &file, "--keyboard", "clueboard/66/rev2"]);
    assert!(common::stdout(&drawn).starts_with("<svg"), "{}", common::stderr(&drawn));
}

#[test]
fn c2json_refuses_what_it_cannot_read_naming_the_place() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str); 6] = [
        ("int x;\n", "no `keymaps` array", "clueboard/66/rev2"),
        (
            "const uint16_t PROGMEM keymaps[][MATRIX_ROWS][MATRIX_COLS] = {\n  [0] = NOT_A_LAYOUT\n};",
            ":2: layer 0 is `NOT_A_LAYOUT`, neither a LAYOUT macro call nor rows of the matrix",
            "clueboard/66/rev2",
        ),
        (
            "const uint16_t PROGMEM keymaps[][MATRIX_ROWS][MATRIX_COLS] = {\n  [4000000] = LAYOUT_all(KC_A)\n};",
            ":2: layer 4000000: a keymap has at most 32 layers",
            "clueboard/66/rev2",
        ),
        ("const uint16_t PROGMEM keymaps[][1][1] = {{{KC_A}}};", "no keyboard `no_such_board`", "no_such_board"),
        ("x", "`../x` is not a keyboard name", "../x"),
        (
            "#define K2 KC_A, KC_A\n#define K4 K2, K2\n#define K8 K4, K4\n#define K16 K8, K8\n#define K32 K16, K16\n\
             #define K64 K32, K32\n#define K128 K64, K64\n#define K256 K128, K128\n#define K512 K256, K256\n\
             #define K1024 K512, K512\n#define K4096 K1024, K1024, K1024, K1024\n\
             const uint16_t PROGMEM keymaps[][MATRIX_ROWS][MATRIX_COLS] = {\n  [0] = LAYOUT_all(K4096, KC_B)\n};",
            ":13: layer 0 has 4097 keys: no keyboard has more than 4096",
            "clueboard/66/rev2",
        ),
    ];
    for (text, expected, keyboard) in cases {
        let file = write(dir.path(), "keymap.c", text);
        let output = common::run(&["c2json", &file.display().to_string(), "--keyboard", keyboard]);
        let stderr = common::expect_exit(&output, 1);
        assert!(stderr.contains(expected), "{expected} in {stderr}");
        assert!(common::stdout(&output).is_empty());
    }
    let file = write(dir.path(), "keymap.c", "int x;");
    let stderr = common::expect_exit(&common::run(&["c2json", &file.display().to_string()]), 1);
    assert!(stderr.contains("no keyboard: give --keyboard"), "{stderr}");
}

/// A keymap.c from anyone reads only what the tree holds below keyboards/, users/
/// and layouts/: an include climbing out is not followed, whatever it names.
#[test]
fn a_keymap_c_includes_nothing_outside_the_trees_keyboard_folders() {
    let Some(shared) = common::shared() else { return };
    let qmk = shared.join("qmk");
    let tree = DataTree::Checkout(qmk.clone());
    let keyboards = qmk_api::keyboard::load_top_folder(&tree, "clueboard/66/rev2").unwrap();
    let keycodes = Keycodes::for_tree(&qmk_api::spec::load(&tree).unwrap().constants, None, &tree).unwrap();
    let context = Context { keyboards: &keyboards, keycodes: &keycodes };
    for include in ["../../../../../../etc/passwd", "/etc/passwd", "../../Makefile", "../../../quantum/quantum.h"] {
        let text = format!(
            "#include \"{include}\"\nconst uint16_t PROGMEM keymaps[][MATRIX_ROWS][MATRIX_COLS] = {{ [0] = LAYOUT_all(KC_A) }};"
        );
        let input = Input {
            shown: "keymap.c",
            text: &text,
            keyboard: Some("clueboard/66/rev2"),
            keymap: None,
            folder: None,
            tree: Some(&tree),
        };
        let read = convert::c::read(context, &input).unwrap();
        assert!(
            read.notes.iter().any(|n| n.contains(&format!("cannot find `{include}`"))),
            "{include}: {:?}",
            read.notes
        );
    }
}

/// The API's c2json: the keymap.c as the body, answered as the CLI answers, and a body
/// that tries to read files of the server's machine gets nothing of them.
#[test]
fn the_api_reads_a_keymap_c_as_the_cli_does() {
    let state = tempfile::tempdir().unwrap();
    let server = common::server::Server::start(state.path(), &[], &[]);
    let keymap = written_keymap_c("KC_ESC");
    let reply =
        server.post_as("/v1/converters/c2json?keyboard=clueboard/66/rev2&keymap=mine", "text/plain", keymap.as_bytes());
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let answer = reply.json();
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "mine.c", &keymap);
    let cli = common::run(&["c2json", &file.display().to_string(), "--keyboard", "clueboard/66/rev2"]);
    assert_eq!(answer["text"], common::stdout(&cli));
    assert!(
        answer["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("body:32: `process_record_user`"))
    );

    let hostile = "#include \"/etc/passwd\"\n#include \"../../../../../../../etc/hostname\"\n\
                   const uint16_t PROGMEM keymaps[][MATRIX_ROWS][MATRIX_COLS] = { [0] = LAYOUT_all(KC_A) };";
    let reply = server.post_as("/v1/converters/c2json?keyboard=clueboard/66/rev2", "text/plain", hostile.as_bytes());
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    assert_eq!(reply.status, 200, "{text}");
    assert!(text.contains("cannot find `/etc/passwd`") && !text.contains("root:"), "{text}");
    let reply = server.post_as("/v1/converters/c2json", "text/plain", hostile.as_bytes());
    assert_eq!(reply.status, 400, "{}", String::from_utf8_lossy(&reply.body));
}
