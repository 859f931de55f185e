//! What QMK's info.json builder reads as data rather than code: the mapping
//! files (`config.h` defines and `rules.mk` settings → info.json keys), the
//! defaults of development boards, and the few facts QMK keeps in its Python
//! constants (which processors are ARM, AVR with LUFA, AVR with V-USB; joystick axes).
//!
//! Each is read from the tree; a tree that lacks one (a partial checkout, a test
//! fixture) gets the bundled copy, which `qmk-api import` writes from a QMK tree.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::source::DataTree;
use crate::spec::{Object, Value, hjson};

pub const INFO_CONFIG_PATH: &str = "data/mappings/info_config.hjson";
pub const INFO_RULES_PATH: &str = "data/mappings/info_rules.hjson";
pub const DEFAULTS_PATH: &str = "data/mappings/defaults.hjson";
/// QMK's Python constants, where a checkout has them.
pub const PYTHON_CONSTANTS_PATH: &str = "lib/python/qmk/constants.py";
/// The same facts as the bundle keeps them.
pub const BUNDLED_CONSTANTS_PATH: &str = "data/keyboard/qmk_constants.json";

/// One entry of a mapping file.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The define or setting name.
    pub name: String,
    /// Where it goes in info.json, dotted.
    pub info_key: String,
    pub value_type: String,
    pub to_json: bool,
    /// Whether QMK's generators write it back into `config.h` or `rules.mk`.
    pub to_c: bool,
    pub warn_duplicate: bool,
    pub deprecated: bool,
    pub invalid: bool,
    pub replace_with: Option<String>,
}

/// The facts QMK keeps in its Python code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QmkConstants {
    pub chibios_processors: Vec<String>,
    pub lufa_processors: Vec<String>,
    pub vusb_processors: Vec<String>,
    pub joystick_axes: Vec<String>,
    /// Letters naming matrix rows and columns in generated key names (`k0A`).
    pub row_letters: String,
    pub col_letters: String,
}

/// The Python names of [`QmkConstants`]' fields, in field order.
const PYTHON_NAMES: [&str; 6] =
    ["CHIBIOS_PROCESSORS", "LUFA_PROCESSORS", "VUSB_PROCESSORS", "JOYSTICK_AXES", "ROW_LETTERS", "COL_LETTERS"];

/// Everything the builder reads besides the keyboard's own files.
#[derive(Debug, Clone)]
pub struct Mappings {
    pub config_h: Vec<Mapping>,
    pub rules_mk: Vec<Mapping>,
    /// `{"development_board": {"promicro": {"processor": ...}}}`.
    pub defaults: Object,
    pub constants: QmkConstants,
}

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Invalid(Diagnostics),
}

impl Mappings {
    pub fn load(tree: &DataTree) -> Result<Mappings, MappingError> {
        Ok(Mappings {
            config_h: read_mappings(&read_object(tree, INFO_CONFIG_PATH)?, INFO_CONFIG_PATH)?,
            rules_mk: read_mappings(&read_object(tree, INFO_RULES_PATH)?, INFO_RULES_PATH)?,
            defaults: read_object(tree, DEFAULTS_PATH)?,
            constants: QmkConstants::load(tree)?,
        })
    }
}

/// The tree's file, else the bundled one.
fn read_with_fallback(tree: &DataTree, path: &str) -> Result<(String, String), MappingError> {
    let path = Path::new(path);
    let source = if tree.exists(path) { tree } else { &DataTree::Bundled };
    let shown = source.display(path);
    let bytes = source.read(path).map_err(|e| MappingError::Io { path: shown.clone(), source: e })?;
    Ok((String::from_utf8_lossy(&bytes).into_owned(), shown))
}

fn invalid(message: impl Into<String>, file: &str) -> MappingError {
    let mut diagnostics = Diagnostics::default();
    diagnostics.push(Diagnostic::error(message).in_file(file));
    MappingError::Invalid(diagnostics)
}

fn read_object(tree: &DataTree, path: &str) -> Result<Object, MappingError> {
    let (text, shown) = read_with_fallback(tree, path)?;
    match hjson::parse(&text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(other) => Err(invalid(format!("must be an object, not {}", other.kind()), &shown)),
        Err(e) => Err(MappingError::Invalid({
            let mut d = Diagnostics::default();
            d.push(Diagnostic::error(e.message).in_file(shown).at_line(e.line).at_column(e.column));
            d
        })),
    }
}

fn read_mappings(object: &Object, file: &str) -> Result<Vec<Mapping>, MappingError> {
    object
        .iter()
        .map(|(name, entry)| {
            let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
            let flag = |key: &str, default: bool| entry.get(key).map_or(default, |v| *v == Value::Bool(true));
            let info_key = text("info_key").ok_or_else(|| invalid(format!("`{name}` has no `info_key`"), file))?;
            Ok(Mapping {
                name: name.to_owned(),
                info_key,
                value_type: text("value_type").unwrap_or_else(|| "raw".to_owned()),
                to_json: flag("to_json", true),
                to_c: flag("to_c", true),
                warn_duplicate: flag("warn_duplicate", true),
                deprecated: flag("deprecated", false),
                invalid: flag("invalid", false),
                replace_with: text("replace_with").filter(|r| !r.is_empty()),
            })
        })
        .collect()
}

impl QmkConstants {
    /// From the tree's Python constants when it has them, else the bundled copy.
    pub fn load(tree: &DataTree) -> Result<QmkConstants, MappingError> {
        let python = Path::new(PYTHON_CONSTANTS_PATH);
        if tree.checkout_root().is_some() && tree.exists(python) {
            let shown = tree.display(python);
            let bytes = tree.read(python).map_err(|e| MappingError::Io { path: shown.clone(), source: e })?;
            return QmkConstants::from_python(&String::from_utf8_lossy(&bytes)).map_err(|m| invalid(m, &shown));
        }
        let (text, shown) = read_with_fallback(tree, BUNDLED_CONSTANTS_PATH)?;
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string(), &shown))
    }

    /// Reads the assignments of QMK's `constants.py`: a tuple or list of quoted
    /// names on one line (`None` entries skipped), or one quoted string.
    pub fn from_python(text: &str) -> Result<QmkConstants, String> {
        let value_of = |name: &str| {
            let prefix = format!("{name} = ");
            let line =
                text.lines().find(|l| l.starts_with(&prefix)).ok_or_else(|| format!("no `{name}` assignment"))?;
            Ok::<_, String>(quoted_strings(&line[prefix.len()..]))
        };
        let mut lists = Vec::new();
        for name in PYTHON_NAMES {
            lists.push(value_of(name)?);
        }
        let mut lists = lists.into_iter();
        let mut next = || lists.next().unwrap_or_default();
        let (chibios, lufa, vusb, axes) = (next(), next(), next(), next());
        let (rows, cols) = (next().concat(), next().concat());
        Ok(QmkConstants {
            chibios_processors: chibios,
            lufa_processors: lufa,
            vusb_processors: vusb,
            joystick_axes: axes,
            row_letters: rows,
            col_letters: cols,
        })
    }
}

/// The single- or double-quoted strings of a line of Python, up to a comment.
fn quoted_strings(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '#' => break,
            '\'' | '"' => found.push(chars.by_ref().take_while(|&q| q != c).collect()),
            _ => {}
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_constants_are_read_from_their_assignments() {
        let text = "X = 1\nCHIBIOS_PROCESSORS = 'STM32F303', \"RP2040\"\nLUFA_PROCESSORS = 'atmega32u4', None\n\
                    VUSB_PROCESSORS = 'atmega32a'  # v-usb\nJOYSTICK_AXES = ['x', 'y']\nROW_LETTERS = '0123'\nCOL_LETTERS = 'ABC'\n";
        let constants = QmkConstants::from_python(text).unwrap();
        assert_eq!(constants.chibios_processors, ["STM32F303", "RP2040"]);
        assert_eq!(constants.lufa_processors, ["atmega32u4"]);
        assert_eq!(constants.vusb_processors, ["atmega32a"]);
        assert_eq!(constants.joystick_axes, ["x", "y"]);
        assert_eq!((constants.row_letters.as_str(), constants.col_letters.as_str()), ("0123", "ABC"));
        assert!(QmkConstants::from_python("X = 1").is_err());
    }

    #[test]
    fn the_bundled_mappings_load() {
        let mappings = Mappings::load(&DataTree::Bundled).unwrap();
        let mcu = mappings.rules_mk.iter().find(|m| m.name == "MCU").unwrap();
        assert_eq!((mcu.info_key.as_str(), mcu.warn_duplicate), ("processor", false));
        assert!(mappings.config_h.iter().any(|m| m.name == "MATRIX_COLS" || m.value_type == "int"));
        assert!(mappings.constants.lufa_processors.contains(&"atmega32u4".to_owned()));
        assert!(mappings.defaults.contains_key("development_board"));
    }
}
