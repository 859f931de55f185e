//! What each key of a keymap shows on its picture: a short legend derived from the
//! value C gives its keycode, so that a key C silently changes shows what it really
//! does (and is marked with the warning). The spec's label where the value has one
//! (`Esc`, and `!` for `LSFT(KC_1)`), layer keys as `L1`, mod-taps and layer-taps as
//! what they tap and what they hold.

use rustc_hash::FxHashMap as HashMap;

use super::document::Keymap;
use super::json2c::{CKey, c_keys};
use super::keycodes::{Keycodes, Scope, is_identifier};
use super::validate::{Context, KeymapNames, Report, key_warnings};
use crate::keyboard::Layout;

/// What kind of key a legend is for: each is drawn its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Key,
    /// `KC_TRNS`: the key of the layer below acts.
    Transparent,
    /// `KC_NO`: the key does nothing.
    NoKey,
    /// A key that only switches layers (`MO(1)`, `TG(2)`).
    Layer,
    /// A keycode the keymap or its keyboard declares, shown by the name written.
    Custom,
}

/// A key's legend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Legend {
    pub kind: Kind,
    /// What the key does when tapped, or simply pressed; empty when nothing.
    pub tap: String,
    /// What it does when held, for keys that do something else then.
    pub hold: Option<String>,
    /// The layer the key switches to, if it does.
    pub layer: Option<u8>,
}

/// One key of a keymap: its keycode as written, its legend and what C changes in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLegend {
    pub keycode: String,
    pub legend: Legend,
    pub warnings: Vec<String>,
}

/// The legends of a valid keymap, with the layout they are drawn on.
#[derive(Debug, Clone)]
pub struct Legends<'k> {
    /// The keyboard, after aliases.
    pub keyboard: &'k str,
    /// The layout, after aliases.
    pub layout_name: &'k str,
    pub layout: &'k Layout,
    pub layers: Vec<Vec<KeyLegend>>,
}

/// The 16-bit keycode layout: a basic keycode in the low byte, and above it a
/// 5-bit modifier set (bit 4 for right-hand modifiers) or a layer.
const BASIC: u16 = 0xFF;
const MODS: u16 = 0x1F;
const RIGHT_HAND: u16 = 0x10;
const MOD_NAMES: [&str; 4] = ["Ctrl", "Shift", "Alt", "GUI"];

/// The keys whose layer is their low 5 bits, by range, and how each reaches it.
const LAYER_KEYS: [(&str, &str); 7] = [
    ("QK_MOMENTARY", ""),
    ("QK_TO", "To "),
    ("QK_TOGGLE_LAYER", "Toggle "),
    ("QK_DEF_LAYER", "Default "),
    ("QK_PERSISTENT_DEF_LAYER", "Save default "),
    ("QK_ONE_SHOT_LAYER", "One-shot "),
    ("QK_LAYER_TAP_TOGGLE", "Tap-toggle "),
];

/// The legends of every key of `keymap`, which `report` found valid; `None` when it is not.
pub fn legends<'k>(keymap: &Keymap, report: &Report, context: Context<'k>) -> Option<Legends<'k>> {
    if !report.is_valid() {
        return None;
    }
    let keyboard = context.keyboards.resolve(report.keyboard.as_deref()?).ok()?;
    let (layout_name, layout) = keyboard.layout(report.layout.as_deref()?)?;
    let names = KeymapNames::new(keymap, keyboard, context);
    let scope = names.scope(keymap, context.keycodes)?;
    let layers = keymap.layers.as_ref()?;
    // Keymaps repeat their keycodes (`KC_TRNS`...): each is worked out once.
    let mut known: HashMap<String, KeyLegend> = HashMap::default();
    let mut drawn = Vec::with_capacity(layers.len());
    for layer in layers {
        // The keys as C sees them: a key split over strings is drawn once (see `CKey`).
        let c_keys = c_keys(layer);
        let mut keys = Vec::with_capacity(c_keys.len());
        for CKey { text: keycode, .. } in c_keys {
            let key = match known.get(&keycode) {
                Some(found) => found.clone(),
                None => {
                    let resolved = scope.resolve(&keycode).ok()?;
                    let warnings = key_warnings(&keycode, &resolved, layers.len());
                    let legend = legend(&scope, &keycode, resolved.value);
                    let key = KeyLegend { keycode: keycode.clone(), legend, warnings };
                    known.insert(keycode, key.clone());
                    key
                }
            };
            keys.push(key);
        }
        drawn.push(keys);
    }
    Some(Legends { keyboard: &keyboard.name, layout_name, layout, layers: drawn })
}

/// The legend of a key whose keycode, `written`, has `value`.
pub(super) fn legend(scope: &Scope, written: &str, value: u16) -> Legend {
    let plain = |kind, tap: String| Legend { kind, tap, hold: None, layer: None };
    match value {
        0 => return plain(Kind::NoKey, "No key".into()),
        1 => return plain(Kind::Transparent, "Transparent".into()),
        _ => {}
    }
    let within = |range: &str| scope.in_range(range, value);
    // Declared keycodes have spec labels such as `User 0`; the name written says more.
    if (within("QK_USER") || within("QK_KB")) && is_identifier(written) && !scope.is_spec_name(written) {
        return plain(Kind::Custom, written.to_owned());
    }
    if let Some(label) = scope.label(value) {
        return plain(Kind::Key, label.to_owned());
    }
    let basic = basic(scope, value & BASIC);
    let layer = |shift: u16| ((value >> shift) & 0xF) as u8;
    let tap_hold =
        |hold: String, layer: Option<u8>| Legend { kind: Kind::Key, tap: basic.clone(), hold: Some(hold), layer };
    if within("QK_MODS") {
        let parts = [mods(value >> 8), basic.clone()];
        return plain(Kind::Key, parts.iter().filter(|p| !p.is_empty()).cloned().collect::<Vec<_>>().join("+"));
    }
    if within("QK_MOD_TAP") {
        return tap_hold(mods(value >> 8), None);
    }
    if within("QK_LAYER_TAP") {
        return tap_hold(format!("L{}", layer(8)), Some(layer(8)));
    }
    if within("QK_SWAP_HANDS") {
        return tap_hold("Swap hands".into(), None);
    }
    if within("QK_LAYER_MOD") {
        let tap = format!("L{}+{}", layer(5), mods(value));
        return Legend { kind: Kind::Layer, tap, hold: None, layer: Some(layer(5)) };
    }
    if let Some((_, how)) = LAYER_KEYS.iter().find(|(range, _)| within(range)) {
        let target = (value & 0x1F) as u8;
        return Legend { kind: Kind::Layer, tap: format!("{how}L{target}"), hold: None, layer: Some(target) };
    }
    if within("QK_ONE_SHOT_MOD") {
        return plain(Kind::Key, format!("One-shot {}", mods(value)));
    }
    if within("QK_TAP_DANCE") {
        return plain(Kind::Key, format!("Tap dance {}", value & BASIC));
    }
    if within("QK_UNICODE")
        && written.starts_with("UC(")
        && let Some(character) = char::from_u32(u32::from(value & 0x7FFF)).filter(|c| !c.is_control())
    {
        return plain(Kind::Key, character.to_string());
    }
    let name = if is_identifier(written) { Some(written) } else { scope.key_name(value) };
    plain(Kind::Key, name.map_or_else(|| written.to_owned(), readable))
}

/// The legend of a basic keycode inside another key; nothing for `KC_NO`.
fn basic(scope: &Scope, code: u16) -> String {
    match (code, scope.label(code), scope.key_name(code)) {
        (0, ..) => String::new(),
        (_, Some(label), _) => label.to_owned(),
        (_, None, Some(name)) => readable(name),
        (code, None, None) => format!("0x{code:02X}"),
    }
}

/// A 5-bit modifier set: `Ctrl+Shift`, `RAlt`, and QMK's names `Meh` and `Hyper`.
fn mods(bits: u16) -> String {
    let (set, right) = (bits & MODS & !RIGHT_HAND, bits & RIGHT_HAND != 0);
    match (set, right) {
        (0xF, false) => "Hyper".into(),
        (0x7, false) => "Meh".into(),
        _ => {
            let side = if right { "R" } else { "" };
            let names = MOD_NAMES.iter().enumerate().filter(|(bit, _)| set & (1 << bit) != 0);
            names.map(|(_, name)| format!("{side}{name}")).collect::<Vec<_>>().join("+")
        }
    }
}

/// A keycode name as a legend: `QK_STENO_BOLT` → `STENO BOLT`, which can wrap.
fn readable(name: &str) -> String {
    bare(name).replace('_', " ").trim().to_owned()
}

/// What a key of a keyboard's layout shows, from the label its maker gave it: the
/// spec's label where the label names a keycode (`SEMICOLON` → `;`, `PAGEUP` → `Page Up`,
/// and retired names: `LSHIFT` → `Left Shift`), nothing for a matrix id (`k46`), which
/// says nothing about the key, else the label as written.
pub struct LabelLegends {
    by_name: HashMap<String, String>,
}

impl LabelLegends {
    pub fn new(keycodes: &Keycodes) -> LabelLegends {
        let mut by_name: HashMap<String, String> =
            keycodes.labelled_names().map(|(name, label)| (normalized(name), label.to_owned())).collect();
        for (old, retirement) in keycodes.retired().iter() {
            if let Some(label) = by_name.get(&normalized(&retirement.replacement)).cloned() {
                by_name.entry(normalized(old)).or_insert(label);
            }
        }
        LabelLegends { by_name }
    }

    pub fn legend<'l>(&'l self, label: &'l str) -> &'l str {
        if is_matrix_id(label) {
            return "";
        }
        match self.by_name.get(&normalized(label)) {
            // A longer label only where it is words for an abbreviation (`LCTRL`).
            Some(legend) if legend.chars().count() <= label.chars().count() + 4 => legend,
            _ => label,
        }
    }
}

/// A keycode name or a label as compared: no `KC_`/`QK_`, no `_`, upper case.
fn normalized(name: &str) -> String {
    bare(name).chars().filter(|c| *c != '_').flat_map(char::to_uppercase).collect()
}

/// A keycode name without its `KC_` or `QK_` prefix.
fn bare(name: &str) -> &str {
    ["KC_", "QK_"].iter().find_map(|prefix| name.strip_prefix(prefix)).unwrap_or(name)
}

/// QMK's matrix ids (`k46`, `K2A`): a `k` and two to four letters or digits, one a digit.
fn is_matrix_id(label: &str) -> bool {
    label.strip_prefix(['k', 'K']).is_some_and(|rest| {
        (2..=4).contains(&rest.len())
            && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            && rest.bytes().any(|b| b.is_ascii_digit())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keymap::{Keycodes, Names};
    use crate::source::DataTree;

    fn keycodes() -> Keycodes {
        Keycodes::new(&crate::spec::load(&DataTree::Bundled).unwrap().constants, None).unwrap()
    }

    /// The legend of `written` as tap, hold and layer, under `language`.
    fn shown(keycodes: &Keycodes, language: Option<&str>, written: &str) -> (Kind, String, Option<String>, Option<u8>) {
        let none = Names::default();
        let scope = keycodes.scope(&none, &none, language).unwrap();
        let value = scope.resolve(written).unwrap_or_else(|e| panic!("{written}: {e}")).value;
        let legend = legend(&scope, written, value);
        (legend.kind, legend.tap, legend.hold, legend.layer)
    }

    #[test]
    fn a_layouts_label_shows_the_legend_of_the_keycode_it_names_and_matrix_ids_show_nothing() {
        let legends = LabelLegends::new(&keycodes());
        let shown: Vec<&str> =
            ["SEMICOLON", "PAGEUP", "caps_lock", "GRAVE", "k46", "K2A", "Shift", "EQUALSIGN", "KEY", "k1"]
                .into_iter()
                .map(|label| legends.legend(label))
                .collect();
        assert_eq!(shown, [";", "Page Up", "Caps Lock", "`", "", "", "Shift", "EQUALSIGN", "KEY", "k1"]);
    }

    #[test]
    fn each_kind_of_keycode_gets_a_short_legend_from_its_value() {
        use Kind::*;
        let keycodes = keycodes();
        // The keycode written, then the legend's kind, tap, hold and layer.
        type Case<'a> = (&'a str, Kind, &'a str, Option<&'a str>, Option<u8>);
        let cases: &[Case] = &[
            ("KC_ESC", Key, "Esc", None, None),
            ("_______", Transparent, "Transparent", None, None),
            ("XXXXXXX", NoKey, "No key", None, None),
            ("QK_BOOT", Key, "Bootloader", None, None),
            ("KC_EXLM", Key, "!", None, None),
            ("LSFT(KC_1)", Key, "!", None, None),
            ("MO(1)", Layer, "L1", None, Some(1)),
            ("TG(2)", Layer, "Toggle L2", None, Some(2)),
            ("TO(3)", Layer, "To L3", None, Some(3)),
            ("OSL(4)", Layer, "One-shot L4", None, Some(4)),
            ("LM(1, MOD_LSFT)", Layer, "L1+Shift", None, Some(1)),
            ("LT(2, KC_SPC)", Key, "Spacebar", Some("L2"), Some(2)),
            ("LCTL_T(KC_ESC)", Key, "Esc", Some("Ctrl"), None),
            ("MT(MOD_LCTL | MOD_LSFT, KC_A)", Key, "A", Some("Ctrl+Shift"), None),
            ("MEH_T(KC_B)", Key, "B", Some("Meh"), None),
            ("RALT_T(KC_C)", Key, "C", Some("RAlt"), None),
            ("LCTL(KC_C)", Key, "Ctrl+C", None, None),
            ("HYPR(KC_NO)", Key, "Hyper", None, None),
            ("OSM(MOD_LSFT)", Key, "One-shot Shift", None, None),
            ("TD(3)", Key, "Tap dance 3", None, None),
            ("SH_T(KC_D)", Key, "D", Some("Swap hands"), None),
            ("UC(0x00E9)", Key, "é", None, None),
            ("SAFE_RANGE", Custom, "SAFE_RANGE", None, None),
            ("QK_USER_0", Key, "User 0", None, None),
        ];
        for (written, kind, tap, hold, layer) in cases {
            let expected = (*kind, (*tap).to_owned(), hold.map(str::to_owned), *layer);
            assert_eq!(shown(&keycodes, None, written), expected, "{written}");
        }
    }

    #[test]
    fn a_lossy_key_shows_what_c_makes_of_it() {
        let keycodes = keycodes();
        // Layer 32 is masked to layer 0; LT taps the basic key under KC_EXLM's shift.
        assert_eq!(shown(&keycodes, None, "MO(32)").1, "L0");
        assert_eq!(shown(&keycodes, None, "LT(3, KC_EXLM)").1, "1");
    }

    #[test]
    fn a_host_language_labels_keys_as_its_layout_prints_them() {
        let keycodes = keycodes();
        assert_eq!(shown(&keycodes, Some("german"), "DE_Z").1, "Z");
        assert_eq!(shown(&keycodes, Some("german"), "KC_Y").1, "Z");
        assert_eq!(shown(&keycodes, None, "KC_Y").1, "Y");
    }
}
