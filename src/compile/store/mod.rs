//! The job store: the queue, each job's result and sources, its firmware, and the
//! lookup of identical finished jobs. One interface, [`JobStore`], over two backends:
//!
//! - [`SqliteStore`], the default: one machine, one process, a file in the state
//!   folder, firmware in files beside it;
//! - [`PgStore`]: PostgreSQL shared by any number of nodes, each claiming jobs under a
//!   lease that it renews; firmware is stored in the database, so every node serves
//!   every job.
//!
//! The interface is synchronous: the service runs its workers on threads (a build is a
//! blocking child process, validation is CPU work) and the HTTP handlers reach the
//! service through `spawn_blocking`. The PostgreSQL backend drives its async client on
//! a small runtime of its own, behind the same blocking calls.

mod builds;
mod holdings;
mod postgres;
mod sqlite;
mod wakeups;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

pub use builds::{BuildRecord, MESSAGE_LIMIT, Standing, choose_next, message_tail};
pub use holdings::Hold;
pub use postgres::{PgSettings, PgStore};
pub use sqlite::SqliteStore;

/// The states of a job, as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Queued,
    Running,
    Finished,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Finished => "finished",
            Status::Failed => "failed",
        }
    }

    /// Finished or failed: the job has its result.
    pub fn has_ended(self) -> bool {
        matches!(self, Status::Finished | Status::Failed)
    }

    fn parse(text: &str) -> Option<Status> {
        [Status::Queued, Status::Running, Status::Finished, Status::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// One job as stored. Times are seconds since 1970.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    pub created_at: i64,
    pub enqueued_at: i64,
    pub status: Status,
    /// The request as submitted (the keymap JSON).
    pub request: String,
    /// What identifies identical requests: same keymap, keyboard and builder.
    pub cache_key: String,
    /// Set when the job ended.
    pub result: Option<Value>,
}

impl Job {
    /// A job from its stored columns; `Damaged` when they do not make one.
    fn from_columns(
        (id, created_at, enqueued_at, status, request, cache_key, result): JobColumns,
    ) -> Result<Job, StoreError> {
        let status = Status::parse(&status).ok_or_else(|| StoreError::Damaged(format!("{id}: status `{status}`")))?;
        let result = match result {
            Some(text) => Some(serde_json::from_str(&text).map_err(|e| StoreError::Damaged(format!("{id}: {e}")))?),
            None => None,
        };
        Ok(Job { id, created_at, enqueued_at, status, request, cache_key, result })
    }
}

/// A job's columns as both backends read them: id, created_at, enqueued_at, status,
/// request, cache_key, result.
type JobColumns = (String, i64, i64, String, String, String, Option<String>);

/// A job taken by a worker. Its token proves, when the end is recorded, that no other
/// worker has taken the job since; while the claim lives, a backend with leases keeps
/// renewing its lease.
pub struct Claim {
    pub job: Job,
    token: String,
    _hold: Option<Hold>,
}

/// How a job ended, as its worker records it.
#[derive(Debug, Clone, Copy)]
pub struct Ending<'a> {
    pub status: Status,
    pub result: &'a Value,
    /// The generated sources (JSON), kept apart from the result so that status reads
    /// skip them.
    pub sources: Option<&'a str>,
    /// The cache key the job's result holds for.
    pub cache_key: &'a str,
    pub firmware: Firmware<'a>,
}

/// Where a job's firmware comes from.
#[derive(Debug, Clone, Copy)]
pub enum Firmware<'a> {
    None,
    /// A file the job built, in its worker's folder; the store takes it over.
    Built(&'a Path),
    /// The firmware of an identical earlier job, `from`, whose file is called `name`.
    Reused {
        from: &'a str,
        name: &'a str,
    },
}

/// What became of an attempt to record a job's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The job has ended with this result.
    Ended,
    /// The claim was no longer the job's: another worker took the job over (its lease
    /// ran out) or has ended it. The result is dropped; a job ends once.
    NotHeld,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job store {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("job store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("job store (PostgreSQL): {}", with_causes(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("job store (PostgreSQL): no connection: {0}")]
    Pool(String),
    #[error(
        "job store: the database address is not a PostgreSQL URL (postgres://user@host/database): {}",
        with_causes(.0)
    )]
    Url(tokio_postgres::Error),
    #[error("job store (PostgreSQL): {0}")]
    Tls(String),
    #[error(
        "job store (PostgreSQL): the database's schema is version {found}, newer than this program's {known}: \
         run the newer qmk-api on this node too"
    )]
    SchemaTooNew { found: i32, known: i32 },
    #[error("job store: {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("the queue is full: {0} jobs are waiting")]
    QueueFull(u64),
    #[error("job store: a stored job is damaged: {0}")]
    Damaged(String),
    /// The store cannot be used as it is: it is damaged, or it was lost while the files
    /// of its jobs remain. Says what to do.
    #[error("job store {path}: {problem}")]
    Unusable { path: String, problem: String },
}

/// An error and its causes, as one text: tokio-postgres's own names only the kind of
/// error ("db error"), and the server's message is its cause.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(&format!(": {error}"));
        cause = error.source();
    }
    text
}

/// Which queued job a worker takes. In order: a job that was passed over at the head of
/// the queue before `passed_over_before` (so no job waits much longer than that bound
/// beyond its turn in first-come order); the oldest job of a keyboard this node holds
/// warm (`warm`); the oldest job of a keyboard no other node holds warm; the oldest job.
/// Taking a job other than the oldest marks the oldest as passed over, `now`.
#[derive(Debug, Clone, Copy)]
pub struct Preference<'a> {
    pub warm: &'a [String],
    /// Seconds since the epoch, as `now`.
    pub passed_over_before: i64,
    pub now: i64,
}

/// The keyboard a request (a keymap's JSON) names, which workers may prefer.
fn keyboard_of(request: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named {
        keyboard: String,
    }
    serde_json::from_str::<Named>(request).ok().map(|named| named.keyboard)
}

/// What the compile service needs from a job store. Every write is committed when the
/// call returns.
pub trait JobStore: Send + Sync {
    /// Names the backend in logs and in `GET /v1`.
    fn backend(&self) -> &'static str;

    /// Stores a new queued job and returns its id, unless `queue_limit` jobs wait
    /// ([`StoreError::QueueFull`]). On an error no job was stored.
    fn enqueue(&self, request: &str, cache_key: &str, now: i64) -> Result<String, StoreError>;

    /// Returns when a job may be waiting: a wake-up for a new job, or after a while
    /// (at most `at_most`).
    fn wait_for_work(&self, at_most: Option<Duration>);

    /// Takes the oldest queued job, `None` when none waits. On an error the job stays
    /// queued, to be claimed again.
    fn claim(&self) -> Result<Option<Claim>, StoreError> {
        self.claim_preferring(None)
    }

    /// Takes the queued job `preference` picks (the oldest without one), `None` when
    /// none waits. On an error the job stays queued, to be claimed again.
    fn claim_preferring(&self, preference: Option<&Preference<'_>>) -> Result<Option<Claim>, StoreError>;

    /// Records how a claimed job ended, once: the first end recorded stands.
    fn finish(&self, claim: &Claim, ending: &Ending<'_>) -> Result<Recorded, StoreError>;

    /// Hands back the jobs this process holds, for others to take at once (at
    /// shutdown), and forgets the keyboards it noted warm; returns how many jobs. A
    /// backend without leases leaves them to its restart.
    fn release(&self) -> Result<usize, StoreError>;

    /// Notes that this node holds `keyboard` warm, now, for the claims of other nodes
    /// (see [`Preference`]); a store of one node keeps no such note.
    fn note_warm(&self, _keyboard: &str, _now: i64) -> Result<(), StoreError> {
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<Job>, StoreError>;

    /// The sources a job generated, as `finish` stored them.
    fn sources(&self, id: &str) -> Result<Option<String>, StoreError>;

    /// The firmware of an ended job, called `name` in its result.
    fn firmware(&self, id: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The newest finished job with this cache key, to reuse its result and files.
    fn finished_with(&self, cache_key: &str) -> Result<Option<Job>, StoreError>;

    /// How many jobs wait, counted over every node.
    fn queued(&self) -> Result<u64, StoreError>;

    /// How many jobs wait, read from the store itself: an error when it cannot be read
    /// (unreachable, damaged), for the health check.
    fn check(&self) -> Result<u64, StoreError> {
        self.queued()
    }

    /// Forgets the jobs that ended and were queued before `cutoff`, with their files,
    /// and the catalogue's records tested before it (keyboards gone from the tree);
    /// returns how many jobs.
    fn prune(&self, cutoff: i64) -> Result<usize, StoreError>;

    /// Records the last build of a keyboard's test keymap, in place of the one before,
    /// and lets go of the keyboard's hold.
    fn record_build(&self, record: &BuildRecord) -> Result<(), StoreError>;

    /// The last build of every keyboard that has one, by name; `messages` false leaves
    /// their messages empty (and unread).
    fn builds(&self, messages: bool) -> Result<Vec<BuildRecord>, StoreError>;

    /// The last build of one keyboard.
    fn build_of(&self, keyboard: &str) -> Result<Option<BuildRecord>, StoreError>;

    /// Takes the keyboard to build next among `candidates` ([`choose_next`]), holding it
    /// until `hold_until` so that no other build takes it meanwhile, on any node.
    fn take_next_build(
        &self,
        candidates: &[String],
        tree: &str,
        now: i64,
        stale_before: i64,
        hold_until: i64,
    ) -> Result<Option<String>, StoreError>;

    /// Lets go of a keyboard whose build ended without a result (stopped for a job).
    fn drop_hold(&self, keyboard: &str) -> Result<(), StoreError>;
}

/// A record's columns as both backends read them: keyboard, keymap, works, warnings,
/// last_tested, message, firmware_size, maximum_size, tree.
type BuildColumns = (String, String, bool, bool, i64, String, Option<i64>, Option<i64>, String);

/// The columns a [`BuildRecord`] is read from, `messages` or an empty text in their place.
fn build_columns(messages: bool) -> String {
    let message = if messages { "message" } else { "''" };
    format!("keyboard, keymap, works, warnings, last_tested, {message}, firmware_size, maximum_size, tree")
}

impl BuildRecord {
    fn from_columns(
        (keyboard, keymap, works, warnings, last_tested, message, firmware_size, maximum_size, tree): BuildColumns,
    ) -> BuildRecord {
        BuildRecord { keyboard, keymap, works, warnings, last_tested, message, firmware_size, maximum_size, tree }
    }
}

/// Which job store to use.
#[derive(Debug, Clone)]
pub enum Database {
    /// SQLite in the state folder (`jobs.sqlite`, firmware under `jobs/`).
    Sqlite,
    /// PostgreSQL at this URL, shared by every node.
    Postgres { url: String, lease: Duration },
}

impl Database {
    /// `None` is the default, SQLite; otherwise a `postgres://` or `postgresql://` URL.
    pub fn from_option(url: Option<String>, lease: Duration) -> Result<Database, String> {
        match url {
            None => Ok(Database::Sqlite),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Database::Postgres { url, lease })
            }
            Some(other) => Err(format!("--database {other:?}: only postgres:// URLs are supported")),
        }
    }
}

/// Opens the chosen store. `state` is the local state folder, `connections` the most
/// connections this process may use at once. Returns the store and how many jobs
/// were queued again because they were running when the last process stopped.
pub fn open(
    database: &Database,
    state: &Path,
    queue_limit: u64,
    connections: usize,
) -> Result<(Box<dyn JobStore>, usize), StoreError> {
    match database {
        Database::Sqlite => {
            let (store, requeued) = SqliteStore::open(state, queue_limit)?;
            Ok((Box::new(store), requeued))
        }
        Database::Postgres { url, lease } => {
            let settings = PgSettings { url: url.clone(), queue_limit, lease: *lease, connections };
            Ok((Box::new(PgStore::open(&settings)?), 0))
        }
    }
}
