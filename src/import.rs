//! `qmk-api import`: the bundled `data/` is written from a QMK tree by this code,
//! never copied by hand. Files keep QMK's names and layout; their content is
//! normalized (comments and formatting dropped, order kept) and checked on the way.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::keyboard::custom_keycodes::{self, FACTS_FILE};
use crate::keyboard::{ALIASES_PATH, KEYBOARDS_DIR, is_valid_name};
use crate::keymap::{SendStringKeys, headers};
use crate::output::Staging;
use crate::publish::LOCK_PATH;
use crate::source::DataTree;
use crate::spec::{self, CONSTANTS_DIR, hjson};

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
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
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

/// A file to write: its path in the tree, and its normalized text.
type Normalized = (PathBuf, Vec<u8>);

/// Replaces `data_dir`'s `constants/`, `keyboards/` and `mappings/` with the
/// normalized files of `from`: every spec file, the definitions of `keyboards`
/// (their own folders and the folders above them) and the keyboard aliases.
/// The destination's lock file is kept. Nothing is written unless every file parses.
pub fn import(from: &DataTree, data_dir: &Path, keyboards: &[&str]) -> Result<Imported, ImportError> {
    let mut diagnostics = Diagnostics::default();
    let specs = spec::discover(from, &mut diagnostics).map_err(read_failed(from, Path::new(CONSTANTS_DIR)))?;
    if specs.is_empty() && diagnostics.is_empty() {
        return Err(ImportError::Empty(from.display(Path::new(CONSTANTS_DIR))));
    }
    let spec_files = normalize(from, specs.into_iter().map(|s| s.path), &mut diagnostics)?;
    let mut keyboard_files = normalize(from, definition_files(from, keyboards)?.into_iter(), &mut diagnostics)?;
    let mut keyboard_definitions = 0;
    for keyboard in keyboards {
        let facts = custom_keycodes::scan(from, keyboard);
        if !facts.definitions.is_empty() || !facts.unseen.is_empty() {
            keyboard_definitions += facts.definitions.len();
            keyboard_files.push((Path::new(KEYBOARDS_DIR).join(keyboard).join(FACTS_FILE), pretty(&facts)));
        }
    }
    let header_facts = headers::scan(from);
    let aliases = normalize(from, [PathBuf::from(ALIASES_PATH)].into_iter(), &mut diagnostics)?;
    if diagnostics.has_errors() {
        return Err(ImportError::Invalid(diagnostics));
    }

    let mut constants = spec_files.clone();
    let lock = data_dir.join(Path::new(LOCK_PATH).strip_prefix("data").unwrap_or(Path::new(LOCK_PATH)));
    if lock.exists() {
        let bytes = crate::source::read_input(&lock).map_err(write_failed(&lock))?;
        constants.push((PathBuf::from(LOCK_PATH), bytes));
    }
    replace(data_dir, "constants", Path::new(CONSTANTS_DIR), &constants)?;
    replace(data_dir, "keyboards", Path::new(KEYBOARDS_DIR), &keyboard_files)?;
    replace(data_dir, "mappings", Path::new("data/mappings"), &aliases)?;
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

/// The `keyboard.json` and `info.json` files that define `keyboards`.
fn definition_files(from: &DataTree, keyboards: &[&str]) -> Result<Vec<PathBuf>, ImportError> {
    let mut files = Vec::new();
    for keyboard in keyboards {
        let target = Path::new(KEYBOARDS_DIR).join(keyboard);
        if !is_valid_name(keyboard) || !from.exists(&target.join("keyboard.json")) {
            return Err(ImportError::UnknownKeyboard((*keyboard).to_owned()));
        }
        for folder in target.ancestors().take_while(|f| *f != Path::new(KEYBOARDS_DIR)) {
            for name in ["keyboard.json", "info.json"] {
                let file = folder.join(name);
                if from.exists(&file) && !files.contains(&file) {
                    files.push(file);
                }
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Parses each file strictly and writes it back as plain JSON, order kept.
fn normalize(
    from: &DataTree,
    paths: impl Iterator<Item = PathBuf>,
    diagnostics: &mut Diagnostics,
) -> Result<Vec<Normalized>, ImportError> {
    let mut normalized = Vec::new();
    for path in paths {
        let bytes = from.read(&path).map_err(read_failed(from, &path))?;
        match hjson::parse(&String::from_utf8_lossy(&bytes)) {
            Ok(value) => {
                let mut text = serde_json::to_vec_pretty(&value).expect("a JSON value serializes");
                text.push(b'\n');
                normalized.push((path, text));
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
