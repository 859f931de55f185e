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
    let output = run(&["keycode", "KC_A", "LT(1)", "RESET"]);
    let stderr = expect_exit(&output, 1);
    assert_eq!(stdout(&output), "KC_A\t0x0004\n");
    assert!(stderr.contains("LT(1)\terror: `LT()` takes 2 arguments, not 1"), "{stderr}");
    assert!(stderr.contains("RESET\terror: `RESET` is a retired name: use `QK_BOOT`"), "{stderr}");
}

#[test]
fn keycode_prints_what_c_gives_a_lossy_expression_and_warns() {
    let lossy = ["LT(16, KC_A)", "LT(3, KC_EXLM)", "RALT(S(KC_2))", "MT(KC_LSFT, KC_SPC)", "LCTL(QK_BOOT)"];
    let output = run(&[&["keycode"][..], &lossy].concat());
    let stderr = expect_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        "LT(16, KC_A)\t0x4004\nLT(3, KC_EXLM)\t0x431E\nRALT(S(KC_2))\t0x161F\nMT(KC_LSFT, KC_SPC)\t0x212C\nLCTL(QK_BOOT)\t0x7D00\n"
    );
    for said in [
        "LT(16, KC_A)\twarning: `LT(16, KC_A)`: layer 16 does not fit (0–15) and is masked to layer 0",
        "LT(3, KC_EXLM)\twarning: `LT(3, KC_EXLM)` takes a basic keycode: the shift of `KC_EXLM` is dropped (taps KC_1)",
        "RALT(S(KC_2))\twarning: `RALT(S(KC_2))`: left and right modifiers mixed: all act as right-hand ones (RSFT+RALT)",
        "MT(KC_LSFT, KC_SPC)\twarning: `MT(KC_LSFT, KC_SPC)`: `KC_LSFT` is a keycode, not a MOD_* constant: it reads as MOD_LCTL",
        "LCTL(QK_BOOT)\twarning: `LCTL(QK_BOOT)`: `QK_BOOT` is not a basic keycode (0x7C00)",
    ] {
        assert!(stderr.contains(said), "{said:?} not in:\n{stderr}");
    }
    let denied = run(&["keycode", "--deny-warnings", "KC_A", "MO(32)"]);
    let stderr = expect_exit(&denied, 1);
    assert_eq!(stdout(&denied), "KC_A\t0x0004\nMO(32)\t0x5220\n");
    assert!(stderr.contains("MO(32)\terror: `MO(32)`: layer 32"), "{stderr}");
    assert!(
        stderr.contains("1 of 2 expressions have warnings in keycodes 0.0.8, denied by --deny-warnings"),
        "{stderr}"
    );
    expect_exit(&run(&["keycode", "--deny-warnings", "KC_A", "LT(1, KC_B)"]), 0);
}

#[test]
fn keycodes_are_c_expressions_as_qmk_builds_them() {
    let accepted = ["(KC_A)", "KC_A + 1", "QK_USER + 2", "SAFE_RANGE", "KC_MEH", "OS_LSFT", "MO((1))", "0b101", "'a'"];
    let output = run(&[&["keycode"][..], &accepted].concat());
    expect_exit(&output, 0);
    assert_eq!(
        stdout(&output),
        "(KC_A)\t0x0004\nKC_A + 1\t0x0005\nQK_USER + 2\t0x7E42\nSAFE_RANGE\t0x7E40\nKC_MEH\t0x0700\nOS_LSFT\t0x52A2\n\
         MO((1))\t0x5221\n0b101\t0x0005\n'a'\t0x0061\n"
    );
    // What GCC with QMK's -Wall -Werror refuses.
    for (expression, why) in [
        ("KC_A | KC_B & KC_C", "-Werror=parentheses"),
        ("KC_A == QK_BASIC", "-Werror=enum-compare"),
        ("0x10000", "-Werror=overflow"),
        ("KC_A / 0", "-Werror=div-by-zero"),
        ("KC_A << 40", "-Werror=shift-count-overflow"),
        ("(KC_A, KC_B)", "-Werror=unused-value"),
        ("KC_A, KC_B", "one keycode per key"),
        ("1.5", "floating"),
        ("KC_A // note", "comment"),
        ("MO", "needs an argument"),
    ] {
        let stderr = expect_exit(&run(&["keycode", expression]), 1);
        assert!(stderr.contains(why), "{expression}: {why:?} not in {stderr}");
    }
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
fn a_diagnostic_about_a_key_points_at_its_own_line_and_column() {
    let fixture = Fixture::new();
    let mut keys = layer("KC_A");
    keys[12] = "KC_QQ".into();
    keys[40] = "LT(1".into();
    keys.insert(41, " KC_B)".into());
    // One key per line, as keymaps are often written.
    let (file, text) = pretty_keymap(&fixture, "one_per_line.json", &json!({"layers": [layer("KC_B"), keys]}));
    let line = line_of(&text, "\"layers\"", "\"KC_QQ\"");
    let split = line_of(&text, "\"layers\"", "\"LT(1\"");
    assert!(line > 80, "the second layer's key 12 is far below `layers`: {line}");
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert!(stderr.contains("error: no keycode `KC_QQ`"), "{stderr}");
    assert!(stderr.contains(&format!("--> {file}:{line}:7\n")), "line {line}, column 7:\n{stderr}");
    assert!(stderr.contains(&format!("--> {file}:{split}:7\n")), "a split key at its first string:\n{stderr}");

    let output = run(&["validate", "--format", "json", &file]);
    let report: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    let unknown = report["diagnostics"].as_array().unwrap().iter().find(|d| d["layer"] == 1 && d["key"] == 12);
    let unknown = unknown.unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(
        (&unknown["line"], &unknown["column"], &unknown["path"]),
        (&json!(line), &json!(7), &json!("layers/1/12"))
    );
}

#[test]
fn malformed_keymaps_get_diagnostics_not_panics() {
    let fixture = Fixture::new();
    let cases: &[(&str, &str)] = &[
        (
            r#"{"keyboard": "clueboard/66/rev2", "layers": [["KC_A"]"#,
            "the file ends inside the array opened here: a `]` is missing",
        ),
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
            r#"{"keyboard": "clueboard/6", "layout": "LAYOUT_all", "layers": [["KC_A"]]}"#,
            "no keyboard `clueboard/6` (did you mean `clueboard/66/rev2`?)",
        ),
        (r#"{"keyboard": "feris", "layout": "LAYOUT", "layers": [["KC_A"]]}"#, "(did you mean `ferris/0_1`?)"),
        (
            r#"{"keyboard": "../../etc/passwd", "layout": "LAYOUT_all", "layers": [["KC_A"]]}"#,
            "`keyboard`: \"../../etc/passwd\" is not a keyboard name",
        ),
        (
            r#"{"keyboard": "/etc", "layout": "LAYOUT", "layers": [["KC_A"]]}"#,
            "`keyboard`: \"/etc\" is not a keyboard name",
        ),
        (
            r#"{"keyboard": "clueboard/66/rev2", "layout": "LAYOUT_nope", "layers": [["KC_A"]]}"#,
            "no layout `LAYOUT_nope` on clueboard/66/rev2; it has LAYOUT_66_ansi",
        ),
        (r#"{"keyboard": "clueboard/66/rev2", "layers": [["KC_A"]]}"#, "no `layout`"),
        (r#"{"layout": "LAYOUT_all", "layers": [["KC_A"]]}"#, "no `keyboard`"),
        (r#"["not", "an", "object"]"#, "a keymap must be an object, not an array"),
        (
            "{\"keyboard\": \"clueboard/66/rev2\",\n  \"layers\": [",
            "ends inside the array opened here: a `]` is missing\n  --> ",
        ),
        ("{\"keyboard\": \"clueboard/66/rev2\",\n  \"layers\" [[]]}", "invalid hjson: expected `:` after a key"),
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
    assert!(stderr.contains("more errors and 0 more warnings not shown"));
    assert!(stderr.len() < 20_000, "{} bytes of diagnostics", stderr.len());
}

#[test]
fn json2c_writes_keymap_c_and_refuses_what_would_not_be_c() {
    let fixture = Fixture::new();
    let file = example(&fixture, json!([["KC_A", "ANY(KC_B)", "LT(1,KC_C)"]]));
    let output = run(&["json2c", "--unchecked", &file]);
    expect_exit(&output, 0);
    assert!(stdout(&output).contains("    [0] = LAYOUT_all(KC_A, KC_B, LT(1,KC_C))\n};\n"));
    let out = fixture.root().join("keymap.c");
    expect_exit(&run(&["json2c", "--unchecked", &file, "-o", &out.display().to_string()]), 0);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), stdout(&output));

    let bad = example(&fixture, json!([["KC_A); system(\"x\""]]));
    assert!(expect_exit(&run(&["json2c", "--unchecked", &bad]), 1).contains("is not a keycode expression"));
}

#[test]
fn json2c_refuses_what_validate_refuses_with_the_same_diagnostics() {
    let fixture = Fixture::new();
    let mut unknown = layer("KC_A");
    unknown[5] = "KC_QQ".to_owned();
    for (layers, expected) in
        [(json!([["KC_A", "KC_B", "KC_C"]]), "layer 0 has 3 keys, but LAYOUT_all has 73"), (json!([unknown]), "KC_QQ")]
    {
        let file = example(&fixture, layers);
        let validated = expect_exit(&run(&["validate", &file]), 1);
        let output = run(&["json2c", &file, "-o", &fixture.root().join("refused.c").display().to_string()]);
        let refused = expect_exit(&output, 1);
        assert!(refused.contains(expected), "{refused}");
        let diagnostics = |stderr: &str| {
            stderr.lines().take_while(|l| !l.contains(": invalid (")).map(str::to_owned).collect::<Vec<_>>()
        };
        assert_eq!(diagnostics(&refused), diagnostics(&validated));
        assert!(refused.contains("no keymap.c written"), "{refused}");
        assert!(!fixture.root().join("refused.c").exists(), "nothing written");
    }
    // A warning is printed and the keymap.c written; -q keeps errors only.
    let mut lossy = layer("KC_A");
    lossy[5] = "LT(16, KC_A)".to_owned();
    let file = example(&fixture, json!([lossy]));
    let output = run(&["json2c", &file]);
    let warned = expect_exit(&output, 0);
    assert!(warned.contains("warning"), "{warned}");
    assert!(stdout(&output).contains("LT(16, KC_A)"));
    let quiet = run(&["-q", "json2c", &file]);
    assert_eq!(expect_exit(&quiet, 0), "");
    assert_eq!(expect_exit(&run(&["-q", "validate", &file]), 0), "");
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
    let renamed = [
        ("\"KEYMAP\"", "\"LAYOUT\""),
        ("\"RESET\"", "\"QK_BOOT\""),
        ("KC_SLCK", "KC_SCRL"),
        ("KC_MS_UP", "QK_MOUSE_CURSOR_UP"),
    ]
    .iter()
    .fold(payload.to_string(), |text, (from, to)| text.replace(from, to));
    assert_eq!(text, renamed, "only the names change, where they are written");
    expect_exit(&run(&["validate", &migrated]), 0);

    // Comments and the keys' lines stay; a name hjson writes without quotes has the
    // whole document written out instead.
    let lines: Vec<String> = layer("KC_A").iter().map(|key| format!("    \"{key}\",")).collect();
    let commented = format!(
        "{{\n  // mine\n  \"keyboard\": \"clueboard/66/rev2\",\n  \"layout\": \"LAYOUT_all\",\n  \"layers\": [[\n{}\n  ]]\n}}\n",
        lines.join("\n").replacen("KC_A", "KC_SLCK", 1)
    );
    std::fs::write(&file, &commented).unwrap();
    expect_exit(&run(&["migrate", &file, "-o", &migrated]), 0);
    assert_eq!(std::fs::read_to_string(&migrated).unwrap(), commented.replace("KC_SLCK", "KC_SCRL"));
    std::fs::write(&file, commented.replace("\"KC_SLCK\"", "KC_SLCK\n")).unwrap();
    let stderr = expect_exit(&run(&["migrate", &file, "-o", &migrated]), 0);
    assert!(stderr.contains("layers/0/0: KC_SLCK → KC_SCRL"), "{stderr}");
    let text = std::fs::read_to_string(&migrated).unwrap();
    assert!(text.contains("\"KC_SCRL\", \"KC_TRNS\"") && !text.contains("// mine"), "{text}");
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

/// A keymap for clueboard/66/rev2 with `extra` fields, written to `name` in the fixture.
fn keymap_with(fixture: &Fixture, name: &str, extra: Value) -> String {
    let payload =
        json!({"keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [layer("KC_A")]});
    write_with(fixture, name, payload, extra)
}

/// `payload` with `extra` fields, written to `name` in the fixture: its path.
fn write_with(fixture: &Fixture, name: &str, mut payload: Value, extra: Value) -> String {
    payload.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let path = fixture.root().join(name);
    std::fs::write(&path, payload.to_string()).unwrap();
    path.display().to_string()
}

#[test]
fn every_string_written_into_keymap_c_is_checked() {
    let fixture = Fixture::new();
    let include = "KC_A)\n#include \"/etc/passwd\"\n//";
    let cases = [
        (json!({"dip_switches": [{"on": include, "off": "KC_B"}]}), "dip_switches"),
        (json!({"dip_switches": [{"on": "KC_A", "off": "KC_B); evil("}]}), "dip_switches"),
        (json!({"encoders": [[{"ccw": include, "cw": "KC_VOLU"}]]}), "encoders"),
        (json!({"macros": [[{"action": "tap", "keycodes": ["A)\n#include \"/etc/passwd\"\n//"]}]]}), "macros"),
        (json!({"macros": [[{"action": "down", "keycodes": ["LCTL); evil(); //"]}]]}), "macros"),
        (json!({"host_language": "german.h\"\n#include \"/etc/passwd"}), "host_language"),
        (json!({"combos": [{"keys": ["KC_A", include], "output": "KC_B"}]}), "combos/0/keys/1"),
        (json!({"tap_dances": [{"name": "X", "on_hold": "KC_B}; evil(); {"}]}), "tap_dances/0/on_hold"),
        (
            json!({"key_overrides": [{"trigger": "KC_A", "replacement": "KC_DEL); evil("}]}),
            "key_overrides/0/replacement",
        ),
        (
            json!({"key_overrides": [{"trigger": "KC_A", "trigger_mods": "MOD_MASK_SHIFT); evil(", "replacement": "KC_B"}]}),
            "key_overrides/0/trigger_mods",
        ),
        (json!({"layer_names": ["BASE\n#include \"/etc/passwd\""]}), "layer_names/0"),
    ];
    for (index, (extra, field)) in cases.iter().enumerate() {
        let file = keymap_with(&fixture, &format!("evil{index}.json"), extra.clone());
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(stderr.contains(&format!("key: {field}")) || stderr.contains(field), "{extra}: {stderr}");
        for unchecked in [&[][..], &["--unchecked"]] {
            let output = run(&[&["json2c", &file][..], unchecked].concat());
            let stderr = expect_exit(&output, 1);
            assert!(stderr.contains(field), "json2c {unchecked:?} names `{field}`: {stderr}");
            let written = stdout(&output);
            assert!(!written.contains("#include \"/etc/passwd\"") && !written.contains("evil"), "{extra}");
        }
    }
    // Macro text is any text (but for a `"` that ends it before anything other than text,
    // which QMK's json2c would leave open): it is one C string literal, never code.
    let text = json!({"macros": [["\"\"x", {"action": "tap", "keycodes": ["A"]}, "\");} int evil; //", "a\\", "\"", "\n#include \"/etc/passwd\"\n"]]});
    let file = keymap_with(&fixture, "text.json", text);
    expect_exit(&run(&["validate", &file]), 0);
    let keymap_c = stdout(&expect_exit_ok(run(&["json2c", &file])));
    let send = keymap_c.lines().find(|line| line.contains("SEND_STRING(")).unwrap();
    assert_eq!(
        send.trim(),
        r#"SEND_STRING("\"\"x"SS_TAP(X_A)"\");} int evil; //a\\\"\n#include \"/etc/passwd\"\n");"#,
        "{keymap_c}"
    );
}

#[test]
fn macro_keycodes_are_send_string_names() {
    let fixture = Fixture::new();
    let good =
        json!({"macros": [[{"action": "tap", "keycodes": ["LCTL", "C"]}, {"action": "down", "keycodes": ["ENTER"]}]]});
    expect_exit(&run(&["validate", &keymap_with(&fixture, "good.json", good)]), 0);
    let bad = json!({"macros": [[{"action": "tap", "keycodes": ["KC_A"]}, {"action": "up", "keycodes": ["ENTR"]}]]});
    let stderr = expect_exit(&run(&["validate", &keymap_with(&fixture, "bad.json", bad)]), 1);
    assert!(stderr.contains("`KC_A`") && stderr.contains("without `KC_`: `A`"), "{stderr}");
    assert!(stderr.contains("`ENTR`") && stderr.contains("did you mean `ENT`"), "{stderr}");
}

#[test]
fn a_hundred_kilobyte_keycode_is_rejected_at_once() {
    let fixture = Fixture::new();
    let long = "KC_".to_owned() + &"A".repeat(100_000);
    let file = example(&fixture, json!([layer(&long), layer(&format!("LT(1, {long})"))]));
    let started = std::time::Instant::now();
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert!(stderr.contains("no keycode `KC_AAAA"), "{}", &stderr[..200.min(stderr.len())]);
    // Before, suggesting a name cost time in proportion to its length: 13.6 s here, optimized.
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "took {:?}", started.elapsed());
}

#[test]
fn a_megabyte_keymap_of_many_layers_is_placed_on_lines_in_linear_time() {
    let fixture = Fixture::new();
    let layers: Vec<Vec<&str>> = (0..50_000).map(|_| vec!["KC_NOPE", "KC_A"]).collect();
    let text = serde_json::to_string_pretty(
        &json!({"keyboard": "clueboard/66/rev2", "layout": "LAYOUT_all", "layers": layers}),
    )
    .unwrap();
    assert!(text.len() > 1_000_000);
    let path = fixture.root().join("many.json");
    std::fs::write(&path, &text).unwrap();
    let started = std::time::Instant::now();
    let stderr = expect_exit(&run(&["validate", &path.display().to_string()]), 1);
    assert!(stderr.contains("many.json:4"), "the layers' line: {}", &stderr[..300.min(stderr.len())]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn a_closed_stdout_ends_quietly_and_a_full_one_is_an_error() {
    use std::process::{Command, Stdio};
    let fixture = Fixture::new();
    let file = example(&fixture, json!([layer("KC_A")]));
    let many: Vec<String> = (0..2000).map(|_| file.clone()).collect();
    let mut args = vec!["validate", "--format", "json"];
    args.extend(many.iter().map(String::as_str));
    for args in [args.clone(), vec!["keycode", "KC_A", "KC_B"], vec!["json2c", file.as_str()]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_qmk-api"))
            .args(&args)
            .env_remove("QMK_HOME")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(0), "{} with stdout closed: {stderr}", args[0]);
        assert!(stderr.is_empty() || !stderr.contains("stdout"), "{stderr}");

        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_qmk-api"))
            .args(&args)
            .env_remove("QMK_HOME")
            .stdout(full)
            .output()
            .unwrap();
        let stderr = expect_exit(&output, 2);
        assert!(stderr.contains("cannot write to stdout") && !stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn output_files_replace_regular_files_only_and_never_follow_links() {
    use std::os::unix::fs::FileTypeExt;
    let fixture = Fixture::new();
    let file = example(&fixture, json!([layer("KC_A")]));
    let victim = fixture.root().join("victim.txt");
    std::fs::write(&victim, "keep me").unwrap();
    let link = fixture.root().join("link.c");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let fifo = fixture.root().join("fifo");
    let name = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let folder = fixture.root().join("folder");
    std::fs::create_dir(&folder).unwrap();
    for command in ["json2c", "migrate"] {
        for (target, kind) in [(&link, "symbolic link"), (&fifo, "FIFO"), (&folder, "folder")] {
            let stderr = expect_exit(&run(&[command, &file, "-o", &target.display().to_string()]), 2);
            assert!(stderr.contains("not a regular file") && stderr.contains(kind), "{command} -o {kind}: {stderr}");
        }
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    }
    let regular = fixture.root().join("keymap.c");
    std::fs::write(&regular, "old").unwrap();
    std::fs::set_permissions(&regular, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    expect_exit(&run(&["json2c", &file, "-o", &regular.display().to_string()]), 0);
    assert!(std::fs::read_to_string(&regular).unwrap().contains("LAYOUT_all(KC_A"));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&regular).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o640, "a replaced file keeps its permissions");
}

#[test]
fn inputs_over_64_mib_are_refused_whatever_their_kind() {
    use std::io::Write;
    let fixture = Fixture::new();
    let fifo = fixture.root().join("keymap.fifo");
    let name = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let mut pipe = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            let block = vec![b' '; 1 << 20];
            for _ in 0..80 {
                if pipe.write_all(&block).is_err() {
                    break;
                }
            }
        })
    };
    let stderr = expect_exit(&run(&["validate", &fifo.display().to_string()]), 1);
    assert!(stderr.contains("more than 64 MiB"), "{stderr}");
    writer.join().unwrap();
    for device in ["/dev/zero", "/dev/urandom"] {
        let stderr = expect_exit(&run(&["validate", device]), 1);
        assert!(stderr.contains("more than 64 MiB"), "{device}: {stderr}");
        assert!(expect_exit(&run(&["json2c", device]), 1).contains("more than 64 MiB"));
    }
}

#[test]
fn a_keymap_may_start_with_a_byte_order_mark() {
    let fixture = Fixture::new();
    let path = fixture.root().join("bom.json");
    let payload =
        json!({"keyboard": "clueboard/66/rev2", "keymap": "bom", "layout": "LAYOUT_all", "layers": [layer("KC_A")]});
    std::fs::write(&path, format!("\u{feff}{payload}")).unwrap();
    let file = path.display().to_string();
    expect_exit(&run(&["validate", &file]), 0);
    assert!(stdout(&expect_exit_ok(run(&["json2c", &file]))).contains("[0] = LAYOUT_all(KC_A"));
    std::fs::write(
        &path,
        format!(
            "\u{feff}{{\n  // hjson too\n  keyboard: clueboard/66/rev2\n  layout: LAYOUT_all\n  layers: [{}]\n}}",
            json!(layer("KC_B"))
        ),
    )
    .unwrap();
    expect_exit(&run(&["validate", &file]), 0);
}

#[test]
fn validate_reports_lossy_keys_as_warnings_and_deny_warnings_refuses_them() {
    let fixture = Fixture::new();
    let file = example(&fixture, json!([layer("LT(1, KC_RPRN)"), layer("RALT(S(KC_8))")]));
    let stderr = expect_exit(&run(&["validate", &file]), 0);
    assert!(
        stderr.contains("warning: `LT(1, KC_RPRN)` takes a basic keycode: the shift of `KC_RPRN` is dropped"),
        "{stderr}"
    );
    assert!(stderr.contains("layer 0, key 0"), "{stderr}");
    assert!(stderr.contains("valid (clueboard/66/rev2, LAYOUT_all, keycodes 0.0.8), 2 warnings"), "{stderr}");
    let output = run(&["validate", "--deny-warnings", "--format", "json", &file]);
    expect_exit(&output, 1);
    let report: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(report["valid"], false);
    assert!(report["diagnostics"].as_array().unwrap().iter().all(|d| d["severity"] == "error"));
    let stderr = expect_exit(&run(&["compile", "--deny-warnings", &file, "--out", &fixture.out_arg()]), 1);
    assert!(stderr.contains("warnings denied by --deny-warnings"), "{stderr}");
    assert!(!fixture.out().exists());
    let output = run(&["compile", &file, "--out", &fixture.out_arg()]);
    expect_exit(&output, 0);
    let printed = stdout(&output);
    assert!(printed.starts_with("warning: `LT(1, KC_RPRN)`"), "the warnings come first:\n{printed}");
    assert!(fixture.out().join("keymap.c").is_file());
}

/// A keyboard of its own: keycodes in its header (an enum from QK_KB_0, a `#define`,
/// a function-like macro), its `config.h`, and one only its `.c` file knows.
fn own_keyboard(fixture: &Fixture) {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/constants");
    for entry in walkdir::WalkDir::new(&data).into_iter().map(Result::unwrap).filter(|e| e.file_type().is_file()) {
        let relative = entry.path().strip_prefix(&data).unwrap().display().to_string();
        fixture.file(&format!("data/constants/{relative}"), &std::fs::read_to_string(entry.path()).unwrap());
    }
    let layout: Vec<Value> = (0..3).map(|x| json!({"matrix": [0, x], "x": x, "y": 0})).collect();
    let definition = json!({"keyboard_name": "Own", "layouts": {"LAYOUT": {"layout": layout}}});
    fixture.file("keyboards/own/keyboard.json", &definition.to_string());
    fixture.file("data/mappings/keyboard_aliases.hjson", "{}");
    fixture.file("keyboards/own/config.h", "#pragma once\n#define OWN_SPARE 0x7E05\n");
    fixture.file(
        "keyboards/own/own.h",
        "#pragma once\n#include \"quantum.h\"\n#include \"own_keys.h\"\n#define OWN_NAV LT(2, KC_ESC)\n\
         #define OWN_TAP(kc) MT(MOD_LCTL | MOD_LSFT, kc)\n",
    );
    fixture.file(
        "keyboards/own/own_keys.h",
        "enum own_keycodes {\n    OWN_FIRST = QK_KB_0, // first\n    OWN_SECOND,\n    OWN_LAST = QK_KB_0 + 9,\n};\n",
    );
    fixture.file("keyboards/own/own.c", "enum { OWN_HIDDEN = QK_KB_0 + 20 };\n");
}

#[test]
fn a_keyboards_own_c_keycodes_are_known_with_their_values() {
    let fixture = Fixture::new();
    own_keyboard(&fixture);
    let keymap = json!({"keyboard": "own", "layout": "LAYOUT", "layers": [["OWN_FIRST", "OWN_SECOND", "OWN_NAV"], ["OWN_LAST", "OWN_TAP(KC_A)", "OWN_SPARE"]]});
    fixture.file("keymap.json", &keymap.to_string());
    let file = fixture.root().join("keymap.json").display().to_string();
    let root = fixture.root_arg();
    let stderr = expect_exit(&run(&["validate", "--qmk-home", &root, &file]), 0);
    assert!(stderr.contains("valid (own, LAYOUT, keycodes 0.0.8), 1 warning"), "{stderr}");
    assert!(stderr.contains("`OWN_NAV` refers to layer 2, but the keymap has 2 layers"), "{stderr}");
    // Their values, as C computes them.
    let tree = qmk_api::source::DataTree::Checkout(fixture.root().to_owned());
    let keyboards = qmk_api::keyboard::load(&tree).unwrap();
    let keycodes = qmk_api::keymap::Keycodes::new(&qmk_api::spec::load(&tree).unwrap().constants, None).unwrap();
    let names = keycodes.keyboard_names(keyboards.resolve("own").unwrap(), &keyboards);
    let none = qmk_api::keymap::Names::default();
    let scope = keycodes.scope(&names, &none, None).unwrap();
    for (name, value) in [("OWN_FIRST", 0x7E00), ("OWN_SECOND", 0x7E01), ("OWN_LAST", 0x7E09), ("OWN_SPARE", 0x7E05)] {
        assert_eq!(scope.resolve(name).unwrap().value, value, "{name}");
    }
    assert_eq!(scope.resolve("OWN_NAV").unwrap().value, keycodes.resolve("LT(2, KC_ESC)").unwrap().value);
    assert_eq!(scope.resolve("OWN_TAP(KC_A)").unwrap().value, 0x2304);
    let generated = stdout(&expect_exit_ok(run(&["json2c", "--qmk-home", &root, &file])));
    assert!(generated.contains("LAYOUT(OWN_FIRST, OWN_SECOND, OWN_NAV)"));
    // What only the keyboard's .c file defines is no keycode for its keymaps, as in C.
    fixture.file(
        "keymap.json",
        &json!({"keyboard": "own", "layout": "LAYOUT", "layers": [["OWN_HIDDEN", "KC_A", "KC_B"]]}).to_string(),
    );
    let stderr = expect_exit(&run(&["validate", "--qmk-home", &root, &file]), 1);
    assert!(stderr.contains("`OWN_HIDDEN` is defined in keyboards/own/own.c, which keymap.c does not see"), "{stderr}");
    // import carries them into the data: the values come back without the headers.
    let out = fixture.root().join("imported");
    expect_exit(&run(&["import", "--qmk-home", &root, "--keyboard", "own", "--out", &out.display().to_string()]), 0);
    let facts: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("keyboards/own/c_keycodes.json")).unwrap()).unwrap();
    assert_eq!(facts["headers"], json!(["own/own.h", "own/own_keys.h", "own/config.h"]));
    let names: Vec<&str> =
        facts["definitions"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["OWN_NAV", "OWN_TAP", "OWN_FIRST", "OWN_SECOND", "OWN_LAST", "OWN_SPARE"]);
    assert_eq!(facts["unseen"], json!({"OWN_HIDDEN": "own/own.c"}));
}

/// Whether printed text holds anything that drives a terminal: C0 controls but line
/// breaks and tabs, DEL, C1 controls, bidi controls.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect()
}

/// A keymap's text (keycodes, its name, its keyboard's name, its file's name) cannot
/// drive the terminal of whoever validates it: control characters are shown escaped
/// in text; JSON stays JSON, holding the same text.
#[test]
fn terminal_controls_from_a_keymap_are_printed_escaped() {
    let fixture = Fixture::new();
    let hostile =
        ["KC_A\u{1b}]0;owned\u{7}", "\u{1b}[2J", "KC_\u{202e}B", "KC_C\u{9b}31m", "KC_D\nerror: made up\u{7f}"];
    let mut keys = layer("KC_A");
    for (index, keycode) in hostile.iter().enumerate() {
        keys[index] = (*keycode).to_owned();
    }
    let payload =
        json!({"keyboard": "clueboard/66/rev2", "keymap": "\u{1b}[2Jname", "layout": "LAYOUT_all", "layers": [keys]});
    let path = fixture.root().join("evil\u{1b}[31m\u{202e}.json");
    std::fs::write(&path, payload.to_string()).unwrap();
    let file = path.display().to_string();

    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert_eq!(raw_controls(&stderr), [], "{stderr:?}");
    for shown in [
        "`KC_A\\u{1b}]0;owned\\u{7}`",
        "`\\u{1b}[2J`",
        "KC_\\u{202e}B",
        "KC_C\\u{9b}31m",
        "KC_D\\u{a}error: made up\\u{7f}`",
    ] {
        assert!(stderr.contains(shown), "{shown} in {stderr}");
    }
    assert!(stderr.contains("evil\\u{1b}[31m\\u{202e}.json"), "the file's name: {stderr}");
    assert!(!stderr.lines().any(|line| line.starts_with("error: made up")), "no line of the keymap's own: {stderr}");

    let output = run(&["validate", "--format", "json", &file]);
    expect_exit(&output, 1);
    let printed = stdout(&output);
    assert_eq!(raw_controls(&printed), [], "{printed:?}");
    let report: Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(report["file"], file, "the same text, escaped as JSON");
    let messages: Vec<&str> =
        report["diagnostics"].as_array().unwrap().iter().map(|d| d["message"].as_str().unwrap()).collect();
    for keycode in hostile {
        assert!(messages.iter().any(|m| m.contains(keycode)), "{keycode:?} in {messages:?}");
    }

    // A keyboard's name, and keycodes on the command line.
    let other = fixture.root().join("board.json");
    std::fs::write(
        &other,
        json!({"keyboard": "clue\u{1b}[2Jboard", "layout": "LAYOUT", "layers": [["KC_A"]]}).to_string(),
    )
    .unwrap();
    let stderr = expect_exit(&run(&["validate", &other.display().to_string()]), 1);
    assert!(stderr.contains("clue\\u{1b}[2Jboard") && raw_controls(&stderr).is_empty(), "{stderr:?}");
    let output = run(&["keycode", "KC_A\u{1b}[2J", "KC_B\u{9b}2J"]);
    let stderr = expect_exit(&output, 1);
    assert!(stderr.contains("KC_A\\u{1b}[2J") && stderr.contains("KC_B\\u{9b}2J"), "{stderr:?}");
    assert_eq!(raw_controls(&stderr), [], "{stderr:?}");
}

/// `payload` with `extra` fields, pretty-printed (one key a line) into `name`.
fn pretty_keymap(fixture: &Fixture, name: &str, extra: &Value) -> (String, String) {
    let mut payload =
        json!({"keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [layer("KC_A")]});
    payload.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let text = serde_json::to_string_pretty(&payload).unwrap();
    let path = fixture.root().join(name);
    std::fs::write(&path, &text).unwrap();
    (path.display().to_string(), text)
}

/// The line (from 1) of the first line of `text` holding `needle` after the line holding `after`.
fn line_of(text: &str, after: &str, needle: &str) -> usize {
    let start = text.lines().position(|l| l.contains(after)).unwrap();
    start + text.lines().skip(start).position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn config_values_qmk_writes_unquoted_into_rules_mk_or_config_h_are_refused_with_their_path() {
    let fixture = Fixture::new();
    // Each: the `config`, the path refused, what is written on the line it is reported at.
    let cases = [
        (json!({"eeprom": {"driver": "vendor$(shell id >/tmp/x)"}}), "config/eeprom/driver", "driver"),
        (json!({"eeprom": {"driver": "vendor$(info $(shell head -2 /etc/passwd))"}}), "config/eeprom/driver", "driver"),
        (json!({"platform_key": "chibios$(shell id)"}), "config/platform_key", "platform_key"),
        (json!({"platform_key": {"$(shell id)": 1}}), "config/platform_key", "platform_key"),
        (json!({"joystick": {"driver": "analog `id`"}}), "config/joystick/driver", "driver"),
        (json!({"joystick": {"driver": "-x"}}), "config/joystick/driver", "driver"),
        (json!({"joystick": {"driver": "x#y"}}), "config/joystick/driver", "driver"),
        (json!({"joystick": {"driver": "é"}}), "config/joystick/driver", "driver"),
        (json!({"joystick": {"driver": "x".repeat(200)}}), "config/joystick/driver", "driver"),
        (json!({"features": {"caps word": true}}), "config/features/caps word", "caps word"),
        (json!({"rgb_matrix": {"default": {"animation": "x\ny"}}}), "config/rgb_matrix/default/animation", "animation"),
        (json!({"layout_aliases": {"A B": "LAYOUT_all"}}), "config/layout_aliases/A B", "A B"),
        (json!({"manufacturer": "Clue\"board\n#include </etc/passwd>"}), "config/manufacturer", "manufacturer"),
        (json!({"matrix_pins": {"cols": ["B0", "B1; x"]}}), "config/matrix_pins/cols/1", "B1; x"),
        (json!({"debounce": 1.5}), "config/debounce", "debounce"),
        (json!({"tapping": {"term": 1e12}}), "config/tapping/term", "term"),
        (json!({"tapping": {"term": 99_999_999_999u64}}), "config/tapping/term", "term"),
        (json!({"usb": {"device_version": "1.0.0\n"}}), "config/usb/device_version", "device_version"),
    ];
    for (index, (config, path, key)) in cases.iter().enumerate() {
        let (file, text) = pretty_keymap(&fixture, &format!("config{index}.json"), &json!({"config": config}));
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(stderr.contains(&format!("error: `{path}`: ")), "{config}: no error naming {path}:\n{stderr}");
        assert!(stderr.contains(&format!("= key: {path}")), "{config}:\n{stderr}");
        let line = line_of(&text, "\"config\"", &format!("\"{key}\""));
        assert!(stderr.contains(&format!("{file}:{line}:")), "{config}: line {line}:\n{stderr}");
        let output = run(&["validate", "--format", "json", &file]);
        let report: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
        assert!(report["diagnostics"].as_array().unwrap().iter().any(|d| d["path"] == *path), "{report}");
        let stderr = expect_exit(&run(&["json2c", &file]), 1);
        assert!(stderr.contains(path), "json2c reads as validate does: {stderr}");
    }
    // What QMK means there passes: names, numbers, booleans, values QMK's schema lists
    // (`cortex-m4`), pins and null pins, and text QMK quotes and escapes itself.
    let good = json!({"config": {
        "eeprom": {"driver": "vendor", "wear_leveling": {"driver": "embedded_flash"}},
        "processor": "cortex-m4", "bootloader": "stm32-dfu", "debounce": 5, "tapping": {"term": 200},
        "features": {"caps_word": true, "rgblight": false}, "rgblight": {"animations": {"rainbow_mood": true}},
        "matrix_pins": {"cols": ["B0", "B1", null, 3], "rows": ["GP1"]}, "layout_aliases": {"LAYOUT_x": "LAYOUT_all"},
        "manufacturer": "Clue \"board\" \\ ünïcode", "usb": {"device_version": "1.0.2", "vid": "0xFEED"},
    }});
    let (file, _) = pretty_keymap(&fixture, "good.json", &good);
    expect_exit(&run(&["validate", &file]), 0);
}

#[test]
fn the_cli_refuses_the_names_the_compile_api_refuses_before_any_make_runs() {
    let fixture = Fixture::new();
    let tree = common::server::fake_qmk_tree();
    let pwned = fixture.root().join("pwned");
    let names = [
        format!("$(shell touch {})", pwned.display()),
        "$(shell id>/tmp/x)".to_owned(),
        "../../../../tmp/x".to_owned(),
        "-km".to_owned(),
        "--help".to_owned(),
        "a b".to_owned(),
    ];
    for (index, name) in names.iter().enumerate() {
        let (file, _) = pretty_keymap(&fixture, &format!("name{index}.json"), &json!({"keymap": name}));
        let out = fixture.root().join(format!("out{index}"));
        let args =
            ["compile", "--qmk-home", &tree.path().display().to_string(), &file, "--out", &out.display().to_string()];
        let output = run(&args);
        expect_exit(&output, 1);
        let printed = stdout(&output);
        assert!(printed.contains("error: `keymap`: ") && printed.contains("is not a keymap name"), "{name}: {printed}");
        assert!(!printed.contains("building"), "{name}: make ran: {printed}");
        assert!(!out.exists(), "{name}: nothing is written, no source.zip");
        for command in ["validate", "json2c"] {
            let stderr = expect_exit(&run(&[command, &file]), 1);
            assert!(stderr.contains("`keymap`: ") && stderr.contains("= key: keymap"), "{command} {name}: {stderr}");
        }
        let stderr = expect_exit(&run(&["draw", &file]), 1);
        assert!(stderr.contains("is not a keymap name"), "draw {name}: {stderr}");
    }
    assert!(!pwned.exists(), "the keymap name ran a command");
    assert!(!tree.path().join(".build").exists());
}

#[test]
fn more_than_32_layers_are_refused_as_qmk_addresses_32_at_most() {
    let fixture = Fixture::new();
    let layers = |count: usize| json!({"layers": vec![layer("KC_A"); count]});
    let (file, _) = pretty_keymap(&fixture, "33.json", &layers(33));
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert!(stderr.contains("the keymap has 33 layers, but QMK addresses 32 at most"), "{stderr}");
    assert!(stderr.contains("`MAX_LAYER`") && stderr.contains("= key: layers"), "{stderr}");
    let (file, _) = pretty_keymap(&fixture, "950.json", &layers(950));
    assert!(expect_exit(&run(&["validate", &file]), 1).contains("has 950 layers"));
    let (file, _) = pretty_keymap(&fixture, "32.json", &layers(32));
    expect_exit(&run(&["validate", &file]), 0);
}

#[test]
fn modules_and_keycode_declarations_are_held_to_qmks_schema_and_names() {
    let fixture = Fixture::new();
    let cases = [
        (json!({"modules": "qmk/hello_world"}), "modules", "must be an array"),
        (json!({"modules": [1]}), "modules/0", "must be a string, not 1"),
        (json!({"modules": ["qmk/hello world"]}), "modules/0", "is not a community module's name"),
        (json!({"modules": ["../../../etc"]}), "modules/0", "is not a community module's name"),
        (json!({"modules": ["qmk/x$(shell id)"]}), "modules/0", "is not a community module's name"),
        (json!({"modules": ["a/hello_world", "b/hello_world"]}), "modules/1", "QMK refuses two modules of one name"),
        (json!({"keycodes": []}), "keycodes", "has 0 items, fewer than 1"),
        (json!({"keycodes": [{"label": "x"}]}), "keycodes/0", "lacks `key`"),
        (json!({"keycodes": [{"key": "kc_mine"}]}), "keycodes/0/key", "does not match"),
        (json!({"keycodes": [{"key": "MY_KEY\n#include </etc/passwd>"}]}), "keycodes/0/key", "does not match"),
        (json!({"keycodes": [{"key": "MY_KEY", "aliases": ["MY; x"]}]}), "keycodes/0/aliases/0", "does not match"),
        (json!({"converter": "proton_c\n"}), "converter", "does not match"),
    ];
    for (index, (extra, path, said)) in cases.iter().enumerate() {
        let (file, _) = pretty_keymap(&fixture, &format!("m{index}.json"), extra);
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(stderr.contains(&format!("error: `{path}`: ")) && stderr.contains(said), "{extra}: {stderr}");
    }
    // The bundled data has no modules: a module is held to its shape; a tree's must be there.
    let (file, _) = pretty_keymap(&fixture, "modules.json", &json!({"modules": ["qmk/hello_world"]}));
    expect_exit(&run(&["validate", &file]), 0);
    let (declared, _) = pretty_keymap(
        &fixture,
        "declared.json",
        &json!({"keycodes": [{"key": "MY_KEY", "aliases": ["MY_K"]}], "layers": [layer("MY_K")]}),
    );
    expect_exit(&run(&["validate", &declared]), 0);
    let Some(shared) = shared() else { return };
    let qmk = shared.join("qmk").display().to_string();
    expect_exit(&run(&["validate", "--qmk-home", &qmk, &file]), 0);
    let (missing, _) = pretty_keymap(&fixture, "missing.json", &json!({"modules": ["qmk/no_such_module"]}));
    let stderr = expect_exit(&run(&["validate", "--qmk-home", &qmk, &missing]), 1);
    assert!(
        stderr.contains("`modules/0`: no community module `qmk/no_such_module` in the tree's modules/"),
        "{stderr}"
    );
    assert!(stderr.contains("qmk/hello_world"), "the tree's modules are listed: {stderr}");
}

#[test]
fn a_macro_text_ending_in_a_quote_that_qmks_json2c_would_leave_open_is_refused() {
    let fixture = Fixture::new();
    let tap = json!({"action": "tap", "keycodes": ["A"]});
    for steps in [json!(["abc\"", tap, "); evil(); //"]), json!(["\""]), json!(["x\"", ""])] {
        let (file, _) = pretty_keymap(&fixture, "open.json", &json!({"macros": [steps]}));
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(stderr.contains("`macros/0/0`: a text that ends with `\"`"), "{steps}: {stderr}");
    }
    let fine = json!({"macros": [["\"quoted\"", "then text", "\"", {"action": "beep"}, "a\"b", tap]]});
    let (file, _) = pretty_keymap(&fixture, "fine.json", &fine);
    expect_exit(&run(&["validate", &file]), 0);
}

/// A keyboard the bundled data lacks: the error says which keyboards it holds and how to use QMK's tree.
#[test]
fn an_unknown_keyboard_on_the_bundled_data_says_what_to_do() {
    let fixture = Fixture::new();
    let file = fixture.root().join("gh60.json");
    std::fs::write(&file, json!({"keyboard": "gh60/revc", "layout": "LAYOUT", "layers": [["KC_A"]]}).to_string())
        .unwrap();
    let file = file.display().to_string();
    for command in ["validate", "draw", "json2c"] {
        let stderr = expect_exit(&run(&[command, &file]), 1);
        assert!(stderr.contains("error: no keyboard `gh60/revc`"), "{command}: {stderr}");
        assert!(
            stderr.contains("help: the bundled data holds 10 keyboards (clueboard/66/rev2, "),
            "{command}: {stderr}"
        );
        assert!(stderr.contains("pass --qmk-home"), "{command}: {stderr}");
    }
    let stderr = expect_exit(&run(&["validate", "--qmk-home", &fixture.root_arg(), &file]), 1);
    assert!(!stderr.contains("help: the bundled data"), "{stderr}");
}

/// A planck/rev6 keymap (48 keys, a layer of `KC_A` but for `keys`) with `extra` members.
fn planck_with(fixture: &Fixture, name: &str, keys: &[(usize, &str)], extra: Value) -> String {
    let mut layer = vec!["KC_A"; 48];
    for (index, key) in keys {
        layer[*index] = key;
    }
    let payload =
        json!({"keyboard": "planck/rev6", "keymap": "mine", "layout": "LAYOUT_ortho_4x12", "layers": [layer]});
    write_with(fixture, name, payload, extra)
}

#[test]
fn the_extension_is_checked_as_layers_are() {
    let fixture = Fixture::new();
    let file = planck_with(
        &fixture,
        "extended.json",
        &[(1, "KC_B"), (2, "MO(NAV)"), (3, "TD(3)"), (4, "TD(ESC_CAPS)"), (5, "LT(NUM, KC_SPC)"), (6, "CW_TOGG")],
        json!({
            "layer_names": ["BASE", "NAV", "KC_A"],
            "combos": [{"keys": ["KC_A", "KC_F13"], "output": "KC_ESC"}, {"keys": ["KC_A", "KC_B"], "output": "KC_NOPE"}],
            "tap_dances": [{"name": "ESC_CAPS", "on_tap": "KC_ESC"}, {"name": "NAV"}, {"name": "int", "on_tap": "KC_A"}],
            "key_overrides": [
                {"trigger": "KC_BSPC", "trigger_mods": "MOD_MASK_SHIFT | KC_A", "replacement": "KC_DEL", "layers": ["SYM"]},
                {"trigger": "KC_A", "replacement": "QK_BOOT"}
            ],
            "config": {"features": {"caps_word": false}}
        }),
    );
    let output = run(&["validate", "--format", "json", &file]);
    expect_exit(&output, 1);
    let report: Value = serde_json::from_str(stdout(&output).lines().next().unwrap()).unwrap();
    let found: Vec<(String, String, String)> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let field = |name: &str| d[name].as_str().unwrap_or_default().to_owned();
            (field("severity"), field("path"), field("message"))
        })
        .collect();
    let has = |severity: &str, path: &str, message: &str| {
        assert!(
            found.iter().any(|(s, p, m)| s == severity && p == path && m.contains(message)),
            "no {severity} at {path} saying {message:?} in {found:#?}"
        );
    };
    has("warning", "layers/0/2", "`MO(NAV)` refers to layer 1, but the keymap has 1 layer");
    has("error", "layers/0/5", "no keycode `NUM`");
    has("error", "layer_names/2", "`KC_A` is already a name in keymap.c");
    has("error", "tap_dances/1/name", "`NAV` is named twice: first at `layer_names/1`");
    has("error", "tap_dances/2/name", "`int` is already a name in keymap.c (a C keyword");
    has("warning", "layer_names", "`layer_names` names 3 layers, but the keymap has 1");
    has("warning", "combos/0/keys/1", "combo 0: `KC_F13` is on no layer, so the combo never fires");
    has("error", "combos/1/output", "no keycode `KC_NOPE`");
    has("warning", "tap_dances/1", "tap dance `NAV` has no action: its key does nothing");
    has(
        "warning",
        "layers/0/3",
        "`TD(3)` is tap dance 3, but the keymap defines 3 (`tap_dances`): the key does nothing",
    );
    has("error", "key_overrides/0/trigger_mods", "`KC_A` is no modifier");
    has("error", "key_overrides/0/layers/0", "no layer `SYM`");
    has("error", "key_overrides/1/replacement", "`QK_BOOT` is not a key with modifiers: a key override sends its keys");
    has("warning", "layers/0/6", "`CW_TOGG` needs Caps Word, which the keymap turns off: the key does nothing");
    assert!(!found.iter().any(|(_, p, _)| p == "layers/0/4"), "TD(ESC_CAPS) is dance 0: {found:#?}");

    // Shapes are the schema's, named by path.
    let file = planck_with(
        &fixture,
        "shapes.json",
        &[],
        json!({"layer_names": ["1ST"], "combos": [{"keys": ["KC_A"], "output": "KC_B", "trem": 3}],
               "tap_dances": [{"on_tap": "KC_ESC"}], "key_overrides": [{"trigger": "KC_A", "replacement": "KC_B", "trigger_mods": 300}]}),
    );
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    for said in [
        "`layer_names/0`: \"1ST\" does not match",
        "`combos/0/keys`: has 1 items, fewer than 2",
        "`combos/0/trem`: is not a key",
        "`tap_dances/0`: lacks `name`",
        "`key_overrides/0/trigger_mods`: matches none of the allowed forms",
    ] {
        assert!(stderr.contains(said), "{said:?} not in:\n{stderr}");
    }
}

#[test]
fn json2c_writes_the_extension_as_the_c_qmk_documents() {
    let fixture = Fixture::new();
    let file = planck_with(
        &fixture,
        "extended.json",
        &[(1, "MO(NAV)"), (2, "TD(ESC_CAPS)"), (3, "MS_BTN1"), (4, "KC_BSPC")],
        json!({
            "layer_names": ["BASE", "NAV"],
            "combos": [{"keys": ["KC_A", "KC_BSPC"], "output": "KC_ESC", "term": 40}],
            "tap_dances": [{"name": "ESC_CAPS", "on_tap": "KC_ESC", "on_hold": "KC_LCTL", "tapping_term": 180}],
            "key_overrides": [{"trigger": "KC_BSPC", "trigger_mods": "MOD_MASK_SHIFT", "replacement": "KC_DEL", "layers": ["BASE"]}]
        }),
    );
    let keymap_c = stdout(&expect_exit_ok(run(&["json2c", &file])));
    for written in [
        "enum qmk_api_layer_names {\n    BASE,\n    NAV,\n};\nenum qmk_api_tap_dance_names {\n    ESC_CAPS,\n};\n",
        "LAYOUT_ortho_4x12(KC_A, MO(NAV), TD(ESC_CAPS), MS_BTN1, KC_BSPC,",
        "const uint16_t PROGMEM qmk_api_combo_0[] = {KC_A, KC_BSPC, COMBO_END};",
        "    COMBO(qmk_api_combo_0, KC_ESC),",
        "        case 0:\n            return 40;",
        "    [ESC_CAPS] = {KC_ESC, KC_LCTL, KC_NO, KC_NO, KC_NO},",
        "        case TD(ESC_CAPS):\n            return 180;",
        "ko_make_with_layers_and_negmods(MOD_MASK_SHIFT, KC_BSPC, KC_DEL, ((layer_state_t)1 << BASE), 0);",
    ] {
        assert!(keymap_c.contains(written), "{written:?} not in:\n{keymap_c}");
    }
    let folder = fixture.root().join("folder");
    expect_exit_ok(run(&["json2c", &file, "--folder", folder.to_str().unwrap()]));
    let read = |name: &str| std::fs::read_to_string(folder.join(name)).unwrap();
    assert!(read("keymap.json").contains("\"layer_names\""), "QMK's keymap.json, as written");
    assert!(read("keymap.h").contains("enum qmk_api_layer_names {"));
    assert!(read("keymap.c").contains("combo_t key_combos[]") && !read("keymap.c").contains("keymaps[]"));
    // planck/rev6 has mouse keys; combos, tap dances and overrides are turned on.
    assert_eq!(
        read("rules.mk"),
        "# Written by qmk-api: the features this keymap uses.\nCOMBO_ENABLE = yes\nKEY_OVERRIDE_ENABLE = yes\nTAP_DANCE_ENABLE = yes\n"
    );
    let defines: Vec<String> =
        read("config.h").lines().filter(|l| l.starts_with("#define")).map(str::to_owned).collect();
    assert_eq!(defines, ["#define COMBO_TERM_PER_COMBO", "#define TAPPING_TERM_PER_KEY"]);
    expect_exit(&run(&["json2c", &file, "--folder", "x", "-o", "y"]), 2);
}

/// The planck keymap of `planck_with` (keys 1 and 2 `KC_B` and `KC_C`, layers `BASE` and
/// `NAV`, a tap dance `X`) with `member` set at `path` to `value`, written to `name`.
fn planck_hostile(fixture: &Fixture, name: &str, path: &str, value: Value) -> String {
    let mut extra = json!({
        "layer_names": ["BASE", "NAV"],
        "combos": [{"keys": ["KC_A", "KC_B"], "output": "KC_ESC", "term": 40}],
        "tap_dances": [{"name": "X", "on_tap": "KC_A", "on_hold": "KC_B", "on_double_tap": "KC_C", "on_tap_hold": "KC_D",
                        "tapping_term": 200}],
        "key_overrides": [{"trigger": "KC_BSPC", "trigger_mods": "MOD_MASK_SHIFT", "negative_mods": "MOD_MASK_CTRL",
                           "replacement": "KC_DEL", "layers": ["BASE", 1]}]
    });
    let pointer = format!("/{path}");
    *extra.pointer_mut(&pointer).unwrap_or_else(|| panic!("{pointer} in the keymap")) = value;
    let layer_key = [(1, "KC_B"), (2, "KC_C"), (3, "MO(NAV)"), (4, "TD(X)"), (5, "KC_BSPC")];
    planck_with(fixture, name, &layer_key, extra)
}

/// Asserts that `validate`, `json2c`, `json2c --unchecked` and `json2c --folder` refuse
/// `file`, each naming `path`, and that none writes `marker`.
#[track_caller]
fn refused_everywhere(fixture: &Fixture, file: &str, path: &str, marker: &str) {
    let stderr = expect_exit(&run(&["validate", file]), 1);
    assert!(stderr.contains(&format!("key: {path}")), "validate names `{path}` for {file}:\n{stderr}");
    for unchecked in [&[][..], &["--unchecked"]] {
        let output = run(&[&["json2c", file][..], unchecked].concat());
        let stderr = expect_exit(&output, 1);
        assert!(stderr.contains(path), "json2c {unchecked:?} names `{path}`:\n{stderr}");
        assert!(marker.is_empty() || !stdout(&output).contains(marker), "json2c {unchecked:?} wrote {marker:?}");
    }
    let folder = fixture.root().join("folder-of-refused");
    let stderr = expect_exit(&run(&["json2c", file, "--folder", &folder.display().to_string()]), 1);
    assert!(stderr.contains(path), "json2c --folder names `{path}`:\n{stderr}");
    assert!(!folder.exists(), "json2c --folder wrote a folder for a refused keymap");
}

#[test]
fn hostile_text_in_every_member_of_the_extension_is_refused_with_its_path() {
    let fixture = Fixture::new();
    let keycodes = [
        "combos/0/keys/1",
        "combos/0/output",
        "tap_dances/0/on_tap",
        "tap_dances/0/on_hold",
        "tap_dances/0/on_double_tap",
        "tap_dances/0/on_tap_hold",
        "key_overrides/0/trigger",
        "key_overrides/0/replacement",
    ];
    // Each payload goes to the next member in turn, so that every member gets several.
    let payloads = [
        ("KC_A}; int evil; {", "evil"),
        ("KC_A); evil(", "evil"),
        ("KC_A, evil", "evil"),
        ("KC_A /* evil", "evil"),
        ("KC_A // evil", "evil"),
        ("KC_A\n#include \"evil.h\"", "evil"),
        ("KC_A ??/\nevil", "evil"),
        ("_Pragma(\"evil\") KC_A", "evil"),
        ("\"evil\"", "evil"),
        ("KC_A\u{0}evil", "evil"),
        ("ＫＣ_A", "ＫＣ"),
        ("KC_A\u{a0}", "\u{a0}"),
        ("{KC_A}", "{KC_A}"),
        ("KC_A;", "KC_A;"),
    ];
    for (index, (payload, marker)) in payloads.iter().enumerate() {
        for path in [keycodes[index % keycodes.len()], keycodes[(index + 3) % keycodes.len()]] {
            let file = planck_hostile(&fixture, &format!("text{index}.json"), path, json!(payload));
            refused_everywhere(&fixture, &file, path, marker);
        }
    }
    // What has a keycode's shape but names no keycode: `--unchecked` writes it as the
    // expression it is (C refuses it, as QMK's json2c would have it); the checks refuse it.
    for (index, payload) in ["__attribute__((evil))", "evil(KC_A)", "sizeof(evil)", "defined(evil)"].iter().enumerate()
    {
        let path = keycodes[index * 2];
        let file = planck_hostile(&fixture, &format!("shape{index}.json"), path, json!(payload));
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(stderr.contains(&format!("key: {path}")), "{payload}: {stderr}");
        let stderr = expect_exit(&run(&["json2c", &file]), 1);
        assert!(stderr.contains(&format!("key: {path}")), "{payload}: {stderr}");
    }
    // Names are C identifiers of QMK's schema, whatever they hold.
    let names = ["layer_names/1", "tap_dances/0/name", "key_overrides/0/layers/0"];
    let hostile_names = [
        "NAV\n#define evil",
        "NAV evil",
        "NAV); evil(",
        "NAV/* evil */",
        "NΑV",
        "1evil",
        "",
        "NAV\u{0}evil",
        "evil_name_of_sixty_four_characters_which_is_more_than_c_needs_xx",
    ];
    for (index, name) in hostile_names.iter().enumerate() {
        let path = names[index % names.len()];
        let file = planck_hostile(&fixture, &format!("name{index}.json"), path, json!(name));
        refused_everywhere(&fixture, &file, path, if name.contains("evil") { "evil" } else { "" });
    }
    // Modifiers are QMK's names joined by `|`, or a number of 8 bits.
    let hostile_mods =
        ["MOD_MASK_SHIFT); evil(", "MOD_MASK_SHIFT /* evil */", "MOD_MASK_SHIFT || MOD_MASK_CTRL", "evil"];
    for (index, mods) in hostile_mods.iter().enumerate() {
        for path in ["key_overrides/0/trigger_mods", "key_overrides/0/negative_mods"] {
            let file = planck_hostile(&fixture, &format!("mods{index}.json"), path, json!(mods));
            refused_everywhere(&fixture, &file, path, "evil");
        }
    }
}

#[test]
fn numbers_and_shapes_of_the_extension_are_refused_with_their_paths() {
    let fixture = Fixture::new();
    let cases = [
        ("combos/0/term", json!(0), "0 is less than 1"),
        ("combos/0/term", json!(65536), "65536 is more than 65535"),
        ("combos/0/term", json!(-1), "-1 is less than 1"),
        ("combos/0/term", json!(1.5), "must be a whole number, not 1.5"),
        ("combos/0/term", json!(1e308), "is more than 65535"),
        ("combos/0/term", json!(18_446_744_073_709_551_615u64), "is more than 65535"),
        ("combos/0/term", json!("30"), "must be a whole number, not a string"),
        ("combos/0/term", json!(null), "must be a whole number, not null"),
        ("tap_dances/0/tapping_term", json!(0), "0 is less than 1"),
        ("tap_dances/0/tapping_term", json!(70000), "70000 is more than 65535"),
        ("tap_dances/0/tapping_term", json!([200]), "must be a whole number, not an array"),
        ("key_overrides/0/layers/0", json!(32), "32 is more than 31"),
        ("key_overrides/0/layers/0", json!(-1), "-1 is less than 0"),
        ("key_overrides/0/layers/0", json!("1"), "does not match"),
        ("key_overrides/0/layers/0", json!(null), "matches none of the allowed forms"),
        ("key_overrides/0/layers/0", json!("SYM"), "no layer `SYM`"),
        ("key_overrides/0/layers", json!([]), "has 0 items, fewer than 1"),
        ("key_overrides/0/trigger_mods", json!(256), "matches none of the allowed forms"),
        ("key_overrides/0/trigger_mods", json!(-1), "matches none of the allowed forms"),
        ("key_overrides/0/trigger_mods", json!("256"), "`256` is no modifier"),
        ("key_overrides/0/trigger_mods", json!("0x22"), "matches none of the allowed forms"),
        ("key_overrides/0/trigger_mods", json!("+1"), "matches none of the allowed forms"),
        ("key_overrides/0/trigger_mods", json!("MOD_MASK_SHIFT | KC_A"), "`KC_A` is no modifier"),
        ("key_overrides/0/negative_mods", json!(true), "matches none of the allowed forms"),
        ("key_overrides/0/negative_mods", json!("MOD_MASK_SC"), "`MOD_MASK_SC` is no modifier"),
        ("combos/0/keys", json!(["KC_A"]), "has 1 items, fewer than 2"),
        ("combos/0/keys", json!(vec!["KC_A"; 17]), "has 17 items, more than 16"),
        ("combos/0/keys", json!([["KC_A", "KC_B"]]), "must be a string, not an array"),
        ("combos/0/output", json!(4), "must be a string, not 4"),
        ("combos/0/output", json!(""), "shorter than 1"),
        ("combos/0", json!([{"keys": ["KC_A", "KC_B"], "output": "KC_ESC"}]), "must be an object, not an array"),
        ("combos", json!({"keys": ["KC_A", "KC_B"], "output": "KC_ESC"}), "must be an array, not an object"),
        ("tap_dances", json!("X"), "must be an array, not a string"),
        ("tap_dances/0", json!({"on_tap": "KC_A"}), "lacks `name`"),
        ("tap_dances/0", json!({"name": "X", "on_tripple_tap": "KC_A"}), "is not a key"),
        ("key_overrides", json!(null), "must be an array, not null"),
        ("key_overrides/0", json!({"trigger": "KC_A"}), "lacks `replacement`"),
        ("layer_names", json!(vec!["L"; 33]), "has 33 items, more than 32"),
        ("layer_names/1", json!(null), "must be a string, not null"),
    ];
    for (index, (path, value, said)) in cases.iter().enumerate() {
        let file = planck_hostile(&fixture, &format!("shape{index}.json"), path, value.clone());
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(stderr.contains(said) && stderr.contains(&format!("key: {path}")), "{path} = {value}: {stderr}");
        let stderr = expect_exit(&run(&["json2c", "--unchecked", &file]), 1);
        assert!(stderr.contains(path), "json2c --unchecked, {path} = {value}: {stderr}");
    }
    let tap_dances: Vec<Value> = (0..257).map(|i| json!({"name": format!("D{i}"), "on_tap": "KC_A"})).collect();
    let file = planck_hostile(&fixture, "dances.json", "tap_dances", json!(tap_dances));
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert!(stderr.contains("`tap_dances`: has 257 items, more than 256"), "{stderr}");

    // A member given twice is refused, whichever of the two holds the attack.
    let text =
        std::fs::read_to_string(planck_hostile(&fixture, "twice.json", "combos/0/output", json!("KC_ESC"))).unwrap();
    for twice in [
        r#""combos": [{"keys": ["KC_A", "KC_B"], "output": "KC_ESC); evil("}], "#,
        r#""tap_dances": [{"name": "Y", "name": "int"}], "#,
    ] {
        let path = fixture.root().join("twice.json");
        std::fs::write(&path, text.replacen('{', &format!("{{{twice}"), 1)).unwrap();
        let file = path.display().to_string();
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(stderr.contains("duplicate key"), "{twice}: {stderr}");
        let output = run(&["json2c", "--unchecked", &file]);
        assert!(expect_exit(&output, 1).contains("duplicate key") && !stdout(&output).contains("evil"));
    }
}

#[test]
fn whole_numbers_written_as_floats_are_written_as_integers() {
    let fixture = Fixture::new();
    let file = planck_with(
        &fixture,
        "floats.json",
        &[(1, "KC_B"), (2, "TD(X)")],
        json!({
            "combos": [{"keys": ["KC_A", "KC_B"], "output": "KC_ESC", "term": 30.0}],
            "tap_dances": [{"name": "X", "on_tap": "KC_A", "tapping_term": 180.0}],
            "key_overrides": [{"trigger": "KC_A", "trigger_mods": 2.0, "negative_mods": 255.0, "replacement": "KC_B", "layers": [0.0]}]
        }),
    );
    let keymap_c = stdout(&expect_exit_ok(run(&["json2c", &file])));
    for written in [
        "        case 0:\n            return 30;",
        "        case TD(X):\n            return 180;",
        "ko_make_with_layers_and_negmods(0x02, KC_A, KC_B, ((layer_state_t)1 << 0), 0xFF);",
    ] {
        assert!(keymap_c.contains(written), "{written:?} not in:\n{keymap_c}");
    }
}

#[test]
fn names_c_already_has_and_names_given_twice_are_refused() {
    let fixture = Fixture::new();
    let taken = ["int", "while", "_Bool", "KC_A", "SAFE_RANGE", "TD", "MO", "LAYOUT_ortho_4x12", "qmk_api_combo_0"];
    for (index, name) in taken.iter().enumerate() {
        for path in ["layer_names/1", "tap_dances/0/name"] {
            let file = planck_hostile(&fixture, &format!("taken{index}.json"), path, json!(name));
            let stderr = expect_exit(&run(&["validate", &file]), 1);
            assert!(
                stderr.contains(&format!("`{name}` is already a name in keymap.c"))
                    && stderr.contains(&format!("key: {path}")),
                "{path} = {name}: {stderr}"
            );
        }
    }
    for (path, name, first) in [
        ("layer_names/1", "BASE", "layer_names/0"),
        ("tap_dances/0/name", "NAV", "layer_names/1"),
        ("tap_dances/0/name", "BASE", "layer_names/0"),
    ] {
        let file = planck_hostile(&fixture, "twice.json", path, json!(name));
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(stderr.contains(&format!("`{name}` is named twice: first at `{first}`")), "{path} = {name}: {stderr}");
    }
    let file = planck_hostile(
        &fixture,
        "dances.json",
        "tap_dances",
        json!([{"name": "X", "on_tap": "KC_A"}, {"name": "X", "on_tap": "KC_B"}]),
    );
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert!(stderr.contains("`X` is named twice: first at `tap_dances/0/name`"), "{stderr}");
}

#[test]
fn dances_and_overrides_send_keys_with_modifiers_only() {
    let fixture = Fixture::new();
    for (path, keycode) in [
        ("tap_dances/0/on_hold", "LT(NAV, KC_A)"),
        ("tap_dances/0/on_tap", "TD(X)"),
        ("tap_dances/0/on_double_tap", "MO(NAV)"),
        ("tap_dances/0/on_tap_hold", "QK_BOOT"),
        ("key_overrides/0/trigger", "MO(NAV)"),
        ("key_overrides/0/replacement", "TD(X)"),
        ("key_overrides/0/replacement", "OSM(MOD_LSFT)"),
    ] {
        let file = planck_hostile(&fixture, "plain.json", path, json!(keycode));
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(
            stderr.contains(&format!("`{keycode}` is not a key with modifiers"))
                && stderr.contains(&format!("key: {path}")),
            "{path} = {keycode}: {stderr}"
        );
    }
}

#[test]
fn tap_dance_keys_resolve_as_c_does_and_those_past_the_dances_are_warned() {
    let fixture = Fixture::new();
    let dances = json!({"tap_dances": [{"name": "ESC_CAPS", "on_tap": "KC_ESC"}, {"name": "B2", "on_tap": "KC_B"}]});
    for key in ["TD(ESC_CAPS + 1)", "TD(B2 - 1)", "TD((ESC_CAPS))", "TD(1 ? ESC_CAPS : B2)", "TD(ESC_CAPS) + 1"] {
        let file = planck_with(&fixture, "fine.json", &[(0, key)], dances.clone());
        let stderr = expect_exit(&run(&["validate", &file]), 0);
        assert!(stderr.contains("0 warnings"), "{key}: {stderr}");
    }
    for (key, said) in [
        ("TD(ESC_CAPS + 2)", "`TD(ESC_CAPS + 2)` is tap dance 2, but the keymap defines 2"),
        ("TD(-1)", "`TD(-1)`: index -1 does not fit (0–255) and is masked to 255"),
        ("TD(256)", "`TD(256)`: index 256 does not fit (0–255) and is masked to 0"),
        ("TD(KC_A)", "`TD(KC_A)` is tap dance 4, but the keymap defines 2"),
    ] {
        let file = planck_with(&fixture, "past.json", &[(0, key)], dances.clone());
        let stderr = expect_exit(&run(&["validate", &file]), 0);
        assert!(stderr.contains(said), "{key}: {stderr}");
        expect_exit(&run(&["validate", "--deny-warnings", &file]), 1);
    }
    for (key, said) in [("TD(NOPE)", "no keycode `NOPE`"), ("TD(ESC_CAPS, 1)", "`TD()` takes one argument, not 2")] {
        let file = planck_with(&fixture, "bad.json", &[(0, key)], dances.clone());
        assert!(expect_exit(&run(&["validate", &file]), 1).contains(said), "{key}");
    }
}

#[test]
fn huge_members_of_the_extension_are_refused_or_checked_quickly() {
    let fixture = Fixture::new();
    let started = std::time::Instant::now();
    let long = "KC_A".to_owned() + &" ".repeat(5 << 20);
    let file = planck_hostile(&fixture, "long.json", "combos/0/keys/1", json!(long));
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert!(stderr.contains("is longer than 250 characters") && stderr.len() < 20_000, "{}", &stderr[..300]);
    let file = planck_hostile(&fixture, "name.json", "layer_names/1", json!("N".repeat(5 << 20)));
    let stderr = expect_exit(&run(&["json2c", "--unchecked", &file]), 1);
    assert!(stderr.contains("does not match") && stderr.len() < 20_000, "{}", &stderr[..300]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());

    // Twenty thousand combos, more than the schema allows, each with findings, checked all the same, quickly.
    let combos: Vec<Value> = (0..20_000).map(|_| json!({"keys": ["KC_A", "KC_B"], "output": "KC_ESC"})).collect();
    let file = planck_with(&fixture, "combos.json", &[(1, "KC_B")], json!({"combos": combos}));
    let started = std::time::Instant::now();
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert!(stderr.contains("`combos`: has 20000 items, more than 256"), "{}", &stderr[..300]);
    assert!(stderr.contains("combo 19999 has the keys of combo 0: only the first fires"), "{}", &stderr[..300]);
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn numbers_on_one_line_are_placed_in_linear_time() {
    // Placing a finding walks the text once; a number's end was looked for at its line's end,
    // so a one-line keymap of 100,000 numbers took 48 s (91 s optimized for 500,000, a 1 MB request).
    let fixture = Fixture::new();
    let mut layers = vec![json!(0); 100_000];
    layers.push(json!(5));
    let extra = json!({"key_overrides": [{"trigger": "KC_A", "replacement": "KC_B", "layers": layers}]});
    let file = planck_with(&fixture, "numbers.json", &[], extra);
    let started = std::time::Instant::now();
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert!(stderr.contains("key: key_overrides/0/layers/100000"), "{}", &stderr[..300.min(stderr.len())]);
    assert!(stderr.contains("numbers.json:1:200"), "placed on its column: {}", &stderr[..300.min(stderr.len())]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[test]
fn modifiers_reach_c_as_the_values_checked_and_by_qmks_names() {
    let fixture = Fixture::new();
    for (mods, written) in [("08", "0x08"), ("010", "0x0A"), ("MOD_MASK_SHIFT | 0255", "MOD_MASK_SHIFT | 0xFF")] {
        let extra = json!({"key_overrides": [{"trigger": "KC_A", "trigger_mods": mods, "replacement": "KC_B"}]});
        let keymap_c = stdout(&expect_exit_ok(run(&["json2c", &planck_with(&fixture, "mods.json", &[], extra)])));
        assert!(
            keymap_c.contains(&format!("ko_make_with_layers_and_negmods({written}, KC_A, KC_B")),
            "{mods}: {keymap_c}"
        );
    }
    for name in ["MOD_BIT_LCTL", "MOD_BIT_LSFT", "MOD_BIT_RCTL", "MOD_BIT_RSFT"] {
        let extra = json!({"key_overrides": [{"trigger": "KC_A", "trigger_mods": name, "replacement": "KC_B"}]});
        let file = planck_with(&fixture, "mods.json", &[], extra);
        assert!(expect_exit(&run(&["validate", &file]), 1).contains("key: key_overrides/0/trigger_mods"), "{name}");
        let stderr = expect_exit(&run(&["json2c", "--unchecked", &file]), 1);
        assert!(
            stderr.contains("key_overrides/0/trigger_mods: `MOD_BIT_LCTL` is no modifier") || name != "MOD_BIT_LCTL",
            "{stderr}"
        );
    }
}

#[test]
fn names_that_keymap_c_or_qmks_build_already_have_are_refused() {
    let fixture = Fixture::new();
    for name in [
        "PROGMEM",
        "keymaps",
        "key_combos",
        "tap_dance_actions",
        "key_overrides",
        "uint16_t",
        "NULL",
        "true",
        "bool",
        "asm",
        "typeof",
        "__COUNTER__",
        "TAPPING_TERM",
        "F_CPU",
        "layer_state",
        "process_record_user",
        "X_A",
        "OTHER_KEYMAP_C",
    ] {
        for path in ["layer_names/0", "tap_dances/0/name"] {
            let extra = match path {
                "layer_names/0" => json!({"layer_names": [name]}),
                _ => json!({"tap_dances": [{"name": name, "on_tap": "KC_B"}]}),
            };
            let file = planck_with(&fixture, "taken.json", &[], extra);
            let stderr = expect_exit(&run(&["validate", &file]), 1);
            assert!(
                stderr.contains("is already a name in keymap.c") && stderr.contains(path),
                "{path} = {name}: {stderr}"
            );
        }
    }
    // The generated functions' parameters are qmk-api's own: a dance may be named as C's usual ones.
    let extra = json!({"tap_dances": [{"name": "keycode", "on_tap": "KC_B", "tapping_term": 150}]});
    let keymap_c =
        stdout(&expect_exit_ok(run(&["json2c", &planck_with(&fixture, "param.json", &[(1, "TD(keycode)")], extra)])));
    assert!(keymap_c.contains("get_tapping_term(uint16_t qmk_api_keycode, keyrecord_t *qmk_api_record)"), "{keymap_c}");
}

#[test]
fn members_whose_feature_the_keymap_turns_off_are_refused() {
    let fixture = Fixture::new();
    for (feature, member, extra) in [
        ("combo", "combos", json!({"combos": [{"keys": ["KC_A", "KC_B"], "output": "KC_ESC"}]})),
        ("tap_dance", "tap_dances", json!({"tap_dances": [{"name": "X", "on_tap": "KC_A"}]})),
        ("key_override", "key_overrides", json!({"key_overrides": [{"trigger": "KC_A", "replacement": "KC_B"}]})),
    ] {
        let mut extra = extra;
        extra["config"] = json!({"features": {feature: false}});
        let file = planck_with(&fixture, "off.json", &[(1, "KC_B")], extra);
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(
            stderr.contains(&format!("key: {member}")) && stderr.contains("would not build"),
            "{feature}: {stderr}"
        );
    }
}

#[test]
fn a_combo_key_of_value_zero_is_refused_as_it_ends_the_keys() {
    let fixture = Fixture::new();
    for key in ["KC_NO", "XXXXXXX", "0", "KC_B - KC_B"] {
        let extra = json!({"combos": [{"keys": ["KC_A", key], "output": "KC_ESC"}]});
        let file = planck_with(&fixture, "zero.json", &[(1, "KC_NO")], extra);
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(
            stderr.contains("ends a combo's keys in C") && stderr.contains("key: combos/0/keys/1"),
            "{key}: {stderr}"
        );
    }
    let extra = json!({"combos": [{"keys": ["KC_A", "KC_TRNS"], "output": "KC_ESC"}]});
    let stderr = expect_exit(&run(&["validate", &planck_with(&fixture, "trns.json", &[(1, "KC_TRNS")], extra)]), 0);
    assert!(stderr.contains("`KC_TRNS` is transparent: no key sends it"), "{stderr}");
}

#[test]
fn a_keycode_holds_nothing_c_reads_otherwise() {
    let fixture = Fixture::new();
    let extra = json!({"combos": [{"keys": ["KC_A", "KC_B"], "output": "KC_A +\\\n+ 1"}]});
    let file = planck_with(&fixture, "splice.json", &[(1, "KC_B"), (2, "KC_B -\\  \n-1")], extra);
    let stderr = expect_exit(&run(&["validate", &file]), 1);
    assert!(stderr.contains("key: combos/0/output") && stderr.contains("layer 0, key 2"), "{stderr}");
    assert!(stderr.contains("joins it to the next in C"), "{stderr}");
    for text in ["KC_ESC /* \u{202e} */", "KC_ESC /* \u{0} */"] {
        let extra = json!({"combos": [{"keys": ["KC_A", "KC_B"], "output": text}]});
        let file = planck_with(&fixture, "bidi.json", &[(1, "KC_B"), (3, text)], extra);
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(stderr.contains("key: combos/0/output") && stderr.contains("has no place in a keycode"), "{stderr}");
        assert!(stderr.contains("layer 0, key 3"), "layers too: {stderr}");
        expect_exit(&run(&["json2c", "--unchecked", &file]), 1);
    }
}

#[test]
fn json2c_folder_writes_nothing_beside_files_of_another_keymap() {
    let fixture = Fixture::new();
    let extra = json!({"combos": [{"keys": ["KC_A", "KC_B"], "output": "KC_ESC", "term": 30}]});
    let with = planck_with(&fixture, "with.json", &[(1, "KC_B")], extra);
    let without = planck_with(&fixture, "without.json", &[(1, "KC_B")], json!({}));
    let folder = fixture.root().join("folder");
    let folder_arg = folder.display().to_string();
    expect_exit_ok(run(&["json2c", &with, "--folder", &folder_arg]));
    expect_exit_ok(run(&["json2c", &with, "--folder", &folder_arg]));
    let before = std::fs::read_to_string(folder.join("keymap.json")).unwrap();
    let stderr = expect_exit(&run(&["json2c", &without, "--folder", &folder_arg]), 2);
    assert!(stderr.contains("keymap.c is there, and this keymap's folder has none"), "{stderr}");
    assert_eq!(std::fs::read_to_string(folder.join("keymap.json")).unwrap(), before, "nothing written");
}
