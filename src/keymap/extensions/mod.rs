//! What QMK's keymap JSON cannot say, said in four more members modelled on Vial's:
//! `layer_names`, `combos`, `tap_dances` and `key_overrides` (the contract is
//! `data/keymap/keymap.jsonschema`). QMK's tools ignore these members; qmk-api checks
//! them ([`check`]) and writes them as the C QMK documents for each feature ([`c`]).
//!
//! Reading takes what is well shaped and leaves shapes to the schema, which reports
//! them with their paths; every item keeps its index in the file for findings.

pub mod c;
mod check;
pub mod features;
mod mods;

use crate::spec::{Object, Value};

pub(in crate::keymap) use check::{Collision, check, needed_features};
pub use mods::{ModsError, mod_mask, written as written_mods};

/// The members, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    /// The name of each layer, from layer 0.
    pub layer_names: Vec<String>,
    pub combos: Vec<Combo>,
    pub tap_dances: Vec<TapDance>,
    pub key_overrides: Vec<KeyOverride>,
}

/// Keys pressed together that send `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combo {
    pub index: usize,
    pub keys: Vec<String>,
    pub output: String,
    /// Milliseconds; `COMBO_TERM` when absent.
    pub term: Option<u16>,
}

/// A key that acts by how it is tapped and held (`TD(name)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapDance {
    pub index: usize,
    pub name: String,
    pub on_tap: Option<String>,
    pub on_hold: Option<String>,
    pub on_double_tap: Option<String>,
    pub on_tap_hold: Option<String>,
    /// Milliseconds; `TAPPING_TERM` when absent.
    pub tapping_term: Option<u16>,
}

impl TapDance {
    /// The actions, with their member names.
    pub fn actions(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("on_tap", self.on_tap.as_deref()),
            ("on_hold", self.on_hold.as_deref()),
            ("on_double_tap", self.on_double_tap.as_deref()),
            ("on_tap_hold", self.on_tap_hold.as_deref()),
        ]
    }
}

/// `trigger` pressed with `trigger_mods` sends `replacement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOverride {
    pub index: usize,
    pub trigger: String,
    /// As written: a mask expression or a number; none means no modifier.
    pub trigger_mods: Option<Mods>,
    pub negative_mods: Option<Mods>,
    pub replacement: String,
    /// Names or numbers; every layer when absent.
    pub layers: Option<Vec<LayerRef>>,
}

/// Modifiers as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mods {
    Text(String),
    Bits(u8),
}

/// A layer as a key override names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerRef {
    Name(String),
    Number(u8),
}

/// The members of the extension, in the order the schema lists them.
pub const MEMBERS: [&str; 4] = ["layer_names", "combos", "tap_dances", "key_overrides"];

impl Extensions {
    /// The well-shaped part of the members in `document`.
    pub fn read(document: &Object) -> Extensions {
        let items = |member: &str| -> Vec<(usize, &Object)> {
            let values = document.get(member).and_then(Value::as_array).unwrap_or_default();
            values.iter().enumerate().filter_map(|(i, v)| Some((i, v.as_object()?))).collect()
        };
        let layer_names = document.get("layer_names").and_then(Value::as_array).unwrap_or_default();
        Extensions {
            layer_names: layer_names.iter().filter_map(|name| Some(name.as_str()?.to_owned())).collect(),
            combos: items("combos")
                .into_iter()
                .filter_map(|(index, item)| {
                    let keys: Option<Vec<String>> =
                        item.get("keys")?.as_array()?.iter().map(|k| Some(k.as_str()?.to_owned())).collect();
                    Some(Combo {
                        index,
                        keys: keys?,
                        output: string(item, "output")?,
                        term: milliseconds(item, "term"),
                    })
                })
                .collect(),
            tap_dances: items("tap_dances")
                .into_iter()
                .filter_map(|(index, item)| {
                    Some(TapDance {
                        index,
                        name: string(item, "name")?,
                        on_tap: string(item, "on_tap"),
                        on_hold: string(item, "on_hold"),
                        on_double_tap: string(item, "on_double_tap"),
                        on_tap_hold: string(item, "on_tap_hold"),
                        tapping_term: milliseconds(item, "tapping_term"),
                    })
                })
                .collect(),
            key_overrides: items("key_overrides")
                .into_iter()
                .filter_map(|(index, item)| {
                    let layers = match item.get("layers") {
                        None => None,
                        Some(value) => Some(value.as_array()?.iter().map(layer_ref).collect::<Option<Vec<_>>>()?),
                    };
                    Some(KeyOverride {
                        index,
                        trigger: string(item, "trigger")?,
                        trigger_mods: item.get("trigger_mods").and_then(mods),
                        negative_mods: item.get("negative_mods").and_then(mods),
                        replacement: string(item, "replacement")?,
                        layers,
                    })
                })
                .collect(),
        }
    }

    /// Whether the keymap uses none of the members.
    pub fn is_empty(&self) -> bool {
        self.layer_names.is_empty()
            && self.combos.is_empty()
            && self.tap_dances.is_empty()
            && self.key_overrides.is_empty()
    }

    /// The layer a name stands for.
    pub fn layer(&self, name: &str) -> Option<usize> {
        self.layer_names.iter().position(|n| n == name)
    }
}

fn string(item: &Object, field: &str) -> Option<String> {
    item.get(field)?.as_str().map(str::to_owned)
}

fn milliseconds(item: &Object, field: &str) -> Option<u16> {
    let Value::Number(n) = item.get(field)? else { return None };
    n.as_u64().and_then(|n| u16::try_from(n).ok()).filter(|n| *n > 0)
}

fn mods(value: &Value) -> Option<Mods> {
    match value {
        Value::String(text) => Some(Mods::Text(text.to_string())),
        Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()).map(Mods::Bits),
        _ => None,
    }
}

fn layer_ref(value: &Value) -> Option<LayerRef> {
    match value {
        Value::String(name) => Some(LayerRef::Name(name.to_string())),
        Value::Number(n) => n.as_u64().and_then(|n| u8::try_from(n).ok()).map(LayerRef::Number),
        _ => None,
    }
}
