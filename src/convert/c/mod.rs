//! keymap.c → keymap JSON, read as QMK's C compiler reads it: the keymap's own
//! directives run (its `#define`s and `#include "…"`s, the conditionals with the
//! features its keyboard and rules.mk turn on), its macros expanded, the `keymaps`
//! array read layer by layer with the keyboard's `LAYOUT` macro. What JSON can hold
//! is carried (layer names from the layer enum, custom keycodes, the encoder map, the
//! host language); what it cannot (code in callbacks) is listed as notes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::c::lexer::Token;
use crate::c::preprocess::{self, Includes, PpToken, Preprocessed, Preprocessor};
use crate::c::{self, Definition};
use crate::diagnostic::Diagnostic;
use crate::keyboard::{Keyboard, KeyboardError};
use crate::keymap::{Context, Keycodes, MAX_LAYERS, Names, Origin, Scope, is_taken};
use crate::spec::{Object, Value};

use super::{Converted, Input};

mod extensions;

pub use extensions::Extended;

#[derive(Debug, thiserror::Error)]
pub enum CError {
    #[error(
        "no keyboard: give --keyboard, or read the keymap.c where it lies in a tree's keyboards/<kb>/keymaps/<km>/"
    )]
    NoKeyboard,
    #[error(transparent)]
    Keyboard(#[from] KeyboardError),
    #[error("{0}: no `keymaps` array (`const uint16_t PROGMEM keymaps[][MATRIX_ROWS][MATRIX_COLS] = {{…}};`)")]
    NoKeymaps(String),
    #[error("{at}: {message}")]
    Layer { at: String, message: String },
    #[error("{0}: its macros expand to more than any keymap needs (millions of tokens): not read further")]
    TooMuchExpansion(String),
}

/// Functions QMK calls that a keymap may define; JSON has no place for their code.
const CALLBACK_SUFFIXES: &[&str] = &["_user", "_kb"];

/// More keys than any keyboard's layout has (QMK's largest have a few hundred).
const MAX_KEYS: usize = 4096;

/// The names QMK's keycode headers give the blank keys, as keymap.json spells them.
const BLANKS: &[(&str, &str)] = &[("_______", "KC_TRNS"), ("XXXXXXX", "KC_NO")];

/// The enumerators a keymap's own keycodes start from.
const CUSTOM_RANGE_STARTS: &[&str] = &["SAFE_RANGE", "QK_USER", "QK_KB", "NEW_SAFE_RANGE", "PLACEHOLDER_SAFE_RANGE"];

/// Reads `input` as a keymap.c of its keyboard.
pub fn read(context: Context, input: &Input) -> Result<CKeymap, CError> {
    let keyboard_name = input.keyboard.ok_or(CError::NoKeyboard)?;
    let candidates = context.keyboards.at_or_below(keyboard_name);
    let Some(keyboard) = candidates.first().copied() else {
        return Err(context.keyboards.resolve(keyboard_name).err().map_or(CError::NoKeyboard, CError::from));
    };
    let mut notes = Vec::new();
    let preprocessed = preprocess_keymap(keyboard, input, &mut notes);
    let enumerators = enumerators(&preprocessed);
    let local = local_definitions(&preprocessed, &enumerators);
    let keyboard_names = context.keycodes.keyboard_names(keyboard, context.keyboards);
    let outer = context.keycodes.scope(&keyboard_names, &NO_NAMES, None).expect("no language asked");
    let names = Arc::new(Names::build(&local, &outer, Origin::Plain));
    let languages = host_languages(&preprocessed, context);
    let language = languages.first().cloned();
    let scope = context
        .keycodes
        .scope(&keyboard_names, &names, language.as_deref())
        .expect("the language is one of the version's");
    let qmk_scope = context
        .keycodes
        .scope(&keyboard_names, &NO_NAMES, language.as_deref())
        .expect("the language is one of the version's");

    let array = find_array(&preprocessed.tokens, "keymaps").ok_or_else(|| CError::NoKeymaps(input.shown.to_owned()))?;
    let keep = |name: &str| {
        candidates.iter().any(|k| k.layout(name).is_some()) || BLANKS.iter().any(|(blank, _)| *blank == name)
    };
    let mut layers: BTreeMap<usize, (Option<String>, String, Vec<String>)> = BTreeMap::new();
    let mut next = 0usize;
    let custom: Vec<String> =
        custom_keycodes(&enumerators).into_iter().filter(|name| is_declarable(name, &qmk_scope)).collect();
    let elements = elements(&preprocessed.tokens, array);
    let mut carried: BTreeSet<String> = custom.iter().cloned().collect();
    carried.extend(layer_names_of(&elements, &scope, &qmk_scope));
    let dance_names = extensions::dance_names(&preprocessed, &scope, &qmk_scope);
    carried.extend(dance_names.iter().cloned());
    let other_languages: Vec<Scope> = languages
        .iter()
        .skip(1)
        .filter_map(|language| context.keycodes.scope(&keyboard_names, &NO_NAMES, Some(language)))
        .collect();
    let mut writer = KeyWriter {
        qmk: &qmk_scope,
        names: &names,
        carried: &carried,
        other_languages: &other_languages,
        as_values: BTreeSet::new(),
    };
    let mut overridden_layers = 0;
    let mut places: BTreeMap<usize, Vec<Place>> = BTreeMap::new();
    for element in elements {
        let at = place(&preprocessed, element.value.first().or(element.designator.first()));
        let (index, name) = match element.designator.as_slice() {
            [] => (next, None),
            designator => {
                let text = preprocess::join(designator);
                let name = match designator {
                    [only] if only.token == Token::Ident => Some(only.text.to_string()),
                    _ => None,
                };
                let number = match designator {
                    [only] if only.token == Token::Number => c::CInt::parse(&only.text).ok(),
                    _ => None,
                };
                if let Some(number) = number.filter(|n| n.value >= MAX_LAYERS as i128) {
                    let message = format!("layer {}: a keymap has at most {MAX_LAYERS} layers", number.value);
                    return Err(CError::Layer { at, message });
                }
                match scope.resolve(&text) {
                    Ok(value) => (usize::from(value.value), name),
                    Err(error) => {
                        notes.push(format!(
                            "{at}: layer `{text}` has no value here ({error}): it is taken as layer {next}, the one after the last"
                        ));
                        (next, name)
                    }
                }
            }
        };
        if index >= MAX_LAYERS {
            return Err(CError::Layer {
                at,
                message: format!("layer {index}: a keymap has at most {MAX_LAYERS} layers"),
            });
        }
        next = index + 1;
        let expanded = preprocessed
            .expand_at(&element.value, element.position, &|name| keep(name) || carried.contains(name))
            .map_err(|_| CError::TooMuchExpansion(input.shown.to_owned()))?;
        let (layout, arguments) = match call(&expanded) {
            Some(called) => called,
            None => matrix_layer(&expanded, keyboard, &at, &mut notes).ok_or_else(|| CError::Layer {
                at: at.clone(),
                message: format!(
                    "layer {index} is `{}`, neither a LAYOUT macro call nor rows of the matrix",
                    shorten(&preprocess::join(&expanded))
                ),
            })?,
        };
        if arguments.len() > MAX_KEYS {
            let message = format!("layer {index} has {} keys: no keyboard has more than {MAX_KEYS}", arguments.len());
            return Err(CError::Layer { at, message });
        }
        let keys = arguments.iter().map(|argument| writer.write(argument)).collect();
        // `call` leaves out empty arguments: each has a first token.
        let key_places =
            arguments.iter().filter_map(|argument| Some(Place::of(&preprocessed, argument.first()?))).collect();
        places.insert(index, key_places);
        if layers.insert(index, (name, layout, keys)).is_some() {
            overridden_layers += 1;
            notes.push(format!("{at}: layer {index} is given twice; the last one counts, as in C"));
        }
    }
    let first_layout = layers.values().next().map(|(_, layout, _)| layout.clone());
    let target =
        candidates.iter().find(|k| first_layout.as_ref().is_some_and(|l| k.layout(l).is_some())).unwrap_or(&keyboard);
    if target.name != keyboard_name && candidates.len() > 1 {
        notes.push(format!(
            "keyboards/{keyboard_name} holds {} keyboards: this keymap is written for {}, the first with {}",
            candidates.len(),
            target.name,
            first_layout.as_deref().unwrap_or("its layout")
        ));
    }
    let count = layers.keys().last().map_or(0, |last| last + 1);
    let size = layers.values().next().map_or(0, |(_, _, keys)| keys.len());
    let mut read = CKeymap {
        keyboard: target.name.clone(),
        keymap: input.keymap.unwrap_or("default").to_owned(),
        layout: first_layout,
        layers: Vec::new(),
        layer_names: None,
        custom_keycodes: custom,
        host_language: language,
        encoders: None,
        notes: Vec::new(),
        missing_layers: Vec::new(),
        overridden_layers,
        relaid_layers: Vec::new(),
        extended: Extended::default(),
        key_places: Vec::new(),
        names: names.clone(),
        keyboard_names: keyboard_names.clone(),
    };
    let mut layer_names = Vec::new();
    for index in 0..count {
        match layers.remove(&index) {
            Some((name, layout, keys)) => {
                layer_names.push(name);
                let keys = match read.layout.as_deref() {
                    Some(first) if first != layout => {
                        let (moved, note) = relaid(target, &layout, first, keys);
                        notes.push(format!("layer {index}: {note}"));
                        read.relaid_layers.push(index);
                        moved
                    }
                    _ => keys,
                };
                read.layers.push(keys);
                // A moved layer's keys are no longer where they were written.
                let moved = read.relaid_layers.last() == Some(&index);
                read.key_places.push(places.remove(&index).filter(|_| !moved).unwrap_or_default());
            }
            None => {
                notes.push(format!(
                    "layer {index} is not in keymaps[]: C leaves its keys KC_NO, and so does this keymap"
                ));
                layer_names.push(None);
                read.key_places.push(Vec::new());
                read.missing_layers.push(index);
                read.layers.push(vec!["KC_NO".to_owned(); size]);
            }
        }
    }
    read.layer_names = layer_names
        .into_iter()
        .map(|name| name.filter(|name| carried.contains(name)))
        .collect::<Option<Vec<String>>>()
        .filter(|names| !names.is_empty());
    read.encoders = encoders(&preprocessed, &mut writer, &keep);
    // Past the bound, nothing more is expanded, and the file is refused below.
    let expand = |tokens: &[PpToken], position: usize| {
        preprocessed.expand_at(tokens, position, &|name| keep(name) || carried.contains(name)).unwrap_or_default()
    };
    let mut key = |tokens: &[PpToken]| writer.write(tokens);
    let value = |text: &str| scope.resolve(text).ok().map(|resolved| resolved.value);
    let mut tools = extensions::Tools { expand: &expand, key: &mut key, value: &value };
    read.extended = extensions::read(&preprocessed, &dance_names, &mut tools, &mut notes);
    if preprocessed.is_exhausted() {
        return Err(CError::TooMuchExpansion(input.shown.to_owned()));
    }
    for name in &writer.as_values {
        notes.push(format!("`{name}` has no name in keymap JSON: written as its value"));
    }
    notes.extend(callbacks(&preprocessed));
    read.notes = notes;
    Ok(read)
}

/// A keymap.c as read: what keymap JSON can hold, and notes on the rest.
pub struct CKeymap {
    pub keyboard: String,
    pub keymap: String,
    pub layout: Option<String>,
    /// Each layer's keys as keymap JSON writes them.
    pub layers: Vec<Vec<String>>,
    pub layer_names: Option<Vec<String>>,
    /// The keymap's own keycodes (`enum custom_keycodes { FOO = SAFE_RANGE }`).
    pub custom_keycodes: Vec<String>,
    pub host_language: Option<String>,
    pub encoders: Option<Value>,
    pub notes: Vec<String>,
    /// Layers below the last that `keymaps[]` leaves out: all KC_NO, as in C.
    pub missing_layers: Vec<usize>,
    /// Layers given twice, of which C keeps the last.
    pub overridden_layers: usize,
    /// Layers written with another LAYOUT macro than layer 0's, moved onto its keys.
    pub relaid_layers: Vec<usize>,
    /// Combos, tap dances and key overrides, as the extension writes them.
    pub extended: Extended,
    /// Where each key of each layer is written.
    pub key_places: Vec<Vec<Place>>,
    /// What the keymap defines, for [`CKeymap::value_of`].
    names: Arc<Names>,
    keyboard_names: Arc<Names>,
}

impl CKeymap {
    /// The keymap as a keymap JSON document.
    pub fn document(&self) -> Object {
        let mut document = Object::new();
        document.insert("keyboard".into(), Value::from(self.keyboard.as_str()));
        document.insert("keymap".into(), Value::from(self.keymap.as_str()));
        if let Some(layout) = &self.layout {
            document.insert("layout".into(), Value::from(layout.as_str()));
        }
        let layers =
            self.layers.iter().map(|keys| Value::Array(keys.iter().map(|k| Value::from(k.as_str())).collect()));
        document.insert("layers".into(), Value::Array(layers.collect()));
        if let Some(language) = &self.host_language {
            document.insert("host_language".into(), Value::from(language.as_str()));
        }
        if let Some(names) = &self.layer_names {
            document
                .insert("layer_names".into(), Value::Array(names.iter().map(|n| Value::from(n.as_str())).collect()));
        }
        if !self.custom_keycodes.is_empty() {
            let declared = self
                .custom_keycodes
                .iter()
                .map(|name| Value::Object(Object::from_iter([("key".into(), Value::from(name.as_str()))])));
            document.insert("keycodes".into(), Value::Array(declared.collect()));
        }
        if let Some(encoders) = &self.encoders {
            document.insert("encoders".into(), encoders.clone());
        }
        let extended = &self.extended;
        for (member, items) in [
            ("combos", &extended.combos),
            ("tap_dances", &extended.tap_dances),
            ("key_overrides", &extended.key_overrides),
        ] {
            if !items.is_empty() {
                document.insert(member.into(), Value::Array(items.clone()));
            }
        }
        document
    }

    /// Points findings about the keymap JSON written from this keymap.c at the file and
    /// line of the key they are about; the JSON's own lines and columns are dropped,
    /// since that JSON is nowhere to be seen.
    pub fn relocate(&self, diagnostics: &mut [Diagnostic], shown: &str) {
        for diagnostic in diagnostics {
            let place = diagnostic.position.as_ref().and_then(|p| self.key_places.get(p.layer)?.get(p.index));
            diagnostic.file = Some(place.map_or_else(|| shown.to_owned(), |p| p.file.clone()));
            diagnostic.line = place.map(|p| p.line as usize);
            diagnostic.column = None;
        }
    }

    /// The value C gives `text` in this keymap.c, with its own names.
    pub fn value_of(&self, keycodes: &Keycodes, text: &str) -> Option<u16> {
        let scope = keycodes.scope(&self.keyboard_names, &self.names, self.host_language.as_deref())?;
        scope.resolve(text).ok().map(|resolved| resolved.value)
    }
}

/// keymap.c → keymap JSON text, with notes.
pub fn to_json(context: Context, input: &Input) -> Result<Converted, CError> {
    let read = read(context, input)?;
    Ok(Converted { text: crate::keymap::to_keymap_json(&read.document()), notes: read.notes })
}

static NO_NAMES: std::sync::LazyLock<Names> = std::sync::LazyLock::new(Names::default);

/// Runs the keymap's directives after its folder's config.h, with the features its
/// keyboard and its rules.mk turn on defined.
fn preprocess_keymap(keyboard: &Keyboard, input: &Input, notes: &mut Vec<String>) -> Preprocessed {
    let mut defined: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(features)) = keyboard.info.get("features") {
        for (feature, on) in features.iter() {
            if matches!(on, Value::Bool(true)) {
                defined.push((format!("{}_ENABLE", feature.to_uppercase()), "1".into()));
            }
        }
    }
    let beside = |name: &str| input.folder.and_then(|folder| std::fs::read_to_string(folder.join(name)).ok());
    if let Some(rules) = beside("rules.mk") {
        for line in rules.lines() {
            let Some((name, value)) = line.split_once('=') else { continue };
            let name = name.trim().trim_end_matches([':', '+', '?']).trim();
            if !name.ends_with("_ENABLE") {
                continue;
            }
            defined.retain(|(known, _)| known != name);
            if value.trim() == "yes" {
                defined.push((name.to_owned(), "1".into()));
            }
        }
    }
    // Keymap JSON's `encoders` turn QMK's encoder map on: the map is read where the
    // keyboard has encoders, whatever the keymap's rules.mk says.
    if defined.iter().any(|(name, _)| name == "ENCODER_ENABLE")
        && !defined.iter().any(|(n, _)| n == "ENCODER_MAP_ENABLE")
    {
        defined.push(("ENCODER_MAP_ENABLE".into(), "1".into()));
    }
    let mut includes = KeymapIncludes { keyboard: &keyboard.name, input };
    let mut preprocessor = Preprocessor::new(&defined);
    if let Some(config) = beside("config.h") {
        preprocessor.file("config.h", &config, &mut includes);
    }
    preprocessor.file(input.shown, input.text, &mut includes);
    let preprocessed = preprocessor.finish();
    for (name, found) in &preprocessed.included {
        if !found && !is_qmk_header(name) {
            notes.push(format!("cannot find `{name}` beside the keymap, in its keyboard's folders or users/: what it defines is unknown here"));
        }
    }
    for problem in &preprocessed.problems {
        notes.push(format!("{}:{}: {}", preprocessed.files[problem.file].shown, problem.line, problem.message));
    }
    preprocessed
}

/// QMK's own headers, whose names the keycodes already know.
fn is_qmk_header(name: &str) -> bool {
    let base = name.rsplit('/').next().unwrap_or(name);
    base.starts_with("keymap_")
        || base.starts_with("sendstring_")
        || !name.contains('/') && QMK_HEADER_NAMES.contains(&base)
}

const QMK_HEADER_NAMES: &[&str] =
    &["quantum.h", "action_layer.h", "eeconfig.h", "version.h", "print.h", "timer.h", "wait.h", "host.h"];

/// `#include "…"` as QMK's make finds it for a keymap: beside the including file,
/// beside the keymap, in the keyboard's folders up to `keyboards/`, in `users/<keymap>/`.
/// Files in the tree are read through it, so a name cannot lead out of the tree.
struct KeymapIncludes<'a> {
    keyboard: &'a str,
    input: &'a Input<'a>,
}

impl Includes for KeymapIncludes<'_> {
    fn find(&mut self, name: &str, from: &str) -> Option<(String, String)> {
        if Path::new(name).is_absolute() {
            return None;
        }
        if let Some(folder) = self.input.folder {
            let beside = folder.join(name);
            if let Ok(text) = std::fs::read_to_string(&beside) {
                return Some((beside.display().to_string(), text));
            }
        }
        let tree = self.input.tree?;
        let mut folders: Vec<PathBuf> = Vec::new();
        if let Some(parent) = Path::new(from).parent().filter(|p| p.starts_with("keyboards") || p.starts_with("users"))
        {
            folders.push(parent.to_owned());
        }
        let parts: Vec<&str> = self.keyboard.split('/').collect();
        for end in (1..=parts.len()).rev() {
            folders.push(Path::new("keyboards").join(parts[..end].join("/")));
        }
        if let Some(keymap) = self.input.keymap {
            folders.push(Path::new("users").join(keymap));
        }
        folders.push(PathBuf::new());
        folders.into_iter().find_map(|folder| {
            let path = crate::keyboard::custom_keycodes::normalize(&folder.join(name))?;
            if !(path.starts_with("keyboards") || path.starts_with("users") || path.starts_with("layouts")) {
                return None;
            }
            let bytes = tree.read(&path).ok()?;
            Some((path.display().to_string(), String::from_utf8(bytes.into_owned()).ok()?))
        })
    }
}

/// The keymap's own definitions: its macros (as C's preprocessor left them at the
/// end) and the enumerators of what it compiles.
fn local_definitions(preprocessed: &Preprocessed, enumerators: &[Definition]) -> Vec<Definition> {
    let mut definitions: Vec<Definition> = preprocessed
        .macros
        .iter()
        .filter(|(_, m)| m.file.is_some())
        .map(|(name, m)| Definition {
            name: name.clone(),
            params: m.params.clone(),
            value: preprocess::join(&m.body),
            enumeration: None,
        })
        .collect();
    definitions.extend(enumerators.iter().cloned());
    definitions
}

/// The enumerators of what the keymap compiles, in file order.
fn enumerators(preprocessed: &Preprocessed) -> Vec<Definition> {
    let code: String = preprocessed.tokens.iter().map(|t| format!("{} ", t.text)).collect();
    c::scan(&code).definitions
}

/// The enumerators of enumerations that start at the user's range: the keymap's own keycodes.
fn custom_keycodes(enumerators: &[Definition]) -> Vec<String> {
    let mut custom = Vec::new();
    let mut current: Option<String> = None;
    for definition in enumerators {
        let Some(enumeration) = &definition.enumeration else { continue };
        let starts_custom =
            CUSTOM_RANGE_STARTS.iter().any(|start| definition.value.split_whitespace().next() == Some(start));
        if starts_custom {
            current = Some(enumeration.clone());
        }
        if current.as_ref() == Some(enumeration) && !definition.name.ends_with("SAFE_RANGE") {
            custom.push(definition.name.clone());
        }
    }
    custom
}

/// The host languages `keymap_<language>.h` includes bring, where the keycodes have them.
fn host_languages(preprocessed: &Preprocessed, context: Context) -> Vec<String> {
    let mut languages: Vec<String> = Vec::new();
    for (name, _) in &preprocessed.included {
        let language = name.rsplit('/').next().and_then(|n| n.strip_prefix("keymap_")?.strip_suffix(".h"));
        if let Some(known) = language.and_then(|l| context.keycodes.languages().find(|known| *known == l))
            && !languages.iter().any(|l| l == known)
        {
            languages.push(known.to_owned());
        }
    }
    languages
}

/// The tokens between the braces of `NAME[…]… = { … }`.
fn find_array(tokens: &[PpToken], name: &str) -> Option<std::ops::Range<usize>> {
    let start = tokens.iter().enumerate().position(|(at, t)| {
        t.is(name) && tokens.get(at + 1).is_some_and(|n| n.is("[")) && {
            let rest = &tokens[at + 1..];
            let end =
                rest.iter().position(|t| t.token == Token::Semicolon || t.token == Token::LBrace).unwrap_or(rest.len());
            rest[..end].iter().any(|t| t.token == Token::Assign)
        }
    })?;
    let open = start + tokens[start..].iter().position(|t| t.token == Token::LBrace)?;
    let close = matching(tokens, open)?;
    Some(open + 1..close)
}

/// The index of the bracket closing the one at `open`.
fn matching(tokens: &[PpToken], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (at, token) in tokens.iter().enumerate().skip(open) {
        match token.token {
            Token::LBrace | Token::LParen => depth += 1,
            Token::Other if token.is("[") => depth += 1,
            Token::RBrace | Token::RParen => depth -= 1,
            Token::Other if token.is("]") => depth -= 1,
            _ => continue,
        }
        if depth == 0 {
            return Some(at);
        }
    }
    None
}

/// One element of an initializer list: `[designator] = value` or `value`.
struct Element {
    designator: Vec<PpToken>,
    value: Vec<PpToken>,
    /// Where it starts among the preprocessed tokens.
    position: usize,
}

/// The elements of the initializer list inside `range` of `tokens`.
fn elements(tokens: &[PpToken], range: std::ops::Range<usize>) -> Vec<Element> {
    let inside = &tokens[range.clone()];
    let mut position = range.start;
    let mut elements = Vec::new();
    for part in split_top(inside) {
        let at = position;
        position += part.len() + 1;
        if part.is_empty() {
            continue;
        }
        elements.push(match part.first() {
            Some(open) if open.is("[") => {
                let close = part.iter().position(|t| t.is("]")).unwrap_or(0);
                let value_at = part.iter().position(|t| t.token == Token::Assign).map_or(close + 1, |a| a + 1);
                let value = part[value_at.min(part.len())..].to_vec();
                Element { designator: part[1..close.max(1)].to_vec(), value, position: at }
            }
            _ => Element { designator: Vec::new(), value: part.to_vec(), position: at },
        });
    }
    elements
}

/// The layers' names, when every layer is designated by a name of its own.
/// Carried only where they say what keymap JSON's `layer_names` says: layers 0 to the
/// last, each named once, with names C does not already have.
fn layer_names_of(elements: &[Element], scope: &Scope, qmk: &Scope) -> BTreeSet<String> {
    let named: Option<Vec<(String, u16)>> = elements
        .iter()
        .map(|element| match element.designator.as_slice() {
            [only] if only.token == Token::Ident => {
                Some((only.text.to_string(), scope.resolve(&only.text).ok()?.value))
            }
            _ => None,
        })
        .collect();
    let Some(named) = named else { return BTreeSet::new() };
    let values: BTreeSet<u16> = named.iter().map(|(_, value)| *value).collect();
    let names: BTreeSet<String> = named.iter().map(|(name, _)| name.clone()).collect();
    let numbered = values.len() == named.len() && values.iter().copied().eq(0..named.len() as u16);
    match numbered && names.len() == named.len() && !names.iter().any(|name| is_taken(qmk, name)) {
        true => names,
        false => BTreeSet::new(),
    }
}

/// Whether keymap JSON's `keycodes` can declare `name` (QMK's schema: 2 to 50 of
/// `A-Z`, `0-9`, `_` and `s`, a capital first) and C has no other meaning for it.
fn is_declarable(name: &str, qmk: &Scope) -> bool {
    let mut chars = name.chars();
    (2..=50).contains(&name.len())
        && chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == 's')
        && !is_taken(qmk, name)
}

/// Splits at commas outside any brackets.
fn split_top(tokens: &[PpToken]) -> Vec<&[PpToken]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (at, token) in tokens.iter().enumerate() {
        match token.token {
            Token::LBrace | Token::LParen => depth += 1,
            Token::RBrace | Token::RParen => depth -= 1,
            Token::Other if token.is("[") => depth += 1,
            Token::Other if token.is("]") => depth -= 1,
            Token::Comma if depth == 0 => {
                parts.push(&tokens[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    parts.push(&tokens[start..]);
    parts
}

/// `NAME(arguments)`, as the name and each argument's tokens.
fn call(tokens: &[PpToken]) -> Option<(String, Vec<Vec<PpToken>>)> {
    let [name, open, .., close] = tokens else { return None };
    if name.token != Token::Ident || open.token != Token::LParen || close.token != Token::RParen {
        return None;
    }
    if matching(tokens, 1) != Some(tokens.len() - 1) {
        return None;
    }
    let inside = &tokens[2..tokens.len() - 1];
    let arguments = split_top(inside).into_iter().filter(|a| !a.is_empty()).map(<[PpToken]>::to_vec).collect();
    Some((name.text.to_string(), arguments))
}

/// A layer written as the matrix's rows (`{{KC_A, KC_B}, {…}}`), as the keyboard's
/// first layout whose keys the matrix holds: each key the cell at its matrix position.
/// Cells no key of the layout stands at are noted where they hold a key.
fn matrix_layer(
    tokens: &[PpToken],
    keyboard: &Keyboard,
    at: &str,
    notes: &mut Vec<String>,
) -> Option<(String, Vec<Vec<PpToken>>)> {
    if tokens.first()?.token != Token::LBrace || matching(tokens, 0)? != tokens.len() - 1 {
        return None;
    }
    let mut rows: Vec<Vec<Vec<PpToken>>> = Vec::new();
    for row in split_top(&tokens[1..tokens.len() - 1]).into_iter().filter(|r| !r.is_empty()) {
        let (first, last) = (row.first()?, row.last()?);
        if first.token != Token::LBrace || last.token != Token::RBrace {
            return None;
        }
        rows.push(
            split_top(&row[1..row.len() - 1]).into_iter().filter(|c| !c.is_empty()).map(<[PpToken]>::to_vec).collect(),
        );
    }
    let fits = |key: &crate::keyboard::Key| {
        key.matrix().is_some_and(|[r, c]| rows.get(usize::from(r)).is_some_and(|row| usize::from(c) < row.len()))
    };
    let (name, layout) = keyboard.layouts.iter().find(|(_, layout)| layout.keys.iter().all(fits))?;
    let mut used = BTreeSet::new();
    let keys = layout
        .keys
        .iter()
        .map(|key| {
            let [r, c] = key.matrix().expect("every key fits");
            used.insert((usize::from(r), usize::from(c)));
            rows[usize::from(r)][usize::from(c)].clone()
        })
        .collect();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            let text = preprocess::join(cell);
            if !used.contains(&(r, c)) && !matches!(text.as_str(), "KC_NO" | "XXXXXXX" | "0") {
                notes.push(format!("{at}: matrix position {r},{c} holds `{text}`, but no key of {name} is there"));
            }
        }
    }
    notes.push(format!("{at}: a layer written as the matrix's rows is written as {name}"));
    Some((name.clone(), keys))
}

/// A layer written with another LAYOUT macro than the first layer's, moved onto the
/// first's keys by their matrix positions: keymap JSON has one layout. Keys of the
/// first layout no key of `from` stands at are KC_NO.
fn relaid(keyboard: &Keyboard, from: &str, to: &str, keys: Vec<String>) -> (Vec<String>, String) {
    let (Some((_, from_layout)), Some((_, to_layout))) = (keyboard.layout(from), keyboard.layout(to)) else {
        return (keys, format!("written with {from}, not {to} as layer 0: keymap JSON has one layout"));
    };
    let at: BTreeMap<[u16; 2], &String> =
        from_layout.keys.iter().zip(&keys).filter_map(|(key, text)| Some((key.matrix()?, text))).collect();
    let moved: Vec<String> = to_layout
        .keys
        .iter()
        .map(|key| key.matrix().and_then(|m| at.get(&m)).map_or_else(|| "KC_NO".to_owned(), |text| (*text).clone()))
        .collect();
    let placed: BTreeSet<[u16; 2]> = to_layout.keys.iter().filter_map(|key| key.matrix()).collect();
    let lost =
        at.iter().filter(|(m, text)| !placed.contains(*m) && !matches!(text.as_str(), "KC_NO" | "KC_TRNS")).count();
    let lost = match lost {
        0 => String::new(),
        n => format!("; {n} of its keys stand where {to} has none, and are left out"),
    };
    (moved, format!("written with {from}: moved onto {to}, layer 0's, by matrix position{lost}"))
}

/// Writes keys as keymap JSON holds them: QMK's blank names spelled out, and each name
/// only the keymap.c has, which JSON cannot declare, as its value.
struct KeyWriter<'a> {
    qmk: &'a Scope<'a>,
    names: &'a Names,
    carried: &'a BTreeSet<String>,
    /// The host languages the keymap includes after the first: keymap JSON names one.
    other_languages: &'a [Scope<'a>],
    /// The names written as their values, for a note.
    as_values: BTreeSet<String>,
}

impl KeyWriter<'_> {
    fn write(&mut self, tokens: &[PpToken]) -> String {
        if let [only] = tokens
            && let Some((_, spelled)) = BLANKS.iter().find(|(blank, _)| only.is(blank))
        {
            return (*spelled).to_owned();
        }
        let written: Vec<PpToken> = tokens
            .iter()
            .map(|token| match self.value_of_unwritable(token) {
                Some(value) => {
                    self.as_values.insert(token.text.to_string());
                    token.replaced(Token::Number, &value.to_string())
                }
                None => token.clone(),
            })
            .collect();
        preprocess::join(&written)
    }

    /// The value of a name keymap JSON cannot hold: the keymap's own (not carried), or
    /// another host language's.
    fn value_of_unwritable(&self, token: &PpToken) -> Option<i128> {
        let name = &*token.text;
        if token.token != Token::Ident || self.carried.contains(name) || self.qmk.resolve(name).is_ok() {
            return None;
        }
        let own = self.names.constants.get(name).map(|constant| constant.val.int.value);
        own.or_else(|| {
            self.other_languages.iter().find_map(|language| language.resolve(name).ok()).map(|r| r.value.into())
        })
    }
}

/// The encoder map (`encoder_map[][NUM_ENCODERS][NUM_DIRECTIONS]`), as keymap JSON's `encoders`.
fn encoders(preprocessed: &Preprocessed, writer: &mut KeyWriter, keep: &dyn Fn(&str) -> bool) -> Option<Value> {
    let array = find_array(&preprocessed.tokens, "encoder_map")?;
    let mut layers = Vec::new();
    for element in elements(&preprocessed.tokens, array) {
        let keep = |name: &str| keep(name) || name.starts_with("ENCODER_CCW_CW");
        let expanded = preprocessed.expand_at(&element.value, element.position, &keep).unwrap_or_default();
        let inner = expanded.get(1..expanded.len().saturating_sub(1)).unwrap_or_default();
        let mut encoders = Vec::new();
        for encoder in split_top(inner).into_iter().filter(|e| !e.is_empty()) {
            let (_, directions) = call(encoder)?;
            let [ccw, cw] = directions.as_slice() else { return None };
            let mut entry = Object::new();
            entry.insert("ccw".into(), Value::from(writer.write(ccw).as_str()));
            entry.insert("cw".into(), Value::from(writer.write(cw).as_str()));
            encoders.push(Value::Object(entry));
        }
        layers.push(Value::Array(encoders));
    }
    Some(Value::Array(layers))
}

/// Functions the keymap defines: code JSON cannot carry.
fn callbacks(preprocessed: &Preprocessed) -> Vec<String> {
    let tokens = &preprocessed.tokens;
    let mut notes = Vec::new();
    let mut depth = 0i32;
    for (at, token) in tokens.iter().enumerate() {
        match token.token {
            Token::LBrace => depth += 1,
            Token::RBrace => depth -= 1,
            Token::Ident if depth == 0 && tokens.get(at + 1).is_some_and(|t| t.token == Token::LParen) => {
                let Some(close) = matching(tokens, at + 1) else { continue };
                if tokens.get(close + 1).is_some_and(|t| t.token == Token::LBrace) {
                    let kind = if CALLBACK_SUFFIXES.iter().any(|s| token.text.ends_with(s)) {
                        "QMK calls"
                    } else {
                        "of the keymap's"
                    };
                    notes.push(format!(
                        "{}: `{}` is code {kind}: keymap JSON cannot carry it",
                        place(preprocessed, Some(token)),
                        token.text
                    ));
                }
            }
            _ => {}
        }
    }
    notes
}

/// Where a token is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: u32,
}

impl Place {
    fn of(preprocessed: &Preprocessed, token: &PpToken) -> Place {
        let file = preprocessed.files.get(token.file).map_or_else(String::new, |f| f.shown.clone());
        Place { file, line: token.line }
    }
}

/// `file:line`, or `line N` for a macro given before the first file.
impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.file.as_str() {
            "" => write!(f, "line {}", self.line),
            file => write!(f, "{file}:{}", self.line),
        }
    }
}

/// Where a token is written, for messages.
fn place(preprocessed: &Preprocessed, token: Option<&PpToken>) -> String {
    token.map_or_else(|| "keymaps[]".to_owned(), |token| Place::of(preprocessed, token).to_string())
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
