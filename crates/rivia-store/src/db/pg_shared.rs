//! PostgreSQL connections shared by the small reads (point lookups and small pages, see
//! `Db::query_point` and `Db::query_many_small`).
//!
//! tokio-postgres pipelines the queries that several tasks send on one connection, so a
//! few connections shared by every request serve the hot reads: under load a backend finds
//! the next request already in its socket and answers it without going to sleep and being
//! woken again, where a pooled connection per request costs a wake-up on each side for
//! every statement. Measured on the 3-user page (`bench/bench.py users`, wrk -c16): 15.2k →
//! 19.9k req/s, PostgreSQL's CPU per request 65 → 46 µs. Only small reads go here: a long
//! query would hold up the lookups queued behind it on the same connection.

use deadpool_postgres::Object;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How many connections the small reads share (taken from the pool on first use, on top
/// of its size for everything else).
pub(super) const SHARED_READERS: usize = 2;

/// The shared connections, handed out round robin.
pub(super) struct SharedReaders {
    slots: Box<[Mutex<Option<Arc<Object>>>]>,
    next: AtomicUsize,
}

impl SharedReaders {
    pub(super) fn new() -> SharedReaders {
        SharedReaders {
            slots: (0..SHARED_READERS).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The next slot in turn, and its connection when it has a live one.
    pub(super) fn next(&self) -> (usize, Option<Arc<Object>>) {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let live = self.lock(slot).clone().filter(|c| !c.is_closed());
        (slot, live)
    }

    /// Puts a freshly taken connection in `slot` (the closed one it replaces goes back to
    /// the pool, which discards it). Returns the connection to use.
    pub(super) fn fill(&self, slot: usize, client: Object) -> Arc<Object> {
        let client = Arc::new(client);
        *self.lock(slot) = Some(client.clone());
        client
    }

    /// Lets go of every shared connection (at shutdown).
    pub(super) fn clear(&self) {
        for slot in 0..self.slots.len() {
            self.lock(slot).take();
        }
    }

    fn lock(&self, slot: usize) -> MutexGuard<'_, Option<Arc<Object>>> {
        // The guarded value is replaced whole, so a panic elsewhere cannot leave it half
        // written: a poisoned lock is still good to use.
        self.slots[slot]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
