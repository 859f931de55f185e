//! Keyboard names: what a name may look like.

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
}
