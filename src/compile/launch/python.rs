//! QMK's CLI through a fork server. A run of `qmk` spends most of its time importing
//! Python modules; the server (`zygote.py`, started by the builder beside each build
//! cache) imports the libraries once and forks a process per run, which then starts as
//! a fresh `qmk` would: the run's arguments, environment, folder and streams, and the
//! script run from its first line. QMK's own modules and its CLI framework are imported
//! by each run, never ahead: they read the arguments, environment and folder when
//! imported.
//!
//! The server serves one key: the interpreter, the script, the tree's digest and the
//! environment but for the variables that differ from build to build (make's own, and
//! qmk-api's per-build ones), which no library reads. A run whose key differs, or that
//! finds no server, runs as a process of its own; so does one that finds a library
//! file changed since the server imported it, and that server ends.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::{BUILD_ENV, KEYMAP_ENV, STAGING_ENV, WORK_ENV, field, file_stamp};
use crate::compile::builder::MAKE_VARIABLES;
use crate::compile::tree_state::{find_program, hex};

/// The server's socket, in its folder.
pub const SOCKET: &str = "zygote.sock";

const SERVER: &str = include_str!("zygote.py");

/// Variables that differ from build to build: make's own, the shell's folder and
/// qmk-api's per-build ones; and those of make's command line (make exports them),
/// [`MAKE_VARIABLES`].
const PER_BUILD: [&str; 11] = [
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
    "MAKE_TERMOUT",
    "MAKE_TERMERR",
    "PWD",
    BUILD_ENV,
    WORK_ENV,
    STAGING_ENV,
    KEYMAP_ENV,
];

/// The server's answers (see zygote.py).
const ACCEPTED: u8 = b'A';
const STATUS: u8 = b'S';

/// A Python script and the interpreter its first line names, with that line's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub path: PathBuf,
    pub interpreter: Vec<OsString>,
}

impl Script {
    /// `program` on PATH, when it is a Python script.
    pub fn find(program: &OsStr) -> Option<Script> {
        let path = find_program(&program.to_string_lossy())?;
        let mut head = [0; 256];
        let read = std::fs::File::open(&path).and_then(|mut f| f.read(&mut head)).ok()?;
        let line = head[..read].strip_prefix(b"#!")?.split(|&b| b == b'\n').next()?;
        let mut words = std::str::from_utf8(line).ok()?.split_whitespace();
        let mut interpreter = PathBuf::from(words.next()?);
        if interpreter.file_name().is_some_and(|name| name == "env") {
            interpreter = find_program(words.next().filter(|w| !w.starts_with('-'))?)?;
        }
        let is_python = interpreter.file_name()?.to_str()?.starts_with("python");
        let interpreter = std::iter::once(interpreter.into_os_string()).chain(words.map(OsString::from)).collect();
        is_python.then_some(Script { path, interpreter })
    }

    /// What a server must have been started with to serve a run in `environment`.
    pub fn key(&self, environment: impl IntoIterator<Item = (OsString, OsString)>, tree: &str) -> String {
        let mut hasher = Sha256::new();
        field(&mut hasher, file_stamp(&self.path).as_bytes());
        for word in &self.interpreter {
            field(&mut hasher, word.as_encoded_bytes());
        }
        field(&mut hasher, file_stamp(Path::new(&self.interpreter[0])).as_bytes());
        field(&mut hasher, tree.as_bytes());
        let kept: BTreeMap<OsString, OsString> = environment
            .into_iter()
            .filter(|(name, _)| !PER_BUILD.iter().chain(&MAKE_VARIABLES).any(|v| name == *v))
            .collect();
        for (name, value) in kept {
            field(&mut hasher, name.as_encoded_bytes());
            field(&mut hasher, value.as_encoded_bytes());
        }
        hex(&hasher.finalize())
    }
}

/// Runs `script args` on the server in `folder` with the streams `stdio`; `None` when
/// no server ran it (none is there, or it serves another environment): nothing ran.
/// Returns the exit status (negative: the signal that ended the run).
pub fn call(folder: &Path, script: &Script, args: &[OsString], tree: &str, stdio: [BorrowedFd<'_>; 3]) -> Option<i32> {
    let key = script.key(std::env::vars_os(), tree);
    let dir = rustix::fs::open(
        folder,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    // Through the folder's descriptor: its path may be longer than a socket address allows.
    let mut stream = UnixStream::connect(format!("/proc/self/fd/{}/{SOCKET}", dir.as_raw_fd())).ok()?;
    let cwd = std::env::current_dir().ok()?;
    let mut fields: Vec<Vec<u8>> = vec![
        key.into_bytes(),
        cwd.into_os_string().into_encoded_bytes(),
        rustix::process::getpgrp().as_raw_nonzero().to_string().into_bytes(),
        args.len().to_string().into_bytes(),
    ];
    fields.extend(args.iter().map(|arg| arg.as_encoded_bytes().to_vec()));
    let environment: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(name, value)| [name.as_encoded_bytes(), b"=", value.as_encoded_bytes()].concat())
        .collect();
    fields.push(environment.len().to_string().into_bytes());
    fields.extend(environment);
    let body: Vec<u8> =
        fields.iter().flat_map(|f| (f.len() as u32).to_le_bytes().into_iter().chain(f.clone())).collect();
    send_with_streams(&stream, &(body.len() as u32).to_le_bytes(), &stdio).ok()?;
    stream.write_all(&body).ok()?;
    let mut answer = [0; 1];
    stream.read_exact(&mut answer).ok()?;
    if answer[0] != ACCEPTED {
        return None;
    }
    // From here on the run started: it is not run again.
    let mut status = [0; 5];
    match stream.read_exact(&mut status) {
        Ok(()) if status[0] == STATUS => Some(i32::from_le_bytes([status[1], status[2], status[3], status[4]])),
        _ => {
            eprintln!("qmk-api {}: QMK's CLI server stopped during the run", super::SUBCOMMAND);
            Some(-(rustix::process::Signal::KILL.as_raw()))
        }
    }
}

fn send_with_streams(stream: &UnixStream, bytes: &[u8], stdio: &[BorrowedFd<'_>; 3]) -> std::io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = rustix::net::SendAncillaryBuffer::new(&mut space);
    control.push(rustix::net::SendAncillaryMessage::ScmRights(stdio));
    let sent =
        rustix::net::sendmsg(stream.as_fd(), &[IoSlice::new(bytes)], &mut control, rustix::net::SendFlags::empty())?;
    if sent == bytes.len() {
        return Ok(());
    }
    (&*stream).write_all(&bytes[sent..])
}

/// The builder's server for one cache folder: started for a build's environment and
/// tree, kept while they stay the same, stopped when the builder goes.
#[derive(Default)]
pub struct Server {
    running: Mutex<Option<(String, Child)>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

impl Server {
    /// Makes sure a server of `script` (QMK's CLI) for `environment` (make's) and
    /// `tree` listens in `folder`. It starts in the background: runs that come before
    /// it listens run on their own.
    pub fn ensure(
        &self,
        folder: &Path,
        script: &Script,
        environment: &BTreeMap<OsString, OsString>,
        tree: &str,
        home: &Path,
    ) -> std::io::Result<()> {
        let key = script.key(environment.clone(), tree);
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((current, child)) = running.as_mut()
            && *current == key
            && child.try_wait()?.is_none()
        {
            return Ok(());
        }
        if let Some((_, mut child)) = running.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let server = folder.join("zygote.py");
        if std::fs::read_to_string(&server).ok().as_deref() != Some(SERVER) {
            super::shelf::write_whole(&server, SERVER.as_bytes())?;
        }
        let mut command = Command::new(&script.interpreter[0]);
        command
            .args(&script.interpreter[1..])
            .arg(&server)
            .arg(folder)
            .arg(SOCKET)
            .arg(&script.path)
            .arg(&key)
            .arg(home)
            .env_clear()
            .envs(environment)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no memory of
        // the parent: the server ends with the process that started it.
        unsafe {
            command.pre_exec(|| {
                rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                    .map_err(std::io::Error::from)
            });
        }
        *running = Some((key, command.spawn()?));
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some((_, mut child)) = self.running.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_leaves_out_what_differs_from_build_to_build() {
        let script = Script { path: "/usr/bin/qmk".into(), interpreter: vec!["/usr/bin/python3".into()] };
        let env = |pairs: &[(&str, &str)]| -> Vec<(OsString, OsString)> {
            pairs.iter().map(|(n, v)| (OsString::from(n), OsString::from(v))).collect()
        };
        let key = script.key(env(&[("PATH", "/bin"), ("MAKEFLAGS", "KEYMAP=a"), (KEYMAP_ENV, "a")]), "t1");
        assert_eq!(
            script.key(env(&[(KEYMAP_ENV, "b"), ("PATH", "/bin"), ("MAKELEVEL", "1"), ("KEYMAP", "b")]), "t1"),
            key
        );
        assert_ne!(script.key(env(&[("PATH", "/usr/bin")]), "t1"), key, "the environment counts");
        assert_ne!(script.key(env(&[("PATH", "/bin")]), "t2"), key, "the tree counts");
    }

    /// Runs `script args` on the server in `folder`: its stdout, or `None` when the
    /// server did not run it.
    fn call_for_output(folder: &Path, script: &Script, args: &[&str]) -> Option<String> {
        use std::io::Seek;
        let mut stdout = tempfile::tempfile().unwrap();
        let (stdin, stderr) = (std::io::stdin(), std::io::stderr());
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let status = call(folder, script, &args, "tree", [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()])?;
        assert_eq!(status, 0);
        let mut text = String::new();
        stdout.seek(std::io::SeekFrom::Start(0)).unwrap();
        stdout.read_to_string(&mut text).unwrap();
        Some(text)
    }

    #[test]
    fn the_server_runs_the_script_and_ends_when_a_library_it_imported_changes() {
        let Some(python) = find_program("python3") else {
            eprintln!("skipped: no python3 on PATH");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let (folder, tree) = (dir.path().join("server"), dir.path().join("tree"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::create_dir_all(&tree).unwrap();
        let library = dir.path().join("greeting.py");
        std::fs::write(&library, "WORD = 'one'\n").unwrap();
        let path = dir.path().join("qmk");
        std::fs::write(&path, "import sys, greeting\nprint(greeting.WORD, *sys.argv[1:])\n").unwrap();
        let script = Script { path, interpreter: vec![python.into_os_string()] };
        let environment: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
        let server = Server::default();
        let started = || {
            server.ensure(&folder, &script, &environment, "tree", &tree).unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            loop {
                if let Some(output) = call_for_output(&folder, &script, &["a", "b"]) {
                    return output;
                }
                assert!(std::time::Instant::now() < deadline, "the server never answered");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        };
        assert_eq!(started(), "one a b\n");

        // A new file, as pip installs one: the server refuses and ends.
        std::fs::remove_file(&library).unwrap();
        std::fs::write(&library, "WORD = 'two'\n").unwrap();
        assert_eq!(call_for_output(&folder, &script, &["a"]), None, "a changed library is never run from memory");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let ended = || server.running.lock().unwrap().as_mut().unwrap().1.try_wait().unwrap().is_some();
        while !ended() {
            assert!(std::time::Instant::now() < deadline, "the server did not end");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert_eq!(started(), "two a b\n", "a new server imports the new library");
    }
}
