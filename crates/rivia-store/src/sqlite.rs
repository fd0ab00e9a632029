//! SQLite executor: one writer thread owning the only read-write connection and a pool of
//! reader threads with `query_only` connections, all fed closures over flume channels so no
//! tokio worker ever blocks on SQLite. A write transaction holds an async lock for its whole
//! life, so the writer connection runs one transaction at a time; consecutive transactions
//! share one SQLite transaction, each in its own savepoint (group commit, see [`Writer`]).

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
    writer: flume::Sender<WriteMsg>,
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

/// Runs a parameterless control statement (`BEGIN`, `SAVEPOINT tx`, `COMMIT`…) from the
/// statement cache: every write runs several, and `execute_batch` parses them each time.
fn run_control(conn: &Connection, sql: &str) -> StoreResult<()> {
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

/// A step of a write transaction: runs on the writer connection, told whether the
/// transaction is usable (its savepoint opened, the group not lost); returns whether its
/// statements succeeded.
type TxJob = Box<dyn FnOnce(&mut Connection, StoreResult<()>) -> bool + Send>;

/// Where a commit's outcome goes once its group has committed.
type Ack = oneshot::Sender<StoreResult<()>>;

/// Work for the writer thread.
enum WriteMsg {
    /// Outside any transaction (checkpoint); an open group is committed first.
    Plain(Job),
    /// A statement (or several) of the transaction holding the write lock; `begin` opens
    /// its savepoint first; `commit` ends the transaction right after a successful step
    /// (as [`WriteMsg::Finish`] would) and rolls it back after a failed one.
    Step {
        begin: bool,
        job: TxJob,
        commit: Option<Ack>,
    },
    /// Ends the transaction holding the write lock: `ack` (a commit) gets the result once
    /// the group containing the transaction has committed; no `ack` rolls it back.
    Finish { ack: Option<Ack> },
}

/// Transactions committed together at most; bounds the latency a group adds.
const MAX_GROUP: usize = 256;

/// The writer connection and its group commit. Write transactions run one at a time (the
/// async write lock), each inside a SAVEPOINT of one outer `BEGIN IMMEDIATE` shared by
/// consecutive transactions. A finished transaction's savepoint is released and its
/// acknowledgement held; the outer transaction commits once the queue runs dry between
/// transactions (or the group is full), and only then is every member acknowledged, so an
/// acknowledged write is committed and a failed one (rolled back to its savepoint) leaves
/// no trace and does not touch its neighbours. One COMMIT then covers many requests.
struct Writer {
    conn: Connection,
    /// The outer transaction is open.
    group_open: bool,
    /// A transaction's savepoint is open.
    in_tx: bool,
    /// The group was lost (SQLite rolled it back) while a transaction was in it; that
    /// transaction's remaining steps fail until it finishes.
    tx_broken: bool,
    /// Committed savepoints waiting for the group's COMMIT.
    acks: Vec<Ack>,
}

impl Writer {
    fn run(mut self, jobs: flume::Receiver<WriteMsg>) {
        loop {
            let msg = if self.group_open && !self.in_tx {
                match jobs.try_recv() {
                    Ok(m) => m,
                    Err(flume::TryRecvError::Empty) => {
                        // Nothing queued between transactions: make the group durable.
                        self.commit_group();
                        continue;
                    }
                    Err(flume::TryRecvError::Disconnected) => break,
                }
            } else {
                match jobs.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            };
            self.handle(msg);
        }
        if self.in_tx {
            self.rollback_tx();
        }
        if self.group_open {
            self.commit_group();
        }
    }

    fn handle(&mut self, msg: WriteMsg) {
        match msg {
            WriteMsg::Plain(job) => {
                if self.group_open {
                    self.commit_group();
                }
                job(&mut self.conn);
            }
            WriteMsg::Step { begin, job, commit } => {
                let ready = if self.tx_broken {
                    Err(StoreError::Internal(
                        "the write transaction was lost".into(),
                    ))
                } else if begin {
                    self.enter_tx()
                } else {
                    Ok(())
                };
                let ok = job(&mut self.conn, ready);
                self.check_group_alive();
                match commit {
                    Some(ack) if ok => self.release_tx(ack),
                    Some(_) => self.end_tx_rolled_back(),
                    None => {}
                }
            }
            WriteMsg::Finish { ack: Some(ack) } => self.release_tx(ack),
            WriteMsg::Finish { ack: None } => self.end_tx_rolled_back(),
        }
    }

    /// Ends the current transaction without committing it.
    fn end_tx_rolled_back(&mut self) {
        if self.in_tx {
            self.rollback_tx();
        }
        self.tx_broken = false;
    }

    /// Opens the group if needed and the transaction's savepoint.
    fn enter_tx(&mut self) -> StoreResult<()> {
        if self.group_open && self.acks.len() >= MAX_GROUP {
            self.commit_group();
        }
        if !self.group_open {
            run_control(&self.conn, "BEGIN IMMEDIATE")?;
            self.group_open = true;
        }
        run_control(&self.conn, "SAVEPOINT tx")?;
        self.in_tx = true;
        Ok(())
    }

    /// Releases a finished transaction's savepoint; its ack waits for the group commit.
    fn release_tx(&mut self, ack: Ack) {
        if !self.in_tx {
            self.tx_broken = false;
            let _ = ack.send(Err(StoreError::Internal(
                "the write transaction was not open".into(),
            )));
            return;
        }
        match run_control(&self.conn, "RELEASE tx") {
            Ok(()) => {
                self.in_tx = false;
                self.acks.push(ack);
            }
            Err(e) => {
                self.rollback_tx();
                let _ = ack.send(Err(e));
            }
        }
        self.check_group_alive();
    }

    /// Undoes the current transaction only; the group's earlier members stay.
    fn rollback_tx(&mut self) {
        self.in_tx = false;
        if self
            .conn
            .execute_batch("ROLLBACK TO tx; RELEASE tx")
            .is_err()
        {
            // The savepoint cannot be undone on its own: give the whole group up.
            let _ = self.conn.execute_batch("ROLLBACK");
            self.fail_group("a write transaction could not be rolled back");
        }
        self.check_group_alive();
    }

    /// SQLite rolls the whole transaction back on some errors (I/O, full disk): then the
    /// group is gone and its members must hear so rather than be acknowledged.
    fn check_group_alive(&mut self) {
        if self.group_open && self.conn.is_autocommit() {
            if self.in_tx {
                self.in_tx = false;
                self.tx_broken = true;
            }
            self.fail_group("the write transaction group was rolled back");
        }
    }

    fn fail_group(&mut self, why: &str) {
        self.group_open = false;
        for ack in self.acks.drain(..) {
            let _ = ack.send(Err(StoreError::Internal(why.into())));
        }
    }

    /// Commits the group and acknowledges its members.
    fn commit_group(&mut self) {
        self.group_open = false;
        let result = run_control(&self.conn, "COMMIT");
        if let Err(e) = &result {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            tracing::error!(error = %e, "sqlite group commit failed");
        }
        for ack in self.acks.drain(..) {
            let _ = ack.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Internal(e.to_string())),
            });
        }
    }
}

fn spawn_writer(conn: Connection, jobs: flume::Receiver<WriteMsg>) -> StoreResult<()> {
    let writer = Writer {
        conn,
        group_open: false,
        in_tx: false,
        tx_broken: false,
        acks: Vec::new(),
    };
    std::thread::Builder::new()
        .name("rivia-sqlite-writer".into())
        .spawn(move || writer.run(jobs))
        .map(|_| ())
        .map_err(|e| StoreError::Internal(e.to_string()))
}

fn stopped() -> StoreError {
    StoreError::Unavailable("sqlite executor stopped".into())
}

/// Sends one step of a write transaction to the writer; the receiver gets its result.
fn send_step<T: Send + 'static>(
    writer: &flume::Sender<WriteMsg>,
    begin: bool,
    commit: Option<Ack>,
    f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
) -> StoreResult<oneshot::Receiver<StoreResult<T>>> {
    let (tx, rx) = oneshot::channel();
    let job: TxJob = Box::new(move |conn, ready| {
        let result = ready.and_then(|()| f(conn));
        let ok = result.is_ok();
        let _ = tx.send(result);
        ok
    });
    writer
        .send(WriteMsg::Step { begin, job, commit })
        .map_err(|_| stopped())?;
    Ok(rx)
}

async fn step_result<T>(rx: oneshot::Receiver<StoreResult<T>>) -> StoreResult<T> {
    rx.await
        .map_err(|_| StoreError::Unavailable("sqlite executor dropped a job".into()))?
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

    /// Several reads in one job on one reader thread; two or more share one read
    /// transaction, so they see the same data and WAL read locks are taken once instead of
    /// per statement (a lone statement is its own transaction already).
    pub async fn read_batch(&self, queries: Vec<(String, Vec<Val>)>) -> StoreResult<Vec<Vec<Row>>> {
        submit(&self.readers, move |conn| {
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
    pub async fn read_many(
        &self,
        statements: Vec<(String, Vec<Val>)>,
        timeout: Duration,
    ) -> StoreResult<Vec<Vec<Row>>> {
        submit(&self.readers, move |conn| {
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
    pub async fn begin(&self) -> StoreResult<SqliteTx> {
        Ok(SqliteTx {
            writer: self.writer.clone(),
            lock: self.write_lock.clone(),
            guard: None,
            started: false,
            open: true,
        })
    }

    /// Checkpoints the WAL so the database file is complete on its own.
    pub async fn close(&self) {
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

/// A write transaction on the SQLite writer thread (a savepoint in a commit group).
pub struct SqliteTx {
    writer: flume::Sender<WriteMsg>,
    lock: Arc<Mutex<()>>,
    guard: Option<OwnedMutexGuard<()>>,
    /// A statement was sent, so the writer opened the savepoint.
    started: bool,
    /// Neither committed nor rolled back yet.
    open: bool,
}

impl SqliteTx {
    async fn step<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let begin = self.start().await;
        step_result(send_step(&self.writer, begin, None, f)?).await
    }

    /// Takes the write lock before the first statement; true when the savepoint is
    /// still to be opened.
    async fn start(&mut self) -> bool {
        if self.guard.is_none() {
            self.guard = Some(self.lock.clone().lock_owned().await);
        }
        let begin = !self.started;
        self.started = true;
        begin
    }

    /// Runs the transaction's last statements and commits in the same trip to the
    /// writer (the write lock is free again as soon as they are queued); their rows come
    /// back once the commit is durable. A failed statement rolls the transaction back.
    pub async fn query_many_and_commit(
        mut self,
        statements: Vec<(String, Vec<Val>)>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        let begin = self.start().await;
        self.open = false;
        let (ack, done) = oneshot::channel();
        let rows = send_step(&self.writer, begin, Some(ack), move |conn| {
            statements
                .iter()
                .map(|(sql, params)| run_query(conn, sql, params))
                .collect::<StoreResult<Vec<_>>>()
        });
        self.guard.take();
        let rows = step_result(rows?).await?;
        done.await
            .map_err(|_| StoreError::Unavailable("sqlite executor dropped a commit".into()))??;
        Ok(rows)
    }
    /// Statement with rows.
    pub async fn query(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        let sql = sql.to_string();
        self.step(move |conn| run_query(conn, &sql, &params)).await
    }
    /// Several statements in one trip to the writer, stopping at the first error.
    pub async fn query_many(
        &mut self,
        statements: Vec<(String, Vec<Val>)>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        self.step(move |conn| {
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
        self.step(move |conn| run_exec(conn, &sql, &params)).await
    }
    /// Several parameterless statements.
    pub async fn batch(&mut self, sql: &str) -> StoreResult<()> {
        let sql = sql.to_string();
        self.step(move |conn| conn.execute_batch(&sql).map_err(map_err))
            .await
    }
    /// Commits: releases the savepoint and the write lock at once, then waits until the
    /// group holding the transaction has committed.
    pub async fn commit(mut self) -> StoreResult<()> {
        self.open = false;
        if !self.started {
            return Ok(());
        }
        let (ack, done) = oneshot::channel();
        let sent = self.writer.send(WriteMsg::Finish { ack: Some(ack) });
        // The channel is FIFO, so the next transaction's statements run after the release.
        self.guard.take();
        sent.map_err(|_| stopped())?;
        done.await
            .map_err(|_| StoreError::Unavailable("sqlite executor dropped a commit".into()))?
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if self.open && self.started {
            // The channel is FIFO and the write lock is released only after this send, so
            // the rollback runs before the next transaction's first statement.
            let _ = self.writer.send(WriteMsg::Finish { ack: None });
        }
        self.guard.take();
    }
}
