//! One page of a class's objects: filters, visibility and ordering compiled into SQL,
//! read under a statement timeout, with the count when asked for (see `count`).

use super::count::{
    EXACT_COUNT_LIMIT, capped_count_sql, count_estimate_sql, estimate_from, estimate_key,
    planner_rows,
};
use super::{OBJECT_COLUMNS, ObjectRow, Visibility, object_from, push_visibility};
use crate::db::{Row, StoreResult};
use crate::table_name;

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
                .query_many_with_timeout(
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
            .query_many_with_timeout(statements, remaining(q.timeout, started))
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
            .query_many_with_timeout(statements, remaining(q.timeout, started))
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
}
