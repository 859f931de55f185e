//! Diagnostics shared by every step that checks input: a severity, a message and
//! where it applies (file, line, key), printed the way rustc prints its own.

use std::borrow::Cow;
use std::fmt;

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
            Some(label) => write!(f, " ({label})"),
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
        write!(f, "{}: {}", self.severity.as_str(), self.message)?;
        if let Some(file) = &self.file {
            write!(f, "\n  --> {file}")?;
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
            write!(f, "\n   = key: {key}")?;
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
