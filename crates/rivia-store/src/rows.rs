//! The two statement shapes most areas repeat: a keyset page of one instance's rows, and
//! one `… RETURNING` write in its own transaction. Callers pass their SQL (built from
//! constants) and the function that reads their row type.

use crate::db::{Row, StoreResult, Val};
use crate::{Store, finish_keyset, params, push_keyset};
use rivia_core::page::Keyset;

impl Store {
    /// One page of `select` (a `SELECT … WHERE` whose `$1` is the instance), keyed and
    /// ordered by the integer column `key`.
    pub(crate) async fn list_page<T>(
        &self,
        select: String,
        key: &str,
        instance_id: i64,
        keyset: &Keyset,
        from: fn(Row) -> T,
    ) -> StoreResult<Vec<T>> {
        let mut sql = select;
        let mut p = params![instance_id];
        push_keyset(&mut sql, &mut p, key, keyset);
        let rows = self.db.query(&sql, p).await?;
        Ok(finish_keyset(rows.into_iter().map(from).collect(), keyset))
    }

    /// Runs one write that returns the row it wrote (`None`: it matched no row) in its
    /// own transaction.
    pub(crate) async fn write_returning<T>(
        &self,
        sql: &str,
        params: Vec<Val>,
        from: fn(Row) -> T,
    ) -> StoreResult<Option<T>> {
        let mut tx = self.db.begin().await?;
        let row = tx.query_opt(sql, params).await?;
        tx.commit().await?;
        Ok(row.map(from))
    }
}
