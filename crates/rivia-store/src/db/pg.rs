//! PostgreSQL executor: a deadpool pool of tokio-postgres clients, statements prepared and
//! cached per connection, and transactions as explicit BEGIN/COMMIT on one pooled client.

use crate::db::pg_shared::{SHARED_READERS, SharedReaders};
use crate::db::pg_wire::{client_exec, client_query, convert_row, map_err, refs};
use crate::db::stats::{PoolStats, WaitMeter};
use crate::db::{Executor, Row, Statement, StoreError, StoreResult, TxExecutor, Val};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

/// The PostgreSQL side of the storage seam.
pub(crate) struct PgDb {
    pool: Pool,
    url: String,
    waits: WaitMeter,
    shared: SharedReaders,
}

/// How long opening a connection may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a request waits for a free pooled connection.
const POOL_WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl PgDb {
    /// Builds the pool and checks that the server answers.
    pub async fn connect(url: &str) -> StoreResult<PgDb> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| StoreError::Unavailable(e.to_string()))?;
        // A server that does not answer (down, restarting, unreachable) costs a request
        // a few seconds and a 503, never a hang.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let size = (std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            * 4)
        .max(8)
            + SHARED_READERS;
        let pool = Pool::builder(manager)
            .max_size(size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            // Waiting for a free connection is bounded too: a pool whose connections are
            // all stuck answers 503 instead of queueing requests forever.
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let db = PgDb {
            pool,
            url: url.to_string(),
            waits: WaitMeter::default(),
            shared: SharedReaders::new(),
        };
        let _probe = db.client().await?;
        Ok(db)
    }

    /// Small reads (point lookups, small pages) pipelined on a shared connection (see
    /// `pg_shared`); each statement is its own implicit transaction, as on a pooled one.
    pub(crate) async fn query_shared(
        &self,
        statements: Vec<Statement>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        let client = match self.shared.next() {
            (_, Some(live)) => live,
            (slot, None) => {
                let client = self.client().await?;
                prefer_generic_plans(&client).await;
                self.shared.fill(slot, client)
            }
        };
        let futures = statements
            .iter()
            .map(|(sql, params)| client_query(&client, sql, params));
        futures_util::future::try_join_all(futures).await
    }

    /// The connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn client(&self) -> StoreResult<Object> {
        self.waits
            .wait_for(self.pool.get())
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// The pool's use now.
    pub(crate) fn pool_stats(&self) -> PoolStats {
        let status = self.pool.status();
        let in_use = status.size.saturating_sub(status.available);
        self.waits.stats(
            "postgres",
            status.max_size,
            Some(in_use),
            Some(status.waiting),
        )
    }

    /// Closes the pool.
    fn close_pool(&self) {
        self.shared.clear();
        self.pool.close();
    }
}

impl PgDb {
    /// A `REPEATABLE READ READ ONLY` transaction on a connection of its own (outside the
    /// pool, which keeps serving requests): every read sees the moment it began, and
    /// writers are never blocked by it.
    pub(crate) async fn snapshot(&self) -> StoreResult<PgSnapshot> {
        let (client, conn) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .map_err(map_err)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "snapshot connection ended");
            }
        });
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(map_err)?;
        Ok(PgSnapshot {
            client: std::sync::Arc::new(client),
        })
    }
}

/// See [`PgDb::snapshot`]; the connection closes (ending the transaction) when the last
/// handle and stream are dropped.
pub(crate) struct PgSnapshot {
    client: std::sync::Arc<tokio_postgres::Client>,
}

impl PgSnapshot {
    /// Streams the rows of `sql` in batches of at most `batch` rows.
    pub(crate) fn stream(
        &self,
        sql: &str,
        params: Vec<Val>,
        batch: usize,
        out: flume::Sender<StoreResult<Vec<Row>>>,
    ) {
        let client = self.client.clone();
        let sql = sql.to_string();
        tokio::spawn(async move {
            if let Err(e) = stream_rows(&client, &sql, &params, batch, &out).await {
                let _ = out.send_async(Err(e)).await;
            }
        });
    }
}

/// Has a shared reader's connection plan each prepared statement once, for any values.
///
/// The shared readers run lookups by key and small pages, whose best plan does not depend
/// on the values bound. PostgreSQL still plans each of the first five executions anew, and
/// keeps doing so for good when its generic estimate looks worse, as it does on a server
/// with one or two instances (`instance_id = $1` then seems to match half the table): on
/// the 3-user page that was ~80 µs of planning a statement on every request. Measured with
/// `bench/bench.py users` (wrk -t1 -c16): 14.1k -> 16.6k req/s. PostgreSQL before 12 has
/// no such setting; there the connection plans as before.
async fn prefer_generic_plans(client: &Object) {
    if let Err(e) = client
        .batch_execute("SET plan_cache_mode = force_generic_plan")
        .await
    {
        tracing::debug!(error = %e, "shared reader keeps PostgreSQL's default plan caching");
    }
}

async fn stream_rows(
    client: &tokio_postgres::Client,
    sql: &str,
    params: &[Val],
    batch: usize,
    out: &flume::Sender<StoreResult<Vec<Row>>>,
) -> StoreResult<()> {
    use futures_util::StreamExt;
    let stmt = client.prepare(sql).await.map_err(map_err)?;
    let rows = client
        .query_raw(&stmt, params.iter().map(|p| p as &(dyn ToSql + Sync)))
        .await
        .map_err(map_err)?;
    let mut rows = std::pin::pin!(rows);
    let mut chunk = Vec::with_capacity(batch);
    while let Some(row) = rows.next().await {
        chunk.push(convert_row(&row.map_err(map_err)?)?);
        if chunk.len() >= batch
            && out
                .send_async(Ok(std::mem::take(&mut chunk)))
                .await
                .is_err()
        {
            return Ok(());
        }
    }
    if !chunk.is_empty() {
        let _ = out.send_async(Ok(chunk)).await;
    }
    Ok(())
}

impl Executor for PgDb {
    type Tx = PgTx;

    /// A read outside a transaction.
    async fn query(&self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        let client = self.client().await?;
        client_query(&client, sql, &params).await
    }

    /// Several reads pipelined on one pooled client.
    async fn query_many(&self, queries: Vec<Statement>) -> StoreResult<Vec<Vec<Row>>> {
        let client = self.client().await?;
        let futures = queries
            .iter()
            .map(|(sql, params)| client_query(&client, sql, params));
        futures_util::future::try_join_all(futures).await
    }

    /// Several reads in one read-only transaction with a statement timeout, pipelined:
    /// BEGIN, the timeout, the statements and COMMIT go out together, one round trip.
    async fn query_many_with_timeout(
        &self,
        statements: Vec<Statement>,
        timeout: std::time::Duration,
    ) -> StoreResult<Vec<Vec<Row>>> {
        let held = InTransaction(Some(self.client().await?));
        let client = held.client()?;
        let ms = timeout.as_millis().max(1);
        let open = format!("BEGIN READ ONLY; SET LOCAL statement_timeout = {ms}");
        let framed = framed_pipeline(client, Some(&open), &statements, Some("COMMIT")).await;
        // COMMIT ran (after a failed statement it ends the aborted transaction as a
        // rollback), so the client is idle again; otherwise `held` drops it from the pool.
        if framed.closed.is_ok() {
            held.release();
        }
        framed.rows
    }

    /// A transaction on a pooled client; its BEGIN is sent with its first statement.
    async fn begin(&self) -> StoreResult<PgTx> {
        let client = self.client().await?;
        Ok(PgTx {
            client: Some(client),
            begun: false,
        })
    }

    /// Closes the pool.
    async fn close(&self) {
        self.close_pool();
    }
}

/// A pooled client while a transaction is open on it. Dropped before
/// [`InTransaction::release`] (a request cancelled mid-read, or an error before the
/// transaction ended), the connection leaves the pool instead of handing its open
/// transaction to the next request.
struct InTransaction(Option<Object>);

impl InTransaction {
    fn client(&self) -> StoreResult<&Object> {
        self.0
            .as_ref()
            .ok_or_else(|| StoreError::Internal("transaction already finished".into()))
    }

    /// The transaction has ended: the client goes back to the pool.
    fn release(mut self) {
        self.0.take();
    }
}

impl Drop for InTransaction {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            let _ = Object::take(client);
        }
    }
}

/// A transaction on one pooled PostgreSQL client.
pub(crate) struct PgTx {
    client: Option<Object>,
    /// BEGIN was sent (it goes out pipelined with the first statement).
    begun: bool,
}

/// Sends `statements` pipelined on `client`, preceded by BEGIN when `begin` and followed
/// by COMMIT when `commit`, so a whole short transaction is one round trip. Returns the
/// rows in order or the first error; with `commit`, a failed statement has aborted the
/// transaction and the COMMIT then ends it as a rollback.
async fn pipeline(
    client: &Object,
    begin: bool,
    statements: &[Statement],
    commit: bool,
) -> StoreResult<Vec<Vec<Row>>> {
    let framed = framed_pipeline(
        client,
        begin.then_some("BEGIN"),
        statements,
        commit.then_some("COMMIT"),
    )
    .await;
    let rows = framed.rows?;
    framed.closed?;
    Ok(rows)
}

/// What a [`framed_pipeline`] returned: the statements' rows (or the first error of the
/// opening or a statement), and how the closing went.
struct Framed {
    rows: StoreResult<Vec<Vec<Row>>>,
    closed: StoreResult<()>,
}

/// Sends `open` (simple-query SQL), `statements` and `close` pipelined on `client`.
async fn framed_pipeline(
    client: &Object,
    open: Option<&str>,
    statements: &[Statement],
    close: Option<&str>,
) -> Framed {
    // The opening goes out first (it is polled first), whatever happens to the
    // statements, so the caller's transaction state is known. The statements are prepared
    // (cached after the first use) before any is executed, then they and the closing are
    // sent in order as first polled: with cached statements the whole exchange is one
    // round trip.
    let opening = async {
        match open {
            Some(sql) => client.batch_execute(sql).await,
            None => Ok(()),
        }
    };
    let params: Vec<_> = statements.iter().map(|(_, p)| refs(p)).collect();
    let run = async {
        let prepared = futures_util::future::try_join_all(
            statements.iter().map(|(sql, _)| client.prepare_cached(sql)),
        )
        .await?;
        let queries = prepared
            .iter()
            .zip(&params)
            .map(|(stmt, p)| client.query(stmt, p));
        let closing = async {
            match close {
                Some(sql) => client.batch_execute(sql).await,
                None => Ok(()),
            }
        };
        Ok::<_, tokio_postgres::Error>(
            futures_util::future::join(futures_util::future::join_all(queries), closing).await,
        )
    };
    let (opened, ran) = futures_util::future::join(opening, run).await;
    let (results, closed) = match (opened, ran) {
        (Err(e), _) | (Ok(()), Err(e)) => {
            return Framed {
                rows: Err(map_err(e)),
                closed: Err(StoreError::Internal("pipeline did not close".into())),
            };
        }
        (Ok(()), Ok(ran)) => ran,
    };
    let rows = results
        .into_iter()
        .map(|rows| {
            rows.map_err(map_err)?
                .iter()
                .map(convert_row)
                .collect::<StoreResult<Vec<_>>>()
        })
        .collect();
    Framed {
        rows,
        closed: closed.map_err(map_err),
    }
}

impl PgTx {
    fn client(&self) -> StoreResult<&Object> {
        self.client
            .as_ref()
            .ok_or_else(|| StoreError::Internal("transaction already finished".into()))
    }
    /// Statements of the transaction, with its BEGIN the first time.
    async fn run(&mut self, statements: &[Statement]) -> StoreResult<Vec<Vec<Row>>> {
        let begin = !self.begun;
        self.begun = true;
        pipeline(self.client()?, begin, statements, false).await
    }
}

impl TxExecutor for PgTx {
    /// Statement with rows.
    async fn query(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        let mut rows = self.run(&[(sql.to_string(), params)]).await?;
        Ok(rows.pop().unwrap_or_default())
    }
    /// Several statements pipelined on the transaction's client; their results in order,
    /// or the first statement's error (later ones then fail as the transaction aborted).
    async fn query_many(&mut self, statements: Vec<Statement>) -> StoreResult<Vec<Vec<Row>>> {
        self.run(&statements).await
    }
    /// The last statements and COMMIT, pipelined (with BEGIN if nothing ran before).
    /// A transaction that is one statement alone runs as that statement, without BEGIN
    /// and COMMIT: PostgreSQL commits a lone statement atomically (and durably, before it
    /// answers) by itself, and the two extra commands cost server work (object creates
    /// at c=16 ran 10-15 % faster without them).
    async fn query_many_and_commit(
        mut self,
        statements: Vec<Statement>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        let alone = !self.begun && statements.len() == 1;
        let (begin, commit) = (!self.begun && !alone, !alone);
        let client = self
            .client
            .take()
            .ok_or_else(|| StoreError::Internal("no client".into()))?;
        // Held so that a request cancelled mid-pipeline detaches the client.
        let held = InTransaction(Some(client));
        let result = pipeline(held.client()?, begin, &statements, commit).await;
        // After an unknown failure whether the transaction ended is unknown: the client
        // stays out of the pool (dropping `held` detaches it).
        if !matches!(
            result,
            Err(StoreError::Unavailable(_) | StoreError::Internal(_))
        ) {
            held.release();
        }
        result
    }
    /// Statement without rows.
    async fn exec(&mut self, sql: &str, params: Vec<Val>) -> StoreResult<u64> {
        if !self.begun {
            self.begun = true;
            let client = self.client()?;
            let (opened, n) = futures_util::future::join(
                client.batch_execute("BEGIN"),
                client_exec(client, sql, &params),
            )
            .await;
            opened.map_err(map_err)?;
            return n;
        }
        client_exec(self.client()?, sql, &params).await
    }
    /// Several parameterless statements.
    async fn batch(&mut self, sql: &str) -> StoreResult<()> {
        let sql = match self.begun {
            true => sql.to_string(),
            false => format!("BEGIN; {sql}"),
        };
        self.begun = true;
        self.client()?.batch_execute(&sql).await.map_err(map_err)
    }
    /// COMMIT (nothing to do when no statement ran).
    async fn commit(mut self) -> StoreResult<()> {
        let client = self
            .client
            .take()
            .ok_or_else(|| StoreError::Internal("no client".into()))?;
        if !self.begun {
            return Ok(());
        }
        // Held so that a request cancelled during COMMIT detaches the client.
        let held = InTransaction(Some(client));
        held.client()?
            .batch_execute("COMMIT")
            .await
            .map_err(map_err)?;
        held.release();
        Ok(())
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && self.begun
        {
            // Roll back before the client goes back to the pool; without a runtime the
            // client is detached from the pool instead of being reused mid-transaction.
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(async move {
                        if client.batch_execute("ROLLBACK").await.is_err() {
                            let _ = Object::take(client);
                        }
                    });
                }
                Err(_) => {
                    let _ = Object::take(client);
                }
            }
        }
    }
}
