//! Pictures as SVG: the 16-bit keycode space with its ranges to scale, and a
//! keyboard layout drawn from its keys' positions and sizes.

use std::fmt::Write;

use super::changelog::Range;
use crate::keyboard::Layout;

/// A drawing coordinate to one decimal, written through integers: the layouts of
/// all keyboards hold millions of them, and exact float formatting is slow.
struct Tenths(f64);

impl std::fmt::Display for Tenths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tenths = (self.0 * 10.0).round() as i64;
        let sign = if tenths < 0 { "-" } else { "" };
        write!(f, "{sign}{}.{}", tenths.abs() / 10, tenths.abs() % 10)
    }
}

/// Escapes text for XML and HTML.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Width of the keycode space in drawing units: 64 keycodes a unit.
const SPACE_WIDTH: f64 = 1024.0;
const ROW: f64 = 34.0;

/// The keycode space 0x0000–0xFFFF with each range drawn to scale; ranges nested in
/// another get a second row. Each range names itself in a tooltip and, where it fits, a label.
pub fn ranges(ranges: &[Range]) -> String {
    let nested = |r: &Range| ranges.iter().any(|o| o != r && o.first <= r.first && r.last <= o.last);
    let rows = if ranges.iter().any(nested) { 2.0 } else { 1.0 };
    let height = rows * ROW + 18.0;
    let mut svg = format!(
        r#"<svg class="space" viewBox="0 0 {SPACE_WIDTH} {height}" role="img" aria-label="The 16-bit keycode space and its {} ranges, drawn to scale">"#,
        ranges.len()
    );
    svg.push_str(&format!(r#"<rect class="free" x="0" y="0" width="{SPACE_WIDTH}" height="{}"/>"#, rows * ROW));
    for (index, range) in ranges.iter().enumerate() {
        let x = f64::from(range.first) / 64.0;
        let width = ((f64::from(range.last) - f64::from(range.first) + 1.0) / 64.0).max(0.75);
        let y = if nested(range) { ROW } else { 0.0 };
        let _ = write!(
            svg,
            r#"<g class="range r{}"><title>{} 0x{:04X}–0x{:04X}</title><rect x="{x:.2}" y="{y}" width="{width:.2}" height="{}"/>"#,
            index % 6,
            escape(&range.define),
            range.first,
            range.last,
            ROW - 2.0
        );
        let label = range.define.trim_start_matches("QK_");
        if width > label.len() as f64 * 6.5 {
            let (middle, baseline) = (x + width / 2.0, y + ROW / 2.0 + 4.0);
            let _ =
                write!(svg, r#"<text x="{middle:.2}" y="{baseline}" text-anchor="middle">{}</text>"#, escape(label));
        }
        svg.push_str("</g>");
    }
    for (tick, text) in [(0.0, "0x0000"), (SPACE_WIDTH / 2.0, "0x8000"), (SPACE_WIDTH, "0xFFFF")] {
        let anchor = if tick == 0.0 {
            "start"
        } else if tick == SPACE_WIDTH {
            "end"
        } else {
            "middle"
        };
        let _ =
            write!(svg, r#"<text class="tick" x="{tick}" y="{}" text-anchor="{anchor}">{text}</text>"#, height - 4.0);
    }
    svg + "</svg>"
}

/// Drawing units per key unit.
const KEY: f64 = 54.0;
const GAP: f64 = 4.0;

/// A glyph's width as a share of the font size, for the sans-serif labels (a
/// generous average, so that estimates err on the side of fitting).
const GLYPH_WIDTH: f64 = 0.62;
const LABEL_SIZE: f64 = 13.0;
const SMALLEST_LABEL: f64 = 7.0;
/// Room kept between a label and its key's edges.
const LABEL_MARGIN: f64 = 6.0;

/// The font size that fits `label` into a key `width` wide, and, when even the
/// smallest size would not fit, the width to squeeze the text to.
fn label_fit(label: &str, width: f64) -> (f64, Option<f64>) {
    let room = (width - LABEL_MARGIN).max(1.0);
    let glyphs = label.chars().count().max(1) as f64;
    let size = (room / (glyphs * GLYPH_WIDTH)).min(LABEL_SIZE);
    if size >= SMALLEST_LABEL { (size, None) } else { (SMALLEST_LABEL, Some(room)) }
}

/// A layout drawn from its keys: one rectangle per key, with its label.
pub fn layout(name: &str, layout: &Layout) -> String {
    let width = layout.keys.iter().map(|k| k.x() + k.w()).fold(1.0, f64::max) * KEY;
    let height = layout.keys.iter().map(|k| k.y() + k.h()).fold(1.0, f64::max) * KEY;
    let mut svg = format!(
        r#"<svg class="layout" viewBox="0 0 {} {}" role="img" aria-label="{} with {} keys">"#,
        Tenths(width),
        Tenths(height),
        escape(name),
        layout.keys.len()
    );
    for (index, key) in layout.keys.iter().enumerate() {
        let (x, y) = (key.x() * KEY, key.y() * KEY);
        let (w, h) = (key.w() * KEY - GAP, key.h() * KEY - GAP);
        let label = key.label().unwrap_or_default();
        let matrix = key.matrix().map(|[r, c]| format!(", matrix {r},{c}")).unwrap_or_default();
        let _ = write!(
            svg,
            r#"<g><title>key {index}: {}{matrix}</title><rect class="key" x="{}" y="{}" width="{}" height="{}" rx="5"/>"#,
            escape(if label.is_empty() { "no label" } else { label }),
            Tenths(x),
            Tenths(y),
            Tenths(w),
            Tenths(h)
        );
        if !label.is_empty() {
            let (size, squeeze) = label_fit(label, w);
            let squeeze =
                squeeze.map(|width| format!(r#" textLength="{}" lengthAdjust="spacingAndGlyphs""#, Tenths(width)));
            let _ = write!(
                svg,
                r#"<text x="{}" y="{}" font-size="{}"{}>{}</text>"#,
                Tenths(x + w / 2.0),
                Tenths(y + h / 2.0 + 4.0),
                Tenths(size),
                squeeze.unwrap_or_default(),
                escape(label)
            );
        }
        svg.push_str("</g>");
    }
    svg + "</svg>"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyboard::Key;
    use crate::spec::Value;

    #[test]
    fn labels_fit_their_keys() {
        let one_unit = KEY - GAP;
        for label in ["A", "Esc", "Backspace", "ISOBACKSLASH", "JPBACKSLASH", "A very long label indeed"] {
            let (size, squeeze) = label_fit(label, one_unit);
            let drawn = squeeze.unwrap_or(label.chars().count() as f64 * GLYPH_WIDTH * size);
            assert!(drawn <= one_unit - LABEL_MARGIN + 0.01, "{label}: {drawn} wide in a {one_unit} key");
            assert!((SMALLEST_LABEL..=LABEL_SIZE).contains(&size));
        }
        assert_eq!(label_fit("A", one_unit), (LABEL_SIZE, None), "short labels keep the full size");
    }

    #[test]
    fn a_layout_has_one_shape_per_key_and_escapes_labels() {
        let key = |json| Key::read(Value::from(json).as_object().unwrap());
        let board = Layout::new(vec![
            key(serde_json::json!({"matrix": [0, 0], "x": 0, "y": 0, "label": "<Esc>"})),
            key(serde_json::json!({"matrix": [0, 1], "x": 1, "y": 0, "w": 2})),
        ]);
        let svg = layout("LAYOUT", &board);
        assert_eq!(svg.matches(r#"<rect class="key""#).count(), 2);
        assert!(svg.contains("&lt;Esc&gt;") && !svg.contains("<Esc>"));
        assert!(svg.contains(r#"viewBox="0 0 162.0 54.0""#), "{svg}");
    }

    #[test]
    fn coordinates_are_written_to_a_tenth() {
        let shown: Vec<String> = [0.0, 1.25, 53.96, -0.34, 1e6].iter().map(|v| Tenths(*v).to_string()).collect();
        assert_eq!(shown, ["0.0", "1.3", "54.0", "-0.3", "1000000.0"]);
    }

    #[test]
    fn ranges_are_drawn_to_scale() {
        let range = |define: &str, first, last| Range { key: String::new(), define: define.into(), first, last };
        let svg =
            ranges(&[range("QK_BASIC", 0, 0xFF), range("QK_UNICODE", 0x8000, 0xFFFF), range("QK_MAP", 0x8000, 0xBFFF)]);
        assert!(svg.contains(r#"x="512.00" y="0" width="512.00""#), "{svg}");
        assert!(svg.contains(r#"x="512.00" y="34" width="256.00""#), "nested ranges go on a second row: {svg}");
        assert!(svg.contains("<title>QK_BASIC 0x0000–0x00FF</title>"));
    }
}
