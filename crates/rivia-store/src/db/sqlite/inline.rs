//! Point reads on the calling thread, each inline connection keeping its read transaction
//! open between lookups while nothing has been committed.
//!
//! Starting and ending a read transaction is most of what a lookup by key costs SQLite in
//! WAL mode: a shared lock on the database file and a read mark in the `-shm` index, taken
//! and dropped through `fcntl` each time, and the process-wide mutex around the `-shm`
//! locks, which the tokio workers' lookups contend for (a futex wait per request under
//! load: `strace -c` on `GET .../objects/<id>/` counted 1.8 `fcntl` and 1 `futex` per
//! request). So an inline connection's transaction stays open after its lookup and the
//! next lookup reuses it, for as long as it still shows the newest data:
//!
//! * **Writes of this process** all commit on the writer thread, which advances the
//!   [`WriteEpoch`] after each COMMIT and before any caller hears of it. A held
//!   transaction is reused only while the epoch is the one read before it began, so a read
//!   after an acknowledged write always starts afresh and sees it.
//! * **Writes of another process** (`rivia backup restore` beside a live server) show up
//!   within [`HOLD_MAX`] (the oldest a held transaction gets before a lookup ends it) or,
//!   on an idle connection, within twice that (the sweeper): the same bounded staleness the
//!   server's lookup caches already have, far shorter.
//! * **The WAL is never pinned for long:** a held transaction keeps the WAL from being
//!   reset, so idle ones are ended by the sweeper thread every [`HOLD_MAX`].

use super::{StoreResult, install_deadline_check, map_err, run_control};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The oldest a held read transaction may be when a lookup reuses it, and how often the
/// sweeper ends those of idle connections.
pub(super) const HOLD_MAX: Duration = Duration::from_millis(20);

/// Counts the writer's commits; see the module docs.
#[derive(Clone, Default)]
pub(crate) struct WriteEpoch(Arc<AtomicU64>);

impl WriteEpoch {
    /// After a COMMIT, before anyone is told of it.
    pub(super) fn advance(&self) {
        self.0.fetch_add(1, Ordering::Release);
    }

    fn now(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}

/// A read-only connection for lookups on the calling thread: it never waits on a lock
/// (`busy_timeout` 0: a busy database sends the lookup to a reader thread instead) and is
/// interrupted at its deadline.
struct InlineConn {
    conn: Connection,
    /// The open read transaction, if any: the epoch read before it began, and when.
    held: Option<(u64, Instant)>,
}

impl InlineConn {
    /// Ends the held read transaction (a read-only COMMIT only drops its locks).
    fn release(&mut self) {
        if self.held.take().is_some() && !self.conn.is_autocommit() {
            let _ = run_control(&self.conn, "COMMIT");
        }
    }

    /// Makes sure a read transaction showing the newest committed data is open.
    fn refresh(&mut self, epoch: &WriteEpoch) -> StoreResult<()> {
        let now = epoch.now();
        if let Some((began, at)) = self.held
            && (began != now || at.elapsed() > HOLD_MAX)
        {
            self.release();
        }
        if self.held.is_none() {
            // The epoch is read before the transaction's snapshot is taken (at its first
            // read), so the snapshot holds every commit the epoch counts.
            run_control(&self.conn, "BEGIN")?;
            self.held = Some((now, Instant::now()));
        }
        Ok(())
    }
}

/// The inline connections, shared with the sweeper thread.
pub(super) struct InlinePool {
    free: Arc<Mutex<Vec<InlineConn>>>,
    epoch: WriteEpoch,
}

impl InlinePool {
    /// `count` connections to `path`, and the sweeper thread (which ends when the pool is
    /// dropped).
    pub(super) fn open(path: &Path, count: usize, epoch: WriteEpoch) -> StoreResult<Self> {
        let conns = (0..count)
            .map(|_| open_inline(path).map(|conn| InlineConn { conn, held: None }))
            .collect::<StoreResult<Vec<_>>>()?;
        let free = Arc::new(Mutex::new(conns));
        spawn_sweeper(Arc::downgrade(&free));
        Ok(InlinePool { free, epoch })
    }

    /// Runs `f` inside a read transaction on a free inline connection on this thread.
    /// None when every inline connection is in use or anything failed (SQLite busy, the
    /// deadline, anything else): the caller then goes to a reader thread, which waits
    /// where this must not and reports an error that recurs.
    pub(super) fn run<T>(
        &self,
        deadline: Duration,
        f: impl FnOnce(&mut Connection) -> StoreResult<T>,
    ) -> Option<T> {
        let mut inline = self.free.lock().ok()?.pop()?;
        super::DEADLINE.with(|d| d.set(Some(Instant::now() + deadline)));
        let result = inline
            .refresh(&self.epoch)
            .and_then(|()| f(&mut inline.conn));
        super::DEADLINE.with(|d| d.set(None));
        if result.is_err() {
            // An interrupted or failed read leaves nothing worth keeping.
            inline.release();
        }
        if let Ok(mut free) = self.free.lock() {
            free.push(inline);
        }
        result.ok()
    }
}

/// Ends the read transactions that idle connections have held longer than [`HOLD_MAX`].
fn spawn_sweeper(free: Weak<Mutex<Vec<InlineConn>>>) {
    let spawned = std::thread::Builder::new()
        .name("rivia-sqlite-sweeper".into())
        .spawn(move || {
            loop {
                std::thread::sleep(HOLD_MAX);
                let Some(free) = free.upgrade() else { return };
                let Ok(mut conns) = free.lock() else { return };
                for c in conns.iter_mut() {
                    if c.held.is_some_and(|(_, at)| at.elapsed() >= HOLD_MAX) {
                        c.release();
                    }
                }
            }
        });
    if let Err(e) = spawned {
        // Without it a held transaction lasts until the connection's next lookup.
        tracing::warn!(error = %e, "could not start the sqlite sweeper thread");
    }
}

fn open_inline(path: &Path) -> StoreResult<Connection> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI,
    )
    .map_err(map_err)?;
    super::configure(&conn, true).map_err(map_err)?;
    conn.pragma_update(None, "busy_timeout", 0)
        .map_err(map_err)?;
    install_deadline_check(&mut conn).map_err(map_err)?;
    Ok(conn)
}
