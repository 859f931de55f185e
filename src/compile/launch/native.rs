//! Two of QMK's generators run here rather than in QMK's Python, for the calls whose
//! result is known to be QMK's: each takes a third of a second in Python and a
//! millisecond here, and a warm build runs both for every keymap.
//!
//! - `json2c --quiet --output FILE KEYMAP` of a plain keymap: qmk-api's json2c writes
//!   QMK's keymap.c byte for byte (tested against QMK's own output). A keymap is plain
//!   when it holds only what json2c turns into the table (a layout and at least one
//!   layer, every key a keycode expression) beside a keyboard, a name, an author and
//!   notes that pass QMK's keymap schema, and fields the schema does not name.
//! - `generate-make-dependencies -kb KEYBOARD -km NAME -o FILE` when the tree has no
//!   keymap of that name for the keyboard and QMK's CLI sees no userspace: the file
//!   then lists the same names QMK's would, all derived from the two names.
//!
//! Any other call goes to QMK's CLI.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::keymap::{Keymap, json2c};

/// Files QMK's make-dependencies lists for each folder of a keyboard and for a userspace.
const DEPENDED_ON: [&str; 6] = ["info.json", "keyboard.json", "rules.mk", "post_rules.mk", "config.h", "post_config.h"];

/// Runs QMK's generator `args` here and returns its exit code, or `None` when the call
/// is not one known to give QMK's result.
pub fn run(args: &[OsString]) -> Option<i32> {
    // QMK's CLI resolves a relative output from ORIG_CWD, and looks for a userspace from
    // there, when it is set.
    if std::env::var_os("ORIG_CWD").is_some() {
        return None;
    }
    let (subcommand, options) = args.split_first()?;
    let (output, generated) = match subcommand.to_str()? {
        "json2c" => {
            let (output, keymap) = json2c_arguments(options)?;
            let keymap = plain(&std::fs::read(keymap).ok()?)?;
            (output, json2c(&keymap).ok()? + "\n")
        }
        "generate-make-dependencies" => {
            let (output, keyboard, name) = dependencies_arguments(options)?;
            let known = |root: &PathBuf| is_unaliased_keyboard(root, &keyboard) && !has_keymap(root, &keyboard, &name);
            if has_userspace() || !roots().iter().all(known) {
                return None;
            }
            (output, dependencies(&keyboard, &name))
        }
        _ => return None,
    };
    write_as_qmk(&output, generated.as_bytes()).ok()?;
    Some(0)
}

/// The output file and the keymap of `json2c --quiet --output FILE KEYMAP` from its
/// options, in any order.
fn json2c_arguments(options: &[OsString]) -> Option<(PathBuf, PathBuf)> {
    let (mut quiet, mut output, mut keymap) = (false, None, None);
    let mut rest = options.iter();
    while let Some(arg) = rest.next() {
        let text = arg.to_str()?;
        match text {
            "-q" | "--quiet" if !quiet => quiet = true,
            "-o" | "--output" if output.is_none() => output = Some(PathBuf::from(rest.next()?)),
            _ if text.starts_with('-') => return None,
            _ if keymap.is_none() => keymap = Some(PathBuf::from(text)),
            _ => return None,
        }
    }
    let output = output.filter(|path| path != Path::new("-") && path != Path::new("/dev/null"))?;
    quiet.then_some((output, keymap?))
}

/// The keymap, if it is plain (see the module's documentation).
fn plain(content: &[u8]) -> Option<Keymap> {
    let read = super::memo::without_layers(content)?;
    let serde_json::Value::Object(read) = serde_json::from_slice(&read).ok()? else { return None };
    let keyboard_only = read.iter().all(|(key, value)| {
        key == "keyboard" && value.as_str().is_some_and(|name| (1..=250).contains(&name.chars().count()))
    });
    if !keyboard_only {
        return None;
    }
    let serde_json::Value::Object(whole) = serde_json::from_slice(content).ok()? else { return None };
    let layout = whole.get("layout")?.as_str()?.to_owned();
    let layers: Vec<Vec<String>> = serde_json::from_value(whole.get("layers")?.clone()).ok()?;
    // QMK's table of no layers is laid out otherwise.
    if layers.is_empty() {
        return None;
    }
    Some(Keymap { layout: Some(layout), layers: Some(layers), ..Keymap::default() })
}

/// The output file, keyboard and keymap name of `generate-make-dependencies -kb
/// KEYBOARD -km NAME -o FILE` from its options, in any order, `-q` allowed; both names plain
/// (folder names of letters, digits, `_`, `-` and, for the keyboard, `/` between them).
fn dependencies_arguments(options: &[OsString]) -> Option<(PathBuf, String, String)> {
    let (mut output, mut keyboard, mut name) = (None, None, None);
    let mut rest = options.iter();
    while let Some(arg) = rest.next() {
        let slot = match arg.to_str()? {
            "-q" | "--quiet" => continue,
            "-o" | "--output" => &mut output,
            "-kb" | "--keyboard" => &mut keyboard,
            "-km" | "--keymap" => &mut name,
            _ => return None,
        };
        if slot.replace(rest.next()?.to_str()?.to_owned()).is_some() {
            return None;
        }
    }
    let plain = |part: &str| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
    };
    let (output, keyboard, name) = (PathBuf::from(output?), keyboard?, name?);
    (keyboard.split('/').all(plain) && plain(&name)).then_some((output, keyboard, name))
}

/// The trees QMK's CLI reads: the folder make runs in and `QMK_HOME`.
fn roots() -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from(".")];
    roots.extend(std::env::var_os(crate::source::QMK_HOME_ENV).map(PathBuf::from));
    roots
}

/// Whether `keyboard` is a keyboard's folder under `root` that QMK's aliases do not
/// send elsewhere (an alias file that does not read counts as naming it).
fn is_unaliased_keyboard(root: &Path, keyboard: &str) -> bool {
    let aliases = std::fs::read_to_string(root.join("data/mappings/keyboard_aliases.hjson")).unwrap_or_default();
    let aliased = !crate::spec::hjson::parse(&aliases).is_ok_and(|aliases| aliases.get(keyboard).is_none());
    root.join("keyboards").join(keyboard).join("keyboard.json").is_file() && !aliased
}

/// Whether QMK could find a keymap `name` for `keyboard` under `root`: a `keymaps/NAME`
/// entry in the keyboard's folder or one above it, or any community layout's `NAME`.
fn has_keymap(root: &Path, keyboard: &str, name: &str) -> bool {
    let exists = |path: &Path| path.symlink_metadata().is_ok();
    let mut folder = PathBuf::new();
    for part in keyboard.split('/') {
        folder.push(part);
        if exists(&root.join("keyboards").join(&folder).join("keymaps").join(name)) {
            return true;
        }
    }
    let layouts = |folder: &Path| std::fs::read_dir(folder).into_iter().flatten().flatten().map(|e| e.path());
    layouts(&root.join("layouts"))
        .flat_map(|kind| layouts(&kind).collect::<Vec<_>>())
        .any(|layout| exists(&layout.join(name)))
}

/// Whether QMK's CLI may see a userspace: named by `QMK_USERSPACE`, a `qmk.json` in the
/// folder make runs in or above it, or a configuration of the CLI that may name one.
fn has_userspace() -> bool {
    if std::env::var_os("QMK_USERSPACE").is_some() || std::env::var_os("XDG_CONFIG_HOME").is_some() {
        return true;
    }
    let configured = std::env::var_os("HOME").is_none_or(|home| Path::new(&home).join(".config/qmk").exists());
    let here = std::env::current_dir().ok();
    configured || here.is_none_or(|here| here.ancestors().any(|folder| folder.join("qmk.json").exists()))
}

/// The dependency list QMK's make-dependencies writes for a keyboard and keymap name
/// that has no keymap in the tree.
fn dependencies(keyboard: &str, name: &str) -> String {
    let mut folders: Vec<String> = Vec::new();
    let mut folder = format!("keyboards/{keyboard}");
    loop {
        folders.push(folder.clone());
        match folder.rsplit_once('/') {
            Some((parent, _)) if parent != "keyboards" => folder = parent.to_owned(),
            _ => break,
        }
    }
    folders.push(format!("users/{name}"));
    let lines: Vec<String> = folders
        .iter()
        .flat_map(|folder| DEPENDED_ON.map(|file| format!("generated-files: $(wildcard {folder}/{file})\n")))
        .collect();
    lines.join("\n") + "\n"
}

/// Writes `generated` to `output` as QMK's CLI writes a generated file: its folders
/// made, left alone when it already holds that text, else the old file kept as `.bak`.
fn write_as_qmk(output: &Path, generated: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::read(output) {
        Ok(existing) if existing == generated => return Ok(()),
        Ok(_) => {
            let mut backup = output.as_os_str().to_owned();
            backup.push(".bak");
            std::fs::rename(output, backup)?;
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    std::fs::write(output, generated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::launch::tests::args;

    #[test]
    fn only_json2cs_quiet_call_with_an_output_file_is_taken() {
        let taken = json2c_arguments(&args("json2c --quiet --output src/keymap.c ../keymap/keymap.json")[1..]);
        assert_eq!(taken, Some(("src/keymap.c".into(), "../keymap/keymap.json".into())));
        assert!(json2c_arguments(&args("json2c -o src/keymap.c -q k.json")[1..]).is_some());
        assert_eq!(json2c_arguments(&args("json2c --output src/keymap.c k.json")[1..]), None, "not quiet: QMK logs");
        assert_eq!(json2c_arguments(&args("json2c --quiet k.json")[1..]), None, "to stdout");
        assert_eq!(json2c_arguments(&args("json2c --quiet -o a.c k.json extra.json")[1..]), None);
        assert_eq!(json2c_arguments(&args("json2c --quiet -o a.c --verbose k.json")[1..]), None);
        assert_eq!(json2c_arguments(&args("json2c --quiet -o a.c -o b.c k.json")[1..]), None);
        assert_eq!(run(&args("generate-keymap-h --quiet -o a.c k.json")), None, "only json2c is json2c");
    }

    #[test]
    fn only_plain_keymaps_are_written_here() {
        let keymap = |extra: &str| {
            format!(
                r#"{{"keyboard": "planck/rev6", "keymap": "mine", "layout": "LAYOUT", "layers": [["KC_A"]]{extra}}}"#
            )
        };
        assert!(plain(keymap("").as_bytes()).is_some());
        assert!(plain(keymap(r#", "author": "me", "notes": "n", "version": 1"#).as_bytes()).is_some());
        for refused in [
            r#", "config": {}"#,
            r#", "macros": [["a"]]"#,
            r#", "encoders": []"#,
            r#", "host_language": "german""#,
            r#", "keycodes": []"#,
            r#", "modules": []"#,
            r#", "author": 1"#,
            r#", "keymap": "twice""#,
        ] {
            assert!(plain(keymap(refused).as_bytes()).is_none(), "{refused}");
        }
        assert!(plain(br#"{"keyboard": "", "layout": "LAYOUT", "layers": [["KC_A"]]}"#).is_none());
        assert!(plain(br#"{"keyboard": "k", "layout": "LAYOUT_1x2uC", "layers": [["KC_A"]]}"#).is_none());
        assert!(plain(br#"{"keyboard": "k", "layout": "LAYOUT", "layers": []}"#).is_none());
        assert!(plain(br#"{"keyboard": "k", "layers": [["KC_A"]]}"#).is_none());
    }

    #[test]
    fn a_file_is_kept_as_bak_only_when_it_changes() {
        let folder = tempfile::tempdir().unwrap();
        let output = folder.path().join("src/keymap.c");
        write_as_qmk(&output, b"one").unwrap();
        write_as_qmk(&output, b"one").unwrap();
        assert!(!folder.path().join("src/keymap.c.bak").exists());
        write_as_qmk(&output, b"two").unwrap();
        assert_eq!(std::fs::read(folder.path().join("src/keymap.c.bak")).unwrap(), b"one");
        assert_eq!(std::fs::read(&output).unwrap(), b"two");
    }
}
