//! Retired names and their replacements.
//!
//! Two sources: the keycode spec's own history (a name that disappears from one
//! version while its value lives on under another name was renamed to it), and a
//! small table in `data/keymap/retired.json` for renames older than 0.0.1.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::LazyLock;

use semver::Version;
use serde::Deserialize;

use crate::source::DataTree;
use crate::spec::{Constants, Object, entry_names, keycode_entries};

const FACTS_PATH: &str = "data/keymap/retired.json";

#[derive(Debug, Deserialize)]
struct Facts {
    keycodes: HashMap<String, String>,
    /// Old layout macro prefixes: `KEYMAP` → `LAYOUT`, `KEYMAP_60` → `LAYOUT_60`.
    layout_prefixes: HashMap<String, String>,
}

/// The bundled table; tests check it parses and that every replacement exists.
static FACTS: LazyLock<Facts> = LazyLock::new(|| {
    let bytes = DataTree::Bundled.read(Path::new(FACTS_PATH)).expect("the bundled data has the retired-names table");
    serde_json::from_slice(&bytes).expect("the bundled retired-names table is valid")
});

/// A retired name's replacement, and when it was renamed (`None`: before 0.0.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    pub replacement: String,
    pub since: Option<Version>,
}

impl Retirement {
    /// `renamed in keycodes 0.0.5`, `renamed before keycodes 0.0.1`.
    pub fn when(&self) -> String {
        match &self.since {
            Some(version) => format!("renamed in keycodes {version}"),
            None => "renamed before keycodes 0.0.1".to_owned(),
        }
    }
}

impl fmt::Display for Retirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "use `{}` ({})", self.replacement, self.when())
    }
}

/// The retired names of one target version.
#[derive(Debug, Clone, Default)]
pub struct Retired {
    names: HashMap<String, Retirement>,
}

impl Retired {
    pub fn new(constants: &Constants, target: &Version) -> Retired {
        let history: Vec<(&Version, &Object)> = constants
            .subsystem("keycodes")
            .map(|s| s.versions.iter().filter(|v| &v.version <= target).map(|v| (&v.version, &v.content)).collect())
            .unwrap_or_default();
        let renamed = renames(&history);
        let current = history.last().map(|(_, content)| names(content)).unwrap_or_default();

        let mut retired: HashMap<String, Retirement> = HashMap::new();
        for (old, (new, since)) in &renamed {
            // Follow later renames of the replacement until a name of the target version.
            let mut replacement = new;
            for _ in 0..renamed.len() {
                match renamed.get(replacement) {
                    Some((next, _)) if !current.contains_key(replacement) => replacement = next,
                    _ => break,
                }
            }
            if current.contains_key(replacement) && !current.contains_key(old) {
                retired.insert(
                    old.clone(),
                    Retirement { replacement: replacement.clone(), since: Some((*since).clone()) },
                );
            }
        }
        for (old, new) in &FACTS.keycodes {
            if !current.contains_key(old) {
                retired.entry(old.clone()).or_insert(Retirement { replacement: new.clone(), since: None });
            }
        }
        Retired { names: retired }
    }

    pub fn get(&self, name: &str) -> Option<&Retirement> {
        self.names.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Retirement)> {
        self.names.iter().map(|(name, retirement)| (name.as_str(), retirement))
    }
}

/// The current name of a retired layout macro name (`KEYMAP_60` → `LAYOUT_60`).
pub fn retired_layout(name: &str) -> Option<String> {
    FACTS.layout_prefixes.iter().find_map(|(old, new)| {
        let rest = name.strip_prefix(old.as_str())?;
        (rest.is_empty() || rest.starts_with('_')).then(|| format!("{new}{rest}"))
    })
}

/// Every name of a version and its value.
fn names(content: &Object) -> HashMap<String, u16> {
    keycode_entries(content)
        .flat_map(|(value, _, entry)| entry_names(entry).map(move |name| (name.to_owned(), value)))
        .collect()
}

/// Names that left one version while the next kept their value under another key:
/// old name → (new name, version of the rename).
fn renames<'a>(history: &[(&'a Version, &Object)]) -> HashMap<String, (String, &'a Version)> {
    let mut renamed = HashMap::new();
    for pair in history.windows(2) {
        let [(_, before), (version, after)] = pair else { continue };
        let (before, after_names) = (names(before), names(after));
        let keys: HashMap<u16, &str> =
            keycode_entries(after).filter_map(|(value, _, entry)| Some((value, entry.get("key")?.as_str()?))).collect();
        for (name, value) in before.iter().filter(|(name, _)| !after_names.contains_key(*name)) {
            if let Some(new) = keys.get(value) {
                renamed.insert(name.clone(), ((*new).to_owned(), *version));
            }
        }
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_prefixes_rename_whole_words_only() {
        assert_eq!(retired_layout("KEYMAP"), Some("LAYOUT".into()));
        assert_eq!(retired_layout("KEYMAP_60_ansi"), Some("LAYOUT_60_ansi".into()));
        assert_eq!(retired_layout("KEYMAPS"), None);
        assert_eq!(retired_layout("LAYOUT_all"), None);
    }
}
