//! QMK's JSON schemas (`data/schemas/*.jsonschema`), read as data and evaluated
//! against documents, as QMK's CLI evaluates them with Python's `jsonschema`
//! (Draft 2020-12) before it generates anything from a keymap.
//!
//! The schemas are compiled once into a graph of checks ([`compile`]); `$ref`s to
//! other files (`./definitions.jsonschema#/mcu_pin`, `qmk.definitions.v1#/...`) are
//! resolved within the same folder, by file name or `$id`. Every keyword a schema
//! uses must be one this evaluator knows (an unknown one is an error when the
//! schemas are loaded, never silently skipped); `format` and the annotations are
//! not assertions, as in Python's validator without a format checker.
//!
//! One difference is deliberate: a `pattern` is a Rust regex, whose `$` matches at
//! the very end only, where Python's also matches before a final line break; so
//! `"keycodes": [{"key": "KC_X\n"}]`, which QMK's schema lets through into a C
//! header, is refused here.

mod compile;
mod eval;

use std::fmt;
use std::path::Path;

use rustc_hash::FxHashMap as HashMap;

use crate::diagnostic::excerpt;
use crate::source::DataTree;
use crate::spec::{Str, Value, hjson};

pub use compile::CompileError;

/// Where QMK keeps its schemas in a tree.
pub const SCHEMAS_DIR: &str = "data/schemas";

/// The `$id` of QMK's keymap schema.
pub const KEYMAP_SCHEMA: &str = "qmk.keymap.v1";

/// The `$id` of qmk-api's keymap schema: QMK's, with the members of
/// [`crate::keymap`]'s extensions. It is qmk-api's own, so it comes with the binary
/// and is read beside whichever tree's schemas.
pub const EXTENDED_KEYMAP_SCHEMA: &str = "qmk-api.keymap.v1";

/// Where the binary keeps it.
pub const EXTENDED_KEYMAP_SCHEMA_PATH: &str = "data/keymap/keymap.jsonschema";

/// At most this many violations are kept per document; the rest are counted.
const VIOLATIONS_KEPT: usize = 50;

/// A set of compiled schemas.
#[derive(Debug)]
pub struct Schemas {
    nodes: Vec<compile::Node>,
    /// The root of each document, by its `$id` and by its file name.
    roots: HashMap<String, compile::NodeId>,
}

/// A step into a document: an object's key or an array's index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(Str),
    Index(usize),
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Key(key) => f.write_str(key),
            Segment::Index(index) => write!(f, "{index}"),
        }
    }
}

/// A path into a document as diagnostics show it: `config/eeprom/driver`.
pub fn path_text(path: &[Segment]) -> String {
    path.iter().map(ToString::to_string).collect::<Vec<_>>().join("/")
}

/// A value as a message shows it: a string quoted, escaped and cut short; a list
/// or an object by its kind, whatever its size.
pub fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{:?}", excerpt(text)),
        Value::Array(_) | Value::Object(_) => value.kind().to_owned(),
        other => other.to_string(),
    }
}

/// One thing a document does wrong: where, and what (a phrase such as `must be a
/// string, not a number`, to follow the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: Vec<Segment>,
    pub message: String,
}

/// What a schema says of a document.
#[derive(Debug, Default)]
pub struct Validation {
    /// The first violations found.
    pub violations: Vec<Violation>,
    /// How many more there were.
    pub unshown: usize,
    /// The strings that passed an `enum`: values QMK lists itself, such as the
    /// processor `cortex-m4`, which may be written wherever QMK writes that setting.
    pub listed: Vec<Vec<Segment>>,
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    /// `path` names the line, where the parser knows it.
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: {error}")]
    Compile { path: String, error: CompileError },
    #[error("no schema `{0}` among QMK's schemas")]
    Unknown(String),
}

impl Schemas {
    /// The schemas of `tree`'s `data/schemas/`, or the bundled ones when it has none
    /// (a partial checkout, a test fixture): a tree's schemas are taken whole, never
    /// mixed with bundled files of another QMK version.
    pub fn load(tree: &DataTree) -> Result<Schemas, SchemaError> {
        let folder = Path::new(SCHEMAS_DIR);
        let listed = |tree: &DataTree| -> Result<Vec<_>, SchemaError> {
            let files =
                tree.files_below(folder).map_err(|source| SchemaError::Io { path: tree.display(folder), source })?;
            Ok(files.into_iter().filter(|f| f.extension().is_some_and(|e| e == "jsonschema")).collect())
        };
        let mut source = tree;
        let mut files = listed(tree)?;
        if files.is_empty() {
            source = &DataTree::Bundled;
            files = listed(source)?;
        }
        let mut documents = Vec::with_capacity(files.len() + 1);
        let files = files.into_iter().map(|file| (source, file));
        let extension = (&DataTree::Bundled, Path::new(EXTENDED_KEYMAP_SCHEMA_PATH).to_path_buf());
        for (source, file) in files.chain([extension]) {
            let shown = source.display(&file);
            let bytes = source.read(&file).map_err(|e| SchemaError::Io { path: shown.clone(), source: e })?;
            let text = String::from_utf8_lossy(&bytes);
            let value = hjson::parse(&text).map_err(|e| SchemaError::Parse {
                path: e.line.map_or_else(|| shown.clone(), |line| format!("{shown}:{line}")),
                message: e.message,
            })?;
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            documents.push(compile::Document { name, shown, value });
        }
        compile::compile(documents)
    }

    /// Checks `value` against the schema whose `$id` (or file name) is `id`.
    pub fn validate(&self, id: &str, value: &Value) -> Result<Validation, SchemaError> {
        let root = *self.roots.get(id).ok_or_else(|| SchemaError::Unknown(id.to_owned()))?;
        let mut sink = eval::Sink::new(VIOLATIONS_KEPT);
        eval::Evaluator { schemas: self }.eval(root, value, &mut Vec::new(), &mut sink);
        Ok(sink.into_validation())
    }
}

#[cfg(test)]
mod tests;
