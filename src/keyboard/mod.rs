//! Keyboards: every build target under `keyboards/` (a folder with a `keyboard.json`),
//! its definition merged from the top folder down, its layouts, and the aliases of
//! keyboards that moved.

mod checks;
mod convert;
pub mod custom_keycodes;
mod dotted;
mod info;
mod keymaps;
mod layout;
pub mod mappings;
mod name;
mod pyrepr;
pub mod rules_mk;
mod settings;
mod sources;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use crate::diagnostic::{Diagnostic, Diagnostics, suggest};
use crate::schema::SchemaError;
use crate::source::DataTree;
use crate::spec::{self, Object, Str, Value, hjson};

pub use keymaps::{JsonKeymap, KEYMAP_JSON, KEYMAPS_DIR};
pub use layout::{Key, Layout};
pub use mappings::{Mappings, QmkConstants};
pub use name::is_valid_name;
pub use settings::{Modules, Settings};
pub use sources::{COMMUNITY_LAYOUTS_DIR, COMMUNITY_LAYOUTS_FACTS, community_layouts, reduce_settings};

pub const KEYBOARDS_DIR: &str = "keyboards";
pub const ALIASES_PATH: &str = "data/mappings/keyboard_aliases.hjson";
/// The file that makes a folder a build target.
pub const TARGET_FILE: &str = "keyboard.json";
pub const INFO_FILE: &str = "info.json";
pub const README_FILE: &str = "readme.md";
/// How many folders above a target may hold definitions it inherits.
const MAX_PARENTS: usize = 5;

/// One build target.
#[derive(Debug, Clone)]
pub struct Keyboard {
    /// Its folder under `keyboards/`, e.g. `clueboard/66/rev2`.
    pub name: String,
    /// Its info as QMK's `info_json` builds it, `keymaps` filled in as QMK's API
    /// does; the layouts are kept once, in `layouts`, and the `layouts` member
    /// here only holds their place (see [`Keyboard::published_info`]).
    pub info: Object,
    pub layouts: Vec<(String, Layout)>,
    /// Other names for layouts (`LAYOUT` → `LAYOUT_all`).
    pub layout_aliases: BTreeMap<String, String>,
    /// Problems reading its files that QMK would stop at; the keyboard is still usable.
    pub diagnostics: Vec<Diagnostic>,
    /// The readme QMK's API publishes for it: its folder's or the nearest above.
    pub readme: Option<PathBuf>,
    /// Its JSON keymaps, as listed under `keymaps`.
    pub keymaps: Vec<JsonKeymap>,
}

/// Rows and columns of the switch matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixSize {
    pub rows: u64,
    pub cols: u64,
}

impl Keyboard {
    /// The info as QMK publishes it, layouts included.
    pub fn published_info(&self) -> Object {
        let mut info = self.info.clone();
        let layouts = self.layouts.iter().map(|(name, layout)| (name.as_str().into(), layout.to_value()));
        info.insert(info::LAYOUTS.into(), Value::Object(layouts.collect()));
        info
    }

    /// The info as QMK publishes it, serialized straight from the compact layouts.
    pub fn published(&self) -> PublishedInfo<'_> {
        PublishedInfo(self)
    }

    /// The `parse_errors` and `parse_warnings` QMK's checks found.
    pub fn findings(&self) -> (Vec<&str>, Vec<&str>) {
        let list = |key| {
            self.info.get(key).and_then(Value::as_array).unwrap_or_default().iter().filter_map(Value::as_str).collect()
        };
        (list("parse_errors"), list("parse_warnings"))
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
        let count = |key| size.get(key).and_then(Value::as_number).and_then(serde_json::Number::as_u64);
        Some(MatrixSize { rows: count("rows")?, cols: count("cols")? })
    }

    /// Keycodes the keyboard declares for its keymaps (`keycodes: [{key: ...}]`).
    pub fn custom_keycodes(&self) -> Vec<String> {
        declared_keycodes(self.info.get("keycodes"))
    }
}

/// Names (keys and aliases) of a `keycodes` declaration list.
pub fn declared_keycodes(declaration: Option<&Value>) -> Vec<String> {
    let Some(items) = declaration.and_then(Value::as_array) else { return Vec::new() };
    items.iter().flat_map(|item| spec::entry_names(item).map(str::to_owned)).collect()
}

/// Every keyboard of a tree, and the aliases of moved ones.
#[derive(Debug, Clone)]
pub struct Keyboards {
    targets: BTreeMap<String, Keyboard>,
    aliases: BTreeMap<String, String>,
    /// The keycodes each keyboard defines in C, read when first needed.
    custom_keycodes: custom_keycodes::CustomKeycodes,
    /// The aliases file as read, in its order, as QMK's API publishes it.
    alias_definitions: Object,
    /// Keyboards left out because a file they are built from cannot be read: name → that
    /// file, relative to the tree (as an API client may be told it).
    left_out: BTreeMap<String, String>,
    /// One error per file below `keyboards/` that cannot be read, naming it, why, and the
    /// keyboards left out for it.
    problems: Diagnostics,
    /// What the tree says settings are, for keymaps that set some.
    settings: Arc<Settings>,
}

/// No keyboards, with the bundled settings.
impl Default for Keyboards {
    fn default() -> Self {
        Keyboards {
            targets: BTreeMap::new(),
            aliases: BTreeMap::new(),
            custom_keycodes: custom_keycodes::CustomKeycodes::default(),
            alias_definitions: Object::new(),
            left_out: BTreeMap::new(),
            problems: Diagnostics::default(),
            settings: Settings::bundled(),
        }
    }
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
    #[error("keyboard `{name}` is left out: its file {file} cannot be read")]
    LeftOut { name: String, file: String },
    #[error("{0}")]
    Schema(#[from] SchemaError),
}

impl From<mappings::MappingError> for KeyboardError {
    fn from(error: mappings::MappingError) -> Self {
        match error {
            mappings::MappingError::Io { path, source } => KeyboardError::Io { path, source },
            mappings::MappingError::Invalid(d) => KeyboardError::Invalid(d),
        }
    }
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
    pub fn c_keycodes(&self, keyboard: &Keyboard) -> std::sync::Arc<custom_keycodes::KeyboardFacts> {
        self.custom_keycodes.facts(keyboard)
    }

    /// What the tree says a keyboard's settings are: its schemas, where QMK writes
    /// each setting, and its community modules.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The aliases file's entries (`{"target": ...}`) in the file's order.
    pub fn alias_definitions(&self) -> &Object {
        &self.alias_definitions
    }

    /// The files below `keyboards/` that could not be read: one error each, naming the
    /// file, why, and the keyboards left out for it. Empty when every file was read.
    pub fn problems(&self) -> &Diagnostics {
        &self.problems
    }

    /// The keyboards left out, each with the file (relative to the tree) it could not be built from.
    pub fn left_out(&self) -> &BTreeMap<String, String> {
        &self.left_out
    }

    /// The keyboard `name` may have meant: the closest keyboard name, or the keyboards
    /// inside the closest folder that holds keyboards (`feris`, `ferris` → `ferris/0_1`).
    fn closest(&self, name: &str) -> Option<String> {
        let folders = self.targets.keys().flat_map(|keyboard| {
            keyboard
                .match_indices('/')
                .map(|(at, _)| &keyboard[..at])
                .filter(|folder| !self.targets.contains_key(*folder))
        });
        let mut candidates: Vec<&str> = self.targets.keys().map(String::as_str).chain(folders).collect();
        candidates.sort_unstable();
        candidates.dedup();
        let closest = if candidates.binary_search(&name).is_ok() {
            name.to_owned()
        } else {
            suggest(name, candidates.into_iter())?
        };
        if self.targets.contains_key(&closest) {
            return Some(closest);
        }
        let inside = format!("{closest}/");
        let mut keyboards: Vec<&str> =
            self.targets.keys().map(String::as_str).filter(|k| k.starts_with(&inside)).collect();
        keyboards.sort_unstable();
        let more = keyboards.len().saturating_sub(3);
        keyboards.truncate(3);
        let listed = keyboards.join("`, `");
        Some(if more > 0 { format!("{listed}` or {more} more in `{closest}") } else { listed })
    }

    /// The keyboards in the folder `name` and below it, sorted: `name` itself when it is
    /// one (after aliases), else those below it.
    pub fn at_or_below(&self, name: &str) -> Vec<&Keyboard> {
        if let Ok(keyboard) = self.resolve(name) {
            return vec![keyboard];
        }
        let prefix = format!("{name}/");
        self.targets.iter().filter(|(target, _)| target.starts_with(&prefix)).map(|(_, keyboard)| keyboard).collect()
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
            if let Some(file) = self.left_out.get(current) {
                return Err(KeyboardError::LeftOut { name: current.to_owned(), file: file.clone() });
            }
            match self.aliases.get(current) {
                Some(target) => current = target,
                None => return Err(KeyboardError::Unknown { name: name.to_owned(), suggestion: self.closest(name) }),
            }
        }
        Err(KeyboardError::AliasCycle(name.to_owned()))
    }
}

/// Loads every keyboard of `tree` and the keyboard aliases.
///
/// A file below `keyboards/` that cannot be read (see [`sources`]) leaves out the
/// keyboards built from it (from a folder of theirs, or their readme or JSON keymaps),
/// as QMK reports a keyboard it cannot parse and goes on: the others load, and
/// [`Keyboards::problems`] names each such file.
pub fn load(tree: &DataTree) -> Result<Keyboards, KeyboardError> {
    load_from(tree, &[PathBuf::from(KEYBOARDS_DIR)], read_aliases(tree)?)
}

/// Loads what keymaps of the keyboards `names` need: the keyboards of their top folders
/// (`keyboards/<first part>`, aliases followed) and the aliases, a small part of the
/// tree. `None` when one of them is not a keyboard there: [`load`] then tells why, with
/// the names it might have meant.
pub fn load_for(tree: &DataTree, names: &[&str]) -> Result<Option<Keyboards>, KeyboardError> {
    let alias_definitions = read_aliases(tree)?;
    let target = |name: &str| {
        let mut current = name.to_owned();
        for _ in 0..=alias_definitions.len() {
            match alias_definitions.get(current.as_str()).and_then(|entry| entry.get("target")?.as_str()) {
                Some(next) => current = next.to_owned(),
                None => break,
            }
        }
        current
    };
    let targets: Vec<String> = names.iter().map(|name| target(name)).collect();
    if names.is_empty() || !targets.iter().all(|name| is_valid_name(name)) {
        return Ok(None);
    }
    let mut folders: Vec<PathBuf> = targets
        .iter()
        .filter_map(|name| name.split('/').next())
        .map(|top| Path::new(KEYBOARDS_DIR).join(top))
        .collect();
    folders.sort();
    folders.dedup();
    // What cannot be loaded so is left to the whole load, which names it in its place.
    let Ok(keyboards) = load_from(tree, &folders, alias_definitions) else { return Ok(None) };
    Ok(targets.iter().all(|name| keyboards.targets.contains_key(name)).then_some(keyboards))
}

/// Loads the keyboards of the top folder of `name` (`planck` for `planck/rev6`),
/// whether `name` itself is a keyboard or a folder of several, as `keyboards/planck`
/// is (its `keymaps/` serve every keyboard below it).
pub fn load_top_folder(tree: &DataTree, name: &str) -> Result<Keyboards, KeyboardError> {
    if !is_valid_name(name) {
        return Err(KeyboardError::BadName(name.to_owned()));
    }
    let top = name.split('/').next().unwrap_or(name);
    load_from(tree, &[Path::new(KEYBOARDS_DIR).join(top)], read_aliases(tree)?)
}

/// Loads the keyboards below `folders` of `keyboards/`.
fn load_from(tree: &DataTree, folders: &[PathBuf], alias_definitions: Object) -> Result<Keyboards, KeyboardError> {
    let mappings = Mappings::load(tree)?;
    let settings = Arc::new(Settings::with_mappings(tree, &mappings)?);
    let sources = sources::Sources::read(tree, mappings, folders)
        .map_err(|source| KeyboardError::Io { path: tree.display(Path::new(KEYBOARDS_DIR)), source })?;
    let keymaps = keymaps::KeymapIndex::new(sources.files(), |p| sources.exists(p));
    let mut left_out = BTreeMap::new();
    let mut left_out_for: BTreeMap<&Path, Vec<&str>> = BTreeMap::new();
    let names = sources.targets();
    let mut misnamed = Vec::new();
    let usable: Vec<&String> = names
        .iter()
        .filter(|name| {
            // A folder name QMK's tree would not have (`A b`, a line break, an escape
            // sequence) would become a file name and a page of the site: left out.
            if !is_valid_name(name) {
                let file = Path::new(KEYBOARDS_DIR).join(name.as_str()).join(TARGET_FILE);
                left_out.insert((*name).clone(), file.display().to_string());
                misnamed.push(file);
                return false;
            }
            let unreadable = unreadable_files(&sources, &keymaps, name);
            for file in &unreadable {
                left_out.entry((*name).clone()).or_insert_with(|| file.display().to_string());
                left_out_for.entry(file).or_default().push(name.as_str());
            }
            unreadable.is_empty()
        })
        .collect();
    let targets: BTreeMap<String, Keyboard> = usable
        .into_par_iter()
        .map(|name| {
            let keyboard = build_keyboard(&sources, &keymaps, name);
            (name.clone(), keyboard)
        })
        .collect();
    let mut problems = Diagnostics::default();
    for (file, why) in sources.problems() {
        let message = match left_out_for.get(file.as_path()).map(Vec::as_slice) {
            None | Some([]) => format!("{why}: no keyboard is built from it"),
            Some([one]) => format!("{why}: keyboard `{one}` is left out"),
            Some(many) if many.len() <= 5 => format!("{why}: keyboards `{}` are left out", many.join("`, `")),
            Some(many) => {
                format!("{why}: keyboards `{}` and {} more are left out", many[..5].join("`, `"), many.len() - 5)
            }
        };
        problems.push(Diagnostic::error(message).in_file(tree.display(file)));
    }
    for file in misnamed {
        let message = "its folder's name is not a keyboard name (a-z, 0-9, `_` and `-`, parts joined by `/`): \
                       the keyboard is left out";
        problems.push(Diagnostic::error(message).in_file(tree.display(&file)));
    }
    let aliases = alias_definitions
        .iter()
        .filter_map(|(alias, entry)| Some((alias.to_owned(), entry.get("target")?.as_str()?.to_owned())))
        .collect();
    let custom_keycodes = custom_keycodes::CustomKeycodes::new(tree.clone());
    Ok(Keyboards { targets, aliases, custom_keycodes, alias_definitions, left_out, problems, settings })
}

/// The files a keyboard is built from that cannot be read: files in its folders, its
/// readme, its JSON keymaps. (A link to a folder out of the tree leaves nothing out:
/// nothing in it is read.)
fn unreadable_files<'s>(sources: &'s sources::Sources, keymaps: &keymaps::KeymapIndex, name: &str) -> Vec<&'s Path> {
    let problems = sources.problems();
    if problems.is_empty() {
        return Vec::new();
    }
    let folders = folders(name);
    let keymaps = keymaps.for_keyboard(name);
    let readme = find_readme(sources, name);
    // A readme and a JSON keymap count where the keyboard takes them; any other file
    // where it lies in one of its folders (the builder reads them all).
    let used = |file: &&Path| {
        if sources.is_refused_folder(file) {
            false
        } else if file.file_name().is_some_and(|n| n == README_FILE) {
            readme.as_deref() == Some(*file)
        } else if file.components().any(|c| c.as_os_str() == KEYMAPS_DIR) {
            keymaps.iter().any(|keymap| Path::new(&keymap.path) == *file)
        } else {
            file.parent().is_some_and(|folder| folders.iter().any(|f| f == folder))
        }
    };
    problems.keys().map(PathBuf::as_path).filter(used).collect()
}

fn build_keyboard(sources: &sources::Sources, keymaps: &keymaps::KeymapIndex, name: &str) -> Keyboard {
    let info::Built { mut info, layouts, diagnostics } = info::build(sources, name);
    let keymaps = keymaps.for_keyboard(name);
    let listed = keymaps.iter().map(|keymap| {
        let entry = [("url", keymap.url()), ("path", keymap.path.clone())];
        let entry = entry.into_iter().map(|(k, v)| (Str::from(k), Value::from(v.as_str())));
        (Str::from(keymap.name.as_str()), Value::Object(entry.collect()))
    });
    info.insert("keymaps".into(), Value::Object(listed.collect()));
    let layout_aliases = info
        .get("layout_aliases")
        .and_then(Value::as_object)
        .map(|aliases| aliases.iter().filter_map(|(a, t)| Some((a.to_owned(), t.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    let readme = find_readme(sources, name);
    Keyboard { name: name.to_owned(), info, layouts, layout_aliases, diagnostics, readme, keymaps }
}

/// The folders of a keyboard, its own first: `keyboards/a/b`, `keyboards/a`.
fn folders(name: &str) -> Vec<PathBuf> {
    let top = Path::new(KEYBOARDS_DIR);
    top.join(name).ancestors().take_while(|folder| *folder != top).map(Path::to_path_buf).collect()
}

/// The keyboard's own readme, else the nearest in a folder above (up to `keyboards/` itself).
fn find_readme(sources: &sources::Sources, name: &str) -> Option<PathBuf> {
    let own = Path::new(KEYBOARDS_DIR).join(name);
    own.ancestors()
        .take_while(|folder| folder.starts_with(KEYBOARDS_DIR))
        .map(|folder| folder.join(README_FILE))
        .find(|readme| sources.exists(readme))
}

/// [`Keyboard::published_info`] without building it: serializes the info with
/// the layouts in their place.
pub struct PublishedInfo<'k>(&'k Keyboard);

impl serde::Serialize for PublishedInfo<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let keyboard = self.0;
        let mut map = serializer.serialize_map(Some(keyboard.info.len()))?;
        for (key, value) in keyboard.info.iter() {
            if key == info::LAYOUTS {
                map.serialize_entry(key, &LayoutsView(&keyboard.layouts))?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

struct LayoutsView<'k>(&'k [(String, Layout)]);

impl serde::Serialize for LayoutsView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, layout) in self.0 {
            map.serialize_entry(name, layout)?;
        }
        map.end()
    }
}

/// The aliases file, each entry checked to name its `target`.
fn read_aliases(tree: &DataTree) -> Result<Object, KeyboardError> {
    let path = Path::new(ALIASES_PATH);
    if !tree.exists(path) {
        return Ok(Object::new());
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
    if let Some((alias, _)) = entries.iter().find(|(_, entry)| entry.get("target").and_then(Value::as_str).is_none()) {
        return Err(invalid(Diagnostic::error("an alias needs a `target` string").at_key(alias.to_owned())));
    }
    Ok(entries)
}
