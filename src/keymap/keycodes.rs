//! The keycodes of one constants version, and the value of an expression under it.
//!
//! An expression means what QMK's C compiler makes of it: names come from the
//! version's `keycodes` (keys and aliases, as QMK's generated `keycodes.h` declares
//! them), its `ranges` (`QK_USER`, `QK_USER_MAX`), the US symbols every keymap has
//! (`KC_TILD`), the macros and constants of QMK's keycode headers (`LT`, `KC_MEH`,
//! `OS_LSFT`, `SAFE_RANGE`), and what the keyboard and the keymap define.

use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use semver::Version;

use super::eval::{Evaluator, Origin, Val, Warning, WarningKind, enumeration_tag};
use super::expand::expand;
use super::expr::ExprError;
use super::extensions::features::{self, Feature};
use super::headers::{self, HeaderFacts};
use super::names::{Constant, Function, Names};
use super::retired::{Retired, Retirement};
use crate::c::{self, CInt};
use crate::diagnostic::suggest;
use crate::keyboard::custom_keycodes::enables_feature;
use crate::keyboard::{Keyboard, Keyboards};
use crate::source::DataTree;
use crate::spec::{Constants, Value, entry_names, keycode_entries, parse_range};

/// The enumerations of QMK's generated `keycodes.h`: keycodes and ranges.
const KEYCODES_ENUMERATION: &str = "qk_keycode_defines";
const RANGES_ENUMERATION: &str = "qk_keycode_ranges";

/// What an expression means: its 16-bit value, the layers it refers to, and what
/// C silently changes in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub value: u16,
    pub layers: Vec<u32>,
    pub warnings: Vec<Warning>,
}

/// Where a range starts and ends.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    first: u16,
    last: u16,
}

#[derive(Debug, thiserror::Error)]
pub enum KeycodesError {
    #[error("no `keycodes` constants in this data")]
    NoKeycodes,
    #[error("no keycodes version {requested}; available: {available}")]
    UnknownVersion { requested: Version, available: String },
}

/// The keycodes of one version.
#[derive(Debug, Clone)]
pub struct Keycodes {
    pub version: Version,
    /// Keys and aliases of the spec, with the US symbols.
    names: HashMap<String, Val>,
    ranges: HashMap<String, Bounds>,
    /// The headers' macros and constants, evaluated for this version.
    header: Names,
    /// The first name of each value, to say what a value is.
    key_names: HashMap<u16, String>,
    /// The spec's group of each value (`mouse`, `underglow`...), for the feature it needs.
    groups: HashMap<u16, String>,
    /// What a key with each value is labelled (`Esc`, and `!` for the US `LSFT(KC_1)`),
    /// to draw it.
    labels: HashMap<u16, String>,
    retired: Retired,
    /// The names each host language adds (`keycodes_german` → `DE_Z`...), for keymaps
    /// that set `host_language`.
    languages: HashMap<String, Language>,
    /// Each keyboard's own names under this version, built when first needed.
    keyboard_names: Arc<Mutex<HashMap<String, Arc<Names>>>>,
    /// The names a feature's header adds (`steno` → `STN_S1`...), for a keymap whose
    /// keyboard or itself turns the feature on.
    features: HashMap<String, Names>,
}

impl Keycodes {
    /// The keycodes of `version` (default: the newest), with the bundled header facts.
    pub fn new(constants: &Constants, version: Option<&Version>) -> Result<Keycodes, KeycodesError> {
        Keycodes::with_headers(constants, version, headers::bundled())
    }

    /// The keycodes of `version` with the keycode headers of `tree`: its own, else its
    /// facts file, else the bundled ones.
    pub fn for_tree(
        constants: &Constants,
        version: Option<&Version>,
        tree: &DataTree,
    ) -> Result<Keycodes, KeycodesError> {
        Keycodes::with_headers(constants, version, &headers::load(tree))
    }

    /// The keycodes of `version` with the definitions of QMK's keycode headers.
    pub fn with_headers(
        constants: &Constants,
        version: Option<&Version>,
        headers: &HeaderFacts,
    ) -> Result<Keycodes, KeycodesError> {
        let subsystem = constants.subsystem("keycodes").ok_or(KeycodesError::NoKeycodes)?;
        let spec = match version {
            None => subsystem.versions.last().ok_or(KeycodesError::NoKeycodes)?,
            Some(requested) => subsystem.version(requested).ok_or_else(|| KeycodesError::UnknownVersion {
                requested: requested.clone(),
                available: subsystem.versions.iter().map(|v| v.version.to_string()).collect::<Vec<_>>().join(", "),
            })?,
        };
        let mut keycodes = Keycodes {
            version: spec.version.clone(),
            names: HashMap::default(),
            ranges: HashMap::default(),
            header: Names::default(),
            key_names: HashMap::default(),
            groups: HashMap::default(),
            labels: HashMap::default(),
            retired: Retired::new(constants, &spec.version),
            languages: HashMap::default(),
            keyboard_names: Arc::default(),
            features: HashMap::default(),
        };
        let ranges_tag = Some(enumeration_tag(RANGES_ENUMERATION));
        for (key, range) in spec.content.get("ranges").and_then(Value::as_object).into_iter().flat_map(|r| r.iter()) {
            if let (Some(span), Some(define)) = (parse_range(key), range.get("define").and_then(Value::as_str)) {
                keycodes.ranges.insert(define.to_owned(), Bounds { first: span.first, last: span.last });
                for (name, value) in [(define.to_owned(), span.first), (format!("{define}_MAX"), span.last)] {
                    let int = CInt::int(i128::from(value));
                    keycodes.names.insert(name, Val { int, tag: ranges_tag, origin: Origin::Plain });
                }
            }
        }
        let keycodes_tag = Some(enumeration_tag(KEYCODES_ENUMERATION));
        for (value, _, entry) in keycode_entries(&spec.content) {
            for name in entry_names(entry) {
                let int = CInt::int(i128::from(value));
                keycodes.names.insert(name.to_owned(), Val { int, tag: keycodes_tag, origin: Origin::Keycode });
            }
            if let Some(key) = entry_names(entry).next() {
                keycodes.key_names.entry(value).or_insert_with(|| key.to_owned());
            }
            if let Some(label) = entry.get("label").and_then(Value::as_str) {
                keycodes.labels.entry(value).or_insert_with(|| label.to_owned());
            }
            if let Some(group) = entry.get("group").and_then(Value::as_str) {
                keycodes.groups.entry(value).or_insert_with(|| group.to_owned());
            }
        }
        keycodes.header =
            Names::build(&headers.definitions, &keycodes.scope_with(&NO_NAMES, &NO_NAMES, None), Origin::Plain);
        for (feature, definitions) in &headers.features {
            let names = Names::build(definitions, &keycodes.scope_with(&NO_NAMES, &NO_NAMES, None), Origin::Keycode);
            keycodes.features.insert(feature.clone(), names);
        }
        // Every keymap can use the US symbols (KC_TILD); other languages on request.
        let us = keycodes.language(constants, US);
        for (name, value) in us.names {
            let int = CInt::int(i128::from(value));
            keycodes.names.entry(name).or_insert(Val { int, tag: None, origin: Origin::Keycode });
        }
        for (value, label) in us.labels {
            keycodes.labels.entry(value).or_insert(label);
        }
        for subsystem in &constants.subsystems {
            if let Some(language) = subsystem.name.strip_prefix("keycodes_").filter(|l| *l != US) {
                let defined = keycodes.language(constants, language);
                keycodes.languages.insert(language.to_owned(), defined);
            }
        }
        Ok(keycodes)
    }

    /// The names and labels a language defines, as expressions over the base keycodes.
    fn language(&self, constants: &Constants, language: &str) -> Language {
        let content = constants.subsystem(&format!("keycodes_{language}")).and_then(|s| s.versions.last());
        let aliases = content.and_then(|c| c.content.get("aliases")).and_then(Value::as_object);
        let mut defined = Language::default();
        // Aliases build on each other (`JP_UNDS` is `S(JP_BSLS)`): each pass resolves
        // with the names the passes before defined, until one adds none.
        let mut pending: Vec<(&str, &Value)> = aliases.into_iter().flat_map(|a| a.iter()).collect();
        loop {
            let known = defined.clone();
            let scope = self.scope_with(&NO_NAMES, &NO_NAMES, Some(&known));
            let before = pending.len();
            pending.retain(|(expression, entry)| {
                let Ok(resolved) = scope.resolve(expression) else { return true };
                for name in entry_names(entry) {
                    defined.names.insert(name.to_owned(), resolved.value);
                }
                if let Some(label) = entry.get("label").and_then(Value::as_str) {
                    defined.labels.entry(resolved.value).or_insert_with(|| label.to_owned());
                }
                false
            });
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        defined
    }

    /// The host languages a keymap may name.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.languages.keys().map(String::as_str)
    }

    /// What an expression may use: every name with a 16-bit value (keycodes, ranges,
    /// the keycode headers' constants), and the headers' function-like macros of one or
    /// two parameters, with how many they take.
    pub fn expression_names(&self) -> (Vec<(&str, u16)>, Vec<(&str, usize)>) {
        let sixteen = |val: &Val| u16::try_from(val.int.value).ok();
        let keycodes = self.names.iter().filter_map(|(name, val)| Some((name.as_str(), sixteen(val)?)));
        let constants = self.header.constants.iter().filter_map(|(name, c)| Some((name.as_str(), sixteen(&c.val)?)));
        let functions = self.header.functions.iter().filter(|(_, f)| (1..=2).contains(&f.params.len()));
        (keycodes.chain(constants).collect(), functions.map(|(name, f)| (name.as_str(), f.params.len())).collect())
    }

    /// Each value's first name, with the label that value is drawn with.
    pub fn labelled_names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.key_names.iter().filter_map(|(value, name)| Some((name.as_str(), self.labels.get(value)?.as_str())))
    }

    /// The first name of a value in this version's keycodes, to write a raw number as a name.
    pub fn name_of(&self, value: u16) -> Option<&str> {
        self.key_names.get(&value).map(String::as_str)
    }

    pub fn retired(&self) -> &Retired {
        &self.retired
    }

    /// The start of a range, e.g. `QK_USER` for a keymap's own keycodes.
    pub fn range_start(&self, define: &str) -> Option<u16> {
        self.ranges.get(define).map(|b| b.first)
    }

    /// Whether `name` is a keycode of this version's spec (not counting C-only names).
    pub fn contains(&self, name: &str) -> bool {
        self.names.get(name).is_some_and(|v| v.origin == Origin::Keycode)
    }

    /// A keyboard's own names: what its headers define, then the keycodes its
    /// `info.json` declares (numbered from QK_KB as QMK's generated header does).
    pub fn keyboard_names(&self, keyboard: &Keyboard, keyboards: &Keyboards) -> Arc<Names> {
        let lock = || self.keyboard_names.lock().expect("the cache lock is never poisoned");
        if let Some(names) = lock().get(&keyboard.name) {
            return names.clone();
        }
        let facts = keyboards.c_keycodes(keyboard);
        let mut names = Names::build(&facts.definitions, &self.scope_with(&NO_NAMES, &NO_NAMES, None), Origin::Keycode);
        names.unseen = facts.unseen.clone();
        self.add_features(&mut names, &keyboard.info);
        for (name, constant) in &mut names.constants {
            if let Some(retirement) = self.retired.get(name) {
                constant.warnings.push(self.redefined(name, retirement, constant, facts.platform_header.as_deref()));
            }
        }
        if let Some(start) = self.range_start("QK_KB") {
            let declared = keyboard.custom_keycodes().into_iter().enumerate();
            let values = declared.map(|(offset, name)| (name, start.wrapping_add(offset as u16)));
            for (name, constant) in Names::from_values(values, "keyboard_keycodes").constants {
                names.constants.entry(name).or_insert(constant);
            }
        }
        let names = Arc::new(names);
        lock().insert(keyboard.name.clone(), names.clone());
        names
    }

    /// Adds the names of the features `info` (a keyboard's, or a keymap's `config`)
    /// turns on; names already there are kept.
    pub fn add_features(&self, names: &mut Names, info: &crate::spec::Object) {
        for (feature, info_key, _) in headers::FEATURE_HEADERS {
            let Some(added) = self.features.get(*feature).filter(|_| enables_feature(info, feature, info_key)) else {
                continue;
            };
            for (name, constant) in &added.constants {
                names.constants.entry(name.clone()).or_insert_with(|| constant.clone());
            }
            for (name, function) in &added.functions {
                names.functions.entry(name.clone()).or_insert_with(|| function.clone());
            }
        }
    }

    /// What a retired name is when the keyboard's headers define it: what C makes of
    /// it, which make builds, rather than QMK's old keycode.
    fn redefined(&self, name: &str, retirement: &Retirement, constant: &Constant, platform: Option<&str>) -> Warning {
        let value = constant.val.int.to_keycode();
        let what = value.map_or_else(
            || constant.val.int.value.to_string(),
            |v| match self.key_names.get(&v) {
                Some(key) => format!("0x{v:04X} ({key})"),
                None => format!("0x{v:04X}"),
            },
        );
        let headers = platform.map_or_else(String::new, |p| format!(" (with {p})"));
        let effect = if value == Some(0) { ": the key does nothing" } else { "" };
        Warning {
            kind: WarningKind::RetiredNameRedefined,
            message: format!(
                "`{name}` is no QMK keycode (retired: {retirement}); the headers keymap.c sees here{headers} \
                 define it as {what}{effect}"
            ),
        }
    }

    /// The value of an expression, or why it has none.
    pub fn resolve(&self, text: &str) -> Result<Resolved, ExprError> {
        let scope = self.scope_with(&NO_NAMES, &NO_NAMES, None);
        scope.resolve(text).map_err(|error| scope.suggest(error))
    }

    /// A scope that also knows a keyboard's and a keymap's own names and, given a
    /// host language, its names; `None` for a language this version does not have.
    pub fn scope<'a>(&'a self, keyboard: &'a Names, keymap: &'a Names, language: Option<&str>) -> Option<Scope<'a>> {
        let language = match language {
            None | Some(US) => None,
            Some(language) => Some(self.languages.get(language)?),
        };
        Some(self.scope_with(keyboard, keymap, language))
    }

    fn scope_with<'a>(&'a self, keyboard: &'a Names, keymap: &'a Names, language: Option<&'a Language>) -> Scope<'a> {
        Scope { keycodes: self, layers: [keymap, keyboard, &NO_NAMES], language }
    }
}

/// The US language, whose names every keymap has.
const US: &str = "us";

/// What a host language adds: its names (`DE_Z`) and what its keys print (`Z` on `KC_Y`).
#[derive(Debug, Clone, Default)]
struct Language {
    names: HashMap<String, u16>,
    labels: HashMap<u16, String>,
}

static NO_NAMES: LazyLock<Names> = LazyLock::new(Names::default);

/// The keycodes of a version, plus a keyboard's and a keymap's names and a host language's.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    keycodes: &'a Keycodes,
    /// Names defined on top of the version, first match wins: the keymap's, the
    /// keyboard's, and the ones being defined.
    layers: [&'a Names; 3],
    language: Option<&'a Language>,
}

/// A name's value as a scope finds it.
pub(super) struct Found<'s> {
    pub val: Val,
    pub warnings: &'s [Warning],
    pub layers: &'s [u32],
    pub unparenthesized: Option<&'s str>,
}

impl<'a> Scope<'a> {
    /// The value of an expression; errors about unknown names come without the
    /// suggestion `suggest` can add, which costs a search over every name.
    pub fn resolve(&self, text: &str) -> Result<Resolved, ExprError> {
        // What keymap.c holds, so what C compiles: json2c writes `ANY(kc)` as `kc`.
        let text = super::json2c::strip_any(text);
        if let Some(error) = super::expr::unwritable(text) {
            return Err(error);
        }
        if is_identifier(text) {
            let Some(found) = self.constant(text) else { return Err(self.unknown_name(text)) };
            let (warnings, layers) = (found.warnings.to_vec(), found.layers.to_vec());
            return finish(text, found.val, Resolved { value: 0, layers, warnings });
        }
        let expr = c::parse(text, &[]).map_err(|e| ExprError::new(e.message))?;
        let mut evaluator = Evaluator::new(self, text);
        let mut val = evaluator.evaluate(&expr)?;
        if evaluator.needs_text {
            // A macro whose text substitution differs from value substitution: C's way.
            let expanded = expand(text, self)?;
            let expr = c::parse(&expanded, &[])
                .map_err(|e| ExprError::new(format!("`{text}` expands to `{expanded}`: {}", e.message)))?;
            val = Evaluator::new(self, &expanded).evaluate(&expr)?;
        }
        let Evaluator { warnings, layers, .. } = evaluator;
        finish(text, val, Resolved { value: 0, layers, warnings })
    }

    /// This scope with `names` as the ones being defined.
    pub(super) fn with_layer<'b>(&self, names: &'b Names) -> Scope<'b>
    where
        'a: 'b,
    {
        Scope { keycodes: self.keycodes, layers: [self.layers[0], self.layers[1], names], language: self.language }
    }

    /// A definition's value, as a constant of the names being defined.
    pub(super) fn evaluate_definition(&self, text: &str) -> Result<Constant, ExprError> {
        let expr = c::parse(text, &[]).map_err(|e| ExprError::new(e.message))?;
        let mut evaluator = Evaluator::new(self, text);
        let val = evaluator.evaluate(&expr)?;
        let unparenthesized = !crate::keymap::names::is_primary(&expr) || evaluator.needs_text;
        let Evaluator { warnings, layers, .. } = evaluator;
        Ok(Constant { val, warnings, layers, unparenthesized: unparenthesized.then(|| text.to_owned()) })
    }

    pub(super) fn constant(&self, name: &str) -> Option<Found<'_>> {
        let from = |constant: &'a Constant| Found {
            val: constant.val,
            warnings: &constant.warnings,
            layers: &constant.layers,
            unparenthesized: constant.unparenthesized.as_deref(),
        };
        let plain = |val: Val| Found { val, warnings: &[], layers: &[], unparenthesized: None };
        if let Some(constant) = self.layers.iter().find_map(|names| names.constants.get(name)) {
            return Some(from(constant));
        }
        if let Some(val) = self.keycodes.names.get(name) {
            return Some(plain(*val));
        }
        if let Some(constant) = self.keycodes.header.constants.get(name) {
            return Some(from(constant));
        }
        let language = self.language.and_then(|language| language.names.get(name))?;
        Some(plain(Val { int: CInt::int(i128::from(*language)), tag: None, origin: Origin::Keycode }))
    }

    pub(super) fn function(&self, name: &str) -> Option<&'a Function> {
        self.layers
            .iter()
            .find_map(|names| names.functions.get(name))
            .or_else(|| self.keycodes.header.functions.get(name))
    }

    /// What a key with `value` is labelled, in the host language where it says.
    pub(super) fn label(&self, value: u16) -> Option<&'a str> {
        let language = self.language.and_then(|language| language.labels.get(&value));
        language.or_else(|| self.keycodes.labels.get(&value)).map(String::as_str)
    }

    /// The first name of a value in the version's keycodes.
    pub(super) fn key_name(&self, value: u16) -> Option<&'a str> {
        self.keycodes.key_names.get(&value).map(String::as_str)
    }

    /// Whether `name` is a keycode of the version's spec.
    pub(super) fn is_spec_name(&self, name: &str) -> bool {
        self.keycodes.contains(name)
    }

    /// Whether `value` lies in the range `define` (`QK_LAYER_TAP`...).
    /// The feature a key of `value` needs to do anything, if any.
    pub(super) fn feature(&self, value: u16) -> Option<Feature> {
        let range = features::BY_RANGE.iter().map(|(range, _)| *range).find(|range| self.in_range(range, value));
        let group = self.keycodes.groups.get(&value).map(String::as_str);
        features::of_keycode(self.key_name(value), group, range)
    }

    /// The tap dance a keycode of `value` stands for (`TD(n)`: dance `n`), if it is one.
    pub(super) fn tap_dance(&self, value: u16) -> Option<u8> {
        let start = self.keycodes.range_start("QK_TAP_DANCE")?;
        self.in_range("QK_TAP_DANCE", value).then(|| (value - start) as u8)
    }

    pub(super) fn in_range(&self, define: &str, value: u16) -> bool {
        self.keycodes.ranges.get(define).is_some_and(|b| (b.first..=b.last).contains(&value))
    }

    /// A value as a name where it has one, else in hex.
    pub(super) fn describe(&self, value: u16) -> String {
        match self.keycodes.key_names.get(&value) {
            Some(name) => name.clone(),
            None => format!("0x{value:04X}"),
        }
    }

    pub(super) fn unknown_name(&self, name: &str) -> ExprError {
        let version = &self.keycodes.version;
        let unseen = self.layers.iter().find_map(|names| names.unseen.get(name));
        ExprError::new(if let Some(retirement) = self.keycodes.retired.get(name) {
            format!("`{name}` is a retired name: {retirement}")
        } else if let Some(file) = unseen {
            format!(
                "`{name}` is defined in keyboards/{file}, which keymap.c does not see: only the keyboard's headers are included"
            )
        } else if self.function(name).is_some() {
            format!("`{name}` needs an argument: {name}(...)")
        } else {
            return ExprError {
                message: format!("no keycode `{name}` in keycodes {version}"),
                unknown: Some(name.into()),
            };
        })
    }

    /// A call of something that is no function-like macro.
    pub(super) fn unknown_function(&self, name: &str) -> ExprError {
        if self.constant(name).is_some() {
            return ExprError::new(format!("`{name}` is a keycode, not a function: it takes no `(...)`"));
        }
        let header = [&self.keycodes.header];
        let functions = self.layers.iter().chain(&header).flat_map(|n| n.functions.keys());
        // A mod-tap shorthand is most likely meant for another one; sorted, so that
        // equally near names are suggested the same way every time.
        let tap = name.ends_with("_T");
        let mut functions: Vec<&str> = functions.map(String::as_str).filter(|f| f.ends_with("_T") == tap).collect();
        functions.sort_unstable();
        let near = functions.iter().find(|f| f.eq_ignore_ascii_case(name)).map(|f| (*f).to_owned());
        let near = near.or_else(|| self.mod_tap_of(name));
        ExprError::new(match near.or_else(|| suggest(name, functions.iter().copied())) {
            Some(known) => format!("no function `{name}` (did you mean `{known}`?)"),
            None => format!("no function `{name}`"),
        })
    }

    /// `S_T` → `LSFT_T`: the mod-tap of the wrapper `S` stands for (`S(kc)` is `LSFT(kc)`).
    fn mod_tap_of(&self, name: &str) -> Option<String> {
        let function = self.function(name.strip_suffix("_T")?)?;
        let crate::c::Kind::Call { name_end, .. } = function.body.kind else { return None };
        let mod_tap = format!("{}_T", &function.body_text[function.body.start as usize..name_end as usize]);
        self.function(&mod_tap).is_some().then_some(mod_tap)
    }

    /// Adds the nearest known name to an error about an unknown one.
    pub fn suggest(&self, mut error: ExprError) -> ExprError {
        let language = self.language.into_iter().flat_map(|language| language.names.keys());
        let layers = self.layers.iter().flat_map(|names| names.constants.keys());
        let known = layers
            .chain(self.keycodes.names.keys())
            .chain(self.keycodes.header.constants.keys())
            .chain(language)
            .map(String::as_str);
        if let Some(near) = error.unknown.as_deref().and_then(|name| suggest(name, known)) {
            error.message = format!("{} (did you mean `{near}`?)", error.message);
        }
        error
    }
}

/// Whether `text` is a C identifier: a name rather than an expression.
pub(super) fn is_identifier(text: &str) -> bool {
    text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The 16-bit value stored in the keymap, and a warning for a mod set used as a key.
fn finish(text: &str, val: Val, mut resolved: Resolved) -> Result<Resolved, ExprError> {
    resolved.value = val.int.to_keycode().ok_or_else(|| {
        ExprError::new(format!(
            "`{text}` is {} ({}), which a 16-bit keycode cannot hold: QMK's build refuses it (-Werror=overflow)",
            val.int.value, val.int.ty
        ))
    })?;
    if val.origin == Origin::ModSet {
        resolved.warnings.push(Warning {
            kind: WarningKind::ModSetAsKeycode,
            message: format!(
                "`{text}` is a modifier set (0x{:02X}), not a keycode: use it inside OSM(), MT() or LM()",
                resolved.value
            ),
        });
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::DataTree;

    fn keycodes() -> Keycodes {
        Keycodes::new(&crate::spec::load(&DataTree::Bundled).unwrap().constants, None).unwrap()
    }

    /// The value and the kinds of warning of an expression.
    fn resolve(keycodes: &Keycodes, text: &str) -> (u16, Vec<WarningKind>) {
        let resolved = keycodes.resolve(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        (resolved.value, resolved.warnings.iter().map(|w| w.kind).collect())
    }

    #[test]
    fn each_silent_change_gets_its_warning_and_cs_value() {
        use WarningKind::*;
        let keycodes = keycodes();
        let cases: &[(&str, u16, &[WarningKind])] = &[
            ("MO(32)", 0x5220, &[MaskedLayer]),
            ("LM(16, MOD_LCTL)", 0x5001, &[MaskedLayer]),
            ("TD(256)", 0x5700, &[MaskedArgument]),
            ("UP(128, 1)", 0x0080 | 0xC000, &[MaskedArgument]),
            ("LT(3, KC_EXLM)", 0x431E, &[TapNotBasic]),
            ("SH_T(KC_AT)", 0x561F, &[TapNotBasic]),
            ("LCTL(RSFT(KC_A))", 0x1304, &[MixedSides]),
            ("OSM(MOD_LCTL | MOD_RSFT)", 0x52B3, &[MixedSides]),
            ("OSM(KC_A)", 0x52A4, &[KeycodeAsModSet]),
            ("LCTL(QK_BOOT)", 0x7D00, &[WrappedNotBasic]),
            ("MOD_MEH", 0x0007, &[ModSetAsKeycode]),
            ("LT(1, MO(40))", 0x4128, &[MaskedLayer, TapNotBasic]),
        ];
        for (text, value, kinds) in cases {
            assert_eq!(resolve(&keycodes, text), (*value, kinds.to_vec()), "{text}");
        }
        for clean in ["LT(15, KC_A)", "RCTL(RSFT(KC_A))", "OSM(MOD_HYPR)", "MEH_T(KC_ESC)", "KC_HYPR", "OS_RCAG"] {
            assert_eq!(resolve(&keycodes, clean).1, [], "{clean}");
        }
    }

    #[test]
    fn hostile_nesting_is_refused_without_exhausting_the_stack() {
        let keycodes = keycodes();
        let deep =
            |open: &str, middle: &str, close: &str, n: usize| format!("{}{middle}{}", open.repeat(n), close.repeat(n));
        for text in [
            deep("LCTL(", "KC_A", ")", 60),
            deep("(", "KC_A", ")", 100_000),
            deep("-", "1", "", 100_000),
            deep("KC_A | ", "KC_B", "", 100_000),
            deep("1 ? ", "1", " : 0", 10_000),
            deep("MO(", "1", ")", 10_000),
            deep("\"", "", "\\\"", 100_000),
            deep("/* ", "", "* ", 100_000),
        ] {
            let _ = std::hint::black_box(keycodes.resolve(&text));
        }
    }

    #[test]
    fn a_misspelt_function_gets_the_one_meant() {
        let keycodes = keycodes();
        let error = |text: &str| keycodes.resolve(text).unwrap_err().message;
        assert!(error("S_T(KC_A)").ends_with("(did you mean `LSFT_T`?)"), "{}", error("S_T(KC_A)"));
        assert!(error("lctl(KC_A)").ends_with("(did you mean `LCTL`?)"));
        assert!(error("KC_A(1)").contains("not a function"));
        assert!(error("MO").contains("needs an argument"));
    }

    #[test]
    fn layers_referred_to_are_the_ones_c_keeps() {
        let keycodes = keycodes();
        for (text, layers) in
            [("MO(3)", vec![3]), ("LT(17, KC_A)", vec![1]), ("LM(2, MOD_LSFT)", vec![2]), ("KC_A", vec![])]
        {
            assert_eq!(keycodes.resolve(text).unwrap().layers, layers, "{text}");
        }
    }

    #[test]
    fn macros_that_leave_a_parameter_bare_are_expanded_as_text() {
        let keycodes = keycodes();
        // SQ_S(n) is `(n < SEQUENCER_STEPS ? SEQUENCER_STEP_MIN + n : KC_NO)`.
        assert_eq!(keycodes.resolve("SQ_S(1)").unwrap().value, 0x7210);
        assert_eq!(keycodes.resolve("SQ_S(2 * 1)").unwrap().value, 0x7211);
        // As text, `0 ? 5 : 1 < 16 ? 0x720F + 0 ? 5 : 1 : KC_NO` is 5, not step 1.
        assert_eq!(keycodes.resolve("SQ_S(0 ? 5 : 1)").unwrap().value, 5);
        let error = keycodes.resolve("SQ_S(1 | 2)").unwrap_err().message;
        assert!(error.contains("expands to") && error.contains("-Werror=parentheses"), "{error}");
    }

    #[test]
    fn every_version_knows_the_header_names_its_ranges_allow() {
        let constants = crate::spec::load(&DataTree::Bundled).unwrap().constants;
        let first = Keycodes::new(&constants, Some(&Version::new(0, 0, 1))).unwrap();
        let newest = keycodes();
        for keycodes in [&first, &newest] {
            let one_shot = keycodes.range_start("QK_ONE_SHOT_MOD").unwrap();
            assert_eq!(keycodes.resolve("OS_LSFT").unwrap().value, one_shot | 0x02);
        }
        // 0.0.1 named SAFE_RANGE in its spec; later the header defines it as QK_USER.
        assert_eq!(first.resolve("SAFE_RANGE").unwrap().value, 0x7E00);
        assert_eq!(newest.resolve("SAFE_RANGE").unwrap().value, newest.range_start("QK_USER").unwrap());
        // PDF() needs a range 0.0.1 lacks: its macro names an unknown constant there.
        assert!(first.resolve("PDF(1)").unwrap_err().message.contains("QK_PERSISTENT_DEF_LAYER"));
        assert_eq!(newest.resolve("PDF(1)").unwrap().value, 0x52E1);
    }
}
