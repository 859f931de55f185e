//! Combos, tap dances and key overrides written in the shapes QMK documents, read into
//! qmk-api's extension of keymap JSON (`combos`, `tap_dances`, `key_overrides`). What
//! those shapes run as code (`COMBO_ACTION`, `ACTION_TAP_DANCE_FN`…) cannot be carried
//! and is noted; a dance that cannot is kept without actions, so that `TD(n)` still
//! names the same dance.

use std::collections::BTreeSet;

use crate::c::lexer::Token;
use crate::c::preprocess::{self, PpToken, Preprocessed};
use crate::keymap::{Scope, is_taken};
use crate::spec::{Object, Value};

use super::{elements, find_array, place};

/// How the reader turns tokens into what keymap JSON holds.
pub(super) struct Tools<'t> {
    /// Expands the macros of tokens standing at a position of the preprocessed tokens.
    pub expand: &'t dyn Fn(&[PpToken], usize) -> Vec<PpToken>,
    /// A key as keymap JSON writes it.
    pub key: &'t mut dyn FnMut(&[PpToken]) -> String,
    /// The value C gives an expression in the keymap.
    pub value: &'t dyn Fn(&str) -> Option<u16>,
}

/// What the keymap says in the extension's members, each an array of its items.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Extended {
    pub combos: Vec<Value>,
    pub tap_dances: Vec<Value>,
    pub key_overrides: Vec<Value>,
}

/// The dances' names, where the dance enum names dances 0 to the last with names C
/// has no other meaning for: `TD(ESC_CAPS)` is then kept as written.
pub(super) fn dance_names(preprocessed: &Preprocessed, scope: &Scope, qmk: &Scope) -> Vec<String> {
    let Some(array) = find_array(&preprocessed.tokens, "tap_dance_actions") else { return Vec::new() };
    let mut named: Vec<(u16, String)> = Vec::new();
    for element in elements(&preprocessed.tokens, array) {
        let [only] = element.designator.as_slice() else { return Vec::new() };
        let Ok(value) = scope.resolve(&only.text) else { return Vec::new() };
        named.push((value.value, only.text.to_string()));
    }
    named.sort();
    let numbered = named.iter().enumerate().all(|(index, (value, _))| usize::from(*value) == index);
    let names: BTreeSet<&String> = named.iter().map(|(_, name)| name).collect();
    match numbered && names.len() == named.len() && !named.iter().any(|(_, name)| is_taken(qmk, name)) {
        true => named.into_iter().map(|(_, name)| name).collect(),
        false => Vec::new(),
    }
}

/// Reads the combos, tap dances and key overrides.
pub(super) fn read(
    preprocessed: &Preprocessed,
    dance_names: &[String],
    tools: &mut Tools,
    notes: &mut Vec<String>,
) -> Extended {
    Extended {
        combos: combos(preprocessed, tools, notes),
        tap_dances: tap_dances(preprocessed, dance_names, tools, notes),
        key_overrides: key_overrides(preprocessed, tools, notes),
    }
}

/// `combo_t key_combos[] = {COMBO(keys, output), …}` with each `keys` array ending in `COMBO_END`.
fn combos(preprocessed: &Preprocessed, tools: &mut Tools, notes: &mut Vec<String>) -> Vec<Value> {
    let tokens = &preprocessed.tokens;
    let Some(array) = find_array(tokens, "key_combos") else { return Vec::new() };
    let mut combos = Vec::new();
    for (index, element) in elements(tokens, array).into_iter().enumerate() {
        let at = place(preprocessed, element.value.first());
        let expanded = (tools.expand)(&element.value, element.position);
        let Some((shape, arguments)) = super::call(&expanded) else {
            notes.push(format!("{at}: combo {index} is not written as COMBO(keys, output): not carried"));
            continue;
        };
        let (Some(keys_name), true) = (arguments.first().and_then(|a| single_name(a)), shape == "COMBO") else {
            notes.push(format!("{at}: combo {index} is `{shape}(…)`, which runs code: not carried"));
            continue;
        };
        let Some(keys_array) = find_array(tokens, &keys_name) else {
            notes.push(format!("{at}: combo {index}: no array `{keys_name}` of its keys: not carried"));
            continue;
        };
        let mut keys = Vec::new();
        for key in elements(tokens, keys_array) {
            let key_tokens = (tools.expand)(&key.value, key.position);
            if !matches!(key_tokens.as_slice(), [end] if end.is("COMBO_END")) {
                keys.push(Value::from((tools.key)(&key_tokens).as_str()));
            }
        }
        let [_, output] = arguments.as_slice() else { continue };
        let mut combo = Object::new();
        combo.insert("keys".into(), Value::Array(keys));
        combo.insert("output".into(), Value::from((tools.key)(output).as_str()));
        combos.push(Value::Object(combo));
    }
    combos
}

/// `tap_dance_action_t tap_dance_actions[] = {[NAME] = ACTION_TAP_DANCE_DOUBLE(tap, double tap), …}`.
fn tap_dances(preprocessed: &Preprocessed, names: &[String], tools: &mut Tools, notes: &mut Vec<String>) -> Vec<Value> {
    let tokens = &preprocessed.tokens;
    let Some(array) = find_array(tokens, "tap_dance_actions") else { return Vec::new() };
    let mut dances = Vec::new();
    for (index, element) in elements(tokens, array).into_iter().enumerate() {
        let at = place(preprocessed, element.value.first());
        let mut dance = Object::new();
        let name = names.get(index).cloned().unwrap_or_else(|| format!("DANCE_{index}"));
        dance.insert("name".into(), Value::from(name.as_str()));
        let expanded = (tools.expand)(&element.value, element.position);
        match super::call(&expanded) {
            Some((shape, arguments)) if shape == "ACTION_TAP_DANCE_DOUBLE" && arguments.len() == 2 => {
                dance.insert("on_tap".into(), Value::from((tools.key)(&arguments[0]).as_str()));
                dance.insert("on_double_tap".into(), Value::from((tools.key)(&arguments[1]).as_str()));
            }
            Some((shape, _)) => notes.push(format!(
                "{at}: tap dance {index} is `{shape}(…)`, which runs code or changes layers: carried as `{name}` without actions"
            )),
            None => notes.push(format!("{at}: tap dance {index} is no ACTION_TAP_DANCE_…: carried as `{name}` without actions")),
        }
        dances.push(Value::Object(dance));
    }
    dances
}

/// `const key_override_t *key_overrides[] = {&name, …}` with each `name` made by
/// `ko_make_basic`, `ko_make_with_layers` or `ko_make_with_layers_and_negmods`.
fn key_overrides(preprocessed: &Preprocessed, tools: &mut Tools, notes: &mut Vec<String>) -> Vec<Value> {
    let tokens = &preprocessed.tokens;
    let Some(array) = find_array(tokens, "key_overrides") else { return Vec::new() };
    let mut overrides = Vec::new();
    for (index, element) in elements(tokens, array).into_iter().enumerate() {
        let at = place(preprocessed, element.value.first());
        let name = match element.value.as_slice() {
            [ampersand, name] if ampersand.is("&") => name.text.to_string(),
            [null] if null.is("NULL") => continue,
            _ => {
                notes.push(format!("{at}: key override {index} is not written as `&name`: not carried"));
                continue;
            }
        };
        let Some(made) = definition(tokens, &name) else {
            notes.push(format!("{at}: key override {index}: no `key_override_t {name} = ko_make_…(…)`: not carried"));
            continue;
        };
        let expanded = (tools.expand)(&tokens[made.clone()], made.start);
        let Some((shape, arguments)) = super::call(&expanded) else { continue };
        let carried = matches!(
            (shape.as_str(), arguments.len()),
            ("ko_make_basic", 3) | ("ko_make_with_layers", 4) | ("ko_make_with_layers_and_negmods", 5)
        );
        if !carried {
            notes.push(format!(
                "{at}: key override `{name}` is `{shape}(…)`, whose options keymap JSON cannot hold: not carried"
            ));
            continue;
        }
        let mut entry = Object::new();
        entry.insert("trigger".into(), Value::from((tools.key)(&arguments[1]).as_str()));
        entry.insert("replacement".into(), Value::from((tools.key)(&arguments[2]).as_str()));
        if let Some(mods) = mods(&arguments[0], tools) {
            entry.insert("trigger_mods".into(), mods);
        }
        if let Some(layers) = arguments.get(3).and_then(|mask| layers(mask, tools)) {
            entry.insert("layers".into(), layers);
        }
        if let Some(negative) = arguments.get(4).and_then(|m| mods(m, tools)) {
            entry.insert("negative_mods".into(), negative);
        }
        overrides.push(Value::Object(entry));
    }
    overrides
}

/// The tokens of what `const key_override_t NAME = …;` is set to.
fn definition(tokens: &[PpToken], name: &str) -> Option<std::ops::Range<usize>> {
    let at = tokens.windows(2).position(|pair| pair[0].is(name) && pair[1].token == Token::Assign)?;
    let end = at + 2 + tokens[at + 2..].iter().position(|t| t.token == Token::Semicolon)?;
    Some(at + 2..end)
}

fn single_name(tokens: &[PpToken]) -> Option<String> {
    match tokens {
        [only] if only.token == Token::Ident => Some(only.text.to_string()),
        _ => None,
    }
}

/// Modifiers as the extension writes them: QMK's `MOD_MASK_…`/`MOD_BIT_…` names as
/// written, anything else as its 8 bits.
fn mods(tokens: &[PpToken], tools: &Tools) -> Option<Value> {
    let text = preprocess::join(tokens);
    if text == "0" {
        return None;
    }
    let named =
        text.split('|').map(str::trim).all(|part| part.starts_with("MOD_MASK_") || part.starts_with("MOD_BIT_"));
    match named {
        true => Some(Value::from(text.as_str())),
        false => (tools.value)(&text).map(|bits| Value::from(serde_json::Value::from(bits & 0xFF))),
    }
}

/// The layers of a layer mask, as numbers; none for every layer.
fn layers(tokens: &[PpToken], tools: &Tools) -> Option<Value> {
    let text = preprocess::join(tokens);
    let mask = (tools.value)(&text)?;
    if mask == u16::MAX {
        return None;
    }
    let layers = (0..16).filter(|bit| mask & (1 << bit) != 0).map(|bit| Value::from(serde_json::Value::from(bit)));
    Some(Value::Array(layers.collect()))
}
