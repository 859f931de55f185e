//! VIA backups → keymap JSON (against QMK's own `qmk via2json`), bad backups, and
//! info.json → VIA keyboard definitions.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{expect_exit, run, shared, stdout};
use qmk_api::keymap::Keycodes;
use qmk_api::source::DataTree;
use qmk_api::spec;
use serde_json::{Value, json};

/// The VIA backups of `tests/data/convert/via`, written for real keyboards (the file
/// name is the keyboard, `/` as `+`): layers in matrix order, macros, encoders.
fn backups() -> Vec<(String, PathBuf)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/convert/via");
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|path| (path.file_stem().unwrap().to_str().unwrap().replace('+', "/"), path))
        .collect();
    files.sort();
    files
}

fn convert(home: Option<&Path>, file: &Path, keyboard: &str) -> std::process::Output {
    let file = file.display().to_string();
    let mut args = Vec::new();
    let home = home.map(|h| h.display().to_string());
    if let Some(home) = &home {
        args.extend(["--qmk-home", home.as_str()]);
    }
    args.extend(["convert", "--from", "via", "--to", "json", &file, "--keyboard", keyboard]);
    run(&args)
}

/// QMK's CLI, where this machine has it.
fn qmk_cli() -> Option<PathBuf> {
    let venv = std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/qmk-api-ci/venv/bin/qmk"))?;
    match venv.is_file() {
        true => Some(venv),
        false => {
            eprintln!("skipped: QMK's CLI ({}) is absent", venv.display());
            None
        }
    }
}

#[test]
fn backups_convert_as_qmk_via2json_converts_them() {
    let (Some(shared), Some(qmk)) = (shared(), qmk_cli()) else { return };
    let home = shared.join("qmk");
    let keycodes = Keycodes::new(&spec::load(&DataTree::Bundled).unwrap().constants, None).unwrap();
    let mut compared = 0;
    for (keyboard, file) in backups() {
        let output = convert(Some(&home), &file, &keyboard);
        expect_exit(&output, 0);
        let ours: Value = serde_json::from_str(&stdout(&output)).unwrap();
        let layout = ours["layout"].as_str().unwrap();
        let theirs = Command::new(&qmk)
            .args(["via2json", "-kb", &keyboard, "-l", layout])
            .arg(&file)
            .env("QMK_HOME", &home)
            .output()
            .unwrap();
        assert!(theirs.status.success(), "{keyboard}: {}", String::from_utf8_lossy(&theirs.stderr));
        let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap();
        for field in ["keyboard", "keymap", "layout", "macros"] {
            assert_eq!(ours[field], theirs[field], "{keyboard}: {field}");
        }
        let (our_layers, their_layers) = (ours["layers"].as_array().unwrap(), theirs["layers"].as_array().unwrap());
        assert_eq!(our_layers.len(), their_layers.len(), "{keyboard}");
        for (l, (our_layer, their_layer)) in our_layers.iter().zip(their_layers).enumerate() {
            let (our_layer, their_layer) = (our_layer.as_array().unwrap(), their_layer.as_array().unwrap());
            assert_eq!(our_layer.len(), their_layer.len(), "{keyboard}: layer {l}");
            for (k, (our_key, their_key)) in our_layer.iter().zip(their_layer).enumerate() {
                let (our_key, their_key) = (our_key.as_str().unwrap(), their_key.as_str().unwrap());
                // The same key, or QMK's keeps a retired name that ours renames.
                let renamed = keycodes.retired().get(their_key).map(|r| r.replacement.as_str());
                assert!(
                    our_key == their_key || renamed == Some(our_key),
                    "{keyboard}: layer {l}, key {k}: ours {our_key}, QMK's {their_key}"
                );
            }
        }
        compared += 1;
    }
    assert_eq!(compared, backups().len());
    eprintln!("{compared} VIA backups converted as QMK's via2json converts them");
}

#[test]
fn backups_convert_with_the_bundled_keyboards_validated() {
    for (keyboard, file) in backups().into_iter().filter(|(k, _)| {
        ["crkbd/rev1", "dz60", "ferris/0_1", "lily58/rev1", "planck/rev6", "preonic/rev3", "sofle/rev1"]
            .contains(&k.as_str())
    }) {
        let output = convert(None, &file, &keyboard);
        let notes = expect_exit(&output, 0);
        let keymap: Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(keymap["keyboard"], keyboard);
        assert!(!notes.contains("VIA would refuse"), "{keyboard}: the backup's USB ids are the keyboard's:\n{notes}");
        // VIA's `MACRO(1)` is QMK's `MC_1`; BL_TOGG and the others are QMK's names.
        let keys = || keymap["layers"].as_array().unwrap().iter().flat_map(|l| l.as_array().unwrap().iter());
        assert!(keys().any(|k| k == "MC_1") && !keys().any(|k| k == "MACRO(1)"), "{keyboard}");
        assert_eq!(keymap["macros"][1], json!([{"action": "tap", "keycodes": ["LCTL", "C"]}]));
        assert_eq!(keymap["macros"].as_array().unwrap().len(), 3, "trailing empty macros are VIA's unused slots");
        // What `validate` says of it, it said as notes: it is a valid keymap.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keymap.json");
        std::fs::write(&path, stdout(&output)).unwrap();
        expect_exit(&run(&["validate", path.to_str().unwrap()]), 0);
    }
}

#[test]
fn encoders_go_per_layer_and_text_stays_beside_keys_in_macros() {
    let dir = tempfile::tempdir().unwrap();
    let (_, file) = backups().into_iter().find(|(k, _)| k == "sofle/rev1").unwrap();
    let mut backup: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    backup["macros"] = json!(["Hi {KC_ENT}there{100}{-KC_LSFT}"]);
    let path = dir.path().join("sofle.json");
    std::fs::write(&path, backup.to_string()).unwrap();
    let output = convert(None, &path, "sofle/rev1");
    expect_exit(&output, 0);
    let keymap: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        keymap["encoders"][0],
        json!([{"ccw": "KC_VOLD", "cw": "KC_VOLU"}, {"ccw": "KC_PGDN", "cw": "KC_PGUP"}])
    );
    assert_eq!(keymap["encoders"].as_array().unwrap().len(), 4);
    // QMK's via2json drops the text of a macro that also holds keys; this keeps it.
    assert_eq!(
        keymap["macros"][0],
        json!(["Hi ", {"action": "tap", "keycodes": ["ENT"]}, "there", {"action": "delay", "duration": 100},
            {"action": "up", "keycodes": ["LSFT"]}])
    );
}

/// Writes `text` and converts it as a VIA backup for `keyboard`, expecting a refusal.
fn refused(text: &str, keyboard: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backup.json");
    std::fs::write(&path, text).unwrap();
    let output = convert(None, &path, keyboard);
    assert!(stdout(&output).is_empty(), "nothing is written");
    expect_exit(&output, 1)
}

#[test]
fn bad_backups_are_refused_saying_where() {
    let stderr = refused("layers: [", "crkbd/rev1");
    assert!(stderr.contains("not JSON"), "{stderr}");
    let stderr = refused(r#"{"name": "x", "vendorProductId": 1, "layers": 5}"#, "crkbd/rev1");
    assert!(stderr.contains("no `layers`"), "{stderr}");
    let short = json!({"name": "x", "vendorProductId": 1, "layers": [vec!["KC_A"; 48], vec!["KC_A"; 47]]});
    let stderr = refused(&short.to_string(), "crkbd/rev1");
    assert!(stderr.contains("layers/1: 47 keys") && stderr.contains("8 rows × 6 columns = 48"), "{stderr}");
    let mut unknown = vec!["KC_A"; 48];
    unknown[5] = "KC_NOPE";
    let stderr = refused(&json!({"name": "x", "vendorProductId": 1, "layers": [unknown]}).to_string(), "crkbd/rev1");
    assert!(stderr.contains("KC_NOPE") && stderr.contains("layer 0, key"), "{stderr}");
    let stderr = refused(&json!({"name": "x", "vendorProductId": 1, "layers": [[5]]}).to_string(), "crkbd/rev1");
    assert!(stderr.contains("layers/0: 1 keys"), "{stderr}");
}

#[test]
fn a_configurator_keymap_or_a_vial_file_given_as_via_is_named() {
    let configurator = json!({"keyboard": "crkbd/rev1", "keymap": "x", "layout": "LAYOUT_split_3x6_3", "layers": [[]]});
    let stderr = refused(&configurator.to_string(), "crkbd/rev1");
    assert!(stderr.contains("this is a QMK keymap JSON (QMK Configurator's export"), "{stderr}");
    let vial = json!({"version": 1, "uid": 1, "layout": [[[]]]});
    let stderr = refused(&vial.to_string(), "crkbd/rev1");
    assert!(stderr.contains("this is a Vial layout file (.vil): convert it with --from vil"), "{stderr}");
}

#[test]
fn other_usb_ids_are_a_note() {
    let (_, file) = backups().into_iter().find(|(k, _)| k == "dz60").unwrap();
    let mut backup: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    backup["vendorProductId"] = json!(0x1234_5678u64);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dz60.json");
    std::fs::write(&path, backup.to_string()).unwrap();
    let notes = expect_exit(&convert(None, &path, "dz60"), 0);
    assert!(notes.contains("saved from USB device 1234:5678, but `dz60` is 445A:2260"), "{notes}");
}

#[test]
fn info_json_becomes_a_via_definition() {
    for keyboard in ["crkbd/rev1", "dz60", "ferris/0_1", "planck/rev6", "sofle/rev1", "zsa/moonlander"] {
        let output = run(&["convert", "--from", "info", "--to", "via", "--keyboard", keyboard]);
        expect_exit(&output, 0);
        let definition: Value = serde_json::from_str(&stdout(&output)).unwrap();
        let vendor = definition["vendorId"].as_str().unwrap();
        assert!(vendor.starts_with("0x") && vendor.len() == 6, "{keyboard}: {vendor}");
        assert!(definition["matrix"]["rows"].as_u64().unwrap() > 0);
        let legends: Vec<&str> = definition["layouts"]["keymap"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap())
            .filter_map(Value::as_str)
            .collect();
        assert!(legends.iter().all(|l| l.split('\n').next().unwrap().split(',').count() == 2), "{keyboard}");
        let labels = &definition["layouts"]["labels"];
        match keyboard {
            // One layout: no options; every key once.
            "ferris/0_1" => assert!(labels.is_null() && legends.len() == 34),
            // Several: one option whose choices are the layouts.
            "planck/rev6" => {
                assert_eq!(labels[0][0], "Layout");
                assert!(labels[0].as_array().unwrap().len() > 2);
                assert!(legends.iter().any(|l| l.ends_with("\n\n\n0,1")));
            }
            _ => {}
        }
    }
    let lit = run(&["convert", "--from", "info", "--to", "via", "--keyboard", "crkbd/rev1"]);
    let definition: Value = serde_json::from_str(&stdout(&lit)).unwrap();
    assert_eq!(definition["keycodes"], json!(["qmk_lighting"]), "crkbd has RGB lighting or a matrix");
}

#[test]
fn names_only_via_has_are_read_by_the_number_via_means() {
    let mut layer = vec!["KC_A"; 80];
    layer[..5].copy_from_slice(&["MI_C", "AU_TOG", "0x7e05", "CUSTOM(2)", "KC_LANG3"]);
    let backup = json!({"name": "Ferris", "vendorProductId": 0xC2AB_0000u64, "layers": [layer]});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ferris.json");
    std::fs::write(&path, backup.to_string()).unwrap();
    let output = convert(None, &path, "ferris/0_1");
    let notes = expect_exit(&output, 0);
    let keymap: Value = serde_json::from_str(&stdout(&output)).unwrap();
    // VIA sends 0x7110 for its `MI_C`, which QMK numbers as C#1.
    assert_eq!(
        keymap["layers"][0].as_array().unwrap()[..5],
        json!(["QK_MIDI_NOTE_C_SHARP_1", "QK_AUDIO_TOGGLE", "QK_KB_5", "QK_KB_2", "KC_LANGUAGE_3"]).as_array().unwrap()
            [..]
    );
    assert!(notes.contains("`MI_C` is 0x7110 to the tool"), "{notes}");
}

/// Every `step`-th build target of QMK's tree, in name order (QMK's tree no longer
/// holds `via` keymaps: they moved to a userspace of their own).
fn sampled_keyboards(shared: &Path, step: usize) -> Vec<(String, Value)> {
    let layouts: Value =
        serde_json::from_slice(&std::fs::read(shared.join("expected/keyboards_layouts.json")).unwrap()).unwrap();
    let mut found: Vec<(String, Value)> =
        layouts.as_object().unwrap().iter().map(|(name, facts)| (name.clone(), facts.clone())).collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.into_iter().step_by(step).collect()
}

/// A backup of `facts`' largest layout, every key a keycode of `KEYS` in turn.
fn backup_of(facts: &Value, layer_count: usize) -> Value {
    const KEYS: &[&str] = &["KC_ESC", "KC_Q", "LT(1,KC_SPC)", "KC_LSFT", "MO(2)", "KC_TRNS", "LCTL(KC_C)", "KC_VOLU"];
    let (rows, cols) = (facts["matrix_size"]["rows"].as_u64().unwrap(), facts["matrix_size"]["cols"].as_u64().unwrap());
    let layout = facts["layouts"].as_object().unwrap().values().max_by_key(|l| l.as_array().unwrap().len()).unwrap();
    let layers: Vec<Vec<&str>> = (0..layer_count)
        .map(|l| {
            let mut layer = vec!["KC_NO"; (rows * cols) as usize];
            for (i, key) in layout.as_array().unwrap().iter().enumerate() {
                let (r, c) = (key["matrix"][0].as_u64().unwrap(), key["matrix"][1].as_u64().unwrap());
                layer[(r * cols + c) as usize] = KEYS[(i + l) % KEYS.len()];
            }
            layer
        })
        .collect();
    json!({"name": "x", "vendorProductId": 0, "layers": layers})
}

#[test]
fn backups_of_sampled_keyboards_convert_as_qmk_converts_them() {
    let (Some(shared), Some(qmk)) = (shared(), qmk_cli()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let (mut compared, mut equal) = (0, 0);
    let mut differ = Vec::new();
    for (keyboard, facts) in sampled_keyboards(&shared, 100) {
        let path = dir.path().join("backup.json");
        std::fs::write(&path, backup_of(&facts, 3).to_string()).unwrap();
        let output = convert(Some(&shared.join("qmk")), &path, &keyboard);
        if output.status.code() != Some(0) {
            differ.push(format!("{keyboard}: ours failed: {}", common::stderr(&output)));
            continue;
        }
        let ours: Value = serde_json::from_str(&stdout(&output)).unwrap();
        let theirs = Command::new(&qmk)
            .args(["via2json", "-kb", &keyboard, "-l", ours["layout"].as_str().unwrap()])
            .arg(&path)
            .env("QMK_HOME", shared.join("qmk"))
            .output()
            .unwrap();
        compared += 1;
        let theirs: Value = serde_json::from_slice(&theirs.stdout).unwrap_or(Value::Null);
        match ours["layers"] == theirs["layers"] {
            true => equal += 1,
            false => differ.push(format!("{keyboard}: layers differ")),
        }
    }
    eprintln!("{equal} of {compared} backups of sampled keyboards convert as QMK's via2json converts them");
    assert!(compared >= 20, "{compared} compared");
    assert!(differ.is_empty(), "{differ:#?}");
}
