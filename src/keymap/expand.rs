//! C's own macro expansion, as text, for the rare expressions where substituting
//! values is not substituting text: a macro that leaves a parameter unparenthesized
//! (`SQ_S(n)`) given an operator expression, or a `#define` of several operands.

use super::expr::ExprError;
use super::keycodes::Scope;
use crate::c::lexer::{Token, lex};

/// More tokens than any keycode expands to; stops hostile input.
const MAX_TOKENS: usize = 100_000;

/// `text` with every macro expanded, tokens joined by spaces.
pub fn expand(text: &str, scope: &Scope) -> Result<String, ExprError> {
    let words = words(text)?;
    let mut out = Vec::new();
    expand_into(&words, scope, &mut Vec::new(), &mut out)?;
    Ok(out.join(" "))
}

fn words(text: &str) -> Result<Vec<String>, ExprError> {
    let lexemes = lex(text).map_err(|e| ExprError::new(format!("`{}` cannot appear in a C expression", e.found)))?;
    Ok(lexemes.iter().filter(|l| l.token != Token::Newline).map(|l| l.text(text).to_owned()).collect())
}

fn expand_into(
    words: &[String],
    scope: &Scope,
    hidden: &mut Vec<String>,
    out: &mut Vec<String>,
) -> Result<(), ExprError> {
    let mut at = 0;
    while at < words.len() {
        if out.len() > MAX_TOKENS {
            return Err(ExprError::new("the expression expands too far"));
        }
        let word = &words[at];
        at += 1;
        if hidden.contains(word) {
            out.push(word.clone());
            continue;
        }
        if let Some(function) = scope.function(word).filter(|_| words.get(at).is_some_and(|w| w == "(")) {
            let (args, next) = arguments(words, at + 1)?;
            at = next;
            let mut expanded = Vec::with_capacity(args.len());
            for arg in args {
                let mut tokens = Vec::new();
                expand_into(arg, scope, hidden, &mut tokens)?;
                expanded.push(tokens);
            }
            let mut substituted = Vec::new();
            for body_word in self::words(&function.body_text)? {
                match function.params.iter().position(|p| *p == body_word) {
                    Some(index) => substituted.extend(expanded.get(index).into_iter().flatten().cloned()),
                    None => substituted.push(body_word),
                }
            }
            hidden.push(word.clone());
            expand_into(&substituted, scope, hidden, out)?;
            hidden.pop();
        } else if let Some(body) = scope.constant(word).and_then(|c| c.unparenthesized) {
            hidden.push(word.clone());
            expand_into(&self::words(body)?, scope, hidden, out)?;
            hidden.pop();
        } else {
            out.push(word.clone());
        }
    }
    Ok(())
}

/// The arguments of a call whose `(` lies just before `start`, and where the call ends.
fn arguments(words: &[String], start: usize) -> Result<(Vec<&[String]>, usize), ExprError> {
    let (mut depth, mut from, mut args) = (0usize, start, Vec::new());
    for (at, word) in words.iter().enumerate().skip(start) {
        match word.as_str() {
            "(" => depth += 1,
            ")" if depth == 0 => {
                if at > start || !args.is_empty() {
                    args.push(&words[from..at]);
                }
                return Ok((args, at + 1));
            }
            ")" => depth -= 1,
            "," if depth == 0 => {
                args.push(&words[from..at]);
                from = at + 1;
            }
            _ => {}
        }
    }
    Err(ExprError::new("a macro call is never closed with `)`"))
}
