//! A `qmk-api serve` process on 127.0.0.1 and an ephemeral port, an HTTP client
//! for it, a `qmk-api worker` process, and a stand-in qmk_firmware tree whose
//! "toolchain" is a make file of ours.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Server {
    child: Child,
    pub base: String,
    pub state: PathBuf,
    agent: ureq::Agent,
}

/// An answer: status, headers and body.
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }
}

impl Server {
    /// Starts `qmk-api serve` with `args`, its state in `state`, and waits until it
    /// listens. Its log goes to `state/server.log`.
    pub fn start(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        Server::spawn(state, args, env, None)
    }

    /// A server that cannot grow any file past `bytes` (RLIMIT_FSIZE), as on a full disk,
    /// until [`Server::lift_file_size_limit`].
    pub fn start_with_file_size_limit(state: &Path, args: &[&str], env: &[(&str, &str)], bytes: u64) -> Server {
        Server::spawn(state, args, env, Some(bytes))
    }

    fn spawn(state: &Path, args: &[&str], env: &[(&str, &str)], file_size_limit: Option<u64>) -> Server {
        Server::try_spawn(state, args, env, file_size_limit).unwrap_or_else(|(status, log)| {
            panic!("the server did not start ({status}):\n{log}");
        })
    }

    /// Starts `qmk-api serve` as [`Server::start`] does, or returns how it ended and its
    /// log when it refused to start.
    pub fn try_start(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Server, (ExitStatus, String)> {
        Server::try_spawn(state, args, env, None)
    }

    fn try_spawn(
        state: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        file_size_limit: Option<u64>,
    ) -> Result<Server, (ExitStatus, String)> {
        let serve: Vec<&str> = ["serve", "--listen", "127.0.0.1:0"].into_iter().chain(args.iter().copied()).collect();
        let (mut child, line) = start_process(state, &serve, env, file_size_limit);
        let Some(base) = line.trim().strip_prefix("listening on ") else {
            let status = child.wait().unwrap();
            return Err((status, std::fs::read_to_string(state.join("server.log")).unwrap_or_default()));
        };
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Ok(Server { child, base: base.to_owned(), state: state.to_owned(), agent })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`libc::SIGTERM`, `libc::SIGINT`) and waits up to 30 s for the
    /// server to end; returns how it ended and how long it took.
    pub fn stop_with(mut self, signal: i32) -> (ExitStatus, Duration) {
        let sent = Instant::now();
        // SAFETY: kill sends a signal to our own child, which has not been waited for.
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, signal) }, 0);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, sent.elapsed());
            }
            assert!(sent.elapsed() < Duration::from_secs(30), "the server did not stop:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets the server grow its files again, as when space is freed on a full disk.
    pub fn lift_file_size_limit(&self) {
        let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: prlimit reads `unlimited` and writes nothing back (a null old limit).
        let set = unsafe { libc::prlimit(pid, libc::RLIMIT_FSIZE, &unlimited, std::ptr::null_mut()) };
        assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.join("server.log")).unwrap()
    }

    /// A server whose firmware builder runs the stand-in make file of `fake_qmk_tree`,
    /// each build taking `build_seconds`.
    pub fn with_fake_toolchain(state: &Path, tree: &Path, args: &[&str], build_seconds: &str) -> Server {
        set_build_seconds(tree, build_seconds);
        let home = tree.display().to_string();
        let args: Vec<&str> = ["--qmk-home", home.as_str()].into_iter().chain(args.iter().copied()).collect();
        Server::start(state, &args, &[])
    }

    pub fn get(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.base);
        reply(self.agent.get(&url).call().unwrap_or_else(|e| panic!("GET {url}: {e}")))
    }

    /// A GET on a connection of its own (the shared agent's pool aside).
    pub fn get_new(&self, path: &str) -> Reply {
        let url = format!("{}{path}", self.base);
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        reply(agent.get(&url).call().unwrap_or_else(|e| panic!("GET {url}: {e}")))
    }

    pub fn post(&self, path: &str, body: &[u8]) -> Reply {
        self.post_as(path, "application/json", body)
    }

    /// A POST whose body is sent as `content_type`.
    pub fn post_as(&self, path: &str, content_type: &str, body: &[u8]) -> Reply {
        let url = format!("{}{path}", self.base);
        let request = self.agent.post(&url).header("Content-Type", content_type);
        reply(request.send(body).unwrap_or_else(|e| panic!("POST {url}: {e}")))
    }

    /// Submits a keymap and returns its job id.
    pub fn submit(&self, payload: &Value) -> String {
        let reply = self.post("/v1/compile", payload.to_string().as_bytes());
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
        let answer = reply.json();
        assert_eq!(answer["enqueued"], true);
        answer["job_id"].as_str().unwrap().to_owned()
    }

    /// Polls a job until its status is one of `statuses`, returning it.
    pub fn wait_for(&self, id: &str, statuses: &[&str]) -> Value {
        self.wait_within(id, statuses, Duration::from_secs(60))
    }

    /// `wait_for` with a time limit of its own, for real builds.
    pub fn wait_within(&self, id: &str, statuses: &[&str], limit: Duration) -> Value {
        let started = Instant::now();
        loop {
            let job = self.get(&format!("/v1/compile/{id}")).json();
            if statuses.contains(&job["status"].as_str().unwrap()) {
                return job;
            }
            assert!(started.elapsed() < limit, "job {id} stayed {}", job["status"]);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Ends the process the hard way, as a crash would.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// Starts `qmk-api` with `args` and its state in `state`, its log in `state/server.log`;
/// returns the process and the first line it printed on stdout, once it has.
fn start_process(state: &Path, args: &[&str], env: &[(&str, &str)], file_size_limit: Option<u64>) -> (Child, String) {
    std::fs::create_dir_all(state).unwrap();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(state.join("server.log")).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_qmk-api"));
    command
        .args(args)
        .arg("--state")
        .arg(state)
        .env_remove("QMK_HOME")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log);
    if let Some(bytes) = file_size_limit {
        let limit = libc::rlimit { rlim_cur: bytes, rlim_max: libc::RLIM_INFINITY };
        // SAFETY: between fork and exec only async-signal-safe calls are made.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
                // A write past the limit then fails with EFBIG instead of killing the process.
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut child = command.spawn().expect("the binary runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, line)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `qmk-api worker` process: workers on a shared job store, no HTTP.
pub struct Worker {
    child: Child,
    pub state: PathBuf,
}

impl Worker {
    /// Starts `qmk-api worker` with `args` and waits until its workers run.
    pub fn start(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Worker {
        let worker: Vec<&str> = ["worker"].into_iter().chain(args.iter().copied()).collect();
        let (child, line) = start_process(state, &worker, env, None);
        assert!(line.starts_with("working with "), "{line:?}");
        Worker { child, state: state.to_owned() }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.state.join("server.log")).unwrap()
    }

    /// Stops the worker as a service manager does, with SIGTERM, and waits for it.
    pub fn terminate(mut self) {
        // SAFETY: kill sends a signal to our own child, which has not been waited for.
        assert_eq!(unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) }, 0);
        assert!(self.child.wait().unwrap().success(), "a worker stops cleanly on SIGTERM");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn reply(mut response: ureq::http::Response<ureq::Body>) -> Reply {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
    Reply { status, headers, body }
}

/// Builds the JSON API of the bundled data into `dir/bundled-site`, for `--site`: a
/// server that needs no pages starts without building them.
pub fn bundled_site(dir: &Path) -> String {
    let out = dir.join("bundled-site");
    let status = Command::new(env!("CARGO_BIN_EXE_qmk-api"))
        .args(["build", "--json-only", "--quiet", "--out"])
        .arg(&out)
        .env_remove("QMK_HOME")
        .status()
        .unwrap();
    assert!(status.success(), "the bundled site builds");
    out.display().to_string()
}

/// How long each build of a `fake_qmk_tree` takes. It is a file of the tree, as a
/// build sees nothing of the service's environment.
pub fn set_build_seconds(tree: &Path, seconds: &str) {
    std::fs::write(tree.join("builddefs/seconds.mk"), format!("FAKE_BUILD_SECONDS := {seconds}\n")).unwrap();
}

/// A tree laid out like a qmk_firmware checkout: a copy of the bundled data (copied, not
/// linked: a tree's links out of it are refused), and for build rules a make file that
/// waits `FAKE_BUILD_SECONDS` (see [`set_build_seconds`]), then writes the job's
/// keymap.json as its "firmware" where QMK's rules put it. Each job's firmware thus shows
/// which keymap folder it was built from.
pub fn fake_qmk_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("data");
    for (from, to) in [(data.clone(), dir.path().join("data")), (data.join("keyboards"), dir.path().join("keyboards"))]
    {
        for entry in walkdir::WalkDir::new(&from).into_iter().map(Result::unwrap).filter(|e| e.file_type().is_file()) {
            let target = to.join(entry.path().strip_prefix(&from).unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
    std::fs::create_dir(dir.path().join("builddefs")).unwrap();
    let rules = "\
-include builddefs/seconds.mk
FAKE_BUILD_SECONDS ?= 0.2
BUILD_DIR ?= .build
all:
\t@echo building $(KEYBOARD):$(KEYMAP) in $(BUILD_DIR)
\t@sleep $(FAKE_BUILD_SECONDS)
\t@mkdir -p $(BUILD_DIR)
\t@cp $(MAIN_KEYMAP_PATH_1)/keymap.json $(BUILD_DIR)/$(TARGET).hex
\t@cp $(BUILD_DIR)/$(TARGET).hex $(TARGET).hex
\t@echo done
";
    std::fs::write(dir.path().join("builddefs/build_keyboard.mk"), rules).unwrap();
    dir
}
