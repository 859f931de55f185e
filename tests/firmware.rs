//! Real firmware: qmk-api's builds against QMK's own `make <keyboard>:<keymap>` of the
//! same keymap.json placed in a copy of the tree, byte for byte.
//!
//! They need ../shared/qmk (a tree with its submodules: LUFA, ChibiOS, the pico SDK...),
//! `make`, Debian's gcc-avr and gcc-arm-none-eabi and QMK's CLI (`qmk`) on PATH;
//! `.ci/run` installs them, and under CI a missing one is an error rather than a skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::firmware::{on_path, qmk_make};
use common::server::{Server, bundled_site};
use common::{current_seed_payload, shared};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A cold build takes 15–25 s on two cores; a loaded machine may take much longer.
const BUILD_LIMIT: Duration = Duration::from_secs(600);

/// ../shared/qmk, when it and the AVR toolchain are there.
fn avr_tree() -> Option<PathBuf> {
    let tree = shared()?.join("qmk");
    toolchain_ready(&["make", "qmk", "avr-gcc"]).then_some(tree)
}

/// Whether every program is on PATH; under CI (`CI=true`) a missing one fails the test.
fn toolchain_ready(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !on_path(p)).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(std::env::var("CI").is_err(), "CI installs the firmware toolchain, yet {missing:?} is missing");
    eprintln!("skipped: {missing:?} not on PATH (`.ci/run` installs gcc-avr and QMK's CLI)");
    false
}

/// A writable copy of `tree`: its folders are new, its files hard links (neither
/// QMK's make nor qmk-api writes into an existing file; changes replace files whole).
fn copy_of(tree: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("qmk");
    let status = Command::new("cp").arg("-al").arg(tree).arg(&copy).status().unwrap();
    assert!(status.success(), "cp -al {}", tree.display());
    for entry in walkdir::WalkDir::new(&copy) {
        let entry = entry.unwrap();
        if entry.file_type().is_dir() {
            let mut permissions = entry.metadata().unwrap().permissions();
            std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
            std::fs::set_permissions(entry.path(), permissions).unwrap();
        }
    }
    dir
}

/// Replaces a file of a copy without writing through its hard link.
fn replace_file(path: &Path, text: &str) {
    std::fs::remove_file(path).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A server building from a copy of a tree, with one worker: builds run one at a time.
struct Serving {
    server: Server,
    /// The copy's root.
    tree: PathBuf,
    state: tempfile::TempDir,
    _copy: tempfile::TempDir,
}

fn serving(tree: &Path) -> Serving {
    let copy = copy_of(tree);
    let tree = copy.path().join("qmk");
    let state = tempfile::tempdir().unwrap();
    let site = bundled_site(state.path());
    let home = tree.display().to_string();
    // No catalogue builds between the test's jobs: they would fill the cache the test counts on.
    let args = ["--qmk-home", &home, "--site", &site, "--workers", "1", "--idle-mass-compile", "off"];
    let server = Server::start(state.path(), &args, &[]);
    assert_eq!(server.get("/v1").json()["builder"], "qmk-firmware");
    Serving { server, tree, state, _copy: copy }
}

/// Builds `keymap` on `server`: the job's result and its firmware.
fn build(server: &Server, keymap: &Value) -> (Value, Vec<u8>) {
    let id = server.submit(keymap);
    let job = server.wait_within(&id, &["finished", "failed"], BUILD_LIMIT);
    let output = job["result"]["output"].as_str().unwrap_or_default().to_owned();
    assert_eq!(job["status"], "finished", "{output}");
    let firmware = server.get(&format!("/v1/compile/{id}/download"));
    assert_eq!(firmware.status, 200);
    (job["result"].clone(), firmware.body)
}

/// Builds `keymap` on the server, then with QMK's make in the tree, and asserts that
/// the two firmware files hold the same bytes; returns the job's result and the firmware.
fn build_as_make_does(serving: &Serving, case: &str, keymap: &Value) -> (Value, Vec<u8>) {
    let started = std::time::Instant::now();
    let (result, firmware) = build(&serving.server, keymap);
    let took = started.elapsed();
    let reference = qmk_make(&serving.tree, keymap);
    assert!(firmware == reference, "{case}: qmk-api {} ≠ QMK's make {}", described(&firmware), described(&reference));
    eprintln!("{case}: identical to QMK's make, {} (built in {took:.1?})", described(&firmware));
    (result, firmware)
}

fn described(firmware: &[u8]) -> String {
    let digest: String = Sha256::digest(firmware).iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{} bytes, sha256 {digest}…", firmware.len())
}

/// The seed's payload (the API page's example, clueboard/66/rev2), named `name`, with `extra` fields.
fn seed(name: &str, extra: Value) -> Value {
    let mut payload = current_seed_payload(&shared().unwrap());
    payload["keymap"] = json!(name);
    for (key, value) in extra.as_object().unwrap() {
        payload[key] = value.clone();
    }
    payload
}

/// The seed's layers with the first two keys of the base layer swapped.
fn second_layers() -> Value {
    let mut layers = current_seed_payload(&shared().unwrap())["layers"].clone();
    let base = layers[0].as_array_mut().unwrap();
    base.swap(0, 1);
    layers
}

/// How many objects a job's build compiled rather than took from the cache, as its
/// output says.
fn compiled_objects(result: &Value) -> usize {
    let output = result["output"].as_str().unwrap();
    let line = output.lines().find(|line| line.contains(" objects compiled by this build")).expect(output);
    line.trim_start_matches("qmk-api: ").split(' ').next().unwrap().parse().unwrap()
}

/// One of QMK's own keymap.json files, for `keyboard`, named `name`.
fn qmk_keymap(tree: &Path, path: &str, keyboard: &str, name: &str) -> Value {
    let mut keymap: Value = serde_json::from_str(&std::fs::read_to_string(tree.join(path)).unwrap()).unwrap();
    keymap["keyboard"] = json!(keyboard);
    keymap["keymap"] = json!(name);
    keymap
}

#[test]
fn each_kind_of_keymap_builds_into_the_firmware_qmks_make_builds() {
    let Some(shared_tree) = avr_tree() else { return };
    let serving = serving(&shared_tree);
    let tree = &serving.tree;
    let cases = [
        ("seed payload", seed("my_awesome_keymap", json!({}))),
        ("config", seed("with_config", json!({"config": {"features": {"caps_word": true}}}))),
        ("modules", seed("with_modules", json!({"modules": ["qmk/super_alt_tab"]}))),
        (
            "encoders",
            qmk_keymap(
                tree,
                "keyboards/tominabox1/le_chiffre/keymaps/default/keymap.json",
                "tominabox1/le_chiffre/rev2",
                "with_encoders",
            ),
        ),
        ("a second keymap (warm)", seed("second_keymap", json!({"layers": second_layers()}))),
    ];
    let mut built = Vec::new();
    let mut built_results = Vec::new();
    let mut compiled = Vec::new();
    for (case, keymap) in &cases {
        let (result, firmware) = build_as_make_does(&serving, case, keymap);
        let output = result["output"].as_str().unwrap();
        assert!(!output.contains("not a git repo") && !output.contains("WARNING"), "{case}: {output}");
        built.push(firmware);
        compiled.push(compiled_objects(&result));
        built_results.push(result);
        eprintln!("{case}: {} objects compiled anew", compiled.last().unwrap());
    }
    // After the keyboard's reference build (which followed the first job), a keymap whose
    // config or modules change QMK's rules or headers goes through make; another keymap
    // of the keyboard replays make's recorded commands without make.
    let outputs: Vec<&str> = built_results.iter().map(|r| r["output"].as_str().unwrap()).collect();
    for case in [1, 2] {
        assert!(outputs[case].contains("does not fit this keymap"), "{}: {}", cases[case].0, outputs[case]);
    }
    assert!(outputs[4].contains("replayed without make"), "{}", outputs[4]);
    assert_ne!(built[1], built[0], "the keymap's config reaches the build");
    assert_ne!(built[2], built[0], "the keymap's modules reach the build");
    assert_ne!(built[4], built[0], "the second keymap is another firmware");
    // The seed's keyboard built again with another keymap: a warm build, whose core
    // objects come from the reference build that followed the first job.
    let references: Vec<String> = serving
        .server
        .log()
        .lines()
        .filter(|line| line.contains("reference") || line.contains("WARN"))
        .map(str::to_owned)
        .collect();
    assert!(
        compiled[4] * 5 < compiled[0],
        "the second keymap compiled {} objects anew, the first {}; the reference builds: {references:#?}",
        compiled[4],
        compiled[0]
    );

    // What the reference builds published (as users of their own, where the service is root) is
    // the service's own: no other process of that user can change what builds reuse.
    // SAFETY: geteuid has no preconditions.
    let service_user = unsafe { libc::geteuid() };
    let published: Vec<walkdir::DirEntry> = walkdir::WalkDir::new(serving.state.path().join("cache"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| !entry.path().components().any(|c| c.as_os_str() == "staging"))
        .collect();
    assert!(published.iter().any(|entry| entry.file_name() == "object"), "the reference builds kept objects");
    for entry in &published {
        let owner = std::os::unix::fs::MetadataExt::uid(&entry.metadata().unwrap());
        assert_eq!(owner, service_user, "{} belongs to another user", entry.path().display());
    }

    // The seed and the second keymap by another route, `qmk-api compile`: cold without
    // a cache; with one, the keyboard's reference build first, then warm builds.
    let cache = serving.state.path().join("user-cache");
    let local = |case: usize, options: &[&str]| {
        let out = serving.state.path().join(format!("compiled-{case}"));
        let keymap_file = serving.state.path().join(format!("keymap-{case}.json"));
        std::fs::write(&keymap_file, cases[case].1.to_string()).unwrap();
        let args = ["compile", &keymap_file.display().to_string(), "--qmk-home", &tree.display().to_string()];
        let compiled = common::run(&[&args[..], &["--out", &out.display().to_string()], options].concat());
        common::expect_exit(&compiled, 0);
        let firmware = std::fs::read(out.join("firmware.hex")).unwrap();
        assert!(
            firmware == built[case],
            "{}: the CLI's build ≠ the service's, {}",
            cases[case].0,
            described(&firmware)
        );
        compiled
    };
    let cache_arg = cache.display().to_string();
    local(0, &["--no-cache"]);
    assert!(!cache.exists(), "--no-cache keeps nothing");
    let first = local(4, &["--cache", &cache_arg]);
    assert!(common::stderr(&first).contains("its reference keymap builds first"), "{}", common::stderr(&first));
    // QMK's make of the service's cases above wrote keymap folders of these names into the
    // tree, which QMK's generators find by name: the recorded build does not fit them.
    let not_fitting = "does not fit this keymap (the keymap makes .build/obj_clueboard_66_rev2/src/info_deps.d";
    assert!(common::stdout(&first).contains(not_fitting), "{}", common::stdout(&first));
    let warm = local(0, &["--cache", &cache_arg]);
    assert!(!common::stderr(&warm).contains("reference keymap"), "{}", common::stderr(&warm));
    let anew = compiled_objects(&json!({"output": common::stdout(&warm)}));
    assert!(
        anew * 5 < compiled[0],
        "the CLI's warm build compiled {anew} objects, the service's cold one {}",
        compiled[0]
    );
    let objects =
        |dir: &Path| walkdir::WalkDir::new(dir).into_iter().flatten().filter(|e| e.file_name() == "object").count();
    assert!(objects(&cache) > 0, "the reference build kept its objects");
    local(4, &["--cache", &cache_arg, "--cache-limit", "0"]);
    assert_eq!(objects(&cache), 0, "a cache past its limit forgets what it holds");
}

#[test]
fn a_keyboard_changed_under_a_running_server_gets_new_firmware() {
    let Some(shared_tree) = avr_tree() else { return };
    let serving = serving(&shared_tree);
    let keymap = seed("my_awesome_keymap", json!({}));
    let (_, before) = build(&serving.server, &keymap);

    let definition = serving.tree.join("keyboards/clueboard/66/rev2/keyboard.json");
    let text = std::fs::read_to_string(&definition).unwrap();
    assert!(text.contains("\"rgblight\": true"));
    replace_file(&definition, &text.replace("\"rgblight\": true", "\"rgblight\": false"));
    let (result, after) = build(&serving.server, &keymap);
    assert!(!result["output"].as_str().unwrap().starts_with("Identical to job"), "not served from the cache");
    assert!(after.len() < before.len(), "without RGB light: {} then {}", described(&before), described(&after));
}

/// An STM32F0, an STM32F4 and an RP2040 board, each with the JSON default keymap the
/// keyboard publishes.
#[test]
fn arm_boards_build_into_the_firmware_qmks_make_builds() {
    let Some(tree) = shared().map(|shared| shared.join("qmk")) else { return };
    if !toolchain_ready(&["make", "qmk", "arm-none-eabi-gcc", "dfu-suffix"]) {
        return;
    }
    let serving = serving(&tree);
    let boards = [
        ("STM32F072", "dcpedit/masonry/keymaps/default", "dcpedit/masonry"),
        ("STM32F401", "mechwild/bbpad/keymaps/default", "mechwild/bbpad/f401"),
        ("RP2040", "ez_maker/directpins/rp2040/keymaps/default", "ez_maker/directpins/rp2040"),
    ];
    for (chip, folder, keyboard) in boards {
        let keymap = qmk_keymap(&serving.tree, &format!("keyboards/{folder}/keymap.json"), keyboard, "qmk_api_test");
        build_as_make_does(&serving, &format!("{chip} {keyboard}"), &keymap);
    }
}

#[test]
fn a_config_that_would_run_commands_in_make_fails_at_validation_before_any_build() {
    let Some(shared_tree) = avr_tree() else { return };
    let serving = serving(&shared_tree);
    let pwned = serving.state.path().join("pwned");
    let config = json!({
        "eeprom": {"driver": format!("vendor$(shell touch {})", pwned.display())},
        "platform_key": "chibios$(info $(shell head -2 /etc/passwd))",
        "joystick": {"driver": format!("analog$(shell touch {})", pwned.display())},
    });
    let id = serving.server.submit(&seed("injected", json!({"config": config})));
    let job = serving.server.wait_within(&id, &["finished", "failed"], BUILD_LIMIT);
    let output = job["result"]["output"].as_str().unwrap();
    assert_eq!(job["status"], "failed", "{output}");
    assert!(output.starts_with("The keymap is not valid:"), "{output}");
    for path in ["config/eeprom/driver", "config/platform_key", "config/joystick/driver"] {
        assert!(output.contains(&format!("error: `{path}`: ")), "{path} not named in:\n{output}");
    }
    assert!(!output.contains("root:"), "the payload's output reached the job: {output}");
    assert!(!pwned.exists(), "the payload ran");
    assert_eq!(serving.server.get(&format!("/v1/compile/{id}/source")).status, 404, "no sources were made");
    assert!(!serving.tree.join(".build").exists(), "nothing was built in the tree");
}

/// A build's `qmk generate-make-dependencies` is answered by qmk-api where the tree has
/// no keymap of the name (a job's keymap), with the file QMK's CLI writes; a name the
/// tree has (`default`) goes to QMK's CLI, here a stand-in that exits 99.
#[test]
fn make_dependencies_answered_by_qmk_api_are_qmks() {
    let Some(tree) = shared().map(|shared| shared.join("qmk")) else { return };
    if !toolchain_ready(&["qmk"]) {
        return;
    }
    let folder = tempfile::tempdir().unwrap();
    let (home, stand_in) = (folder.path().join("home"), folder.path().join("bin"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&stand_in).unwrap();
    std::fs::write(stand_in.join("qmk"), "#!/bin/sh\nexit 99\n").unwrap();
    std::fs::set_permissions(stand_in.join("qmk"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let generate = |program: &Path, path: &std::ffi::OsStr, keyboard: &str, name: &str, output: &Path| {
        let ran = Command::new(program)
            .args(["generate-make-dependencies", "-kb", keyboard, "-km", name, "-o"])
            .arg(output)
            .current_dir(&tree)
            .env_clear()
            .env("PATH", path)
            .env("HOME", &home)
            .env("QMK_HOME", &tree)
            .output()
            .unwrap();
        (ran.status.code(), std::fs::read_to_string(output).unwrap_or_default())
    };
    let qmk_api = PathBuf::from(env!("CARGO_BIN_EXE_qmk-api"));
    let launcher = folder.path().join("launcher");
    std::fs::write(&launcher, format!("#!/bin/sh\nexec '{}' launch qmk \"$@\"\n", qmk_api.display())).unwrap();
    std::fs::set_permissions(&launcher, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = std::env::var_os("PATH").unwrap();
    let keyboards =
        ["clueboard/66/rev2", "planck/rev6", "dcpedit/masonry", "mechwild/bbpad/f401", "ez_maker/directpins/rp2040"];
    for (at, keyboard) in keyboards.iter().enumerate() {
        for name in ["qmk_api_reference", "my-keymap_2"] {
            let (theirs, ours) =
                (folder.path().join(format!("theirs{at}{name}")), folder.path().join(format!("ours{at}{name}")));
            let (code, expected) = generate(Path::new("qmk"), &path, keyboard, name, &theirs);
            assert_eq!(code, Some(0), "QMK's CLI for {keyboard}:{name}");
            assert!(expected.contains(&format!("users/{name}/rules.mk")), "{expected}");
            assert_eq!(
                generate(&launcher, stand_in.as_os_str(), keyboard, name, &ours),
                (Some(0), expected),
                "{keyboard}:{name}"
            );
        }
        let ours = folder.path().join(format!("default{at}"));
        assert_eq!(
            generate(&launcher, stand_in.as_os_str(), keyboard, "default", &ours).0,
            Some(99),
            "{keyboard}:default"
        );
    }
}

/// Keyboards of each kind the random keymaps are drawn for, AVR first.
const RANDOM_KEYBOARDS: [&str; 6] = [
    "clueboard/66/rev2",
    "ez_maker/directpins/rp2040",
    "dcpedit/masonry",
    "10bleoledhub",
    "mechwild/bbpad/f401",
    "reviung/reviung41",
];

/// Random keymaps, each built by the service warm after another keymap of its keyboard
/// (the first of each keyboard cold), are the firmware QMK's make builds, byte for byte,
/// on AVR, STM32 and RP2040 keyboards. `QMK_API_RANDOM_KEYMAPS=N` builds N keymaps over
/// one keyboard per ten, two at least (CI builds 6 over 2); `QMK_API_SEED` draws others.
#[test]
fn random_keymaps_built_warm_are_qmks_make_byte_for_byte() {
    let Some(tree) = avr_tree() else { return };
    if !toolchain_ready(&["arm-none-eabi-gcc", "dfu-suffix"]) {
        return;
    }
    let number = |name: &str, default: u64| std::env::var(name).map_or(default, |n| n.parse().expect(name));
    let (count, seed) = (number("QMK_API_RANDOM_KEYMAPS", 6) as usize, number("QMK_API_SEED", 21));
    let keyboards = &RANDOM_KEYBOARDS[..count.div_ceil(10).clamp(2, RANDOM_KEYBOARDS.len())];
    let info: Value = serde_json::from_slice(&std::fs::read(tree.join("../expected/info_json.json")).unwrap()).unwrap();
    let serving = serving(&tree);
    let mut draws = common::firmware::Draws::new(seed);
    let mut warm = 0;
    for n in 0..count {
        let keyboard = keyboards[n % keyboards.len()];
        let (layout, keys) = info[keyboard]["layouts"].as_object().unwrap().iter().next().unwrap();
        let keys = keys["layout"].as_array().unwrap().len();
        let name = format!("random_{seed}_{n}");
        let keymap = common::firmware::random_keymap(&mut draws, keyboard, &name, layout, keys);
        let (result, _) = build_as_make_does(&serving, &format!("{keyboard}:{name}"), &keymap);
        let replayed = result["output"].as_str().unwrap().contains("replayed without make");
        assert_eq!(replayed, n >= keyboards.len(), "{keyboard}:{name}: warm exactly after the keyboard's first job");
        warm += usize::from(replayed);
    }
    eprintln!(
        "{count} random keymaps (seed {seed}) over {} keyboards: identical to QMK's make, {warm} built warm",
        keyboards.len()
    );
}

/// A keymap of 10bleoledhub (AVR, ten keys) named `name`: a base layer whose seventh
/// key is `seventh` and whose ninth switches to layer 1, and `extra` members.
fn hub_keymap(name: &str, seventh: &str, extra: Value) -> Value {
    let mut keymap = json!({
        "keyboard": "10bleoledhub",
        "keymap": name,
        "layout": "LAYOUT",
        "layers": [
            ["KC_PGUP", "KC_7", "KC_8", "KC_9", "KC_4", "KC_5", seventh, "KC_1", "MO(1)", "KC_3"],
            ["KC_TRNS", "KC_HOME", "KC_UP", "KC_END", "KC_LEFT", "KC_DOWN", "KC_RGHT", "KC_BSPC", "KC_TRNS", "TG(0)"]
        ]
    });
    for (key, value) in extra.as_object().unwrap() {
        keymap[key] = value.clone();
    }
    keymap
}

/// Builds `keymap` on the server, then writes its keymap folder with `qmk-api json2c
/// --folder` into the tree and builds that with QMK's make: the two firmware files
/// hold the same bytes. Returns the job's result and the firmware.
fn build_as_make_of_the_folder(serving: &Serving, case: &str, keymap: &Value) -> (Value, Vec<u8>) {
    let (result, firmware) = build(&serving.server, keymap);
    let (keyboard, name) = (keymap["keyboard"].as_str().unwrap(), keymap["keymap"].as_str().unwrap());
    let file = serving.state.path().join(format!("{name}.json"));
    std::fs::write(&file, keymap.to_string()).unwrap();
    let folder = serving.tree.join("keyboards").join(keyboard).join("keymaps").join(name);
    let home = serving.tree.display().to_string();
    let args = ["--qmk-home", &home, "json2c", file.to_str().unwrap(), "--folder", folder.to_str().unwrap()];
    common::expect_exit(&common::run(&args), 0);
    let reference = common::firmware::make_keymap(&serving.tree, keyboard, name);
    assert!(firmware == reference, "{case}: qmk-api {} ≠ QMK's make {}", described(&firmware), described(&reference));
    eprintln!("{case}: identical to QMK's make of the folder, {}", described(&firmware));
    (result, firmware)
}

#[test]
fn keymaps_beyond_qmks_json_build_into_the_firmware_make_builds_of_their_folder() {
    let Some(shared_tree) = avr_tree() else { return };
    let serving = serving(&shared_tree);
    let names = json!({"layer_names": ["BASE", "NAV"]});
    let combos = json!({"combos": [{"keys": ["KC_7", "KC_8"], "output": "KC_ESC"}, {"keys": ["KC_4", "KC_5"], "output": "KC_TAB", "term": 40}]});
    let dances = json!({"tap_dances": [{"name": "ESC_CAPS", "on_tap": "KC_ESC", "on_hold": "KC_LCTL", "on_double_tap": "KC_CAPS", "tapping_term": 180}]});
    let overrides = json!({"key_overrides": [{"trigger": "KC_BSPC", "trigger_mods": "MOD_MASK_SHIFT", "replacement": "KC_DEL", "layers": [1]}]});
    let plain = build(&serving.server, &hub_keymap("plain", "KC_6", json!({}))).1;

    // Layer names are the layers' numbers: the same firmware as the numbers give.
    let mut named = hub_keymap("named", "KC_6", names.clone());
    named["layers"][0][8] = json!("MO(NAV)");
    named["layers"][1][9] = json!("TG(BASE)");
    let (result, firmware) = build_as_make_of_the_folder(&serving, "layer_names", &named);
    let output = result["output"].as_str().unwrap();
    assert!(output.contains("The keymap folder holds keymap.h beside keymap.json."), "{output}");
    let numbered = build(&serving.server, &hub_keymap("named", "KC_6", json!({}))).1;
    assert_eq!(firmware, numbered, "MO(NAV) is MO(1)");

    // Each other member reaches the firmware: without it, the firmware differs.
    for (case, member, seventh) in
        [("combos", &combos, "KC_6"), ("tap_dances", &dances, "TD(0)"), ("key_overrides", &overrides, "KC_6")]
    {
        let (result, with) = build_as_make_of_the_folder(&serving, case, &hub_keymap(case, seventh, member.clone()));
        let output = result["output"].as_str().unwrap();
        let variable = format!("{}_ENABLE", case.trim_end_matches('s').to_uppercase());
        assert!(output.contains(&format!("the build turns on {variable}")), "{case}: {output}");
        let without = build(&serving.server, &hub_keymap(case, seventh, json!({}))).1;
        assert_ne!(with, without, "{case} reach the firmware");
        assert_ne!(with, plain, "{case}");
    }

    // All of them, and a key that needs a feature the keyboard lacks: Caps Word is turned on, and said to be.
    let mut all = hub_keymap("all", "TD(ESC_CAPS)", names);
    for member in [&combos, &dances, &overrides] {
        for (key, value) in member.as_object().unwrap() {
            all[key] = value.clone();
        }
    }
    all["layers"][0][9] = json!("CW_TOGG");
    let (result, _) = build_as_make_of_the_folder(&serving, "all members and CW_TOGG", &all);
    let output = result["output"].as_str().unwrap();
    assert!(output.starts_with("warning: `CW_TOGG` needs Caps Word, which 10bleoledhub does not turn on"), "{output}");
    assert!(
        output.contains("the build turns on CAPS_WORD_ENABLE, COMBO_ENABLE, KEY_OVERRIDE_ENABLE, TAP_DANCE_ENABLE"),
        "{output}"
    );
}
