//! The key names a macro step may use: QMK's send-string keycodes, named without their
//! `X_` prefix as keymap.json writes them (`{"action": "tap", "keycodes": ["LCTL", "C"]}`).
//! QMK's json2c writes each as `X_<name>`, which only QMK's `send_string_keycodes.h`
//! defines: a name missing there does not compile. The names are interoperability facts,
//! written into the bundled data by `qmk-api import` from that header.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::diagnostic::{excerpt, suggest};
use crate::source::DataTree;

/// The bundled names, as `import` writes them.
#[derive(Debug, Serialize, Deserialize)]
pub struct SendStringKeys {
    about: String,
    names: BTreeSet<String>,
}

static BUNDLED: LazyLock<SendStringKeys> = LazyLock::new(|| {
    let bytes = DataTree::Bundled
        .read(Path::new(SendStringKeys::FACTS_PATH))
        .expect("the bundled data has the send-string keys");
    serde_json::from_slice(&bytes).expect("the bundled send-string keys are valid")
});

impl SendStringKeys {
    /// Where QMK defines the names, in a qmk_firmware tree.
    pub const HEADER_PATH: &str = "quantum/send_string/send_string_keycodes.h";
    /// Where the bundled data keeps them.
    pub const FACTS_PATH: &str = "data/keymap/send_string_keycodes.json";

    /// The names a header defines: each `#define X_<name> <value>`.
    pub fn from_header(text: &str) -> SendStringKeys {
        let names = text
            .lines()
            .filter_map(|line| line.trim_start().strip_prefix("#define X_"))
            .filter_map(|rest| {
                let mut words = rest.split_whitespace();
                let name = words.next()?;
                let defined = words.next().is_some() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                defined.then(|| name.to_owned())
            })
            .collect();
        SendStringKeys {
            about: format!("The key names of macro steps: QMK's {} defines X_<name>.", Self::HEADER_PATH),
            names,
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Why `name` cannot be a macro step's key, if it cannot; the nearest name too when
/// `near()` allows the search.
pub fn problem(name: &str, near: impl FnOnce() -> bool) -> Option<String> {
    let names = &BUNDLED.names;
    if names.contains(name) {
        return None;
    }
    if let Some(short) = name.strip_prefix("KC_").filter(|short| names.contains(*short)) {
        return Some(format!("`{name}` is a keycode name: a macro names its keys without `KC_`: `{short}`"));
    }
    let hint = near()
        .then(|| suggest(name, names.iter().map(String::as_str)))
        .flatten()
        .map(|near| format!(" (did you mean `{near}`?)"))
        .unwrap_or_default();
    Some(format!("no send-string key `{}`{hint}", excerpt(name)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_headers_defines() {
        let header = "#pragma once\n#define X_A 04\n#define X_ENT  X_ENTER\n#define X_ENTER 28\n#define SS_TAP(k) x\n";
        let keys = SendStringKeys::from_header(header);
        assert_eq!(keys.names.iter().map(String::as_str).collect::<Vec<_>>(), ["A", "ENT", "ENTER"]);
    }

    #[test]
    fn the_bundled_names_know_keys_and_say_what_is_wrong() {
        assert!(BUNDLED.len() > 300);
        assert_eq!(problem("LCTL", || true), None);
        assert_eq!(problem("ENTER", || true), None);
        assert!(problem("KC_A", || true).unwrap().contains("without `KC_`: `A`"));
        assert!(problem("ENTR", || true).unwrap().contains("did you mean"));
        assert!(!problem("ENTR", || false).unwrap().contains("did you mean"));
        assert!(problem(&"A".repeat(100_000), || true).unwrap().len() < 300);
    }
}
