//! `rules.mk` settings as QMK's info.json builder reads them: assignments only,
//! no conditionals or expansion. `=` sets, `+=` appends with a space, `?=` sets
//! when unset; a `:=` assignment lands under a name ending in ` :` (QMK's quirk),
//! so it never matches a known setting.

/// Settings in the order first set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    entries: Vec<(String, String)>,
}

impl Rules {
    /// The settings of one file alone.
    pub fn of(text: &str) -> Rules {
        let mut rules = Rules::default();
        rules.apply(text);
        rules
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    fn slot(&mut self, name: &str) -> Option<&mut String> {
        self.entries.iter_mut().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn set(&mut self, name: &str, value: String) {
        match self.slot(name) {
            Some(existing) => *existing = value,
            None => self.entries.push((name.to_owned(), value)),
        }
    }

    /// Applies one file's assignments over these.
    pub fn apply(&mut self, text: &str) {
        for line in text.split('\n').filter_map(uncommented) {
            if let Some((name, value)) = line.split_once("+=") {
                let (name, value) = (name.trim(), value.trim());
                match self.slot(name) {
                    Some(existing) => {
                        existing.push(' ');
                        existing.push_str(value);
                    }
                    None => self.set(name, value.to_owned()),
                }
            } else if let Some((name, value)) = line.split_once("?=") {
                if !self.contains(name.trim()) {
                    self.set(name.trim(), value.trim().to_owned());
                }
            } else if let Some((name, value)) = line.split_once('=') {
                self.set(name.trim(), value.trim().to_owned());
            }
        }
    }
}

/// The make conditionals a reduced `rules.mk` keeps around its assignments, for the reader.
const CONDITIONALS: &[&str] = &["ifeq", "ifneq", "ifdef", "ifndef", "else", "endif"];

/// A `rules.mk` reduced to its assignments and the conditionals around them, one
/// a line, trimmed: comments, blank lines and every other line dropped.
/// [`Rules::apply`] reads the same from it as from the whole file, line for line.
pub fn reduce_rules_mk(text: &str) -> String {
    let mut reduced = String::new();
    for line in text.split('\n').filter_map(uncommented) {
        let first = line.split_whitespace().next().unwrap_or_default();
        if line.contains('=') || CONDITIONALS.contains(&first) {
            reduced.push_str(line.trim());
            reduced.push('\n');
        }
    }
    reduced
}

/// A line as QMK's reader sees it: `None` for a comment line, else the text
/// before any `#`.
fn uncommented(line: &str) -> Option<&str> {
    if line.trim().starts_with('#') {
        return None;
    }
    Some(match line.find('#') {
        Some(at) => line[..at].trim(),
        None => line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_as_qmk_reads_them() {
        let mut rules = Rules::default();
        rules.apply("# comment\nMCU = atmega32u4  # inline\nSRC += a.c\nSRC += b.c\nBOOTLOADER ?= caterina\n");
        rules.apply("BOOTLOADER ?= atmel-dfu\nLTO_ENABLE := yes\nifeq ($(X), yes)\n  RGB_MATRIX_ENABLE = yes\nendif\n");
        assert_eq!(rules.get("MCU"), Some("atmega32u4"));
        assert_eq!(rules.get("SRC"), Some("a.c b.c"));
        assert_eq!(rules.get("BOOTLOADER"), Some("caterina"));
        assert_eq!(rules.get("LTO_ENABLE :"), Some("yes"));
        assert_eq!(rules.get("RGB_MATRIX_ENABLE"), Some("yes"));
    }

    #[test]
    fn a_reduced_file_keeps_assignments_and_conditionals_only() {
        let text = "# Copyright someone\n\n# Build Options\nMCU = atmega32u4  # the MCU\n  # indented comment\n\
                    ifeq ($(strip $(X)), yes) # why\n    SRC += a.c\nendif\ninclude other.mk\n$(info hello)\nA := b\n";
        let reduced = reduce_rules_mk(text);
        assert_eq!(reduced, "MCU = atmega32u4\nifeq ($(strip $(X)), yes)\nSRC += a.c\nendif\nA := b\n");
        assert_eq!(Rules::of(&reduced), Rules::of(text));
        let mut before = Rules::of("SRC = z.c\n");
        before.apply(&reduced);
        assert_eq!(before.get("SRC"), Some("z.c a.c"));
    }
}
