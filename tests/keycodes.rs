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
            // None of QMK's own expressions loses anything: no warning either.
            Ok(resolved) if resolved.value == expected && resolved.warnings.is_empty() => matched += 1,
            Ok(resolved) if resolved.value == expected => failed.push(format!("{expression}: {:?}", resolved.warnings)),
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

/// The rows of a reference TSV file: its columns, comments left out.
fn rows(shared: &std::path::Path, file: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(shared.join("expected").join(file)).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

fn hex(value: &str) -> u16 {
    u16::from_str_radix(value.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn names_only_the_c_headers_define_resolve_to_the_compilers_value() {
    let Some(shared) = shared() else { return };
    let keycodes = keycodes();
    let rows = rows(&shared, "keycode_values_c.tsv");
    for row in &rows {
        let resolved = keycodes.resolve(&row[0]).unwrap_or_else(|e| panic!("{}: {e}", row[0]));
        assert_eq!(resolved.value, hex(&row[1]), "{}", row[0]);
        assert!(resolved.warnings.is_empty(), "{}: {:?}", row[0], resolved.warnings);
    }
    eprintln!("{} of {} C-header names matched", rows.len(), rows.len());
    assert!(rows.len() >= 4);
}

/// What a lossy row's description says is lost, checked in our warning.
fn says_what_is_lost(keycodes: &Keycodes, description: &str, message: &str) -> usize {
    let mut checks = 0;
    let mut check = |ok: bool, what: &str| {
        assert!(ok, "{what}: the warning {message:?} does not say what {description:?} says");
        checks += 1;
    };
    let after = |marker: &str| {
        description
            .split(marker)
            .nth(1)
            .map(|rest| rest.trim_end_matches(')').split([' ', ')']).next().unwrap_or_default().to_owned())
    };
    if let Some(layer) = after("masked to layer ") {
        check(message.contains(&format!("masked to layer {layer}")), "the masked layer");
    } else if let Some(value) = after("masked to ") {
        check(message.contains(&format!("masked to {value}")), "the masked value");
    }
    let tapped = after("(taps ").or_else(|| after("becomes "));
    if let Some(tapped) = tapped {
        let expected = keycodes.resolve(&tapped).map(|r| r.value).unwrap_or_else(|_| hex(&tapped));
        let ours = message.split("(taps ").nth(1).map(|rest| rest.trim_end_matches(')')).unwrap_or_default();
        check(keycodes.resolve(ours).map(|r| r.value) == Ok(expected), "the tapped keycode");
    }
    if description.contains("shift of") {
        check(message.contains("shift of"), "the dropped shift");
    }
    if let Some(wrapper) = description.split(' ').find(|w| w.ends_with("()")) {
        check(message.contains(wrapper.trim_end_matches("()")), "the dropped modifiers");
    }
    if description.contains("right") {
        check(message.contains("right"), "right-hand modifiers");
    }
    if let Some(reading) = description.split("reads as ").nth(1) {
        check(message.contains(&format!("reads as {reading}")), "the MOD_ reading");
    }
    if description.contains("not a basic keycode: the result") {
        check(message.contains("not a basic keycode"), "the wrapped keycode");
    }
    checks
}

#[test]
fn every_lossy_expression_gets_the_compilers_value_and_a_warning_saying_what_is_lost() {
    let Some(shared) = shared() else { return };
    let keycodes = keycodes();
    let rows = rows(&shared, "keycode_lossy.tsv");
    for row in &rows {
        let (expression, value, description) = (&row[0], hex(&row[1]), &row[2]);
        let resolved = keycodes.resolve(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
        assert_eq!(resolved.value, value, "{expression}");
        let messages: Vec<&str> = resolved.warnings.iter().map(|w| w.message.as_str()).collect();
        assert!(!messages.is_empty(), "{expression}: no warning");
        let message = messages.join("; ");
        assert!(
            says_what_is_lost(&keycodes, description, &message) > 0,
            "{expression}: nothing checked in {description:?}"
        );
        eprintln!("{expression}\t{message}");
    }
    assert!(rows.len() >= 20, "only {} lossy rows", rows.len());
}
