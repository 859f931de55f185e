//! The constants publisher end to end: real QMK data, fixture trees, the lock and bad input.

mod common;

use common::*;
use serde_json::Value;

const BASE: &str = r#"{
    // a comment, as QMK writes them
    ranges: {
        "0x0000/0x00FF": {define: "QK_BASIC"},
        "0x7C00/0x01FF": {define: "QK_QUANTUM"},
    }
    keycodes: {
        "0x0004": {group: "basic", key: "KC_A", label: "A"},
        "0x0005": {group: "basic", key: "KC_B", label: "B", aliases: ["KC_BEE"]},
    }
}"#;

#[test]
fn real_versions_are_byte_identical_to_qmk_in_both_channels() {
    let Some(shared) = shared() else { return };
    let fixture = Fixture::new();
    let qmk = shared.join("qmk").display().to_string();
    let output = run(&["build", "--qmk-home", &qmk, "--out", &fixture.out_arg()]);
    let stderr = expect_exit(&output, 0);
    assert!(stderr.contains("every version counts as locked-in"), "{stderr}");
    let mut compared = 0;
    for folder in ["expected/v1/constants", "expected/v1-languages/constants"] {
        for expected in std::fs::read_dir(shared.join(folder)).unwrap() {
            let expected = expected.unwrap().path();
            let name = expected.file_name().unwrap().to_str().unwrap();
            for channel in ["master", "develop"] {
                let published = std::fs::read(fixture.out().join(channel).join("v1/constants").join(name)).unwrap();
                assert!(published == std::fs::read(&expected).unwrap(), "{channel}/{name} differs from QMK's");
                compared += 1;
            }
        }
    }
    // 8 keycodes versions and the 40 languages QMK's listing finds, in two channels.
    assert_eq!(compared, 2 * (8 + 40));
    // The multi-word languages QMK's listing misses are published all the same.
    let published: Vec<String> = std::fs::read_dir(fixture.out().join("master/v1/constants"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let listed_by_qmk = |name: &str| shared.join("expected/v1-languages/constants").join(name).exists();
    let languages = published.iter().filter(|n| n.starts_with("keycodes_") && !n.starts_with("keycodes_0"));
    let missed_by_qmk: Vec<&String> = languages.filter(|n| !listed_by_qmk(n)).collect();
    assert_eq!(missed_by_qmk.len(), 32, "{missed_by_qmk:?}");
    assert!(missed_by_qmk.iter().any(|n| *n == "keycodes_brazilian_abnt2_0.0.1.json"));
    assert!(missed_by_qmk.iter().any(|n| *n == "keycodes_us_international_0.0.1.json"));
}

#[test]
fn metadata_has_qmks_shape_on_one_line() {
    let Some(shared) = shared() else { return };
    let fixture = Fixture::new();
    let qmk = shared.join("qmk").display().to_string();
    expect_exit(&run(&["build", "--qmk-home", &qmk, "--out", &fixture.out_arg()]), 0);
    let text = fixture.published("master", "constants_metadata.json");
    assert!(!text.contains('\n'));
    assert!(text.starts_with(
        r#"{"last_updated": "2026-08-10 00:00:00 GMT", "constants": {"keycodes": ["0.0.1", "0.0.2", "0.0.3", "0.0.4", "0.0.5", "0.0.6", "0.0.7", "0.0.8"], "keycodes_belgian": ["0.0.1"], "#
    ));
    let metadata: Value = serde_json::from_str(&text).unwrap();
    let constants = metadata["constants"].as_object().unwrap();
    assert_eq!(metadata.as_object().unwrap().len(), 2);
    assert_eq!(constants.len(), 73, "keycodes and its 72 language extras");
    for (subsystem, versions) in constants {
        for version in versions.as_array().unwrap() {
            let file = format!("constants/{subsystem}_{}.json", version.as_str().unwrap());
            assert!(fixture.out().join("master/v1").join(&file).is_file(), "{file} is listed but not published");
        }
    }
}

/// The constants part of an output tree: `<channel>/v1/constants_metadata.json` and the files
/// right in `<channel>/v1/constants/` (its folders are the copy of QMK's other constants data).
fn constants_files(out: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    snapshot(out)
        .into_iter()
        .filter(|(path, _)| {
            path.iter().nth(1).is_some_and(|p| p.to_string_lossy() == "v1")
                && path.iter().nth(2).is_some_and(|p| p.to_string_lossy().starts_with("constants"))
                && path.iter().count() <= 4
        })
        .collect()
}

#[test]
fn builds_are_reproducible_and_the_bundled_data_publishes_the_same_bytes() {
    let Some(shared) = shared() else { return };
    let first = Fixture::new();
    let second = Fixture::new();
    let bundled = Fixture::new();
    let qmk = shared.join("qmk").display().to_string();
    expect_exit(&run(&["build", "--qmk-home", &qmk, "--out", &first.out_arg()]), 0);
    expect_exit(&run(&["build", "--qmk-home", &qmk, "--out", &second.out_arg()]), 0);
    expect_exit(&run_in(bundled.root(), &["build", "--out", &bundled.out_arg()]), 0);
    let reference = snapshot(&first.out());
    assert!(reference == snapshot(&second.out()), "two builds of the same input differ");
    let constants = constants_files(&first.out());
    assert_eq!(constants.len(), 162, "80 versions and the metadata, per channel");
    assert!(constants == constants_files(&bundled.out()), "the bundled data publishes different constants");
}

#[test]
fn the_bundled_data_is_what_import_writes_from_the_shared_tree() {
    let Some(shared) = shared() else { return };
    let (_fixture, data) = import_shared(&shared);
    let bundled = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/constants");
    let imported: Vec<_> = snapshot(&data.join("constants"))
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "hjson"))
        .collect();
    let committed: Vec<_> =
        snapshot(&bundled).into_iter().filter(|(p, _)| p.extension().is_some_and(|e| e == "hjson")).collect();
    assert_eq!(imported.len(), 106);
    assert!(imported == committed, "data/ is stale: run `qmk-api import --qmk-home ../shared/qmk`");
    let send_string = "keymap/send_string_keycodes.json";
    let bundled = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(send_string);
    assert_eq!(
        std::fs::read(data.join(send_string)).unwrap(),
        std::fs::read(bundled).unwrap(),
        "{send_string} is stale"
    );
}

#[test]
fn versions_merge_in_semver_order() {
    let fixture = Fixture::new();
    fixture
        .keycodes("keycodes_0.0.1.hjson", BASE)
        .keycodes("keycodes_0.0.9.hjson", r#"{keycodes: {"0x0004": {label: "nine"}}}"#)
        .keycodes("keycodes_0.0.10.hjson", r#"{keycodes: {"0x0004": {label: "ten"}}}"#);
    expect_exit(&fixture.build(), 0);
    let metadata = fixture.published_json("develop", "constants_metadata.json");
    assert_eq!(metadata["constants"]["keycodes"], serde_json::json!(["0.0.1", "0.0.9", "0.0.10"]));
    let v9 = fixture.published_json("develop", "constants/keycodes_0.0.9.json");
    let v10 = fixture.published_json("develop", "constants/keycodes_0.0.10.json");
    assert_eq!(v9["keycodes"]["0x0004"]["label"], "nine");
    assert_eq!(v10["keycodes"]["0x0004"]["label"], "ten");
    assert_eq!(v10["version"], "0.0.10");
}

#[test]
fn merge_directives_apply_across_versions_and_fragments() {
    let fixture = Fixture::new();
    fixture
        .keycodes("keycodes_0.0.1.hjson", BASE)
        .keycodes(
            "keycodes_0.0.1_extra.hjson",
            r#"{keycodes: {"0x7C00": {group: "quantum", key: "QK_BOOT", aliases: ["QK_RBT"]}}}"#,
        )
        .keycodes(
            "keycodes_0.0.2.hjson",
            r#"{
                ranges: {"0x7C00/0x01FF": "!delete!", "0x7C00/0x00FF": {define: "QK_SMALL"}}
                keycodes: {
                    "0x0004": {"!reset!": true, key: "KC_AA"},
                    "0x0005": {aliases: ["KC_BB"]},
                }
            }"#,
        )
        .keycodes("keycodes_0.0.2_extra.hjson", r#"{keycodes: {"0x7C00": {aliases: ["!reset!", "QK_BOOTLOADER"]}}}"#)
        .keycodes("keycodes_0.0.3.hjson", r#"{keycodes: {"0x0005": {aliases: ["!reset!", "KC_CC"]}}}"#)
        .keycodes("keycodes_0.0.3_extra.hjson", r#"{keycodes: {"0x7C00": {aliases: ["QK_RESET"]}}}"#);
    expect_exit(&fixture.build(), 0);
    let v1 = fixture.published_json("develop", "constants/keycodes_0.0.1.json");
    let v2 = fixture.published_json("develop", "constants/keycodes_0.0.2.json");
    let v3 = fixture.published_json("develop", "constants/keycodes_0.0.3.json");
    // Fragments merge into the base.
    assert_eq!(v1["keycodes"]["0x7C00"]["key"], "QK_BOOT");
    // `!delete!` removes a range; a new one takes its place.
    let ranges: Vec<&String> = v2["ranges"].as_object().unwrap().keys().collect();
    assert_eq!(ranges, ["0x0000/0x00FF", "0x7C00/0x00FF"]);
    // An object holding `!reset!` replaces the old one instead of merging into it.
    assert_eq!(v2["keycodes"]["0x0004"], serde_json::json!({"key": "KC_AA"}));
    // Arrays append across versions of one fragment type...
    assert_eq!(v2["keycodes"]["0x0005"]["aliases"], serde_json::json!(["KC_BEE", "KC_BB"]));
    // ...unless their first item is `!reset!`.
    assert_eq!(v3["keycodes"]["0x0005"]["aliases"], serde_json::json!(["KC_CC"]));
    assert_eq!(v2["keycodes"]["0x7C00"]["aliases"], serde_json::json!(["QK_BOOTLOADER"]));
    assert_eq!(v3["keycodes"]["0x7C00"]["aliases"], serde_json::json!(["QK_BOOTLOADER", "QK_RESET"]));
    // Keys come out sorted, with the version last.
    let text = fixture.published("develop", "constants/keycodes_0.0.3.json");
    assert!(text.find("\"0x0004\"").unwrap() < text.find("\"0x7C00\"").unwrap());
    assert!(text.ends_with("    \"version\": \"0.0.3\"\n}"));
}

#[test]
fn lock_pins_master_and_catches_changes() {
    let fixture = Fixture::new();
    fixture
        .keycodes("keycodes_0.0.1.hjson", BASE)
        .keycodes("keycodes_0.0.2.hjson", r#"{keycodes: {"0x7C00": {group: "quantum", key: "QK_BOOT"}}}"#);
    let root = fixture.root_arg();
    let locked = run(&["lock", "--qmk-home", &root, "--up-to", "0.0.1"]);
    assert!(expect_exit(&locked, 0).contains("locked 1 versions"));
    let lock: Value =
        serde_json::from_slice(&std::fs::read(fixture.root().join("data/constants/constants.lock")).unwrap()).unwrap();
    assert_eq!(lock["subsystems"]["keycodes"]["0.0.1"]["sha256"].as_str().unwrap().len(), 64);

    let built = fixture.build();
    assert!(!expect_exit(&built, 0).contains("locked-in"), "a tree with a lock needs no note");
    let master = fixture.published_json("master", "constants_metadata.json");
    let develop = fixture.published_json("develop", "constants_metadata.json");
    assert_eq!(master["constants"]["keycodes"], serde_json::json!(["0.0.1"]));
    assert_eq!(develop["constants"]["keycodes"], serde_json::json!(["0.0.1", "0.0.2"]));
    assert!(!fixture.out().join("master/v1/constants/keycodes_0.0.2.json").exists());
    let before = snapshot(&fixture.out());

    // Changing a locked version breaks the build and the check, naming what changed.
    fixture.keycodes("keycodes_0.0.1.hjson", &BASE.replace("label: \"A\"", "label: \"a\""));
    for args in [vec!["check", "--qmk-home", &root], vec!["build", "--qmk-home", &root, "--out", &fixture.out_arg()]] {
        let stderr = expect_exit(&run(&args), 1);
        assert!(stderr.contains("keycodes 0.0.1 is locked-in, but its content changed"), "{stderr}");
        assert!(stderr.contains("keycodes/0x0004 (KC_A) changed"), "{stderr}");
    }
    assert!(snapshot(&fixture.out()) == before, "a failed build changed the previous output");

    // Locking again refuses the change unless forced.
    expect_exit(&run(&["lock", "--qmk-home", &root]), 1);
    assert!(expect_exit(&run(&["lock", "--qmk-home", &root, "--force"]), 0).contains("locked 2 versions"));
    expect_exit(&run(&["check", "--qmk-home", &root]), 0);
}

#[test]
fn lock_rejects_unknown_subsystems_versions_and_the_bundled_data() {
    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", BASE);
    let root = fixture.root_arg();
    assert!(
        expect_exit(&run(&["lock", "--qmk-home", &root, "--subsystem", "nope"]), 1).contains("no subsystem `nope`")
    );
    assert!(expect_exit(&run(&["lock", "--qmk-home", &root, "--up-to", "0.0.7"]), 1).contains("no version 0.0.7"));
    assert!(expect_exit(&run_in(fixture.root(), &["lock"]), 2).contains("read-only"));
    assert!(!fixture.root().join("data/constants/constants.lock").exists());
}

/// Builds a tree holding `text` as its only version and returns stderr, expecting a data error.
#[test]
fn a_folder_of_other_constants_is_skipped_with_a_warning_unless_named_by_version_as_qmks_own() {
    // A qmk_firmware checkout keeps module hooks beside the keycodes, named by version only.
    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", BASE).file("data/constants/module_hooks/1.0.0.hjson", "{}");
    let stderr = expect_exit(&fixture.build(), 0);
    assert!(!stderr.contains("module_hooks"), "{stderr}");
    // Files named otherwise may be a subsystem's, misnamed: a warning names the folder.
    fixture.file("data/constants/macros/macro_0.0.1.hjson", "{}");
    let stderr = expect_exit(&fixture.build(), 0);
    assert!(stderr.contains("warning: no macros_<version>.hjson file: not a constants subsystem, skipped"), "{stderr}");
    assert!(stderr.contains("data/constants/macros") && !stderr.contains("module_hooks"), "{stderr}");
    let metadata = fixture.published_json("develop", "constants_metadata.json");
    assert_eq!(metadata["constants"].as_object().unwrap().keys().collect::<Vec<_>>(), ["keycodes"]);
    // A misnamed file among a subsystem's own stays an error.
    fixture.keycodes("keycodes-0.0.2.hjson", "{}");
    assert!(expect_exit(&fixture.build(), 1).contains("does not start with `keycodes_`"));
}

fn rejected(text: &str) -> String {
    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", text);
    let stderr = expect_exit(&fixture.build(), 1);
    assert!(!fixture.out().exists(), "nothing is published from bad data");
    stderr
}

#[test]
fn broken_hjson_names_file_and_line() {
    let stderr = rejected("{\n  ranges: {\n    \"0x0000/0x00FF\": {define: \"QK_BASIC\"}\n  \n");
    assert!(stderr.contains("error: the file ends inside the object opened here: a `}` is missing"), "{stderr}");
    assert!(stderr.contains("keycodes_0.0.1.hjson:2:11"), "at `ranges: {{`: {stderr}");
    let stderr = rejected("{\n  ranges: {\n    \"0x0000/0x00FF\" {define: \"QK_BASIC\"}\n  }\n}\n");
    assert!(stderr.contains("error: invalid hjson: expected `:` after a key"), "{stderr}");
    assert!(stderr.contains("keycodes_0.0.1.hjson:3:"), "{stderr}");
}

#[test]
fn duplicate_keys_are_rejected() {
    let stderr =
        rejected("{\n  keycodes: {\n    \"0x0004\": {key: \"KC_A\"},\n    \"0x0004\": {key: \"KC_B\"}\n  }\n}");
    assert!(stderr.contains("duplicate key \"0x0004\""), "{stderr}");
    assert!(stderr.contains("keycodes_0.0.1.hjson:4"), "{stderr}");
}

#[test]
fn bad_range_keys_are_rejected() {
    let stderr = rejected(&BASE.replace("0x7C00/0x01FF", "0x7C00-0x01FF"));
    assert!(stderr.contains("range key `0x7C00-0x01FF` must be `0xSTART/0xSIZE`"), "{stderr}");
    assert!(stderr.contains("keycodes_0.0.1.hjson:5"), "{stderr}");
    assert!(stderr.contains("key: ranges/0x7C00-0x01FF"), "{stderr}");
}

#[test]
fn duplicate_aliases_are_rejected() {
    let stderr = rejected(&BASE.replace("[\"KC_BEE\"]", "[\"KC_A\"]"));
    assert!(stderr.contains("keycode name or alias `KC_A` is used more than once: by 0x0004, 0x0005"), "{stderr}");
    assert!(stderr.contains("keycodes_0.0.1.hjson:9"), "{stderr}");
}

#[test]
fn partly_overlapping_ranges_are_rejected_and_nested_ones_accepted() {
    let stderr = rejected(&BASE.replace("\"0x7C00/0x01FF\"", "\"0x00F0/0x01FF\""));
    assert!(stderr.contains("partly overlaps range QK_BASIC"), "{stderr}");
    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", &BASE.replace("\"0x7C00/0x01FF\"", "\"0x0010/0x000F\""));
    expect_exit(&fixture.build(), 0);
}

#[test]
fn unknown_directives_and_bad_version_names_are_rejected() {
    let stderr = rejected(&BASE.replace("label: \"A\"", "label: \"!remove!\""));
    assert!(stderr.contains("unknown directive `!remove!`"), "{stderr}");
    assert!(stderr.contains("key: keycodes/0x0004/label"), "{stderr}");

    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", BASE).keycodes("keycodes_0.1.hjson", "{}");
    let stderr = expect_exit(&fixture.build(), 1);
    assert!(stderr.contains("unparseable version `0.1` in file name `keycodes_0.1.hjson`"), "{stderr}");
}

#[test]
fn schema_violations_are_rejected() {
    let stderr = rejected(&BASE.replace("key: \"KC_A\"", "key: \"kc_a\"").replace("\"0x0005\"", "\"0x05\""));
    assert!(stderr.contains("`key` `kc_a` must be an upper-case C identifier"), "{stderr}");
    assert!(stderr.contains("keycode key `0x05` must be `0x` and four upper-case hex digits"), "{stderr}");
}

#[test]
fn keycodes_outside_every_range_warn_but_publish() {
    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", &BASE.replace("\"0x0005\"", "\"0x5005\""));
    let stderr = expect_exit(&fixture.build(), 0);
    assert!(stderr.contains("warning: keycode KC_B (0x5005) lies outside every range"), "{stderr}");
    let quiet = run(&["build", "--quiet", "--qmk-home", &fixture.root_arg(), "--out", &fixture.out_arg()]);
    assert_eq!(expect_exit(&quiet, 0), "");
}

#[test]
fn the_summary_and_verbose_output() {
    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", BASE);
    let stderr = expect_exit(&fixture.build(), 0);
    let summary = stderr.lines().last().unwrap();
    // The root and the guide's pages, and each channel's home, version, changelog, keyboards and search.
    let docs = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/docs")).unwrap();
    let guide = docs.filter(|entry| entry.as_ref().unwrap().path().extension().is_some_and(|e| e == "md")).count();
    let pages = 1 + guide + 2 * 5;
    assert!(
        summary.contains(&format!("master 1 version, develop 1 version, 0 keyboards, {pages} pages,")),
        "{summary}"
    );
    assert!(summary.ends_with(" ms"), "{summary}");
    let verbose = run(&["build", "-v", "--qmk-home", &fixture.root_arg(), "--out", &fixture.out_arg()]);
    assert!(expect_exit(&verbose, 0).contains("reading "));
}

#[test]
fn usage_and_io_errors_exit_2() {
    for command in ["build", "check", "lock", "import"] {
        let help = run(&[command, "--help"]);
        assert_eq!(help.status.code(), Some(0));
        assert!(stdout(&help).contains("--qmk-home"), "{command} --help lacks --qmk-home");
    }
    expect_exit(&run(&["build", "--no-such-flag"]), 2);
    assert!(expect_exit(&run(&["import"]), 2).contains("--qmk-home"));
    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", BASE).file("public", "a file, not a directory");
    assert!(expect_exit(&fixture.build(), 2).contains("cannot write"));
    let missing = run(&["check", "--qmk-home", "/nonexistent/qmk"]);
    assert!(expect_exit(&missing, 1).contains("no constants under /nonexistent/qmk/data/constants"));
}

#[test]
fn qmk_home_comes_from_the_environment_when_not_given() {
    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", &BASE.replace("KC_BEE", "KC_FROM_ENV"));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_qmk-api"))
        .args(["build", "--out", &fixture.out_arg()])
        .env("QMK_HOME", fixture.root())
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .output()
        .unwrap();
    expect_exit(&output, 0);
    assert!(fixture.published("develop", "constants/keycodes_0.0.1.json").contains("KC_FROM_ENV"));
}

#[test]
fn a_directory_qmk_api_did_not_write_is_never_replaced() {
    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", BASE).file("public/thesis.tex", "years of work");
    let stderr = expect_exit(&fixture.build(), 2);
    assert!(stderr.contains("was not written by qmk-api"), "{stderr}");
    assert_eq!(std::fs::read_to_string(fixture.out().join("thesis.tex")).unwrap(), "years of work");
}

#[test]
fn a_malformed_lock_file_is_a_data_error() {
    let fixture = Fixture::new();
    fixture
        .keycodes("keycodes_0.0.1.hjson", BASE)
        .file("data/constants/constants.lock", "{\"format\": 1, \"subsystems\": [");
    let stderr = expect_exit(&fixture.build(), 1);
    assert!(stderr.contains("constants.lock is not a valid lock file"), "{stderr}");
    fixture.file("data/constants/constants.lock", "{\"format\": 9, \"subsystems\": {}}");
    assert!(expect_exit(&fixture.build(), 1).contains("format 9 is not the supported format 1"));
}

#[test]
fn absurdly_deep_nesting_is_refused_without_crashing() {
    let depth = 100_000;
    let stderr = rejected(&format!("{{a: {}{}}}", "[".repeat(depth), "]".repeat(depth)));
    assert!(stderr.contains("nesting deeper than 128 levels"), "{stderr}");
}

#[test]
fn non_utf8_and_non_object_files_are_reported() {
    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", "[1, 2]");
    std::fs::write(fixture.root().join("data/constants/keycodes/keycodes_0.0.2.hjson"), b"{a: \"\xff\"}").unwrap();
    let stderr = expect_exit(&fixture.build(), 1);
    assert!(stderr.contains("a spec file must hold an object"), "{stderr}");
    assert!(stderr.contains("keycodes_0.0.2.hjson") && stderr.contains("not UTF-8"), "{stderr}");
}

#[test]
fn a_spec_file_may_start_with_a_byte_order_mark() {
    let fixture = Fixture::new();
    fixture.keycodes("keycodes_0.0.1.hjson", &format!("\u{feff}{BASE}"));
    expect_exit(&fixture.build(), 0);
    assert!(fixture.published("master", "constants/keycodes_0.0.1.json").contains("\"KC_BEE\""));
}

#[test]
fn every_spec_diagnostic_names_file_and_line() {
    let fixture = Fixture::new();
    let not_utf8 = b"{\n  ranges: {}\n  keycodes: {\"0x0004\": {key: \"KC_\xff\"}}\n}".to_vec();
    fixture.keycodes("keycodes_0.0.1.hjson", BASE).keycodes("keycodes_0.0.2.hjson", "\n\n[1, 2]\n");
    std::fs::write(fixture.root().join("data/constants/keycodes/keycodes_0.0.3.hjson"), not_utf8).unwrap();
    fixture.keycodes("keycodes_0.0.4_extra.hjson", "{}").keycodes("keycodes_0.0.x.hjson", "{}");
    let stderr = expect_exit(&fixture.build(), 1);
    for expected in [
        "error: a spec file must hold an object, not an array\n  --> ",
        "keycodes_0.0.2.hjson:3",
        "keycodes_0.0.3.hjson:3",
        "keycodes_0.0.4_extra.hjson:1",
        "keycodes_0.0.x.hjson:1",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    assert!(stderr.contains("not UTF-8") && !stderr.contains("index"), "a line, not a byte index: {stderr}");
    for diagnostic in stderr.split("\nerror: ").filter(|d| d.contains("  --> ")) {
        let place = diagnostic.split("  --> ").nth(1).unwrap().lines().next().unwrap();
        assert!(place.rsplit(':').any(|part| part.parse::<usize>().is_ok()), "no line in {diagnostic:?}");
    }
}

/// A `build` stopped by SIGTERM removes its unfinished output before it ends; one
/// killed outright leaves it, and the next build into the same place removes it.
#[test]
fn a_stopped_build_leaves_no_staging_folder_behind() {
    let Some(shared) = shared() else { return };
    let qmk = shared.join("qmk").display().to_string();
    let fixture = Fixture::new();
    let out = fixture.root().join("public");
    let staging_folders = || -> Vec<std::path::PathBuf> {
        let entries = std::fs::read_dir(fixture.root()).unwrap().flatten();
        entries.map(|e| e.path()).filter(|p| p.to_string_lossy().contains(".public.staging-")).collect()
    };
    // QMK's whole tree: a build of several seconds, stopped once it writes.
    let stopped = |signal: i32| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_qmk-api"))
            .args(["--qmk-home", &qmk, "-q", "build", "--out", &out.display().to_string()])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        while staging_folders().is_empty() {
            assert!(child.try_wait().unwrap().is_none(), "the build ended before it was stopped");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        // SAFETY: kill has no preconditions; the pid is our child's, not yet waited for.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        child.wait().unwrap()
    };
    let status = stopped(libc::SIGTERM);
    assert_eq!(status.code(), Some(143));
    assert!(staging_folders().is_empty() && !out.exists(), "{:?}", staging_folders());
    let status = stopped(libc::SIGKILL);
    assert!(status.code().is_none());
    assert_eq!(staging_folders().len(), 1, "a killed build cannot clean up");
    expect_exit(&run(&["build", "--json-only", "--out", &out.display().to_string()]), 0);
    assert!(staging_folders().is_empty() && out.join(".qmk-api-output").exists(), "{:?}", staging_folders());
}
