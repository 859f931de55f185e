//! Keycodes as VIA and Vial write them, in QMK's words, and the keymap JSON both
//! converters produce: checked as `validate` checks it, its warnings kept as notes.
//!
//! Both tools name most keys as QMK does (current names, or names QMK has since
//! retired, which [`migrate`](crate::keymap::migrate) renames), and add a few of
//! their own for keys whose QMK name takes an argument: VIA's `MACRO(n)` and
//! `CUSTOM(n)`, Vial's `M<n>`, `USER<nn>` and `LT<n>(kc)`. A key neither could name
//! is written as its number (`0x7e05`), in the keycodes of the firmware's protocol.

use std::collections::HashMap;
use std::sync::LazyLock;

use crate::diagnostic::Diagnostic;
use crate::keymap::{self, Context, Keymap, Source};
use crate::spec::{Object, Value};

/// The tool a file came from, whose own keycode names it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Via,
    Vial,
}

/// The names each tool writes that QMK's keycodes lack or give to another key, with
/// the number the tool means (VIA protocol 12, Vial protocol 6: QMK's current
/// numbering), from the tools' own keycode tables: QMK names the number.
static TOOL_NAMES: LazyLock<ToolNames> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../data/keymap/foreign_keycodes.json")).expect("the bundled table is valid")
});

#[derive(serde::Deserialize)]
struct ToolNames {
    via: HashMap<String, String>,
    vial: HashMap<String, String>,
}

/// The keycode numbering of the firmware a file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Numbering {
    /// QMK 0.19 and later (VIA protocol 12 and 13, Vial protocol 6): QMK's keycodes
    /// 0.0.1 on, the numbers of the constants' versions.
    Current,
    /// Older firmware (VIA protocol 10 and 11, Vial protocol 5 and below): below
    /// 0x5000 (basic keys, modifiers, mod-taps, layer-taps) numbered as now, the rest not.
    Older,
}

/// The first number whose meaning changed with QMK 0.19's renumbering.
const RENUMBERED_FROM: u16 = 0x5000;

/// One key in QMK's words, or why it has none; `notes` gets what changed on the way.
pub fn translate(
    written: &str,
    tool: Tool,
    numbering: Numbering,
    keyboard_keycodes: &[String],
    context: Context,
    notes: &mut Vec<String>,
    at: &str,
) -> Result<String, String> {
    let text = written.trim();
    if text.is_empty() {
        notes.push(format!("{at}: the tool could not name this key (an empty string); written as KC_NO"));
        return Ok("KC_NO".to_owned());
    }
    if let Some(value) = number(text) {
        if numbering == Numbering::Older && value >= RENUMBERED_FROM {
            return Err(format!(
                "{at}: `{text}` is a keycode number of firmware older than QMK 0.19, whose numbering qmk-api \
                 does not hold; save the file again from firmware built with QMK 0.19 or later"
            ));
        }
        return Ok(context.keycodes.name_of(value).map_or_else(|| format!("0x{value:04X}"), str::to_owned));
    }
    let indexed = |prefix: &str| -> Option<usize> {
        let rest = text.strip_prefix(prefix)?;
        let digits = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')).unwrap_or(rest);
        (!digits.is_empty() && digits.len() <= 3 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())?
    };
    if let Some(n) = indexed("MACRO").or_else(|| indexed("M")) {
        return Ok(format!("MC_{n}"));
    }
    if let Some(n) = indexed("CUSTOM").or_else(|| indexed("USER")) {
        return Ok(keyboard_keycodes.get(n).cloned().unwrap_or_else(|| format!("QK_KB_{n}")));
    }
    if let Some((layer, rest)) = text.strip_prefix("LT").and_then(|r| r.split_once('('))
        && !layer.is_empty()
        && layer.bytes().all(|b| b.is_ascii_digit())
    {
        return Ok(format!("LT({layer}, {}", rest.trim_start()));
    }
    let table = match tool {
        Tool::Via => &TOOL_NAMES.via,
        Tool::Vial => &TOOL_NAMES.vial,
    };
    if let Some(value) = table.get(text).and_then(|number| self::number(number)) {
        let name = context.keycodes.name_of(value).map_or_else(|| format!("0x{value:04X}"), str::to_owned);
        notes.push(format!("{at}: `{text}` is {value:#06x} to the tool: QMK's `{name}`"));
        return Ok(name);
    }
    let renamed = match text {
        "SPC_FN1" => "LT(1, KC_SPC)",
        "SPC_FN2" => "LT(2, KC_SPC)",
        "SPC_FN3" => "LT(3, KC_SPC)",
        _ => text,
    };
    Ok(current_names(renamed, context, notes, at))
}

/// `text` with each name QMK has retired replaced by its current one, each a note.
pub fn current_names(text: &str, context: Context, notes: &mut Vec<String>, at: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.push_str(&rest[..start]);
        let end =
            rest[start..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(rest.len(), |e| start + e);
        let name = &rest[start..end];
        match context.keycodes.retired().get(name).filter(|_| !context.keycodes.contains(name)) {
            Some(retirement) => {
                notes.push(format!("{at}: `{name}` is now `{}` ({})", retirement.replacement, retirement.when()));
                out.push_str(&retirement.replacement);
            }
            None => out.push_str(name),
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A key of a macro as QMK's macros name it: its current name without `KC_`
/// (`KC_LSHIFT` → `LSFT`).
pub fn macro_key(written: &str, context: Context, notes: &mut Vec<String>, at: &str) -> String {
    let name = current_names(written.trim(), context, notes, at);
    name.strip_prefix("KC_").map_or(name.clone(), str::to_owned)
}

/// A whole number as the tools write raw keycodes: `0x7e05`, or decimal.
fn number(text: &str) -> Option<u16> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16).ok(),
        None if text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
        None => None,
    }
}

/// The keymap JSON of `document`: retired names renamed (each a note), then checked
/// against the keyboard and the keycodes; an error names each finding, warnings
/// become notes.
pub fn finish(document: Object, shown: &str, context: Context, notes: &mut Vec<String>) -> Result<String, String> {
    let text = keymap::to_keymap_json(&document);
    let (keymap, _) = keymap::check(&Source::new(shown, &text), None, context);
    let Some(keymap) = keymap else { return Err("the converted keymap does not read back".to_owned()) };
    let (migrated, changes) = keymap::migrate(&keymap, context.keycodes, Some(context.keyboards));
    for change in &changes {
        notes.push(format!(
            "{}: `{}` is now `{}` ({})",
            change.at.trim_start_matches('/'),
            change.from,
            change.to,
            change.why
        ));
    }
    let text = keymap::to_keymap_json(&migrated);
    let (_, report) = keymap::check(&Source::new(shown, &text), None, context);
    let mut errors = Vec::new();
    for diagnostic in &report.diagnostics {
        match diagnostic.is_error() {
            true => errors.push(finding(diagnostic)),
            false => notes.push(finding(diagnostic)),
        }
    }
    match errors.is_empty() {
        true => Ok(text),
        false => Err(format!("the converted keymap is not valid:\n  {}", errors.join("\n  "))),
    }
}

/// A JSON document as the spec's value, for the keymap writers.
pub fn object(json: serde_json::Value) -> Object {
    match Value::from(json) {
        Value::Object(object) => object,
        _ => Object::default(),
    }
}

/// A keymap JSON (with the extension) as read and validated; `keyboard` stands in
/// for a missing `keyboard` member.
pub fn read_keymap(shown: &str, text: &str, keyboard: Option<&str>, context: Context) -> Result<Keymap, String> {
    let (keymap, report) = keymap::check(&Source::new(shown, text), keyboard, context);
    let errors: Vec<String> = report.diagnostics.iter().filter(|d| d.is_error()).map(finding).collect();
    match (keymap, errors.is_empty()) {
        (Some(keymap), true) => Ok(keymap),
        _ => Err(format!("the keymap is not valid:\n  {}", errors.join("\n  "))),
    }
}

/// A finding on one line: where (the key, else the member), then what.
fn finding(diagnostic: &Diagnostic) -> String {
    match (&diagnostic.key, &diagnostic.position) {
        (_, Some(position)) => format!("{position}: {}", diagnostic.message),
        (Some(key), None) => format!("{key}: {}", diagnostic.message),
        (None, None) => diagnostic.message.clone(),
    }
}
