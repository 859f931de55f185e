//! Keyboard names: what a name may look like, and the nearest known name for a typo.

/// A folder under `keyboards/`: lower-case letters, digits, `_` and `-`, parts
/// joined by `/`. Rules out `..`, absolute paths and anything else that could
/// leave the keyboards folder.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|part| {
            !part.is_empty()
                && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
}

/// The known name closest to `name`, if one is close enough to be a likely typo.
pub fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<String> {
    known
        .map(|candidate| (distance(name, candidate), candidate))
        .filter(|(d, candidate)| *d <= (candidate.len() / 4).max(2))
        .min()
        .map(|(_, candidate)| candidate.to_owned())
}

/// Levenshtein distance, by bytes (names are ASCII).
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(ca != cb)).min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_the_keyboards_folder() {
        assert!(is_valid_name("clueboard/66/rev2"));
        assert!(is_valid_name("0_sixty/base"));
        for bad in ["", "../etc/passwd", "/etc", "a//b", "a/", "Clueboard", "a b", "a\\b", "a/./b", "\u{0}"] {
            assert!(!is_valid_name(bad), "{bad:?} must be refused");
        }
    }

    #[test]
    fn suggests_close_names_only() {
        let known = ["clueboard/66/rev2", "clueboard/66/rev3", "planck/rev6"];
        assert_eq!(suggest("clueboard/66/rev22", known.into_iter()), Some("clueboard/66/rev2".into()));
        assert_eq!(suggest("something/else", known.into_iter()), None);
    }
}
