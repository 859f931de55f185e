//! The keycodes a keyboard defines in C for its keymaps (`enum { ENC_BTN1 = QK_KB_0 }`,
//! `#define X1_LYRU X1_LAYER_SELECTOR_UP`): what the headers `keymap.c` sees define.
//! QMK's `QMK_KEYBOARD_H` includes the top-most `<folder>.h` of the keyboard's
//! folders, which includes others, and every folder's `config.h` is included too;
//! `.c` files are compiled apart, so what they define is no keycode for a keymap.
//!
//! Includes are found as the C compiler finds them under QMK's make: beside the
//! including file, then on make's include path (see [`include_path`]). Headers in
//! QMK's own folders are not read here: their keycodes are the constants and QMK's
//! keycode headers, a feature's among them (`keymap::headers`); what the platform adds
//! is read from its device header ([`platform_header`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::rules_mk::Rules;
use super::{KEYBOARDS_DIR, Keyboard};
use crate::c::{self, Definition};
use crate::source::DataTree;
use crate::spec::Value;

/// The facts file `import` writes into a bundled keyboard's folder.
pub const FACTS_FILE: &str = "c_keycodes.json";

/// How many `#include`s deep headers are followed.
const MAX_INCLUDES: usize = 64;

/// QMK's folders on make's include path after the keyboard's (`COMMON_VPATH` in QMK's
/// `paths.mk`): the tree's root first, so `#include "keyboards/wilba_tech/x.h"` works.
const QMK_INCLUDE_DIRS: &[&str] =
    &["", "tmk_core", "quantum", "quantum/keymap_extras", "quantum/process_keycode", "quantum/sequencer", "drivers"];

/// Where QMK's ChibiOS build takes an MCU's series from (`MCU_SERIES`).
const MCU_SELECTION: &str = "platforms/chibios/mcu_selection.mk";

/// The folders holding ChibiOS's device headers (`<SERIES>/<series>.h`), one vendor
/// folder deep (`ST/STM32F0xx`, `CMSIS/WB32/WB32FQ95xx`).
const DEVICE_HEADER_DIRS: &[&str] = &["lib/chibios/os/common/ext", "lib/chibios-contrib/os/common/ext/CMSIS"];

/// What a keyboard's headers define, and which headers those are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyboardFacts {
    pub headers: Vec<String>,
    pub definitions: Vec<Definition>,
    /// Names only its `.c` files define (name → file), for an error that says so.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unseen: BTreeMap<String, String>,
    /// The platform's device header, when the keyboard's processor has one
    /// (`lib/chibios/os/common/ext/ST/STM32F0xx/stm32f0xx.h`): its definitions are
    /// among `definitions`, after the keyboard's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_header: Option<String>,
    /// The files and folders that are there but could not be read, as shown, and why
    /// (never written: `import` refuses a keyboard with any).
    #[serde(skip)]
    pub unreadable: Vec<(String, String)>,
}

/// A platform's device header and its definitions.
#[derive(Debug, Clone, Default)]
pub struct PlatformHeader {
    pub header: Option<PathBuf>,
    pub definitions: Vec<Definition>,
    /// A file that is there but could not be read, as shown, and why.
    pub unreadable: Option<(String, String)>,
}

/// The include path QMK's make gives a keyboard's sources, after the including file's
/// own folder: the folders its `rules.mk` files add to `VPATH` (they are read before
/// make adds the rest), the keyboard's folders from the top one down, then QMK's.
fn include_path(tree: &DataTree, keyboard: &str) -> Vec<PathBuf> {
    let folders = super::folders(keyboard);
    let mut rules = Rules::default();
    for folder in folders.iter().rev() {
        if let Ok(bytes) = tree.read(&folder.join("rules.mk")) {
            rules.apply(&String::from_utf8_lossy(&bytes));
        }
    }
    // A word with `$(...)` in it needs make's expansion: not followed.
    let vpath = rules.get("VPATH").unwrap_or_default().split_whitespace().filter(|w| !w.contains('$'));
    let mut path: Vec<PathBuf> = vpath.filter_map(|w| normalize(Path::new(w))).collect();
    path.extend(folders.iter().rev().cloned());
    path.extend(QMK_INCLUDE_DIRS.iter().map(PathBuf::from));
    path
}

/// `a/b/../c` as `a/c`, relative to the tree's root; `None` for a path that leaves it.
pub fn normalize(path: &Path) -> Option<PathBuf> {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => normal.push(part),
            Component::CurDir => {}
            Component::ParentDir if normal.pop() => {}
            _ => return None,
        }
    }
    Some(normal)
}

/// Whether a header is the keyboards' (any keyboard's folder, a shared `lib` among
/// them), rather than QMK's own, whose keycodes are read elsewhere.
fn is_keyboards(path: &Path) -> bool {
    path.starts_with(KEYBOARDS_DIR)
}

/// Whether a keyboard's info (or a keymap's `config`, which QMK merges into it) turns
/// a feature on: `features.<feature>`, or `info_key`, the key QMK maps the feature's
/// `_ENABLE` to (`stenography.enabled`).
pub fn enables_feature(info: &crate::spec::Object, feature: &str, info_key: &str) -> bool {
    let on = |value: Option<&Value>| value == Some(&Value::Bool(true));
    let mut keys = info_key.split('.');
    let first = keys.next().and_then(|key| info.get(key));
    let nested = keys.try_fold(first, |at, key| Some(at?.get(key)));
    on(info.get("features").and_then(|f| f.get(feature))) || on(nested.flatten())
}

/// The device header QMK's ChibiOS build includes for `processor`, found through the
/// `MCU_SERIES` QMK's `mcu_selection.mk` gives it, with the enumerators it declares
/// (`typedef enum { RESET = 0, SET = !RESET } FlagStatus;` on STM32, WB32, AT32): plain
/// names a keymap can write, as QMK's retired `RESET`. Its macros (version numbers,
/// register accessors) and the headers of single devices it includes (register maps)
/// hold nothing a keymap writes as a key, so they are not read. AVR and the others
/// without a series have none.
pub fn platform_header(tree: &DataTree, processor: &str) -> PlatformHeader {
    let unreadable = |path: &Path, error: std::io::Error| PlatformHeader {
        unreadable: Some((tree.display(path), error.to_string())),
        ..PlatformHeader::default()
    };
    let selection = match tree.read(Path::new(MCU_SELECTION)) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return PlatformHeader::default(),
        Err(error) => return unreadable(Path::new(MCU_SELECTION), error),
    };
    let Some(series) = mcu_series(&selection, processor) else { return PlatformHeader::default() };
    let file = format!("{}.h", series.to_ascii_lowercase());
    let candidates = DEVICE_HEADER_DIRS.iter().flat_map(|dir| {
        let vendors = tree.list(Path::new(dir)).unwrap_or_default();
        vendors.into_iter().filter(|v| v.is_dir).map(|v| Path::new(dir).join(v.name).join(&series).join(&file))
    });
    let Some(header) = candidates.into_iter().find(|p| tree.exists(p)) else { return PlatformHeader::default() };
    let definitions = match tree.read(&header) {
        Ok(bytes) => c::scan(&String::from_utf8_lossy(&bytes)).definitions,
        Err(error) => return unreadable(&header, error),
    };
    let enumerators = definitions.into_iter().filter(|d| d.enumeration.is_some() && d.is_expression());
    PlatformHeader { header: Some(header), definitions: enumerators.collect(), unreadable: None }
}

/// The `MCU_SERIES` of the last `ifneq ($(findstring NAME, $(MCU)),)` block of
/// `mcu_selection.mk` whose `NAME` the processor holds, as make sets it.
fn mcu_series(selection: &str, processor: &str) -> Option<String> {
    let mut matching = false;
    let mut series = None;
    for line in selection.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("ifneq ($(findstring ") {
            let name = rest.split(',').next().unwrap_or_default().trim();
            matching = !name.is_empty() && processor.contains(name);
        } else if matching
            && let Some((name, value)) = line.split_once('=')
            && name.trim() == "MCU_SERIES"
        {
            series = Some(value.trim().to_owned());
            matching = false;
        }
    }
    series
}

/// Scans the headers a keymap of `keyboard` sees, with its platform's device header.
pub fn scan(tree: &DataTree, keyboard: &Keyboard, platform: &PlatformHeader) -> KeyboardFacts {
    let folders = super::folders(&keyboard.name);
    let include_path = include_path(tree, &keyboard.name);
    let top_header = folders.iter().rev().find_map(|folder| {
        let header = folder.join(format!("{}.h", folder.file_name()?.to_str()?));
        tree.exists(&header).then_some(header)
    });
    let mut queue: Vec<PathBuf> = folders.iter().rev().map(|f| f.join("config.h")).filter(|p| tree.exists(p)).collect();
    queue.extend(top_header);
    let mut facts = KeyboardFacts::default();
    let mut seen: Vec<PathBuf> = Vec::new();
    while let Some(header) = queue.pop() {
        if seen.contains(&header) || seen.len() > MAX_INCLUDES {
            continue;
        }
        seen.push(header.clone());
        let bytes = match tree.read(&header) {
            Ok(bytes) => bytes,
            Err(error) => {
                facts.unreadable.push((tree.display(&header), error.to_string()));
                continue;
            }
        };
        let scanned = c::scan(&String::from_utf8_lossy(&bytes));
        for definition in scanned.definitions.into_iter().filter(Definition::is_expression) {
            if !facts.definitions.iter().any(|d| d.name == definition.name) {
                facts.definitions.push(definition);
            }
        }
        // A keyboard's header is followed wherever it is included from; QMK's are not.
        for include in scanned.includes.iter().rev() {
            let beside = header.parent().map(|p| p.join(include));
            let candidates = beside.into_iter().chain(include_path.iter().map(|dir| dir.join(include)));
            let found = candidates.filter_map(|p| normalize(&p)).find(|p| tree.exists(p));
            queue.extend(found.filter(|p| is_keyboards(p)));
        }
    }
    for definition in &platform.definitions {
        if !facts.definitions.iter().any(|d| d.name == definition.name) {
            facts.definitions.push(definition.clone());
        }
    }
    facts.platform_header = platform.header.as_ref().map(|p| p.display().to_string());
    facts.unreadable.extend(platform.unreadable.clone());
    let shown = |p: &Path| p.strip_prefix(KEYBOARDS_DIR).unwrap_or(p).display().to_string();
    facts.headers = seen.iter().map(|p| shown(p)).collect();
    for folder in &folders {
        let entries = tree.list(folder).unwrap_or_else(|error| {
            facts.unreadable.push((tree.display(folder), error.to_string()));
            Vec::new()
        });
        for source in entries.into_iter().filter(|e| !e.is_dir && e.name.ends_with(".c")) {
            let path = folder.join(&source.name);
            let bytes = match tree.read(&path) {
                Ok(bytes) => bytes,
                Err(error) => {
                    facts.unreadable.push((tree.display(&path), error.to_string()));
                    continue;
                }
            };
            for definition in c::scan(&String::from_utf8_lossy(&bytes)).definitions {
                if !facts.definitions.iter().any(|d| d.name == definition.name) {
                    facts.unseen.entry(definition.name).or_insert_with(|| shown(&path));
                }
            }
        }
    }
    facts
}

/// A keyboard's facts: its facts file where the data has one (the bundled
/// keyboards), else its sources scanned.
fn load(tree: &DataTree, keyboard: &Keyboard, platform: impl FnOnce() -> Arc<PlatformHeader>) -> KeyboardFacts {
    let facts_path = Path::new(KEYBOARDS_DIR).join(&keyboard.name).join(FACTS_FILE);
    if let Ok(bytes) = tree.read(&facts_path)
        && let Ok(facts) = serde_json::from_slice::<KeyboardFacts>(&bytes)
    {
        return facts;
    }
    scan(tree, keyboard, &platform())
}

/// Each keyboard's facts, read once when first asked for, and each processor's
/// device header, read once for all its keyboards.
#[derive(Debug, Clone, Default)]
pub struct CustomKeycodes {
    tree: Option<DataTree>,
    read: Arc<Mutex<HashMap<String, Arc<KeyboardFacts>>>>,
    platforms: Arc<Mutex<HashMap<String, Arc<PlatformHeader>>>>,
}

impl CustomKeycodes {
    pub fn new(tree: DataTree) -> Self {
        CustomKeycodes { tree: Some(tree), ..CustomKeycodes::default() }
    }

    pub fn facts(&self, keyboard: &Keyboard) -> Arc<KeyboardFacts> {
        let Some(tree) = &self.tree else { return Arc::default() };
        if let Some(found) = self.read.lock().expect("the cache lock is never poisoned").get(&keyboard.name) {
            return found.clone();
        }
        let processor = keyboard.info.get("processor").and_then(Value::as_str).unwrap_or_default();
        let platform = || {
            let mut platforms = self.platforms.lock().expect("the cache lock is never poisoned");
            let found = platforms.entry(processor.to_owned());
            found.or_insert_with(|| Arc::new(platform_header(tree, processor))).clone()
        };
        let facts = Arc::new(load(tree, keyboard, platform));
        self.read.lock().expect("the cache lock is never poisoned").insert(keyboard.name.clone(), facts.clone());
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree_of(files: &[(&str, &str)]) -> (tempfile::TempDir, DataTree) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let tree = DataTree::Checkout(dir.path().to_owned());
        (dir, tree)
    }

    #[test]
    fn paths_stay_inside_the_tree() {
        assert_eq!(normalize(Path::new("keyboards/a/b/../../c/x.h")), Some(PathBuf::from("keyboards/c/x.h")));
        assert_eq!(normalize(Path::new("./quantum/./x.h")), Some(PathBuf::from("quantum/x.h")));
        assert_eq!(normalize(Path::new("keyboards/../../etc/passwd")), None);
        assert_eq!(normalize(Path::new("/etc/passwd")), None);
    }

    #[test]
    fn the_include_path_is_makes() {
        let (_dir, tree) = tree_of(&[
            ("keyboards/a/rules.mk", "VPATH += keyboards/lib/x $(KEYBOARD_PATH_1)/y\n"),
            ("keyboards/a/b/rules.mk", "VPATH += keyboards/a/b/../../lib/z\nSRC += s.c\n"),
        ]);
        let path: Vec<String> = include_path(&tree, "a/b").iter().map(|p| p.display().to_string()).collect();
        let expected =
            ["keyboards/lib/x", "keyboards/lib/z", "keyboards/a", "keyboards/a/b", "", "tmk_core", "quantum"];
        assert_eq!(path[..expected.len()], expected);
    }

    #[test]
    fn the_platform_header_is_the_mcu_series_ones() {
        let selection = "ifneq ($(findstring STM32F103, $(MCU)),)\n  MCU_FAMILY = STM32\n  MCU_SERIES = STM32F1xx\n\
                         endif\nifneq ($(findstring WB32FQ95, $(MCU)),)\n  MCU_SERIES = WB32FQ95xx\nendif\n";
        let (_dir, tree) = tree_of(&[
            (MCU_SELECTION, selection),
            (
                "lib/chibios/os/common/ext/ST/STM32F1xx/stm32f1xx.h",
                "#define V 1\ntypedef enum\n{ RESET = 0, SET = !RESET } F;\n",
            ),
            ("lib/chibios-contrib/os/common/ext/CMSIS/WB32/WB32FQ95xx/wb32fq95xx.h", "enum { RESET = 0 };\n"),
        ]);
        let stm32 = platform_header(&tree, "STM32F103");
        assert_eq!(stm32.header, Some(PathBuf::from("lib/chibios/os/common/ext/ST/STM32F1xx/stm32f1xx.h")));
        let names: Vec<&str> = stm32.definitions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["RESET", "SET"], "enumerators only");
        let wb32 = platform_header(&tree, "WB32FQ95");
        assert!(wb32.header.is_some_and(|h| h.ends_with("wb32fq95xx.h")));
        for none in ["atmega32u4", "RP2040", ""] {
            assert!(platform_header(&tree, none).header.is_none(), "{none}");
        }
        // A header that leads out of the tree is not read, and is named.
        let (dir, linked) = tree_of(&[(MCU_SELECTION, selection)]);
        let folder = dir.path().join("lib/chibios/os/common/ext/ST/STM32F1xx");
        std::fs::create_dir_all(&folder).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", folder.join("stm32f1xx.h")).unwrap();
        let out = platform_header(&linked, "STM32F103");
        assert!(out.definitions.is_empty());
        assert!(
            out.unreadable.is_some_and(|(file, why)| file.ends_with("stm32f1xx.h") && why.contains("out of the tree"))
        );
    }
}
