//! Dotted paths into an info object (`rgb_matrix.default.on`, `audio.pins.0`), read
//! and written the way QMK's mapping files are applied: numeric parts index lists,
//! missing or empty steps are created, and a list grows with nulls to reach an index.

use crate::spec::{Object, Value};

/// The value at `path`; `None` where a step is missing or of the wrong kind.
pub fn get<'a>(object: &'a Object, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut current = object.get(parts.next()?)?;
    for part in parts {
        current = match current {
            Value::Object(members) => members.get(part)?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            Value::Null => return Some(current),
            _ => return None,
        };
    }
    Some(current)
}

/// Whether a value counts as set: QMK treats `0`, `false`, `""`, `[]`, `{}` and null as unset.
pub fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(members) => !members.is_empty(),
    }
}

/// Sets `path` to `value`. An unset step (see [`is_truthy`]) becomes an empty
/// object, or an empty list when the next part is a number; a step that is set
/// but cannot hold the next part is an error, as it is for QMK.
pub fn set(object: &mut Object, path: &str, value: Value) -> Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    let (first, rest) = parts.split_first().ok_or_else(|| "empty path".to_owned())?;
    let mut current = step_in_object(object, first, rest)?;
    for (at, part) in rest.iter().enumerate() {
        let last = at + 1 == rest.len();
        if last {
            return put(current, part, value);
        }
        current = match current {
            Value::Object(members) => step_in_object(members, part, &rest[at + 1..])?,
            Value::Array(items) => step_in_list(items, part, &rest[at + 1..])?,
            other => return Err(format!("cannot set `{part}` inside {}", other.kind())),
        };
    }
    // A one-part path: `step_in_object` made a placeholder that the value replaces.
    *current = value;
    Ok(())
}

fn placeholder(next: &[&str]) -> Value {
    match next.first().is_some_and(|p| is_index(p)) {
        true => Value::Array(Vec::new()),
        false => Value::Object(Object::new()),
    }
}

fn is_index(part: &str) -> bool {
    !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())
}

fn step_in_object<'a>(members: &'a mut Object, part: &str, next: &[&str]) -> Result<&'a mut Value, String> {
    if next.is_empty() {
        if !members.contains_key(part) {
            members.insert(part.into(), Value::Null);
        }
    } else if !members.get(part).is_some_and(is_truthy) {
        members.insert(part.into(), placeholder(next));
    }
    Ok(members.get_mut(part).expect("just ensured"))
}

fn step_in_list<'a>(items: &'a mut Vec<Value>, part: &str, next: &[&str]) -> Result<&'a mut Value, String> {
    let index: usize = part.parse().map_err(|_| format!("list indices must be integers, not `{part}`"))?;
    if items.len() <= index {
        items.resize(index + 1, Value::Null);
    }
    if !is_truthy(&items[index]) {
        items[index] = placeholder(next);
    }
    Ok(&mut items[index])
}

fn put(target: &mut Value, part: &str, value: Value) -> Result<(), String> {
    match target {
        Value::Array(items) if is_index(part) => {
            let index: usize = part.parse().map_err(|_| format!("index too large: `{part}`"))?;
            if items.len() <= index {
                items.resize(index + 1, Value::Null);
            }
            items[index] = value;
            Ok(())
        }
        Value::Object(members) if !is_index(part) => {
            members.insert(part.into(), value);
            Ok(())
        }
        other => Err(format!("cannot set `{part}` inside {}", other.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: serde_json::Value) -> Object {
        Value::from(json).as_object().unwrap().clone()
    }

    #[test]
    fn sets_nested_members_and_list_items() {
        let mut info = object(serde_json::json!({"audio": {"pins": ["C4"]}, "rgb": {}, "split": false}));
        set(&mut info, "audio.pins.2", Value::from("B6")).unwrap();
        set(&mut info, "rgb.default.on", Value::Bool(true)).unwrap();
        set(&mut info, "split.enabled", Value::Bool(true)).unwrap();
        set(&mut info, "board", Value::from("X")).unwrap();
        assert_eq!(
            Value::Object(info.clone()).to_string(),
            r#"{"audio":{"pins":["C4",null,"B6"]},"rgb":{"default":{"on":true}},"split":{"enabled":true},"board":"X"}"#
        );
        assert_eq!(get(&info, "audio.pins.2"), Some(&Value::from("B6")));
        assert_eq!(get(&info, "rgb.default.off"), None);
        assert!(set(&mut info, "board.x", Value::Null).is_err());
    }
}
