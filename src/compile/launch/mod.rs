//! The programs QMK's make runs, launched through `qmk-api launch` so that a warm
//! build skips what it has already done:
//!
//! - `launch qmk ARGS` stands for QMK's CLI. Its generators (`generate-*`, `json2c`)
//!   are pure functions of their arguments, the files those name (the keymap.json)
//!   and the tree, so their effects (exit status, output, the file written) are kept
//!   under a digest of all that and replayed ([`memo`]). `generate-version-h` writes
//!   the time: where git is skipped, that is all that varies, and the time the tree's
//!   state was first built is kept, which makes firmware that embeds it (VIA's EEPROM
//!   magic) the same from build to build; in a git checkout it also writes git's
//!   state, and is kept for the one build only, whose second parse of the make files
//!   would otherwise run it again. What runs goes to the builder's Python fork server
//!   when there is one ([`python`]).
//! - `launch cc COMPILER ARGS` stands for the compiler. QMK probes compiler options
//!   by compiling `/dev/null`; a probe's result depends only on the compiler and the
//!   options, so it is kept like a generator's. Compiles of one source into one object
//!   are kept by [`objects`], for the next build that compiles the same unit from the
//!   same inputs.
//!
//! - `launch sh ARGS` stands for make's shell in a reference build, which [`record`]s
//!   the commands make runs; the next keymap of the keyboard [`replay`]s them without
//!   make ([`graph`]).
//!
//! What a build keeps waits in its staging folder until the builder publishes it
//! ([`shelf`]).

pub mod build;
pub mod graph;
pub mod memo;
mod native;
pub mod objects;
pub mod python;
pub mod record;
pub mod replay;
pub mod shelf;

use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus};

use sha2::{Digest, Sha256};

use crate::compile::tree_state::{file_stamp, program_stamp};
use python::Script;
use shelf::Shelf;

/// The cache folder warm builds share.
pub const CACHE_ENV: &str = "QMK_API_CACHE";
/// The build's own staging folder (see [`shelf`]).
pub const STAGING_ENV: &str = "QMK_API_STAGING";
/// The digest of the tree the build reads.
pub const TREE_ENV: &str = "QMK_API_TREE";
/// Unique to one build.
pub const BUILD_ENV: &str = "QMK_API_BUILD";
/// The build's own folder: generators print and write absolute paths below it, which
/// are kept as a mark and given back as the replaying build's folder.
pub const WORK_ENV: &str = "QMK_API_WORK";
/// The keymap's name, which every compile of a build carries (see [`objects`]).
pub const KEYMAP_ENV: &str = "QMK_API_KEYMAP";
/// Python's byte code kept in the cache, which a build copies into its own
/// (`PYTHONPYCACHEPREFIX`) before it starts (see [`build`]).
pub const BYTE_CODE_ENV: &str = "QMK_API_BYTE_CODE";

/// The first argument of `qmk-api launch`.
pub const SUBCOMMAND: &str = "launch";

/// The Python fork server's folder, in the cache.
pub const SERVER_FOLDER: &str = "server";

/// How a run ended, and what it printed.
pub struct Ran {
    /// As a shell reports it: 128 + the signal for a run a signal ended.
    pub code: i32,
    /// Whether it exited (rather than being ended by a signal).
    pub exited: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `args` (`qmk ...` or `cc COMPILER ...`) and returns the exit code; execs the
/// program instead when nothing is to be kept.
pub fn run(args: &[OsString]) -> i32 {
    let shelf = Shelf::from_env();
    match args.split_first() {
        Some((kind, rest)) if kind == "qmk" => qmk(shelf.as_ref(), rest),
        Some((kind, rest)) if kind == "cc" && !rest.is_empty() => cc(shelf.as_ref(), &rest[0], &rest[1..]),
        Some((kind, rest)) if kind == build::SUBCOMMAND => build::run(rest),
        Some((kind, rest)) if kind == record::SUBCOMMAND => record::shell(rest),
        _ => {
            eprintln!(
                "usage: qmk-api {SUBCOMMAND} qmk ARGS... | cc COMPILER ARGS... | sh ARGS... | build FOLDER TREE TARGET MAKE ARGS..."
            );
            2
        }
    }
}

fn qmk(shelf: Option<&Shelf>, args: &[OsString]) -> i32 {
    record::note_call(|| Some(graph::Call::Qmk { args: texts(args)? }));
    if let Some(code) = native::run(args) {
        return code;
    }
    let program = OsStr::new("qmk");
    let Some(shelf) = shelf else { return exec(program, args) };
    let skips_git = args.iter().any(|a| a == "--skip-git" || a == "--skip-all");
    let scope = args.first().and_then(|a| a.to_str()).and_then(|subcommand| match subcommand {
        "generate-version-h" if !skips_git => std::env::var(BUILD_ENV).ok(),
        "json2c" => std::env::var(TREE_ENV).ok(),
        _ if subcommand.starts_with("generate-") => std::env::var(TREE_ENV).ok(),
        _ => None,
    });
    let script = Script::find(program);
    let tree = std::env::var(TREE_ENV).unwrap_or_default();
    let server = shelf.cache().join(SERVER_FOLDER);
    let Some(scope) = scope else {
        let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
        let stdio = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
        let served = script.and_then(|script| python::call(&server, &script, args, &tree, stdio));
        return served.map_or_else(|| exec(program, args), shell_code);
    };
    let work = std::env::var_os(WORK_ENV).map(OsString::into_encoded_bytes).unwrap_or_default();
    memo::memoized(shelf, &scope, &work, program, args, || {
        if let Some(script) = &script {
            let (stdout, stderr) = (tempfile::tempfile()?, tempfile::tempfile()?);
            let stdin = std::io::stdin();
            let stdio = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
            if let Some(status) = python::call(&server, script, args, &tree, stdio) {
                let read = |mut file: std::fs::File| -> std::io::Result<Vec<u8>> {
                    use std::io::{Read, Seek};
                    let mut bytes = Vec::new();
                    file.seek(std::io::SeekFrom::Start(0))?;
                    file.read_to_end(&mut bytes)?;
                    Ok(bytes)
                };
                return Ok(Ran {
                    code: shell_code(status),
                    exited: status >= 0,
                    stdout: read(stdout)?,
                    stderr: read(stderr)?,
                });
            }
        }
        output(program, args)
    })
}

fn cc(shelf: Option<&Shelf>, compiler: &OsString, args: &[OsString]) -> i32 {
    record::note_call(|| Some(graph::Call::Compile { compiler: compiler.to_str()?.to_owned(), args: texts(args)? }));
    match shelf {
        Some(shelf) if is_probe(args) => {
            let work = std::env::var_os(WORK_ENV).map(OsString::into_encoded_bytes).unwrap_or_default();
            memo::memoized(shelf, "", &work, compiler, args, || output(compiler, args))
        }
        Some(shelf) => objects::compile(shelf, compiler, args).unwrap_or_else(|| exec(compiler, args)),
        None => exec(compiler, args),
    }
}

/// QMK's compiler option probes: `-o /dev/null -x c /dev/null`.
fn is_probe(args: &[OsString]) -> bool {
    args.windows(2).any(|w| w[0] == "-o" && w[1] == "/dev/null") && args.last().is_some_and(|a| a == "/dev/null")
}

/// The arguments as text, if they all are.
fn texts(args: &[OsString]) -> Option<Vec<String>> {
    args.iter().map(|a| a.to_str().map(str::to_owned)).collect()
}

/// This process's environment as text; `None` if any of it is not.
fn text_environment() -> Option<std::collections::BTreeMap<String, String>> {
    std::env::vars_os().map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

/// Replaces this process with the program.
fn exec(program: &OsStr, args: &[OsString]) -> i32 {
    let error = Command::new(program).args(args).exec();
    eprintln!("qmk-api {SUBCOMMAND}: cannot run {}: {error}", program.to_string_lossy());
    127
}

/// Runs the program, its output captured.
fn output(program: &OsStr, args: &[OsString]) -> std::io::Result<Ran> {
    let ran = Command::new(program).args(args).output()?;
    let (code, exited) = ran.status.code().map_or((signal_exit(ran.status), false), |code| (code, true));
    Ok(Ran { code, exited, stdout: ran.stdout, stderr: ran.stderr })
}

/// The exit code a shell reports for an exit status (negative: the ending signal).
fn shell_code(status: i32) -> i32 {
    if status < 0 { 128 - status } else { status }
}

/// The exit code a shell reports for a program ended by a signal.
pub(crate) fn signal_exit(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    128 + status.signal().unwrap_or(0)
}

/// Feeds one length-prefixed field to a digest: fields never run into each other.
fn field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// `bytes` with `with` in place of the `len` bytes at each of `starts` (ascending;
/// one that overlaps the previous replaced run is skipped).
fn splice(bytes: &[u8], starts: impl IntoIterator<Item = usize>, len: usize, with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut from = 0;
    for at in starts {
        if at >= from {
            out.extend_from_slice(&bytes[from..at]);
            out.extend_from_slice(with);
            from = at + len;
        }
    }
    out.extend_from_slice(&bytes[from..]);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn args(text: &str) -> Vec<OsString> {
        text.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn only_probes_of_dev_null_are_probes() {
        assert!(is_probe(&args("-Wfoo -Wl,--unresolved-symbols=ignore-all -o /dev/null -x c /dev/null")));
        assert!(!is_probe(&args("-c -o .build/x.o quantum/x.c")));
        assert!(!is_probe(&args("-E -o /dev/null quantum/x.c")));
    }
}
