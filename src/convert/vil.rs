//! Vial: a layout file (`.vil`, Vial's "Save current layout") ↔ keymap JSON with
//! qmk-api's extension (`combos`, `tap_dances`, `key_overrides`).
//!
//! A `.vil` is JSON: `layout` (per layer, per matrix row, per column: a keycode, or -1
//! where the keyboard has no key), `encoder_layout` (per layer, per encoder:
//! [counter-clockwise, clockwise]), `macro` (per macro, its actions: `["text", ...]`,
//! `["tap"|"down"|"up", keycodes...]`, `["delay", ms]`), `tap_dance` ([on tap, on
//! hold, on double tap, on tap-hold, tapping term]), `combo` ([key 1..4, output]),
//! `key_override` (objects: `trigger`, `replacement`, `layers` as a bit per layer,
//! `trigger_mods`, `negative_mod_mask`, `suppressed_mods` as modifier bits, `options`),
//! `alt_repeat_key`, `settings` (QMK settings by id), `layout_options`, `uid`,
//! `via_protocol` and `vial_protocol`. Keycodes are Vial's names, or numbers in the
//! numbering of the firmware's Vial protocol (6: QMK 0.19 and later).

use serde_json::{Map, Value as Json, json};

use super::foreign::{self, Numbering, Tool};
use super::{Converted, Input, via};
use crate::keymap::extensions::{LayerRef, Mods, mod_mask};
use crate::keymap::{self, Context};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VilError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, VilError> {
    Err(VilError(message.into()))
}

/// The Vial protocol whose keycodes are QMK's since 0.19.
const CURRENT_PROTOCOL: u64 = 6;
/// `options` bit 7: the override is on.
const OVERRIDE_ENABLED: u64 = 1 << 7;
/// `options` of an override as QMK's `ko_make_with_layers_and_negmods` makes it
/// (`ko_options_default`: acts on trigger down, required mod down, negative mod up).
const OVERRIDE_DEFAULT_OPTIONS: u64 = 0b111;
/// `layers` of an override that acts on every layer.
const ALL_LAYERS: u64 = 0xFFFF;
/// How many keys a Vial combo has.
const COMBO_KEYS: usize = 4;

/// A `.vil` as keymap JSON for `input.keyboard`.
pub fn to_json(input: &Input, context: Context) -> Result<Converted, VilError> {
    let document: Json =
        serde_json::from_str(input.text).map_err(|e| VilError(format!("not JSON, so no Vial layout file: {e}")))?;
    let Some(members) = document.as_object() else { return fail("a Vial layout file is a JSON object") };
    if !members.get("layout").is_some_and(Json::is_array) {
        return match via::what_else(&document) {
            Some(other) if !other.starts_with("a Vial") => fail(format!("this is {other}")),
            _ if members.contains_key("vendorProductId") => {
                fail("this is a VIA backup (it has `vendorProductId`): convert it with --from via")
            }
            _ => fail("no `layout`: a Vial layout file holds its layers as `layout`"),
        };
    }
    let Some(name) = input.keyboard else {
        return fail("a Vial layout file does not name its keyboard: give --keyboard");
    };
    let keyboard = context.keyboards.resolve(name).map_err(|e| VilError(e.to_string()))?;
    let Some(size) = keyboard.matrix_size() else {
        return fail(format!("keyboard `{}` has no matrix_size", keyboard.name));
    };
    let numbering = match members.get("vial_protocol").and_then(Json::as_u64) {
        Some(protocol) if protocol >= CURRENT_PROTOCOL => Numbering::Current,
        _ => Numbering::Older,
    };
    let custom = keyboard.custom_keycodes();
    let mut notes = Vec::new();
    let mut translate = |value: &Json, at: &str, notes: &mut Vec<String>| -> Result<String, VilError> {
        let written = match value {
            Json::String(text) => text.clone(),
            Json::Number(n) if n.as_i64() == Some(-1) => "KC_NO".to_owned(),
            Json::Number(n) => match n.as_u64().and_then(|n| u16::try_from(n).ok()) {
                Some(number) => format!("0x{number:04X}"),
                None => return fail(format!("{at}: {n} is no keycode")),
            },
            other => return fail(format!("{at}: a keycode is a name or a number, not {other}")),
        };
        foreign::translate(&written, Tool::Vial, numbering, &custom, context, notes, at).map_err(VilError)
    };

    let layers = members["layout"].as_array().expect("checked above");
    let mut matrix_layers: Vec<Vec<String>> = Vec::with_capacity(layers.len());
    for (l, layer) in layers.iter().enumerate() {
        let Some(rows) = layer.as_array() else { return fail(format!("layout/{l}: not a list of matrix rows")) };
        if rows.len() as u64 != size.rows {
            return fail(format!(
                "layout/{l}: {} rows, but `{}`'s matrix has {}; is the file of another keyboard?",
                rows.len(),
                keyboard.name,
                size.rows
            ));
        }
        let mut keys = Vec::with_capacity((size.rows * size.cols) as usize);
        for (r, row) in rows.iter().enumerate() {
            let Some(row) = row.as_array() else { return fail(format!("layout/{l}/{r}: not a list of keycodes")) };
            if row.len() as u64 != size.cols {
                return fail(format!(
                    "layout/{l}/{r}: {} columns, but `{}`'s matrix has {}",
                    row.len(),
                    keyboard.name,
                    size.cols
                ));
            }
            for (c, value) in row.iter().enumerate() {
                keys.push(translate(value, &format!("layout/{l}/{r}/{c}"), &mut notes)?);
            }
        }
        matrix_layers.push(keys);
    }
    if matrix_layers.is_empty() {
        return fail("`layout` is empty");
    }
    let borrowed: Vec<Vec<&str>> = matrix_layers.iter().map(|l| l.iter().map(String::as_str).collect()).collect();
    let (layout_name, layout) =
        via::choose_layout(keyboard, &borrowed, size.cols as usize, &mut notes).map_err(|e| VilError(e.0))?;
    let keymap_layers: Vec<Vec<&str>> = borrowed
        .iter()
        .map(|layer| {
            layout
                .keys
                .iter()
                .map(|key| {
                    let [r, c] = key.matrix().unwrap_or_default();
                    layer[r as usize * size.cols as usize + c as usize]
                })
                .collect()
        })
        .collect();
    let mut out = json!({
        "keyboard": keyboard.name,
        "keymap": input.keymap.unwrap_or("vial"),
        "layout": layout_name,
        "layers": keymap_layers,
    });

    if let Some(encoders) = members.get("encoder_layout").and_then(Json::as_array).filter(|e| !e.is_empty()) {
        let mut by_layer = Vec::with_capacity(encoders.len());
        for (l, layer) in encoders.iter().enumerate() {
            let Some(layer) = layer.as_array() else { return fail(format!("encoder_layout/{l}: not a list")) };
            let mut row = Vec::with_capacity(layer.len());
            for (e, pair) in layer.iter().enumerate() {
                let side = |i: usize| pair.as_array().and_then(|p| p.get(i));
                let (Some(ccw), Some(cw)) = (side(0), side(1)) else {
                    return fail(format!("encoder_layout/{l}/{e}: not a pair [counter-clockwise, clockwise]"));
                };
                let at = format!("encoder_layout/{l}/{e}");
                row.push(json!({"ccw": translate(ccw, &at, &mut notes)?, "cw": translate(cw, &at, &mut notes)?}));
            }
            by_layer.push(Json::Array(row));
        }
        if by_layer.iter().any(|l| l.as_array().is_some_and(|l| !l.is_empty())) {
            out["encoders"] = Json::Array(by_layer);
        }
    }

    if let Some(macros) = members.get("macro").and_then(Json::as_array) {
        let mut converted = Vec::with_capacity(macros.len());
        for (m, actions) in macros.iter().enumerate() {
            let Some(actions) = actions.as_array() else { return fail(format!("macro/{m}: not a list of actions")) };
            let mut steps = Vec::with_capacity(actions.len());
            for (a, action) in actions.iter().enumerate() {
                let at = format!("macro/{m}/{a}");
                let step = macro_step(action, &mut |key| foreign::macro_key(key, context, &mut notes, &at));
                steps.push(step.map_err(|e| VilError(format!("{at}: {e}")))?);
            }
            converted.push(Json::Array(steps));
        }
        while converted.last().is_some_and(|m| m.as_array().is_some_and(Vec::is_empty)) {
            converted.pop();
        }
        if !converted.is_empty() {
            out["macros"] = Json::Array(converted);
        }
    }

    let dances = members.get("tap_dance").and_then(Json::as_array).cloned().unwrap_or_default();
    let mut tap_dances = Vec::new();
    for (d, entry) in dances.iter().enumerate() {
        let items = entry.as_array().filter(|e| e.len() == 5);
        let Some(items) = items else {
            return fail(format!("tap_dance/{d}: not [on tap, on hold, on double tap, on tap-hold, tapping term]"));
        };
        let mut dance = Map::new();
        dance.insert("name".into(), json!(format!("DANCE_{d}")));
        for (field, value) in ["on_tap", "on_hold", "on_double_tap", "on_tap_hold"].iter().zip(items) {
            let keycode = translate(value, &format!("tap_dance/{d}/{field}"), &mut notes)?;
            if keycode != "KC_NO" {
                dance.insert((*field).into(), json!(keycode));
            }
        }
        let Some(term) = items[4].as_u64().filter(|t| (1..=65535).contains(t)) else {
            return fail(format!("tap_dance/{d}: the tapping term {} is not 1 to 65535 ms", items[4]));
        };
        dance.insert("tapping_term".into(), json!(term));
        tap_dances.push((dance.len() > 2, Json::Object(dance)));
    }
    // Dances past the last one used are Vial's empty slots; those before it keep their
    // numbers (`TD(2)`), so they stay.
    let used = tap_dances.iter().rposition(|(used, _)| *used).map_or(0, |last| last + 1);
    let tap_dances: Vec<Json> = tap_dances.into_iter().take(used).map(|(_, dance)| dance).collect();
    if !tap_dances.is_empty() {
        out["tap_dances"] = Json::Array(tap_dances);
    }

    let mut combos = Vec::new();
    for (c, entry) in members.get("combo").and_then(Json::as_array).into_iter().flatten().enumerate() {
        let Some(items) = entry.as_array().filter(|e| e.len() == COMBO_KEYS + 1) else {
            return fail(format!("combo/{c}: not [key 1, key 2, key 3, key 4, output]"));
        };
        let mut keys = Vec::new();
        for (k, value) in items[..COMBO_KEYS].iter().enumerate() {
            let keycode = translate(value, &format!("combo/{c}/{k}"), &mut notes)?;
            if keycode != "KC_NO" {
                keys.push(keycode);
            }
        }
        let output = translate(&items[COMBO_KEYS], &format!("combo/{c}/output"), &mut notes)?;
        match keys.len() {
            0 if output == "KC_NO" => {}
            0 | 1 => notes.push(format!("combo/{c}: left out: a combo needs two keys or more")),
            _ => combos.push(json!({"keys": keys, "output": output})),
        }
    }
    if !combos.is_empty() {
        out["combos"] = Json::Array(combos);
    }

    let mut overrides = Vec::new();
    for (o, entry) in members.get("key_override").and_then(Json::as_array).into_iter().flatten().enumerate() {
        if let Some(item) = key_override(entry, o, &mut translate, &mut notes)? {
            overrides.push(item);
        }
    }
    if !overrides.is_empty() {
        out["key_overrides"] = Json::Array(overrides);
    }

    note_left_out(members, &mut notes);
    let text = foreign::finish(foreign::object(out), input.shown, context, &mut notes).map_err(VilError)?;
    Ok(Converted { text, notes })
}

type Translate<'t> = dyn FnMut(&Json, &str, &mut Vec<String>) -> Result<String, VilError> + 't;

/// One key override of the extension, `None` for an empty or disabled slot.
fn key_override(
    entry: &Json,
    o: usize,
    translate: &mut Translate,
    notes: &mut Vec<String>,
) -> Result<Option<Json>, VilError> {
    let at = |field: &str| format!("key_override/{o}/{field}");
    let number = |field: &str, max: u64| -> Result<u64, VilError> {
        match entry.get(field).and_then(Json::as_u64).filter(|n| *n <= max) {
            Some(n) => Ok(n),
            None => fail(format!("{}: not a number from 0 to {max}", at(field))),
        }
    };
    let (Some(trigger), Some(replacement)) = (entry.get("trigger"), entry.get("replacement")) else {
        return fail(format!("key_override/{o}: needs `trigger` and `replacement`"));
    };
    let trigger = translate(trigger, &at("trigger"), notes)?;
    let replacement = translate(replacement, &at("replacement"), notes)?;
    let options = number("options", 0xFF)?;
    let (layers, trigger_mods) = (number("layers", 0xFFFF)?, number("trigger_mods", 0xFF)?);
    let (negative, suppressed) = (number("negative_mod_mask", 0xFF)?, number("suppressed_mods", 0xFF)?);
    if trigger == "KC_NO" && replacement == "KC_NO" {
        return Ok(None);
    }
    if options & OVERRIDE_ENABLED == 0 {
        notes.push(format!("key_override/{o}: left out: it is turned off in Vial"));
        return Ok(None);
    }
    if options & !OVERRIDE_ENABLED != OVERRIDE_DEFAULT_OPTIONS {
        notes.push(format!(
            "key_override/{o}: its options {options:#04x} are written as QMK's default ones (acts on trigger down, \
             modifier down and negative modifier up); the extension holds no others"
        ));
    }
    if suppressed != trigger_mods {
        notes.push(format!(
            "key_override/{o}: it suppresses modifiers {suppressed:#04x}; the extension suppresses the trigger's \
             modifiers ({trigger_mods:#04x})"
        ));
    }
    let mut item = json!({"trigger": trigger, "replacement": replacement});
    if trigger_mods != 0 {
        item["trigger_mods"] = json!(trigger_mods);
    }
    if negative != 0 {
        item["negative_mods"] = json!(negative);
    }
    if layers != ALL_LAYERS {
        let listed: Vec<u64> = (0..16).filter(|l| layers & (1 << l) != 0).collect();
        if listed.is_empty() {
            notes.push(format!("key_override/{o}: left out: it acts on no layer"));
            return Ok(None);
        }
        item["layers"] = json!(listed);
    }
    Ok(Some(item))
}

/// A Vial macro action as a keymap JSON macro step.
fn macro_step(action: &Json, key: &mut dyn FnMut(&str) -> String) -> Result<Json, String> {
    let items = action.as_array().filter(|a| !a.is_empty()).ok_or("not an action list")?;
    let tag = items[0].as_str().ok_or("an action starts with its kind")?;
    match tag {
        "text" => Ok(json!(items.get(1..).unwrap_or_default().iter().filter_map(Json::as_str).collect::<String>())),
        "delay" => match items.get(1).and_then(Json::as_u64) {
            Some(ms) => Ok(json!({"action": "delay", "duration": ms})),
            None => Err("a delay needs its milliseconds".to_owned()),
        },
        "tap" | "down" | "up" => {
            let keys: Option<Vec<String>> = items[1..].iter().map(|k| k.as_str().map(&mut *key)).collect();
            match keys {
                Some(keys) if !keys.is_empty() => Ok(json!({"action": tag, "keycodes": keys})),
                _ => Err(format!("a {tag} needs the names of its keys")),
            }
        }
        other => Err(format!("`{other}` is no macro action Vial writes (text, tap, down, up, delay)")),
    }
}

/// Notes for what the file holds that a keymap cannot.
fn note_left_out(members: &Map<String, Json>, notes: &mut Vec<String>) {
    let used_repeat = members.get("alt_repeat_key").and_then(Json::as_array).into_iter().flatten().filter(|entry| {
        entry.get("options").and_then(Json::as_u64).unwrap_or(0) != 0
            || entry.get("keycode").and_then(Json::as_str).is_some_and(|k| k != "KC_NO")
    });
    let repeats = used_repeat.count();
    if repeats > 0 {
        notes.push(format!("alt_repeat_key: {repeats} alternate repeat keys left out: a keymap cannot hold them"));
    }
    if let Some(settings) = members.get("settings").and_then(Json::as_object).filter(|s| !s.is_empty()) {
        let ids: Vec<&str> = settings.keys().map(String::as_str).collect();
        notes.push(format!(
            "settings: Vial's QMK settings (ids {}) left out: a keymap cannot hold them; set them in Vial again",
            ids.join(", ")
        ));
    }
    if let Some(options) = members.get("layout_options").and_then(Json::as_i64).filter(|o| *o > 0) {
        notes.push(format!("layout_options: the layout options chosen in Vial ({options}) are not part of a keymap"));
    }
}

/// Keymap JSON (with the extension) as a `.vil` for its keyboard. Keys are written as
/// their numbers in QMK's current numbering (Vial protocol 6), which Vial reads and
/// names as it loads the file; positions the layout leaves out are `KC_NO`.
pub fn from_json(input: &Input, context: Context) -> Result<Converted, VilError> {
    if let Ok(document) = serde_json::from_str::<Json>(input.text) {
        if document.get("vendorProductId").is_some() && document.get("keyboard").is_none() {
            return fail("this is a VIA backup, not a keymap JSON: convert it with --from via");
        }
        if let Some(other) = via::what_else(&document).filter(|w| w.starts_with("a Vial") || w.starts_with("a VIA")) {
            return fail(format!("this is {other}"));
        }
    }
    let keymap = foreign::read_keymap(input.shown, input.text, input.keyboard, context).map_err(VilError)?;
    let name =
        keymap.keyboard.as_deref().or(input.keyboard).ok_or_else(|| VilError("no keyboard: give --keyboard".into()))?;
    let keyboard = context.keyboards.resolve(name).map_err(|e| VilError(e.to_string()))?;
    let size = keyboard.matrix_size().ok_or_else(|| VilError(format!("`{}` has no matrix_size", keyboard.name)))?;
    let layout_name = keymap.layout.as_deref().unwrap_or_default();
    let (_, layout) = keyboard.layout(layout_name).ok_or_else(|| VilError(format!("no layout {layout_name}")))?;
    let mut notes = Vec::new();
    let value = |keycode: &str, at: &str| -> Result<Json, VilError> {
        match keymap::key_values(&keymap, keyboard, context, &[keycode])[0] {
            Some(0) => Ok(json!("KC_NO")),
            Some(1) => Ok(json!("KC_TRNS")),
            Some(v) => Ok(json!(format!("0x{v:04x}"))),
            None => fail(format!("{at}: `{keycode}` does not resolve")),
        }
    };
    let layers = keymap.layers.as_deref().unwrap_or_default();
    let mut layout_out = Vec::with_capacity(layers.len());
    for (l, layer) in layers.iter().enumerate() {
        let mut matrix = vec![vec![json!("KC_NO"); size.cols as usize]; size.rows as usize];
        for (k, (key, keycode)) in layout.keys.iter().zip(layer).enumerate() {
            let [r, c] = key.matrix().unwrap_or_default();
            matrix[r as usize][c as usize] = value(keycode, &format!("layers/{l}/{k}"))?;
        }
        layout_out.push(json!(matrix));
    }
    let encoders: Vec<Json> = match &keymap.encoders {
        Some(encoders) => encoders
            .iter()
            .enumerate()
            .map(|(l, layer)| {
                let pairs: Result<Vec<Json>, VilError> = layer
                    .iter()
                    .enumerate()
                    .map(|(e, enc)| {
                        let at = format!("encoders/{l}/{e}");
                        Ok(json!([value(&enc.ccw, &at)?, value(&enc.cw, &at)?]))
                    })
                    .collect();
                pairs.map(Json::Array)
            })
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let macros: Vec<Json> = keymap
        .macros
        .iter()
        .flatten()
        .map(|steps| {
            Json::Array(
                steps
                    .iter()
                    .map(|step| match step {
                        keymap::MacroStep::Text(text) => json!(["text", text]),
                        keymap::MacroStep::Action { action, duration: Some(ms), .. } if action == "delay" => {
                            json!(["delay", ms])
                        }
                        keymap::MacroStep::Action { action, keycodes, .. } => {
                            let mut items = vec![json!(action)];
                            items.extend(keycodes.iter().map(|k| json!(format!("KC_{k}"))));
                            Json::Array(items)
                        }
                    })
                    .collect(),
            )
        })
        .collect();
    if keymap
        .macros
        .iter()
        .flatten()
        .flatten()
        .any(|s| matches!(s, keymap::MacroStep::Action { action, .. } if action == "beep"))
    {
        notes.push("macros: Vial's macros cannot beep; the beeps are written as Vial's unknown action".to_owned());
    }
    let extensions = &keymap.extensions;
    if !extensions.layer_names.is_empty() {
        notes.push("layer_names: Vial has no layer names; keys that name a layer are written as its number".to_owned());
    }
    let mut tap_dance = Vec::with_capacity(extensions.tap_dances.len());
    for dance in &extensions.tap_dances {
        let mut entry = Vec::with_capacity(5);
        for (field, action) in dance.actions() {
            entry.push(match action {
                Some(keycode) => value(keycode, &format!("tap_dances/{}/{field}", dance.index))?,
                None => json!("KC_NO"),
            });
        }
        entry.push(json!(dance.tapping_term.unwrap_or(DEFAULT_TAPPING_TERM)));
        tap_dance.push(Json::Array(entry));
    }
    let mut combo = Vec::with_capacity(extensions.combos.len());
    for item in &extensions.combos {
        if item.keys.len() > COMBO_KEYS {
            return fail(format!(
                "combos/{}: {} keys; a Vial combo has at most {COMBO_KEYS}",
                item.index,
                item.keys.len()
            ));
        }
        if item.term.is_some() {
            notes.push(format!("combos/{}: Vial has no term per combo; its term is left out", item.index));
        }
        let mut entry = Vec::with_capacity(COMBO_KEYS + 1);
        for (k, keycode) in item.keys.iter().enumerate() {
            entry.push(value(keycode, &format!("combos/{}/keys/{k}", item.index))?);
        }
        entry.resize(COMBO_KEYS, json!("KC_NO"));
        entry.push(value(&item.output, &format!("combos/{}/output", item.index))?);
        combo.push(Json::Array(entry));
    }
    let mut key_override = Vec::with_capacity(extensions.key_overrides.len());
    for item in &extensions.key_overrides {
        let at = |field: &str| format!("key_overrides/{}/{field}", item.index);
        let bits = |mods: &Option<Mods>, field: &str| -> Result<u8, VilError> {
            match mods {
                None => Ok(0),
                Some(mods) => mod_mask(mods).map_err(|e| VilError(format!("{}: {e}", at(field)))),
            }
        };
        let trigger_mods = bits(&item.trigger_mods, "trigger_mods")?;
        let layers = match &item.layers {
            None => ALL_LAYERS,
            Some(layers) => {
                let mut mask = 0u64;
                for layer in layers {
                    let number = match layer {
                        LayerRef::Number(n) => usize::from(*n),
                        LayerRef::Name(name) => extensions.layer(name).unwrap_or_default(),
                    };
                    if number >= 16 {
                        return fail(format!(
                            "{}: layer {number}: Vial's overrides reach layers 0 to 15",
                            at("layers")
                        ));
                    }
                    mask |= 1 << number;
                }
                mask
            }
        };
        key_override.push(json!({
            "trigger": value(&item.trigger, &at("trigger"))?,
            "replacement": value(&item.replacement, &at("replacement"))?,
            "layers": layers,
            "trigger_mods": trigger_mods,
            "negative_mod_mask": bits(&item.negative_mods, "negative_mods")?,
            "suppressed_mods": trigger_mods,
            "options": OVERRIDE_ENABLED | OVERRIDE_DEFAULT_OPTIONS,
        }));
    }
    let out = json!({
        "version": 1,
        "uid": 0,
        "layout": layout_out,
        "encoder_layout": encoders,
        "layout_options": -1,
        "macro": macros,
        "vial_protocol": CURRENT_PROTOCOL,
        "via_protocol": VIAL_VIA_PROTOCOL,
        "tap_dance": tap_dance,
        "combo": combo,
        "key_override": key_override,
        "settings": {},
    });
    notes.push(
        "uid: written as 0 (a keymap does not know its keyboard's Vial uid): Vial asks before loading it".to_owned(),
    );
    Ok(Converted { text: serde_json::to_string_pretty(&out).expect("a JSON value serializes") + "\n", notes })
}

/// The VIA protocol Vial's firmware speaks, which Vial writes beside its own.
const VIAL_VIA_PROTOCOL: u64 = 9;

/// QMK's `TAPPING_TERM` default, which Vial's dances need written.
const DEFAULT_TAPPING_TERM: u16 = 200;
