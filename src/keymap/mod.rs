//! Keymaps: keycode expressions, validation against a keyboard and a constants
//! version, `keymap.c` generation and migration of retired names.

mod expr;
mod keycodes;
mod retired;

pub use expr::ExprError;
pub use keycodes::{Keycodes, KeycodesError, Resolved, Scope};
pub use retired::{Retired, Retirement, retired_layout};
