//! Keymaps end to end: QMK's real keymap files, json2c output and validation.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use common::*;
use qmk_api::keyboard::{self, Keyboards, Settings};
use qmk_api::keymap::{self, Source};
use qmk_api::picture;
use qmk_api::source::DataTree;

/// Every real `keymap.json` under the reference tree, with its path below `keyboards/`.
fn real_keymaps() -> Option<Vec<(PathBuf, String)>> {
    Some(keymap_files(&shared()?.join("qmk")))
}

/// Each real keymap reads without an error, as the CLI and the compile service read it:
/// against the tree's schemas, mapping files and modules, and against the bundled ones
/// (QMK's own CLI accepts all 142: its schema, `qmk.json_schema.validate`, refuses none).
#[test]
fn json2c_is_byte_identical_for_every_real_keymap_which_reads_without_errors() {
    let Some(keymaps) = real_keymaps() else { return };
    let expected_root = shared().unwrap().join("expected/keymap_c");
    let settings = Settings::load(&DataTree::Checkout(shared().unwrap().join("qmk"))).unwrap();
    let bundled = Settings::bundled();
    let mut identical = 0;
    let mut differ = Vec::new();
    for (path, text) in &keymaps {
        let shown = path.display().to_string();
        let (_, findings) = keymap::read(&Source::new(&shown, text), &bundled);
        assert!(!findings.iter().any(|d| d.is_error()), "{shown} with the bundled settings: {findings:?}");
        let (keymap, findings) = keymap::read(&Source::new(&shown, text), &settings);
        assert!(!findings.iter().any(|d| d.is_error()), "{shown}: {findings:?}");
        let keymap = keymap.unwrap_or_else(|| panic!("{shown}: {findings:?}"));
        let generated = keymap::json2c(&keymap).unwrap();
        let expected = std::fs::read_to_string(expected_root.join(path.with_file_name("keymap.c"))).unwrap();
        if generated == expected {
            identical += 1;
        } else {
            differ.push(shown);
        }
    }
    eprintln!("{identical} of {} keymap.c files identical, all read without errors", keymaps.len());
    assert_eq!(keymaps.len(), 142);
    assert!(differ.is_empty(), "differ: {differ:?}");
}

/// The build's json2c (`qmk-api launch qmk json2c`) writes a plain keymap's keymap.c
/// itself: the file is QMK's json2c output as its CLI writes it (one more line end).
/// Any other keymap goes to QMK's CLI, here a stand-in that says so.
#[test]
fn the_builds_json2c_writes_qmks_file_for_plain_real_keymaps_and_hands_on_the_rest() {
    let Some(keymaps) = real_keymaps() else { return };
    let expected_root = shared().unwrap().join("expected/keymap_c");
    let folder = tempfile::tempdir().unwrap();
    let bin = folder.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("qmk"), "#!/bin/sh\nexit 99\n").unwrap();
    std::fs::set_permissions(bin.join("qmk"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (mut written, mut handed_on) = (0, 0);
    for (path, text) in &keymaps {
        let keymap = folder.path().join("keymap.json");
        std::fs::write(&keymap, text).unwrap();
        let output = folder.path().join("out/keymap.c");
        let _ = std::fs::remove_file(&output);
        let ran = std::process::Command::new(env!("CARGO_BIN_EXE_qmk-api"))
            .args(["launch", "qmk", "json2c", "--quiet", "--output"])
            .args([&output, &keymap])
            .env("PATH", &bin)
            .env_remove("ORIG_CWD")
            .env_remove("QMK_API_CACHE")
            .output()
            .unwrap();
        match ran.status.code() {
            Some(0) => {
                let expected = std::fs::read_to_string(expected_root.join(path.with_file_name("keymap.c"))).unwrap();
                assert_eq!(std::fs::read_to_string(&output).unwrap(), expected + "\n", "{}", path.display());
                written += 1;
            }
            Some(99) => handed_on += 1,
            other => panic!("{}: exit {other:?}: {}", path.display(), stderr(&ran)),
        }
    }
    eprintln!("{written} keymap.c written by qmk-api, identical to QMK's; {handed_on} handed on to QMK's CLI");
    assert!(written >= 50, "only {written} of {} real keymaps are plain", keymaps.len());
}

/// Keycodes that real keymaps take from their keyboard's C header, with the value
/// QMK's C compiler gives each.
const C_DEFINED_KEYCODES: &[(&str, &str, &str)] = &[
    ("binepad/knobx1", "X1_LYRU", "QK_USER"),
    ("binepad/knobx1", "X1_LYRD", "QK_USER + 1"),
    ("clueboard/2x1800/2019", "ENC_BTN1", "QK_KB_0"),
    ("clueboard/2x1800/2019", "ENC_BTN4", "QK_KB_3"),
];

/// Each real keymap is drawn too: every layer with one key per key of its layout.
#[test]
fn every_real_keymap_validates_with_its_keyboards_c_keycodes_and_is_drawn() {
    let Some(keymaps) = real_keymaps() else { return };
    let (keyboards, keycodes) = load_tree(&shared().unwrap().join("qmk"));
    let context = keymap::Context { keyboards: &keyboards, keycodes: &keycodes };
    let mut rejected: Vec<(String, Vec<String>)> = Vec::new();
    let mut drawn = 0;
    for (path, text) in &keymaps {
        let shown = path.display().to_string();
        let implied = keymap::keyboard_from_path(&PathBuf::from("keyboards").join(path));
        let (svg, report) = picture::draw(&Source::new(&shown, text), implied.as_deref(), context);
        let errors: Vec<String> =
            report.diagnostics.iter().filter(|d| d.is_error()).map(|d| d.message.clone()).collect();
        if !errors.is_empty() {
            rejected.push((shown, errors));
            continue;
        }
        let Some(layout) = report.layout.as_deref() else {
            assert!(svg.is_none() && !text.contains("\"layers\""), "{shown}: no layers, nothing to draw");
            continue;
        };
        drawn += 1;
        let layout = keyboards.resolve(report.keyboard.as_deref().unwrap()).unwrap().layout(layout);
        let keys = layout.unwrap().1.keys.len();
        let layers = common::picture::drawn_layers(&svg.unwrap_or_else(|| panic!("{shown} is valid but not drawn")));
        assert!(!layers.is_empty() && layers.iter().all(|l| l.len() == keys), "{shown}: {keys} keys a layer");
        assert!(
            layers.iter().flatten().all(|k| !k.tap.is_empty() || k.hold.is_some()),
            "{shown}: a key without legend"
        );
    }
    eprintln!("{} of {} real keymaps accepted, {drawn} drawn", keymaps.len() - rejected.len(), keymaps.len());
    assert_eq!(keymaps.len(), 142);
    assert!(rejected.is_empty(), "{rejected:#?}");
    let none = keymap::Names::default();
    for (keyboard, name, value) in C_DEFINED_KEYCODES {
        let keyboard = keyboards.resolve(keyboard).unwrap();
        let names = keycodes.keyboard_names(keyboard, &keyboards);
        let scope = keycodes.scope(&names, &none, None).unwrap();
        assert_eq!(scope.resolve(name).unwrap().value, keycodes.resolve(value).unwrap().value, "{name}");
        assert!(keycodes.resolve(name).is_err(), "{name} is known without its keyboard");
    }
}

/// `validate`, `draw` and `compile` load only the folders of the keyboards a keymap
/// needs: every real keymap gets the report it gets with the whole tree loaded.
#[test]
fn a_keymap_checked_with_only_its_keyboards_folders_gets_the_whole_trees_report() {
    let Some(keymaps) = real_keymaps() else { return };
    let qmk = shared().unwrap().join("qmk");
    let tree = DataTree::Checkout(qmk.clone());
    let (keyboards, keycodes) = load_tree(&qmk);
    let whole = keymap::Context { keyboards: &keyboards, keycodes: &keycodes };
    let mut loads: HashMap<String, Keyboards> = HashMap::new();
    for (path, text) in &keymaps {
        let (shown, path) = (path.display().to_string(), PathBuf::from("keyboards").join(path));
        let needed = keymap::keyboard_needed(&path, text).unwrap();
        let few = loads.entry(needed.clone()).or_insert_with(|| {
            keyboard::load_for(&tree, &[&needed]).unwrap().unwrap_or_else(|| panic!("{shown}: {needed} not found"))
        });
        assert!(few.len() * 10 < keyboards.len(), "{shown}: {} keyboards loaded for {needed:?}", few.len());
        let implied = keymap::keyboard_from_path(&path);
        let report = |context| keymap::check(&Source::new(&shown, text), implied.as_deref(), context).1.to_json(&shown);
        assert_eq!(report(keymap::Context { keyboards: few, keycodes: &keycodes }), report(whole), "{shown}");
    }
    // Aliases are followed; a name the tree lacks is left to the whole load, which suggests names.
    let aliased = keyboard::load_for(&tree, &["_test_a"]).unwrap().expect("_test_a leads to planck/rev6");
    assert!(aliased.resolve("_test_a").is_ok_and(|kb| kb.name == "planck/rev6"));
    assert!(keyboard::load_for(&tree, &["planck/rev6", "no_such/board"]).unwrap().is_none());
    assert!(keyboard::load_for(&tree, &["../planck"]).unwrap().is_none());
}

/// A keymap of `keyboard` on its first layout (or `extra`'s `layout`): `keys` first,
/// `KC_NO` on the rest of the layout's keys (`extra_strings` more strings for keys
/// written split), and `extra`'s fields.
fn keymap_on(
    keyboards: &qmk_api::keyboard::Keyboards,
    keyboard: &str,
    keys: &[&str],
    extra_strings: usize,
    extra: serde_json::Value,
) -> String {
    let found = keyboards.resolve(keyboard).unwrap();
    let named = extra.get("layout").and_then(|l| l.as_str()).and_then(|l| found.layout(l));
    let (layout, keys_of_layout) = named.or(found.layouts.first().map(|(n, l)| (n.as_str(), l))).unwrap();
    let (layout, keys_of_layout) = (layout.to_owned(), keys_of_layout.keys.len());
    let mut layer: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    layer.resize(keys_of_layout + extra_strings, "KC_NO".to_owned());
    let mut keymap =
        serde_json::json!({"keyboard": keyboard, "keymap": "headers", "layout": layout, "layers": [layer]});
    keymap.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    keymap.to_string()
}

/// The errors and warnings of a keymap, and its first key's value when it is valid.
fn verdict(context: keymap::Context, text: &str) -> (Vec<String>, Vec<String>, Option<u16>) {
    let (keymap, report) = keymap::check(&Source::new("keymap.json", text), None, context);
    let messages = |error: bool| -> Vec<String> {
        report.diagnostics.iter().filter(|d| d.is_error() == error).map(|d| d.message.clone()).collect()
    };
    let (errors, warnings) = (messages(true), messages(false));
    let first =
        keymap.as_ref().and_then(|k| k.layers.as_ref()).map(|layers| keymap::c_keys(&layers[0])[0].text.clone());
    let keyboard = report.keyboard.as_deref().and_then(|k| context.keyboards.resolve(k).ok());
    let value = first.zip(keyboard).filter(|_| errors.is_empty()).map(|(first, keyboard)| {
        let names = context.keycodes.keyboard_names(keyboard, context.keyboards);
        let mut own = keymap::Names::default();
        if let Some(config) = keymap.as_ref().and_then(|k| k.document.get("config")).and_then(|c| c.as_object()) {
            context.keycodes.add_features(&mut own, config);
        }
        context.keycodes.scope(&names, &own, None).unwrap().resolve(&first).unwrap().value
    });
    (errors, warnings, value)
}

/// Keycodes the default keymaps of QMK Configurator take from headers found only on
/// make's include path, with the value QMK's C compiler gives each: included by a
/// path from the tree's root, by a path relative to a folder of the keyboard's
/// (`../../wilba_tech/...` from `keyboards/hs60/v2/ansi`, found from `keyboards/hs60/v2`),
/// or from a folder `rules.mk` adds to `VPATH`.
const INCLUDE_PATH_KEYCODES: &[(&str, &str, &str)] = &[
    ("wilba_tech/zeal60", "EF_DEC", "QK_KB_0 + 3"),
    ("hs60/v2/ansi", "S1_DEC", "QK_KB_0 + 9"),
    ("keebwerk/mega/ansi", "BR_DEC", "QK_KB_0 + 1"),
    ("cannonkeys/satisfaction75/rev1", "ENC_PRESS", "QK_KB_0"),
    ("cannonkeys/satisfaction75_hs", "OLED_TOGG", "QK_KB_0 + 2"),
];

/// Validation sees the headers keymap.c sees with the include path QMK's make gives
/// it, a feature's keycodes when the keyboard or the keymap turns it on, and the
/// platform's: each verdict is make's (the keymaps below were built with make, or
/// refused by it, when this was written).
#[test]
fn validation_sees_every_header_keymap_c_sees() {
    let Some(shared) = shared() else { return };
    let (keyboards, keycodes) = load_tree(&shared.join("qmk"));
    let context = keymap::Context { keyboards: &keyboards, keycodes: &keycodes };
    let none = serde_json::json!({});
    for (keyboard, name, value) in INCLUDE_PATH_KEYCODES {
        let (errors, warnings, found) = verdict(context, &keymap_on(&keyboards, keyboard, &[name], 0, none.clone()));
        assert!(errors.is_empty() && warnings.is_empty(), "{keyboard} {name}: {errors:?} {warnings:?}");
        assert_eq!(found, Some(keycodes.resolve(value).unwrap().value), "{keyboard} {name}");
        assert!(keycodes.resolve(name).is_err(), "{name} is known without its keyboard");
    }

    // Steno's keycodes: with a keyboard that turns steno on (`features.steno`, or
    // `stenography.enabled` as QMK maps STENO_ENABLE), or a keymap's config; else none.
    let steno_s1 = keycodes.resolve("QK_STENO").unwrap().value + 7;
    for keyboard in ["stenokeyboards/the_uni/pro_micro", "handwired/split_cloud"] {
        let (errors, _, found) = verdict(context, &keymap_on(&keyboards, keyboard, &["STN_S1"], 0, none.clone()));
        assert!(errors.is_empty(), "{keyboard}: {errors:?}");
        assert_eq!(found, Some(steno_s1), "{keyboard}");
    }
    let (errors, ..) = verdict(context, &keymap_on(&keyboards, "clueboard/66/rev2", &["STN_S1"], 0, none.clone()));
    assert_eq!(errors, ["no keycode `STN_S1` in keycodes 0.0.8"]);
    let config = serde_json::json!({"config": {"features": {"steno": true}}});
    let (errors, _, found) = verdict(context, &keymap_on(&keyboards, "clueboard/66/rev2", &["STN_S1"], 0, config));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(found, Some(steno_s1));

    // The retired RESET: ChibiOS's STM32 device header makes it 0, a key that does
    // nothing, which make builds; on AVR it is unknown to C, as here.
    let (errors, warnings, found) =
        verdict(context, &keymap_on(&keyboards, "pixelspace/shadow80", &["RESET"], 0, none.clone()));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(found, Some(0));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    for part in ["`RESET`", "QK_BOOT", "STM32F1xx/stm32f1xx.h", "KC_NO", "does nothing"] {
        assert!(warnings[0].contains(part), "{part}: {}", warnings[0]);
    }
    let (errors, ..) = verdict(context, &keymap_on(&keyboards, "clueboard/66/rev2", &["RESET"], 0, none.clone()));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("`RESET` is a retired name: use `QK_BOOT`"), "{}", errors[0]);
}

/// A key written as two strings that json2c joins into one C expression (a QMK
/// Configurator default keymap holds `"LT(2"` and `"KC_MUTE)"`): the layer's keys are
/// counted and checked as C sees them, a warning names both strings, and json2c
/// writes what QMK's writes.
#[test]
fn a_key_split_over_strings_is_the_one_key_c_sees() {
    let Some(shared) = shared() else { return };
    let (keyboards, keycodes) = load_tree(&shared.join("qmk"));
    let context = keymap::Context { keyboards: &keyboards, keycodes: &keycodes };
    let none = serde_json::json!({"layout": "LAYOUT_all"});
    let split = keymap_on(&keyboards, "werk_technica/one", &["LT(0", " KC_MUTE)", "KC_A"], 1, none.clone());
    let (errors, warnings, found) = verdict(context, &split);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(found, Some(keycodes.resolve("LT(0, KC_MUTE)").unwrap().value));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    for part in ["`LT(0`", "` KC_MUTE)`", "strings 0 to 1", "`LT(0,  KC_MUTE)`"] {
        assert!(warnings[0].contains(part), "{part}: {}", warnings[0]);
    }
    let (keymap, _) = keymap::check(&Source::new("keymap.json", &split), None, context);
    let written = keymap::json2c(&keymap.unwrap()).unwrap();
    assert!(written.contains("LAYOUT_all(LT(0,  KC_MUTE), KC_A, KC_NO"), "{written}");

    // Strings that do not close into one expression stay what they are: errors, as in C.
    for keys in [&["LT(2", "KC_MUTE"][..], &["LT(2", "KC_MUTE))"], &["KC_A)", "KC_B"]] {
        let (errors, ..) = verdict(context, &keymap_on(&keyboards, "werk_technica/one", keys, 1, none.clone()));
        assert!(errors.iter().any(|e| e.contains("has 86 keys, but LAYOUT_all has 85")), "{keys:?}: {errors:?}");
    }
}

/// Among QMK's headers, only the keycode headers and the feature headers qmk-api reads
/// declare keycodes from QMK's ranges (enumerators whose value starts from a `QK_`
/// range), so no other header QMK's build adds gives a keymap keycodes.
#[test]
fn no_other_header_of_qmk_declares_keycodes() {
    let Some(shared) = shared() else { return };
    let qmk = shared.join("qmk");
    let read = keymap::headers::HEADERS.iter().chain(keymap::headers::FEATURE_HEADERS.iter().map(|(_, _, h)| h));
    let mut read: Vec<&str> = read.copied().collect();
    read.push("quantum/keycodes.h"); // generated from the spec files, which qmk-api reads itself
    let mut declaring = Vec::new();
    for folder in ["quantum", "tmk_core", "platforms", "drivers"] {
        for entry in walkdir::WalkDir::new(qmk.join(folder)).into_iter().map(Result::unwrap) {
            if entry.path().extension().is_none_or(|e| e != "h") {
                continue;
            }
            let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
            let scanned = qmk_api::c::scan(&text);
            if scanned.definitions.iter().any(|d| d.enumeration.is_some() && d.value.starts_with("QK_")) {
                declaring.push(entry.path().strip_prefix(&qmk).unwrap().display().to_string());
            }
        }
    }
    assert!(declaring.iter().any(|h| h == "quantum/steno_keycodes.h"), "{declaring:?}");
    let unread: Vec<&String> = declaring.iter().filter(|h| !read.contains(&h.as_str())).collect();
    assert!(unread.is_empty(), "headers declaring keycodes that validation does not read: {unread:?}");
}
