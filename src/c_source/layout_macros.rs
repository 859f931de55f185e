//! `LAYOUT` macros of a keyboard header: the keys of each macro in argument
//! order, placed one unit apart on one row (a header has no geometry), with the
//! matrix position each argument takes in the macro's body; and the plain
//! `#define`s, which may be aliases of layouts.

use super::{join_continued_lines, strip_comments};

/// One argument of a layout macro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroKey {
    /// Its position among the arguments: the key's `x`.
    pub x: usize,
    /// The argument's name; `None` for an empty argument.
    pub label: Option<String>,
    /// Where the name appears in the body, when it appears exactly once.
    pub matrix: Option<[usize; 2]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroLayout {
    pub name: String,
    pub keys: Vec<MacroKey>,
}

/// What a header defines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MacroLayouts {
    pub layouts: Vec<MacroLayout>,
    /// `#define NAME TEXT` lines, in order, a later one replacing an earlier one.
    pub defines: Vec<(String, String)>,
}

/// Reads the layout macros (named `LAYOUT...`, but not the old `LAYOUT_kc...`
/// style) and the plain defines of a header, as QMK's info.json builder does.
pub fn find_layout_macros(text: &str) -> MacroLayouts {
    let text = join_continued_lines(&strip_comments(text));
    let mut found = MacroLayouts::default();
    for line in text.split('\n') {
        if is_define(line.trim_start()) && line.contains('(') && line.contains("LAYOUT") {
            if let Some(layout) = layout_macro(line.trim()) {
                match found.layouts.iter_mut().find(|l| l.name == layout.name) {
                    Some(existing) => *existing = layout,
                    None => found.layouts.push(layout),
                }
            }
        } else if line.contains("#define") {
            let mut parts = line.trim().splitn(3, ' ');
            if let (Some(_), Some(name), Some(text)) = (parts.next(), parts.next(), parts.next()) {
                match found.defines.iter_mut().find(|(n, _)| n == name) {
                    Some((_, existing)) => *existing = text.to_owned(),
                    None => found.defines.push((name.to_owned(), text.to_owned())),
                }
            }
        }
    }
    found
}

/// `#define` with optional blanks after the `#`.
fn is_define(line: &str) -> bool {
    line.strip_prefix('#').is_some_and(|rest| rest.trim_start().starts_with("define"))
}

/// One macro line: `#define NAME(args) body`, blanks and backslashes ignored.
fn layout_macro(line: &str) -> Option<MacroLayout> {
    let compact: String = line.chars().filter(|c| !matches!(c, '\\' | ' ' | '\t')).collect();
    let compact = compact.replace("#define", "");
    let (name, rest) = compact.split_once('(')?;
    let (arguments, body) = rest.split_once(')')?;
    if name.starts_with("LAYOUT_kc") || !name.starts_with("LAYOUT") {
        return None;
    }
    let positions = matrix_positions(body);
    let keys = arguments
        .trim()
        .split(',')
        .enumerate()
        .map(|(x, argument)| {
            let label = (!argument.is_empty()).then(|| argument.to_owned());
            let matrix = label.as_ref().and_then(|label| match positions.iter().find(|(n, _)| n == label) {
                Some((_, places)) if places.len() == 1 => Some(places[0]),
                _ => None,
            });
            MacroKey { x, label, matrix }
        })
        .collect();
    Some(MacroLayout { name: name.to_owned(), keys })
}

/// Each name of the body (`{{k00, k01}, {k10, KC_NO}}`) with the places it takes,
/// rows split at `},{`. `KC_NO` marks an empty place. A body that nests another
/// layout macro has no usable positions after that point.
fn matrix_positions(body: &str) -> Vec<(String, Vec<[usize; 2]>)> {
    let mut positions: Vec<(String, Vec<[usize; 2]>)> = Vec::new();
    for (row, text) in body.split("},{").enumerate() {
        if text.starts_with("LAYOUT") {
            break;
        }
        let text = text.replace(['{', '}'], "");
        for (col, name) in text.split(',').enumerate() {
            if name == "KC_NO" {
                continue;
            }
            match positions.iter_mut().find(|(n, _)| n == name) {
                Some((_, places)) => places.push([row, col]),
                None => positions.push((name.to_owned(), vec![[row, col]])),
            }
        }
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_keys_and_their_matrix_positions() {
        let found = find_layout_macros(
            "#pragma once\n#define LAYOUT_ortho( \\\n  k00, k01, \\\n  k10  /* c */ \\\n) { \\\n  { k00, k01 }, \\\n  { k10, KC_NO } \\\n}\n\
             #define LAYOUT LAYOUT_ortho\n#define LAYOUT_kc(a) { a }\n#define ENCODER_LAYOUT(a) { a }\n",
        );
        assert_eq!(found.layouts.len(), 1);
        let layout = &found.layouts[0];
        assert_eq!(layout.name, "LAYOUT_ortho");
        let matrices: Vec<_> = layout.keys.iter().map(|k| (k.x, k.label.as_deref(), k.matrix)).collect();
        assert_eq!(
            matrices,
            [(0, Some("k00"), Some([0, 0])), (1, Some("k01"), Some([0, 1])), (2, Some("k10"), Some([1, 0]))]
        );
        assert_eq!(found.defines, [("LAYOUT".to_owned(), "LAYOUT_ortho".to_owned())]);
    }

    #[test]
    fn a_name_placed_twice_has_no_position() {
        let found = find_layout_macros("#define LAYOUT(a, , b) {{a, a}, {b, KC_NO}}\n");
        let keys = &found.layouts[0].keys;
        assert_eq!((keys[0].matrix, keys[1].label.clone(), keys[2].matrix), (None, None, Some([1, 0])));
    }
}
