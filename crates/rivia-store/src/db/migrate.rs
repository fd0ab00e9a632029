//! Embedded migrations: `migrations/<dialect>/NNNN_*.sql`, applied in order on start, each in
//! its own transaction, recorded in `schema_migrations`. On PostgreSQL an advisory lock keeps
//! several nodes starting at once from applying the same migration twice.

use crate::db::{Db, Dialect, StoreError, StoreResult};
use crate::params;

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_objects.sql")),
    (3, include_str!("../../migrations/sqlite/0003_channels.sql")),
    (4, include_str!("../../migrations/sqlite/0004_scripts.sql")),
    (
        5,
        include_str!("../../migrations/sqlite/0005_script_endpoints.sql"),
    ),
    (6, include_str!("../../migrations/sqlite/0006_jobs.sql")),
    (
        7,
        include_str!("../../migrations/sqlite/0007_data_endpoints.sql"),
    ),
    (
        8,
        include_str!("../../migrations/sqlite/0008_templates.sql"),
    ),
    (9, include_str!("../../migrations/sqlite/0009_backups.sql")),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_objects.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_channels.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_object_sequences.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_scripts.sql"),
    ),
    (
        6,
        include_str!("../../migrations/postgres/0006_script_endpoints.sql"),
    ),
    (7, include_str!("../../migrations/postgres/0007_jobs.sql")),
    (
        8,
        include_str!("../../migrations/postgres/0008_data_endpoints.sql"),
    ),
    (
        9,
        include_str!("../../migrations/postgres/0009_templates.sql"),
    ),
    (
        10,
        include_str!("../../migrations/postgres/0010_backups.sql"),
    ),
];

/// The migrations whose data is written in Rust after their SQL, in the same transaction.
async fn after_sql(dialect: Dialect, version: i64, tx: &mut crate::db::Tx) -> StoreResult<()> {
    match (dialect, version) {
        // Response templates: existing instances receive the predefined ones.
        (Dialect::Sqlite, 8) | (Dialect::Postgres, 9) => {
            crate::templates::seed_every_instance(tx).await
        }
        _ => Ok(()),
    }
}

/// Applies every migration not yet recorded.
pub(crate) async fn run(db: &Db) -> StoreResult<()> {
    let list = match db.dialect() {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    };
    for (version, sql) in list {
        let mut tx = db.begin().await?;
        if db.dialect() == Dialect::Postgres {
            tx.exec("SELECT pg_advisory_xact_lock(7243001)", vec![])
                .await?;
        }
        tx.batch("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
            .await?;
        let done = tx
            .query_opt(
                "SELECT version FROM schema_migrations WHERE version = $1",
                params![*version],
            )
            .await?;
        if done.is_none() {
            tracing::info!(version, "applying migration");
            tx.batch(sql).await?;
            after_sql(db.dialect(), *version, &mut tx).await?;
            tx.exec(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                params![*version, rivia_core::time::now_micros()],
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// Succeeds when the database answers and has applied every migration of this build (a
/// newer node may have applied more). On PostgreSQL the query also proves a pooled
/// connection can be had.
pub(crate) async fn check_applied(db: &Db) -> StoreResult<()> {
    let expected = match db.dialect() {
        Dialect::Sqlite => SQLITE,
        Dialect::Postgres => POSTGRES,
    }
    .last()
    .map_or(0, |(version, _)| *version);
    let row = db
        .query_opt("SELECT MAX(version) FROM schema_migrations", vec![])
        .await?;
    let applied = match row.as_ref().and_then(|r| r.0.first()) {
        Some(crate::Val::Int(v)) => *v,
        _ => 0,
    };
    if applied < expected {
        return Err(StoreError::Unavailable(format!(
            "migrations pending: the database is at version {applied}, this build needs {expected}"
        )));
    }
    Ok(())
}
