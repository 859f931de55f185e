//! The whole info.json of every keyboard compared with QMK's own `info_json`
//! (../shared/expected/info_json.json): as JSON values, and as the bytes
//! `qmk generate-api` would write for it. Mismatches are counted per field, with
//! examples, so that a regression names what it broke.

mod common;

use std::collections::BTreeMap;

use common::*;
use qmk_api::keyboard;
use qmk_api::publish::pyjson;
use qmk_api::source::DataTree;
use serde_json::Value;

/// Numbers as f64, so that `1` and `1.0` compare equal as they do in Python.
fn normalize(value: &Value) -> Value {
    match value {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::Object(members) => Value::Object(members.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()),
        other => other.clone(),
    }
}

/// Where two renderings first part, with some context.
fn first_difference(name: &str, ours: &[u8], theirs: &[u8]) {
    let at = ours.iter().zip(theirs).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
    let excerpt =
        |bytes: &[u8]| String::from_utf8_lossy(&bytes[at.saturating_sub(80)..(at + 80).min(bytes.len())]).into_owned();
    eprintln!("{name} differs in its bytes:\n  ours:   {}\n  theirs: {}", excerpt(ours), excerpt(theirs));
}

#[test]
fn info_json_equals_qmks_for_every_keyboard() {
    let Some(shared) = shared() else { return };
    let text = std::fs::read_to_string(shared.join("expected/info_json.json")).unwrap();
    let expected: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    let keyboards = keyboard::load(&DataTree::Checkout(shared.join("qmk"))).unwrap();
    assert_eq!(keyboards.len(), expected.len(), "as many keyboards as QMK lists");

    let (mut value_equal, mut byte_equal, mut shown) = (0, 0, 0);
    let mut fields: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, theirs) in &expected {
        let keyboard = keyboards.resolve(name).unwrap();
        let mut ours = serde_json::to_value(keyboard.published()).unwrap();
        // QMK's API adds the JSON keymaps after info_json; the reference is from before.
        ours["keymaps"] = serde_json::json!({});
        if normalize(&ours) == normalize(theirs) {
            value_equal += 1;
        } else {
            let (ours, theirs) = (ours.as_object().unwrap(), theirs.as_object().unwrap());
            for field in ours.keys().chain(theirs.keys()) {
                if ours.get(field).map(normalize) != theirs.get(field).map(normalize) {
                    let examples = fields.entry(field.clone()).or_default();
                    if examples.last() != Some(&name.as_str()) {
                        examples.push(name);
                    }
                }
            }
        }
        let (ours, theirs) = (pyjson::to_compact(&ours), pyjson::to_compact(theirs));
        if ours == theirs {
            byte_equal += 1;
        } else if shown < 3 {
            shown += 1;
            first_difference(name, &ours, &theirs);
        }
    }
    eprintln!(
        "info.json equal to QMK's: {value_equal} of {} as JSON values, {byte_equal} byte for byte",
        expected.len()
    );
    for (field, names) in &fields {
        eprintln!("  {field}: {} keyboards differ, e.g. {:?}", names.len(), &names[..names.len().min(5)]);
    }
    assert!(fields.is_empty(), "fields differ: {:?}", fields.keys().collect::<Vec<_>>());
    assert_eq!(byte_equal, expected.len(), "every file byte for byte as QMK writes it");
}
