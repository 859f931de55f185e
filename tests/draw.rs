//! `qmk-api draw`: keymap pictures read back with an XML parser, the diagnostics of
//! an invalid keymap, the safe writer behind `-o`, and the seed's picture in a real browser.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::picture::{DrawnCombo, check_seed_picture, drawn_combos, drawn_layers};
use common::*;
use serde_json::{Value, json};

/// The seed's payload when ../shared is there, and always the stand-in, by name.
fn seed_payloads_to_draw() -> Vec<(&'static str, Value)> {
    let seed = shared().map(|shared| ("seed", current_seed_payload(&shared)));
    seed.into_iter().chain([("stand-in", stand_in_seed_payload())]).collect()
}

/// `payload` written as a keymap file in `dir`.
fn keymap_file(dir: &Path, payload: &Value) -> PathBuf {
    let file = dir.join("keymap.json");
    std::fs::write(&file, serde_json::to_string_pretty(payload).unwrap()).unwrap();
    file
}

fn draw(file: &Path, out: &Path) -> std::process::Output {
    run(&["draw", &file.display().to_string(), "-o", &out.display().to_string()])
}

#[test]
fn the_seed_payload_is_drawn_layer_by_layer_with_its_legends() {
    for (_, payload) in seed_payloads_to_draw() {
        let dir = tempfile::tempdir().unwrap();
        let (file, out) = (keymap_file(dir.path(), &payload), dir.path().join("keymap.svg"));
        let stderr = expect_exit(&draw(&file, &out), 0);
        // The API page's example has BL_STEP, which does nothing: the keyboard describes a
        // backlight but does not turn it on.
        let backlight = payload.to_string().contains("\"BL_STEP\"");
        let warnings = if backlight { "1 warning" } else { "0 warnings" };
        assert!(
            stderr.contains(&format!("valid (clueboard/66/rev2, LAYOUT_all, keycodes 0.0.8), {warnings}")),
            "{stderr}"
        );
        let said = stderr.contains("`BL_STEP` needs Backlight, which clueboard/66/rev2 does not turn on");
        assert_eq!(said, backlight, "{stderr}");
        let svg = std::fs::read_to_string(&out).unwrap();
        check_seed_picture(&svg, &payload);
        let on_stdout = run(&["draw", &file.display().to_string()]);
        assert_eq!(stdout(&on_stdout), svg, "the same picture on stdout");
    }
}

#[test]
fn keys_c_changes_are_marked_and_explained_under_their_layer() {
    let mut base = layer("LCTL_T(KC_ESC)");
    base[1] = "MO(32)".into();
    base[2] = "LT(3, KC_EXLM)".into();
    base[3] = "XXXXXXX".into();
    base[4] = "MY_MACRO".into();
    base[5] = "MO(32)".into();
    let payload = json!({"keyboard": "clueboard/66/rev2", "keymap": "lossy", "layout": "LAYOUT_all",
        "keycodes": [{"key": "MY_MACRO"}], "layers": [base, layer("KC_A")]});
    let dir = tempfile::tempdir().unwrap();
    let (file, out) = (keymap_file(dir.path(), &payload), dir.path().join("keymap.svg"));
    let stderr = expect_exit(&draw(&file, &out), 0);
    assert!(stderr.contains("4 warnings"), "warnings are printed as validate prints them: {stderr}");
    let svg = std::fs::read_to_string(&out).unwrap();
    let layers = drawn_layers(&svg);
    let key = |position: usize| layers[0][position].clone();
    assert_eq!((key(0).tap.as_str(), key(0).hold.as_deref(), key(0).class.as_str()), ("Esc", Some("Ctrl"), "held"));
    // MO(32) is layer 0 to C; LT(3, KC_EXLM) taps KC_1.
    assert_eq!((key(1).tap.as_str(), key(1).class.as_str(), key(1).mark.as_deref()), ("L0", "layer warn", Some("⚠1")));
    assert_eq!((key(2).tap.as_str(), key(2).hold.as_deref(), key(2).mark.as_deref()), ("1", Some("L3"), Some("⚠2")));
    assert_eq!((key(3).tap.as_str(), key(3).class.as_str()), ("✕", "none"));
    assert_eq!((key(4).tap.as_str(), key(4).class.as_str()), ("MY_MACRO", "custom"));
    assert_eq!(key(5).mark.as_deref(), Some("⚠1"), "one note per keycode");
    let notes: Vec<&str> = svg.split(r#"<text class="left warning""#).skip(1).collect();
    assert!(notes[0].contains("⚠1 key 1") && notes[0].contains("`MO(32)`"), "{notes:?}");
    assert!(svg.contains("⚠2 key 2") && svg.contains("refers to layer 3, but the keymap has 2 layers"), "{svg}");
    assert!(svg.contains(">C changes this key: see note 1 under its layer<"), "the key to the marks explains them");
    assert!(svg.contains(">no key switches to it<"), "layer 1 is reached by no key");
}

#[test]
fn layer_names_tap_dances_combos_and_key_overrides_are_drawn() {
    let mut base = layer("KC_GRV");
    for (position, keycode) in [(1, "KC_J"), (2, "KC_K"), (3, "TD(ESC_CAPS)"), (4, "MO(NAV)"), (5, "LT(NAV, KC_SPC)")] {
        base[position] = keycode.into();
    }
    let mut nav = layer("KC_ESC");
    for (position, keycode) in [(1, "KC_K"), (2, "KC_J"), (3, "TG(BASE)")] {
        nav[position] = keycode.into();
    }
    let payload = json!({"keyboard": "clueboard/66/rev2", "keymap": "extended", "layout": "LAYOUT_all",
        "layer_names": ["BASE", "NAV"], "layers": [base, nav],
        "combos": [{"keys": ["KC_J", "KC_K"], "output": "KC_ESC", "term": 40},
                   {"keys": ["KC_Q", "KC_W"], "output": "KC_TAB"}],
        "tap_dances": [{"name": "ESC_CAPS", "on_tap": "KC_ESC", "on_hold": "KC_LCTL", "on_double_tap": "KC_CAPS",
                        "on_tap_hold": "KC_NO"}],
        "key_overrides": [{"trigger": "KC_BSPC", "trigger_mods": "MOD_MASK_SHIFT", "replacement": "KC_DEL",
                           "layers": ["NAV"]}]});
    let dir = tempfile::tempdir().unwrap();
    let (file, out) = (keymap_file(dir.path(), &payload), dir.path().join("keymap.svg"));
    let stderr = expect_exit(&draw(&file, &out), 0);
    assert!(stderr.contains("`KC_Q` is on no layer"), "{stderr}");
    let svg = std::fs::read_to_string(&out).unwrap();
    let layers = drawn_layers(&svg);

    // Layer names: in the headings, on the layer keys, in the keys that reach a layer.
    let reached = ">reached with LT(NAV, KC_SPC) on layer 0 (BASE); MO(NAV) on layer 0 (BASE)<";
    for heading in [">Layer 0: BASE<", ">Layer 1: NAV<", reached] {
        assert!(svg.contains(heading), "{heading}");
    }
    let shown = |layer: usize, position: usize| {
        let key = &layers[layer][position];
        (key.class.as_str(), key.tap.as_str(), key.hold.as_deref())
    };
    assert_eq!(shown(0, 4), ("layer", "NAV", None));
    assert_eq!(shown(0, 5), ("held", "Spacebar", Some("NAV")));
    assert_eq!(shown(1, 3), ("layer", "Toggle BASE", None));

    // The tap dance: its tap legend, and a line for each other action that sends something.
    let dance = &layers[0][3];
    assert_eq!((dance.class.as_str(), dance.tap.as_str(), dance.hold.as_deref()), ("dance", "Esc", None));
    assert_eq!(dance.actions, ["hold Left Control", "2× Caps Lock"]);
    assert!(dance.title.contains("TD(ESC_CAPS) (Esc, hold Left Control, 2× Caps Lock)"), "{dance:?}");

    // The combo joins its keys on both layers, where they are; the other has no layer to be drawn on.
    let combo = |joined: Vec<usize>| DrawnCombo {
        title: "combo 0: KC_J + KC_K → KC_ESC, within 40 ms".into(),
        output: "Esc".into(),
        joined,
    };
    assert_eq!(drawn_combos(&svg), [vec![combo(vec![1, 2])], vec![combo(vec![2, 1])]]);
    assert!(svg.contains(">Combos no layer has all the keys of: they never fire<") && svg.contains(">Q + W → Tab<"));

    // The key override, listed under the layers.
    assert!(svg.contains(">Key overrides<") && svg.contains(">Shift + Backspace → Delete (on NAV)<"), "{svg}");
    // The key to the marks explains the dance's lines and the combo's box.
    assert!(svg.contains(">a tap dance: tapped, held, tapped twice (2×), tapped then held<"));
    assert!(svg.contains(">a combo: the keys it joins, pressed together, send what it shows<"));
}

#[test]
fn an_invalid_keymap_gets_the_diagnostics_validate_prints_and_no_picture() {
    let payload = json!({"keyboard": "clueboard/66/rev2", "keymap": "x", "layout": "LAYOUT_all",
        "layers": [layer("KC_NOPE"), vec!["KC_A"; 3]]});
    let dir = tempfile::tempdir().unwrap();
    let (file, out) = (keymap_file(dir.path(), &payload), dir.path().join("keymap.svg"));
    let drawn = expect_exit(&draw(&file, &out), 1);
    let validated = expect_exit(&run(&["validate", &file.display().to_string()]), 1);
    let diagnostics: Vec<&str> = validated.lines().filter(|l| *l != "error: the keymap is invalid").collect();
    assert!(diagnostics.iter().any(|l| l.contains("no keycode `KC_NOPE`")), "{validated}");
    assert!(diagnostics.iter().any(|l| l.contains("layer 1 has 3 keys, but LAYOUT_all has 73")), "{validated}");
    assert!(drawn.starts_with(&diagnostics.join("\n")), "draw:\n{drawn}\nvalidate:\n{validated}");
    assert!(drawn.contains("not drawn: the keymap is invalid"), "{drawn}");
    assert!(!out.exists(), "no picture is written");
    let unreadable = run(&["draw", &dir.path().join("absent.json").display().to_string()]);
    assert!(expect_exit(&unreadable, 2).contains("cannot read"));
}

#[test]
fn the_picture_is_written_by_the_safe_writer() {
    let dir = tempfile::tempdir().unwrap();
    let file = keymap_file(dir.path(), &stand_in_seed_payload());
    let kept = dir.path().join("kept.svg");
    std::fs::write(&kept, "kept").unwrap();
    let link = dir.path().join("link.svg");
    std::os::unix::fs::symlink(&kept, &link).unwrap();
    assert!(expect_exit(&draw(&file, &link), 2).contains("is a symbolic link, not a regular file"));
    assert!(expect_exit(&draw(&file, dir.path()), 2).contains("is a folder"));
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "kept");
    // A picture replacing a file keeps its permissions.
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o640)).unwrap();
    expect_exit(&draw(&file, &kept), 0);
    assert_eq!(std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777, 0o640);
    assert!(std::fs::read_to_string(&kept).unwrap().starts_with("<svg"));
}

/// Runs `tests/browser/picture.mjs` over pictures: what it measured of each, by file.
fn measured_in_a_browser(browser_dir: &Path, pictures: &[PathBuf]) -> Vec<Value> {
    let output =
        std::process::Command::new("node").arg(browser_dir.join("picture.mjs")).args(pictures).output().unwrap();
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    stdout(&output).lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

#[test]
fn the_seed_picture_is_drawn_whole_in_a_real_browser() {
    let Some(browser_dir) = browser_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut pictures = Vec::new();
    for (name, payload) in seed_payloads_to_draw() {
        let file = keymap_file(dir.path(), &payload);
        // Kept in the target folder, with its screenshot, to be looked at.
        let picture = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("keymap-{name}.svg"));
        expect_exit(&draw(&file, &picture), 0);
        pictures.push(picture);
    }
    for (measured, picture) in measured_in_a_browser(&browser_dir, &pictures).iter().zip(&pictures) {
        assert_eq!(measured["layers"], json!([73, 73, 73]), "{measured}");
        assert_eq!(measured["spilled"], json!([]), "every legend fits its key: {measured}");
        let screenshot = picture.with_extension("png");
        let png = std::fs::read(&screenshot).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "a screenshot of {} bytes", png.len());
        eprintln!("screenshot: {}", screenshot.display());
    }
}

/// QMK's real keymaps put other layouts and keycodes to the test: every legend of
/// every one fits its key as Chromium draws it.
#[test]
fn every_legend_of_qmks_real_keymaps_fits_its_key_in_a_real_browser() {
    let Some(shared) = shared() else { return };
    let Some(browser_dir) = browser_dir() else { return };
    let (keyboards, keycodes) = load_tree(&shared.join("qmk"));
    let context = qmk_api::keymap::Context { keyboards: &keyboards, keycodes: &keycodes };
    let dir = tempfile::tempdir().unwrap();
    let mut pictures = Vec::new();
    for (path, text) in keymap_files(&shared.join("qmk")) {
        let implied = qmk_api::keymap::keyboard_from_path(&Path::new("keyboards").join(path));
        let source = qmk_api::keymap::Source::new("keymap.json", &text);
        if let (Some(svg), _) = qmk_api::picture::draw(&source, implied.as_deref(), context) {
            let picture = dir.path().join(format!("{}.svg", pictures.len()));
            std::fs::write(&picture, svg).unwrap();
            pictures.push(picture);
        }
    }
    assert_eq!(pictures.len(), 131, "every real keymap with layers");
    let measured = measured_in_a_browser(&browser_dir, &pictures);
    assert_eq!(measured.len(), pictures.len());
    let spilled: Vec<&Value> = measured.iter().filter(|m| m["spilled"] != json!([])).collect();
    assert!(spilled.is_empty(), "{spilled:#?}");
}

/// What XML 1.0 cannot hold (C0 controls but tab, line feed and carriage return;
/// U+FFFE, U+FFFF), with what markup needs escaped.
const NOT_XML: &str = "\u{1}\u{8}\u{b}\u{c}\u{1b}[2J\u{1f}\u{fffe}\u{ffff}<&\"'\u{7f}";

/// Every picture parses as XML whatever its keycodes, the keyboard's name and the
/// layout's labels hold: `draw`'s, and the site's keyboard pages' (layouts and keymaps).
/// (A keymap's name holding such characters is no keymap name: refused.)
#[test]
fn pictures_are_well_formed_xml_whatever_names_labels_and_keycodes_hold() {
    let tree = Fixture::new();
    tree.copy_bundled("constants", "data/constants");
    let keys: Vec<Value> =
        (0..3).map(|x| json!({"matrix": [0, x], "x": x, "y": 0, "label": format!("K{x}{NOT_XML}")})).collect();
    let definition = json!({"keyboard_name": format!("Pad{NOT_XML}"), "layouts": {"LAYOUT": {"layout": keys}}});
    tree.file("keyboards/acme/pad/keyboard.json", &definition.to_string());
    // Vertical tab and form feed are blanks to C: a keycode may hold them.
    let mut keymap = json!({"keyboard": "acme/pad", "keymap": format!("mine{NOT_XML}"), "layout": "LAYOUT",
        "layers": [["KC_A", "MO(1)\u{b}", "LT(1,\u{c}KC_B)"], ["KC_TRNS", "MO(32)", "KC_NO"]]});
    tree.file("keyboards/acme/pad/keymaps/mine/keymap.json", &keymap.to_string());
    let keymap_file = tree.root().join("keyboards/acme/pad/keymaps/mine/keymap.json").display().to_string();
    let refused = expect_exit(&run(&["draw", "--qmk-home", &tree.root_arg(), &keymap_file]), 1);
    assert!(refused.contains("is not a keymap name"), "{refused}");
    keymap["keymap"] = json!("mine");
    tree.file("keyboards/acme/pad/keymaps/mine/keymap.json", &keymap.to_string());

    let output = run(&["draw", "--qmk-home", &tree.root_arg(), &keymap_file]);
    expect_exit(&output, 0);
    let svg = stdout(&output);
    let document = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{e}: {svg}"));
    let texts: String = document.descendants().filter_map(|n| n.text()).collect();
    assert!(texts.contains("MO(1)\u{fffd}") && texts.contains("\u{fffd}KC_B"), "the keycodes as written: {texts}");
    let title = document.root_element().attribute("aria-label").unwrap();
    assert!(!title.chars().any(|c| c < ' '), "{title:?}");

    expect_exit(&tree.build(), 0);
    let page = std::fs::read_to_string(tree.out().join("master/keyboards/acme.pad.html")).unwrap();
    let pictures: Vec<&str> =
        page.match_indices("<svg").map(|(at, _)| &page[at..at + page[at..].find("</svg>").unwrap() + 6]).collect();
    assert_eq!(pictures.len(), 2, "the layout and the keymap: {page}");
    for picture in pictures {
        let document = roxmltree::Document::parse(picture).unwrap_or_else(|e| panic!("{e}: {picture}"));
        let texts: String = document.descendants().filter_map(|n| n.text()).collect();
        assert!(texts.contains("K1\u{fffd}"), "the layout's labels: {texts}");
    }
}
