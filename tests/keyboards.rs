//! Keyboards: layouts compared with QMK's own result for every keyboard of the reference tree.

mod common;

use std::collections::BTreeMap;

use common::*;
use qmk_api::keyboard;
use qmk_api::source::DataTree;
use serde_json::Value;

/// What QMK's `info_json` gives for one keyboard, in the fields compared.
fn expected_layouts() -> Option<BTreeMap<String, Value>> {
    let shared = shared()?;
    let text = std::fs::read_to_string(shared.join("expected/keyboards_layouts.json")).unwrap();
    Some(serde_json::from_str(&text).unwrap())
}

/// Our keyboard in the shape of the expected file: keys keep `matrix`, `x`, `y`, `w`, `h`; numbers compare as numbers.
fn ours(keyboard: &keyboard::Keyboard) -> Value {
    let layouts: serde_json::Map<String, Value> = keyboard
        .layouts
        .iter()
        .map(|(name, layout)| {
            let keys = layout
                .keys
                .iter()
                .map(|key| {
                    let published = serde_json::to_value(key.to_value()).unwrap();
                    let fields = ["matrix", "x", "y", "w", "h"]
                        .into_iter()
                        .filter_map(|f| published.get(f).map(|v| (f.to_owned(), normalize(v.clone()))))
                        .collect();
                    Value::Object(fields)
                })
                .collect();
            (name.clone(), Value::Array(keys))
        })
        .collect();
    let aliases = keyboard.layout_aliases.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
    normalize(serde_json::json!({
        "keyboard_name": keyboard.keyboard_name(),
        "layout_aliases": Value::Object(aliases),
        "layouts": Value::Object(layouts),
        "matrix_size": keyboard.matrix_size().map(|m| serde_json::json!({"cols": m.cols, "rows": m.rows})),
    }))
}

/// Numbers as f64, so that `1` and `1.0` compare equal as they do in Python.
fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(members) => Value::Object(members.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

#[test]
fn layouts_equal_qmks_for_every_keyboard() {
    let Some(expected) = expected_layouts() else { return };
    let tree = DataTree::Checkout(shared().unwrap().join("qmk"));
    let keyboards = keyboard::load(&tree).unwrap();
    assert_eq!(keyboards.len(), expected.len());
    let (mut layouts_differ, mut sizes_differ, mut sizes_unknown) = (Vec::new(), Vec::new(), 0);
    for (name, theirs) in &expected {
        let ours = ours(keyboards.resolve(name).unwrap());
        let theirs = normalize(theirs.clone());
        if ["keyboard_name", "layout_aliases", "layouts"].iter().any(|f| ours[f] != theirs[f]) {
            layouts_differ.push(name);
        }
        match &ours["matrix_size"] {
            // QMK read these from config.h, which a data-only tree does not have.
            Value::Null => sizes_unknown += 1,
            size if *size != theirs["matrix_size"] => sizes_differ.push(name),
            _ => {}
        }
    }
    eprintln!(
        "{} of {} keyboards have QMK's layouts, aliases and name; matrix size equal for {}, unknown without config.h for {}",
        expected.len() - layouts_differ.len(),
        expected.len(),
        expected.len() - sizes_unknown - sizes_differ.len(),
        sizes_unknown
    );
    assert!(layouts_differ.len() * 1000 <= expected.len(), "layouts differ: {layouts_differ:?}");
    assert!(sizes_differ.is_empty(), "matrix sizes differ: {sizes_differ:?}");
}

#[test]
fn build_publishes_the_keyboard_api_in_each_channel() {
    let fixture = Fixture::new();
    expect_exit(&run_in(fixture.root(), &["build", "--out", &fixture.out_arg()]), 0);
    for channel in ["master", "develop"] {
        let list = fixture.published_json(channel, "keyboard_list.json");
        assert_eq!(list["last_updated"], "2026-08-10 00:00:00 GMT");
        let names: Vec<&str> = list["keyboards"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
        assert!(names.contains(&"clueboard/66/rev2") && names.len() >= 10, "{names:?}");
        let aliases = fixture.published_json(channel, "keyboard_aliases.json");
        assert_eq!(aliases["keyboard_aliases"]["_test_a"]["target"], "_test_b");
        let info = fixture.published_json(channel, "keyboards/clueboard/66/rev2/info.json");
        let clueboard = &info["keyboards"]["clueboard/66/rev2"];
        assert_eq!(clueboard["keyboard_name"], "Clueboard 66%");
        assert_eq!(clueboard["layouts"]["LAYOUT_all"]["layout"].as_array().unwrap().len(), 73);
        assert_eq!(clueboard["layout_aliases"]["LAYOUT"], "LAYOUT_all");
    }
}

#[test]
fn the_bundled_keyboards_are_what_import_writes_and_equal_qmks() {
    let Some(shared) = shared() else { return };
    let (_fixture, data) = import_shared(&shared);
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for folder in ["keyboards", "mappings", "schemas", "keyboard"] {
        assert!(
            snapshot(&data.join(folder)) == snapshot(&committed.join(folder)),
            "data/{folder} is stale: run import"
        );
    }
    let bundled = keyboard::load(&DataTree::Bundled).unwrap();
    let full = keyboard::load(&DataTree::Checkout(shared.join("qmk"))).unwrap();
    assert_eq!(bundled.len(), qmk_api::import::DEFAULT_KEYBOARDS.len());
    for keyboard in bundled.iter() {
        let reference = full.resolve(&keyboard.name).unwrap();
        assert_eq!(keyboard.published_info(), reference.published_info(), "{}", keyboard.name);
    }
}

/// Every `config.h` and `rules.mk` of QMK's tree reduces to a file that reads the
/// same (`reduce_settings` checks that) and holds no comment.
#[test]
fn every_settings_file_of_qmk_reduces_to_its_settings_alone() {
    let Some(shared) = shared() else { return };
    let keyboards = shared.join("qmk/keyboards");
    let (mut files, mut lines_before, mut lines_after) = (0, 0, 0);
    for entry in walkdir::WalkDir::new(&keyboards).into_iter().map(Result::unwrap) {
        let name = entry.file_name().to_string_lossy();
        if name != "config.h" && name != "rules.mk" {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
        let relative = entry.path().strip_prefix(shared.join("qmk")).unwrap();
        let reduced =
            keyboard::reduce_settings(relative, &text).unwrap_or_else(|e| panic!("{}: {e}", relative.display()));
        let comment = if name == "rules.mk" { "#" } else { "/*" };
        assert!(!reduced.contains(comment) && !reduced.contains(" //"), "{}: {reduced}", relative.display());
        assert!(reduced.lines().all(|line| !line.is_empty()), "{}: a blank line", relative.display());
        files += 1;
        lines_before += text.lines().count();
        lines_after += reduced.lines().count();
    }
    eprintln!("{files} settings files reduced from {lines_before} to {lines_after} lines");
    assert!(files > 2000, "{files}");
}

/// A keyboard whose layouts come from a C header cannot be bundled without
/// copying C code: import refuses it, naming the file, and writes nothing.
#[test]
fn import_refuses_a_keyboard_that_needs_c_source() {
    let tree = Fixture::new();
    tree.keycodes("keycodes_0.0.1.hjson", r#"{"keycodes": {"0x0004": {"group": "basic", "key": "KC_A"}}}"#)
        .file("keyboards/acme/pad/keyboard.json", r#"{"keyboard_name": "Pad"}"#)
        .file("keyboards/acme/pad/pad.h", "#pragma once\n#define LAYOUT(k00) { { k00 } }\n");
    let out = tree.root().join("out");
    let args = ["import", "--qmk-home", &tree.root_arg(), "--keyboard", "acme/pad", "--out", out.to_str().unwrap()];
    let message = expect_exit(&run(&args), 1);
    assert!(message.contains("acme/pad") && message.contains("pad.h") && message.contains("C source"), "{message}");
    assert!(!out.exists(), "nothing written");
}
