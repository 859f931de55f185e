//! A PostgreSQL server of the tests' own: `initdb` and `pg_ctl` in a temporary folder,
//! listening on 127.0.0.1 and a free port only. PostgreSQL refuses to run as root, so
//! when the tests do, the server runs as `nobody`. Where PostgreSQL is not installed,
//! [`Postgres::start`] says so and returns `None`, and the test skips (or fails, with
//! `QMK_API_REQUIRE_POSTGRES` set, as CI sets it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Postgres {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
    /// The user and group the server runs as, when not the tests' own.
    owner: Option<(u32, u32)>,
}

impl Postgres {
    /// A new server that does not wait for the disk (the machine outlives every test), or
    /// `None`, saying why, where PostgreSQL is not installed.
    pub fn start() -> Option<Postgres> {
        Postgres::start_with(&[("fsync", "off"), ("full_page_writes", "off")])
    }

    /// A new server with these `postgresql.conf` settings beside the tests' own.
    pub fn start_with(settings: &[(&str, &str)]) -> Option<Postgres> {
        Postgres::start_with_files(settings, &[])
    }

    /// A new server with these settings and these files (name and content) in its data
    /// folder, readable by the server only: keys, certificates, `pg_hba.conf`.
    pub fn start_with_files(settings: &[(&str, &str)], files: &[(&str, &str)]) -> Option<Postgres> {
        let Some(bin) = binaries() else {
            let missing = "PostgreSQL is not installed (initdb and pg_ctl on PATH or in /usr/lib/postgresql/*/bin)";
            // CI installs it: there the tests must run, not skip.
            assert!(std::env::var_os("QMK_API_REQUIRE_POSTGRES").is_none(), "{missing}");
            eprintln!("skipped: {missing}");
            return None;
        };
        let owner = if unsafe { libc::geteuid() } == 0 {
            let Some(nobody) = user("nobody") else {
                eprintln!("skipped: running as root, and there is no user `nobody` to run PostgreSQL as");
                return None;
            };
            Some(nobody)
        } else {
            None
        };
        let dir = tempfile::tempdir().unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut server = Postgres { dir, port: 0, bin, owner };
        let data = server.data().display().to_string();
        server.run_as_owner(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
        );
        for (name, content) in files {
            let path = server.data().join(name);
            std::fs::write(&path, content).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
            }
        }
        let mut conf =
            String::from("listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\nmax_connections = 200\n");
        for (name, value) in settings {
            conf.push_str(&format!("{name} = '{value}'\n"));
        }
        // A port that was free a moment ago may be taken by the time the server binds it.
        for _ in 0..5 {
            server.port = free_port();
            let port_line = format!("port = {}\n", server.port);
            std::fs::write(server.data().join("postgresql.auto.conf"), format!("{conf}{port_line}")).unwrap();
            if server.pg_ctl("start").status.success() {
                return Some(server);
            }
        }
        panic!("PostgreSQL did not start:\n{}", server.log());
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The URL of database `postgres` on this server.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server at once, as a crash or an outage would.
    pub fn stop(&self) {
        assert!(self.pg_ctl("stop").status.success(), "pg_ctl stop:\n{}", self.log());
    }

    /// Starts the stopped server again, on the same port.
    pub fn restart(&self) {
        assert!(self.pg_ctl("start").status.success(), "pg_ctl start:\n{}", self.log());
    }

    /// Runs `sql` with psql in database `postgres`; returns its output, unaligned, one
    /// row a line.
    pub fn query(&self, sql: &str) -> String {
        self.query_in("postgres", sql)
    }

    /// Runs `sql` with psql in database `name`.
    pub fn query_in(&self, name: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let output = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &port, "-U", "postgres"])
            .args(["-d", name, "-c", sql])
            .output()
            .expect("psql runs");
        assert!(output.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim_end().to_owned()
    }

    fn pg_ctl(&self, action: &str) -> Output {
        let (data, log) = (self.data().display().to_string(), self.dir.path().join("server.log").display().to_string());
        match action {
            "start" => self.run_as_owner("pg_ctl", &["-D", &data, "-l", &log, "-w", "-t", "60", "start"]),
            _ => self.run_as_owner("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]),
        }
    }

    fn run_as_owner(&self, program: &str, args: &[&str]) -> Output {
        let mut command = Command::new(self.bin.join(program));
        command.args(args).env("LC_ALL", "C").current_dir(self.dir.path());
        if let Some((uid, gid)) = self.owner {
            std::os::unix::process::CommandExt::uid(&mut command, uid);
            std::os::unix::process::CommandExt::gid(&mut command, gid);
        }
        let output = command.output().unwrap_or_else(|e| panic!("{program} runs: {e}"));
        if program == "initdb" {
            assert!(output.status.success(), "initdb: {}", String::from_utf8_lossy(&output.stderr));
        }
        output
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.pg_ctl("stop");
    }
}

/// The folder of PostgreSQL's server programs: where `initdb` on PATH really lives
/// (Debian links it from elsewhere), else Debian's newest `/usr/lib/postgresql/<n>/bin`.
fn binaries() -> Option<PathBuf> {
    let has_all = |dir: &Path| ["initdb", "pg_ctl", "postgres", "psql"].iter().all(|p| dir.join(p).is_file());
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .filter_map(|dir| std::fs::canonicalize(dir.join("initdb")).ok())
        .filter_map(|initdb| initdb.parent().map(Path::to_owned))
        .find(|dir| has_all(dir));
    on_path.or_else(|| {
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin")))
            })
            .filter(|(_, bin)| has_all(bin))
            .collect();
        versions.sort();
        versions.pop().map(|(_, bin)| bin)
    })
}

/// The user id and group id of `name`.
fn user(name: &str) -> Option<(u32, u32)> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: getpwnam returns null or a pointer to a static record, read at once here.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    (!entry.is_null()).then(|| unsafe { ((*entry).pw_uid, (*entry).pw_gid) })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}
