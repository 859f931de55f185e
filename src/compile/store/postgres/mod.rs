//! The job store in PostgreSQL, shared by every node: API nodes queue jobs, workers on
//! any node claim them, and any node answers for any job.
//!
//! - A job is committed before its id is returned (with the database's own
//!   durability, `synchronous_commit` as it is set up), and so is its end.
//! - Workers claim the oldest queued job with `FOR UPDATE SKIP LOCKED`, under a lease
//!   the node renews while the worker holds the job. A node that stops renewing (killed,
//!   cut off) loses its jobs when their leases run out: any node queues them again and
//!   they run elsewhere. A job ends once: its end is recorded only with the token of
//!   its latest claim, so a late result from a node that lost the job is dropped.
//! - New jobs wake the workers of every node through `LISTEN`/`NOTIFY`; workers also
//!   look for work every second, in case a wake-up was missed.
//! - The queue limit holds over all nodes (see [`PgStore::enqueue`]).
//! - Firmware is kept in the database, once per content (`firmware`, by SHA-256), so
//!   that every node serves it and an identical job on any node reuses it.
//!
//! Claims, lease renewals and wake-ups commit without waiting for the disk: a database
//! crash may lose one, which leaves a job queued or its lease shorter, never a job lost.

mod migrations;
mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime as PoolRuntime,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Config, Row};
use tokio_postgres_rustls::MakeRustlsConnect;
use uuid::Uuid;

use super::holdings::Holdings;
use super::wakeups::Wakeups;
use super::{
    BuildRecord, Claim, Ending, Firmware, Job, JobStore, Preference, Recorded, Standing, StoreError, build_columns,
    choose_next, keyboard_of,
};

/// How a node connects and queues.
#[derive(Debug, Clone)]
pub struct PgSettings {
    /// `postgres://user:password@host:port/database`, with any of libpq's URL parameters.
    pub url: String,
    /// Jobs that may wait at once, over all nodes.
    pub queue_limit: u64,
    /// How long a claimed job stays with its node without a renewal.
    pub lease: Duration,
    /// Connections per pool: this node's workers and requests at once.
    pub connections: usize,
}

pub struct PgStore {
    /// Drives the client's connections; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    /// Commits wait for the disk as the database is set up: new jobs and their ends.
    durable: Pool,
    /// Commits do not wait for the disk: claims, leases, wake-ups.
    relaxed: Pool,
    queue_limit: u64,
    /// The most transactions that can run at once (the server's `max_connections`).
    concurrent: u64,
    lease: Duration,
    wakeups: Arc<Wakeups>,
    holdings: Holdings,
    /// This process among the nodes, in the keyboards they note warm.
    node: Uuid,
}

/// The channel new and requeued jobs are announced on; the payload is how many.
const CHANNEL: &str = "qmk_api_jobs";

/// Advisory lock taken around queueing (shared, or exclusive near the limit).
const QUEUE_LOCK: i64 = 0x716d_6b5f_6170_6901;

/// Advisory lock taken while a node chooses the next keyboard of the catalogue.
const CATALOGUE_LOCK: i64 = 0x716d_6b5f_6170_6902;

/// A worker looks for work this often when no wake-up comes.
const POLL_EVERY: Duration = Duration::from_secs(1);

/// How long after a lost connection the listener connects again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// The columns a [`Job`] is read from, in the order [`job`] takes them.
const JOB_COLUMNS: &str = "id::text, created_at, enqueued_at, status, request, cache_key, result";

impl From<PoolError> for StoreError {
    fn from(error: PoolError) -> StoreError {
        match error {
            PoolError::Backend(error) => StoreError::Postgres(error),
            other => StoreError::Pool(other.to_string()),
        }
    }
}

impl PgStore {
    /// Connects, brings the schema up to date (one node at a time) and starts the
    /// node's listener and lease keeper.
    pub fn open(settings: &PgSettings) -> Result<PgStore, StoreError> {
        let (mut config, tls) = tls::connection(&settings.url)?;
        if config.get_application_name().is_none() {
            config.application_name("qmk-api");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Pool(format!("cannot start the client's runtime: {e}")))?;
        let relaxed_config = {
            let mut relaxed = config.clone();
            let options = relaxed.get_options().unwrap_or_default();
            relaxed.options(format!("{options} -c synchronous_commit=off").trim_start());
            relaxed
        };
        let durable = pool(config.clone(), tls.clone(), settings.connections)?;
        let relaxed = pool(relaxed_config, tls.clone(), settings.connections)?;
        let (concurrent, queued) = runtime.block_on(async {
            let mut client = durable.get().await?;
            migrations::apply(&mut client).await?;
            let concurrent: String = client.query_one("SHOW max_connections", &[]).await?.get(0);
            Ok::<_, StoreError>((concurrent.parse().unwrap_or(u64::MAX), count_queued(&client).await?))
        })?;
        let wakeups = Arc::new(Wakeups::new(queued, Some(POLL_EVERY)));
        let holdings = Holdings::default();
        runtime.spawn(listen(config, tls, wakeups.clone()));
        runtime.spawn(keep_leases(relaxed.clone(), holdings.clone(), settings.lease));
        let store = PgStore {
            runtime: Some(runtime),
            durable,
            relaxed,
            queue_limit: settings.queue_limit,
            concurrent,
            lease: settings.lease,
            wakeups,
            holdings,
            node: Uuid::new_v4(),
        };
        Ok(store)
    }

    /// Runs `work` on the client's runtime and waits for it.
    fn run<T>(&self, work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
        self.runtime.as_ref().expect("the runtime lives as long as the store").block_on(work)
    }

    /// Queues a job if fewer than `bound` jobs wait, under the queue lock (`shared` or
    /// not); `Err(waiting)` when the queue is that full.
    async fn insert_below(
        &self,
        shared: bool,
        bound: u64,
        (id, request, cache_key, now): (Uuid, &str, &str, i64),
    ) -> Result<Result<(), u64>, StoreError> {
        let mut client = self.durable.get().await?;
        let transaction = client.transaction().await?;
        let lock = if shared { "SELECT pg_advisory_xact_lock_shared($1)" } else { "SELECT pg_advisory_xact_lock($1)" };
        let lock = transaction.prepare_cached(lock).await?;
        let insert = transaction
            .prepare_cached(
                "WITH waiting AS (SELECT count(*) AS n FROM jobs WHERE status = 'queued'), \
                 added AS (INSERT INTO jobs (id, created_at, enqueued_at, status, request, cache_key, keyboard) \
                 SELECT $1, $2, $2, 'queued', $3, $4, $6 FROM waiting WHERE n < $5 RETURNING 1) \
                 SELECT n, EXISTS (SELECT 1 FROM added) FROM waiting",
            )
            .await?;
        let bound = i64::try_from(bound).unwrap_or(i64::MAX);
        let keyboard = keyboard_of(request);
        let parameters: [&(dyn ToSql + Sync); 6] = [&id, &now, &request, &cache_key, &bound, &keyboard];
        // Sent together, in this order (both are prepared): the count is taken once the
        // lock is held, by a statement of its own and so with a newer snapshot.
        let (_, row) =
            tokio::try_join!(transaction.execute(&lock, &[&QUEUE_LOCK]), transaction.query_one(&insert, &parameters))?;
        let (waiting, added): (i64, bool) = (row.get(0), row.get(1));
        if !added {
            transaction.rollback().await?;
            return Ok(Err(waiting.unsigned_abs()));
        }
        transaction.commit().await?;
        Ok(Ok(()))
    }

    /// Announces `jobs` new queued jobs to every node, without waiting: a lost wake-up
    /// only delays a job until the workers look again.
    fn announce(&self, jobs: u64) {
        let relaxed = self.relaxed.clone();
        self.runtime.as_ref().expect("the runtime lives as long as the store").spawn(async move {
            if let Err(error) = notify(&relaxed, jobs).await {
                tracing::warn!(%error, "cannot wake the workers; they will look for work within a second");
            }
        });
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Without waiting: the store may be dropped on an async thread.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn pool(config: Config, tls: MakeRustlsConnect, size: usize) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(config, tls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
    Pool::builder(manager)
        .max_size(size.max(2))
        .wait_timeout(Some(Duration::from_secs(30)))
        .create_timeout(Some(Duration::from_secs(15)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .runtime(PoolRuntime::Tokio1)
        .build()
        .map_err(|e| StoreError::Pool(e.to_string()))
}

async fn count_queued(client: &deadpool_postgres::Client) -> Result<u64, StoreError> {
    let statement = client.prepare_cached("SELECT count(*) FROM jobs WHERE status = 'queued'").await?;
    Ok(client.query_one(&statement, &[]).await?.get::<_, i64>(0).unsigned_abs())
}

async fn notify(pool: &Pool, jobs: u64) -> Result<(), StoreError> {
    let client = pool.get().await?;
    let statement = client.prepare_cached("SELECT pg_notify($1, $2)").await?;
    client.execute(&statement, &[&CHANNEL, &jobs.to_string()]).await?;
    Ok(())
}

/// A job from a row of [`JOB_COLUMNS`].
fn job(row: &Row) -> Result<Job, StoreError> {
    Job::from_columns((row.get(0), row.get(1), row.get(2), row.get(3), row.get(4), row.get(5), row.get(6)))
}

/// A job id as the database keeps it; `None` for text that is no job id.
fn job_id(id: &str) -> Option<Uuid> {
    Uuid::parse_str(id).ok()
}

/// Listens for announced jobs and wakes this node's workers, connecting again after
/// a lost connection (the workers poll meanwhile).
async fn listen(config: Config, tls: MakeRustlsConnect, wakeups: Arc<Wakeups>) {
    loop {
        match config.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let woken = wakeups.clone();
                let messages = tokio::spawn(async move {
                    while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        match message? {
                            AsyncMessage::Notification(note) => woken.signal(note.payload().parse().unwrap_or(1)),
                            AsyncMessage::Notice(notice) => tracing::debug!(%notice, "PostgreSQL notice"),
                            _ => {}
                        }
                    }
                    Ok::<_, tokio_postgres::Error>(())
                });
                match client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
                    // Jobs announced while this node was not listening: look now.
                    Ok(()) => wakeups.signal(1),
                    Err(error) => tracing::warn!(%error, "cannot listen for new jobs"),
                }
                match messages.await {
                    Ok(Err(error)) => tracing::warn!(%error, "lost the connection that listens for new jobs"),
                    _ => tracing::warn!("the connection that listens for new jobs ended"),
                }
            }
            Err(error) => tracing::warn!(%error, "cannot connect to listen for new jobs"),
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

/// Renews the leases of the jobs this node holds, and queues again the jobs whose
/// lease ran out (their node stopped), three times per lease.
async fn keep_leases(relaxed: Pool, holdings: Holdings, lease: Duration) {
    let mut every = tokio::time::interval(lease / 3);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(error) = renew(&relaxed, &holdings, lease).await {
            tracing::warn!(%error, "cannot renew the leases of running jobs");
        }
        match requeue_expired(&relaxed).await {
            Ok(0) => {}
            Ok(jobs) => {
                tracing::warn!(jobs, "queued again jobs whose node stopped renewing their lease");
                if let Err(error) = notify(&relaxed, jobs).await {
                    tracing::warn!(%error, "cannot announce the jobs queued again");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot look for jobs whose lease ran out"),
        }
    }
}

/// Records a job's end with the parameters of [`JobStore::finish`], if the claim's token
/// is still the job's: only the latest claim ends a job, once.
async fn end(client: &impl GenericClient, parameters: &[&(dyn ToSql + Sync); 8]) -> Result<Recorded, StoreError> {
    let statement = client
        .prepare_cached(
            "UPDATE jobs SET status = $3, result = $4, sources = $5, cache_key = $6, \
             firmware_digest = COALESCE($7, (SELECT e.firmware_digest FROM jobs AS e WHERE e.id = $8)), \
             lease_token = NULL, lease_until = NULL \
             WHERE id = $1 AND lease_token = $2 AND status IN ('queued', 'running')",
        )
        .await?;
    Ok(if client.execute(&statement, parameters).await? == 1 { Recorded::Ended } else { Recorded::NotHeld })
}

/// The lease as PostgreSQL's interval, in seconds.
fn seconds(lease: Duration) -> f64 {
    lease.as_secs_f64()
}

/// The claims held now, as the database keeps their ids and tokens.
fn held(holdings: &Holdings) -> (Vec<Uuid>, Vec<Uuid>) {
    let (ids, tokens) = holdings.held();
    ids.iter().zip(&tokens).filter_map(|(id, token)| Some((job_id(id)?, job_id(token)?))).unzip()
}

async fn renew(relaxed: &Pool, holdings: &Holdings, lease: Duration) -> Result<(), StoreError> {
    let (ids, tokens) = held(holdings);
    if ids.is_empty() {
        return Ok(());
    }
    let client = relaxed.get().await?;
    // A job queued again but not yet taken by another node comes back to its holder.
    let statement = client
        .prepare_cached(
            "UPDATE jobs AS j SET status = 'running', lease_until = clock_timestamp() + $3 * interval '1 second' \
             FROM unnest($1::uuid[], $2::uuid[]) AS held (id, token) \
             WHERE j.id = held.id AND j.lease_token = held.token AND j.status IN ('queued', 'running') \
             RETURNING j.id::text",
        )
        .await?;
    let rows = client.query(&statement, &[&ids, &tokens, &seconds(lease)]).await?;
    let renewed: std::collections::HashSet<String> = rows.iter().map(|row| row.get(0)).collect();
    let (still_held, _) = holdings.held();
    for id in still_held.iter().filter(|id| !renewed.contains(*id) && job_id(id).is_some_and(|id| ids.contains(&id))) {
        tracing::warn!(job = %id, "another node has taken this job over: this node's result will be dropped");
    }
    Ok(())
}

async fn requeue_expired(relaxed: &Pool) -> Result<u64, StoreError> {
    let client = relaxed.get().await?;
    let statement = client
        .prepare_cached(
            "UPDATE jobs SET status = 'queued', lease_until = NULL \
             WHERE status = 'running' AND lease_until < clock_timestamp()",
        )
        .await?;
    Ok(client.execute(&statement, &[]).await?)
}

impl JobStore for PgStore {
    fn backend(&self) -> &'static str {
        "postgresql"
    }

    /// The limit holds over all nodes without making every enqueue wait for the
    /// others: while the queue is far from full (more than `max_connections` below the
    /// limit), enqueues share the queue lock and run side by side, since fewer
    /// transactions than that can be running uncounted; near the limit each takes
    /// the lock alone and counts exactly.
    fn enqueue(&self, request: &str, cache_key: &str, now: i64) -> Result<String, StoreError> {
        let id = Uuid::new_v4();
        let job = (id, request, cache_key, now);
        self.run(async {
            let far_below = self.queue_limit.saturating_sub(self.concurrent);
            if far_below == 0 || self.insert_below(true, far_below, job).await?.is_err() {
                self.insert_below(false, self.queue_limit, job).await?.map_err(StoreError::QueueFull)?;
            }
            Ok(())
        })?;
        self.announce(1);
        Ok(id.to_string())
    }

    fn wait_for_work(&self, at_most: Option<Duration>) {
        self.wakeups.wait(at_most);
    }

    fn claim_preferring(&self, preference: Option<&Preference<'_>>) -> Result<Option<Claim>, StoreError> {
        let token = Uuid::new_v4();
        let claimed = self.run(async {
            let client = self.relaxed.get().await?;
            let lease = seconds(self.lease);
            let Some(preference) = preference else {
                let sql = format!(
                    "UPDATE jobs SET status = 'running', lease_token = $1, attempts = attempts + 1, \
                     lease_until = clock_timestamp() + $2 * interval '1 second' \
                     WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING {JOB_COLUMNS}"
                );
                let statement = client.prepare_cached(&sql).await?;
                return client.query_opt(&statement, &[&token, &lease]).await?.as_ref().map(job).transpose();
            };
            // The oldest job older than the one taken is marked as passed over, in the
            // same statement: both updates see the queue as it was before it.
            let sql = format!(
                "WITH claimed AS (UPDATE jobs SET status = 'running', lease_token = $1, attempts = attempts + 1, \
                 lease_until = clock_timestamp() + $2 * interval '1 second' \
                 WHERE id = (SELECT id FROM jobs WHERE status = 'queued' ORDER BY \
                 CASE WHEN passed_over_at < $3 THEN 0 WHEN keyboard = ANY($4) THEN 1 \
                 WHEN keyboard IN (SELECT keyboard FROM warm_keyboards WHERE node <> $5) THEN 3 ELSE 2 END, seq \
                 LIMIT 1 FOR UPDATE SKIP LOCKED) \
                 RETURNING seq, {JOB_COLUMNS}), \
                 passed AS (UPDATE jobs SET passed_over_at = $6 WHERE passed_over_at IS NULL AND id = \
                 (SELECT j.id FROM jobs AS j, claimed WHERE j.status = 'queued' AND j.seq < claimed.seq \
                 ORDER BY j.seq LIMIT 1)) \
                 SELECT {JOB_COLUMNS} FROM claimed"
            );
            let statement = client.prepare_cached(&sql).await?;
            let parameters: [&(dyn ToSql + Sync); 6] =
                [&token, &lease, &preference.passed_over_before, &preference.warm, &self.node, &preference.now];
            client.query_opt(&statement, &parameters).await?.as_ref().map(job).transpose()
        });
        match claimed {
            Ok(job) => Ok(job.map(|job| {
                let token = token.to_string();
                let hold = self.holdings.hold(&job.id, &token);
                Claim { job, token, _hold: Some(hold) }
            })),
            Err(error) => {
                // The job is still queued (or its lease will run out): its wake-up is owed.
                self.wakeups.signal(1);
                Err(error)
            }
        }
    }

    fn finish(&self, claim: &Claim, ending: &Ending<'_>) -> Result<Recorded, StoreError> {
        let (Some(id), Some(token)) = (job_id(&claim.job.id), job_id(&claim.token)) else {
            return Ok(Recorded::NotHeld);
        };
        let built = match ending.firmware {
            Firmware::Built(path) => {
                let bytes = std::fs::read(path)
                    .map_err(|source| StoreError::Io { path: path.display().to_string(), source })?;
                Some((crate::publish::lock::sha256_hex(&bytes), bytes))
            }
            _ => None,
        };
        let reused_from = match ending.firmware {
            Firmware::Reused { from, .. } => job_id(from),
            _ => None,
        };
        let digest = built.as_ref().map(|(digest, _)| digest.as_str());
        let result = ending.result.to_string();
        let status = ending.status.as_str();
        let parameters: [&(dyn ToSql + Sync); 8] =
            [&id, &token, &status, &result, &ending.sources, &ending.cache_key, &digest, &reused_from];
        self.run(async {
            let mut client = self.durable.get().await?;
            let Some((digest, bytes)) = &built else {
                return end(&client, &parameters).await;
            };
            // The firmware is kept only with the end of the job it belongs to.
            let transaction = client.transaction().await?;
            let keep = transaction
                .prepare_cached("INSERT INTO firmware (digest, bytes) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING")
                .await?;
            transaction.execute(&keep, &[digest, bytes]).await?;
            let recorded = end(&transaction, &parameters).await?;
            match recorded {
                Recorded::Ended => transaction.commit().await?,
                Recorded::NotHeld => transaction.rollback().await?,
            }
            Ok(recorded)
        })
    }

    fn release(&self) -> Result<usize, StoreError> {
        let forgotten = self.run(async {
            let client = self.relaxed.get().await?;
            client.execute("DELETE FROM warm_keyboards WHERE node = $1", &[&self.node]).await?;
            Ok(())
        });
        if let Err(error) = forgotten {
            tracing::warn!(%error, "cannot forget the keyboards this node holds warm: they go when pruned");
        }
        let (ids, tokens) = held(&self.holdings);
        if ids.is_empty() {
            return Ok(0);
        }
        self.run(async {
            let client = self.relaxed.get().await?;
            let released = client
                .execute(
                    // The token goes too: the lease keeper, which may run once more before
                    // the process ends, must not take the job back.
                    "UPDATE jobs AS j SET status = 'queued', lease_until = NULL, lease_token = NULL \
                     FROM unnest($1::uuid[], $2::uuid[]) AS held (id, token) \
                     WHERE j.id = held.id AND j.lease_token = held.token AND j.status = 'running'",
                    &[&ids, &tokens],
                )
                .await?;
            Ok(released)
        })
        .inspect(|&released| {
            // Waited for: the process ends next, and with it the tasks of its runtime.
            if released > 0
                && let Err(error) = self.run(notify(&self.relaxed, released))
            {
                tracing::warn!(%error, "cannot wake the workers; they will look for work within a second");
            }
        })
        .map(|released| usize::try_from(released).unwrap_or(usize::MAX))
    }

    fn get(&self, id: &str) -> Result<Option<Job>, StoreError> {
        let Some(id) = job_id(id) else { return Ok(None) };
        self.run(async {
            let client = self.durable.get().await?;
            let statement = client.prepare_cached(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1")).await?;
            client.query_opt(&statement, &[&id]).await?.as_ref().map(job).transpose()
        })
    }

    fn sources(&self, id: &str) -> Result<Option<String>, StoreError> {
        let Some(id) = job_id(id) else { return Ok(None) };
        self.run(async {
            let client = self.durable.get().await?;
            let statement = client.prepare_cached("SELECT sources FROM jobs WHERE id = $1").await?;
            Ok(client.query_opt(&statement, &[&id]).await?.and_then(|row| row.get(0)))
        })
    }

    fn firmware(&self, id: &str, _name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(id) = job_id(id) else { return Ok(None) };
        self.run(async {
            let client = self.durable.get().await?;
            let statement = client
                .prepare_cached(
                    "SELECT f.bytes FROM jobs AS j JOIN firmware AS f ON f.digest = j.firmware_digest WHERE j.id = $1",
                )
                .await?;
            Ok(client.query_opt(&statement, &[&id]).await?.map(|row| row.get(0)))
        })
    }

    fn finished_with(&self, cache_key: &str) -> Result<Option<Job>, StoreError> {
        self.run(async {
            let client = self.durable.get().await?;
            let sql = format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE cache_key = $1 AND status = 'finished' ORDER BY seq DESC LIMIT 1"
            );
            let statement = client.prepare_cached(&sql).await?;
            client.query_opt(&statement, &[&cache_key]).await?.as_ref().map(job).transpose()
        })
    }

    fn queued(&self) -> Result<u64, StoreError> {
        self.run(async { count_queued(&self.durable.get().await?).await })
    }

    fn prune(&self, cutoff: i64) -> Result<usize, StoreError> {
        self.run(async {
            let client = self.durable.get().await?;
            client.execute("DELETE FROM keyboard_builds WHERE last_tested < $1", &[&cutoff]).await?;
            client.execute("DELETE FROM warm_keyboards WHERE noted_at < $1", &[&cutoff]).await?;
            let pruned = client
                .execute("DELETE FROM jobs WHERE status IN ('finished', 'failed') AND enqueued_at < $1", &[&cutoff])
                .await?;
            if pruned > 0 {
                let unused = "DELETE FROM firmware AS f WHERE NOT EXISTS \
                              (SELECT 1 FROM jobs AS j WHERE j.firmware_digest = f.digest)";
                match client.execute(unused, &[]).await {
                    Ok(_) => {}
                    // A job took the firmware meanwhile: it stays, and the rest goes next time.
                    Err(error) if error.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            Ok(usize::try_from(pruned).unwrap_or(usize::MAX))
        })
    }

    fn note_warm(&self, keyboard: &str, now: i64) -> Result<(), StoreError> {
        self.run(async {
            let client = self.relaxed.get().await?;
            let statement = client
                .prepare_cached(
                    "INSERT INTO warm_keyboards (node, keyboard, noted_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (node, keyboard) DO UPDATE SET noted_at = $3",
                )
                .await?;
            client.execute(&statement, &[&self.node, &keyboard, &now]).await?;
            Ok(())
        })
    }

    fn record_build(&self, record: &BuildRecord) -> Result<(), StoreError> {
        self.run(async {
            let client = self.durable.get().await?;
            let statement = client
                .prepare_cached(
                    "INSERT INTO keyboard_builds (keyboard, keymap, works, warnings, last_tested, message, \
                     firmware_size, maximum_size, tree, held_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0) \
                     ON CONFLICT (keyboard) DO UPDATE SET keymap = $2, works = $3, warnings = $4, last_tested = $5, \
                     message = $6, firmware_size = $7, maximum_size = $8, tree = $9, held_until = 0",
                )
                .await?;
            let parameters: [&(dyn ToSql + Sync); 9] = [
                &record.keyboard,
                &record.keymap,
                &record.works,
                &record.warnings,
                &record.last_tested,
                &record.message,
                &record.firmware_size,
                &record.maximum_size,
                &record.tree,
            ];
            client.execute(&statement, &parameters).await?;
            Ok(())
        })
    }

    fn builds(&self, messages: bool) -> Result<Vec<BuildRecord>, StoreError> {
        self.run(async {
            let client = self.durable.get().await?;
            let sql = format!(
                "SELECT {} FROM keyboard_builds WHERE last_tested IS NOT NULL ORDER BY keyboard",
                build_columns(messages)
            );
            let statement = client.prepare_cached(&sql).await?;
            Ok(client.query(&statement, &[]).await?.iter().map(build_row).collect())
        })
    }

    fn build_of(&self, keyboard: &str) -> Result<Option<BuildRecord>, StoreError> {
        self.run(async {
            let client = self.durable.get().await?;
            let sql = format!(
                "SELECT {} FROM keyboard_builds WHERE keyboard = $1 AND last_tested IS NOT NULL",
                build_columns(true)
            );
            let statement = client.prepare_cached(&sql).await?;
            Ok(client.query_opt(&statement, &[&keyboard]).await?.as_ref().map(build_row))
        })
    }

    fn take_next_build(
        &self,
        candidates: &[String],
        tree: &str,
        now: i64,
        stale_before: i64,
        hold_until: i64,
    ) -> Result<Option<String>, StoreError> {
        self.run(async {
            let mut client = self.relaxed.get().await?;
            let transaction = client.transaction().await?;
            transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&CATALOGUE_LOCK]).await?;
            let rows =
                transaction.query("SELECT keyboard, last_tested, tree, held_until FROM keyboard_builds", &[]).await?;
            let standing: std::collections::HashMap<String, Standing> = rows
                .iter()
                .map(|row| (row.get(0), Standing { last_tested: row.get(1), tree: row.get(2), held_until: row.get(3) }))
                .collect();
            let Some(next) = choose_next(candidates, |kb| standing.get(kb).cloned(), tree, now, stale_before) else {
                return Ok(None);
            };
            transaction
                .execute(
                    "INSERT INTO keyboard_builds (keyboard, held_until) VALUES ($1, $2) \
                     ON CONFLICT (keyboard) DO UPDATE SET held_until = $2",
                    &[&next, &hold_until],
                )
                .await?;
            transaction.commit().await?;
            Ok(Some(next.to_owned()))
        })
    }

    fn drop_hold(&self, keyboard: &str) -> Result<(), StoreError> {
        self.run(async {
            let client = self.relaxed.get().await?;
            client.execute("UPDATE keyboard_builds SET held_until = 0 WHERE keyboard = $1", &[&keyboard]).await?;
            Ok(())
        })
    }
}

/// A [`BuildRecord`] from a row of [`build_columns`].
fn build_row(row: &Row) -> BuildRecord {
    BuildRecord::from_columns((
        row.get(0),
        row.get(1),
        row.get(2),
        row.get(3),
        row.get(4),
        row.get(5),
        row.get(6),
        row.get(7),
        row.get(8),
    ))
}
