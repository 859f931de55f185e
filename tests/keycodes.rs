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
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).collect();
    let mut rejected = 0;
    for line in &lines {
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
    // The file lists what C rejects; it held 38 lines before the lossy ones moved out.
    assert_eq!(rejected, lines.len());
    assert!(rejected >= 30, "only {rejected} invalid expressions were read");
}

#[test]
fn a_hundred_names_of_0_0_1_were_renamed_by_0_0_8() {
    let loaded = spec::load(&DataTree::Bundled).unwrap();
    let keycodes = Keycodes::new(&loaded.constants, None).unwrap();
    let first = Keycodes::new(&loaded.constants, Some(&semver::Version::new(0, 0, 1))).unwrap();
    let renamed: Vec<(&str, String)> = keycodes
        .retired()
        .iter()
        .filter(|(name, retirement)| retirement.since.is_some() && first.contains(name))
        .map(|(name, retirement)| (name, retirement.replacement.clone()))
        .collect();
    assert_eq!(renamed.len(), 100);
    for (old, new) in &renamed {
        // The value lives on: the old name in 0.0.1 and the new one in 0.0.8 are the same keycode.
        assert_eq!(first.resolve(old).unwrap().value, keycodes.resolve(new).unwrap().value, "{old} → {new}");
    }
    let find = |name: &str| renamed.iter().find(|(old, _)| *old == name).map(|(_, new)| new.as_str());
    assert_eq!(find("KC_MS_UP"), Some("QK_MOUSE_CURSOR_UP"));
    assert_eq!(find("RGB_TOG"), Some("QK_UNDERGLOW_TOGGLE"));
    let since = |name: &str| keycodes.retired().get(name).unwrap().since.clone().unwrap().to_string();
    assert_eq!((since("KC_MS_UP"), since("RGB_TOG")), ("0.0.5".to_owned(), "0.0.4".to_owned()));
}

#[test]
fn the_table_of_older_renames_names_only_gone_keycodes_and_live_replacements() {
    let loaded = spec::load(&DataTree::Bundled).unwrap();
    let newest = Keycodes::new(&loaded.constants, None).unwrap();
    let every_version: Vec<Keycodes> = loaded
        .constants
        .subsystem("keycodes")
        .unwrap()
        .versions
        .iter()
        .map(|v| Keycodes::new(&loaded.constants, Some(&v.version)).unwrap())
        .collect();
    let older: Vec<_> = newest.retired().iter().filter(|(_, r)| r.since.is_none()).collect();
    assert!(older.len() >= 40);
    for (old, retirement) in older {
        assert!(every_version.iter().all(|v| !v.contains(old)), "{old} is a keycode of some version");
        assert!(newest.resolve(&retirement.replacement).is_ok(), "{old} → {} does not resolve", retirement.replacement);
    }
}
