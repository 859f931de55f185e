//! Strict hjson reading. QMK's loader refuses an object that names a key twice,
//! so the value built here does too; object order is kept as written.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use super::value::{Object, Str, Value};

/// Why a document could not be read, with the parser's position where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// Parses hjson (or plain JSON) text into an ordered value. An empty document
/// is an empty object, as hjson reads it (QMK ships empty version files).
pub fn parse(text: &str) -> Result<Value, ParseError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Object::new()));
    }
    // Most files are plain JSON (QMK's keyboard definitions all are), which serde_json
    // reads several times faster; anything it refuses is read as hjson, which also
    // gives the diagnostics.
    let mut json = serde_json::Deserializer::from_str(text);
    if let Ok(Strict(value)) = Strict::deserialize(&mut json)
        && json.end().is_ok()
    {
        return Ok(value);
    }
    deser_hjson::from_str::<Strict>(text).map(|Strict(value)| value).map_err(ParseError::from)
}

impl From<deser_hjson::Error> for ParseError {
    fn from(error: deser_hjson::Error) -> Self {
        match error {
            deser_hjson::Error::Syntax { line, col, code, at } => ParseError {
                message: format!("invalid hjson: {} near `{}`", describe(&code), at.trim()),
                line: Some(line),
                column: Some(col),
            },
            deser_hjson::Error::Serde { line, col, message } => {
                ParseError { message, line: Some(line), column: Some(col) }
            }
            other => ParseError { message: other.to_string(), line: None, column: None },
        }
    }
}

fn describe(code: &deser_hjson::ErrorCode) -> String {
    use deser_hjson::ErrorCode::*;
    match code {
        Eof => "unexpected end of file".into(),
        ExpectedMapColon => "expected `:` after a key".into(),
        ExpectedMapEnd => "expected `}`".into(),
        ExpectedArrayEnd => "expected `]`".into(),
        ExpectedMapComma => "expected `,` or a new line between members".into(),
        ExpectedArrayComma => "expected `,` or a new line between items".into(),
        TrailingCharacters => "unexpected characters after the document".into(),
        InvalidEscapeSequence => "invalid escape sequence".into(),
        other => format!("{other:?}"),
    }
}

/// Deeper nesting is refused: the parser recurses per level and would overflow its stack.
pub const MAX_DEPTH: usize = 128;

thread_local! {
    /// How many values enclose the one being read, on this thread.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Object keys read on this thread: the same few names (`matrix`, `x`, `label`...)
    /// recur hundreds of thousands of times across keyboard files, and share one string.
    static KEYS: RefCell<HashSet<Str>> = RefCell::new(HashSet::new());
}

/// Keys longer than this, or past this many distinct ones, are not shared.
const SHARED_KEY_LEN: usize = 32;
const SHARED_KEYS: usize = 8192;

fn shared_key(key: String) -> Str {
    if key.len() > SHARED_KEY_LEN {
        return key.into();
    }
    KEYS.with_borrow_mut(|keys| match keys.get(key.as_str()) {
        Some(shared) => shared.clone(),
        None => {
            let shared = Str::from(key);
            if keys.len() < SHARED_KEYS {
                keys.insert(shared.clone());
            }
            shared
        }
    })
}

/// A JSON value deserialized with duplicate keys rejected and nesting bounded.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let depth = DEPTH.get();
        if depth >= MAX_DEPTH {
            return Err(de::Error::custom(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        DEPTH.set(depth + 1);
        let value = deserializer.deserialize_any(StrictVisitor).map(Strict);
        DEPTH.set(depth);
        value
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an hjson value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom(format!("number {v} is not finite")))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Object::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key \"{key}\"")));
            }
            let Strict(value) = access.next_value()?;
            map.insert(shared_key(key), value);
        }
        Ok(Value::Object(map))
    }
}

/// The line where a key path is written, found by scanning the text: the parser
/// keeps no positions for values, and this only runs to place a diagnostic.
pub fn locate(text: &str, path: &[&str]) -> Option<usize> {
    let mut from = 0;
    for segment in path {
        from += find_key(&text[from..], segment)?;
    }
    Some(text[..from].matches('\n').count() + 1)
}

/// Byte offset just past `segment` written as a key (quoted or not, then `:`).
fn find_key(text: &str, segment: &str) -> Option<usize> {
    let quoted = format!("\"{segment}\"");
    let mut search = 0;
    while search < text.len() {
        let (at, len) = [quoted.as_str(), segment]
            .iter()
            .filter_map(|needle| text[search..].find(needle).map(|i| (search + i, needle.len())))
            .min()?;
        let rest = text[at + len..].trim_start_matches([' ', '\t']);
        let starts_word = at == 0 || !is_key_char(text[..at].chars().next_back().unwrap_or(' '));
        if rest.starts_with(':') && starts_word {
            return Some(at + len);
        }
        search = at + len;
    }
    None
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '"'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_accepts_hjson_syntax() {
        let value = parse("{\n  // comment\n  b: 1\n  a: two words\n  c: [1, 2,],\n}").unwrap();
        let keys: Vec<_> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(value.get("a").and_then(Value::as_str), Some("two words"));
    }

    #[test]
    fn an_empty_document_is_an_empty_object() {
        assert_eq!(parse(" \n").unwrap(), Value::Object(Object::new()));
    }

    #[test]
    fn rejects_duplicate_keys_with_a_position() {
        let error = parse("{\n  \"a\": 1,\n  \"a\": 2\n}").unwrap_err();
        assert!(error.message.contains("duplicate key \"a\""), "{error:?}");
        assert!(error.line.is_some());
    }

    #[test]
    fn refuses_nesting_deeper_than_the_limit() {
        let nested = |n: usize| format!("{{a: {}{}}}", "[".repeat(n), "]".repeat(n));
        assert!(parse(&nested(MAX_DEPTH - 2)).is_ok());
        let error = parse(&nested(200_000)).unwrap_err();
        assert!(error.message.contains("nesting deeper than 128 levels"), "{error:?}");
        assert!(parse("{a: 1}").is_ok(), "the depth is back to zero after an error");
    }

    #[test]
    fn reports_syntax_errors_with_line() {
        let error = parse("{\n  \"a\": {\n    \"b\": 1\n").unwrap_err();
        assert!(error.line.is_some(), "{error:?}");
    }

    #[test]
    fn locates_nested_keys() {
        let text = "{\n  \"ranges\": {\n    \"0x0000/0x00FF\": {}\n  },\n  keycodes: {\n    \"0x0004\": {\n      key: KC_A\n    }\n  }\n}";
        assert_eq!(locate(text, &["keycodes", "0x0004"]), Some(6));
        assert_eq!(locate(text, &["keycodes", "0x0004", "key"]), Some(7));
        assert_eq!(locate(text, &["keycodes", "0x0005"]), None);
    }
}
