//! A keymap's picture, made to be printed and pinned above the desk: every layer
//! drawn on its keyboard's layout, one below another, each titled with its name and
//! the keys that reach it; each key labelled with its legend, what it does when held
//! in a band below, a tap dance with a small line per action, transparent and
//! disabled keys set apart, and keys C silently changes marked with a number that the
//! notes under the layer explain. Each combo joins its keys on the layers that have
//! them all to a box with what they send. Lists of the key overrides, and of combos
//! no layer can fire, follow the layers; a key to the marks closes it. Colours are
//! light tints that print well, also in grey.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::combo;
use super::fit::{ems, wrap};
use super::{Face, GAP, KEY, Place, Tenths, escape, extent, key, keys};
use crate::keymap::{self, ComboLegend, Context, KeyLegend, Keymap, Kind, Legends, Report, Source};

/// The picture's own style, so that the file looks the same wherever it is opened;
/// scoped to `svg.keymap`, so that it styles nothing else when the SVG is inlined in a page.
const STYLE: &str = "svg.keymap{font-family:Verdana,'DejaVu Sans',sans-serif}\
svg.keymap .paper{fill:#fff}\
svg.keymap text{fill:#1f2328;text-anchor:middle}\
svg.keymap text.left{text-anchor:start}\
svg.keymap text.title{font-weight:bold}\
svg.keymap text.note{fill:#57606a}\
svg.keymap text.warning{fill:#a3420b}\
svg.keymap rect.key{fill:#fff;stroke:#57606a;stroke-width:1.2}\
svg.keymap rect.hold{fill:#e4ecf7}\
svg.keymap text.hold{fill:#1f4e8c}\
svg.keymap .layer rect.key{fill:#e4ecf7;stroke:#1f4e8c}\
svg.keymap .layer text{fill:#1f4e8c;font-weight:bold}\
svg.keymap .custom rect.key{fill:#f1ebf9}\
svg.keymap .dance rect.key{fill:#fff8e6;stroke:#9a6700}\
svg.keymap text.action{fill:#7d4e00}\
svg.keymap .combo line{stroke:#1a7f37;stroke-width:1.5}\
svg.keymap .combo circle{fill:#1a7f37}\
svg.keymap rect.combo{fill:#dafbe1;stroke:#1a7f37}\
svg.keymap text.combo{fill:#116329;font-weight:bold}\
svg.keymap .trans rect.key{stroke:#9aa4ae;stroke-dasharray:4 3}\
svg.keymap .trans text{fill:#8c959f}\
svg.keymap .none rect.key{fill:#eceff2;stroke:#afb8c1}\
svg.keymap .none text{fill:#8c959f}\
svg.keymap .warn rect.key{stroke:#a3420b;stroke-width:2.2}\
svg.keymap text.mark{fill:#a3420b;text-anchor:end;font-weight:bold}";

const MARGIN: f64 = 20.0;
const TITLE_SIZE: f64 = 20.0;
const HEADING_SIZE: f64 = 16.0;
const LIST_HEADING_SIZE: f64 = 13.0;
const NOTE_SIZE: f64 = 11.0;
/// The note of the keys that reach a layer, and the step between its lines.
const REACHED_SIZE: f64 = 12.0;
const REACHED_LINE: f64 = 16.0;
/// Narrower pictures would not hold the key to the marks.
const LEAST_WIDTH: f64 = 560.0;

/// What transparent and disabled keys show.
const TRANSPARENT: &str = "▽";
const NO_KEY: &str = "✕";
const WARNING: &str = "⚠";

/// Reads and checks a keymap's text, and draws it when it is valid: the picture,
/// and the report with the diagnostics either way.
pub fn draw(source: &Source, implied_keyboard: Option<&str>, context: Context) -> (Option<String>, Report) {
    let (keymap, report) = keymap::check(source, implied_keyboard, context);
    let legends = keymap.as_ref().and_then(|keymap| keymap::legends(keymap, &report, context).map(|l| (keymap, l)));
    let svg = legends.map(|(keymap, legends)| Picture::new(keymap, &legends, context).svg());
    (svg, report)
}

/// A keymap laid out for drawing.
pub struct Picture<'a> {
    keymap: &'a Keymap,
    legends: &'a Legends<'a>,
    version: String,
    /// The warned-of keycodes, numbered in order of appearance.
    notes: BTreeMap<&'a str, usize>,
    width: f64,
}

impl<'a> Picture<'a> {
    pub fn new(keymap: &'a Keymap, legends: &'a Legends<'a>, context: Context) -> Picture<'a> {
        let mut notes = BTreeMap::new();
        for key in legends.layers.iter().flatten().filter(|k| !k.warnings.is_empty()) {
            let next = notes.len() + 1;
            notes.entry(key.keycode.as_str()).or_insert(next);
        }
        // As wide as the layout, and as the headings of named layers.
        let headings = (0..legends.layers.len()).map(|index| ems(&heading(keymap, index)) * HEADING_SIZE);
        let widest = headings.fold(extent(legends.layout).0, f64::max);
        let width = (widest + 2.0 * MARGIN).max(LEAST_WIDTH);
        Picture { keymap, legends, version: context.keycodes.version.to_string(), notes, width }
    }

    /// The whole picture.
    pub fn svg(&self) -> String {
        let legends = self.legends;
        let mut body = String::with_capacity(64 * 1024);
        let name = self.keymap.keymap.as_deref().unwrap_or("keymap");
        let title = format!("{} · {name}", legends.keyboard);
        let mut facts = vec![legends.layout_name.to_owned(), count(legends.layers.len(), "layer")];
        facts.extend(self.keymap.host_language.as_ref().map(|l| format!("host language {l}")));
        facts.push(format!("keycodes {}", self.version));
        let mut y = MARGIN + TITLE_SIZE;
        self.line(&mut body, "title", TITLE_SIZE, MARGIN, y, &title);
        y += 20.0;
        self.line(&mut body, "note", 12.0, MARGIN, y, &facts.join(" · "));
        y += 18.0;
        for (index, layer) in legends.layers.iter().enumerate() {
            y = self.layer(&mut body, index, layer, y + 28.0);
        }
        y = self.lists(&mut body, y);
        y = self.marks(&mut body, y + 24.0);
        let height = y + MARGIN;
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="keymap" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{label}"><title>{label}</title><style>{STYLE}</style><rect class="paper" width="100%" height="100%"/>{body}</svg>"#,
            w = Tenths(self.width),
            h = Tenths(height),
            label = escape(&format!("{title}: {} on {}", count(legends.layers.len(), "layer"), legends.layout_name)),
        )
    }

    /// One line of text from the left.
    fn line(&self, svg: &mut String, class: &str, size: f64, x: f64, y: f64, text: &str) {
        let _ = write!(
            svg,
            r#"<text class="left {class}" x="{}" y="{}" font-size="{size}">{}</text>"#,
            Tenths(x),
            Tenths(y),
            escape(text)
        );
    }

    /// One layer: its heading, its keys, its combos and the notes for its marked keys; returns where it ends.
    fn layer(&self, svg: &mut String, index: usize, layer: &[KeyLegend], top: f64) -> f64 {
        let _ = write!(svg, r#"<g class="layer-{index}">"#);
        let keys_top = self.heading(svg, index, top) + 10.0;
        let _ = write!(svg, r#"<g transform="translate({} {})">"#, Tenths(MARGIN), Tenths(keys_top));
        keys(svg, self.legends.layout, |position, definition| {
            let label = definition.label().map(|l| format!(" ({l})")).unwrap_or_default();
            self.face(&layer[position], &format!("layer {index}, key {position}{label}"))
        });
        svg.push_str("</g>");
        self.combos(svg, index, keys_top);
        let mut y = keys_top + extent(self.legends.layout).1;
        let mut noted = Vec::new();
        for (position, key) in layer.iter().enumerate().filter(|(_, k)| !k.warnings.is_empty()) {
            let number = self.notes[key.keycode.as_str()];
            if noted.contains(&number) {
                continue;
            }
            noted.push(number);
            let label = self.legends.layout.keys[position].label().map(|l| format!(" ({l})")).unwrap_or_default();
            let text = format!("{WARNING}{number} key {position}{label}: {}", key.warnings.join("; "));
            for line in wrap(&text, self.width - 2.0 * MARGIN, NOTE_SIZE) {
                y += NOTE_SIZE * 1.35;
                self.line(svg, "warning", NOTE_SIZE, MARGIN, y, &line);
            }
        }
        svg.push_str("</g>");
        y
    }

    /// The heading of layer `index` at `top`, and the keys that reach it: beside it,
    /// in lines as wide as the room there, or below it when the room is narrow;
    /// returns where the last line is.
    fn heading(&self, svg: &mut String, index: usize, top: f64) -> f64 {
        let heading = heading(self.keymap, index);
        self.line(svg, "title", HEADING_SIZE, MARGIN, top, &heading);
        let beside = MARGIN + ems(&heading) * HEADING_SIZE + 12.0;
        let (left, first) =
            if self.width - MARGIN - beside >= self.width / 3.0 { (beside, top) } else { (MARGIN, top + REACHED_LINE) };
        let lines = wrap(&self.reached(index), self.width - MARGIN - left, REACHED_SIZE);
        for (number, line) in lines.iter().enumerate() {
            self.line(svg, "note", REACHED_SIZE, left, first + REACHED_LINE * number as f64, line);
        }
        first + REACHED_LINE * (lines.len() - 1) as f64
    }

    /// The combos whose keys are all on layer `index`, joined on its keys drawn from `keys_top`.
    fn combos(&self, svg: &mut String, index: usize, keys_top: f64) {
        let on_layer: Vec<(&ComboLegend, &Vec<usize>)> =
            self.legends.combos.iter().filter_map(|c| Some((c, c.positions.get(index)?.as_ref()?))).collect();
        if on_layer.is_empty() {
            return;
        }
        let all: Vec<Place> = self.legends.layout.keys.iter().map(Place::of).collect();
        let mut placed = Vec::new();
        let _ = write!(svg, r#"<g class="combos" transform="translate({} {})">"#, Tenths(MARGIN), Tenths(keys_top));
        for (legend, positions) in on_layer {
            let joined: Vec<Place> = positions.iter().filter_map(|p| all.get(*p).copied()).collect();
            combo::join(svg, &joined, &all, &legend.output, &combo_title(legend), &mut placed);
        }
        svg.push_str("</g>");
    }

    /// Which keys of the other layers switch to layer `index`.
    fn reached(&self, index: usize) -> String {
        let mut by_keycode: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (from, layer) in self.legends.layers.iter().enumerate().filter(|(from, _)| *from != index) {
            for key in layer.iter().filter(|k| k.legend.layer.map(usize::from) == Some(index)) {
                let layers = by_keycode.entry(&key.keycode).or_default();
                if !layers.contains(&from) {
                    layers.push(from);
                }
            }
        }
        let ways: Vec<String> = by_keycode
            .iter()
            .map(|(keycode, from)| {
                let from: Vec<String> = from
                    .iter()
                    .map(|layer| match layer_name(self.keymap, *layer) {
                        Some(name) => format!("{layer} ({name})"),
                        None => layer.to_string(),
                    })
                    .collect();
                let layers = if from.len() == 1 { "layer" } else { "layers" };
                format!("{keycode} on {layers} {}", from.join(", "))
            })
            .collect();
        match (index, ways.is_empty()) {
            (0, true) => "the base layer".into(),
            (0, false) => format!("the base layer; also {}", ways.join("; ")),
            (_, true) => "no key switches to it".into(),
            (_, false) => format!("reached with {}", ways.join("; ")),
        }
    }

    /// What a key shows: its legend by kind, the hold band, the mark of its note.
    fn face(&self, key: &KeyLegend, position: &str) -> Face {
        let legend = &key.legend;
        let (class, tap) = match legend.kind {
            Kind::Transparent => ("trans", TRANSPARENT.to_owned()),
            Kind::NoKey => ("none", NO_KEY.to_owned()),
            Kind::Layer => ("layer", legend.tap.clone()),
            Kind::Custom => ("custom", legend.tap.clone()),
            Kind::Dance => ("dance", legend.tap.clone()),
            Kind::Key if legend.hold.is_some() => ("held", legend.tap.clone()),
            Kind::Key => ("", legend.tap.clone()),
        };
        let number = self.notes.get(key.keycode.as_str());
        let class = match number {
            Some(_) => format!("{class} warn").trim_start().to_owned(),
            None => class.to_owned(),
        };
        let mut title = format!("{position}: {}", key.keycode);
        if legend.kind != Kind::Key || legend.hold.is_some() {
            let held = legend.hold.as_ref().map(|h| format!("held: {h}"));
            let shown: Vec<&str> = std::iter::once(&legend.tap)
                .chain(&held)
                .chain(&legend.actions)
                .map(String::as_str)
                .filter(|s| !s.is_empty())
                .collect();
            let _ = write!(title, " ({})", shown.join(", "));
        }
        for warning in &key.warnings {
            let _ = write!(title, "\n{WARNING} {warning}");
        }
        Face {
            class,
            title,
            tap,
            hold: legend.hold.clone(),
            actions: legend.actions.clone(),
            mark: number.map(|n| format!("{WARNING}{n}")),
        }
    }

    /// The lists that follow the layers: the key overrides, and the combos whose keys
    /// no one layer has, which are drawn on none; returns where they end.
    fn lists(&self, svg: &mut String, top: f64) -> f64 {
        let unjoined: Vec<String> = self
            .legends
            .combos
            .iter()
            .filter(|combo| combo.positions.iter().all(Option::is_none))
            .map(|combo| format!("{} → {}", combo.keys.join(" + "), combo.output))
            .collect();
        let lists = [
            ("Key overrides", &self.legends.overrides),
            ("Combos no layer has all the keys of: they never fire", &unjoined),
        ];
        let mut y = top;
        for (heading, lines) in lists.into_iter().filter(|(_, lines)| !lines.is_empty()) {
            y += 24.0;
            self.line(svg, "title", LIST_HEADING_SIZE, MARGIN, y, heading);
            for line in lines.iter().flat_map(|line| wrap(line, self.width - 2.0 * MARGIN, NOTE_SIZE)) {
                y += NOTE_SIZE * 1.35;
                self.line(svg, "note", NOTE_SIZE, MARGIN, y, &line);
            }
        }
        y
    }

    /// A key to the marks the picture uses, with one sample key each; returns where it ends.
    fn marks(&self, svg: &mut String, top: f64) -> f64 {
        let all = self.legends.layers.iter().flatten();
        let has = |kind: Kind| all.clone().any(|k| k.legend.kind == kind);
        let sample = |class: &str, tap: &str, hold: Option<&str>, mark: Option<&str>| {
            Sample::Key(Face {
                class: class.to_owned(),
                title: String::new(),
                tap: tap.to_owned(),
                hold: hold.map(str::to_owned),
                actions: Vec::new(),
                mark: mark.map(str::to_owned),
            })
        };
        let dance = Face {
            class: "dance".to_owned(),
            tap: "tap".to_owned(),
            actions: ["hold …", "2× …", "tap+hold …"].map(str::to_owned).to_vec(),
            ..Face::default()
        };
        let joined = self.legends.combos.iter().any(|c| c.positions.iter().any(Option::is_some));
        let samples = [
            (
                all.clone().any(|k| k.legend.hold.is_some()),
                sample("held", "tap", Some("hold"), None),
                "tapped, and held",
            ),
            (has(Kind::Layer), sample("layer", "L1", None, None), "a layer key: L1 is layer 1 while held"),
            (has(Kind::Dance), Sample::Key(dance), "a tap dance: tapped, held, tapped twice (2×), tapped then held"),
            (joined, Sample::Combo, "a combo: the keys it joins, pressed together, send what it shows"),
            (has(Kind::Transparent), sample("trans", TRANSPARENT, None, None), "transparent: the key below acts"),
            (has(Kind::NoKey), sample("none", NO_KEY, None, None), "no key: does nothing"),
            (
                !self.notes.is_empty(),
                sample("warn", "", None, Some(&format!("{WARNING}1"))),
                "C changes this key: see note 1 under its layer",
            ),
        ];
        let shown: Vec<_> = samples.into_iter().filter(|(present, ..)| *present).collect();
        if shown.is_empty() {
            return top;
        }
        let scale = 0.8;
        let _ = write!(svg, r#"<g class="marks">"#);
        let (mut x, mut y) = (MARGIN, top);
        for (_, sample, caption) in shown {
            let width = KEY * scale + 6.0 + ems(caption) * NOTE_SIZE + 24.0;
            if x > MARGIN && x + width > self.width - MARGIN {
                (x, y) = (MARGIN, y + KEY * scale + 8.0);
            }
            let _ = write!(svg, r#"<g transform="translate({} {}) scale({scale})">"#, Tenths(x), Tenths(y));
            match sample {
                Sample::Key(face) => key(svg, Place { x: 0.0, y: 0.0, w: 1.0, h: 1.0 }, &face),
                Sample::Combo => combo::label(svg, (KEY - GAP) / 2.0, (KEY - GAP) / 2.0, "sent"),
            }
            svg.push_str("</g>");
            let middle = y + (KEY - 4.0) * scale / 2.0 + NOTE_SIZE * 0.35;
            self.line(svg, "note", NOTE_SIZE, x + KEY * scale + 6.0, middle, caption);
            x += width;
        }
        svg.push_str("</g>");
        y + KEY * scale
    }
}

/// The name `layer_names` gives layer `index`, if any.
fn layer_name(keymap: &Keymap, index: usize) -> Option<&str> {
    keymap.extensions.layer_names.get(index).map(String::as_str).filter(|name| !name.is_empty())
}

/// A layer's heading: `Layer 1: NAV`, `Layer 2`.
fn heading(keymap: &Keymap, index: usize) -> String {
    match layer_name(keymap, index) {
        Some(name) => format!("Layer {index}: {name}"),
        None => format!("Layer {index}"),
    }
}

/// A sample in the key to the marks: a key, or a combo's box.
enum Sample {
    Key(Face),
    Combo,
}

/// A combo's tooltip: the combo as written, and its term.
fn combo_title(legend: &ComboLegend) -> String {
    let combo = &legend.combo;
    let term = combo.term.map(|term| format!(", within {term} ms")).unwrap_or_default();
    format!("combo {}: {} → {}{term}", combo.index, combo.keys.join(" + "), combo.output)
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
