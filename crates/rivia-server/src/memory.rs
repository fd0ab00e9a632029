//! Keeping the server's resident memory close to what it actually uses.
//!
//! Two workloads leave freed memory behind in the allocator: Argon2 hashing (19 MiB per
//! hash, on blocking threads) and bursts of connections (10,000 held long polls are
//! ~210 MiB, mostly hyper's 8 KiB read and 8 KiB write buffer per connection). With glibc malloc (the default build) the first is handled by a fixed
//! mmap threshold, so every big buffer is its own mapping and goes back to the OS when
//! freed; the second by counting live connections and calling `malloc_trim` once many
//! have closed. The `mimalloc` feature swaps in mimalloc for comparison
//! (`RIVIA_BENCH_FEATURES=mimalloc bench/channels.sh`); there the release step asks
//! mimalloc to collect instead. Measured on the same bench, tuned glibc used less memory
//! on every count (held polls, after they close, after registrations).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Allocations at least this big get their own mapping (glibc). Fixing it turns off
/// glibc's dynamic threshold, which after the first freed Argon2 buffer would serve the
/// next ones from arenas that never shrink (760 MiB RSS after 1,000 registrations).
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
const MMAP_THRESHOLD: libc::c_int = 256 * 1024;

/// Configures the allocator. Call first thing in `main`, before any thread starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
    // SAFETY: mallopt only changes allocator parameters; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Hands free allocator memory back to the OS. Walks the whole heap: run it on a
/// blocking thread, and only after memory was actually freed.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
    // SAFETY: malloc_trim is thread-safe and only releases pages of free chunks.
    unsafe {
        libc::malloc_trim(0);
    }
    #[cfg(feature = "mimalloc")]
    // SAFETY: mi_collect only frees mimalloc's own unused memory.
    unsafe {
        mi_collect(true);
    }
}

#[cfg(feature = "mimalloc")]
unsafe extern "C" {
    /// mimalloc's collection of the calling thread's free pages (libmimalloc-sys).
    fn mi_collect(force: bool);
}

/// Open client connections, and the most open at once since the last look.
#[derive(Clone, Default)]
pub struct LiveConnections(Arc<Counts>);

#[derive(Default)]
struct Counts {
    open: AtomicUsize,
    peak: AtomicUsize,
}

impl LiveConnections {
    /// Connections open now.
    pub fn get(&self) -> usize {
        self.0.open.load(Ordering::Relaxed)
    }

    /// The most connections open at once since the last call (at least those open now).
    fn take_peak(&self) -> usize {
        let now = self.get();
        self.0.peak.swap(now, Ordering::Relaxed).max(now)
    }

    /// Counts a connection until the guard drops.
    pub fn enter(&self) -> ConnectionGuard {
        let open = self.0.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.0.peak.fetch_max(open, Ordering::Relaxed);
        ConnectionGuard(self.0.clone())
    }
}

/// Counts one connection while alive.
pub struct ConnectionGuard(Arc<Counts>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How often the connection count is looked at.
const TRIM_CHECK_EVERY: Duration = Duration::from_secs(1);
/// How many connections must have closed since the last release to release again: each
/// one held tens of KiB, so fewer are not worth a heap walk.
const TRIM_AFTER_CLOSED: usize = 256;

/// Whether enough connections closed since the peak to release memory.
fn should_release(peak: usize, now: usize) -> bool {
    peak.saturating_sub(now) >= TRIM_AFTER_CLOSED
}

/// Releases free memory to the OS whenever many connections have closed since the last
/// look (their buffers and tasks are free memory the allocator would otherwise keep).
pub async fn release_after_closes(live: LiveConnections) {
    loop {
        tokio::time::sleep(TRIM_CHECK_EVERY).await;
        let (peak, now) = (live.take_peak(), live.get());
        if !should_release(peak, now) {
            continue;
        }
        match tokio::task::spawn_blocking(release_free_memory).await {
            Ok(()) => tracing::debug!(peak, now, "released free memory after connections closed"),
            Err(e) => tracing::warn!(error = %e, "releasing free memory failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_only_after_many_closes() {
        assert!(!should_release(100, 0));
        assert!(!should_release(1000, 900));
        assert!(should_release(1000, 700));
        assert!(!should_release(0, 5));
    }

    #[test]
    fn peak_counts_connections_closed_between_looks() {
        let live = LiveConnections::default();
        let guards: Vec<_> = (0..300).map(|_| live.enter()).collect();
        drop(guards);
        assert_eq!(live.get(), 0);
        assert_eq!(live.take_peak(), 300);
        assert_eq!(live.take_peak(), 0);
    }
}
