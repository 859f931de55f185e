//! The programs QMK's make runs, launched through `qmk-api launch` so that a warm
//! build skips what it has already done:
//!
//! - `launch qmk ARGS` stands for QMK's CLI. Its generators (`generate-*`, `json2c`)
//!   are pure functions of their arguments, the files those name (the keymap.json)
//!   and the tree, so their effects (exit status, output, the file written) are kept
//!   under a digest of all that and replayed. `generate-version-h` writes the time:
//!   where git is skipped, that is all that varies, and the time the tree's state was
//!   first built is kept, which makes firmware that embeds it (VIA's EEPROM magic)
//!   the same from build to build; in a git checkout it also writes git's state, and
//!   is kept for the one build only, whose second parse of the make files would
//!   otherwise run it again.
//! - `launch cc COMPILER ARGS` stands for the compiler. QMK probes compiler options
//!   by compiling `/dev/null` hundreds of times a build; a probe's result depends only
//!   on the compiler and the options, so it is kept like a generator's. Everything
//!   else is compiled through ccache when there is one.
//!
//! What is kept is exactly what the program did; a replay cannot differ from a run.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use super::tree_state::{find_program, hex};

/// The folder of kept results.
pub const MEMO_ENV: &str = "QMK_API_MEMO";
/// The digest of the tree the build reads.
pub const TREE_ENV: &str = "QMK_API_TREE";
/// Unique to one build.
pub const BUILD_ENV: &str = "QMK_API_BUILD";
/// ccache's path, when compiles go through it.
pub const CCACHE_ENV: &str = "QMK_API_CCACHE";
/// The build's own folder: generators print and write absolute paths below it, which
/// are kept as [`WORK_MARK`] and given back as the replaying build's folder.
pub const WORK_ENV: &str = "QMK_API_WORK";

/// Stands for the build's folder in kept results; no text file holds a NUL.
const WORK_MARK: &[u8] = b"\0qmk-api-work\0";

/// The first argument of `qmk-api launch`.
pub const SUBCOMMAND: &str = "launch";

/// What a kept result says about the run.
const STATUS: &str = "status";

/// Runs `args` (`qmk ...` or `cc COMPILER ...`) and returns the exit code; execs the
/// program instead when nothing is to be kept.
pub fn run(args: &[OsString]) -> i32 {
    let (program, args, scope) = match args.split_first() {
        Some((kind, rest)) if kind == "qmk" => {
            let skips_git = rest.iter().any(|a| a == "--skip-git" || a == "--skip-all");
            let scope = rest.first().and_then(|a| a.to_str()).and_then(|subcommand| match subcommand {
                "generate-version-h" if !skips_git => std::env::var(BUILD_ENV).ok(),
                "json2c" => std::env::var(TREE_ENV).ok(),
                _ if subcommand.starts_with("generate-") => std::env::var(TREE_ENV).ok(),
                _ => None,
            });
            (OsStr::new("qmk"), rest, scope)
        }
        Some((kind, rest)) if kind == "cc" && !rest.is_empty() => {
            let scope = is_probe(&rest[1..]).then(String::new);
            (rest[0].as_os_str(), &rest[1..], scope)
        }
        _ => {
            eprintln!("usage: qmk-api {SUBCOMMAND} qmk ARGS... | cc COMPILER ARGS...");
            return 2;
        }
    };
    let memo = std::env::var_os(MEMO_ENV).map(PathBuf::from);
    let work = std::env::var_os(WORK_ENV).map(OsString::into_encoded_bytes).unwrap_or_default();
    match (memo, scope) {
        (Some(memo), Some(scope)) => memoized(&memo, &scope, &work, program, args),
        _ => exec(program, args),
    }
}

/// QMK's compiler option probes: `-o /dev/null -x c /dev/null`.
fn is_probe(args: &[OsString]) -> bool {
    args.windows(2).any(|w| w[0] == "-o" && w[1] == "/dev/null") && args.last().is_some_and(|a| a == "/dev/null")
}

/// Replaces this process with the program (a compiler through ccache when set).
fn exec(program: &OsStr, args: &[OsString]) -> i32 {
    let error = match std::env::var_os(CCACHE_ENV).filter(|_| program != "qmk") {
        Some(ccache) => Command::new(ccache).arg(program).args(args).exec(),
        None => Command::new(program).args(args).exec(),
    };
    eprintln!("qmk-api {SUBCOMMAND}: cannot run {}: {error}", program.to_string_lossy());
    127
}

fn memoized(memo: &Path, scope: &str, work: &[u8], program: &OsStr, args: &[OsString]) -> i32 {
    let output = output_file(args);
    let key = key(scope, program, args, output.as_deref());
    let entry = memo.join(&key[..2]).join(&key);
    if let Some((code, stdout, stderr)) = replay(&entry, work, output.as_deref()) {
        let _ = std::io::stdout().write_all(&stdout);
        let _ = std::io::stderr().write_all(&stderr);
        return code;
    }
    let ran = match Command::new(program).args(args).output() {
        Ok(ran) => ran,
        Err(error) => {
            eprintln!("qmk-api {SUBCOMMAND}: cannot run {}: {error}", program.to_string_lossy());
            return 127;
        }
    };
    let _ = std::io::stdout().write_all(&ran.stdout);
    let _ = std::io::stderr().write_all(&ran.stderr);
    let Some(code) = ran.status.code() else { return signal_exit(ran.status) };
    // Keeping is best effort: a build never fails for it.
    let _ = keep(&entry, work, code, &ran.stdout, &ran.stderr, output.as_deref());
    code
}

/// The file a generator writes: the value of `-o`/`--output`, unless that is `/dev/null`.
fn output_file(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "-o" || arg == "--output" {
            return args.next().map(PathBuf::from).filter(|p| p != Path::new("/dev/null"));
        }
        if let Some(path) = arg.to_str().and_then(|a| a.strip_prefix("--output=")) {
            return Some(PathBuf::from(path));
        }
    }
    None
}

/// Everything the program's effects depend on, beside the tree: the program itself,
/// the arguments, and the content of each file an argument names (but the output).
fn key(scope: &str, program: &OsStr, args: &[OsString], output: Option<&Path>) -> String {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(scope.as_bytes());
    let found = find_program(&program.to_string_lossy());
    let identity = found.as_deref().and_then(|p| p.metadata().ok()).map(|m| (m.len(), m.mtime(), m.ino()));
    field(format!("{found:?} {identity:?}").as_bytes());
    for arg in args {
        field(arg.as_encoded_bytes());
        let path = Path::new(arg);
        if Some(path) != output && path.is_file() {
            field(&std::fs::read(path).unwrap_or_default());
        }
    }
    hex(&hasher.finalize())
}

/// Plays a kept result back: writes the file it wrote, and returns its exit code,
/// stdout and stderr; `None` when there is none.
fn replay(entry: &Path, work: &[u8], output: Option<&Path>) -> Option<(i32, Vec<u8>, Vec<u8>)> {
    let code: i32 = std::fs::read_to_string(entry.join(STATUS)).ok()?.trim().parse().ok()?;
    let read = |name: &str| std::fs::read(entry.join(name)).map(|bytes| replace(&bytes, WORK_MARK, work));
    let stdout = read("stdout").ok()?;
    let stderr = read("stderr").ok()?;
    if let Some(output) = output
        && let Ok(bytes) = read("output")
    {
        if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).ok()?;
        }
        std::fs::write(output, bytes).ok()?;
    }
    // Marks the entry as used, for pruning.
    let _ =
        std::fs::File::options().write(true).open(entry.join(STATUS)).and_then(|f| f.set_modified(SystemTime::now()));
    Some((code, stdout, stderr))
}

/// Stores a result: written aside, then renamed into place whole.
fn keep(
    entry: &Path,
    work: &[u8],
    code: i32,
    stdout: &[u8],
    stderr: &[u8],
    output: Option<&Path>,
) -> std::io::Result<()> {
    let parent = entry.parent().unwrap_or(entry);
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::tempdir_in(parent)?;
    let write = |name: &str, bytes: &[u8]| std::fs::write(staging.path().join(name), replace(bytes, work, WORK_MARK));
    write("stdout", stdout)?;
    write("stderr", stderr)?;
    if let Some(output) = output.filter(|o| o.is_file()) {
        write("output", &std::fs::read(output)?)?;
    }
    std::fs::write(staging.path().join(STATUS), code.to_string())?;
    // Another build may have kept the same result meanwhile; either copy serves.
    let staged = staging.keep();
    if std::fs::rename(&staged, entry).is_err() {
        std::fs::remove_dir_all(&staged)?;
    }
    Ok(())
}

/// `bytes` with every `from` replaced by `to`; unchanged when `from` is empty.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The exit code a shell reports for a program ended by a signal.
fn signal_exit(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    128 + status.signal().unwrap_or(0)
}

/// Removes kept results not used since `cutoff`, returning how many.
pub fn prune(memo: &Path, cutoff: SystemTime) -> std::io::Result<usize> {
    let mut removed = 0;
    let Ok(shards) = std::fs::read_dir(memo) else { return Ok(0) };
    for shard in shards {
        for entry in std::fs::read_dir(shard?.path())? {
            let entry = entry?.path();
            // A result being written has no status yet: its folder's time counts.
            let used = entry.join(STATUS).metadata().or_else(|_| entry.metadata()).and_then(|m| m.modified());
            if used.map_or(true, |time| time < cutoff) {
                std::fs::remove_dir_all(&entry)?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<OsString> {
        text.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn only_probes_of_dev_null_are_probes() {
        assert!(is_probe(&args("-Wfoo -Wl,--unresolved-symbols=ignore-all -o /dev/null -x c /dev/null")));
        assert!(!is_probe(&args("-c -o .build/x.o quantum/x.c")));
        assert!(!is_probe(&args("-E -o /dev/null quantum/x.c")));
    }

    #[test]
    fn the_output_file_is_found_in_each_spelling() {
        assert_eq!(output_file(&args("generate-config-h --output a/config.h k.json")), Some("a/config.h".into()));
        assert_eq!(output_file(&args("generate-version-h -q -o v.h")), Some("v.h".into()));
        assert_eq!(output_file(&args("json2c --output=k.c k.json")), Some("k.c".into()));
        assert_eq!(output_file(&args("x -o /dev/null /dev/null")), None);
    }

    #[test]
    fn a_kept_result_replays_its_output_and_file_and_the_key_follows_named_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("keymap.json");
        let output = dir.path().join("out/keymap.c");
        std::fs::write(&input, "{}").unwrap();
        let command = [OsString::from("--output"), output.clone().into(), input.clone().into()];
        let kept = key("tree", OsStr::new("sh"), &command, Some(&output));
        std::fs::create_dir_all(output.parent().unwrap()).unwrap();
        let entry = dir.path().join("memo").join(&kept);
        std::fs::write(&output, "#include \"/jobs/1/work/a.h\"").unwrap();
        keep(&entry, b"/jobs/1/work", 3, b"wrote /jobs/1/work/a.h", b"err", Some(&output)).unwrap();
        std::fs::remove_file(&output).unwrap();
        let replayed = replay(&entry, b"/jobs/2/work", Some(&output)).unwrap();
        assert_eq!(replayed, (3, b"wrote /jobs/2/work/a.h".to_vec(), b"err".to_vec()));
        assert_eq!(
            std::fs::read_to_string(&output).unwrap(),
            "#include \"/jobs/2/work/a.h\"",
            "paths follow the build"
        );
        assert_eq!(key("tree", OsStr::new("sh"), &command, Some(&output)), kept, "the output's content does not count");
        std::fs::write(&input, "{\"a\": 1}").unwrap();
        assert_ne!(key("tree", OsStr::new("sh"), &command, Some(&output)), kept, "the input's content does");
        assert_ne!(key("other", OsStr::new("sh"), &command, Some(&output)), kept, "the tree's state does");
    }

    #[test]
    fn unused_results_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("ab").join("abcd");
        keep(&entry, b"", 0, b"", b"", None).unwrap();
        assert_eq!(prune(dir.path(), SystemTime::now() - std::time::Duration::from_secs(60)).unwrap(), 0);
        assert_eq!(prune(dir.path(), SystemTime::now() + std::time::Duration::from_secs(60)).unwrap(), 1);
        assert!(!entry.exists());
    }
}
