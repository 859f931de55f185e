//! Keycode expressions as keymaps write them: `KC_A`, `LT(1, KC_A)`,
//! `LCTL(LSFT(KC_A))`, `OSM(MOD_LCTL | MOD_LSFT)`, `0x7C00`.
//!
//! The C compiler masks an argument that does not fit; here every argument is
//! checked for its kind and range, and anything else is an error saying why.

use std::fmt;

/// One piece of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term<'a> {
    Name(&'a str),
    Number(u32),
    Call { function: &'a str, args: Vec<Arg<'a>> },
}

/// A function argument: one term, or modifier constants joined by `|`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg<'a> {
    pub terms: Vec<Term<'a>>,
}

/// Why an expression has no value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub message: String,
    /// A name that is no keycode: a suggestion for it is worth working out only
    /// for errors that are shown (see `Scope::suggest`).
    pub unknown: Option<String>,
}

impl ExprError {
    pub fn new(message: impl Into<String>) -> Self {
        ExprError { message: message.into(), unknown: None }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Deeper nesting than any real keycode needs; keeps hostile input from recursing far.
const MAX_NESTING: usize = 8;

/// Parses a whole expression.
pub fn parse(text: &str) -> Result<Term<'_>, ExprError> {
    let mut parser = Parser { text, at: 0, depth: 0 };
    parser.skip_spaces();
    if parser.at == text.len() {
        return Err(ExprError::new("empty keycode"));
    }
    let term = parser.term()?;
    parser.skip_spaces();
    match parser.peek() {
        None => Ok(term),
        Some(')') => Err(parser.error("unbalanced `)`")),
        Some(_) => Err(parser.error("one keycode expected, but more follows")),
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn skip_spaces(&mut self) {
        self.at = self.text.len() - self.text[self.at..].trim_start_matches([' ', '\t']).len();
    }

    fn error(&self, message: &str) -> ExprError {
        ExprError::new(format!("{message} at column {}", self.at + 1))
    }

    fn term(&mut self) -> Result<Term<'a>, ExprError> {
        self.skip_spaces();
        let start = self.at;
        let word_len = self.text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.text.len() - start);
        if word_len == 0 {
            return Err(match self.peek() {
                None => self.error("keycode expected, but the expression ends"),
                Some(c) => self.error(&format!("keycode expected, not `{c}`")),
            });
        }
        let word = &self.text[start..start + word_len];
        self.at += word_len;
        if word.starts_with(|c: char| c.is_ascii_digit()) {
            return number(word).map(Term::Number).ok_or_else(|| {
                ExprError::new(format!("`{word}` is not a number (decimal, or hex as 0x…, up to 0xFFFF)"))
            });
        }
        self.skip_spaces();
        if self.peek() != Some('(') {
            return Ok(Term::Name(word));
        }
        self.at += 1;
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error("keycodes nested too deeply"));
        }
        let mut args = Vec::new();
        loop {
            args.push(self.arg()?);
            self.skip_spaces();
            match self.peek() {
                Some(',') => self.at += 1,
                Some(')') => {
                    self.at += 1;
                    break;
                }
                None => return Err(self.error(&format!("`{word}(` is never closed with `)`"))),
                Some(c) => return Err(self.error(&format!("`,` or `)` expected, not `{c}`"))),
            }
        }
        self.depth -= 1;
        Ok(Term::Call { function: word, args })
    }

    fn arg(&mut self) -> Result<Arg<'a>, ExprError> {
        self.skip_spaces();
        if self.peek() == Some(')') {
            return Err(self.error("argument expected"));
        }
        let mut terms = vec![self.term()?];
        loop {
            self.skip_spaces();
            if self.peek() != Some('|') {
                return Ok(Arg { terms });
            }
            self.at += 1;
            terms.push(self.term()?);
        }
    }
}

fn number(word: &str) -> Option<u32> {
    let value = match word.strip_prefix("0x").or_else(|| word.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => word.parse().ok()?,
    };
    (value <= 0xFFFF).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_numbers_calls_and_mod_sets() {
        assert_eq!(parse(" KC_A ").unwrap(), Term::Name("KC_A"));
        assert_eq!(parse("0x7C00").unwrap(), Term::Number(0x7C00));
        let call = parse("LM(1,MOD_LCTL | MOD_LSFT)").unwrap();
        let Term::Call { function, args } = call else { panic!() };
        assert_eq!(function, "LM");
        assert_eq!(args[1].terms, [Term::Name("MOD_LCTL"), Term::Name("MOD_LSFT")]);
    }

    #[test]
    fn says_what_is_wrong_with_malformed_text() {
        let message = |text| parse(text).unwrap_err().message;
        assert_eq!(message(""), "empty keycode");
        assert_eq!(message("  "), "empty keycode");
        assert!(message("LT(1, KC_A").contains("never closed"));
        assert!(message("MO(1))").contains("unbalanced `)`"));
        assert!(message("MO()").contains("argument expected"));
        assert!(message("KC_A KC_B").contains("more follows"));
        assert!(message("MO(-1)").contains("keycode expected, not `-`"));
        assert!(message("0x10000").contains("is not a number"));
        assert!(message(&"LCTL(".repeat(50)).contains("nested too deeply"));
    }
}
