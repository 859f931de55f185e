//! A C tokenizer that classifies tokens the way QMK's LED-config reader sees
//! them (it uses a syntax highlighter's C lexer): a number token may start with
//! `-` (`x-1` is `x` then `-1`), octal literals are their own kind, `true`,
//! `false` and `NULL` are not names, and a line starting with `#` is one
//! preprocessor token.

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A preprocessor line, whole.
    Preprocessor,
    Integer,
    Float,
    Hex,
    Octal,
    Binary,
    /// An identifier that is not a keyword, a type or a built-in constant.
    Name,
    /// Keywords, types and the built-in constants.
    Reserved,
    String,
    Char,
    /// One of `{ } ( ) [ ] , . ;`.
    Punctuation,
    Operator,
    Whitespace,
    /// Anything else (a stray character).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: TokenKind,
    pub text: &'a str,
}

const RESERVED: &[&str] = &[
    "asm",
    "auto",
    "break",
    "const",
    "constexpr",
    "continue",
    "countof",
    "default",
    "defer",
    "do",
    "else",
    "enum",
    "extern",
    "for",
    "goto",
    "if",
    "register",
    "restricted",
    "return",
    "sizeof",
    "struct",
    "static",
    "switch",
    "typedef",
    "typeof",
    "typeof_unqual",
    "volatile",
    "while",
    "union",
    "thread_local",
    "alignas",
    "alignof",
    "static_assert",
    "_Pragma",
    "fortran",
    "inline",
    "_inline",
    "__inline",
    "naked",
    "restrict",
    "thread",
    "case",
    "bool",
    "int",
    "long",
    "float",
    "short",
    "double",
    "char",
    "unsigned",
    "signed",
    "void",
    "_BitInt",
    "__int128",
    "true",
    "false",
    "NULL",
    "nullptr",
];

/// Splits C text (comments already removed) into tokens.
pub fn tokenize(text: &str) -> Vec<Token<'_>> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    let mut line_start = true;
    while at < bytes.len() {
        let rest = &text[at..];
        let (kind, len) = next_token(rest, line_start);
        let len = len.max(rest.chars().next().map_or(1, char::len_utf8));
        tokens.push(Token { kind, text: &rest[..len] });
        line_start = match kind {
            TokenKind::Whitespace => line_start || rest[..len].contains('\n'),
            TokenKind::Preprocessor => true,
            _ => false,
        };
        at += len;
    }
    tokens
}

fn next_token(rest: &str, line_start: bool) -> (TokenKind, usize) {
    let bytes = rest.as_bytes();
    let first = bytes[0];
    if first == b'#' && line_start {
        return (TokenKind::Preprocessor, rest.find('\n').map_or(rest.len(), |n| n + 1));
    }
    if first.is_ascii_whitespace() {
        let len = rest.find(|c: char| !c.is_ascii_whitespace()).unwrap_or(rest.len());
        return (TokenKind::Whitespace, len);
    }
    if let Some(number) = number(bytes) {
        return number;
    }
    if let Some(literal) = string_or_char(bytes) {
        return literal;
    }
    if is_ident_start(rest) {
        let len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$')).unwrap_or(rest.len());
        let word = &rest[..len];
        let kind = if RESERVED.contains(&word) { TokenKind::Reserved } else { TokenKind::Name };
        return (kind, len);
    }
    match first {
        b'{' | b'}' | b'(' | b')' | b'[' | b']' | b',' | b'.' | b';' => (TokenKind::Punctuation, 1),
        b'~' | b'!' | b'%' | b'^' | b'&' | b'*' | b'+' | b'=' | b'|' | b'?' | b':' | b'<' | b'>' | b'/' | b'-' => {
            (TokenKind::Operator, 1)
        }
        _ => (TokenKind::Other, 0),
    }
}

fn is_ident_start(rest: &str) -> bool {
    rest.chars().next().is_some_and(|c| (c.is_alphanumeric() || c == '_' || c == '$') && !c.is_ascii_digit())
}

/// Digits with optional `'` separators; their length.
fn digits(bytes: &[u8], is_digit: impl Fn(u8) -> bool) -> usize {
    if !bytes.first().is_some_and(|&b| is_digit(b)) {
        return 0;
    }
    let mut len = 1;
    while len < bytes.len() {
        if is_digit(bytes[len]) {
            len += 1;
        } else if bytes[len] == b'\'' && bytes.get(len + 1).is_some_and(|&b| is_digit(b)) {
            len += 2;
        } else {
            break;
        }
    }
    len
}

fn suffix(bytes: &[u8], allowed: &[u8], most: usize) -> usize {
    bytes.iter().take(most).take_while(|b| allowed.contains(b)).count()
}

/// A number literal at the start, optionally negative, tried in the order a
/// highlighter tries them: floats, hex, binary, octal, then decimal.
fn number(bytes: &[u8]) -> Option<(TokenKind, usize)> {
    let sign = usize::from(bytes[0] == b'-');
    let body = &bytes[sign..];
    let dec = |b: &[u8]| digits(b, |c| c.is_ascii_digit());
    let whole = dec(body);
    // A float: digits '.' [digits], or '.' digits; with an exponent, or a suffix.
    let mut len = whole;
    let mut is_float = false;
    if body.get(len) == Some(&b'.') && (whole > 0 || dec(&body[len + 1..]) > 0) {
        len += 1 + dec(&body[len + 1..]);
        is_float = true;
    }
    if len > 0 && matches!(body.get(len), Some(b'e' | b'E')) {
        let signed = usize::from(matches!(body.get(len + 1), Some(b'+' | b'-')));
        let exponent = dec(&body[(len + 1 + signed).min(body.len())..]);
        if exponent > 0 {
            let end = len + 1 + signed + exponent;
            return Some((TokenKind::Float, sign + end + suffix(&body[end..], b"fFlL", 1)));
        }
    }
    if is_float {
        return Some((TokenKind::Float, sign + len + suffix(&body[len..], b"fFlL", 1)));
    }
    if whole > 0 && matches!(body.get(whole), Some(b'f' | b'F' | b'l' | b'L')) {
        // `1f`, and `1L` too: floats to the highlighter.
        return Some((TokenKind::Float, sign + whole + 1));
    }
    let int_suffix = |at: usize| suffix(&body[at..], b"uUlLzZ", 3);
    if matches!(body, [b'0', b'x' | b'X', ..]) {
        let hex = digits(&body[2..], |c| c.is_ascii_hexdigit());
        if hex > 0 {
            return Some((TokenKind::Hex, sign + 2 + hex + int_suffix(2 + hex)));
        }
    }
    if matches!(body, [b'0', b'b' | b'B', ..]) {
        let bin = digits(&body[2..], |c| c == b'0' || c == b'1');
        if bin > 0 {
            return Some((TokenKind::Binary, sign + 2 + bin + int_suffix(2 + bin)));
        }
    }
    if body.first() == Some(&b'0') {
        let oct = digits(&body[1..], |c| (b'0'..=b'7').contains(&c));
        if oct > 0 {
            return Some((TokenKind::Octal, sign + 1 + oct + int_suffix(1 + oct)));
        }
    }
    (whole > 0).then(|| (TokenKind::Integer, sign + whole + int_suffix(whole)))
}

/// A string (with an optional `L`, `u`, `U` or `u8` prefix) or a one-character literal.
fn string_or_char(bytes: &[u8]) -> Option<(TokenKind, usize)> {
    let prefix = if bytes.starts_with(b"u8") {
        2
    } else {
        usize::from(matches!(bytes[0], b'L' | b'u' | b'U') && matches!(bytes.get(1), Some(b'"' | b'\'')))
    };
    match bytes.get(prefix)? {
        b'"' => {
            let mut at = prefix + 1;
            while at < bytes.len() && bytes[at] != b'"' && bytes[at] != b'\n' {
                at += if bytes[at] == b'\\' { 2 } else { 1 };
            }
            Some((TokenKind::String, (at + 1).min(bytes.len())))
        }
        b'\'' => {
            let body = &bytes[prefix + 1..];
            let len = match body {
                [b'\\', b'x', ..] => 2 + body[2..].iter().take(2).take_while(|b| b.is_ascii_hexdigit()).count(),
                [b'\\', b'0'..=b'7', ..] => {
                    1 + body[1..].iter().take(3).take_while(|b| (b'0'..=b'7').contains(b)).count()
                }
                [b'\\', _, ..] => 2,
                [b, ..] if *b != b'\'' && *b != b'\n' => 1,
                _ => return None,
            };
            (body.get(len) == Some(&b'\'')).then_some((TokenKind::Char, prefix + 1 + len + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(TokenKind, &str)> {
        tokenize(text).into_iter().filter(|t| t.kind != TokenKind::Whitespace).map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn numbers_names_and_reserved_words() {
        use TokenKind::*;
        assert_eq!(
            kinds("x-1, 0x1F, 010, 0, 1.5f, .5, 2e3, NO_LED, int, true, 4u"),
            [
                (Name, "x"),
                (Integer, "-1"),
                (Punctuation, ","),
                (Hex, "0x1F"),
                (Punctuation, ","),
                (Octal, "010"),
                (Punctuation, ","),
                (Integer, "0"),
                (Punctuation, ","),
                (Float, "1.5f"),
                (Punctuation, ","),
                (Float, ".5"),
                (Punctuation, ","),
                (Float, "2e3"),
                (Punctuation, ","),
                (Name, "NO_LED"),
                (Punctuation, ","),
                (Reserved, "int"),
                (Punctuation, ","),
                (Reserved, "true"),
                (Punctuation, ","),
                (Integer, "4u"),
            ]
        );
    }

    #[test]
    fn preprocessor_lines_strings_and_chars() {
        use TokenKind::*;
        assert_eq!(
            kinds("a;\n  #define X {1}\n\"s;{\" 'c' ';' b # c"),
            [
                (Name, "a"),
                (Punctuation, ";"),
                (Preprocessor, "#define X {1}\n"),
                (String, "\"s;{\""),
                (Char, "'c'"),
                (Char, "';'"),
                (Name, "b"),
                (Other, "#"),
                (Name, "c"),
            ]
        );
    }
}
