//! Merging spec documents, directives included.
//!
//! Within one fragment type, later files override earlier ones, arrays append and
//! `!delete!` / `!reset!` apply. Fragment types are then laid over each other with
//! arrays replaced, as QMK's loader does.

use super::value::{Object, Value};

use crate::diagnostic::Diagnostic;

/// As an object member's value: remove that member.
pub const DELETE: &str = "!delete!";
/// As an object's key: replace the object instead of merging into it;
/// as an array's first item: replace the array instead of appending to it.
pub const RESET: &str = "!reset!";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Files of one fragment type, in version order.
    WithinFragment,
    /// One fragment type's merged result laid over the spec built so far.
    AcrossFragments,
}

/// Lays `overlay` over `target`.
pub fn merge(target: &mut Object, overlay: Object, mode: Mode) {
    for (key, value) in overlay {
        if value.as_str() == Some(DELETE) {
            // Nothing to delete in this fragment type: the deletion is meant for the spec it is laid over.
            if target.shift_remove(&key).is_none() && mode == Mode::WithinFragment {
                target.insert(key, value);
            }
            continue;
        }
        match (target.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(overlay)) if !overlay.contains_key(RESET) => {
                merge(existing, overlay, mode);
            }
            (Some(Value::Array(existing)), Value::Array(items))
                if mode == Mode::WithinFragment && !starts_with_reset(&items) =>
            {
                existing.extend(items.into_iter().map(|item| clean(item, mode)));
            }
            (_, value) => {
                target.insert(key, clean(value, mode));
            }
        }
    }
}

/// A value as it is stored: directives with nothing left to act on are dropped.
/// Deletions survive within a fragment type, for the spec it is later laid over.
fn clean(value: Value, mode: Mode) -> Value {
    match value {
        Value::Object(mut members) => {
            members
                .retain(|key, value| key != RESET && (mode == Mode::WithinFragment || value.as_str() != Some(DELETE)));
            members.values_mut().for_each(|member| *member = clean(member.take(), mode));
            Value::Object(members)
        }
        Value::Array(mut items) => {
            if starts_with_reset(&items) {
                items.remove(0);
            }
            Value::Array(items.into_iter().map(|item| clean(item, mode)).collect())
        }
        other => other,
    }
}

fn starts_with_reset(items: &[Value]) -> bool {
    items.first().and_then(Value::as_str) == Some(RESET)
}

/// `!word!`: the shape of a directive, known or not.
fn is_directive(s: &str) -> bool {
    s.len() > 2
        && s.starts_with('!')
        && s.ends_with('!')
        && s[1..s.len() - 1].chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Directives that are unknown or stand where they mean nothing, with the key path of each.
pub fn misplaced_directives(document: &Object) -> Vec<(Vec<String>, Diagnostic)> {
    let mut found = Vec::new();
    walk_object(document, &mut Vec::new(), &mut found);
    found
}

fn walk_object(object: &Object, path: &mut Vec<String>, found: &mut Vec<(Vec<String>, Diagnostic)>) {
    for (key, value) in object.iter() {
        path.push(key.to_owned());
        if is_directive(key) && key != RESET {
            found.push((path.clone(), unknown(key)));
        }
        match value {
            Value::String(s) if is_directive(s) && &**s != DELETE => found.push((path.clone(), unknown(s))),
            Value::Object(members) => walk_object(members, path, found),
            Value::Array(items) => walk_array(items, path, found),
            _ => {}
        }
        path.pop();
    }
}

fn walk_array(items: &[Value], path: &mut Vec<String>, found: &mut Vec<(Vec<String>, Diagnostic)>) {
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::String(s) if &**s == RESET && index == 0 => {}
            Value::String(s) if &**s == RESET || &**s == DELETE => found.push((
                path.clone(),
                Diagnostic::error(format!(
                    "`{s}` at item {index} of an array does nothing: `{RESET}` only works as an array's first item, `{DELETE}` only as an object member's value"
                )),
            )),
            Value::String(s) if is_directive(s) => found.push((path.clone(), unknown(s))),
            Value::Object(members) => walk_object(members, path, found),
            Value::Array(inner) => walk_array(inner, path, found),
            _ => {}
        }
    }
}

fn unknown(directive: &str) -> Diagnostic {
    Diagnostic::error(format!("unknown directive `{directive}` (known: `{DELETE}`, `{RESET}`)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: serde_json::Value) -> Object {
        Value::from(value).as_object().unwrap().clone()
    }

    fn merged(mode: Mode, layers: &[serde_json::Value]) -> Value {
        let mut target = Object::new();
        for layer in layers {
            merge(&mut target, object(layer.clone()), mode);
        }
        Value::Object(target)
    }

    #[test]
    fn later_values_override_and_objects_merge_in_place() {
        let result =
            merged(Mode::WithinFragment, &[json!({"a": {"x": 1, "y": 2}, "b": 1}), json!({"a": {"x": 3, "z": 4}})]);
        assert_eq!(result.to_string(), r#"{"a":{"x":3,"y":2,"z":4},"b":1}"#);
    }

    #[test]
    fn delete_removes_a_member_and_keeps_the_order_of_the_rest() {
        let result = merged(Mode::WithinFragment, &[json!({"a": 1, "b": 2, "c": 3}), json!({"b": DELETE})]);
        assert_eq!(result.to_string(), r#"{"a":1,"c":3}"#);
    }

    #[test]
    fn arrays_append_within_a_fragment_and_reset_replaces() {
        let appended = merged(Mode::WithinFragment, &[json!({"a": [1]}), json!({"a": [2]})]);
        assert_eq!(appended, Value::from(json!({"a": [1, 2]})));
        let reset = merged(Mode::WithinFragment, &[json!({"a": [1]}), json!({"a": [RESET, 2]})]);
        assert_eq!(reset, Value::from(json!({"a": [2]})));
    }

    #[test]
    fn arrays_replace_across_fragments() {
        assert_eq!(
            merged(Mode::AcrossFragments, &[json!({"a": [1]}), json!({"a": [2]})]),
            Value::from(json!({"a": [2]}))
        );
    }

    #[test]
    fn reset_key_replaces_an_object() {
        let result = merged(Mode::WithinFragment, &[json!({"a": {"x": 1}}), json!({"a": {RESET: true, "y": 2}})]);
        assert_eq!(result, Value::from(json!({"a": {"y": 2}})));
    }

    #[test]
    fn a_fragment_can_delete_what_the_base_defined() {
        let mut fragment = Object::new();
        merge(&mut fragment, object(json!({"k": {"0x0001": DELETE}})), Mode::WithinFragment);
        let mut spec = object(json!({"k": {"0x0001": 1, "0x0002": 2}}));
        merge(&mut spec, fragment, Mode::AcrossFragments);
        assert_eq!(Value::Object(spec), Value::from(json!({"k": {"0x0002": 2}})));
    }

    #[test]
    fn finds_unknown_and_misplaced_directives() {
        let found = misplaced_directives(&object(json!({
            "a": "!remove!", "b": [1, RESET], "c": {"!merge!": 1}, "ok": [RESET, DELETE], "fine": DELETE, "label": "!"
        })));
        let paths: Vec<_> = found.iter().map(|(path, _)| path.join("/")).collect();
        assert_eq!(paths, ["a", "b", "c/!merge!", "ok"]);
        assert!(found[0].1.message.contains("unknown directive `!remove!`"));
    }
}
