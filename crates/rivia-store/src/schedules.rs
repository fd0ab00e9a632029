//! Schedules (rest §2, spec-scripts §9): a script run every `interval_sec` seconds or at
//! the minutes of a crontab. [`Store::dispatch_due_schedules`] turns each due schedule into
//! a `schedule` job and moves its `scheduled_next` on, in one transaction, so a due time
//! is dispatched once whichever node's scheduler sees it first (PostgreSQL: the rows are
//! taken with `FOR UPDATE SKIP LOCKED`); the job runs like every job ([`crate::jobs`]).

use crate::db::{Dialect, Row, StoreResult};
use crate::{Store, next_instance_id, params};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;

/// The job kind (and trace kind) of schedule runs.
pub const JOB_KIND: &str = "schedule";

/// A stored schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Id (per instance).
    pub id: i64,
    /// The instance.
    pub instance_id: i64,
    /// Label.
    pub label: String,
    /// Description.
    pub description: String,
    /// The script it runs.
    pub script_id: i64,
    /// Seconds between runs.
    pub interval_sec: Option<i64>,
    /// Five-field crontab.
    pub crontab: Option<String>,
    /// Time zone the crontab is read in.
    pub timezone: String,
    /// Next due time, µs.
    pub scheduled_next: i64,
    /// Creation time, µs.
    pub created_at: i64,
}

/// The fields a write sets.
#[derive(Debug, Clone)]
pub struct ScheduleValues {
    /// Label.
    pub label: String,
    /// Description.
    pub description: String,
    /// Script id (must exist).
    pub script_id: i64,
    /// Seconds between runs.
    pub interval_sec: Option<i64>,
    /// Crontab.
    pub crontab: Option<String>,
    /// Time zone name.
    pub timezone: String,
    /// The first due time, µs.
    pub scheduled_next: i64,
}

const COLUMNS: &str = "id, instance_id, label, description, script_id, interval_sec, crontab, timezone, scheduled_next, created_at";

fn schedule_from(mut r: Row) -> Schedule {
    Schedule {
        id: r.i64(0),
        instance_id: r.i64(1),
        label: r.take_string(2),
        description: r.take_string(3),
        script_id: r.i64(4),
        interval_sec: r.opt_i64(5),
        crontab: r.take_opt_string(6),
        timezone: r.take_string(7),
        scheduled_next: r.i64(8),
        created_at: r.i64(9),
    }
}

/// Why a schedule could not be created.
#[derive(Debug)]
pub enum CreateScheduleError {
    /// The instance has `limit` schedules already.
    LimitReached(i64),
    /// The database failed.
    Store(crate::StoreError),
}

impl From<crate::StoreError> for CreateScheduleError {
    fn from(e: crate::StoreError) -> Self {
        CreateScheduleError::Store(e)
    }
}

impl Store {
    /// Creates a schedule unless the instance has `limit` already (checked under the
    /// instance's id counter, which the transaction holds, so concurrent creates cannot
    /// pass the limit together).
    pub async fn create_schedule(
        &self,
        instance_id: i64,
        limit: i64,
        v: &ScheduleValues,
    ) -> Result<Schedule, CreateScheduleError> {
        let mut tx = self.db.begin().await?;
        let id = next_instance_id(&mut tx, instance_id, "schedules").await?;
        let count = tx
            .query_one(
                "SELECT COUNT(*) FROM schedules WHERE instance_id = $1",
                params![instance_id],
            )
            .await?
            .i64(0);
        if count >= limit {
            return Err(CreateScheduleError::LimitReached(limit));
        }
        let now = now_micros();
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO schedules (instance_id, id, label, description, script_id, interval_sec, crontab, timezone, scheduled_next, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {COLUMNS}"
                ),
                params![instance_id, id, &v.label, &v.description, v.script_id, v.interval_sec, v.crontab.clone(), &v.timezone, v.scheduled_next, now],
            )
            .await?;
        tx.commit().await?;
        Ok(schedule_from(row))
    }

    /// A schedule by id.
    pub async fn schedule(&self, instance_id: i64, id: i64) -> StoreResult<Option<Schedule>> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE instance_id = $1 AND id = $2");
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, id])
            .await?
            .map(schedule_from))
    }

    /// One page of schedules.
    pub async fn list_schedules(
        &self,
        instance_id: i64,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Schedule>> {
        let sql = format!("SELECT {COLUMNS} FROM schedules WHERE instance_id = $1");
        self.list_page(sql, "id", instance_id, keyset, schedule_from)
            .await
    }

    /// Saves a schedule (with its new `scheduled_next`); `None` when it no longer exists.
    pub async fn update_schedule(
        &self,
        instance_id: i64,
        id: i64,
        v: &ScheduleValues,
    ) -> StoreResult<Option<Schedule>> {
        let sql = format!(
            "UPDATE schedules SET label = $3, description = $4, script_id = $5, interval_sec = $6, crontab = $7, \
             timezone = $8, scheduled_next = $9, updated_at = $10 WHERE instance_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        self.write_returning(
            &sql,
            params![
                instance_id,
                id,
                &v.label,
                &v.description,
                v.script_id,
                v.interval_sec,
                v.crontab.clone(),
                &v.timezone,
                v.scheduled_next,
                now_micros()
            ],
            schedule_from,
        )
        .await
    }

    /// Deletes a schedule with its pending run and its traces.
    pub async fn delete_schedule(&self, instance_id: i64, id: i64) -> StoreResult<bool> {
        self.delete_job_owner("schedules", JOB_KIND, instance_id, id)
            .await
    }

    /// Dispatches up to `limit` schedules due at `now` whose previous run has ended: for
    /// each, one `schedule` job and the next due time `next(schedule)`, in one transaction.
    /// Returns how many were dispatched.
    pub async fn dispatch_due_schedules(
        &self,
        now: i64,
        limit: i64,
        next: impl Fn(&Schedule) -> i64,
    ) -> StoreResult<usize> {
        let lock = match self.db.dialect() {
            Dialect::Postgres => " FOR UPDATE OF s SKIP LOCKED",
            Dialect::Sqlite => "",
        };
        let sql = format!(
            "SELECT {} FROM schedules s WHERE s.scheduled_next <= $1 AND NOT EXISTS \
             (SELECT 1 FROM jobs j WHERE j.instance_id = s.instance_id AND j.kind = 'schedule' \
             AND j.parent = CAST(s.id AS TEXT)) ORDER BY s.scheduled_next LIMIT $2{lock}",
            crate::qualify(COLUMNS, "s")
        );
        let mut tx = self.db.begin().await?;
        let due: Vec<Schedule> = tx
            .query(&sql, params![now, limit])
            .await?
            .into_iter()
            .map(schedule_from)
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let created = now_micros();
        let mut statements = Vec::with_capacity(due.len() * 2);
        for s in &due {
            statements.push((
                "UPDATE schedules SET scheduled_next = $3 WHERE instance_id = $1 AND id = $2"
                    .to_owned(),
                params![s.instance_id, s.id, next(s)],
            ));
            let payload = serde_json::json!({ "due": s.scheduled_next }).to_string();
            statements.push((
                "INSERT INTO jobs (kind, instance_id, parent, payload, due_at, created_at) \
                 VALUES ('schedule', $1, $2, $3, $4, $4)"
                    .to_owned(),
                params![s.instance_id, s.id.to_string(), payload, created],
            ));
        }
        tx.enqueued_jobs();
        tx.query_many(statements).await?;
        tx.commit().await?;
        Ok(due.len())
    }
}
