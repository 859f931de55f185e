//! Keycode expressions as keymaps write them: C constant expressions such as
//! `KC_A`, `LT(1, KC_A)`, `LCTL(LSFT(KC_A))`, `OSM(MOD_LCTL | MOD_LSFT)`, `0x7C00`,
//! `QK_USER + 2`; see [`crate::c`] for what C accepts in them.

use std::fmt;

use crate::c;

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

/// Parses a whole expression: its shape, whatever its names mean.
pub fn parse(text: &str) -> Result<c::Expr, ExprError> {
    if let Some(error) = unwritable(text) {
        return Err(error);
    }
    c::parse(text, &[]).map_err(|e| ExprError::new(e.message))
}

/// What in a keycode's text C would read otherwise than as it is checked, or that has no
/// place in keymap.c: a line splice (`\` and a line break joins the lines, and so two
/// operators into one) and characters other than printable ASCII and white space (a
/// comment's bidirectional controls reorder the text a reviewer reads; NUL).
pub fn unwritable(text: &str) -> Option<ExprError> {
    let bad = text.chars().find(|c| !(c.is_ascii_graphic() || matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')));
    if let Some(bad) = bad {
        return Some(ExprError::new(format!(
            "U+{:04X} has no place in a keycode: only printable ASCII and white space are written into keymap.c",
            u32::from(bad)
        )));
    }
    // GCC splices at a `\` followed by blanks, too.
    let blanks = [' ', '\t', '\x0b', '\x0c'];
    let splices = text.split('\\').skip(1).any(|after| after.trim_start_matches(blanks).starts_with(['\n', '\r']));
    splices.then(|| ExprError::new("a `\\` at a line's end joins it to the next in C: it has no place in a keycode"))
}
