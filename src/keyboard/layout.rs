//! Layouts: the keys of one LAYOUT macro, in argument order.

use std::collections::BTreeMap;

use crate::diagnostic::Diagnostic;
use crate::spec::{Object, Value};

/// One key of a layout. The definition is kept whole, as published; the
/// accessors read the fields that validation and drawing need.
#[derive(Debug, Clone, PartialEq)]
pub struct Key(pub Object);

impl Key {
    pub fn label(&self) -> Option<&str> {
        self.0.get("label").and_then(Value::as_str)
    }

    fn number(&self, field: &str) -> Option<f64> {
        match self.0.get(field) {
            Some(Value::Number(n)) => n.as_f64(),
            _ => None,
        }
    }

    pub fn x(&self) -> f64 {
        self.number("x").unwrap_or(0.0)
    }

    pub fn y(&self) -> f64 {
        self.number("y").unwrap_or(0.0)
    }

    /// Width in key units; 1 unless given.
    pub fn w(&self) -> f64 {
        self.number("w").unwrap_or(1.0)
    }

    /// Height in key units; 1 unless given.
    pub fn h(&self) -> f64 {
        self.number("h").unwrap_or(1.0)
    }

    /// `[row, column]` in the switch matrix.
    pub fn matrix(&self) -> Option<[u64; 2]> {
        let pair = self.0.get("matrix")?.as_array()?;
        match pair {
            [Value::Number(row), Value::Number(col)] => Some([row.as_u64()?, col.as_u64()?]),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    pub keys: Vec<Key>,
}

impl Layout {
    /// As QMK publishes it: `{"layout": [keys]}`.
    pub fn to_value(&self) -> Value {
        let keys = self.keys.iter().map(|key| Value::Object(key.0.clone())).collect();
        Value::Object([("layout".into(), Value::Array(keys))].into_iter().collect())
    }
}

/// Adds one file's layouts to those inherited, as QMK merges them: a layout named
/// again must have as many keys, and its keys update the inherited ones field by field;
/// a new layout needs a matrix position for every key. A layout named by an alias
/// means the layout the alias points to.
pub fn merge_layouts(
    layouts: &mut Vec<(String, Layout)>,
    defined: Object,
    aliases: &BTreeMap<String, String>,
    file: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (name, definition) in defined {
        let name = aliases.get(&*name).cloned().unwrap_or_else(|| name.to_string());
        let report = |message: String| Diagnostic::error(message).in_file(file).at_key(format!("layouts/{name}"));
        let keys: Vec<Key> = match definition.get("layout").and_then(Value::as_array) {
            Some(items) if items.iter().all(|k| k.as_object().is_some()) => {
                items.iter().filter_map(Value::as_object).map(|k| Key(k.clone())).collect()
            }
            _ => {
                diagnostics.push(report(format!("layout {name} needs a `layout` array of key objects")));
                continue;
            }
        };
        match layouts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, inherited)) if inherited.keys.len() != keys.len() => diagnostics.push(report(format!(
                "layout {name} has {} keys here but {} where it was first defined; this definition is ignored",
                keys.len(),
                inherited.keys.len()
            ))),
            Some((_, inherited)) => {
                for (old, new) in inherited.keys.iter_mut().zip(keys) {
                    for (field, value) in new.0 {
                        old.0.insert(field, value);
                    }
                }
            }
            None if keys.iter().any(|key| key.0.get("matrix").is_none()) => {
                diagnostics.push(report(format!("layout {name} has keys without a `matrix` position; it is ignored")))
            }
            None => layouts.push((name, Layout { keys })),
        }
    }
}
