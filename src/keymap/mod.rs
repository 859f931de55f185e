//! Keymaps: keycode expressions, validation against a keyboard and a constants
//! version, `keymap.c` generation and migration of retired names.

mod document;
mod eval;
mod expand;
mod expr;
pub mod extensions;
mod generated;
pub mod headers;
mod json2c;
mod keycodes;
mod legend;
mod migrate;
mod names;
mod naming;
mod retired;
mod send_string;
mod validate;

pub use document::{DipSwitch, Encoder, Keymap, MAX_LAYERS, MacroStep, Source, is_layout_macro, read};
pub use eval::{Origin, Warning, WarningKind};
pub use expr::ExprError;
pub use json2c::{CKey, Json2cError, c_keys, generate as json2c};
pub use keycodes::{Keycodes, KeycodesError, Resolved, Scope};
pub use legend::{ComboLegend, KeyLegend, Kind, LabelLegends, Legend, Legends, legends};
pub use migrate::{Change, migrate, rewrite_text, to_keymap_json};
pub use names::Names;
pub use naming::NameField;
pub use retired::{Retired, Retirement, retired_layout};
pub use send_string::SendStringKeys;
pub use validate::{Context, Report, check, is_taken, key_values, keyboard_from_path, keyboard_needed, validate};
