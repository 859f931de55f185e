//! C tokens, as the preprocessor sees them, for keycode expressions and for the
//! headers and sources that define keycodes.

use logos::Logos;

/// One token. Comments and line continuations are skipped; a line comment is a
/// token because in a keycode it would swallow the rest of `keymap.c`'s line.
#[derive(Logos, Debug, Clone, Copy, PartialEq, Eq)]
#[logos(skip r"[ \t\r\x0C\x0B]+")]
#[logos(skip r"\\\r?\n")]
pub enum Token {
    /// `/*` with no `*/` after it; a closed comment is skipped. Found with one search
    /// for `*/`, so that many unclosed `/*` cost linear time, not quadratic.
    #[token("/*", block_comment)]
    UnclosedComment,
    #[regex(r"//[^\n]*", allow_greedy = true)]
    LineComment,
    #[token("\n")]
    Newline,
    #[regex("[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    /// A preprocessing number: integer and floating constants alike.
    #[regex(r"\.?[0-9]([0-9A-Za-z_.]|[eEpP][+-])*")]
    Number,
    #[regex(r"'([^'\\\n]|\\[^\n])*'")]
    Char,
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    Str,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token(",")]
    Comma,
    #[token("?")]
    Question,
    #[token(":")]
    Colon,
    #[token("!")]
    Not,
    #[token("~")]
    Tilde,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("<<")]
    Shl,
    #[token(">>")]
    Shr,
    #[token("<")]
    Lt,
    #[token(">")]
    Gt,
    #[token("<=")]
    Le,
    #[token(">=")]
    Ge,
    #[token("==")]
    Eq,
    #[token("!=")]
    Ne,
    #[token("&")]
    And,
    #[token("^")]
    Xor,
    #[token("|")]
    Or,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
    #[token("#")]
    Hash,
    #[token("##")]
    HashHash,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(";")]
    Semicolon,
    #[token("=")]
    Assign,
    /// Punctuation that no constant expression holds (`[`, `.`, `->`, `++`, `+=`...).
    #[regex(r"\[|\]|\.|->|\+\+|--|[-+*/%&|^]=|<<=|>>=|\.\.\.|@|\$|`")]
    Other,
}

fn block_comment(lex: &mut logos::Lexer<Token>) -> logos::FilterResult<(), ()> {
    match lex.remainder().find("*/") {
        Some(end) => {
            lex.bump(end + 2);
            logos::FilterResult::Skip
        }
        None => {
            lex.bump(lex.remainder().len());
            logos::FilterResult::Emit(())
        }
    }
}

/// A token and where it lies in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexeme {
    pub token: Token,
    pub start: u32,
    pub end: u32,
}

impl Lexeme {
    pub fn text<'t>(&self, source: &'t str) -> &'t str {
        &source[self.start as usize..self.end as usize]
    }
}

/// A character no C token starts with, at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub at: usize,
    pub found: String,
}

/// Every token of `text`, newlines included.
pub fn lex(text: &str) -> Result<Vec<Lexeme>, LexError> {
    let mut lexer = Token::lexer(text);
    let mut lexemes = Vec::new();
    while let Some(token) = lexer.next() {
        let span = lexer.span();
        match token {
            Ok(token) => lexemes.push(Lexeme { token, start: span.start as u32, end: span.end as u32 }),
            Err(()) => {
                let found = text[span.start..].chars().next().map(String::from).unwrap_or_default();
                return Err(LexError { at: span.start, found });
            }
        }
    }
    Ok(lexemes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<Token> {
        lex(text).unwrap().into_iter().map(|l| l.token).collect()
    }

    #[test]
    fn splits_expressions_and_skips_comments_and_continuations() {
        use Token::*;
        assert_eq!(tokens("LT(1, KC_A)"), [Ident, LParen, Number, Comma, Ident, RParen]);
        assert_eq!(tokens("a<<=b /* x\n */ || 0x1Fu"), [Ident, Other, Ident, OrOr, Number]);
        assert_eq!(tokens("#define A \\\n 1 // one\n"), [Hash, Ident, Ident, Number, LineComment, Newline]);
        assert_eq!(tokens("'a' \"s\\\"\""), [Char, Str]);
        assert_eq!(tokens("a /* b */ c /* d"), [Ident, Ident, UnclosedComment]);
        assert_eq!(lex("KC_A é").unwrap_err(), LexError { at: 5, found: "é".into() });
    }
}
