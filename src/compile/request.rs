//! What a compile request must be before it is queued: a JSON object with the
//! four keys of QMK's configurator format, and names that are safe to use as
//! folder and file names. Keycodes and layouts are the job's to check.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::keymap::NameField;

/// A request accepted at submit time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    /// The request re-serialized compactly: what the job reads and what the cache key hashes.
    pub canonical: String,
    pub keyboard: String,
    pub keymap: String,
    pub layout: String,
}

/// Why a request was refused; each maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not JSON, not an object, or a key of the wrong type (400).
    #[error("{0}")]
    Malformed(String),
    /// Required keys absent (400).
    #[error("the request lacks {}", .0.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", "))]
    Missing(Vec<&'static str>),
    /// A name that is not a QMK identifier or could leave its folder (422).
    #[error("{0}")]
    BadName(String),
}

const REQUIRED: [&str; 4] = ["keyboard", "keymap", "layout", "layers"];

impl Submission {
    pub fn parse(body: &[u8]) -> Result<Submission, RequestError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| RequestError::Malformed(format!("the request is not valid JSON: {e}")))?;
        let Value::Object(object) = &value else {
            let text = value.to_string();
            let excerpt: String = text.chars().take(40).collect();
            let more = if excerpt.len() < text.len() { "…" } else { "" };
            return Err(RequestError::Malformed(format!("the request must be a JSON object, not `{excerpt}`{more}")));
        };
        let missing: Vec<&'static str> = REQUIRED.into_iter().filter(|key| !object.contains_key(*key)).collect();
        if !missing.is_empty() {
            return Err(RequestError::Missing(missing));
        }
        let keyboard: String = field(object, "keyboard")?;
        let keymap: String = field(object, "keymap")?;
        let layout: String = field(object, "layout")?;
        field::<Vec<Value>>(object, "layers")?;
        for (field, name) in
            [(NameField::Keyboard, &keyboard), (NameField::Keymap, &keymap), (NameField::Layout, &layout)]
        {
            if let Some(problem) = field.problem(name) {
                return Err(RequestError::BadName(problem));
            }
        }
        Ok(Submission { canonical: value.to_string(), keyboard, keymap, layout })
    }
}

/// The value of `key` as a `T`, or what is wrong with it.
fn field<'a, T: Deserialize<'a>>(object: &'a Map<String, Value>, key: &str) -> Result<T, RequestError> {
    T::deserialize(&object[key]).map_err(|e| RequestError::Malformed(format!("`{key}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Submission, RequestError> {
        Submission::parse(text.as_bytes())
    }

    #[test]
    fn a_complete_request_is_accepted_and_kept_in_key_order() {
        let submission =
            parse(r#"{"keyboard": "clueboard/66/rev2", "keymap": "mine", "layout": "LAYOUT_all", "layers": [[]]}"#)
                .unwrap();
        assert_eq!(
            submission.canonical,
            r#"{"keyboard":"clueboard/66/rev2","keymap":"mine","layout":"LAYOUT_all","layers":[[]]}"#
        );
        assert_eq!((submission.keymap.as_str(), submission.layout.as_str()), ("mine", "LAYOUT_all"));
    }

    #[test]
    fn malformed_and_incomplete_requests_say_what_is_wrong() {
        assert!(matches!(parse("{"), Err(RequestError::Malformed(m)) if m.contains("not valid JSON")));
        assert!(
            matches!(parse("[1]"), Err(RequestError::Malformed(m)) if m.contains("must be a JSON object, not `[1]`"))
        );
        assert_eq!(parse(r#"{"keymap": "x"}"#), Err(RequestError::Missing(vec!["keyboard", "layout", "layers"])));
        assert_eq!(
            RequestError::Missing(vec!["keyboard", "layers"]).to_string(),
            "the request lacks `keyboard`, `layers`"
        );
        let numeric = r#"{"keyboard": 5, "keymap": "x", "layout": "L", "layers": []}"#;
        assert!(
            matches!(parse(numeric), Err(RequestError::Malformed(m)) if m == "`keyboard`: invalid type: integer `5`, expected a string")
        );
        let flat = r#"{"keyboard": "a", "keymap": "x", "layout": "L", "layers": "KC_A"}"#;
        assert!(
            matches!(parse(flat), Err(RequestError::Malformed(m)) if m.contains("`layers`: invalid type: string \"KC_A\", expected a sequence"))
        );
    }

    #[test]
    fn names_that_could_leave_their_folder_are_refused() {
        let with = |keyboard: &str, keymap: &str, layout: &str| {
            let request = serde_json::json!({"keyboard": keyboard, "keymap": keymap, "layout": layout, "layers": []});
            parse(&request.to_string())
        };
        for (keyboard, keymap, layout) in [
            ("../../etc", "x", "LAYOUT"),
            ("/etc/passwd", "x", "LAYOUT"),
            ("planck", "../x", "LAYOUT"),
            ("planck", "a/b", "LAYOUT"),
            ("planck", "", "LAYOUT"),
            ("planck", "x", "LAYOUT; rm -rf"),
            ("planck", "x", "1LAYOUT"),
            ("planck", "-x", "LAYOUT"),
        ] {
            assert!(
                matches!(with(keyboard, keymap, layout), Err(RequestError::BadName(_))),
                "{keyboard} {keymap} {layout}"
            );
        }
        assert!(with("planck/rev6", "my-keymap_2", "LAYOUT_ortho_4x12").is_ok());
        assert_eq!(
            with("planck", "-km", "LAYOUT"),
            Err(RequestError::BadName(
                "`keymap`: \"-km\" is not a keymap name: letters, digits, `_` and `-`, not starting with `-`, at most 64 characters"
                    .into()
            ))
        );
    }
}
