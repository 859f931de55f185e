//! What the command line says about itself: every command's help, its version, shell
//! completions and the manual page.

mod common;

use common::firmware::on_path;
use common::*;

const COMMANDS: [&str; 15] = [
    "build",
    "check",
    "lock",
    "import",
    "keycode",
    "validate",
    "draw",
    "json2c",
    "compile",
    "mass-compile",
    "serve",
    "worker",
    "migrate",
    "completions",
    "man",
];

#[test]
fn every_command_describes_each_argument_and_shows_an_example() {
    let top = expect_stdout(run(&["--help"]));
    for command in COMMANDS {
        assert!(top.contains(&format!("\n  {command} ")), "`{command}` is listed: {top}");
        let help = expect_stdout(run(&[command, "--help"]));
        assert!(help.contains("\nExample"), "`{command} --help` shows an example:\n{help}");
        let arguments = help.split("\nArguments:\n").nth(1).map(|rest| rest.split("\n\n").next().unwrap());
        for line in arguments.into_iter().flat_map(str::lines) {
            let described = line.trim_start().split_once(' ').is_some_and(|(_, text)| !text.trim().is_empty());
            assert!(described || line.starts_with("          "), "`{command}`: {line:?} has no description:\n{help}");
        }
    }
}

#[test]
fn the_long_version_names_the_commit_and_the_bundled_constants() {
    let version = expect_stdout(run(&["--version"]));
    assert!(version.starts_with(&format!("qmk-api {} (commit ", env!("CARGO_PKG_VERSION"))), "{version}");
    assert!(version.contains("\nbundled constants: keycodes 0.0.1–0.0.8\n"), "{version}");
    assert_eq!(expect_stdout(run(&["-V"])), format!("qmk-api {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn completions_cover_every_command_and_bash_reads_them() {
    let bash = expect_stdout(run(&["completions", "bash"]));
    for command in COMMANDS {
        assert!(bash.contains(command), "bash completes `{command}`");
    }
    assert!(bash.contains("--keycodes-version") && bash.contains("--qmk-home"), "options too");
    if on_path("bash") {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("qmk-api.bash");
        std::fs::write(&script, &bash).unwrap();
        let checked = std::process::Command::new("bash").arg("-n").arg(&script).output().unwrap();
        assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    }
    assert!(expect_stdout(run(&["completions", "zsh"])).starts_with("#compdef qmk-api"));
    assert!(expect_stdout(run(&["completions", "fish"])).contains("complete -c qmk-api"));
    expect_exit(&run(&["completions", "tcsh"]), 2);
}

#[test]
fn the_manual_page_is_roff_naming_every_command() {
    let page = expect_stdout(run(&["man"]));
    assert!(page.contains(".TH qmk-api 1"), "{page}");
    for command in COMMANDS {
        assert!(page.contains(&command.replace('-', "\\-")), "the page names `{command}`");
    }
}

fn expect_stdout(output: std::process::Output) -> String {
    expect_exit(&output, 0);
    stdout(&output)
}
