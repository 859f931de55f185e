//! What a C header or source file defines that a keymap could name: object-like and
//! function-like `#define`s and enumerators, in file order, plus its `#include "…"`s.
//! Conditional compilation is not followed: every branch counts, the first
//! definition of a name wins.

use serde::{Deserialize, Serialize};

use super::lexer::{Lexeme, Token, Token as T, lex};

/// One definition, with its replacement text normalized to tokens joined by spaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    pub name: String,
    /// The parameters of a function-like macro.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Vec<String>>,
    /// The replacement text, or an enumerator's value (`PREVIOUS + 1` where implicit).
    pub value: String,
    /// The enumeration an enumerator belongs to: its tag, or `enum NAME` after its
    /// first enumerator when it has none. GCC compares enumerators of different
    /// enumerations only with `-Wenum-compare`'s error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enumeration: Option<String>,
}

impl Definition {
    /// Whether the replacement text is a C expression (not a statement, a list or a string).
    pub fn is_expression(&self) -> bool {
        let params: Vec<&str> = self.params.iter().flatten().map(String::as_str).collect();
        super::expr::parse(&self.value, &params).is_ok()
    }
}

/// What one file defines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scanned {
    pub definitions: Vec<Definition>,
    /// `#include "file"` targets, in order (system `<…>` includes are not followed).
    pub includes: Vec<String>,
}

/// Scans a file's text; characters no C token starts with are skipped.
pub fn scan(text: &str) -> Scanned {
    let tokens = lenient_lex(text);
    let mut scanner = Scanner { text, tokens: &tokens, at: 0, scanned: Scanned::default() };
    scanner.run();
    scanner.scanned
}

pub(crate) fn lenient_lex(text: &str) -> Vec<Lexeme> {
    let mut tokens = Vec::new();
    let mut offset = 0;
    while offset < text.len() {
        match lex(&text[offset..]) {
            Ok(rest) => {
                tokens.extend(rest.into_iter().map(|l| shifted(l, offset)));
                break;
            }
            Err(error) => {
                let good = lex(&text[offset..offset + error.at]).unwrap_or_default();
                tokens.extend(good.into_iter().map(|l| shifted(l, offset)));
                offset += error.at + error.found.len().max(1);
                // Whatever followed is on the same line; a directive there would be cut.
                tokens.push(Lexeme { token: Token::Other, start: offset as u32, end: offset as u32 });
            }
        }
    }
    tokens
}

fn shifted(lexeme: Lexeme, offset: usize) -> Lexeme {
    Lexeme { start: lexeme.start + offset as u32, end: lexeme.end + offset as u32, ..lexeme }
}

struct Scanner<'t> {
    text: &'t str,
    tokens: &'t [Lexeme],
    at: usize,
    scanned: Scanned,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.at).map(|l| l.token)
    }

    fn text_at(&self, index: usize) -> &str {
        self.tokens[index].text(self.text)
    }

    fn run(&mut self) {
        let mut line_start = true;
        while let Some(token) = self.peek() {
            match token {
                T::Newline => {
                    line_start = true;
                    self.at += 1;
                    continue;
                }
                T::Hash if line_start => self.directive(),
                T::Ident if self.text_at(self.at) == "enum" => self.enumeration(),
                _ => self.at += 1,
            }
            line_start = false;
        }
    }

    /// The index of the next newline (or the end).
    fn line_end(&self) -> usize {
        self.tokens[self.at..].iter().position(|l| l.token == T::Newline).map_or(self.tokens.len(), |p| self.at + p)
    }

    fn joined(&self, range: std::ops::Range<usize>) -> String {
        let words: Vec<&str> = self.tokens[range]
            .iter()
            .filter(|l| !matches!(l.token, T::LineComment | T::Newline))
            .map(|l| l.text(self.text))
            .collect();
        words.join(" ")
    }

    fn directive(&mut self) {
        let end = self.line_end();
        let words = self.at + 1;
        let keyword = (words < end).then(|| self.text_at(words));
        match keyword {
            Some("define") if words + 1 < end && self.tokens[words + 1].token == T::Ident => {
                self.define(words + 1, end)
            }
            Some("include") if words + 1 < end && self.tokens[words + 1].token == T::Str => {
                let target = self.text_at(words + 1).trim_matches('"').to_owned();
                self.scanned.includes.push(target);
            }
            _ => {}
        }
        self.at = end;
    }

    fn define(&mut self, name_at: usize, end: usize) {
        let name = self.text_at(name_at).to_owned();
        let mut body = name_at + 1;
        let mut params = None;
        let function_like =
            body < end && self.tokens[body].token == T::LParen && self.tokens[body].start == self.tokens[name_at].end;
        if function_like {
            let Some(close) = (body..end).find(|&i| self.tokens[i].token == T::RParen) else { return };
            let names: Vec<String> = (body + 1..close)
                .filter(|&i| self.tokens[i].token != T::Comma)
                .map(|i| self.text_at(i).to_owned())
                .collect();
            // Variadic macros (`...`) build layouts and strings, never keycodes.
            if (body + 1..close).any(|i| self.tokens[i].token != T::Ident && self.tokens[i].token != T::Comma) {
                return;
            }
            params = Some(names);
            body = close + 1;
        }
        // A character outside C (marked by the lexer) makes the macro no expression.
        if self.tokens[body..end].iter().any(|l| l.start == l.end) {
            return;
        }
        let value = self.joined(body..end);
        if !value.is_empty() {
            self.add(Definition { name, params, value, enumeration: None });
        }
    }

    fn enumeration(&mut self) {
        self.at += 1;
        // C lets the tag and the `{` stand on lines of their own (`typedef enum\n{`).
        self.skip_newlines();
        let tag = (self.peek() == Some(T::Ident)).then(|| {
            self.at += 1;
            self.text_at(self.at - 1).to_owned()
        });
        self.skip_newlines();
        if self.peek() != Some(T::LBrace) {
            return;
        }
        self.at += 1;
        let mut previous: Option<String> = None;
        let mut enumeration = tag;
        while let Some(token) = self.peek() {
            match token {
                T::RBrace => {
                    self.at += 1;
                    return;
                }
                T::Newline | T::Comma => self.at += 1,
                T::Hash => self.at = self.line_end(),
                T::Ident => {
                    let name = self.text_at(self.at).to_owned();
                    self.at += 1;
                    let value = if self.peek() == Some(T::Assign) {
                        self.at += 1;
                        let start = self.at;
                        self.skip_enumerator_value();
                        self.joined(start..self.at)
                    } else {
                        previous.as_ref().map_or_else(|| "0".to_owned(), |p| format!("{p} + 1"))
                    };
                    let enumeration = enumeration.get_or_insert_with(|| format!("enum {name}")).clone();
                    previous = Some(name.clone());
                    self.add(Definition { name, params: None, value, enumeration: Some(enumeration) });
                }
                _ => {
                    self.at += 1;
                }
            }
        }
    }

    fn skip_newlines(&mut self) {
        while self.peek() == Some(T::Newline) {
            self.at += 1;
        }
    }

    /// Moves past an enumerator's value: up to a `,` or `}` outside parentheses.
    fn skip_enumerator_value(&mut self) {
        let mut depth = 0usize;
        while let Some(token) = self.peek() {
            match token {
                T::LParen => depth += 1,
                T::RParen => depth = depth.saturating_sub(1),
                T::Comma | T::RBrace if depth == 0 => return,
                T::Hash => {
                    self.at = self.line_end();
                    continue;
                }
                _ => {}
            }
            self.at += 1;
        }
    }

    fn add(&mut self, definition: Definition) {
        if !self.scanned.definitions.iter().any(|d| d.name == definition.name) {
            self.scanned.definitions.push(definition);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_defines_enumerators_and_includes() {
        let text = "#pragma once\n#include \"quantum.h\"\n#include <stdint.h>\n\
            #define ROWS 5 // rows\n#define SHIFTED(kc) (QK_LSFT | \\\n (kc))\n#define LAYOUT(...) {__VA_ARGS__}\n\
            #define F (x)\n\
            enum my_keycodes {\n  FIRST = QK_KB_0, /* first */\n#ifdef X\n  SECOND,\n#endif\n  THIRD = (1 << 2),\n};\n\
            typedef enum { A, B } letters_t;\nenum other x;\n#define ROWS 6\n";
        let scanned = scan(text);
        assert_eq!(scanned.includes, ["quantum.h"]);
        let found: Vec<(&str, Option<usize>, &str, Option<&str>)> = scanned
            .definitions
            .iter()
            .map(|d| (d.name.as_str(), d.params.as_ref().map(Vec::len), d.value.as_str(), d.enumeration.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                ("ROWS", None, "5", None),
                ("SHIFTED", Some(1), "( QK_LSFT | ( kc ) )", None),
                ("F", None, "( x )", None),
                ("FIRST", None, "QK_KB_0", Some("my_keycodes")),
                ("SECOND", None, "FIRST + 1", Some("my_keycodes")),
                ("THIRD", None, "( 1 << 2 )", Some("my_keycodes")),
                ("A", None, "0", Some("enum A")),
                ("B", None, "A + 1", Some("enum A")),
            ]
        );
    }

    #[test]
    fn an_enumeration_may_open_on_a_line_of_its_own() {
        // As ST's device headers write it, with their CRLF line ends.
        let scanned =
            scan("typedef enum \r\n{\r\n  RESET = 0, \r\n  SET = !RESET\r\n} FlagStatus;\r\nenum\ntag\n{ X };\n");
        let found: Vec<(&str, &str, Option<&str>)> =
            scanned.definitions.iter().map(|d| (d.name.as_str(), d.value.as_str(), d.enumeration.as_deref())).collect();
        assert_eq!(
            found,
            [("RESET", "0", Some("enum RESET")), ("SET", "! RESET", Some("enum RESET")), ("X", "0", Some("tag"))]
        );
    }

    #[test]
    fn survives_characters_outside_c() {
        let scanned = scan("// © 2024\n#define A 1\nconst char *s = \"é\";\n#define B é 2\n#define C 3\n");
        let names: Vec<&str> = scanned.definitions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["A", "C"]);
    }
}
