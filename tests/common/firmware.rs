//! What the firmware test and bench share: QMK's own build, the reference.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Whether `program` is a file on PATH.
pub fn on_path(program: &str) -> bool {
    which(program).is_some()
}

/// The file `program` names on PATH.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|candidate| candidate.is_file())
}

/// QMK's own build: the keymap placed in the tree's keyboard folder, then
/// `make -j2 <keyboard>:<keymap>` at the root; the firmware it copies there.
pub fn qmk_make(tree: &Path, keymap: &Value) -> Vec<u8> {
    let (keyboard, name) = (keymap["keyboard"].as_str().unwrap(), keymap["keymap"].as_str().unwrap());
    let folder = tree.join("keyboards").join(keyboard).join("keymaps").join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("keymap.json"), serde_json::to_string_pretty(keymap).unwrap()).unwrap();
    let output = Command::new("make").arg("-j2").arg(format!("{keyboard}:{name}")).current_dir(tree).output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "QMK's make of {keyboard}:{name} failed:\n{log}");
    let stem = format!("{}_{name}", keyboard.replace('/', "_"));
    ["uf2", "hex", "bin"]
        .iter()
        .find_map(|format| std::fs::read(tree.join(format!("{stem}.{format}"))).ok())
        .unwrap_or_else(|| panic!("QMK's make wrote no firmware for {stem}:\n{log}"))
}
