//! What changed from one version of a subsystem to the next, keycode by keycode.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::spec::{Object, Value, keycode_entries, parse_range};

/// One keycode as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Keycode {
    pub value: String,
    pub key: String,
    pub aliases: Vec<String>,
    pub label: String,
    pub group: String,
}

impl Keycode {
    fn read(hex: &str, entry: &Value) -> Option<Keycode> {
        let text = |field: &str| entry.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
        let aliases = entry.get("aliases").and_then(Value::as_array).unwrap_or_default();
        Some(Keycode {
            value: hex.to_owned(),
            key: entry.get("key")?.as_str()?.to_owned(),
            aliases: aliases.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            label: text("label"),
            group: text("group"),
        })
    }
}

/// The keycodes of a version, by value.
pub fn keycodes(content: &Object) -> Vec<Keycode> {
    keycode_entries(content).filter_map(|(_, hex, entry)| Keycode::read(hex, entry)).collect()
}

/// A range of the keycode space as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Range {
    pub key: String,
    pub define: String,
    pub first: u16,
    pub last: u16,
}

pub fn ranges(content: &Object) -> Vec<Range> {
    let entries = content.get("ranges").and_then(Value::as_object);
    entries
        .into_iter()
        .flat_map(|r| r.iter())
        .filter_map(|(key, range)| {
            let span = parse_range(key)?;
            let define = range.get("define")?.as_str()?.to_owned();
            Some(Range { key: key.to_owned(), define, first: span.first, last: span.last })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renamed {
    pub value: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revalued {
    pub key: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AliasChange {
    pub key: String,
    pub alias: String,
}

/// Everything that changed between two versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub added: Vec<Keycode>,
    pub removed: Vec<Keycode>,
    pub renamed: Vec<Renamed>,
    pub revalued: Vec<Revalued>,
    pub aliases_added: Vec<AliasChange>,
    pub aliases_dropped: Vec<AliasChange>,
    pub ranges_added: Vec<Range>,
    pub ranges_removed: Vec<Range>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        *self == Changes::default()
    }
}

/// Compares two versions: a keycode keeping its value under another name was
/// renamed; a name keeping itself under another value was re-valued.
pub fn compare(before: &Object, after: &Object) -> Changes {
    let (old, new) = (keycodes(before), keycodes(after));
    let by_value = |list: &[Keycode]| list.iter().map(|k| (k.value.clone(), k.clone())).collect::<BTreeMap<_, _>>();
    let by_key = |list: &[Keycode]| list.iter().map(|k| (k.key.clone(), k.clone())).collect::<BTreeMap<_, _>>();
    let (old_values, new_values, old_keys, new_keys) = (by_value(&old), by_value(&new), by_key(&old), by_key(&new));

    let mut changes = Changes::default();
    for keycode in &new {
        match (old_keys.get(&keycode.key), old_values.get(&keycode.value)) {
            (Some(previous), _) if previous.value != keycode.value => changes.revalued.push(Revalued {
                key: keycode.key.clone(),
                from: previous.value.clone(),
                to: keycode.value.clone(),
            }),
            (Some(previous), _) => alias_changes(previous, keycode, &mut changes),
            (None, Some(previous)) if !new_keys.contains_key(&previous.key) => {
                changes.renamed.push(Renamed {
                    value: keycode.value.clone(),
                    from: previous.key.clone(),
                    to: keycode.key.clone(),
                });
                alias_changes(previous, keycode, &mut changes);
            }
            (None, _) => changes.added.push(keycode.clone()),
        }
    }
    for keycode in &old {
        let renamed_away = new_values.get(&keycode.value).is_some_and(|k| !old_keys.contains_key(&k.key));
        if !new_keys.contains_key(&keycode.key) && !renamed_away {
            changes.removed.push(keycode.clone());
        }
    }
    let (old_ranges, new_ranges) = (ranges(before), ranges(after));
    changes.ranges_added = new_ranges.iter().filter(|r| !old_ranges.contains(r)).cloned().collect();
    changes.ranges_removed = old_ranges.iter().filter(|r| !new_ranges.contains(r)).cloned().collect();
    changes
}

fn alias_changes(before: &Keycode, after: &Keycode, changes: &mut Changes) {
    let change = |alias: &String| AliasChange { key: after.key.clone(), alias: alias.clone() };
    changes.aliases_added.extend(after.aliases.iter().filter(|a| !before.aliases.contains(a)).map(change));
    changes.aliases_dropped.extend(before.aliases.iter().filter(|a| !after.aliases.contains(a)).map(change));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Object {
        Value::from(json).as_object().unwrap().clone()
    }

    #[test]
    fn tells_renames_revaluings_additions_and_aliases_apart() {
        let before = spec(serde_json::json!({"keycodes": {
            "0x0001": {"key": "OLD", "aliases": ["O"]},
            "0x0002": {"key": "MOVES"},
            "0x0003": {"key": "GONE"},
            "0x0004": {"key": "KEEPS", "aliases": ["K1"]}
        }}));
        let after = spec(serde_json::json!({"keycodes": {
            "0x0001": {"key": "NEW", "aliases": ["O", "N"]},
            "0x0005": {"key": "MOVES"},
            "0x0004": {"key": "KEEPS", "aliases": ["K2"]},
            "0x0006": {"key": "FRESH"}
        }}));
        let changes = compare(&before, &after);
        assert_eq!(changes.renamed, [Renamed { value: "0x0001".into(), from: "OLD".into(), to: "NEW".into() }]);
        assert_eq!(changes.revalued, [Revalued { key: "MOVES".into(), from: "0x0002".into(), to: "0x0005".into() }]);
        assert_eq!(changes.added.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(), ["FRESH"]);
        assert_eq!(changes.removed.iter().map(|k| k.key.as_str()).collect::<Vec<_>>(), ["GONE"]);
        let added: Vec<_> = changes.aliases_added.iter().map(|a| a.alias.as_str()).collect();
        let dropped: Vec<_> = changes.aliases_dropped.iter().map(|a| a.alias.as_str()).collect();
        assert_eq!((added, dropped), (vec!["N", "K2"], vec!["K1"]));
    }
}
