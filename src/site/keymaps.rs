//! The JSON keymaps a keyboard lists, drawn on its page: each checked against the
//! keyboards and the newest keycodes, as `qmk-api draw` checks it, and drawn when it
//! is valid.

use minijinja::{Value as Context, context};

use crate::keyboard::Keyboard;
use crate::keymap::{self, Source};
use crate::picture;
use crate::source::DataTree;

/// One context per JSON keymap of `keyboard`: its name, a link to its file in the
/// published API, and its picture (absent for a keymap that does not validate).
pub fn pictures(keyboard: &Keyboard, tree: &DataTree, checked: Option<keymap::Context>) -> Vec<Context> {
    keyboard
        .keymaps
        .iter()
        .map(|listed| {
            let text =
                tree.read(std::path::Path::new(&listed.path)).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
            // A keymap listed from a folder above is drawn for this keyboard, as QMK builds it.
            let svg = text.zip(checked).and_then(|(text, checked)| {
                picture::draw(&Source::new(&listed.path, &text), Some(&keyboard.name), checked).0
            });
            context! {
                name => listed.name.as_str(),
                json => format!("../v1/{}", listed.path),
                svg => svg.map(Context::from_safe_string),
            }
        })
        .collect()
}
