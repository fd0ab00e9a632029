//! The one seam between Rivia and its databases: [`Db`] runs parameterised SQL on either
//! embedded SQLite or PostgreSQL. SQL is written once with `$1`-style placeholders; the
//! SQLite executor rewrites them to SQLite's numbered `?1` form. Where the dialects differ
//! the caller branches on [`Db::dialect`].

mod exec;
mod migrate;
mod pg;
mod pg_shared;
mod pg_wire;
mod sqlite;
mod stats;
mod value;

pub(crate) use exec::{Executor, Statement, TxExecutor};
pub use stats::PoolStats;
pub(crate) use value::params;
pub use value::{Dialect, Row, Val};

use pg::PgDb;
use sqlite::SqliteDb;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use crate::error::{Constraint, StoreError, StoreResult};
#[derive(Clone)]
enum Backend {
    Sqlite(Arc<SqliteDb>),
    Postgres(Arc<PgDb>),
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
    /// Signalled when a transaction that enqueued jobs commits, so this node's job worker
    /// starts them at once instead of at its next poll.
    jobs_enqueued: Arc<tokio::sync::Notify>,
}

impl Db {
    /// Opens (creating if needed) `<dir>/rivia.db` and applies migrations.
    pub async fn open_sqlite(dir: &Path) -> StoreResult<Db> {
        let sqlite = SqliteDb::open(dir)?;
        let db = Db {
            backend: Backend::Sqlite(Arc::new(sqlite)),
            jobs_enqueued: Arc::default(),
        };
        migrate::run(&db).await?;
        Ok(db)
    }

    /// Connects to PostgreSQL and applies migrations.
    pub async fn open_postgres(url: &str) -> StoreResult<Db> {
        let pg = PgDb::connect(url).await?;
        let db = Db {
            backend: Backend::Postgres(Arc::new(pg)),
            jobs_enqueued: Arc::default(),
        };
        migrate::run(&db).await?;
        Ok(db)
    }

    /// The dialect of this database.
    pub(crate) fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The signal of committed job enqueues (see [`Db`]).
    pub(crate) fn jobs_enqueued(&self) -> &Arc<tokio::sync::Notify> {
        &self.jobs_enqueued
    }

    /// The PostgreSQL URL, for components that need their own connection (LISTEN).
    pub(crate) fn postgres_url(&self) -> Option<&str> {
        match &self.backend {
            Backend::Postgres(p) => Some(p.url()),
            Backend::Sqlite(_) => None,
        }
    }

    /// Runs a read-only query outside any transaction.
    pub(crate) async fn query(&self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        match &self.backend {
            Backend::Sqlite(s) => s.query(sql, params).await,
            Backend::Postgres(p) => p.query(sql, params).await,
        }
    }

    /// Runs several read-only statements on one connection (one snapshot on PostgreSQL),
    /// cancelling them when they run past `timeout` ([`StoreError::Timeout`]).
    pub(crate) async fn query_many_with_timeout(
        &self,
        statements: Vec<Statement>,
        timeout: Duration,
    ) -> StoreResult<Vec<Vec<Row>>> {
        match &self.backend {
            Backend::Sqlite(s) => s.query_many_with_timeout(statements, timeout).await,
            Backend::Postgres(p) => p.query_many_with_timeout(statements, timeout).await,
        }
    }

    /// Runs a point lookup (a read by key of at most a few rows): on SQLite on the calling
    /// thread when an inline connection is free (see `SqliteDb::query_point`), on
    /// PostgreSQL on a shared connection (see `pg_shared`).
    pub(crate) async fn query_point(
        &self,
        sql: &str,
        params: Vec<Val>,
    ) -> StoreResult<Option<Row>> {
        let rows = match &self.backend {
            Backend::Sqlite(s) => s.query_point(sql, params).await?,
            Backend::Postgres(p) => {
                let mut rows = p.query_shared(vec![(sql.to_string(), params)]).await?;
                rows.pop().unwrap_or_default()
            }
        };
        Ok(rows.into_iter().next())
    }

    /// Runs a few read-only statements over a small page: on SQLite in one snapshot, on
    /// the calling thread when an inline connection is free (see
    /// `SqliteDb::query_many_small`); on PostgreSQL pipelined on a shared connection (see
    /// `pg_shared`).
    pub(crate) async fn query_many_small(
        &self,
        statements: Vec<Statement>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        match &self.backend {
            Backend::Sqlite(s) => s.query_many_small(statements).await,
            Backend::Postgres(p) => p.query_shared(statements).await,
        }
    }

    /// Runs a read-only query expected to return at most one row.
    pub(crate) async fn query_opt(&self, sql: &str, params: Vec<Val>) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs several read-only queries in one round trip: on one SQLite reader job, or
    /// pipelined on one PostgreSQL connection. (The store's own reads of small pages use
    /// [`Db::query_many_small`]; the test hooks and larger reads use this.)
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) async fn query_many(
        &self,
        statements: Vec<Statement>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        match &self.backend {
            Backend::Sqlite(s) => s.query_many(statements).await,
            Backend::Postgres(p) => p.query_many(statements).await,
        }
    }

    /// Starts a write transaction. It rolls back unless [`Tx::commit`] is called.
    pub(crate) async fn begin(&self) -> StoreResult<Tx> {
        let inner = match &self.backend {
            Backend::Sqlite(s) => TxInner::Sqlite(s.begin().await?),
            Backend::Postgres(p) => TxInner::Postgres(Box::new(p.begin().await?)),
        };
        Ok(Tx {
            inner,
            dialect: self.dialect(),
            jobs_enqueued: false,
            wake: self.jobs_enqueued.clone(),
        })
    }

    /// How busy the connection pools are now.
    pub(crate) fn pool_stats(&self) -> Vec<PoolStats> {
        match &self.backend {
            Backend::Sqlite(s) => s.pool_stats().to_vec(),
            Backend::Postgres(p) => vec![p.pool_stats()],
        }
    }

    /// Checks that the database answers and has every migration this build knows.
    pub(crate) async fn check_ready(&self) -> StoreResult<()> {
        migrate::check_applied(self).await
    }

    /// A read-only view of one moment of the whole database, on a connection of its own,
    /// for long reads (backups) that must neither block writers nor take a reader or a
    /// pooled connection from requests for their whole length.
    pub(crate) async fn snapshot(&self) -> StoreResult<Snapshot> {
        Ok(match &self.backend {
            Backend::Sqlite(s) => Snapshot::Sqlite(s.snapshot()?),
            Backend::Postgres(p) => Snapshot::Postgres(p.snapshot().await?),
        })
    }

    /// Closes the database cleanly (checkpoints the SQLite WAL).
    pub(crate) async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }
}

/// See [`Db::snapshot`]; dropping it ends the read.
pub(crate) enum Snapshot {
    Sqlite(sqlite::SqliteSnapshot),
    Postgres(pg::PgSnapshot),
}

/// Batches of rows from a [`Snapshot`], in order; an error ends the stream.
pub(crate) struct RowStream(flume::Receiver<StoreResult<Vec<Row>>>);

impl RowStream {
    /// The next batch, `None` once every row was read.
    pub(crate) async fn next(&mut self) -> Option<StoreResult<Vec<Row>>> {
        self.0.recv_async().await.ok()
    }
}

impl Snapshot {
    /// The rows of a read-only statement, streamed in batches of at most `batch` rows (a
    /// few batches are read ahead).
    pub(crate) fn stream(&self, sql: &str, params: Vec<Val>, batch: usize) -> RowStream {
        let (tx, rx) = flume::bounded(4);
        match self {
            Snapshot::Sqlite(s) => s.stream(sql, params, batch, tx),
            Snapshot::Postgres(p) => p.stream(sql, params, batch, tx),
        }
        RowStream(rx)
    }

    /// All rows of a (small) read-only statement.
    pub(crate) async fn query(&self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        let mut stream = self.stream(sql, params, 1000);
        let mut rows = Vec::new();
        while let Some(batch) = stream.next().await {
            rows.extend(batch?);
        }
        Ok(rows)
    }
}

enum TxInner {
    Sqlite(sqlite::SqliteTx),
    Postgres(Box<pg::PgTx>),
}

/// A write transaction (inside the store only: callers outside get a unit of work,
/// [`crate::UnitOfWork`], whose operations are named, not SQL).
pub(crate) struct Tx {
    inner: TxInner,
    dialect: Dialect,
    /// Set by a statement that enqueued jobs: the commit wakes the local job worker.
    jobs_enqueued: bool,
    wake: Arc<tokio::sync::Notify>,
}

impl Tx {
    /// Records that this transaction enqueued jobs (see [`Db`]).
    pub(crate) fn enqueued_jobs(&mut self) {
        self.jobs_enqueued = true;
    }

    /// Wakes the local job worker after a commit of enqueued jobs.
    fn wake_job_worker(enqueued: bool, wake: &tokio::sync::Notify) {
        if enqueued {
            wake.notify_one();
        }
    }

    /// The signal to wake the job worker with, for a caller that commits by consuming
    /// the transaction and learns only from its results that it enqueued jobs.
    pub(crate) fn job_wake(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// The dialect of the database this transaction runs on.
    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Runs a statement and returns its rows.
    pub(crate) async fn query(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        match &mut self.inner {
            TxInner::Sqlite(t) => t.query(sql, params).await,
            TxInner::Postgres(t) => t.query(sql, params).await,
        }
    }

    /// Runs a statement expected to return at most one row.
    pub(crate) async fn query_opt(
        &mut self,
        sql: &str,
        params: Vec<Val>,
    ) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs a statement that must return exactly one row.
    pub(crate) async fn query_one(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<Row> {
        self.query_opt(sql, params)
            .await?
            .ok_or_else(|| StoreError::Internal(format!("no row returned by: {sql}")))
    }

    /// Runs several statements in order in one round trip (one writer job on SQLite,
    /// pipelined on PostgreSQL) and returns their rows; the first error is returned.
    pub(crate) async fn query_many(
        &mut self,
        statements: Vec<Statement>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        match &mut self.inner {
            TxInner::Sqlite(t) => t.query_many(statements).await,
            TxInner::Postgres(t) => t.query_many(statements).await,
        }
    }

    /// Runs the transaction's last statements and commits, in one round trip where the
    /// backend allows (one writer job on SQLite; pipelined with COMMIT on PostgreSQL).
    /// Their rows come back once the commit is durable; a failed statement rolls the whole
    /// transaction back and its error is returned.
    pub(crate) async fn query_many_and_commit(
        self,
        statements: Vec<Statement>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        let rows = match self.inner {
            TxInner::Sqlite(t) => t.query_many_and_commit(statements).await,
            TxInner::Postgres(t) => t.query_many_and_commit(statements).await,
        }?;
        Self::wake_job_worker(self.jobs_enqueued, &self.wake);
        Ok(rows)
    }

    /// Runs a statement and returns the number of affected rows.
    pub(crate) async fn exec(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<u64> {
        match &mut self.inner {
            TxInner::Sqlite(t) => t.exec(sql, params).await,
            TxInner::Postgres(t) => t.exec(sql, params).await,
        }
    }

    /// Runs several parameterless statements (DDL built from integer ids only).
    pub(crate) async fn batch(&mut self, sql: &str) -> StoreResult<()> {
        match &mut self.inner {
            TxInner::Sqlite(t) => t.batch(sql).await,
            TxInner::Postgres(t) => t.batch(sql).await,
        }
    }

    /// Commits.
    pub(crate) async fn commit(self) -> StoreResult<()> {
        match self.inner {
            TxInner::Sqlite(t) => t.commit().await,
            TxInner::Postgres(t) => t.commit().await,
        }?;
        Self::wake_job_worker(self.jobs_enqueued, &self.wake);
        Ok(())
    }
}
