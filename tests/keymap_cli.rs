//! The keymap commands as a user runs them: `keycode`, `validate`, `json2c`, `migrate`,
//! on the bundled data and on bad input.

mod common;

use common::*;
use serde_json::{Value, json};

/// The API documents' example payload for clueboard/66/rev2, written out as a keymap file.
fn example(fixture: &Fixture, layers: Value) -> String {
    let payload =
        json!({"keyboard": "clueboard/66/rev2", "keymap": "my_keymap", "layout": "LAYOUT_all", "layers": layers});
    let path = fixture.root().join("keymap.json");
    std::fs::write(&path, payload.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn keycode_prints_values_and_fails_on_any_bad_expression() {
    let output = run(&["keycode", "LT(1, KC_A)", "LCTL(LSFT(KC_A))", "OSM(MOD_LCTL|MOD_LSFT)", "KC_TILD"]);
    expect_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        "LT(1, KC_A)\t0x4104\nLCTL(LSFT(KC_A))\t0x0304\nOSM(MOD_LCTL|MOD_LSFT)\t0x52A3\nKC_TILD\t0x0235\n"
    );
    let output = run(&["keycode", "KC_A", "LT(16, KC_A)", "RESET"]);
    let stderr = expect_exit(&output, 1);
    assert_eq!(stdout(&output), "KC_A\t0x0004\n");
    assert!(stderr.contains("LT(16, KC_A)\terror: LT(): layer 16 is out of range 0–15"), "{stderr}");
    assert!(stderr.contains("RESET\terror: `RESET` is a retired name: use `QK_BOOT`"), "{stderr}");
}

#[test]
fn keycode_versions_change_what_resolves() {
    let output = run(&["keycode", "--keycodes-version", "0.0.1", "RGB_TOG", "KC_MS_UP"]);
    assert_eq!(stdout(&expect_exit_ok(output)), "RGB_TOG\t0x7820\nKC_MS_UP\t0x00CD\n");
    let newer = run(&["keycode", "RGB_TOG"]);
    assert!(expect_exit(&newer, 1).contains("use `QK_UNDERGLOW_TOGGLE` (renamed in keycodes 0.0.4)"));
    assert!(
        expect_exit(&run(&["keycode", "--keycodes-version", "9.9.9", "KC_A"]), 2).contains("no keycodes version 9.9.9")
    );
}

fn expect_exit_ok(output: std::process::Output) -> std::process::Output {
    expect_exit(&output, 0);
    output
}

#[test]
fn the_example_payload_validates_against_the_bundled_clueboard() {
    let fixture = Fixture::new();
    let file = example(&fixture, json!([layer("KC_ESC"), layer("MO(1)")]));
    let stderr = expect_exit(&run(&["validate", &file]), 0);
    assert!(stderr.contains("valid (clueboard/66/rev2, LAYOUT_all, keycodes 0.0.8)"), "{stderr}");
}

#[test]
fn validation_names_layer_key_and_label_in_text_and_json() {
    let fixture = Fixture::new();
    let mut first = layer("KC_NOPE");
    first[1] = "MO(5)".into();
    let file = example(&fixture, json!([first, layer("KC_A")[..72].to_vec()]));
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert!(stderr.contains("error: no keycode `KC_NOPE` in keycodes 0.0.8"), "{stderr}");
    assert!(stderr.contains("= layer 0, key 0 (GRAVE)"), "{stderr}");
    assert!(stderr.contains("warning: `MO(5)` refers to layer 5, but the keymap has 2 layers"), "{stderr}");
    assert!(stderr.contains("layer 1 has 72 keys, but LAYOUT_all has 73"), "{stderr}");

    let output = run(&["validate", "--format", "json", &file]);
    expect_exit(&output, 1);
    let report: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["keyboard"], "clueboard/66/rev2");
    let unknown = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("KC_NOPE"))
        .unwrap();
    assert_eq!(
        (unknown["severity"].clone(), unknown["layer"].clone(), unknown["key"].clone(), unknown["label"].clone()),
        (json!("error"), json!(0), json!(0), json!("GRAVE"))
    );
}

#[test]
fn malformed_keymaps_get_diagnostics_not_panics() {
    let fixture = Fixture::new();
    let cases: &[(&str, &str)] = &[
        (
            r#"{"keyboard": "clueboard/66/rev2", "layout": "LAYOUT_all", "layers": "KC_A"}"#,
            "`layers` must be an array, not a string",
        ),
        (r#"{"keyboard": "clueboard/66/rev2", "layout": "LAYOUT_all", "layers": [[]]}"#, "layer 0 is empty"),
        (r#"{"keyboard": "clueboard/66/rev2", "layout": "LAYOUT_all", "layers": []}"#, "`layers` is empty"),
        (
            r#"{"keyboard": 66, "layout": "LAYOUT_all", "layers": [["KC_A"]]}"#,
            "`keyboard` must be a string, not a number",
        ),
        (
            r#"{"keyboard": "clueboard/66/rev22", "layout": "LAYOUT_all", "layers": [["KC_A"]]}"#,
            "no keyboard `clueboard/66/rev22` (did you mean `clueboard/66/rev2`?)",
        ),
        (
            r#"{"keyboard": "../../etc/passwd", "layout": "LAYOUT_all", "layers": [["KC_A"]]}"#,
            "`../../etc/passwd` is not a keyboard name",
        ),
        (r#"{"keyboard": "/etc", "layout": "LAYOUT", "layers": [["KC_A"]]}"#, "`/etc` is not a keyboard name"),
        (
            r#"{"keyboard": "clueboard/66/rev2", "layout": "LAYOUT_nope", "layers": [["KC_A"]]}"#,
            "no layout `LAYOUT_nope` on clueboard/66/rev2; it has LAYOUT_66_ansi",
        ),
        (r#"{"keyboard": "clueboard/66/rev2", "layers": [["KC_A"]]}"#, "no `layout`"),
        (r#"{"layout": "LAYOUT_all", "layers": [["KC_A"]]}"#, "no `keyboard`"),
        (r#"["not", "an", "object"]"#, "a keymap must be an object, not an array"),
        ("{\"keyboard\": \"clueboard/66/rev2\",\n  \"layers\": [", "invalid hjson"),
    ];
    let path = fixture.root().join("bad.json");
    let file = path.display().to_string();
    for (text, expected) in cases {
        std::fs::write(&path, text).unwrap();
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(stderr.contains(expected), "{text}\nexpected {expected:?} in:\n{stderr}");
    }
    assert!(expect_exit(&run(&["validate", "/nonexistent/keymap.json"]), 2).contains("cannot read"));
}

#[test]
fn a_ten_megabyte_layer_is_reported_briefly() {
    let fixture = Fixture::new();
    let huge: Vec<String> = (0..1_000_000).map(|i| format!("KC_X{i}")).collect();
    let file = example(&fixture, json!([huge]));
    assert!(std::fs::metadata(&file).unwrap().len() > 10_000_000);
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert!(stderr.contains("layer 0 has 1000000 keys, but LAYOUT_all has 73"), "{}", &stderr[..500.min(stderr.len())]);
    assert!(stderr.contains("more problems not shown"));
    assert!(stderr.len() < 20_000, "{} bytes of diagnostics", stderr.len());
}

#[test]
fn json2c_writes_keymap_c_and_refuses_what_would_not_be_c() {
    let fixture = Fixture::new();
    let file = example(&fixture, json!([["KC_A", "ANY(KC_B)", "LT(1,KC_C)"]]));
    let output = run(&["json2c", &file]);
    expect_exit(&output, 0);
    assert!(stdout(&output).contains("    [0] = LAYOUT_all(KC_A, KC_B, LT(1,KC_C))\n};\n"));
    let out = fixture.root().join("keymap.c");
    expect_exit(&run(&["json2c", &file, "-o", &out.display().to_string()]), 0);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), stdout(&output));

    let bad = example(&fixture, json!([["KC_A); system(\"x\""]]));
    assert!(expect_exit(&run(&["json2c", &bad]), 1).contains("is not a keycode expression"));
}

#[test]
fn migrate_rewrites_retired_names_and_the_result_validates() {
    let fixture = Fixture::new();
    let mut old = layer("RESET");
    old[1] = "LT(1, KC_SLCK)".into();
    let payload = json!({"keyboard": "clueboard/66/rev2", "keymap": "old", "layout": "KEYMAP", "layers": [old, layer("KC_MS_UP")]});
    let file = fixture.root().join("old.json");
    std::fs::write(&file, payload.to_string()).unwrap();
    let file = file.display().to_string();
    expect_exit(&run(&["validate", &file]), 1);

    let migrated = fixture.root().join("new.json").display().to_string();
    let stderr = expect_exit(&run(&["migrate", &file, "-o", &migrated]), 0);
    for change in [
        "layout: KEYMAP → LAYOUT",
        "layers/0/0: RESET → QK_BOOT (renamed before keycodes 0.0.1)",
        "layers/0/1: KC_SLCK → KC_SCRL (renamed before keycodes 0.0.1)",
        "layers/1/0: KC_MS_UP → QK_MOUSE_CURSOR_UP (renamed in keycodes 0.0.5)",
    ] {
        assert!(stderr.contains(change), "missing {change:?} in {stderr}");
    }
    let text = std::fs::read_to_string(&migrated).unwrap();
    assert!(text.contains(r#"["QK_BOOT", "LT(1, KC_SCRL)", "KC_TRNS""#), "{text}");
    expect_exit(&run(&["validate", &migrated]), 0);
}

#[test]
fn the_seeds_older_payloads_come_out_valid_after_migration() {
    let Some(shared) = shared() else { return };
    let fixture = Fixture::new();
    let mut migrated = 0;
    for entry in std::fs::read_dir(shared.join("seeds")).unwrap() {
        let Some(payload) = seed_payload(&std::fs::read_to_string(entry.unwrap().path()).unwrap()) else { continue };
        let file = fixture.root().join(format!("seed{migrated}.json"));
        std::fs::write(&file, payload.to_string()).unwrap();
        let out = fixture.root().join(format!("seed{migrated}.migrated.json"));
        expect_exit(&run(&["migrate", &file.display().to_string(), "-o", &out.display().to_string()]), 0);
        let stderr = expect_exit(&run(&["validate", &out.display().to_string()]), 0);
        assert!(stderr.contains("valid (clueboard/66/rev2, LAYOUT_all"), "{stderr}");
        migrated += 1;
    }
    assert_eq!(migrated, 4, "four of the five pages carry a whole payload");
}

#[test]
fn every_command_takes_qmk_home() {
    let Some(shared) = shared() else { return };
    let qmk = shared.join("qmk").display().to_string();
    let fixture = Fixture::new();
    let file = example(&fixture, json!([layer("KC_A")]));
    expect_exit(&run(&["keycode", "--qmk-home", &qmk, "KC_A"]), 0);
    expect_exit(&run(&["validate", "--qmk-home", &qmk, &file]), 0);
    expect_exit(&run(&["migrate", "--qmk-home", &qmk, &file]), 0);
    let empty = Fixture::new();
    assert!(expect_exit(&run(&["keycode", "--qmk-home", &empty.root_arg(), "KC_A"]), 1).contains("no constants under"));
}

#[test]
fn declared_keycodes_and_the_host_language_are_keycodes_too() {
    let fixture = Fixture::new();
    let path = fixture.root().join("custom.json");
    let file = path.display().to_string();
    let mut keys = layer("MY_MACRO");
    keys[1] = "LT(1, KC_A)".into();
    let with = |keys: &[String], extra: Value| {
        let mut payload = json!({"keyboard": "clueboard/66/rev2", "layout": "LAYOUT_all", "layers": [keys]});
        payload.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        std::fs::write(&path, payload.to_string()).unwrap();
    };
    with(&keys, json!({}));
    assert!(expect_exit(&run(&["validate", &file]), 1).contains("no keycode `MY_MACRO`"));
    with(&keys, json!({"keycodes": [{"key": "MY_MACRO"}]}));
    expect_exit(&run(&["validate", &file]), 0);

    keys[0] = "DE_Z".into();
    with(&keys, json!({}));
    expect_exit(&run(&["validate", &file]), 1);
    with(&keys, json!({"host_language": "german"}));
    expect_exit(&run(&["validate", &file]), 0);
    with(&keys, json!({"host_language": "klingon"}));
    assert!(expect_exit(&run(&["validate", &file]), 1).contains("no host language `klingon`; known: us, belgian"));
}
