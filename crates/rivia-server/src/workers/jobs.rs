//! The job worker: claims ready jobs (as many as the executor has slots, at most its
//! per-instance share of one instance), runs each in its own task, keeps their leases
//! alive, and ends each job with its trace ([`rivia_store::Store::finish_job`]). It wakes
//! at once when this node commits new jobs and polls for the jobs of other nodes.

use super::runs::{self, Prepared};
use crate::state::AppState;
use rivia_store::jobs::{ClaimRequest, Job};
use rivia_store::traces::TraceEnd;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, Semaphore, watch};

/// How long a job whose run could not be prepared or recorded (the database failed)
/// waits before it is tried again.
const RETRY_DELAY_MICROS: i64 = 5_000_000;

/// The job worker of a node.
pub(super) struct JobWorker {
    app: AppState,
    /// One permit per job held.
    slots: Arc<Semaphore>,
    /// Jobs held: id → (claim, instance).
    held: parking_lot::Mutex<HashMap<i64, (i64, i64)>>,
    /// Raised when a run ends: there may be room for more.
    freed: Notify,
}

impl JobWorker {
    pub(super) fn new(app: AppState) -> JobWorker {
        let slots = app.runner().settings().concurrency;
        JobWorker {
            app,
            slots: Arc::new(Semaphore::new(slots)),
            held: Default::default(),
            freed: Notify::new(),
        }
    }

    fn lease_micros(&self) -> i64 {
        self.app
            .settings
            .jobs
            .lease
            .as_micros()
            .min(i64::MAX as u128) as i64
    }

    /// Claims and starts jobs until told to stop.
    pub(super) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let enqueued = self.app.store.jobs_enqueued();
        let poll = self.app.settings.jobs.poll;
        while !*stop.borrow() {
            self.claim_and_start().await;
            tokio::select! {
                () = enqueued.notified() => {}
                () = self.freed.notified() => {}
                () = tokio::time::sleep(poll) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Claims as many jobs as there are free slots, and again while claims come back full.
    async fn claim_and_start(self: &Arc<Self>) {
        loop {
            let free = self.slots.available_permits();
            if free == 0 {
                return;
            }
            let held = self.held_per_instance();
            let request = ClaimRequest {
                limit: free,
                per_instance: self.app.runner().settings().per_instance,
                held: &held,
                lease_micros: self.lease_micros(),
            };
            let jobs = match self.app.store.claim_jobs(&request).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming jobs failed");
                    return;
                }
            };
            let claimed = jobs.len();
            for job in jobs {
                let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                    // Cannot happen (one worker claims), but never run unbounded: give it back.
                    let _ = self.app.store.retry_job(&job, job.due_at).await;
                    continue;
                };
                self.held
                    .lock()
                    .insert(job.id, (job.attempts, job.instance_id));
                let worker = self.clone();
                tokio::spawn(async move {
                    worker.handle(&job).await;
                    worker.held.lock().remove(&job.id);
                    drop(permit);
                    worker.freed.notify_one();
                });
            }
            if claimed < free {
                return;
            }
        }
    }

    fn held_per_instance(&self) -> HashMap<i64, usize> {
        let mut per = HashMap::new();
        for (_, instance) in self.held.lock().values() {
            *per.entry(*instance).or_insert(0) += 1;
        }
        per
    }

    /// Runs one job and records its end.
    async fn handle(&self, job: &Job) {
        let prepared = match runs::prepare(&self.app, job).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(job = job.id, kind = %job.kind, error = %e, "could not prepare a job's run; retrying later");
                let retry = rivia_core::time::now_micros() + RETRY_DELAY_MICROS;
                if let Err(e) = self.app.store.retry_job(job, retry).await {
                    tracing::warn!(job = job.id, error = %e, "could not give a job back");
                }
                return;
            }
        };
        let run = match prepared {
            Prepared::Gone => {
                if let Err(e) = self.app.store.drop_job(job).await {
                    tracing::warn!(job = job.id, error = %e, "could not drop a job");
                }
                return;
            }
            Prepared::Run(run) => run,
        };
        let end = self
            .app
            .runner()
            .run_for_job(job.instance_id, &run.request, run.token)
            .await;
        let trace = TraceEnd {
            status: end.status,
            executed_at: end.executed_at,
            duration: end.duration,
            result: &end.result,
            result_len: end.result_len,
        };
        // The run happened; its trace must be stored, so a failing database is retried
        // here rather than running the script again.
        let mut delay = Duration::from_millis(200);
        loop {
            match self.app.store.finish_job(job, &trace).await {
                Ok(Some(_)) => {
                    self.app.runner().maybe_prune(&self.app.store).await;
                    return;
                }
                Ok(None) => {
                    tracing::warn!(
                        job = job.id,
                        "a job's lease was lost before its end was recorded; another worker owns it"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(job = job.id, error = %e, "could not record a job's end; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Renews the leases of the jobs held, three times per lease length.
    pub(super) async fn renew_leases(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let every = self.app.settings.jobs.lease / 3;
        while !*stop.borrow() {
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
            let claims: Vec<(i64, i64)> = self
                .held
                .lock()
                .iter()
                .map(|(id, (attempts, _))| (*id, *attempts))
                .collect();
            if let Err(e) = self
                .app
                .store
                .renew_job_leases(&claims, self.lease_micros())
                .await
            {
                tracing::warn!(error = %e, "renewing job leases failed");
            }
        }
    }

    /// Waits up to `grace` for the jobs held to end, then frees the leases of the rest so
    /// another node (or the next start) runs them.
    pub(super) async fn drain(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while !self.held.lock().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left: Vec<(i64, (i64, i64))> = self.held.lock().drain().collect();
        if left.is_empty() {
            return;
        }
        tracing::warn!(
            jobs = left.len(),
            "shutdown: giving back jobs still running"
        );
        let now = rivia_core::time::now_micros();
        for (id, (attempts, instance_id)) in left {
            let job = Job {
                id,
                kind: String::new(),
                instance_id,
                parent: String::new(),
                payload: String::new(),
                due_at: now,
                attempts,
            };
            if let Err(e) = self.app.store.retry_job(&job, now).await {
                tracing::warn!(job = id, error = %e, "could not give a job back");
            }
        }
    }
}
