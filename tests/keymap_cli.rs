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
    let mut payload =
        json!({"keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [layer("KC_A")]});
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
    ];
    for (index, (extra, field)) in cases.iter().enumerate() {
        let file = keymap_with(&fixture, &format!("evil{index}.json"), extra.clone());
        let stderr = expect_exit(&run(&["validate", &file]), 1);
        assert!(stderr.contains(&format!("key: {field}")) || stderr.contains(field), "{extra}: {stderr}");
        let output = run(&["json2c", &file]);
        let stderr = expect_exit(&output, 1);
        assert!(stderr.contains(field), "json2c names `{field}`: {stderr}");
        assert!(!stdout(&output).contains("#include \"/etc/passwd\""), "{extra}");
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
