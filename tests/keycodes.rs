//! Keycode expressions against the values QMK's C compiler gives them.

mod common;

use common::*;
use qmk_api::keymap::Keycodes;
use qmk_api::source::DataTree;
use qmk_api::spec;

fn keycodes() -> Keycodes {
    let loaded = spec::load(&DataTree::Bundled).unwrap();
    Keycodes::new(&loaded.constants, None).unwrap()
}

#[test]
fn every_vector_resolves_to_the_compilers_value() {
    let Some(shared) = shared() else { return };
    let keycodes = keycodes();
    let text = std::fs::read_to_string(shared.join("expected/keycode_values.tsv")).unwrap();
    let (mut matched, mut failed) = (0, Vec::new());
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut fields = line.split('\t');
        let (expression, value) = (fields.next().unwrap(), fields.next().unwrap());
        let expected = u16::from_str_radix(value.trim_start_matches("0x"), 16).unwrap();
        match keycodes.resolve(expression) {
            Ok(resolved) if resolved.value == expected => matched += 1,
            Ok(resolved) => failed.push(format!("{expression}: 0x{:04X}, expected {value}", resolved.value)),
            Err(e) => failed.push(format!("{expression}: {e}")),
        }
    }
    eprintln!("{matched} of {} keycode vectors matched", matched + failed.len());
    assert!(failed.is_empty(), "{} failed:\n{}", failed.len(), failed.join("\n"));
    assert_eq!(matched, 2567);
}

#[test]
fn every_invalid_expression_is_rejected_with_a_reason() {
    let Some(shared) = shared() else { return };
    let keycodes = keycodes();
    let text = std::fs::read_to_string(shared.join("expected/keycode_invalid.txt")).unwrap();
    let mut rejected = 0;
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let expression: String = serde_json::from_str(line).unwrap();
        match keycodes.resolve(&expression) {
            Ok(resolved) => panic!("{expression:?} was accepted as 0x{:04X}", resolved.value),
            Err(e) => {
                eprintln!("{expression:?}: {e}");
                assert!(!e.message.is_empty());
                rejected += 1;
            }
        }
    }
    assert_eq!(rejected, 38);
}
