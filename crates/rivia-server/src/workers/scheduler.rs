//! The scheduler: every tick, due schedules become `schedule` jobs and move on to their
//! next due time ([`rivia_store::Store::dispatch_due_schedules`]). A schedule whose last
//! run has not ended is not dispatched again until it has; then it runs once, however many
//! due times passed (also after the server was down), and keeps its cadence.

use crate::state::AppState;
use rivia_core::schedule::Cadence;
use tokio::sync::watch;

/// Schedules dispatched per transaction.
const BATCH: i64 = 100;

pub(super) async fn run(app: AppState, mut stop: watch::Receiver<bool>) {
    let settings = app.settings.jobs.clone();
    while !*stop.borrow() {
        loop {
            let now = settings.clock.now();
            let dispatched = app
                .store
                .dispatch_due_schedules(now, BATCH, |s| {
                    Cadence::of(s.interval_sec, s.crontab.as_deref(), &s.timezone).map_or(
                        // A damaged row: try again in a day rather than every tick.
                        now + 86_400_000_000,
                        |c| c.next_after_run(s.scheduled_next, now),
                    )
                })
                .await;
            match dispatched {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "dispatching due schedules failed");
                    break;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(settings.schedule_tick) => {}
            _ = stop.changed() => {}
        }
    }
}
