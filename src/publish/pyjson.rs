//! JSON bytes as Python's `json.dumps` writes them (`ensure_ascii` on), so that
//! published files are byte-compatible with QMK's: `", "` and `": "` separators
//! (or `","` and `":"`, as `qmk generate-api` asks for), optional indentation, and
//! everything outside printable ASCII escaped as `\uXXXX`.

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

/// `json.dumps(value, separators=(',', ':'))`: one line, no blanks, as `qmk generate-api` writes its files.
pub fn to_compact<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    write_compact(value, &mut out).expect("JSON serialization into memory");
    out
}

/// [`to_compact`] into any writer.
pub fn write_compact<T: Serialize + ?Sized, W: Write>(value: &T, out: W) -> serde_json::Result<()> {
    let formatter = PythonFormatter { indent: None, level: 0, has_value: false, compact: true };
    value.serialize(&mut Serializer::with_formatter(out, formatter))
}

fn write<T: Serialize + ?Sized>(value: &T, indent: Option<&'static [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = PythonFormatter { indent, level: 0, has_value: false, compact: false };
    // Writing to a Vec cannot fail, and every value here has string keys.
    value.serialize(&mut Serializer::with_formatter(&mut out, formatter)).expect("JSON serialization into memory");
    out
}

struct PythonFormatter {
    indent: Option<&'static [u8]>,
    level: usize,
    has_value: bool,
    /// No blank after `,` and `:`.
    compact: bool,
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
            w.write_all(if self.indent.is_some() || self.compact { b"," } else { b", " })?;
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

/// A float as Python's `repr` writes it: the shortest digits that read back the
/// same, positional from 1e-4 up to 1e16 (`1.0`, `0.0001`), else with an exponent
/// of at least two digits (`1e-05`, `1e+16`).
pub fn python_float(value: f64) -> String {
    if !value.is_finite() {
        return if value.is_nan() {
            "NaN".into()
        } else if value > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..16).contains(&exponent) {
        let mark = if exponent < 0 { '-' } else { '+' };
        return format!("{sign}{mantissa}e{mark}{:02}", exponent.abs());
    }
    if exponent < 0 {
        return format!("{sign}0.{}{digits}", "0".repeat((-exponent - 1) as usize));
    }
    let point = exponent as usize + 1;
    let (whole, fraction) = if digits.len() > point {
        (digits[..point].to_owned(), digits[point..].to_owned())
    } else {
        (format!("{digits}{}", "0".repeat(point - digits.len())), "0".to_owned())
    };
    format!("{sign}{whole}.{fraction}")
}

impl Formatter for PythonFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(python_float(value).as_bytes())
    }

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
        w.write_all(if self.compact { b":" } else { b": " })
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
    fn floats_read_like_python_repr() {
        for (value, shown) in [
            (1.0, "1.0"),
            (0.25, "0.25"),
            (1e-5, "1e-05"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (123.456, "123.456"),
            (-2.5, "-2.5"),
            (1e15, "1000000000000000.0"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(python_float(value), shown);
        }
    }

    #[test]
    fn compact_output_has_no_blanks() {
        let value = json!({"a": [1, {"b": "x"}], "e": {}, "f": 1.5});
        assert_eq!(String::from_utf8(to_compact(&value)).unwrap(), r#"{"a":[1,{"b":"x"}],"e":{},"f":1.5}"#);
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
