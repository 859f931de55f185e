//! A keymap file in QMK's configurator format (`keyboard`, `keymap`, `layout`,
//! `layers`, and the optional `encoders`, `dip_switches`, `macros`, `keycodes`...),
//! read from JSON or hjson and checked against QMK's keymap schema, against what QMK's
//! generators may write of it into a build's files, and against the names the compile
//! API accepts.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::extensions::Extensions;
use super::generated;
use super::naming::NameField;
use crate::diagnostic::{Diagnostic, excerpt};
use crate::keyboard::rules_mk::Rules;
use crate::keyboard::{Settings, declared_keycodes};
use crate::schema::{EXTENDED_KEYMAP_SCHEMA, Segment, Validation, Violation};
use crate::spec::hjson::{self, KeyIndex};
use crate::spec::positions::ValueIndex;
use crate::spec::{Object, Value};

/// The most layers a keymap may have: QMK's `layer_state_t` holds a bit per layer and
/// is 32 bits wide at most (`LAYER_STATE_32BIT`), so `MAX_LAYER` is at most 32.
pub const MAX_LAYERS: usize = 32;

/// A keymap as read. Fields of the wrong type are reported and read as absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keymap {
    pub keyboard: Option<String>,
    pub keymap: Option<String>,
    pub layout: Option<String>,
    pub layers: Option<Vec<Vec<String>>>,
    pub encoders: Option<Vec<Vec<Encoder>>>,
    pub dip_switches: Option<Vec<DipSwitch>>,
    pub macros: Option<Vec<Vec<MacroStep>>>,
    pub host_language: Option<String>,
    /// Names the keymap declares in `keycodes`.
    pub custom_keycodes: Vec<String>,
    /// Layer names, combos, tap dances and key overrides (qmk-api's members).
    pub extensions: Extensions,
    /// The document as written, for tools that rewrite it.
    pub document: Object,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoder {
    pub ccw: String,
    pub cw: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DipSwitch {
    pub on: String,
    pub off: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacroStep {
    Text(String),
    /// `beep`, `delay`, `down`, `tap` or `up`.
    Action {
        action: String,
        keycodes: Vec<String>,
        duration: Option<u64>,
    },
}

const MACRO_ACTIONS: &[&str] = &["beep", "delay", "down", "tap", "up"];
const KNOWN_FIELDS: &[&str] = &[
    "author",
    "commit",
    "config",
    "converter",
    "documentation",
    "dip_switches",
    "encoders",
    "host_language",
    "keyboard",
    "keycodes",
    "keymap",
    "layers",
    "layout",
    "macros",
    "modules",
    "notes",
    "version",
    // qmk-api's extension.
    "layer_names",
    "combos",
    "tap_dances",
    "key_overrides",
];

/// The text of a keymap file, for placing findings on lines.
pub struct Source<'a> {
    pub shown: &'a str,
    pub text: &'a str,
    /// The rules.mk beside the file in a tree's keymap folder, which may turn features on.
    pub rules: Option<Rules>,
    /// Built at the first finding, once for the whole file.
    keys: OnceLock<KeyIndex>,
    values: OnceLock<ValueIndex>,
}

impl<'a> Source<'a> {
    pub fn new(shown: &'a str, text: &'a str) -> Source<'a> {
        Source { shown, text, rules: None, keys: OnceLock::new(), values: OnceLock::new() }
    }

    /// This file with the rules.mk beside it in its keymap folder, if there is one.
    pub fn with_folder_of(mut self, file: &std::path::Path) -> Self {
        let beside = file.parent().map(|folder| folder.join("rules.mk"));
        self.rules = beside.and_then(|path| std::fs::read_to_string(path).ok()).map(|text| Rules::of(&text));
        self
    }

    /// `diagnostic` placed at `path`: the line and column of its value, else the line
    /// of its deepest key found in the text (array indices are not written, so they are
    /// skipped), else of its first.
    pub fn finding(&self, diagnostic: Diagnostic, path: &[&str]) -> Diagnostic {
        let diagnostic = diagnostic.in_file(self.shown);
        let diagnostic = match self.value_position(path) {
            Some((line, column)) => diagnostic.at_line(Some(line)).at_column(Some(column)),
            None => diagnostic.at_line(self.key_line(path)),
        };
        if path.is_empty() { diagnostic } else { diagnostic.at_key(path.join("/")) }
    }

    fn value_position(&self, path: &[&str]) -> Option<(usize, usize)> {
        if path.is_empty() {
            return None;
        }
        self.values.get_or_init(|| ValueIndex::new(self.text)).position(self.text, path)
    }

    fn key_line(&self, path: &[&str]) -> Option<usize> {
        path.first().and_then(|first| {
            let keys = self.keys.get_or_init(|| KeyIndex::new(self.text));
            let written: Vec<&str> = path.iter().copied().filter(|s| !s.bytes().all(|b| b.is_ascii_digit())).collect();
            keys.locate(&written).or_else(|| keys.locate(&[first]))
        })
    }

    /// A violation of QMK's schema or of what its generators may write, as an error
    /// that names its path.
    fn violation(&self, violation: &Violation) -> Diagnostic {
        let path: Vec<String> = violation.path.iter().map(ToString::to_string).collect();
        let message = match path.is_empty() {
            true => format!("the keymap {}", violation.message),
            false => format!("`{}`: {}", path.join("/"), violation.message),
        };
        self.finding(Diagnostic::error(message), &path.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// Reads a keymap and checks it against QMK's keymap schema and what QMK's generators
/// may write of it, as `settings` (the tree's) say. `None` when the text is not a
/// keymap document at all.
pub fn read(source: &Source, settings: &Settings) -> (Option<Keymap>, Vec<Diagnostic>) {
    let value = match hjson::parse(source.text) {
        Ok(value) => value,
        Err(e) => {
            let diagnostic = Diagnostic::error(e.message).in_file(source.shown).at_line(e.line).at_column(e.column);
            return (None, vec![diagnostic]);
        }
    };
    let schema = match settings.schemas.validate(EXTENDED_KEYMAP_SCHEMA, &value) {
        Ok(schema) => schema,
        Err(error) => return (None, vec![source.finding(Diagnostic::error(error.to_string()), &[])]),
    };
    let Value::Object(document) = value else {
        let diagnostic = Diagnostic::error(format!("a keymap must be an object, not {}", value.kind()));
        return (None, vec![source.finding(diagnostic, &[])]);
    };
    let mut reader = Reader { source, findings: Vec::new() };
    let keymap = reader.keymap(document);
    let written = generated::check(&keymap.document, settings, &schema);
    let findings = merge(source, reader.findings, &schema, &written);
    (Some(keymap), findings)
}

/// The reader's findings, then the schema's, then what QMK's generators may not
/// write. Where the reader has said in its own words what is wrong with a field, the
/// schema's findings about that field are not repeated; and a value the schema
/// already refuses is not refused again for what it would write.
fn merge(source: &Source, read: Vec<Diagnostic>, schema: &Validation, written: &[Violation]) -> Vec<Diagnostic> {
    let faulted: HashSet<String> = read
        .iter()
        .filter(|d| d.is_error())
        .filter_map(|d| Some(d.key.as_deref()?.split('/').next()?.to_owned()))
        .collect();
    let top = |path: &[Segment]| path.first().map(ToString::to_string).unwrap_or_default();
    let mut findings = read;
    let from_schema = schema.violations.iter().filter(|v| !faulted.contains(&top(&v.path)));
    findings.extend(from_schema.map(|v| source.violation(v)));
    if schema.unshown > 0 {
        let more = format!("{} more findings of QMK's keymap schema not shown", schema.unshown);
        findings.push(source.finding(Diagnostic::error(more), &[]));
    }
    let refused =
        |path: &[Segment]| faulted.contains(&top(path)) || schema.violations.iter().any(|v| path.starts_with(&v.path));
    findings.extend(written.iter().filter(|v| !refused(&v.path)).map(|v| source.violation(v)));
    findings
}

struct Reader<'s, 'a> {
    source: &'s Source<'a>,
    findings: Vec<Diagnostic>,
}

impl Reader<'_, '_> {
    fn error(&mut self, path: &[&str], message: String) {
        let finding = self.source.finding(Diagnostic::error(message), path);
        self.findings.push(finding);
    }

    fn keymap(&mut self, document: Object) -> Keymap {
        for field in document.keys().filter(|f| !KNOWN_FIELDS.contains(f)) {
            let hint = crate::diagnostic::suggest(field, KNOWN_FIELDS.iter().copied())
                .map(|known| format!(" (did you mean `{known}`?)"))
                .unwrap_or_default();
            let finding = self.source.finding(Diagnostic::warning(format!("unknown field `{field}`{hint}")), &[field]);
            self.findings.push(finding);
        }
        for field in ["author", "notes", "documentation"] {
            self.string(&document, field);
        }
        let layout = self.name(&document, NameField::Layout);
        // A retired name (KEYMAP) is reported by validation, with its replacement.
        if let Some(layout) = &layout
            && !is_layout_macro(layout)
            && super::retired::retired_layout(layout).is_none()
        {
            self.error(&["layout"], format!("`{layout}` is not a layout macro name (LAYOUT or LAYOUT_...)"));
        }
        Keymap {
            keyboard: self.name(&document, NameField::Keyboard),
            keymap: self.name(&document, NameField::Keymap),
            layout,
            layers: self.layers(&document),
            encoders: self.pairs(&document, "encoders", |r, path, item| {
                Some(Encoder { ccw: r.field_string(item, "ccw", path)?, cw: r.field_string(item, "cw", path)? })
            }),
            dip_switches: self.list(&document, "dip_switches", |r, path, item| {
                Some(DipSwitch { on: r.field_string(item, "on", path)?, off: r.field_string(item, "off", path)? })
            }),
            macros: self.macros(&document),
            host_language: self.host_language(&document),
            custom_keycodes: declared_keycodes(document.get("keycodes")),
            extensions: Extensions::read(&document),
            document,
        }
    }

    fn string(&mut self, document: &Object, field: &str) -> Option<String> {
        match document.get(field)? {
            Value::String(s) => Some(s.to_string()),
            other => {
                self.error(&[field], format!("`{field}` must be a string, not {}", other.kind()));
                None
            }
        }
    }

    /// A name the compile API would accept for `field`, which becomes a folder, part
    /// of make's command line or C; else reported and read as absent.
    fn name(&mut self, document: &Object, field: NameField) -> Option<String> {
        let name = self.string(document, field.as_str())?;
        match field.problem(&name) {
            None => Some(name),
            Some(problem) => {
                self.error(&[field.as_str()], problem);
                None
            }
        }
    }

    /// QMK's `text_identifier`: a string of 1 to 250 characters.
    fn identifier(&mut self, document: &Object, field: &str) -> Option<String> {
        let value = self.string(document, field)?;
        if (1..=250).contains(&value.chars().count()) {
            Some(value)
        } else {
            self.error(&[field], format!("`{field}` must be 1 to 250 characters long"));
            None
        }
    }

    /// A language's name, which json2c writes into two `#include` lines.
    fn host_language(&mut self, document: &Object) -> Option<String> {
        let language = self.identifier(document, "host_language")?;
        if language.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            Some(language)
        } else {
            let message = format!(
                "`host_language` `{}` is not a language name: lower-case letters, digits and `_` (german, us_international)",
                excerpt(&language)
            );
            self.error(&["host_language"], message);
            None
        }
    }

    fn layers(&mut self, document: &Object) -> Option<Vec<Vec<String>>> {
        let layers = self.array(document, "layers")?;
        if layers.len() > MAX_LAYERS {
            let message = format!(
                "the keymap has {} layers, but QMK addresses {MAX_LAYERS} at most: its layer state \
                 (`layer_state_t`) holds one bit per layer and is 32 bits wide at most, so `MAX_LAYER` is \
                 at most {MAX_LAYERS} (and 16 unless the keyboard sets LAYER_STATE_32BIT)",
                layers.len()
            );
            self.error(&["layers"], message);
        }
        let mut read = Vec::with_capacity(layers.len());
        for (index, layer) in layers.iter().enumerate() {
            let Some(keys) = layer.as_array() else {
                self.error(&["layers"], format!("layer {index} must be an array of keycodes, not {}", layer.kind()));
                read.push(Vec::new());
                continue;
            };
            let mut strings = Vec::with_capacity(keys.len());
            let mut wrong = 0;
            for key in keys {
                match key.as_str() {
                    Some(s) => strings.push(s.to_owned()),
                    None => {
                        wrong += 1;
                        strings.push(String::new());
                    }
                }
            }
            if wrong > 0 {
                self.error(&["layers"], format!("layer {index}: {wrong} keys are not strings (keycodes are strings)"));
            }
            read.push(strings);
        }
        Some(read)
    }

    fn array<'d>(&mut self, document: &'d Object, field: &str) -> Option<&'d [Value]> {
        match document.get(field)? {
            Value::Array(items) => Some(items),
            other => {
                self.error(&[field], format!("`{field}` must be an array, not {}", other.kind()));
                None
            }
        }
    }

    /// An array of items read by `item`; a bad item is reported and the list dropped.
    fn list<T>(
        &mut self,
        document: &Object,
        field: &str,
        item: impl Fn(&mut Self, &str, &Value) -> Option<T>,
    ) -> Option<Vec<T>> {
        let items = self.array(document, field)?;
        let read: Vec<Option<T>> =
            items.iter().enumerate().map(|(i, v)| item(self, &format!("{field} {i}"), v)).collect();
        read.into_iter().collect()
    }

    /// An array of arrays of items (encoders per layer).
    fn pairs<T>(
        &mut self,
        document: &Object,
        field: &str,
        item: impl Fn(&mut Self, &str, &Value) -> Option<T>,
    ) -> Option<Vec<Vec<T>>> {
        let layers = self.array(document, field)?;
        let mut read = Vec::new();
        for (index, layer) in layers.iter().enumerate() {
            let Some(items) = layer.as_array() else {
                self.error(&[field], format!("{field} of layer {index} must be an array, not {}", layer.kind()));
                return None;
            };
            let items: Option<Vec<T>> =
                items.iter().enumerate().map(|(i, v)| item(self, &format!("{field} {index}/{i}"), v)).collect();
            read.push(items?);
        }
        Some(read)
    }

    fn field_string(&mut self, item: &Value, field: &str, path: &str) -> Option<String> {
        match item.get(field) {
            Some(Value::String(s)) => Some(s.to_string()),
            _ => {
                let top = path.split(' ').next().unwrap_or(path);
                self.error(&[top], format!("{path}: `{field}` must be a string"));
                None
            }
        }
    }

    fn macros(&mut self, document: &Object) -> Option<Vec<Vec<MacroStep>>> {
        let macros = self.list(document, "macros", |reader, path, steps| {
            let Some(steps) = steps.as_array() else {
                reader.error(&["macros"], format!("{path} must be an array of steps"));
                return None;
            };
            steps.iter().map(|step| reader.macro_step(path, step)).collect::<Option<Vec<_>>>()
        })?;
        for (index, steps) in macros.iter().enumerate() {
            for step in unclosed_texts(steps) {
                let message = format!(
                    "`macros/{index}/{step}`: a text that ends with `\"` must be followed by more text: QMK's json2c \
                     joins a macro's strings by deleting `\"\"`, which here deletes the string's closing quote and \
                     leaves what follows inside it"
                );
                self.error(&["macros", &index.to_string(), &step.to_string()], message);
            }
        }
        Some(macros)
    }

    fn macro_step(&mut self, path: &str, step: &Value) -> Option<MacroStep> {
        if let Some(text) = step.as_str() {
            return Some(MacroStep::Text(text.to_owned()));
        }
        let action = step.get("action").and_then(Value::as_str).filter(|a| MACRO_ACTIONS.contains(a));
        let Some(action) = action else {
            self.error(
                &["macros"],
                format!("{path}: a step is a string or an object with `action` one of {MACRO_ACTIONS:?}"),
            );
            return None;
        };
        let keycodes = match step.get("keycodes") {
            None => Vec::new(),
            Some(Value::Array(items)) if items.iter().all(|k| k.as_str().is_some()) => {
                items.iter().filter_map(Value::as_str).map(str::to_owned).collect()
            }
            Some(_) => {
                self.error(&["macros"], format!("{path}: `keycodes` must be an array of strings"));
                return None;
            }
        };
        let duration = match step.get("duration") {
            None => None,
            Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
            Some(_) => {
                self.error(&["macros"], format!("{path}: `duration` must be a whole number of milliseconds"));
                return None;
            }
        };
        Some(MacroStep::Action { action: action.to_owned(), keycodes, duration })
    }
}

/// The steps of a macro whose text QMK's json2c would not close: it writes each text
/// as a literal and deletes every `""` of the result, so an escaped `\"` at a text's
/// end and the literal's closing quote go together, unless the opening quote of a
/// following text (or beep, `"\a"`) pairs with that closing quote first.
fn unclosed_texts(steps: &[MacroStep]) -> Vec<usize> {
    let continues = |step: Option<&MacroStep>| match step {
        Some(MacroStep::Text(text)) => !text.is_empty(),
        Some(MacroStep::Action { action, .. }) => action == "beep",
        None => false,
    };
    (0..steps.len())
        .filter(|&i| matches!(&steps[i], MacroStep::Text(text) if text.ends_with('"')) && !continues(steps.get(i + 1)))
        .collect()
}

/// `LAYOUT` or `LAYOUT_` and a C identifier's characters.
pub fn is_layout_macro(name: &str) -> bool {
    name == "LAYOUT"
        || name.strip_prefix("LAYOUT_").is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(text: &str) -> (Option<Keymap>, Vec<String>) {
        let (keymap, findings) = read(&Source::new("k.json", text), &Settings::bundled());
        (keymap, findings.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn reads_the_configurator_format() {
        let (keymap, findings) = read_text(
            r#"{"keyboard": "planck/rev6", "keymap": "mine", "layout": "LAYOUT", "layers": [["KC_A", "MO(1)"]],
                "encoders": [[{"ccw": "KC_VOLD", "cw": "KC_VOLU"}]], "macros": [["hi", {"action": "tap", "keycodes": ["ENTER"]}]]}"#,
        );
        assert!(findings.is_empty(), "{findings:?}");
        let keymap = keymap.unwrap();
        assert_eq!(keymap.layers.unwrap(), [vec!["KC_A".to_owned(), "MO(1)".to_owned()]]);
        assert_eq!(keymap.encoders.unwrap()[0][0], Encoder { ccw: "KC_VOLD".into(), cw: "KC_VOLU".into() });
        assert_eq!(keymap.macros.unwrap()[0].len(), 2);
    }

    #[test]
    fn reports_wrong_types_and_names() {
        let (_, findings) = read_text(
            r#"{"keyboard": 5, "layout": "KEYMAP!", "layers": [["KC_A", 7], "KC_B"], "coonfig": {}, "keycodes": []}"#,
        );
        assert_eq!(
            findings,
            [
                "unknown field `coonfig` (did you mean `config`?)",
                "`layout`: \"KEYMAP!\" is not a C identifier such as LAYOUT_all",
                "`keyboard` must be a string, not a number",
                "layer 0: 1 keys are not strings (keycodes are strings)",
                "layer 1 must be an array of keycodes, not a string",
                "`keycodes`: has 0 items, fewer than 1",
            ]
        );
    }

    #[test]
    fn the_schema_speaks_where_the_reader_does_not_and_once_per_value() {
        let (_, findings) = read_text(
            r#"{"keyboard": "a/b", "layout": "LAYOUT", "layers": [["KC_A"]], "config": {"eeprom": {"driver": 5},
                "platform_key": "x$(y)", "features": {"Caps Word": true}}}"#,
        );
        assert_eq!(
            findings,
            [
                "`config/eeprom/driver`: must be a string, not 5",
                "`config/features/Caps Word`: the key \"Caps Word\" does not match `^[a-z][a-z0-9_]*$`",
                "`config/platform_key`: \"x$(y)\" is not a value QMK can write into rules.mk: QMK writes it unquoted, \
                 so it must be a word of letters, digits and `_` (or a value QMK's schema lists)",
            ]
        );
    }

    #[test]
    fn a_finding_is_placed_on_the_line_of_its_deepest_key() {
        let text = "{\n\"config\": {\n  \"eeprom\": {\n    \"driver\": \"a b\"\n  }\n},\n\"layers\": [[\"KC_A\"]]\n}";
        let (_, findings) = read(&Source::new("k.json", text), &Settings::bundled());
        let driver = findings.iter().find(|d| d.key.as_deref() == Some("config/eeprom/driver")).unwrap();
        assert_eq!(driver.line, Some(4), "{driver}");
    }

    #[test]
    fn more_layers_than_qmk_addresses_are_an_error() {
        let layers = |count: usize| format!(r#"{{"layers": {}}}"#, serde_json::json!(vec![vec!["KC_A"]; count]));
        let (keymap, findings) = read_text(&layers(MAX_LAYERS + 1));
        assert!(findings[0].starts_with("the keymap has 33 layers, but QMK addresses 32 at most"), "{findings:?}");
        assert_eq!(keymap.unwrap().layers.unwrap().len(), 33, "read all the same, for the rest of the checks");
        assert!(read_text(&layers(MAX_LAYERS)).1.is_empty());
    }

    #[test]
    fn texts_that_qmks_json2c_would_leave_open_are_found() {
        let text = |t: &str| MacroStep::Text(t.to_owned());
        let tap = MacroStep::Action { action: "tap".into(), keycodes: vec!["A".into()], duration: None };
        let beep = MacroStep::Action { action: "beep".into(), keycodes: Vec::new(), duration: None };
        assert_eq!(unclosed_texts(&[text("a\""), tap.clone(), text("b\""), text("c\""), beep, text("\"")]), [0, 5]);
        assert_eq!(unclosed_texts(&[text("\"a\"b"), text("x\""), text("")]), [1]);
        assert!(unclosed_texts(&[text("\"\"x"), tap]).is_empty());
    }

    #[test]
    fn a_non_object_or_broken_text_is_no_keymap() {
        assert!(read_text("[1, 2]").0.is_none());
        assert!(read_text("{\"layers\": [").0.is_none());
    }
}
