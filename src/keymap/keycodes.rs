//! The keycodes of one constants version, and the value of an expression under it.
//!
//! Names come from the version's `keycodes` (keys and aliases) and from the US
//! language aliases every keymap can use (`KC_TILD` = `S(KC_GRAVE)`). The bases
//! of layer and modifier functions come from the version's `ranges`, so a
//! function exists only where its range does (`PDF` needs QK_PERSISTENT_DEF_LAYER).

use std::collections::HashMap;

use semver::Version;

use super::expr::{self, Arg, ExprError, Term};
use super::retired::Retired;
use crate::diagnostic::suggest;
use crate::spec::{Constants, Value, entry_names, keycode_entries, parse_range};

/// Modifier wrappers: the keycode with these modifiers held (5-bit mod sets).
#[rustfmt::skip]
const WRAPPERS: &[(&str, u8)] = &[
    ("LCTL", 0x01), ("C", 0x01), ("LSFT", 0x02), ("S", 0x02), ("LALT", 0x04), ("A", 0x04), ("LOPT", 0x04),
    ("LGUI", 0x08), ("G", 0x08), ("LCMD", 0x08), ("LWIN", 0x08), ("RCTL", 0x11), ("RSFT", 0x12), ("RALT", 0x14),
    ("ALGR", 0x14), ("ROPT", 0x14), ("RGUI", 0x18), ("RCMD", 0x18), ("RWIN", 0x18), ("HYPR", 0x0F), ("MEH", 0x07),
    ("LCAG", 0x0D), ("RCAG", 0x1D), ("LSG", 0x0A), ("SGUI", 0x0A), ("SCMD", 0x0A), ("SWIN", 0x0A), ("RSG", 0x1A),
    ("LSA", 0x06), ("RSA", 0x16), ("LCS", 0x03), ("RCS", 0x13), ("LCA", 0x05), ("RCA", 0x15), ("LAG", 0x0C),
    ("RAG", 0x1C), ("LCG", 0x09), ("RCG", 0x19),
];

/// Mod-tap shorthands: `LCTL_T(kc)` is `MT(MOD_LCTL, kc)`.
#[rustfmt::skip]
const MOD_TAPS: &[(&str, u8)] = &[
    ("LCTL_T", 0x01), ("CTL_T", 0x01), ("RCTL_T", 0x11), ("LSFT_T", 0x02), ("SFT_T", 0x02), ("RSFT_T", 0x12),
    ("LALT_T", 0x04), ("ALT_T", 0x04), ("LOPT_T", 0x04), ("OPT_T", 0x04), ("RALT_T", 0x14), ("ALGR_T", 0x14),
    ("ROPT_T", 0x14), ("LGUI_T", 0x08), ("GUI_T", 0x08), ("LCMD_T", 0x08), ("CMD_T", 0x08), ("LWIN_T", 0x08),
    ("WIN_T", 0x08), ("RGUI_T", 0x18), ("RCMD_T", 0x18), ("RWIN_T", 0x18), ("C_S_T", 0x03), ("MEH_T", 0x07),
    ("LCAG_T", 0x0D), ("RCAG_T", 0x1D), ("HYPR_T", 0x0F), ("ALL_T", 0x0F), ("LSG_T", 0x0A), ("SGUI_T", 0x0A),
    ("SCMD_T", 0x0A), ("SWIN_T", 0x0A), ("RSG_T", 0x1A), ("LSA_T", 0x06), ("RSA_T", 0x16), ("LCS_T", 0x03),
    ("RCS_T", 0x13), ("LCA_T", 0x05), ("RCA_T", 0x15), ("LAG_T", 0x0C), ("RAG_T", 0x1C), ("LCG_T", 0x09),
    ("RCG_T", 0x19),
];

/// Modifier-set constants, for `MT`, `OSM` and `LM`.
#[rustfmt::skip]
const MODS: &[(&str, u8)] = &[
    ("MOD_LCTL", 0x01), ("MOD_LSFT", 0x02), ("MOD_LALT", 0x04), ("MOD_LGUI", 0x08), ("MOD_RCTL", 0x11),
    ("MOD_RSFT", 0x12), ("MOD_RALT", 0x14), ("MOD_RGUI", 0x18), ("MOD_HYPR", 0x0F), ("MOD_MEH", 0x07),
];

/// The bit that makes a 5-bit mod set right-handed, for all its modifiers at once.
const RIGHT: u8 = 0x10;

/// Functions of one layer, and the range whose start they add the layer to.
#[rustfmt::skip]
const LAYER_FUNCTIONS: &[(&str, &str)] = &[
    ("TO", "QK_TO"), ("MO", "QK_MOMENTARY"), ("DF", "QK_DEF_LAYER"), ("TG", "QK_TOGGLE_LAYER"),
    ("OSL", "QK_ONE_SHOT_LAYER"), ("TT", "QK_LAYER_TAP_TOGGLE"), ("PDF", "QK_PERSISTENT_DEF_LAYER"),
];

/// What an expression means: its 16-bit value and the layers it refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub value: u16,
    pub layers: Vec<u32>,
}

/// The first and the last value of a range.
#[derive(Debug, Clone, Copy)]
struct Bounds {
    first: u16,
    last: u16,
}

impl Bounds {
    fn contains(&self, value: u16) -> bool {
        (self.first..=self.last).contains(&value)
    }

    /// How many values the range holds.
    fn size(&self) -> u32 {
        u32::from(self.last - self.first) + 1
    }
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
    names: HashMap<String, u16>,
    ranges: HashMap<String, Bounds>,
    retired: Retired,
    /// The names each host language adds (`keycodes_german` → `DE_Z`...), for keymaps
    /// that set `host_language`.
    languages: HashMap<String, HashMap<String, u16>>,
}

impl Keycodes {
    /// The keycodes of `version` (default: the newest).
    pub fn new(constants: &Constants, version: Option<&Version>) -> Result<Keycodes, KeycodesError> {
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
            names: HashMap::new(),
            ranges: HashMap::new(),
            retired: Retired::new(constants, &spec.version),
            languages: HashMap::new(),
        };
        for (key, range) in spec.content.get("ranges").and_then(Value::as_object).into_iter().flat_map(|r| r.iter()) {
            if let (Some(span), Some(define)) = (parse_range(key), range.get("define").and_then(Value::as_str)) {
                keycodes.ranges.insert(define.to_owned(), Bounds { first: span.first, last: span.last });
            }
        }
        for (value, _, entry) in keycode_entries(&spec.content) {
            for name in entry_names(entry) {
                keycodes.names.insert(name.to_owned(), value);
            }
        }
        // Every keymap can use the US symbols (KC_TILD); other languages on request.
        let us = keycodes.language_names(constants, US);
        for (name, value) in us {
            keycodes.names.entry(name).or_insert(value);
        }
        for subsystem in &constants.subsystems {
            if let Some(language) = subsystem.name.strip_prefix("keycodes_").filter(|l| *l != US) {
                let names = keycodes.language_names(constants, language);
                keycodes.languages.insert(language.to_owned(), names);
            }
        }
        Ok(keycodes)
    }

    /// The names a language defines, as expressions over the base keycodes.
    fn language_names(&self, constants: &Constants, language: &str) -> HashMap<String, u16> {
        let content = constants.subsystem(&format!("keycodes_{language}")).and_then(|s| s.versions.last());
        let aliases = content.and_then(|c| c.content.get("aliases")).and_then(Value::as_object);
        let mut names = HashMap::new();
        let scope = Scope { keycodes: self, custom: &NO_NAMES, language: None };
        for (expression, entry) in aliases.into_iter().flat_map(|a| a.iter()) {
            if let Ok(resolved) = scope.resolve(expression) {
                for name in entry_names(entry) {
                    names.insert(name.to_owned(), resolved.value);
                }
            }
        }
        names
    }

    /// The host languages a keymap may name.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.languages.keys().map(String::as_str)
    }

    pub fn retired(&self) -> &Retired {
        &self.retired
    }

    /// The start of a range, e.g. `QK_USER` for a keymap's own keycodes.
    pub fn range_start(&self, define: &str) -> Option<u16> {
        self.ranges.get(define).map(|b| b.first)
    }

    /// Whether `name` is a keycode of this version (not counting custom keycodes).
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// The value of an expression, or why it has none.
    pub fn resolve(&self, text: &str) -> Result<Resolved, ExprError> {
        let scope = Scope { keycodes: self, custom: &NO_NAMES, language: None };
        scope.resolve(text).map_err(|error| scope.suggest(error))
    }

    /// A scope that also knows a keymap's or keyboard's own keycodes and, given a host
    /// language, its names; `None` for a language this version does not have.
    pub fn scope<'a>(&'a self, custom: &'a HashMap<String, u16>, language: Option<&str>) -> Option<Scope<'a>> {
        let language = match language {
            None | Some(US) => None,
            Some(language) => Some(self.languages.get(language)?),
        };
        Some(Scope { keycodes: self, custom, language })
    }
}

/// The US language, whose names every keymap has.
const US: &str = "us";

static NO_NAMES: std::sync::LazyLock<HashMap<String, u16>> = std::sync::LazyLock::new(HashMap::new);

/// The keycodes of a version, plus custom keycodes and a host language's names.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    keycodes: &'a Keycodes,
    custom: &'a HashMap<String, u16>,
    language: Option<&'a HashMap<String, u16>>,
}

/// What a term evaluated to, before its kind is checked against where it stands.
struct Evaluated {
    value: u16,
    layers: Vec<u32>,
}

impl Scope<'_> {
    /// The value of an expression; errors about unknown names come without the
    /// suggestion `suggest` can add, which costs a search over every name.
    pub fn resolve(&self, text: &str) -> Result<Resolved, ExprError> {
        let term = expr::parse(text)?;
        let Evaluated { value, layers } = self.keycode(&term)?;
        Ok(Resolved { value, layers })
    }

    fn range(&self, define: &str, function: &str) -> Result<Bounds, ExprError> {
        self.keycodes.ranges.get(define).copied().ok_or_else(|| {
            ExprError::new(format!("`{function}` needs range {define}, which keycodes {} lacks", self.keycodes.version))
        })
    }

    fn keycode(&self, term: &Term) -> Result<Evaluated, ExprError> {
        match term {
            Term::Number(n) => Ok(Evaluated { value: *n as u16, layers: Vec::new() }),
            Term::Name(name) => self.name(name),
            Term::Call { function, args } => self.call(function, args),
        }
    }

    fn name(&self, name: &str) -> Result<Evaluated, ExprError> {
        let found = self.custom.get(name).or_else(|| self.keycodes.names.get(name));
        if let Some(&value) = found.or_else(|| self.language.and_then(|names| names.get(name))) {
            return Ok(Evaluated { value, layers: Vec::new() });
        }
        let version = &self.keycodes.version;
        Err(ExprError::new(if let Some(retirement) = self.keycodes.retired.get(name) {
            format!("`{name}` is a retired name: {retirement}")
        } else if MODS.iter().any(|(m, _)| *m == name) {
            format!("`{name}` is a modifier set, not a keycode: use it inside OSM(), MT() or LM()")
        } else if is_function(name) {
            format!("`{name}` needs an argument: {name}(...)")
        } else {
            return Err(ExprError {
                message: format!("no keycode `{name}` in keycodes {version}"),
                unknown: Some(name.into()),
            });
        }))
    }

    /// Adds the nearest known name to an error about an unknown one.
    pub fn suggest(&self, mut error: ExprError) -> ExprError {
        let language = self.language.into_iter().flat_map(|names| names.keys());
        let known = self.custom.keys().chain(self.keycodes.names.keys()).chain(language).map(String::as_str);
        if let Some(near) = error.unknown.as_deref().and_then(|name| suggest(name, known)) {
            error.message = format!("{} (did you mean `{near}`?)", error.message);
        }
        error
    }

    fn call(&self, function: &str, args: &[Arg]) -> Result<Evaluated, ExprError> {
        if let Some((_, define)) = LAYER_FUNCTIONS.iter().find(|(f, _)| *f == function) {
            let [layer] = arity(function, args)?;
            let range = self.range(define, function)?;
            let layer = layer_number(function, layer, range.size())?;
            return Ok(Evaluated { value: range.first + layer as u16, layers: vec![layer] });
        }
        if let Some((_, mods)) = WRAPPERS.iter().find(|(f, _)| *f == function) {
            let [arg] = arity(function, args)?;
            let inner = self.keycode(single(function, arg)?)?;
            let (inner_mods, basic) = self.split_modified(function, inner.value)?;
            let mods = combine(function, *mods, inner_mods)?;
            return Ok(Evaluated { value: (u16::from(mods) << 8) | u16::from(basic), layers: inner.layers });
        }
        if let Some((_, mods)) = MOD_TAPS.iter().find(|(f, _)| *f == function) {
            let [arg] = arity(function, args)?;
            return self.mod_tap(function, *mods, arg);
        }
        match function {
            "MT" => {
                let [mods, arg] = arity(function, args)?;
                self.mod_tap(function, mod_set(function, mods)?, arg)
            }
            "OSM" => {
                let [mods] = arity(function, args)?;
                let range = self.range("QK_ONE_SHOT_MOD", function)?;
                Ok(Evaluated { value: range.first | u16::from(mod_set(function, mods)?), layers: Vec::new() })
            }
            "LT" => {
                let [layer, arg] = arity(function, args)?;
                let range = self.range("QK_LAYER_TAP", function)?;
                let layer = layer_number(function, layer, range.size() >> 8)?;
                let basic = self.basic(function, arg)?;
                Ok(Evaluated { value: range.first | (layer as u16) << 8 | basic, layers: vec![layer] })
            }
            "LM" => {
                let [layer, mods] = arity(function, args)?;
                let range = self.range("QK_LAYER_MOD", function)?;
                let layer = layer_number(function, layer, range.size() >> 5)?;
                let mods = u16::from(mod_set(function, mods)?);
                Ok(Evaluated { value: range.first | (layer as u16) << 5 | mods, layers: vec![layer] })
            }
            "TD" => {
                let [index] = arity(function, args)?;
                let range = self.range("QK_TAP_DANCE", function)?;
                let index = number_in(function, "tap dance", index, range.size())?;
                Ok(Evaluated { value: range.first + index as u16, layers: Vec::new() })
            }
            "ANY" => {
                let [arg] = arity(function, args)?;
                self.keycode(single(function, arg)?)
            }
            _ => Err(ExprError::new(match suggest_function(function) {
                Some(known) => format!("no function `{function}` (did you mean `{known}`?)"),
                None => format!("no function `{function}`"),
            })),
        }
    }

    fn mod_tap(&self, function: &str, mods: u8, arg: &Arg) -> Result<Evaluated, ExprError> {
        let range = self.range("QK_MOD_TAP", function)?;
        let basic = self.basic(function, arg)?;
        Ok(Evaluated { value: range.first | u16::from(mods) << 8 | basic, layers: Vec::new() })
    }

    /// An argument that must be a basic keycode (QK_BASIC, 0x00–0xFF).
    fn basic(&self, function: &str, arg: &Arg) -> Result<u16, ExprError> {
        let term = single(function, arg)?;
        let value = self.keycode(term)?.value;
        let basic = self.range("QK_BASIC", function)?;
        if basic.contains(value) {
            Ok(value)
        } else {
            Err(ExprError::new(format!(
                "{function}() takes a basic keycode (0x00–0xFF), but `{}` is 0x{value:04X}",
                describe(term)
            )))
        }
    }

    /// A wrapper's argument: a basic keycode, or one already wrapped in modifiers.
    fn split_modified(&self, function: &str, value: u16) -> Result<(u8, u8), ExprError> {
        let basic = self.range("QK_BASIC", function)?;
        let mods = self.range("QK_MODS", function)?;
        if basic.contains(value) || mods.contains(value) {
            Ok(((value >> 8) as u8 & 0x1F, value as u8))
        } else {
            Err(ExprError::new(format!(
                "{function}() takes a basic keycode or a modified one (0x0000–0x{:04X}), not 0x{value:04X}",
                mods.last
            )))
        }
    }
}

const OTHER_FUNCTIONS: &[&str] = &["MT", "OSM", "LT", "LM", "TD", "ANY"];

fn function_names() -> impl Iterator<Item = &'static str> {
    let tables = LAYER_FUNCTIONS.iter().map(|(f, _)| *f).chain(WRAPPERS.iter().chain(MOD_TAPS).map(|(f, _)| *f));
    tables.chain(OTHER_FUNCTIONS.iter().copied())
}

fn is_function(name: &str) -> bool {
    function_names().any(|f| f == name)
}

/// A known function for a misspelt one: the same name in other case, else the nearest.
fn suggest_function(name: &str) -> Option<String> {
    function_names()
        .find(|f| f.eq_ignore_ascii_case(name))
        .map(str::to_owned)
        .or_else(|| suggest(name, function_names()))
}

fn arity<'t, 'a, const N: usize>(function: &str, args: &'t [Arg<'a>]) -> Result<&'t [Arg<'a>; N], ExprError> {
    args.try_into().map_err(|_| {
        let wanted = if N == 1 { "one argument".to_owned() } else { format!("{N} arguments") };
        ExprError::new(format!("{function}() takes {wanted}, not {}", args.len()))
    })
}

fn single<'t, 'a>(function: &str, arg: &'t Arg<'a>) -> Result<&'t Term<'a>, ExprError> {
    match arg.terms.as_slice() {
        [term] => Ok(term),
        _ => Err(ExprError::new(format!("{function}() takes a keycode here, not a `|` list"))),
    }
}

fn describe(term: &Term) -> String {
    match term {
        Term::Name(name) => (*name).to_owned(),
        Term::Number(n) => format!("0x{n:04X}"),
        Term::Call { function, .. } => format!("{function}(...)"),
    }
}

fn number_in(function: &str, what: &str, arg: &Arg, count: u32) -> Result<u32, ExprError> {
    match single(function, arg)? {
        Term::Number(n) if *n < count => Ok(*n),
        Term::Number(n) => Err(ExprError::new(format!("{function}(): {what} {n} is out of range 0–{}", count - 1))),
        other => Err(ExprError::new(format!("{function}() takes a {what} number, not `{}`", describe(other)))),
    }
}

fn layer_number(function: &str, arg: &Arg, count: u32) -> Result<u32, ExprError> {
    number_in(function, "layer", arg, count)
}

/// A `MOD_*` constant or several joined by `|`.
fn mod_set(function: &str, arg: &Arg) -> Result<u8, ExprError> {
    let mut mods = 0;
    for term in &arg.terms {
        let found = match term {
            Term::Name(name) => MODS.iter().find(|(m, _)| m == name).map(|(_, bits)| *bits),
            _ => None,
        };
        let bits = found.ok_or_else(|| {
            ExprError::new(format!("{function}() takes MOD_* constants joined by `|`, not `{}`", describe(term)))
        })?;
        mods = combine(function, mods, bits)?;
    }
    Ok(mods)
}

/// Joins two 5-bit mod sets. Left and right cannot mix: the right-hand bit
/// applies to every modifier of the set, so MOD_LCTL | MOD_RALT would silently
/// mean right Ctrl and right Alt.
fn combine(function: &str, a: u8, b: u8) -> Result<u8, ExprError> {
    let sides = [a, b].map(|m| (m != 0).then_some(m & RIGHT != 0));
    if let [Some(left_or_right), Some(other)] = sides
        && left_or_right != other
    {
        return Err(ExprError::new(format!(
            "{function}(): left and right modifiers cannot be mixed in one keycode (a mod set is all left or all right)"
        )));
    }
    Ok(a | b)
}
