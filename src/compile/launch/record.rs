//! Recording a reference build as the commands make ran, for [`super::replay`].
//!
//! A recorded build runs make with `SHELL` set to `qmk-api launch sh`: every recipe
//! line and every `$(shell ...)` of the make files reaches [`shell`], which runs it with
//! `/bin/sh`, passes its output on and notes it (when it started, whether make parsed or
//! ran it, its environment, exit status and output). The launcher's own runs inside
//! such a command (a compile, a generator) note themselves beside it ([`note_call`]).
//! At the end of a successful build, [`assemble`] turns the notes into a [`Graph`].

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::graph::{Call, Graph, Phase, Step};
use super::memo::output_file;
use crate::compile::tree_state::find_program;

/// The folder a recorded build notes into.
pub const RECORD_ENV: &str = "QMK_API_RECORD";
/// The note of the command a launched run belongs to.
const COMMAND_ENV: &str = "QMK_API_COMMAND";
/// `device:inode` of make's standard output: a command writing there is a recipe; one
/// writing elsewhere (a pipe make reads) is a `$(shell ...)` of the parse.
pub const RECIPE_OUTPUT_ENV: &str = "QMK_API_RECIPE_OUTPUT";

/// The second argument of `qmk-api launch` that stands for the shell.
pub const SUBCOMMAND: &str = "sh";

const COMMANDS: &str = "commands";
const CALLS: &str = "calls";

/// One command make ran, as noted.
#[derive(Serialize, Deserialize)]
struct Noted {
    id: String,
    recipe: bool,
    args: Vec<String>,
    environment: BTreeMap<String, String>,
    code: i32,
    stdout: String,
}

/// One launched run inside a command, as noted.
#[derive(Serialize, Deserialize)]
struct NotedCall {
    command: String,
    folder: PathBuf,
    call: Call,
}

/// `qmk-api launch sh ARGS`: runs `/bin/sh ARGS`, noting it when the build records.
pub fn shell(args: &[OsString]) -> i32 {
    let Some(folder) = std::env::var_os(RECORD_ENV) else { return super::exec("/bin/sh".as_ref(), args) };
    let recipe = std::env::var(RECIPE_OUTPUT_ENV).is_ok_and(|mark| stdout_mark().is_some_and(|own| own == mark));
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let id = format!("{:020}-{:010}", started.as_nanos(), std::process::id());
    let child = Command::new("/bin/sh").args(args).env(COMMAND_ENV, &id).stdout(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(error) => {
            eprintln!("qmk-api {} {SUBCOMMAND}: cannot run /bin/sh: {error}", super::SUBCOMMAND);
            return 127;
        }
    };
    let mut stdout = Vec::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_end(&mut stdout);
    }
    let _ = std::io::stdout().write_all(&stdout);
    let _ = std::io::stdout().flush();
    let code = match child.wait() {
        Ok(status) => status.code().unwrap_or_else(|| super::signal_exit(status)),
        Err(_) => 127,
    };
    // A command that cannot be noted in text leaves the note incomplete, and no graph
    // is assembled from it (see `assemble`).
    let noted = match (super::texts(args), super::text_environment(), String::from_utf8(stdout)) {
        (Some(args), Some(environment), Ok(stdout)) => Noted { id, recipe, args, environment, code, stdout },
        _ => Noted { id, recipe, args: Vec::new(), environment: BTreeMap::new(), code: -1, stdout: String::new() },
    };
    append(&Path::new(&folder).join(COMMANDS), &noted);
    code
}

/// Notes a launched run inside a recorded command.
pub fn note_call(call: impl FnOnce() -> Option<Call>) {
    let (Some(folder), Some(command)) = (std::env::var_os(RECORD_ENV), std::env::var(COMMAND_ENV).ok()) else {
        return;
    };
    let noted = call().map(|call| NotedCall { command, folder: std::env::current_dir().unwrap_or_default(), call });
    match noted {
        Some(noted) => append(&Path::new(&folder).join(CALLS), &noted),
        // A run that cannot be noted spoils the record.
        None => append(&Path::new(&folder).join(CALLS), &"unnoted"),
    }
}

/// `device:inode` of this process's standard output.
fn stdout_mark() -> Option<String> {
    let stat = rustix::fs::fstat(std::io::stdout()).ok()?;
    Some(format!("{}:{}", stat.st_dev, stat.st_ino))
}

/// `device:inode` of a file, as [`RECIPE_OUTPUT_ENV`] holds it.
pub fn output_mark(file: &std::fs::File) -> std::io::Result<String> {
    let metadata = file.metadata()?;
    Ok(format!("{}:{}", metadata.dev(), metadata.ino()))
}

/// Appends one JSON line in a single write: notes of concurrent commands never mix.
fn append(path: &Path, note: &impl Serialize) {
    let Ok(mut line) = serde_json::to_vec(note) else { return };
    line.push(b'\n');
    let file = std::fs::File::options().create(true).append(true).open(path);
    let _ = file.and_then(|mut file| file.write_all(&line));
}

/// The graph of the build recorded in `folder`, whose make ran in `view` with the
/// environment `base` for keymap `name` in the build folder `work`; `None` when the notes do not make a complete
/// graph (then nothing is kept, and later builds go through make).
pub fn assemble(folder: &Path, view: &Path, base: &BTreeMap<String, String>, name: &str, work: &str) -> Option<Graph> {
    let lines = |file: &str| std::fs::read_to_string(folder.join(file)).unwrap_or_default();
    let mut commands: Vec<Noted> = lines(COMMANDS).lines().map(serde_json::from_str).collect::<Result<_, _>>().ok()?;
    let calls: Vec<NotedCall> = lines(CALLS).lines().map(serde_json::from_str).collect::<Result<_, _>>().ok()?;
    if commands.iter().any(|c| c.code < 0) || calls.iter().any(|c| c.folder != view) {
        return None;
    }
    commands.sort_by(|a, b| a.id.cmp(&b.id));
    let mut environments: Vec<Vec<(String, String)>> = Vec::new();
    let mut steps = Vec::with_capacity(commands.len());
    for command in commands {
        let difference: Vec<(String, String)> =
            command.environment.into_iter().filter(|(k, v)| k != COMMAND_ENV && base.get(k) != Some(v)).collect();
        let environment = match environments.iter().position(|e| *e == difference) {
            Some(at) => at,
            None => {
                environments.push(difference);
                environments.len() - 1
            }
        };
        let calls: Vec<Call> = calls.iter().filter(|c| c.command == command.id).map(|c| c.call.clone()).collect();
        let outputs = calls
            .iter()
            .filter_map(|call| match call {
                Call::Qmk { args } => output_file(&args.iter().map(OsString::from).collect::<Vec<_>>()),
                Call::Compile { .. } => None,
            })
            .map(|path| {
                let content = std::fs::read(view.join(&path)).ok().and_then(|b| String::from_utf8(b).ok());
                (path.to_string_lossy().into_owned(), content)
            })
            .collect();
        let phase = if command.recipe { Phase::Recipe } else { Phase::Parse };
        steps.push(Step {
            phase,
            args: command.args,
            environment,
            code: command.code,
            stdout: command.stdout,
            calls,
            outputs,
            keymap: false,
        });
    }
    let tools = tools(&steps);
    Graph::new(name, work, tools, environments, steps)
}

/// The programs the steps may run, with their stamps: every word of their text that
/// names a program on PATH, the shell and make.
fn tools(steps: &[Step]) -> Vec<(String, String)> {
    let mut names: Vec<&str> = vec!["sh", "make"];
    for step in steps {
        for arg in &step.args {
            names.extend(
                arg.split(|c: char| !(c.is_ascii_alphanumeric() || "_.+-".contains(c)))
                    .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_alphabetic())),
            );
        }
        for call in &step.calls {
            if let Call::Compile { compiler, .. } = call {
                names.push(compiler);
            }
        }
    }
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter(|name| find_program(name).is_some())
        .map(|name| (name.to_owned(), super::program_stamp(name.as_ref())))
        .collect()
}
