//! C constant expressions: parsed from tokens with C's precedence, checked for
//! what GCC's `-Wall` warns about in them (`-Wparentheses`,
//! `-Wlogical-not-parentheses`), which QMK's `-Werror` build refuses.

use super::int::CInt;
use super::lexer::{Lexeme, Token, lex};

/// A parsed expression; `start..end` is its text in the source it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub kind: Kind,
    pub start: u32,
    pub end: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Number(CInt),
    Name,
    /// A parameter of the macro whose body this is.
    Param(usize),
    /// `name(args)`; the name is the source text up to `name_end`.
    Call {
        name_end: u32,
        args: Vec<Expr>,
    },
    Paren(Box<Expr>),
    Unary(Unary, Box<Expr>),
    Binary(Binary, Box<Expr>, Box<Expr>),
    Conditional(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    Plus,
    Minus,
    Complement,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Mul,
    Div,
    Rem,
    Add,
    Sub,
    Shl,
    Shr,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    BitAnd,
    BitXor,
    BitOr,
    And,
    Or,
}

impl Binary {
    fn from_token(token: Token) -> Option<Binary> {
        use Binary::*;
        Some(match token {
            Token::Star => Mul,
            Token::Slash => Div,
            Token::Percent => Rem,
            Token::Plus => Add,
            Token::Minus => Sub,
            Token::Shl => Shl,
            Token::Shr => Shr,
            Token::Lt => Lt,
            Token::Gt => Gt,
            Token::Le => Le,
            Token::Ge => Ge,
            Token::Eq => Eq,
            Token::Ne => Ne,
            Token::And => BitAnd,
            Token::Xor => BitXor,
            Token::Or => BitOr,
            Token::AndAnd => And,
            Token::OrOr => Or,
            _ => return None,
        })
    }

    pub fn symbol(self) -> &'static str {
        use Binary::*;
        match self {
            Mul => "*",
            Div => "/",
            Rem => "%",
            Add => "+",
            Sub => "-",
            Shl => "<<",
            Shr => ">>",
            Lt => "<",
            Gt => ">",
            Le => "<=",
            Ge => ">=",
            Eq => "==",
            Ne => "!=",
            BitAnd => "&",
            BitXor => "^",
            BitOr => "|",
            And => "&&",
            Or => "||",
        }
    }

    fn precedence(self) -> u8 {
        use Binary::*;
        match self {
            Mul | Div | Rem => 10,
            Add | Sub => 9,
            Shl | Shr => 8,
            Lt | Gt | Le | Ge => 7,
            Eq | Ne => 6,
            BitAnd => 5,
            BitXor => 4,
            BitOr => 3,
            And => 2,
            Or => 1,
        }
    }

    pub fn is_comparison(self) -> bool {
        use Binary::*;
        matches!(self, Lt | Gt | Le | Ge | Eq | Ne)
    }
}

/// Why a text is no constant expression; `at` is a byte offset into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub at: usize,
}

/// Deeper nesting than any keycode needs; keeps hostile input from recursing far.
const MAX_DEPTH: usize = 64;

/// Parses `text` as one whole expression; names in `params` become [`Kind::Param`].
pub fn parse(text: &str, params: &[&str]) -> Result<Expr, ParseError> {
    let lexemes = lex(text)
        .map_err(|e| ParseError { message: format!("`{}` cannot appear in a C expression", e.found), at: e.at })?;
    let tokens: Vec<Lexeme> = lexemes.into_iter().filter(|l| l.token != Token::Newline).collect();
    let mut parser = Parser { text, tokens, at: 0, params, depth: 0 };
    if parser.tokens.is_empty() {
        return Err(ParseError { message: "empty expression".into(), at: 0 });
    }
    let expr = parser.conditional()?;
    match parser.peek() {
        None => Ok(expr),
        Some(Token::RParen) => Err(parser.error("unbalanced `)`")),
        Some(Token::Comma) => Err(parser.error("`,` outside a call: one keycode per key")),
        Some(Token::LineComment) => Err(parser.error("a `//` comment would hide the rest of keymap.c's line")),
        Some(Token::UnclosedComment) => Err(parser.error("a `/*` comment is never closed with `*/`")),
        Some(_) => Err(parser.error("an operator or the end expected, but more follows")),
    }
}

struct Parser<'t> {
    text: &'t str,
    tokens: Vec<Lexeme>,
    at: usize,
    params: &'t [&'t str],
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.at).map(|l| l.token)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.at).map_or(self.text.len(), |l| l.start as usize)
    }

    fn end_of_previous(&self) -> u32 {
        self.tokens[self.at - 1].end
    }

    fn error(&self, message: &str) -> ParseError {
        let message = match self.tokens.get(self.at) {
            Some(lexeme) => format!("{message} (at `{}`)", lexeme.text(self.text)),
            None => message.to_owned(),
        };
        ParseError { message, at: self.offset() }
    }

    fn expect(&mut self, token: Token, message: &str) -> Result<(), ParseError> {
        if self.peek() == Some(token) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(message))
        }
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, ParseError>) -> Result<T, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn conditional(&mut self) -> Result<Expr, ParseError> {
        let condition = self.binary(0)?;
        if self.peek() != Some(Token::Question) {
            return Ok(condition);
        }
        self.at += 1;
        let then = self.nested(|p| p.conditional())?;
        self.expect(Token::Colon, "`:` expected in `?:`")?;
        let otherwise = self.nested(|p| p.conditional())?;
        let (start, end) = (condition.start, otherwise.end);
        let kind = Kind::Conditional(Box::new(condition), Box::new(then), Box::new(otherwise));
        Ok(Expr { kind, start, end })
    }

    /// Operators binding tighter than `min`, left to right.
    fn binary(&mut self, min: u8) -> Result<Expr, ParseError> {
        let mut lhs = self.unary()?;
        let depth = self.depth;
        while let Some(op) = self.peek().and_then(Binary::from_token).filter(|op| op.precedence() > min) {
            // Each operator puts the left side one level deeper.
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(self.error("nested too deeply"));
            }
            let at = self.offset();
            self.at += 1;
            let rhs = self.nested(|p| p.binary(op.precedence()))?;
            if let Some(message) = gcc_warning(op, &lhs, &rhs) {
                return Err(ParseError { message, at });
            }
            let (start, end) = (lhs.start, rhs.end);
            lhs = Expr { kind: Kind::Binary(op, Box::new(lhs), Box::new(rhs)), start, end };
        }
        self.depth = depth;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        let op = match self.peek() {
            Some(Token::Plus) => Unary::Plus,
            Some(Token::Minus) => Unary::Minus,
            Some(Token::Tilde) => Unary::Complement,
            Some(Token::Not) => Unary::Not,
            _ => return self.primary(),
        };
        let start = self.tokens[self.at].start;
        self.at += 1;
        let operand = self.nested(|p| p.unary())?;
        let end = operand.end;
        Ok(Expr { kind: Kind::Unary(op, Box::new(operand)), start, end })
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        let Some(lexeme) = self.tokens.get(self.at).copied() else {
            return Err(self.error("a value expected, but the expression ends"));
        };
        let text = lexeme.text(self.text);
        self.at += 1;
        let (start, end) = (lexeme.start, lexeme.end);
        let kind = match lexeme.token {
            Token::Number => {
                Kind::Number(CInt::parse(text).map_err(|message| ParseError { message, at: start as usize })?)
            }
            Token::Char => Kind::Number(char_constant(text).ok_or_else(|| ParseError {
                message: format!("{text} is not a character constant this tool reads"),
                at: start as usize,
            })?),
            Token::Ident if self.peek() == Some(Token::LParen) => {
                self.at += 1;
                let args = self.nested(|p| p.arguments(text))?;
                return Ok(Expr { kind: Kind::Call { name_end: end, args }, start, end: self.end_of_previous() });
            }
            Token::Ident => match self.params.iter().position(|p| *p == text) {
                Some(index) => Kind::Param(index),
                None => Kind::Name,
            },
            Token::LParen => {
                let inner = self.nested(|p| p.conditional())?;
                if self.peek() == Some(Token::Comma) {
                    return Err(self.error("the comma operator: QMK's build refuses it (-Werror=unused-value)"));
                }
                self.expect(Token::RParen, "`)` expected")?;
                return Ok(Expr { kind: Kind::Paren(Box::new(inner)), start, end: self.end_of_previous() });
            }
            Token::Str => {
                self.at -= 1;
                return Err(self.error("a string is not a keycode"));
            }
            Token::LineComment => {
                self.at -= 1;
                return Err(self.error("a `//` comment would hide the rest of keymap.c's line"));
            }
            Token::UnclosedComment => {
                self.at -= 1;
                return Err(self.error("a `/*` comment is never closed with `*/`"));
            }
            _ => {
                self.at -= 1;
                let increment = matches!(text, "++" | "--");
                return Err(self.error(if increment {
                    "`++`/`--` need a variable, not a constant"
                } else {
                    "a value expected"
                }));
            }
        };
        Ok(Expr { kind, start, end })
    }

    fn arguments(&mut self, function: &str) -> Result<Vec<Expr>, ParseError> {
        let mut args = Vec::new();
        if self.peek() == Some(Token::RParen) {
            self.at += 1;
            return Ok(args);
        }
        loop {
            if matches!(self.peek(), Some(Token::Comma | Token::RParen)) {
                return Err(self.error(&format!("an argument of `{function}(` is empty")));
            }
            args.push(self.conditional()?);
            match self.peek() {
                Some(Token::Comma) => self.at += 1,
                Some(Token::RParen) => {
                    self.at += 1;
                    return Ok(args);
                }
                None => return Err(self.error(&format!("`{function}(` is never closed with `)`"))),
                Some(_) => return Err(self.error("`,` or `)` expected")),
            }
        }
    }
}

/// The value of a character constant: one character or a simple escape.
fn char_constant(text: &str) -> Option<CInt> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    let value = match inner.strip_prefix('\\') {
        None => {
            let mut chars = inner.chars();
            let c = chars.next().filter(char::is_ascii)?;
            chars.next().is_none().then_some(c as i128)?
        }
        Some(escape) => match escape.as_bytes() {
            [b'n'] => 10,
            [b't'] => 9,
            [b'r'] => 13,
            [b'0'..=b'7', ..] if escape.len() <= 3 => i128::from_str_radix(escape, 8).ok()?,
            [b'x', ..] => i128::from_str_radix(&escape[1..], 16).ok().filter(|v| *v < 256)?,
            [c @ (b'\\' | b'\'' | b'"' | b'?')] => i128::from(*c),
            [b'a'] => 7,
            [b'b'] => 8,
            [b'f'] => 12,
            [b'v'] => 11,
            _ => return None,
        },
    };
    // A plain `char` is signed in GCC for x86 and AVR alike.
    Some(CInt::int(if value >= 128 { value - 256 } else { value }))
}

/// The operator of an operand written without parentheses, as GCC sees it.
fn bare_binary(expr: &Expr) -> Option<Binary> {
    match &expr.kind {
        Kind::Binary(op, ..) => Some(*op),
        _ => None,
    }
}

fn is_bare_not(expr: &Expr) -> bool {
    matches!(expr.kind, Kind::Unary(Unary::Not, _))
}

/// GCC's test for "this already reads as a truth value".
fn looks_boolean(expr: &Expr) -> bool {
    let mut expr = expr;
    while let Kind::Paren(inner) = &expr.kind {
        expr = inner;
    }
    match &expr.kind {
        Kind::Binary(op, ..) => op.is_comparison() || matches!(op, Binary::And | Binary::Or),
        Kind::Unary(Unary::Not, _) => true,
        _ => false,
    }
}

/// What GCC's `-Wparentheses` and `-Wlogical-not-parentheses` say about `lhs op rhs`.
fn gcc_warning(op: Binary, lhs: &Expr, rhs: &Expr) -> Option<String> {
    use Binary::*;
    let (left, right) = (bare_binary(lhs), bare_binary(rhs));
    let either = |set: &[Binary]| [left, right].into_iter().flatten().find(|o| set.contains(o));
    let comparison = [left, right].into_iter().flatten().find(|o| o.is_comparison());
    let not_without_boolean = is_bare_not(lhs) && !looks_boolean(rhs);
    let suggestion = match op {
        Shl | Shr => {
            either(&[Add, Sub]).map(|o| format!("suggest parentheses around `{}` inside `{}`", o.symbol(), op.symbol()))
        }
        Or => either(&[And]).map(|_| "suggest parentheses around `&&` within `||`".to_owned()),
        BitOr | BitXor => {
            let arithmetic: &[Binary] = if op == BitOr { &[BitAnd, BitXor, Add, Sub] } else { &[BitAnd, Add, Sub] };
            either(arithmetic)
                .map(|_| format!("suggest parentheses around arithmetic in operand of `{}`", op.symbol()))
                .or_else(|| {
                    comparison.map(|_| format!("suggest parentheses around comparison in operand of `{}`", op.symbol()))
                })
                .or_else(|| (op == BitOr && not_without_boolean).then(|| not_message(op)))
        }
        BitAnd => either(&[Add, Sub])
            .map(|o| format!("suggest parentheses around `{}` in operand of `&`", o.symbol()))
            .or_else(|| comparison.map(|_| "suggest parentheses around comparison in operand of `&`".to_owned()))
            .or_else(|| not_without_boolean.then(|| not_message(op))),
        Eq | Ne => comparison.map(|_| format!("suggest parentheses around comparison in operand of `{}`", op.symbol())),
        Lt | Gt | Le | Ge => [left, right]
            .into_iter()
            .flatten()
            .any(|o| o.is_comparison() && o != Eq && o != Ne)
            .then(|| "comparisons like `X<=Y<=Z` do not have their mathematical meaning".to_owned()),
        _ => None,
    };
    let suggestion = suggestion.map(|s| format!("{s}: QMK's build refuses it (-Werror=parentheses)"));
    suggestion.or_else(|| {
        let literal_bit = matches!(rhs.kind, Kind::Number(n) if n.value == 0 || n.value == 1);
        (op.is_comparison() && not_without_boolean && !literal_bit).then(|| {
            "logical not is only applied to the left hand side of the comparison: QMK's build refuses it \
             (-Werror=logical-not-parentheses)"
                .to_owned()
        })
    })
}

fn not_message(op: Binary) -> String {
    let logical = if op == Binary::BitOr { "||" } else { "&&" };
    format!("suggest parentheses around operand of `!` or change `{}` to `{logical}` or `!` to `~`", op.symbol())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        parse(text, &[]).unwrap_err().message
    }

    #[test]
    fn parses_with_c_precedence() {
        let expr = parse("A | B << 2 ? f(x, 1) : (y)", &["x"]).unwrap();
        let Kind::Conditional(condition, then, otherwise) = expr.kind else { panic!() };
        assert!(
            matches!(condition.kind, Kind::Binary(Binary::BitOr, _, ref rhs) if matches!(rhs.kind, Kind::Binary(Binary::Shl, ..)))
        );
        let Kind::Call { args, .. } = then.kind else { panic!() };
        assert_eq!(args[0].kind, Kind::Param(0));
        assert!(matches!(otherwise.kind, Kind::Paren(_)));
        assert_eq!(parse("'a'", &[]).unwrap().kind, Kind::Number(CInt::int(97)));
    }

    #[test]
    fn refuses_what_gcc_warns_about() {
        assert!(error("A | B & C").contains("arithmetic in operand of `|`"));
        assert!(error("A << 1 + 1").contains("`+` inside `<<`"));
        assert!(error("A && B || C").contains("`&&` within `||`"));
        assert!(error("A < B < C").contains("mathematical meaning"));
        assert!(error("!A == B").contains("logical not"));
        assert!(error("!A | B").contains("operand of `!`"));
        assert!(error("A == B == C").contains("comparison in operand of `==`"));
        assert!(parse("!A | (A == 1)", &[]).is_ok());
        assert!(parse("(A | B) & C", &[]).is_ok());
    }

    #[test]
    fn says_what_is_malformed() {
        assert_eq!(error(""), "empty expression");
        assert!(error("LT(1, KC_A").contains("never closed"));
        assert!(error("MO(1))").contains("unbalanced"));
        assert!(error("LT(1,)").contains("empty"));
        assert!(error("KC_A KC_B").contains("more follows"));
        assert!(error("(1, 2)").contains("comma operator"));
        assert!(error("KC_A, KC_B").contains("one keycode per key"));
        assert!(error("KC_A // x").contains("comment"));
        assert!(error("KC_A /* x").contains("never closed"));
        assert!(parse("KC_A /* x */", &[]).is_ok());
        assert!(error("\"a\"").contains("string"));
        assert!(error("--1").contains("variable"));
        assert!(error(&"(".repeat(100)).contains("deeply"));
    }
}
