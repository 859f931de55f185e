//! The extension written as the C QMK documents for each feature: an enum of the
//! layer names and one of the tap dances (`keymap.h`), the `key_combos`,
//! `tap_dance_actions` and `key_overrides` arrays (`keymap.c`), and the features and
//! settings they need (`rules.mk`, `config.h`).
//!
//! A build's keymap folder holds the keymap.json as QMK's make takes it, beside these
//! files: QMK's generated `keymap.h` includes the folder's own, and its generated
//! `keymap.c` includes the folder's `keymap.c` at its end (`OTHER_KEYMAP_C`). As in
//! json2c, nothing is written unchecked: keycodes must be keycode expressions, names C
//! identifiers, modifiers QMK's mask names.

use std::fmt::Write;

use super::features::Feature;
use super::{Extensions, KeyOverride, LayerRef, Mods, TapDance, written_mods};
use crate::keymap::Keymap;
use crate::keymap::json2c::{Json2cError, keycode};
use crate::keymap::keycodes::is_identifier;

/// The files a keymap folder may hold, in the order they are written.
pub const FOLDER_FILES: [&str; 5] = ["keymap.json", "keymap.h", "keymap.c", "rules.mk", "config.h"];

/// The keymap folder QMK's make builds: keymap.json as written, and the files of the
/// extension and of the features the build turns on, where there is something to say.
pub fn folder(keymap: &Keymap, features: &[Feature]) -> Result<Vec<(&'static str, String)>, Json2cError> {
    let extensions = &keymap.extensions;
    let mut files = vec![("keymap.json", crate::keymap::to_keymap_json(&keymap.document))];
    let header = enums(extensions)?;
    if !header.is_empty() {
        files.push(("keymap.h", format!("{GENERATED}#pragma once\n\n{header}")));
    }
    let code = code(extensions)?;
    if !code.is_empty() {
        files.push(("keymap.c", format!("{GENERATED}{code}")));
    }
    if !features.is_empty() {
        let lines: String = features.iter().map(|f| format!("{} = yes\n", f.variable())).collect();
        files.push(("rules.mk", format!("# Written by qmk-api: the features this keymap uses.\n{lines}")));
    }
    let config = config(extensions);
    if !config.is_empty() {
        files.push(("config.h", format!("{GENERATED}#pragma once\n\n{config}")));
    }
    Ok(files)
}

const GENERATED: &str =
    "// Written by qmk-api from the keymap's layer_names, combos, tap_dances and key_overrides.\n\n";

/// `enum layer_names` and `enum tap_dance_names`, or "" for a keymap without names.
pub fn enums(extensions: &Extensions) -> Result<String, Json2cError> {
    let mut text = String::new();
    let dances: Vec<&str> = extensions.tap_dances.iter().map(|d| d.name.as_str()).collect();
    for (what, names) in
        [("layer_names", extensions.layer_names.iter().map(String::as_str).collect()), ("tap_dance_names", dances)]
    {
        if names.is_empty() {
            continue;
        }
        for name in &names {
            if !is_identifier(name) {
                return Err(Json2cError::BadName { at: what.to_owned(), text: (*name).to_owned() });
            }
        }
        // Tags of qmk-api's own: keyboards declare `enum layer_names` themselves.
        let _ = write!(text, "enum qmk_api_{what} {{\n    {},\n}};\n", names.join(",\n    "));
    }
    Ok(text)
}

/// The combos, tap dances and key overrides, or "" for a keymap without them.
pub fn code(extensions: &Extensions) -> Result<String, Json2cError> {
    let mut parts = Vec::new();
    if !extensions.combos.is_empty() {
        parts.push(combos(extensions)?);
    }
    if !extensions.tap_dances.is_empty() {
        parts.push(tap_dances(&extensions.tap_dances)?);
    }
    if !extensions.key_overrides.is_empty() {
        parts.push(key_overrides(extensions)?);
    }
    Ok(parts.join("\n"))
}

/// The settings the code needs: per-combo and per-key terms.
pub fn config(extensions: &Extensions) -> String {
    let mut text = String::new();
    if extensions.combos.iter().any(|c| c.term.is_some()) {
        text += "#define COMBO_TERM_PER_COMBO\n";
    }
    if extensions.tap_dances.iter().any(|d| d.tapping_term.is_some()) {
        text += "#define TAPPING_TERM_PER_KEY\n";
    }
    text
}

fn combos(extensions: &Extensions) -> Result<String, Json2cError> {
    let mut keys = String::new();
    let mut table = String::from("combo_t key_combos[] = {\n");
    for combo in &extensions.combos {
        let at = |what: String| move || format!("combos/{}/{what}", combo.index);
        let mut written = Vec::with_capacity(combo.keys.len());
        for (index, key) in combo.keys.iter().enumerate() {
            written.push(keycode(key, at(format!("keys/{index}")))?);
        }
        let output = keycode(&combo.output, at("output".into()))?;
        let _ = writeln!(
            keys,
            "const uint16_t PROGMEM qmk_api_combo_{}[] = {{{}, COMBO_END}};",
            combo.index,
            written.join(", ")
        );
        let _ = writeln!(table, "    COMBO(qmk_api_combo_{}, {output}),", combo.index);
    }
    table += "};\n";
    let terms: Vec<String> = extensions
        .combos
        .iter()
        .enumerate()
        .filter_map(|(position, combo)| {
            Some(format!("        case {position}:\n            return {};\n", combo.term?))
        })
        .collect();
    if !terms.is_empty() {
        let _ = write!(
            table,
            "\nuint16_t get_combo_term(uint16_t qmk_api_index, combo_t *qmk_api_combo) {{\n    switch (qmk_api_index) {{\n{}    }}\n    return COMBO_TERM;\n}}\n",
            terms.concat()
        );
    }
    Ok(format!("{keys}{table}"))
}

/// Each dance as Vial's: a tap, a hold, a double tap and a tap then hold, each sending
/// its keycode for as long as the key is down.
fn tap_dances(dances: &[TapDance]) -> Result<String, Json2cError> {
    let mut rows = String::new();
    let mut actions = String::new();
    let mut terms = String::new();
    for dance in dances {
        if !is_identifier(&dance.name) {
            return Err(Json2cError::BadName {
                at: format!("tap_dances/{}/name", dance.index),
                text: dance.name.clone(),
            });
        }
        let mut sent = Vec::new();
        for (member, action) in dance.actions() {
            let at = || format!("tap_dances/{}/{member}", dance.index);
            sent.push(match action {
                Some(text) => keycode(text, at)?.to_owned(),
                None => "KC_NO".to_owned(),
            });
        }
        let name = &dance.name;
        let _ = writeln!(rows, "    [{name}] = {{{}, KC_NO}},", sent.join(", "));
        let _ = writeln!(
            actions,
            "    [{name}] = {{.fn = {{NULL, qmk_api_dance_finished, qmk_api_dance_reset, NULL}}, .user_data = &qmk_api_dances[{name}]}},"
        );
        if let Some(term) = dance.tapping_term {
            let _ = write!(terms, "        case TD({name}):\n            return {term};\n");
        }
    }
    let mut text = format!(
        "typedef struct {{\n    uint16_t on_tap;\n    uint16_t on_hold;\n    uint16_t on_double_tap;\n    uint16_t on_tap_hold;\n    uint16_t sent;\n}} qmk_api_dance_t;\n\n\
         static qmk_api_dance_t qmk_api_dances[] = {{\n{rows}}};\n\n{DANCE_FUNCTIONS}\n\
         tap_dance_action_t tap_dance_actions[] = {{\n{actions}}};\n"
    );
    if !terms.is_empty() {
        let _ = write!(
            text,
            "\nuint16_t get_tapping_term(uint16_t qmk_api_keycode, keyrecord_t *qmk_api_record) {{\n    switch (qmk_api_keycode) {{\n{terms}        default:\n            return TAPPING_TERM;\n    }}\n}}\n"
        );
    }
    Ok(text)
}

/// What a dance sends once its taps are counted; released when the dance resets.
const DANCE_FUNCTIONS: &str = "\
static void qmk_api_dance_finished(tap_dance_state_t *state, void *user_data) {
    qmk_api_dance_t *dance = (qmk_api_dance_t *)user_data;
    uint16_t keycode = dance->on_tap;
    if (state->count == 1 && state->pressed && dance->on_hold != KC_NO) {
        keycode = dance->on_hold;
    } else if (state->count == 2 && state->pressed && dance->on_tap_hold != KC_NO) {
        keycode = dance->on_tap_hold;
    } else if (state->count == 2 && dance->on_double_tap != KC_NO) {
        keycode = dance->on_double_tap;
    } else {
        for (uint8_t tap = 1; tap < state->count; tap++) {
            tap_code16(dance->on_tap);
        }
    }
    dance->sent = keycode;
    register_code16(keycode);
}

static void qmk_api_dance_reset(tap_dance_state_t *state, void *user_data) {
    qmk_api_dance_t *dance = (qmk_api_dance_t *)user_data;
    unregister_code16(dance->sent);
    dance->sent = KC_NO;
}
";

fn key_overrides(extensions: &Extensions) -> Result<String, Json2cError> {
    let mut definitions = String::new();
    let mut table = String::from("const key_override_t *key_overrides[] = {\n");
    for item in &extensions.key_overrides {
        let at = |member: &'static str| move || format!("key_overrides/{}/{member}", item.index);
        let trigger = keycode(&item.trigger, at("trigger"))?;
        let replacement = keycode(&item.replacement, at("replacement"))?;
        let trigger_mods = mods(item.trigger_mods.as_ref(), at("trigger_mods"))?;
        let negative_mods = mods(item.negative_mods.as_ref(), at("negative_mods"))?;
        let layers = layer_mask(item, extensions)?;
        let _ = writeln!(
            definitions,
            "const key_override_t qmk_api_key_override_{} = ko_make_with_layers_and_negmods({trigger_mods}, {trigger}, {replacement}, {layers}, {negative_mods});",
            item.index
        );
        let _ = writeln!(table, "    &qmk_api_key_override_{},", item.index);
    }
    Ok(format!("{definitions}{table}}};\n"))
}

/// Modifiers as C; none is 0.
fn mods(mods: Option<&Mods>, at: impl Fn() -> String) -> Result<String, Json2cError> {
    let Some(mods) = mods else { return Ok("0".to_owned()) };
    written_mods(mods).map_err(|error| Json2cError::BadMods { at: at(), reason: error.to_string() })
}

/// The layers a key override acts on, as a layer state mask; `~0` for all.
fn layer_mask(item: &KeyOverride, extensions: &Extensions) -> Result<String, Json2cError> {
    let Some(layers) = &item.layers else { return Ok("~0".to_owned()) };
    let mut bits = Vec::with_capacity(layers.len());
    for (index, layer) in layers.iter().enumerate() {
        let at = || format!("key_overrides/{}/layers/{index}", item.index);
        let written = match layer {
            LayerRef::Number(number) if *number < 32 => number.to_string(),
            LayerRef::Name(name) if extensions.layer(name).is_some() && is_identifier(name) => name.clone(),
            LayerRef::Number(number) => return Err(Json2cError::BadName { at: at(), text: number.to_string() }),
            LayerRef::Name(name) => return Err(Json2cError::BadName { at: at(), text: name.clone() }),
        };
        bits.push(format!("((layer_state_t)1 << {written})"));
    }
    Ok(bits.join(" | "))
}
