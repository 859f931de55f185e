//! `qmk-api import`: the bundled `data/` is written from a QMK tree by this code,
//! never copied by hand, and holds facts only, no QMK code, comments or prose.
//! Files keep QMK's names and layout; JSON and hjson content is normalized
//! (comments and formatting dropped, order kept) and checked on the way; a
//! keyboard's `config.h` and `rules.mk` are reduced to their defines and
//! assignments (and the conditionals around them); readmes are left out, and the
//! community layouts are recorded by name.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::keyboard::custom_keycodes::{self, FACTS_FILE};
use crate::keyboard::mappings::{BUNDLED_CONSTANTS_PATH, MappingError, QmkConstants};
use crate::keyboard::{
    COMMUNITY_LAYOUTS_DIR, COMMUNITY_LAYOUTS_FACTS, INFO_FILE, KEYBOARDS_DIR, KEYMAP_JSON, KEYMAPS_DIR, TARGET_FILE,
    community_layouts, is_valid_name, reduce_settings,
};
use crate::keymap::{SendStringKeys, headers};
use crate::output::Staging;
use crate::publish::LOCK_PATH;
use crate::source::DataTree;
use crate::spec::{self, CONSTANTS_DIR, Value, hjson};

/// The keyboards bundled by default: the API documents' example and popular boards.
pub const DEFAULT_KEYBOARDS: &[&str] = &[
    "clueboard/66/rev2",
    "crkbd/rev1",
    "dz60",
    "ferris/0_1",
    "lily58/rev1",
    "planck/rev6",
    "preonic/rev3",
    "sofle/rev1",
    "splitkb/kyria/rev3",
    "zsa/moonlander",
];

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("no spec files under {0}")]
    Empty(String),
    #[error("no keyboard `{0}` in the tree (a folder under keyboards/ with a keyboard.json)")]
    UnknownKeyboard(String),
    #[error(
        "keyboard `{keyboard}` takes its layouts or LED table from C source ({file}), which is not bundled: \
         use it from the tree (--qmk-home)"
    )]
    NeedsCSource { keyboard: String, file: String },
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
    #[error("{0}")]
    Keyboards(#[from] crate::keyboard::KeyboardError),
}

/// What an import wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imported {
    pub spec_files: usize,
    pub keyboard_files: usize,
    /// Definitions read from QMK's keycode headers (none from a tree without them).
    pub header_definitions: usize,
    /// Definitions read from the chosen keyboards' own headers.
    pub keyboard_definitions: usize,
}

/// QMK's data files bundled whole, as `(folder, extension)` under `data/`:
/// the mapping files info.json is built with, and the schemas QMK's API publishes.
const DATA_FOLDERS: [(&str, &str); 2] = [("mappings", "hjson"), ("schemas", "jsonschema")];

/// A file to write: its path in the tree, and its normalized text.
type Normalized = (PathBuf, Vec<u8>);

/// Replaces `data_dir`'s `constants/`, `keyboards/`, `mappings/`, `schemas/` and
/// `keyboard/` with what `from` has: every spec file; the files `keyboards` are
/// built from (their own folders and the folders above them) and their JSON
/// keymaps; QMK's mapping files and schemas; and the facts QMK keeps in its Python
/// constants (the bundled ones from a tree without them) and its `layouts/` folder
/// (the community layouts' names). The
/// destination's lock file is kept. Nothing is written unless every file parses.
pub fn import(from: &DataTree, data_dir: &Path, keyboards: &[&str]) -> Result<Imported, ImportError> {
    let mut diagnostics = Diagnostics::default();
    let specs = spec::discover(from, &mut diagnostics).map_err(read_failed(from, Path::new(CONSTANTS_DIR)))?;
    if specs.is_empty() && diagnostics.is_empty() {
        return Err(ImportError::Empty(from.display(Path::new(CONSTANTS_DIR))));
    }
    let spec_files = normalize(from, specs.into_iter().map(|s| s.path), &mut diagnostics)?;
    let sources = keyboard_sources(from, keyboards)?;
    let mut keyboard_files = normalize(from, sources.definitions.into_iter(), &mut diagnostics)?;
    keyboard_files.extend(reduce(from, sources.settings, &mut diagnostics)?);
    let mut keyboard_definitions = 0;
    // Which headers a keyboard sees depends on its processor and features: its info.
    let loaded = crate::keyboard::load(from)?;
    for keyboard in keyboards {
        let keyboard = loaded.resolve(keyboard)?;
        let processor = keyboard.info.get("processor").and_then(Value::as_str).unwrap_or_default();
        let facts = custom_keycodes::scan(from, keyboard, &custom_keycodes::platform_header(from, processor));
        if let Some((path, why)) = facts.unreadable.first() {
            return Err(ImportError::Read { path: path.clone(), source: std::io::Error::other(why.clone()) });
        }
        if !facts.definitions.is_empty() || !facts.unseen.is_empty() {
            keyboard_definitions += facts.definitions.len();
            keyboard_files.push((Path::new(KEYBOARDS_DIR).join(&keyboard.name).join(FACTS_FILE), pretty(&facts)));
        }
    }
    let header_facts = headers::scan(from).map_err(|(path, source)| ImportError::Read { path, source })?;
    let mut data_files = Vec::new();
    for (folder, extension) in DATA_FOLDERS {
        let folder = Path::new("data").join(folder);
        let files = from.files_below(&folder).map_err(read_failed(from, &folder))?;
        let files = files.into_iter().filter(|f| f.extension().is_some_and(|e| e == extension));
        data_files.push(normalize(from, files, &mut diagnostics)?);
    }
    if diagnostics.has_errors() {
        return Err(ImportError::Invalid(diagnostics));
    }
    // A data-only tree has no Python: the facts already bundled are kept.
    let facts = QmkConstants::load(from).map_err(|error| match error {
        MappingError::Io { path, source } => ImportError::Read { path, source },
        MappingError::Invalid(diagnostics) => ImportError::Invalid(diagnostics),
    })?;
    let layouts = community_layouts(from).map_err(read_failed(from, Path::new(COMMUNITY_LAYOUTS_DIR)))?;

    let mut constants = spec_files.clone();
    let lock = data_dir.join(Path::new(LOCK_PATH).strip_prefix("data").unwrap_or(Path::new(LOCK_PATH)));
    if lock.exists() {
        let bytes = crate::source::read_input(&lock).map_err(write_failed(&lock))?;
        constants.push((PathBuf::from(LOCK_PATH), bytes));
    }
    replace(data_dir, "constants", Path::new(CONSTANTS_DIR), &constants)?;
    replace(data_dir, "keyboards", Path::new(KEYBOARDS_DIR), &keyboard_files)?;
    let [mappings, schemas] = <[_; 2]>::try_from(data_files).expect("one list per data folder");
    replace(data_dir, "mappings", Path::new("data/mappings"), &mappings)?;
    replace(data_dir, "schemas", Path::new("data/schemas"), &schemas)?;
    let facts = [
        (PathBuf::from(BUNDLED_CONSTANTS_PATH), pretty(&facts)),
        (PathBuf::from(COMMUNITY_LAYOUTS_FACTS), pretty(&layouts)),
    ];
    replace(data_dir, "keyboard", Path::new("data/keyboard"), &facts)?;
    import_send_string_keys(from, data_dir)?;
    let header_definitions = header_facts.as_ref().map_or(0, |f| f.definitions.len());
    if let Some(facts) = header_facts {
        let inside = Path::new(headers::FACTS_PATH).strip_prefix("data").expect("the facts live under data/");
        write_file(&data_dir.join(inside), &pretty(&facts))?;
    }
    Ok(Imported {
        spec_files: spec_files.len(),
        keyboard_files: keyboard_files.len(),
        header_definitions,
        keyboard_definitions,
    })
}

/// The key names of macro steps, from QMK's send-string header; a tree without the
/// header (a data-only tree) leaves the destination's as they are.
fn import_send_string_keys(from: &DataTree, data_dir: &Path) -> Result<(), ImportError> {
    let header = Path::new(SendStringKeys::HEADER_PATH);
    if !from.exists(header) {
        return Ok(());
    }
    let text = from.read(header).map_err(read_failed(from, header))?;
    let keys = SendStringKeys::from_header(&String::from_utf8_lossy(&text));
    if keys.is_empty() {
        let mut diagnostics = Diagnostics::default();
        diagnostics.push(Diagnostic::error("no `#define X_<name>` in the header").in_file(from.display(header)));
        return Err(ImportError::Invalid(diagnostics));
    }
    let target = data_dir.join(Path::new(SendStringKeys::FACTS_PATH).strip_prefix("data").unwrap_or(header));
    write_file(&target, &pretty(&keys))
}

/// The files a set of keyboards is built from, by how they are bundled.
#[derive(Debug, Default)]
struct KeyboardSources {
    /// JSON and hjson: definitions, JSON keymaps.
    definitions: Vec<PathBuf>,
    /// `config.h` and `rules.mk`, bundled reduced.
    settings: Vec<PathBuf>,
}

fn keyboard_sources(from: &DataTree, keyboards: &[&str]) -> Result<KeyboardSources, ImportError> {
    let mut sources = KeyboardSources::default();
    let add = |list: &mut Vec<PathBuf>, file: PathBuf| {
        if from.exists(&file) && !list.contains(&file) {
            list.push(file);
        }
    };
    for keyboard in keyboards {
        let target = Path::new(KEYBOARDS_DIR).join(keyboard);
        if !is_valid_name(keyboard) || !from.exists(&target.join(TARGET_FILE)) {
            return Err(ImportError::UnknownKeyboard((*keyboard).to_owned()));
        }
        let folders: Vec<&Path> = target.ancestors().take_while(|f| *f != Path::new(KEYBOARDS_DIR)).collect();
        for folder in &folders {
            for name in [TARGET_FILE, INFO_FILE] {
                add(&mut sources.definitions, folder.join(name));
            }
            for name in ["config.h", "rules.mk"] {
                add(&mut sources.settings, folder.join(name));
            }
            let own = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            for (extension, marker) in [("h", "LAYOUT"), ("c", "g_led_config")] {
                let file = folder.join(format!("{own}.{extension}"));
                if mentions(from, &file, marker)? {
                    return Err(ImportError::NeedsCSource {
                        keyboard: (*keyboard).to_owned(),
                        file: from.display(&file),
                    });
                }
            }
            let keymaps = folder.join(KEYMAPS_DIR);
            for keymap in from.list(&keymaps).map_err(read_failed(from, &keymaps))? {
                let keymap = folder.join(KEYMAPS_DIR).join(&keymap.name);
                if !from.exists(&keymap.join("keymap.c")) {
                    add(&mut sources.definitions, keymap.join(KEYMAP_JSON));
                }
            }
        }
    }
    sources.definitions.sort();
    sources.settings.sort();
    Ok(sources)
}

/// Whether a file exists and holds `marker`; one that is there but cannot be read is an error.
fn mentions(from: &DataTree, file: &Path, marker: &str) -> Result<bool, ImportError> {
    if !from.exists(file) {
        return Ok(false);
    }
    let bytes = from.read(file).map_err(read_failed(from, file))?;
    Ok(String::from_utf8_lossy(&bytes).contains(marker))
}

/// Each `config.h` and `rules.mk` reduced to what info.json is built from.
fn reduce(from: &DataTree, paths: Vec<PathBuf>, diagnostics: &mut Diagnostics) -> Result<Vec<Normalized>, ImportError> {
    let mut reduced = Vec::new();
    for path in paths {
        let bytes = from.read(&path).map_err(read_failed(from, &path))?;
        match reduce_settings(&path, &String::from_utf8_lossy(&bytes)) {
            Ok(text) => reduced.push((path, text.into_bytes())),
            Err(why) => diagnostics.push(Diagnostic::error(why).in_file(from.display(&path))),
        }
    }
    Ok(reduced)
}

/// Parses each file strictly and writes it back as plain JSON, order kept, its
/// prose left out.
fn normalize(
    from: &DataTree,
    paths: impl Iterator<Item = PathBuf>,
    diagnostics: &mut Diagnostics,
) -> Result<Vec<Normalized>, ImportError> {
    let mut normalized = Vec::new();
    for path in paths {
        let bytes = from.read(&path).map_err(read_failed(from, &path))?;
        match hjson::parse(&String::from_utf8_lossy(&bytes)) {
            Ok(mut value) => {
                drop_prose(&path, &mut value);
                normalized.push((path, pretty(&value)));
            }
            Err(e) => diagnostics
                .push(Diagnostic::error(e.message).in_file(from.display(&path)).at_line(e.line).at_column(e.column)),
        }
    }
    Ok(normalized)
}

fn pretty(value: &impl serde::Serialize) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(value).expect("facts serialize");
    text.push(b'\n');
    text
}

/// Writes one file whole: a temporary file beside it, renamed over it.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ImportError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_failed(dir))?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(write_failed(path))?;
    std::io::Write::write_all(&mut file, bytes).map_err(write_failed(path))?;
    file.persist(path).map_err(|e| e.error).map_err(write_failed(path))?;
    Ok(())
}

/// The annotations of a JSON schema: text for people, no part of what it checks.
const SCHEMA_ANNOTATIONS: [&str; 3] = ["title", "description", "$comment"];
/// The members of a JSON keymap written for people.
const KEYMAP_PROSE: [&str; 2] = ["documentation", "notes"];

/// Leaves out the prose a file carries beside its facts: a schema's annotations,
/// a keymap's notes and documentation.
fn drop_prose(path: &Path, value: &mut Value) {
    if path.extension().is_some_and(|e| e == "jsonschema") {
        drop_schema_annotations(value);
    } else if path.file_name().is_some_and(|n| n == KEYMAP_JSON)
        && let Value::Object(keymap) = value
    {
        keymap.retain(|key, _| !KEYMAP_PROSE.contains(&key));
    }
}

/// Annotations are text; a member of the same name holding a schema (a property
/// called `description`) is kept.
fn drop_schema_annotations(value: &mut Value) {
    match value {
        Value::Object(object) => object.retain(|key, member| {
            let annotation = SCHEMA_ANNOTATIONS.contains(&key) && matches!(member, Value::String(_));
            drop_schema_annotations(member);
            !annotation
        }),
        Value::Array(items) => items.iter_mut().for_each(drop_schema_annotations),
        _ => {}
    }
}

/// Replaces `data_dir/<folder>` with `files`, whose tree paths lie below `prefix`.
fn replace(data_dir: &Path, folder: &str, prefix: &Path, files: &[Normalized]) -> Result<(), ImportError> {
    let target = data_dir.join(folder);
    let staging = Staging::new(&target).map_err(write_failed(&target))?;
    for (path, text) in files {
        let inside = path.strip_prefix(prefix).unwrap_or(path);
        staging.write(inside, text).map_err(write_failed(&target.join(inside)))?;
    }
    staging.commit().map_err(write_failed(&target))?;
    Ok(())
}

fn read_failed(tree: &DataTree, path: &Path) -> impl FnOnce(std::io::Error) -> ImportError {
    let path = tree.display(path);
    move |source| ImportError::Read { path, source }
}

fn write_failed(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError {
    let path = path.display().to_string();
    move |source| ImportError::Write { path, source }
}
