//! JSON bytes as Python's `json.dumps` writes them (`ensure_ascii` on), so that
//! published files are byte-compatible with QMK's: `", "` and `": "` separators,
//! optional indentation, and everything outside printable ASCII escaped as `\uXXXX`.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter, Serializer};

/// `json.dumps(value, indent=4)`.
pub fn to_indented<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    write(value, Some(b"    "))
}

/// `json.dumps(value)`: one line.
pub fn to_line<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    write(value, None)
}

fn write<T: Serialize + ?Sized>(value: &T, indent: Option<&'static [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = PythonFormatter { indent, level: 0, has_value: false };
    // Writing to a Vec cannot fail, and every value here has string keys.
    value.serialize(&mut Serializer::with_formatter(&mut out, formatter)).expect("JSON serialization into memory");
    out
}

struct PythonFormatter {
    indent: Option<&'static [u8]>,
    level: usize,
    has_value: bool,
}

impl PythonFormatter {
    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w)?;
        }
        w.write_all(bracket)
    }

    /// Before an item: the separator from the previous one, then its indentation.
    fn item<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            w.write_all(if self.indent.is_some() { b"," } else { b", " })?;
        }
        self.newline(w)
    }

    fn newline<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        if let Some(indent) = self.indent {
            w.write_all(b"\n")?;
            for _ in 0..self.level {
                w.write_all(indent)?;
            }
        }
        Ok(())
    }
}

impl Formatter for PythonFormatter {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let mut plain = 0;
        for (at, c) in fragment.char_indices() {
            if (' '..='~').contains(&c) {
                continue;
            }
            w.write_all(&fragment.as_bytes()[plain..at])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            plain = at + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[plain..])
    }

    fn write_char_escape<W: ?Sized + Write>(&mut self, w: &mut W, escape: CharEscape) -> io::Result<()> {
        let short: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write!(w, "\\u{byte:04x}"),
        };
        w.write_all(short)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn indented_output_matches_python() {
        let value = json!({"a": [1, {"b": "x"}], "e": {}, "l": []});
        let expected = "{\n    \"a\": [\n        1,\n        {\n            \"b\": \"x\"\n        }\n    ],\n    \"e\": {},\n    \"l\": []\n}";
        assert_eq!(String::from_utf8(to_indented(&value)).unwrap(), expected);
    }

    #[test]
    fn line_output_uses_python_separators() {
        let value = json!({"last_updated": "x", "constants": {"keycodes": ["0.0.1", "0.0.2"]}});
        assert_eq!(
            String::from_utf8(to_line(&value)).unwrap(),
            r#"{"last_updated": "x", "constants": {"keycodes": ["0.0.1", "0.0.2"]}}"#
        );
    }

    #[test]
    fn escapes_like_ensure_ascii() {
        let value = json!("é ♯ \u{7f} \u{1} \n \" \\ / 😀");
        assert_eq!(
            String::from_utf8(to_line(&value)).unwrap(),
            r#""\u00e9 \u266f \u007f \u0001 \n \" \\ / \ud83d\ude00""#
        );
    }
}
