//! `qmk-api launch build FOLDER TREE TARGET MAKE ARGS...`: the first process of a
//! firmware build, inside its sandbox. It lays out the build's folder (the job's
//! keymap.json, read from stdin, where there is one; qmk-api's make file; a view of the
//! tree), replays the keyboard's recorded build where there is one (see
//! [`replay`](super::replay)), or else starts QMK's CLI server for a warm build and
//! runs make in the view, and hands the firmware back on stdout as
//! `<format>\n<bytes>`; make's output goes to stderr.
//!
//! The view is a folder of links to the tree's top-level entries but build output,
//! beside the job's keymap folder: every relative path make and the compiler see is
//! then the same for every job of a keyboard, whatever its keymap's name, and the tree
//! itself is never written to.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::graph::{self, Graph};
use super::python::{Script, Server};
use super::shelf::Shelf;
use super::{BYTE_CODE_ENV, CACHE_ENV, KEYMAP_ENV, SERVER_FOLDER, STAGING_ENV, TREE_ENV, record, replay};
use crate::compile::builder::{FIRMWARE_FORMATS, is_firmware_file};

/// The second argument of `qmk-api launch` that starts a build.
pub const SUBCOMMAND: &str = "build";

/// qmk-api's make file, read after QMK's (see `probes.mk`).
const PROBES_MK: &str = include_str!("../probes.mk");

/// The largest keymap folder a build takes (requests are capped well below).
const KEYMAP_LIMIT: u64 = 16 << 20;

/// The files a job's keymap folder may hold; keymap.json is always there.
const KEYMAP_FILES: [&str; 5] = crate::keymap::extensions::c::FOLDER_FILES;

/// What the service hands a build on stdin: the keymap folder's files, as a JSON
/// object of file names and texts.
pub fn folder_input<S: AsRef<str>>(files: &[(&str, S)]) -> Vec<u8> {
    let object: serde_json::Map<String, serde_json::Value> =
        files.iter().map(|(name, text)| ((*name).to_owned(), text.as_ref().into())).collect();
    serde_json::to_vec(&object).expect("a map of strings is JSON")
}

/// The keymap folder's files from stdin's text; none for a keymap of the tree's.
fn read_folder_input(input: &[u8]) -> std::io::Result<Vec<(String, String)>> {
    if input.is_empty() {
        return Ok(Vec::new());
    }
    let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidData, message);
    let files: BTreeMap<String, String> =
        serde_json::from_slice(input).map_err(|e| invalid(format!("the keymap folder is not readable: {e}")))?;
    if let Some(name) = files.keys().find(|name| !KEYMAP_FILES.contains(&name.as_str())) {
        return Err(invalid(format!("`{name}` is no file of a keymap folder")));
    }
    if !files.contains_key("keymap.json") {
        return Err(invalid("the keymap folder has no keymap.json".to_owned()));
    }
    Ok(files.into_iter().collect())
}

/// Folders of the build's folder: the view of the tree, the keymap, and a home and a
/// temporary folder of the build's own.
pub const VIEW: &str = "qmk";
pub const KEYMAP: &str = "keymap";
pub const HOME: &str = "home";
pub const TEMPORARY: &str = "tmp";

pub fn run(args: &[OsString]) -> i32 {
    let [folder, tree, target, make, make_args @ ..] = args else {
        eprintln!("usage: qmk-api {} {SUBCOMMAND} FOLDER TREE TARGET MAKE ARGS...", super::SUBCOMMAND);
        return 2;
    };
    match build(Path::new(folder), Path::new(tree), target, make, make_args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("qmk-api: the build could not run: {error}");
            2
        }
    }
}

fn build(folder: &Path, tree: &Path, target: &OsStr, make: &OsStr, args: &[OsString]) -> std::io::Result<i32> {
    let mut input = Vec::new();
    std::io::stdin().take(KEYMAP_LIMIT).read_to_end(&mut input)?;
    let keymap = read_folder_input(&input)?;
    lay_out(folder, tree, &keymap).map_err(|e| context(e, format!("cannot lay out {}", folder.display())))?;
    copy_byte_code().map_err(|e| context(e, "cannot copy Python's byte code".into()))?;
    let view = folder.join(VIEW);
    let log = std::fs::File::from(std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned()?);
    let recorded = Recorded::of_build(folder, target, args)?;
    // A recorded build is of a keymap.json alone: files beside it change what make does.
    let replayed = match (&recorded, keymap.len()) {
        (Recorded::Replayable { graph, shelf, name, .. }, 1) if is_plain_name(name) => {
            match replay::replay(graph, shelf, &view, name, &folder.to_string_lossy(), &log) {
                Ok(replayed) => Some(replayed),
                Err(stopped) => {
                    eprintln!("qmk-api: the recorded build does not fit this keymap ({stopped}); make builds it");
                    clear_output(&view)?;
                    None
                }
            }
        }
        _ => None,
    };
    let code = match &replayed {
        Some(_) => 0,
        None => {
            // A replay needs no Python: what it runs of QMK's CLI is answered here or kept.
            let server = start_server(folder, tree).map_err(|e| context(e, "cannot start QMK's CLI server".into()))?;
            let mut make = Command::new(make);
            make.args(args).current_dir(&view).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(Stdio::inherit());
            if let Recorded::Recording { .. } = recorded {
                make.env(record::RECIPE_OUTPUT_ENV, record::output_mark(&log)?);
            }
            let status = make.status().map_err(|e| std::io::Error::new(e.kind(), format!("cannot run make: {e}")))?;
            // Ended and waited for: the time of the runs it served counts below.
            drop(server);
            status.code().unwrap_or_else(|| super::signal_exit(status))
        }
    };
    if code == 0 {
        recorded.keep(folder, &view);
    }
    let cpu = children_cpu();
    match (replayed, std::env::var_os(STAGING_ENV)) {
        (Some(replayed), _) => eprintln!(
            "qmk-api: {} objects compiled by this build, {} came from the cache; make's recorded commands for this \
             keyboard replayed without make; {cpu:.1} s of CPU",
            replayed.compiled, replayed.reused
        ),
        (None, Some(staging)) => {
            let compiled = super::objects::kept(Path::new(&staging));
            eprintln!(
                "qmk-api: {compiled} objects compiled by this build, the others came from the cache; {cpu:.1} s of CPU"
            );
        }
        (None, None) => eprintln!("qmk-api: the build took {cpu:.1} s of CPU"),
    }
    if code == 0
        && let Some((format, bytes)) = FIRMWARE_FORMATS.iter().find_map(|format| {
            let mut name = target.to_owned();
            name.push(format!(".{format}"));
            std::fs::read(view.join(name)).ok().map(|bytes| (format, bytes))
        })
    {
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(format!("{format}\n").as_bytes())?;
        stdout.write_all(&bytes)?;
        stdout.flush()?;
    }
    Ok(code)
}

/// The CPU time (user and system) of this process's children that ended and were
/// waited for, in seconds: the whole build's, whatever user or namespace it ran in.
fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command's name (in parentheses), from the state: cutime and cstime are
    // the 14th and 15th fields.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks: u64 = fields.get(13..15).map_or(0, |times| times.iter().filter_map(|t| t.parse::<u64>().ok()).sum());
    ticks as f64 / rustix::param::clock_ticks_per_second() as f64
}

/// What this build does with the graph of its keyboard's build (see [`graph`]).
enum Recorded {
    /// A reference build: make's commands are noted, and their graph kept.
    Recording {
        shelf: Shelf,
        key: String,
        environment: BTreeMap<String, String>,
        name: String,
        /// The folder its commands note into.
        notes: PathBuf,
    },
    /// A keymap whose keyboard's graph the cache holds.
    Replayable {
        shelf: Shelf,
        graph: Graph,
        name: String,
    },
    Neither,
}

impl Recorded {
    fn of_build(folder: &Path, target: &OsStr, args: &[OsString]) -> std::io::Result<Recorded> {
        let (Some(shelf), Some(environment), Ok(tree), Ok(name), Some(work), Some(target)) = (
            Shelf::from_env(),
            super::text_environment(),
            std::env::var(TREE_ENV),
            std::env::var(KEYMAP_ENV),
            folder.to_str(),
            target.to_str(),
        ) else {
            return Ok(Recorded::Neither);
        };
        let key = graph::key(&tree, target, args, &environment, work);
        if let Some(notes) = std::env::var_os(record::RECORD_ENV).map(PathBuf::from) {
            std::fs::create_dir_all(&notes)?;
            return Ok(Recorded::Recording { shelf, key, environment, name, notes });
        }
        Ok(match Graph::find(&shelf, &key) {
            Some(graph) => Recorded::Replayable { shelf, graph, name },
            None => Recorded::Neither,
        })
    }

    /// Keeps the graph of a recording build that succeeded (best effort: a build never
    /// fails for it).
    fn keep(&self, folder: &Path, view: &Path) {
        let Recorded::Recording { shelf, key, environment, name, notes } = self else { return };
        let assembled = record::assemble(notes, view, environment, name, &folder.to_string_lossy());
        if let Some(graph) = assembled {
            let _ = graph.keep(shelf, key);
        }
    }
}

/// A keymap name a replay puts into the recorded commands in place of the reference
/// keymap's: as the service accepts them, nothing a shell reads otherwise.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Removes what a stopped replay wrote: the build output and firmware in the view.
fn clear_output(view: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(view)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_name() == ".build" {
            std::fs::remove_dir_all(&path)?;
        } else if !entry.file_type()?.is_symlink() {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// `error`, saying what was being done.
fn context(error: std::io::Error, doing: String) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("{doing}: {error}"))
}

/// Empties `folder` (what an earlier build in it left), then writes the job's keymap
/// folder (none for a keymap of the tree's), qmk-api's make file, the view of the tree,
/// and the build's own home and temporary folders.
fn lay_out(folder: &Path, tree: &Path, keymap: &[(String, String)]) -> std::io::Result<()> {
    empty(folder)?;
    if !keymap.is_empty() {
        let keymap_folder = folder.join(KEYMAP);
        std::fs::create_dir_all(&keymap_folder)?;
        for (name, text) in keymap {
            std::fs::write(keymap_folder.join(name), text)?;
        }
    }
    std::fs::write(folder.join("probes.mk"), PROBES_MK)?;
    for own in [HOME, TEMPORARY] {
        std::fs::create_dir_all(folder.join(own))?;
    }
    let view = folder.join(VIEW);
    std::fs::create_dir_all(&view)?;
    for entry in std::fs::read_dir(tree)? {
        let name = entry?.file_name();
        if name != ".build" && !is_firmware_file(Path::new(&name)) {
            std::os::unix::fs::symlink(tree.join(&name), view.join(&name))?;
        }
    }
    Ok(())
}

/// Removes what `folder` holds (it may be a mount point, which stays), creating it
/// where it is missing.
fn empty(folder: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)?;
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Copies the byte code the cache keeps into the build's own (`PYTHONPYCACHEPREFIX`):
/// a build compiles only the modules no build compiled before, and keeps what it
/// compiles for its later runs, whatever it may write into the cache.
fn copy_byte_code() -> std::io::Result<()> {
    let (Some(kept), Some(own)) = (std::env::var_os(BYTE_CODE_ENV), std::env::var_os("PYTHONPYCACHEPREFIX")) else {
        return Ok(());
    };
    let (kept, own) = (Path::new(&kept), Path::new(&own));
    for entry in walkdir::WalkDir::new(kept).into_iter().filter_map(Result::ok) {
        let Ok(relative) = entry.path().strip_prefix(kept) else { continue };
        let target = own.join(relative);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target)?;
        } else if entry.file_type().is_file() && !target.exists() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// QMK's CLI server for a warm build (one whose cache is set), in the build's folder: it
/// lives as long as the build, and only this build's runs reach it.
fn start_server(folder: &Path, tree: &Path) -> std::io::Result<Option<Server>> {
    let (Some(_), Some(script)) = (std::env::var_os(CACHE_ENV), Script::find(OsStr::new("qmk"))) else {
        return Ok(None);
    };
    let server = Server::default();
    let socket_folder = folder.join(SERVER_FOLDER);
    std::fs::create_dir_all(&socket_folder)?;
    let environment = std::env::vars_os().collect();
    server.ensure(&socket_folder, &script, &environment, &std::env::var(TREE_ENV).unwrap_or_default(), tree)?;
    Ok(Some(server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_build_sees_the_tree_through_links_with_its_own_keymap_beside_and_no_build_output() {
        let tree = tempfile::tempdir().unwrap();
        for path in
            ["builddefs/build_keyboard.mk", "quantum/quantum.c", ".build/obj/x.o", "old_default.hex", "Makefile"]
        {
            let path = tree.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let work = tempfile::tempdir().unwrap();
        let folder = work.path().join("build");
        std::fs::create_dir_all(folder.join("leftover")).unwrap();
        std::fs::write(folder.join("leftover.log"), "").unwrap();
        lay_out(&folder, tree.path(), &read_folder_input(&folder_input(&[("keymap.json", "{}")])).unwrap()).unwrap();
        let view = folder.join(VIEW);
        let mut names: Vec<String> =
            std::fs::read_dir(&view).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["Makefile", "builddefs", "quantum"]);
        assert!(std::fs::symlink_metadata(view.join("quantum")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(folder.join(KEYMAP).join("keymap.json")).unwrap(), "{}");
        assert!(!folder.join("leftover").exists() && !folder.join("leftover.log").exists());
        assert!(folder.join(HOME).is_dir() && folder.join(TEMPORARY).is_dir());
    }

    #[test]
    fn a_keymap_folder_holds_only_a_keymap_folders_files() {
        let files = read_folder_input(&folder_input(&[("keymap.json", "{}"), ("rules.mk", "X = yes\n")])).unwrap();
        assert_eq!(
            files,
            [("keymap.json".to_owned(), "{}".to_owned()), ("rules.mk".to_owned(), "X = yes\n".to_owned())]
        );
        for (input, error) in [
            (folder_input(&[("keymap.json", "{}"), ("../../x.c", "")]), "`../../x.c` is no file of a keymap folder"),
            (folder_input(&[("rules.mk", "")]), "the keymap folder has no keymap.json"),
            (b"{\"keymap.json\": 5}".to_vec(), "the keymap folder is not readable"),
        ] {
            let message = read_folder_input(&input).unwrap_err().to_string();
            assert!(message.starts_with(error), "{message}");
        }
        assert!(read_folder_input(b"").unwrap().is_empty(), "a keymap of the tree's");
    }
}
