//! The values specs are made of: JSON, with objects kept in the order they were
//! written. Every version of a subsystem is its own copy of mostly the same data,
//! so clones must be cheap: strings are shared (`Arc<str>`), and an object is a
//! plain list of entries with a hash index only once it is large.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Number;

/// A shared, immutable string.
pub type Str = Arc<str>;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(Number),
    String(Str),
    Array(Vec<Value>),
    Object(Object),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(object) => Some(object),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// A member of an object; `None` for anything else.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|object| object.get(key))
    }

    /// Takes the value out, leaving `Null`.
    pub fn take(&mut self) -> Value {
        std::mem::replace(self, Value::Null)
    }

    /// "a string", "an object"...: for messages about a value of the wrong kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}

impl From<serde_json::Value> for Value {
    fn from(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(n),
            serde_json::Value::String(s) => Value::String(s.into()),
            serde_json::Value::Array(items) => Value::Array(items.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(members) => {
                Value::Object(members.into_iter().map(|(k, v)| (Str::from(k), Value::from(v))).collect())
            }
        }
    }
}

impl fmt::Display for Value {
    /// Compact JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| fmt::Error)?)
    }
}

/// Objects with more entries than this get a hash index; smaller ones are searched in order.
const INDEX_FROM: usize = 16;

/// A JSON object that keeps its entries in order.
#[derive(Debug, Clone, Default)]
pub struct Object {
    entries: Vec<(Str, Value)>,
    /// Position of each key, for large objects only. Boxed because most objects have
    /// none and every value is as large as its largest kind: this halves them.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<Str, usize>>>,
}

impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Object {
    pub fn new() -> Object {
        Object::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| &**k == key),
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|at| &self.entries[at].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.position(key).map(|at| &mut self.entries[at].1)
    }

    /// Sets `key`, in place if it exists, else at the end; returns the old value.
    pub fn insert(&mut self, key: Str, value: Value) -> Option<Value> {
        if let Some(at) = self.position(&key) {
            return Some(std::mem::replace(&mut self.entries[at].1, value));
        }
        if let Some(index) = &mut self.index {
            index.insert(key.clone(), self.entries.len());
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > INDEX_FROM {
            self.reindex();
        }
        None
    }

    /// The object at `key`, made an empty one first where `key` is missing or holds
    /// something else (as QMK's merge makes room for nested settings).
    pub fn object_at(&mut self, key: &str) -> &mut Object {
        if !matches!(self.get(key), Some(Value::Object(_))) {
            self.insert(key.into(), Value::Object(Object::new()));
        }
        match self.get_mut(key) {
            Some(Value::Object(members)) => members,
            _ => unreachable!("an object was just put at {key}"),
        }
    }

    /// Removes `key`, keeping the order of the rest.
    pub fn shift_remove(&mut self, key: &str) -> Option<Value> {
        let at = self.position(key)?;
        let (_, value) = self.entries.remove(at);
        self.reindex();
        Some(value)
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Value) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(|(k, v)| keep(k, v));
        if self.entries.len() != before {
            self.reindex();
        }
    }

    /// Sorts entries by key, as Python's `sorted()` orders strings.
    pub fn sort_keys(&mut self) {
        self.entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        self.reindex();
    }

    fn reindex(&mut self) {
        self.index = (self.entries.len() > INDEX_FROM)
            .then(|| Box::new(self.entries.iter().enumerate().map(|(at, (k, _))| (k.clone(), at)).collect()));
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (&**k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| &**k)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.entries.iter_mut().map(|(_, v)| v)
    }
}

impl IntoIterator for Object {
    type Item = (Str, Value);
    type IntoIter = std::vec::IntoIter<(Str, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl FromIterator<(Str, Value)> for Object {
    /// Later duplicates replace earlier ones in place, as `insert` does.
    fn from_iter<I: IntoIterator<Item = (Str, Value)>>(entries: I) -> Self {
        let mut object = Object::new();
        for (key, value) in entries {
            object.insert(key, value);
        }
        object
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Number(n) => n.serialize(serializer),
            Value::String(s) => serializer.serialize_str(s),
            Value::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Object(object) => object.serialize(serializer),
        }
    }
}

impl Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self.iter() {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_small() {
        assert!(std::mem::size_of::<Value>() <= 40, "{} bytes", std::mem::size_of::<Value>());
    }

    fn object(n: usize) -> Object {
        (0..n).map(|i| (Str::from(format!("k{i:02}")), Value::from("v"))).collect()
    }

    #[test]
    fn keeps_order_through_insert_remove_and_retain_at_every_size() {
        for n in [3, INDEX_FROM + 5] {
            let mut o = object(n);
            assert_eq!(o.insert("k01".into(), Value::Null), Some(Value::from("v")));
            assert_eq!(o.keys().nth(1), Some("k01"));
            assert_eq!(o.shift_remove("k00"), Some(Value::from("v")));
            assert_eq!(o.keys().next(), Some("k01"));
            assert!(o.get("k02").is_some() && o.get("k00").is_none());
            o.insert("a".into(), Value::Null);
            assert_eq!(o.keys().last(), Some("a"));
            o.retain(|k, _| k != "k02");
            assert!(!o.contains_key("k02") && o.contains_key("a"));
            o.sort_keys();
            assert_eq!(o.keys().next(), Some("a"));
            assert!(o.get("k01").is_some(), "lookups work after sorting");
        }
    }

    #[test]
    fn serializes_as_json_in_order() {
        let value = Value::from(serde_json::json!({"b": [1, true, null], "a": {"x": "y"}}));
        assert_eq!(value.to_string(), r#"{"b":[1,true,null],"a":{"x":"y"}}"#);
    }
}
