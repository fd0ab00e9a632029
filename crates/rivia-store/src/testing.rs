//! Hooks for tests, compiled only with the `testing` feature (the store's own test binary
//! and the server's tests enable it; the `rivia` binary never does). [`RawSql`] lets the
//! store's tests run statements the store has no operation for (slow or failing reads,
//! catalog peeks, an older release's state); the named peeks on [`Store`] serve the
//! server's tests, which hold no SQL.

mod database;

pub use database::{TempDir, TestDatabase};

use crate::db::Db;
pub use crate::db::{Row, Val};
use crate::{Dialect, Store, StoreResult, params, table_name};
use std::time::Duration;

/// Raw access to a store's database (tests only).
pub struct RawSql<'a>(&'a Db);

impl RawSql<'_> {
    /// A read-only statement outside any transaction.
    pub async fn query(&self, sql: &str, params: Vec<Val>) -> StoreResult<Vec<Row>> {
        self.0.query(sql, params).await
    }

    /// Several read-only statements in one round trip.
    pub async fn query_many(
        &self,
        statements: Vec<(String, Vec<Val>)>,
    ) -> StoreResult<Vec<Vec<Row>>> {
        self.0.query_many(statements).await
    }

    /// Several read-only statements in one read transaction under a deadline.
    pub async fn query_many_with_timeout(
        &self,
        statements: Vec<(String, Vec<Val>)>,
        timeout: Duration,
    ) -> StoreResult<Vec<Vec<Row>>> {
        self.0.query_many_with_timeout(statements, timeout).await
    }

    /// Runs statements (with parameters) in one committed write transaction.
    pub async fn write(&self, statements: Vec<(String, Vec<Val>)>) -> StoreResult<()> {
        let mut tx = self.0.begin().await?;
        for (sql, params) in statements {
            tx.exec(&sql, params).await?;
        }
        tx.commit().await
    }

    /// Runs parameterless statements (DDL, a migration's text) in one committed write
    /// transaction.
    pub async fn batch(&self, sql: &str) -> StoreResult<()> {
        let mut tx = self.0.begin().await?;
        tx.batch(sql).await?;
        tx.commit().await
    }
}

/// The name of the unique or expression index of a schema field.
pub fn field_index_name(class_id: i64, key: &str) -> String {
    crate::sql::index_name(class_id, key)
}

/// The expression reading a schema field, as filters and the index DDL write it.
pub fn field_expr(dialect: Dialect, key: &str) -> String {
    crate::sql::field_expr(dialect, "", key)
}

/// The object table of a class.
pub fn object_table(class_id: i64) -> String {
    table_name(class_id)
}

impl Store {
    /// Raw SQL on this store's database (tests only).
    pub fn raw(&self) -> RawSql<'_> {
        RawSql(&self.db)
    }

    /// The names of the schema-field indexes of a class's table, sorted.
    pub async fn field_index_names(&self, class_id: i64) -> StoreResult<Vec<String>> {
        let sql = match self.db.dialect() {
            Dialect::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND name LIKE '%\\_x%' ESCAPE '\\' ORDER BY name"
            }
            Dialect::Postgres => {
                "SELECT indexname FROM pg_indexes WHERE tablename = $1 AND indexname LIKE '%\\_x%' ORDER BY indexname"
            }
        };
        Ok(self
            .db
            .query(sql, params![table_name(class_id)])
            .await?
            .iter()
            .map(|r| r.str(0).to_string())
            .collect())
    }

    /// Moves a change's creation time (to make it older than the retention window).
    pub async fn backdate_change(
        &self,
        channel_id: i64,
        change_id: i64,
        created_at: i64,
    ) -> StoreResult<()> {
        self.raw()
            .write(vec![(
                "UPDATE changes SET created_at = $1 WHERE channel_id = $2 AND id = $3".into(),
                params![created_at, channel_id, change_id],
            )])
            .await
    }
}
