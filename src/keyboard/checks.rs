//! QMK's checks of a built info.json beyond its schema, with QMK's messages:
//! where the definitions live, layouts (macros, matrix bounds, duplicates,
//! offsets, names, community layouts), keycodes, encoders, bootmagic keys, and
//! the matrix size against the pins. Findings become `parse_errors` and
//! `parse_warnings`.

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::dotted::{self, is_truthy};
use super::info::{CheckTarget, definition_files};
use super::layout::Layout;
use super::pyrepr;
use super::{INFO_FILE, KEYBOARDS_DIR, TARGET_FILE};
use crate::spec::Value;

/// Words a layout name may share with its keyboard's name.
const SHARED_WORDS: [&str; 9] = ["ansi", "iso", "jp", "jis", "ortho", "wkl", "tkl", "preonic", "planck"];

pub fn run(target: &mut CheckTarget) {
    build_target(target);
    layouts(target);
    keycodes(target);
    encoders(target);
    bootmagic(target);
    matrix_against_pins(target);
}

/// A number of the info as QMK would use it: `None` when missing or not a number.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct Num(f64, bool);

impl Num {
    fn of(value: Option<&Value>) -> Option<Num> {
        match value? {
            Value::Number(n) => Some(Num(n.as_f64()?, n.is_i64() || n.is_u64())),
            Value::Bool(b) => Some(Num(f64::from(u8::from(*b)), true)),
            _ => None,
        }
    }

    fn int(n: i64) -> Num {
        Num(n as f64, true)
    }

    fn floor_half(self) -> Num {
        Num((self.0 / 2.0).floor(), self.1)
    }

    fn minus_one(self) -> Num {
        Num(self.0 - 1.0, self.1)
    }
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.1 {
            true => write!(f, "{}", self.0 as i64),
            false => f.write_str(&pyrepr::float(self.0)),
        }
    }
}

fn size(target: &CheckTarget, key: &str) -> Num {
    Num::of(target.info.get("matrix_size").and_then(|s| s.get(key))).unwrap_or(Num::int(0))
}

fn build_target(target: &mut CheckTarget) {
    let own = Path::new(KEYBOARDS_DIR).join(target.name).join(TARGET_FILE);
    let files = definition_files(target.sources, target.name);
    let mut markers = 0;
    for file in files.iter().filter(|f| f.file_name().is_some_and(|n| n == TARGET_FILE)) {
        markers += 1;
        if *file != own {
            target.errors.push(format!("Invalid keyboard.json location detected: {}.", file.display()));
        }
        let beside = file.with_file_name(INFO_FILE);
        if target.sources.exists(&beside) {
            target.errors.push(format!("Invalid info.json location detected: {}.", beside.display()));
        }
    }
    if markers == 0 {
        target.warnings.push("Build marker \"keyboard.json\" not found.".into());
    }
}

fn layouts(target: &mut CheckTarget) {
    let (rows, cols) = (size(target, "rows"), size(target, "cols"));
    let layouts = target.layouts;
    let is = |layout: &Layout, member| layout.get(member).is_some_and(is_truthy);
    if layouts.is_empty() || layouts.iter().all(|(_, l)| !is(l, "json_layout")) {
        target.errors.push("No LAYOUTs defined! Need at least one layout defined in info.json.".into());
    }
    for (name, layout) in layouts {
        if is(layout, "c_macro") {
            target.errors.push(format!("{name}: Layout macro should not be defined within \".h\" files."));
        }
    }
    let constants = &target.sources.mappings.constants;
    for (name, layout) in layouts {
        for (index, key) in layout.keys.iter().enumerate() {
            let Some([row, col]) = key.matrix() else { continue };
            let letter = |letters: &str, at: u16| letters.chars().nth(at.into()).map(String::from).unwrap_or_default();
            let key_name = match key.label() {
                Some(label) => label.to_owned(),
                None => format!("k{}{}", letter(&constants.row_letters, row), letter(&constants.col_letters, col)),
            };
            if Num::int(row.into()) >= rows {
                target.errors.push(format!(
                    "{name}: Matrix row for key {index} ({key_name}) is {row} but must be less than {rows}"
                ));
            }
            if Num::int(col.into()) >= cols {
                target.errors.push(format!(
                    "{name}: Matrix column for key {index} ({key_name}) is {col} but must be less than {cols}"
                ));
            }
        }
    }
    for (name, layout) in layouts {
        let mut seen = std::collections::HashSet::new();
        for (index, key) in layout.keys.iter().enumerate() {
            let Some(matrix) = key.matrix() else { continue };
            if !seen.insert(matrix) {
                let shown = pyrepr::repr(&key.to_value());
                target.errors.push(format!("{name}: Matrix location for key {index} is not unique {shown}"));
            }
        }
    }
    for (name, layout) in layouts {
        let left = |key: &super::Key| if key.h() == 2.0 && key.w() == 1.25 { key.x() - 0.25 } else { key.x() };
        let min_by = |value: &dyn Fn(&super::Key) -> (f64, bool)| {
            layout.keys.iter().map(value).fold(None, |m: Option<(f64, bool)>, v| match m {
                Some(m) if m.0 <= v.0 => Some(m),
                _ => Some(v),
            })
        };
        let offset_x = min_by(&|k| {
            let shifted = k.h() == 2.0 && k.w() == 1.25;
            (left(k), !shifted && k.is_integer("x"))
        });
        if let Some((x, int)) = offset_x.filter(|(x, _)| *x > 0.0) {
            target.warnings.push(format!("Layout \"{name}\" is offset on X axis by {}", Num(x, int)));
        }
        if let Some((y, int)) = min_by(&|k| (k.y(), k.is_integer("y"))).filter(|(y, _)| *y > 0.0) {
            target.warnings.push(format!("Layout \"{name}\" is offset on Y axis by {}", Num(y, int)));
        }
    }
    if layouts.len() == 1 && layouts[0].0 == "LAYOUT_all" {
        target.warnings.push("\"LAYOUT_all\" should be \"LAYOUT\" unless additional layouts are provided.".into());
    }
    let community: Vec<String> = target
        .info
        .get("community_layouts")
        .and_then(Value::as_array)
        .unwrap_or_default()
        .iter()
        .map(pyrepr::str)
        .collect();
    let community_macros: Vec<String> = community.iter().map(|c| format!("LAYOUT_{c}")).collect();
    for (name, _) in layouts.iter().filter(|(n, _)| !community_macros.contains(n)) {
        if names_keyboard(target.name, name) {
            target.warnings.push(format!("Layout \"{name}\" should not contain name of keyboard."));
        }
    }
    let last = remove_missing_community_layouts(target);
    let aliases = target.info.get("layout_aliases").and_then(Value::as_object);
    for macro_name in &community_macros {
        let known = layouts.iter().any(|(n, _)| n == macro_name) || aliases.is_some_and(|a| a.contains_key(macro_name));
        if !known {
            let layout = last.clone().unwrap_or_default();
            target
                .errors
                .push(format!("Claims to support community layout {layout} but no {macro_name}() macro found"));
        }
    }
}

/// Drops the community layouts the tree does not have, walking the list as QMK
/// does while it removes from it (the item after a removed one is not looked at).
/// Returns the last one looked at, which QMK's next message quotes.
fn remove_missing_community_layouts(target: &mut CheckTarget) -> Option<String> {
    let mut last = None;
    let mut index = 0;
    loop {
        let Some(Value::Array(list)) = target.info.get_mut("community_layouts") else { return last };
        let Some(item) = list.get(index).cloned() else { return last };
        let name = pyrepr::str(&item);
        if !target.sources.has_community_layout(&name) {
            if let Some(at) = list.iter().position(|v| *v == item) {
                list.remove(at);
            }
            target.errors.push(format!("Claims to support a community layout that does not exist: {name}"));
        }
        last = Some(name);
        index += 1;
    }
}

/// Whether a layout name holds a part of the keyboard's name (sizes like `_4x12`
/// and the shared words aside).
fn names_keyboard(keyboard: &str, layout: &str) -> bool {
    let layout = remove_sizes(layout, true);
    let layout = remove_sizes(&layout, false);
    keyboard.split('/').filter(|part| !SHARED_WORDS.contains(part)).any(|part| layout.contains(part))
}

/// Removes `_split_<n>x<n>_<n>` (with `split`) or `_<n>x<n>` parts.
fn remove_sizes(text: &str, split: bool) -> String {
    static SPLIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"_split_\d+x\d+_\d+").expect("a valid pattern"));
    static SIZE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"_\d+x\d+").expect("a valid pattern"));
    let regex = if split { &SPLIT } else { &SIZE };
    regex.replace_all(text, "").into_owned()
}

fn keycodes(target: &mut CheckTarget) {
    let declared = target.info.get("keycodes").and_then(Value::as_array).unwrap_or_default();
    for declaration in declared {
        let Some(key) = declaration.get("key").and_then(Value::as_str) else { continue };
        let has_alias = declaration.get("aliases").is_some_and(is_truthy);
        if key.chars().count() > 7 && !has_alias {
            target.errors.push(format!("Keycode {key} has no short form alias"));
        }
    }
}

fn encoders(target: &mut CheckTarget) {
    let count = |value: Option<&Value>| value.and_then(Value::as_array).map_or(0, |a| a.len());
    let left = dotted::get(target.info, "encoder.rotary");
    let split = dotted::get(target.info, "split.enabled").is_some_and(is_truthy);
    let right = if split { dotted::get(target.info, "split.encoder.right.rotary").or(left) } else { None };
    let total = (count(left) + count(right)) as f64;
    for (name, layout) in target.layouts {
        let mut found: Vec<f64> = Vec::new();
        for key in layout.keys.iter() {
            let Some(encoder) = key.other("encoder") else { continue };
            let index = Num::of(Some(encoder)).map_or(f64::NAN, |n| n.0);
            let reason = if total == 0.0 {
                Some("non-configured")
            } else if index >= total {
                Some("out of bounds")
            } else if found.contains(&index) {
                Some("duplicate")
            } else {
                None
            };
            if let Some(reason) = reason {
                let shown = pyrepr::repr(encoder);
                target.errors.push(format!("Layout \"{name}\" contains {reason} encoder index {shown}."));
            }
            found.push(index);
        }
    }
}

fn bootmagic(target: &mut CheckTarget) {
    let (rows, cols) = (size(target, "rows"), size(target, "cols"));
    let pair = |path: &str, default: [Num; 2]| {
        let matrix = dotted::get(target.info, path).and_then(Value::as_array);
        match matrix {
            Some([row, col]) => [Num::of(Some(row)).unwrap_or(default[0]), Num::of(Some(col)).unwrap_or(default[1])],
            _ => default,
        }
    };
    let [row, col] = pair("bootmagic.matrix", [Num::int(0), Num::int(0)]);
    let half = rows.floor_half();
    let [right_row, right_col] = pair("split.bootmagic.matrix", [half, cols.minus_one()]);
    let errors = &mut *target.errors;
    if !dotted::get(target.info, "split.enabled").is_some_and(is_truthy) {
        if row >= rows {
            errors.push(format!("Bootmagic row ({row}) must be in the range 0-{}", rows.minus_one()));
        }
        if col >= cols {
            errors.push(format!("Bootmagic col ({col}) must be in the range 0-{}", cols.minus_one()));
        }
    } else {
        if row >= half {
            errors.push(format!("Bootmagic left row ({row}) must be in the range 0-{}", half.minus_one()));
        }
        if col >= cols {
            errors.push(format!("Bootmagic left col ({col}) must be in the range 0-{}", cols.minus_one()));
        }
        if right_row < half || right_row >= rows {
            errors.push(format!("Bootmagic right row ({right_row}) must be in the range {half}-{}", rows.minus_one()));
        }
        if right_col >= cols {
            errors.push(format!("Bootmagic right col ({right_col}) must be in the range 0-{}", cols.minus_one()));
        }
    }
}

fn matrix_against_pins(target: &mut CheckTarget) {
    let (Some(pins), Some(_)) = (target.info.get("matrix_pins"), target.info.get("matrix_size")) else { return };
    let (actual_rows, actual_cols) = (size(target, "rows"), size(target, "cols"));
    let len = |v: Option<&Value>| v.and_then(Value::as_array).map_or(0, |a| a.len()) as i64;
    let (cols, rows) = if let Some(direct) = pins.get("direct") {
        (len(direct.as_array().and_then(|d| d.first())), len(Some(direct)))
    } else if pins.get("cols").is_some() && pins.get("rows").is_some() {
        (len(pins.get("cols")), len(pins.get("rows")))
    } else if pins.get("cols").is_none() && pins.get("rows").is_none() {
        return;
    } else {
        (0, 0)
    };
    let consistent = |count: i64, actual: Num| count as f64 == actual.0 || count as f64 == actual.0 / 2.0;
    if !consistent(cols, actual_cols) {
        target
            .errors
            .push(format!("MATRIX_COLS is inconsistent with the size of MATRIX_COL_PINS: {cols} != {actual_cols}"));
    }
    if !consistent(rows, actual_rows) {
        target
            .errors
            .push(format!("MATRIX_ROWS is inconsistent with the size of MATRIX_ROW_PINS: {rows} != {actual_rows}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_names_holding_the_keyboards_name() {
        assert!(names_keyboard("acme/rocket", "LAYOUT_rocket"));
        assert!(!names_keyboard("planck/rev6", "LAYOUT_planck_grid"));
        assert!(!names_keyboard("acme/x2", "LAYOUT_split_3x5_2"));
        assert!(!names_keyboard("clueboard/66/rev2", "LAYOUT_all"));
    }
}
