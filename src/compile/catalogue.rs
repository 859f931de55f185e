//! The catalogue: every keyboard's test keymap built again and again, as QMK's own
//! service does, for the build-status endpoints and `qmk-api mass-compile`.
//!
//! A keyboard's test keymap is QMK's choice: the default keymap the keyboard
//! publishes as JSON, else (QMK Configurator's default keymaps are not part of a QMK
//! tree, so that step is left out) the tree's own `default` keymap, C included, else a
//! keymap the service writes: a layer of `KC_NO` and one of `KC_TRNS` on the
//! keyboard's first layout (QMK picks a layout at random; the first keeps results
//! comparable from round to round). Every keymap here comes from the tree or the
//! service, none from a request: the builds run as reference builds, and what they
//! compile fills the cache for later requests.

use std::path::Path;

use serde_json::json;

use super::builder::{FirmwareBuilder, KeymapSource, Origin, Target, remove_folder};
use super::store::{BuildRecord, message_tail};
use crate::keyboard::Keyboard;

/// The name of the keymap the service writes for a keyboard without a default one,
/// as QMK's service names it.
pub const GENERATED_KEYMAP: &str = "generated";

/// The tree's keymap every keyboard is tested with, unless one is asked for.
pub const DEFAULT_KEYMAP: &str = "default";

/// What a keyboard is tested with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestKeymap {
    /// A keymap folder of the tree, by name.
    Tree(String),
    /// The keymap the service writes (its keymap.json).
    Generated(String),
}

impl TestKeymap {
    /// QMK's choice for `keyboard`, or the tree's keymap `asked`; `Err` says why the
    /// keyboard cannot be tested (it is skipped).
    pub fn choose(firmware: &FirmwareBuilder, keyboard: &Keyboard, asked: Option<&str>) -> Result<TestKeymap, String> {
        if let Some(name) = asked {
            return match firmware.has_tree_keymap(&keyboard.name, name) {
                true => Ok(TestKeymap::Tree(name.to_owned())),
                false => Err(format!("no keymap `{name}`")),
            };
        }
        if keyboard.keymaps.iter().any(|keymap| keymap.name == DEFAULT_KEYMAP)
            || firmware.has_tree_keymap(&keyboard.name, DEFAULT_KEYMAP)
        {
            return Ok(TestKeymap::Tree(DEFAULT_KEYMAP.to_owned()));
        }
        let Some((layout, keys)) = keyboard.layouts.first() else {
            return Err("no default keymap and no layout to write one on".to_owned());
        };
        let keymap = json!({
            "keyboard": keyboard.name,
            "keymap": GENERATED_KEYMAP,
            "layout": layout,
            "layers": [vec!["KC_NO"; keys.keys.len()], vec!["KC_TRNS"; keys.keys.len()]],
        });
        serde_json::to_string_pretty(&keymap).map(TestKeymap::Generated).map_err(|e| e.to_string())
    }

    pub fn name(&self) -> &str {
        match self {
            TestKeymap::Tree(name) => name,
            TestKeymap::Generated(_) => GENERATED_KEYMAP,
        }
    }
}

/// Builds `keyboard` with `keymap` in `work` (removed after), with `firmware` taken at
/// the tree's state `tree`; `stop` ends the build early, with an
/// [`std::io::ErrorKind::Interrupted`] error and no record. `now` stamps the record.
pub fn build(
    firmware: &FirmwareBuilder,
    keyboard: &Keyboard,
    keymap: &TestKeymap,
    work: &Path,
    tree: &str,
    stop: &dyn Fn() -> bool,
    now: impl Fn() -> i64,
) -> std::io::Result<BuildRecord> {
    let source = match keymap {
        TestKeymap::Tree(_) => KeymapSource::Tree,
        TestKeymap::Generated(json) => KeymapSource::Json(json),
    };
    let target = Target { keyboard: &keyboard.name, keymap: keymap.name(), source, origin: Origin::Reference };
    let built = firmware.build_until(&target, &work.join("work"), &work.join("firmware"), stop);
    let sized = built.as_ref().ok().and_then(|build| build.firmware.as_deref()).map(|file| {
        let bin = file.extension().is_some_and(|e| e == "bin");
        (bin, std::fs::metadata(file).map(|m| m.len()).ok())
    });
    remove_folder(work)?;
    let build = built?;
    let (firmware_size, maximum_size) = match size_check(&build.output) {
        Some((size, maximum)) => (Some(size), Some(maximum)),
        // A .bin is the image itself; a .hex or .uf2 is larger than what it writes.
        None => match sized {
            Some((true, Some(bytes))) => (i64::try_from(bytes).ok(), None),
            _ => (None, None),
        },
    };
    Ok(BuildRecord {
        keyboard: keyboard.name.clone(),
        keymap: keymap.name().to_owned(),
        works: build.returncode == 0,
        warnings: build.output.contains("[WARNINGS]"),
        last_tested: now(),
        message: message_tail(&build.output),
        firmware_size,
        maximum_size,
        tree: tree.to_owned(),
    })
}

/// The record of a keyboard that has no test keymap: not working, saying why, as
/// QMK's service records a keyboard without layouts.
pub fn unbuildable(keyboard: &str, reason: &str, tree: &str, now: i64) -> BuildRecord {
    BuildRecord {
        keyboard: keyboard.to_owned(),
        keymap: String::new(),
        works: false,
        warnings: false,
        last_tested: now,
        message: format!("{keyboard} is not built: {reason}"),
        firmware_size: None,
        maximum_size: None,
        tree: tree.to_owned(),
    }
}

/// The firmware's size and the most it may be, from the line of QMK's size check
/// (`The firmware size is fine - 26624/28672 (...)`, `The firmware is too large! ...`).
pub fn size_check(output: &str) -> Option<(i64, i64)> {
    output.lines().filter(|line| line.contains("The firmware")).find_map(|line| {
        line.split_whitespace().find_map(|word| {
            let (size, maximum) = word.split_once('/')?;
            Some((size.parse().ok()?, maximum.parse().ok()?))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_check_line_gives_the_size_and_the_maximum() {
        let fine = "Checking file size of x.hex\n * The firmware size is fine - 26624/28672 (92%, 2048 bytes free)\n";
        assert_eq!(size_check(fine), Some((26624, 28672)));
        assert_eq!(size_check(" * The firmware is too large! 29000/28672 (328 bytes over)"), Some((29000, 28672)));
        assert_eq!(size_check("Linking: 3/4 done\nThe firmware was written"), None);
    }
}
