//! A keymap file in QMK's configurator format (`keyboard`, `keymap`, `layout`,
//! `layers`, and the optional `encoders`, `dip_switches`, `macros`, `keycodes`...),
//! read from JSON or hjson and checked against QMK's keymap schema.

use std::sync::OnceLock;

use crate::diagnostic::{Diagnostic, excerpt};
use crate::keyboard::declared_keycodes;
use crate::spec::hjson::{self, KeyIndex};
use crate::spec::{Object, Value};

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
];

/// The text of a keymap file, for placing findings on lines.
pub struct Source<'a> {
    pub shown: &'a str,
    pub text: &'a str,
    /// Built at the first finding, once for the whole file.
    keys: OnceLock<KeyIndex>,
}

impl<'a> Source<'a> {
    pub fn new(shown: &'a str, text: &'a str) -> Source<'a> {
        Source { shown, text, keys: OnceLock::new() }
    }

    pub fn finding(&self, diagnostic: Diagnostic, path: &[&str]) -> Diagnostic {
        let line = path.first().and_then(|key| self.keys.get_or_init(|| KeyIndex::new(self.text)).locate(&[key]));
        let diagnostic = diagnostic.in_file(self.shown).at_line(line);
        if path.is_empty() { diagnostic } else { diagnostic.at_key(path.join("/")) }
    }
}

/// Reads a keymap. `None` when the text is not a keymap document at all.
pub fn read(source: &Source) -> (Option<Keymap>, Vec<Diagnostic>) {
    let value = match hjson::parse(source.text) {
        Ok(value) => value,
        Err(e) => {
            let diagnostic = Diagnostic::error(e.message).in_file(source.shown).at_line(e.line).at_column(e.column);
            return (None, vec![diagnostic]);
        }
    };
    let Value::Object(document) = value else {
        let diagnostic = Diagnostic::error(format!("a keymap must be an object, not {}", value.kind()));
        return (None, vec![source.finding(diagnostic, &[])]);
    };
    let mut reader = Reader { source, findings: Vec::new() };
    let keymap = reader.keymap(document);
    (Some(keymap), reader.findings)
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
        let layout = self.string(&document, "layout");
        // A retired name (KEYMAP) is reported by validation, with its replacement.
        if let Some(layout) = &layout
            && !is_layout_macro(layout)
            && super::retired::retired_layout(layout).is_none()
        {
            self.error(&["layout"], format!("`{layout}` is not a layout macro name (LAYOUT or LAYOUT_...)"));
        }
        if let Some(config) = document.get("config") {
            self.config(config);
        }
        let keycodes = document.get("keycodes");
        if let Some(declared) = keycodes {
            self.keycode_declarations(declared);
        }
        Keymap {
            keyboard: self.identifier(&document, "keyboard"),
            keymap: self.identifier(&document, "keymap"),
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
            custom_keycodes: declared_keycodes(keycodes),
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

    /// `config` holds keyboard settings that QMK writes into a `config.h`: an object
    /// whose texts must stay on one line there.
    fn config(&mut self, config: &Value) {
        if !matches!(config, Value::Object(_)) {
            self.error(&["config"], format!("`config` must be an object of keyboard settings, not {}", config.kind()));
            return;
        }
        let mut pending = vec![("config".to_owned(), config)];
        while let Some((path, value)) = pending.pop() {
            match value {
                Value::String(text) if text.chars().any(char::is_control) => {
                    let message = format!("{path}: `{}` holds a control character or line break", excerpt(text));
                    self.error(&["config"], message);
                }
                Value::Object(object) => {
                    for (key, value) in object.iter() {
                        if key.chars().any(char::is_control) {
                            self.error(&["config"], format!("{path}: a key holds a control character or line break"));
                        }
                        pending.push((format!("{path}/{key}"), value));
                    }
                }
                Value::Array(items) => {
                    pending.extend(items.iter().enumerate().map(|(i, item)| (format!("{path}/{i}"), item)));
                }
                _ => {}
            }
        }
    }

    fn layers(&mut self, document: &Object) -> Option<Vec<Vec<String>>> {
        let layers = self.array(document, "layers")?;
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
        self.list(document, "macros", |reader, path, steps| {
            let Some(steps) = steps.as_array() else {
                reader.error(&["macros"], format!("{path} must be an array of steps"));
                return None;
            };
            steps.iter().map(|step| reader.macro_step(path, step)).collect()
        })
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

    fn keycode_declarations(&mut self, declared: &Value) {
        let valid = declared.as_array().is_some_and(|items| {
            !items.is_empty() && items.iter().all(|item| item.get("key").and_then(Value::as_str).is_some())
        });
        if !valid {
            self.error(&["keycodes"], "`keycodes` must be a non-empty array of objects with a `key` name".to_owned());
        }
    }
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
        let (keymap, findings) = read(&Source::new("k.json", text));
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
        let all = findings.join("\n");
        for expected in [
            "`keyboard` must be a string, not a number",
            "`KEYMAP!` is not a layout macro name",
            "layer 0: 1 keys are not strings",
            "layer 1 must be an array of keycodes, not a string",
            "unknown field `coonfig` (did you mean `config`?)",
            "`keycodes` must be a non-empty array",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
    }

    #[test]
    fn a_non_object_or_broken_text_is_no_keymap() {
        assert!(read_text("[1, 2]").0.is_none());
        assert!(read_text("{\"layers\": [").0.is_none());
    }
}
