//! Values written as Python prints them, for the messages QMK puts in
//! `parse_errors` and `parse_warnings` (which quote dicts and lists as Python does).

use crate::spec::Value;

/// `repr()` of a JSON value loaded into Python.
pub fn repr(value: &Value) -> String {
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// `str()` of a value: strings bare, everything else as [`repr`].
pub fn str(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        other => repr(other),
    }
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => out.push_str(&string(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(members) => {
            out.push('{');
            for (i, (key, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&string(key));
                out.push_str(": ");
                write(item, out);
            }
            out.push('}');
        }
    }
}

/// A number as Python prints it: integers bare, floats always with a point or an exponent.
pub fn number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    float(n.as_f64().unwrap_or(0.0))
}

pub fn float(f: f64) -> String {
    crate::publish::pyjson::python_float(f)
}

fn string(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_python() {
        let value = Value::from(serde_json::json!({"a": [1, 2.5, true, null], "b'": "it's", "c": 3.0}));
        assert_eq!(repr(&value), r#"{'a': [1, 2.5, True, None], "b'": "it's", 'c': 3.0}"#);
        assert_eq!(float(1e16), "1e+16");
        assert_eq!(float(0.00001), "1e-05");
        assert_eq!(float(0.1), "0.1");
    }
}
