//! What QMK's generators write from a keymap into the files of a build, and what a
//! value must be to stay what QMK means there.
//!
//! For a firmware build QMK's CLI turns the keymap's `config` into a `rules.mk`
//! (`generate-rules-mk`), which make includes, and a `config.h` (`generate-config-h`),
//! which C includes; its `keycodes` into `keymap.h` (`generate-keymap-h`); its
//! `modules` into make variables and C names. Almost all of it is written as it is,
//! unquoted: `EEPROM_DRIVER = <value>`, `#define DEBOUNCE <value>`, `enum { <key> }`.
//! A value there is code (make expands `$(shell ...)` in it), so each must be a word
//! QMK means: a name, a whole number, true or false, or a value QMK's schema lists.
//!
//! Which settings go where is read from QMK's mapping files (`info_rules.hjson`,
//! `info_config.hjson`: every entry QMK writes back, by its `value_type`); what QMK's
//! generators write from their own code (pins, animations, features...) is listed
//! here, in [`WRITTEN_BY_CODE`].

use std::collections::HashSet;

use crate::keyboard::mappings::Mapping;
use crate::keyboard::{Modules, Settings};
use crate::schema::{Segment, Validation, Violation, shown};
use crate::spec::{Object, Str, Value};

/// The longest word QMK is let write unquoted.
const WORD_LENGTH: usize = 128;

/// The range of whole numbers QMK is let write unquoted: a 32-bit C constant.
const NUMBERS: std::ops::RangeInclusive<i128> = -(1 << 31)..=(1 << 32) - 1;

/// The generated file a value ends up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum File {
    RulesMk,
    ConfigH,
    KeymapH,
}

impl File {
    fn name(self) -> &'static str {
        match self {
            File::RulesMk => "rules.mk",
            File::ConfigH => "config.h",
            File::KeymapH => "keymap.h",
        }
    }
}

/// What a value must be where QMK writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Written as it is: a word of letters, digits and `_`, a whole number, true,
    /// false or null, or a string QMK's schema lists for the setting (`cortex-m4`).
    Word,
    /// A list of words (`{ B0, B1 }` in C, `a b` in make).
    Words,
    /// A list of lists of words (direct pins).
    WordRows,
    /// A word that is a string: QMK joins it with others as text, which a number
    /// or null would stop (an encoder's pin).
    TextWord,
    /// A list of words that are strings, which QMK joins as text.
    TextWords,
    /// An object with these keys, each a word: QMK writes them all.
    Fields(&'static [&'static str]),
    /// Part of a make variable's or C macro's name (`<FEATURE>_ENABLE`): letters, digits and `_`.
    Name,
    /// An object whose keys are each a [`Form::Name`].
    Names,
    /// An object whose keys become C macros or make variables and whose values are words.
    Definitions,
    /// A C string literal whose `\` and `"` QMK escapes: text on one line.
    Text,
    /// `major.minor.revision`, written as a BCD number.
    Bcd,
    /// A community module: its name becomes a make variable's value and part of C names.
    Module,
}

/// What QMK's generators write from their own code rather than from the mapping files:
/// the file, the path (`*` stands for every item of an array or object) and its form.
const WRITTEN_BY_CODE: &[(File, &str, Form)] = &[
    (File::ConfigH, "config/matrix_size", Form::Fields(&["cols", "rows"])),
    (File::ConfigH, "config/matrix_pins/direct", Form::WordRows),
    (File::ConfigH, "config/matrix_pins/cols", Form::Words),
    (File::ConfigH, "config/matrix_pins/rows", Form::Words),
    (File::ConfigH, "config/split/matrix_pins/right/direct", Form::WordRows),
    (File::ConfigH, "config/split/matrix_pins/right/cols", Form::Words),
    (File::ConfigH, "config/split/matrix_pins/right/rows", Form::Words),
    (File::ConfigH, "config/split/handedness/matrix_grid", Form::TextWords),
    (File::ConfigH, "config/encoder/rotary/*/pin_a", Form::TextWord),
    (File::ConfigH, "config/encoder/rotary/*/pin_b", Form::TextWord),
    (File::ConfigH, "config/encoder/rotary/*/resolution", Form::Word),
    (File::ConfigH, "config/split/encoder/right/rotary/*/pin_a", Form::TextWord),
    (File::ConfigH, "config/split/encoder/right/rotary/*/pin_b", Form::TextWord),
    (File::ConfigH, "config/split/encoder/right/rotary/*/resolution", Form::Word),
    (File::ConfigH, "config/led_matrix/default/animation", Form::Name),
    (File::ConfigH, "config/rgb_matrix/default/animation", Form::Name),
    (File::ConfigH, "config/rgblight/default/animation", Form::Name),
    (File::ConfigH, "config/led_matrix/animations", Form::Names),
    (File::ConfigH, "config/rgb_matrix/animations", Form::Names),
    (File::ConfigH, "config/rgblight/animations", Form::Names),
    (File::RulesMk, "config/features", Form::Names),
    (File::RulesMk, "converter", Form::Name),
    (File::RulesMk, "modules/*", Form::Module),
    (File::RulesMk, "config/modules/*", Form::Module),
    (File::KeymapH, "keycodes/*/key", Form::Name),
    (File::KeymapH, "keycodes/*/aliases/*", Form::Name),
];

/// Checks every value of `document` that QMK's generators would write into a
/// build's files; `schema` is what QMK's schema said of it (the values its `enum`s list).
pub fn check(document: &Object, settings: &Settings, schema: &Validation) -> Vec<Violation> {
    let listed = schema.listed.iter().map(Vec::as_slice).collect();
    let mut checker = Checker { settings, listed, found: Vec::new() };
    // Most keymaps set no `config`: the mapping files' hundreds of entries are then not walked.
    let mappings = [(File::ConfigH, &settings.config_h), (File::RulesMk, &settings.rules_mk)];
    for (file, mappings) in mappings.into_iter().filter(|_| document.contains_key("config")) {
        for mapping in mappings.iter().filter(|m| m.to_c) {
            let Some(form) = mapping_form(file, mapping) else { continue };
            let steps = std::iter::once("config").chain(mapping.info_key.split('.'));
            for (path, value) in matches(document, steps) {
                checker.value(file, form, &path, value);
            }
        }
    }
    for (file, pattern, form) in WRITTEN_BY_CODE {
        for (path, value) in matches(document, pattern.split('/')) {
            checker.value(*file, *form, &path, value);
        }
    }
    checker.duplicate_modules(document);
    checker.found
}

/// The form a mapping file's `value_type` writes, as QMK's generator for that file
/// reads it; `None` for a setting written as a word of QMK's own (`yes`, `true`...).
fn mapping_form(file: File, mapping: &Mapping) -> Option<Form> {
    let value_type = mapping.value_type.as_str();
    match (file, value_type) {
        (_, "bool") | (File::ConfigH, "flag") => None,
        (_, "mapping") => Some(Form::Definitions),
        (File::ConfigH, "str") => Some(Form::Text),
        (File::ConfigH, "bcd_version") => Some(Form::Bcd),
        (File::ConfigH, t) if t.starts_with("array.array") => Some(Form::WordRows),
        (File::ConfigH, t) if t.starts_with("array") => Some(Form::Words),
        (File::RulesMk, "array" | "list") => Some(Form::TextWords),
        // Everything else is written as it is; make does not honour quotes, so a
        // `str` in rules.mk is a word too.
        _ => Some(Form::Word),
    }
}

/// Every value at the path of `steps` (keys, or `*` for every item, but not first) in
/// `root`. Nothing is allocated until the first key is found: most keymaps set few settings.
fn matches<'v, 's>(root: &'v Object, mut steps: impl Iterator<Item = &'s str>) -> Vec<(Vec<Segment>, &'v Value)> {
    let first = steps.next().unwrap_or_default();
    let Some(value) = root.get(first) else { return Vec::new() };
    let mut found = vec![(vec![Segment::Key(Str::from(first))], value)];
    for step in steps {
        let mut next = Vec::new();
        for (path, value) in found {
            let mut go = |segment: Segment, child: &'v Value| {
                let mut path = path.clone();
                path.push(segment);
                next.push((path, child));
            };
            match (step, value) {
                ("*", Value::Array(items)) => {
                    items.iter().enumerate().for_each(|(index, item)| go(Segment::Index(index), item));
                }
                ("*", Value::Object(object)) => {
                    object.iter().for_each(|(key, item)| go(Segment::Key(key.into()), item))
                }
                (key, Value::Object(object)) => {
                    if let Some(child) = object.get(key) {
                        go(Segment::Key(Str::from(key)), child);
                    }
                }
                _ => {}
            }
        }
        found = next;
    }
    found
}

struct Checker<'a> {
    settings: &'a Settings,
    /// The strings QMK's schema lists (its `enum`s), by path.
    listed: HashSet<&'a [Segment]>,
    found: Vec<Violation>,
}

impl Checker<'_> {
    fn refuse(&mut self, path: &[Segment], message: String) {
        self.found.push(Violation { path: path.to_vec(), message });
    }

    fn value(&mut self, file: File, form: Form, path: &[Segment], value: &Value) {
        let into = file.name();
        match form {
            Form::Word => self.word(file, path, value),
            Form::TextWord if !matches!(value, Value::String(_)) => {
                self.refuse(
                    path,
                    format!("must be text: QMK joins it into {into} as text, which {} would stop", shown(value)),
                );
            }
            Form::TextWord => self.word(file, path, value),
            Form::Words | Form::WordRows | Form::TextWords => {
                let Some(items) = value.as_array() else {
                    return self.refuse(path, format!("must be a list: QMK writes its items into {into} one by one"));
                };
                let inner = match form {
                    Form::WordRows => Form::Words,
                    Form::TextWords => Form::TextWord,
                    _ => Form::Word,
                };
                for (index, item) in items.iter().enumerate() {
                    self.value(file, inner, &child(path, Segment::Index(index)), item);
                }
            }
            Form::Fields(names) => {
                let Some(object) = value.as_object() else {
                    return self.refuse(
                        path,
                        format!("must be an object of {}: QMK writes each into {into}", names.join(" and ")),
                    );
                };
                for name in names {
                    match object.get(name) {
                        Some(member) => self.word(file, &child(path, Segment::Key(Str::from(*name))), member),
                        None => {
                            self.refuse(path, format!("lacks `{name}`: QMK writes {} into {into}", names.join(" and ")))
                        }
                    }
                }
            }
            Form::Name => match value.as_str() {
                Some(name) if is_name(name) => {}
                _ => {
                    self.refuse(path, format!("{} is not a name QMK can write into {into}: {NAME_RULE}", shown(value)))
                }
            },
            Form::Names | Form::Definitions => {
                let Some(object) = value.as_object() else {
                    return self
                        .refuse(path, format!("must be an object: QMK writes each of its keys into {into} as a name"));
                };
                for (key, member) in object.iter() {
                    let at = child(path, Segment::Key(Str::from(key)));
                    let fits = if form == Form::Names { is_name(key) } else { is_c_identifier(key) };
                    if !fits {
                        let what = if form == Form::Names { NAME_RULE } else { "a C identifier" };
                        let key = shown(&Value::String(Str::from(key)));
                        self.refuse(&at, format!("the key {key} becomes a name in {into}, so it must be {what}"));
                    } else if form == Form::Definitions {
                        self.word(file, &at, member);
                    }
                }
            }
            Form::Text => match value.as_str() {
                Some(text) if !text.chars().any(char::is_control) => {}
                Some(_) => self.refuse(
                    path,
                    format!(
                        "{} holds a line break or control character, which would end QMK's string in {into}",
                        shown(value)
                    ),
                ),
                None => self.refuse(path, format!("must be text: QMK writes it into {into} as a string")),
            },
            Form::Bcd => match value.as_str() {
                Some(version) if is_bcd_version(version) => {}
                _ => self.refuse(
                    path,
                    format!(
                        "{} is not a version QMK can write into {into}: major.minor.revision, as 1.0.0",
                        shown(value)
                    ),
                ),
            },
            Form::Module => self.module(path, value),
        }
    }

    /// A value QMK writes as it is.
    fn word(&mut self, file: File, path: &[Segment], value: &Value) {
        let into = file.name();
        match value {
            Value::Bool(_) | Value::Null => {}
            Value::String(text) if is_name(text) || self.listed.contains(path) => {}
            Value::String(_) => self.refuse(
                path,
                format!(
                    "{} is not a value QMK can write into {into}: QMK writes it unquoted, so it must be a word of letters, digits and `_` (or a value QMK's schema lists)",
                    shown(value)
                ),
            ),
            Value::Number(n) => {
                let whole = n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
                if !whole.is_some_and(|n| NUMBERS.contains(&n)) {
                    self.refuse(
                        path,
                        format!(
                            "{n} is not a number QMK can write into {into}: QMK writes it as it is, so it must be a whole number of 32 bits"
                        ),
                    );
                }
            }
            Value::Array(_) | Value::Object(_) => self.refuse(
                path,
                format!("{} is not a value QMK can write into {into}: QMK would write Python's text of it", shown(value)),
            ),
        }
    }

    /// A community module: the tree's (or of a module's shape, for bundled data).
    fn module(&mut self, path: &[Segment], value: &Value) {
        let Some(name) = value.as_str() else {
            return self.refuse(path, format!("must be a module's name, not {}", value.kind()));
        };
        if !is_module_name(name) {
            return self.refuse(
                path,
                format!(
                    "{} is not a community module's name: `owner/name`, parts of letters, digits and `_`",
                    shown(value)
                ),
            );
        }
        if let Modules::Tree(known) = &self.settings.modules
            && !known.contains(name)
        {
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            self.refuse(
                path,
                format!("no community module `{name}` in the tree's modules/ (it has {})", known.join(", ")),
            );
        }
    }

    /// QMK refuses two modules of one name (`a/x` and `b/x`): their C functions would clash.
    fn duplicate_modules(&mut self, root: &Object) {
        for pattern in ["modules", "config/modules"] {
            for (path, list) in matches(root, pattern.split('/')) {
                let Some(items) = list.as_array() else { continue };
                let mut seen: Vec<(String, usize)> = Vec::new();
                for (index, name) in items.iter().enumerate().filter_map(|(i, v)| Some((i, v.as_str()?))) {
                    let last = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
                    match seen.iter().find(|(seen, _)| *seen == last) {
                        Some((_, first)) if items[*first].as_str() != Some(name) => self.refuse(
                            &child(&path, Segment::Index(index)),
                            format!("`{name}` has the name of module {first} (`{last}`): QMK refuses two modules of one name"),
                        ),
                        Some(_) => {}
                        None => seen.push((last, index)),
                    }
                }
            }
        }
    }
}

const NAME_RULE: &str = "letters, digits and `_`";

fn child(path: &[Segment], segment: Segment) -> Vec<Segment> {
    let mut path = path.to_vec();
    path.push(segment);
    path
}

fn is_name(text: &str) -> bool {
    (1..=WORD_LENGTH).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_c_identifier(text: &str) -> bool {
    is_name(text) && !text.starts_with(|c: char| c.is_ascii_digit())
}

/// `1.2.3`: one or two digits, a digit, a digit.
fn is_bcd_version(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    matches!(parts.as_slice(), [major, minor, revision]
        if (1..=2).contains(&major.len()) && minor.len() == 1 && revision.len() == 1
            && [major, minor, revision].iter().all(|p| p.bytes().all(|b| b.is_ascii_digit())))
}

/// `owner/name` (or deeper), each part of letters, digits and `_`.
fn is_module_name(text: &str) -> bool {
    text.len() <= 2 * WORD_LENGTH && text.split('/').count() >= 2 && text.split('/').all(is_name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{KEYMAP_SCHEMA, path_text};
    use crate::spec::hjson;

    /// What is refused of a keymap with `fields`, as `path: message` lines, with `settings`.
    fn refused_with(fields: &str, settings: &Settings) -> Vec<String> {
        let value = hjson::parse(fields).unwrap();
        let schema = settings.schemas.validate(KEYMAP_SCHEMA, &value).unwrap();
        let found = check(value.as_object().unwrap(), settings, &schema);
        found.iter().map(|v| format!("{}: {}", path_text(&v.path), v.message)).collect()
    }

    fn refused(fields: &str) -> Vec<String> {
        refused_with(fields, &Settings::bundled())
    }

    #[test]
    fn what_qmk_writes_unquoted_must_be_a_word_a_whole_number_or_a_listed_value() {
        let found = refused(
            r#"{"config": {"eeprom": {"driver": "vendor$(shell id)"}, "platform_key": {"a": 1}, "joystick": {"driver": "-x"},
                "debounce": 1.5, "tapping": {"term": 4294967296}, "bootloader": "atmel-dfu", "processor": "cortex-m4",
                "dynamic_keymap": {"layer_count": 4}, "ws2812": {"driver": "vendor"}, "split": {"usb_detect": {"timeout": -5}}}}"#,
        );
        let paths: Vec<&str> = found.iter().map(|f| f.split(':').next().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "config/debounce",
                "config/tapping/term",
                "config/eeprom/driver",
                "config/joystick/driver",
                "config/platform_key"
            ],
            "{found:#?}"
        );
        assert!(found[0].contains("1.5 is not a number QMK can write into config.h"), "{}", found[0]);
        assert!(found[2].ends_with("is not a value QMK can write into rules.mk: QMK writes it unquoted, so it must be a word of letters, digits and `_` (or a value QMK's schema lists)"));
        assert!(found[4].contains("an object is not a value QMK can write into rules.mk"), "{}", found[4]);
    }

    #[test]
    fn keys_that_become_names_and_text_that_qmk_quotes() {
        let found = refused(
            r#"{"config": {"features": {"caps word": true, "ok": false}, "rgb_matrix": {"animations": {"a-b": true},
                "default": {"animation": "x y"}}, "layout_aliases": {"1X": "LAYOUT_all", "LAYOUT_x": "LAYOUT_all"},
                "manufacturer": "a \"b\" \\ c", "keyboard_name": "a\u2028b\nc", "usb": {"device_version": "1.0.10"},
                "matrix_size": {"cols": 5}, "matrix_pins": {"cols": ["B0", null, 3, true], "direct": [["B0", "B1 x"]]},
                "split": {"handedness": {"matrix_grid": ["B0", 1]}}, "encoder": {"rotary": [{"pin_a": 1, "pin_b": "B1"}]}},
              "converter": "proton_c", "keycodes": [{"key": "MY_KEY", "aliases": ["MY_K"]}]}"#,
        );
        assert_eq!(
            found,
            [
                "config/layout_aliases/1X: the key \"1X\" becomes a name in config.h, so it must be a C identifier",
                "config/usb/device_version: \"1.0.10\" is not a version QMK can write into config.h: major.minor.revision, as 1.0.0",
                "config/keyboard_name: \"a\\u{2028}b\\nc\" holds a line break or control character, which would end QMK's string in config.h",
                "config/matrix_size: lacks `rows`: QMK writes cols and rows into config.h",
                "config/matrix_pins/direct/0/1: \"B1 x\" is not a value QMK can write into config.h: QMK writes it unquoted, so it must be a word of letters, digits and `_` (or a value QMK's schema lists)",
                "config/split/handedness/matrix_grid/1: must be text: QMK joins it into config.h as text, which 1 would stop",
                "config/encoder/rotary/0/pin_a: must be text: QMK joins it into config.h as text, which 1 would stop",
                "config/rgb_matrix/default/animation: \"x y\" is not a name QMK can write into config.h: letters, digits and `_`",
                "config/rgb_matrix/animations/a-b: the key \"a-b\" becomes a name in config.h, so it must be letters, digits and `_`",
                "config/features/caps word: the key \"caps word\" becomes a name in rules.mk, so it must be letters, digits and `_`",
            ],
        );
    }

    #[test]
    fn an_object_whose_keys_become_names_must_be_an_object() {
        assert_eq!(
            refused(r#"{"config": {"features": "caps_word"}}"#),
            ["config/features: must be an object: QMK writes each of its keys into rules.mk as a name"]
        );
    }

    #[test]
    fn modules_are_the_trees_and_never_two_of_one_name() {
        let found = refused(r#"{"modules": ["qmk/hello_world", "me/hello_world", "qmk/hello_world", "x", "a/b c"]}"#);
        assert_eq!(
            found,
            [
                "modules/3: \"x\" is not a community module's name: `owner/name`, parts of letters, digits and `_`",
                "modules/4: \"a/b c\" is not a community module's name: `owner/name`, parts of letters, digits and `_`",
                "modules/1: `me/hello_world` has the name of module 0 (`hello_world`): QMK refuses two modules of one name",
            ]
        );
        let tree = tempfile::tempdir().unwrap();
        for module in ["qmk/hello_world", "qmk/deep/nested"] {
            std::fs::create_dir_all(tree.path().join("modules").join(module)).unwrap();
            std::fs::write(tree.path().join("modules").join(module).join("qmk_module.json"), "{}").unwrap();
        }
        let settings = Settings::load(&crate::source::DataTree::Checkout(tree.path().to_owned())).unwrap();
        assert_eq!(settings.modules, Modules::Tree(["qmk/deep/nested".into(), "qmk/hello_world".into()].into()));
        assert_eq!(
            refused_with(r#"{"modules": ["qmk/hello_world", "qmk/deep/nested", "qmk/other"]}"#, &settings),
            [
                "modules/2: no community module `qmk/other` in the tree's modules/ (it has qmk/deep/nested, qmk/hello_world)"
            ]
        );
    }

    #[test]
    fn the_mapping_files_say_where_each_setting_goes() {
        let settings = Settings::bundled();
        let form = |file: File, name: &str| {
            let mappings = if file == File::ConfigH { &settings.config_h } else { &settings.rules_mk };
            mapping_form(file, mappings.iter().find(|m| m.name == name).unwrap())
        };
        assert_eq!(form(File::RulesMk, "EEPROM_DRIVER"), Some(Form::Word));
        assert_eq!(form(File::RulesMk, "LAYOUTS"), Some(Form::TextWords), "community layouts, joined by spaces");
        assert_eq!(form(File::RulesMk, "BOOTMAGIC_ENABLE"), None, "written as yes or no");
        assert_eq!(form(File::ConfigH, "LAYOUTS"), Some(Form::Definitions), "layout aliases, one #define each");
        assert_eq!(form(File::ConfigH, "MANUFACTURER"), Some(Form::Text));
        assert_eq!(form(File::ConfigH, "DEVICE_VER"), Some(Form::Bcd));
        assert_eq!(form(File::ConfigH, "BACKLIGHT_PINS"), Some(Form::Words));
        assert_eq!(form(File::ConfigH, "DIP_SWITCH_MATRIX_GRID"), Some(Form::WordRows));
        assert_eq!(form(File::ConfigH, "DEBOUNCE"), Some(Form::Word));
        assert!(
            settings.config_h.iter().any(|m| m.name == "SPLIT_HAND_MATRIX_GRID" && !m.to_c),
            "QMK's code writes it"
        );
    }
}
