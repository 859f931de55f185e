//! The features a key needs: `CW_TOGG` does nothing unless Caps Word is built in,
//! `MS_BTN1` unless mouse keys are, `UG_TOGG` unless the keyboard has RGB lighting.
//! Which feature a keycode belongs to follows QMK's keycode spec (the key's name and
//! group, and the ranges of `UC()` and `SH_T()`); whether the keyboard has it, its
//! info.json and the keymap's `config`.
//!
//! A small feature that is software alone is turned on for the build when the keymap
//! uses its keys and neither the keyboard nor the keymap has it (the build's rules.mk
//! says `<FEATURE>_ENABLE = yes`), and the keymap's author is told. The others are
//! not: one that needs hardware the keyboard does not declare, one that changes the
//! USB device or takes much of a small chip's flash (MIDI), one that needs the
//! keymap's own tables (combos): their keys are said to do nothing.

use crate::keyboard::custom_keycodes::enables_feature;
use crate::keyboard::rules_mk::Rules;
use crate::spec::{Object, Value};

/// A feature of QMK's that keys need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// Its key under info.json's `features`.
    pub name: &'static str,
    /// Another info.json key QMK maps its `_ENABLE` to, or "".
    pub info_key: &'static str,
    /// How QMK's documentation names it.
    pub title: &'static str,
    pub kind: Kind,
}

/// Whether the build may turn a feature on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Small and software alone: turned on where a key needs it.
    Automatic,
    /// Software, but only the keymap may ask for it (`config.features`), or its
    /// members (`combos`...) do.
    OnRequest,
    /// The keyboard must have hardware for it (lighting, sound, a second half).
    Hardware,
}

impl Feature {
    /// Its rules.mk variable.
    pub fn variable(&self) -> String {
        format!("{}_ENABLE", self.name.to_uppercase())
    }
}

const fn software(name: &'static str, info_key: &'static str, title: &'static str) -> Feature {
    Feature { name, info_key, title, kind: Kind::Automatic }
}

const fn on_request(name: &'static str, title: &'static str) -> Feature {
    Feature { name, info_key: "", title, kind: Kind::OnRequest }
}

const fn hardware(name: &'static str, title: &'static str) -> Feature {
    Feature { name, info_key: "", title, kind: Kind::Hardware }
}

pub const CAPS_WORD: Feature = software("caps_word", "caps_word.enabled", "Caps Word");
pub const COMBO: Feature = on_request("combo", "Combos");
pub const TAP_DANCE: Feature = on_request("tap_dance", "Tap Dance");
pub const KEY_OVERRIDE: Feature = on_request("key_override", "Key Overrides");
const MOUSEKEY: Feature = software("mousekey", "mouse_key.enabled", "Mouse Keys");
const RGBLIGHT: Feature = hardware("rgblight", "RGB Lighting");

/// Keycode name prefixes of QMK's spec, and the feature their keys need.
const BY_NAME: &[(&str, Feature)] = &[
    ("QK_CAPS_WORD", CAPS_WORD),
    ("QK_TRI_LAYER", software("tri_layer", "", "Tri Layer")),
    ("QK_LEADER", software("leader", "", "Leader Key")),
    ("QK_REPEAT_KEY", software("repeat_key", "", "Repeat Key")),
    ("QK_ALT_REPEAT_KEY", software("repeat_key", "", "Repeat Key")),
    ("QK_LAYER_LOCK", software("layer_lock", "", "Layer Lock")),
    ("QK_AUTO_SHIFT", software("auto_shift", "", "Auto Shift")),
    ("QK_DYNAMIC_MACRO", software("dynamic_macro", "", "Dynamic Macros")),
    ("QK_DYNAMIC_TAPPING_TERM", software("dynamic_tapping_term", "", "Dynamic Tapping Term")),
    ("QK_AUTOCORRECT", software("autocorrect", "", "Autocorrect")),
    ("QK_SECURE", software("secure", "secure.enabled", "Secure")),
    ("QK_KEY_OVERRIDE", KEY_OVERRIDE),
    ("QK_COMBO", COMBO),
    ("QK_MOUSE", MOUSEKEY),
    ("QK_PROGRAMMABLE_BUTTON", on_request("programmable_button", "Programmable Button")),
    ("QK_SEQUENCER", on_request("sequencer", "Sequencer")),
    ("QK_MIDI", on_request("midi", "MIDI")),
    ("QK_UNDERGLOW", RGBLIGHT),
    ("QK_RGB_MATRIX", hardware("rgb_matrix", "RGB Matrix")),
    ("QK_LED_MATRIX", hardware("led_matrix", "LED Matrix")),
    ("QK_BACKLIGHT", hardware("backlight", "Backlight")),
    ("QK_AUDIO", hardware("audio", "Audio")),
    ("QK_MUSIC", hardware("audio", "Audio")),
    ("QK_HAPTIC", hardware("haptic", "Haptic Feedback")),
    ("QK_JOYSTICK", hardware("joystick", "Joystick")),
    ("QK_SWAP_HANDS", hardware("swap_hands", "Swap Hands")),
    ("QK_BLUETOOTH", hardware("bluetooth", "Bluetooth")),
    ("QK_STENO", hardware("steno", "Stenography")),
];

/// Keycode groups of older spec versions, whose names lack the `QK_` prefixes.
const BY_GROUP: &[(&str, Feature)] = &[("mouse", MOUSEKEY), ("underglow", RGBLIGHT), ("rgb", RGBLIGHT)];

/// Keycode ranges whose keys need a feature (`UC(0x2603)`, `SH_T(KC_SPC)`).
pub const BY_RANGE: &[(&str, Feature)] =
    &[("QK_UNICODE", software("unicode", "", "Unicode")), ("QK_SWAP_HANDS", hardware("swap_hands", "Swap Hands"))];

/// The feature a keycode needs, from its spec name, its group or its range.
pub fn of_keycode(name: Option<&str>, group: Option<&str>, range: Option<&str>) -> Option<Feature> {
    let by_name = name.and_then(|name| BY_NAME.iter().find(|(prefix, _)| name.starts_with(prefix)));
    let by_group = || group.and_then(|group| BY_GROUP.iter().find(|(g, _)| *g == group));
    let by_range = || range.and_then(|range| BY_RANGE.iter().find(|(r, _)| *r == range));
    by_name.or_else(by_group).or_else(by_range).map(|(_, feature)| *feature)
}

/// What the build does about a feature a keymap needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The keyboard or the keymap has it on.
    On,
    /// The build turns it on.
    TurnOn,
    /// The keymap turns it off.
    OffByKeymap,
    /// Off, and only the keymap may turn it on (for hardware: the keyboard describes it).
    NotRequested,
    /// It needs hardware the keyboard does not declare.
    NoHardware,
}

/// What the keymap says of its features: its `config`, and the `<FEATURE>_ENABLE`
/// lines of the rules.mk beside it in a tree's keymap folder.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'a> {
    pub config: Option<&'a Object>,
    pub rules: Option<&'a Rules>,
}

impl Asked<'_> {
    fn says(&self, feature: &Feature) -> Option<bool> {
        let in_config = self.config.and_then(|c| c.get("features")).and_then(|f| f.get(feature.name));
        let in_rules = || self.rules.and_then(|rules| rules.get(&feature.variable()));
        match (in_config, in_rules()) {
            (Some(Value::Bool(on)), _) => Some(*on),
            (_, Some(value)) => Some(value.trim() == "yes"),
            _ => self.config.is_some_and(|c| enables_feature(c, feature.name, feature.info_key)).then_some(true),
        }
    }
}

/// Whether `feature` is on for `keyboard` (its info.json) with what the keymap asks.
pub fn decide(feature: &Feature, keyboard: &Object, asked: Asked) -> Decision {
    match asked.says(feature) {
        Some(true) => return Decision::On,
        Some(false) => return Decision::OffByKeymap,
        None => {}
    }
    if enables_feature(keyboard, feature.name, feature.info_key)
        || (feature == &RGBLIGHT && enables_feature(keyboard, "rgb_matrix", ""))
    {
        return Decision::On;
    }
    match feature.kind {
        Kind::Automatic => Decision::TurnOn,
        Kind::OnRequest => Decision::NotRequested,
        // Described (`"backlight": {"driver": "custom"}`) but off: the keymap may turn it on.
        Kind::Hardware if keyboard.get(feature.name).is_some_and(|v| v.as_object().is_some()) => Decision::NotRequested,
        Kind::Hardware => Decision::NoHardware,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> Object {
        match crate::spec::hjson::parse(json).unwrap() {
            Value::Object(object) => object,
            _ => unreachable!("an object"),
        }
    }

    #[test]
    fn keys_need_their_features() {
        assert_eq!(of_keycode(Some("QK_CAPS_WORD_TOGGLE"), Some("quantum"), None), Some(CAPS_WORD));
        assert_eq!(of_keycode(Some("KC_MS_BTN1"), Some("mouse"), None), Some(MOUSEKEY));
        assert_eq!(of_keycode(None, None, Some("QK_UNICODE")).map(|f| f.name), Some("unicode"));
        assert_eq!(of_keycode(Some("KC_A"), Some("basic"), None), None);
        assert_eq!(CAPS_WORD.variable(), "CAPS_WORD_ENABLE");
    }

    #[test]
    fn software_is_turned_on_and_hardware_is_not() {
        let bare = object("{}");
        let none = Asked::default();
        assert_eq!(decide(&CAPS_WORD, &bare, none), Decision::TurnOn);
        assert_eq!(decide(&CAPS_WORD, &object(r#"{"caps_word": {"enabled": true}}"#), none), Decision::On);
        let off = object(r#"{"features": {"caps_word": false}}"#);
        assert_eq!(decide(&CAPS_WORD, &bare, Asked { config: Some(&off), rules: None }), Decision::OffByKeymap);
        let rules = Rules::of("CAPS_WORD_ENABLE = yes\n");
        assert_eq!(decide(&CAPS_WORD, &bare, Asked { config: None, rules: Some(&rules) }), Decision::On);
        assert_eq!(decide(&RGBLIGHT, &bare, none), Decision::NoHardware);
        assert_eq!(decide(&RGBLIGHT, &object(r#"{"features": {"rgb_matrix": true}}"#), none), Decision::On);
        assert_eq!(decide(&COMBO, &bare, none), Decision::NotRequested);
        let described = object(r#"{"rgblight": {"led_count": 4}}"#);
        assert_eq!(decide(&RGBLIGHT, &described, none), Decision::NotRequested, "the keyboard describes it");
    }
}
