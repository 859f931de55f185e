//! The search index: every keycode name and alias, in which versions it exists,
//! and its value there. Written as JSON for tools, and as a script for the search
//! page, which must work from `file://`, where pages cannot fetch files.

use std::collections::BTreeMap;

use serde_json::json;

use super::changelog;
use crate::publish::Published;
use crate::spec::Value;

pub struct Index {
    pub json: Vec<u8>,
    pub script: Vec<u8>,
}

/// One name in one subsystem with one value, and the versions where it has it.
struct Entry {
    key: String,
    versions: Vec<String>,
    href: String,
}

pub fn index(items: &[&Published], page: &dyn Fn(&Published) -> String) -> Index {
    let mut entries: BTreeMap<(String, String, String), Entry> = BTreeMap::new();
    let mut add = |name: &str, key: &str, value: &str, item: &Published| {
        let entry = entries
            .entry((name.to_owned(), item.subsystem.clone(), value.to_owned()))
            .or_insert_with(|| Entry { key: key.to_owned(), versions: Vec::new(), href: String::new() });
        entry.versions.push(item.version.to_string());
        entry.href = page(item);
    };
    for item in items {
        for keycode in changelog::keycodes(item.content) {
            add(&keycode.key, &keycode.key, &keycode.value, item);
            for alias in &keycode.aliases {
                add(alias, &keycode.key, &keycode.value, item);
            }
        }
        let aliases = item.content.get("aliases").and_then(Value::as_object);
        for (expression, entry) in aliases.into_iter().flat_map(|a| a.iter()) {
            let Some(key) = entry.get("key").and_then(Value::as_str) else { continue };
            add(key, key, expression, item);
        }
    }
    let rows: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|((name, subsystem, value), entry)| json!([name, entry.key, value, subsystem, entry.versions, entry.href]))
        .collect();
    let document = json!({"columns": ["name", "key", "value", "subsystem", "versions", "page"], "entries": rows});
    let json = serde_json::to_vec(&document).expect("the index serializes");
    let mut script = b"window.QMK_SEARCH_INDEX = ".to_vec();
    script.extend_from_slice(&json);
    script.extend_from_slice(b";\n");
    Index { json, script }
}
