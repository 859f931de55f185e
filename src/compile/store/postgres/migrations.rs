//! The schema, as numbered migrations applied in order at start. Each node applies
//! what is missing in one transaction under an advisory lock, so nodes that start at
//! once apply each migration once, and a failed migration leaves the schema as it
//! was. A database migrated by a newer qmk-api is refused rather than misread.

use super::StoreError;

/// Taken while migrating; nodes starting at once wait for each other here.
const MIGRATION_LOCK: i64 = 0x716d_6b5f_6170_6900;

struct Migration {
    version: i32,
    description: &'static str,
    sql: &'static str,
}

/// Every migration, oldest first. Never change one that has shipped: add another.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "jobs and their firmware",
        sql: "
        CREATE TABLE firmware (
            digest text PRIMARY KEY,
            bytes bytea NOT NULL
        );
        CREATE TABLE jobs (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            id uuid PRIMARY KEY,
            created_at bigint NOT NULL,
            enqueued_at bigint NOT NULL,
            status text NOT NULL CHECK (status IN ('queued', 'running', 'finished', 'failed')),
            request text NOT NULL,
            cache_key text NOT NULL,
            result text,
            sources text,
            firmware_digest text REFERENCES firmware (digest),
            lease_token uuid,
            lease_until timestamptz,
            attempts integer NOT NULL DEFAULT 0
        );
        CREATE INDEX jobs_queued ON jobs (seq) WHERE status = 'queued';
        CREATE INDEX jobs_leases ON jobs (lease_until) WHERE status = 'running';
        CREATE INDEX jobs_finished_by_cache_key ON jobs (cache_key, seq) WHERE status = 'finished';
        CREATE INDEX jobs_ended ON jobs (enqueued_at) WHERE status IN ('finished', 'failed');
        CREATE INDEX jobs_by_firmware ON jobs (firmware_digest) WHERE firmware_digest IS NOT NULL;
    ",
    },
    Migration {
        version: 2,
        description: "the catalogue's last build of each keyboard",
        sql: "
        CREATE TABLE keyboard_builds (
            keyboard text PRIMARY KEY,
            keymap text,
            works boolean,
            warnings boolean,
            last_tested bigint,
            message text,
            firmware_size bigint,
            maximum_size bigint,
            tree text,
            held_until bigint NOT NULL DEFAULT 0
        );
    ",
    },
    Migration {
        version: 3,
        description: "what workers that prefer keyboards held warm read: each job's keyboard, when it was passed over, \
                      and the keyboards each node holds warm",
        sql: "
        ALTER TABLE jobs ADD COLUMN keyboard text, ADD COLUMN passed_over_at bigint;
        CREATE TABLE warm_keyboards (
            node uuid NOT NULL,
            keyboard text NOT NULL,
            noted_at bigint NOT NULL,
            PRIMARY KEY (node, keyboard)
        );
        CREATE INDEX warm_keyboards_by_keyboard ON warm_keyboards (keyboard);
    ",
    },
];

/// Applies the migrations the database lacks; returns how many.
pub(super) async fn apply(client: &mut deadpool_postgres::Client) -> Result<usize, StoreError> {
    let transaction = client.transaction().await?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS qmk_api_schema (
                version integer PRIMARY KEY,
                description text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let found: i32 = transaction.query_one("SELECT COALESCE(max(version), 0) FROM qmk_api_schema", &[]).await?.get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    let missing: Vec<&Migration> = MIGRATIONS.iter().filter(|m| m.version > found).collect();
    for migration in &missing {
        transaction.batch_execute(migration.sql).await?;
        transaction
            .execute(
                "INSERT INTO qmk_api_schema (version, description) VALUES ($1, $2)",
                &[&migration.version, &migration.description],
            )
            .await?;
        tracing::info!(version = migration.version, description = migration.description, "migrated the job store");
    }
    transaction.commit().await?;
    Ok(missing.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_rise_one_by_one_from_one() {
        for (n, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, i32::try_from(n + 1).unwrap(), "{}", migration.description);
        }
    }
}
