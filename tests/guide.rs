//! The README's and the guide's examples, run as written: each ```` ```lang file=NAME ````
//! block is written into an empty folder, each `$ command` of a ```` ```console ```` block
//! is run there by `sh` (stderr with stdout), in order, and must print the lines that
//! follow it, where `...` stands for any text (a line of its own: any lines). A command that prints an `error:` line must
//! fail; any other must succeed.

use std::path::Path;
use std::process::Command;

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

#[test]
fn the_guides_examples_print_what_it_shows() {
    let ran = run_examples(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/guide.md").as_path());
    assert!(ran >= 10, "the guide runs {ran} commands");
}

#[test]
fn the_readmes_examples_print_what_it_shows() {
    let ran = run_examples(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md").as_path());
    assert!(ran >= 3, "the README runs {ran} commands");
}

#[test]
fn the_guides_picture_is_what_draw_makes_of_its_example() {
    let guide = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let text = std::fs::read_to_string(guide.join("guide.md")).unwrap();
    let (_, example) = code_blocks(&text).into_iter().find(|(info, _)| info.ends_with("file=extended.json")).unwrap();
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("extended.json"), example).unwrap();
    let drawn = Command::new(env!("CARGO_BIN_EXE_qmk-api"))
        .args(["draw", "extended.json", "--quiet"])
        .current_dir(folder.path())
        .output()
        .unwrap();
    assert!(drawn.status.success(), "{}", String::from_utf8_lossy(&drawn.stderr));
    let shown = std::fs::read(guide.join("extended.svg")).unwrap();
    assert!(drawn.stdout == shown, "docs/extended.svg is not what `qmk-api draw` makes of the guide's extended.json");
}

/// Runs the examples of `document`, returning how many commands ran.
fn run_examples(document: &Path) -> usize {
    let text = std::fs::read_to_string(document).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for (info, block) in code_blocks(&text) {
        if let Some(name) = info.split_whitespace().find_map(|word| word.strip_prefix("file=")) {
            std::fs::write(folder.path().join(name), &block).unwrap();
        } else if info == "console" {
            for (command, expected) in commands(&block) {
                check(folder.path(), &command, &expected, document);
                ran += 1;
            }
        }
    }
    ran
}

/// Each fenced code block: its info string and its text.
fn code_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => open = Some((info.to_string(), String::new())),
            Event::Text(text) => {
                if let Some((_, block)) = &mut open {
                    block.push_str(&text);
                }
            }
            Event::End(TagEnd::CodeBlock) => blocks.extend(open.take()),
            _ => {}
        }
    }
    blocks
}

/// A console block's commands, each with the lines it should print.
fn commands(block: &str) -> Vec<(String, Vec<String>)> {
    let mut commands: Vec<(String, Vec<String>)> = Vec::new();
    for line in block.lines() {
        match (line.strip_prefix("$ "), commands.last_mut()) {
            (Some(command), _) => commands.push((command.to_owned(), Vec::new())),
            (None, Some((_, expected))) => expected.push(line.to_owned()),
            (None, None) => panic!("a console block starts with a command: {line:?}"),
        }
    }
    commands
}

fn check(folder: &Path, command: &str, expected: &[String], document: &Path) {
    let binaries = Path::new(env!("CARGO_BIN_EXE_qmk-api")).parent().unwrap();
    let path = format!("{}:{}", binaries.display(), std::env::var("PATH").unwrap_or_default());
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1; {command}"))
        .current_dir(folder)
        .env("PATH", path)
        .env("XDG_CACHE_HOME", folder.join(".cache"))
        .env_remove("QMK_HOME")
        .env_remove("QMK_API_CACHE")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    let matches = fits_lines(&lines, expected);
    let document = document.display();
    assert!(matches, "{document}: `{command}` printed:\n{printed}\nnot:\n{}", expected.join("\n"));
    let should_fail = expected.iter().any(|line| line.starts_with("error:"));
    assert_eq!(!output.status.success(), should_fail, "{document}: `{command}` ended with {}", output.status);
}

/// Whether `lines` are `patterns`, where a pattern `...` stands for any lines.
fn fits_lines(lines: &[&str], patterns: &[String]) -> bool {
    match patterns.split_first() {
        None => lines.is_empty(),
        Some((any, rest)) if any == "..." => (0..=lines.len()).any(|skipped| fits_lines(&lines[skipped..], rest)),
        Some((pattern, rest)) => {
            lines.split_first().is_some_and(|(line, more)| fits(line, pattern) && fits_lines(more, rest))
        }
    }
}

/// Whether `line` is `pattern`, where `...` in the pattern stands for any text.
fn fits(line: &str, pattern: &str) -> bool {
    let parts: Vec<String> = pattern.split("...").map(regex::escape).collect();
    regex::Regex::new(&format!("^{}$", parts.join(".*"))).unwrap().is_match(line)
}
