//! The JSON keymaps QMK's API lists for a keyboard: each `keymaps/<name>/` folder
//! with a `keymap.json` in the keyboard's folder or a folder above it, unless it
//! also has a `keymap.c`. A name found at two levels keeps its first place in the
//! list and takes the later folder (folders ordered by path, part by part).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use super::KEYBOARDS_DIR;

pub const KEYMAPS_DIR: &str = "keymaps";
pub const KEYMAP_JSON: &str = "keymap.json";
const KEYMAP_C: &str = "keymap.c";
/// Where QMK's API points for a keymap's source file.
pub const RAW_URL_BASE: &str = "https://raw.githubusercontent.com/qmk/qmk_firmware/master";

/// One JSON keymap of a keyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonKeymap {
    pub name: String,
    /// `keyboards/<folder>/keymaps/<name>/keymap.json`, relative to the tree.
    pub path: String,
}

impl JsonKeymap {
    pub fn url(&self) -> String {
        format!("{RAW_URL_BASE}/{}", self.path)
    }
}

/// The JSON keymap folders of a tree, by the folder they belong to.
#[derive(Debug, Clone, Default)]
pub struct KeymapIndex {
    /// `keyboards/a/b` → the keymap folders below `keyboards/a/b/keymaps/`.
    by_owner: HashMap<PathBuf, Vec<PathBuf>>,
}

impl KeymapIndex {
    /// Indexes every `keymaps/<name>/keymap.json` among `files` that has no `keymap.c` beside it.
    pub fn new<'a>(files: impl Iterator<Item = &'a PathBuf>, exists: impl Fn(&Path) -> bool) -> KeymapIndex {
        let mut by_owner: HashMap<PathBuf, Vec<PathBuf>> = HashMap::new();
        for file in files.filter(|f| f.file_name().is_some_and(|n| n == KEYMAP_JSON)) {
            let Some(folder) = file.parent() else { continue };
            let Some(keymaps) = folder.parent().filter(|p| p.file_name().is_some_and(|n| n == KEYMAPS_DIR)) else {
                continue;
            };
            let Some(owner) = keymaps.parent() else { continue };
            if !exists(&folder.join(KEYMAP_C)) {
                by_owner.entry(owner.to_owned()).or_default().push(folder.to_owned());
            }
        }
        KeymapIndex { by_owner }
    }

    /// The JSON keymaps QMK lists for `keyboard`.
    pub fn for_keyboard(&self, keyboard: &str) -> Vec<JsonKeymap> {
        let mut folders: Vec<&PathBuf> = Path::new(KEYBOARDS_DIR)
            .join(keyboard)
            .ancestors()
            .take_while(|a| *a != Path::new(KEYBOARDS_DIR))
            .filter_map(|owner| self.by_owner.get(owner))
            .flatten()
            .collect();
        folders.sort_by(|a, b| parts(a).cmp(&parts(b)));
        let mut keymaps: Vec<JsonKeymap> = Vec::new();
        for folder in folders {
            let name = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let path = format!("{}/{KEYMAP_JSON}", folder.to_string_lossy().replace('\\', "/"));
            match keymaps.iter_mut().find(|k| k.name == name) {
                Some(existing) => existing.path = path,
                None => keymaps.push(JsonKeymap { name, path }),
            }
        }
        keymaps
    }
}

fn parts(path: &Path) -> Vec<&std::ffi::OsStr> {
    path.components().filter_map(|c| if let Component::Normal(p) = c { Some(p) } else { None }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keymaps_of_a_keyboard_and_the_folders_above() {
        let files: Vec<PathBuf> = [
            "keyboards/a/keymaps/default/keymap.json",
            "keyboards/a/keymaps/c_too/keymap.json",
            "keyboards/a/keymaps/c_too/keymap.c",
            "keyboards/a/b/keymaps/default/keymap.json",
            "keyboards/a/b/keymaps/mine/keymap.json",
            "keyboards/a/keymaps/zzz/keymap.json",
            "keyboards/other/keymaps/default/keymap.json",
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect();
        let index = KeymapIndex::new(files.iter(), |p| files.iter().any(|f| f == p));
        let found = index.for_keyboard("a/b");
        let shown: Vec<(&str, &str)> = found.iter().map(|k| (k.name.as_str(), k.path.as_str())).collect();
        assert_eq!(
            shown,
            [
                ("default", "keyboards/a/keymaps/default/keymap.json"),
                ("mine", "keyboards/a/b/keymaps/mine/keymap.json"),
                ("zzz", "keyboards/a/keymaps/zzz/keymap.json"),
            ]
        );
        assert_eq!(found[0].url(), format!("{RAW_URL_BASE}/keyboards/a/keymaps/default/keymap.json"));
    }
}
