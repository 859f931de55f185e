//! Strict hjson reading. QMK's loader refuses an object that names a key twice,
//! so the value built here does too; object order is kept as written.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

use super::positions::unclosed;
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
/// is an empty object, as hjson reads it (QMK ships empty version files). A leading
/// byte order mark is skipped, as QMK's hjson reader skips it.
pub fn parse(text: &str) -> Result<Value, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
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
    match quietly(|| deser_hjson::from_str::<Strict>(text)) {
        Some(Err(deser_hjson::Error::Syntax { code: deser_hjson::ErrorCode::Eof, .. }))
            if let Some((line, column, bracket)) = unclosed(text) =>
        {
            let (what, closing) = if bracket == '{' { ("object", '}') } else { ("array", ']') };
            let message = format!("the file ends inside the {what} opened here: a `{closing}` is missing");
            Err(ParseError { message, line: Some(line), column: Some(column) })
        }
        Some(parsed) => parsed.map(|Strict(value)| value).map_err(ParseError::from),
        // deser-hjson 2.2.6 panics when it places an error inside a multi-byte character
        // (`{"a"é: 1}`). The same text with each such character as ASCII bytes has the
        // same lines and structure and cannot make it panic: its error is the one to show.
        None => {
            DEPTH.set(0);
            let ascii: String = text.chars().map(|c| if c.is_ascii() { c } else { '?' }).collect();
            match deser_hjson::from_str::<Strict>(&ascii) {
                Err(error) => Err(ParseError::from(error)),
                Ok(_) => Err(ParseError { message: "invalid hjson".into(), line: None, column: None }),
            }
        }
    }
}

thread_local! {
    /// Set while this thread runs code whose panics are caught and reported otherwise.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `work`, turning a panic into `None` without the panic message on stderr.
fn quietly<T>(work: impl FnOnce() -> T) -> Option<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.get() {
                previous(info);
            }
        }));
    });
    QUIET.set(true);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    QUIET.set(false);
    outcome.ok()
}

impl From<deser_hjson::Error> for ParseError {
    fn from(error: deser_hjson::Error) -> Self {
        match error {
            deser_hjson::Error::Syntax { line, col, code, at } => ParseError {
                message: match at.trim() {
                    "" => format!("invalid hjson: {}", describe(&code)),
                    near => format!("invalid hjson: {} near `{near}`", describe(&code)),
                },
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

    /// A whole number written with a fraction or an exponent (`1.0`, `1e2`) is read
    /// as an integer below 1e10, as QMK's hjson reader does: it publishes `1`, not `1.0`.
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        if v.fract() == 0.0 && v.abs() < 1e10 {
            return Ok(Value::Number((v as i64).into()));
        }
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

/// Where the keys of a document are written, for placing diagnostics on lines. The
/// parser keeps no positions for values, so one scan of the text finds every key as
/// it is written (quoted or not, then `:`); each look-up is then a binary search, and
/// any number of diagnostics cost time linear in the text.
#[derive(Debug, Default)]
pub struct KeyIndex {
    /// The byte offset where each line starts.
    line_starts: Vec<usize>,
    /// Each key, and the offsets where it is written, ascending.
    keys: HashMap<Box<str>, Vec<usize>>,
}

impl KeyIndex {
    pub fn new(text: &str) -> KeyIndex {
        let bytes = text.as_bytes();
        let mut line_starts = vec![0];
        let mut keys: HashMap<Box<str>, Vec<usize>> = HashMap::new();
        for (at, &byte) in bytes.iter().enumerate() {
            match byte {
                b'\n' => line_starts.push(at + 1),
                b':' => {
                    if let Some((start, key)) = key_before(text, at) {
                        match keys.get_mut(key) {
                            Some(offsets) => offsets.push(start),
                            None => {
                                keys.insert(key.into(), vec![start]);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        KeyIndex { line_starts, keys }
    }

    /// The line of a key path: each segment is the first key of that name written
    /// after the previous segment.
    pub fn locate(&self, path: &[&str]) -> Option<usize> {
        let mut from = 0;
        for segment in path {
            let offsets = self.keys.get(*segment)?;
            from = *offsets.get(offsets.partition_point(|&offset| offset < from))?;
        }
        Some(self.line(from))
    }

    /// The line (from 1) holding a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }
}

/// The key written just before the `:` at `colon`, and where it starts: a quoted string,
/// or a word of hjson's quoteless key characters. Each byte is looked at by at most one
/// quoted and one unquoted key, which keeps [`KeyIndex::new`] linear.
fn key_before(text: &str, colon: usize) -> Option<(usize, &str)> {
    let end = text[..colon].trim_end_matches([' ', '\t']).len();
    let before = &text[..end];
    if let Some(inside) = before.strip_suffix('"') {
        let start = inside.rfind('"')? + 1;
        return Some((start - 1, &inside[start..]));
    }
    // The bytes that end a quoteless key are ASCII, so the key starts on a character boundary.
    let start = before.bytes().rposition(|b| b.is_ascii_whitespace() || b",:[]{}\"'".contains(&b)).map_or(0, |i| i + 1);
    (start < end).then(|| (start, &before[start..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_with_a_fraction_read_as_integers_below_1e10() {
        let value = parse(r#"{"a": 1.0, "b": 2.5, "c": 1e2, "d": 1e12, "e": -0.0}"#).unwrap();
        assert_eq!(value.to_string(), r#"{"a":1,"b":2.5,"c":100,"d":1000000000000.0,"e":0}"#);
        assert_eq!(parse("{\na: 1.0\nb: 3\n}").unwrap().to_string(), r#"{"a":1,"b":3}"#);
    }

    #[test]
    fn keeps_order_and_accepts_hjson_syntax() {
        let value = parse("{\n  // comment\n  b: 1\n  a: two words\n  c: [1, 2,],\n}").unwrap();
        let keys: Vec<_> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(value.get("a").and_then(Value::as_str), Some("two words"));
    }

    #[test]
    fn a_multi_byte_character_where_hjson_expects_syntax_is_an_error_not_a_panic() {
        for text in ["{\"a\"é: 1}", "{\n  \"keycodes\"\u{fffd}: {}\n}", "[1 é]"] {
            let error = parse(text).unwrap_err();
            assert!(error.message.starts_with("invalid hjson"), "{text}: {error:?}");
        }
        assert!(parse("{a: [1]}").is_ok(), "the nesting depth is back to zero");
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(parse("\u{feff}{\"a\": 1}").unwrap(), parse("{\"a\": 1}").unwrap());
        assert_eq!(parse("\u{feff}{\n  a: b\n}").unwrap(), parse("{\n  a: b\n}").unwrap());
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
        let index = KeyIndex::new(text);
        assert_eq!(index.locate(&["keycodes", "0x0004"]), Some(6));
        assert_eq!(index.locate(&["keycodes", "0x0004", "key"]), Some(7));
        assert_eq!(index.locate(&["ranges", "0x0000/0x00FF"]), Some(3));
        assert_eq!(index.locate(&["keycodes", "0x0005"]), None);
        assert_eq!(index.locate(&["key", "keycodes"]), None, "segments are found in order");
    }

    #[test]
    fn an_index_of_a_megabyte_of_colons_and_quotes_is_built_in_one_pass() {
        for text in [
            ":".repeat(1 << 20),
            "\"a\":".repeat(1 << 18),
            format!("\"{}\":", "a:".repeat(1 << 19)),
            "\u{a0}:é:".repeat(1 << 16),
        ] {
            let index = KeyIndex::new(&text);
            assert_eq!(index.line(text.len() - 1), 1);
        }
    }
}
