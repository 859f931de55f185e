//! Builders turn a checked keymap into firmware. Without a qmk_firmware checkout
//! there is none (keymap-only); with one, QMK's own make rules build each job as
//! `make <keyboard>:<keymap>` would with the job's keymap.json in the tree, in folders
//! of the job's own, under a time limit.
//!
//! A job's build runs in a view of the tree: a folder of links to the tree's top-level
//! entries, beside the job's keymap folder. Every relative path make and the compiler
//! see is then the same for every job of a keyboard, whatever its keymap's name, so
//! that the kept results of [`super::launch`] serve a keyboard's next keymap, and the
//! tree itself is never written to. Warm builds work in folders of fixed paths
//! ([`super::slots`]), so that absolute paths repeat too.
//!
//! A small make file of qmk-api's own is read after QMK's: each distinct compiler
//! option probe (`cc-option`) then runs once per make process instead of once per
//! compile (see `probes.mk`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::launch::{self, python, shelf};
use super::slots::Slot;
use super::tree_state::TreeState;
use crate::source::DataTree;

/// The build rules whose presence makes a tree a buildable qmk_firmware checkout.
const BUILD_RULES: &str = "builddefs/build_keyboard.mk";

/// qmk-api's make file, read after QMK's.
const PROBES_MK: &str = include_str!("probes.mk");

/// At most this much of a build's output is kept: its end, where errors are.
const OUTPUT_LIMIT: usize = 256 << 10;

/// Firmware formats QMK writes, in the order they are looked for.
const FIRMWARE_FORMATS: [&str; 3] = ["uf2", "hex", "bin"];

/// The job's keymap folder, as make finds it from the view of the tree.
const KEYMAP_FOLDER: &str = "../keymap";

/// The variables qmk-api gives make on its command line; make exports them to what it
/// runs.
pub(crate) const MAKE_VARIABLES: [&str; 14] = [
    "KEYBOARD",
    "KEYMAP",
    "KEYBOARD_FILESAFE",
    "TARGET",
    "MAIN_KEYMAP_PATH_1",
    "MAIN_KEYMAP_PATH_2",
    "MAIN_KEYMAP_PATH_3",
    "MAIN_KEYMAP_PATH_4",
    "MAIN_KEYMAP_PATH_5",
    "VERBOSE",
    "COLOR",
    "SILENT",
    "QMK_BIN",
    "CC_PREFIX",
];

/// The cache's folder of builds' staging folders.
const STAGING: &str = "staging";

#[derive(Debug, Clone)]
pub enum Builder {
    /// Checks the keymap and writes its sources; no firmware.
    KeymapOnly,
    Firmware(FirmwareBuilder),
}

#[derive(Debug, Clone)]
pub struct FirmwareBuilder {
    /// The tree's root, absolute.
    home: PathBuf,
    time_limit: Duration,
    /// QMK's top-level make file skips git where the tree is not a git work tree.
    skip_git: bool,
    /// What warm builds reuse; `None` builds everything every time.
    warm: Option<Warm>,
    state: Arc<TreeState>,
    /// The tree's digest when the job was taken, for the kept results' keys.
    tree_digest: Option<String>,
    /// The Python server and the builds waiting to be published, shared by the clones.
    shared: Arc<Shared>,
}

/// What a builder needs for warm builds.
#[derive(Debug, Clone)]
pub struct Warm {
    /// Where builds keep what they reuse: objects, launch results, byte code, folders.
    pub cache: PathBuf,
    /// The qmk-api binary, run as `qmk-api launch` by make.
    pub launcher: PathBuf,
}

#[derive(Debug, Default)]
struct Shared {
    server: python::Server,
    /// Ended builds' staging folders, with the tree's digest each was keyed on.
    unpublished: Mutex<Vec<(PathBuf, String)>>,
}

impl Warm {
    /// Warm builds from `cache`, launched by this very program (qmk-api).
    pub fn in_folder(cache: PathBuf) -> std::io::Result<Warm> {
        Ok(Warm { cache, launcher: std::env::current_exe()? })
    }
}

/// What to build: a keyboard and a keymap in QMK's configurator format.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub keyboard: &'a str,
    pub keymap: &'a str,
    /// Written as the keymap folder's `keymap.json`.
    pub keymap_json: &'a str,
}

/// What one firmware build did.
#[derive(Debug)]
pub struct Build {
    pub returncode: i32,
    /// make's output (stdout and stderr, interleaved), its end if it was long.
    pub output: String,
    /// The firmware file, moved into the job's folder.
    pub firmware: Option<PathBuf>,
}

impl Builder {
    /// QMK's firmware builder when `tree` is a qmk_firmware checkout with QMK's build
    /// rules; keymap-only for a data-only tree or the bundled data.
    pub fn for_tree(tree: &DataTree, time_limit: Duration, warm: Option<Warm>) -> Builder {
        match tree.checkout_root() {
            Some(home) if home.join(BUILD_RULES).is_file() => {
                let home = std::path::absolute(home).unwrap_or_else(|_| home.to_owned());
                let skip_git = !is_git_work_tree(&home);
                let state = Arc::new(TreeState::new(&home));
                let shared = Arc::default();
                Builder::Firmware(FirmwareBuilder {
                    home,
                    time_limit,
                    skip_git,
                    warm,
                    state,
                    tree_digest: None,
                    shared,
                })
            }
            _ => Builder::KeymapOnly,
        }
    }

    /// Names the builder in cache keys and in `GET /v1`.
    pub fn name(&self) -> &'static str {
        match self {
            Builder::KeymapOnly => "keymap-only",
            Builder::Firmware(_) => "qmk-firmware",
        }
    }
}

impl FirmwareBuilder {
    /// The digest of everything in the tree a build reads, as it is now. What ended
    /// builds kept is published when they were keyed on this very digest (the tree did
    /// not change since they started), and dropped otherwise.
    pub fn tree_digest(&self) -> std::io::Result<String> {
        let digest = self.state.digest()?;
        if let Some(warm) = &self.warm {
            let ended = std::mem::take(&mut *self.shared.unpublished.lock().unwrap_or_else(|p| p.into_inner()));
            for (staging, keyed_on) in ended {
                let done = if keyed_on == digest {
                    shelf::publish(&staging, &warm.cache)
                } else {
                    std::fs::remove_dir_all(&staging)
                };
                if let Err(error) = done {
                    tracing::warn!(%error, staging = %staging.display(), "cannot publish a build's cache entries");
                }
            }
        }
        Ok(digest)
    }

    /// Forgets the cache's entries not used since `cutoff`.
    pub fn prune_cache(&self, cutoff: std::time::SystemTime) -> std::io::Result<usize> {
        let Some(warm) = &self.warm else { return Ok(0) };
        Ok(launch::memo::prune(&warm.cache.join(launch::memo::FOLDER), cutoff)?
            + launch::objects::prune(&warm.cache.join(launch::objects::FOLDER), cutoff)?
            + prune_folders(&warm.cache.join(STAGING), cutoff)?)
    }

    /// This builder for a job taken when the tree's digest was `digest`.
    pub fn at(&self, digest: &str) -> FirmwareBuilder {
        FirmwareBuilder { tree_digest: Some(digest.to_owned()), ..self.clone() }
    }

    /// Builds `target` with QMK's make rules, in `work` (removed after) or, for a warm
    /// build, in a folder of the cache's; the firmware is moved to `firmware_stem.<format>`.
    pub fn build(&self, target: &Target, work: &Path, firmware_stem: &Path) -> std::io::Result<Build> {
        let slot = match &self.warm {
            Some(warm) => Some(Slot::take(&warm.cache.join("slots"))?),
            None => None,
        };
        let work = slot.as_ref().map_or(work, Slot::path);
        let view = work.join("qmk");
        self.lay_out(target, work, &view)?;
        let log_path = work.join("build.log");
        let log = File::create(&log_path)?;
        // A name without the keymap's: paths stay the same from keymap to keymap.
        let target_name = target.keyboard.replace('/', "_");
        let mut command = Command::new("make");
        command
            .current_dir(&view)
            .args(["-r", "-R", "-f", BUILD_RULES, "-f", "../probes.mk"])
            .arg(format!("-j{}", std::thread::available_parallelism().map_or(1, |n| n.get())))
            .arg(format!("KEYBOARD={}", target.keyboard))
            .arg(format!("KEYMAP={}", target.keymap))
            .arg(format!("KEYBOARD_FILESAFE={target_name}"))
            .arg(format!("TARGET={target_name}"))
            .args((1..=5).map(|n| format!("MAIN_KEYMAP_PATH_{n}={KEYMAP_FOLDER}")))
            .args(["VERBOSE=false", "COLOR=false", "SILENT=false"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut environment: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        environment.insert(crate::source::QMK_HOME_ENV.into(), self.home.clone().into());
        if self.skip_git {
            environment.insert("SKIP_GIT".into(), "yes".into());
            environment.insert("NOT_REPO".into(), "yes".into());
        }
        let staging = match &self.warm {
            Some(warm) => Some(self.warm(&mut command, &mut environment, warm, target, work)?),
            None => {
                // Python would write its byte code into the tree.
                command.arg("QMK_BIN=qmk");
                environment.insert("PYTHONDONTWRITEBYTECODE".into(), "1".into());
                None
            }
        };
        command.env_clear().envs(&environment);
        let status = self.run(command)?;
        if let (Some(staging), Some(digest)) = (staging, &self.tree_digest) {
            self.shared.unpublished.lock().unwrap_or_else(|p| p.into_inner()).push((staging, digest.clone()));
        }
        let mut output = tail(&std::fs::read(&log_path)?);
        let returncode = match status {
            Some(status) => status.code().unwrap_or(-1),
            None => {
                output.push_str(&format!(
                    "\nThe build took longer than {} s and was stopped.",
                    self.time_limit.as_secs()
                ));
                -1
            }
        };
        let firmware = FIRMWARE_FORMATS
            .iter()
            .map(|format| (view.join(format!("{target_name}.{format}")), format))
            .find(|(copied, _)| copied.is_file());
        let build = match firmware {
            Some((copied, format)) if returncode == 0 => {
                let destination = firmware_stem.with_extension(format);
                if let Some(folder) = destination.parent() {
                    std::fs::create_dir_all(folder)?;
                }
                move_file(&copied, &destination)?;
                Build { returncode, output, firmware: Some(destination) }
            }
            None if returncode == 0 => {
                output.push_str("\nmake succeeded but wrote no firmware file (.uf2, .hex or .bin).");
                Build { returncode: 1, output, firmware: None }
            }
            _ => Build { returncode, output, firmware: None },
        };
        // A warm build's folder is cleared by the next build in it.
        if slot.is_none() {
            std::fs::remove_dir_all(work)?;
        }
        Ok(build)
    }

    /// The job's keymap folder with its keymap.json, qmk-api's make file, and the view
    /// of the tree: a link to each top-level entry but build output, which each view
    /// has of its own.
    fn lay_out(&self, target: &Target, work: &Path, view: &Path) -> std::io::Result<()> {
        // What an interrupted or earlier build left.
        remove_folder(work)?;
        let keymap = work.join("keymap");
        std::fs::create_dir_all(&keymap)?;
        std::fs::write(keymap.join("keymap.json"), target.keymap_json)?;
        std::fs::write(work.join("probes.mk"), PROBES_MK)?;
        std::fs::create_dir_all(view)?;
        for entry in std::fs::read_dir(&self.home)? {
            let name = entry?.file_name();
            if name != ".build" && !is_firmware_file(Path::new(&name)) {
                std::os::unix::fs::symlink(self.home.join(&name), view.join(&name))?;
            }
        }
        Ok(())
    }

    /// Sends QMK's CLI and compiler through `qmk-api launch`, keeping what they do in
    /// the cache, and makes sure the Python server for this build's environment runs.
    /// Returns the build's staging folder.
    fn warm(
        &self,
        command: &mut Command,
        environment: &mut BTreeMap<OsString, OsString>,
        warm: &Warm,
        target: &Target,
        work: &Path,
    ) -> std::io::Result<PathBuf> {
        let (cache, launcher) = (&warm.cache, make_word(&warm.launcher));
        command
            .arg(format!("QMK_BIN={launcher} {} qmk", launch::SUBCOMMAND))
            .arg(format!("CC_PREFIX={launcher} {} cc", launch::SUBCOMMAND));
        let build = uuid::Uuid::new_v4().to_string();
        let staging = cache.join(STAGING).join(&build);
        let digest = self.tree_digest.as_deref().unwrap_or("unknown");
        // QMK's CLI spends much of its start compiling its Python: the byte code is
        // kept, beside the tree rather than in it.
        environment.remove(&OsString::from("PYTHONDONTWRITEBYTECODE"));
        for (name, value) in [
            ("PYTHONPYCACHEPREFIX", cache.join("python").into_os_string()),
            (launch::CACHE_ENV, cache.clone().into_os_string()),
            (launch::STAGING_ENV, staging.clone().into_os_string()),
            (launch::TREE_ENV, digest.into()),
            (launch::BUILD_ENV, build.into()),
            (launch::KEYMAP_ENV, target.keymap.into()),
            // As processes see their folder (getcwd), links resolved.
            (launch::WORK_ENV, work.canonicalize()?.into_os_string()),
        ] {
            environment.insert(name.into(), value);
        }
        if let Some(script) = python::Script::find(std::ffi::OsStr::new("qmk")) {
            let server = cache.join(launch::SERVER_FOLDER);
            std::fs::create_dir_all(&server)?;
            self.shared.server.ensure(&server, &script, environment, digest, &self.home)?;
        }
        Ok(staging)
    }

    /// Runs make in a process group of its own, stopped as a whole past the time
    /// limit; `None` when it was stopped.
    fn run(&self, mut command: Command) -> std::io::Result<Option<std::process::ExitStatus>> {
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of
        // the parent. It ends make if this process dies (kill -9), so that an orphaned
        // build cannot write into a job that runs again after the restart.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                    .map_err(std::io::Error::from)
            });
        }
        let started = Instant::now();
        let mut child = command.spawn().map_err(|e| std::io::Error::new(e.kind(), format!("cannot run make: {e}")))?;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(status));
            }
            if started.elapsed() > self.time_limit {
                // make's compilers are in its process group; end them all.
                if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
                }
                child.wait()?;
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Whether git sees `dir` inside a work tree, as QMK's top-level make file asks.
fn is_git_work_tree(dir: &Path) -> bool {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--is-inside-work-tree"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.starts_with(b"true"))
}

/// A path as one shell word inside a make variable: single-quoted for the shell,
/// `$` doubled for make.
fn make_word(path: &Path) -> String {
    let text = path.to_string_lossy();
    format!("'{}'", text.replace('\'', r"'\''").replace('$', "$$"))
}

/// Whether `path` names a firmware file: what QMK copies to the tree's root after a build.
pub(crate) fn is_firmware_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| FIRMWARE_FORMATS.iter().any(|f| e == *f))
}

/// The end of a long output, cut at a line.
fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= OUTPUT_LIMIT {
        return text.into_owned();
    }
    let mut start = text.len() - OUTPUT_LIMIT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let start = text[start..].find('\n').map_or(start, |n| start + n + 1);
    format!("[… {} earlier bytes of output left out]\n{}", start, &text[start..])
}

/// Removes the folders in `root` unchanged since `cutoff` (left by builds of a process
/// that stopped), returning how many.
fn prune_folders(root: &Path, cutoff: std::time::SystemTime) -> std::io::Result<usize> {
    let Ok(entries) = std::fs::read_dir(root) else { return Ok(0) };
    let mut removed = 0;
    for entry in entries {
        let path = entry?.path();
        if path.metadata()?.modified()? < cutoff {
            std::fs::remove_dir_all(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes `folder` with all it holds; one that is not there is no error.
pub(super) fn remove_folder(folder: &Path) -> std::io::Result<()> {
    match std::fs::remove_dir_all(folder) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// A rename, or a copy where the two paths are on different file systems.
pub(super) fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)?;
    std::fs::remove_file(from)
}

/// The revision of the tree jobs are built from, for cache keys: the git commit of a
/// clean checkout. An unversioned or modified tree gets `fallback`, so that its cached
/// results do not outlive the process that made them.
pub fn tree_revision(tree: &DataTree, fallback: &str) -> String {
    let Some(root) = tree.checkout_root() else { return format!("bundled-{}", env!("CARGO_PKG_VERSION")) };
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    match (git(&["rev-parse", "HEAD"]), git(&["status", "--porcelain", "--untracked-files=no"])) {
        (Some(commit), Some(changes)) if changes.is_empty() => commit,
        _ => fallback.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_output_keeps_its_end_from_a_line_start() {
        let mut text = "early line\n".repeat(OUTPUT_LIMIT / 8);
        text.push_str("error: the last line");
        let kept = tail(text.as_bytes());
        assert!(kept.starts_with("[… ") && kept.ends_with("error: the last line"));
        assert!(kept.contains("]\nearly line\n"), "cut at a line");
        assert_eq!(tail(b"short"), "short");
    }

    #[test]
    fn only_a_tree_with_build_rules_gets_the_firmware_builder() {
        let dir = tempfile::tempdir().unwrap();
        let tree = DataTree::Checkout(dir.path().to_owned());
        assert_eq!(Builder::for_tree(&tree, Duration::from_secs(1), None).name(), "keymap-only");
        std::fs::create_dir(dir.path().join("builddefs")).unwrap();
        std::fs::write(dir.path().join(BUILD_RULES), "").unwrap();
        assert_eq!(Builder::for_tree(&tree, Duration::from_secs(1), None).name(), "qmk-firmware");
        assert_eq!(Builder::for_tree(&DataTree::Bundled, Duration::from_secs(1), None).name(), "keymap-only");
    }

    #[test]
    fn a_job_sees_the_tree_through_links_with_its_own_keymap_beside_and_no_build_output() {
        let tree = tempfile::tempdir().unwrap();
        for path in [BUILD_RULES, "quantum/quantum.c", ".build/obj/x.o", "old_default.hex", "Makefile"] {
            let path = tree.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let Builder::Firmware(builder) =
            Builder::for_tree(&DataTree::Checkout(tree.path().to_owned()), Duration::from_secs(1), None)
        else {
            panic!("a tree with build rules")
        };
        let work = tempfile::tempdir().unwrap();
        let (work, view) = (work.path().join("work"), work.path().join("work/qmk"));
        std::fs::create_dir_all(work.join("leftover")).unwrap();
        let target = Target { keyboard: "a/b", keymap: "mine", keymap_json: "{}" };
        builder.lay_out(&target, &work, &view).unwrap();
        let mut names: Vec<String> =
            std::fs::read_dir(&view).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["Makefile", "builddefs", "quantum"]);
        assert!(std::fs::symlink_metadata(view.join("quantum")).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(view.join(KEYMAP_FOLDER).join("keymap.json")).unwrap(), "{}");
        assert!(!work.join("leftover").exists(), "what an interrupted build left is gone");
    }

    #[test]
    fn a_launcher_path_is_one_shell_word_that_make_leaves_alone() {
        assert_eq!(make_word(Path::new("/opt/qmk api/it's$HOME")), r"'/opt/qmk api/it'\''s$$HOME'");
    }

    #[test]
    fn an_unversioned_tree_has_no_lasting_revision() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(tree_revision(&DataTree::Checkout(dir.path().to_owned()), "run-1"), "run-1");
        assert!(tree_revision(&DataTree::Bundled, "run-1").starts_with("bundled-"));
    }
}
