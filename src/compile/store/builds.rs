//! The catalogue's records: the last build of each keyboard's test keymap, which the
//! build-status endpoints answer with, and which keyboard is built next. Both
//! backends keep them in a table of their own (`keyboard_builds`), beside the jobs.

/// The last build of a keyboard's test keymap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRecord {
    pub keyboard: String,
    /// The keymap built (`default`, `generated`, or the one asked for).
    pub keymap: String,
    pub works: bool,
    /// QMK's `[WARNINGS]` mark was in the output.
    pub warnings: bool,
    /// Seconds since 1970.
    pub last_tested: i64,
    /// The end of the build's output (see [`MESSAGE_LIMIT`]).
    pub message: String,
    /// The firmware's size in bytes, as QMK's size check prints it (else the size of a
    /// `.bin`), and the most the keyboard holds, where QMK's check knows it.
    pub firmware_size: Option<i64>,
    pub maximum_size: Option<i64>,
    /// The state of the tree it was built from (its digest): a record of another state
    /// is built again.
    pub tree: String,
}

/// The most of a build's output a record keeps: its end, where errors are. QMK's
/// service kept the whole output; over thousands of keyboards that would make
/// `build_log` gigabytes.
pub const MESSAGE_LIMIT: usize = 16 << 10;

/// The end of `output`, at most [`MESSAGE_LIMIT`] bytes, from a character's start.
pub fn message_tail(output: &str) -> String {
    let mut start = output.len().saturating_sub(MESSAGE_LIMIT);
    while !output.is_char_boundary(start) {
        start += 1;
    }
    output[start..].to_owned()
}

/// What the choice of the next keyboard reads of a stored record: when it was last
/// tested (none yet: `None`), from which tree, and until when a node holds it.
#[derive(Debug, Clone)]
pub struct Standing {
    pub last_tested: Option<i64>,
    pub tree: Option<String>,
    pub held_until: i64,
}

/// The next keyboard to build among `candidates` (in their order), given what is
/// stored of each (`standing`): first the keyboards never tested, then those tested
/// from another state of the tree (`tree`) or before `stale_before`, the longest
/// untested first; none that another build holds (`held_until` after `now`).
pub fn choose_next<'a>(
    candidates: &'a [String],
    standing: impl Fn(&str) -> Option<Standing>,
    tree: &str,
    now: i64,
    stale_before: i64,
) -> Option<&'a str> {
    let mut best: Option<(i64, &str)> = None;
    for keyboard in candidates {
        let rank = match standing(keyboard) {
            None => i64::MIN,
            Some(s) if s.held_until > now => continue,
            Some(Standing { last_tested: None, .. }) => i64::MIN,
            Some(Standing { last_tested: Some(at), tree: Some(built), .. }) if built == tree && at >= stale_before => {
                continue;
            }
            Some(Standing { last_tested: Some(at), .. }) => at,
        };
        if best.is_none_or(|(best, _)| rank < best) {
            best = Some((rank, keyboard));
        }
    }
    best.map(|(_, keyboard)| keyboard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untested_first_then_the_oldest_of_another_tree_or_stale_never_a_held_one() {
        let candidates: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).into();
        let standing = |kb: &str| {
            let s = |last_tested, tree: &str, held_until| {
                Some(Standing { last_tested, tree: Some(tree.to_owned()), held_until })
            };
            match kb {
                "a" => s(Some(50), "t1", 0), // fresh: not again
                "b" => s(Some(30), "t0", 0), // another tree
                "c" => s(Some(5), "t1", 0),  // stale
                "d" => s(None, "t1", 1000),  // held by a build now
                _ => None,
            }
        };
        assert_eq!(choose_next(&candidates, standing, "t1", 100, 10), Some("e"));
        assert_eq!(choose_next(&candidates[..4], standing, "t1", 100, 10), Some("c"));
        assert_eq!(choose_next(&candidates[..2], standing, "t1", 100, 10), Some("b"));
        assert_eq!(choose_next(&candidates[..1], standing, "t1", 100, 10), None);
        assert_eq!(choose_next(&candidates[3..4], standing, "t1", 2000, 10), Some("d"), "a hold runs out");
    }

    #[test]
    fn a_message_keeps_the_end_of_the_output_on_a_character_boundary() {
        let output = format!("{}é{}", "x".repeat(10), "y".repeat(MESSAGE_LIMIT - 1));
        let tail = message_tail(&output);
        assert!(tail.len() <= MESSAGE_LIMIT && tail.ends_with('y') && !tail.contains('x'));
        assert_eq!(message_tail("short"), "short");
    }
}
