//! Background workers (design §5.3, §5.4): the job worker, which claims durable jobs from
//! the database and runs them (trigger and schedule runs), and the scheduler, which turns
//! due schedules into jobs. Both run on every node; the database decides who does what
//! ([`rivia_store::jobs`], [`rivia_store::schedules`]).

mod clock;
mod jobs;
mod runs;
mod scheduler;

pub use clock::Clock;

use crate::state::AppState;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Settings of the background workers.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// How often a worker looks for jobs other nodes enqueued (its own wake it at once).
    pub poll: Duration,
    /// How long a claim lasts without renewal: a node killed mid-run leaves its jobs to
    /// others after this long.
    pub lease: Duration,
    /// How often the scheduler looks for due schedules.
    pub schedule_tick: Duration,
    /// Smallest `interval_sec` accepted (the platform: 30; lower only for tests).
    pub schedule_min_interval: i64,
    /// Schedules per instance (the platform's plan limit `schedules_count`).
    pub schedule_limit: i64,
    /// What "now" is for schedules.
    pub clock: Clock,
}

impl Default for JobSettings {
    fn default() -> JobSettings {
        JobSettings {
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(30),
            schedule_tick: Duration::from_secs(1),
            schedule_min_interval: 30,
            schedule_limit: 100,
            clock: Clock::System,
        }
    }
}

/// The running workers of this node.
pub struct Workers {
    stop: watch::Sender<bool>,
    jobs: Arc<jobs::JobWorker>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts the job worker and the scheduler of this node.
pub async fn start(app: &AppState) -> Workers {
    match app.store.release_job_leases().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "released the leases of jobs left by the last run"),
        Err(e) => tracing::warn!(error = %e, "could not release old job leases"),
    }
    let (stop, stopped) = watch::channel(false);
    let jobs = Arc::new(jobs::JobWorker::new(app.clone()));
    let tasks = vec![
        tokio::spawn(jobs.clone().run(stopped.clone())),
        tokio::spawn(jobs.clone().renew_leases(stopped.clone())),
        tokio::spawn(scheduler::run(app.clone(), stopped)),
    ];
    Workers { stop, jobs, tasks }
}

impl Workers {
    /// Stops claiming work, waits up to `grace` for the runs in flight, and gives the
    /// jobs still running back (their leases freed) for the next node or start.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        self.jobs.drain(grace).await;
        for t in self.tasks {
            t.abort();
        }
    }
}
