//! Fitting text into a box without a font at hand: widths are estimated per
//! character class for wide sans-serif faces (Verdana, DejaVu Sans), erring wide,
//! and text too long for one line is broken at spaces, or after `+`, `/` and `_`.
//! Rather than shrink below a readable size, text is squeezed (SVG's `textLength`),
//! which also holds it to its width in whatever face the viewer has.

/// How tall a line is, as a share of the font size.
pub const LINE_HEIGHT: f64 = 1.15;

/// How far text may be squeezed before it is made smaller instead.
const MOST_SQUEEZE: f64 = 0.72;

/// Break opportunities beyond this many pieces are not searched: such text keeps one line.
const MOST_PIECES: usize = 10;

/// Text laid out to fit a box.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub lines: Vec<String>,
    pub size: f64,
    /// Set when the text is squeezed: lines wider than this are squeezed to it.
    pub squeeze_to: Option<f64>,
}

/// What text must fit into, and the sizes it may take.
#[derive(Debug, Clone, Copy)]
pub struct Room {
    pub width: f64,
    pub height: f64,
    pub largest: f64,
    /// Text that fits only smaller than this is squeezed instead, as far as [`MOST_SQUEEZE`].
    pub readable: f64,
    /// Text is never smaller: what does not fit then is squeezed as far as it takes.
    pub smallest: f64,
    pub max_lines: usize,
}

/// The width of `text` in ems.
pub fn ems(text: &str) -> f64 {
    text.chars().map(char_ems).sum()
}

fn char_ems(c: char) -> f64 {
    match c {
        'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '!' | '|' | '\'' | '`' | ' ' => 0.36,
        'f' | 't' | 'r' | 'I' | '(' | ')' | '[' | ']' | '{' | '}' | '-' | '/' | '\\' => 0.48,
        'm' | 'w' | 'M' | 'W' | '@' | '%' => 0.95,
        'a'..='z' => 0.62,
        'A'..='Z' | '0'..='9' => 0.74,
        c if c.is_ascii() => 0.72,
        // Symbols, arrows, and wide scripts (CJK) alike.
        _ => 1.0,
    }
}

/// The largest size at which `text` fits `room`, on as few lines as that allows.
pub fn fit(text: &str, room: Room) -> Fitted {
    let one_line = ems(text);
    let size_for = |widest: f64, lines: usize| {
        let by_width = room.width / widest.max(0.01);
        let by_height = room.height / (lines as f64 * LINE_HEIGHT);
        by_width.min(by_height).min(room.largest)
    };
    let mut best = (size_for(one_line, 1), vec![text.to_owned()]);
    if best.0 < room.largest {
        let pieces = pieces(text);
        if pieces.len() <= MOST_PIECES {
            for count in 2..=room.max_lines.min(pieces.len()) {
                let lines = balanced(&pieces, count);
                let widest = lines.iter().map(|l| ems(l)).fold(0.0, f64::max);
                let size = size_for(widest, count);
                if size > best.0 {
                    best = (size, lines);
                }
            }
        }
    }
    let (size, lines) = best;
    if size >= room.readable {
        return Fitted { lines, size, squeeze_to: None };
    }
    // Only width can be won by squeezing: the lines must still fit the height.
    let by_height = room.height / (lines.len() as f64 * LINE_HEIGHT);
    let size = (size / MOST_SQUEEZE).min(room.readable).min(by_height).max(room.smallest);
    Fitted { lines, size, squeeze_to: Some(room.width) }
}

/// `text` in lines at most `width` wide at `size`, broken at spaces as a paragraph is;
/// a word wider than a line gets a line of its own.
pub fn wrap(text: &str, width: f64, size: f64) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && ems(&line) + ems(word) + char_ems(' ') > width / size {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// Text cut where a line may break: after a space (which a line end drops), a `+`, a `/` or a `_`.
fn pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    for (at, c) in text.char_indices() {
        if matches!(c, ' ' | '+' | '/' | '_') && at + 1 < text.len() {
            pieces.push(&text[start..at + 1]);
            start = at + 1;
        }
    }
    pieces.push(&text[start..]);
    pieces.retain(|p| !p.trim().is_empty());
    pieces
}

/// `pieces` on `count` lines, the widest line as narrow as can be.
fn balanced(pieces: &[&str], count: usize) -> Vec<String> {
    // A line's width is its pieces' widths, less a space it ends with.
    let widths: Vec<f64> = pieces.iter().map(|p| ems(p)).collect();
    let width = |from: usize, to: usize| {
        let trailing = if pieces[to - 1].ends_with(' ') { char_ems(' ') } else { 0.0 };
        widths[from..to].iter().sum::<f64>() - trailing
    };
    let bounds = |breaks: &[usize]| -> Vec<usize> {
        std::iter::once(0).chain(breaks.iter().copied()).chain([pieces.len()]).collect()
    };
    let mut best: Option<(f64, Vec<usize>)> = None;
    let mut breaks: Vec<usize> = (1..count).collect();
    loop {
        let widest = bounds(&breaks).windows(2).map(|w| width(w[0], w[1])).fold(0.0, f64::max);
        if best.as_ref().is_none_or(|(narrowest, _)| widest < *narrowest) {
            best = Some((widest, breaks.clone()));
        }
        if !next_combination(&mut breaks, pieces.len()) {
            break;
        }
    }
    let breaks = best.map(|(_, breaks)| breaks).unwrap_or_default();
    bounds(&breaks).windows(2).map(|w| pieces[w[0]..w[1]].concat().trim_end().to_owned()).collect()
}

/// The next increasing choice of break positions in `1..end`, in lexical order.
fn next_combination(breaks: &mut [usize], end: usize) -> bool {
    let count = breaks.len();
    for i in (0..count).rev() {
        if breaks[i] < end - (count - i) {
            breaks[i] += 1;
            for j in i + 1..count {
                breaks[j] = breaks[j - 1] + 1;
            }
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: Room = Room { width: 42.0, height: 42.0, largest: 13.0, readable: 10.0, smallest: 7.0, max_lines: 3 };

    #[test]
    fn short_text_keeps_one_line_at_full_size() {
        assert_eq!(fit("Esc", KEY), Fitted { lines: vec!["Esc".into()], size: 13.0, squeeze_to: None });
    }

    #[test]
    fn long_text_breaks_into_balanced_lines_that_fit() {
        for (text, lines) in [
            ("Left Control", vec!["Left", "Control"]),
            ("Ctrl+Shift+Esc", vec!["Ctrl+", "Shift+", "Esc"]),
            ("RGB Underglow Saturation Down", vec!["RGB Underglow", "Saturation", "Down"]),
            ("Play/Pause", vec!["Play/", "Pause"]),
            ("MY_MACRO", vec!["MY_", "MACRO"]),
        ] {
            let fitted = fit(text, KEY);
            assert_eq!(fitted.lines, lines, "{text}");
            // Squeezed lines are drawn at most as wide as the room, and squeezed a little only.
            let drawn = |line: &String| (ems(line) * fitted.size).min(fitted.squeeze_to.unwrap_or(f64::MAX));
            let widest = fitted.lines.iter().map(drawn).fold(0.0, f64::max);
            let natural = fitted.lines.iter().map(|l| ems(l) * fitted.size).fold(0.0, f64::max);
            assert!(widest <= KEY.width + 1e-9 && widest / natural >= MOST_SQUEEZE - 1e-9, "{text}: {fitted:?}");
            assert!(fitted.lines.len() as f64 * LINE_HEIGHT * fitted.size <= KEY.height + 1e-9, "{text}");
        }
    }

    #[test]
    fn text_too_long_for_a_readable_size_is_squeezed_a_little_or_made_smaller() {
        let fitted = fit("Backspace", KEY);
        assert_eq!((fitted.lines.len(), fitted.squeeze_to), (1, Some(42.0)));
        let squeeze = 42.0 / (ems("Backspace") * fitted.size);
        assert!((MOST_SQUEEZE - 1e-9..1.0).contains(&squeeze), "{fitted:?}: squeezed to {squeeze}");
        let fitted = fit("ABCDEFGHIJKLMNOPQRSTUVWXYZ", KEY);
        assert_eq!((fitted.size, fitted.squeeze_to), (7.0, Some(42.0)));
        assert_eq!(fitted.lines.len(), 1);
    }

    #[test]
    fn paragraphs_wrap_at_spaces_within_the_width() {
        let text = "`MO(32)` refers to layer 32, which does not fit its 5 bits: it is layer 0";
        let lines = wrap(text, 200.0, 10.0);
        assert!(lines.len() > 1 && lines.iter().all(|l| ems(l) * 10.0 <= 200.0), "{lines:?}");
        assert_eq!(lines.join(" "), text);
    }

    #[test]
    fn break_positions_are_each_tried_once() {
        let mut breaks = vec![1, 2];
        let mut seen = vec![breaks.clone()];
        while next_combination(&mut breaks, 5) {
            seen.push(breaks.clone());
        }
        assert_eq!(seen, [[1, 2], [1, 3], [1, 4], [2, 3], [2, 4], [3, 4]]);
    }
}
