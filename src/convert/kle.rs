//! Keyboard Layout Editor ("KLE") raw data ↔ a QMK keyboard definition.
//!
//! Reading answers as api.qmk.fm's converter does (each key's position and size in
//! key units, its first legend as `label`, decals left out, formatted as QMK formats
//! it), and keeps what that converter drops: rotation (`r`, `rx`, `ry`) and the
//! matrix positions that VIA's definitions write as a "row,col" top-left legend.
//! Writing goes the other way, from a keyboard's layout, so that KLE (and VIA) read
//! the keys back where info.json puts them.
//!
//! The raw data is KLE's "Raw data" text: rows as arrays, without the outer
//! brackets; an object before a key changes the keys that follow (`x`/`y` move,
//! `w`/`h` size the next key, `x2`/`y2`/`w2`/`h2` its second rectangle, `d` makes it
//! a decal, `a` aligns its legends, `r`/`rx`/`ry` rotate it); an object as the first
//! row holds metadata such as the keyboard's `name`. The cursor moves as KLE moves
//! it (and kle-serial, the library VIA reads layouts with): a rotation origin
//! (`rx`, `ry`) starts a cluster, moving the cursor to it; each row starts at the
//! cluster's `x`, one unit below the last; rotation is set only at a row's start.
//!
//! Positions add up (`x` moves from where the last key ended), so that numbers JSON
//! allows (`1e308`) can add up to more than a float holds. QMK's converter adds them as
//! Python `Decimal`s and writes the result as a float, `Infinity`, which is not JSON;
//! here a position or size that does not stay finite is refused, saying which row and
//! item and what, so that every answer is valid JSON.

use crate::keyboard::Key;
use crate::publish::pyjson;
use crate::spec::{Object, Value, hjson};

/// One key as QMK lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct KleKey {
    pub label: Option<String>,
    /// `[row, column]`, from a "row,col" top-left legend.
    pub matrix: Option<[u16; 2]>,
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    /// The rotation in degrees, clockwise, about (`rx`, `ry`).
    pub r: f64,
    pub rx: f64,
    pub ry: f64,
}

/// A converted layout.
#[derive(Debug, Clone, PartialEq)]
pub struct KleLayout {
    pub name: String,
    pub keys: Vec<KleKey>,
    /// What info.json cannot hold and was left out, one line each, naming the key.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Could not parse KLE raw data: {0}")]
pub struct KleError(pub String);

/// Where the next key goes and what it looks like: KLE's state between keys.
struct Cursor {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
    /// The second rectangle of a stepped or L-shaped key (an ISO Enter): its offset,
    /// and its size where it differs from the first's.
    x2: f64,
    y2: f64,
    w2: Option<f64>,
    h2: Option<f64>,
    decal: bool,
    r: f64,
    rx: f64,
    ry: f64,
    /// Legend alignment (`a`); it lasts until changed, across rows.
    align: i64,
}

impl Cursor {
    fn new() -> Cursor {
        Cursor {
            x: 0.0,
            y: 0.0,
            w: 1.0,
            h: 1.0,
            x2: 0.0,
            y2: 0.0,
            w2: None,
            h2: None,
            decal: false,
            r: 0.0,
            rx: 0.0,
            ry: 0.0,
            align: 4,
        }
    }

    /// Applies an object of changes, item `at` of row `row`.
    fn change(&mut self, changes: &Object, row: usize, at: usize) -> Result<(), KleError> {
        let number = |key: &str| -> Result<Option<f64>, KleError> {
            match changes.get(key) {
                None => Ok(None),
                Some(Value::Number(n)) => Ok(n.as_f64()),
                Some(other) => {
                    Err(KleError(format!("row {row}, item {at}: `{key}` must be a number, not {}", other.kind())))
                }
            }
        };
        let (r, rx, ry) = (number("r")?, number("rx")?, number("ry")?);
        if at != 0 && (r.is_some() || rx.is_some() || ry.is_some()) {
            return Err(KleError(format!(
                "row {row}, item {at}: rotation (`r`, `rx`, `ry`) can only be set before a row's first key"
            )));
        }
        self.r = r.unwrap_or(self.r);
        // A rotation origin starts a cluster: the cursor goes to it.
        if let Some(rx) = rx {
            self.rx = rx;
            (self.x, self.y) = (self.rx, self.ry);
        }
        if let Some(ry) = ry {
            self.ry = ry;
            (self.x, self.y) = (self.rx, self.ry);
        }
        if let Some(align) = changes.get("a").and_then(Value::as_number).and_then(serde_json::Number::as_i64) {
            self.align = align;
        }
        // As KLE reads them, a zero width, height or second rectangle changes nothing.
        let nonzero = |key: &str| Ok::<_, KleError>(number(key)?.filter(|value| *value != 0.0));
        self.x += number("x")?.unwrap_or(0.0);
        self.y += number("y")?.unwrap_or(0.0);
        if let Some(w) = nonzero("w")? {
            (self.w, self.w2) = (w, None);
        }
        if let Some(h) = nonzero("h")? {
            (self.h, self.h2) = (h, None);
        }
        self.x2 = nonzero("x2")?.unwrap_or(self.x2);
        self.y2 = nonzero("y2")?.unwrap_or(self.y2);
        self.w2 = nonzero("w2")?.or(self.w2);
        self.h2 = nonzero("h2")?.or(self.h2);
        if let Some(decal) = changes.get("d") {
            self.decal = *decal == Value::Bool(true);
        }
        finite(self.x, "x", row, at)?;
        finite(self.y, "y", row, at)?;
        Ok(())
    }

    /// Whether the key has a second rectangle other than its first.
    fn stepped(&self) -> bool {
        self.x2 != 0.0
            || self.y2 != 0.0
            || self.w2.is_some_and(|w2| w2 != self.w)
            || self.h2.is_some_and(|h2| h2 != self.h)
    }

    /// Moves past a key: the next one starts where it ends, one unit square.
    fn next_key(&mut self, row: usize, at: usize) -> Result<(), KleError> {
        self.x = finite(self.x + self.w, "end (x + w)", row, at)?;
        (self.w, self.h, self.x2, self.y2, self.w2, self.h2) = (1.0, 1.0, 0.0, 0.0, None, None);
        self.decal = false;
        Ok(())
    }

    /// Moves to the next row: one unit down, back to the cluster's `x`.
    fn next_row(&mut self, row: usize) -> Result<(), KleError> {
        self.y = finite(self.y + 1.0, "y", row, 0)?;
        self.x = self.rx;
        Ok(())
    }
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

/// The legend VIA reads a key's matrix position from: the top-left one. KLE stores
/// legends in an order its alignment (`a`) maps to places; only with alignment 0 or
/// 4 (the default) does one land top-left, and it is then the first.
fn top_left<'a>(legends: &[&'a str], align: i64) -> Option<&'a str> {
    legends.first().copied().filter(|legend| matches!(align, 0 | 4) && !legend.is_empty())
}

/// A "row,col" legend: `None` for a legend that is no such thing (a key's name, `,`
/// alone), an error for one that tries and fails (`1,2,3`, `-1,0`, `1.5,2`).
fn matrix_legend(legend: &str, row: usize, at: usize) -> Option<Result<[u16; 2], KleError>> {
    let numeric = legend.chars().all(|c| c.is_ascii_digit() || " ,.+-".contains(c));
    if !(numeric && legend.contains(',') && legend.chars().any(|c| c.is_ascii_digit())) {
        return None;
    }
    let bad = || {
        KleError(format!(
            "row {row}, item {at}: the legend {legend:?} is not a matrix position: it must be \"row,col\", two whole \
             numbers from 0 to 65535"
        ))
    };
    let parts: Vec<Option<u16>> = legend.split(',').map(|part| part.trim().parse().ok()).collect();
    Some(match parts[..] {
        [Some(matrix_row), Some(column)] => Ok([matrix_row, column]),
        _ => Err(bad()),
    })
}

/// Reads KLE raw data.
pub fn parse(raw: &str) -> Result<KleLayout, KleError> {
    let wrapped = format!("{{\"layout\": [{raw}]}}");
    let document = hjson::parse(&wrapped).map_err(|e| KleError(e.to_string()))?;
    let rows = document.get("layout").and_then(Value::as_array).unwrap_or_default();
    let mut layout = KleLayout { name: String::new(), keys: Vec::new(), notes: Vec::new() };
    let mut cursor = Cursor::new();
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
                Value::Object(changes) => cursor.change(changes, index, at)?,
                Value::String(text) => {
                    let legends: Vec<&str> = text.split('\n').collect();
                    let place = format!("row {index}, item {at} ({:?})", legends[0]);
                    if cursor.decal {
                        layout.notes.push(format!("{place}: a decal, not a key: left out"));
                    } else {
                        if cursor.stepped() {
                            layout.notes.push(format!(
                                "{place}: its second rectangle (`x2`, `y2`, `w2`, `h2`) is left out: info.json gives a \
                                 key one"
                            ));
                        }
                        layout.keys.push(key(&cursor, &legends, index, at)?);
                    }
                    cursor.next_key(index, at)?;
                }
                other => {
                    return Err(KleError(format!(
                        "row {index}, item {at}: a key must be a legend text or an object, not {}",
                        other.kind()
                    )));
                }
            }
        }
        cursor.next_row(index + 1)?;
    }
    Ok(layout)
}

/// The key the cursor is at, its matrix and label from its legends: a "row,col"
/// top-left legend is its matrix position, and its label is then the next legend
/// with text; otherwise its label is its first legend, as api.qmk.fm reads it.
fn key(cursor: &Cursor, legends: &[&str], row: usize, at: usize) -> Result<KleKey, KleError> {
    let first = |legends: &[&str]| legends.iter().find(|legend| !legend.is_empty()).map(|legend| (*legend).to_owned());
    let (matrix, label) = match top_left(legends, cursor.align).and_then(|legend| matrix_legend(legend, row, at)) {
        Some(matrix) => (Some(matrix?), first(&legends[1..])),
        None => (None, legends.first().filter(|legend| !legend.is_empty()).map(|legend| (*legend).to_owned())),
    };
    Ok(KleKey {
        label,
        matrix,
        x: cursor.x,
        y: cursor.y,
        w: cursor.w,
        h: cursor.h,
        r: cursor.r,
        rx: cursor.rx,
        ry: cursor.ry,
    })
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
/// `", "` after items, and the layout's keys on one line. Rotation and matrix, which
/// it never writes, come in info.json's order: `label`, `matrix`, `x`, `y`, `w`, `h`,
/// `r`, `rx`, `ry`, each only where it says something.
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
            if let Some([row, column]) = key.matrix {
                fields.push(format!("\"matrix\":[{row}, {column}]"));
            }
            fields.push(format!("\"x\":{}", unit(key.x)));
            fields.push(format!("\"y\":{}", unit(key.y)));
            for (name, value, default) in
                [("w", key.w, 1.0), ("h", key.h, 1.0), ("r", key.r, 0.0), ("rx", key.rx, 0.0), ("ry", key.ry, 0.0)]
            {
                if value != default {
                    fields.push(format!("\"{name}\":{}", unit(value)));
                }
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

/// A layout's keys as KLE raw data, a row per line and valid JSON inside `[` `]`:
/// the keyboard's name as metadata, then each key in the layout's order with its
/// position, size and rotation, its legend "row,col" (as VIA's definitions write the
/// matrix) and its label below that. A new row starts where a key's `y` or rotation
/// changes; a rotation starts a cluster at its origin. Offsets are written to nine
/// places, and the cursor follows what KLE will read from them, so that no error
/// adds up over a long layout.
pub fn from_layout(name: &str, keys: &[Key]) -> String {
    let json = |s: &str| serde_json::to_string(s).expect("a string is JSON");
    let mut rows = vec![format!("{{\"name\": {}}}", json(name))];
    let mut cursor = Cursor::new();
    let mut row: Vec<String> = Vec::new();
    for key in keys {
        let rotation = |field: &str| key.other(field).and_then(Value::as_number).and_then(serde_json::Number::as_f64);
        let (r, rx, ry) = (rotation("r").unwrap_or(0.0), rotation("rx").unwrap_or(0.0), rotation("ry").unwrap_or(0.0));
        let new_cluster = (rx, ry) != (cursor.rx, cursor.ry);
        if !row.is_empty() && (new_cluster || r != cursor.r || offset(key.y() - cursor.y) != 0.0) {
            rows.push(format!("[{}]", row.join(", ")));
            row.clear();
            cursor.y += 1.0;
            cursor.x = cursor.rx;
        }
        let mut changes = Vec::new();
        if r != cursor.r {
            changes.push(format!("\"r\": {}", number(r)));
            cursor.r = r;
        }
        if new_cluster {
            changes.push(format!("\"rx\": {}, \"ry\": {}", number(rx), number(ry)));
            (cursor.rx, cursor.ry, cursor.x, cursor.y) = (rx, ry, rx, ry);
        }
        for (field, at, to) in [("x", &mut cursor.x, key.x()), ("y", &mut cursor.y, key.y())] {
            let offset = offset(to - *at);
            if offset != 0.0 {
                changes.push(format!("\"{field}\": {}", number(offset)));
                *at += offset;
            }
        }
        for (field, size) in [("w", key.w()), ("h", key.h())] {
            if size != 1.0 {
                changes.push(format!("\"{field}\": {}", number(size)));
            }
        }
        if !changes.is_empty() {
            row.push(format!("{{{}}}", changes.join(", ")));
        }
        let mut legend = key.matrix().map(|[r, c]| format!("{r},{c}")).unwrap_or_default();
        if let Some(label) = key.label() {
            if key.matrix().is_some() {
                legend.push('\n');
            }
            legend.push_str(label);
        }
        row.push(json(&legend));
        cursor.x += key.w();
    }
    if !row.is_empty() {
        rows.push(format!("[{}]", row.join(", ")));
    }
    rows.join(",\n")
}

/// An offset between positions, without the noise of float subtraction.
fn offset(value: f64) -> f64 {
    match value.abs() < 1e6 {
        true => (value * 1e9).round() / 1e9,
        false => value,
    }
}

/// A number as JSON writes it, whole numbers without a fraction.
fn number(value: f64) -> String {
    match value.fract() == 0.0 && value.abs() < 1e15 {
        true => format!("{}", value as i64),
        false => serde_json::Number::from_f64(value).map_or_else(|| "0".to_owned(), |n| n.to_string()),
    }
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

    /// Each key's (x, y, w, h) as read.
    fn places(raw: &str) -> Vec<(f64, f64, f64, f64)> {
        parse(raw).unwrap().keys.iter().map(|k| (k.x, k.y, k.w, k.h)).collect()
    }

    fn rotations(raw: &str) -> Vec<(f64, f64, f64)> {
        parse(raw).unwrap().keys.iter().map(|k| (k.r, k.rx, k.ry)).collect()
    }

    // The cases of kle-serial's test suite (its deserialization tests) that say where
    // keys go, how large they are and how they turn; the raw data is their rows
    // without the outer brackets.

    #[test]
    fn kle_serial_rows_that_are_neither_keys_nor_first_metadata_are_refused() {
        // "should fail on non array/object data"
        assert!(parse(r#""test""#).unwrap_err().to_string().contains("row 0 is a string"));
        // "should throw an exception if found anywhere other than the start" (metadata)
        assert!(parse(r#"[], {name: "test"}"#).unwrap_err().to_string().contains("row 1 is an object"));
    }

    #[test]
    fn kle_serial_empty_data_and_metadata() {
        // "should return empty keyboard on empty array"
        assert_eq!(parse("").unwrap().keys, []);
        // "should parse from first object if it exists"
        assert_eq!(parse(r#"{name: "test"}"#).unwrap().name, "test");
    }

    #[test]
    fn kle_serial_key_positions() {
        // "should default to (0,0)"
        assert_eq!(places(r#"["1"]"#), [(0.0, 0.0, 1.0, 1.0)]);
        // "should increment x position by the width of the previous key"
        assert_eq!(places(r#"[{x: 1}, "1", "2"]"#), [(1.0, 0.0, 1.0, 1.0), (2.0, 0.0, 1.0, 1.0)]);
        // "should increment y position whenever a new row starts, and reset x to zero"
        assert_eq!(places(r#"[{y: 1}, "1"], ["2"]"#), [(0.0, 1.0, 1.0, 1.0), (0.0, 2.0, 1.0, 1.0)]);
        // "should add x and y to current position"
        assert_eq!(places(r#"["1", {x: 1}, "2"]"#), [(0.0, 0.0, 1.0, 1.0), (2.0, 0.0, 1.0, 1.0)]);
        assert_eq!(places(r#"["1"], [{y: 1}, "2"]"#), [(0.0, 0.0, 1.0, 1.0), (0.0, 2.0, 1.0, 1.0)]);
    }

    #[test]
    fn kle_serial_second_rectangles() {
        // "should leave x2,y2 at (0,0) if not specified": a key without them has one
        // rectangle; one with them has two, and info.json keeps the first.
        let plain = parse(r#"[{x: 1, y: 1}, "1"]"#).unwrap();
        assert_eq!(plain.notes, Vec::<String>::new());
        let stepped = parse(r#"[{x: 1, y: 1, x2: 2, y2: 2}, "1"]"#).unwrap();
        assert_eq!((stepped.keys[0].x, stepped.keys[0].y), (1.0, 1.0));
        assert!(stepped.notes[0].starts_with(r#"row 0, item 1 ("1"): its second rectangle"#), "{:?}", stepped.notes);
        // "should default width2/height2 if not specified": `w`/`h` size both
        // rectangles, `w2`/`h2` the second alone.
        let layout = parse(r#"[{w: 2, h: 2}, "1", {w: 2, h: 2, w2: 4, h2: 4}, "2"]"#).unwrap();
        assert_eq!(layout.keys.iter().map(|k| (k.w, k.h)).collect::<Vec<_>>(), [(2.0, 2.0), (2.0, 2.0)]);
        assert_eq!(layout.notes.len(), 1, "{:?}", layout.notes);
        assert!(layout.notes[0].starts_with(r#"row 0, item 3 ("2")"#), "{:?}", layout.notes);
        // An ISO Enter: the second rectangle sticks out to the left.
        let iso = parse(r#"[{x: 0.25, w: 1.25, h: 2, w2: 1.5, h2: 1, x2: -0.25}, "Enter"]"#).unwrap();
        assert_eq!(
            places(r#"[{x: 0.25, w: 1.25, h: 2, w2: 1.5, h2: 1, x2: -0.25}, "Enter"]"#),
            [(0.25, 0.0, 1.25, 2.0)]
        );
        assert_eq!(iso.notes.len(), 1);
    }

    #[test]
    fn kle_serial_key_sizes() {
        // "should reset width and height to 1"
        assert_eq!(places(r#"[{w: 5}, "1", "2"]"#), [(0.0, 0.0, 5.0, 1.0), (5.0, 0.0, 1.0, 1.0)]);
        assert_eq!(places(r#"[{h: 5}, "1", "2"]"#), [(0.0, 0.0, 1.0, 5.0), (1.0, 0.0, 1.0, 1.0)]);
    }

    #[test]
    fn kle_serial_decals_and_ghosts() {
        // "should reset stepped, homing, and decal flags to false": the decal is the
        // first key alone, and is no key of info.json.
        let layout = parse(r#"[{l: true, n: true, d: true}, "1", "2"]"#).unwrap();
        assert_eq!(layout.keys.iter().map(|k| (k.label.as_deref(), k.x)).collect::<Vec<_>>(), [(Some("2"), 1.0)]);
        assert_eq!(layout.notes, [r#"row 0, item 1 ("1"): a decal, not a key: left out"#]);
        // "should propagate the ghost flag": ghost keys are keys, shown faded.
        assert_eq!(parse(r#"["0", {g: true}, "1", "2"]"#).unwrap().keys.len(), 3);
    }

    #[test]
    fn kle_serial_rotation_is_set_only_at_a_rows_start() {
        // "should not be allowed on anything but the first key in a row"
        for raw in [r#"[{r: 45}, "1", "2"]"#, r#"[{rx: 45}, "1", "2"]"#, r#"[{ry: 45}, "1", "2"]"#] {
            assert!(parse(raw).is_ok(), "{raw}");
        }
        for raw in [r#"["1", {r: 45}, "2"]"#, r#"["1", {rx: 45}, "2"]"#, r#"["1", {ry: 45}, "2"]"#] {
            let error = parse(raw).unwrap_err().to_string();
            assert!(error.contains("row 0, item 1: rotation"), "{raw}: {error}");
        }
    }

    #[test]
    fn kle_serial_a_rotation_origin_moves_the_cursor_to_it() {
        // The case kle-serial's pull request for rotation origins adds ("should add x
        // and y to center of rotation"), as KLE itself reads them.
        let layout = parse(r#"[{r: 10, rx: 1, ry: 1, y: -1.1, x: 2}, "E"]"#).unwrap();
        let key = &layout.keys[0];
        assert_eq!(key.x, 3.0);
        assert!((key.y - -0.1).abs() < 1e-4, "{}", key.y);
        assert_eq!((key.r, key.rx, key.ry), (10.0, 1.0, 1.0));
    }

    #[test]
    fn kle_serial_top_left_legend_by_alignment() {
        // "should align legend positions correctly", for the one place VIA reads:
        // only alignments 0 and 4 put the first legend top-left.
        for align in 0..8 {
            let layout = parse(&format!(r#"[{{a: {align}}}, "1,2\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11"]"#)).unwrap();
            let expected = matches!(align, 0 | 4).then_some([1, 2]);
            assert_eq!(layout.keys[0].matrix, expected, "a={align}");
        }
    }

    #[test]
    fn kle_serial_quoted_and_bare_names_read_alike() {
        // "should be lenient about quotes"
        let bare = parse(r#"{ name: "Sample", author: "Your Name" }, ["Q", "W", "E", "R", "T", "Y"]"#).unwrap();
        let quoted = parse(r#"{ "name": "Sample", "author": "Your Name" }, ["Q", "W", "E", "R", "T", "Y"]"#).unwrap();
        assert_eq!(bare, quoted);
        assert_eq!(bare.keys.len(), 6);
    }

    #[test]
    fn a_cluster_keeps_its_origin_across_rows() {
        // A thumb cluster as ergonomic layouts draw it: rows start at the origin's
        // x, one unit further down each.
        let raw =
            r#"["Esc"], [{r: 30, rx: 6.5, ry: 4.25, y: -1, x: 0.5}, "a", "b"], [{h: 2}, "c"], [{r: -30, rx: 13}, "d"]"#;
        assert_eq!(
            places(raw),
            [
                (0.0, 0.0, 1.0, 1.0),
                (7.0, 3.25, 1.0, 1.0),
                (8.0, 3.25, 1.0, 1.0),
                (6.5, 4.25, 1.0, 2.0),
                (13.0, 4.25, 1.0, 1.0)
            ]
        );
        assert_eq!(
            rotations(raw),
            [(0.0, 0.0, 0.0), (30.0, 6.5, 4.25), (30.0, 6.5, 4.25), (30.0, 6.5, 4.25), (-30.0, 13.0, 4.25)]
        );
        let info = to_info_json(&parse(raw).unwrap());
        assert!(info.contains(r#"{"label":"a", "x":7, "y":3.25, "r":30, "rx":6.5, "ry":4.25}"#), "{info}");
        assert!(info.contains(r#"{"label":"Esc", "x":0, "y":0}"#), "{info}");
    }

    #[test]
    fn matrix_positions_come_from_row_col_legends() {
        let layout = parse(r#"["0,0", "0,1\nEsc", ","], [{a: 7}, "1,0"]"#).unwrap();
        let read: Vec<_> = layout.keys.iter().map(|k| (k.matrix, k.label.as_deref())).collect();
        assert_eq!(read, [(Some([0, 0]), None), (Some([0, 1]), Some("Esc")), (None, Some(",")), (None, Some("1,0"))]);
        let info = to_info_json(&layout);
        assert!(info.contains(r#"{"label":"Esc", "matrix":[0, 1], "x":1, "y":0}"#), "{info}");
        for (raw, at) in [
            (r#"["0,0", "1,2,3"]"#, "row 0, item 1: the legend \"1,2,3\""),
            (r#"["0,0"], ["-1,2"]"#, "row 1, item 0: the legend \"-1,2\""),
            (r#"[{w: 2}, "1.5,2"]"#, "row 0, item 1: the legend \"1.5,2\""),
            (r#"["99999,0"]"#, "row 0, item 0"),
            (r#"["3,"]"#, "row 0, item 0"),
        ] {
            let error = parse(raw).unwrap_err().to_string();
            assert!(error.contains(at) && error.contains("\"row,col\""), "{raw}: {error}");
        }
    }

    #[test]
    fn non_numbers_where_numbers_belong_are_refused() {
        let error = parse(r#"[{w: "2"}, "a"]"#).unwrap_err().to_string();
        assert!(error.contains("row 0, item 0: `w` must be a number, not a string"), "{error}");
        let error = parse(r#"["a"], [{r: true}, "b"]"#).unwrap_err().to_string();
        assert!(error.contains("row 1, item 0: `r` must be a number"), "{error}");
    }

    #[test]
    fn a_written_layout_reads_back_the_same() {
        let key = |fields: serde_json::Value| {
            let value = Value::from(fields);
            Key::read(value.as_object().unwrap())
        };
        let keys = [
            key(serde_json::json!({"label": "Esc", "matrix": [0, 0], "x": 0, "y": 0})),
            key(serde_json::json!({"matrix": [0, 1], "x": 1.25, "y": 0, "w": 2.25})),
            key(serde_json::json!({"matrix": [1, 0], "x": 0.5, "y": 1, "h": 2})),
            key(
                serde_json::json!({"label": "Thumb", "matrix": [3, 5], "x": 7.3, "y": 3.7, "r": 15, "rx": 6.5, "ry": 4.1}),
            ),
            key(serde_json::json!({"matrix": [3, 6], "x": 8.3, "y": 3.7, "r": 15, "rx": 6.5, "ry": 4.1})),
            key(serde_json::json!({"matrix": [2, 0], "x": 1, "y": 2.5, "r": -20})),
            key(serde_json::json!({"matrix": [2, 1], "x": 0, "y": 0.5})),
        ];
        let raw = from_layout("Test \"pad\"", &keys);
        assert!(raw.starts_with("{\"name\": \"Test \\\"pad\\\"\"},\n[\"0,0\\nEsc\", "), "{raw}");
        let as_json: serde_json::Value = serde_json::from_str(&format!("[{raw}]")).unwrap();
        assert_eq!(as_json.as_array().unwrap().len(), 6, "{raw}: the metadata and five rows");
        let back = parse(&raw).unwrap();
        assert_eq!(back.name, "Test \"pad\"");
        let info: serde_json::Value = serde_json::from_str(&to_info_json(&back)).unwrap();
        let written: Vec<serde_json::Value> =
            keys.iter().map(|k| serde_json::to_value(k.to_value()).unwrap()).collect();
        assert_eq!(info["layouts"]["LAYOUT"]["layout"].as_array().unwrap(), &written, "{raw}");
    }
}
