//! Run traces (scripts §6): one row per run of a script (later also schedules, triggers and
//! script endpoints: `kind`), ids counted per instance and kind. A trace moves from
//! `pending` through `processing` to its final status. Retention follows the platform: a
//! list shows the newest [`Retention::keep`] of its parent; a trace not written for
//! [`Retention::ttl_micros`] is gone; a trace pushed out of its list stays readable by id
//! for [`EVICTED_GRACE_MICROS`], then [`Store::prune_traces`] deletes it.

use crate::db::{Row, StoreResult, Val};
use crate::{Store, finish_keyset, next_instance_id, params, push_keyset};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;

/// How long a trace pushed out of its list stays readable by id (the platform: 5 min).
pub const EVICTED_GRACE_MICROS: i64 = 300_000_000;

/// A stored trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// Id (per instance and kind).
    pub id: i64,
    /// `pending`, `processing`, `success`, `failure`, `timeout`, `blocked`, `queue_timeout`.
    pub status: String,
    /// Execution start, µs.
    pub executed_at: Option<i64>,
    /// Milliseconds.
    pub duration: Option<i64>,
    /// Result as JSON text; `None` in lists when longer than the list's cut-off.
    pub result: Option<String>,
}

/// How many traces a list keeps and how long a trace lives.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// Newest traces shown per parent.
    pub keep: i64,
    /// Lifetime after the last write, µs.
    pub ttl_micros: i64,
}

impl Default for Retention {
    /// The platform's: 100 per list, 24 hours.
    fn default() -> Retention {
        Retention {
            keep: 100,
            ttl_micros: 24 * 3600 * 1_000_000,
        }
    }
}

/// The final state of a run.
#[derive(Debug, Clone)]
pub struct TraceEnd<'a> {
    /// Final status.
    pub status: &'a str,
    /// Execution start, µs (set when the run never reached `processing`).
    pub executed_at: i64,
    /// Milliseconds.
    pub duration: Option<i64>,
    /// Result as JSON text.
    pub result: &'a str,
    /// Length of the result as the list cut-off measures it.
    pub result_len: i64,
}

const COLUMNS: &str = "id, status, executed_at, duration, result";

fn trace_from(mut r: Row) -> Trace {
    Trace {
        id: r.i64(0),
        status: r.take_string(1),
        executed_at: r.opt_i64(2),
        duration: r.opt_i64(3),
        result: r.take_opt_string(4),
    }
}

impl Store {
    /// Creates a `pending` trace of `parent`.
    pub async fn create_trace(
        &self,
        instance_id: i64,
        kind: &str,
        parent: &str,
    ) -> StoreResult<Trace> {
        let mut tx = self.db.begin().await?;
        let counter = format!("traces:{kind}");
        let id = next_instance_id(&mut tx, instance_id, &counter).await?;
        tx.exec(
            "INSERT INTO traces (instance_id, kind, id, parent, status, updated_at) VALUES ($1, $2, $3, $4, 'pending', $5)",
            params![instance_id, kind, id, parent, now_micros()],
        )
        .await?;
        tx.commit().await?;
        Ok(Trace {
            id,
            status: "pending".to_owned(),
            executed_at: None,
            duration: None,
            result: Some("{}".to_owned()),
        })
    }

    /// Moves a `pending` trace to `processing`; `false` when it was no longer pending.
    pub async fn start_trace(&self, instance_id: i64, kind: &str, id: i64) -> StoreResult<bool> {
        let now = now_micros();
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "UPDATE traces SET status = 'processing', executed_at = $4, updated_at = $4 \
                 WHERE instance_id = $1 AND kind = $2 AND id = $3 AND status = 'pending'",
                params![instance_id, kind, id, now],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Stores the final state of a run.
    pub async fn finish_trace(
        &self,
        instance_id: i64,
        kind: &str,
        id: i64,
        end: &TraceEnd<'_>,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "UPDATE traces SET status = $4, executed_at = COALESCE(executed_at, $5), duration = $6, result = $7, \
             result_len = $8, updated_at = $9 WHERE instance_id = $1 AND kind = $2 AND id = $3",
            params![instance_id, kind, id, end.status, end.executed_at, end.duration, end.result, end.result_len, now_micros()],
        )
        .await?;
        tx.commit().await
    }

    /// A trace by id (whatever its parent: the platform's detail ignores it), if not expired.
    pub async fn trace(
        &self,
        instance_id: i64,
        kind: &str,
        id: i64,
        retention: Retention,
    ) -> StoreResult<Option<Trace>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM traces WHERE instance_id = $1 AND kind = $2 AND id = $3 AND updated_at >= $4"
        );
        let since = now_micros() - retention.ttl_micros;
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, kind, id, since])
            .await?
            .map(trace_from))
    }

    /// One page of a parent's traces among its newest `retention.keep` live ones; results
    /// longer than `max_result_len` come back as `None`.
    pub async fn list_traces(
        &self,
        instance_id: i64,
        kind: &str,
        parent: &str,
        retention: Retention,
        max_result_len: i64,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Trace>> {
        let (sql, p) = retained_page(
            "id, status, executed_at, duration, CASE WHEN result_len > $6 THEN NULL ELSE result END",
            (instance_id, kind, parent),
            retention,
            params![max_result_len],
            keyset,
        );
        Ok(finish_keyset(
            self.db
                .query(&sql, p)
                .await?
                .into_iter()
                .map(trace_from)
                .collect(),
            keyset,
        ))
    }

    /// Ends as `failure` every trace still `pending` or `processing` whose last write is
    /// older than `before` (µs): runs that a stopped server (kill -9, power loss) will never
    /// finish. Live runs write their trace when they start and when they end, so a bound
    /// above the longest queue wait plus the longest run never touches another node's live
    /// run. Returns how many were ended.
    pub async fn fail_stale_traces(
        &self,
        before: i64,
        result: &str,
        result_len: i64,
    ) -> StoreResult<u64> {
        let now = now_micros();
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "UPDATE traces SET status = 'failure', executed_at = COALESCE(executed_at, $2), result = $3, \
                 result_len = $4, updated_at = $2 WHERE status IN ('pending', 'processing') AND updated_at < $1",
                params![before, now, result, result_len],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Deletes expired traces and those pushed out of their list more than
    /// [`EVICTED_GRACE_MICROS`] ago (approximated by their last write); returns how many.
    pub async fn prune_traces(&self, retention: Retention) -> StoreResult<u64> {
        let now = now_micros();
        let mut tx = self.db.begin().await?;
        let mut n = tx
            .exec(
                "DELETE FROM traces WHERE updated_at < $1",
                params![now - retention.ttl_micros],
            )
            .await?;
        n += tx
            .exec(
                "DELETE FROM traces WHERE updated_at < $1 AND id < COALESCE((SELECT t.id FROM traces t \
                 WHERE t.instance_id = traces.instance_id AND t.kind = traces.kind AND t.parent = traces.parent \
                 ORDER BY t.id DESC LIMIT 1 OFFSET $2), 0)",
                params![now - EVICTED_GRACE_MICROS, (retention.keep - 1).max(0)],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }
}

/// The statement of one page of a parent's traces, `(instance, kind, parent)`, among its
/// newest `retention.keep` live ones: `columns` selected, `$1`–`$5` taken by the window,
/// `extra` parameters following as `$6`, `$7`….
pub(crate) fn retained_page(
    columns: &str,
    (instance_id, kind, parent): (i64, &str, &str),
    retention: Retention,
    extra: Vec<Val>,
    keyset: &Keyset,
) -> (String, Vec<Val>) {
    let since = now_micros() - retention.ttl_micros;
    let mut sql = format!(
        "SELECT {columns} FROM traces WHERE instance_id = $1 AND kind = $2 AND parent = $3 AND updated_at >= $4 \
         AND id >= COALESCE((SELECT t.id FROM traces t WHERE t.instance_id = $1 AND t.kind = $2 \
         AND t.parent = $3 ORDER BY t.id DESC LIMIT 1 OFFSET $5), 0)"
    );
    let mut p = params![
        instance_id,
        kind,
        parent,
        since,
        (retention.keep - 1).max(0)
    ];
    p.extend(extra);
    push_keyset(&mut sql, &mut p, "id", keyset);
    (sql, p)
}
