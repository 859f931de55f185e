//! The job store in SQLite, for one process on one machine: a job is written before
//! its id is handed out, so a crash or `kill -9` loses none. Jobs that were running
//! when the process died are queued again when the store is opened. Firmware is kept
//! in files, `jobs/<id>/<name>` beside the database.
//!
//! The database runs in WAL mode with `synchronous = NORMAL`: a committed job
//! survives the process dying at any point; only a power loss may lose the last
//! few commits, which this service accepts for its throughput.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::wakeups::Wakeups;
use super::{
    BuildRecord, Claim, Ending, Firmware, Job, JobStore, Preference, Recorded, Standing, StoreError, build_columns,
    choose_next, keyboard_of,
};
use crate::compile::builder::{move_file, remove_folder};

pub struct SqliteStore {
    inner: Mutex<Inner>,
    /// Jobs that may wait at once; more are refused.
    queue_limit: u64,
    /// The database file.
    path: PathBuf,
    /// Holds each job's firmware, in `<id>/`.
    jobs_dir: PathBuf,
    /// The first sign of damage seen, if any.
    damage: Mutex<Option<String>>,
    wakeups: Wakeups,
    /// Held while the store is open: one process at a time owns a state folder's jobs.
    _owner: std::fs::File,
}

/// Locks `STATE/jobs.sqlite.lock` (`flock`, released when the process ends): opening
/// the store puts the jobs left running back in the queue, which is only right when no
/// other process (a `serve` or a `mass-compile` on the same `--state`) is running them.
fn take_ownership(state: &Path) -> Result<std::fs::File, String> {
    std::fs::create_dir_all(state).map_err(|e| format!("cannot create {}: {e}", state.display()))?;
    let path = state.join("jobs.sqlite.lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(format!(
            "another process (a serve or a mass-compile) is using {}; stop it, or give this one another --state",
            state.display()
        )),
        Err(error) => Err(format!("cannot lock {}: {error}", path.display())),
    }
}

/// Left in `jobs/` when a store is created, so that the store's loss is seen even
/// when no job kept files.
const MARK: &str = ".job-store";

const MARK_TEXT: &str = "qmk-api keeps its jobs in ../jobs.sqlite and their firmware here. \
    It refuses to start with an empty or missing jobs.sqlite while this folder is here.\n";

/// What `jobs/` holds of an earlier store: job folders, and the mark.
struct Kept {
    folders: usize,
    mark: bool,
}

impl Kept {
    fn any(&self) -> bool {
        self.folders > 0 || self.mark
    }
}

impl std::fmt::Display for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.folders, self.mark) {
            (0, _) => write!(f, "the mark ({MARK}) of a store created here"),
            (1, _) => write!(f, "the folder of a job"),
            (n, _) => write!(f, "the folders of {n} jobs"),
        }
    }
}

/// What `jobs_dir` holds of an earlier store (nothing when it does not exist).
fn kept_before(jobs_dir: &Path) -> Result<Kept, StoreError> {
    let mut kept = Kept { folders: 0, mark: false };
    let entries = match std::fs::read_dir(jobs_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(kept),
        Err(error) => return Err(io_error(jobs_dir, error)),
    };
    for entry in entries {
        let entry = entry.map_err(|source| io_error(jobs_dir, source))?;
        let name = entry.file_name();
        if name == MARK {
            kept.mark = true;
        } else if name.to_str().is_some_and(|name| uuid::Uuid::try_parse(name).is_ok()) {
            kept.folders += 1;
        }
    }
    Ok(kept)
}

/// SQLite's `integrity_check` of the whole database: `Err` says what is wrong. Its
/// `quick_check` is twice as fast but does not hold the indexes against the rows: a
/// damaged index entry would make a job silently missing from lookups by id. Both
/// read every page (about a second for 50,000 jobs, 500 MB).
fn check_integrity(connection: &Connection) -> Result<(), String> {
    let mut statement =
        connection.prepare("PRAGMA integrity_check(5)").map_err(|error| format!("cannot be read: {error}"))?;
    let problems: Vec<String> = statement
        .query_map([], |row| row.get(0))
        .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
        .map_err(|error| format!("cannot be read: {error}"))?;
    if problems == ["ok"] {
        return Ok(());
    }
    // One line: rows may hold several, and a heading (`*** in database main ***`).
    let problems: Vec<&str> =
        problems.iter().flat_map(|problem| problem.lines()).filter(|line| !line.starts_with("***")).collect();
    Err(format!("is damaged: SQLite's integrity_check finds {}", problems.join("; ")))
}

/// Whether an error says the database holds something other than what was written.
fn is_damage(error: &StoreError) -> bool {
    use rusqlite::{Error, ErrorCode};
    match error {
        StoreError::Damaged(_) => true,
        StoreError::Sql(error) | StoreError::Open { source: error, .. } => match error {
            Error::SqliteFailure(failure, _) => {
                matches!(failure.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
            }
            Error::FromSqlConversionFailure(..)
            | Error::InvalidColumnType(..)
            | Error::Utf8Error(..)
            | Error::IntegralValueOutOfRange(..) => true,
            _ => false,
        },
        _ => false,
    }
}

/// The connection, and how many jobs wait: this process is the store's only writer,
/// so the count is kept here rather than counted on every submission.
struct Inner {
    connection: Connection,
    queued: u64,
}

impl Inner {
    /// Passes on the outcome of a write. After an error the count is taken again from
    /// the jobs themselves, so that it never drifts from what the store holds.
    fn after<T, E: Into<StoreError>>(&mut self, outcome: Result<T, E>) -> Result<T, StoreError> {
        outcome.map_err(|error| {
            if let Ok(queued) = count_queued(&self.connection) {
                self.queued = queued;
            }
            error.into()
        })
    }
}

fn count_queued(connection: &Connection) -> rusqlite::Result<u64> {
    connection
        .query_row("SELECT COUNT(*) FROM jobs WHERE status = 'queued'", [], |r| r.get::<_, i64>(0))
        .map(i64::unsigned_abs)
}

/// The columns a [`Job`] is read from, in the order [`Job::from_columns`] takes them.
const JOB_COLUMNS: &str = "id, created_at, enqueued_at, status, request, cache_key, result";

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = NORMAL;
    CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL,
        enqueued_at INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'finished', 'failed')),
        request TEXT NOT NULL,
        cache_key TEXT NOT NULL,
        result TEXT,
        sources TEXT,
        keyboard TEXT,
        passed_over_at INTEGER
    );
    CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, enqueued_at);
    CREATE INDEX IF NOT EXISTS jobs_by_cache_key ON jobs (cache_key, status, enqueued_at);
    CREATE TABLE IF NOT EXISTS keyboard_builds (
        keyboard TEXT PRIMARY KEY,
        keymap TEXT,
        works INTEGER,
        warnings INTEGER,
        last_tested INTEGER,
        message TEXT,
        firmware_size INTEGER,
        maximum_size INTEGER,
        tree TEXT,
        held_until INTEGER NOT NULL DEFAULT 0
    );
";

/// Adds the columns a store made before them lacks: each job's keyboard (older jobs
/// have none) and when it was passed over.
fn add_preference_columns(connection: &Connection) -> rusqlite::Result<()> {
    for (column, kind) in [("keyboard", "TEXT"), ("passed_over_at", "INTEGER")] {
        let has = connection.query_row(
            "SELECT count(*) FROM pragma_table_info('jobs') WHERE name = ?1",
            [column],
            |row| row.get::<_, i64>(0),
        )? > 0;
        if !has {
            connection.execute_batch(&format!("ALTER TABLE jobs ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (or creates) the store in the folder `state`; jobs left running are
    /// queued again. Returns the store and how many jobs were requeued.
    ///
    /// A damaged database is refused (SQLite's `integrity_check`), and so is an empty or
    /// missing one where jobs were kept before (their folders in `jobs/`, or the mark
    /// a new store leaves there): starting empty would silently lose every job.
    pub fn open(state: &Path, queue_limit: u64) -> Result<(SqliteStore, usize), StoreError> {
        let jobs_dir = state.join("jobs");
        let path = state.join("jobs.sqlite");
        let unusable = |problem: String| StoreError::Unusable { path: path.display().to_string(), problem };
        let owner = take_ownership(state).map_err(|problem| unusable(problem))?;
        let kept = kept_before(&jobs_dir)?;
        let lost = |what: &str| {
            unusable(format!(
                "{what}, but {} holds {kept}: the job store was lost. Restore jobs.sqlite from a backup, or, to start \
                 with no jobs, move {} away",
                jobs_dir.display(),
                jobs_dir.display()
            ))
        };
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.len() == 0 && kept.any() => return Err(lost("is empty (0 bytes)")),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound && kept.any() => {
                return Err(lost("is missing"));
            }
            _ => {}
        }
        std::fs::create_dir_all(&jobs_dir).map_err(|source| io_error(&jobs_dir, source))?;
        let failed = |source| StoreError::Open { path: path.display().to_string(), source };
        let connection = Connection::open(&path).map_err(failed)?;
        check_integrity(&connection).map_err(|problem| {
            unusable(format!(
                "{problem}. Restore it from a backup, or, to start with no jobs, move it (with jobs.sqlite-wal and \
                 jobs.sqlite-shm) and {} away",
                jobs_dir.display()
            ))
        })?;
        let has_jobs = connection
            .query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'jobs'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(failed)?
            > 0;
        if !has_jobs && kept.any() {
            return Err(lost("holds no jobs table"));
        }
        connection.execute_batch(SCHEMA).map_err(failed)?;
        add_preference_columns(&connection).map_err(failed)?;
        if !kept.mark {
            let mark = jobs_dir.join(MARK);
            std::fs::write(&mark, MARK_TEXT).map_err(|source| io_error(&mark, source))?;
        }
        let requeued = connection.execute("UPDATE jobs SET status = 'queued' WHERE status = 'running'", [])?;
        let queued = count_queued(&connection)?;
        let store = SqliteStore {
            inner: Mutex::new(Inner { connection, queued }),
            queue_limit,
            path,
            jobs_dir,
            damage: Mutex::new(None),
            // This process queues every job itself, so its own wake-ups are all there are.
            wakeups: Wakeups::new(queued, None),
            _owner: owner,
        };
        Ok((store, requeued))
    }

    /// Passes on an outcome, remembering a sign of a damaged database (a page SQLite
    /// cannot read, a column that is not what was written): the health check reports
    /// it from then on.
    fn noted<T>(&self, outcome: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &outcome
            && is_damage(error)
        {
            let mut damage = self.damage.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if damage.is_none() {
                tracing::error!(%error, path = %self.path.display(), "the job store is damaged");
                *damage = Some(error.to_string());
            }
        }
        outcome
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves SQLite consistent (its transaction rolled
        // back) and the count is only changed after a commit.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Puts a job's firmware in its folder. Safe to repeat after an error: what an
    /// earlier attempt moved is found in place.
    fn keep_firmware(&self, id: &str, firmware: Firmware<'_>) -> Result<(), StoreError> {
        let dir = self.jobs_dir.join(id);
        let (from, name, reused) = match firmware {
            Firmware::None => return Ok(()),
            Firmware::Built(path) => (path.to_owned(), path.file_name().unwrap_or_default(), false),
            Firmware::Reused { from, name } => (self.jobs_dir.join(from).join(name), name.as_ref(), true),
        };
        let to = dir.join(name);
        if to.is_file() && (reused || !from.exists()) {
            return Ok(());
        }
        std::fs::create_dir_all(&dir).map_err(|source| io_error(&dir, source))?;
        let kept = if reused {
            // The earlier job's file, shared: the two jobs are pruned apart.
            std::fs::hard_link(&from, &to).or_else(|_| std::fs::copy(&from, &to).map(drop))
        } else {
            move_file(&from, &to)
        };
        kept.map_err(|source| io_error(&to, source))
    }

    /// Marks the oldest job queued before `claimed` as passed over, `now`, unless it
    /// was before. A mark only: were it lost, that job would merely wait longer.
    fn mark_passed_over(connection: &Connection, claimed: &Job, now: i64) {
        let passed = connection.execute(
            "UPDATE jobs SET passed_over_at = ?3 WHERE passed_over_at IS NULL AND id = \
             (SELECT id FROM jobs WHERE status = 'queued' AND (enqueued_at, rowid) < \
             (?2, (SELECT rowid FROM jobs WHERE id = ?1)) ORDER BY enqueued_at, rowid LIMIT 1)",
            params![claimed.id, claimed.enqueued_at, now],
        );
        if let Err(error) = passed {
            tracing::warn!(%error, "cannot mark the oldest job as passed over");
        }
    }

    /// The one job `sql` yields (its columns are [`JOB_COLUMNS`]), if any.
    /// The statement runs to its end, so that the commit of a write (`UPDATE … RETURNING`)
    /// has happened, or failed with an error, when this returns: reading one row alone
    /// would leave the commit to the statement's reset, whose errors go unseen.
    fn query_job(connection: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Option<Job>, StoreError> {
        let mut statement = connection.prepare_cached(sql)?;
        let mut rows = statement.query(params)?;
        let columns = match rows.next()? {
            Some(r) => Some((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            None => None,
        };
        while rows.next()?.is_some() {}
        columns.map(Job::from_columns).transpose()
    }
}

fn io_error(path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io { path: path.display().to_string(), source }
}

impl JobStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn enqueue(&self, request: &str, cache_key: &str, now: i64) -> Result<String, StoreError> {
        let mut inner = self.lock();
        if inner.queued >= self.queue_limit {
            return Err(StoreError::QueueFull(inner.queued));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let inserted = inner
            .connection
            .prepare_cached(
                "INSERT INTO jobs (id, created_at, enqueued_at, status, request, cache_key, keyboard) \
                 VALUES (?1, ?2, ?2, 'queued', ?3, ?4, ?5)",
            )
            .and_then(|mut statement| statement.execute(params![id, now, request, cache_key, keyboard_of(request)]));
        self.noted(inner.after(inserted))?;
        inner.queued += 1;
        drop(inner);
        self.wakeups.signal(1);
        Ok(id)
    }

    fn wait_for_work(&self, at_most: Option<Duration>) {
        self.wakeups.wait(at_most);
    }

    fn claim_preferring(&self, preference: Option<&Preference<'_>>) -> Result<Option<Claim>, StoreError> {
        let mut inner = self.lock();
        let sql = |order: &str| {
            format!(
                "UPDATE jobs SET status = 'running' WHERE id = \
                 (SELECT id FROM jobs WHERE status = 'queued' ORDER BY {order} LIMIT 1) RETURNING {JOB_COLUMNS}"
            )
        };
        let claimed = match preference {
            None => Self::query_job(&inner.connection, &sql("enqueued_at, rowid"), []),
            Some(preference) => {
                let sql = sql(
                    "CASE WHEN passed_over_at < ?1 THEN 0 WHEN keyboard IN (SELECT value FROM json_each(?2)) THEN 1 \
                     ELSE 2 END, enqueued_at, rowid",
                );
                let warm = serde_json::to_string(preference.warm).unwrap_or_else(|_| "[]".to_owned());
                let claimed = Self::query_job(&inner.connection, &sql, params![preference.passed_over_before, warm]);
                if let Ok(Some(job)) = &claimed {
                    Self::mark_passed_over(&inner.connection, job, preference.now);
                }
                claimed
            }
        };
        let job = match self.noted(inner.after(claimed)) {
            Ok(job) => job,
            Err(error) => {
                // The job is still queued: its wake-up is owed to the next attempt.
                drop(inner);
                self.wakeups.signal(1);
                return Err(error);
            }
        };
        if job.is_some() {
            inner.queued = inner.queued.saturating_sub(1);
        }
        Ok(job.map(|job| Claim { job, token: String::new(), _hold: None }))
    }

    fn finish(&self, claim: &Claim, ending: &Ending<'_>) -> Result<Recorded, StoreError> {
        self.keep_firmware(&claim.job.id, ending.firmware)?;
        let mut inner = self.lock();
        let updated = inner
            .connection
            .prepare_cached(
                "UPDATE jobs SET status = ?2, result = ?3, sources = ?4, cache_key = ?5 WHERE id = ?1 AND status = 'running'",
            )
            .and_then(|mut statement| {
                let result = ending.result.to_string();
                statement.execute(params![claim.job.id, ending.status.as_str(), result, ending.sources, ending.cache_key])
            });
        let updated = self.noted(inner.after(updated))?;
        Ok(if updated == 1 { Recorded::Ended } else { Recorded::NotHeld })
    }

    /// This process is the store's only user: the jobs it runs are all the running
    /// ones. They are queued again now rather than at the next start, and the
    /// write-ahead log is folded into the database, so that `jobs.sqlite` alone holds
    /// every job once the process has stopped.
    fn release(&self) -> Result<usize, StoreError> {
        let inner = self.lock();
        let released = inner.connection.execute("UPDATE jobs SET status = 'queued' WHERE status = 'running'", []);
        let released = self.noted(released.map_err(StoreError::from))?;
        let checkpoint = inner.connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        if let Err(error) = checkpoint {
            tracing::warn!(%error, "cannot fold the job store's write-ahead log into it");
        }
        Ok(released)
    }

    fn get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
        self.noted(Self::query_job(&self.lock().connection, &sql, params![id]))
    }

    fn sources(&self, id: &str) -> Result<Option<String>, StoreError> {
        let inner = self.lock();
        let sources = inner
            .connection
            .prepare_cached("SELECT sources FROM jobs WHERE id = ?1")
            .and_then(|mut statement| statement.query_row(params![id], |r| r.get::<_, Option<String>>(0)).optional());
        Ok(self.noted(sources.map_err(StoreError::from))?.flatten())
    }

    fn firmware(&self, id: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if Path::new(name).file_name() != Some(name.as_ref()) {
            return Ok(None);
        }
        let path = self.jobs_dir.join(id).join(name);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(io_error(&path, error)),
        }
    }

    fn finished_with(&self, cache_key: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE cache_key = ?1 AND status = 'finished' ORDER BY enqueued_at DESC LIMIT 1"
        );
        self.noted(Self::query_job(&self.lock().connection, &sql, params![cache_key]))
    }

    fn queued(&self) -> Result<u64, StoreError> {
        Ok(self.lock().queued)
    }

    /// Reads the database file through a connection of its own, opened for the check:
    /// the working connection may answer from pages it keeps in memory. Damage seen
    /// before fails the check too.
    fn check(&self) -> Result<u64, StoreError> {
        if let Some(damage) = self.damage.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone() {
            return Err(StoreError::Unusable { path: self.path.display().to_string(), problem: damage });
        }
        let failed = |source| StoreError::Open { path: self.path.display().to_string(), source };
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags).map_err(failed)?;
        let counted = count_queued(&connection).map_err(failed);
        self.noted(counted)
    }

    fn prune(&self, cutoff: i64) -> Result<usize, StoreError> {
        let inner = self.lock();
        let records = inner.connection.execute("DELETE FROM keyboard_builds WHERE last_tested < ?1", params![cutoff]);
        self.noted(records.map_err(StoreError::from))?;
        let deleted = inner
            .connection
            .prepare("DELETE FROM jobs WHERE status IN ('finished', 'failed') AND enqueued_at < ?1 RETURNING id")
            .and_then(|mut statement| statement.query_map(params![cutoff], |r| r.get(0))?.collect());
        let ids: Vec<String> = self.noted(deleted.map_err(StoreError::from))?;
        drop(inner);
        for id in &ids {
            let dir = self.jobs_dir.join(id);
            if let Err(error) = remove_folder(&dir) {
                tracing::warn!(job = %id, %error, "cannot remove the files of a pruned job");
            }
        }
        Ok(ids.len())
    }

    fn record_build(&self, record: &BuildRecord) -> Result<(), StoreError> {
        let inner = self.lock();
        let written = inner
            .connection
            .prepare_cached(
                "INSERT INTO keyboard_builds (keyboard, keymap, works, warnings, last_tested, message, firmware_size, \
                 maximum_size, tree, held_until) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0) \
                 ON CONFLICT (keyboard) DO UPDATE SET keymap = ?2, works = ?3, warnings = ?4, last_tested = ?5, \
                 message = ?6, firmware_size = ?7, maximum_size = ?8, tree = ?9, held_until = 0",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    record.keyboard,
                    record.keymap,
                    record.works,
                    record.warnings,
                    record.last_tested,
                    record.message,
                    record.firmware_size,
                    record.maximum_size,
                    record.tree
                ])
            });
        self.noted(written.map_err(StoreError::from)).map(drop)
    }

    fn builds(&self, messages: bool) -> Result<Vec<BuildRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM keyboard_builds WHERE last_tested IS NOT NULL ORDER BY keyboard",
            build_columns(messages)
        );
        let inner = self.lock();
        let read = inner.connection.prepare_cached(&sql).and_then(|mut statement| {
            statement.query_map([], build_row)?.collect::<rusqlite::Result<Vec<BuildRecord>>>()
        });
        self.noted(read.map_err(StoreError::from))
    }

    fn build_of(&self, keyboard: &str) -> Result<Option<BuildRecord>, StoreError> {
        let sql = format!(
            "SELECT {} FROM keyboard_builds WHERE keyboard = ?1 AND last_tested IS NOT NULL",
            build_columns(true)
        );
        let inner = self.lock();
        let read = inner
            .connection
            .prepare_cached(&sql)
            .and_then(|mut statement| statement.query_row(params![keyboard], build_row).optional());
        self.noted(read.map_err(StoreError::from))
    }

    fn take_next_build(
        &self,
        candidates: &[String],
        tree: &str,
        now: i64,
        stale_before: i64,
        hold_until: i64,
    ) -> Result<Option<String>, StoreError> {
        let inner = self.lock();
        let read = inner
            .connection
            .prepare_cached("SELECT keyboard, last_tested, tree, held_until FROM keyboard_builds")
            .and_then(|mut statement| {
                statement
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            Standing { last_tested: r.get(1)?, tree: r.get(2)?, held_until: r.get(3)? },
                        ))
                    })?
                    .collect::<rusqlite::Result<std::collections::HashMap<String, Standing>>>()
            });
        let standing = self.noted(read.map_err(StoreError::from))?;
        let Some(next) = choose_next(candidates, |kb| standing.get(kb).cloned(), tree, now, stale_before) else {
            return Ok(None);
        };
        let held = inner.connection.execute(
            "INSERT INTO keyboard_builds (keyboard, held_until) VALUES (?1, ?2) \
             ON CONFLICT (keyboard) DO UPDATE SET held_until = ?2",
            params![next, hold_until],
        );
        self.noted(held.map_err(StoreError::from))?;
        Ok(Some(next.to_owned()))
    }

    fn drop_hold(&self, keyboard: &str) -> Result<(), StoreError> {
        let inner = self.lock();
        let dropped = inner
            .connection
            .execute("UPDATE keyboard_builds SET held_until = 0 WHERE keyboard = ?1", params![keyboard]);
        self.noted(dropped.map_err(StoreError::from)).map(drop)
    }
}

/// A [`BuildRecord`] from a row of [`build_columns`].
fn build_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BuildRecord> {
    Ok(BuildRecord::from_columns((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ending(result: &serde_json::Value) -> Ending<'_> {
        Ending {
            status: super::super::Status::Finished,
            result,
            sources: None,
            cache_key: "k",
            firmware: Firmware::None,
        }
    }

    #[test]
    fn reopening_requeues_what_was_running_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (running, queued, finished) = {
            let store = SqliteStore::open(dir.path(), 10).unwrap().0;
            let ids: Vec<String> = (0..3).map(|i| store.enqueue("{}", "k", i).unwrap()).collect();
            store.claim().unwrap();
            let second = store.claim().unwrap().unwrap();
            assert_eq!(store.finish(&second, &ending(&json!({}))).unwrap(), Recorded::Ended);
            (ids[0].clone(), ids[2].clone(), ids[1].clone())
        };
        let (store, requeued) = SqliteStore::open(dir.path(), 10).unwrap();
        assert_eq!((requeued, store.queued().unwrap()), (1, 2));
        let status = |id: &str| store.get(id).unwrap().unwrap().status;
        assert_eq!(
            [status(&running), status(&queued), status(&finished)],
            [super::super::Status::Queued, super::super::Status::Queued, super::super::Status::Finished]
        );
        assert_eq!(store.claim().unwrap().unwrap().job.id, running, "the interrupted job runs first");
    }

    #[test]
    fn a_second_opener_of_a_state_folder_is_refused_while_the_first_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = SqliteStore::open(dir.path(), 10).unwrap().0;
        let id = first.enqueue("{}", "k", 0).unwrap();
        first.claim().unwrap();
        let Err(error) = SqliteStore::open(dir.path(), 10) else { panic!("a second store on one folder") };
        assert!(error.to_string().contains("another process"), "{error}");
        assert_eq!(first.get(&id).unwrap().unwrap().status, super::super::Status::Running, "its job left running");
        drop(first);
        assert_eq!(SqliteStore::open(dir.path(), 10).unwrap().1, 1, "once released, the next opener takes over");
    }
}
