//! The keycodes a keyboard defines in C for its keymaps (`enum { ENC_BTN1 = QK_KB_0 }`,
//! `#define X1_LYRU X1_LAYER_SELECTOR_UP`): what its headers that `keymap.c` sees
//! define. QMK's `QMK_KEYBOARD_H` includes the top-most `<folder>.h` of the keyboard's
//! folders, which includes others, and every folder's `config.h` is included too;
//! `.c` files are compiled apart, so what they define is no keycode for a keymap.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::KEYBOARDS_DIR;
use crate::c::{self, Definition};
use crate::source::DataTree;

/// The facts file `import` writes into a bundled keyboard's folder.
pub const FACTS_FILE: &str = "c_keycodes.json";

/// How many `#include`s deep headers are followed.
const MAX_INCLUDES: usize = 64;

/// What a keyboard's headers define, and which headers those are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyboardFacts {
    pub headers: Vec<String>,
    pub definitions: Vec<Definition>,
    /// Names only its `.c` files define (name → file), for an error that says so.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unseen: BTreeMap<String, String>,
    /// The files and folders that are there but could not be read, as shown, and why
    /// (never written: `import` refuses a keyboard with any).
    #[serde(skip)]
    pub unreadable: Vec<(String, String)>,
}

/// Scans the headers a keymap of `keyboard` sees.
pub fn scan(tree: &DataTree, keyboard: &str) -> KeyboardFacts {
    let folders = super::folders(keyboard);
    let top_header = folders.iter().rev().find_map(|folder| {
        let header = folder.join(format!("{}.h", folder.file_name()?.to_str()?));
        tree.exists(&header).then_some(header)
    });
    let mut queue: Vec<PathBuf> = folders.iter().rev().map(|f| f.join("config.h")).filter(|p| tree.exists(p)).collect();
    queue.extend(top_header);
    let mut facts = KeyboardFacts::default();
    let mut seen: Vec<PathBuf> = Vec::new();
    while let Some(header) = queue.pop() {
        if seen.contains(&header) || seen.len() > MAX_INCLUDES {
            continue;
        }
        seen.push(header.clone());
        let bytes = match tree.read(&header) {
            Ok(bytes) => bytes,
            Err(error) => {
                facts.unreadable.push((tree.display(&header), error.to_string()));
                continue;
            }
        };
        let scanned = c::scan(&String::from_utf8_lossy(&bytes));
        for definition in scanned.definitions.into_iter().filter(Definition::is_expression) {
            if !facts.definitions.iter().any(|d| d.name == definition.name) {
                facts.definitions.push(definition);
            }
        }
        // An include resolves next to the including file, then in the keyboard's folders.
        for include in scanned.includes.iter().rev() {
            let beside = header.parent().map(|p| p.join(include));
            let found = beside.into_iter().chain(folders.iter().map(|f| f.join(include))).find(|p| tree.exists(p));
            queue.extend(
                found.filter(|p| p.starts_with(KEYBOARDS_DIR) && !p.components().any(|c| c.as_os_str() == "..")),
            );
        }
    }
    let shown = |p: &Path| p.strip_prefix(KEYBOARDS_DIR).unwrap_or(p).display().to_string();
    facts.headers = seen.iter().map(|p| shown(p)).collect();
    for folder in &folders {
        let entries = tree.list(folder).unwrap_or_else(|error| {
            facts.unreadable.push((tree.display(folder), error.to_string()));
            Vec::new()
        });
        for source in entries.into_iter().filter(|e| !e.is_dir && e.name.ends_with(".c")) {
            let path = folder.join(&source.name);
            let bytes = match tree.read(&path) {
                Ok(bytes) => bytes,
                Err(error) => {
                    facts.unreadable.push((tree.display(&path), error.to_string()));
                    continue;
                }
            };
            for definition in c::scan(&String::from_utf8_lossy(&bytes)).definitions {
                if !facts.definitions.iter().any(|d| d.name == definition.name) {
                    facts.unseen.entry(definition.name).or_insert_with(|| shown(&path));
                }
            }
        }
    }
    facts
}

/// A keyboard's facts: its facts file where the data has one (the bundled
/// keyboards), else its sources scanned.
pub fn load(tree: &DataTree, keyboard: &str) -> KeyboardFacts {
    let facts_path = Path::new(KEYBOARDS_DIR).join(keyboard).join(FACTS_FILE);
    if let Ok(bytes) = tree.read(&facts_path)
        && let Ok(facts) = serde_json::from_slice::<KeyboardFacts>(&bytes)
    {
        return facts;
    }
    scan(tree, keyboard)
}

/// Each keyboard's facts, read once when first asked for.
#[derive(Debug, Clone, Default)]
pub struct CustomKeycodes {
    tree: Option<DataTree>,
    read: Arc<Mutex<HashMap<String, Arc<KeyboardFacts>>>>,
}

impl CustomKeycodes {
    pub fn new(tree: DataTree) -> Self {
        CustomKeycodes { tree: Some(tree), read: Arc::default() }
    }

    pub fn facts(&self, keyboard: &str) -> Arc<KeyboardFacts> {
        let Some(tree) = &self.tree else { return Arc::default() };
        if let Some(found) = self.read.lock().expect("the cache lock is never poisoned").get(keyboard) {
            return found.clone();
        }
        let facts = Arc::new(load(tree, keyboard));
        self.read.lock().expect("the cache lock is never poisoned").insert(keyboard.to_owned(), facts.clone());
        facts
    }
}
