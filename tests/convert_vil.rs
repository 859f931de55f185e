//! Vial layout files (.vil) ↔ keymap JSON with qmk-api's extension, and
//! `/v1/keyboards/<kb>/via.json` over `qmk-api serve`.

mod common;

use std::path::{Path, PathBuf};

use common::{expect_exit, run, stdout};
use serde_json::{Value, json};

/// A layout file as Vial saves it, written for crkbd/rev1 (8 × 6): Vial's own key
/// names (`KC_BSPACE`, `LT2(KC_SPACE)`, `M0`, `USER00`, `FN_MO13`), a raw number,
/// macros, tap dances, combos, key overrides (one with options and suppressed
/// modifiers the extension lacks), empty slots and QMK settings.
fn crkbd_vil() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/convert/vil/crkbd+rev1.vil")
}

fn convert(from: &str, to: &str, file: &Path, keyboard: Option<&str>) -> std::process::Output {
    let file = file.display().to_string();
    let mut args = vec!["convert", "--from", from, "--to", to, file.as_str()];
    if let Some(keyboard) = keyboard {
        args.extend(["--keyboard", keyboard]);
    }
    run(&args)
}

fn written(dir: &Path, name: &str, output: &std::process::Output) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, stdout(output)).unwrap();
    path
}

#[test]
fn a_vil_becomes_a_keymap_with_combos_dances_and_overrides() {
    let output = convert("vil", "json", &crkbd_vil(), Some("crkbd/rev1"));
    let notes = expect_exit(&output, 0);
    let keymap: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!((&keymap["keyboard"], &keymap["layout"]), (&json!("crkbd/rev1"), &json!("LAYOUT_split_3x6_3")));
    let fn_layer = keymap["layers"][1].as_array().unwrap();
    for key in ["LCTL_T(KC_A)", "MC_0", "QK_KB_0", "QK_KB_1", "QK_TRI_LAYER_LOWER", "KC_NUM", "TD(1)"] {
        assert!(fn_layer.iter().any(|k| k == key), "{key} in {fn_layer:?}");
    }
    assert!(keymap["layers"][0].as_array().unwrap().iter().any(|k| k == "LT(2, KC_SPACE)"));
    assert_eq!(
        keymap["tap_dances"],
        json!([
            {"name": "DANCE_0", "on_tap": "KC_ESCAPE", "on_hold": "KC_LCTL", "on_double_tap": "KC_CAPS", "tapping_term": 180},
            {"name": "DANCE_1", "on_tap": "KC_MINUS", "on_double_tap": "LSFT(KC_MINUS)", "tapping_term": 200}
        ]),
        "empty slots past the last dance used are left out"
    );
    assert_eq!(
        keymap["combos"],
        json!([{"keys": ["KC_J", "KC_K"], "output": "KC_ESCAPE"}, {"keys": ["KC_S", "KC_D", "KC_F"], "output": "KC_TAB"}])
    );
    assert_eq!(
        keymap["key_overrides"][0],
        json!({"trigger": "KC_BSPC", "replacement": "KC_DELETE", "trigger_mods": 2})
    );
    assert_eq!(keymap["key_overrides"][1]["layers"], json!([0, 1]));
    assert_eq!(keymap["key_overrides"][1]["negative_mods"], json!(1));
    assert_eq!(keymap["macros"][0][1], json!({"action": "tap", "keycodes": ["LSFT", "W"]}));
    // What the extension cannot hold is said, never lost silently.
    for said in [
        "key_override/1: its options 0x81",
        "key_override/1: it suppresses modifiers 0x00",
        "settings: Vial's QMK settings (ids 7, 2) left out",
        "`KC_BSPACE` is now `KC_BSPC`",
        "`FN_MO13` is 0x7c77 to the tool: QMK's `QK_TRI_LAYER_LOWER`",
    ] {
        assert!(notes.contains(said), "{said}:\n{notes}");
    }
}

#[test]
fn vil_to_json_to_vil_keeps_every_key_and_member() {
    let dir = tempfile::tempdir().unwrap();
    let first = convert("vil", "json", &crkbd_vil(), Some("crkbd/rev1"));
    expect_exit(&first, 0);
    let json1 = written(dir.path(), "first.json", &first);
    let vil2 = convert("json", "vil", &json1, None);
    expect_exit(&vil2, 0);
    let vil2_path = written(dir.path(), "second.vil", &vil2);
    let second = convert("vil", "json", &vil2_path, Some("crkbd/rev1"));
    expect_exit(&second, 0);
    let json2 = written(dir.path(), "second.json", &second);
    let vil3 = convert("json", "vil", &json2, None);
    expect_exit(&vil3, 0);
    // A .vil holds each key's value: the two keymaps mean the same keys, dances,
    // combos and overrides when the files they write are the same.
    assert_eq!(stdout(&vil2), stdout(&vil3));
    let (one, two): (Value, Value) =
        (serde_json::from_str(&stdout(&first)).unwrap(), serde_json::from_str(&stdout(&second)).unwrap());
    for member in ["layers", "tap_dances", "combos", "key_overrides", "macros"] {
        assert_eq!(
            one[member].as_array().map(Vec::len),
            two[member].as_array().map(Vec::len),
            "{member} keeps its items"
        );
    }
    assert_eq!(one["tap_dances"][0]["tapping_term"], two["tap_dances"][0]["tapping_term"]);
    assert_eq!(one["key_overrides"][1]["layers"], two["key_overrides"][1]["layers"]);
    assert_eq!(one["macros"], two["macros"]);
    let vil: Value = serde_json::from_str(&stdout(&vil2)).unwrap();
    assert_eq!(vil["vial_protocol"], 6);
    assert_eq!(vil["layout"].as_array().unwrap().len(), 4);
    assert_eq!(vil["layout"][0].as_array().unwrap().len(), 8, "a row per matrix row");
    assert_eq!(vil["tap_dance"][0], json!(["0x0029", "0x00e0", "0x0039", "KC_NO", 180]));
    assert_eq!(vil["key_override"][1]["options"], 0x87);
}

#[test]
fn layer_names_and_named_dances_become_numbers_in_a_vil() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<&str> = (0..42)
        .map(|i| {
            if i == 0 {
                "MO(NAV)"
            } else if i == 1 {
                "TD(ESC_CAPS)"
            } else {
                "KC_A"
            }
        })
        .collect();
    let keymap = json!({
        "keyboard": "crkbd/rev1", "keymap": "mine", "layout": "LAYOUT_split_3x6_3",
        "layer_names": ["BASE", "NAV"],
        "layers": [keys, vec!["KC_TRNS"; 42]],
        "tap_dances": [{"name": "ESC_CAPS", "on_tap": "KC_ESC", "on_double_tap": "KC_CAPS"}],
        "combos": [{"keys": ["KC_J", "KC_K"], "output": "KC_ESC", "term": 40}],
        "key_overrides": [{"trigger": "KC_BSPC", "trigger_mods": "MOD_MASK_SHIFT", "replacement": "KC_DEL", "layers": ["NAV"]}]
    });
    let path = dir.path().join("mine.json");
    std::fs::write(&path, keymap.to_string()).unwrap();
    let output = convert("json", "vil", &path, None);
    // A keymap that leaves out its keyboard takes --keyboard's.
    let mut anonymous = keymap.clone();
    anonymous.as_object_mut().unwrap().remove("keyboard");
    let unnamed = dir.path().join("unnamed.json");
    std::fs::write(&unnamed, anonymous.to_string()).unwrap();
    assert_eq!(stdout(&convert("json", "vil", &unnamed, Some("crkbd/rev1"))), stdout(&output));
    let notes = expect_exit(&output, 0);
    assert!(notes.contains("Vial has no layer names") && notes.contains("Vial has no term per combo"), "{notes}");
    let vil: Value = serde_json::from_str(&stdout(&output)).unwrap();
    // crkbd's LAYOUT_split_3x6_3 starts at matrix [0, 0].
    assert_eq!(vil["layout"][0][0][0], "0x5221", "MO(NAV) is MO(1)");
    assert_eq!(vil["tap_dance"][0], json!(["0x0029", "KC_NO", "0x0039", "KC_NO", 200]));
    assert_eq!(vil["key_override"][0]["layers"], 2);
    assert_eq!(vil["key_override"][0]["trigger_mods"], 0x22, "left and right shift");
}

#[test]
fn bad_vil_files_are_refused_saying_where() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |text: &str| {
        let path = dir.path().join("bad.vil");
        std::fs::write(&path, text).unwrap();
        let output = convert("vil", "json", &path, Some("crkbd/rev1"));
        assert!(stdout(&output).is_empty());
        expect_exit(&output, 1)
    };
    assert!(refused("{").contains("not JSON"));
    let row = vec!["KC_A"; 6];
    let stderr = refused(&json!({"layout": [vec![row.clone(); 8], vec![row.clone(); 7]]}).to_string());
    assert!(stderr.contains("layout/1: 7 rows") && stderr.contains("has 8"), "{stderr}");
    let mut rows = vec![row.clone(); 8];
    rows[3] = vec!["KC_A"; 5];
    let stderr = refused(&json!({"layout": [rows]}).to_string());
    assert!(stderr.contains("layout/0/3: 5 columns"), "{stderr}");
    let mut rows = vec![row.clone(); 8];
    rows[0][1] = "KC_NOPE";
    let stderr = refused(&json!({"vial_protocol": 6, "layout": [rows]}).to_string());
    assert!(stderr.contains("KC_NOPE") && stderr.contains("layer 0, key 1"), "{stderr}");
    let old = json!({"vial_protocol": 5, "layout": [vec![vec![json!(0x5C00); 6]; 8]]});
    let stderr = refused(&old.to_string());
    assert!(stderr.contains("layout/0/0/0: `0x5C00` is a keycode number of firmware older than QMK 0.19"), "{stderr}");
    let dance = json!({"vial_protocol": 6, "layout": [vec![row.clone(); 8]], "tap_dance": [["KC_A", "KC_B"]]});
    assert!(refused(&dance.to_string()).contains("tap_dance/0: not [on tap, on hold"));
    let via = json!({"name": "Corne", "vendorProductId": 1, "layers": [[]]});
    assert!(refused(&via.to_string()).contains("this is a VIA backup"));
    let configurator = json!({"keyboard": "crkbd/rev1", "layout": "LAYOUT_split_3x6_3", "layers": [[]]});
    assert!(refused(&configurator.to_string()).contains("this is a QMK keymap JSON"));
}

#[test]
fn a_via_backup_or_a_vil_given_as_keymap_json_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backup.json");
    std::fs::write(&path, json!({"name": "Corne", "vendorProductId": 1, "layers": [[]]}).to_string()).unwrap();
    let stderr = expect_exit(&convert("json", "vil", &path, Some("crkbd/rev1")), 1);
    assert!(stderr.contains("this is a VIA backup, not a keymap JSON: convert it with --from via"), "{stderr}");
    let stderr = expect_exit(&convert("json", "vil", &crkbd_vil(), Some("crkbd/rev1")), 1);
    assert!(stderr.contains("this is a Vial layout file (.vil): convert it with --from vil"), "{stderr}");
}

#[test]
fn the_api_serves_a_via_definition_per_keyboard() {
    let state = tempfile::tempdir().unwrap();
    let server = common::server::Server::start(state.path(), &[], &[]);
    let reply = server.get("/v1/keyboards/crkbd/rev1/via.json");
    assert_eq!((reply.status, reply.header("content-type")), (200, "application/json"));
    let cli = run(&["convert", "--from", "info", "--to", "via", "--keyboard", "crkbd/rev1"]);
    assert_eq!(reply.json(), serde_json::from_str::<Value>(&stdout(&cli)).unwrap());
    let unknown = server.get("/v1/keyboards/nope/via.json");
    assert_eq!(unknown.status, 404);
    assert!(unknown.json()["message"].as_str().unwrap().starts_with("no keyboard"));
}
