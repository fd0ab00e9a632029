//! The one seam between Rivia and its databases: [`Db`] runs parameterised SQL on either
//! embedded SQLite or PostgreSQL. SQL is written once with `$1`-style placeholders; the
//! SQLite executor rewrites them to SQLite's numbered `?1` form. Where the dialects differ
//! the caller branches on [`Db::dialect`].

use crate::{pg::PgDb, sqlite::SqliteDb};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Which SQL dialect a [`Db`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite (default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A value bound to, or read from, a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// SQL NULL.
    Null,
    /// Any integer column.
    Int(i64),
    /// Floating point.
    Float(f64),
    /// Text, and JSON read back as text.
    Text(String),
    /// Boolean (SQLite stores 0/1).
    Bool(bool),
    /// JSON text bound to a JSON column (`jsonb` on PostgreSQL, `TEXT` on SQLite).
    Json(String),
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Bool(v)
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Val::Float(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(v.clone())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Into::into)
    }
}

/// Builds a `Vec<Val>` from heterogeneous values.
macro_rules! params {
    ($($v:expr),* $(,)?) => { vec![$($crate::db::Val::from($v)),*] };
}
pub(crate) use params;

/// One result row; accessors coerce between the two drivers' representations.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Val>);

impl Row {
    /// Integer column (booleans read as 0/1; NULL as 0).
    pub fn i64(&self, i: usize) -> i64 {
        self.opt_i64(i).unwrap_or(0)
    }
    /// Nullable integer column.
    pub fn opt_i64(&self, i: usize) -> Option<i64> {
        match self.0.get(i) {
            Some(Val::Int(v)) => Some(*v),
            Some(Val::Bool(b)) => Some(*b as i64),
            Some(Val::Float(f)) => Some(*f as i64),
            Some(Val::Text(t)) => t.parse().ok(),
            _ => None,
        }
    }
    /// Float column.
    pub fn opt_f64(&self, i: usize) -> Option<f64> {
        match self.0.get(i) {
            Some(Val::Float(v)) => Some(*v),
            Some(Val::Int(v)) => Some(*v as f64),
            _ => None,
        }
    }
    /// Boolean column.
    pub fn bool(&self, i: usize) -> bool {
        match self.0.get(i) {
            Some(Val::Bool(b)) => *b,
            Some(Val::Int(v)) => *v != 0,
            _ => false,
        }
    }
    /// Text column ("" when NULL).
    pub fn str(&self, i: usize) -> &str {
        self.opt_str(i).unwrap_or("")
    }
    /// Nullable text column.
    pub fn opt_str(&self, i: usize) -> Option<&str> {
        match self.0.get(i) {
            Some(Val::Text(s)) | Some(Val::Json(s)) => Some(s),
            _ => None,
        }
    }
    /// Takes a text column out of the row without copying.
    pub fn take_string(&mut self, i: usize) -> String {
        match self.0.get_mut(i) {
            Some(Val::Text(s)) | Some(Val::Json(s)) => std::mem::take(s),
            _ => String::new(),
        }
    }
    /// Nullable variant of [`Row::take_string`].
    pub fn take_opt_string(&mut self, i: usize) -> Option<String> {
        match self.0.get_mut(i) {
            Some(Val::Text(s)) | Some(Val::Json(s)) => Some(std::mem::take(s)),
            _ => None,
        }
    }
}

pub use crate::error::{Constraint, StoreError, StoreResult};

/// One statement with its parameters, for the operations that run several in one trip.
pub(crate) type Statement = (String, Vec<Val>);

/// The operations both executors offer, under the same names: reads outside a
/// transaction (one statement, several in one trip, several under a deadline) and
/// starting a write transaction. [`Db`] dispatches to one of them.
pub(crate) trait Executor {
    /// The executor's write transaction.
    type Tx: TxExecutor;
    /// A read-only statement outside any transaction.
    async fn query(&self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>>;
    /// Several read-only statements in one round trip, seeing the same data.
    async fn query_many(&self, statements: Vec<Statement>) -> StoreResult<Vec<Vec<Row>>>;
    /// [`Executor::query_many`] in one read transaction, cancelled once `timeout` has
    /// passed ([`StoreError::Timeout`]).
    async fn query_many_with_timeout(
        &self,
        statements: Vec<Statement>,
        timeout: Duration,
    ) -> StoreResult<Vec<Vec<Row>>>;
    /// Starts a write transaction; it rolls back when dropped uncommitted.
    async fn begin(&self) -> StoreResult<Self::Tx>;
    /// Closes the database cleanly.
    async fn close(&self);
}

/// The operations of a write transaction on either executor. [`Tx`] dispatches to one.
pub(crate) trait TxExecutor {
    /// A statement and its rows.
    async fn query(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>>;
    /// Several statements in order in one round trip, stopping at the first error.
    async fn query_many(&mut self, statements: Vec<Statement>) -> StoreResult<Vec<Vec<Row>>>;
    /// The last statements and the commit, in one round trip where the backend allows.
    async fn query_many_and_commit(self, statements: Vec<Statement>) -> StoreResult<Vec<Vec<Row>>>;
    /// A statement and the number of rows it changed.
    async fn exec(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<u64>;
    /// Several parameterless statements (DDL built from integer ids only).
    async fn batch(&mut self, sql: &str) -> StoreResult<()>;
    /// Commits.
    async fn commit(self) -> StoreResult<()>;
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<SqliteDb>),
    Postgres(Arc<PgDb>),
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Db {
    backend: Backend,
}

impl Db {
    /// Opens (creating if needed) `<dir>/rivia.db` and applies migrations.
    pub async fn open_sqlite(dir: &Path) -> StoreResult<Db> {
        let sqlite = SqliteDb::open(dir)?;
        let db = Db {
            backend: Backend::Sqlite(Arc::new(sqlite)),
        };
        crate::migrate::run(&db).await?;
        Ok(db)
    }

    /// Connects to PostgreSQL and applies migrations.
    pub async fn open_postgres(url: &str) -> StoreResult<Db> {
        let pg = PgDb::connect(url).await?;
        let db = Db {
            backend: Backend::Postgres(Arc::new(pg)),
        };
        crate::migrate::run(&db).await?;
        Ok(db)
    }

    /// The dialect of this database.
    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
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

    /// Runs a read-only query expected to return at most one row.
    pub(crate) async fn query_opt(&self, sql: &str, params: Vec<Val>) -> StoreResult<Option<Row>> {
        Ok(self.query(sql, params).await?.into_iter().next())
    }

    /// Runs several read-only queries in one round trip: on one SQLite reader job, or
    /// pipelined on one PostgreSQL connection.
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
        })
    }

    /// Closes the database cleanly (checkpoints the SQLite WAL).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }
}

enum TxInner {
    Sqlite(crate::sqlite::SqliteTx),
    Postgres(Box<crate::pg::PgTx>),
}

/// A write transaction (inside the store only: callers outside get a unit of work,
/// [`crate::UnitOfWork`], whose operations are named, not SQL).
pub(crate) struct Tx {
    inner: TxInner,
    dialect: Dialect,
}

impl Tx {
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
        match self.inner {
            TxInner::Sqlite(t) => t.query_many_and_commit(statements).await,
            TxInner::Postgres(t) => t.query_many_and_commit(statements).await,
        }
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
        }
    }
}

/// Rewrites `$1` placeholders into SQLite's numbered `+?1`; `$` followed by anything but a
/// digit (for example a JSON path `'$.title'`) is left alone. The unary plus (a no-op on
/// any value) matters: SQLite re-prepares a statement on every execution when a bare
/// parameter in an equality constraint could let the planner drop an ORDER BY, which made
/// cached statements recompile each time; `+?1` still uses the same indexes.
pub(crate) fn sqlite_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        out.push_str(if after.starts_with(|c: char| c.is_ascii_digit()) {
            "+?"
        } else {
            "$"
        });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_but_json_paths_kept() {
        assert_eq!(
            sqlite_placeholders("SELECT json_extract(data, '$.a') FROM t WHERE id = $12 AND x=$1"),
            "SELECT json_extract(data, '$.a') FROM t WHERE id = +?12 AND x=+?1"
        );
    }
}
