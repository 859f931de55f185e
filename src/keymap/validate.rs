//! Checking a keymap against its keyboard and a constants version: the keyboard
//! and the layout exist, every layer has as many keys as the layout, every keycode
//! resolves, layer references stay within the keymap.

use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashMap as HashMap;

use super::document::{Keymap, MacroStep, Source};
use super::expr::ExprError;
use super::extensions::features::{Asked, Feature};
use super::extensions::{self, Collision};
use super::json2c::{CKey, c_keys};
use super::keycodes::{Keycodes, Resolved, Scope};
use super::names::Names;
use super::retired::retired_layout;
use super::send_string;
use crate::diagnostic::{Diagnostic, KeyPosition, Severity, excerpt};
use crate::keyboard::{Keyboard, Keyboards, Layout};

/// Findings reported for one layer before the rest are only counted.
const FINDINGS_PER_LAYER: usize = 20;

/// Unknown names that get a "did you mean" in one file.
const SUGGESTIONS_PER_FILE: usize = 100;

/// What a keymap is checked against.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub keyboards: &'a Keyboards,
    pub keycodes: &'a Keycodes,
}

/// The outcome for one keymap.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The keyboard it was checked against, after aliases.
    pub keyboard: Option<String>,
    /// The layout it was checked against, after aliases.
    pub layout: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// The features the build turns on for the keymap (its combos, `CW_TOGG`...).
    pub features: Vec<Feature>,
}

impl Report {
    /// Valid when nothing is an error; warnings are allowed.
    pub fn is_valid(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// Every warning becomes an error, for those who want no silent changes.
    pub fn deny_warnings(&mut self) {
        for diagnostic in &mut self.diagnostics {
            diagnostic.severity = Severity::Error;
        }
    }

    /// The report for tools: `file`, `valid`, `keyboard`, `layout` and `diagnostics`,
    /// each with `severity`, `message` and, where they apply, `line`, `column`, `path`, `layer`, `key`, `label`.
    pub fn to_json(&self, file: &str) -> serde_json::Value {
        let diagnostics: Vec<serde_json::Value> = self
            .diagnostics
            .iter()
            .map(|d| {
                let mut entry = serde_json::json!({"severity": d.severity.as_str(), "message": d.message});
                let fields = [
                    ("line", d.line.map(serde_json::Value::from)),
                    ("column", d.column.map(serde_json::Value::from)),
                    ("path", d.key.clone().map(serde_json::Value::from)),
                    ("layer", d.position.as_ref().map(|p| p.layer.into())),
                    ("key", d.position.as_ref().map(|p| p.index.into())),
                    ("label", d.position.as_ref().and_then(|p| p.label.clone()).map(serde_json::Value::from)),
                ];
                for (name, value) in fields {
                    if let Some(value) = value {
                        entry[name] = value;
                    }
                }
                entry
            })
            .collect();
        serde_json::json!({
            "file": file,
            "valid": self.is_valid(),
            "keyboard": self.keyboard,
            "layout": self.layout,
            "diagnostics": diagnostics,
        })
    }
}

/// The keyboard a keymap file is for, from where it lies: `keyboards/<kb>/keymaps/<name>/`.
pub fn keyboard_from_path(path: &Path) -> Option<String> {
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    let start = parts.iter().rposition(|p| *p == "keyboards")? + 1;
    let end = start + parts[start..].iter().position(|p| *p == "keymaps")?;
    (end > start).then(|| parts[start..end].join("/"))
}

/// The keyboard whose definition checking a keymap file needs: the one its text
/// names, else the one its path implies (as [`check`] takes them); `None` when neither is known.
pub fn keyboard_needed(path: &Path, text: &str) -> Option<String> {
    let named = match crate::spec::hjson::parse(text) {
        Ok(crate::spec::Value::Object(document)) => {
            document.get("keyboard").and_then(|k| k.as_str()).map(str::to_owned)
        }
        _ => None,
    };
    named.or_else(|| keyboard_from_path(path))
}

/// Reads and checks the text of one keymap file: the document's findings and the
/// validation's in one report, and the keymap when the text holds one.
pub fn check(source: &Source, implied_keyboard: Option<&str>, context: Context) -> (Option<Keymap>, Report) {
    let (keymap, findings) = super::document::read(source, context.keyboards.settings());
    let mut report = match &keymap {
        Some(keymap) => validate(keymap, implied_keyboard, context, source),
        None => Report::default(),
    };
    report.diagnostics.splice(0..0, findings);
    (keymap, report)
}

/// Checks `keymap`; `implied_keyboard` stands in for a missing `keyboard` field.
pub fn validate(keymap: &Keymap, implied_keyboard: Option<&str>, context: Context, source: &Source) -> Report {
    let mut report = Report::default();
    let finding = |diagnostic, path: &[&str]| source.finding(diagnostic, path);
    let Some(name) = keymap.keyboard.as_deref().or(implied_keyboard) else {
        // A `keyboard` that is there but is no keyboard name has been reported by the reader.
        if !keymap.document.contains_key("keyboard") {
            let missing = Diagnostic::error("no `keyboard`: name the keyboard this keymap is for");
            report.diagnostics.push(finding(missing, &[]));
        }
        return report;
    };
    let keyboard = match context.keyboards.resolve(name) {
        Ok(keyboard) => keyboard,
        Err(error) => {
            report.diagnostics.push(finding(Diagnostic::error(error.to_string()), &["keyboard"]));
            return report;
        }
    };
    if keyboard.name != name {
        let moved = format!("keyboard `{name}` has moved to `{}`", keyboard.name);
        report.diagnostics.push(finding(Diagnostic::warning(moved), &["keyboard"]));
    }
    report.keyboard = Some(keyboard.name.clone());
    let names = KeymapNames::new(keymap, keyboard, context);
    let scope = match names.scope(keymap, context.keycodes) {
        Some(scope) => scope,
        None => {
            let mut known: Vec<&str> = context.keycodes.languages().collect();
            known.sort();
            let language = keymap.host_language.as_deref().unwrap_or_default();
            let message = format!("no host language `{language}`; known: us, {}", known.join(", "));
            report.diagnostics.push(finding(Diagnostic::error(message), &["host_language"]));
            return report;
        }
    };
    // The keys as C sees them, which is what is checked (see `CKey`).
    let c_layers: Vec<Vec<CKey>> = keymap.layers.iter().flatten().map(|strings| c_keys(strings)).collect();
    let checker = Checker { scope, source, suggestions: Cell::new(0), resolved: RefCell::default() };

    if let Some(layers) = &keymap.layers {
        let layout = resolve_layout(keymap, keyboard, &mut report, source);
        if layers.is_empty() {
            report
                .diagnostics
                .push(finding(Diagnostic::error("`layers` is empty: a keymap needs a layer"), &["layers"]));
        }
        if let Some((layout_name, _)) = layout {
            report.layout = Some(layout_name.to_owned());
        }
        for (index, (strings, keys)) in layers.iter().zip(&c_layers).enumerate() {
            checker.layer(index, strings, keys, layers.len(), layout, &mut report.diagnostics);
        }
    }
    let count = keymap.layers.as_ref().map_or(0, Vec::len);
    if let Some(encoders) = &keymap.encoders {
        for (layer, encoders) in encoders.iter().enumerate() {
            for (index, encoder) in encoders.iter().enumerate() {
                for (direction, keycode) in [("ccw", &encoder.ccw), ("cw", &encoder.cw)] {
                    let path = ["encoders", &layer.to_string(), &index.to_string(), direction];
                    checker.keycode(keycode, count, None, &path, &mut report.diagnostics);
                }
            }
            if count > 0 && layer >= count {
                let extra = format!("encoders are given for layer {layer}, but the keymap has {}", layers(count));
                report.diagnostics.push(finding(Diagnostic::warning(extra), &["encoders"]));
            }
        }
    }
    for (index, switch) in keymap.dip_switches.iter().flatten().enumerate() {
        for (state, keycode) in [("on", &switch.on), ("off", &switch.off)] {
            let path = ["dip_switches", &index.to_string(), state];
            checker.keycode(keycode, count, None, &path, &mut report.diagnostics);
        }
    }
    if let Some(macros) = &keymap.macros {
        checker.macros(macros, context.keycodes, &mut report.diagnostics);
    }
    extensions::check(&keymap.extensions, &names.collisions, &checker, &c_layers, &mut report.diagnostics);
    let asked = Asked {
        config: keymap.document.get("config").and_then(crate::spec::Value::as_object),
        rules: source.rules.as_ref(),
    };
    report.features =
        extensions::needed_features(&keymap.extensions, keyboard, asked, &checker, &c_layers, &mut report.diagnostics);
    report
}

/// The names a keymap's keycodes may use beyond the version's: its keyboard's and its
/// own (its keycodes, its layer and tap dance names).
pub(super) struct KeymapNames {
    keyboard: Arc<Names>,
    keymap: Names,
    /// The extension's names that C already has, left out.
    collisions: Vec<Collision>,
}

impl KeymapNames {
    pub(super) fn new(keymap: &Keymap, keyboard: &Keyboard, context: Context) -> KeymapNames {
        let mut names = KeymapNames {
            keyboard: context.keycodes.keyboard_names(keyboard, context.keyboards),
            keymap: {
                let mut names = keymap_keycodes(keymap, context.keycodes);
                if let Some(config) = keymap.document.get("config").and_then(crate::spec::Value::as_object) {
                    context.keycodes.add_features(&mut names, config);
                }
                names
            },
            collisions: Vec::new(),
        };
        let extensions = &keymap.extensions;
        let layers = extensions.layer_names.iter().enumerate().map(|(i, name)| ("layer_names", i, name, i));
        let dances = extensions.tap_dances.iter().enumerate().map(|(i, d)| ("tap_dances", d.index, &d.name, i));
        let own: Vec<(&str, usize, &String, usize)> = layers.chain(dances).collect();
        let taken: Vec<bool> = match names.scope(keymap, context.keycodes) {
            Some(scope) => own.iter().map(|(_, _, name, _)| is_taken(&scope, name)).collect(),
            None => own.iter().map(|(_, _, name, _)| C_KEYWORDS.contains(&name.as_str())).collect(),
        };
        for ((member, at, name, value), taken) in own.into_iter().zip(taken) {
            if taken {
                let mut path = vec![member.to_owned(), at.to_string()];
                path.extend((member == "tap_dances").then(|| "name".to_owned()));
                names.collisions.push(Collision { path, name: name.clone() });
                continue;
            }
            let enumeration = if member == "layer_names" { "layer_names" } else { "tap_dance_names" };
            let value = u16::try_from(value).unwrap_or(u16::MAX);
            let constants = Names::from_values([(name.clone(), value)], enumeration).constants;
            for (name, constant) in constants {
                names.keymap.constants.entry(name).or_insert(constant);
            }
        }
        names
    }

    /// The scope the keymap's keycodes resolve in; `None` for a host language the version lacks.
    pub(super) fn scope<'a>(&'a self, keymap: &Keymap, keycodes: &'a Keycodes) -> Option<Scope<'a>> {
        keycodes.scope(&self.keyboard, &self.keymap, keymap.host_language.as_deref())
    }
}

/// The value of each of `keycodes` as `keymap` sees them (its layer and dance names,
/// its keyboard's and its own keycodes); `None` for one that does not resolve.
pub fn key_values(keymap: &Keymap, keyboard: &Keyboard, context: Context, keycodes: &[&str]) -> Vec<Option<u16>> {
    let names = KeymapNames::new(keymap, keyboard, context);
    let Some(scope) = names.scope(keymap, context.keycodes) else { return vec![None; keycodes.len()] };
    keycodes.iter().map(|keycode| scope.resolve(keycode).ok().map(|r| r.value)).collect()
}

/// C's keywords (C11), which no enumerator may be named.
const C_KEYWORDS: &[&str] = &[
    "auto",
    "break",
    "case",
    "char",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extern",
    "float",
    "for",
    "goto",
    "if",
    "inline",
    "int",
    "long",
    "register",
    "restrict",
    "return",
    "short",
    "signed",
    "sizeof",
    "static",
    "struct",
    "switch",
    "typedef",
    "union",
    "unsigned",
    "void",
    "volatile",
    "while",
    "_Alignas",
    "_Alignof",
    "_Atomic",
    "_Bool",
    "_Complex",
    "_Generic",
    "_Imaginary",
    "_Noreturn",
    "_Static_assert",
    "_Thread_local",
];

/// Names keymap.c has that the keycodes do not tell: C's types and constants, what QMK's
/// build defines, and what qmk-api's C declares or uses.
const NAMES_OF_KEYMAP_C: &[&str] = &[
    "asm",
    "typeof",
    "defined",
    "bool",
    "true",
    "false",
    "NULL",
    "size_t",
    "int8_t",
    "int16_t",
    "int32_t",
    "int64_t",
    "uint8_t",
    "uint16_t",
    "uint32_t",
    "uint64_t",
    "PROGMEM",
    "F_CPU",
    "QMK_KEYBOARD_H",
    "KEYMAP_C",
    "OTHER_KEYMAP_C",
    "MATRIX_ROWS",
    "MATRIX_COLS",
    "keymaps",
    "encoder_map",
    "dip_switch_map",
    "key_combos",
    "combo_t",
    "COMBO_END",
    "COMBO_TERM",
    "get_combo_term",
    "tap_dance_actions",
    "tap_dance_action_t",
    "tap_dance_state_t",
    "TAPPING_TERM",
    "get_tapping_term",
    "key_overrides",
    "key_override_t",
    "keyrecord_t",
    "process_record_user",
    "layer_state",
    "default_layer_state",
    "layer_state_t",
];

/// Whether keymap.c already has `name`: a keyword, a name or macro of QMK's headers, the
/// keyboard's or the keymap's own, a layout macro's, a name of [`NAMES_OF_KEYMAP_C`],
/// or one of the names qmk-api's C uses (`qmk_api_...`). Other macros of QMK's sources
/// are not known here: such a name fails the build, with the compiler's error.
pub fn is_taken(scope: &Scope, name: &str) -> bool {
    C_KEYWORDS.contains(&name)
        || NAMES_OF_KEYMAP_C.contains(&name)
        // Reserved to C's implementation; QMK's send-string keys.
        || name.starts_with("__")
        || name.starts_with("X_")
        || name.starts_with("qmk_api_")
        || super::document::is_layout_macro(name)
        || scope.resolve(name).is_ok()
        || scope.function(name).is_some()
}

/// What a keymap's author is warned of for one resolved keycode: what C silently
/// changes in it, and layers it refers to past the keymap's last.
pub(super) fn key_warnings(keycode: &str, resolved: &Resolved, layer_count: usize) -> Vec<String> {
    let beyond = resolved.layers.iter().filter(|l| **l as usize >= layer_count && layer_count > 0);
    let beyond =
        beyond.map(|layer| format!("`{keycode}` refers to layer {layer}, but the keymap has {}", layers(layer_count)));
    resolved.warnings.iter().map(|w| w.message.clone()).chain(beyond).collect()
}

/// What a key written as several strings is: one key of C, as json2c joins them.
fn split_warning(strings: &[String], key: &CKey) -> String {
    let quoted: Vec<String> = strings[key.parts.clone()].iter().map(|s| format!("`{}`", excerpt(s))).collect();
    let (last, first) = quoted.split_last().expect("a split key has strings");
    format!(
        "{} and {last} (strings {} to {} of the layer) are one key: QMK's json2c joins a layer's strings with `, `, \
         so C sees `{}`, and every later key is one string further on",
        first.join(", "),
        key.parts.start,
        key.parts.end - 1,
        excerpt(&key.text)
    )
}

/// The keymap's own keycodes, numbered from QK_USER as QMK does.
fn keymap_keycodes(keymap: &Keymap, keycodes: &Keycodes) -> Names {
    let Some(start) = keycodes.range_start("QK_USER") else { return Names::default() };
    let declared = keymap.custom_keycodes.iter().enumerate();
    Names::from_values(
        declared.map(|(offset, name)| (name.clone(), start.wrapping_add(offset as u16))),
        "keymap_keycodes",
    )
}

fn resolve_layout<'k>(
    keymap: &Keymap,
    keyboard: &'k Keyboard,
    report: &mut Report,
    source: &Source,
) -> Option<(&'k str, &'k Layout)> {
    let Some(name) = keymap.layout.as_deref() else {
        report.diagnostics.push(source.finding(Diagnostic::error("no `layout`: name the LAYOUT macro"), &[]));
        return None;
    };
    if let Some(found) = keyboard.layout(name) {
        return Some(found);
    }
    let message = match retired_layout(name).filter(|current| keyboard.layout(current).is_some()) {
        Some(current) => format!("layout `{name}` is a retired name: use `{current}`"),
        None => {
            let mut known: Vec<&str> = keyboard.layouts.iter().map(|(n, _)| n.as_str()).collect();
            known.extend(keyboard.layout_aliases.keys().map(String::as_str));
            format!("no layout `{name}` on {}; it has {}", keyboard.name, known.join(", "))
        }
    };
    report.diagnostics.push(source.finding(Diagnostic::error(message), &["layout"]));
    None
}

pub(super) struct Checker<'a> {
    scope: Scope<'a>,
    source: &'a Source<'a>,
    /// Suggestions made so far: each searches every name, so a file gets a bounded number.
    suggestions: Cell<usize>,
    /// Each distinct keycode resolved once: keymaps repeat theirs (`KC_TRNS`...).
    resolved: RefCell<HashMap<&'a str, Result<Resolved, ExprError>>>,
}

impl<'a> Checker<'a> {
    pub(super) fn resolve(&self, keycode: &'a str) -> Result<Resolved, ExprError> {
        if let Some(found) = self.resolved.borrow().get(keycode) {
            return found.clone();
        }
        let result = self.scope.resolve(keycode);
        self.resolved.borrow_mut().insert(keycode, result.clone());
        result
    }

    /// Each macro needs its `QK_MACRO_<n>` keycode, a `delay` its duration, and every key
    /// of a step a send-string name: json2c writes them as C that names these.
    fn macros(&self, macros: &[Vec<MacroStep>], keycodes: &Keycodes, findings: &mut Vec<Diagnostic>) {
        for (index, steps) in macros.iter().enumerate() {
            let at = index.to_string();
            if !keycodes.contains(&format!("QK_MACRO_{index}")) {
                let message =
                    format!("macro {index} has no keycode: keycodes {} has no QK_MACRO_{index}", keycodes.version);
                findings.push(self.source.finding(Diagnostic::error(message), &["macros", &at]));
            }
            for (step_index, step) in steps.iter().enumerate() {
                let MacroStep::Action { action, keycodes: keys, duration } = step else { continue };
                let step_at = step_index.to_string();
                if action == "delay" && duration.is_none() {
                    let message = "a `delay` step needs a `duration` in milliseconds";
                    findings.push(self.source.finding(Diagnostic::error(message), &["macros", &at, &step_at]));
                }
                for (key_index, key) in keys.iter().enumerate() {
                    if let Some(problem) = send_string::problem(key, || self.may_suggest()) {
                        let path = ["macros", &at, &step_at, "keycodes", &key_index.to_string()];
                        findings.push(self.source.finding(Diagnostic::error(problem), &path));
                    }
                }
            }
        }
    }

    /// Whether one more unknown name may get a suggestion in this file.
    fn may_suggest(&self) -> bool {
        let made = self.suggestions.get();
        self.suggestions.set(made + 1);
        made < SUGGESTIONS_PER_FILE
    }

    fn layer(
        &self,
        index: usize,
        strings: &[String],
        keys: &'a [CKey],
        layer_count: usize,
        layout: Option<(&str, &Layout)>,
        findings: &mut Vec<Diagnostic>,
    ) {
        let layer_at = index.to_string();
        let layer_path = ["layers", layer_at.as_str()];
        if keys.is_empty() {
            findings.push(self.source.finding(Diagnostic::error(format!("layer {index} is empty")), &layer_path));
            return;
        }
        if let Some((name, layout)) = layout
            && layout.keys.len() != keys.len()
        {
            let message = format!("layer {index} has {} keys, but {name} has {}", keys.len(), layout.keys.len());
            findings.push(self.source.finding(Diagnostic::error(message), &layer_path));
        }
        let before = findings.len();
        let (mut errors, mut warnings) = (0, 0);
        for (key, c_key) in keys.iter().enumerate() {
            let keycode = c_key.text.as_str();
            let split = (c_key.parts.len() > 1).then(|| split_warning(strings, c_key));
            let reported = findings.len() - before < FINDINGS_PER_LAYER;
            if !reported {
                match self.resolve(keycode) {
                    Ok(resolved) => warnings += key_warnings(keycode, &resolved, layer_count).len(),
                    Err(_) => errors += 1,
                }
                warnings += usize::from(split.is_some());
                continue;
            }
            let label = layout.and_then(|(_, l)| l.keys.get(key)).and_then(|k| k.label()).map(str::to_owned);
            let position = KeyPosition { layer: index, index: key, label };
            let string_at = c_key.parts.start.to_string();
            let path = ["layers", &layer_at, &string_at];
            if let Some(split) = split {
                let finding = self.source.finding(Diagnostic::warning(split), &path);
                findings.push(finding.at_position(position.clone()));
            }
            self.keycode(keycode, layer_count, Some(position), &path, findings);
        }
        // The summary is an error only when errors are among what it counts.
        let more = match (errors, warnings) {
            (0, 0) => None,
            (0, warnings) => Some(Diagnostic::warning(format!("layer {index}: {warnings} more warnings not shown"))),
            (errors, warnings) => Some(Diagnostic::error(format!(
                "layer {index}: {errors} more errors and {warnings} more warnings not shown"
            ))),
        };
        findings.extend(more.map(|d| self.source.finding(d, &layer_path)));
    }

    /// `diagnostic` placed at `path` of the file.
    pub(super) fn finding(&self, diagnostic: Diagnostic, path: &[&str]) -> Diagnostic {
        self.source.finding(diagnostic, path)
    }

    /// Every keycode resolved so far.
    pub(super) fn resolved_keycodes(&self) -> Vec<&'a str> {
        self.resolved.borrow().keys().copied().collect()
    }

    /// The feature a keycode of `value` needs.
    pub(super) fn feature(&self, value: u16) -> Option<Feature> {
        self.scope.feature(value)
    }

    /// Whether a keycode of `value` is a key with modifiers at most (`KC_A`, `LCTL(KC_A)`):
    /// what QMK's `register_code16` sends.
    pub(super) fn is_plain_key(&self, value: u16) -> bool {
        self.scope.in_range("QK_BASIC", value) || self.scope.in_range("QK_MODS", value)
    }

    /// The tap dance a keycode stands for, if it is one (`TD(n)`).
    pub(super) fn tap_dance(&self, value: u16) -> Option<u8> {
        self.scope.tap_dance(value)
    }

    pub(super) fn keycode(
        &self,
        keycode: &'a str,
        layer_count: usize,
        position: Option<KeyPosition>,
        path: &[&str],
        findings: &mut Vec<Diagnostic>,
    ) {
        let at = |diagnostic: Diagnostic| {
            let diagnostic = self.source.finding(diagnostic, path);
            match &position {
                Some(position) => diagnostic.at_position(position.clone()),
                None => diagnostic,
            }
        };
        match self.resolve(keycode) {
            Ok(resolved) => {
                for warning in key_warnings(keycode, &resolved, layer_count) {
                    findings.push(at(Diagnostic::warning(warning)));
                }
            }
            Err(error) => {
                let error = if self.may_suggest() { self.scope.suggest(error) } else { error };
                let message = if error.message.contains(&format!("`{keycode}`")) {
                    error.message
                } else {
                    format!("`{}`: {error}", excerpt(keycode))
                };
                findings.push(at(Diagnostic::error(message)));
            }
        }
    }
}

/// `1 layer`, `2 layers`.
fn layers(count: usize) -> String {
    match count {
        1 => "1 layer".to_owned(),
        n => format!("{n} layers"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_keyboard_from_the_keymap_folder() {
        let path = Path::new("/q/keyboards/clueboard/66/rev2/keymaps/default/keymap.json");
        assert_eq!(keyboard_from_path(path), Some("clueboard/66/rev2".into()));
        assert_eq!(keyboard_from_path(Path::new("keymap.json")), None);
        assert_eq!(keyboard_from_path(Path::new("keyboards/keymaps/x/keymap.json")), None);
    }
}
