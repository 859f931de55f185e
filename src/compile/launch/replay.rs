//! A warm build without make: the commands make ran for the keyboard's reference
//! keymap ([`Graph`]), run again for another keymap, in the order they started, with
//! the keymap's name and the build's folder replaced by this build's.
//!
//! A replay is make's build only where make would have run the same commands. Make's
//! parse reads the keymap only through the commands that name the keymap's folder, its
//! name or a file such a command wrote ([`Step::keymap`]); those run again, and where
//! what they print or what their generators write differs from the recording (a keymap
//! whose `config` or `modules` change QMK's rules or headers), the replay stops and the
//! build goes through make. json2c's keymap.c is the one file that is expected to
//! differ: only compiles read it, and compiles key their results on what they read.
//!
//! What a replay skips, each assuming only what is stated:
//! - a `$(shell ...)` that names nothing of the keymap's and launches no generator:
//!   make's parse took its output, which the recording has; it writes no file (a file
//!   it would have written is missing, and a command that needs it fails: the build
//!   then goes through make);
//! - a recipe line that only prints (`printf`, `echo`, `awk`... without a redirection):
//!   its recorded output is printed;
//! - `mkdir -p` of plain paths: the folders are made here;
//! - a compile whose result the cache keeps for this build's inputs: the object and its
//!   dependency file are written here, and the recipe's recorded output printed (the
//!   rest of such a recipe moves the dependency file for a later make of the same
//!   folder, which a build's folder never sees).
//!
//! Compiles the cache lacks run through the launcher as under make, up to one a core at
//! a time; any other command waits for them.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::graph::{Call, Graph, Phase, Step};
use super::objects;
use super::shelf::Shelf;

/// Programs whose run, without a redirection, only prints.
const PRINTERS: [&str; 6] = ["printf", "echo", "awk", "false", "true", "test"];

/// What a replay did.
pub struct Replayed {
    pub reused: usize,
    pub compiled: usize,
}

/// Why a replay stopped.
pub type Stopped = String;

/// Replays `graph` for keymap `name` in the build folder `folder`, whose view of the tree
/// is `view`; make's log goes to `log`.
pub fn replay(
    graph: &Graph,
    shelf: &Shelf,
    view: &Path,
    name: &str,
    folder: &str,
    log: &std::fs::File,
) -> Result<Replayed, Stopped> {
    // Where make runs: the compiles reused here name their files from there.
    std::env::set_current_dir(view).map_err(|e| format!("cannot enter {}: {e}", view.display()))?;
    let with_ours = |text: &str| text.replace(&graph.folder, folder).replace(&graph.keymap, name);
    let base: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    let command = |step: &Step| {
        let mut command = Command::new("/bin/sh");
        command.args(step.args.iter().map(|a| with_ours(a))).current_dir(view).env_clear().envs(&base);
        let environment = graph.environments.get(step.environment).map(Vec::as_slice).unwrap_or_default();
        command.envs(environment.iter().map(|(k, v)| (k, with_ours(v))));
        command
    };
    let printed = |text: &str| {
        let _ = (&*log).write_all(with_ours(text).as_bytes());
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut running: Vec<(Child, &Step)> = Vec::new();
    let mut done = Replayed { reused: 0, compiled: 0 };
    for step in &graph.steps {
        let compile = match step.calls.as_slice() {
            // A compile of one unit: it reads no other compile's object (a link does).
            [Call::Compile { compiler, args }] if step.phase == Phase::Recipe && args.iter().any(|a| a == "-c") => {
                Some((compiler, args))
            }
            _ => None,
        };
        if let Some((compiler, args)) = compile {
            let args: Vec<OsString> = args.iter().map(|a| with_ours(a).into()).collect();
            if objects::reuse(shelf, compiler.as_ref(), &args) == Some(0) {
                printed(&step.stdout);
                done.reused += 1;
                continue;
            }
            while running.len() >= cores {
                finish(running.remove(0))?;
            }
            let child = command(step).stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?)).spawn();
            running.push((child.map_err(|e| format!("cannot run /bin/sh: {e}"))?, step));
            done.compiled += 1;
            continue;
        }
        let text = step.args.last().map(String::as_str).unwrap_or_default();
        match step.phase {
            Phase::Parse if !step.keymap && step.calls.iter().all(is_probe) => continue,
            Phase::Recipe if !step.keymap && step.calls.is_empty() && only_prints(text) => {
                printed(&step.stdout);
                continue;
            }
            Phase::Recipe
                if step.calls.is_empty()
                    && let Some(folders) = made_folders(text) =>
            {
                for made in folders {
                    std::fs::create_dir_all(view.join(with_ours(made)))
                        .map_err(|e| format!("cannot make {made}: {e}"))?;
                }
                continue;
            }
            _ => {}
        }
        for child in running.drain(..) {
            finish(child)?;
        }
        let ran = command(step).stdin(Stdio::null()).output().map_err(|e| format!("cannot run /bin/sh: {e}"))?;
        let code = ran.status.code().unwrap_or_else(|| super::signal_exit(ran.status));
        if code != step.code {
            return Err(format!("`{}` exited with {code}, not {} as when recorded", with_ours(text), step.code));
        }
        match step.phase {
            Phase::Recipe => printed(&String::from_utf8_lossy(&ran.stdout)),
            Phase::Parse if step.keymap && ran.stdout != with_ours(&step.stdout).as_bytes() => {
                return Err(format!("make's parse would read other output of `{}`", with_ours(text)));
            }
            Phase::Parse => {}
        }
        if step.keymap {
            same_outputs(step, view, &with_ours)?;
        }
    }
    for child in running {
        finish(child)?;
    }
    Ok(done)
}

/// Waits for a compile's recipe, which must end as it did when recorded.
fn finish((mut child, step): (Child, &Step)) -> Result<(), Stopped> {
    let status = child.wait().map_err(|e| e.to_string())?;
    let code = status.code().unwrap_or_else(|| super::signal_exit(status));
    if code == step.code {
        Ok(())
    } else {
        Err(format!("a compile exited with {code}, not {} as when recorded", step.code))
    }
}

/// Whether the files `step`'s generators wrote are those of the recording; json2c's
/// keymap.c aside.
fn same_outputs(step: &Step, view: &Path, with_ours: &dyn Fn(&str) -> String) -> Result<(), Stopped> {
    let json2c =
        step.calls.iter().any(|call| matches!(call, Call::Qmk { args } if args.first().is_some_and(|a| a == "json2c")));
    if json2c {
        return Ok(());
    }
    for (path, recorded) in &step.outputs {
        let now = std::fs::read(view.join(with_ours(path))).ok().and_then(|b| String::from_utf8(b).ok());
        if now != recorded.as_deref().map(with_ours) {
            return Err(format!("the keymap makes {path} other than the reference keymap did"));
        }
    }
    Ok(())
}

/// A compiler's option probe, which writes nothing.
fn is_probe(call: &Call) -> bool {
    matches!(call, Call::Compile { args, .. } if args.windows(2).any(|w| w[0] == "-o" && w[1] == "/dev/null"))
}

/// Whether a recipe line only runs programs that print, with no redirection and no
/// substitution.
fn only_prints(text: &str) -> bool {
    if text.contains(['>', '<', '`', '\\']) || text.contains("$(") {
        return false;
    }
    commands(text).iter().all(|command| command.split_whitespace().next().is_some_and(|p| PRINTERS.contains(&p)))
}

/// The commands of a line, split at `|`, `;` and `&` outside quotes.
fn commands(text: &str) -> Vec<&str> {
    let (mut commands, mut start, mut quote) = (Vec::new(), 0, None);
    for (at, c) in text.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(open), _) if c == open => quote = None,
            (None, '|' | ';' | '&') => {
                commands.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    commands.push(&text[start..]);
    commands.into_iter().map(str::trim).filter(|c| !c.is_empty()).collect()
}

/// The folders of a recipe line that is `mkdir -p` of plain paths.
fn made_folders(text: &str) -> Option<Vec<&str>> {
    let folders: Vec<&str> = text.trim().strip_prefix("mkdir -p ")?.split_whitespace().collect();
    let plain = |path: &&str| path.chars().all(|c| c.is_ascii_alphanumeric() || "_./+-".contains(c));
    (!folders.is_empty() && folders.iter().all(plain)).then_some(folders)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_lines_that_print_without_redirection_are_skipped() {
        assert!(only_prints(r#"false || printf "Compiling: quantum/a.c" | awk '{ printf "%-99s", $0; }'"#));
        assert!(!only_prints(r#"printf "x" > .build/file"#));
        assert!(!only_prints("echo $(rm -rf x)"));
        assert!(!only_prints("cp a b && printf ok"));
        assert!(!only_prints("printf 'a;b' ; rm x"));
        assert_eq!(commands("printf 'a;b' | awk '{ x; }'"), ["printf 'a;b'", "awk '{ x; }'"]);
    }

    #[test]
    fn only_mkdir_of_plain_paths_is_made_here() {
        assert_eq!(made_folders("mkdir -p .build/obj_a/quantum"), Some(vec![".build/obj_a/quantum"]));
        assert_eq!(made_folders("mkdir -p a b/c"), Some(vec!["a", "b/c"]));
        assert_eq!(made_folders("mkdir -p $HOME/x"), None);
        assert_eq!(made_folders("mkdir -p a; rm b"), None);
        assert_eq!(made_folders("mkdir a"), None);
    }
}
