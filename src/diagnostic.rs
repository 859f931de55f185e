//! Diagnostics shared by every step that checks input: a severity, a message and
//! where it applies (file, line, key), printed the way rustc prints its own.
//!
//! Their text comes from the input (keycodes, names, paths, JSON keys), so a diagnostic
//! is printed with every control character of each part escaped ([`escape_controls`]):
//! a keymap cannot clear the terminal, set its title or reorder a line with a bidi
//! override, nor make up a line of its own with a line break.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding about the input. `file` is the path as the user should see it,
/// `key` a `/`-separated path into the document (`keycodes/0x7C00/aliases`),
/// `position` the key of a keymap layer it is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
    pub position: Option<KeyPosition>,
}

/// A key of a keymap: its layer, its index in the layer, and its label in the layout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyPosition {
    pub layer: usize,
    pub index: usize,
    pub label: Option<String>,
}

impl fmt::Display for KeyPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {}, key {}", self.layer, self.index)?;
        match &self.label {
            Some(label) => write!(f, " ({})", escape_controls(label)),
            None => Ok(()),
        }
    }
}

impl Diagnostic {
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Severity::Error, message)
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, message)
    }

    fn new(severity: Severity, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            message: message.into(),
            file: None,
            line: None,
            column: None,
            key: None,
            position: None,
        }
    }

    pub fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    pub fn at_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    pub fn at_column(mut self, column: Option<usize>) -> Self {
        self.column = column;
        self
    }

    pub fn at_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    pub fn at_position(mut self, position: KeyPosition) -> Self {
        self.position = Some(position);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity.as_str(), escape_controls(&self.message))?;
        if let Some(file) = &self.file {
            write!(f, "\n  --> {}", escape_controls(file))?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
                if let Some(column) = self.column {
                    write!(f, ":{column}")?;
                }
            }
        }
        if let Some(position) = &self.position {
            write!(f, "\n   = {position}")?;
        } else if let Some(key) = &self.key {
            write!(f, "\n   = key: {}", escape_controls(key))?;
        }
        Ok(())
    }
}

/// Findings of one run; errors make the input unusable, warnings do not.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        if !self.0.contains(&diagnostic) {
            self.0.push(diagnostic);
        }
    }

    pub fn extend(&mut self, other: Diagnostics) {
        for diagnostic in other.0 {
            self.push(diagnostic);
        }
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// Whether a character may act on a terminal or change how a line reads instead of being
/// shown: C0 and C1 controls and DEL, Unicode's bidirectional marks, embeddings,
/// overrides and isolates (U+202E turns the rest of a line around), and its line and
/// paragraph separators.
pub fn is_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{2028}' | '\u{2029}')
}

/// A text as a terminal may show it: every control character (see [`is_control`]),
/// line breaks and tabs included, written as Rust writes it in a string (`\u{1b}`).
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape_where(text, is_control)
}

/// [`escape_controls`], but keeping line breaks and tabs: for a whole message, whose
/// lines and columns are the program's own.
pub fn escape_controls_in_lines(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c != '\n' && c != '\t' && is_control(c))
}

fn escape_where(text: &str, escaped: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escaped) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if escaped(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Characters of a text that a message shows; the rest is elided.
const EXCERPT_CHARS: usize = 80;

/// A text as a message shows it: whole when short, else its start and `…`, so that a
/// hostile name of a megabyte makes a short message.
pub fn excerpt(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
        None => Cow::Borrowed(text),
    }
}

/// The known name closest to `name`, if one is close enough to be a likely typo.
///
/// A candidate is only measured when its length is within the distance it allows, and
/// the measure stops once it exceeds that: the work per candidate is bounded by the
/// candidate's length, so an unknown name of any length costs no more than a short one.
pub fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    known
        .filter_map(|candidate| {
            let allowed = (candidate.len() / 4).max(2);
            bounded_distance(name, candidate, allowed).map(|d| (d, candidate))
        })
        .min()
        .map(|(_, candidate)| candidate.to_owned())
}

/// Levenshtein distance by bytes (names are ASCII), when it is at most `limit`.
fn bounded_distance(a: &str, b: &str, limit: usize) -> Option<usize> {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > limit {
        return None;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(ca != cb)).min(previous[j + 1] + 1).min(current[j] + 1);
        }
        if current.iter().all(|&d| d > limit) {
            return None;
        }
        std::mem::swap(&mut previous, &mut current);
    }
    Some(previous[b.len()]).filter(|&d| d <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_in_every_part_of_a_diagnostic() {
        let hostile = "KC_A\u{1b}]0;owned\u{7}\u{1b}[2J\u{202e}\u{9b}\u{7f}\nerror: made up";
        let diagnostic = Diagnostic::error(format!("no keycode `{hostile}`"))
            .in_file("dir\u{1b}[31m/keymap\n.json")
            .at_position(KeyPosition { layer: 0, index: 1, label: Some("\u{1b}[1mQ".into()) });
        let shown = diagnostic.to_string();
        assert_eq!(
            shown,
            "error: no keycode `KC_A\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{202e}\\u{9b}\\u{7f}\\u{a}error: made up`\n  \
             --> dir\\u{1b}[31m/keymap\\u{a}.json\n   = layer 0, key 1 (\\u{1b}[1mQ)"
        );
        assert_eq!(shown.lines().count(), 3, "the input made no line of its own");
        let keyed = Diagnostic::warning("w").at_key("layers/\u{2066}0");
        assert_eq!(keyed.to_string(), "warning: w\n   = key: layers/\\u{2066}0");
    }

    #[test]
    fn whole_messages_keep_their_lines_and_tabs() {
        assert_eq!(escape_controls_in_lines("a\tb\nc\u{1b}[2J\r"), "a\tb\nc\\u{1b}[2J\\u{d}");
        assert!(matches!(escape_controls_in_lines("plain · text ✕"), Cow::Borrowed(_)));
        assert_eq!(escape_controls("é\u{85}\u{2028}"), "é\\u{85}\\u{2028}");
    }

    #[test]
    fn suggests_close_names_only() {
        let known = ["clueboard/66/rev2", "clueboard/66/rev3", "planck/rev6"];
        assert_eq!(suggest("clueboard/66/rev22", known.into_iter()), Some("clueboard/66/rev2".into()));
        assert_eq!(suggest("something/else", known.into_iter()), None);
    }

    #[test]
    fn distances_past_the_limit_are_not_measured() {
        assert_eq!(bounded_distance("KC_ENTR", "KC_ENTER", 2), Some(1));
        assert_eq!(bounded_distance("kitten", "sitting", 3), Some(3));
        assert_eq!(bounded_distance("kitten", "sitting", 2), None);
        let long = "A".repeat(100_000);
        assert_eq!(bounded_distance(&long, "KC_A", 2), None);
        assert_eq!(suggest(&long, ["KC_A", "A"].into_iter()), None);
    }
}
