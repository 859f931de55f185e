//! C as QMK's headers and keymaps write it: tokens, integer constant expressions
//! with C's arithmetic and the checks of QMK's `-Wall -Werror` build, and the
//! definitions (`#define`s, enumerators) a header or source file makes.

pub mod defines;
pub mod expr;
pub mod int;
pub mod lexer;
pub mod preprocess;

pub use defines::{Definition, Scanned, scan};
pub use expr::{Binary, Expr, Kind, ParseError, Unary, parse};
pub use int::CInt;
