//! The SQLite writer thread and its group commit, and the write transactions that run on
//! it ([`SqliteTx`]).

use super::inline::WriteEpoch;
use super::{Job, map_err, run_control, run_exec, run_query};
use crate::db::stats::WaitMeter;
use crate::db::{Row, Statement, StoreError, StoreResult, TxExecutor, Val};
use rusqlite::Connection;
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard, oneshot};

/// A step of a write transaction: runs on the writer connection, told whether the
/// transaction is usable (its savepoint opened, the group not lost); returns whether its
/// statements succeeded.
type TxJob = Box<dyn FnOnce(&mut Connection, StoreResult<()>) -> bool + Send>;

/// Where a commit's outcome goes once its group has committed.
type Ack = oneshot::Sender<StoreResult<()>>;

/// Work for the writer thread.
pub(super) enum WriteMsg {
    /// Outside any transaction (checkpoint); an open group is committed first. It must not
    /// change data: it answers from inside the job, before the write epoch could advance.
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
    /// Advanced after every COMMIT, before its members hear of it: inline readers holding
    /// an older read transaction then start a new one (see [`super::inline`]).
    epoch: WriteEpoch,
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
                // Changes no data (a checkpoint), so the write epoch stays.
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
        self.epoch.advance();
        if let Err(e) = &result {
            if !self.conn.is_autocommit() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            tracing::error!(error = %e, "sqlite group commit failed");
        }
        for ack in self.acks.drain(..) {
            let _ = ack.send(match &result {
                Ok(()) => Ok(()),
                // A full disk stays what it is (507, retry later); anything else is
                // internal.
                Err(StoreError::Full(m)) => Err(StoreError::Full(m.clone())),
                Err(e) => Err(StoreError::Internal(e.to_string())),
            });
        }
    }
}

pub(super) fn spawn_writer(
    conn: Connection,
    jobs: flume::Receiver<WriteMsg>,
    epoch: WriteEpoch,
) -> StoreResult<()> {
    let writer = Writer {
        conn,
        group_open: false,
        in_tx: false,
        tx_broken: false,
        acks: Vec::new(),
        epoch,
    };
    std::thread::Builder::new()
        .name("rivia-sqlite-writer".into())
        .spawn(move || writer.run(jobs))
        .map(|_| ())
        .map_err(|e| StoreError::Internal(e.to_string()))
}

pub(super) fn stopped() -> StoreError {
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

/// A write transaction on the SQLite writer thread (a savepoint in a commit group).
pub(crate) struct SqliteTx {
    writer: flume::Sender<WriteMsg>,
    lock: Arc<Mutex<()>>,
    /// Waits for `lock`, for the pool statistics.
    waits: Arc<WaitMeter>,
    guard: Option<OwnedMutexGuard<()>>,
    /// A statement was sent, so the writer opened the savepoint.
    started: bool,
    /// Neither committed nor rolled back yet.
    open: bool,
}

impl SqliteTx {
    pub(super) fn new(
        writer: flume::Sender<WriteMsg>,
        lock: Arc<Mutex<()>>,
        waits: Arc<WaitMeter>,
    ) -> Self {
        SqliteTx {
            writer,
            lock,
            waits,
            guard: None,
            started: false,
            open: true,
        }
    }

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
            let lock = self.lock.clone();
            self.guard = Some(self.waits.wait_for(lock.lock_owned()).await);
        }
        let begin = !self.started;
        self.started = true;
        begin
    }
}

impl TxExecutor for SqliteTx {
    /// Runs the transaction's last statements and commits in the same trip to the
    /// writer (the write lock is free again as soon as they are queued); their rows come
    /// back once the commit is durable. A failed statement rolls the transaction back.
    async fn query_many_and_commit(
        mut self,
        statements: Vec<Statement>,
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
    async fn query(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        let sql = sql.to_string();
        self.step(move |conn| run_query(conn, &sql, &params)).await
    }
    /// Several statements in one trip to the writer, stopping at the first error.
    async fn query_many(&mut self, statements: Vec<Statement>) -> StoreResult<Vec<Vec<Row>>> {
        self.step(move |conn| {
            statements
                .iter()
                .map(|(sql, params)| run_query(conn, sql, params))
                .collect()
        })
        .await
    }
    /// Statement without rows.
    async fn exec(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<u64> {
        let sql = sql.to_string();
        self.step(move |conn| run_exec(conn, &sql, &params)).await
    }
    /// Several parameterless statements.
    async fn batch(&mut self, sql: &str) -> StoreResult<()> {
        let sql = sql.to_string();
        self.step(move |conn| conn.execute_batch(&sql).map_err(map_err))
            .await
    }
    /// Commits: releases the savepoint and the write lock at once, then waits until the
    /// group holding the transaction has committed.
    async fn commit(mut self) -> StoreResult<()> {
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
