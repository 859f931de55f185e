//! Keyboard Layout Editor ("KLE") raw data → a QMK keyboard definition with one
//! `LAYOUT`, as api.qmk.fm's converter answers: each key's position and size in
//! key units, its first legend as `label`, decals left out.
//!
//! The raw data is KLE's "Raw data" text: rows as arrays, without the outer
//! brackets; an object before a key changes the keys that follow (`x`/`y` move,
//! `w`/`h` size the next key, `d` makes it a decal, `r`/`rx`/`ry` rotate); an
//! object as the first row holds metadata such as the keyboard's `name`.
//!
//! Positions add up (`x` moves from where the last key ended), so that numbers JSON
//! allows (`1e308`) can add up to more than a float holds. QMK's converter adds them as
//! Python `Decimal`s and writes the result as a float, `Infinity`, which is not JSON;
//! here a position or size that does not stay finite is refused, saying which row and
//! item and what, so that every answer is valid JSON.

use crate::publish::pyjson;
use crate::spec::{Value, hjson};

/// One key as QMK lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct KleKey {
    pub label: Option<String>,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// A converted layout.
#[derive(Debug, Clone, PartialEq)]
pub struct KleLayout {
    pub name: String,
    pub keys: Vec<KleKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Could not parse KLE raw data: {0}")]
pub struct KleError(pub String);

/// Where the next key goes and what it looks like.
struct Cursor {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    decal: bool,
    /// The rotation origin: a new row starts at its `x`.
    rx: f64,
}

/// Refuses a position that grew past what a float holds.
fn finite(value: f64, what: &str, row: usize, item: usize) -> Result<f64, KleError> {
    match value.is_finite() {
        true => Ok(value),
        false => Err(KleError(format!(
            "row {row}, item {item}: the key's {what} adds up to more than the largest number (about 1.8e308)"
        ))),
    }
}

/// Reads KLE raw data.
pub fn parse(raw: &str) -> Result<KleLayout, KleError> {
    let wrapped = format!("{{\"layout\": [{raw}]}}");
    let document = hjson::parse(&wrapped).map_err(|e| KleError(e.to_string()))?;
    let rows = document.get("layout").and_then(Value::as_array).unwrap_or_default();
    let mut layout = KleLayout { name: String::new(), keys: Vec::new() };
    let mut cursor = Cursor { x: 0.0, y: 0.0, w: 1.0, h: 1.0, decal: false, rx: 0.0 };
    for (index, row) in rows.iter().enumerate() {
        let items = match row {
            Value::Array(items) => items,
            Value::Object(metadata) if index == 0 => {
                layout.name = metadata.get("name").and_then(Value::as_str).unwrap_or_default().to_owned();
                continue;
            }
            other => return Err(KleError(format!("row {index} is {}, not a list of keys", other.kind()))),
        };
        for (at, item) in items.iter().enumerate() {
            match item {
                Value::Object(changes) => {
                    let number = |key| changes.get(key).and_then(Value::as_number).and_then(serde_json::Number::as_f64);
                    if let Some(rx) = number("rx") {
                        cursor.rx = rx;
                        cursor.x = rx;
                    }
                    if let Some(ry) = number("ry") {
                        cursor.y = ry;
                    }
                    cursor.x += number("x").unwrap_or(0.0);
                    cursor.y += number("y").unwrap_or(0.0);
                    cursor.w = number("w").unwrap_or(cursor.w);
                    cursor.h = number("h").unwrap_or(cursor.h);
                    if let Some(decal) = changes.get("d") {
                        cursor.decal = *decal == Value::Bool(true);
                    }
                    finite(cursor.x, "x", index, at)?;
                    finite(cursor.y, "y", index, at)?;
                }
                Value::String(legends) => {
                    if !cursor.decal {
                        let label = legends.split('\n').next().filter(|l| !l.is_empty()).map(str::to_owned);
                        layout.keys.push(KleKey { label, x: cursor.x, y: cursor.y, w: cursor.w, h: cursor.h });
                    }
                    cursor.x = finite(cursor.x + cursor.w, "end (x + w)", index, at)?;
                    cursor.w = 1.0;
                    cursor.h = 1.0;
                    cursor.decal = false;
                }
                other => {
                    return Err(KleError(format!("a key must be a legend text or an object, not {}", other.kind())));
                }
            }
        }
        cursor.y = finite(cursor.y + 1.0, "y", index + 1, 0)?;
        cursor.x = cursor.rx;
    }
    Ok(layout)
}

/// A number as QMK writes a key unit: whole numbers without a fraction, fractions to
/// six places. Past 1e15 a float has no fraction to round (and scaling it by 1e6 could
/// overflow to infinity): it is written as it is.
fn unit(value: f64) -> String {
    if value.abs() >= 1e15 {
        return pyjson::python_float(value);
    }
    let rounded = (value * 1e6).round() / 1e6;
    match rounded.fract() == 0.0 {
        true => format!("{}", rounded as i64),
        false => pyjson::python_float(rounded),
    }
}

/// The keyboard definition api.qmk.fm answers with: four-space indentation,
/// `", "` after items, and the layout's keys on one line.
pub fn to_info_json(layout: &KleLayout) -> String {
    let text = |s: &str| String::from_utf8(pyjson::to_line(s)).expect("JSON is UTF-8");
    let keys: Vec<String> = layout
        .keys
        .iter()
        .map(|key| {
            let mut fields = Vec::new();
            if let Some(label) = &key.label {
                fields.push(format!("\"label\":{}", text(label)));
            }
            fields.push(format!("\"x\":{}", unit(key.x)));
            fields.push(format!("\"y\":{}", unit(key.y)));
            if key.w != 1.0 {
                fields.push(format!("\"w\":{}", unit(key.w)));
            }
            if key.h != 1.0 {
                fields.push(format!("\"h\":{}", unit(key.h)));
            }
            format!("{{{}}}", fields.join(", "))
        })
        .collect();
    format!(
        "{{\n    \"keyboard_name\": {}, \n    \"url\": \"\", \n    \"maintainer\": \"qmk\", \n    \"layouts\": {{\n        \"LAYOUT\": {{\n            \"layout\": [{}]\n        }}\n    }}\n}}",
        text(&layout.name),
        keys.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_take_their_places_and_sizes() {
        let raw = r#"{name: "Pad"},
            ["Num\n", "/", "*"],
            [{w: 2}, "0", {x: 0.5, d: true}, "logo", ".", {h: 2}, "Enter"],
            [{y: 0.25}, "A"]"#;
        let layout = parse(raw).unwrap();
        assert_eq!(layout.name, "Pad");
        let places: Vec<_> = layout.keys.iter().map(|k| (k.label.as_deref(), k.x, k.y, k.w, k.h)).collect();
        assert_eq!(
            places,
            [
                (Some("Num"), 0.0, 0.0, 1.0, 1.0),
                (Some("/"), 1.0, 0.0, 1.0, 1.0),
                (Some("*"), 2.0, 0.0, 1.0, 1.0),
                (Some("0"), 0.0, 1.0, 2.0, 1.0),
                (Some("."), 3.5, 1.0, 1.0, 1.0),
                (Some("Enter"), 4.5, 1.0, 1.0, 2.0),
                (Some("A"), 0.0, 2.25, 1.0, 1.0),
            ]
        );
        let info = to_info_json(&layout);
        assert!(info.starts_with("{\n    \"keyboard_name\": \"Pad\", \n    \"url\": \"\", \n"), "{info}");
        assert!(info.contains(r#""layout": [{"label":"Num", "x":0, "y":0}, "#), "{info}");
        assert!(info.contains(r#"{"label":"Enter", "x":4.5, "y":1, "h":2}"#), "{info}");
        let reparsed: serde_json::Value = serde_json::from_str(&info).unwrap();
        assert_eq!(reparsed["layouts"]["LAYOUT"]["layout"].as_array().unwrap().len(), 7);
    }

    #[test]
    fn positions_past_the_largest_float_are_refused_and_large_ones_stay_json() {
        for (raw, what) in [
            (r#"[{x: 1e308}, "a", {x: 1e308}, "b"]"#, "row 0, item 2: the key's x adds up"),
            (r#"[{w: 1.7e308}, "a", {w: 1.7e308}, "b"]"#, "row 0, item 3: the key's end (x + w) adds up"),
            (r#"[{y: -1e308}, "a"], [{y: -1e308}, "b"]"#, "row 1, item 0: the key's y adds up"),
            (r#"[{rx: 1.5e308, x: 1.5e308}, "a"]"#, "row 0, item 0: the key's x adds up"),
        ] {
            let error = parse(raw).unwrap_err().to_string();
            assert!(error.contains(what), "{raw}: {error}");
        }
        // Numbers past what JSON's parsers hold are refused while reading.
        assert!(parse(r#"[{x: 1e999}, "a"]"#).is_err());
        // Large but finite numbers are written as numbers, never Infinity or NaN.
        for raw in [r#"[{x: 1e303}, "a"]"#, r#"[{x: 1.7e308}, "a"]"#, r#"[{x: -1e20, y: 5e15}, "a"]"#] {
            let info = to_info_json(&parse(raw).unwrap());
            assert!(!info.contains("Infinity") && !info.contains("NaN"), "{raw}: {info}");
            let reparsed: serde_json::Value =
                serde_json::from_str(&info).unwrap_or_else(|e| panic!("{raw}: {e}: {info}"));
            assert!(reparsed["layouts"]["LAYOUT"]["layout"][0]["x"].as_f64().unwrap().is_finite());
        }
        assert!(to_info_json(&parse(r#"[{x: 1e303}, "a"]"#).unwrap()).contains(r#""x":1e+303"#));
    }

    #[test]
    fn bad_raw_data_is_refused_with_a_reason() {
        assert!(parse("[\"a\"").is_err());
        assert!(parse("[1, 2]").unwrap_err().to_string().contains("legend text or an object"));
        assert!(parse("\"a\", [\"b\"]").is_err());
    }
}
