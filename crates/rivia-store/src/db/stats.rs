//! How busy the database's connections are, for the server's `/metrics`: per pool its size,
//! the connections in use, the callers waiting for one, and cumulative acquisitions and
//! time spent waiting (as Go's `database/sql` reports them: a rate of the two totals is the
//! mean wait). Recording is a few relaxed atomic operations per acquisition.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One pool's use at the moment it is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolStats {
    /// `postgres`, or on SQLite `sqlite_read` (the reader threads) and `sqlite_write` (the
    /// one writer connection, held by a write transaction at a time).
    pub pool: &'static str,
    /// Connections the pool may hold.
    pub size: usize,
    /// Connections handed out now.
    pub in_use: usize,
    /// Callers waiting for a connection now.
    pub waiting: usize,
    /// Connections handed out since start.
    pub acquired: u64,
    /// Time callers spent waiting for a connection since start.
    pub wait_seconds: f64,
}

/// Counts the waits of one pool.
#[derive(Debug, Default)]
pub(crate) struct WaitMeter {
    waiting: AtomicUsize,
    in_use: AtomicUsize,
    acquired: AtomicU64,
    wait_nanos: AtomicU64,
}

impl WaitMeter {
    /// Awaits `acquire` (a pool checkout, a lock), counted as a wait.
    pub(crate) async fn wait_for<T>(&self, acquire: impl Future<Output = T>) -> T {
        let since = Instant::now();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waited = Waited(&self.waiting);
        let got = acquire.await;
        self.acquired(since.elapsed());
        got
    }

    /// Records an acquisition that waited `waited` (measured by the caller).
    pub(crate) fn acquired(&self, waited: Duration) {
        self.acquired.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(waited.as_nanos()).unwrap_or(u64::MAX);
        self.wait_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Marks a connection in use until the guard drops (pools that cannot tell themselves).
    pub(crate) fn in_use(&self) -> InUse<'_> {
        self.in_use.fetch_add(1, Ordering::Relaxed);
        InUse(&self.in_use)
    }

    /// The counters as [`PoolStats`]; `in_use` and `waiting` as given when the pool knows
    /// them better.
    pub(crate) fn stats(
        &self,
        pool: &'static str,
        size: usize,
        in_use: Option<usize>,
        waiting: Option<usize>,
    ) -> PoolStats {
        PoolStats {
            pool,
            size,
            in_use: in_use.unwrap_or_else(|| self.in_use.load(Ordering::Relaxed)),
            waiting: waiting.unwrap_or_else(|| self.waiting.load(Ordering::Relaxed)),
            acquired: self.acquired.load(Ordering::Relaxed),
            wait_seconds: Duration::from_nanos(self.wait_nanos.load(Ordering::Relaxed))
                .as_secs_f64(),
        }
    }
}

/// Leaves the waiting count when the wait ends, also when the waiting future is dropped.
struct Waited<'a>(&'a AtomicUsize);

impl Drop for Waited<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection in use (see [`WaitMeter::in_use`]).
pub(crate) struct InUse<'a>(&'a AtomicUsize);

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_waits_and_connections_in_use() {
        let meter = WaitMeter::default();
        let got = meter.wait_for(async { 7 }).await;
        assert_eq!(got, 7);
        meter.acquired(Duration::from_millis(250));
        let busy = meter.in_use();
        let stats = meter.stats("p", 4, None, None);
        assert_eq!(
            (stats.size, stats.in_use, stats.waiting, stats.acquired),
            (4, 1, 0, 2)
        );
        assert!(stats.wait_seconds >= 0.25, "{stats:?}");
        drop(busy);
        assert_eq!(meter.stats("p", 4, None, Some(3)).in_use, 0);
        assert_eq!(meter.stats("p", 4, None, Some(3)).waiting, 3);
    }

    #[test]
    fn a_dropped_wait_leaves_the_waiting_count() {
        let meter = WaitMeter::default();
        let mut never = Box::pin(meter.wait_for(std::future::pending::<()>()));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(never.as_mut().poll(&mut cx).is_pending());
        assert_eq!(meter.stats("p", 1, None, None).waiting, 1);
        drop(never);
        assert_eq!(meter.stats("p", 1, None, None).waiting, 0);
    }
}
