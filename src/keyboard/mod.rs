//! Keyboards: every build target under `keyboards/` (a folder with a `keyboard.json`),
//! its definition merged from the top folder down, its layouts, and the aliases of
//! keyboards that moved.

pub mod custom_keycodes;
mod layout;
mod name;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::diagnostic::{Diagnostic, Diagnostics, suggest};
use crate::source::DataTree;
use crate::spec::{self, Object, Value, hjson};

pub use layout::{Key, Layout};
pub use name::is_valid_name;

pub const KEYBOARDS_DIR: &str = "keyboards";
pub const ALIASES_PATH: &str = "data/mappings/keyboard_aliases.hjson";
/// The file that makes a folder a build target.
const TARGET_FILE: &str = "keyboard.json";
const INFO_FILE: &str = "info.json";
/// How many folders above a target may hold definitions it inherits.
const MAX_PARENTS: usize = 5;

/// One build target.
#[derive(Debug, Clone)]
pub struct Keyboard {
    /// Its folder under `keyboards/`, e.g. `clueboard/66/rev2`.
    pub name: String,
    /// The merged definition, with `layout_aliases`, `keyboard_name`,
    /// `keyboard_folder` and (where known) `matrix_size` filled in; its layouts are
    /// kept once, in `layouts` (see [`Keyboard::published_info`]).
    pub info: Object,
    pub layouts: Vec<(String, Layout)>,
    /// Other names for layouts (`LAYOUT` → `LAYOUT_all`).
    pub layout_aliases: BTreeMap<String, String>,
    /// Problems found while merging its files; the keyboard is still usable.
    pub diagnostics: Vec<Diagnostic>,
}

/// Rows and columns of the switch matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixSize {
    pub rows: u64,
    pub cols: u64,
}

impl Keyboard {
    /// The definition as QMK publishes it, layouts included.
    pub fn published_info(&self) -> Object {
        let mut info = self.info.clone();
        let layouts = self.layouts.iter().map(|(name, layout)| (name.as_str().into(), layout.to_value()));
        info.insert("layouts".into(), Value::Object(layouts.collect()));
        info
    }

    pub fn keyboard_name(&self) -> &str {
        self.info.get("keyboard_name").and_then(Value::as_str).unwrap_or(&self.name)
    }

    /// A layout by name or alias, with the name it resolved to.
    pub fn layout(&self, name: &str) -> Option<(&str, &Layout)> {
        let name = self.layout_aliases.get(name).map_or(name, String::as_str);
        self.layouts.iter().find(|(n, _)| n == name).map(|(n, layout)| (n.as_str(), layout))
    }

    pub fn matrix_size(&self) -> Option<MatrixSize> {
        let size = self.info.get("matrix_size")?;
        let count = |key| size.get(key).and_then(number).and_then(|n| n.as_u64());
        Some(MatrixSize { rows: count("rows")?, cols: count("cols")? })
    }

    /// Keycodes the keyboard declares for its keymaps (`keycodes: [{key: ...}]`).
    pub fn custom_keycodes(&self) -> Vec<String> {
        declared_keycodes(self.info.get("keycodes"))
    }
}

fn number(value: &Value) -> Option<&serde_json::Number> {
    match value {
        Value::Number(n) => Some(n),
        _ => None,
    }
}

/// Names (keys and aliases) of a `keycodes` declaration list.
pub fn declared_keycodes(declaration: Option<&Value>) -> Vec<String> {
    let Some(items) = declaration.and_then(Value::as_array) else { return Vec::new() };
    items.iter().flat_map(|item| spec::entry_names(item).map(str::to_owned)).collect()
}

/// Every keyboard of a tree, and the aliases of moved ones.
#[derive(Debug, Clone, Default)]
pub struct Keyboards {
    targets: BTreeMap<String, Keyboard>,
    aliases: BTreeMap<String, String>,
    /// The keycodes each keyboard defines in C, read when first needed.
    custom_keycodes: custom_keycodes::CustomKeycodes,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyboardError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("`{0}` is not a keyboard name: names are folders under keyboards/, made of a-z, 0-9, `_` and `/`")]
    BadName(String),
    #[error("no keyboard `{name}`{}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    Unknown { name: String, suggestion: Option<String> },
    #[error("keyboard alias `{0}` leads round in a circle")]
    AliasCycle(String),
}

impl Keyboards {
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Keyboard> {
        self.targets.values()
    }

    /// Old name → the name it points to now.
    pub fn aliases(&self) -> &BTreeMap<String, String> {
        &self.aliases
    }

    /// What a keyboard's headers define for its keymaps.
    pub fn c_keycodes(&self, keyboard: &str) -> std::sync::Arc<custom_keycodes::KeyboardFacts> {
        self.custom_keycodes.facts(keyboard)
    }

    /// A keyboard by name, following aliases of moved keyboards.
    pub fn resolve(&self, name: &str) -> Result<&Keyboard, KeyboardError> {
        if !is_valid_name(name) {
            return Err(KeyboardError::BadName(name.to_owned()));
        }
        let mut current = name;
        for _ in 0..=self.aliases.len() {
            if let Some(keyboard) = self.targets.get(current) {
                return Ok(keyboard);
            }
            match self.aliases.get(current) {
                Some(target) => current = target,
                None => {
                    let suggestion = suggest(name, self.targets.keys().map(String::as_str));
                    return Err(KeyboardError::Unknown { name: name.to_owned(), suggestion });
                }
            }
        }
        Err(KeyboardError::AliasCycle(name.to_owned()))
    }
}

/// One definition file as read: its layouts (already as keys) and layout aliases
/// apart, because they merge differently from the rest.
struct Definition {
    info: Object,
    layouts: Option<Result<layout::Defined, String>>,
    aliases: Vec<(String, String)>,
}

/// Loads every keyboard of `tree` and the keyboard aliases.
pub fn load(tree: &DataTree) -> Result<Keyboards, KeyboardError> {
    let io = |path: &Path| {
        let path = tree.display(path);
        move |source| KeyboardError::Io { path, source }
    };
    let files = tree.files_below(Path::new(KEYBOARDS_DIR)).map_err(io(Path::new(KEYBOARDS_DIR)))?;
    let definitions: Vec<&PathBuf> = files
        .iter()
        .filter(|f| !f.components().any(|c| c.as_os_str() == "keymaps"))
        .filter(|f| f.file_name().is_some_and(|n| n == TARGET_FILE || n == INFO_FILE))
        .collect();
    let parsed: HashMap<&Path, Result<Definition, Diagnostic>> = definitions
        .par_iter()
        .map(|path| Ok((path.as_path(), read_definition(tree, path)?)))
        .collect::<Result<_, KeyboardError>>()?;

    let targets: BTreeMap<String, Keyboard> = definitions
        .par_iter()
        .filter(|path| path.file_name().is_some_and(|n| n == TARGET_FILE))
        .filter_map(|path| path.parent()?.strip_prefix(KEYBOARDS_DIR).ok())
        .map(|folder| {
            let name = folder.to_string_lossy().replace('\\', "/");
            let keyboard = merge_target(tree, &name, &parsed);
            (name, keyboard)
        })
        .collect();
    let aliases = read_aliases(tree)?;
    Ok(Keyboards { targets, aliases, custom_keycodes: custom_keycodes::CustomKeycodes::new(tree.clone()) })
}

/// Parses one definition file; a file that cannot be used becomes a diagnostic of
/// every keyboard that inherits it.
fn read_definition(tree: &DataTree, path: &Path) -> Result<Result<Definition, Diagnostic>, KeyboardError> {
    let shown = tree.display(path);
    let bytes = tree.read(path).map_err(|source| KeyboardError::Io { path: shown.clone(), source })?;
    let text = String::from_utf8_lossy(&bytes);
    let mut info = match hjson::parse(&text) {
        Ok(Value::Object(object)) => object,
        Ok(other) => {
            let message = format!("a keyboard definition must be an object, not {}", other.kind());
            return Ok(Err(Diagnostic::error(message).in_file(shown)));
        }
        Err(e) => return Ok(Err(Diagnostic::error(e.message).in_file(shown).at_line(e.line).at_column(e.column))),
    };
    let aliases = match info.shift_remove("layout_aliases") {
        Some(Value::Object(aliases)) => {
            aliases.iter().filter_map(|(alias, target)| Some((alias.to_owned(), target.as_str()?.to_owned()))).collect()
        }
        _ => Vec::new(),
    };
    let layouts = info.shift_remove("layouts").map(|layouts| match layouts {
        Value::Object(layouts) => Ok(layout::read_layouts(&layouts)),
        other => Err(format!("`layouts` must be an object, not {}", other.kind())),
    });
    Ok(Ok(Definition { info, layouts, aliases }))
}

/// The definition files of a target in the order QMK applies them, later ones
/// winning: the target's own folder first (`info.json`, then `keyboard.json`), then
/// each folder above it. A parent's value thus overrides its child's; QMK's results
/// (e.g. `keyboard_name` of aeboards/ext65/rev1) depend on it.
fn inheritance(name: &str) -> Vec<PathBuf> {
    let parts: Vec<&str> = name.split('/').collect();
    let last = parts.len().saturating_sub(MAX_PARENTS + 1);
    (last..parts.len())
        .rev()
        .flat_map(|end| {
            let folder = Path::new(KEYBOARDS_DIR).join(parts[..=end].join("/"));
            [folder.join(INFO_FILE), folder.join(TARGET_FILE)]
        })
        .collect()
}

fn merge_target(tree: &DataTree, name: &str, parsed: &HashMap<&Path, Result<Definition, Diagnostic>>) -> Keyboard {
    let mut info = Object::new();
    let mut layouts: Vec<(String, Layout)> = Vec::new();
    let mut layout_aliases = BTreeMap::new();
    let mut diagnostics = Vec::new();
    for path in inheritance(name) {
        let definition = match parsed.get(path.as_path()) {
            None => continue,
            Some(Err(diagnostic)) => {
                diagnostics.push(diagnostic.clone());
                continue;
            }
            Some(Ok(definition)) => definition,
        };
        layout_aliases.extend(definition.aliases.iter().cloned());
        match &definition.layouts {
            Some(Ok(defined)) => {
                layout::merge_layouts(&mut layouts, defined, &layout_aliases, &tree.display(&path), &mut diagnostics)
            }
            Some(Err(problem)) => diagnostics.push(Diagnostic::error(problem.clone()).in_file(tree.display(&path))),
            None => {}
        }
        spec::lay_over(&mut info, definition.info.clone());
    }
    finish(&mut info, name, &layout_aliases);
    Keyboard { name: name.to_owned(), info, layouts, layout_aliases, diagnostics }
}

/// Fills in what QMK computes for every keyboard.
fn finish(info: &mut Object, name: &str, aliases: &BTreeMap<String, String>) {
    info.insert("keyboard_folder".into(), Value::from(name));
    if !info.contains_key("keyboard_name") {
        info.insert("keyboard_name".into(), Value::from(name));
    }
    let aliases = aliases.iter().map(|(alias, target)| (alias.as_str().into(), Value::from(target.as_str())));
    info.insert("layout_aliases".into(), Value::Object(aliases.collect()));
    if !info.contains_key("matrix_size")
        && let Some(size) = matrix_size_from_pins(info)
    {
        let size = [("cols", size.cols), ("rows", size.rows)];
        let size = size.into_iter().map(|(k, v)| (k.into(), Value::Number(v.into())));
        info.insert("matrix_size".into(), Value::Object(size.collect()));
    }
}

/// The matrix size implied by the pins: one column per column pin and one row per
/// row pin (or the shape of a direct-pin grid), rows doubled for a split keyboard.
fn matrix_size_from_pins(info: &Object) -> Option<MatrixSize> {
    let pins = info.get("matrix_pins")?;
    let count = |key| pins.get(key).and_then(Value::as_array).map(|list| list.len() as u64);
    let mut size = match pins.get("direct").and_then(Value::as_array) {
        Some(grid) => MatrixSize {
            rows: grid.len() as u64,
            cols: grid.first().and_then(Value::as_array).map_or(0, |row| row.len() as u64),
        },
        None => MatrixSize { rows: count("rows")?, cols: count("cols")? },
    };
    let split = info.get("split").and_then(|s| s.get("enabled")).is_some_and(|e| *e == Value::Bool(true));
    if split {
        size.rows *= 2;
    }
    Some(size)
}

fn read_aliases(tree: &DataTree) -> Result<BTreeMap<String, String>, KeyboardError> {
    let path = Path::new(ALIASES_PATH);
    if !tree.exists(path) {
        return Ok(BTreeMap::new());
    }
    let shown = tree.display(path);
    let bytes = tree.read(path).map_err(|source| KeyboardError::Io { path: shown.clone(), source })?;
    let invalid = |d: Diagnostic| {
        let mut diagnostics = Diagnostics::default();
        diagnostics.push(d.in_file(shown.clone()));
        KeyboardError::Invalid(diagnostics)
    };
    let value = hjson::parse(&String::from_utf8_lossy(&bytes))
        .map_err(|e| invalid(Diagnostic::error(e.message).at_line(e.line).at_column(e.column)))?;
    let Value::Object(entries) = value else {
        return Err(invalid(Diagnostic::error("keyboard aliases must be an object")));
    };
    let mut aliases = BTreeMap::new();
    for (alias, entry) in entries {
        let Some(target) = entry.get("target").and_then(Value::as_str) else {
            return Err(invalid(Diagnostic::error("an alias needs a `target` string").at_key(alias.to_string())));
        };
        aliases.insert(alias.to_string(), target.to_owned());
    }
    Ok(aliases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inherits_from_at_most_five_folders_above() {
        let chain = inheritance("clueboard/66/rev2");
        let shown: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            shown,
            [
                "keyboards/clueboard/66/rev2/info.json",
                "keyboards/clueboard/66/rev2/keyboard.json",
                "keyboards/clueboard/66/info.json",
                "keyboards/clueboard/66/keyboard.json",
                "keyboards/clueboard/info.json",
                "keyboards/clueboard/keyboard.json",
            ]
        );
        assert_eq!(inheritance("a/b/c/d/e/f/g").len(), 12);
    }

    #[test]
    fn matrix_size_counts_pins_and_doubles_split_rows() {
        let info = |json| Value::from(json).as_object().unwrap().clone();
        let plain = info(serde_json::json!({"matrix_pins": {"cols": ["A", "B", "C"], "rows": ["D", "E"]}}));
        assert_eq!(matrix_size_from_pins(&plain), Some(MatrixSize { rows: 2, cols: 3 }));
        let split = info(serde_json::json!({"matrix_pins": {"direct": [["A", "B"]]}, "split": {"enabled": true}}));
        assert_eq!(matrix_size_from_pins(&split), Some(MatrixSize { rows: 2, cols: 2 }));
        assert_eq!(matrix_size_from_pins(&info(serde_json::json!({}))), None);
    }
}
