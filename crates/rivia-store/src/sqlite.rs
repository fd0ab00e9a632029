//! SQLite executor: one writer thread owning the only read-write connection and a pool of
//! reader threads with `query_only` connections, all fed closures over flume channels so no
//! tokio worker ever blocks on SQLite. A write transaction holds an async lock for its whole
//! life, so the writer connection runs one transaction at a time.

use crate::db::{Row, StoreError, StoreResult, Val, sqlite_placeholders};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The SQLite side of the storage seam.
pub struct SqliteDb {
    writer: flume::Sender<WriterJob>,
    readers: flume::Sender<Job>,
    write_lock: Arc<Mutex<()>>,
}

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

fn map_err(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict(msg.clone().unwrap_or_default())
        }
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            StoreError::Timeout
        }
        _ => StoreError::Internal(e.to_string()),
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
    let sql = sqlite_placeholders(sql);
    let mut stmt = conn.prepare_cached(&sql).map_err(map_err)?;
    let columns = stmt.column_count();
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter()))
        .map_err(map_err)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(map_err)? {
        let mut vals = Vec::with_capacity(columns);
        for i in 0..columns {
            vals.push(match r.get_ref(i).map_err(map_err)? {
                ValueRef::Null => Val::Null,
                ValueRef::Integer(v) => Val::Int(v),
                ValueRef::Real(v) => Val::Float(v),
                ValueRef::Text(t) | ValueRef::Blob(t) => {
                    Val::Text(String::from_utf8_lossy(t).into_owned())
                }
            });
        }
        out.push(Row(vals));
    }
    Ok(out)
}

fn run_exec(conn: &Connection, sql: &str, params: &[Val]) -> StoreResult<u64> {
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
    f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |conn| {
        let _ = tx.send(f(conn));
    });
    queue
        .send_async(job)
        .await
        .map_err(|_| StoreError::Unavailable("sqlite executor stopped".into()))?;
    rx.await
        .map_err(|_| StoreError::Unavailable("sqlite executor dropped a job".into()))?
}

/// Work for the writer thread.
enum WriterJob {
    /// A statement of the transaction holding the write lock (or a control statement).
    Step(Job),
    /// A whole transaction of fixed statements; see [`SqliteDb::write_once`].
    Once(OnceJob),
}

/// A transaction of fixed statements and where its outcome goes.
struct OnceJob {
    statements: Vec<(String, Vec<Val>)>,
    reply: oneshot::Sender<StoreResult<Vec<Vec<Row>>>>,
}

/// Most one-shot transactions committed together.
const MAX_GROUP: usize = 256;

/// Runs one step job on the writer and waits for its result.
async fn submit_step<T: Send + 'static>(
    queue: &flume::Sender<WriterJob>,
    f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |conn| {
        let _ = tx.send(f(conn));
    });
    queue
        .send_async(WriterJob::Step(job))
        .await
        .map_err(|_| StoreError::Unavailable("sqlite writer stopped".into()))?;
    rx.await
        .map_err(|_| StoreError::Unavailable("sqlite writer dropped a job".into()))?
}

/// The writer thread. Steps run in arrival order. One-shot transactions that arrive
/// while a stepped transaction is open wait for it to end; otherwise every one-shot
/// transaction queued at that moment shares one SQLite transaction, each inside its own
/// savepoint, and one commit (group commit): under concurrent writes the commit and the
/// thread hand-offs are paid once per group instead of once per request. Each is
/// answered only after the commit.
fn spawn_writer(conn: Connection, jobs: flume::Receiver<WriterJob>) -> StoreResult<()> {
    std::thread::Builder::new()
        .name("rivia-sqlite-writer".into())
        .spawn(move || {
            let mut conn = conn;
            let mut waiting: Vec<OnceJob> = Vec::new();
            let mut next: Option<WriterJob> = None;
            loop {
                let job = match next.take() {
                    Some(job) => job,
                    None => match jobs.recv() {
                        Ok(job) => job,
                        Err(_) => break,
                    },
                };
                match job {
                    WriterJob::Step(step) => step(&mut conn),
                    WriterJob::Once(once) => {
                        waiting.push(once);
                        // Gather what else is queued, up to a step (kept for after).
                        while waiting.len() < MAX_GROUP && next.is_none() {
                            match jobs.try_recv() {
                                Ok(WriterJob::Once(o)) => waiting.push(o),
                                Ok(step) => next = Some(step),
                                Err(_) => break,
                            }
                        }
                    }
                }
                if conn.is_autocommit() && !waiting.is_empty() {
                    run_group(&mut conn, std::mem::take(&mut waiting));
                }
            }
        })
        .map(|_| ())
        .map_err(|e| StoreError::Internal(e.to_string()))
}

/// Runs one-shot transactions in one SQLite transaction, a savepoint each (a failing one
/// leaves no trace and does not fail the others), commits, then answers them all.
fn run_group(conn: &mut Connection, group: Vec<OnceJob>) {
    if let Err(e) = run_control(conn, "BEGIN IMMEDIATE") {
        for job in group {
            let _ = job.reply.send(Err(e.clone()));
        }
        return;
    }
    let mut results = Vec::with_capacity(group.len());
    for job in &group {
        results.push(run_in_savepoint(conn, &job.statements));
    }
    if let Err(e) = run_control(conn, "COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        for r in results.iter_mut() {
            if r.is_ok() {
                *r = Err(e.clone());
            }
        }
    }
    for (job, result) in group.into_iter().zip(results) {
        let _ = job.reply.send(result);
    }
}

fn run_in_savepoint(
    conn: &Connection,
    statements: &[(String, Vec<Val>)],
) -> StoreResult<Vec<Vec<Row>>> {
    run_control(conn, "SAVEPOINT once")?;
    let result: StoreResult<Vec<Vec<Row>>> = statements
        .iter()
        .map(|(sql, params)| run_query(conn, sql, params))
        .collect();
    if result.is_err() {
        run_control(conn, "ROLLBACK TO once")?;
    }
    run_control(conn, "RELEASE once")?;
    result
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
        spawn_writer(writer_conn, writer_rx)?;
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
        Ok(SqliteDb {
            writer,
            readers,
            write_lock: Arc::new(Mutex::new(())),
        })
    }

    /// A read on one of the reader threads.
    pub async fn read(&self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        let sql = sql.to_string();
        submit(&self.readers, move |conn| run_query(conn, &sql, &params)).await
    }

    /// Several reads in one job on one reader thread.
    pub async fn read_batch(&self, queries: Vec<(String, Vec<Val>)>) -> StoreResult<Vec<Vec<Row>>> {
        submit(&self.readers, move |conn| {
            queries
                .iter()
                .map(|(sql, params)| run_query(conn, sql, params))
                .collect()
        })
        .await
    }

    /// Several reads on one reader thread, interrupted once `timeout` has passed.
    pub async fn read_many(
        &self,
        statements: Vec<(String, Vec<Val>)>,
        timeout: Duration,
    ) -> StoreResult<Vec<Vec<Row>>> {
        submit(&self.readers, move |conn| {
            DEADLINE.with(|d| d.set(Some(Instant::now() + timeout)));
            // One read transaction, so a list page and its count see the same data.
            let result = conn.execute_batch("BEGIN").map_err(map_err).and_then(|_| {
                statements
                    .iter()
                    .map(|(sql, params)| run_query(conn, sql, params))
                    .collect::<StoreResult<Vec<_>>>()
            });
            let _ = conn.execute_batch("COMMIT");
            DEADLINE.with(|d| d.set(None));
            result
        })
        .await
    }

    /// A whole write transaction of fixed statements (all or nothing), answered after
    /// its commit. It takes no write lock: the writer thread groups it with others.
    pub async fn write_once(
        &self,
        statements: Vec<(String, Vec<Val>)>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        let (reply, rx) = oneshot::channel();
        self.writer
            .send_async(WriterJob::Once(OnceJob { statements, reply }))
            .await
            .map_err(|_| StoreError::Unavailable("sqlite writer stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("sqlite writer dropped a job".into()))?
    }

    /// A write transaction: holds the write lock until commit/drop. `BEGIN IMMEDIATE`
    /// travels with the transaction's first statement, saving a trip to the writer thread.
    pub async fn begin(&self) -> StoreResult<SqliteTx> {
        let guard = self.write_lock.clone().lock_owned().await;
        Ok(SqliteTx {
            writer: self.writer.clone(),
            guard: Some(guard),
            open: true,
            begun: false,
        })
    }

    /// Checkpoints the WAL so the database file is complete on its own.
    pub async fn close(&self) {
        let _guard = self.write_lock.lock().await;
        let _ = submit_step(&self.writer, |conn| {
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
                .map_err(map_err)
        })
        .await;
    }
}

/// A write transaction on the SQLite writer thread.
pub struct SqliteTx {
    writer: flume::Sender<WriterJob>,
    guard: Option<OwnedMutexGuard<()>>,
    open: bool,
    /// Whether `BEGIN IMMEDIATE` has been sent (with the first statement).
    begun: bool,
}

/// Runs a cached parameterless statement (`BEGIN IMMEDIATE`, `COMMIT`): `execute_batch`
/// would parse it again each time.
fn run_control(conn: &Connection, sql: &str) -> StoreResult<()> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(map_err)
}

impl SqliteTx {
    /// Runs `f` on the writer, after `BEGIN IMMEDIATE` if this is the first statement.
    async fn run<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let begin = !self.begun;
        // Set before the job runs: if BEGIN itself fails, the rollback on drop is a no-op.
        self.begun = true;
        submit_step(&self.writer, move |conn| {
            if begin {
                run_control(conn, "BEGIN IMMEDIATE")?;
            }
            f(conn)
        })
        .await
    }
    /// Statement with rows.
    pub async fn query(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        let sql = sql.to_string();
        self.run(move |conn| run_query(conn, &sql, &params)).await
    }
    /// Several statements in one trip to the writer, stopping at the first error.
    pub async fn query_many(
        &mut self,
        statements: Vec<(String, Vec<Val>)>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        self.run(move |conn| {
            statements
                .iter()
                .map(|(sql, params)| run_query(conn, sql, params))
                .collect()
        })
        .await
    }
    /// Statement without rows.
    pub async fn exec(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<u64> {
        let sql = sql.to_string();
        self.run(move |conn| run_exec(conn, &sql, &params)).await
    }
    /// Several parameterless statements.
    pub async fn batch(&mut self, sql: &str) -> StoreResult<()> {
        let sql = sql.to_string();
        self.run(move |conn| conn.execute_batch(&sql).map_err(map_err))
            .await
    }
    /// Commits and releases the writer.
    pub async fn commit(mut self) -> StoreResult<()> {
        if !self.begun {
            self.open = false;
            return Ok(());
        }
        let result = submit_step(&self.writer, |conn| run_control(conn, "COMMIT")).await;
        if result.is_ok() {
            self.open = false;
        }
        result
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if self.open && self.begun {
            // The channel is FIFO and the write lock is released only after this send, so
            // the rollback runs before the next transaction's BEGIN.
            let job: Job = Box::new(|conn| {
                let _ = conn.execute_batch("ROLLBACK");
            });
            let _ = self.writer.send(WriterJob::Step(job));
        }
        self.guard.take();
    }
}
