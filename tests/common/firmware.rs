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
    make_keymap(tree, keyboard, name)
}

/// QMK's `make -j2 <keyboard>:<name>` in `tree`, of the keymap folder already there: the firmware.
pub fn make_keymap(tree: &Path, keyboard: &str, name: &str) -> Vec<u8> {
    let output = Command::new("make").arg("-j2").arg(format!("{keyboard}:{name}")).current_dir(tree).output().unwrap();
    let log = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "QMK's make of {keyboard}:{name} failed:\n{log}");
    let stem = format!("{}_{name}", keyboard.replace('/', "_"));
    ["uf2", "hex", "bin"]
        .iter()
        .find_map(|format| std::fs::read(tree.join(format!("{stem}.{format}"))).ok())
        .unwrap_or_else(|| panic!("QMK's make wrote no firmware for {stem}:\n{log}"))
}

/// A small seeded generator (SplitMix64): the same seed draws the same keymaps.
pub struct Draws(u64);

impl Draws {
    pub fn new(seed: u64) -> Draws {
        Draws(seed)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Keycodes any keyboard takes.
const BASIC: [&str; 24] = [
    "KC_A", "KC_B", "KC_C", "KC_Q", "KC_W", "KC_E", "KC_1", "KC_2", "KC_0", "KC_ENT", "KC_ESC", "KC_BSPC", "KC_TAB",
    "KC_SPC", "KC_MINS", "KC_F1", "KC_F12", "KC_LCTL", "KC_LSFT", "KC_RALT", "KC_MUTE", "KC_VOLU", "KC_NO", "KC_TRNS",
];

/// A keymap of 1 to 4 layers for `keyboard`'s `layout` of `keys` keys, each key drawn
/// from basic keycodes, layer keys (`MO`, `TG`, `LT`), modified keys and mod-taps.
pub fn random_keymap(draws: &mut Draws, keyboard: &str, name: &str, layout: &str, keys: usize) -> Value {
    let layers = 1 + draws.below(4);
    let key = |draws: &mut Draws| -> String {
        let basic = draws.pick(&BASIC[..20]).to_string();
        match draws.below(12) {
            0 => format!("MO({})", draws.below(layers)),
            1 => format!("TG({})", draws.below(layers)),
            2 => format!("LT({}, {basic})", draws.below(layers)),
            3 => format!("LCTL({basic})"),
            4 => format!("MT(MOD_LSFT, {basic})"),
            _ => draws.pick(&BASIC).to_string(),
        }
    };
    let layers: Vec<Vec<String>> = (0..layers).map(|_| (0..keys).map(|_| key(draws)).collect()).collect();
    serde_json::json!({"keyboard": keyboard, "keymap": name, "layout": layout, "layers": layers})
}

/// What a firmware benchmark needs: `../shared`, and a scratch folder holding `qmk`, a
/// copy of its tree (hard links) that builds may write into; `None` (with the reason
/// printed) without them or without make, QMK's CLI and gcc-avr.
pub fn bench_scratch() -> Option<(std::path::PathBuf, tempfile::TempDir)> {
    let shared = super::shared()?;
    let missing: Vec<&str> = ["make", "qmk", "avr-gcc"].into_iter().filter(|p| !on_path(p)).collect();
    if !missing.is_empty() {
        println!("skipped: {missing:?} not on PATH");
        return None;
    }
    let scratch = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let copied = Command::new("cp").arg("-al").arg(shared.join("qmk")).arg(scratch.path().join("qmk")).status();
    assert!(copied.unwrap().success(), "cp -al {}", shared.join("qmk").display());
    Some((shared, scratch))
}
