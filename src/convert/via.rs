//! VIA: a backup (VIA's "Save + Load" file) → keymap JSON, as QMK's `qmk via2json`
//! converts it; and a keyboard's info.json → a VIA (v3) keyboard definition.
//!
//! A backup holds `name`, `vendorProductId` (the USB vendor id × 65536 + product
//! id), `layers` (each the keycode of every matrix position, row after row),
//! `macros` (VIA's macro texts) and `encoders` (per encoder, per layer, the
//! counter-clockwise and clockwise keycodes). Keys are placed on the layout through
//! the positions info.json gives them in the matrix, as QMK's converter places them.

use serde_json::{Value as Json, json};

use super::foreign::{self, Numbering, Tool};
use super::{Converted, Input};
use crate::keyboard::{Keyboard, Layout};
use crate::keymap::Context;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ViaError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, ViaError> {
    Err(ViaError(message.into()))
}

/// What a JSON file that is no VIA backup really is, to say so.
pub fn what_else(document: &Json) -> Option<&'static str> {
    let has = |key: &str| document.get(key).is_some();
    if has("uid") && document.get("layout").is_some_and(Json::is_array) {
        return Some("a Vial layout file (.vil): convert it with --from vil");
    }
    if has("keyboard") && has("layers") && !has("vendorProductId") {
        return Some(
            "a QMK keymap JSON (QMK Configurator's export or keymap.json): it needs no conversion, or convert it with --from json",
        );
    }
    if has("vendorId") && has("productId") && has("layouts") {
        return Some("a VIA keyboard definition, not a backup of a keymap");
    }
    if has("keyboard_name") || (has("layouts") && has("matrix_pins")) {
        return Some("a keyboard definition (info.json), not a keymap");
    }
    None
}

/// A VIA backup as keymap JSON for `input.keyboard`.
pub fn backup_to_json(input: &Input, context: Context) -> Result<Converted, ViaError> {
    let document: Json =
        serde_json::from_str(input.text).map_err(|e| ViaError(format!("not JSON, so no VIA backup: {e}")))?;
    if let Some(other) = what_else(&document) {
        return fail(format!("this is {other}"));
    }
    let Some(members) = document.as_object() else {
        return fail("a VIA backup is a JSON object with `name`, `vendorProductId` and `layers`");
    };
    let Some(name) = input.keyboard else {
        return fail("a VIA backup does not name its keyboard in QMK's terms: give --keyboard");
    };
    let keyboard = context.keyboards.resolve(name).map_err(|e| ViaError(e.to_string()))?;
    let Some(size) = keyboard.matrix_size() else {
        return fail(format!("keyboard `{}` has no matrix_size", keyboard.name));
    };
    let positions = (size.rows * size.cols) as usize;
    let Some(layers) = members.get("layers").and_then(Json::as_array) else {
        return fail("no `layers`: a VIA backup holds its layers as lists of keycodes");
    };
    let mut notes = Vec::new();
    let mut matrix_layers: Vec<Vec<&str>> = Vec::with_capacity(layers.len());
    for (index, layer) in layers.iter().enumerate() {
        let Some(keys) = layer.as_array() else { return fail(format!("layers/{index}: not a list of keycodes")) };
        if keys.len() != positions {
            return fail(format!(
                "layers/{index}: {} keys, but `{}`'s matrix has {} rows × {} columns = {positions} positions; \
                 is the backup of another keyboard?",
                keys.len(),
                keyboard.name,
                size.rows,
                size.cols
            ));
        }
        let names: Option<Vec<&str>> = keys.iter().map(Json::as_str).collect();
        let Some(names) = names else {
            let at = keys.iter().position(|k| !k.is_string()).unwrap_or_default();
            return fail(format!("layers/{index}/{at}: not a keycode name (a string)"));
        };
        matrix_layers.push(names);
    }
    if matrix_layers.is_empty() {
        return fail("`layers` is empty");
    }
    note_usb_ids(members.get("vendorProductId"), keyboard, &mut notes);

    let (layout_name, layout) = choose_layout(keyboard, &matrix_layers, size.cols as usize, &mut notes)?;
    let custom = keyboard.custom_keycodes();
    let mut keymap_layers = Vec::with_capacity(matrix_layers.len());
    for (index, layer) in matrix_layers.iter().enumerate() {
        let mut keys = Vec::with_capacity(layout.keys.len());
        for key in layout.keys.iter() {
            let [row, col] = key.matrix().map(|[r, c]| [r as usize, c as usize]).unwrap_or_default();
            let at = row * size.cols as usize + col;
            let written = layer.get(at).copied().unwrap_or("KC_NO");
            let place = format!("layers/{index}/{at} (matrix {row}, {col})");
            keys.push(
                foreign::translate(written, Tool::Via, Numbering::Current, &custom, context, &mut notes, &place)
                    .map_err(ViaError)?,
            );
        }
        keymap_layers.push(keys);
    }
    let mut out = json!({
        "keyboard": keyboard.name,
        "keymap": input.keymap.unwrap_or("via2json"),
        "layout": layout_name,
        "layers": keymap_layers,
    });
    if let Some(encoders) = encoders(members.get("encoders"), matrix_layers.len(), context, &custom, &mut notes)? {
        out["encoders"] = encoders;
    }
    if let Some(macros) = members.get("macros") {
        let macros = macros_of(macros, context, &mut notes)?;
        if !macros.is_empty() {
            out["macros"] = Json::Array(macros);
        }
    }
    let text = foreign::finish(foreign::object(out), input.shown, context, &mut notes).map_err(ViaError)?;
    Ok(Converted { text, notes })
}

/// A note when the backup was saved from a keyboard with other USB ids.
fn note_usb_ids(saved: Option<&Json>, keyboard: &Keyboard, notes: &mut Vec<String>) {
    let Some(saved) = saved.and_then(Json::as_u64) else {
        notes.push("the backup has no `vendorProductId`: it cannot say which keyboard it was saved from".to_owned());
        return;
    };
    let ids = usb_ids(&keyboard.published_info());
    let (vid, pid) = (saved >> 16, saved & 0xFFFF);
    match ids {
        Some((v, p)) if (u64::from(v), u64::from(p)) == (vid, pid) => {}
        Some((v, p)) => notes.push(format!(
            "the backup was saved from USB device {vid:04X}:{pid:04X}, but `{}` is {v:04X}:{p:04X}: VIA would refuse \
             to load it onto this keyboard",
            keyboard.name
        )),
        None => notes.push(format!("`{}` declares no USB ids to compare with the backup's", keyboard.name)),
    }
}

/// The keyboard's USB vendor and product ids.
fn usb_ids(info: &crate::spec::Object) -> Option<(u16, u16)> {
    let usb = info.get("usb")?;
    let id = |key: &str| {
        let text = usb.get(key)?.as_str()?;
        u16::from_str_radix(text.trim_start_matches("0x").trim_start_matches("0X"), 16).ok()
    };
    Some((id("vid")?, id("pid")?))
}

/// The layout to place the keys on: the only one, else the one that holds the most
/// of the backup's assigned positions (the first listed among equals), with a note.
pub(super) fn choose_layout<'k>(
    keyboard: &'k Keyboard,
    layers: &[Vec<&str>],
    cols: usize,
    notes: &mut Vec<String>,
) -> Result<(&'k str, &'k Layout), ViaError> {
    let assigned = |layout: &Layout| {
        layout
            .keys
            .iter()
            .filter_map(|key| key.matrix())
            .map(|[r, c]| r as usize * cols + c as usize)
            .filter(|at| layers.iter().any(|layer| !matches!(layer.get(*at), Some(&"KC_NO") | Some(&"") | None)))
            .count()
    };
    let mut best: Option<(&str, &Layout, usize)> = None;
    for (name, layout) in &keyboard.layouts {
        let count = assigned(layout);
        if best.is_none_or(|(_, _, most)| count > most) {
            best = Some((name, layout, count));
        }
    }
    let Some((name, layout, _)) = best else { return fail(format!("keyboard `{}` has no layouts", keyboard.name)) };
    if keyboard.layouts.len() > 1 {
        notes.push(format!(
            "`{}` has {} layouts; {name} holds the most of the backup's keys",
            keyboard.name,
            keyboard.layouts.len()
        ));
    }
    if let Some(key) = layout.keys.iter().find(|k| k.matrix().is_none()) {
        let label = key.label().unwrap_or("unlabelled");
        return fail(format!("layout {name} has a key without a matrix position ({label})"));
    }
    Ok((name, layout))
}

/// `encoders[e][layer] = [ccw, cw]` → keymap JSON's `encoders[layer][e] = {ccw, cw}`.
fn encoders(
    value: Option<&Json>,
    layers: usize,
    context: Context,
    custom: &[String],
    notes: &mut Vec<String>,
) -> Result<Option<Json>, ViaError> {
    let Some(value) = value else { return Ok(None) };
    let Some(encoders) = value.as_array() else { return fail("encoders: not a list") };
    if encoders.is_empty() {
        return Ok(None);
    }
    let mut by_layer = vec![Vec::new(); layers];
    for (e, encoder) in encoders.iter().enumerate() {
        let Some(per_layer) = encoder.as_array() else { return fail(format!("encoders/{e}: not a list of layers")) };
        for (layer, slot) in by_layer.iter_mut().enumerate() {
            let pair = per_layer.get(layer).and_then(Json::as_array);
            let side = |i: usize| pair.and_then(|p| p.get(i)).and_then(Json::as_str);
            let (Some(ccw), Some(cw)) = (side(0), side(1)) else {
                return fail(format!("encoders/{e}/{layer}: not a pair of keycodes [counter-clockwise, clockwise]"));
            };
            let at = |dir: &str| format!("encoders/{e}/{layer} ({dir})");
            let ccw = foreign::translate(ccw, Tool::Via, Numbering::Current, custom, context, notes, &at("ccw"))
                .map_err(ViaError)?;
            let cw = foreign::translate(cw, Tool::Via, Numbering::Current, custom, context, notes, &at("cw"))
                .map_err(ViaError)?;
            slot.push(json!({"ccw": ccw, "cw": cw}));
        }
    }
    Ok(Some(Json::Array(by_layer.into_iter().map(Json::Array).collect())))
}

/// VIA's macro texts as keymap JSON macros: text, and `{KC_A,KC_B}` (tap),
/// `{+KC_LSFT}` (down), `{-KC_LSFT}` (up), `{100}` (a delay in ms) groups; keys
/// lose `KC_`, as QMK's macros name them. Macros past the last one used are left out.
fn macros_of(value: &Json, context: Context, notes: &mut Vec<String>) -> Result<Vec<Json>, ViaError> {
    let Some(texts) = value.as_array() else { return fail("macros: not a list of macro texts") };
    let mut macros = Vec::with_capacity(texts.len());
    for (index, text) in texts.iter().enumerate() {
        let Some(text) = text.as_str() else { return fail(format!("macros/{index}: not a text")) };
        let at = format!("macros/{index}");
        let steps = macro_steps(text, &mut |key| foreign::macro_key(key, context, notes, &at));
        macros.push(Json::Array(steps.map_err(|e| ViaError(format!("{at}: {e}")))?));
    }
    while macros.last().is_some_and(|m| m.as_array().is_some_and(Vec::is_empty)) {
        macros.pop();
    }
    Ok(macros)
}

fn macro_steps(text: &str, key: &mut dyn FnMut(&str) -> String) -> Result<Vec<Json>, String> {
    let mut steps = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            steps.push(Json::from(rest));
            break;
        };
        if open > 0 {
            steps.push(Json::from(&rest[..open]));
        }
        let Some(close) = rest[open..].find('}').map(|c| open + c) else {
            return Err(format!("`{}` opens a group it does not close", &rest[open..]));
        };
        let group = rest[open + 1..close].trim();
        let step = if let Some(down) = group.strip_prefix('+') {
            json!({"action": "down", "keycodes": [key(down)]})
        } else if let Some(up) = group.strip_prefix('-') {
            json!({"action": "up", "keycodes": [key(up)]})
        } else if let Ok(ms) = group.parse::<u64>() {
            json!({"action": "delay", "duration": ms})
        } else {
            json!({"action": "tap", "keycodes": group.split(',').map(&mut *key).collect::<Vec<_>>()})
        };
        steps.push(step);
        rest = &rest[close + 1..];
    }
    Ok(steps)
}

/// A VIA (v3) keyboard definition of a keyboard's published info.json: `name`,
/// `vendorId`/`productId` as hex text, `matrix`, the lighting `menus` and `keycodes`
/// of the features it has, its own keycodes as `customKeycodes`, and
/// `layouts.keymap` as KLE rows whose keys are labelled `row,col`. A keyboard of
/// several layouts gets one layout option, "Layout", whose choices are the layouts by
/// name (see [`kle_keymap`]).
pub fn definition(info: &Json) -> Result<String, ViaError> {
    let name = info.get("keyboard_name").and_then(Json::as_str).unwrap_or("keyboard");
    let usb = info.get("usb");
    let id = |key: &str| -> Result<u16, ViaError> {
        let text = usb.and_then(|u| u.get(key)).and_then(Json::as_str).unwrap_or_default();
        u16::from_str_radix(text.trim_start_matches("0x").trim_start_matches("0X"), 16)
            .map_err(|_| ViaError(format!("usb.{key} is not a USB id ({text:?}): VIA finds a keyboard by its USB ids")))
    };
    let (vid, pid) = (id("vid")?, id("pid")?);
    if vid == 0xFEED {
        return fail(
            "usb.vid is 0xFEED, QMK's placeholder, which VIA refuses in a definition: give the keyboard its own vendor id",
        );
    }
    let matrix = info.get("matrix_size");
    let count = |key: &str| matrix.and_then(|m| m.get(key)).and_then(Json::as_u64);
    let (Some(rows), Some(cols)) = (count("rows"), count("cols")) else {
        return fail("no matrix_size: VIA needs the matrix's rows and columns");
    };
    let enabled =
        |feature: &str| info.get("features").and_then(|f| f.get(feature)).and_then(Json::as_bool).unwrap_or(false);
    let (backlight, rgblight, rgb_matrix) = (enabled("backlight"), enabled("rgblight"), enabled("rgb_matrix"));
    let mut menus = Vec::new();
    match (backlight, rgblight) {
        (true, true) => menus.push("qmk_backlight_rgblight"),
        (true, false) => menus.push("qmk_backlight"),
        (false, true) => menus.push("qmk_rgblight"),
        (false, false) => {}
    }
    if rgb_matrix {
        menus.push("qmk_rgb_matrix");
    }
    if enabled("audio") {
        menus.push("qmk_audio");
    }
    let mut out = json!({
        "name": name,
        "vendorId": format!("0x{vid:04X}"),
        "productId": format!("0x{pid:04X}"),
        "matrix": {"rows": rows, "cols": cols},
    });
    if !menus.is_empty() {
        out["menus"] = json!(menus);
    }
    if backlight || rgblight || rgb_matrix {
        out["keycodes"] = json!(["qmk_lighting"]);
    }
    let custom: Vec<Json> = info
        .get("keycodes")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(|k| {
            let key = k.get("key")?.as_str()?;
            let label = k.get("label").and_then(Json::as_str).unwrap_or(key);
            Some(json!({"name": label, "title": key, "shortName": key}))
        })
        .collect();
    if !custom.is_empty() {
        out["customKeycodes"] = Json::Array(custom);
    }
    let layouts: Vec<(&str, &Vec<Json>)> = info
        .get("layouts")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(name, layout)| Some((name.as_str(), layout.get("layout")?.as_array()?)))
        .collect();
    if layouts.is_empty() {
        return fail("no layouts: VIA draws the keyboard from its layout");
    }
    let (keymap, labels) = kle_keymap(&layouts, rows, cols)?;
    out["layouts"] = json!({"keymap": keymap});
    if let Some(labels) = labels {
        out["layouts"]["labels"] = labels;
    }
    Ok(serde_json::to_string_pretty(&out).expect("a JSON value serializes") + "\n")
}

/// One key of a layout: where it is and what it covers.
#[derive(Debug, Clone, PartialEq)]
struct Placed {
    row: u64,
    col: u64,
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    r: f64,
    rx: f64,
    ry: f64,
    encoder: Option<u64>,
}

fn placed(key: &Json, layout: &str, index: usize, rows: u64, cols: u64) -> Result<Placed, ViaError> {
    let number = |field: &str, default: f64| key.get(field).and_then(Json::as_f64).unwrap_or(default);
    let matrix = key.get("matrix").and_then(Json::as_array);
    let at = |i: usize| matrix.and_then(|m| m.get(i)).and_then(Json::as_u64);
    let (Some(row), Some(col)) = (at(0), at(1)) else {
        return fail(format!("layouts/{layout}/layout/{index}: no matrix position, which VIA labels each key with"));
    };
    if row >= rows || col >= cols {
        return fail(format!(
            "layouts/{layout}/layout/{index}: matrix [{row}, {col}] lies outside the {rows} × {cols} matrix"
        ));
    }
    Ok(Placed {
        row,
        col,
        x: number("x", 0.0),
        y: number("y", 0.0),
        w: number("w", 1.0),
        h: number("h", 1.0),
        r: number("r", 0.0),
        rx: number("rx", 0.0),
        ry: number("ry", 0.0),
        encoder: key.get("encoder").and_then(Json::as_u64),
    })
}

/// The KLE rows of the layouts, with the option labels where there are several.
///
/// Keys every layout has alike are drawn always; the others belong to one option
/// group, one choice per layout, labelled with the layouts' names. VIA moves each
/// choice's keys so that its top-left key lies where the first choice's does; so the
/// top-left key of the whole keyboard, when every layout has it, is put in every
/// choice, which keeps each layout's keys where the layout has them.
fn kle_keymap(layouts: &[(&str, &Vec<Json>)], rows: u64, cols: u64) -> Result<(Json, Option<Json>), ViaError> {
    let mut read = Vec::with_capacity(layouts.len());
    for (name, keys) in layouts {
        let keys: Result<Vec<Placed>, ViaError> =
            keys.iter().enumerate().map(|(i, key)| placed(key, name, i, rows, cols)).collect();
        read.push(keys?);
    }
    // (key, group and choice); a key of every layout has no group.
    let mut drawn: Vec<(Placed, Option<usize>)> = Vec::new();
    if read.len() == 1 {
        drawn.extend(read[0].iter().cloned().map(|k| (k, None)));
        return Ok((Json::Array(rows_of(&mut drawn)), None));
    }
    let shared = |key: &Placed| read.iter().all(|keys| keys.contains(key));
    let top_left = read
        .iter()
        .flatten()
        .min_by(|a, b| a.y.total_cmp(&b.y).then(a.x.total_cmp(&b.x)))
        .filter(|key| shared(key))
        .cloned();
    for key in read[0].iter().filter(|k| shared(k) && Some(*k) != top_left.as_ref()) {
        drawn.push((key.clone(), None));
    }
    for (choice, keys) in read.iter().enumerate() {
        for key in keys.iter().filter(|k| !shared(k) || Some(*k) == top_left.as_ref()) {
            drawn.push((key.clone(), Some(choice)));
        }
    }
    let mut label = vec![Json::from("Layout")];
    label.extend(layouts.iter().map(|(name, _)| Json::from(*name)));
    Ok((Json::Array(rows_of(&mut drawn)), Some(json!([label]))))
}

/// KLE rows: keys sorted by rotation, then row and position; each row starts where
/// the last ended, each key's object says only what differs from KLE's defaults.
fn rows_of(keys: &mut [(Placed, Option<usize>)]) -> Vec<Json> {
    keys.sort_by(|(a, _), (b, _)| {
        (a.r, a.rx, a.ry, a.y, a.x).partial_cmp(&(b.r, b.rx, b.ry, b.y, b.x)).unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut rows: Vec<Json> = Vec::new();
    let mut rotation = (0.0, 0.0, 0.0);
    // The y of the last row, in the current rotation's frame.
    let mut row_y: Option<f64> = None;
    let mut current: Vec<Json> = Vec::new();
    let mut cursor_x = 0.0;
    for (key, group) in keys.iter() {
        let key_rotation = (key.r, key.rx, key.ry);
        let new_rotation = key_rotation != rotation;
        let new_row = new_rotation || row_y.is_none_or(|y| y != key.y);
        let mut props = serde_json::Map::new();
        if new_row {
            if !current.is_empty() {
                rows.push(Json::Array(std::mem::take(&mut current)));
            }
            cursor_x = key.rx;
            if new_rotation {
                props.insert("r".into(), unit(key.r));
                props.insert("rx".into(), unit(key.rx));
                props.insert("ry".into(), unit(key.ry));
                rotation = key_rotation;
                let dy = key.y - key.ry;
                if dy != 0.0 {
                    props.insert("y".into(), unit(dy));
                }
            } else {
                let expected = row_y.map_or(key.ry, |y| y + 1.0);
                if key.y != expected {
                    props.insert("y".into(), unit(key.y - expected));
                }
            }
            row_y = Some(key.y);
        }
        if key.x != cursor_x {
            props.insert("x".into(), unit(key.x - cursor_x));
        }
        if key.w != 1.0 {
            props.insert("w".into(), unit(key.w));
        }
        if key.h != 1.0 {
            props.insert("h".into(), unit(key.h));
        }
        if !props.is_empty() {
            current.push(Json::Object(props));
        }
        current.push(Json::from(legend(key, *group)));
        cursor_x = key.x + key.w;
    }
    if !current.is_empty() {
        rows.push(Json::Array(current));
    }
    rows
}

/// A size or offset in key units: whole ones as integers, as KLE writes them; sums
/// such as 0.1 + 0.2 rounded to the millionth, where layouts are drawn.
fn unit(value: f64) -> Json {
    let rounded = (value * 1e6).round() / 1e6;
    match rounded.fract() == 0.0 && rounded.abs() < 1e9 {
        true => json!(rounded as i64),
        false => json!(rounded),
    }
}

/// A key's legends as VIA reads them: `row,col` top left, `group,choice` bottom
/// right (the fourth legend), `e<n>` in the centre (the tenth) for an encoder.
fn legend(key: &Placed, group: Option<usize>) -> String {
    let mut legends = vec![String::new(); 10];
    legends[0] = format!("{},{}", key.row, key.col);
    if let Some(choice) = group {
        legends[3] = format!("0,{choice}");
    }
    if let Some(encoder) = key.encoder {
        legends[9] = format!("e{encoder}");
    }
    let used = legends.iter().rposition(|l| !l.is_empty()).unwrap_or(0);
    legends.truncate(used + 1);
    legends.join("\n")
}
