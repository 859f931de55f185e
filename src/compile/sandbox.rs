//! The jail every firmware build runs in, made with bubblewrap (`bwrap`, Debian's
//! `bubblewrap`, the sandbox Flatpak relies on). A build runs code the request chose
//! as much as code of the tree's: a keymap's `config` reaches make, and make runs
//! shells. Whatever runs there:
//!
//! - sees the system's programs and libraries, the tree, the toolchains and the build
//!   cache read-only, and nothing else of the machine: not the state folder, the job
//!   store, other jobs' folders, home folders or the service's environment;
//! - writes only into its own folder, `/build`, a memory file system of bounded size
//!   that ends with the build (and, for the service's own builds, the folder where
//!   they keep what later builds reuse);
//! - has no network (a namespace of its own, with only a loopback), no view of other
//!   processes, and a new session (no terminal to inject keystrokes into);
//! - runs as a user of its own (uid 2000000000 and up, one per build running at once)
//!   when the service runs as root, without capabilities and unable to gain any; as the
//!   service's own user, in a user namespace, otherwise;
//! - is bounded in processes, memory per process, file size, open files and CPU time,
//!   and ends with the process that started it.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::compile::slots::Slot;
use crate::compile::tree_state::find_program;

/// The build's own folder, as processes in the jail see it.
pub const BUILD_FOLDER: &str = "/build";

/// What every build is bounded to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The size of the build's folder (a memory file system): all it writes.
    pub disk: u64,
    /// Address space per process.
    pub memory: u64,
    /// Processes of the build's user at once.
    pub processes: u64,
    /// The largest file a process may write.
    pub file_size: u64,
    /// CPU time per process, in seconds.
    pub cpu_seconds: u64,
}

impl Limits {
    /// Bounds that fit any QMK keyboard's build: an RP2040 build writes about 100 MB
    /// and its largest compiler process takes well under 1 GiB.
    pub fn for_time_limit(time_limit: std::time::Duration) -> Limits {
        Limits {
            disk: 2 << 30,
            memory: 4 << 30,
            processes: 1024,
            file_size: 512 << 20,
            cpu_seconds: time_limit.as_secs().max(1),
        }
    }
}

/// The first of the users builds run as when the service runs as root: users of no
/// account, one per build running at once, so that each build's processes count against
/// its own limit.
const FIRST_USER: u32 = 2_000_000_000;

/// Where the users of the builds running at once are held (as [`Slot`]s), machine-wide.
const USERS: &str = "/run/qmk-api/build-users";

/// Files of `/etc` that programs of a build read: the dynamic linker's cache, the
/// alternatives (`awk`), the user and group names, the time zone; and Python's
/// settings, `/etc/python3*`.
const ETC: [&str; 8] = [
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/localtime",
];

/// The system's folders of programs and libraries, read-only in every jail.
const SYSTEM: [&str; 7] = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

#[derive(Debug, Clone)]
pub struct Sandbox {
    bwrap: PathBuf,
    /// Whether builds drop from root to [`UNPRIVILEGED`] (with `setpriv`, inside).
    drops_root: Option<PathBuf>,
}

/// Why no sandbox can be made.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("bubblewrap (`bwrap`) is not on PATH: install Debian's `bubblewrap`")]
    NoBwrap,
    #[error("`setpriv` is not on PATH (util-linux): builds cannot drop root")]
    NoSetpriv,
    #[error("bubblewrap cannot make a sandbox here: {0}")]
    Refused(String),
}

/// The user a build runs as when the service runs as root: its own, held until dropped.
pub struct BuildUser {
    pub id: u32,
    _slot: Slot,
}

/// What one build's jail holds beside the system.
#[derive(Debug, Default)]
pub struct Jail {
    /// Folders and files seen read-only, at their own paths.
    pub read_only: Vec<PathBuf>,
    /// Folders the build may write into, at their own paths.
    pub writable: Vec<PathBuf>,
    /// Folders inside those that the build sees empty.
    pub hidden: Vec<PathBuf>,
}

impl Sandbox {
    /// The sandbox of this machine, after a jail was made and ran a program: bwrap is
    /// there, namespaces can be made, and root can be dropped.
    pub fn find(limits: &Limits) -> Result<Sandbox, SandboxError> {
        let bwrap = find_program("bwrap").ok_or(SandboxError::NoBwrap)?;
        let drops_root = match rustix::process::geteuid().is_root() {
            true => Some(find_program("setpriv").ok_or(SandboxError::NoSetpriv)?),
            false => None,
        };
        let sandbox = Sandbox { bwrap, drops_root };
        let true_program = find_program("true").ok_or_else(|| SandboxError::Refused("`true` is not on PATH".into()))?;
        let user = sandbox.user().map_err(|e| SandboxError::Refused(format!("no user for builds: {e}")))?;
        let output = sandbox
            .command(&Jail::default(), limits, user.as_ref(), true_program.as_os_str(), &[])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| SandboxError::Refused(format!("cannot run {}: {e}", sandbox.bwrap.display())))?;
        if !output.status.success() {
            return Err(SandboxError::Refused(String::from_utf8_lossy(&output.stderr).trim().to_owned()));
        }
        Ok(sandbox)
    }

    /// `program args` in a jail holding `jail`, bounded by `limits`, as `user` (see
    /// [`Sandbox::user`]). The command's environment is the jail's; its folder is
    /// [`BUILD_FOLDER`].
    pub fn command(
        &self,
        jail: &Jail,
        limits: &Limits,
        user: Option<&BuildUser>,
        program: &OsStr,
        args: &[OsString],
    ) -> Command {
        let mut command = Command::new(&self.bwrap);
        command.args([
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ]);
        if self.drops_root.is_none() {
            // A user namespace of its own (implied where bwrap is not setuid): no
            // further ones inside it.
            command.args(["--unshare-user", "--disable-userns"]);
        }
        let python_settings = std::fs::read_dir("/etc").into_iter().flatten().flatten().map(|e| e.path());
        let python_settings =
            python_settings.filter(|p| p.file_name().is_some_and(|n| n.as_encoded_bytes().starts_with(b"python3")));
        let mut binds: Vec<(&str, PathBuf)> = Vec::new();
        for path in SYSTEM.iter().chain(&ETC).map(PathBuf::from).chain(python_settings) {
            match std::fs::read_link(&path) {
                // The merged /usr's links (`/bin` → `usr/bin`), as they are.
                Ok(target) if path.parent() == Some(Path::new("/")) => {
                    command.arg("--symlink").arg(target).arg(&path);
                }
                _ => binds.push(("--ro-bind-try", path)),
            }
        }
        // The build's own folders first: what is bound below `/tmp` (a test's tree) stays seen.
        let size = |bytes: u64| bytes.to_string();
        command.args(["--perms", "1777", "--size", &size(limits.disk), "--tmpfs", BUILD_FOLDER]).args([
            "--perms",
            "1777",
            "--size",
            &size(64 << 20),
            "--tmpfs",
            "/tmp",
        ]);
        let is_system = |path: &&PathBuf| SYSTEM.iter().any(|system| path.starts_with(system));
        let read_only = jail.read_only.iter().filter(|path| !is_system(path));
        let mut mounts: Vec<(&str, PathBuf)> = read_only.map(|path| ("--ro-bind", path.clone())).collect();
        mounts.extend(jail.writable.iter().map(|path| ("--bind", path.clone())));
        mounts.extend(jail.hidden.iter().map(|path| ("--tmpfs", path.clone())));
        // A folder's mount before those of what it holds.
        mounts.sort_by(|a, b| a.1.cmp(&b.1));
        binds.extend(mounts);
        // The folders bwrap makes to hold the binds, readable by the build's user (bwrap
        // would make them for root alone).
        let mut folders: Vec<&Path> = binds.iter().flat_map(|(_, path)| path.ancestors().skip(1)).collect();
        folders.retain(|folder| folder.parent().is_some());
        folders.sort();
        folders.dedup();
        for folder in folders {
            command.args(["--perms", "0755", "--dir"]).arg(folder);
        }
        for (option, path) in &binds {
            match *option {
                "--tmpfs" => command.args(["--perms", "0755", "--size", "4096", "--tmpfs"]).arg(path),
                _ => command.arg(option).arg(path).arg(path),
            };
        }
        command.args(["--chdir", BUILD_FOLDER, "--"]);
        if let (Some(setpriv), Some(user)) = (&self.drops_root, user) {
            let id = user.id.to_string();
            command.arg(setpriv).args([format!("--reuid={id}"), format!("--regid={id}")]).args([
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]);
        }
        command.arg(program).args(args);
        bound(&mut command, *limits);
        command
    }

    /// A user for one build, held until dropped, when builds drop root; `None` when
    /// they run as the service's own user.
    pub fn user(&self) -> std::io::Result<Option<BuildUser>> {
        if self.drops_root.is_none() {
            return Ok(None);
        }
        let slot = Slot::take(Path::new(USERS))?;
        let id = FIRST_USER + u32::try_from(slot.number()).map_err(std::io::Error::other)?;
        Ok(Some(BuildUser { id, _slot: slot }))
    }

    /// Whether builds run as users other than the service's own.
    pub fn drops_root(&self) -> bool {
        self.drops_root.is_some()
    }
}

/// Sets `limits` on the process `command` starts; its children inherit them. A limit
/// this process already has lower stays.
fn bound(command: &mut Command, limits: Limits) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = |resource: Resource, wanted: u64| {
        let value = getrlimit(resource).maximum.map_or(wanted, |maximum| maximum.min(wanted));
        (resource, Rlimit { current: Some(value), maximum: Some(value) })
    };
    let settings = [
        limit(Resource::As, limits.memory),
        limit(Resource::Nproc, limits.processes),
        limit(Resource::Fsize, limits.file_size),
        limit(Resource::Cpu, limits.cpu_seconds),
        limit(Resource::Core, 0),
        limit(Resource::Nofile, 4096),
    ];
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            for (resource, value) in &settings {
                setrlimit(*resource, value.clone())?;
            }
            Ok(())
        });
    }
}

/// The folders the program `name` on PATH needs beside the system's, for a jail: its
/// own folder, and for a Python script its interpreter's installation and virtual
/// environment. Nothing for a program not on PATH.
pub fn program_folders(name: &str) -> Vec<PathBuf> {
    let Some(program) = find_program(name) else { return Vec::new() };
    let mut folders = Vec::new();
    let mut add = |folder: PathBuf| {
        if !SYSTEM.iter().any(|system| folder.starts_with(system)) && !folders.contains(&folder) {
            folders.push(folder);
        }
    };
    for path in [program.to_owned(), std::fs::canonicalize(program).unwrap_or_default()] {
        if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
            // A virtual environment: `bin/` beside `pyvenv.cfg` and `lib/`.
            match folder.parent().filter(|root| root.join("pyvenv.cfg").is_file()) {
                Some(root) => add(root.to_owned()),
                None => add(folder.to_owned()),
            }
        }
    }
    if let Some(script) = crate::compile::launch::python::Script::find(OsStr::new(name)) {
        let interpreter = std::fs::canonicalize(&script.interpreter[0]).unwrap_or_default();
        // `<prefix>/bin/python3.x`: the installation is the prefix.
        if let Some(prefix) = interpreter.parent().and_then(Path::parent).filter(|p| p != &Path::new("/")) {
            add(prefix.to_owned());
        }
    }
    folders
}
