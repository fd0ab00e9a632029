//! Durable background work (design §5.3): rows of the `jobs` table, written in the same
//! transaction as their cause and claimed by the workers of every node sharing the
//! database.
//!
//! A claim sets a lease (`lease_until`) and bumps `attempts`, which identifies the claim:
//! the worker keeps renewing the lease while it works and ends the job with
//! [`Store::finish_job`], which deletes the row (only if the claim is still its own) in the
//! same transaction as the job's trace. A node killed mid-run stops renewing; once its
//! lease expires another node (or the restarted one) claims the job again. So every job
//! ends with exactly one trace. On PostgreSQL claims take the rows with
//! `FOR UPDATE SKIP LOCKED`, so two nodes never claim the same job; on SQLite the single
//! writer serialises them.

use crate::db::{Dialect, Row, StoreResult, Val};
use crate::traces::TraceEnd;
use crate::{Store, params, push_in_list};
use rivia_core::time::now_micros;
use std::collections::HashMap;
use std::sync::Arc;

/// A claimed job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Row id.
    pub id: i64,
    /// What it is (`trigger`, `schedule`).
    pub kind: String,
    /// The instance it belongs to.
    pub instance_id: i64,
    /// Its parent's key (trigger or schedule id).
    pub parent: String,
    /// JSON text the cause left for the worker.
    pub payload: String,
    /// When it became due, µs.
    pub due_at: i64,
    /// Claims so far, this one included; identifies this claim.
    pub attempts: i64,
}

const COLUMNS: &str = "id, kind, instance_id, parent, payload, due_at, attempts";

fn job_from(mut r: Row) -> Job {
    Job {
        id: r.i64(0),
        kind: r.take_string(1),
        instance_id: r.i64(2),
        parent: r.take_string(3),
        payload: r.take_string(4),
        due_at: r.i64(5),
        attempts: r.i64(6),
    }
}

/// What a worker may take in one claim.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    /// Jobs at most.
    pub limit: usize,
    /// Jobs at most per instance, counting those it holds already.
    pub per_instance: usize,
    /// Jobs it holds already, per instance.
    pub held: &'a HashMap<i64, usize>,
    /// Lease length, µs.
    pub lease_micros: i64,
}

impl Store {
    /// The signal raised when a transaction of this node that enqueued jobs commits.
    pub fn jobs_enqueued(&self) -> Arc<tokio::sync::Notify> {
        self.db.jobs_enqueued().clone()
    }

    /// Claims ready jobs (due, not leased), oldest first, at most `per_instance` of any
    /// instance, so that one busy instance cannot hold up the others.
    pub async fn claim_jobs(&self, request: &ClaimRequest<'_>) -> StoreResult<Vec<Job>> {
        if request.limit == 0 {
            return Ok(Vec::new());
        }
        let now = now_micros();
        // Candidates: a few per instance, read without locks.
        let candidates = self
            .db
            .query(
                "SELECT id, instance_id FROM (SELECT id, instance_id, due_at, ROW_NUMBER() OVER \
                 (PARTITION BY instance_id ORDER BY due_at, id) AS rn FROM jobs \
                 WHERE due_at <= $1 AND (lease_until IS NULL OR lease_until < $1)) r \
                 WHERE rn <= $2 ORDER BY due_at, id LIMIT $3",
                params![now, request.per_instance as i64, (request.limit * 4) as i64],
            )
            .await?;
        let mut room: HashMap<i64, usize> = HashMap::new();
        let mut chosen = Vec::new();
        for r in candidates {
            let instance = r.i64(1);
            let left = room.entry(instance).or_insert_with(|| {
                request
                    .per_instance
                    .saturating_sub(request.held.get(&instance).copied().unwrap_or(0))
            });
            if *left > 0 && chosen.len() < request.limit {
                *left -= 1;
                chosen.push(Val::Int(r.i64(0)));
            }
        }
        if chosen.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = params![now + request.lease_micros, now];
        let list = push_in_list(&mut p, chosen);
        let lock = match self.db.dialect() {
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET lease_until = $1, attempts = attempts + 1 WHERE id IN \
             (SELECT id FROM jobs WHERE id IN ({list}) AND (lease_until IS NULL OR lease_until < $2){lock}) \
             RETURNING {COLUMNS}"
        );
        let mut tx = self.db.begin().await?;
        let rows = tx.query(&sql, p).await?;
        tx.commit().await?;
        let mut jobs: Vec<Job> = rows.into_iter().map(job_from).collect();
        jobs.sort_by_key(|j| (j.due_at, j.id));
        Ok(jobs)
    }

    /// Extends the leases of claims still held (`(id, attempts)`) to `lease_micros` from now.
    pub async fn renew_job_leases(
        &self,
        claims: &[(i64, i64)],
        lease_micros: i64,
    ) -> StoreResult<()> {
        if claims.is_empty() {
            return Ok(());
        }
        let until = now_micros() + lease_micros;
        let statements = claims
            .iter()
            .map(|(id, attempts)| {
                (
                    "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND attempts = $3".to_owned(),
                    params![until, *id, *attempts],
                )
            })
            .collect();
        let tx = self.db.begin().await?;
        tx.query_many_and_commit(statements).await?;
        Ok(())
    }

    /// Frees every lease: for a SQLite store at start-up, where the only process that could
    /// hold them is the one that died.
    pub async fn release_job_leases(&self) -> StoreResult<u64> {
        if self.db.dialect() != Dialect::Sqlite {
            return Ok(0);
        }
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "UPDATE jobs SET lease_until = NULL WHERE lease_until IS NOT NULL",
                vec![],
            )
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Ends a claimed job without a trace (its parent is gone or no longer matches);
    /// false when the claim was no longer this worker's.
    pub async fn drop_job(&self, job: &Job) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "DELETE FROM jobs WHERE id = $1 AND attempts = $2",
                params![job.id, job.attempts],
            )
            .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Ends a claimed job and stores its trace (kind = the job's kind, parent = the job's
    /// parent) in its final state, in one transaction; `None` (and nothing stored) when the
    /// claim was no longer this worker's, since another worker then owns the job.
    pub async fn finish_job(&self, job: &Job, end: &TraceEnd<'_>) -> StoreResult<Option<i64>> {
        let mut tx = self.db.begin().await?;
        let deleted = tx
            .query(
                "DELETE FROM jobs WHERE id = $1 AND attempts = $2 RETURNING id",
                params![job.id, job.attempts],
            )
            .await?;
        if deleted.is_empty() {
            return Ok(None);
        }
        let counter = format!("traces:{}", job.kind);
        let now = now_micros();
        let results = tx
            .query_many_and_commit(vec![
                (
                    crate::ids::NEXT_ID_SQL.to_owned(),
                    params![job.instance_id, counter.as_str()],
                ),
                (
                    "INSERT INTO traces (instance_id, kind, id, parent, status, executed_at, duration, result, result_len, updated_at) \
                     VALUES ($1, $2, (SELECT value FROM instance_counters WHERE instance_id = $1 AND kind = $3), \
                     $4, $5, $6, $7, $8, $9, $10) RETURNING id"
                        .to_owned(),
                    params![
                        job.instance_id,
                        job.kind.as_str(),
                        counter.as_str(),
                        job.parent.as_str(),
                        end.status,
                        end.executed_at,
                        end.duration,
                        end.result,
                        end.result_len,
                        now
                    ],
                ),
            ])
            .await?;
        Ok(results
            .last()
            .and_then(|rows| rows.first())
            .map(|r| r.i64(0)))
    }

    /// Gives a claimed job back to be claimed again at `due_at` (after a failure that was
    /// not the script's, e.g. the database was unreachable).
    pub async fn retry_job(&self, job: &Job, due_at: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "UPDATE jobs SET lease_until = NULL, due_at = $3 WHERE id = $1 AND attempts = $2",
            params![job.id, job.attempts, due_at],
        )
        .await?;
        tx.commit().await
    }

    /// How many jobs of `kind` wait or run (for tests and the log).
    pub async fn count_jobs(&self, kind: &str) -> StoreResult<i64> {
        Ok(self
            .db
            .query_opt("SELECT COUNT(*) FROM jobs WHERE kind = $1", params![kind])
            .await?
            .map_or(0, |r| r.i64(0)))
    }
}

impl Store {
    /// Deletes the row `id` of `table` (a schedule or a trigger) with its pending jobs and
    /// its traces, all filed under `kind` with the row's id as their parent; `true` when the
    /// row existed. `table` is a constant of the caller, never user text.
    pub(crate) async fn delete_job_owner(
        &self,
        table: &'static str,
        kind: &'static str,
        instance_id: i64,
        id: i64,
    ) -> StoreResult<bool> {
        let parent = id.to_string();
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                &format!("DELETE FROM {table} WHERE instance_id = $1 AND id = $2"),
                params![instance_id, id],
            )
            .await?;
        for sql in [
            "DELETE FROM jobs WHERE instance_id = $1 AND kind = $2 AND parent = $3",
            "DELETE FROM traces WHERE instance_id = $1 AND kind = $2 AND parent = $3",
        ] {
            tx.exec(sql, params![instance_id, kind, &parent]).await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }
}
