//! Turning `config.h` and `rules.mk` text into info.json values, per the
//! `value_type` of QMK's mapping files, and the arithmetic QMK accepts in
//! `MATRIX_ROWS` and `MATRIX_COLS`.

use serde_json::Number;

use crate::c_source::Define;
use crate::spec::Value;

/// The words QMK reads as true and false.
pub const TRUE_WORDS: [&str; 4] = ["true", "1", "on", "yes"];
pub const FALSE_WORDS: [&str; 4] = ["false", "0", "off", "no"];

/// A raw setting: a rules.mk value, or a config.h define.
#[derive(Debug, Clone, Copy)]
pub enum Raw<'a> {
    Text(&'a str),
    /// A define without a value (`true`) or undefined after a value (`false`).
    Flag(bool),
}

impl<'a> Raw<'a> {
    pub fn from_define(define: &'a Define) -> Raw<'a> {
        match define {
            Define::Text(text) => Raw::Text(text),
            Define::Flag => Raw::Flag(true),
            Define::Undefined => Raw::Flag(false),
        }
    }

    fn text(self, value_type: &str) -> Result<&'a str, String> {
        match self {
            Raw::Text(text) => Ok(text),
            Raw::Flag(_) => Err(format!("a define without a value cannot be read as `{value_type}`")),
        }
    }
}

/// Converts a raw setting to the JSON value of `value_type`; an error says why
/// it cannot be (QMK then warns and leaves the info alone).
pub fn to_json(value_type: &str, raw: Raw) -> Result<Value, String> {
    if let Some(rest) = value_type.strip_prefix("array") {
        let element = match rest {
            "" => None,
            ".int" => Some("int"),
            other if other.matches('.').count() > 1 || !other.starts_with('.') => {
                return Err(format!("Conversion of {value_type} not possible"));
            }
            other => Some(&other[1..]),
        };
        let text = raw.text(value_type)?.replace(['{', '}'], "");
        let items = text.trim().split(',');
        return match element {
            Some("int") => {
                items.map(|item| python_int(item).map(Value::Number)).collect::<Result<_, _>>().map(Value::Array)
            }
            _ => Ok(Value::Array(items.map(|item| Value::from(item.trim())).collect())),
        };
    }
    match (value_type, raw) {
        ("bool" | "flag", Raw::Flag(b)) => Ok(Value::Bool(b)),
        ("bool" | "flag", Raw::Text(text)) => Ok(Value::Bool(TRUE_WORDS.contains(&text))),
        ("int", Raw::Flag(b)) => Ok(Value::Number(u8::from(b).into())),
        ("int", Raw::Text(text)) => python_int(text).map(Value::Number),
        ("hex", raw) => {
            let text = raw.text(value_type)?;
            Ok(Value::from(format!("0x{}", text.get(2..).unwrap_or("").to_uppercase()).as_str()))
        }
        ("list", raw) => Ok(Value::Array(raw.text(value_type)?.split_whitespace().map(Value::from).collect())),
        ("str", raw) => {
            let text = raw.text(value_type)?.trim_matches('"');
            Ok(Value::from(text.replace("\\\"", "\"").replace("\\\\", "\\").as_str()))
        }
        ("bcd_version", raw) => bcd_version(raw.text(value_type)?).map(|v| Value::from(v.as_str())),
        (_, Raw::Text(text)) => Ok(Value::from(text)),
        (_, Raw::Flag(b)) => Ok(Value::Bool(b)),
    }
}

/// `0x0102` → `1.0.2`: the major version from two digits, minor and revision from one each.
fn bcd_version(text: &str) -> Result<String, String> {
    let digits = |range: std::ops::Range<usize>| {
        let part = text.get(range).ok_or_else(|| format!("`{text}` is too short for a BCD version"))?;
        python_int(part).map(|n| n.to_string())
    };
    Ok(format!("{}.{}.{}", digits(2..4)?, digits(4..5)?, digits(5..6)?))
}

/// A decimal integer as Python's `int()` reads text: blanks around, an optional
/// sign, `_` between digits.
pub fn python_int(text: &str) -> Result<Number, String> {
    let invalid = || format!("invalid literal for int() with base 10: '{text}'");
    let trimmed = text.trim();
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(invalid());
    }
    let value: i128 = digits.replace('_', "").parse().map_err(|_| invalid())?;
    let value = if negative { -value } else { value };
    i64::try_from(value).map(Number::from).or_else(|_| u64::try_from(value).map(Number::from)).map_err(|_| invalid())
}

/// Evaluates the arithmetic QMK allows in a matrix size: numbers, parentheses,
/// `+ - * /` (true division), `**`, `^` (exclusive or) and unary minus.
pub fn compute(expression: &str) -> Result<Number, String> {
    let tokens = lex(expression)?;
    let mut parser = Parser { tokens: &tokens, at: 0 };
    let value = parser.bitxor()?;
    if parser.at != tokens.len() {
        return Err(format!("cannot compute `{expression}`"));
    }
    value.into_number()
}

/// Past `i128` (literals, sums, products) or `i64` (the result): refused rather than wrapped.
const OUT_OF_RANGE: &str = "number out of range";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Num {
    Int(i128),
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    fn into_number(self) -> Result<Number, String> {
        match self {
            Num::Int(i) => i64::try_from(i).map(Number::from).map_err(|_| OUT_OF_RANGE.to_owned()),
            Num::Float(f) => Number::from_f64(f).ok_or_else(|| "not a finite number".to_owned()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Num),
    Op(&'static str),
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let c = bytes[at];
        if c.is_ascii_whitespace() {
            at += 1;
        } else if c.is_ascii_digit() || (c == b'.' && bytes.get(at + 1).is_some_and(u8::is_ascii_digit)) {
            let len =
                bytes[at..].iter().take_while(|b| b.is_ascii_alphanumeric() || **b == b'.' || **b == b'_').count();
            tokens.push(Tok::Num(literal(&text[at..at + len])?));
            at += len;
        } else {
            let op = ["**", "+", "-", "*", "/", "^", "(", ")"].into_iter().find(|op| text[at..].starts_with(op));
            let op = op.ok_or_else(|| format!("cannot compute `{text}`"))?;
            tokens.push(Tok::Op(op));
            at += op.len();
        }
    }
    Ok(tokens)
}

/// A Python number literal: decimal, `0x`, `0o`, `0b`, or a float.
fn literal(text: &str) -> Result<Num, String> {
    let invalid = || format!("invalid number `{text}`");
    let clean = text.replace('_', "");
    let radix = match clean.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("0x") => Some(16),
        Some("0o") => Some(8),
        Some("0b") => Some(2),
        _ => None,
    };
    if let Some(radix) = radix {
        return i128::from_str_radix(&clean[2..], radix).map(Num::Int).map_err(|_| invalid());
    }
    if clean.bytes().all(|b| b.is_ascii_digit()) {
        // Python refuses leading zeros on a decimal literal other than zero itself.
        if clean.len() > 1 && clean.starts_with('0') && clean.bytes().any(|b| b != b'0') {
            return Err(invalid());
        }
        return clean.parse().map(Num::Int).map_err(|_| invalid());
    }
    clean.parse::<f64>().map(Num::Float).map_err(|_| invalid())
}

struct Parser<'a> {
    tokens: &'a [Tok],
    at: usize,
}

impl Parser<'_> {
    fn eat(&mut self, op: &str) -> bool {
        let found = matches!(self.tokens.get(self.at), Some(Tok::Op(o)) if *o == op);
        self.at += usize::from(found);
        found
    }

    /// The first of `ops` that comes next, taken.
    fn eat_one_of(&mut self, ops: [&'static str; 2]) -> Option<&'static str> {
        ops.into_iter().find(|op| self.eat(op))
    }

    fn bitxor(&mut self) -> Result<Num, String> {
        let mut left = self.sum()?;
        while self.eat("^") {
            let right = self.sum()?;
            left = match (left, right) {
                (Num::Int(a), Num::Int(b)) => Num::Int(a ^ b),
                _ => return Err("unsupported operand type(s) for ^: 'float'".into()),
            };
        }
        Ok(left)
    }

    fn sum(&mut self) -> Result<Num, String> {
        let mut left = self.product()?;
        while let Some(op) = self.eat_one_of(["+", "-"]) {
            let right = self.product()?;
            left = match (left, right, op) {
                (Num::Int(a), Num::Int(b), "+") => Num::Int(a.checked_add(b).ok_or(OUT_OF_RANGE)?),
                (Num::Int(a), Num::Int(b), _) => Num::Int(a.checked_sub(b).ok_or(OUT_OF_RANGE)?),
                (a, b, "+") => Num::Float(a.as_f64() + b.as_f64()),
                (a, b, _) => Num::Float(a.as_f64() - b.as_f64()),
            };
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Num, String> {
        let mut left = self.unary()?;
        while let Some(op) = self.eat_one_of(["*", "/"]) {
            let right = self.unary()?;
            left = match (left, right, op) {
                (Num::Int(a), Num::Int(b), "*") => Num::Int(a.checked_mul(b).ok_or(OUT_OF_RANGE)?),
                (a, b, "*") => Num::Float(a.as_f64() * b.as_f64()),
                (_, b, _) if b.as_f64() == 0.0 => return Err("division by zero".into()),
                (a, b, _) => Num::Float(a.as_f64() / b.as_f64()),
            };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Num, String> {
        if self.eat("-") {
            return Ok(match self.unary()? {
                Num::Int(i) => Num::Int(i.checked_neg().ok_or(OUT_OF_RANGE)?),
                Num::Float(f) => Num::Float(-f),
            });
        }
        self.power()
    }

    fn power(&mut self) -> Result<Num, String> {
        let base = self.atom()?;
        if !self.eat("**") {
            return Ok(base);
        }
        let exponent = self.unary()?;
        Ok(match (base, exponent) {
            (Num::Int(b), Num::Int(e)) if (0..=127).contains(&e) => {
                Num::Int(b.checked_pow(e as u32).ok_or(OUT_OF_RANGE)?)
            }
            (b, e) => Num::Float(b.as_f64().powf(e.as_f64())),
        })
    }

    fn atom(&mut self) -> Result<Num, String> {
        match self.tokens.get(self.at) {
            Some(Tok::Num(n)) => {
                self.at += 1;
                Ok(*n)
            }
            Some(Tok::Op("(")) => {
                self.at += 1;
                let value = self.bitxor()?;
                if !self.eat(")") {
                    return Err("unbalanced parentheses".into());
                }
                Ok(value)
            }
            _ => Err("cannot compute: expected a number".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_per_type() {
        let text = |t| Raw::Text(t);
        assert_eq!(to_json("int", text(" 12 ")).unwrap(), Value::Number(12.into()));
        assert!(to_json("int", text("0x10")).is_err());
        assert_eq!(to_json("bool", text("yes")).unwrap(), Value::Bool(true));
        assert_eq!(to_json("flag", Raw::Flag(true)).unwrap(), Value::Bool(true));
        assert_eq!(to_json("hex", text("0xfeed")).unwrap(), Value::from("0xFEED"));
        assert_eq!(to_json("bcd_version", text("0x0102")).unwrap(), Value::from("1.0.2"));
        // Every quote at either end goes, the escaped one's backslash with it.
        assert_eq!(to_json("str", text(r#""A \"B\"""#)).unwrap(), Value::from(r#"A "B\"#));
        assert_eq!(to_json("list", text("60_ansi  60_iso")).unwrap().to_string(), r#"["60_ansi","60_iso"]"#);
        assert_eq!(to_json("array", text("{ B1, B2 }")).unwrap().to_string(), r#"["B1","B2"]"#);
        assert_eq!(to_json("array.int", text("{1, 2}")).unwrap().to_string(), "[1,2]");
        assert!(to_json("array.array.int", text("{{1}}")).is_err());
        assert_eq!(to_json("raw", text("D5")).unwrap(), Value::from("D5"));
    }

    #[test]
    fn matrix_sizes_compute_as_python_does() {
        assert_eq!(compute("10").unwrap(), Number::from(10));
        assert_eq!(compute("(5 * 2)").unwrap(), Number::from(10));
        assert_eq!(compute("2^6").unwrap(), Number::from(4));
        assert_eq!(compute("2**6").unwrap(), Number::from(64));
        assert_eq!(compute("12 / 2").unwrap().to_string(), "6.0");
        assert_eq!(compute("-2 + 0x10").unwrap(), Number::from(14));
        assert!(compute("ROWS * 2").is_err());
        let huge = "99999999999999999999";
        assert!(compute(&format!("{huge} * {huge}")).is_err(), "an overflow is an error, not a panic");
    }
}
