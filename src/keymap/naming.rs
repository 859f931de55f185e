//! The names a keymap gives itself and its keyboard and layout, which become folder
//! and file names, arguments of make's command line and C: one rule for each,
//! shared by the compile API (which refuses a request with 422) and the keymap
//! reader (so that `validate`, `json2c`, `draw` and `compile` refuse the same names).

use crate::diagnostic::excerpt;

/// A keymap field that names something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameField {
    /// A folder under `keyboards/`.
    Keyboard,
    /// A folder under `keymaps/`, part of the firmware's file name and of make's
    /// target `<keyboard>:<keymap>`.
    Keymap,
    /// The layout macro, written into `keymap.c`.
    Layout,
}

/// A keymap name's longest length.
const KEYMAP_NAME_LENGTH: usize = 64;
/// A layout macro name's longest length.
const LAYOUT_NAME_LENGTH: usize = 128;

impl NameField {
    pub fn as_str(self) -> &'static str {
        match self {
            NameField::Keyboard => "keyboard",
            NameField::Keymap => "keymap",
            NameField::Layout => "layout",
        }
    }

    /// What is wrong with `name` as this field's value, if anything, as a message
    /// that names the field and shows the name (cut short, escaped).
    pub fn problem(self, name: &str) -> Option<String> {
        let (fits, what) = match self {
            NameField::Keyboard => (
                crate::keyboard::is_valid_name(name),
                "a keyboard name: lowercase letters, digits, `_` and `-` in `/`-separated parts",
            ),
            NameField::Keymap => (
                is_keymap_name(name),
                "a keymap name: letters, digits, `_` and `-`, not starting with `-`, at most 64 characters",
            ),
            NameField::Layout => (is_c_identifier(name), "a C identifier such as LAYOUT_all"),
        };
        (!fits).then(|| format!("`{}`: {:?} is not {what}", self.as_str(), excerpt(name)))
    }
}

/// A folder, a file name's part and an argument of make: a name that starts with
/// `-` would be read as one of make's (or QMK's) options.
fn is_keymap_name(name: &str) -> bool {
    (1..=KEYMAP_NAME_LENGTH).contains(&name.len())
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn is_c_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= LAYOUT_NAME_LENGTH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_their_folder_or_become_options_are_refused() {
        for (field, name) in [
            (NameField::Keyboard, "../../etc"),
            (NameField::Keyboard, "/etc/passwd"),
            (NameField::Keymap, "../x"),
            (NameField::Keymap, "a/b"),
            (NameField::Keymap, ""),
            (NameField::Keymap, "-x"),
            (NameField::Keymap, "--help"),
            (NameField::Keymap, "$(shell id>/tmp/x)"),
            (NameField::Keymap, "a b"),
            (NameField::Layout, "LAYOUT; rm -rf"),
            (NameField::Layout, "1LAYOUT"),
        ] {
            let problem = field.problem(name).unwrap_or_else(|| panic!("{field:?} {name:?} must be refused"));
            assert!(problem.starts_with(&format!("`{}`: ", field.as_str())), "{problem}");
        }
        assert!(NameField::Keymap.problem(&"x".repeat(65)).is_some());
        assert_eq!(
            NameField::Keymap.problem("a\nb").unwrap(),
            "`keymap`: \"a\\nb\" is not a keymap name: letters, digits, `_` and `-`, not starting with `-`, at most 64 characters"
        );
        for (field, name) in [
            (NameField::Keyboard, "planck/rev6"),
            (NameField::Keymap, "my-keymap_2"),
            (NameField::Keymap, "x-"),
            (NameField::Layout, "LAYOUT_ortho_4x12"),
        ] {
            assert_eq!(field.problem(name), None, "{name}");
        }
    }
}
