//! What each key of a keymap shows on its picture: a short legend derived from the
//! value C gives its keycode, so that a key C silently changes shows what it really
//! does (and is marked with the warning). The spec's label where the value has one
//! (`Esc`, and `!` for `LSFT(KC_1)`), layer keys as `L1`, mod-taps and layer-taps as
//! what they tap and what they hold. The keymap's own names and features show as
//! it wrote them: layers by their names (`NAV`), a tap dance by its actions, and its
//! combos and key overrides by the legends of their keycodes.

use rustc_hash::FxHashMap as HashMap;

use super::document::Keymap;
use super::extensions::{Combo, Extensions, KeyOverride, LayerRef, TapDance, mod_mask};
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
    /// A tap dance the keymap defines (`TD(ESC_CAPS)`): what it sends tapped, and its other actions.
    Dance,
}

/// A key's legend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Legend {
    pub kind: Kind,
    /// What the key does when tapped, or simply pressed; empty when nothing.
    pub tap: String,
    /// What it does when held, for keys that do something else then.
    pub hold: Option<String>,
    /// A tap dance's actions besides its tap, one short line each: `hold Ctrl`, `2× Caps`.
    pub actions: Vec<String>,
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
    pub combos: Vec<ComboLegend>,
    /// The key overrides, one line each: `Shift + Backspace → Delete (on NAV)`.
    pub overrides: Vec<String>,
}

/// A combo as its picture shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComboLegend {
    pub combo: Combo,
    /// The legends of its keys, and of what they send together.
    pub keys: Vec<String>,
    pub output: String,
    /// For each layer, where its keys are (each keycode's first key) when all of them are on it.
    pub positions: Vec<Option<Vec<usize>>>,
}

/// The 16-bit keycode layout: a basic keycode in the low byte, and above it a
/// 5-bit modifier set (bit 4 for right-hand modifiers) or a layer.
const BASIC: u16 = 0xFF;
const MODS: u16 = 0x1F;
const RIGHT_HAND: u16 = 0x10;
const MOD_NAMES: [&str; 4] = ["Ctrl", "Shift", "Alt", "GUI"];

/// What a tap dance's lines say before the legend of each action but its tap.
const DANCE_PREFIXES: [&str; 3] = ["hold ", "2× ", "tap+hold "];

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

/// The legends of every key of `keymap`, and of its combos and key overrides, which
/// `report` found valid; `None` when it is not.
pub fn legends<'k>(keymap: &Keymap, report: &Report, context: Context<'k>) -> Option<Legends<'k>> {
    if !report.is_valid() {
        return None;
    }
    let keyboard = context.keyboards.resolve(report.keyboard.as_deref()?).ok()?;
    let (layout_name, layout) = keyboard.layout(report.layout.as_deref()?)?;
    let names = KeymapNames::new(keymap, keyboard, context);
    let scope = names.scope(keymap, context.keycodes)?;
    let layers = keymap.layers.as_ref()?;
    let extensions = &keymap.extensions;
    let layer_names = &extensions.layer_names;
    // Keymaps repeat their keycodes (`KC_TRNS`...): each is worked out once.
    let mut known: HashMap<String, (KeyLegend, u16)> = HashMap::default();
    let mut drawn = Vec::with_capacity(layers.len());
    // Each key's value, where combos find their keys.
    let mut values = Vec::with_capacity(layers.len());
    for layer in layers {
        // The keys as C sees them: a key split over strings is drawn once (see `CKey`).
        let c_keys = c_keys(layer);
        let (mut keys, mut layer_values) = (Vec::with_capacity(c_keys.len()), Vec::with_capacity(c_keys.len()));
        for CKey { text: keycode, .. } in c_keys {
            let (key, value) = match known.get(&keycode) {
                Some(found) => found.clone(),
                None => {
                    let resolved = scope.resolve(&keycode).ok()?;
                    let warnings = key_warnings(&keycode, &resolved, layers.len());
                    let legend = match dance(&scope, extensions, resolved.value) {
                        Some(dance) => dance_legend(&scope, layer_names, dance),
                        None => legend(&scope, layer_names, &keycode, resolved.value),
                    };
                    let key = KeyLegend { keycode: keycode.clone(), legend, warnings };
                    known.insert(keycode, (key.clone(), resolved.value));
                    (key, resolved.value)
                }
            };
            keys.push(key);
            layer_values.push(value);
        }
        drawn.push(keys);
        values.push(layer_values);
    }
    Some(Legends {
        keyboard: &keyboard.name,
        layout_name,
        layout,
        layers: drawn,
        combos: extensions
            .combos
            .iter()
            .filter_map(|combo| combo_legend(&scope, layer_names, combo, &values))
            .collect(),
        overrides: extensions
            .key_overrides
            .iter()
            .filter_map(|item| override_line(&scope, layer_names, item))
            .collect(),
    })
}

/// The value and legend of a keycode the extension's members name; `None` when it does not resolve.
fn named_legend(scope: &Scope, names: &[String], keycode: &str) -> Option<(u16, Legend)> {
    let value = scope.resolve(keycode).ok()?.value;
    Some((value, legend(scope, names, keycode, value)))
}

/// The tap dance of the keymap's that a key of `value` is (`TD(ESC_CAPS)`, `TD(0)`).
fn dance<'e>(scope: &Scope, extensions: &'e Extensions, value: u16) -> Option<&'e TapDance> {
    extensions.tap_dances.get(usize::from(scope.tap_dance(value)?))
}

/// A tap dance's legend: what it sends tapped, and a line for each other action that
/// sends something (`hold Ctrl`, `2× Caps`, `tap+hold Alt`); a dance that sends nothing
/// at all shows its name, which its tooltip and the warning about it give. The actions'
/// legends are plain keycodes'.
fn dance_legend(scope: &Scope, names: &[String], dance: &TapDance) -> Legend {
    let [tap, others @ ..] = dance.actions().map(|(_, keycode)| {
        keycode.and_then(|keycode| named_legend(scope, names, keycode)).filter(|(_, l)| l.kind != Kind::NoKey)
    });
    let actions: Vec<String> = DANCE_PREFIXES
        .iter()
        .zip(others)
        .filter_map(|(prefix, action)| Some(format!("{prefix}{}", action?.1.tap)))
        .collect();
    let tap = match (tap, &actions[..]) {
        (Some((_, legend)), _) => legend.tap,
        (None, []) => dance.name.clone(),
        (None, _) => String::new(),
    };
    // A dance's actions are keys with modifiers (validation refuses layer keys there).
    Legend { kind: Kind::Dance, tap, hold: None, actions, layer: None }
}

/// A combo's legends, and where its keys are on each layer (`values`, each key's value by layer).
fn combo_legend(scope: &Scope, names: &[String], combo: &Combo, values: &[Vec<u16>]) -> Option<ComboLegend> {
    let keys: Vec<(u16, Legend)> =
        combo.keys.iter().map(|key| named_legend(scope, names, key)).collect::<Option<_>>()?;
    let positions = values
        .iter()
        .map(|layer| {
            let found = keys.iter().map(|(value, _)| layer.iter().position(|v| v == value));
            found.collect::<Option<Vec<usize>>>().filter(|positions| !positions.is_empty())
        })
        .collect();
    Some(ComboLegend {
        combo: combo.clone(),
        keys: keys.into_iter().map(|(_, legend)| legend.tap).collect(),
        output: named_legend(scope, names, &combo.output)?.1.tap,
        positions,
    })
}

/// A key override in words: `Shift + Backspace → Delete`, then the modifiers that
/// stop it and the layers it acts on, when it has them (`not with Ctrl`, `on NAV`).
fn override_line(scope: &Scope, names: &[String], item: &KeyOverride) -> Option<String> {
    let trigger = named_legend(scope, names, &item.trigger)?.1.tap;
    let replacement = named_legend(scope, names, &item.replacement)?.1.tap;
    let mask = |mods: &Option<_>| mods.as_ref().map_or(Ok(0), mod_mask).ok();
    let (trigger_mods, negative_mods) = (mask(&item.trigger_mods)?, mask(&item.negative_mods)?);
    let pressed: Vec<String> = [mask_names(trigger_mods), trigger].into_iter().filter(|p| !p.is_empty()).collect();
    let mut conditions = Vec::new();
    if negative_mods != 0 {
        conditions.push(format!("not with {}", mask_names(negative_mods)));
    }
    if let Some(layers) = &item.layers {
        let shown: Vec<String> = layers
            .iter()
            .map(|layer| match layer {
                LayerRef::Name(name) => name.clone(),
                LayerRef::Number(number) => {
                    names.get(usize::from(*number)).cloned().unwrap_or_else(|| format!("layer {number}"))
                }
            })
            .collect();
        conditions.push(format!("on {}", shown.join(", ")));
    }
    let conditions = if conditions.is_empty() { String::new() } else { format!(" ({})", conditions.join("; ")) };
    Some(format!("{} → {replacement}{conditions}", pressed.join(" + ")))
}

/// The legend of a key whose keycode, `written`, has `value`; layers show by their
/// `names` where they have one.
pub(super) fn legend(scope: &Scope, names: &[String], written: &str, value: u16) -> Legend {
    let plain = |kind, tap: String| Legend { kind, tap, hold: None, actions: Vec::new(), layer: None };
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
    let tap_hold = |hold: String, layer: Option<u8>| Legend {
        kind: Kind::Key,
        tap: basic.clone(),
        hold: Some(hold),
        actions: Vec::new(),
        layer,
    };
    let switch = |tap: String, target: u8| Legend {
        kind: Kind::Layer,
        tap,
        hold: None,
        actions: Vec::new(),
        layer: Some(target),
    };
    if within("QK_MODS") {
        let parts = [mods(value >> 8), basic.clone()];
        return plain(Kind::Key, parts.iter().filter(|p| !p.is_empty()).cloned().collect::<Vec<_>>().join("+"));
    }
    if within("QK_MOD_TAP") {
        return tap_hold(mods(value >> 8), None);
    }
    if within("QK_LAYER_TAP") {
        return tap_hold(layer_name(names, layer(8)), Some(layer(8)));
    }
    if within("QK_SWAP_HANDS") {
        return tap_hold("Swap hands".into(), None);
    }
    if within("QK_LAYER_MOD") {
        return switch(format!("{}+{}", layer_name(names, layer(5)), mods(value)), layer(5));
    }
    if let Some((_, how)) = LAYER_KEYS.iter().find(|(range, _)| within(range)) {
        let target = (value & 0x1F) as u8;
        return switch(format!("{how}{}", layer_name(names, target)), target);
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

/// A layer as its keys show it: by its name where `names` has one, else `L1`.
fn layer_name(names: &[String], layer: u8) -> String {
    match names.get(usize::from(layer)).filter(|name| !name.is_empty()) {
        Some(name) => name.clone(),
        None => format!("L{layer}"),
    }
}

/// An 8-bit modifier mask, a key override's: `Shift` where either Shift key will do
/// (both bits), `LShift` or `RShift` where only one will.
fn mask_names(mask: u8) -> String {
    let sides =
        MOD_NAMES.iter().enumerate().map(|(bit, name)| (name, mask >> bit & 1 != 0, mask >> (bit + 4) & 1 != 0));
    let named = sides.filter_map(|(name, left, right)| match (left, right) {
        (true, true) => Some((*name).to_owned()),
        (true, false) => Some(format!("L{name}")),
        (false, true) => Some(format!("R{name}")),
        (false, false) => None,
    });
    named.collect::<Vec<_>>().join("+")
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
        let legend = legend(&scope, &[], written, value);
        (legend.kind, legend.tap, legend.hold, legend.layer)
    }

    /// The legends of a valid keymap on the bundled ferris/0_1 (34 keys): `keys`
    /// on each layer from its first key, the rest `KC_NO`, and `members` beside.
    fn ferris_legends(keys: &[&[&str]], members: serde_json::Value) -> Legends<'static> {
        static TREE: std::sync::LazyLock<(crate::keyboard::Keyboards, Keycodes)> = std::sync::LazyLock::new(|| {
            let keyboards = crate::keyboard::load_for(&DataTree::Bundled, &["ferris/0_1"]).unwrap().unwrap();
            (keyboards, keycodes())
        });
        let layers: Vec<Vec<&str>> =
            keys.iter().map(|keys| (0..34).map(|i| *keys.get(i).unwrap_or(&"KC_NO")).collect()).collect();
        let mut document = serde_json::json!({"keyboard": "ferris/0_1", "keymap": "x", "layout": "LAYOUT_split_3x5_2", "layers": layers});
        document.as_object_mut().unwrap().extend(members.as_object().unwrap().clone());
        let context = Context { keyboards: &TREE.0, keycodes: &TREE.1 };
        let text = document.to_string();
        let source = crate::keymap::Source::new("keymap.json", &text);
        let (keymap, report) = crate::keymap::check(&source, None, context);
        assert!(report.is_valid(), "{:?}", report.diagnostics);
        legends(&keymap.unwrap(), &report, context).unwrap()
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
    fn layer_keys_show_the_names_of_their_layers() {
        let keycodes = keycodes();
        let none = Names::default();
        let scope = keycodes.scope(&none, &none, None).unwrap();
        let names = ["BASE".to_owned(), "NAV".to_owned(), String::new()];
        let shown = |written: &str| {
            let legend = legend(&scope, &names, written, scope.resolve(written).unwrap().value);
            (legend.tap, legend.hold, legend.layer)
        };
        assert_eq!(shown("MO(1)"), ("NAV".into(), None, Some(1)));
        assert_eq!(shown("TG(0)"), ("Toggle BASE".into(), None, Some(0)));
        assert_eq!(shown("LT(1, KC_SPC)"), ("Spacebar".into(), Some("NAV".into()), Some(1)));
        assert_eq!(shown("LM(1, MOD_LSFT)").0, "NAV+Shift");
        assert_eq!(shown("MO(2)").0, "L2", "an empty name is no name");
        assert_eq!(shown("MO(3)").0, "L3", "a layer past the names");
    }

    #[test]
    fn a_tap_dance_shows_its_actions_and_combos_and_overrides_their_keys_legends() {
        let legends = ferris_legends(
            &[
                &["KC_A", "KC_J", "KC_K", "TD(ESC_CAPS)", "TD(1)", "MO(NAV)", "KC_L", "KC_J", "TD(IDLE)"],
                &["KC_TRNS", "KC_K", "KC_J"],
            ],
            serde_json::json!({
                "layer_names": ["BASE", "NAV"],
                "tap_dances": [
                    {"name": "ESC_CAPS", "on_tap": "KC_ESC", "on_hold": "KC_LCTL", "on_double_tap": "KC_CAPS",
                     "on_tap_hold": "KC_NO"},
                    {"name": "ALT_DANCE", "on_hold": "KC_LALT", "on_tap_hold": "LCTL(KC_B)"},
                    {"name": "IDLE", "on_tap": "KC_NO"}
                ],
                "combos": [{"keys": ["KC_J", "KC_K"], "output": "KC_ESC"}, {"keys": ["KC_L", "KC_K"], "output": "KC_TAB"}],
                "key_overrides": [
                    {"trigger": "KC_BSPC", "trigger_mods": "MOD_MASK_SHIFT", "replacement": "KC_DEL", "layers": ["NAV", 0]},
                    {"trigger": "KC_A", "trigger_mods": "MOD_BIT_RALT", "negative_mods": "MOD_MASK_CTRL", "replacement": "KC_B"},
                    {"trigger": "KC_C", "replacement": "KC_D", "layers": [1]}
                ]
            }),
        );
        let dance = &legends.layers[0][3].legend;
        assert_eq!((dance.kind, dance.tap.as_str(), dance.hold.as_deref()), (Kind::Dance, "Esc", None));
        assert_eq!(dance.actions, ["hold Left Control", "2× Caps Lock"], "KC_NO sends nothing: no line");
        let second = &legends.layers[0][4].legend;
        assert_eq!(second.tap.as_str(), "", "no tap");
        assert_eq!(second.actions, ["hold Left Alt", "tap+hold Ctrl+B"]);
        let idle = &legends.layers[0][8].legend;
        assert_eq!((idle.tap.as_str(), idle.actions.len()), ("IDLE", 0), "a dance that sends nothing shows its name");
        let combos: Vec<_> = legends.combos.iter().map(|c| (c.keys.join(" + "), c.output.as_str())).collect();
        assert_eq!(combos, [("J + K".to_owned(), "Esc"), ("L + K".to_owned(), "Tab")]);
        assert_eq!(legends.combos[0].positions, [Some(vec![1, 2]), Some(vec![2, 1])], "each keycode's first key");
        assert_eq!(legends.combos[1].positions, [Some(vec![6, 2]), None], "no L on layer 1");
        assert_eq!(
            legends.overrides,
            ["Shift + Backspace → Delete (on NAV, BASE)", "RAlt + A → B (not with Ctrl)", "C → D (on NAV)"]
        );
    }

    #[test]
    fn override_modifiers_say_which_side_does() {
        assert_eq!(mask_names(0x22), "Shift");
        assert_eq!(mask_names(0x01 | 0x40), "LCtrl+RAlt");
        assert_eq!(mask_names(0xFF), "Ctrl+Shift+Alt+GUI");
        assert_eq!(mask_names(0), "");
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
