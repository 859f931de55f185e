//! Layouts: the keys of one LAYOUT macro, in argument order.
//!
//! QMK's 3752 keyboards have over half a million keys, so a key is stored
//! compactly: its label, matrix position and geometry typed, and any other field
//! (`r`, `rx`, `encoder`, `hand`...) kept as written.

use std::collections::BTreeMap;

use serde_json::Number;

use crate::diagnostic::Diagnostic;
use crate::spec::{Object, Str, Value};

/// A coordinate or size as written: integers stay integers when published.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Unit {
    value: f64,
    integer: bool,
}

impl Unit {
    fn read(value: &Value) -> Option<Unit> {
        match value {
            Value::Number(n) => Some(Unit { value: n.as_f64()?, integer: n.is_i64() || n.is_u64() }),
            _ => None,
        }
    }

    fn to_value(self) -> Value {
        match self.integer {
            true => Value::Number(Number::from(self.value as i64)),
            false => Number::from_f64(self.value).map_or(Value::Null, Value::Number),
        }
    }
}

const GEOMETRY: [&str; 4] = ["x", "y", "w", "h"];

/// One key of a layout.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Key {
    label: Option<Str>,
    matrix: Option<[u16; 2]>,
    /// `x`, `y`, `w`, `h`.
    geometry: [Option<Unit>; 4],
    /// Every other field, as written.
    other: Vec<(Str, Value)>,
}

impl Key {
    /// Reads a key definition; fields of an unexpected shape are kept as written.
    pub fn read(definition: &Object) -> Key {
        let mut key = Key::default();
        for (field, value) in definition.iter() {
            key.set(field, value);
        }
        key
    }

    fn set(&mut self, field: &str, value: &Value) {
        let slot = GEOMETRY.iter().position(|g| *g == field);
        match (field, value, slot) {
            ("label", Value::String(label), _) => self.label = Some(label.clone()),
            ("matrix", Value::Array(pair), _) if matrix(pair).is_some() => self.matrix = matrix(pair),
            (_, value, Some(slot)) if Unit::read(value).is_some() => self.geometry[slot] = Unit::read(value),
            _ => match self.other.iter_mut().find(|(f, _)| &**f == field) {
                Some((_, existing)) => *existing = value.clone(),
                None => self.other.push((field.into(), value.clone())),
            },
        }
    }

    /// Takes over every field `newer` has, as QMK updates a key from a later file.
    fn update(&mut self, newer: Key) {
        self.label = newer.label.or(self.label.take());
        self.matrix = newer.matrix.or(self.matrix);
        for (slot, unit) in newer.geometry.into_iter().enumerate() {
            self.geometry[slot] = unit.or(self.geometry[slot]);
        }
        for (field, value) in newer.other {
            self.set(&field, &value);
        }
    }

    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// `[row, column]` in the switch matrix.
    pub fn matrix(&self) -> Option<[u16; 2]> {
        self.matrix
    }

    fn unit(&self, slot: usize, default: f64) -> f64 {
        self.geometry[slot].map_or(default, |u| u.value)
    }

    pub fn x(&self) -> f64 {
        self.unit(0, 0.0)
    }

    pub fn y(&self) -> f64 {
        self.unit(1, 0.0)
    }

    /// Width in key units; 1 unless given.
    pub fn w(&self) -> f64 {
        self.unit(2, 1.0)
    }

    /// Height in key units; 1 unless given.
    pub fn h(&self) -> f64 {
        self.unit(3, 1.0)
    }

    /// The key as QMK publishes it: `label`, `matrix`, `x`, `y`, `w`, `h` where
    /// given, then the other fields.
    pub fn to_value(&self) -> Value {
        let mut fields: Vec<(Str, Value)> = Vec::with_capacity(6 + self.other.len());
        if let Some(label) = &self.label {
            fields.push(("label".into(), Value::String(label.clone())));
        }
        if let Some([row, col]) = self.matrix {
            let pair = vec![Value::Number(row.into()), Value::Number(col.into())];
            fields.push(("matrix".into(), Value::Array(pair)));
        }
        for (name, unit) in GEOMETRY.iter().zip(self.geometry) {
            if let Some(unit) = unit {
                fields.push(((*name).into(), unit.to_value()));
            }
        }
        fields.extend(self.other.iter().cloned());
        Value::Object(fields.into_iter().collect())
    }
}

fn matrix(pair: &[Value]) -> Option<[u16; 2]> {
    match pair {
        [Value::Number(row), Value::Number(col)] => {
            Some([u16::try_from(row.as_u64()?).ok()?, u16::try_from(col.as_u64()?).ok()?])
        }
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    pub keys: Vec<Key>,
}

impl Layout {
    /// As QMK publishes it: `{"layout": [keys]}`.
    pub fn to_value(&self) -> Value {
        let keys = self.keys.iter().map(Key::to_value).collect();
        Value::Object([("layout".into(), Value::Array(keys))].into_iter().collect())
    }
}

/// The layouts one file defines, read as keys, or why a layout is unusable.
pub type Defined = Vec<(String, Result<Vec<Key>, String>)>;

/// Reads a file's `layouts` object.
pub fn read_layouts(layouts: &Object) -> Defined {
    layouts
        .iter()
        .map(|(name, definition)| {
            let keys = match definition.get("layout").and_then(Value::as_array) {
                Some(items) if items.iter().all(|k| k.as_object().is_some()) => {
                    Ok(items.iter().filter_map(Value::as_object).map(Key::read).collect())
                }
                _ => Err(format!("layout {name} needs a `layout` array of key objects")),
            };
            (name.to_owned(), keys)
        })
        .collect()
}

/// Adds one file's layouts to those inherited, as QMK merges them: a layout named
/// again must have as many keys, and its keys update the inherited ones field by field;
/// a new layout needs a matrix position for every key. A layout named by an alias
/// means the layout the alias points to.
pub fn merge_layouts(
    layouts: &mut Vec<(String, Layout)>,
    defined: &Defined,
    aliases: &BTreeMap<String, String>,
    file: &str,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for (name, keys) in defined {
        let name = aliases.get(name).unwrap_or(name);
        let report = |message: String| Diagnostic::error(message).in_file(file).at_key(format!("layouts/{name}"));
        let keys = match keys {
            Ok(keys) => keys,
            Err(problem) => {
                diagnostics.push(report(problem.clone()));
                continue;
            }
        };
        match layouts.iter_mut().find(|(n, _)| n == name) {
            Some((_, inherited)) if inherited.keys.len() != keys.len() => diagnostics.push(report(format!(
                "layout {name} has {} keys here but {} where it was first defined; this definition is ignored",
                keys.len(),
                inherited.keys.len()
            ))),
            Some((_, inherited)) => {
                for (old, new) in inherited.keys.iter_mut().zip(keys) {
                    old.update(new.clone());
                }
            }
            None if keys.iter().any(|key| key.matrix.is_none()) => {
                diagnostics.push(report(format!("layout {name} has keys without a `matrix` position; it is ignored")))
            }
            None => layouts.push((name.clone(), Layout { keys: keys.clone() })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(json: serde_json::Value) -> Key {
        Key::read(Value::from(json).as_object().unwrap())
    }

    #[test]
    fn keeps_numbers_as_written_and_other_fields() {
        let read = key(serde_json::json!({"matrix": [1, 2], "x": 1, "y": 0.25, "w": 1.5, "label": "Q", "r": 15}));
        assert_eq!((read.x(), read.y(), read.w(), read.h()), (1.0, 0.25, 1.5, 1.0));
        assert_eq!(read.matrix(), Some([1, 2]));
        assert_eq!(read.to_value().to_string(), r#"{"label":"Q","matrix":[1,2],"x":1,"y":0.25,"w":1.5,"r":15}"#);
    }

    #[test]
    fn a_later_file_updates_a_key_field_by_field() {
        let mut inherited = key(serde_json::json!({"matrix": [0, 0], "x": 0, "y": 0, "label": "A"}));
        inherited.update(key(serde_json::json!({"x": 2, "label": "B", "hand": "L"})));
        assert_eq!(inherited.to_value().to_string(), r#"{"label":"B","matrix":[0,0],"x":2,"y":0,"hand":"L"}"#);
    }

    #[test]
    fn odd_shapes_are_kept_not_lost() {
        let odd = key(serde_json::json!({"matrix": [0, "x"], "x": "1"}));
        assert_eq!(odd.matrix(), None);
        assert_eq!(odd.to_value().to_string(), r#"{"matrix":[0,"x"],"x":"1"}"#);
    }
}
