//! The `#define`s of a `config.h`, read line by line as QMK's info.json builder
//! reads them: no preprocessing, so a define inside any `#if` counts.

use std::collections::HashMap;

/// A define's value as QMK keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Define {
    /// `#define NAME VALUE...`: the words after the name, joined by one space.
    Text(String),
    /// `#define NAME` with nothing after it.
    Flag,
    /// A name given a value and `#undef`ined later in the same file: still
    /// present, as `false` (QMK's quirk; its mappings then see the key).
    Undefined,
}

/// Defines in the order first seen; a later define of a name replaces its value in place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Defines {
    entries: Vec<(String, Define)>,
    /// Where each name is in `entries`.
    index: HashMap<String, usize>,
}

impl Defines {
    pub fn get(&self, name: &str) -> Option<&Define> {
        self.index.get(name).map(|&at| &self.entries[at].1)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The text of a define with a value; empty for anything else.
    pub fn text(&self, name: &str) -> &str {
        match self.get(name) {
            Some(Define::Text(text)) => text,
            _ => "",
        }
    }

    pub fn set(&mut self, name: &str, value: Define) {
        match self.index.get(name) {
            Some(&at) => self.entries[at].1 = value,
            None => {
                self.index.insert(name.to_owned(), self.entries.len());
                self.entries.push((name.to_owned(), value));
            }
        }
    }

    fn remove(&mut self, name: &str) {
        self.entries.retain(|(n, _)| n != name);
        self.index = self.entries.iter().enumerate().map(|(at, (n, _))| (n.clone(), at)).collect();
    }

    /// Lays `later` over these: its names win.
    pub fn extend(&mut self, later: &Defines) {
        for (name, value) in &later.entries {
            self.set(name, value.clone());
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Define)> {
        self.entries.iter().map(|(n, d)| (n.as_str(), d))
    }
}

/// Reads the defines of one file. Block comments go first (strings are not
/// protected), then a line comment that follows whitespace; `#undef` removes a
/// bare define and marks a valued one [`Define::Undefined`].
pub fn parse_defines(text: &str) -> Defines {
    let mut defines = Defines::default();
    for_each_line(text, |words| match words {
        ["#define", name] => defines.set(name, Define::Flag),
        ["#define", name, value @ ..] if !value.is_empty() => defines.set(name, Define::Text(value.join(" "))),
        ["#undef", name] => match defines.get(name) {
            Some(Define::Flag) => defines.remove(name),
            Some(_) => defines.set(name, Define::Undefined),
            None => {}
        },
        _ => {}
    });
    defines
}

/// The directives a reduced `config.h` keeps: the ones [`parse_defines`] reads,
/// and the conditionals around them, so that a reader still sees which apply when.
const KEPT_DIRECTIVES: &[&str] =
    &["#define", "#undef", "#if", "#ifdef", "#ifndef", "#elif", "#elifdef", "#elifndef", "#else", "#endif"];

/// A `config.h` reduced to its defines and conditionals, one a line, words
/// separated by one space: comments, blank lines and every other line dropped.
/// [`parse_defines`] reads the same from it as from the whole file, bar comment
/// tricks that make a new comment marker out of two (the caller checks).
pub fn reduce_config_h(text: &str) -> String {
    let mut reduced = String::new();
    for_each_line(text, |words| {
        if words.first().is_some_and(|first| KEPT_DIRECTIVES.contains(first)) {
            reduced.push_str(&words.join(" "));
            reduced.push('\n');
        }
    });
    reduced
}

/// Each line's words as QMK's reader sees them: continued lines joined, block
/// comments and a trailing line comment dropped.
fn for_each_line(text: &str, mut visit: impl FnMut(&[&str])) {
    let text = strip_block_comments(&super::join_continued_lines(text));
    for line in text.split('\n') {
        let words: Vec<&str> = strip_trailing_comment(line).split_whitespace().collect();
        visit(&words);
    }
}

/// Drops every `/* ... */`, markers inside strings included.
fn strip_block_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("/*") {
        let Some(close) = rest[open + 2..].find("*/") else { break };
        out.push_str(&rest[..open]);
        rest = &rest[open + 2 + close + 2..];
    }
    out.push_str(rest);
    out
}

/// Cuts a line at the first run of whitespace followed by `//` or `/*`.
fn strip_trailing_comment(line: &str) -> &str {
    let mut run_start = None;
    for (at, c) in line.char_indices() {
        if c.is_whitespace() {
            run_start.get_or_insert(at);
            continue;
        }
        if let Some(start) = run_start.take()
            && c == '/'
            && matches!(line.as_bytes().get(at + 1), Some(b'/' | b'*'))
        {
            return &line[..start];
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_flags_and_undefs_as_qmk_does() {
        let defines = parse_defines(
            "#define MATRIX_ROWS 5 // rows\n#define  A  1  2\n/* #define HIDDEN 1 */\n#define FLAG\n\
             #define GONE\n#undef GONE\n#define KEPT 3\n#undef KEPT\n# define SPACED 1\n#define LONG \\\n  2\n\
             #define X 1// no space, kept\n",
        );
        assert_eq!(defines.get("MATRIX_ROWS"), Some(&Define::Text("5".into())));
        assert_eq!(defines.text("A"), "1 2");
        assert!(!defines.contains("HIDDEN") && !defines.contains("GONE") && !defines.contains("SPACED"));
        assert_eq!(defines.get("FLAG"), Some(&Define::Flag));
        assert_eq!(defines.get("KEPT"), Some(&Define::Undefined));
        assert_eq!(defines.text("LONG"), "2");
        assert_eq!(defines.text("X"), "1// no space, kept");
    }

    #[test]
    fn a_reduced_file_keeps_defines_and_conditionals_only() {
        let text = "/* Copyright someone\n * licence text\n */\n#pragma once\n\n#include \"config_common.h\"\n\
                    // the matrix\n#define MATRIX_ROWS 5   // rows\n#ifndef  SPLIT\n#  define SPACED 1\n#define LONG \\\n  2\n\
                    #undef LONG\n#endif /* SPLIT */\n";
        let reduced = reduce_config_h(text);
        assert_eq!(reduced, "#define MATRIX_ROWS 5\n#ifndef SPLIT\n#define LONG 2\n#undef LONG\n#endif\n");
        assert_eq!(parse_defines(&reduced), parse_defines(text));
    }

    #[test]
    fn later_files_win() {
        let mut base = parse_defines("#define A 1\n#define B 2\n");
        base.extend(&parse_defines("#define B 3\n#define C\n"));
        let names: Vec<_> = base.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["A", "B", "C"]);
        assert_eq!(base.text("B"), "3");
    }
}
