//! The part of C's preprocessor a keymap needs read as the compiler reads it:
//! directives run in order (`#define`, `#undef`, `#include "…"`, the conditionals),
//! and macros expanded where the reader asks, so that the keymap's own wrappers
//! (`LAYOUT_wrapper(...)`, a row macro holding five keycodes) open up as they do in C.
//!
//! Each kept token remembers its file and line, so what is said about it can name them.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use super::expr::{self, Expr, Kind};
use super::int::CInt;
use super::lexer::{Lexeme, Token};

/// How deep `#include`s nest, and how many tokens one expansion may make: hostile
/// input stops there instead of running out of memory.
const MAX_INCLUDE_DEPTH: usize = 32;
const MAX_EXPANDED_TOKENS: usize = 1 << 20;
/// How many tokens all the expansions of one file may make together.
const MAX_TOKENS_EXPANDED_IN_ALL: usize = 1 << 22;

/// One token of the source after directives, or of an expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PpToken {
    pub token: Token,
    pub text: Rc<str>,
    /// Index into [`Preprocessed::files`].
    pub file: usize,
    /// 1-based.
    pub line: u32,
    /// Where it starts in its file.
    offset: u32,
    /// The macros whose expansion made this token: they are not expanded in it again.
    hidden: Rc<[Rc<str>]>,
}

impl PpToken {
    pub fn is(&self, text: &str) -> bool {
        &*self.text == text
    }

    /// Another token in this one's place, as a reader rewrites it.
    pub fn replaced(&self, token: Token, text: &str) -> PpToken {
        PpToken { token, text: text.into(), ..self.clone() }
    }
}

/// A `#define`.
#[derive(Debug, Clone)]
pub struct Macro {
    /// `None` for an object-like macro.
    pub params: Option<Vec<String>>,
    pub variadic: bool,
    pub body: Vec<PpToken>,
    /// The file defining it; none for a macro given before the first.
    pub file: Option<usize>,
}

/// A file the preprocessor read: its name as shown.
#[derive(Debug, Clone)]
pub struct File {
    pub shown: String,
}

/// Something a directive could not do, with where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: usize,
    pub line: u32,
    pub message: String,
}

/// Where `#include "name"` leads: the file's name as shown and its text, or `None`
/// where it cannot be found.
pub trait Includes {
    fn find(&mut self, name: &str, from: &str) -> Option<(String, String)>;
}

/// The result: tokens outside directives and inside the branches taken, and the
/// macros defined at the end.
#[derive(Debug, Default)]
pub struct Preprocessed {
    pub tokens: Vec<PpToken>,
    pub macros: HashMap<String, Macro>,
    /// The macros before the first file, and each `#define` and `#undef` after, with
    /// the number of tokens kept before it: what [`Preprocessed::expand_at`] replays.
    initial: HashMap<String, Macro>,
    history: Vec<(usize, String, Option<Macro>)>,
    /// The macros as they stand after some of `history`: readers ask for positions
    /// mostly in order, so each asks only for the changes since the last.
    timeline: RefCell<Option<(usize, HashMap<String, Macro>)>>,
    /// The tokens `expand_at` made so far.
    expanded: Cell<usize>,
    pub files: Vec<File>,
    pub problems: Vec<Problem>,
    /// `#include`s with a name in quotes, as written, and whether each was found.
    pub included: Vec<(String, bool)>,
}

/// More expansion than any keymap needs: the file is refused rather than read further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMuchExpansion;

impl Preprocessed {
    /// Expands `tokens` standing at `position` of [`Preprocessed::tokens`] with the
    /// macros defined there (a keymap may `#undef` and `#define` a name again between
    /// two layers), but not those `keep` names; refused once the expansions of the file
    /// made more tokens than [`MAX_TOKENS_EXPANDED_IN_ALL`].
    pub fn expand_at(
        &self,
        tokens: &[PpToken],
        position: usize,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<PpToken>, TooMuchExpansion> {
        let changes = self.history.partition_point(|(at, ..)| *at <= position);
        let mut timeline = self.timeline.borrow_mut();
        let (applied, macros) = match timeline.as_mut() {
            Some((applied, macros)) if *applied <= changes => (applied, macros),
            _ => {
                let (applied, macros) = timeline.insert((0, self.initial.clone()));
                (applied, macros)
            }
        };
        for (_, name, definition) in &self.history[*applied..changes] {
            match definition {
                Some(definition) => macros.insert(name.clone(), definition.clone()),
                None => macros.remove(name),
            };
        }
        *applied = changes;
        let expanded = expand(macros, tokens, keep);
        self.expanded.set(self.expanded.get() + expanded.len());
        match self.is_exhausted() {
            true => Err(TooMuchExpansion),
            false => Ok(expanded),
        }
    }

    /// Whether the expansions so far made more tokens than one file may.
    pub fn is_exhausted(&self) -> bool {
        self.expanded.get() > MAX_TOKENS_EXPANDED_IN_ALL
    }
}

/// Runs files' directives one after the other, as the compiler runs a `-include`d
/// file's before the source's.
pub struct Preprocessor {
    out: Preprocessed,
}

impl Preprocessor {
    /// Starts with the object-like macros `defined` (name, replacement).
    pub fn new(defined: &[(String, String)]) -> Preprocessor {
        let mut out = Preprocessed::default();
        for (name, value) in defined {
            let body = tokens_of(value, usize::MAX, 0);
            out.macros.insert(name.clone(), Macro { params: None, variadic: false, body, file: None });
        }
        out.initial = out.macros.clone();
        Preprocessor { out }
    }

    /// Runs the directives of `text`, shown as `shown`.
    pub fn file(&mut self, shown: &str, text: &str, includes: &mut dyn Includes) {
        run(&mut self.out, shown, text, includes, 0);
    }

    pub fn finish(self) -> Preprocessed {
        self.out
    }
}

fn run(out: &mut Preprocessed, shown: &str, text: &str, includes: &mut dyn Includes, depth: usize) {
    let file = out.files.len();
    out.files.push(File { shown: shown.to_owned() });
    let tokens = tokens_of(text, file, 0);
    // (this branch is taken, some branch of this group was taken, the group's parent is on)
    let mut conditions: Vec<(bool, bool, bool)> = Vec::new();
    let on = |conditions: &[(bool, bool, bool)]| conditions.last().is_none_or(|c| c.0 && c.2);
    for line in split_lines(&tokens) {
        let Some(first) = line.first() else { continue };
        if first.token != Token::Hash {
            if on(&conditions) {
                out.tokens.extend(line.iter().filter(|t| t.token != Token::LineComment).cloned());
            }
            continue;
        }
        let directive = line.get(1).map_or("", |t| &*t.text);
        let rest = line.get(2..).unwrap_or_default();
        let problem = |message: String| Problem { file, line: first.line, message };
        match directive {
            "if" | "ifdef" | "ifndef" => {
                let parent = on(&conditions);
                let holds = parent && condition(out, directive, rest);
                conditions.push((holds, holds, parent));
            }
            "elif" | "elifdef" | "elifndef" | "else" => match conditions.last_mut() {
                Some((taken, any, parent)) => {
                    let holds = *parent && !*any && (directive == "else" || condition(out, directive, rest));
                    (*taken, *any) = (holds, *any || holds);
                }
                None => out.problems.push(problem(format!("#{directive} without #if"))),
            },
            "endif" if conditions.pop().is_none() => out.problems.push(problem("#endif without #if".into())),
            "endif" => {}
            _ if !on(&conditions) => {}
            "define" => match define(rest, file) {
                Some((name, definition)) => {
                    out.history.push((out.tokens.len(), name.clone(), Some(definition.clone())));
                    out.macros.insert(name, definition);
                }
                None => out.problems.push(problem("#define without a name".into())),
            },
            "undef" => {
                if let Some(name) = rest.first() {
                    out.history.push((out.tokens.len(), name.text.to_string(), None));
                    out.macros.remove(&*name.text);
                }
            }
            // `<…>` and `QMK_KEYBOARD_H` are QMK's own headers, whose names the keycodes know.
            "include" => {
                if let Some(name) = rest.first().filter(|t| t.token == Token::Str) {
                    let name = name.text.trim_matches('"').to_owned();
                    let found = match depth < MAX_INCLUDE_DEPTH {
                        true => includes.find(&name, shown),
                        false => None,
                    };
                    out.included.push((name.clone(), found.is_some()));
                    if let Some((shown, text)) = found {
                        run(out, &shown, &text, includes, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
    if !conditions.is_empty() {
        out.problems.push(Problem {
            file,
            line: tokens.last().map_or(1, |t| t.line),
            message: "#if without #endif".into(),
        });
    }
}

/// Tokens of `text` with their lines; characters no C token starts with are skipped.
fn tokens_of(text: &str, file: usize, first_line: u32) -> Vec<PpToken> {
    let starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1)).collect();
    let line_of = |offset: u32| first_line + starts.partition_point(|&s| s <= offset as usize) as u32;
    let hidden: Rc<[Rc<str>]> = Rc::new([]);
    super::defines::lenient_lex(text)
        .into_iter()
        .filter(|l| l.start < l.end)
        .map(|l: Lexeme| PpToken {
            token: l.token,
            text: l.text(text).into(),
            file,
            line: line_of(l.start),
            offset: l.start,
            hidden: hidden.clone(),
        })
        .collect()
}

fn split_lines(tokens: &[PpToken]) -> impl Iterator<Item = &[PpToken]> {
    tokens.split(|t| t.token == Token::Newline)
}

/// `NAME body`, `NAME(params) body`: a function-like macro's `(` touches its name.
fn define(rest: &[PpToken], file: usize) -> Option<(String, Macro)> {
    let name = rest.first().filter(|t| t.token == Token::Ident)?;
    let mut definition = Macro { params: None, variadic: false, body: Vec::new(), file: Some(file) };
    let mut body = &rest[1..];
    if body.first().is_some_and(|t| t.token == Token::LParen) && touches(name, &body[0]) {
        let close = body.iter().position(|t| t.token == Token::RParen)?;
        let mut params = Vec::new();
        for param in body[1..close].split(|t| t.token == Token::Comma) {
            match param {
                [dots] if dots.is("...") => definition.variadic = true,
                [named, dots] if dots.is("...") => {
                    params.push(named.text.to_string());
                    definition.variadic = true;
                }
                [named] => params.push(named.text.to_string()),
                _ => {}
            }
        }
        definition.params = Some(params);
        body = &body[close + 1..];
    }
    definition.body = body.iter().filter(|t| t.token != Token::LineComment).cloned().collect();
    Some((name.text.to_string(), definition))
}

/// Whether `next` follows `name` with no blank between.
fn touches(name: &PpToken, next: &PpToken) -> bool {
    name.offset as usize + name.text.len() == next.offset as usize
}

/// Whether an `#if`-like directive's condition holds: `defined` answered from the
/// macros, the rest expanded, names left over are 0, as C says.
fn condition(out: &Preprocessed, directive: &str, rest: &[PpToken]) -> bool {
    let is_defined = |name: Option<&PpToken>| name.is_some_and(|n| out.macros.contains_key(&*n.text));
    match directive {
        "ifdef" | "elifdef" => return is_defined(rest.first()),
        "ifndef" | "elifndef" => return !is_defined(rest.first()),
        _ => {}
    }
    let mut answered = Vec::new();
    let mut at = 0;
    while at < rest.len() {
        let token = &rest[at];
        if token.is("defined") {
            let parenthesized = rest.get(at + 1).is_some_and(|t| t.token == Token::LParen);
            let name = rest.get(at + 1 + usize::from(parenthesized));
            let truth = if is_defined(name) { "1" } else { "0" };
            answered.push(PpToken { token: Token::Number, text: truth.into(), ..token.clone() });
            at += 2 + 2 * usize::from(parenthesized);
            continue;
        }
        answered.push(token.clone());
        at += 1;
    }
    let expanded = expand(&out.macros, &answered, &|_| false);
    let text = join(&expanded);
    expr::parse(&text, &[]).ok().and_then(|e| evaluate(&e)).is_some_and(CInt::is_true)
}

/// An `#if` expression's value; names are 0, calls have none.
fn evaluate(e: &Expr) -> Option<CInt> {
    Some(match &e.kind {
        Kind::Number(n) => *n,
        Kind::Name | Kind::Param(_) => CInt::int(0),
        Kind::Call { .. } => return None,
        Kind::Paren(inner) => evaluate(inner)?,
        Kind::Unary(op, inner) => {
            let v = evaluate(inner)?;
            match op {
                expr::Unary::Plus => v,
                expr::Unary::Minus => v.negate().ok()?,
                expr::Unary::Complement => v.complement(),
                expr::Unary::Not => v.logical_not(),
            }
        }
        Kind::Binary(expr::Binary::And, a, b) => {
            CInt::int(i128::from(evaluate(a)?.is_true() && evaluate(b)?.is_true()))
        }
        Kind::Binary(expr::Binary::Or, a, b) => CInt::int(i128::from(evaluate(a)?.is_true() || evaluate(b)?.is_true())),
        Kind::Binary(op, a, b) => evaluate(a)?.binary(*op, evaluate(b)?).ok()?,
        Kind::Conditional(c, a, b) => match evaluate(c)?.is_true() {
            true => evaluate(a)?,
            false => evaluate(b)?,
        },
    })
}

/// Expands the macros in `tokens`, but not those `keep` names; a macro's name that its
/// own expansion makes stays as it is, as C says.
pub fn expand(macros: &HashMap<String, Macro>, tokens: &[PpToken], keep: &dyn Fn(&str) -> bool) -> Vec<PpToken> {
    let mut input: VecDeque<PpToken> = tokens.iter().cloned().collect();
    let mut output = Vec::new();
    let mut made = 0usize;
    while let Some(token) = input.pop_front() {
        let name = &*token.text;
        let definition = match token.token == Token::Ident && !token.hidden.iter().any(|h| &**h == name) && !keep(name)
        {
            true => macros.get(name),
            false => None,
        };
        let Some(definition) = definition else {
            output.push(token);
            continue;
        };
        let mut hidden: Vec<Rc<str>> = token.hidden.to_vec();
        hidden.push(token.text.clone());
        let hidden: Rc<[Rc<str>]> = hidden.into();
        let replaced = match &definition.params {
            None => substitute(definition, &[], &token, macros, keep),
            Some(_) if input.front().is_none_or(|t| t.token != Token::LParen) => {
                output.push(token);
                continue;
            }
            Some(_) => {
                let Some(arguments) = take_arguments(&mut input) else {
                    output.push(token);
                    continue;
                };
                substitute(definition, &arguments, &token, macros, keep)
            }
        };
        made += replaced.len();
        if made > MAX_EXPANDED_TOKENS {
            output.push(token);
            break;
        }
        for mut made_token in replaced.into_iter().rev() {
            let mut own: Vec<Rc<str>> = made_token.hidden.to_vec();
            own.extend(hidden.iter().cloned());
            made_token.hidden = own.into();
            made_token.file = token.file;
            made_token.line = token.line;
            input.push_front(made_token);
        }
    }
    output
}

/// The arguments of a call whose `(` is next: split at commas outside parentheses.
fn take_arguments(input: &mut VecDeque<PpToken>) -> Option<Vec<Vec<PpToken>>> {
    let mut depth = 0usize;
    let mut arguments = vec![Vec::new()];
    let mut taken = Vec::new();
    while let Some(token) = input.pop_front() {
        taken.push(token.clone());
        match token.token {
            Token::LParen if depth == 0 => {
                depth = 1;
                continue;
            }
            Token::LParen => depth += 1,
            Token::RParen if depth == 1 => return Some(arguments),
            Token::RParen => depth -= 1,
            Token::Comma if depth == 1 => {
                arguments.push(Vec::new());
                continue;
            }
            Token::Newline | Token::LineComment => continue,
            _ => {}
        }
        arguments.last_mut().expect("there is always a last argument").push(token);
    }
    // No `)`: what was taken goes back, as written.
    for token in taken.into_iter().rev() {
        input.push_front(token);
    }
    None
}

/// A macro's body with its parameters replaced: each argument expanded first, except
/// next to `#` and `##`.
fn substitute(
    definition: &Macro,
    arguments: &[Vec<PpToken>],
    call: &PpToken,
    macros: &HashMap<String, Macro>,
    keep: &dyn Fn(&str) -> bool,
) -> Vec<PpToken> {
    let params = definition.params.as_deref().unwrap_or_default();
    let argument = |name: &str| -> Option<Vec<PpToken>> {
        if let Some(index) = params.iter().position(|p| p == name) {
            return Some(arguments.get(index).cloned().unwrap_or_default());
        }
        if definition.variadic && name == "__VA_ARGS__" {
            let rest = arguments.get(params.len()..).unwrap_or_default();
            let mut joined = Vec::new();
            for (index, argument) in rest.iter().enumerate() {
                if index > 0 {
                    joined.push(PpToken { token: Token::Comma, text: ",".into(), ..call.clone() });
                }
                joined.extend(argument.iter().cloned());
            }
            return Some(joined);
        }
        None
    };
    let body = &definition.body;
    let mut result: Vec<PpToken> = Vec::new();
    let mut at = 0;
    while at < body.len() {
        let token = &body[at];
        if token.token == Token::Hash
            && definition.params.is_some()
            && let Some(operand) = body.get(at + 1).and_then(|t| argument(&t.text))
        {
            let text = format!("\"{}\"", join(&operand).replace('\\', "\\\\").replace('"', "\\\""));
            result.push(PpToken { token: Token::Str, text: text.into(), ..call.clone() });
            at += 2;
            continue;
        }
        if token.token == Token::HashHash
            && let (Some(left), Some(right)) = (result.last().cloned(), body.get(at + 1))
        {
            result.pop();
            let right_tokens = argument(&right.text).unwrap_or_else(|| vec![right.clone()]);
            let pasted = format!("{}{}", left.text, right_tokens.first().map_or("", |t| &*t.text));
            result.extend(tokens_of(&pasted, call.file, call.line.saturating_sub(1)));
            result.extend(right_tokens.into_iter().skip(1));
            at += 2;
            continue;
        }
        let pasted_next = body.get(at + 1).is_some_and(|t| t.token == Token::HashHash);
        match argument(&token.text) {
            Some(operand) if pasted_next => result.extend(operand),
            Some(operand) => result.extend(expand(macros, &operand, keep)),
            None => result.push(token.clone()),
        }
        at += 1;
    }
    result
}

/// Tokens as one line of text, spaced as people write keycodes: `MT(MOD_LCTL | MOD_LSFT, KC_ESC)`.
pub fn join(tokens: &[PpToken]) -> String {
    let mut text = String::new();
    let mut previous: Option<Token> = None;
    for token in tokens.iter().filter(|t| !matches!(t.token, Token::Newline | Token::LineComment)) {
        let operator = is_operator(token.token);
        let space = match previous {
            None | Some(Token::LParen) => false,
            Some(Token::Comma) => true,
            Some(p) if is_operator(p) => !unary_before(&text),
            Some(Token::RParen) => operator || is_word(token.token),
            Some(_) => operator || is_word(token.token) && is_word(previous.unwrap_or(Token::Other)),
        };
        if space && !matches!(token.token, Token::RParen | Token::Comma) {
            text.push(' ');
        }
        text.push_str(&token.text);
        previous = Some(token.token);
    }
    text
}

fn is_word(token: Token) -> bool {
    matches!(token, Token::Ident | Token::Number | Token::Char | Token::Str)
}

fn is_operator(token: Token) -> bool {
    use Token::*;
    matches!(
        token,
        Question
            | Colon
            | Star
            | Slash
            | Percent
            | Plus
            | Minus
            | Shl
            | Shr
            | Lt
            | Gt
            | Le
            | Ge
            | Eq
            | Ne
            | And
            | Xor
            | Or
            | AndAnd
            | OrOr
    )
}

/// Whether the operator just written is unary: nothing but `(`, `,` or an operator before it.
fn unary_before(text: &str) -> bool {
    let before = text.trim_end();
    let mut chars = before.chars().rev();
    chars.next();
    let previous = chars.find(|c| !c.is_whitespace());
    previous.is_none_or(|c| {
        matches!(c, '(' | ',' | '|' | '&' | '+' | '-' | '*' | '/' | '<' | '>' | '=' | '!' | '~' | '^' | '?' | ':')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Includes from a fixed set of files.
    struct Files(Vec<(&'static str, &'static str)>);

    impl Includes for Files {
        fn find(&mut self, name: &str, _from: &str) -> Option<(String, String)> {
            self.0.iter().find(|(n, _)| *n == name).map(|(n, text)| ((*n).to_owned(), (*text).to_owned()))
        }
    }

    fn run(text: &str, defined: &[(&str, &str)], files: Vec<(&'static str, &'static str)>) -> Preprocessed {
        let defined: Vec<(String, String)> = defined.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        let mut preprocessor = Preprocessor::new(&defined);
        preprocessor.file("keymap.c", text, &mut Files(files));
        preprocessor.finish()
    }

    fn expanded(preprocessed: &Preprocessed) -> String {
        join(&expand(&preprocessed.macros, &preprocessed.tokens, &|_| false))
    }

    #[test]
    fn conditionals_take_the_branch_c_takes() {
        let text =
            "#ifdef RGB_ENABLE\nA\n#elif defined(OLED_ENABLE) && LEVEL > 1\nB\n#else\nC\n#endif\n#ifndef X\nD\n#endif";
        assert_eq!(expanded(&run(text, &[], vec![])), "C D");
        assert_eq!(expanded(&run(text, &[("RGB_ENABLE", "1")], vec![])), "A D");
        assert_eq!(expanded(&run(text, &[("OLED_ENABLE", "1"), ("LEVEL", "2")], vec![])), "B D");
        assert_eq!(expanded(&run(text, &[("OLED_ENABLE", "1"), ("LEVEL", "1"), ("X", "")], vec![])), "C");
        // Nested: nothing inside a branch not taken counts, #define included.
        let nested = "#if 0\n#if 1\n#define K 1\nE\n#endif\n#else\nF\n#endif\nK";
        assert_eq!(expanded(&run(nested, &[], vec![])), "F K");
    }

    #[test]
    fn a_macro_is_expanded_as_defined_where_it_is_used() {
        let preprocessed = run("#define K KC_A\nK\n#undef K\n#define K KC_B\nK", &[], vec![]);
        let tokens = &preprocessed.tokens;
        let at = |position: usize| {
            join(&preprocessed.expand_at(&tokens[position..=position], position, &|_| false).unwrap())
        };
        // Asked out of order too: the macros are replayed from the start.
        assert_eq!([at(1), at(0), at(1)], ["KC_B", "KC_A", "KC_B"]);
    }

    #[test]
    fn the_expansions_of_one_file_are_bounded_together() {
        let mut text = String::from("#define X0 k\n");
        for level in 1..19 {
            text.push_str(&format!("#define X{level} X{p} X{p}\n", p = level - 1));
        }
        text.push_str("X18");
        let preprocessed = run(&text, &[], vec![]);
        let tokens = &preprocessed.tokens;
        let expansions = (0..64).map(|_| preprocessed.expand_at(tokens, 0, &|_| false).map(|t| t.len()));
        let made: Vec<Result<usize, TooMuchExpansion>> = expansions.collect();
        assert_eq!(made[0], Ok(1 << 18));
        assert!(made.contains(&Err(TooMuchExpansion)), "{made:?}");
    }

    #[test]
    fn function_like_macros_take_arguments_variadic_pasting_and_strings() {
        let text = "#define ROW a, b, c\n#define WRAP(...) LAYOUT(__VA_ARGS__)\n#define KC(x) KC_##x\n#define S(x) #x\n\
                    WRAP(ROW, KC(A), (d, e)) S(KC_B) NOT_CALLED";
        assert_eq!(expanded(&run(text, &[], vec![])), "LAYOUT(a, b, c, KC_A, (d, e)) \"KC_B\" NOT_CALLED");
        // A function-like macro's name without `(` is left as it is.
        assert_eq!(expanded(&run("#define F(x) x\nF + 1", &[], vec![])), "F + 1");
    }

    #[test]
    fn a_macro_never_expands_inside_its_own_expansion() {
        let text = "#define A B\n#define B A\n#define SELF SELF + 1\nA SELF";
        assert_eq!(expanded(&run(text, &[], vec![])), "A SELF + 1");
    }

    #[test]
    fn expansion_that_doubles_without_end_stops_at_its_bound() {
        let mut text = String::from("#define X0 k\n");
        for level in 1..40 {
            text.push_str(&format!("#define X{level} X{p} X{p}\n", p = level - 1));
        }
        text.push_str("X39");
        let preprocessed = run(&text, &[], vec![]);
        let tokens = expand(&preprocessed.macros, &preprocessed.tokens, &|_| false);
        assert!(tokens.len() <= MAX_EXPANDED_TOKENS + 2, "{}", tokens.len());
    }

    #[test]
    fn includes_are_followed_to_a_bounded_depth_and_named() {
        let files = vec![("rows.h", "#define ROW KC_A, KC_B\n#include \"self.h\""), ("self.h", "#include \"self.h\"")];
        let preprocessed = run("#include \"rows.h\"\n#include \"missing.h\"\nROW", &[], files);
        assert_eq!(expanded(&preprocessed), "KC_A, KC_B");
        assert_eq!(preprocessed.included.iter().filter(|(n, _)| n == "self.h").count(), MAX_INCLUDE_DEPTH);
        assert!(preprocessed.included.contains(&("missing.h".to_owned(), false)));
    }

    #[test]
    fn unbalanced_conditionals_are_problems_with_their_line() {
        let preprocessed = run("#endif\n#if 1\nA", &[], vec![]);
        let messages: Vec<(u32, &str)> = preprocessed.problems.iter().map(|p| (p.line, p.message.as_str())).collect();
        assert_eq!(messages, [(1, "#endif without #if"), (3, "#if without #endif")]);
    }
}
