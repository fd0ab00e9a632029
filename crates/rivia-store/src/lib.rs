//! Rivia's storage seam. [`Store`] is the only way the server reaches a database; every
//! operation is one method, and every method that writes is one transaction. The same
//! code runs on SQLite and PostgreSQL through [`db::Db`]; the few dialect differences
//! (DDL, JSON expressions) branch on [`db::Dialect`].

pub mod db;
pub mod migrate;
mod pg;
mod sqlite;

pub mod admins;
pub mod api_keys;
pub mod bus;
pub mod channels;
pub mod classes;
pub mod instances;
pub mod invitations;
pub mod objects;
pub mod sql;
pub mod users;

pub use db::{Db, Dialect, Row, StoreError, StoreResult, Tx, Val};
use rivia_core::page::Keyset;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The storage handle shared by the whole server.
#[derive(Clone)]
pub struct Store {
    /// The database.
    pub db: Db,
    /// Bumped after every committed change to what authentication reads (instances, admins,
    /// roles, API keys, users), to classes and to channels (also when another node's
    /// channel deletion is notified), so caches of those lookups can tell a
    /// stale entry: an entry remembers the generation read before its database lookup.
    auth_generation: Arc<AtomicU64>,
    /// Wakes channel pollers on this node when changes commit.
    pub bus: bus::ChangeBus,
    /// Recent PostgreSQL planner estimates of large counts (see [`objects::EstimateCache`]).
    estimates: Arc<objects::EstimateCache>,
}

impl Store {
    /// Wraps an opened database.
    pub fn new(db: Db) -> Self {
        Store {
            db,
            auth_generation: Arc::new(AtomicU64::new(0)),
            bus: bus::ChangeBus::default(),
            estimates: Arc::default(),
        }
    }

    /// The current generation of authentication data (see [`Store`]).
    pub fn auth_generation(&self) -> u64 {
        self.auth_generation.load(Ordering::Acquire)
    }

    /// Records a committed change to authentication data.
    pub fn auth_changed(&self) {
        self.auth_generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// Appends a keyset condition and `ORDER BY … LIMIT` on the integer column `col` to `sql`,
/// binding the boundary after the existing `params`.
pub fn push_keyset(sql: &mut String, params: &mut Vec<Val>, col: &str, keyset: &Keyset) {
    push_keyset_by(sql, params, col, col, keyset)
}

/// [`push_keyset`] ordering by `order` (the same column, possibly written so that the
/// planner cannot walk its index: SQLite takes `+id` as "sort, don't scan by id").
pub fn push_keyset_by(
    sql: &mut String,
    params: &mut Vec<Val>,
    col: &str,
    order: &str,
    keyset: &Keyset,
) {
    if let Some((greater, pk)) = keyset.bound {
        params.push(Val::Int(pk));
        let op = if greater { ">" } else { "<" };
        sql.push_str(&format!(" AND {col} {op} ${}", params.len()));
    }
    let dir = if keyset.sql_descending { "DESC" } else { "ASC" };
    // The limit is a validated integer written into the SQL text: SQLite re-prepares a
    // statement on every execution when its LIMIT is a bound parameter.
    sql.push_str(&format!(
        " ORDER BY {order} {dir} LIMIT {}",
        keyset.limit.max(0)
    ));
}

/// Reverses rows fetched backwards so the page reads in its normal order.
pub fn finish_keyset<T>(mut rows: Vec<T>, keyset: &Keyset) -> Vec<T> {
    if keyset.reverse_after {
        rows.reverse();
    }
    rows
}

/// `$n, $n+1, …` placeholders for a list of values appended to `params`.
pub fn push_in_list(params: &mut Vec<Val>, values: impl IntoIterator<Item = Val>) -> String {
    let mut out = Vec::new();
    for v in values {
        params.push(v);
        out.push(format!("${}", params.len()));
    }
    if out.is_empty() {
        "NULL".to_string()
    } else {
        out.join(", ")
    }
}

/// `cols` ("a, b") with every column prefixed by `alias` ("u.a, u.b"), for joins; built
/// once per constant (`LazyLock`), not per request.
pub(crate) fn qualify(cols: &str, alias: &str) -> String {
    cols.split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Allocates the next per-instance id of kind `$2` in instance `$1`, returning it.
pub(crate) const NEXT_ID_SQL: &str = "INSERT INTO instance_counters (instance_id, kind, value) VALUES ($1, $2, 1) \
     ON CONFLICT (instance_id, kind) DO UPDATE SET value = instance_counters.value + 1 \
     RETURNING value";

/// The next per-instance id of `kind` (users, groups, objects, changes): ids are small
/// integers counted per instance, as Syncano's per-tenant schemas gave them.
pub async fn next_instance_id(tx: &mut Tx, instance_id: i64, kind: &str) -> StoreResult<i64> {
    let row = tx
        .query_one(NEXT_ID_SQL, params![instance_id, kind])
        .await?;
    Ok(row.i64(0))
}
