//! Comments out, strings kept: C text as QMK's source scanners see it.

/// Replaces each `//` and `/* */` comment with one space, leaving string and
/// character literals (which may hold comment markers) as they are. An unclosed
/// comment or literal is left as text.
pub fn strip_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        let end = match bytes[at] {
            b'/' if bytes.get(at + 1) == Some(&b'/') => {
                Some(text[at..].find('\n').map_or(text.len(), |n| at + n)).map(|end| (end, true))
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                text[at + 2..].find("*/").map(|n| at + 2 + n + 2).map(|end| (end, true))
            }
            quote @ (b'"' | b'\'') => literal_end(bytes, at, quote).map(|end| (end, false)),
            _ => None,
        };
        match end {
            Some((end, is_comment)) => {
                if is_comment {
                    out.push_str(&text[copied..at]);
                    out.push(' ');
                    copied = end;
                }
                at = end;
            }
            None => at += 1,
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The end (past the closing quote) of a literal opened at `start`; a backslash
/// escapes any character, newlines included.
fn literal_end(bytes: &[u8], start: usize, quote: u8) -> Option<usize> {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b if b == quote => return Some(at + 1),
            _ => at += 1,
        }
    }
    None
}

/// Joins lines continued with a backslash right before the newline.
pub fn join_continued_lines(text: &str) -> String {
    text.replace("\\\n", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_become_one_space_and_literals_stay() {
        assert_eq!(strip_comments("a // x\nb /* y\n z */c"), "a  \nb  c");
        assert_eq!(strip_comments(r#"s = "// not" ; c = '/' /* x */"#), r#"s = "// not" ; c = '/'  "#);
        assert_eq!(strip_comments("a /* open"), "a /* open");
        assert_eq!(strip_comments("it's // x"), "it's  ");
    }

    #[test]
    fn continued_lines_join() {
        assert_eq!(join_continued_lines("#define A \\\n  1\nB"), "#define A   1\nB");
    }
}
