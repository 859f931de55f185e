//! Keyboards: layouts compared with QMK's own result for every keyboard of the reference tree.

mod common;

use std::collections::BTreeMap;

use common::*;
use qmk_api::keyboard;
use qmk_api::source::DataTree;
use serde_json::Value;

/// What QMK's `info_json` gives for one keyboard, in the fields compared.
fn expected_layouts() -> Option<BTreeMap<String, Value>> {
    let shared = shared()?;
    let text = std::fs::read_to_string(shared.join("expected/keyboards_layouts.json")).unwrap();
    Some(serde_json::from_str(&text).unwrap())
}

/// Our keyboard in the shape of the expected file: keys keep `matrix`, `x`, `y`, `w`, `h`; numbers compare as numbers.
fn ours(keyboard: &keyboard::Keyboard) -> Value {
    let layouts: serde_json::Map<String, Value> = keyboard
        .layouts
        .iter()
        .map(|(name, layout)| {
            let keys = layout
                .keys
                .iter()
                .map(|key| {
                    let published = serde_json::to_value(key.to_value()).unwrap();
                    let fields = ["matrix", "x", "y", "w", "h"]
                        .into_iter()
                        .filter_map(|f| published.get(f).map(|v| (f.to_owned(), normalize(v.clone()))))
                        .collect();
                    Value::Object(fields)
                })
                .collect();
            (name.clone(), Value::Array(keys))
        })
        .collect();
    let aliases = keyboard.layout_aliases.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
    normalize(serde_json::json!({
        "keyboard_name": keyboard.keyboard_name(),
        "layout_aliases": Value::Object(aliases),
        "layouts": Value::Object(layouts),
        "matrix_size": keyboard.matrix_size().map(|m| serde_json::json!({"cols": m.cols, "rows": m.rows})),
    }))
}

/// Numbers as f64, so that `1` and `1.0` compare equal as they do in Python.
fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(members) => Value::Object(members.into_iter().map(|(k, v)| (k, normalize(v))).collect()),
        other => other,
    }
}

#[test]
fn layouts_equal_qmks_for_every_keyboard() {
    let Some(expected) = expected_layouts() else { return };
    let tree = DataTree::Checkout(shared().unwrap().join("qmk"));
    let keyboards = keyboard::load(&tree).unwrap();
    assert_eq!(keyboards.len(), expected.len());
    let (mut layouts_differ, mut sizes_differ, mut sizes_unknown) = (Vec::new(), Vec::new(), 0);
    for (name, theirs) in &expected {
        let ours = ours(keyboards.resolve(name).unwrap());
        let theirs = normalize(theirs.clone());
        if ["keyboard_name", "layout_aliases", "layouts"].iter().any(|f| ours[f] != theirs[f]) {
            layouts_differ.push(name);
        }
        match &ours["matrix_size"] {
            // QMK read these from config.h, which a data-only tree does not have.
            Value::Null => sizes_unknown += 1,
            size if *size != theirs["matrix_size"] => sizes_differ.push(name),
            _ => {}
        }
    }
    eprintln!(
        "{} of {} keyboards have QMK's layouts, aliases and name; matrix size equal for {}, unknown without config.h for {}",
        expected.len() - layouts_differ.len(),
        expected.len(),
        expected.len() - sizes_unknown - sizes_differ.len(),
        sizes_unknown
    );
    assert!(layouts_differ.len() * 1000 <= expected.len(), "layouts differ: {layouts_differ:?}");
    assert!(sizes_differ.is_empty(), "matrix sizes differ: {sizes_differ:?}");
}

#[test]
fn build_publishes_the_keyboard_api_in_each_channel() {
    let fixture = Fixture::new();
    expect_exit(&run_in(fixture.root(), &["build", "--out", &fixture.out_arg()]), 0);
    for channel in ["master", "develop"] {
        let list = fixture.published_json(channel, "keyboard_list.json");
        assert_eq!(list["last_updated"], "2026-08-10 00:00:00 GMT");
        let names: Vec<&str> = list["keyboards"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
        assert!(names.contains(&"clueboard/66/rev2") && names.len() >= 10, "{names:?}");
        let aliases = fixture.published_json(channel, "keyboard_aliases.json");
        assert_eq!(aliases["keyboard_aliases"]["_test_a"]["target"], "_test_b");
        let info = fixture.published_json(channel, "keyboards/clueboard/66/rev2/info.json");
        let clueboard = &info["keyboards"]["clueboard/66/rev2"];
        assert_eq!(clueboard["keyboard_name"], "Clueboard 66%");
        assert_eq!(clueboard["layouts"]["LAYOUT_all"]["layout"].as_array().unwrap().len(), 73);
        assert_eq!(clueboard["layout_aliases"]["LAYOUT"], "LAYOUT_all");
    }
}

#[test]
fn the_bundled_keyboards_are_what_import_writes_and_equal_qmks() {
    let Some(shared) = shared() else { return };
    let (_fixture, data) = import_shared(&shared);
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for folder in ["keyboards", "mappings", "schemas", "keyboard"] {
        assert!(
            snapshot(&data.join(folder)) == snapshot(&committed.join(folder)),
            "data/{folder} is stale: run import"
        );
    }
    let bundled = keyboard::load(&DataTree::Bundled).unwrap();
    let full = keyboard::load(&DataTree::Checkout(shared.join("qmk"))).unwrap();
    assert_eq!(bundled.len(), qmk_api::import::DEFAULT_KEYBOARDS.len());
    for keyboard in bundled.iter() {
        let reference = full.resolve(&keyboard.name).unwrap();
        assert_eq!(keyboard.published_info(), reference.published_info(), "{}", keyboard.name);
    }
}

/// Every `config.h` and `rules.mk` of QMK's tree reduces to a file that reads the
/// same (`reduce_settings` checks that) and holds no comment.
#[test]
fn every_settings_file_of_qmk_reduces_to_its_settings_alone() {
    let Some(shared) = shared() else { return };
    let keyboards = shared.join("qmk/keyboards");
    let (mut files, mut lines_before, mut lines_after) = (0, 0, 0);
    for entry in walkdir::WalkDir::new(&keyboards).into_iter().map(Result::unwrap) {
        let name = entry.file_name().to_string_lossy();
        if name != "config.h" && name != "rules.mk" {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
        let relative = entry.path().strip_prefix(shared.join("qmk")).unwrap();
        let reduced =
            keyboard::reduce_settings(relative, &text).unwrap_or_else(|e| panic!("{}: {e}", relative.display()));
        let comment = if name == "rules.mk" { "#" } else { "/*" };
        assert!(!reduced.contains(comment) && !reduced.contains(" //"), "{}: {reduced}", relative.display());
        assert!(reduced.lines().all(|line| !line.is_empty()), "{}: a blank line", relative.display());
        files += 1;
        lines_before += text.lines().count();
        lines_after += reduced.lines().count();
    }
    eprintln!("{files} settings files reduced from {lines_before} to {lines_after} lines");
    assert!(files > 2000, "{files}");
}

/// A keyboard whose layouts come from a C header cannot be bundled without
/// copying C code: import refuses it, naming the file, and writes nothing.
#[test]
fn import_refuses_a_keyboard_that_needs_c_source() {
    let tree = Fixture::new();
    tree.keycodes("keycodes_0.0.1.hjson", r#"{"keycodes": {"0x0004": {"group": "basic", "key": "KC_A"}}}"#)
        .file("keyboards/acme/pad/keyboard.json", r#"{"keyboard_name": "Pad"}"#)
        .file("keyboards/acme/pad/pad.h", "#pragma once\n#define LAYOUT(k00) { { k00 } }\n");
    let out = tree.root().join("out");
    let args = ["import", "--qmk-home", &tree.root_arg(), "--keyboard", "acme/pad", "--out", out.to_str().unwrap()];
    let message = expect_exit(&run(&args), 1);
    assert!(message.contains("acme/pad") && message.contains("pad.h") && message.contains("C source"), "{message}");
    assert!(!out.exists(), "nothing written");
}

/// A tree laid out as a checkout with the bundled constants, clueboard and dz60, and
/// `cluebored`: a copy of clueboard's folder.
fn tree_of_bundled_keyboards() -> Fixture {
    let tree = Fixture::new();
    tree.copy_bundled("constants", "data/constants");
    for (from, to) in [("clueboard", "clueboard"), ("clueboard", "cluebored"), ("dz60", "dz60")] {
        tree.copy_bundled(&format!("keyboards/{from}"), &format!("keyboards/{to}"));
    }
    tree
}

fn published_keyboards(tree: &Fixture) -> Vec<String> {
    let list = tree.published_json("master", "keyboard_list.json");
    list["keyboards"].as_array().unwrap().iter().map(|k| k.as_str().unwrap().to_owned()).collect()
}

/// Runs the binary, killed after `seconds`: what would block on a FIFO fails instead of hanging.
fn run_within(seconds: u64, args: &[&str]) -> std::process::Output {
    use std::process::{Command, Stdio};
    let child = Command::new(env!("CARGO_BIN_EXE_qmk-api"))
        .args(args)
        .env_remove("QMK_HOME")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output().unwrap()));
    match receiver.recv_timeout(std::time::Duration::from_secs(seconds)) {
        Ok(output) => output,
        Err(_) => {
            unsafe { libc::kill(id as i32, libc::SIGKILL) };
            panic!("{args:?} still ran after {seconds} s");
        }
    }
}

/// A text as a diagnostic shows it: its control characters escaped.
fn escaped(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { format!("\\u{{{:x}}}", u32::from(c)) } else { c.to_string() }).collect()
}

/// A keyboard file of a gigabyte (sparse) is reported with its path, and only its
/// keyboard is left out: the build publishes the rest, replacing the output, and exits 1.
#[test]
fn a_gigabyte_keyboard_file_leaves_its_keyboard_out_and_the_build_publishes_the_rest() {
    let tree = tree_of_bundled_keyboards();
    expect_exit(&tree.build(), 0);
    assert!(published_keyboards(&tree).contains(&"cluebored/66/rev2".to_owned()));

    let huge = tree.root().join("keyboards/cluebored/66/rev2/config.h");
    std::fs::OpenOptions::new().write(true).open(&huge).unwrap().set_len(1 << 30).unwrap();
    let started = std::time::Instant::now();
    let stderr = expect_exit(&tree.build(), 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
    assert!(
        stderr.contains(&format!(
            "error: more than 64 MiB: too large for an input file: keyboard `cluebored/66/rev2` is left out\n  --> {}",
            huge.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("1 keyboard file could not be used: 1 keyboard left out of"), "{stderr}");
    assert!(!stderr.contains(&format!("{}:", tree.root().join("keyboards").display())), "not the folder: {stderr}");
    // The rest is published, and replaces the previous output.
    let published = published_keyboards(&tree);
    assert!(
        published.contains(&"clueboard/66/rev2".to_owned()) && published.contains(&"dz60".to_owned()),
        "{published:?}"
    );
    assert!(!published.contains(&"cluebored/66/rev2".to_owned()), "{published:?}");
    assert!(!tree.out().join("master/v1/keyboards/cluebored/66/rev2").exists());
    assert!(tree.out().join("master/v1/keyboards/clueboard/66/rev2/info.json").is_file());

    // The library says the same: the others load, the left-out one is named with its file.
    let keyboards = keyboard::load(&DataTree::Checkout(tree.root().to_owned())).unwrap();
    assert!(keyboards.resolve("clueboard/66/rev2").is_ok());
    let error = keyboards.resolve("cluebored/66/rev2").unwrap_err().to_string();
    assert_eq!(
        error,
        "keyboard `cluebored/66/rev2` is left out: its file keyboards/cluebored/66/rev2/config.h cannot be read"
    );
    assert_eq!(keyboards.problems().iter().count(), 1);
}

/// FIFOs, devices and links where keyboard files are expected: each is named and its
/// keyboard left out, without blocking on the FIFO; what a link out leads to is never published.
#[test]
fn keyboard_files_that_are_fifos_or_links_out_of_the_tree_are_named_and_never_published() {
    let tree = tree_of_bundled_keyboards();
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "SECRET_TOKEN=hunter2\n").unwrap();
    let keyboards = tree.root().join("keyboards");
    // A link out as the readme of a keyboard (QMK's API publishes readmes), a link to
    // the environment as its rules.mk, a FIFO as a config.h, a link to a folder out of the tree.
    std::fs::create_dir_all(keyboards.join("cluebored/66/rev2/keymaps")).unwrap();
    std::os::unix::fs::symlink(&secret, keyboards.join("cluebored/66/rev2/readme.md")).unwrap();
    std::os::unix::fs::symlink("/proc/self/environ", keyboards.join("dz60/rules.mk")).unwrap();
    let fifo = std::ffi::CString::new(keyboards.join("cluebored/66/config.h").display().to_string()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink(outside.path(), keyboards.join("outer")).unwrap();
    // A folder whose name is no keyboard name, which would become a file and a page.
    tree.copy_bundled("keyboards/dz60", "keyboards/evil\u{1b}]0;owned\u{7}\n");
    // A link inside the tree is followed, as QMK follows it.
    std::fs::write(keyboards.join("clueboard/readme_text.md"), "# Clueboard, linked\n").unwrap();
    std::os::unix::fs::symlink("../../readme_text.md", keyboards.join("clueboard/66/rev2/readme.md")).unwrap();

    let output = run_within(60, &["build", "--qmk-home", &tree.root_arg(), "--out", &tree.out_arg()]);
    let stderr = expect_exit(&output, 1);
    for (file, why, left_out) in [
        (
            "cluebored/66/rev2/readme.md",
            format!("a symbolic link out of the tree, to {}", secret.display()),
            "keyboard `cluebored/66/rev2` is left out",
        ),
        ("dz60/rules.mk", "a symbolic link out of the tree, to /proc/".to_owned(), "keyboard `dz60` is left out"),
        ("cluebored/66/config.h", "a FIFO, not a regular file".to_owned(), "keyboard `cluebored/66/rev2` is left out"),
        (
            "outer",
            format!("a symbolic link out of the tree, to {}", outside.path().display()),
            "no keyboard is built from it",
        ),
    ] {
        let wanted = format!("  --> {}", keyboards.join(file).display());
        let line = stderr.lines().position(|l| l == wanted).unwrap_or_else(|| panic!("{file} not named: {stderr}"));
        let message = stderr.lines().nth(line - 1).unwrap();
        assert!(
            message.starts_with("error: ") && message.contains(&why) && message.contains(left_out),
            "{file}: {message}"
        );
    }
    assert!(stderr.contains("5 keyboard files could not be used: 3 keyboards left out"), "{stderr}");
    let misnamed = format!("  --> {}", keyboards.join("evil\u{1b}]0;owned\u{7}\n/keyboard.json").display());
    let misnamed = stderr.lines().position(|l| l == escaped(&misnamed)).unwrap_or_else(|| panic!("{stderr}"));
    assert!(stderr.lines().nth(misnamed - 1).unwrap().contains("its folder's name is not a keyboard name"), "{stderr}");
    let published = published_keyboards(&tree);
    assert!(published.contains(&"clueboard/66/rev2".to_owned()), "{published:?}");
    assert!(!published.iter().any(|k| k == "cluebored/66/rev2" || k == "dz60"), "{published:?}");
    let readme = tree.out().join("master/v1/keyboards/clueboard/66/rev2/readme.md");
    assert_eq!(
        std::fs::read_to_string(readme).unwrap(),
        "# Clueboard, linked\n",
        "the link inside the tree is followed"
    );
    for (path, bytes) in snapshot(&tree.out()) {
        let text = String::from_utf8_lossy(&bytes);
        // The build's environment (`/proc/self/environ`) holds `SOURCE_DATE_EPOCH=`.
        assert!(!text.contains("hunter2") && !text.contains("SOURCE_DATE_EPOCH="), "{} holds a secret", path.display());
    }
}

/// `import` refuses a link out of the tree wherever it reads a file, naming the link
/// and where it leads, and writes nothing; a link inside the tree is followed.
#[test]
fn import_refuses_every_link_out_of_the_tree_naming_it_and_follows_links_inside() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "{\"SECRET_TOKEN\": \"hunter2\"}\n").unwrap();
    std::fs::create_dir_all(outside.path().join("folder/mine")).unwrap();
    std::fs::write(outside.path().join("folder/mine/keymap.json"), "{\"keyboard\": \"hunter2\"}").unwrap();
    let base = || {
        let tree = Fixture::new();
        tree.keycodes("keycodes_0.0.1.hjson", r#"{"keycodes": {"0x0004": {"group": "basic", "key": "KC_A"}}}"#)
            .file("data/mappings/keyboard_aliases.hjson", "{}")
            .file(
                "keyboards/acme/pad/keyboard.json",
                r#"{"keyboard_name": "Pad", "layouts": {"LAYOUT": {"layout": [{"matrix": [0, 0], "x": 0, "y": 0}]}}}"#,
            )
            .file("keyboards/acme/shared_rules.mk", "BOOTMAGIC_ENABLE = yes\n")
            .file("quantum/modifiers.h", "#define MOD_LCTL 0x01\n");
        tree
    };
    let import = |tree: &Fixture| {
        let out = tree.root().join("out");
        let output = run_within(
            60,
            &["import", "--qmk-home", &tree.root_arg(), "--keyboard", "acme/pad", "--out", &out.display().to_string()],
        );
        (output, out)
    };
    // The tree imports, a link inside it followed.
    let tree = base();
    std::os::unix::fs::symlink("../shared_rules.mk", tree.root().join("keyboards/acme/pad/rules.mk")).unwrap();
    let (output, out) = import(&tree);
    expect_exit(&output, 0);
    assert_eq!(std::fs::read_to_string(out.join("keyboards/acme/pad/rules.mk")).unwrap(), "BOOTMAGIC_ENABLE = yes\n");

    let environ = std::path::PathBuf::from("/proc/self/environ");
    for (link, target) in [
        ("keyboards/acme/pad/rules.mk", &secret),
        ("keyboards/acme/pad/rules.mk", &environ),
        ("keyboards/acme/pad/config.h", &secret),
        ("keyboards/acme/info.json", &secret),
        ("keyboards/acme/pad/pad.h", &secret),
        ("keyboards/acme/pad/pad.c", &secret),
        ("keyboards/acme/pad/keymaps/mine/keymap.json", &secret),
        ("keyboards/acme/pad/keymaps", &outside.path().join("folder")),
        ("data/constants/keycodes/keycodes_0.0.2.hjson", &secret),
        ("data/mappings/info_config.hjson", &secret),
        ("data/schemas/keyboard.jsonschema", &secret),
        ("quantum/keycode.h", &secret),
    ] {
        let tree = base();
        let path = tree.root().join(link);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, &path).unwrap();
        let (output, out) = import(&tree);
        let stderr = stderr(&output);
        assert_ne!(output.status.code(), Some(0), "{link} → {}: {stderr}", target.display());
        assert!(stderr.contains(&path.display().to_string()), "{link}: the link is named: {stderr}");
        assert!(stderr.contains("a symbolic link out of the tree, to"), "{link}: {stderr}");
        assert!(!out.exists(), "{link}: nothing written");
    }
    // A FIFO where a file is expected is refused, not waited on.
    let tree = base();
    let fifo = std::ffi::CString::new(tree.root().join("keyboards/acme/pad/rules.mk").display().to_string()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let (output, out) = import(&tree);
    assert!(expect_exit(&output, 2).contains("rules.mk: a FIFO, not a regular file"), "{}", stderr(&output));
    assert!(!out.exists());
}
