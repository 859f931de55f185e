//! Diagnostics shared by every step that checks input: a severity, a message and
//! where it applies (file, line, key), printed the way rustc prints its own.

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

/// The known name closest to `name`, if one is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    known
        .map(|candidate| (distance(name, candidate), candidate))
        .filter(|(d, candidate)| *d <= (candidate.len() / 4).max(2))
        .min()
        .map(|(_, candidate)| candidate.to_owned())
}

/// Levenshtein distance, by bytes (names are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(ca != cb)).min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
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
}
