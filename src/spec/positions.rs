//! Where each value of a JSON or hjson document is written, by its path
//! (`layers/0/12`), so that a finding about one key of a layer points at that key's
//! own line and column. The parser keeps no positions, so one walk over the text
//! records them all; a text the walk cannot follow (hjson it does not know) records
//! what it reached, and callers fall back to the key's line ([`super::hjson::KeyIndex`]).

use std::collections::HashMap;

/// The start of every value reached, by its `/`-joined path.
#[derive(Debug, Default)]
pub struct ValueIndex {
    line_starts: Vec<usize>,
    starts: HashMap<Box<str>, usize>,
}

impl ValueIndex {
    pub fn new(text: &str) -> ValueIndex {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1)).collect();
        let mut walk = Walk { text: text.as_bytes(), at: 0, starts: HashMap::new() };
        walk.document();
        ValueIndex { line_starts, starts: walk.starts }
    }

    /// The byte offset where the value at `path` starts.
    pub fn start(&self, path: &[&str]) -> Option<usize> {
        self.starts.get(path.join("/").as_str()).copied()
    }

    /// The line and column (both from 1, the column in characters) where the value at
    /// `path` starts in `text`, the text the index was made from.
    pub fn position(&self, text: &str, path: &[&str]) -> Option<(usize, usize)> {
        let start = self.start(path)?;
        let line = self.line_starts.partition_point(|&line_start| line_start <= start);
        let column = text.get(self.line_starts[line - 1]..start)?.chars().count() + 1;
        Some((line, column))
    }
}

/// The last `{` or `[` the text leaves open, with its line and column: where a
/// document that ends too early lacks its `}` or `]`. Brackets inside strings and
/// comments do not count.
pub fn unclosed(text: &str) -> Option<(usize, usize, char)> {
    let bytes = text.as_bytes();
    let mut open = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        at += match rest[0] {
            b'{' | b'[' => {
                open.push(at);
                1
            }
            b'}' | b']' => {
                open.pop();
                1
            }
            b'"' | b'\'' => {
                let mut walk = Walk { text: bytes, at, starts: HashMap::new() };
                match walk.string() {
                    Some(_) => walk.at - at,
                    None => rest.len(),
                }
            }
            b'#' => line_length(rest),
            b'/' if rest.get(1) == Some(&b'/') => line_length(rest),
            b'/' if rest.get(1) == Some(&b'*') => find(&rest[2..], b"*/").map_or(rest.len(), |end| end + 4),
            _ => 1,
        };
    }
    let start = *open.last()?;
    let line_start = text[..start].rfind('\n').map_or(0, |newline| newline + 1);
    let line = text[..start].matches('\n').count() + 1;
    Some((line, text[line_start..start].chars().count() + 1, char::from(bytes[start])))
}

struct Walk<'t> {
    text: &'t [u8],
    at: usize,
    starts: HashMap<Box<str>, usize>,
}

impl Walk<'_> {
    /// A document: a value, or hjson's object without braces.
    fn document(&mut self) -> Option<()> {
        self.skip_blank();
        match self.peek()? {
            b'{' | b'[' => self.value(&mut String::new()),
            _ => self.members(&mut String::new(), None),
        }
    }

    fn value(&mut self, path: &mut String) -> Option<()> {
        self.skip_blank();
        self.starts.insert(path.as_str().into(), self.at);
        match self.peek()? {
            b'{' => {
                self.at += 1;
                self.members(path, Some(b'}'))
            }
            b'[' => {
                self.at += 1;
                self.elements(path)
            }
            b'"' | b'\'' => self.string().map(drop),
            _ => self.bare_value(),
        }
    }

    /// An object's members up to `close` (`None`: the end of the text).
    fn members(&mut self, path: &mut String, close: Option<u8>) -> Option<()> {
        loop {
            self.skip_separators();
            match self.peek() {
                None => return close.is_none().then_some(()),
                Some(byte) if Some(byte) == close => {
                    self.at += 1;
                    return Some(());
                }
                Some(_) => {}
            }
            let key = self.key()?;
            self.skip_blank();
            (self.peek()? == b':').then_some(())?;
            self.at += 1;
            self.nested(path, &key)?;
        }
    }

    fn elements(&mut self, path: &mut String) -> Option<()> {
        for index in 0.. {
            self.skip_separators();
            if self.peek()? == b']' {
                self.at += 1;
                return Some(());
            }
            self.nested(path, &index.to_string())?;
        }
        None
    }

    fn nested(&mut self, path: &mut String, segment: &str) -> Option<()> {
        let length = path.len();
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(segment);
        let walked = self.value(path);
        path.truncate(length);
        walked
    }

    /// A key: quoted, or hjson's quoteless name ending before `:` or a blank.
    fn key(&mut self) -> Option<String> {
        if matches!(self.peek()?, b'"' | b'\'') {
            let (start, end) = self.string()?;
            return Some(String::from_utf8_lossy(&self.text[start..end]).into_owned());
        }
        let start = self.at;
        while self.peek().is_some_and(|b| b != b':' && !b.is_ascii_whitespace()) {
            self.at += 1;
        }
        (self.at > start).then(|| String::from_utf8_lossy(&self.text[start..self.at]).into_owned())
    }

    /// A quoted string (or hjson's `'''` block); returns where its content lies. Escapes
    /// are left as written: keys that need them are not looked up.
    fn string(&mut self) -> Option<(usize, usize)> {
        if self.text[self.at..].starts_with(b"'''") {
            let start = self.at + 3;
            let end = start + find(&self.text[start..], b"'''")?;
            self.at = end + 3;
            return Some((start, end));
        }
        let quote = self.text[self.at];
        let start = self.at + 1;
        let mut at = start;
        loop {
            match *self.text.get(at)? {
                b'\\' => at += 2,
                byte if byte == quote => break,
                _ => at += 1,
            }
        }
        self.at = at + 1;
        Some((start, at))
    }

    /// A number, `true`, `false` or `null`, or else hjson's quoteless string, which
    /// runs to the end of its line.
    fn bare_value(&mut self) -> Option<()> {
        let rest = &self.text[self.at..];
        // The token first: scanning to the line's end for every number is quadratic on one line.
        let token_end =
            rest.iter().position(|&b| b.is_ascii_whitespace() || b",]}#".contains(&b)).unwrap_or(rest.len());
        let token = std::str::from_utf8(&rest[..token_end]).ok()?;
        let literal = matches!(token, "true" | "false" | "null") || token.parse::<f64>().is_ok();
        self.at += if literal { token_end } else { line_length(rest) };
        Some(())
    }

    /// Blanks and comments (`#`, `//`, `/* */`).
    fn skip_blank(&mut self) {
        loop {
            let rest = &self.text[self.at..];
            let skipped = match rest.first() {
                Some(byte) if byte.is_ascii_whitespace() => 1,
                Some(b'#') => line_length(rest),
                Some(b'/') if rest.get(1) == Some(&b'/') => line_length(rest),
                Some(b'/') if rest.get(1) == Some(&b'*') => find(&rest[2..], b"*/").map_or(rest.len(), |end| end + 4),
                _ => return,
            };
            self.at += skipped;
        }
    }

    fn skip_separators(&mut self) {
        self.skip_blank();
        while self.peek() == Some(b',') {
            self.at += 1;
            self.skip_blank();
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }
}

fn line_length(text: &[u8]) -> usize {
    text.iter().position(|&b| b == b'\n').unwrap_or(text.len())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, path: &[&str]) -> Option<(usize, usize)> {
        ValueIndex::new(text).position(text, path)
    }

    #[test]
    fn each_key_of_a_layer_has_its_own_line_and_column() {
        let text = "{\n  \"layout\": \"LAYOUT\",\n  \"layers\": [\n    [\"KC_A\",\n     \"KC_B\", \"KC_Ä\",  \"KC_C\"]\n  ]\n}";
        assert_eq!(at(text, &["layers", "0", "0"]), Some((4, 6)));
        assert_eq!(at(text, &["layers", "0", "1"]), Some((5, 6)));
        assert_eq!(at(text, &["layers", "0", "3"]), Some((5, 23)), "columns count characters");
        assert_eq!(at(text, &["layout"]), Some((2, 13)));
        assert_eq!(at(text, &["layers", "0", "4"]), None);
    }

    #[test]
    fn hjson_comments_quoteless_strings_and_braceless_objects_are_followed() {
        let text = "# a keymap\nkeyboard: clueboard/66/rev2, not a separator\n/* a\n comment */ layers: [\n  [\n    KC_A\n    'KC_B' // b\n    1.5, true\n  ]\n]\nkeymap: '''\n  x\n  '''\nlayout: LAYOUT";
        assert_eq!(at(text, &["keyboard"]), Some((2, 11)));
        assert_eq!(at(text, &["layers", "0", "1"]), Some((7, 5)));
        assert_eq!(at(text, &["layers", "0", "3"]), Some((8, 10)));
        assert_eq!(at(text, &["layout"]), Some((14, 9)));
    }

    #[test]
    fn the_last_bracket_left_open_is_found_outside_strings_and_comments() {
        assert_eq!(unclosed("{\n  \"layers\": [[\"KC_A\"],\n   [\"]\", // ]\n"), Some((3, 4, '[')));
        assert_eq!(unclosed("{\"a\": [1]"), Some((1, 1, '{')));
        assert_eq!(unclosed("{\"a\": [1]}"), None);
    }

    #[test]
    fn a_text_it_cannot_follow_keeps_what_it_reached() {
        let text = "{\"keyboard\": \"a\", \"layers\": [[\"KC_A\", \"unterminated]]}";
        assert_eq!(at(text, &["keyboard"]), Some((1, 14)));
        assert_eq!(at(text, &["layers", "0", "0"]), Some((1, 31)));
        assert_eq!(at(text, &["layers", "0", "1"]), Some((1, 39)));
        assert_eq!(at("", &["layers"]), None);
        assert_eq!(at("{\"a\": 1}", &["a"]), Some((1, 7)));
    }
}
