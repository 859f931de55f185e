//! Just enough of C to read what QMK's tools read from a keyboard's sources:
//! `#define`s of a `config.h`, `LAYOUT` macros of a header, and the `g_led_config`
//! table of a `<keyboard>.c`.
//!
//! None of this preprocesses: like QMK's Python, it reads the text as written
//! (every `#define` counts, whatever `#if` it sits in). Its quirks are QMK's, kept on
//! purpose, because the published info.json must be the one QMK computes.

mod comments;
mod defines;
mod layout_macros;
mod led_config;
mod tokens;

pub use comments::{join_continued_lines, strip_comments};
pub use defines::{Define, Defines, parse_defines, reduce_config_h};
pub use layout_macros::{MacroKey, MacroLayout, MacroLayouts, find_layout_macros};
pub use led_config::{LedConfigError, LedPoint, find_led_config};
pub use tokens::{Token, TokenKind, tokenize};
