//! The one interface both executors implement, so the same operation has the same name
//! on SQLite and PostgreSQL: [`Executor`] for reads and starting transactions,
//! [`TxExecutor`] for a write transaction.

use super::{Row, StoreResult, Val};
use std::time::Duration;

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
