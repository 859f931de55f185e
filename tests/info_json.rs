//! The whole info.json of every keyboard compared with QMK's own `info_json`
//! (../shared/expected/info_json.json): as JSON values, and as the bytes
//! `qmk generate-api` would write for it. Mismatches are counted per field, with
//! examples, so that a regression names what it broke.

mod common;

use std::collections::BTreeMap;

use common::*;
use qmk_api::keyboard;
use qmk_api::publish::pyjson;
use qmk_api::source::DataTree;
use serde_json::Value;

/// Numbers as f64, so that `1` and `1.0` compare equal as they do in Python.
fn normalize(value: &Value) -> Value {
    match value {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::Object(members) => Value::Object(members.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()),
        other => other.clone(),
    }
}

/// Where two renderings first part, with some context.
fn first_difference(name: &str, ours: &[u8], theirs: &[u8]) {
    let at = ours.iter().zip(theirs).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
    let excerpt =
        |bytes: &[u8]| String::from_utf8_lossy(&bytes[at.saturating_sub(80)..(at + 80).min(bytes.len())]).into_owned();
    eprintln!("{name} differs in its bytes:\n  ours:   {}\n  theirs: {}", excerpt(ours), excerpt(theirs));
}

#[test]
fn info_json_equals_qmks_for_every_keyboard() {
    let Some(shared) = shared() else { return };
    let text = std::fs::read_to_string(shared.join("expected/info_json.json")).unwrap();
    let expected: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    let keyboards = keyboard::load(&DataTree::Checkout(shared.join("qmk"))).unwrap();
    assert_eq!(keyboards.len(), expected.len(), "as many keyboards as QMK lists");

    let (mut value_equal, mut byte_equal, mut shown) = (0, 0, 0);
    let mut fields: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, theirs) in &expected {
        let keyboard = keyboards.resolve(name).unwrap();
        let mut ours = serde_json::to_value(keyboard.published()).unwrap();
        // QMK's API adds the JSON keymaps after info_json; the reference is from before.
        ours["keymaps"] = serde_json::json!({});
        if normalize(&ours) == normalize(theirs) {
            value_equal += 1;
        } else {
            let (ours, theirs) = (ours.as_object().unwrap(), theirs.as_object().unwrap());
            for field in ours.keys().chain(theirs.keys()) {
                if ours.get(field).map(normalize) != theirs.get(field).map(normalize) {
                    let examples = fields.entry(field.clone()).or_default();
                    if examples.last() != Some(&name.as_str()) {
                        examples.push(name);
                    }
                }
            }
        }
        let (ours, theirs) = (pyjson::to_compact(&ours), pyjson::to_compact(theirs));
        if ours == theirs {
            byte_equal += 1;
        } else if shown < 3 {
            shown += 1;
            first_difference(name, &ours, &theirs);
        }
    }
    eprintln!(
        "info.json equal to QMK's: {value_equal} of {} as JSON values, {byte_equal} byte for byte",
        expected.len()
    );
    for (field, names) in &fields {
        eprintln!("  {field}: {} keyboards differ, e.g. {:?}", names.len(), &names[..names.len().min(5)]);
    }
    assert!(fields.is_empty(), "fields differ: {:?}", fields.keys().collect::<Vec<_>>());
    assert_eq!(byte_equal, expected.len(), "every file byte for byte as QMK writes it");
}

/// A tree of two made-up keyboards that use most of what QMK reads: settings in
/// `config.h` and `rules.mk` (deprecated and invalid ones too), a development
/// board, an LED table in C, layout macros in a header, split settings to migrate,
/// and layouts QMK's checks object to. What is asserted is what QMK's own
/// `info_json` gives for these files.
fn made_up_tree() -> Fixture {
    let fixture = Fixture::new();
    fixture
        .keycodes("keycodes_0.0.1.hjson", r#"{"keycodes": {"0x0004": {"group": "basic", "key": "KC_A"}}}"#)
        .file("layouts/default/ortho_2x3/readme.md", "ortho_2x3\n")
        .file(
            "keyboards/acme/pad/info.json",
            r#"{"manufacturer": "Acme", "keyboard_name": "Pad", "maintainer": "someone",
                "usb": {"vid": "0xFEED", "pid": "0x0001", "device_version": "1.0.0"},
                "features": {"bootmagic": true, "rgb_matrix": true},
                "community_layouts": ["ortho_2x3", "nonexistent_layout"],
                "layouts": {"LAYOUT_ortho_2x3": {"layout": [
                    {"label": "A", "matrix": [0, 0], "x": 0.5, "y": 0}, {"label": "B", "matrix": [0, 1], "x": 1.5, "y": 0},
                    {"label": "C", "matrix": [0, 2], "x": 2.5, "y": 0}, {"matrix": [1, 0], "x": 0.5, "y": 1},
                    {"matrix": [1, 1], "x": 1.5, "y": 1, "encoder": 0}, {"matrix": [1, 1], "x": 2.5, "y": 1, "w": 1.0}]}}}"#,
        )
        .file(
            "keyboards/acme/pad/rev1/keyboard.json",
            r#"{"keyboard_name": "Pad rev1", "development_board": "promicro", "diode_direction": "COL2ROW",
                "layout_aliases": {"LAYOUT": "LAYOUT_ortho_2x3"}}"#,
        )
        .file(
            "keyboards/acme/pad/config.h",
            "#pragma once\n#define MATRIX_ROWS 2\n#define MATRIX_COLS (1 + 2)\n#define MATRIX_ROW_PINS { D1, D0 }\n\
             #define MATRIX_COL_PINS { F4, NO_PIN, 5 }\n#define DEBOUNCE 10   // ms\n#define DEBOUNCING_DELAY 5\n\
             #define TAPPING_TERM 180 /* a comment */\n#define RGB_MATRIX_LED_COUNT 4\n#define ENCODER_A_PINS { B2 }\n\
             #define ENCODER_B_PINS { B3 }\n#define ENCODER_RESOLUTION 2\n#define USB_MAX_POWER_CONSUMPTION 100\n\
             #define LOCKING_SUPPORT_ENABLE\n#define FLAG_THEN_UNDEF\n#undef FLAG_THEN_UNDEF\n",
        )
        .file("keyboards/acme/pad/rev1/config.h", "#pragma once\n#define TAPPING_TERM 200\n#define DEVICE_VER 0x0102\n")
        .file(
            "keyboards/acme/pad/rules.mk",
            "# comment\nBOOTMAGIC_ENABLE = yes\nEXTRAKEY_ENABLE = yes   # inline\nENCODER_ENABLE = yes\n\
             RGB_MATRIX_DRIVER = ws2812\nLTO_ENABLE = yes\nSRC += extra.c\n",
        )
        .file("keyboards/acme/pad/rev1/rules.mk", "CONSOLE_ENABLE = no\nCUSTOM_MATRIX = lite\n")
        .file(
            "keyboards/acme/pad/pad.c",
            "#include \"quantum.h\"\n// the RGB matrix layout\nled_config_t g_led_config = { {\n    { 0, 1, NO_LED },\n\
             { 3, 2, NO_LED }\n}, {\n    { 0, 0 }, { 112, 0 }, { 224, 64 }, { 0, 64 }\n}, {\n\
             LED_FLAG_KEYLIGHT, 4, LED_FLAG_UNDERGLOW, 1\n} };\n",
        )
        .file(
            "keyboards/acme/macro/keyboard.json",
            r#"{"keyboard_name": "Macro", "processor": "STM32F303", "bootloader": "stm32-dfu",
                "matrix_pins": {"direct": [["A0", "A1", null], ["B0", "B1", "B2"]]},
                "split": {"enabled": true, "soft_serial_pin": "D3", "transport": {"sync_matrix_state": true}},
                "layouts": {"LAYOUT_all": {"layout": [{"label": "Esc", "x": 0, "y": 0, "w": 1.5}, {"x": 1.5, "y": 0},
                    {"x": 2.5, "y": 0}, {"x": 0, "y": 1}, {"x": 1, "y": 1}]}}}"#,
        )
        .file(
            "keyboards/acme/macro/macro.h",
            "#pragma once\n/* The layout macros */\n#define LAYOUT_all( \\\n    k00, k01, k02, \\\n    k10, k11 \\\n) { \\\n\
             { k00, k01, k02 }, \\\n    { k10, KC_NO, k11 } \\\n}\n#define LAYOUT_kc( a ) { { a } }\n\
             #define LAYOUT_small(k00, k01) {{k00, k01, KC_NO}, {KC_NO, KC_NO, KC_NO}}\n#define LAYOUT LAYOUT_all\n\
             #define LAYOUT_other LAYOUT_missing\n",
        )
        .file("keyboards/acme/macro/rules.mk", "MCU_SERIES = STM32F3xx\nSPLIT_KEYBOARD = yes\n");
    fixture
}

#[test]
fn config_h_rules_mk_c_sources_and_checks_as_qmk_reads_them() {
    let fixture = made_up_tree();
    let built = fixture.build();
    assert_eq!(built.status.code(), Some(0), "{}", stderr(&built));
    let info = |name: &str| {
        fixture.published_json("master", &format!("keyboards/{name}/info.json"))["keyboards"][name].clone()
    };

    let pad = info("acme/pad/rev1");
    let keys: Vec<&str> = pad.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "keyboard_name",
            "keyboard_folder",
            "keymaps",
            "layouts",
            "parse_errors",
            "parse_warnings",
            "maintainer",
            "layout_aliases",
            "development_board",
            "diode_direction",
            "manufacturer",
            "usb",
            "features",
            "community_layouts",
            "bootloader",
            "pin_compatible",
            "processor",
            "processor_type",
            "platform",
            "platform_key",
            "protocol",
            "bootmagic",
            "encoder",
            "build",
            "rgb_matrix",
            "matrix_pins",
            "qmk",
            "debounce",
            "tapping",
            "_invalid",
            "matrix_size"
        ],
        "QMK's keys, in QMK's order"
    );
    assert_eq!(
        pad["parse_errors"],
        serde_json::json!([
            "DEBOUNCING_DELAY in config.h is no longer a valid option and should be replaced with DEBOUNCE",
            "LAYOUT_ortho_2x3: Matrix location for key 5 is not unique {'matrix': [1, 1], 'x': 2.5, 'y': 1, 'w': 1}",
            "Claims to support a community layout that does not exist: nonexistent_layout",
            "Claims to support community layout nonexistent_layout but no LAYOUT_nonexistent_layout() macro found"
        ])
    );
    assert_eq!(
        pad["parse_warnings"],
        serde_json::json!([
            "Feature bootmagic is specified in both info.json ({'bootmagic': True, 'rgb_matrix': True, 'console': False}) and rules.mk (True). The rules.mk value wins.",
            "DEVICE_VER in config.h is deprecated in favor of `usb.device_version` in info.json and will be removed at a later date",
            "DEVICE_VER in config.h is overwriting usb.device_version in info.json",
            "Layout \"LAYOUT_ortho_2x3\" is offset on X axis by 0.5"
        ])
    );
    assert_eq!(pad["keyboard_name"], "Pad", "a folder above wins, as in QMK");
    assert_eq!(
        pad["usb"],
        serde_json::json!({"vid": "0xFEED", "pid": "0x0001", "device_version": "1.0.2", "max_power": 100})
    );
    assert_eq!((&pad["bootloader"], &pad["pin_compatible"]), (&"caterina".into(), &"promicro".into()));
    assert_eq!(
        (&pad["processor_type"], &pad["platform"], &pad["protocol"]),
        (&"avr".into(), &"unknown".into(), &"LUFA".into())
    );
    assert_eq!(
        pad["matrix_pins"],
        serde_json::json!({"custom_lite": true, "cols": ["F4", null, 5], "rows": ["D1", "D0"]})
    );
    assert_eq!(pad["matrix_size"], serde_json::json!({"cols": 3, "rows": 2}));
    assert_eq!((&pad["debounce"], &pad["tapping"]), (&10.into(), &serde_json::json!({"term": 200})));
    assert_eq!(
        pad["encoder"],
        serde_json::json!({"enabled": true, "rotary": [{"pin_a": "B2", "pin_b": "B3", "resolution": 2}]})
    );
    assert_eq!(pad["_invalid"], serde_json::json!({"debouncing_delay": "5"}));
    assert_eq!(
        pad["rgb_matrix"],
        serde_json::json!({"driver": "ws2812", "layout": [
            {"x": 0, "y": 0, "flags": 4, "matrix": [0, 0]}, {"x": 112, "y": 0, "flags": 4, "matrix": [0, 1]},
            {"x": 224, "y": 64, "flags": 2, "matrix": [1, 1]}, {"x": 0, "y": 64, "flags": 1, "matrix": [1, 0]}],
            "led_count": 4, "flag_steps": [255, 5, 2, 0]})
    );
    assert_eq!(
        pad["layouts"]["LAYOUT_ortho_2x3"]["layout"][5],
        serde_json::json!({"matrix": [1, 1], "x": 2.5, "y": 1, "w": 1})
    );

    let macro_board = info("acme/macro");
    assert_eq!(
        macro_board["layouts"],
        serde_json::json!({
            "LAYOUT_all": {"layout": [{"x": 0, "y": 0, "label": "Esc", "matrix": [0, 0], "w": 1.5},
                {"x": 1.5, "y": 0, "label": "k01", "matrix": [0, 1]}, {"x": 2.5, "y": 0, "label": "k02", "matrix": [0, 2]},
                {"x": 0, "y": 1, "label": "k10", "matrix": [1, 0]}, {"x": 1, "y": 1, "label": "k11", "matrix": [1, 2]}],
                "filename": "keyboards/acme/macro/macro.h", "c_macro": true, "json_layout": true},
            "LAYOUT_small": {"layout": [{"x": 0, "y": 0, "label": "k00", "matrix": [0, 0]}, {"x": 1, "y": 0, "label": "k01", "matrix": [0, 1]}],
                "filename": "keyboards/acme/macro/macro.h", "c_macro": true, "json_layout": false}
        })
    );
    assert_eq!(macro_board["layout_aliases"], serde_json::json!({"LAYOUT": "LAYOUT_all"}));
    assert_eq!(
        macro_board["parse_errors"],
        serde_json::json!([
            "LAYOUT_all: Layout macro should not be defined within \".h\" files.",
            "LAYOUT_small: Layout macro should not be defined within \".h\" files."
        ])
    );
    assert_eq!(
        macro_board["parse_warnings"],
        serde_json::json!(["SPLIT_KEYBOARD in rules.mk is overwriting split.enabled in info.json"])
    );
    assert_eq!(
        macro_board["split"],
        serde_json::json!({"enabled": true, "transport": {"protocol": "serial", "sync": {"matrix_state": true}}, "serial": {"pin": "D3"}})
    );
    assert_eq!((&macro_board["platform_key"], &macro_board["platform"]), (&"chibios".into(), &"STM32".into()));
    assert_eq!(macro_board["matrix_size"], serde_json::json!({"cols": 3, "rows": 4}), "split rows doubled");
}
