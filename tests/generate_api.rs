//! Every file `qmk generate-api` writes, in each channel: over QMK's whole tree
//! (compared with QMK's own info_json and the tree's files) and over the bundled data.

mod common;

use std::path::Path;

use common::*;
use qmk_api::publish::pyjson;
use serde_json::Value;

const CHANNELS: [&str; 2] = ["master", "develop"];

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Reads a JSON or hjson file of the tree as QMK's API republishes it.
fn tree_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::to_value(qmk_api::spec::hjson::parse(&text).unwrap()).unwrap()
}

#[test]
fn the_whole_tree_is_published_as_qmk_does() {
    let Some(shared) = shared() else { return };
    let qmk = shared.join("qmk");
    let fixture = Fixture::new();
    let out = fixture.out();
    let qmk_arg = qmk.display().to_string();
    expect_exit(&run(&["build", "--json-only", "--qmk-home", &qmk_arg, "--out", &fixture.out_arg()]), 0);
    let text = std::fs::read_to_string(shared.join("expected/info_json.json")).unwrap();
    let expected: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    let stamp = "2026-08-10 00:00:00 GMT";

    for channel in CHANNELS {
        let v1 = out.join(channel).join("v1");
        let all = read_json(&v1.join("keyboards.json"));
        let all = all["keyboards"].as_object().unwrap();
        assert_eq!(all.len(), 3752, "keyboards.json holds every keyboard");
        let (mut keymaps_listed, mut keymap_files) = (0, std::collections::BTreeSet::new());
        for (name, theirs) in &expected {
            let bytes = std::fs::read(v1.join("keyboards").join(name).join("info.json")).unwrap();
            let ours: Value = serde_json::from_slice(&bytes).unwrap();
            let keymaps = &ours["keyboards"][name]["keymaps"];
            // QMK's info_json before its API adds the JSON keymaps, then with ours added.
            let mut theirs = theirs.clone();
            theirs["keymaps"] = keymaps.clone();
            let file = serde_json::json!({"last_updated": stamp, "keyboards": {name: &theirs}});
            assert!(bytes == pyjson::to_compact(&file), "{name}: info.json is not what QMK writes");
            assert_eq!(all[name], theirs, "{name} in keyboards.json");
            for (keymap, entry) in keymaps.as_object().unwrap() {
                keymaps_listed += 1;
                let path = entry["path"].as_str().unwrap();
                assert!(path.ends_with(&format!("/keymaps/{keymap}/keymap.json")), "{path}");
                assert!(
                    !qmk.join(path).with_file_name("keymap.c").exists(),
                    "{path} has a keymap.c: not a JSON keymap"
                );
                assert!(name.starts_with(path.trim_start_matches("keyboards/").split("/keymaps/").next().unwrap()));
                assert_eq!(entry["url"], format!("https://raw.githubusercontent.com/qmk/qmk_firmware/master/{path}"));
                assert_eq!(read_json(&v1.join(path)), tree_json(&qmk.join(path)), "{path}");
                keymap_files.insert(path.to_owned());
            }
            let mut folder = qmk.join("keyboards").join(name);
            let readme = loop {
                if folder.join("readme.md").exists() {
                    break Some(folder.join("readme.md"));
                }
                if folder == qmk.join("keyboards") {
                    break None;
                }
                folder.pop();
            };
            let published = std::fs::read(v1.join("keyboards").join(name).join("readme.md")).ok();
            assert_eq!(published, readme.map(|r| std::fs::read(r).unwrap()), "{name}: readme.md");
        }
        // Every keymap folder with a keymap.json and no keymap.c is someone's JSON keymap.
        let json_only = walkdir::WalkDir::new(qmk.join("keyboards"))
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_name() == "keymap.json" && !e.path().with_file_name("keymap.c").exists())
            .count();
        assert_eq!(keymap_files.len(), json_only, "every JSON keymap is published once");
        assert!(keymaps_listed >= json_only);

        let usb = read_json(&v1.join("usb.json"));
        let mut indexed = 0;
        for (vid, products) in usb["usb"].as_object().unwrap() {
            for (pid, boards) in products.as_object().unwrap() {
                for (name, entry) in boards.as_object().unwrap() {
                    assert_eq!(
                        (&entry["vid"], &entry["pid"]),
                        (&Value::from(vid.as_str()), &Value::from(pid.as_str()))
                    );
                    assert_eq!(entry, &expected[name]["usb"]);
                    indexed += 1;
                }
            }
        }
        let with_ids = expected.values().filter(|i| i["usb"].get("vid").is_some() && i["usb"].get("pid").is_some());
        assert_eq!(indexed, with_ids.count(), "usb.json indexes every keyboard with a VID and PID");

        let metadata = read_json(&v1.join("keyboard_metadata.json"));
        let keys: Vec<&str> = metadata.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["last_updated", "keyboards", "keyboard_aliases", "usb"]);
        assert_eq!(metadata["keyboards"], read_json(&v1.join("keyboard_list.json"))["keyboards"]);
        assert_eq!(metadata["usb"], usb["usb"]);
        let aliases = tree_json(&qmk.join("data/mappings/keyboard_aliases.hjson"));
        assert_eq!(metadata["keyboard_aliases"], aliases);
        assert_eq!(read_json(&v1.join("keyboard_aliases.json"))["keyboard_aliases"], aliases);

        // The data/ copy: hjson as compact JSON, schemas with Python's separators, no spec files.
        let info_config = std::fs::read(v1.join("mappings/info_config.json")).unwrap();
        assert_eq!(info_config, pyjson::to_compact(&tree_json(&qmk.join("data/mappings/info_config.hjson"))));
        let schema = std::fs::read(v1.join("schemas/keyboard.jsonschema")).unwrap();
        assert_eq!(schema, pyjson::to_line(&tree_json(&qmk.join("data/schemas/keyboard.jsonschema"))));
        assert!(v1.join("constants/module_hooks/1.1.2.json").exists());
        assert!(!v1.join("constants/keycodes").exists());
        let readme = std::fs::read(out.join(channel).join("readme.md")).unwrap();
        assert_eq!(readme, std::fs::read(qmk.join("data/templates/api/readme.md")).unwrap());
    }
}

#[test]
fn the_bundled_keyboards_publish_every_file() {
    let fixture = Fixture::new();
    expect_exit(&run_in(fixture.root(), &["build", "--json-only", "--out", &fixture.out_arg()]), 0);
    for channel in CHANNELS {
        let v1 = fixture.out().join(channel).join("v1");
        let all = read_json(&v1.join("keyboards.json"));
        assert_eq!(all["keyboards"].as_object().unwrap().len(), qmk_api::import::DEFAULT_KEYBOARDS.len());
        let ferris = &all["keyboards"]["ferris/0_1"];
        assert_eq!(ferris["keymaps"]["default"]["path"], "keyboards/ferris/keymaps/default/keymap.json");
        assert_eq!(read_json(&v1.join("keyboards/ferris/keymaps/default/keymap.json"))["keyboard"], "ferris/0_1");
        let clueboard = &all["keyboards"]["clueboard/66/rev2"];
        assert_eq!(
            (&clueboard["processor"], &clueboard["bootloader"]),
            (&Value::from("atmega32u4"), &Value::from("atmel-dfu"))
        );
        assert_eq!(clueboard["parse_errors"], serde_json::json!([]), "every claimed community layout is bundled");
        assert_eq!(clueboard["community_layouts"], serde_json::json!(["66_ansi", "66_iso"]));
        // Readmes are QMK's prose: the bundled data has none, and the API's own is ours.
        assert!(!v1.join("keyboards/clueboard/66/rev2/readme.md").exists());
        let readme = std::fs::read_to_string(fixture.out().join(channel).join("readme.md")).unwrap();
        assert!(readme.contains("`qmk-api build`") && readme.contains("--qmk-home"), "{readme}");
        let usb = read_json(&v1.join("usb.json"));
        assert_eq!(usb["usb"]["0xC1ED"]["0x2320"]["clueboard/66/rev2"]["vid"], "0xC1ED");
        assert!(read_json(&v1.join("mappings/info_rules.json"))["MCU"].is_object());
        assert!(v1.join("schemas/keyboard.jsonschema").exists());
        for own in ["keyboards/clueboard/66/rev2/keyboard.json", "keymap/retired.json", "constants/constants.lock"] {
            assert!(!v1.join(own).exists(), "{own} is the project's, not QMK's data");
        }
    }
}
