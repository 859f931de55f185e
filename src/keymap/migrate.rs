//! Rewrites retired names in a keymap to the names a constants version uses,
//! reporting each change. Keycodes are rewritten inside their expressions
//! (`LT(1, KC_SLCK)` → `LT(1, KC_SCRL)`), everything else is kept as written.

use super::document::Keymap;
use super::expr;
use super::keycodes::Keycodes;
use super::retired::retired_layout;
use crate::c::{Expr, Kind};
use crate::keyboard::Keyboards;
use crate::publish::pyjson;
use crate::spec::positions::ValueIndex;
use crate::spec::{Object, Value};

/// One rename made, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `layout`, `layers/0/12`, `encoders/1/0/cw`...
    pub at: String,
    pub from: String,
    pub to: String,
    pub why: String,
}

/// The migrated document and the changes made to it.
pub fn migrate(keymap: &Keymap, keycodes: &Keycodes, keyboards: Option<&Keyboards>) -> (Object, Vec<Change>) {
    let mut document = keymap.document.clone();
    let mut changes = Vec::new();
    if let Some(layout) = keymap.layout.as_deref()
        && let Some(current) = retired_layout(layout)
    {
        let keyboard = keymap.keyboard.as_deref().and_then(|k| keyboards?.resolve(k).ok());
        if keyboard.is_none_or(|k| k.layout(&current).is_some()) {
            document.insert("layout".into(), Value::from(current.as_str()));
            let why = "the layout macro was renamed".to_owned();
            changes.push(Change { at: "layout".into(), from: layout.to_owned(), to: current, why });
        }
    }
    for field in ["layers", "encoders", "dip_switches"] {
        if let Some(value) = document.get_mut(field) {
            rewrite(value, field, keycodes, &mut changes);
        }
    }
    (document, changes)
}

/// `text`, the keymap as written, with each string `changes` rewrote replaced where it
/// is written, so that its layout and comments stay; `None` when a changed string is
/// not written as plain JSON would write it (hjson's quoteless or single-quoted
/// strings, escapes), for the caller to write the whole document instead.
pub fn rewrite_text(text: &str, original: &Object, migrated: &Object, changes: &[Change]) -> Option<String> {
    let index = ValueIndex::new(text);
    let mut splices = Vec::new();
    for at in changes.iter().map(|change| change.at.as_str()) {
        let path: Vec<&str> = at.split('/').collect();
        let (Some(Value::String(old)), Some(Value::String(new))) = (lookup(original, &path), lookup(migrated, &path))
        else {
            return None;
        };
        let start = index.start(&path)?;
        let written = serde_json::to_string(old.as_ref()).ok()?;
        text[start..].starts_with(&written).then_some(())?;
        splices.push((start, start + written.len(), serde_json::to_string(new.as_ref()).ok()?));
    }
    splices.sort();
    splices.dedup();
    let mut rewritten = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end, new) in splices {
        rewritten.push_str(&text[copied..start]);
        rewritten.push_str(&new);
        copied = end;
    }
    rewritten.push_str(&text[copied..]);
    Some(rewritten)
}

fn lookup<'v>(document: &'v Object, path: &[&str]) -> Option<&'v Value> {
    let (first, rest) = path.split_first()?;
    rest.iter().try_fold(document.get(*first)?, |value, segment| match value {
        Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
        Value::Object(members) => members.get(*segment),
        _ => None,
    })
}

/// A keymap document as JSON text the way configurator exports read: four-space
/// indentation, and each layer on one line.
pub fn to_keymap_json(document: &Object) -> String {
    let fields: Vec<String> = document
        .iter()
        .map(|(key, value)| {
            let value = match (key, value) {
                ("layers", Value::Array(layers)) if !layers.is_empty() => {
                    let rows: Vec<String> = layers.iter().map(|layer| format!("        {}", line(layer))).collect();
                    format!("[\n{}\n    ]", rows.join(",\n"))
                }
                _ => String::from_utf8_lossy(&pyjson::to_indented(value)).replace('\n', "\n    "),
            };
            format!("    {}: {value}", line(&Value::from(key)))
        })
        .collect();
    format!("{{\n{}\n}}\n", fields.join(",\n"))
}

fn line(value: &Value) -> String {
    String::from_utf8_lossy(&pyjson::to_line(value)).into_owned()
}

/// Rewrites every keycode string below `value`; `at` is its path.
fn rewrite(value: &mut Value, at: &str, keycodes: &Keycodes, changes: &mut Vec<Change>) {
    match value {
        Value::String(text) => {
            if let Some((renamed, mut made)) = rename_in(text, keycodes) {
                made.iter_mut().for_each(|change| change.at = at.to_owned());
                changes.extend(made);
                *text = renamed.into();
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter_mut().enumerate() {
                rewrite(item, &format!("{at}/{index}"), keycodes, changes);
            }
        }
        Value::Object(members) => {
            let keys: Vec<String> = members.keys().map(str::to_owned).collect();
            for key in keys {
                if let Some(member) = members.get_mut(&key) {
                    rewrite(member, &format!("{at}/{key}"), keycodes, changes);
                }
            }
        }
        _ => {}
    }
}

/// The expression with retired names replaced, if it had any.
fn rename_in(text: &str, keycodes: &Keycodes) -> Option<(String, Vec<Change>)> {
    let parsed = expr::parse(text).ok()?;
    let mut names = Vec::new();
    collect_names(&parsed, &mut names);
    let mut renamed = String::with_capacity(text.len());
    let mut copied = 0;
    let mut changes = Vec::new();
    for (at, end) in names {
        let name = &text[at..end];
        if keycodes.contains(name) {
            continue;
        }
        let Some(retirement) = keycodes.retired().get(name) else { continue };
        renamed.push_str(&text[copied..at]);
        renamed.push_str(&retirement.replacement);
        copied = at + name.len();
        changes.push(Change {
            at: String::new(),
            from: name.to_owned(),
            to: retirement.replacement.clone(),
            why: retirement.when(),
        });
    }
    if changes.is_empty() {
        return None;
    }
    renamed.push_str(&text[copied..]);
    Some((renamed, changes))
}

/// Where each name of an expression lies, in order.
fn collect_names(expr: &Expr, names: &mut Vec<(usize, usize)>) {
    match &expr.kind {
        Kind::Name => names.push((expr.start as usize, expr.end as usize)),
        Kind::Number(_) | Kind::Param(_) => {}
        Kind::Call { args, .. } => args.iter().for_each(|a| collect_names(a, names)),
        Kind::Paren(inner) | Kind::Unary(_, inner) => collect_names(inner, names),
        Kind::Binary(_, lhs, rhs) => [lhs, rhs].iter().for_each(|e| collect_names(e, names)),
        Kind::Conditional(a, b, c) => [a, b, c].iter().for_each(|e| collect_names(e, names)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keymap_json_keeps_each_layer_on_one_line() {
        let document = Value::from(
            serde_json::json!({"keyboard": "a/b", "layers": [["KC_A", "KC_B"], ["KC_C"]], "config": {"x": 1}}),
        );
        let text = to_keymap_json(document.as_object().unwrap());
        assert_eq!(
            text,
            "{\n    \"keyboard\": \"a/b\",\n    \"layers\": [\n        [\"KC_A\", \"KC_B\"],\n        [\"KC_C\"]\n    ],\n    \"config\": {\n        \"x\": 1\n    }\n}\n"
        );
        let reparsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(reparsed["layers"][0][1], "KC_B");
    }
}
