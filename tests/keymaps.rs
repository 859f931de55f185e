//! Keymaps end to end: QMK's real keymap files, json2c output and validation.

mod common;

use std::path::PathBuf;

use common::*;
use qmk_api::keyboard::Settings;
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
