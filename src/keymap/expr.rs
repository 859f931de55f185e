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
    c::parse(text, &[]).map_err(|e| ExprError::new(e.message))
}
