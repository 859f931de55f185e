//! Combos drawn on a layer: the keys of each joined by lines to a small box that shows
//! what they send pressed together. The box sits amid the keys where that is a gap
//! (`J` and `K` side by side); where amid them is a key's legend (`J` and `L` over
//! `K`) or another combo's box, on the gap below the lowest of them, else above the
//! highest, so that it hides no legend. Lines end in a dot inside each key, short of
//! its middle.

use std::fmt::Write;

use super::fit::{self, Room, fit};
use super::{GAP, KEY, Place, Tenths, escape, text};

/// The box's legend sizes: largest, readable and smallest.
const SIZES: (f64, f64, f64) = (9.0, 8.0, 6.0);
/// Room between the box's edge and its legend.
const PADDING: f64 = 3.0;

/// A box drawn: its centre, width and height.
#[derive(Debug, Clone, Copy)]
pub struct Drawn {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

impl Drawn {
    fn overlaps(&self, other: &Drawn) -> bool {
        (self.x - other.x).abs() * 2.0 < self.width + other.width
            && (self.y - other.y).abs() * 2.0 < self.height + other.height
    }
}

/// Draws the combo with the tooltip `title` whose keys are at `joined`, among the
/// layout's keys at `all`: a line from the box to each key, and the box with `output`,
/// placed clear of the boxes `placed` so far on the layer, which it joins.
pub fn join(svg: &mut String, joined: &[Place], all: &[Place], output: &str, title: &str, placed: &mut Vec<Drawn>) {
    let (width, height) = size(output);
    let Some((x, y)) =
        anchor(joined, all, |x, y| placed.iter().any(|other| other.overlaps(&Drawn { x, y, width, height })))
    else {
        return;
    };
    placed.push(Drawn { x, y, width, height });
    let _ = write!(svg, r#"<g class="combo"><title>{}</title>"#, escape(title));
    for place in joined {
        let (to_x, to_y) = reach(place, x, y);
        let _ = write!(
            svg,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}"/><circle cx="{}" cy="{}" r="2"/>"#,
            Tenths(x),
            Tenths(y),
            Tenths(to_x),
            Tenths(to_y),
            Tenths(to_x),
            Tenths(to_y)
        );
    }
    label(svg, x, y, output);
    svg.push_str("</g>");
}

/// The room the box's legend has.
fn room() -> Room {
    let (largest, readable, smallest) = SIZES;
    let height = largest * fit::LINE_HEIGHT;
    Room { width: KEY - GAP - 2.0 * PADDING, height, largest, readable, smallest, max_lines: 1 }
}

/// The size of the box with `output`: as wide as its legend, a key at most.
fn size(output: &str) -> (f64, f64) {
    let fitted = fit(output, room());
    let natural = fit::ems(output) * fitted.size;
    let width = fitted.squeeze_to.map_or(natural, |most| natural.min(most)) + 2.0 * PADDING;
    (width, room().height + 2.0)
}

/// The box with `output`, centred on (`x`, `y`).
pub fn label(svg: &mut String, x: f64, y: f64, output: &str) {
    let (width, height) = size(output);
    let _ = write!(
        svg,
        r#"<rect class="combo" x="{}" y="{}" width="{}" height="{}" rx="3"/>"#,
        Tenths(x - width / 2.0),
        Tenths(y - height / 2.0),
        Tenths(width),
        Tenths(height)
    );
    text(svg, "combo", output, room(), x, y);
}

/// Where the box goes: amid the keys' centres, below the lowest of the keys, or above
/// the highest, amid them across, whichever comes first that is on no key's legend and
/// not `taken`; amid them when none is. `None` for no keys.
fn anchor(joined: &[Place], all: &[Place], taken: impl Fn(f64, f64) -> bool) -> Option<(f64, f64)> {
    if joined.is_empty() {
        return None;
    }
    let (sum_x, sum_y) = joined.iter().fold((0.0, 0.0), |(x, y), place| {
        let (left, top, width, height) = place.drawn();
        (x + left + width / 2.0, y + top + height / 2.0)
    });
    let (x, y) = (sum_x / joined.len() as f64, sum_y / joined.len() as f64);
    let rows = joined.iter().map(|place| place.drawn()).map(|(_, top, _, height)| (top, top + height));
    let (top, bottom) = rows.fold((f64::MAX, f64::MIN), |(top, bottom), (t, b)| (top.min(t), bottom.max(b)));
    let candidates = [y, bottom + GAP / 2.0, top - GAP / 2.0];
    let clear = candidates.into_iter().find(|&y| !all.iter().any(|place| on_legend(place, x, y)) && !taken(x, y));
    Some((x, clear.unwrap_or(y)))
}

/// Whether (`x`, `y`) is where the key at `place` has its legend: its middle half, each way.
fn on_legend(place: &Place, x: f64, y: f64) -> bool {
    let (left, top, width, height) = place.drawn();
    (left + width / 4.0..left + width * 0.75).contains(&x) && (top + height / 4.0..top + height * 0.75).contains(&y)
}

/// Where a line from (`x`, `y`) ends on the key at `place`: the nearest point of its
/// middle half, so that the line reaches into the key.
fn reach(place: &Place, x: f64, y: f64) -> (f64, f64) {
    let (left, top, width, height) = place.drawn();
    // Not `clamp`, which panics on a key narrower than the gap between keys.
    let between = |value: f64, low: f64, high: f64| value.max(low).min(high);
    (between(x, left + width / 4.0, left + width * 0.75), between(y, top + height / 4.0, top + height * 0.75))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(columns: &[f64], y: f64) -> Vec<Place> {
        columns.iter().map(|&x| Place { x, y, w: 1.0, h: 1.0 }).collect()
    }

    #[test]
    fn the_box_goes_between_neighbours_and_below_keys_with_a_legend_between_them() {
        let all = [row(&[0.0, 1.0, 2.0], 0.0), row(&[0.0, 1.0, 2.0], 1.0)].concat();
        let free = |_, _| false;
        // Side by side: in the gap between them, level with their middles.
        assert_eq!(anchor(&all[0..2], &all, free), Some((52.0, 25.0)));
        // One over the other: in the gap between the rows.
        assert_eq!(anchor(&[all[1], all[4]], &all, free), Some((79.0, 52.0)));
        // Over the key between them: below them instead.
        assert_eq!(anchor(&[all[0], all[2]], &all, free), Some((79.0, 52.0)));
        assert_eq!(anchor(&all[0..3], &all, free), Some((79.0, 52.0)), "three in a row: not on the middle one");
        let below_taken = |_, y: f64| y > 100.0;
        assert_eq!(anchor(&[all[3], all[5]], &all, below_taken), Some((79.0, 52.0)), "below taken: above them");
        assert_eq!(anchor(&[], &all, free), None);
    }

    #[test]
    fn a_box_keeps_clear_of_the_boxes_placed_before_it() {
        let all = [row(&[0.0, 1.0, 2.0], 0.0), row(&[0.0, 1.0, 2.0], 1.0)].concat();
        let mut placed = Vec::new();
        let mut svg = String::new();
        join(&mut svg, &[all[0], all[2]], &all, "Esc", "over", &mut placed);
        join(&mut svg, &[all[1], all[4]], &all, "Tab", "down", &mut placed);
        let centres: Vec<(f64, f64)> = placed.iter().map(|drawn| (drawn.x, drawn.y)).collect();
        assert_eq!(centres, [(79.0, 52.0), (79.0, 106.0)], "the second goes below its keys");
        assert!(!placed[0].overlaps(&placed[1]));
    }

    #[test]
    fn lines_end_inside_each_key_short_of_its_middle() {
        let key = Place { x: 1.0, y: 0.0, w: 1.0, h: 1.0 };
        assert_eq!(reach(&key, 52.0, 25.0), (66.5, 25.0));
        assert_eq!(reach(&key, 200.0, -10.0), (91.5, 12.5));
        // A key narrower than the gap between keys draws no panic.
        let sliver = Place { x: 0.0, y: 0.0, w: 0.01, h: 0.01 };
        let (x, y) = reach(&sliver, 10.0, 10.0);
        assert!(x.is_finite() && y.is_finite());
    }

    #[test]
    fn a_combo_is_drawn_as_lines_to_its_keys_and_a_box_with_its_escaped_output() {
        let all = row(&[0.0, 1.0, 2.0], 0.0);
        let mut svg = String::new();
        join(&mut svg, &all[0..2], &all, "<Esc>", "combo 0: KC_A + KC_B → KC_ESC", &mut Vec::new());
        let whole = format!(r#"<svg xmlns="http://www.w3.org/2000/svg">{svg}</svg>"#);
        let document = roxmltree::Document::parse(&whole).unwrap_or_else(|e| panic!("{e}: {svg}"));
        let count = |tag: &str| document.descendants().filter(|n| n.has_tag_name(tag)).count();
        assert_eq!((count("line"), count("circle"), count("rect")), (2, 2, 1), "{svg}");
        let text = document.descendants().find(|n| n.has_tag_name("text")).unwrap();
        assert_eq!((text.attribute("class"), text.text()), (Some("combo"), Some("<Esc>")));
        let rect = document.descendants().find(|n| n.has_tag_name("rect")).unwrap();
        let number = |name| rect.attribute(name).unwrap().parse::<f64>().unwrap();
        assert!((number("x") + number("width") / 2.0 - 52.0).abs() < 0.1, "centred between the keys: {svg}");
        assert!(number("width") < KEY, "{svg}");
    }
}
