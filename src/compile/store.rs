//! The job store, in SQLite: a job is written before its id is handed out, so a
//! crash or `kill -9` loses none. Jobs that were running when the process died are
//! queued again when the store is opened.
//!
//! The database runs in WAL mode with `synchronous = NORMAL`: a committed job
//! survives the process dying at any point; only a power loss may lose the last
//! few commits, which this service accepts for its throughput.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

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
    /// What identifies identical requests: same keymap, builder and what the builder
    /// reads; completed when the job ends, with the state it was built from.
    pub cache_key: String,
    /// Set when the job ended.
    pub result: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job store {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("job store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the queue is full: {0} jobs are waiting")]
    QueueFull(u64),
    #[error("job store: a stored job is damaged: {0}")]
    Damaged(String),
}

pub struct Store {
    inner: Mutex<Inner>,
    /// Jobs that may wait at once; more are refused.
    queue_limit: u64,
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
        sources TEXT
    );
    CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, enqueued_at);
    CREATE INDEX IF NOT EXISTS jobs_by_cache_key ON jobs (cache_key, status, enqueued_at);
";

/// The columns a [`Job`] is read from, in the order [`Store::query_job`] expects.
const JOB_COLUMNS: &str = "id, created_at, enqueued_at, status, request, cache_key, result";

impl Store {
    /// Opens (or creates) the store at `path`; jobs left running are queued again.
    /// Returns the store and how many jobs were requeued.
    pub fn open(path: &Path, queue_limit: u64) -> Result<(Store, usize), StoreError> {
        let failed = |source| StoreError::Open { path: path.display().to_string(), source };
        let connection = Connection::open(path).map_err(failed)?;
        connection.execute_batch(SCHEMA).map_err(failed)?;
        let requeued = connection.execute("UPDATE jobs SET status = 'queued' WHERE status = 'running'", [])?;
        let queued = count_queued(&connection)?;
        let inner = Inner { connection, queued };
        Ok((Store { inner: Mutex::new(inner), queue_limit }, requeued))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves SQLite consistent (its transaction rolled
        // back) and the count is only changed after a commit.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores a new queued job and returns its id, unless the queue is full. On an error
    /// (a full disk) no job was stored.
    pub fn enqueue(&self, request: &str, cache_key: &str, now: i64) -> Result<String, StoreError> {
        let mut inner = self.lock();
        if inner.queued >= self.queue_limit {
            return Err(StoreError::QueueFull(inner.queued));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let inserted = inner
            .connection
            .prepare_cached(
                "INSERT INTO jobs (id, created_at, enqueued_at, status, request, cache_key) VALUES (?1, ?2, ?2, 'queued', ?3, ?4)",
            )
            .and_then(|mut statement| statement.execute(params![id, now, request, cache_key]));
        inner.after(inserted)?;
        inner.queued += 1;
        Ok(id)
    }

    /// Takes the oldest queued job and marks it running; `None` when none waits. On an
    /// error the job stays queued, to be claimed again.
    pub fn claim(&self) -> Result<Option<Job>, StoreError> {
        let mut inner = self.lock();
        let sql = format!(
            "UPDATE jobs SET status = 'running' WHERE id = \
             (SELECT id FROM jobs WHERE status = 'queued' ORDER BY enqueued_at, rowid LIMIT 1) RETURNING {JOB_COLUMNS}"
        );
        let claimed = Self::query_job(&inner.connection, &sql, []);
        let job = inner.after(claimed)?;
        if job.is_some() {
            inner.queued = inner.queued.saturating_sub(1);
        }
        Ok(job)
    }

    /// Records how a job ended, the sources it generated, and its cache key as it was
    /// built. The sources are kept apart from the result so that status reads, the
    /// most frequent request, skip them.
    pub fn finish(
        &self,
        id: &str,
        status: Status,
        result: &Value,
        sources: Option<&str>,
        cache_key: &str,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let updated = inner
            .connection
            .prepare_cached("UPDATE jobs SET status = ?2, result = ?3, sources = ?4, cache_key = ?5 WHERE id = ?1")
            .and_then(|mut statement| {
                statement.execute(params![id, status.as_str(), result.to_string(), sources, cache_key])
            })
            .map_err(StoreError::from);
        inner.after(updated)?;
        Ok(())
    }

    /// The sources a job generated, as `finish` stored them.
    pub fn sources(&self, id: &str) -> Result<Option<String>, StoreError> {
        let inner = self.lock();
        let sources = inner
            .connection
            .prepare_cached("SELECT sources FROM jobs WHERE id = ?1")?
            .query_row(params![id], |r| r.get::<_, Option<String>>(0))
            .optional()?;
        Ok(sources.flatten())
    }

    pub fn get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1");
        Self::query_job(&self.lock().connection, &sql, params![id])
    }

    /// The newest finished job with the same cache key, to reuse its artifacts.
    pub fn finished_with(&self, cache_key: &str) -> Result<Option<Job>, StoreError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE cache_key = ?1 AND status = 'finished' ORDER BY enqueued_at DESC LIMIT 1"
        );
        Self::query_job(&self.lock().connection, &sql, params![cache_key])
    }

    /// How many jobs wait.
    pub fn queued(&self) -> u64 {
        self.lock().queued
    }

    /// Forgets jobs that ended before `cutoff`, returning their ids so that their
    /// artifacts can be removed.
    pub fn prune(&self, cutoff: i64) -> Result<Vec<String>, StoreError> {
        let inner = self.lock();
        let ids = inner
            .connection
            .prepare("DELETE FROM jobs WHERE status IN ('finished', 'failed') AND enqueued_at < ?1 RETURNING id")?
            .query_map(params![cutoff], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// The one job `sql` yields (its columns are [`JOB_COLUMNS`]), if any.
    /// The statement runs to its end, so that the commit of a write (`UPDATE … RETURNING`)
    /// has happened, or failed with an error, when this returns: reading one row alone
    /// would leave the commit to the statement's reset, whose errors go unseen.
    fn query_job(connection: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Option<Job>, StoreError> {
        let mut statement = connection.prepare_cached(sql)?;
        let mut rows = statement.query(params)?;
        let row = match rows.next()? {
            Some(r) => Some((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
            )),
            None => None,
        };
        while rows.next()?.is_some() {}
        let Some((id, created_at, enqueued_at, status, request, cache_key, result)) = row else { return Ok(None) };
        let status = Status::parse(&status).ok_or_else(|| StoreError::Damaged(format!("{id}: status `{status}`")))?;
        let result = match result {
            Some(text) => Some(serde_json::from_str(&text).map_err(|e| StoreError::Damaged(format!("{id}: {e}")))?),
            None => None,
        };
        Ok(Some(Job { id, created_at, enqueued_at, status, request, cache_key, result }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(dir: &tempfile::TempDir, limit: u64) -> Store {
        Store::open(&dir.path().join("jobs.sqlite"), limit).unwrap().0
    }

    #[test]
    fn a_job_goes_from_queued_to_running_to_finished() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir, 10);
        let id = store.enqueue(r#"{"keyboard": "planck/rev6"}"#, "submitted", 100).unwrap();
        assert_eq!(store.get(&id).unwrap().unwrap().status, Status::Queued);
        let claimed = store.claim().unwrap().unwrap();
        assert_eq!((claimed.id.as_str(), claimed.status, claimed.enqueued_at), (id.as_str(), Status::Running, 100));
        assert!(store.claim().unwrap().is_none(), "nothing else waits");
        store.finish(&id, Status::Finished, &json!({"returncode": 0}), Some("{}"), "built").unwrap();
        let done = store.get(&id).unwrap().unwrap();
        assert_eq!(done.cache_key, "built", "the key as built replaces the key as submitted");
        assert!(store.finished_with("submitted").unwrap().is_none());
        assert_eq!((done.status, done.result), (Status::Finished, Some(json!({"returncode": 0}))));
        assert_eq!(store.sources(&id).unwrap().as_deref(), Some("{}"));
        assert!(store.get("no-such-id").unwrap().is_none());
    }

    #[test]
    fn jobs_are_claimed_oldest_first_and_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(store(&dir, 1000));
        let ids: Vec<String> = (0..200).map(|i| store.enqueue("{}", "k", i).unwrap()).collect();
        assert_eq!(store.claim().unwrap().unwrap().id, ids[0]);
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    std::iter::from_fn(|| store.claim().unwrap()).map(|j| j.id).collect::<Vec<_>>()
                })
            })
            .collect();
        let mut claimed: Vec<String> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        claimed.sort();
        let mut expected = ids[1..].to_vec();
        expected.sort();
        assert_eq!(claimed, expected, "every job claimed exactly once");
    }

    #[test]
    fn reopening_requeues_what_was_running_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (running, queued, finished) = {
            let store = store(&dir, 10);
            let ids: Vec<String> = (0..3).map(|i| store.enqueue("{}", "k", i).unwrap()).collect();
            store.claim().unwrap();
            store.claim().unwrap();
            store.finish(&ids[1], Status::Finished, &json!({}), None, "k").unwrap();
            (ids[0].clone(), ids[2].clone(), ids[1].clone())
        };
        let (store, requeued) = Store::open(&dir.path().join("jobs.sqlite"), 10).unwrap();
        assert_eq!((requeued, store.queued()), (1, 2));
        assert_eq!(store.get(&running).unwrap().unwrap().status, Status::Queued);
        assert_eq!(store.get(&queued).unwrap().unwrap().status, Status::Queued);
        assert_eq!(store.get(&finished).unwrap().unwrap().status, Status::Finished);
        assert_eq!(store.claim().unwrap().unwrap().id, running, "the interrupted job runs first");
    }

    #[test]
    fn a_full_queue_refuses_new_jobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir, 2);
        store.enqueue("{}", "k", 1).unwrap();
        store.enqueue("{}", "k", 2).unwrap();
        assert!(matches!(store.enqueue("{}", "k", 3), Err(StoreError::QueueFull(2))));
        store.claim().unwrap();
        assert_eq!(store.queued(), 1);
        store.enqueue("{}", "k", 4).unwrap();
    }

    #[test]
    fn finished_jobs_are_found_by_cache_key_and_pruned_by_age() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(&dir, 10);
        let old = store.enqueue("{}", "same", 10).unwrap();
        let new = store.enqueue("{}", "same", 20).unwrap();
        assert!(store.finished_with("same").unwrap().is_none(), "nothing finished yet");
        for id in [&old, &new] {
            store.claim().unwrap();
            store.finish(id, Status::Finished, &json!({"id": id}), None, "same").unwrap();
        }
        assert_eq!(store.finished_with("same").unwrap().unwrap().id, new);
        assert!(store.finished_with("other").unwrap().is_none());
        assert_eq!(store.prune(15).unwrap(), std::slice::from_ref(&old));
        assert!(store.get(&old).unwrap().is_none() && store.get(&new).unwrap().is_some());
    }
}
