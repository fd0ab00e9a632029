//! Data objects: rows of the per-class tables.

use crate::classes::table_name;
use crate::db::{Row, StoreResult, Tx};
use crate::{NEXT_ID_SQL, params};
use rivia_core::time::now_micros;

/// A stored data object. `data` holds the schema fields as JSON text, keyed by field name.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRow {
    /// Id, unique per instance across classes.
    pub id: i64,
    /// Created, µs.
    pub created_at: i64,
    /// Updated, µs.
    pub updated_at: i64,
    /// Revision.
    pub revision: i64,
    /// Owning user id.
    pub owner: Option<i64>,
    /// `ObjectPerm` as integer.
    pub owner_permissions: i64,
    /// Group id.
    pub group_id: Option<i64>,
    /// `ObjectPerm` as integer.
    pub group_permissions: i64,
    /// `ObjectPerm` as integer.
    pub other_permissions: i64,
    /// Channel name.
    pub channel: Option<String>,
    /// Channel room.
    pub channel_room: Option<String>,
    /// Schema field values, JSON object text.
    pub data: String,
}

/// Column list matching [`object_from`].
pub const OBJECT_COLUMNS: &str = "id, created_at, updated_at, revision, owner, owner_permissions, group_id, group_permissions, other_permissions, channel, channel_room, data";

/// Builds an [`ObjectRow`] from a row selected with [`OBJECT_COLUMNS`].
pub fn object_from(mut r: Row) -> ObjectRow {
    ObjectRow {
        id: r.i64(0),
        created_at: r.i64(1),
        updated_at: r.i64(2),
        revision: r.i64(3),
        owner: r.opt_i64(4),
        owner_permissions: r.i64(5),
        group_id: r.opt_i64(6),
        group_permissions: r.i64(7),
        other_permissions: r.i64(8),
        channel: r.take_opt_string(9),
        channel_room: r.take_opt_string(10),
        data: r.take_string(11),
    }
}

/// Values of a new object (or the full new state of an updated one).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectValues {
    /// Owning user id.
    pub owner: Option<i64>,
    /// `ObjectPerm` as integer.
    pub owner_permissions: i64,
    /// Group id.
    pub group_id: Option<i64>,
    /// `ObjectPerm` as integer.
    pub group_permissions: i64,
    /// `ObjectPerm` as integer.
    pub other_permissions: i64,
    /// Channel name.
    pub channel: Option<String>,
    /// Channel room.
    pub channel_room: Option<String>,
    /// Schema field values, JSON object text.
    pub data: String,
}

impl ObjectValues {
    /// The values of an existing row.
    pub fn of(row: &ObjectRow) -> Self {
        ObjectValues {
            owner: row.owner,
            owner_permissions: row.owner_permissions,
            group_id: row.group_id,
            group_permissions: row.group_permissions,
            other_permissions: row.other_permissions,
            channel: row.channel.clone(),
            channel_room: row.channel_room.clone(),
            data: row.data.clone(),
        }
    }
}

/// The PostgreSQL sequence handing out an instance's object ids; the name comes from the
/// integer id only.
pub fn object_id_sequence(instance_id: i64) -> String {
    format!("rivia_objects_{instance_id}")
}

/// DDL creating an instance's object id sequence (PostgreSQL; run with the instance's
/// creation). No `CACHE`: each id is the next one, so ids grow in allocation order across
/// connections.
pub fn create_id_sequence_ddl(instance_id: i64) -> String {
    format!("CREATE SEQUENCE {}", object_id_sequence(instance_id))
}

/// DDL dropping an instance's object id sequence (PostgreSQL).
pub fn drop_id_sequence_ddl(instance_id: i64) -> String {
    format!(
        "DROP SEQUENCE IF EXISTS {}",
        object_id_sequence(instance_id)
    )
}

/// A new object's values bound in order: created (and updated) time, owner, permissions,
/// group, channel, room, data.
fn new_object_params(v: &ObjectValues) -> Vec<crate::Val> {
    params![
        now_micros(),
        v.owner,
        v.owner_permissions,
        v.group_id,
        v.group_permissions,
        v.other_permissions,
        v.channel.clone(),
        v.channel_room.clone(),
        crate::Val::Json(v.data.clone())
    ]
}

/// The statements inserting an object, run as one round trip, and which of them returns
/// the inserted row.
///
/// SQLite (one writer, so no contention): the id from the instance's counter, the insert
/// reading the id that statement just allocated in the same transaction, and the class's
/// `objects_count` kept exact. PostgreSQL: the insert alone, its id from the instance's
/// sequence. Both rows the SQLite way would stay locked until COMMIT and serialise every
/// concurrent create of an instance behind the one committing; a sequence takes no row lock,
/// and the count is computed when a class is read (`rivia_objects_count`).
fn insert_statements(
    dialect: crate::Dialect,
    instance_id: i64,
    class_id: i64,
    v: &ObjectValues,
) -> (Vec<(String, Vec<crate::Val>)>, usize) {
    let table = table_name(class_id);
    match dialect {
        crate::Dialect::Postgres => {
            let insert = format!(
                "INSERT INTO {table} ({OBJECT_COLUMNS}) \
                 VALUES (nextval('{}'), $1, $1, 1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {OBJECT_COLUMNS}",
                object_id_sequence(instance_id)
            );
            (vec![(insert, new_object_params(v))], 0)
        }
        crate::Dialect::Sqlite => {
            let insert = format!(
                "INSERT INTO {table} ({OBJECT_COLUMNS}) \
                 VALUES ((SELECT value FROM instance_counters WHERE instance_id = $1 AND kind = 'objects'), \
                 $2, $2, 1, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {OBJECT_COLUMNS}"
            );
            let statements = vec![
                (NEXT_ID_SQL.to_string(), params![instance_id, "objects"]),
                (
                    insert,
                    [vec![crate::Val::Int(instance_id)], new_object_params(v)].concat(),
                ),
                (
                    "UPDATE classes SET objects_count = objects_count + 1 WHERE id = $1"
                        .to_string(),
                    params![class_id],
                ),
            ];
            (statements, 1)
        }
    }
}

/// The row of the statement at `at` that inserted an object.
fn inserted_row(results: Vec<Vec<Row>>, at: usize) -> StoreResult<ObjectRow> {
    results
        .into_iter()
        .nth(at)
        .and_then(|rows| rows.into_iter().next())
        .map(object_from)
        .ok_or_else(|| crate::StoreError::Internal("object insert returned no row".into()))
}

/// Inserts an object into a class table, inside `tx`, with a new id of the instance.
pub async fn insert_object(
    tx: &mut Tx,
    instance_id: i64,
    class_id: i64,
    v: &ObjectValues,
) -> StoreResult<ObjectRow> {
    let (statements, at) = insert_statements(tx.dialect(), instance_id, class_id, v);
    inserted_row(tx.query_many(statements).await?, at)
}

/// [`insert_object`] as the last write of `tx`, committed in the same round trip (the
/// common create: no change event to append after the insert).
pub async fn insert_object_and_commit(
    tx: Tx,
    instance_id: i64,
    class_id: i64,
    v: &ObjectValues,
) -> StoreResult<ObjectRow> {
    let (statements, at) = insert_statements(tx.dialect(), instance_id, class_id, v);
    inserted_row(tx.query_many_and_commit(statements).await?, at)
}

/// Writes the full new state of an object, bumping the revision when `bump` is set.
pub async fn update_object(
    tx: &mut Tx,
    class_id: i64,
    id: i64,
    v: &ObjectValues,
    bump: bool,
) -> StoreResult<Option<ObjectRow>> {
    let sql = format!(
        "UPDATE {} SET updated_at = $2, revision = revision + $3, owner = $4, owner_permissions = $5, group_id = $6, \
         group_permissions = $7, other_permissions = $8, data = $9 WHERE id = $1 RETURNING {OBJECT_COLUMNS}",
        table_name(class_id)
    );
    let row = tx
        .query_opt(
            &sql,
            params![
                id,
                now_micros(),
                bump as i64,
                v.owner,
                v.owner_permissions,
                v.group_id,
                v.group_permissions,
                v.other_permissions,
                crate::Val::Json(v.data.clone())
            ],
        )
        .await?;
    Ok(row.map(object_from))
}

/// Deletes an object, inside `tx`; false when it did not exist.
pub async fn delete_object(tx: &mut Tx, class_id: i64, id: i64) -> StoreResult<bool> {
    let n = tx
        .exec(
            &format!("DELETE FROM {} WHERE id = $1", table_name(class_id)),
            params![id],
        )
        .await?;
    // Only SQLite keeps the count on the class row (see `insert_statements`).
    if n > 0 && tx.dialect() == crate::Dialect::Sqlite {
        tx.exec(
            "UPDATE classes SET objects_count = objects_count - 1 WHERE id = $1",
            params![class_id],
        )
        .await?;
    }
    Ok(n > 0)
}

/// Reads one object inside `tx`.
pub async fn get_object_tx(tx: &mut Tx, class_id: i64, id: i64) -> StoreResult<Option<ObjectRow>> {
    let sql = format!(
        "SELECT {OBJECT_COLUMNS} FROM {} WHERE id = $1",
        table_name(class_id)
    );
    Ok(tx.query_opt(&sql, params![id]).await?.map(object_from))
}

impl crate::Store {
    /// Reads one object.
    pub async fn get_object(&self, class_id: i64, id: i64) -> StoreResult<Option<ObjectRow>> {
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM {} WHERE id = $1",
            table_name(class_id)
        );
        Ok(self.db.query_opt(&sql, params![id]).await?.map(object_from))
    }

    /// Reads several objects by id (one query).
    pub async fn get_objects(&self, class_id: i64, ids: &[i64]) -> StoreResult<Vec<ObjectRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = Vec::new();
        let list = crate::push_in_list(&mut p, ids.iter().map(|i| crate::Val::Int(*i)));
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM {} WHERE id IN ({list})",
            table_name(class_id)
        );
        Ok(self
            .db
            .query(&sql, p)
            .await?
            .into_iter()
            .map(object_from)
            .collect())
    }
}

/// Which objects a caller may see (spec-core §9.9), compiled into every read's `WHERE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Admins and `ignore_acl` keys.
    All,
    /// `allow_anonymous_read` keys without a user: `other_permissions ≥ read`.
    Others,
    /// A user with the ids of their groups.
    User {
        /// User id.
        id: i64,
        /// Group ids.
        groups: Vec<i64>,
    },
}

/// Appends the visibility condition (nothing for [`Visibility::All`]).
pub fn push_visibility(sql: &mut String, p: &mut Vec<crate::Val>, v: &Visibility) {
    match v {
        Visibility::All => {}
        Visibility::Others => sql.push_str(" AND other_permissions >= 1"),
        Visibility::User { id, groups } => {
            p.push(crate::Val::Int(*id));
            let u = p.len();
            let group_cond = if groups.is_empty() {
                String::new()
            } else {
                let list = crate::push_in_list(p, groups.iter().map(|g| crate::Val::Int(*g)));
                format!(" OR (group_id IN ({list}) AND group_permissions >= 1)")
            };
            sql.push_str(&format!(
                " AND ((owner = ${u} AND owner_permissions >= 1) OR other_permissions >= 1{group_cond})"
            ));
        }
    }
}

/// The column (or schema field) a list is ordered by.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderField {
    /// Primary key only.
    Id,
    /// `created_at` or `updated_at`.
    Column(&'static str),
    /// A schema field by storage key.
    Schema(String),
}

/// One page request on a class table.
#[derive(Debug, Clone)]
pub struct ObjectListQuery<'a> {
    /// Instance (for nested user queries).
    pub instance_id: i64,
    /// Class table.
    pub class_id: i64,
    /// Filters.
    pub query: &'a rivia_core::query::Query,
    /// Caller visibility.
    pub visibility: &'a Visibility,
    /// Order field; the pk breaks ties in the same direction.
    pub order: OrderField,
    /// SQL-level direction, boundary and limit.
    pub keyset: rivia_core::page::Keyset,
    /// Order-field value of the boundary object (`None`: null, or plain pk cursors).
    pub boundary: Option<rivia_core::query::Scalar>,
    /// Also count all matching objects.
    pub count: bool,
    /// Statement timeout.
    pub timeout: std::time::Duration,
}

fn order_expr(dialect: crate::Dialect, order: &OrderField) -> (String, bool) {
    match order {
        OrderField::Id => ("id".into(), false),
        OrderField::Column(c) => ((*c).into(), false),
        OrderField::Schema(key) => (crate::sql::field_expr(dialect, "", key), true),
    }
}

/// Appends the ordered keyset condition, `ORDER BY` and `LIMIT`. Nulls act as the
/// greatest value, which gives Syncano's "nulls last ascending, first descending".
fn push_ordered_keyset(
    dialect: crate::Dialect,
    sql: &mut String,
    p: &mut Vec<crate::Val>,
    q: &ObjectListQuery,
    plan: IdOrderPlan,
) {
    let (x, json) = order_expr(dialect, &q.order);
    if q.order == OrderField::Id {
        let order = match plan {
            IdOrderPlan::ScanById => "id",
            IdOrderPlan::SearchThenSort => "+id",
        };
        crate::push_keyset_by(sql, p, "id", order, &q.keyset);
        return;
    }
    if let Some((greater, pk)) = q.keyset.bound {
        p.push(crate::Val::Int(pk));
        let pk = format!("${}", p.len());
        let cond = match (&q.boundary, greater) {
            (Some(v), true) => {
                let b = crate::sql::bind_order_value(dialect, json, p, v);
                format!("{x} > {b} OR ({x} = {b} AND id > {pk}) OR {x} IS NULL")
            }
            (Some(v), false) => {
                let b = crate::sql::bind_order_value(dialect, json, p, v);
                format!("{x} < {b} OR ({x} = {b} AND id < {pk})")
            }
            (None, true) => format!("{x} IS NULL AND id > {pk}"),
            (None, false) => format!("{x} IS NOT NULL OR id < {pk}"),
        };
        sql.push_str(&format!(" AND ({cond})"));
    }
    let dir = if q.keyset.sql_descending {
        "DESC NULLS FIRST"
    } else {
        "ASC NULLS LAST"
    };
    let id_dir = if q.keyset.sql_descending {
        "DESC"
    } else {
        "ASC"
    };
    // A literal, validated limit: SQLite re-prepares statements whose LIMIT is bound.
    sql.push_str(&format!(
        " ORDER BY {x} {dir}, id {id_dir} LIMIT {}",
        q.keyset.limit.max(0)
    ));
}

/// Counts are exact up to this many matches, then estimated (spec-core §9.8).
pub const EXACT_COUNT_LIMIT: i64 = 1000;
/// Objects sampled to estimate a larger count.
const COUNT_PROBES: i64 = 64;

/// How a page ordered by id is read on SQLite. Without statistics its planner always
/// walks the table in id order and tests each row's JSON, which costs a full scan when
/// the filter matches few rows; when an index finds at most [`EXACT_COUNT_LIMIT`] rows,
/// searching it and sorting them is cheaper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdOrderPlan {
    ScanById,
    SearchThenSort,
}

/// Whether a query has a top-level condition an expression index can answer.
fn uses_filter_index(q: &rivia_core::query::Query) -> bool {
    use rivia_core::query::{CmpOp, Cond, FieldRef};
    q.conds.iter().any(|c| match c {
        Cond::Cmp(FieldRef::Schema(f), op, _) => f.filter_index && *op != CmpOp::Neq,
        Cond::In(FieldRef::Schema(f), _, false) => f.filter_index,
        _ => false,
    })
}

/// Matches counted up to `EXACT_COUNT_LIMIT + 1`: cheap however many rows match.
fn capped_count_sql(table: &str, where_sql: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM {table}{where_sql} LIMIT {}) AS capped",
        EXACT_COUNT_LIMIT + 1
    )
}

/// Samples [`COUNT_PROBES`] objects spread evenly over the class's id range (the bounds are
/// two MIN/MAX subqueries: in one SELECT together they scan the whole table) and returns
/// (objects sampled, samples matching, the class's object count): the matching share of
/// the sample scales the class count into an estimate. Deterministic, so repeating a
/// request repeats its count.
fn count_estimate_sql(table: &str, cond: &str, class_param: usize) -> String {
    format!(
        "WITH RECURSIVE probe(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM probe WHERE n < {last}), \
         bounds AS (SELECT (SELECT MIN(id) FROM {table}) AS lo, (SELECT MAX(id) FROM {table}) AS hi) \
         SELECT COUNT(*), COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0), \
         (SELECT objects_count FROM classes WHERE id = ${class_param}) \
         FROM {table} WHERE id IN (SELECT (SELECT id FROM {table} \
         WHERE id >= bounds.lo + (bounds.hi - bounds.lo) * probe.n / {COUNT_PROBES} ORDER BY id LIMIT 1) \
         FROM probe, bounds)",
        last = COUNT_PROBES - 1
    )
}

/// The estimate from [`count_estimate_sql`]'s row; never below what was counted exactly.
fn estimate_from(row: Option<&Row>) -> i64 {
    let floor = EXACT_COUNT_LIMIT + 1;
    let Some(r) = row else { return floor };
    let (sampled, hits, total) = (r.i64(0), r.i64(1), r.opt_i64(2).unwrap_or(0));
    if sampled == 0 {
        return floor;
    }
    (total.saturating_mul(hits) / sampled).max(floor)
}

/// A list query compiled once for either backend's strategy.
struct ListSql {
    table: String,
    /// ` WHERE <filter> AND <visibility>`.
    where_sql: String,
    params: Vec<crate::Val>,
    started: std::time::Instant,
}

/// The page's objects in page order (none when no page was read).
fn page_rows(rows: Option<Vec<Row>>, q: &ObjectListQuery) -> Vec<ObjectRow> {
    let rows = rows
        .map(|rows| rows.into_iter().map(object_from).collect())
        .unwrap_or_default();
    crate::finish_keyset(rows, &q.keyset)
}

/// The statement reading the page of a list: its columns under the list's filter, in the
/// page's order and keyset.
fn page_statement(
    dialect: crate::Dialect,
    q: &ObjectListQuery,
    table: &str,
    where_sql: &str,
    mut params: Vec<crate::Val>,
    plan: IdOrderPlan,
) -> (String, Vec<crate::Val>) {
    let mut sql = format!("SELECT {OBJECT_COLUMNS} FROM {table}{where_sql}");
    push_ordered_keyset(dialect, &mut sql, &mut params, q, plan);
    (sql, params)
}

/// What is left of a statement timeout (at least a millisecond, so it still applies).
fn remaining(timeout: std::time::Duration, started: std::time::Instant) -> std::time::Duration {
    timeout
        .saturating_sub(started.elapsed())
        .max(std::time::Duration::from_millis(1))
}

/// How long a planner estimate of a count is reused. The planner's figure comes from
/// statistics that autovacuum refreshes in minutes; a second's reuse changes nothing a
/// client could rely on, and saves planning the `EXPLAIN` on every request (about 6% of
/// a filtered list + count at 10,000 objects).
const ESTIMATE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// Estimates kept at most; the cache starts over when full.
const ESTIMATES_MAX: usize = 1024;

/// PostgreSQL planner estimates of recent counts above [`EXACT_COUNT_LIMIT`], by query
/// (the `EXPLAIN` statement and its parameters, so the visibility filter is part of it).
#[derive(Default)]
pub struct EstimateCache(
    std::sync::Mutex<std::collections::HashMap<String, (i64, std::time::Instant)>>,
);

impl EstimateCache {
    fn entries(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (i64, std::time::Instant)>>
    {
        // A panic while holding the lock leaves a plain map behind: still usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The estimate stored for `key` less than [`ESTIMATE_TTL`] before `now`.
    fn get(&self, key: &str, now: std::time::Instant) -> Option<i64> {
        self.entries()
            .get(key)
            .filter(|(_, at)| now.saturating_duration_since(*at) < ESTIMATE_TTL)
            .map(|(rows, _)| *rows)
    }

    fn put(&self, key: String, rows: i64, now: std::time::Instant) {
        let mut entries = self.entries();
        if entries.len() >= ESTIMATES_MAX && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (rows, now));
    }
}

/// The cache key of an estimate: the statement and its parameters.
fn estimate_key(sql: &str, params: &[crate::Val]) -> String {
    format!("{sql}\u{0}{params:?}")
}

/// The row estimate of the top plan node in PostgreSQL's `EXPLAIN` text
/// (`Seq Scan on c2  (cost=0.00..284.00 rows=4950 width=4)`).
fn planner_rows(plan: &[Row]) -> Option<i64> {
    let top = plan.first()?.str(0);
    let digits = top.split("rows=").nth(1)?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

impl crate::Store {
    /// One page of a class's objects (and the total count when asked), with filters,
    /// visibility and ordering compiled into the SQL, under a statement timeout.
    ///
    /// At most two round trips: a capped count first when the count was asked for or an
    /// index could serve the filter (it also picks the SQLite plan), then the page and,
    /// above [`EXACT_COUNT_LIMIT`] matches, a sampled estimate of the count.
    pub async fn list_objects(
        &self,
        q: &ObjectListQuery<'_>,
    ) -> StoreResult<(Vec<ObjectRow>, Option<i64>)> {
        let started = std::time::Instant::now();
        let dialect = self.db.dialect();
        let table = table_name(q.class_id);
        let mut p = Vec::new();
        let scope = crate::sql::Scope {
            prefix: "",
            users: false,
            instance_id: q.instance_id,
        };
        let filter = crate::sql::compile(dialect, q.query, scope, &mut p);
        let mut where_sql = format!(" WHERE {filter}");
        push_visibility(&mut where_sql, &mut p, q.visibility);
        let list = ListSql {
            table,
            where_sql,
            params: p,
            started,
        };
        match dialect {
            crate::Dialect::Sqlite => self.list_objects_sqlite(q, list).await,
            crate::Dialect::Postgres => self.list_objects_pg(q, list).await,
        }
    }

    /// SQLite: a capped count first when the count was asked for or an index could serve
    /// the filter (it picks the plan), then the page and, above [`EXACT_COUNT_LIMIT`]
    /// matches, the sampled estimate. Two hops to a reader thread, in-process.
    async fn list_objects_sqlite(
        &self,
        q: &ObjectListQuery<'_>,
        list: ListSql,
    ) -> StoreResult<(Vec<ObjectRow>, Option<i64>)> {
        let ListSql {
            table,
            where_sql,
            params,
            started,
        } = list;
        let choose_plan =
            q.order == OrderField::Id && q.keyset.limit > 0 && uses_filter_index(q.query);
        let capped = if q.count || choose_plan {
            let rows = self
                .db
                .read_with_timeout(
                    vec![(capped_count_sql(&table, &where_sql), params.clone())],
                    q.timeout,
                )
                .await?;
            rows.first().and_then(|r| r.first()).map(|r| r.i64(0))
        } else {
            None
        };
        let few_matches = capped.is_some_and(|c| c <= EXACT_COUNT_LIMIT);
        let plan = if choose_plan && few_matches {
            IdOrderPlan::SearchThenSort
        } else {
            IdOrderPlan::ScanById
        };
        let estimate = q.count && !few_matches;
        let mut statements = Vec::new();
        if estimate {
            let mut ep = params.clone();
            ep.push(crate::Val::Int(q.class_id));
            let cond = where_sql.trim_start().trim_start_matches("WHERE ");
            statements.push((count_estimate_sql(&table, cond, ep.len()), ep));
        }
        if q.keyset.limit > 0 {
            statements.push(page_statement(
                crate::Dialect::Sqlite,
                q,
                &table,
                &where_sql,
                params,
                plan,
            ));
        }
        if statements.is_empty() {
            return Ok((Vec::new(), q.count.then_some(capped.unwrap_or(0))));
        }
        let mut results = self
            .db
            .read_with_timeout(statements, remaining(q.timeout, started))
            .await?
            .into_iter();
        let count = match (q.count, estimate) {
            (false, _) => None,
            (true, false) => capped,
            (true, true) => Some(estimate_from(
                results.next().as_ref().and_then(|r| r.first()),
            )),
        };
        Ok((page_rows(results.next(), q), count))
    }

    /// PostgreSQL: one pipelined round trip. Its planner has statistics, so the page
    /// needs no plan hint, and above [`EXACT_COUNT_LIMIT`] the count is the planner's
    /// row estimate (`EXPLAIN`), as Syncano's `count_estimate` did.
    async fn list_objects_pg(
        &self,
        q: &ObjectListQuery<'_>,
        list: ListSql,
    ) -> StoreResult<(Vec<ObjectRow>, Option<i64>)> {
        let ListSql {
            table,
            where_sql,
            params,
            started,
        } = list;
        let mut statements = Vec::new();
        // The estimate is only used above EXACT_COUNT_LIMIT, but asked for in the same
        // round trip as the capped count, unless a recent one for this query is at hand.
        let now = std::time::Instant::now();
        let mut key = None;
        let mut recent = None;
        if q.count {
            statements.push((capped_count_sql(&table, &where_sql), params.clone()));
            let explain = format!("EXPLAIN SELECT 1 FROM {table}{where_sql}");
            let k = estimate_key(&explain, &params);
            recent = self.estimates.get(&k, now);
            if recent.is_none() {
                statements.push((explain, params.clone()));
            }
            key = Some(k);
        }
        if q.keyset.limit > 0 {
            let plan = IdOrderPlan::ScanById;
            statements.push(page_statement(
                crate::Dialect::Postgres,
                q,
                &table,
                &where_sql,
                params,
                plan,
            ));
        }
        let mut results = self
            .db
            .read_with_timeout(statements, remaining(q.timeout, started))
            .await?
            .into_iter();
        let count = if q.count {
            let capped = results
                .next()
                .and_then(|rows| rows.first().map(|r| r.i64(0)))
                .unwrap_or(0);
            let planned = match recent {
                Some(rows) => Some(rows),
                None => {
                    let planned = results.next().and_then(|rows| planner_rows(&rows));
                    if let (Some(rows), Some(key)) = (planned, key) {
                        self.estimates.put(key, rows, now);
                    }
                    planned
                }
            };
            Some(if capped <= EXACT_COUNT_LIMIT {
                capped
            } else {
                planned.unwrap_or(0).max(EXACT_COUNT_LIMIT + 1)
            })
        } else {
            None
        };
        Ok((page_rows(results.next(), q), count))
    }

    /// One object if the caller may see it.
    pub async fn visible_object(
        &self,
        class_id: i64,
        id: i64,
        visibility: &Visibility,
    ) -> StoreResult<Option<ObjectRow>> {
        let mut sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM {} WHERE id = $1",
            table_name(class_id)
        );
        let mut p = params![id];
        push_visibility(&mut sql, &mut p, visibility);
        Ok(self.db.query_opt(&sql, p).await?.map(object_from))
    }
}

/// Where reference and relation ids point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefTarget {
    /// Objects of a class table.
    Class(i64),
    /// Users of the instance.
    Users,
}

/// Which of `ids` exist in the target, inside `tx`.
pub async fn existing_ids(
    tx: &mut Tx,
    instance_id: i64,
    target: RefTarget,
    ids: &[i64],
) -> StoreResult<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut p = Vec::new();
    let sql = match target {
        RefTarget::Class(class_id) => {
            let list = crate::push_in_list(&mut p, ids.iter().map(|i| crate::Val::Int(*i)));
            format!(
                "SELECT id FROM {} WHERE id IN ({list})",
                table_name(class_id)
            )
        }
        RefTarget::Users => {
            p.push(crate::Val::Int(instance_id));
            let list = crate::push_in_list(&mut p, ids.iter().map(|i| crate::Val::Int(*i)));
            format!("SELECT id FROM users WHERE instance_id = $1 AND id IN ({list})")
        }
    };
    Ok(tx.query(&sql, p).await?.iter().map(|r| r.i64(0)).collect())
}

/// The type of a channel (0 default, 1 separate rooms), inside `tx`; `None` if missing.
pub async fn channel_kind(tx: &mut Tx, instance_id: i64, name: &str) -> StoreResult<Option<i64>> {
    Ok(tx
        .query_opt(
            "SELECT type FROM channels WHERE instance_id = $1 AND name = $2",
            params![instance_id, name],
        )
        .await?
        .map(|r| r.i64(0)))
}

/// Reads one object inside `tx`, locking it for the rest of the transaction on PostgreSQL.
pub async fn lock_object(tx: &mut Tx, class_id: i64, id: i64) -> StoreResult<Option<ObjectRow>> {
    let lock = if tx.dialect() == crate::Dialect::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {OBJECT_COLUMNS} FROM {} WHERE id = $1{lock}",
        table_name(class_id)
    );
    Ok(tx.query_opt(&sql, params![id]).await?.map(object_from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn an_estimate_is_reused_for_a_second_then_asked_again() {
        let cache = EstimateCache::default();
        let start = Instant::now();
        let key = estimate_key(
            "EXPLAIN SELECT 1 FROM c1 WHERE owner = $1",
            &[crate::Val::Int(7)],
        );
        assert_eq!(cache.get(&key, start), None);
        cache.put(key.clone(), 5000, start);
        assert_eq!(
            cache.get(&key, start + Duration::from_millis(999)),
            Some(5000)
        );
        assert_eq!(cache.get(&key, start + ESTIMATE_TTL), None);
        let other_owner = estimate_key(
            "EXPLAIN SELECT 1 FROM c1 WHERE owner = $1",
            &[crate::Val::Int(8)],
        );
        assert_eq!(
            cache.get(&other_owner, start),
            None,
            "parameters are part of the key"
        );
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = EstimateCache::default();
        let now = Instant::now();
        for i in 0..ESTIMATES_MAX {
            cache.put(format!("q{i}"), 2000, now);
        }
        cache.put("q0".into(), 3000, now);
        assert_eq!(
            cache.get("q1", now),
            Some(2000),
            "replacing a key keeps the rest"
        );
        cache.put("new".into(), 4000, now);
        assert_eq!(cache.get("q1", now), None);
        assert_eq!(cache.get("new", now), Some(4000));
    }

    #[test]
    fn planner_rows_reads_the_top_node() {
        let plan = vec![Row(vec![crate::Val::Text(
            "Seq Scan on c2  (cost=0.00..284.00 rows=4950 width=4)".into(),
        )])];
        assert_eq!(planner_rows(&plan), Some(4950));
        assert_eq!(planner_rows(&[]), None);
    }
}
