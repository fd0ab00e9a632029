//! The allocator, and keeping the server's resident memory close to what it uses.
//!
//! mimalloc is the global allocator (the default `mimalloc` feature). Rivia's hot paths
//! allocate on one thread and free on another (rows built on SQLite reader threads are
//! dropped on tokio workers, and the other way round for jobs); glibc malloc serialises
//! those frees on arena locks. Against tuned glibc, in the same run on 2 cores, mimalloc
//! took server CPU per request from ~300 to ~222 µs on the filtered list + count (7.8–8.1k
//! against 5.8–5.9k req/s) and from ~29 to ~25 µs on `GET /users/` (`bench/bench.py`).
//!
//! Three settings keep its memory at or below glibc's (`bench/channels.sh`):
//! - Transparent huge pages are turned off for the process. Where the kernel's THP mode is
//!   `always`, mimalloc's eagerly committed arenas were backed by 2 MiB pages: 10,000 held
//!   polls took 292 MiB instead of 210, and opening them took 23 s instead of 1. (mimalloc's
//!   own `allow_thp` option is read before `main` runs, so the process does it itself.)
//! - Freed memory goes back to the OS once it has stayed free for [`PURGE_DELAY_MS`], and a
//!   once-a-second tick ([`release_after_closes`]) purges what is due even when nothing
//!   else runs (mimalloc purges only from inside its own calls). Purging at once
//!   (`purge_delay` 0, as before) kept the idle RSS lowest but handed back pages the next
//!   request faulted in again: a 100-object HTML page took 12 page faults per request,
//!   a JSON page 2 (see [`PURGE_DELAY_MS`]).
//! - mimalloc's free pages belong to the thread that allocated them, so after many
//!   connections close each tokio worker collects its own heap when it next parks
//!   ([`on_worker_park`]). Without it, 10,000 dropped polls left 44 MiB of 210.
//!
//! Built without the feature (`--no-default-features`), glibc malloc is tuned instead: a
//! fixed mmap threshold, so every 19 MiB Argon2 buffer is its own mapping and goes back to
//! the OS when freed, and `malloc_trim` once many connections have closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Allocations at least this big get their own mapping (glibc). Fixing it turns off
/// glibc's dynamic threshold, which after the first freed Argon2 buffer would serve the
/// next ones from arenas that never shrink (760 MiB RSS after 1,000 registrations).
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
const MMAP_THRESHOLD: libc::c_int = 256 * 1024;

/// Configures the allocator. Call first thing in `main`, before any thread starts (and
/// before the heap grows: THP is decided when pages are first touched).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
    // SAFETY: mallopt only changes allocator parameters; no other thread exists yet.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
    #[cfg(feature = "mimalloc")]
    // SAFETY: prctl(PR_SET_THP_DISABLE) only changes how this process's pages are backed;
    // mi_option_set only changes allocator parameters.
    unsafe {
        #[cfg(target_os = "linux")]
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS);
    }
}

/// Bumped by every release; each tokio worker collects its own heap when it next parks
/// and sees a newer value (mimalloc's free pages are per thread).
#[cfg(feature = "mimalloc")]
static RELEASE_EPOCH: AtomicUsize = AtomicUsize::new(0);

/// Runs on a tokio worker about to park: collects the worker's heap once per release.
pub fn on_worker_park() {
    #[cfg(feature = "mimalloc")]
    {
        thread_local! {
            static SEEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
        }
        let epoch = RELEASE_EPOCH.load(Ordering::Relaxed);
        if SEEN.with(|s| s.replace(epoch)) != epoch {
            // SAFETY: mi_collect only frees mimalloc's own unused memory of this thread.
            unsafe { mi_collect(true) };
        }
    }
}

/// Hands free allocator memory back to the OS. Walks the whole heap: run it on a
/// blocking thread, and only after memory was actually freed.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
    // SAFETY: malloc_trim is thread-safe and only releases pages of free chunks.
    unsafe {
        libc::malloc_trim(0);
    }
    #[cfg(feature = "mimalloc")]
    {
        RELEASE_EPOCH.fetch_add(1, Ordering::Relaxed);
        // SAFETY: mi_collect only frees mimalloc's own unused memory.
        unsafe { mi_collect(true) };
    }
}

/// How long freed memory stays with the process before it is purged. Under load a page
/// freed by one request is wanted by one of the next; purged at once, it comes back by a
/// page fault and a zeroed page. On 2 cores, `wrk -c16`, SQLite, 2,000 objects, page
/// faults per request and req/s (0 → 100 → 250 ms): 100-object HTML page 12 → 2.6 → 1.6
/// faults, 4,320 → 4,930 → 4,840 req/s; JSON page 2.2 → 0.1 → 0.1 faults, 8,500–9,400 →
/// 9,200–10,000 req/s (`bench/bench.py objects --cases "fresh pages"`, faults from
/// `/proc/<pid>/stat`). mimalloc's own default is 10 ms (10.6 faults per HTML page).
#[cfg(feature = "mimalloc")]
const PURGE_DELAY_MS: libc::c_long = 250;

/// Purges the freed memory whose [`PURGE_DELAY_MS`] has passed (mimalloc does it only
/// inside its own calls, so an idle server would keep it). Cheap: the calling thread's
/// own heap and the arenas' purge schedule.
fn purge_due() {
    #[cfg(feature = "mimalloc")]
    // SAFETY: mi_collect only frees mimalloc's own unused memory of this thread and
    // purges the arenas' free ranges that are due.
    unsafe {
        mi_collect(false)
    };
}

/// `mi_option_purge_delay` in the mimalloc 3.3 header that libmimalloc-sys 0.1.49
/// bundles (its Rust constants predate it).
#[cfg(feature = "mimalloc")]
const MI_OPTION_PURGE_DELAY: libc::c_int = 15;

#[cfg(feature = "mimalloc")]
unsafe extern "C" {
    /// mimalloc's collection of the calling thread's free pages (libmimalloc-sys).
    fn mi_collect(force: bool);
    /// Sets one of mimalloc's options (libmimalloc-sys).
    fn mi_option_set(option: libc::c_int, value: libc::c_long);
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
    pub(crate) fn get(&self) -> usize {
        self.0.open.load(Ordering::Relaxed)
    }

    /// The most connections open at once since the last call (at least those open now).
    fn take_peak(&self) -> usize {
        let now = self.get();
        self.0.peak.swap(now, Ordering::Relaxed).max(now)
    }

    /// Counts a connection until the guard drops.
    pub(crate) fn enter(&self) -> ConnectionGuard {
        let open = self.0.open.fetch_add(1, Ordering::Relaxed) + 1;
        self.0.peak.fetch_max(open, Ordering::Relaxed);
        ConnectionGuard(self.0.clone())
    }
}

/// Counts one connection while alive.
pub(crate) struct ConnectionGuard(Arc<Counts>);

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

/// Decides, at each look, whether to release: after many closes, and once more at the look
/// after that, since a burst of closes that straddles a look frees its tail after the
/// first release (with mimalloc, 10,000 dropped polls otherwise kept 44 MiB of 210).
#[derive(Default)]
struct ReleasePlan {
    released_last_look: bool,
}

impl ReleasePlan {
    fn look(&mut self, peak: usize, now: usize) -> bool {
        let many_closed = should_release(peak, now);
        let release = many_closed || self.released_last_look;
        self.released_last_look = many_closed;
        release
    }
}

/// Releases free memory to the OS whenever many connections have closed since the last
/// look (their buffers and tasks are free memory the allocator would otherwise keep), and
/// at every look purges the freed memory that is due ([`purge_due`]).
pub async fn release_after_closes(live: LiveConnections) {
    // What start-up freed (migrations, warm-ups) goes back now rather than after the delay:
    // 47 MiB right after start instead of 28 otherwise.
    if let Err(e) = tokio::task::spawn_blocking(release_free_memory).await {
        tracing::warn!(error = %e, "releasing free memory failed");
    }
    let mut plan = ReleasePlan::default();
    loop {
        tokio::time::sleep(TRIM_CHECK_EVERY).await;
        let (peak, now) = (live.take_peak(), live.get());
        if !plan.look(peak, now) {
            if let Err(e) = tokio::task::spawn_blocking(purge_due).await {
                tracing::warn!(error = %e, "purging free memory failed");
            }
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
    fn releases_once_more_at_the_look_after_a_release() {
        let mut plan = ReleasePlan::default();
        assert!(!plan.look(10, 10));
        assert!(plan.look(10_000, 3_000), "many closed");
        assert!(plan.look(3_000, 2_900), "the tail of the burst");
        assert!(!plan.look(2_900, 2_900), "only one extra release");
        assert!(plan.look(2_900, 0));
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
