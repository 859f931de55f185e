//! Versioned constants: load every subsystem's spec files, merge each version
//! cumulatively in semver order, and check the result.

mod check;
mod files;
pub mod hjson;
mod merge;
pub mod positions;
pub mod value;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use rayon::prelude::*;
use semver::Version;

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::source::DataTree;
use hjson::KeyIndex;

pub use check::parse_range;
pub use files::{CONSTANTS_DIR, SpecFile, discover};

/// The keycodes of a merged version: each entry with its 16-bit value.
pub fn keycode_entries(content: &Object) -> impl Iterator<Item = (u16, &str, &Value)> {
    let entries = content.get("keycodes").and_then(Value::as_object);
    entries
        .into_iter()
        .flat_map(|e| e.iter())
        .filter_map(|(hex, entry)| Some((u16::from_str_radix(hex.strip_prefix("0x")?, 16).ok()?, hex, entry)))
}

/// The names a keycode entry (or a keycode declaration) gives: its `key`, then its `aliases`.
pub fn entry_names(entry: &Value) -> impl Iterator<Item = &str> {
    let aliases = entry.get("aliases").and_then(Value::as_array).unwrap_or_default();
    entry.get("key").into_iter().chain(aliases).filter_map(Value::as_str)
}

/// Lays `overlay` over `target` as a later definition overrides an earlier one:
/// objects merge key by key, anything else is replaced.
pub fn lay_over(target: &mut Object, overlay: Object) {
    merge::merge(target, overlay, merge::Mode::AcrossFragments);
}
pub use value::{Object, Str, Value};

/// All subsystems of a data tree, sorted by name.
#[derive(Debug, Clone)]
pub struct Constants {
    pub subsystems: Vec<Subsystem>,
}

/// One family of spec files, such as `keycodes` or `keycodes_german`.
#[derive(Debug, Clone)]
pub struct Subsystem {
    pub name: String,
    /// Ascending semver order.
    pub versions: Vec<SpecVersion>,
}

/// One fully merged version, ready to publish.
#[derive(Debug, Clone)]
pub struct SpecVersion {
    pub version: Version,
    pub content: Object,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(Diagnostics),
    #[error("no constants under {0}: expected {CONSTANTS_DIR}/<name>/<name>_<version>.hjson files")]
    Empty(String),
}

impl Constants {
    pub fn subsystem(&self, name: &str) -> Option<&Subsystem> {
        self.subsystems.iter().find(|s| s.name == name)
    }
}

impl Subsystem {
    pub fn version(&self, version: &Version) -> Option<&SpecVersion> {
        self.versions.iter().find(|v| &v.version == version)
    }
}

/// Constants that passed every check, and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    pub constants: Constants,
    pub warnings: Diagnostics,
}

/// A spec file as read: its text is kept to place diagnostics on lines.
struct Document {
    file: SpecFile,
    shown_as: String,
    text: String,
    value: Object,
    /// Built at the first diagnostic placed in this file.
    keys: OnceLock<KeyIndex>,
}

impl Document {
    /// The line of a key path in this file's text.
    fn locate(&self, path: &[&str]) -> Option<usize> {
        self.keys.get_or_init(|| KeyIndex::new(&self.text)).locate(path)
    }
}

/// Loads, merges and checks every subsystem of `tree`.
pub fn load(tree: &DataTree) -> Result<Loaded, SpecError> {
    let mut diagnostics = Diagnostics::default();
    let files = files::discover(tree, &mut diagnostics)
        .map_err(|source| SpecError::Io { path: tree.display(Path::new(CONSTANTS_DIR)), source })?;
    if files.is_empty() && diagnostics.is_empty() {
        return Err(SpecError::Empty(tree.display(Path::new(CONSTANTS_DIR))));
    }
    let read: Vec<_> = files.into_par_iter().map(|file| read(tree, file)).collect::<Result<_, _>>()?;
    let mut families: BTreeMap<String, Vec<Document>> = BTreeMap::new();
    for (document, found) in read {
        diagnostics.extend(found);
        if let Some(document) = document {
            families.entry(document.file.subsystem.clone()).or_default().push(document);
        }
    }
    let merged: Vec<_> = families.into_par_iter().map(|(name, documents)| merge_versions(name, documents)).collect();
    let mut subsystems = Vec::with_capacity(merged.len());
    for (subsystem, found) in merged {
        diagnostics.extend(found);
        subsystems.push(subsystem);
    }
    if diagnostics.has_errors() {
        return Err(SpecError::Invalid(diagnostics));
    }
    Ok(Loaded { constants: Constants { subsystems }, warnings: diagnostics })
}

/// Reads and parses one file; a file that is not a usable document is reported and skipped.
fn read(tree: &DataTree, file: SpecFile) -> Result<(Option<Document>, Diagnostics), SpecError> {
    let shown_as = tree.display(&file.path);
    let bytes = tree.read(&file.path).map_err(|source| SpecError::Io { path: shown_as.clone(), source })?;
    let mut diagnostics = Diagnostics::default();
    let report = |diagnostic: Diagnostic| diagnostic.in_file(shown_as.clone());
    let text = match String::from_utf8(bytes.into_owned()) {
        Ok(text) => text,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let valid = std::str::from_utf8(valid).unwrap_or_default();
            let line = valid.matches('\n').count() + 1;
            let column = valid.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
            let message = "not UTF-8: QMK's spec files are UTF-8 text";
            diagnostics.push(report(Diagnostic::error(message).at_line(Some(line)).at_column(Some(column))));
            return Ok((None, diagnostics));
        }
    };
    let value = match hjson::parse(&text) {
        Ok(Value::Object(value)) => value,
        Ok(other) => {
            let message = format!("a spec file must hold an object, not {}", other.kind());
            diagnostics.push(report(Diagnostic::error(message).at_line(Some(first_value_line(&text)))));
            return Ok((None, diagnostics));
        }
        Err(e) => {
            let line = e.line.or(Some(1));
            diagnostics.push(report(Diagnostic::error(e.message).at_line(line).at_column(e.column)));
            return Ok((None, diagnostics));
        }
    };
    let document = Document { file, shown_as: shown_as.clone(), text, value, keys: OnceLock::new() };
    for (path, diagnostic) in merge::misplaced_directives(&document.value) {
        let segments: Vec<&str> = path.iter().map(String::as_str).collect();
        let line = document.locate(&segments).or(Some(1));
        diagnostics.push(report(diagnostic).at_line(line).at_key(path.join("/")));
    }
    Ok((Some(document), diagnostics))
}

/// The line where a document's value starts, past blank and comment lines.
fn first_value_line(text: &str) -> usize {
    let is_blank = |line: &str| {
        let line = line.trim();
        line.is_empty() || line.starts_with('#') || line.starts_with("//")
    };
    text.lines().position(|line| !is_blank(line)).map_or(1, |index| index + 1)
}

/// Builds every version of one subsystem, each on its own so that they build in parallel.
fn merge_versions(name: String, mut documents: Vec<Document>) -> (Subsystem, Diagnostics) {
    let mut diagnostics = Diagnostics::default();
    documents.sort_by(|a, b| (&a.file.version, &a.file.fragment).cmp(&(&b.file.version, &b.file.fragment)));
    let base_versions: Vec<Version> =
        documents.iter().filter(|d| d.file.fragment.is_none()).map(|d| d.file.version.clone()).collect();
    for orphan in documents.iter().filter(|d| !base_versions.contains(&d.file.version)) {
        diagnostics.push(
            Diagnostic::error(format!(
                "fragment of version {} has no base file {}_{}.hjson beside it",
                orphan.file.version, name, orphan.file.version
            ))
            .in_file(orphan.shown_as.clone())
            .at_line(Some(1)),
        );
    }
    let built: Vec<_> = base_versions
        .into_par_iter()
        .map(|version| {
            let upto = &documents[..documents.partition_point(|d| d.file.version <= version)];
            let content = compose(upto, &version);
            let found = check::check(&content);
            let placed: Vec<Diagnostic> =
                found.into_iter().map(|(path, diagnostic)| place(diagnostic, &path, upto)).collect();
            (SpecVersion { version, content }, placed)
        })
        .collect();
    let mut versions = Vec::with_capacity(built.len());
    for (version, found) in built {
        found.into_iter().for_each(|d| diagnostics.push(d));
        versions.push(version);
    }
    (Subsystem { name, versions }, diagnostics)
}

/// One version from the documents up to it (sorted by version, then fragment type):
/// each fragment type merges its own files in version order, then the types are laid
/// over each other, the base type first and the rest in order of first appearance.
fn compose(documents: &[Document], version: &Version) -> Object {
    let mut fragments: Vec<(Option<&str>, Object)> = vec![(None, Object::new())];
    for document in documents {
        let fragment = document.file.fragment.as_deref();
        let index = match fragments.iter().position(|(f, _)| *f == fragment) {
            Some(index) => index,
            None => {
                fragments.push((fragment, Object::new()));
                fragments.len() - 1
            }
        };
        merge::merge(&mut fragments[index].1, document.value.clone(), merge::Mode::WithinFragment);
    }
    let mut content = Object::new();
    for (_, layer) in fragments {
        merge::merge(&mut content, layer, merge::Mode::AcrossFragments);
    }
    finish(&mut content, version);
    content
}

/// Published shape, as QMK's loader makes it: the version after what the files hold,
/// then `keycodes` and `ranges` sorted by key, where they are or after the version
/// (a language's spec holds only `aliases`).
fn finish(content: &mut Object, version: &Version) {
    content.insert("version".into(), Value::String(version.to_string().into()));
    for section in ["keycodes", "ranges"] {
        match content.get_mut(section) {
            Some(Value::Object(entries)) => entries.sort_keys(),
            Some(_) => {}
            None => {
                content.insert(section.into(), Value::Object(Object::new()));
            }
        }
    }
}

/// Attributes a finding about merged content to the last file that wrote its entry.
fn place(diagnostic: Diagnostic, path: &[String], applied: &[Document]) -> Diagnostic {
    let entry: Vec<&str> = path.iter().take(2).map(String::as_str).collect();
    let segments: Vec<&str> = path.iter().map(String::as_str).collect();
    let diagnostic = diagnostic.at_key(path.join("/"));
    match applied.iter().rev().find(|d| lookup(&d.value, &entry).is_some()) {
        Some(document) => {
            let line = document.locate(&segments).or_else(|| document.locate(&entry)).or(Some(1));
            diagnostic.in_file(document.shown_as.clone()).at_line(line)
        }
        None => diagnostic,
    }
}

fn lookup<'a>(object: &'a Object, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let value = object.get(first)?;
    match (rest.is_empty(), value) {
        (true, value) => Some(value),
        (false, Value::Object(inner)) => lookup(inner, rest),
        (false, _) => None,
    }
}
