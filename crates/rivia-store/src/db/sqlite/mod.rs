//! SQLite executor: one writer thread owning the only read-write connection and a pool of
//! reader threads with `query_only` connections, all fed closures over flume channels so no
//! tokio worker ever blocks on SQLite. A write transaction holds an async lock for its whole
//! life, so the writer connection runs one transaction at a time; consecutive transactions
//! share one SQLite transaction, each in its own savepoint (group commit, see [`Writer`]).

mod inline;
mod text;
mod writer;

use crate::db::stats::{PoolStats, WaitMeter};
use crate::db::{Constraint, Executor, Row, Statement, StoreError, StoreResult, Val};
use inline::{InlinePool, WriteEpoch};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use text::sqlite_placeholders;
use text::with_sqlite_text;
use tokio::sync::{Mutex, oneshot};
pub(crate) use writer::SqliteTx;
use writer::{WriteMsg, spawn_writer};

pub(super) type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The SQLite side of the storage seam.
pub(crate) struct SqliteDb {
    writer: flume::Sender<WriteMsg>,
    readers: flume::Sender<Job>,
    write_lock: Arc<Mutex<()>>,
    /// Read-only connections for point lookups run on the calling (tokio worker) thread:
    /// a lookup by primary key takes a few microseconds, less than the two thread hand-offs
    /// of a reader job. Taken without waiting; when all are in use the lookup goes to a
    /// reader thread like any other read. Their read transactions outlive a lookup while
    /// nothing is committed (see [`inline`]).
    inline: InlinePool,
    /// Reader threads.
    reader_count: usize,
    /// Waits for a reader thread (from a job's submission to its start).
    read_waits: Arc<WaitMeter>,
    /// Waits for the write lock.
    write_waits: Arc<WaitMeter>,
    /// The database file, for connections of their own (backup snapshots).
    path: std::path::PathBuf,
}

/// Longest a point lookup may run on a tokio worker before SQLite interrupts it (then it
/// is retried on a reader thread): a lookup by key is microseconds, so reaching this
/// means something unexpected (a cold page cache on a slow disk) that must not stall the
/// worker's other requests.
const INLINE_DEADLINE: Duration = Duration::from_millis(20);

impl ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Val::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Val::Float(v) => ToSqlOutput::Borrowed(ValueRef::Real(*v)),
            Val::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(*b as i64)),
            Val::Text(s) | Val::Json(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

pub(super) fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            let primary = f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY;
            StoreError::Conflict(violated_constraint(msg.as_deref().unwrap_or(""), primary))
        }
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            StoreError::Timeout
        }
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
            StoreError::Full(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

/// The constraint named by SQLite's message for a unique failure, under the name
/// PostgreSQL gives it (see [`Constraint`]): `UNIQUE constraint failed: index 'c5_x…'`
/// (an expression index: its name) or `UNIQUE constraint failed: users.instance_id,
/// users.username` (the columns of a table's constraint or primary key).
fn violated_constraint(message: &str, primary_key: bool) -> Constraint {
    let what = message
        .split_once("constraint failed: ")
        .map_or(message, |(_, rest)| rest)
        .trim();
    if let Some(index) = what
        .strip_prefix("index '")
        .and_then(|rest| rest.strip_suffix('\''))
    {
        return Constraint::named(index);
    }
    let columns: Vec<(&str, &str)> = what
        .split(", ")
        .filter_map(|qualified| qualified.split_once('.'))
        .collect();
    match columns.first() {
        Some((table, _)) if primary_key => Constraint::primary_key(table),
        Some((table, _)) => {
            let names: Vec<&str> = columns.iter().map(|(_, column)| *column).collect();
            Constraint::unique(table, &names)
        }
        None => Constraint::named(what),
    }
}

fn configure(conn: &Connection, read_only: bool) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "busy_timeout", 5000)?;
    if read_only {
        conn.pragma_update(None, "query_only", "ON")?;
    }
    conn.set_prepared_statement_cache_capacity(256);
    register_functions(conn)?;
    Ok(())
}

thread_local! {
    /// Deadline of the statements running on this reader thread's connection.
    static DEADLINE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

/// SQL functions PostgreSQL gets from migration 0002, so that both dialects run the same
/// SQL text: `rivia_geo_km(lon1, lat1, lon2, lat2)` (haversine distance).
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function(
        "rivia_geo_km",
        4,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let arg = |i| ctx.get::<Option<f64>>(i);
            Ok(match (arg(0)?, arg(1)?, arg(2)?, arg(3)?) {
                (Some(a), Some(b), Some(c), Some(d)) => {
                    Some(rivia_core::query::haversine_km(a, b, c, d))
                }
                _ => None,
            })
        },
    )
}

/// Interrupts statements of a reader whose deadline passed (checked every 1000 VM steps).
fn install_deadline_check(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.progress_handler(
        1000,
        Some(|| DEADLINE.with(|d| d.get().is_some_and(|t| Instant::now() >= t))),
    )
}

/// Runs a statement on a connection and collects its rows.
pub(crate) fn run_query(conn: &Connection, sql: &str, params: &[Val]) -> StoreResult<Vec<Row>> {
    with_sqlite_text(sql, |sql| collect_rows(conn, sql, params))
}

/// Runs a statement already in SQLite's placeholders and collects its rows.
fn collect_rows(conn: &Connection, sql: &str, params: &[Val]) -> StoreResult<Vec<Row>> {
    let mut stmt = conn.prepare_cached(sql).map_err(map_err)?;
    let columns = stmt.column_count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(map_err)? {
        out.push(row_values(r, columns)?);
    }
    Ok(out)
}

/// Runs a parameterless control statement (`BEGIN`, `SAVEPOINT tx`, `COMMIT`…) from the
/// statement cache: every write runs several, and `execute_batch` parses them each time.
pub(super) fn run_control(conn: &Connection, sql: &str) -> StoreResult<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(map_err)
}

/// Runs `f` inside `BEGIN … COMMIT` on a reader connection.
fn in_read_transaction<T>(
    conn: &mut Connection,
    f: impl FnOnce(&mut Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    run_control(conn, "BEGIN")?;
    let result = f(conn);
    let _ = run_control(conn, "COMMIT");
    result
}

pub(super) fn run_exec(conn: &Connection, sql: &str, params: &[Val]) -> StoreResult<u64> {
    let sql = sqlite_placeholders(sql);
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    stmt.execute(rusqlite::params_from_iter(params.iter()))
        .map(|n| n as u64)
        .map_err(map_err)
}

fn spawn_worker(name: String, conn: Connection, jobs: flume::Receiver<Job>) -> StoreResult<()> {
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let mut conn = conn;
            while let Ok(job) = jobs.recv() {
                job(&mut conn);
            }
        })
        .map(|_| ())
        .map_err(|e| StoreError::Internal(e.to_string()))
}

async fn submit<T: Send + 'static>(
    queue: &flume::Sender<Job>,
    waits: &Arc<WaitMeter>,
    f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    let (tx, rx) = oneshot::channel();
    let (submitted, waits) = (Instant::now(), waits.clone());
    let job: Job = Box::new(move |conn| {
        waits.acquired(submitted.elapsed());
        let busy = waits.in_use();
        let result = f(conn);
        // Free before the caller hears back, so it never sees its own finished job in use.
        drop(busy);
        let _ = tx.send(result);
    });
    queue.send_async(job).await.map_err(|_| writer::stopped())?;
    rx.await
        .map_err(|_| StoreError::Unavailable("sqlite executor dropped a job".into()))?
}

impl SqliteDb {
    /// Opens `<dir>/rivia.db` with one writer and `max(2, cores)` readers.
    pub fn open(dir: &Path) -> StoreResult<SqliteDb> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
        let path = dir.join("rivia.db");
        let writer_conn = Connection::open(&path).map_err(map_err)?;
        configure(&writer_conn, false).map_err(map_err)?;
        let (writer, writer_rx) = flume::unbounded();
        let epoch = WriteEpoch::default();
        spawn_writer(writer_conn, writer_rx, epoch.clone())?;
        let (readers, readers_rx) = flume::unbounded();
        let count = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2);
        for i in 0..count {
            let conn = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )
            .map_err(map_err)?;
            let mut conn = conn;
            configure(&conn, true).map_err(map_err)?;
            install_deadline_check(&mut conn).map_err(map_err)?;
            spawn_worker(format!("rivia-sqlite-reader-{i}"), conn, readers_rx.clone())?;
        }
        let inline = InlinePool::open(&path, count, epoch)?;
        Ok(SqliteDb {
            writer,
            readers,
            write_lock: Arc::new(Mutex::new(())),
            inline,
            reader_count: count,
            read_waits: Arc::default(),
            write_waits: Arc::default(),
            path,
        })
    }

    /// The use of the reader threads and of the writer connection now.
    pub(crate) fn pool_stats(&self) -> [PoolStats; 2] {
        let read = self.read_waits.stats(
            "sqlite_read",
            self.reader_count,
            None,
            Some(self.readers.len()),
        );
        let write_held = usize::from(self.write_lock.try_lock().is_err());
        let write = self
            .write_waits
            .stats("sqlite_write", 1, Some(write_held), None);
        [read, write]
    }

    /// A point lookup on the calling thread if an inline connection is free, else on a
    /// reader thread (see [`SqliteDb::inline`]).
    pub(crate) async fn query_point(&self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        match self
            .inline
            .run(INLINE_DEADLINE, |conn| run_query(conn, sql, &params))
        {
            Some(rows) => Ok(rows),
            None => self.query(sql, params).await,
        }
    }

    /// A few statements reading a small page (by key, bounded by a page size) in one read
    /// transaction, on the calling thread if an inline connection is free, else on a
    /// reader thread like [`Executor::query_many`].
    pub(crate) async fn query_many_small(
        &self,
        statements: Vec<Statement>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        // An inline connection runs them in its read transaction already.
        let run_all = |conn: &mut Connection| {
            statements
                .iter()
                .map(|(sql, params)| run_query(conn, sql, params))
                .collect::<StoreResult<Vec<_>>>()
        };
        match self.inline.run(INLINE_DEADLINE, run_all) {
            Some(rows) => Ok(rows),
            None => self.query_many(statements).await,
        }
    }
}

impl SqliteDb {
    /// A read transaction on a connection and thread of its own (not one of the readers,
    /// which keep serving requests), holding one point in time until dropped: WAL mode
    /// lets the writer go on committing meanwhile.
    pub(crate) fn snapshot(&self) -> StoreResult<SqliteSnapshot> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(map_err)?;
        conn.pragma_update(None, "busy_timeout", 5000)
            .map_err(map_err)?;
        // Deferred BEGIN plus a first read: the snapshot is taken now, not at the first
        // table read, so every later read sees this moment.
        conn.execute_batch("BEGIN").map_err(map_err)?;
        conn.query_row("SELECT COUNT(*) FROM schema_migrations", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(map_err)?;
        let (jobs, rx) = flume::unbounded::<Job>();
        spawn_worker("rivia-sqlite-snapshot".into(), conn, rx)?;
        Ok(SqliteSnapshot { jobs })
    }
}

/// See [`SqliteDb::snapshot`]; the connection closes (ending the read) when dropped.
pub(crate) struct SqliteSnapshot {
    jobs: flume::Sender<Job>,
}

impl SqliteSnapshot {
    /// Streams the rows of `sql` in batches of at most `batch` rows.
    pub(crate) fn stream(
        &self,
        sql: &str,
        params: Vec<Val>,
        batch: usize,
        out: flume::Sender<StoreResult<Vec<Row>>>,
    ) {
        let sql = sqlite_placeholders(sql);
        let failed = out.clone();
        let job: Job = Box::new(move |conn| {
            if let Err(e) = stream_rows(conn, &sql, &params, batch, &out) {
                let _ = out.send(Err(e));
            }
        });
        if self.jobs.send(job).is_err() {
            let _ = failed.send(Err(writer::stopped()));
        }
    }
}

/// Sends the rows of a statement as batches; stops early when the receiver is gone.
fn stream_rows(
    conn: &Connection,
    sql: &str,
    params: &[Val],
    batch: usize,
    out: &flume::Sender<StoreResult<Vec<Row>>>,
) -> StoreResult<()> {
    let mut stmt = conn.prepare(sql).map_err(map_err)?;
    let columns = stmt.column_count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(map_err)?;
    let mut chunk = Vec::with_capacity(batch);
    while let Some(r) = rows.next().map_err(map_err)? {
        chunk.push(row_values(r, columns)?);
        if chunk.len() >= batch && out.send(Ok(std::mem::take(&mut chunk))).is_err() {
            return Ok(());
        }
    }
    if !chunk.is_empty() {
        let _ = out.send(Ok(chunk));
    }
    Ok(())
}

/// A text column as a `String`: SQLite hands back the UTF-8 it was given, so the check is
/// the fast validating one; `from_utf8_lossy` (only for bytes that are not UTF-8) walks
/// the text in chunks and cost twice as much.
fn utf8_text(t: &[u8]) -> String {
    match std::str::from_utf8(t) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(t).into_owned(),
    }
}

fn row_values(r: &rusqlite::Row<'_>, columns: usize) -> StoreResult<Row> {
    let mut vals = Vec::with_capacity(columns);
    for i in 0..columns {
        vals.push(match r.get_ref(i).map_err(map_err)? {
            ValueRef::Null => Val::Null,
            ValueRef::Integer(v) => Val::Int(v),
            ValueRef::Real(v) => Val::Float(v),
            ValueRef::Text(t) | ValueRef::Blob(t) => Val::Text(utf8_text(t)),
        });
    }
    Ok(Row(vals))
}

impl Executor for SqliteDb {
    type Tx = SqliteTx;

    /// A read on one of the reader threads.
    async fn query(&self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        let sql = sql.to_string();
        submit(&self.readers, &self.read_waits, move |conn| {
            run_query(conn, &sql, &params)
        })
        .await
    }

    /// Several reads in one job on one reader thread; two or more share one read
    /// transaction, so they see the same data and WAL read locks are taken once instead of
    /// per statement (a lone statement is its own transaction already).
    async fn query_many(&self, queries: Vec<Statement>) -> StoreResult<Vec<Vec<Row>>> {
        submit(&self.readers, &self.read_waits, move |conn| {
            let run_all = |conn: &mut Connection| {
                queries
                    .iter()
                    .map(|(sql, params)| run_query(conn, sql, params))
                    .collect()
            };
            if queries.len() > 1 {
                in_read_transaction(conn, run_all)
            } else {
                run_all(conn)
            }
        })
        .await
    }

    /// Several reads on one reader thread, interrupted once `timeout` has passed.
    async fn query_many_with_timeout(
        &self,
        statements: Vec<Statement>,
        timeout: Duration,
    ) -> StoreResult<Vec<Vec<Row>>> {
        submit(&self.readers, &self.read_waits, move |conn| {
            DEADLINE.with(|d| d.set(Some(Instant::now() + timeout)));
            // One read transaction, so a list page and its count see the same data.
            let result = in_read_transaction(conn, |conn| {
                statements
                    .iter()
                    .map(|(sql, params)| run_query(conn, sql, params))
                    .collect::<StoreResult<Vec<_>>>()
            });
            DEADLINE.with(|d| d.set(None));
            result
        })
        .await
    }

    /// A write transaction. It takes the write lock and opens its savepoint with its first
    /// statement, so a transaction costs no extra trip to the writer and holds the lock
    /// only while it has statements to run.
    async fn begin(&self) -> StoreResult<SqliteTx> {
        Ok(SqliteTx::new(
            self.writer.clone(),
            self.write_lock.clone(),
            self.write_waits.clone(),
        ))
    }

    /// Checkpoints the WAL so the database file is complete on its own.
    async fn close(&self) {
        let _guard = self.write_lock.lock().await;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = tx.send(conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)"));
        });
        if self.writer.send_async(WriteMsg::Plain(job)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_failures_are_named_as_on_postgres() {
        let cases = [
            (
                "UNIQUE constraint failed: users.instance_id, users.username",
                false,
                "users_instance_id_username_key",
            ),
            (
                "UNIQUE constraint failed: instances.name",
                false,
                "instances_name_key",
            ),
            (
                "UNIQUE constraint failed: index 'c5_x00ff'",
                false,
                "c5_x00ff",
            ),
            (
                "UNIQUE constraint failed: memberships.instance_id, memberships.user_id, memberships.group_id",
                true,
                "memberships_pkey",
            ),
        ];
        for (message, primary, name) in cases {
            assert_eq!(
                violated_constraint(message, primary).name(),
                name,
                "{message}"
            );
        }
    }

    #[test]
    fn text_columns_keep_utf8_and_replace_what_is_not() {
        assert_eq!(utf8_text("zażółć".as_bytes()), "zażółć");
        assert_eq!(utf8_text(b"a\xffb"), "a\u{fffd}b");
    }
}
