//! qmk-api: QMK's versioned constants, keyboards and keymaps.
//!
//! The modules follow the data: [`source`] finds the data tree, [`spec`] loads,
//! merges and checks the constants, [`keyboard`] loads the keyboards, [`publish`]
//! writes the JSON API per channel, [`site`] the pages beside it, and [`build`]
//! runs those steps into one output; [`keymap`] resolves, checks and converts keymaps,
//! [`compile`] runs compile jobs, and [`server`] serves them and the site over HTTP;
//! [`picture`] draws keyboards and keymaps as SVG for the site, the CLI and the server;
//! [`schema`] evaluates QMK's JSON schemas.

pub mod build;
pub mod c;
pub mod c_source;
pub mod compile;
pub mod convert;
pub mod diagnostic;
pub mod import;
pub mod keyboard;
pub mod keymap;
pub mod output;
pub mod picture;
pub mod publish;
pub mod schema;
pub mod server;
pub mod site;
pub mod source;
pub mod spec;
