//! A keyboard's info.json as QMK computes it: layouts from C macros, the
//! definition files merged from the keyboard's folder up, development-board
//! defaults, `rules.mk` and `config.h` through QMK's mapping files, the values QMK
//! derives (processor family, matrix size, LED layouts...), then its checks,
//! whose findings go into `parse_errors` and `parse_warnings`.
//!
//! Each step follows QMK's, in QMK's order, because the order decides which value
//! wins and where each key lands in the published object.

use std::path::{Path, PathBuf};

use serde_json::Number;

use super::convert::{self, FALSE_WORDS, Raw, TRUE_WORDS};
use super::dotted;
use super::layout::{Key, Layout};
use super::mappings::Mapping;
use super::pyrepr;
use super::rules_mk::Rules;
use super::sources::{Definition, Sources};
use super::{INFO_FILE, KEYBOARDS_DIR, MAX_PARENTS, TARGET_FILE};
use crate::c_source::{Define, Defines, LedPoint, find_led_config};
use crate::diagnostic::Diagnostic;
use crate::spec::{Object, Str, Value};

/// The member of info.json whose place the separately kept layouts take.
pub const LAYOUTS: &str = "layouts";

/// A keyboard's info as built: the object (its `layouts` member a null
/// placeholder), the layouts in order, and problems reading its files.
pub struct Built {
    pub info: Object,
    pub layouts: Vec<(String, Layout)>,
    pub diagnostics: Vec<Diagnostic>,
}

struct Builder<'s, 't> {
    sources: &'s Sources<'t>,
    name: &'s str,
    info: Object,
    layouts: Vec<(String, Layout)>,
    errors: Vec<String>,
    warnings: Vec<String>,
    diagnostics: Vec<Diagnostic>,
}

/// Builds one keyboard's info.
pub fn build(sources: &Sources, name: &str) -> Built {
    let mut info = Object::new();
    for (key, value) in [
        ("keyboard_name", Value::from(name)),
        ("keyboard_folder", Value::from(name)),
        ("keymaps", Value::Object(Object::new())),
        (LAYOUTS, Value::Null),
        ("parse_errors", Value::Array(Vec::new())),
        ("parse_warnings", Value::Array(Vec::new())),
        ("maintainer", Value::from("qmk")),
    ] {
        info.insert(key.into(), value);
    }
    let mut builder = Builder {
        sources,
        name,
        info,
        layouts: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
        diagnostics: Vec::new(),
    };
    builder.macro_layouts();
    builder.merge_definitions();
    builder.development_board_defaults();
    let rules = builder.rules();
    builder.apply_rules(&rules);
    let defines = builder.defines();
    builder.apply_config(&defines);
    builder.matrix_size();
    builder.joystick_axis_count();
    builder.matrix_masked();
    builder.led_layouts();
    super::checks::run(&mut CheckTarget {
        name,
        info: &mut builder.info,
        layouts: &builder.layouts,
        errors: &mut builder.errors,
        warnings: &mut builder.warnings,
        sources,
    });
    let Builder { mut info, layouts, errors, warnings, diagnostics, .. } = builder;
    let strings = |list: Vec<String>| Value::Array(list.into_iter().map(|s| Value::from(s.as_str())).collect());
    info.insert("parse_errors".into(), strings(errors));
    info.insert("parse_warnings".into(), strings(warnings));
    Built { info, layouts, diagnostics }
}

/// What the checks see and may change.
pub struct CheckTarget<'a, 't> {
    pub name: &'a str,
    pub info: &'a mut Object,
    pub layouts: &'a [(String, Layout)],
    pub errors: &'a mut Vec<String>,
    pub warnings: &'a mut Vec<String>,
    pub sources: &'a Sources<'t>,
}

/// The folders of a keyboard from the top: `keyboards/a`, `keyboards/a/b`...
fn folders(name: &str) -> impl Iterator<Item = PathBuf> {
    super::folders(name).into_iter().rev()
}

/// The files of one name in each folder of a keyboard, from the top, that exist.
fn per_folder(sources: &Sources, name: &str, file: impl Fn(&str) -> String) -> Vec<PathBuf> {
    folders(name)
        .filter_map(|folder| {
            let own = folder.file_name()?.to_str()?.to_owned();
            let path = folder.join(file(&own));
            sources.exists(&path).then_some(path)
        })
        .collect()
}

/// The definition files of a keyboard in the order QMK applies them: its own
/// folder first (`info.json`, then `keyboard.json`), then up to five folders above.
pub fn definition_files(sources: &Sources, name: &str) -> Vec<PathBuf> {
    super::folders(name)
        .into_iter()
        .take(MAX_PARENTS + 1)
        .flat_map(|folder| [folder.join(INFO_FILE), folder.join(TARGET_FILE)])
        .filter(|path| sources.exists(path))
        .collect()
}

impl Builder<'_, '_> {
    fn error(&mut self, message: String) {
        self.errors.push(message);
    }

    fn warning(&mut self, message: String) {
        self.warnings.push(message);
    }

    fn layout_aliases(&self) -> Option<&Object> {
        self.info.get("layout_aliases").and_then(Value::as_object)
    }

    /// Layouts from `<folder>/<folder>.h` headers; their aliases count only when
    /// they name a macro layout seen so far.
    fn macro_layouts(&mut self) {
        let mut aliases = Object::new();
        for header in per_folder(self.sources, self.name, |own| format!("{own}.h")) {
            let Some(found) = self.sources.header(&header) else { continue };
            for layout in &found.layouts {
                let keys = layout.keys.iter().map(|k| Key::from_macro(k.x, k.label.as_deref(), k.matrix)).collect();
                let mut parsed = Layout::new(keys);
                parsed.set("filename", Value::from(header.to_string_lossy().as_ref()));
                match self.layouts.iter_mut().find(|(n, _)| *n == layout.name) {
                    Some((_, existing)) => *existing = parsed,
                    None => self.layouts.push((layout.name.clone(), parsed)),
                }
            }
            for (alias, target) in &found.defines {
                if self.layouts.iter().any(|(n, _)| n == target) {
                    aliases.insert(alias.as_str().into(), Value::from(target.as_str()));
                }
            }
        }
        if !aliases.is_empty() {
            self.info.insert("layout_aliases".into(), Value::Object(aliases));
        }
        self.layouts.retain(|(name, _)| !name.starts_with("LAYOUT_kc"));
        for (_, layout) in &mut self.layouts {
            layout.set("c_macro", Value::Bool(true));
            layout.set("json_layout", Value::Bool(false));
        }
    }

    fn merge_definitions(&mut self) {
        let sources = self.sources;
        for path in definition_files(sources, self.name) {
            let definition = match sources.definition(&path) {
                Some(Definition::Parsed(parsed)) => parsed,
                Some(Definition::NotAnObject) => {
                    self.error(format!("Invalid file {}, root object should be a dictionary.", path.display()));
                    continue;
                }
                Some(Definition::Unreadable(diagnostic)) => {
                    self.diagnostics.push(diagnostic.clone());
                    continue;
                }
                None => continue,
            };
            if let Some(added) = &definition.layout_aliases {
                let mut aliases = self.layout_aliases().cloned().unwrap_or_default();
                for (alias, target) in added.as_object().into_iter().flat_map(Object::iter) {
                    aliases.insert(alias.into(), target.clone());
                }
                self.info.insert("layout_aliases".into(), Value::Object(aliases));
            }
            match &definition.layouts {
                Some(Ok(layouts)) => self.merge_layouts(layouts, &path),
                Some(Err(problem)) => {
                    let shown = sources.tree.display(&path);
                    self.diagnostics.push(Diagnostic::error(problem.clone()).in_file(shown));
                }
                None => {}
            }
            deep_update(&mut self.info, definition.info.clone());
        }
    }

    fn merge_layouts(&mut self, layouts: &[(String, Result<Layout, String>)], path: &Path) {
        for (name, layout) in layouts {
            let mut name = name.clone();
            if let Some(target) = self.layout_aliases().and_then(|a| a.get(&name)).map(pyrepr::str) {
                self.warning(format!("info.json uses alias name {name} instead of {target}"));
                name = target;
            }
            let layout = match layout {
                Ok(layout) => layout,
                Err(problem) => {
                    let message = format!("layout {name} {problem}");
                    self.diagnostics.push(Diagnostic::error(message).in_file(self.sources.tree.display(path)));
                    continue;
                }
            };
            match self.layouts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, existing)) if existing.keys.len() != layout.keys.len() => {
                    let message = format!(
                        "Number of keys for {name} does not match! info.json specifies {} keys, C macro specifies {}",
                        layout.keys.len(),
                        existing.keys.len()
                    );
                    self.error(message);
                }
                Some((_, existing)) => {
                    existing.set("json_layout", Value::Bool(true));
                    for (old, new) in existing.keys_mut().iter_mut().zip(layout.keys.iter()) {
                        old.update(new);
                    }
                }
                None if layout.keys.iter().any(|key| !key.has("matrix")) => self.error(format!(
                    "Layout \"{name}\" has no \"matrix\" definition in either \"info.json\" or \"<keyboard>.h\"!"
                )),
                None => {
                    let mut layout = layout.clone();
                    layout.set("c_macro", Value::Bool(false));
                    layout.set("json_layout", Value::Bool(true));
                    self.layouts.push((name, layout));
                }
            }
        }
    }

    /// A development board brings its processor, bootloader and board where the
    /// keyboard gives none.
    fn development_board_defaults(&mut self) {
        let sources = self.sources;
        for (kind, boards) in sources.mappings.defaults.iter() {
            let Some(chosen) = self.info.get(kind).and_then(Value::as_str) else { continue };
            let Some(values) = boards.get(chosen).and_then(Value::as_object) else { continue };
            let mut merged = 0;
            for (key, value) in values.iter() {
                if !self.info.contains_key(key) {
                    self.info.insert(key.into(), value.clone());
                    merged += 1;
                }
            }
            if merged == 0 && !values.is_empty() {
                self.warning(format!(
                    "All defaults for '{kind}' were skipped, potential redundant config or misconfiguration detected"
                ));
            }
        }
    }

    /// The `rules.mk` settings: the keyboard's own file first, then each folder's
    /// from the top, its own file again last (QMK reads it twice).
    fn rules(&self) -> Rules {
        let mut rules = Rules::default();
        let own = Path::new(KEYBOARDS_DIR).join(self.name).join("rules.mk");
        let files = std::iter::once(own).chain(folders(self.name).map(|f| f.join("rules.mk")));
        for file in files {
            if let Some(text) = self.sources.rules_text(&file) {
                rules.apply(text);
            }
        }
        rules
    }

    /// The `config.h` defines of every folder, deeper ones winning.
    fn defines(&self) -> Defines {
        let mut defines = Defines::default();
        for folder in folders(self.name) {
            if let Some(file) = self.sources.defines(&folder.join("config.h")) {
                defines.extend(file);
            }
        }
        defines
    }

    fn apply_rules(&mut self, rules: &Rules) {
        let processor = match rules.get("MCU") {
            Some(mcu) => Value::from(mcu),
            None => self.info.get("processor").cloned().unwrap_or_else(|| Value::from("atmega32u4")),
        };
        self.info.insert("processor".into(), processor.clone());
        self.processor_family(processor.as_str().unwrap_or(""), rules);
        let sources = self.sources;
        for mapping in &sources.mappings.rules_mk {
            if let Some(value) = rules.get(&mapping.name) {
                self.apply_mapping(mapping, Raw::Text(value), "rules.mk");
            }
        }
        self.features(rules);
        self.custom_matrix(rules);
    }

    fn processor_family(&mut self, processor: &str, rules: &Rules) {
        let constants = &self.sources.mappings.constants;
        let set = |info: &mut Object, pairs: &[(&str, &str)]| {
            for (key, value) in pairs {
                info.insert((*key).into(), Value::from(*value));
            }
        };
        if constants.chibios_processors.iter().any(|p| p == processor) {
            set(&mut self.info, &[("processor_type", "arm"), ("protocol", "ChibiOS"), ("platform_key", "chibios")]);
            if processor.contains("STM32") {
                set(&mut self.info, &[("platform", "STM32")]);
            } else if let Some(series) = rules.get("MCU_SERIES") {
                set(&mut self.info, &[("platform", series)]);
            }
        } else if constants.lufa_processors.iter().chain(&constants.vusb_processors).any(|p| p == processor) {
            let vusb = constants.vusb_processors.iter().any(|p| p == processor);
            let platform = rules.get("ARCH").unwrap_or("unknown");
            set(
                &mut self.info,
                &[
                    ("processor_type", "avr"),
                    ("platform", platform),
                    ("platform_key", "avr"),
                    ("protocol", if vusb { "V-USB" } else { "LUFA" }),
                ],
            );
        } else {
            set(
                &mut self.info,
                &[
                    ("bootloader", "unknown"),
                    ("platform", "unknown"),
                    ("processor", "unknown"),
                    ("processor_type", "unknown"),
                    ("protocol", "unknown"),
                ],
            );
        }
    }

    /// One mapping-file entry whose setting is present.
    fn apply_mapping(&mut self, mapping: &Mapping, raw: Raw, file: &str) {
        let name = &mapping.name;
        match (&mapping.replace_with, mapping.invalid, mapping.deprecated) {
            (Some(with), true, _) => {
                self.error(format!("{name} in {file} is no longer a valid option and should be replaced with {with}"))
            }
            (None, true, _) => {
                self.error(format!("{name} in {file} is no longer a valid option and should be removed"))
            }
            (Some(with), false, true) => self.warning(format!(
                "{name} in {file} is deprecated in favor of {with} and will be removed at a later date"
            )),
            (None, false, true) => {
                self.warning(format!("{name} in {file} is deprecated and will be removed at a later date"))
            }
            _ => {}
        }
        if !mapping.to_json {
            return;
        }
        let info_key = &mapping.info_key;
        if mapping.warn_duplicate && dotted::get(&self.info, info_key).is_some_and(dotted::is_truthy) {
            self.warning(format!("{name} in {file} is overwriting {info_key} in info.json"));
        }
        let result = convert::to_json(&mapping.value_type, raw).and_then(|v| dotted::set(&mut self.info, info_key, v));
        if let Err(problem) = result {
            self.warning(format!("{name}->{info_key}: {problem}"));
        }
    }

    /// `<FEATURE>_ENABLE` settings as `features.<feature>`.
    fn features(&mut self, rules: &Rules) {
        for (key, value) in rules.iter() {
            let Some(feature) = key.strip_suffix("_ENABLE") else { continue };
            let feature = feature.to_lowercase();
            if feature == "lto" {
                continue;
            }
            let lower = value.to_lowercase();
            let value = if TRUE_WORDS.contains(&lower.as_str()) {
                Value::Bool(true)
            } else if FALSE_WORDS.contains(&lower.as_str()) {
                Value::Bool(false)
            } else {
                Value::from(value)
            };
            let features = self.info.object_at("features");
            // The features as they were, quoted only when the rules.mk value overrides one.
            let shown = features.contains_key(&feature).then(|| pyrepr::repr(&Value::Object(features.clone())));
            features.insert(feature.as_str().into(), value.clone());
            if let Some(shown) = shown {
                self.warning(format!(
                    "Feature {feature} is specified in both info.json ({shown}) and rules.mk ({}). The rules.mk value wins.",
                    pyrepr::str(&value)
                ));
            }
        }
    }

    fn custom_matrix(&mut self, rules: &Rules) {
        let Some(custom) = rules.get("CUSTOM_MATRIX").filter(|c| *c != "no") else { return };
        if self.info.get("matrix_pins").is_some_and(|p| p.get("custom").is_some()) {
            self.warning("Custom Matrix is specified in both info.json and rules.mk, the rules.mk values win.".into());
        }
        let key = if custom == "lite" { "custom_lite" } else { "custom" };
        self.info.object_at("matrix_pins").insert(key.into(), Value::Bool(true));
    }

    fn apply_config(&mut self, defines: &Defines) {
        let sources = self.sources;
        for mapping in &sources.mappings.config_h {
            if let Some(define) = defines.get(&mapping.name) {
                self.apply_mapping(mapping, Raw::from_define(define), "config.h");
            }
        }
        self.matrix_from_config(defines);
        self.secure_unlock(defines);
        self.migrate_split();
        self.split_transport(defines);
        self.right_matrix_pins(defines);
        self.encoders(defines);
    }

    fn matrix_from_config(&mut self, defines: &Defines) {
        let (rows, cols) = (pin_list_text(defines, "MATRIX_ROW_PINS"), pin_list_text(defines, "MATRIX_COL_PINS"));
        let direct = brace_body(defines, "DIRECT_PINS");
        if defines.contains("MATRIX_ROWS") && defines.contains("MATRIX_COLS") {
            if self.info.contains_key("matrix_size") {
                self.warning(
                    "Matrix size is specified in both info.json and config.h, the config.h values win.".into(),
                );
            }
            let computed = |name| convert::compute(defines.text(name)).map(Value::Number);
            match (computed("MATRIX_COLS"), computed("MATRIX_ROWS")) {
                (Ok(cols), Ok(rows)) => {
                    let size = [("cols", cols), ("rows", rows)].into_iter().map(|(k, v)| (Str::from(k), v));
                    self.info.insert("matrix_size".into(), Value::Object(size.collect()));
                }
                (Err(problem), _) | (_, Err(problem)) => self.warning(format!("matrix size: {problem}")),
            }
        }
        if !rows.is_empty() && !cols.is_empty() {
            let pins = self.info.get("matrix_pins");
            if pins.is_some_and(|p| p.get("cols").is_some() && p.get("rows").is_some()) {
                self.warning(
                    "Matrix pins are specified in both info.json and config.h, the config.h values win.".into(),
                );
            }
            let pins = self.info.object_at("matrix_pins");
            pins.insert("cols".into(), pin_list(&cols));
            pins.insert("rows".into(), pin_list(&rows));
        }
        if !direct.is_empty() {
            if self.info.get("matrix_pins").is_some_and(|p| p.get("direct").is_some()) {
                self.warning(
                    "Direct pins are specified in both info.json and config.h, the config.h values win.".into(),
                );
            }
            let grid = direct_grid(&direct);
            self.info.object_at("matrix_pins").insert("direct".into(), grid);
        }
    }

    fn secure_unlock(&mut self, defines: &Defines) {
        let unlock = brace_body(defines, "SECURE_UNLOCK_SEQUENCE");
        if unlock.is_empty() {
            return;
        }
        let rows: Result<Vec<Value>, String> = grid(&unlock)
            .into_iter()
            .map(|row| row.iter().map(|n| convert::python_int(n).map(Value::Number)).collect::<Result<_, _>>())
            .map(|row| row.map(Value::Array))
            .collect();
        let rows = match rows {
            Ok(rows) => rows,
            Err(problem) => return self.warning(format!("SECURE_UNLOCK_SEQUENCE: {problem}")),
        };
        if let Some(existing) = self.info.get("secure").and_then(|s| s.get("unlock_sequence")) {
            let shown = pyrepr::repr(existing);
            self.warning(format!("Secure unlock sequence is specified in both config.h (SECURE_UNLOCK_SEQUENCE) and info.json (secure.unlock_sequence) (Value: {shown}), the config.h value wins."));
        }
        self.info.object_at("secure").insert("unlock_sequence".into(), Value::Array(rows));
    }

    /// Older split keys moved to where QMK now keeps them.
    fn migrate_split(&mut self) {
        let Some(Value::Object(split)) = self.info.get_mut("split") else { return };
        move_into(split, "matrix_grid", "handedness", "matrix_grid");
        move_into(split, "soft_serial_pin", "serial", "pin");
        move_into(split, "soft_serial_speed", "serial", "speed");
    }

    fn split_transport(&mut self, defines: &Defines) {
        if defines.get("USE_I2C") == Some(&Define::Flag) {
            let transport = self.info.object_at("split").object_at("transport");
            let existing = transport.contains_key("protocol").then(|| pyrepr::repr(&Value::Object(transport.clone())));
            transport.insert("protocol".into(), Value::from("i2c"));
            if let Some(shown) = existing {
                self.warning(format!("Split transport is specified in both config.h (USE_I2C) and info.json (split.transport.protocol) (Value: {shown}), the config.h value wins."));
            }
        } else if self.info.get("split").and_then(Value::as_object).is_some_and(|s| s.contains_key("enabled")) {
            let transport = self.info.object_at("split").object_at("transport");
            if !transport.contains_key("protocol") {
                transport.insert("protocol".into(), Value::from("serial"));
            }
        }
        if let Some(Value::Object(split)) = self.info.get_mut("split")
            && let Some(Value::Object(transport)) = split.get_mut("transport")
        {
            move_into(transport, "sync_matrix_state", "sync", "matrix_state");
            move_into(transport, "sync_modifiers", "sync", "modifiers");
        }
    }

    fn right_matrix_pins(&mut self, defines: &Defines) {
        let rows = pin_list_text(defines, "MATRIX_ROW_PINS_RIGHT");
        let cols = pin_list_text(defines, "MATRIX_COL_PINS_RIGHT");
        let direct = brace_body(defines, "DIRECT_PINS_RIGHT");
        if rows.is_empty() && cols.is_empty() && direct.is_empty() {
            return;
        }
        if dotted::get(&self.info, "split.matrix_pins.right").is_some_and(dotted::is_truthy) {
            self.warning(
                "Right hand matrix data is specified in both info.json and config.h, the config.h values win.".into(),
            );
        }
        let right = self.info.object_at("split").object_at("matrix_pins").object_at("right");
        if !cols.is_empty() {
            right.insert("cols".into(), pin_list(&cols));
        }
        if !rows.is_empty() {
            right.insert("rows".into(), pin_list(&rows));
        }
        if !direct.is_empty() {
            right.insert("direct".into(), direct_grid(&direct));
        }
    }

    fn encoders(&mut self, defines: &Defines) {
        match encoder_list(defines, "") {
            Ok(Some(encoders)) => {
                let encoder = self.info.object_at("encoder");
                let existing = encoder.get("rotary").map(pyrepr::repr);
                encoder.insert("rotary".into(), encoders.clone());
                if let Some(existing) = existing {
                    self.warning(format!("Encoder config is specified in both config.h ({}) and info.json ({existing}). The config.h value wins.", pyrepr::repr(&encoders)));
                }
            }
            Ok(None) => {}
            Err(problem) => self.warning(format!("encoder: {problem}")),
        }
        if self.info.get("features").and_then(|f| f.get("encoder")).is_some_and(dotted::is_truthy) {
            self.info.object_at("encoder").insert("enabled".into(), Value::Bool(true));
        }
        match encoder_list(defines, "_RIGHT") {
            Ok(Some(encoders)) => {
                let right = self.info.object_at("split").object_at("encoder").object_at("right");
                let existing = right.get("rotary").map(pyrepr::repr);
                right.insert("rotary".into(), encoders);
                if let Some(existing) = existing {
                    self.warning(format!("Encoder config is specified in both config.h and info.json (encoder.rotary) (Value: {existing}), the config.h value wins."));
                }
            }
            Ok(None) => {}
            Err(problem) => self.warning(format!("encoder: {problem}")),
        }
    }

    /// Where the definitions give pins but no size: one per pin (the shape of a
    /// direct-pin grid), rows doubled for a split keyboard.
    fn matrix_size(&mut self) {
        if self.info.contains_key("matrix_size") {
            return;
        }
        let Some(pins) = self.info.get("matrix_pins").and_then(Value::as_object) else { return };
        let count = |v: Option<&Value>| v.and_then(Value::as_array).map(|a| a.len());
        let size = match pins.get("direct").and_then(Value::as_array) {
            Some(grid) => Some((count(grid.first()).unwrap_or(0), grid.len())),
            None => count(pins.get("cols")).zip(count(pins.get("rows"))),
        };
        let mut members = Object::new();
        if let Some((cols, mut rows)) = size {
            if self.info.get("split").and_then(|s| s.get("enabled")).is_some_and(dotted::is_truthy) {
                rows *= 2;
            }
            members.insert("cols".into(), Value::Number(cols.into()));
            members.insert("rows".into(), Value::Number(rows.into()));
        }
        self.info.insert("matrix_size".into(), Value::Object(members));
    }

    fn joystick_axis_count(&mut self) {
        let axes_known = &self.sources.mappings.constants.joystick_axes;
        let Some(Value::Object(joystick)) = self.info.get_mut("joystick") else { return };
        let Some(axes) = joystick.get("axes").and_then(Value::as_object) else { return };
        let count =
            axes.keys().filter_map(|a| axes_known.iter().position(|k| k == a)).map(|i| i + 1).max().unwrap_or(0);
        joystick.insert("axis_count".into(), Value::Number(count.into()));
    }

    fn matrix_masked(&mut self) {
        let grid_in = |path: &str| {
            dotted::get(&self.info, path).and_then(Value::as_object).is_some_and(|o| o.contains_key("matrix_grid"))
        };
        if !(grid_in("dip_switch") || grid_in("split.handedness")) {
            return;
        }
        let pins = self.info.object_at("matrix_pins");
        if !pins.contains_key("masked") {
            pins.insert("masked".into(), Value::Bool(true));
        }
    }

    /// RGB and LED matrix layouts from the keyboard's C sources where its
    /// definitions have none, then the LED count and flag steps QMK derives.
    fn led_layouts(&mut self) {
        for feature in ["rgb_matrix", "led_matrix"] {
            let enabled = self.info.get("features").and_then(|f| f.get(feature)).is_some_and(dotted::is_truthy);
            if !enabled && !self.info.contains_key(feature) {
                continue;
            }
            if self.info.get(feature).and_then(|f| f.get("layout")).is_none() {
                self.led_layout_from_c(feature);
            }
            let Some(Value::Object(config)) = self.info.get_mut(feature) else { continue };
            let Some(leds) = config.get("layout").filter(|l| dotted::is_truthy(l)).cloned() else { continue };
            let leds = leds.as_array().unwrap_or_default();
            if !config.get("led_count").is_some_and(dotted::is_truthy) {
                config.insert("led_count".into(), Value::Number(leds.len().into()));
            }
            if !config.get("flag_steps").is_some_and(dotted::is_truthy) {
                let steps = flag_steps(leds);
                config.insert(
                    "flag_steps".into(),
                    Value::Array(steps.into_iter().map(|s| Value::Number(s.into())).collect()),
                );
            }
        }
    }

    fn led_layout_from_c(&mut self, feature: &str) {
        let size = self.info.get("matrix_size");
        let number =
            |key| size.and_then(|s| s.get(key)).and_then(Value::as_number).and_then(Number::as_u64).filter(|&n| n > 0);
        let (Some(cols), Some(rows)) = (number("cols"), number("rows")) else {
            return self.warning("led_config: matrix size required to parse g_led_config".into());
        };
        for file in per_folder(self.sources, self.name, |own| format!("{own}.c")) {
            let Some(text) = self.sources.read_text(&file) else { continue };
            let file_name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            match find_led_config(&text, cols, rows) {
                Ok(Some(leds)) if !leds.is_empty() => {
                    let layout = Value::Array(leds.iter().map(led_value).collect());
                    self.info.object_at(feature).insert("layout".into(), layout);
                }
                Ok(_) => {}
                Err(problem) => self.warning(format!("led_config: {file_name}: {problem}")),
            }
        }
    }
}

/// QMK's merge of a later definition into the info: objects merge member by
/// member, anything else replaces.
pub fn deep_update(target: &mut Object, newer: Object) {
    for (key, value) in newer {
        match value {
            Value::Object(members) => {
                let slot = target.object_at(&key);
                deep_update(slot, members);
            }
            other => {
                target.insert(key, other);
            }
        }
    }
}

/// Moves `object[from]` to `object[group][to]`.
fn move_into(object: &mut Object, from: &str, group: &str, to: &str) {
    let Some(value) = object.shift_remove(from) else { return };
    object.object_at(group).insert(to.into(), value);
}

/// A define's text with its braces removed, trimmed (`{ B1, B2 }` → `B1, B2`).
fn pin_list_text(defines: &Defines, name: &str) -> String {
    defines.text(name).replace(['{', '}'], "").trim().to_owned()
}

/// A define's text without spaces, its outer characters dropped (`{{A,B},{C,D}}` → `{A,B},{C,D}`).
fn brace_body(defines: &Defines, name: &str) -> String {
    let compact = defines.text(name).replace(' ', "");
    let mut chars = compact.chars();
    chars.next();
    chars.next_back();
    chars.as_str().to_owned()
}

/// A pin: a number, `null` for none (`NO_PIN`, empty), or its name.
fn pin(text: &str) -> Value {
    let text = text.trim();
    match text {
        "" | "NO_PIN" => Value::Null,
        _ if text.chars().all(|c| c.is_ascii_digit()) => {
            text.parse::<u64>().map(|n| Value::Number(n.into())).unwrap_or_else(|_| Value::from(text))
        }
        _ => Value::from(text),
    }
}

fn pin_list(text: &str) -> Value {
    Value::Array(text.split(',').map(pin).collect())
}

/// `{A,B},{C,D}` as rows of texts; anything after the last `}` is dropped.
fn grid(text: &str) -> Vec<Vec<&str>> {
    let Some(end) = text.rfind('}') else { return Vec::new() };
    text[..=end]
        .split("},{")
        .map(|row| {
            let row = row.strip_prefix('{').unwrap_or(row);
            let row = row.strip_suffix('}').unwrap_or(row);
            row.split(',').collect()
        })
        .collect()
}

fn direct_grid(text: &str) -> Value {
    let rows = grid(text).into_iter().map(|row| {
        Value::Array(row.into_iter().map(|p| if p == "NO_PIN" { Value::Null } else { Value::from(p) }).collect())
    });
    Value::Array(rows.collect())
}

/// Rotary encoders from `ENCODER_A_PINS<side>`, `ENCODER_B_PINS<side>` and their
/// resolutions (each, or `ENCODER_RESOLUTION` for all).
fn encoder_list(defines: &Defines, side: &str) -> Result<Option<Value>, String> {
    let split = |name: String| -> Vec<String> {
        brace_body(defines, &name).split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()
    };
    let (a, b) = (split(format!("ENCODER_A_PINS{side}")), split(format!("ENCODER_B_PINS{side}")));
    if a.is_empty() || b.is_empty() {
        return Ok(None);
    }
    let mut resolutions: Vec<Raw> = Vec::new();
    let listed = split(format!("ENCODER_RESOLUTIONS{side}"));
    resolutions.extend(listed.iter().map(|r| Raw::Text(r)));
    if let Some(default) = defines.get("ENCODER_RESOLUTION").filter(|d| **d != Define::Undefined) {
        while resolutions.len() < a.len() {
            resolutions.push(Raw::from_define(default));
        }
    }
    let mut encoders = Vec::new();
    for (index, pin_a) in a.iter().enumerate() {
        let pin_b = b.get(index).ok_or_else(|| "list index out of range".to_owned())?;
        let mut encoder = Object::new();
        encoder.insert("pin_a".into(), Value::from(pin_a.as_str()));
        encoder.insert("pin_b".into(), Value::from(pin_b.as_str()));
        if let Some(resolution) = resolutions.get(index) {
            encoder.insert("resolution".into(), convert::to_json("int", *resolution)?);
        }
        encoders.push(Value::Object(encoder));
    }
    Ok(Some(Value::Array(encoders)))
}

fn led_value(led: &LedPoint) -> Value {
    let number = |n: &Option<Number>| n.clone().map_or(Value::Null, Value::Number);
    let mut object = Object::new();
    object.insert("x".into(), number(&led.x));
    object.insert("y".into(), number(&led.y));
    object.insert("flags".into(), number(&led.flags));
    if let Some([r, c]) = led.matrix {
        object.insert("matrix".into(), Value::Array(vec![Value::Number(r.into()), Value::Number(c.into())]));
    }
    Value::Object(object)
}

/// The flag values a keyboard's LED-flag toggle steps through: all and none,
/// plus keys-and-modifiers and underglow when the LEDs use both.
fn flag_steps(leds: &[Value]) -> Vec<u64> {
    const ALL: u64 = 0xFF;
    const NONE: u64 = 0x00;
    const KEYS: u64 = 0x01 | 0x04;
    const UNDERGLOW: u64 = 0x02;
    let mut used: Vec<u64> = leds
        .iter()
        .map(|led| led.get("flags").and_then(Value::as_number).and_then(Number::as_u64).unwrap_or(NONE))
        .collect();
    used.sort_unstable();
    used.dedup();
    let mut steps = vec![ALL, NONE];
    if used.len() > 1 {
        let kinds: Vec<u64> = [KEYS, UNDERGLOW].into_iter().filter(|k| used.iter().any(|f| k & f != 0)).collect();
        if kinds.len() > 1 {
            steps.extend(kinds);
        }
    }
    steps.sort_unstable_by(|a, b| b.cmp(a));
    steps.dedup();
    steps
}
