//! The 16-bit keycode space drawn as SVG, with its ranges to scale. Keyboards are
//! drawn by [`crate::picture`].

use std::fmt::Write;

use super::changelog::Range;
use crate::picture::escape;

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

#[cfg(test)]
mod tests {
    use super::*;

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
