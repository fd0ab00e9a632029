//! Embedded migrations: `migrations/<dialect>/NNNN_*.sql`, applied in order on start, each in
//! its own transaction, recorded in `schema_migrations`. On PostgreSQL an advisory lock keeps
//! several nodes starting at once from applying the same migration twice.

use crate::db::{Db, Dialect, StoreResult};
use crate::params;

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../../migrations/sqlite/0002_objects.sql")),
    (3, include_str!("../../migrations/sqlite/0003_channels.sql")),
    (4, include_str!("../../migrations/sqlite/0004_scripts.sql")),
    // 5-8: endpoints, triggers, schedules, templates (other branches).
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
    // 6-9: endpoints, triggers, schedules, templates (other branches).
    (
        10,
        include_str!("../../migrations/postgres/0010_backups.sql"),
    ),
];

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
