//! The rules a merged version must keep: QMK's keycodes schema, unique names,
//! ranges that nest but never partly overlap, keycodes inside some range.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::value::{Object, Value};
use regex::Regex;

use crate::diagnostic::Diagnostic;

// The patterns are ASCII-only (`(?-u)`), which keeps them quick to compile.

/// The schema's pattern for `define` and `key` (its `s` is QMK's, kept as is).
static DEFINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?-u)^[A-Z][A-Zs_0-9]*$").unwrap());
static HEX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?-u)^0x[0-9A-F]{4}$").unwrap());
/// QMK's own 0.0.2 writes two sizes as `0X3FFF`, so the prefix's case is free.
static RANGE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?-u)^0[xX]([0-9A-F]{4})/0[xX]([0-9A-F]{4})$").unwrap());

/// A finding and the key path it is about.
pub type Finding = (Vec<String>, Diagnostic);

/// One range of the 16-bit keycode space, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub first: u16,
    pub last: u16,
}

impl Span {
    fn contains(&self, value: u16) -> bool {
        (self.first..=self.last).contains(&value)
    }
}

/// Reads a range key `0xSTART/0xSIZE`, where SIZE is the last offset inside the range.
pub fn parse_range(key: &str) -> Option<Span> {
    let captures = RANGE.captures(key)?;
    let first = u16::from_str_radix(&captures[1], 16).ok()?;
    let size = u16::from_str_radix(&captures[2], 16).ok()?;
    first.checked_add(size).map(|last| Span { first, last })
}

/// Every rule broken by one merged version.
pub fn check(spec: &Object) -> Vec<Finding> {
    let mut findings = Vec::new();
    let ranges = check_ranges(spec.get("ranges"), &mut findings);
    check_keycodes(spec.get("keycodes"), &ranges, &mut findings);
    findings
}

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|p| p.to_string()).collect()
}

fn check_define(value: Option<&Value>, field: &str, at: &[&str], findings: &mut Vec<Finding>) -> bool {
    let problem = match value {
        None => format!("missing required field `{field}`"),
        Some(Value::String(s)) if !(2..=50).contains(&s.chars().count()) => {
            format!("`{field}` `{s}` must be 2 to 50 characters long")
        }
        Some(Value::String(s)) if !DEFINE.is_match(s) => {
            format!("`{field}` `{s}` must be an upper-case C identifier (^[A-Z][A-Zs_0-9]*$)")
        }
        Some(Value::String(_)) => return true,
        Some(other) => format!("`{field}` must be a string, not {}", other.kind()),
    };
    findings.push((path(at), Diagnostic::error(problem)));
    false
}

fn check_ranges(ranges: Option<&Value>, findings: &mut Vec<Finding>) -> Vec<(Span, String)> {
    let Some(ranges) = ranges else {
        return Vec::new();
    };
    let Some(ranges) = ranges.as_object() else {
        findings
            .push((path(&["ranges"]), Diagnostic::error(format!("`ranges` must be an object, not {}", ranges.kind()))));
        return Vec::new();
    };
    let mut spans = Vec::new();
    for (key, range) in ranges.iter() {
        let at = ["ranges", key];
        let Some(entry) = range.as_object() else {
            findings
                .push((path(&at), Diagnostic::error(format!("range `{key}` must be an object, not {}", range.kind()))));
            continue;
        };
        let named = check_define(entry.get("define"), "define", &at, findings);
        match parse_range(key) {
            Some(span) => {
                let name = entry.get("define").and_then(Value::as_str).filter(|_| named).unwrap_or(key);
                spans.push((span, name.to_owned()));
            }
            None if RANGE.is_match(key) => {
                findings.push((path(&at), Diagnostic::error(format!("range `{key}` runs past 0xFFFF"))))
            }
            None => findings.push((
                path(&at),
                Diagnostic::error(format!(
                    "range key `{key}` must be `0xSTART/0xSIZE`, four upper-case hex digits each"
                )),
            )),
        }
    }
    for (i, (a, a_name)) in spans.iter().enumerate() {
        for (b, b_name) in &spans[i + 1..] {
            let overlap = a.first <= b.last && b.first <= a.last;
            let nested = (a.first <= b.first && b.last <= a.last) || (b.first <= a.first && a.last <= b.last);
            if overlap && !nested {
                findings.push((
                    path(&["ranges", &format_span(*b)]),
                    Diagnostic::error(format!(
                        "range {b_name} ({}) partly overlaps range {a_name} ({}); ranges may nest but not partly overlap",
                        describe_span(*b),
                        describe_span(*a)
                    )),
                ));
            }
        }
    }
    spans
}

fn format_span(span: Span) -> String {
    format!("0x{:04X}/0x{:04X}", span.first, span.last - span.first)
}

fn describe_span(span: Span) -> String {
    format!("0x{:04X}..=0x{:04X}", span.first, span.last)
}

fn check_keycodes(keycodes: Option<&Value>, ranges: &[(Span, String)], findings: &mut Vec<Finding>) {
    let Some(keycodes) = keycodes else { return };
    let Some(keycodes) = keycodes.as_object() else {
        findings.push((
            path(&["keycodes"]),
            Diagnostic::error(format!("`keycodes` must be an object, not {}", keycodes.kind())),
        ));
        return;
    };
    let mut owners: HashMap<&str, Vec<&str>> = HashMap::new();
    for (hex, keycode) in keycodes.iter() {
        let at = ["keycodes", hex];
        let value = HEX.is_match(hex).then(|| u16::from_str_radix(&hex[2..], 16).ok()).flatten();
        if value.is_none() {
            findings.push((
                path(&at),
                Diagnostic::error(format!("keycode key `{hex}` must be `0x` and four upper-case hex digits")),
            ));
        }
        let Some(entry) = keycode.as_object() else {
            findings.push((
                path(&at),
                Diagnostic::error(format!("keycode `{hex}` must be an object, not {}", keycode.kind())),
            ));
            continue;
        };
        if check_define(entry.get("key"), "key", &at, findings) {
            owners.entry(entry.get("key").and_then(Value::as_str).unwrap_or_default()).or_default().push(hex);
        }
        if let Some(aliases) = entry.get("aliases") {
            for alias in check_aliases(aliases, &at, findings) {
                owners.entry(alias).or_default().push(hex);
            }
        }
        if let Some(value) = value.filter(|v| !ranges.iter().any(|(span, _)| span.contains(*v))) {
            let name = entry.get("key").and_then(Value::as_str).unwrap_or("?");
            findings.push((
                path(&at),
                Diagnostic::warning(format!("keycode {name} (0x{value:04X}) lies outside every range")),
            ));
        }
    }
    let mut duplicated: Vec<_> = owners.into_iter().filter(|(_, hexes)| hexes.len() > 1).collect();
    duplicated.sort();
    for (name, hexes) in duplicated {
        findings.push((
            path(&["keycodes", hexes[hexes.len() - 1]]),
            Diagnostic::error(format!(
                "keycode name or alias `{name}` is used more than once: by {}",
                hexes.join(", ")
            )),
        ));
    }
}

fn check_aliases<'a>(aliases: &'a Value, at: &[&str], findings: &mut Vec<Finding>) -> Vec<&'a str> {
    let at: Vec<&str> = at.iter().copied().chain(["aliases"]).collect();
    let Some(items) = aliases.as_array() else {
        findings.push((path(&at), Diagnostic::error(format!("`aliases` must be an array, not {}", aliases.kind()))));
        return Vec::new();
    };
    if items.is_empty() {
        findings.push((path(&at), Diagnostic::error("`aliases` must hold at least one name")));
    }
    let mut names = Vec::new();
    for item in items {
        match item.as_str() {
            Some(name) => names.push(name),
            None => {
                findings.push((path(&at), Diagnostic::error(format!("an alias must be a string, not {}", item.kind()))))
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The errors found, as `path: message`.
    fn messages(spec: serde_json::Value) -> Vec<String> {
        check(Value::from(spec).as_object().unwrap())
            .into_iter()
            .filter(|(_, d)| d.is_error())
            .map(|(path, d)| format!("{}: {}", path.join("/"), d.message))
            .collect()
    }

    #[test]
    fn range_keys_are_start_and_last_offset() {
        assert_eq!(parse_range("0x0100/0x1EFF"), Some(Span { first: 0x0100, last: 0x1FFF }));
        assert_eq!(parse_range("0x8000/0X3FFF"), Some(Span { first: 0x8000, last: 0xBFFF }));
        assert_eq!(parse_range("0xFF00/0x0100"), None);
        assert_eq!(parse_range("0x100/0x1EFF"), None);
    }

    #[test]
    fn nested_ranges_pass_and_partial_overlaps_fail() {
        let nested = json!({"ranges": {"0x8000/0x7FFF": {"define": "QK_UNICODE"}, "0x8000/0x3FFF": {"define": "QK_UNICODEMAP"}}});
        assert!(messages(nested).is_empty());
        let partial = json!({"ranges": {"0x0000/0x00FF": {"define": "QK_A"}, "0x0080/0x00FF": {"define": "QK_B"}}});
        let found = messages(partial);
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("QK_B (0x0080..=0x017F) partly overlaps range QK_A"), "{found:?}");
    }

    #[test]
    fn schema_rules_are_enforced() {
        let found = messages(json!({
            "ranges": {"0x00/0x00FF": {"define": "QK_BASIC"}, "0x0100/0x00FF": {}},
            "keycodes": {
                "0x0004": {"key": "kc_a"},
                "0x5": {"key": "KC_B"},
                "0x0006": {"label": "C"},
                "0x0007": {"key": "KC_D", "aliases": []}
            }
        }));
        let expected = [
            "ranges/0x00/0x00FF: range key `0x00/0x00FF` must be `0xSTART/0xSIZE`",
            "ranges/0x0100/0x00FF: missing required field `define`",
            "keycodes/0x0004: `key` `kc_a` must be an upper-case C identifier",
            "keycodes/0x5: keycode key `0x5` must be `0x` and four upper-case hex digits",
            "keycodes/0x0006: missing required field `key`",
            "keycodes/0x0007/aliases: `aliases` must hold at least one name",
        ];
        for (found, expected) in found.iter().zip(expected) {
            assert!(found.starts_with(expected), "{found} does not start with {expected}");
        }
        assert_eq!(found.len(), expected.len(), "{found:?}");
    }

    #[test]
    fn duplicate_names_and_aliases_are_reported() {
        let found = messages(json!({
            "ranges": {"0x0000/0x00FF": {"define": "QK_BASIC"}},
            "keycodes": {"0x0004": {"key": "KC_A", "aliases": ["KC_X"]}, "0x0005": {"key": "KC_B", "aliases": ["KC_X"]}}
        }));
        assert_eq!(found, ["keycodes/0x0005: keycode name or alias `KC_X` is used more than once: by 0x0004, 0x0005"]);
    }

    #[test]
    fn keycodes_outside_every_range_are_warnings() {
        let spec =
            json!({"ranges": {"0x0000/0x00FF": {"define": "QK_BASIC"}}, "keycodes": {"0x7C00": {"key": "QK_BOOT"}}});
        let found = check(Value::from(spec).as_object().unwrap());
        assert_eq!(found.len(), 1);
        assert!(!found[0].1.is_error());
        assert_eq!(found[0].1.message, "keycode QK_BOOT (0x7C00) lies outside every range");
    }
}
