//! Pictures as SVG. A keyboard is drawn key by key with [`key`]: the site's layout
//! drawings ([`layout`]) and keymap pictures ([`keymap`]) draw every key with it,
//! each key with a [`Face`] saying what it shows.

mod combo;
mod fit;
pub mod keymap;

use std::fmt::Write;

use crate::keyboard::{Key, Layout};
use crate::keymap::LabelLegends;
use fit::{Room, fit};

pub use keymap::{Picture, draw};

/// A drawing coordinate to one decimal, written through integers: the layouts of
/// all keyboards hold millions of them, and exact float formatting is slow.
pub struct Tenths(pub f64);

impl std::fmt::Display for Tenths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tenths = (self.0 * 10.0).round() as i64;
        let sign = if tenths < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{}", tenths.abs() / 10, tenths.abs() % 10)
    }
}

/// Escapes text for XML and HTML, as element text or an attribute value: every text a
/// picture writes (titles, legends, names, tooltips) goes through here. The characters
/// XML 1.0 does not allow at all (the C0 controls but tab, line feed and carriage return;
/// U+FFFE and U+FFFF), which no escape can write either, become U+FFFD, so that a
/// picture is well-formed XML whatever the keymap or the keyboard holds.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            '\t' | '\n' | '\r' => escaped.push(c),
            '\0'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => escaped.push(char::REPLACEMENT_CHARACTER),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Drawing units per key unit.
pub const KEY: f64 = 54.0;
/// Room between neighbouring keys.
const GAP: f64 = 4.0;
/// Room between a key's edge and its text.
const PADDING: f64 = 4.0;
/// Legend sizes, largest, readable and smallest: what a key is tapped for, what it is held for; its mark.
const TAP_SIZES: (f64, f64, f64) = (13.0, 10.0, 7.0);
const HOLD_SIZES: (f64, f64, f64) = (9.5, 8.5, 6.0);
/// A tap dance's other actions: small, as a key holds three of them below its tap legend.
const ACTION_SIZES: (f64, f64, f64) = (8.5, 8.0, 6.0);
const MARK_SIZE: f64 = 8.0;

/// Where a key is, in key units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Place {
    pub fn of(key: &Key) -> Place {
        Place { x: key.x(), y: key.y(), w: key.w(), h: key.h() }
    }

    /// The key's shape as drawn, in drawing units: left, top, width and height.
    fn drawn(&self) -> (f64, f64, f64, f64) {
        (self.x * KEY, self.y * KEY, self.w * KEY - GAP, self.h * KEY - GAP)
    }
}

/// What one key shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Face {
    /// The class of the key's group, for its colours (empty for none).
    pub class: String,
    /// The tooltip.
    pub title: String,
    /// The main legend, in the middle of the key.
    pub tap: String,
    /// A second legend in a band at the bottom: what the key does when held.
    pub hold: Option<String>,
    /// Small lines below the main legend, one each: a tap dance's other actions.
    pub actions: Vec<String>,
    /// A mark in the top right corner (a warning's number).
    pub mark: Option<String>,
}

/// The size of a layout drawn with [`KEY`] units, at least one key.
pub fn extent(layout: &Layout) -> (f64, f64) {
    let width = layout.keys.iter().map(|k| k.x() + k.w()).fold(1.0, f64::max) * KEY;
    let height = layout.keys.iter().map(|k| k.y() + k.h()).fold(1.0, f64::max) * KEY;
    (width, height)
}

/// Draws every key of `layout` with the face `face` gives it.
pub fn keys(svg: &mut String, layout: &Layout, face: impl Fn(usize, &Key) -> Face) {
    for (index, definition) in layout.keys.iter().enumerate() {
        key(svg, Place::of(definition), &face(index, definition));
    }
}

/// Draws one key: its shape, its legends fitted inside it, its tooltip.
pub fn key(svg: &mut String, place: Place, face: &Face) {
    let (x, y, w, h) = place.drawn();
    match face.class.as_str() {
        "" => svg.push_str("<g>"),
        class => {
            let _ = write!(svg, r#"<g class="{class}">"#);
        }
    }
    let _ = write!(
        svg,
        r#"<title>{}</title><rect class="key" x="{}" y="{}" width="{}" height="{}" rx="5"/>"#,
        escape(&face.title),
        Tenths(x),
        Tenths(y),
        Tenths(w),
        Tenths(h)
    );
    let inner = w - 2.0 * PADDING;
    let mut bottom = y + h - PADDING;
    if let Some(hold) = &face.hold {
        let band = (h * 0.34).clamp(14.0, 18.0);
        let top = y + h - band - 2.0;
        let _ = write!(
            svg,
            r#"<rect class="hold" x="{}" y="{}" width="{}" height="{}" rx="3"/>"#,
            Tenths(x + 2.0),
            Tenths(top),
            Tenths(w - 4.0),
            Tenths(band)
        );
        let (largest, readable, smallest) = HOLD_SIZES;
        let room = Room { width: inner, height: band - 2.0, largest, readable, smallest, max_lines: 1 };
        text(svg, "hold", hold, room, x + w / 2.0, top + band / 2.0);
        bottom = top - 1.0;
    }
    let mut top = y + PADDING;
    if let Some(mark) = &face.mark {
        let _ = write!(
            svg,
            r#"<text class="mark" x="{}" y="{}" font-size="{MARK_SIZE}" text-anchor="end">{}</text>"#,
            Tenths(x + w - 3.0),
            Tenths(y + MARK_SIZE + 1.0),
            escape(mark)
        );
        top += MARK_SIZE - 2.0;
    }
    if !face.actions.is_empty() {
        let (largest, readable, smallest) = ACTION_SIZES;
        let step = largest * fit::LINE_HEIGHT;
        bottom -= step * face.actions.len() as f64;
        let room = Room { width: inner, height: step, largest, readable, smallest, max_lines: 1 };
        for (index, action) in face.actions.iter().enumerate() {
            text(svg, "action", action, room, x + w / 2.0, bottom + step * (index as f64 + 0.5));
        }
    }
    if !face.tap.is_empty() {
        let (largest, readable, smallest) = TAP_SIZES;
        let room = Room { width: inner, height: bottom - top, largest, readable, smallest, max_lines: 3 };
        text(svg, "", &face.tap, room, x + w / 2.0, (top + bottom) / 2.0);
    }
    svg.push_str("</g>");
}

/// Writes `content` fitted into `room`, centred on (`middle`, `centre`): one line as
/// plain text, more as one `tspan` each.
fn text(svg: &mut String, class: &str, content: &str, room: Room, middle: f64, centre: f64) {
    let fitted = fit(content, room);
    let class = if class.is_empty() { String::new() } else { format!(r#" class="{class}""#) };
    let step = fitted.size * fit::LINE_HEIGHT;
    // A baseline sits about a third of the size below the middle of its line.
    let first = centre - step * (fitted.lines.len() - 1) as f64 / 2.0 + fitted.size * 0.35;
    let squeeze = |line: &str| match fitted.squeeze_to {
        Some(width) if fit::ems(line) * fitted.size > width => {
            format!(r#" textLength="{}" lengthAdjust="spacingAndGlyphs""#, Tenths(width))
        }
        _ => String::new(),
    };
    let size = Tenths(fitted.size);
    if let [line] = fitted.lines.as_slice() {
        let (x, y, squeeze) = (Tenths(middle), Tenths(first), squeeze(line));
        let _ = write!(svg, r#"<text{class} x="{x}" y="{y}" font-size="{size}"{squeeze}>{}</text>"#, escape(line));
        return;
    }
    let _ = write!(svg, r#"<text{class} font-size="{size}">"#);
    for (index, line) in fitted.lines.iter().enumerate() {
        let (x, y) = (Tenths(middle), Tenths(first + step * index as f64));
        let _ = write!(svg, r#"<tspan x="{x}" y="{y}"{}>{}</tspan>"#, squeeze(line), escape(line));
    }
    svg.push_str("</text>");
}

/// Room around a layout, so that the outline of its edge keys is drawn whole.
const MARGIN: f64 = 3.0;

/// A layout drawn for the site: each key with the legend its label stands for
/// (`legends`, else the label as written), its index, label and matrix position in a tooltip.
pub fn layout(name: &str, layout: &Layout, legends: Option<&LabelLegends>) -> String {
    let (width, height) = extent(layout);
    let mut svg = format!(
        r#"<svg class="layout" viewBox="{} {} {} {}" role="img" aria-label="{} with {} keys">"#,
        Tenths(-MARGIN),
        Tenths(-MARGIN),
        Tenths(width + 2.0 * MARGIN),
        Tenths(height + 2.0 * MARGIN),
        escape(name),
        layout.keys.len()
    );
    keys(&mut svg, layout, |index, key| {
        let label = key.label().unwrap_or_default();
        let matrix = key.matrix().map(|[r, c]| format!(", matrix {r},{c}")).unwrap_or_default();
        let shown = if label.is_empty() { "no label" } else { label };
        let tap = legends.map_or(label, |legends| legends.legend(label)).to_owned();
        Face { title: format!("key {index}: {shown}{matrix}"), tap, ..Face::default() }
    });
    svg + "</svg>"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Value;

    #[test]
    fn a_layout_has_one_shape_per_key_and_escapes_labels() {
        let key = |json| Key::read(Value::from(json).as_object().unwrap());
        let board = Layout::new(vec![
            key(serde_json::json!({"matrix": [0, 0], "x": 0, "y": 0, "label": "<Esc>"})),
            key(serde_json::json!({"matrix": [0, 1], "x": 1, "y": 0, "w": 2})),
        ]);
        let svg = layout("LAYOUT", &board, None);
        assert_eq!(svg.matches(r#"<rect class="key""#).count(), 2);
        assert!(svg.contains("&lt;Esc&gt;") && !svg.contains("<Esc>"));
        assert!(svg.contains(r#"viewBox="-3.0 -3.0 168.0 60.0""#), "a margin around the keys: {svg}");
        assert!(svg.contains("<title>key 1: no label, matrix 0,1</title>"), "{svg}");
    }

    #[test]
    fn text_xml_cannot_hold_is_replaced() {
        let escaped = escape("a\u{0}b\u{1b}[2J\u{7}\u{b}\u{c}\u{1f}\t\n\r\u{fffe}\u{ffff}\u{7f}\u{85}<&>");
        assert_eq!(
            escaped,
            "a\u{fffd}b\u{fffd}[2J\u{fffd}\u{fffd}\u{fffd}\u{fffd}\t\n\r\u{fffd}\u{fffd}\u{7f}\u{85}&lt;&amp;&gt;"
        );
        let document =
            format!(r#"<svg xmlns="http://www.w3.org/2000/svg" aria-label="{escaped}"><title>{escaped}</title></svg>"#);
        roxmltree::Document::parse(&document).unwrap();
    }

    #[test]
    fn coordinates_are_written_to_a_tenth() {
        let shown: Vec<String> = [0.0, 1.25, 53.96, -0.34, 1e6].iter().map(|v| Tenths(*v).to_string()).collect();
        assert_eq!(shown, ["0.0", "1.3", "54.0", "-0.3", "1000000.0"]);
    }

    #[test]
    fn a_held_key_has_a_band_below_its_tap_legend_and_long_legends_wrap() {
        let mut svg = String::new();
        let face = Face {
            class: "held".into(),
            title: "LCTL_T(KC_CAPS)".into(),
            tap: "Caps Lock".into(),
            hold: Some("Ctrl".into()),
            mark: Some("⚠1".into()),
            actions: Vec::new(),
        };
        key(&mut svg, Place { x: 0.0, y: 0.0, w: 1.0, h: 1.0 }, &face);
        let whole = format!(r#"<svg xmlns="http://www.w3.org/2000/svg">{svg}</svg>"#);
        let document = roxmltree::Document::parse(&whole).unwrap_or_else(|e| panic!("{e}: {svg}"));
        let texts: Vec<String> = document
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect::<Vec<_>>().join("|"))
            .collect();
        assert_eq!(texts, ["Ctrl", "⚠1", "Caps|Lock"], "{svg}");
        let hold = document.descendants().find(|n| n.attribute("class") == Some("hold")).unwrap();
        let caps = document.descendants().rfind(|n| n.has_tag_name("tspan")).unwrap();
        let attribute = |node: roxmltree::Node, name| node.attribute(name).unwrap().parse::<f64>().unwrap();
        assert!(attribute(caps, "y") < attribute(hold, "y"), "the tap legend is above the band: {svg}");
    }

    #[test]
    fn a_tap_dance_key_has_a_small_line_per_action_below_its_tap_legend() {
        let mut svg = String::new();
        let actions = vec!["hold Left Control".to_owned(), "2× Caps Lock".to_owned(), "tap+hold <A>".to_owned()];
        let face = Face { class: "dance".into(), tap: "Esc".into(), actions, ..Face::default() };
        key(&mut svg, Place { x: 0.0, y: 0.0, w: 1.0, h: 1.0 }, &face);
        let whole = format!(r#"<svg xmlns="http://www.w3.org/2000/svg">{svg}</svg>"#);
        let document = roxmltree::Document::parse(&whole).unwrap_or_else(|e| panic!("{e}: {svg}"));
        let texts: Vec<(Option<&str>, &str, f64, f64)> = document
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| {
                let number = |name| n.attribute(name).unwrap().parse::<f64>().unwrap();
                (n.attribute("class"), n.text().unwrap(), number("y"), number("font-size"))
            })
            .collect();
        let lines: Vec<(Option<&str>, &str)> = texts.iter().map(|(class, text, ..)| (*class, *text)).collect();
        assert_eq!(
            lines,
            [
                (Some("action"), "hold Left Control"),
                (Some("action"), "2× Caps Lock"),
                (Some("action"), "tap+hold <A>"),
                (None, "Esc")
            ]
        );
        let (esc, actions) = texts.split_last().unwrap();
        assert!(actions.windows(2).all(|pair| pair[0].2 < pair[1].2), "the lines go down in order: {svg}");
        assert!(esc.2 < actions[0].2 && esc.3 > actions[0].3, "the tap legend is above them, larger: {svg}");
        assert!(texts.iter().all(|(.., y, _)| *y <= 50.0), "every line is inside the key: {svg}");
    }
}
