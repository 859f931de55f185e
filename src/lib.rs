//! qmk-api: QMK's versioned constants, published as its static JSON API.
//!
//! The modules follow the data: [`source`] finds the data tree, [`spec`] loads,
//! merges and checks the constants, [`publish`] writes the JSON API per channel.

pub mod diagnostic;
pub mod import;
pub mod keyboard;
pub mod keymap;
pub mod output;
pub mod publish;
pub mod source;
pub mod spec;
