//! The extension's members checked as layers are: every keycode resolves as C
//! resolves it, and what would silently do nothing is said (a combo whose keys are on
//! no layer, a `TD()` without its dance, a dance with no action, a name given twice).

use std::collections::{HashMap, HashSet};

use super::features::{self, Asked, Decision, Feature};
use super::{Extensions, LayerRef, mod_mask};
use crate::diagnostic::{Diagnostic, KeyPosition};
use crate::keyboard::Keyboard;
use crate::keymap::json2c::CKey;
use crate::keymap::validate::Checker;

/// Where the names of the extension collide with names C already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    pub path: Vec<String>,
    pub name: String,
}

/// The findings of the members of `extensions`, beside the keymap's layers.
pub fn check<'a>(
    extensions: &'a Extensions,
    collisions: &[Collision],
    checker: &Checker<'a>,
    c_layers: &'a [Vec<CKey>],
    findings: &mut Vec<Diagnostic>,
) {
    names(extensions, collisions, checker, c_layers.len(), findings);
    combos(extensions, checker, c_layers, findings);
    tap_dances(extensions, checker, c_layers, findings);
    key_overrides(extensions, checker, c_layers.len(), findings);
}

fn error(checker: &Checker, message: String, path: &[&str]) -> Diagnostic {
    checker.finding(Diagnostic::error(message), path)
}

fn warning(checker: &Checker, message: String, path: &[&str]) -> Diagnostic {
    checker.finding(Diagnostic::warning(message), path)
}

/// Names C has already, names given twice, more names than layers.
fn names(
    extensions: &Extensions,
    collisions: &[Collision],
    checker: &Checker,
    layer_count: usize,
    findings: &mut Vec<Diagnostic>,
) {
    for Collision { path, name } in collisions {
        let message = format!(
            "`{name}` is already a name in keymap.c (a C keyword, a keycode, a macro or a constant of QMK's \
             headers): a layer or tap dance needs a name of its own"
        );
        findings.push(error(checker, message, &path.iter().map(String::as_str).collect::<Vec<_>>()));
    }

    let mut seen: HashMap<&str, String> = HashMap::new();
    let named = extensions.layer_names.iter().enumerate().map(|(i, n)| (n, format!("layer_names/{i}")));
    let danced = extensions.tap_dances.iter().map(|d| (&d.name, format!("tap_dances/{}/name", d.index)));
    for (name, at) in named.chain(danced) {
        if let Some(first) = seen.get(name.as_str()) {
            let path: Vec<&str> = at.split('/').collect();
            findings.push(error(checker, format!("`{name}` is named twice: first at `{first}`"), &path));
        } else {
            seen.insert(name, at);
        }
    }
    if layer_count > 0 && extensions.layer_names.len() > layer_count {
        let message =
            format!("`layer_names` names {} layers, but the keymap has {layer_count}", extensions.layer_names.len());
        findings.push(warning(checker, message, &["layer_names"]));
    }
}

/// Each combo's keycodes; keys on no layer, twice in a combo, or an earlier combo's.
fn combos<'a>(
    extensions: &'a Extensions,
    checker: &Checker<'a>,
    c_layers: &'a [Vec<CKey>],
    findings: &mut Vec<Diagnostic>,
) {
    let layer_count = c_layers.len();
    // Every keycode of the layers, for the combos' keys.
    let on_layers: HashSet<u16> =
        c_layers.iter().flatten().filter_map(|key| checker.resolve(&key.text).ok()).map(|r| r.value).collect();
    let mut key_sets: HashMap<Vec<u16>, usize> = HashMap::new();
    for combo in &extensions.combos {
        let at = combo.index.to_string();
        let mut values = Vec::new();
        for (index, key) in combo.keys.iter().enumerate() {
            let path = ["combos", &at, "keys", &index.to_string()];
            checker.keycode(key, layer_count, None, &path, findings);
            let Ok(resolved) = checker.resolve(key) else { continue };
            if resolved.value == 0 {
                let message = format!(
                    "combo {at}: `{key}` is 0, which ends a combo's keys in C (`COMBO_END`): the keys after it would be \
                     left out"
                );
                findings.push(error(checker, message, &path));
            } else if resolved.value == 1 {
                let message = format!("combo {at}: `{key}` is transparent: no key sends it, so the combo never fires");
                findings.push(warning(checker, message, &path));
            } else if layer_count > 0 && !on_layers.contains(&resolved.value) {
                let message = format!(
                    "combo {at}: `{key}` is on no layer, so the combo never fires (a combo's keys are keycodes of \
                     the layers, as the keymap has them)"
                );
                findings.push(warning(checker, message, &path));
            }
            values.push(resolved.value);
        }
        checker.keycode(&combo.output, layer_count, None, &["combos", &at, "output"], findings);
        values.sort_unstable();
        if values.windows(2).any(|w| w[0] == w[1]) {
            findings.push(warning(checker, format!("combo {at} has the same key twice"), &["combos", &at, "keys"]));
        }
        if values.len() == combo.keys.len() {
            if let Some(first) = key_sets.get(&values) {
                let message = format!("combo {at} has the keys of combo {first}: only the first fires");
                findings.push(warning(checker, message, &["combos", &at, "keys"]));
            } else {
                key_sets.insert(values, combo.index);
            }
        }
    }
}

/// Each dance's actions; dances without one, `TD()`s past the last dance.
fn tap_dances<'a>(
    extensions: &'a Extensions,
    checker: &Checker<'a>,
    c_layers: &'a [Vec<CKey>],
    findings: &mut Vec<Diagnostic>,
) {
    let layer_count = c_layers.len();
    for dance in &extensions.tap_dances {
        let at = dance.index.to_string();
        let mut acts = false;
        for (member, keycode) in dance.actions() {
            let Some(keycode) = keycode else { continue };
            let path = ["tap_dances", &at, member];
            checker.keycode(keycode, layer_count, None, &path, findings);
            plain_key(checker, keycode, "a tap dance", &path, findings);
            acts |= checker.resolve(keycode).is_ok_and(|r| r.value != 0);
        }
        if !acts {
            let message = format!("tap dance `{}` has no action: its key does nothing", dance.name);
            findings.push(warning(checker, message, &["tap_dances", &at]));
        }
    }
    let dances = extensions.tap_dances.len();
    for (layer, keys) in c_layers.iter().enumerate() {
        for key in keys {
            let Some(index) = checker.resolve(&key.text).ok().and_then(|r| checker.tap_dance(r.value)) else {
                continue;
            };
            if usize::from(index) >= dances {
                let message = format!(
                    "`{}` is tap dance {index}, but the keymap defines {dances} (`tap_dances`): the key does nothing",
                    key.text
                );
                findings.push(warning(checker, message, &["layers", &layer.to_string(), &key.parts.start.to_string()]));
            }
        }
    }
}

/// Each override's keycodes, modifiers and layers.
fn key_overrides<'a>(
    extensions: &'a Extensions,
    checker: &Checker<'a>,
    layer_count: usize,
    findings: &mut Vec<Diagnostic>,
) {
    for item in &extensions.key_overrides {
        let at = item.index.to_string();
        for (member, keycode) in [("trigger", &item.trigger), ("replacement", &item.replacement)] {
            let path = ["key_overrides", &at, member];
            checker.keycode(keycode, layer_count, None, &path, findings);
            plain_key(checker, keycode, "a key override", &path, findings);
        }
        for (member, mods) in [("trigger_mods", &item.trigger_mods), ("negative_mods", &item.negative_mods)] {
            if let Some(Err(problem)) = mods.as_ref().map(mod_mask) {
                findings.push(error(checker, problem.to_string(), &["key_overrides", &at, member]));
            }
        }
        for (index, layer) in item.layers.iter().flatten().enumerate() {
            let path = ["key_overrides", &at, "layers", &index.to_string()];
            match layer {
                LayerRef::Name(name) if extensions.layer(name).is_none() => {
                    let message = format!("no layer `{name}`: `layer_names` has {:?}", extensions.layer_names);
                    findings.push(error(checker, message, &path));
                }
                LayerRef::Number(number) if layer_count > 0 && usize::from(*number) >= layer_count => {
                    // Past the keyboard's layer state, its bit would not build (8-bit layer states).
                    let message = format!("layer {number} is past the keymap's last (it has {layer_count})");
                    findings.push(error(checker, message, &path));
                }
                _ => {}
            }
        }
    }
}

/// What a tap dance or a key override sends is a key with modifiers, as QMK's
/// `register_code16` takes it: a layer key or QMK's own (`MO(1)`, `QK_BOOT`) would
/// send other keys, so it is an error.
fn plain_key<'a>(checker: &Checker<'a>, keycode: &'a str, what: &str, path: &[&str], findings: &mut Vec<Diagnostic>) {
    let Ok(resolved) = checker.resolve(keycode) else { return };
    if !checker.is_plain_key(resolved.value) {
        let message = format!(
            "`{keycode}` is not a key with modifiers: {what} sends its keys as QMK's register_code16 does, which \
             would send other keys for it"
        );
        findings.push(checker.finding(Diagnostic::error(message), path));
    }
}

/// The features the keymap needs that the build turns on, and a finding for each
/// key whose feature is missing: turned on by the build, or the key does nothing.
pub fn needed_features<'a>(
    extensions: &Extensions,
    keyboard: &Keyboard,
    asked: Asked,
    checker: &Checker<'a>,
    c_layers: &'a [Vec<CKey>],
    findings: &mut Vec<Diagnostic>,
) -> Vec<Feature> {
    let mut turned_on: Vec<Feature> = Vec::new();
    let mut members = Vec::new();
    for (used, member, feature) in [
        (!extensions.combos.is_empty(), "combos", features::COMBO),
        (!extensions.tap_dances.is_empty(), "tap_dances", features::TAP_DANCE),
        (!extensions.key_overrides.is_empty(), "key_overrides", features::KEY_OVERRIDE),
    ] {
        if !used {
            continue;
        }
        members.push(feature);
        match features::decide(&feature, &keyboard.info, asked) {
            Decision::OffByKeymap => {
                let message = format!(
                    "the keymap turns {} off (`{}`) yet has `{member}`: their C would not build without it",
                    feature.title,
                    feature.variable()
                );
                findings.push(checker.finding(Diagnostic::error(message), &[member]));
            }
            Decision::On => {}
            _ => turned_on.push(feature),
        }
    }
    // The keys of the layers first, where each is placed; then every other keycode resolved.
    let placed = c_layers.iter().enumerate().flat_map(|(layer, keys)| {
        keys.iter().enumerate().map(move |(index, key)| (key.text.as_str(), Some((layer, index, key.parts.start))))
    });
    let mut others = checker.resolved_keycodes();
    others.sort_unstable();
    let mut decided: Vec<Feature> = Vec::new();
    for (keycode, place) in placed.chain(others.into_iter().map(|k| (k, None))) {
        let Some(feature) = checker.resolve(keycode).ok().and_then(|r| checker.feature(r.value)) else { continue };
        if decided.contains(&feature) || members.contains(&feature) {
            continue;
        }
        decided.push(feature);
        let Some(message) = feature_message(keycode, &feature, keyboard, asked, &mut turned_on) else { continue };
        let finding = match place {
            Some((layer, index, string)) => {
                let path = ["layers", &layer.to_string(), &string.to_string()];
                let position = KeyPosition { layer, index, label: None };
                checker.finding(Diagnostic::warning(message), &path).at_position(position)
            }
            None => checker.finding(Diagnostic::warning(message), &[]),
        };
        findings.push(finding);
    }
    turned_on.sort_by_key(|f| f.name);
    turned_on
}

/// What the author is told of a key whose feature is not on; `None` where it is.
fn feature_message(
    keycode: &str,
    feature: &Feature,
    keyboard: &Keyboard,
    asked: Asked,
    turned_on: &mut Vec<Feature>,
) -> Option<String> {
    let (whose, title, name) = (keyboard.name.as_str(), feature.title, feature.name);
    Some(match features::decide(feature, &keyboard.info, asked) {
        Decision::On => return None,
        Decision::TurnOn => {
            turned_on.push(*feature);
            format!(
                "`{keycode}` needs {title}, which {whose} does not turn on: the build turns it on ({} = yes); say so \
                 in the keymap with `config: {{features: {{{name}: true}}}}`",
                feature.variable()
            )
        }
        Decision::OffByKeymap => format!("`{keycode}` needs {title}, which the keymap turns off: the key does nothing"),
        Decision::NotRequested if [features::COMBO, features::KEY_OVERRIDE].contains(feature) => {
            format!("`{keycode}` switches {title}, but the keymap has none: the key does nothing")
        }
        Decision::NotRequested => format!(
            "`{keycode}` needs {title}, which {whose} does not turn on: the key does nothing unless the keymap turns it \
             on with `config: {{features: {{{name}: true}}}}`"
        ),
        Decision::NoHardware => format!("`{keycode}` needs {title}, which {whose} does not have: the key does nothing"),
    })
}
