//! Builders turn a checked keymap into firmware. Without a qmk_firmware checkout
//! there is none (keymap-only); with one, QMK's own make rules build each job as
//! `make <keyboard>:<keymap>` would with the job's keymap.json in the tree, under a
//! time limit, in a jail ([`super::sandbox`]) where only the build's own folder is
//! writable.
//!
//! A build starts as `qmk-api launch build` ([`super::launch::build`]), which lays
//! out the build's folder (a view of the tree beside the job's keymap folder) and
//! runs make there. Warm builds work in folders of fixed paths (`/build` in the jail,
//! [`super::slots`] outside one), so that absolute paths repeat from build to build
//! and the kept results of [`super::launch`] serve a keyboard's next keymap.
//!
//! What builds keep for others is trusted only from builds whose keymap the service
//! wrote itself ([`Origin::Reference`]): a request's build reads the cache and keeps
//! what it makes for itself alone, so that no request, even one that runs code in its
//! build, can change another job's firmware.
//!
//! A small make file of qmk-api's own is read after QMK's: each distinct compiler
//! option probe (`cc-option`) then runs once per make process instead of once per
//! compile (see `probes.mk`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::launch::{self, build as init, shelf};
use super::process;
use super::sandbox::{self, BUILD_FOLDER, BuildUser, Jail, Limits, Sandbox, SandboxError};
use super::slots::Slot;
use super::tree_state::TreeState;
use crate::keyboard::Keyboard;
use crate::source::DataTree;

/// The build rules whose presence makes a tree a buildable qmk_firmware checkout.
const BUILD_RULES: &str = "builddefs/build_keyboard.mk";

/// Firmware formats QMK writes, in the order they are looked for.
pub(crate) const FIRMWARE_FORMATS: [&str; 3] = ["uf2", "hex", "bin"];

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

/// Variables of the service's environment that a build sees; nothing else of it
/// (a database URL, say) reaches the build.
const PASSED_ENV: [&str; 4] = ["PATH", "LANG", "LANGUAGE", "TZ"];

/// The cache's folders: builds' staging folders, Python's byte code, and the marks of
/// the keyboards whose reference build filled it.
const STAGING: &str = "staging";
const PYTHON: &str = "python";
const REFERENCES: &str = "references";
/// Where a reference build notes the commands make runs (see [`launch::record`]).
const RECORD: &str = "record";
/// The digests of the tree's files, kept for the next process (see [`TreeState`]).
const TREE_INDEX: &str = "tree-index";

/// The keymap name of reference builds.
pub const REFERENCE_KEYMAP: &str = "qmk_api_reference";

#[derive(Debug, Clone)]
pub enum Builder {
    /// Checks the keymap and writes its sources; no firmware.
    KeymapOnly,
    Firmware(FirmwareBuilder),
}

/// How firmware builds are contained.
#[derive(Debug, Clone)]
pub enum Containment {
    Sandbox(Sandbox),
    /// Builds run as the service's own processes: the operator's choice (`--no-sandbox`).
    None,
    /// No sandbox could be made, and the operator did not allow builds without one:
    /// firmware builds are refused, saying why.
    Unavailable(String),
}

impl Containment {
    /// The sandbox of this machine, or why there is none; `None` when the operator
    /// builds without one.
    pub fn of_machine(without_sandbox: bool, time_limit: Duration) -> Containment {
        if without_sandbox {
            return Containment::None;
        }
        match Sandbox::find(&Limits::for_time_limit(time_limit)) {
            Ok(sandbox) => Containment::Sandbox(sandbox),
            Err(error @ (SandboxError::NoBwrap | SandboxError::NoSetpriv | SandboxError::Refused(_))) => {
                Containment::Unavailable(error.to_string())
            }
        }
    }

    /// How `GET /v1` and the logs name it.
    pub fn name(&self) -> &'static str {
        match self {
            Containment::Sandbox(_) => "bubblewrap",
            Containment::None => "none",
            Containment::Unavailable(_) => "unavailable",
        }
    }
}

/// How a firmware builder is set up.
#[derive(Debug, Clone)]
pub struct Settings {
    pub time_limit: Duration,
    /// This program: every build starts as `qmk-api launch build`, and make runs QMK's
    /// CLI and compilers through `qmk-api launch`.
    pub launcher: PathBuf,
    pub containment: Containment,
    /// Where warm builds keep what they reuse; `None` builds everything every time.
    pub cache: Option<PathBuf>,
    /// Folders no build sees, even where they lie inside the tree (the service's state),
    /// and that the tree's digest leaves out.
    pub private: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct FirmwareBuilder {
    /// The tree's root, absolute.
    home: PathBuf,
    /// QMK's top-level make file skips git where the tree is not a git work tree.
    skip_git: bool,
    settings: Settings,
    limits: Limits,
    state: Arc<TreeState>,
    /// The tree's digest when the job was taken, for the kept results' keys.
    tree_digest: Option<String>,
    /// Ended reference builds' staging folders, with the tree's digest each was keyed
    /// on, shared by the clones.
    unpublished: Arc<Mutex<Vec<(PathBuf, String)>>>,
}

/// Who wrote the keymap a build compiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A request: its build reads the cache and keeps what it makes for itself alone.
    Request,
    /// The service, for a keyboard's reference build: what it keeps serves every build.
    Reference,
}

impl Target<'_> {
    /// Whether make's commands are recorded for later keymaps of the keyboard: in its
    /// reference build, whose keymap's name is the service's own.
    fn records(&self) -> bool {
        self.origin == Origin::Reference && self.keymap == REFERENCE_KEYMAP
    }
}

/// What to build: a keyboard and a keymap.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub keyboard: &'a str,
    /// The keymap's name.
    pub keymap: &'a str,
    pub source: KeymapSource<'a>,
    pub origin: Origin,
}

/// Where a build's keymap comes from.
#[derive(Debug, Clone, Copy)]
pub enum KeymapSource<'a> {
    /// A keymap.json in QMK's configurator format, written into the build's own keymap
    /// folder (a request's, or one the service writes).
    Json(&'a str),
    /// A keymap folder: its keymap.json and the files beside it (a keymap with
    /// qmk-api's extension, or keys whose features the build turns on); see
    /// [`crate::keymap::extensions::c::folder`].
    Folder(&'a [(&'static str, String)]),
    /// The tree's own keymap of that name (`keyboards/<kb>/keymaps/<name>`, C or JSON),
    /// found by QMK's make as `make <keyboard>:<keymap>` finds it: the service's
    /// builds only ([`Origin::Reference`]).
    Tree,
}

/// What one firmware build did.
#[derive(Debug)]
pub struct Build {
    pub returncode: i32,
    /// make's output (stdout and stderr, interleaved), its end if it was long.
    pub output: String,
    /// The firmware file, in the job's folder.
    pub firmware: Option<PathBuf>,
}

impl Builder {
    /// QMK's firmware builder when `tree` is a qmk_firmware checkout with QMK's build
    /// rules; keymap-only for a data-only tree or the bundled data.
    pub fn for_tree(tree: &DataTree, settings: Settings) -> Builder {
        match tree.checkout_root() {
            Some(home) if home.join(BUILD_RULES).is_file() => {
                let home = std::path::absolute(home).unwrap_or_else(|_| home.to_owned());
                let skip_git = !is_git_work_tree(&home);
                let index = settings.cache.as_ref().map(|cache| cache.join(TREE_INDEX));
                let state = Arc::new(TreeState::new(&home, &settings.private, index));
                let limits = Limits::for_time_limit(settings.time_limit);
                Builder::Firmware(FirmwareBuilder {
                    home,
                    skip_git,
                    settings,
                    limits,
                    state,
                    tree_digest: None,
                    unpublished: Arc::default(),
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

    /// How firmware builds are contained; `None` without firmware builds.
    pub fn containment(&self) -> Option<&Containment> {
        match self {
            Builder::KeymapOnly => None,
            Builder::Firmware(firmware) => Some(firmware.containment()),
        }
    }
}

impl FirmwareBuilder {
    pub fn containment(&self) -> &Containment {
        &self.settings.containment
    }

    /// How long a build may run.
    pub fn time_limit(&self) -> Duration {
        self.settings.time_limit
    }

    /// The digest of everything in the tree a build reads, as it is now. What ended
    /// reference builds kept is published when they were keyed on this very digest (the
    /// tree did not change since they started), and dropped otherwise.
    pub fn tree_digest(&self) -> std::io::Result<String> {
        let digest = self.state.digest()?;
        if let Some(cache) = &self.settings.cache {
            let ended = std::mem::take(&mut *self.unpublished.lock().unwrap_or_else(|p| p.into_inner()));
            for (staging, keyed_on) in ended {
                let done = match keyed_on == digest {
                    true => self.own(&staging).and_then(|()| shelf::publish(&staging, cache)),
                    false => {
                        tracing::info!(staging = %staging.display(), "the tree changed during a reference build: what it kept is dropped");
                        remove_folder(&staging)
                    }
                };
                if let Err(error) = done {
                    tracing::warn!(%error, staging = %staging.display(), "cannot publish a build's cache entries");
                }
            }
        }
        Ok(digest)
    }

    /// Makes what a reference build kept the service's own, when the build ran as
    /// another user: once published, only the service may change it, and every build
    /// (whatever user it runs as) may read it.
    fn own(&self, staging: &Path) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let Containment::Sandbox(sandbox) = &self.settings.containment else { return Ok(()) };
        if !sandbox.drops_root() {
            return Ok(());
        }
        let (uid, gid) = (rustix::process::geteuid(), rustix::process::getegid());
        for entry in walkdir::WalkDir::new(staging) {
            let entry = entry.map_err(std::io::Error::other)?;
            if entry.path_is_symlink() {
                continue;
            }
            rustix::fs::chown(entry.path(), Some(uid), Some(gid))?;
            let readable = if entry.file_type().is_dir() { 0o755 } else { 0o644 };
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(readable))?;
        }
        Ok(())
    }

    /// Forgets the cache's entries not used since `cutoff`.
    pub fn prune_cache(&self, cutoff: std::time::SystemTime) -> std::io::Result<usize> {
        let Some(cache) = &self.settings.cache else { return Ok(0) };
        Ok(launch::memo::prune(&cache.join(launch::memo::FOLDER), cutoff)?
            + launch::objects::prune(&cache.join(launch::objects::FOLDER), cutoff)?
            + launch::graph::prune(&cache.join(launch::graph::FOLDER), cutoff)?
            + prune_folders(&cache.join(STAGING), cutoff)?
            + prune_folders(&cache.join(REFERENCES), cutoff)?)
    }

    /// Keeps the cache within `limit` bytes: forgets what no build used for a month,
    /// then, while the cache is larger than `limit`, what none used for a week, a day,
    /// an hour, a minute, and at last everything. Returns the bytes left.
    pub fn bound_cache(&self, limit: u64) -> std::io::Result<u64> {
        const UNUSED_FOR: [u64; 6] = [30 * 86_400, 7 * 86_400, 86_400, 3_600, 60, 0];
        let Some(cache) = &self.settings.cache else { return Ok(0) };
        let now = std::time::SystemTime::now();
        let mut size = folder_size(cache);
        for (step, seconds) in UNUSED_FOR.into_iter().enumerate() {
            if step > 0 && size <= limit {
                break;
            }
            if self.prune_cache(now - Duration::from_secs(seconds))? > 0 {
                size = folder_size(cache);
            }
        }
        Ok(size)
    }

    /// This builder for a job taken when the tree's digest was `digest`.
    pub fn at(&self, digest: &str) -> FirmwareBuilder {
        FirmwareBuilder { tree_digest: Some(digest.to_owned()), ..self.clone() }
    }

    /// Builds `target` with QMK's make rules, working in `work` (removed after) unless
    /// the build runs in a jail or a warm folder; the firmware is written to
    /// `firmware_stem.<format>`.
    pub fn build(&self, target: &Target, work: &Path, firmware_stem: &Path) -> std::io::Result<Build> {
        self.build_until(target, work, firmware_stem, &|| false)
    }

    /// [`FirmwareBuilder::build`], stopped as soon as `stop` says so (checked every
    /// few milliseconds): then an [`std::io::ErrorKind::Interrupted`] error, and no
    /// result. The service's catalogue builds stop so for a request.
    pub fn build_until(
        &self,
        target: &Target,
        work: &Path,
        firmware_stem: &Path,
        stop: &dyn Fn() -> bool,
    ) -> std::io::Result<Build> {
        let sandbox = match &self.settings.containment {
            Containment::Sandbox(sandbox) => Some(sandbox),
            Containment::None => None,
            Containment::Unavailable(reason) => {
                let output = format!(
                    "This service builds no firmware: {reason}. Firmware builds run only in a sandbox, unless \
                     the operator starts the service with --no-sandbox."
                );
                return Ok(Build { returncode: 1, output, firmware: None });
            }
        };
        // Where the build runs, as its processes see it.
        let slot = match (sandbox, &self.settings.cache) {
            (None, Some(cache)) => Some(Slot::take(&cache.join("slots"))?),
            _ => None,
        };
        let folder = match (sandbox, &slot) {
            (Some(_), _) => PathBuf::from(BUILD_FOLDER),
            // As processes see their folder (getcwd), links resolved.
            (None, slot) => {
                let folder = slot.as_ref().map_or(work, Slot::path);
                std::fs::create_dir_all(folder)?;
                folder.canonicalize()?
            }
        };
        let user = sandbox.map(Sandbox::user).transpose()?.flatten();
        let staging = self.staging(target.origin, user.as_ref())?;
        let target_name = target.keyboard.replace('/', "_");
        let mut init: Vec<OsString> = vec![
            launch::SUBCOMMAND.into(),
            init::SUBCOMMAND.into(),
            folder.clone().into(),
            self.home.clone().into(),
            target_name.clone().into(),
            "make".into(),
        ];
        init.extend(self.make_args(target, &target_name));
        let mut command = match sandbox {
            Some(sandbox) => {
                let jail = self.jail(staging.as_deref());
                sandbox.command(&jail, &self.limits, user.as_ref(), self.settings.launcher.as_os_str(), &init)
            }
            None => {
                let mut command = Command::new(&self.settings.launcher);
                command.args(&init);
                command
            }
        };
        command.env_clear().envs(self.environment(target, &folder, staging.as_deref()));
        let keymap_folder = match target.source {
            KeymapSource::Json(text) => init::folder_input(&[("keymap.json", text)]),
            KeymapSource::Folder(files) => init::folder_input(files),
            KeymapSource::Tree => Vec::new(),
        };
        let ran = process::run(command, &keymap_folder, self.settings.time_limit, stop);
        if slot.is_none() && sandbox.is_none() {
            remove_folder(work)?;
        }
        let ran = ran?;
        if ran.stopped {
            if let Some(staging) = staging {
                remove_folder(&staging)?;
            }
            return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, "the build was stopped"));
        }
        if let (Some(staging), Some(digest)) = (staging, &self.tree_digest) {
            self.unpublished.lock().unwrap_or_else(|p| p.into_inner()).push((staging, digest.clone()));
        }
        let mut output = ran.output;
        let returncode = match ran.status {
            Some(code) => code,
            None => {
                output.push_str(&format!(
                    "\nThe build took longer than {} s and was stopped.",
                    self.settings.time_limit.as_secs()
                ));
                -1
            }
        };
        match ran.firmware {
            Err(problem) => {
                output.push_str(&format!("\n{problem}"));
                Ok(Build { returncode: 1.max(returncode), output, firmware: None })
            }
            Ok(Some((format, bytes))) if returncode == 0 => {
                let destination = firmware_stem.with_extension(format);
                if let Some(folder) = destination.parent() {
                    std::fs::create_dir_all(folder)?;
                }
                std::fs::write(&destination, bytes)?;
                Ok(Build { returncode, output, firmware: Some(destination) })
            }
            Ok(None) if returncode == 0 => {
                output.push_str("\nmake succeeded but wrote no firmware file (.uf2, .hex or .bin).");
                Ok(Build { returncode: 1, output, firmware: None })
            }
            Ok(_) => {
                output.extend(missing_tool(&output).map(|hint| format!("\n{hint}")));
                Ok(Build { returncode, output, firmware: None })
            }
        }
    }

    /// Whether warm builds keep a cache that lacks the reference build of `keyboard`
    /// for the tree as the job found it.
    pub fn needs_reference(&self, keyboard: &str) -> bool {
        self.reference_mark(keyboard).is_some_and(|mark| !mark.exists())
    }

    /// Whether the cache keeps a reference build of `keyboard` that succeeded, for the
    /// tree as the job found it.
    pub fn is_warm(&self, keyboard: &str) -> bool {
        self.reference_mark(keyboard).and_then(|mark| std::fs::read(mark).ok()).is_some_and(|code| code == b"0")
    }

    /// Builds `keyboard`'s reference keymap (a layer of `KC_NO` on its first layout), a
    /// keymap of the service's own: what it compiles is kept for every later build of
    /// the keyboard. Marks the keyboard done whether it built or not: a keyboard that
    /// does not build in this tree is not tried again for each job.
    pub fn fill_cache(&self, keyboard: &Keyboard, work: &Path) -> std::io::Result<Option<Build>> {
        let (Some(mark), Some((layout, keys))) = (self.reference_mark(&keyboard.name), keyboard.layouts.first()) else {
            return Ok(None);
        };
        let keymap = serde_json::json!({
            "keyboard": keyboard.name,
            "keymap": REFERENCE_KEYMAP,
            "layout": layout,
            "layers": [vec!["KC_NO"; keys.keys.len()]],
        });
        let keymap_json = serde_json::to_string_pretty(&keymap).map_err(std::io::Error::other)?;
        let target = Target {
            keyboard: &keyboard.name,
            keymap: REFERENCE_KEYMAP,
            source: KeymapSource::Json(&keymap_json),
            origin: Origin::Reference,
        };
        let build = self.build(&target, &work.join("work"), &work.join("firmware"))?;
        remove_folder(work)?;
        shelf::write_whole(&mark, build.returncode.to_string().as_bytes())?;
        Ok(Some(build))
    }

    /// Whether the tree holds a keymap folder `name` that `make <keyboard>:<name>`
    /// finds: in the keyboard's folder or one above it, up to `keyboards/`.
    pub fn has_tree_keymap(&self, keyboard: &str, name: &str) -> bool {
        let keyboards = self.home.join(crate::keyboard::KEYBOARDS_DIR);
        let mut folder = keyboards.join(keyboard);
        while folder.starts_with(&keyboards) && folder != keyboards {
            let keymap = folder.join("keymaps").join(name);
            if keymap.join("keymap.c").is_file() || keymap.join("keymap.json").is_file() {
                return true;
            }
            if !folder.pop() {
                break;
            }
        }
        false
    }

    /// The file that marks `keyboard`'s reference build for the job's tree.
    fn reference_mark(&self, keyboard: &str) -> Option<PathBuf> {
        let (cache, digest) = (self.settings.cache.as_ref()?, self.tree_digest.as_ref()?);
        let key = crate::publish::lock::sha256_hex(format!("{digest}\0{keyboard}").as_bytes());
        Some(shelf::sharded(&cache.join(REFERENCES), &key))
    }

    /// make's arguments: QMK's build rules and qmk-api's, and the variables QMK's
    /// top-level make file would pass.
    fn make_args(&self, target: &Target, target_name: &str) -> Vec<OsString> {
        let mut args: Vec<OsString> = ["-r", "-R", "-f", BUILD_RULES, "-f", "../probes.mk"].map(OsString::from).into();
        args.push(format!("-j{}", std::thread::available_parallelism().map_or(1, |n| n.get())).into());
        // A name without the keymap's: paths stay the same from keymap to keymap.
        args.extend(
            [
                format!("KEYBOARD={}", target.keyboard),
                format!("KEYMAP={}", target.keymap),
                format!("KEYBOARD_FILESAFE={target_name}"),
                format!("TARGET={target_name}"),
            ]
            .map(OsString::from),
        );
        if let KeymapSource::Json(_) | KeymapSource::Folder(_) = target.source {
            args.extend((1..=5).map(|n| OsString::from(format!("MAIN_KEYMAP_PATH_{n}={KEYMAP_FOLDER}"))));
        }
        args.extend(["VERBOSE=false", "COLOR=false", "SILENT=false"].map(OsString::from));
        match &self.settings.cache {
            Some(_) => {
                let launcher = make_word(&self.settings.launcher);
                args.push(format!("QMK_BIN={launcher} {} qmk", launch::SUBCOMMAND).into());
                args.push(format!("CC_PREFIX={launcher} {} cc", launch::SUBCOMMAND).into());
                if target.records() {
                    args.push(format!("SHELL={launcher} {} {}", launch::SUBCOMMAND, launch::record::SUBCOMMAND).into());
                }
            }
            None => args.push("QMK_BIN=qmk".into()),
        }
        args
    }

    /// The build's environment: a few of the service's variables, and the build's own.
    fn environment(&self, target: &Target, folder: &Path, staging: Option<&Path>) -> BTreeMap<OsString, OsString> {
        let mut environment: BTreeMap<OsString, OsString> = std::env::vars_os()
            .filter(|(name, _)| {
                PASSED_ENV.iter().any(|passed| name == passed) || name.as_encoded_bytes().starts_with(b"LC_")
            })
            .collect();
        let mut set = |name: &str, value: OsString| environment.insert(name.into(), value);
        set("HOME", folder.join(init::HOME).into());
        set("TMPDIR", folder.join(init::TEMPORARY).into());
        set(crate::source::QMK_HOME_ENV, self.home.clone().into());
        if self.skip_git {
            set("SKIP_GIT", "yes".into());
            set("NOT_REPO", "yes".into());
        }
        // QMK's CLI spends much of its start compiling its Python: the byte code goes
        // beside the tree rather than into it, into the build's own folder (a reference
        // build's staging folder, published with the rest), which starts with what the
        // cache holds.
        let byte_code = staging.map_or_else(|| folder.join(PYTHON), |staging| staging.join(PYTHON));
        set("PYTHONPYCACHEPREFIX", byte_code.into());
        let Some(cache) = &self.settings.cache else { return environment };
        set(launch::BYTE_CODE_ENV, cache.join(PYTHON).into());
        let staging = staging.map_or_else(|| folder.join(STAGING), Path::to_owned);
        let digest = self.tree_digest.as_deref().unwrap_or("unknown");
        set(launch::CACHE_ENV, cache.clone().into());
        set(launch::STAGING_ENV, staging.into());
        set(launch::TREE_ENV, digest.into());
        set(launch::BUILD_ENV, uuid::Uuid::new_v4().to_string().into());
        set(launch::KEYMAP_ENV, target.keymap.into());
        set(launch::WORK_ENV, folder.into());
        if target.records() {
            set(launch::record::RECORD_ENV, folder.join(RECORD).into());
        }
        environment
    }

    /// A reference build's staging folder, where what it keeps waits to be published
    /// (a request's build keeps into its own folder, which ends with it).
    fn staging(&self, origin: Origin, user: Option<&BuildUser>) -> std::io::Result<Option<PathBuf>> {
        let (Origin::Reference, Some(cache)) = (origin, &self.settings.cache) else { return Ok(None) };
        let staging = cache.join(STAGING).join(uuid::Uuid::new_v4().to_string());
        std::fs::create_dir_all(&staging)?;
        if let Some(user) = user {
            let (uid, gid) = (rustix::process::Uid::from_raw(user.id), rustix::process::Gid::from_raw(user.id));
            rustix::fs::chown(&staging, Some(uid), Some(gid))?;
        }
        Ok(Some(staging))
    }

    /// What a build's jail holds beside the system: the tree, this program, the
    /// programs on PATH and QMK's CLI with its Python, and the cache, read-only; a
    /// reference build's staging folder, writable.
    fn jail(&self, staging: Option<&Path>) -> Jail {
        let mut jail = Jail::default();
        jail.read_only.push(self.home.clone());
        jail.read_only.extend(outside_links(&self.home));
        jail.read_only.push(self.settings.launcher.clone());
        if let Some(path) = std::env::var_os("PATH") {
            jail.read_only.extend(std::env::split_paths(&path).filter(|dir| dir.is_absolute() && dir.is_dir()));
        }
        jail.read_only.extend(sandbox::program_folders("qmk"));
        if let Some(cache) = &self.settings.cache {
            std::fs::create_dir_all(cache).ok();
            jail.read_only.push(cache.clone());
        }
        jail.writable.extend(staging.map(Path::to_owned));
        jail.hidden = self.settings.private.iter().filter(|path| path.starts_with(&self.home)).cloned().collect();
        jail.read_only.sort();
        jail.read_only.dedup();
        jail
    }
}

/// The targets of the tree's links (top level and `lib/`, where submodules are) that
/// lie outside it, for a jail: a checkout whose libraries are linked in still builds.
fn outside_links(home: &Path) -> Vec<PathBuf> {
    let root = std::fs::canonicalize(home).unwrap_or_else(|_| home.to_owned());
    let entries = [home.to_owned(), home.join("lib")].into_iter().filter_map(|dir| std::fs::read_dir(dir).ok());
    entries
        .flatten()
        .flatten()
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_symlink()))
        .filter_map(|entry| std::fs::canonicalize(entry.path()).ok())
        .filter(|target| !target.starts_with(&root))
        .collect()
}

/// The programs a QMK build runs that a machine may lack, and the Debian packages
/// (or the command) that install them.
const TOOLS: [(&str, &str); 6] = [
    ("avr-gcc", "Debian's `gcc-avr avr-libc binutils-avr`"),
    ("arm-none-eabi-gcc", "Debian's `gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi`"),
    ("dfu-suffix", "Debian's `dfu-util`"),
    ("riscv64-unknown-elf-gcc", "Debian's `gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf`"),
    ("qmk", "QMK's CLI: `pip install qmk`"),
    ("bwrap", "Debian's `bubblewrap`"),
];

/// What to install, where a failed build's `output` says a program was not found.
fn missing_tool(output: &str) -> Option<String> {
    TOOLS.iter().find_map(|(program, install)| {
        let missing = [": not found", ": command not found", ": No such file or directory"]
            .iter()
            .any(|said| output.contains(&format!("{program}{said}")))
            || output.contains(&format!("cannot run {program}"));
        missing.then(|| format!("help: `{program}` is not installed here: install {install}"))
    })
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

/// The bytes of the files in `folder` and below (what cannot be read counts nothing).
fn folder_size(folder: &Path) -> u64 {
    let files = walkdir::WalkDir::new(folder).into_iter().flatten().filter(|entry| entry.file_type().is_file());
    files.filter_map(|entry| entry.metadata().ok()).map(|metadata| metadata.len()).sum()
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

    fn settings() -> Settings {
        Settings {
            time_limit: Duration::from_secs(1),
            launcher: PathBuf::from("qmk-api"),
            containment: Containment::None,
            cache: None,
            private: Vec::new(),
        }
    }

    #[test]
    fn only_a_tree_with_build_rules_gets_the_firmware_builder() {
        let dir = tempfile::tempdir().unwrap();
        let tree = DataTree::Checkout(dir.path().to_owned());
        assert_eq!(Builder::for_tree(&tree, settings()).name(), "keymap-only");
        std::fs::create_dir(dir.path().join("builddefs")).unwrap();
        std::fs::write(dir.path().join(BUILD_RULES), "").unwrap();
        assert_eq!(Builder::for_tree(&tree, settings()).name(), "qmk-firmware");
        assert_eq!(Builder::for_tree(&DataTree::Bundled, settings()).name(), "keymap-only");
    }

    #[test]
    fn a_build_that_lacks_a_compiler_says_what_to_install() {
        let output = "Compiling: quantum/keymap.c\n/bin/sh: 1: avr-gcc: not found\nmake: *** [x] Error 127";
        assert_eq!(
            missing_tool(output).as_deref(),
            Some("help: `avr-gcc` is not installed here: install Debian's `gcc-avr avr-libc binutils-avr`")
        );
        let launched = "qmk-api launch: cannot run arm-none-eabi-gcc: No such file or directory (os error 2)";
        assert!(missing_tool(launched).unwrap().contains("gcc-arm-none-eabi"));
        assert_eq!(missing_tool("error: 'FOO' undeclared"), None);
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
