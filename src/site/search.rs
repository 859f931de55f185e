//! The search index: every keycode name and alias, in which versions it exists,
//! and its value there; and what the search page needs to resolve an expression
//! (`LT(1, KC_A)`). Written as JSON for tools, and as a script for the search page,
//! which must work from `file://`, where pages cannot fetch files.
//!
//! Each entry is `[name, key, value, subsystem, versions]`: `key` is empty where it is
//! the name itself, `versions` indexes the subsystem's list of versions, as a
//! `[first, last]` run where they follow each other (as they almost always do), else
//! each one. An entry's page is its subsystem's page of the last of its versions.
//!
//! Expressions are resolved in the page from `expressions`: the value of every name
//! (keycodes and the constants of QMK's keycode headers), and each function-like macro
//! of QMK's headers with one or two parameters as what C makes of each bit of each
//! argument. Every such macro masks, shifts and ORs its arguments into a constant, so a
//! bit of an argument sets the same bits of the value whatever the other bits are; a
//! macro this model does not reproduce on probes is left out, and the page sends its
//! expressions to `qmk-api keycode`.

use std::collections::BTreeMap;

use serde_json::{Value as Json, json};

use super::changelog;
use crate::keymap::Keycodes;
use crate::publish::Published;
use crate::spec::Value;

pub struct Index {
    pub json: Vec<u8>,
    pub script: Vec<u8>,
}

/// One name in one subsystem with one value, and the versions where it has it.
struct Entry {
    key: String,
    versions: Vec<usize>,
}

pub fn index(items: &[&Published], keycodes: Option<&Keycodes>) -> Index {
    let mut subsystems: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut entries: BTreeMap<(String, String, String), Entry> = BTreeMap::new();
    for item in items {
        let versions = subsystems.entry(item.subsystem.as_str()).or_default();
        versions.push(item.version.to_string());
        let at = versions.len() - 1;
        let mut add = |name: &str, key: &str, value: &str| {
            let entry = entries
                .entry((name.to_owned(), item.subsystem.clone(), value.to_owned()))
                .or_insert_with(|| Entry { key: key.to_owned(), versions: Vec::new() });
            entry.versions.push(at);
        };
        for keycode in changelog::keycodes(item.content) {
            add(&keycode.key, &keycode.key, &keycode.value);
            for alias in &keycode.aliases {
                add(alias, &keycode.key, &keycode.value);
            }
        }
        let aliases = item.content.get("aliases").and_then(Value::as_object);
        for (expression, entry) in aliases.into_iter().flat_map(|a| a.iter()) {
            let Some(key) = entry.get("key").and_then(Value::as_str) else { continue };
            add(key, key, expression);
        }
    }
    let rows: Vec<Json> = entries
        .into_iter()
        .map(|((name, subsystem, value), entry)| {
            let key = if entry.key == name { String::new() } else { entry.key };
            json!([name, key, value, subsystem, runs(&entry.versions)])
        })
        .collect();
    let mut document = json!({"subsystems": subsystems, "entries": rows});
    if let Some(keycodes) = keycodes {
        document["expressions"] = expressions(keycodes);
    }
    let json = serde_json::to_vec(&document).expect("the index serializes");
    let mut script = b"window.QMK_SEARCH_INDEX = ".to_vec();
    script.extend_from_slice(&json);
    script.extend_from_slice(b";\n");
    Index { json, script }
}

/// `[first, last]` for versions that follow each other, else each one.
fn runs(versions: &[usize]) -> Json {
    match (versions.first(), versions.last()) {
        (Some(&first), Some(&last)) if last - first + 1 == versions.len() => json!([first, last]),
        _ => json!({ "each": versions }),
    }
}

/// What the page resolves expressions with: `version`, `names` (name → value) and
/// `functions` (name → `{base, bits}`, `bits` per parameter the value each of its 16
/// bits sets, as C evaluates the macro).
fn expressions(keycodes: &Keycodes) -> Json {
    let (names, functions) = keycodes.expression_names();
    let names: BTreeMap<&str, u16> = names.into_iter().collect();
    let functions: BTreeMap<&str, Json> =
        functions.into_iter().filter_map(|(name, arity)| Some((name, bit_model(keycodes, name, arity)?))).collect();
    json!({"version": keycodes.version.to_string(), "names": names, "functions": functions})
}

/// The value `name(args)` has with each argument 0, and the bits each bit of each
/// argument sets; `None` where C refuses the probes or the model misses a check.
fn bit_model(keycodes: &Keycodes, name: &str, arity: usize) -> Option<Json> {
    let value = |args: &[u16]| {
        let args: Vec<String> = args.iter().map(|a| format!("0x{a:04X}")).collect();
        keycodes.resolve(&format!("{name}({})", args.join(", "))).ok().map(|r| r.value)
    };
    let base = value(&vec![0; arity])?;
    let mut bits = vec![[0u16; 16]; arity];
    for (param, param_bits) in bits.iter_mut().enumerate() {
        for (bit, sets) in param_bits.iter_mut().enumerate() {
            let mut args = vec![0; arity];
            args[param] = 1 << bit;
            *sets = value(&args)? ^ base;
        }
    }
    // A macro whose value no argument changes is a test (`IS_…`), not a keycode.
    if bits.iter().flatten().all(|sets| *sets == 0) {
        return None;
    }
    let modelled = |args: &[u16]| {
        args.iter().zip(&bits).fold(base, |value, (arg, sets)| {
            (0..16).filter(|bit| arg & (1 << bit) != 0).fold(value, |value, bit| value | sets[bit])
        })
    };
    // Probes with several bits set: the model holds where bits combine by OR.
    let probes = [0xFFFF, 0x00FF, 0x0F0F, 0x1234, 0x8001, 0x0041, 0x00D5, 0x5555, 0xAAAA, 0x7E40, 0x00F1];
    for (index, &probe) in probes.iter().enumerate() {
        let args: Vec<u16> =
            (0..arity).map(|param| if param == 0 { probe } else { probes[(index + param) % probes.len()] }).collect();
        if value(&args)? != modelled(&args) {
            return None;
        }
    }
    Some(json!({"base": base, "bits": bits}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::DataTree;

    #[test]
    fn version_runs_are_pairs_and_gaps_list_each_version() {
        assert_eq!(runs(&[0, 1, 2]), json!([0, 2]));
        assert_eq!(runs(&[3]), json!([3, 3]));
        assert_eq!(runs(&[0, 2]), json!({"each": [0, 2]}));
    }

    #[test]
    fn the_bit_model_of_a_macro_gives_what_c_gives() {
        let keycodes = Keycodes::new(&crate::spec::load(&DataTree::Bundled).unwrap().constants, None).unwrap();
        let model = bit_model(&keycodes, "LT", 2).unwrap();
        assert_eq!(model["base"], 0x4000);
        assert_eq!(model["bits"][0][0], 0x0100, "the layer's first bit");
        assert_eq!(model["bits"][0][4], 0, "layer 16 is masked away");
        assert_eq!(model["bits"][1][2], 0x0004);
        assert_eq!(model["bits"][1][8], 0, "a keycode's high byte is masked away");
    }
}
