//! Layouts: the keys of one LAYOUT macro, in argument order.
//!
//! QMK's 3752 keyboards have over half a million keys, so a key is stored
//! compactly: its label, matrix position and geometry typed, any other field
//! (`r`, `rx`, `encoder`, `hand`...) kept as written, and the order the fields
//! were written in packed into one integer, because QMK publishes them in that order.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Number;

use crate::spec::{Object, Str, Value};

/// A coordinate or size as written: integers stay integers when published.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Unit {
    value: f64,
    integer: bool,
}

impl Unit {
    fn read(value: &Value) -> Option<Unit> {
        let n = value.as_number()?;
        Some(Unit { value: n.as_f64()?, integer: n.is_i64() || n.is_u64() })
    }

    fn number(self) -> Number {
        match self.integer {
            true => Number::from(self.value as i64),
            false => Number::from_f64(self.value).unwrap_or_else(|| Number::from(0)),
        }
    }
}

/// The typed fields, by slot: 0 `label`, 1 `matrix`, 2–5 the geometry.
const TYPED: [&str; 6] = ["label", "matrix", "x", "y", "w", "h"];
/// Bits per slot in [`Key::order`]; a slot code is 1 + the slot, 0 ends the list.
const SLOT_BITS: u32 = 4;
const MAX_FIELDS: usize = (u64::BITS / SLOT_BITS) as usize;
/// Slot codes past the typed fields name `other` entries.
const MAX_OTHER: usize = (1 << SLOT_BITS) - 1 - TYPED.len();

/// One key of a layout (72 bytes: there are a million of them while a tree loads).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    label: Option<Str>,
    /// `x`, `y`, `w`, `h`; NaN where not given (JSON has no NaN).
    geometry: [f64; 4],
    /// Every other field, as written. Boxed because most keys have none: this
    /// keeps a key at 72 bytes.
    #[allow(clippy::box_collection)]
    other: Option<Box<Vec<(Str, Value)>>>,
    /// The fields in the order written, one slot code per 4 bits from the lowest;
    /// `u64::MAX` when a key has too many fields to record (then typed fields come first).
    order: u64,
    matrix: Option<[u16; 2]>,
    /// One bit per geometry slot: the value was written as an integer.
    integers: u8,
}

impl Default for Key {
    fn default() -> Key {
        Key { label: None, geometry: [f64::NAN; 4], other: None, order: 0, matrix: None, integers: 0 }
    }
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

    /// A key of a layout macro: `x` its argument position, then `y` 0, `label`, `matrix`.
    pub fn from_macro(x: usize, label: Option<&str>, matrix: Option<[usize; 2]>) -> Key {
        let mut key = Key::default();
        key.set("x", &Value::Number(x.into()));
        key.set("y", &Value::Number(0.into()));
        if let Some(label) = label {
            key.set("label", &Value::from(label));
        }
        if let Some([row, col]) = matrix {
            key.set("matrix", &Value::Array(vec![Value::Number(row.into()), Value::Number(col.into())]));
        }
        key
    }

    /// Sets a field: in place if the key has it, else after the others.
    pub fn set(&mut self, field: &str, value: &Value) {
        let typed = TYPED.iter().position(|t| *t == field);
        let had_typed = typed.is_some_and(|slot| self.has_typed(slot));
        let stored = match (typed, value) {
            (Some(0), Value::String(label)) => {
                self.label = Some(label.clone());
                true
            }
            (Some(1), Value::Array(pair)) if matrix(pair).is_some() => {
                self.matrix = matrix(pair);
                true
            }
            (Some(slot @ 2..), value) if Unit::read(value).is_some() => {
                self.set_unit(slot - 2, Unit::read(value));
                true
            }
            _ => false,
        };
        if stored {
            if let Some(at) = self.others().iter().position(|(f, _)| &**f == field) {
                // It was odd-shaped before: the typed value takes its place in the order.
                self.replace_code(other_code(at), typed_code(typed.unwrap_or(0)));
                self.remove_other(at);
            } else if !had_typed {
                self.push_code(typed_code(typed.unwrap_or(0)));
            }
            return;
        }
        match self.others().iter().position(|(f, _)| &**f == field) {
            Some(at) => self.others_mut()[at].1 = value.clone(),
            None => {
                self.others_mut().push((field.into(), value.clone()));
                let code = other_code(self.others().len() - 1);
                if let Some(slot) = typed.filter(|&slot| had_typed && slot < TYPED.len()) {
                    // A typed field replaced by an odd-shaped value keeps its place.
                    self.clear_typed(slot);
                    self.replace_code(typed_code(slot), code);
                } else {
                    self.push_code(code);
                }
            }
        }
    }

    fn has_typed(&self, slot: usize) -> bool {
        match slot {
            0 => self.label.is_some(),
            1 => self.matrix.is_some(),
            _ => self.unit_at(slot - 2).is_some(),
        }
    }

    fn clear_typed(&mut self, slot: usize) {
        match slot {
            0 => self.label = None,
            1 => self.matrix = None,
            _ => self.set_unit(slot - 2, None),
        }
    }

    fn unit_at(&self, index: usize) -> Option<Unit> {
        let value = self.geometry[index];
        (!value.is_nan()).then(|| Unit { value, integer: self.integers & (1 << index) != 0 })
    }

    fn set_unit(&mut self, index: usize, unit: Option<Unit>) {
        self.geometry[index] = unit.map_or(f64::NAN, |u| u.value);
        self.integers &= !(1 << index);
        if unit.is_some_and(|u| u.integer) {
            self.integers |= 1 << index;
        }
    }

    fn others(&self) -> &[(Str, Value)] {
        self.other.as_deref().map_or(&[], Vec::as_slice)
    }

    fn others_mut(&mut self) -> &mut Vec<(Str, Value)> {
        self.other.get_or_insert_with(Box::default)
    }

    fn codes(&self) -> impl Iterator<Item = u64> + '_ {
        (0..MAX_FIELDS).map(|i| (self.order >> (i as u32 * SLOT_BITS)) & 0xF).take_while(|&code| code != 0)
    }

    fn push_code(&mut self, code: u64) {
        let used = self.codes().count();
        if self.order == u64::MAX || used == MAX_FIELDS || code == 0 {
            self.order = u64::MAX;
        } else {
            self.order |= code << (used as u32 * SLOT_BITS);
        }
    }

    fn replace_code(&mut self, old: u64, new: u64) {
        if self.order == u64::MAX || new == 0 {
            self.order = u64::MAX;
            return;
        }
        let codes: Vec<u64> = self.codes().map(|c| if c == old { new } else { c }).collect();
        self.order = pack(&codes);
    }

    /// Drops `other[at]`, renumbering the codes of the entries after it.
    fn remove_other(&mut self, at: usize) {
        self.others_mut().remove(at);
        if self.order == u64::MAX {
            return;
        }
        let removed = other_code(at);
        let codes: Vec<u64> = self
            .codes()
            .filter(|&c| c != removed)
            .map(|c| if c > removed && c > TYPED.len() as u64 { c - 1 } else { c })
            .collect();
        self.order = pack(&codes);
    }

    /// Takes over every field `newer` has, in `newer`'s order, as QMK updates a
    /// key from a later file.
    pub fn update(&mut self, newer: &Key) {
        for (field, value) in newer.fields() {
            self.set(field, &value);
        }
    }

    /// Every field as written, in order.
    pub fn fields(&self) -> Vec<(&str, Value)> {
        let field = |code: u64| -> Option<(&str, Value)> {
            let slot = code as usize - 1;
            match slot {
                0 => self.label.as_ref().map(|l| ("label", Value::String(l.clone()))),
                1 => self
                    .matrix
                    .map(|[r, c]| ("matrix", Value::Array(vec![Value::Number(r.into()), Value::Number(c.into())]))),
                2..=5 => self.unit_at(slot - 2).map(|u| (TYPED[slot], Value::Number(u.number()))),
                _ => self.others().get(slot - TYPED.len()).map(|(f, v)| (&**f, v.clone())),
            }
        };
        if self.order == u64::MAX {
            let typed = (1..=TYPED.len() as u64).filter_map(field);
            let other = self.others().iter().map(|(f, v)| (&**f, v.clone()));
            return typed.chain(other).collect();
        }
        self.codes().filter_map(field).collect()
    }

    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// `[row, column]` in the switch matrix.
    pub fn matrix(&self) -> Option<[u16; 2]> {
        self.matrix
    }

    /// A field that is not typed (`encoder`, `r`...).
    pub fn other(&self, field: &str) -> Option<&Value> {
        self.others().iter().find(|(f, _)| &**f == field).map(|(_, v)| v)
    }

    /// Whether the key has a field at all, whatever its shape.
    pub fn has(&self, field: &str) -> bool {
        TYPED.iter().position(|t| *t == field).is_some_and(|slot| self.has_typed(slot)) || self.other(field).is_some()
    }

    fn unit(&self, slot: usize, default: f64) -> f64 {
        self.unit_at(slot).map_or(default, |u| u.value)
    }

    /// Whether a geometry field (`x`, `y`, `w`, `h`) was written as an integer.
    pub fn is_integer(&self, field: &str) -> bool {
        TYPED[2..].iter().position(|t| *t == field).and_then(|slot| self.unit_at(slot)).is_some_and(|u| u.integer)
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

    /// The key as QMK publishes it: its fields in the order written.
    pub fn to_value(&self) -> Value {
        Value::Object(self.fields().into_iter().map(|(f, v)| (Str::from(f), v)).collect())
    }
}

fn typed_code(slot: usize) -> u64 {
    slot as u64 + 1
}

/// The code of `other[at]`; 0 (unrecordable) past the last one a code can name.
fn other_code(at: usize) -> u64 {
    if at < MAX_OTHER { (TYPED.len() + at + 1) as u64 } else { 0 }
}

fn pack(codes: &[u64]) -> u64 {
    codes.iter().enumerate().fold(0, |order, (i, code)| order | code << (i as u32 * SLOT_BITS))
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = self.fields();
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (field, value) in &fields {
            map.serialize_entry(field, value)?;
        }
        map.end()
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

/// The member of a layout object that holds its keys.
pub const KEYS_MEMBER: &str = "layout";

/// One layout: its keys, and the other members of its object as written
/// (`c_macro`, `json_layout`, `filename`...), in order. The keys are shared:
/// every keyboard that takes a layout from the same file holds the same keys until
/// one of them changes its copy ([`Layout::keys_mut`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Layout {
    pub keys: Arc<Vec<Key>>,
    /// Every member; the keys' place is held by a `layout` member set to null.
    members: Object,
}

impl Layout {
    pub fn new(keys: Vec<Key>) -> Layout {
        let mut members = Object::new();
        members.insert(KEYS_MEMBER.into(), Value::Null);
        Layout { keys: Arc::new(keys), members }
    }

    /// The keys to change, copied first if another layout shares them.
    pub fn keys_mut(&mut self) -> &mut Vec<Key> {
        Arc::make_mut(&mut self.keys)
    }

    /// A layout object as a file gives it: its keys, or why they are unusable.
    pub fn read(definition: &Value) -> Result<Layout, String> {
        let object = definition.as_object().ok_or_else(|| "a layout must be an object".to_owned())?;
        let keys = match object.get(KEYS_MEMBER).and_then(Value::as_array) {
            Some(items) if items.iter().all(|k| k.as_object().is_some()) => {
                items.iter().filter_map(Value::as_object).map(Key::read).collect::<Vec<_>>()
            }
            _ => return Err("needs a `layout` array of key objects".to_owned()),
        };
        let members =
            object.iter().map(|(k, v)| (Str::from(k), if k == KEYS_MEMBER { Value::Null } else { v.clone() }));
        Ok(Layout { keys: Arc::new(keys), members: members.collect() })
    }

    /// Sets a member other than the keys, in place or last.
    pub fn set(&mut self, member: &str, value: Value) {
        self.members.insert(member.into(), value);
    }

    pub fn get(&self, member: &str) -> Option<&Value> {
        self.members.get(member).filter(|_| member != KEYS_MEMBER)
    }

    /// As QMK publishes it.
    pub fn to_value(&self) -> Value {
        let members = self.members.iter().map(|(name, value)| {
            let value = match name == KEYS_MEMBER {
                true => Value::Array(self.keys.iter().map(Key::to_value).collect()),
                false => value.clone(),
            };
            (Str::from(name), value)
        });
        Value::Object(members.collect())
    }
}

impl Serialize for Layout {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.members.len()))?;
        for (name, value) in self.members.iter() {
            match name == KEYS_MEMBER {
                true => map.serialize_entry(name, self.keys.as_slice())?,
                false => map.serialize_entry(name, value)?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(json: serde_json::Value) -> Key {
        Key::read(Value::from(json).as_object().unwrap())
    }

    #[test]
    fn keys_stay_small() {
        assert!(std::mem::size_of::<Key>() <= 72, "{} bytes", std::mem::size_of::<Key>());
    }

    #[test]
    fn keeps_numbers_and_field_order_as_written() {
        let read = key(serde_json::json!({"x": 1, "matrix": [1, 2], "y": 0.25, "w": 1.5, "label": "Q", "r": 15}));
        assert_eq!((read.x(), read.y(), read.w(), read.h()), (1.0, 0.25, 1.5, 1.0));
        assert_eq!(read.matrix(), Some([1, 2]));
        assert_eq!(read.to_value().to_string(), r#"{"x":1,"matrix":[1,2],"y":0.25,"w":1.5,"label":"Q","r":15}"#);
        assert_eq!(serde_json::to_string(&read).unwrap(), read.to_value().to_string());
    }

    #[test]
    fn a_later_file_updates_a_key_field_by_field() {
        let mut inherited = key(serde_json::json!({"matrix": [0, 0], "x": 0, "y": 0, "label": "A"}));
        inherited.update(&key(serde_json::json!({"hand": "L", "x": 2, "label": "B"})));
        assert_eq!(inherited.to_value().to_string(), r#"{"matrix":[0,0],"x":2,"y":0,"label":"B","hand":"L"}"#);
    }

    #[test]
    fn odd_shapes_are_kept_in_place() {
        let mut odd = key(serde_json::json!({"matrix": [0, "x"], "x": "1", "y": 2}));
        assert_eq!(odd.matrix(), None);
        assert_eq!(odd.to_value().to_string(), r#"{"matrix":[0,"x"],"x":"1","y":2}"#);
        odd.update(&key(serde_json::json!({"matrix": [1, 1], "y": "2"})));
        assert_eq!(odd.matrix(), Some([1, 1]));
        assert_eq!(odd.to_value().to_string(), r#"{"matrix":[1,1],"x":"1","y":"2"}"#);
    }

    #[test]
    fn many_fields_fall_back_to_typed_first() {
        let fields: serde_json::Map<String, serde_json::Value> = (0..20)
            .map(|i| (format!("f{i}"), serde_json::json!(i)))
            .chain([("x".into(), serde_json::json!(1))])
            .collect();
        let read = key(serde_json::Value::Object(fields));
        let value = read.to_value();
        assert_eq!(value.as_object().unwrap().keys().next(), Some("x"));
        assert_eq!(value.as_object().unwrap().len(), 21);
    }

    #[test]
    fn layouts_keep_their_members_in_order() {
        let layout =
            Layout::read(&Value::from(serde_json::json!({"c_macro": true, "layout": [{"x": 0}], "filename": "a.h"})))
                .unwrap();
        assert_eq!(serde_json::to_string(&layout).unwrap(), r#"{"c_macro":true,"layout":[{"x":0}],"filename":"a.h"}"#);
        assert_eq!(layout.to_value().to_string(), r#"{"c_macro":true,"layout":[{"x":0}],"filename":"a.h"}"#);
    }
}
