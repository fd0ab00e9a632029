//! Pre-started ("warm") sandboxes: bubblewrap + the interpreter, started before their run and
//! blocked reading it from stdin, so a run only hands its job over (issue #16's latency target).
//!
//! Isolation is the same as a cold start, by construction:
//! * one process per run: a run [`Pool::take`]s a process, which leaves the pool for good and
//!   ends with that run; a replacement is started in the background ([`Pool::refill`]);
//! * nothing of a run is chosen at spawn: the command line is the same for every run of a
//!   [`WarmKey`] (toolchain, network on/off, tmpfs size), and everything else (rlimits, inputs,
//!   separator, timeout, source) goes over stdin, read by the wrapper only after the take;
//! * `/scratch` and `/tmp` are tmpfs created with the sandbox, so each process has its own.
//!
//! Only Python is pre-started: its wrapper reads everything from stdin (`crate::program`).
//! An idle process expires after [`EngineConfig::warm_idle`]; [`Pool::shutdown`] (or dropping
//! the last engine) kills all of them: each child is `kill_on_drop`, and `--die-with-parent`
//! takes the sandbox down with bubblewrap. A process that exits without either (a crash, a
//! test binary whose engine is never dropped) relies on `--die-with-parent` alone, which
//! bubblewrap arms only once it runs: a sandbox started in the last moments before the exit can
//! miss it and stay, stuck in its setup. Seen: one such `bwrap` after a full API test run
//! (925 tests); the cold path has the same window, but refills make a start at exit likelier.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::process::Child;

use crate::runtimes::Toolchain;
use crate::{EngineConfig, RunRequest, SandboxMode};

/// Everything fixed when a warm process is started; a run only uses a process of its own key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct WarmKey {
    pub toolchain: Toolchain,
    pub network: bool,
    /// The `/scratch` and `/tmp` tmpfs size (a bubblewrap flag).
    pub scratch_bytes: u64,
}

/// The key of `request`, or `None` when it cannot use a pre-started process: only Python
/// (whose command line holds nothing of the run) in a bubblewrap sandbox (without one there is
/// no private scratch directory to start ahead).
pub(crate) fn key(
    config: &EngineConfig,
    toolchain: Toolchain,
    request: &RunRequest,
) -> Option<WarmKey> {
    (toolchain == Toolchain::Python && config.sandbox == SandboxMode::Bubblewrap).then_some(
        WarmKey {
            toolchain,
            network: request.network,
            scratch_bytes: request.limits.scratch_bytes,
        },
    )
}

/// The warm processes of an engine, by key. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    per_key: usize,
    idle: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    closed: bool,
    next_id: u64,
    slots: HashMap<WarmKey, Slot>,
}

#[derive(Debug, Default)]
struct Slot {
    /// Oldest first: the one most likely done with its start-up.
    ready: VecDeque<(u64, Child)>,
    /// Being spawned by a refill task (so two refills do not overshoot `per_key`).
    starting: usize,
}

impl Pool {
    /// `per_key` = 0 disables pre-starting (every run starts its own sandbox).
    pub(crate) fn new(per_key: usize, idle: Duration) -> Pool {
        Pool {
            inner: Arc::new(Inner {
                per_key,
                idle,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// A started process of `key`, or `None` (the run then starts its own). It is the caller's
    /// from now on: no other run will ever be given it.
    pub(crate) fn take(&self, key: WarmKey) -> Option<Child> {
        let mut state = self.inner.lock();
        let slot = state.slots.get_mut(&key)?;
        while let Some((_, mut child)) = slot.ready.pop_front() {
            // One that died while waiting (killed from outside, out of memory) is dropped.
            if matches!(child.try_wait(), Ok(None)) {
                return Some(child);
            }
        }
        None
    }

    /// Starts, in the background, as many processes of `key` as are missing. `spawn` starts one.
    /// Must be called from within a tokio runtime.
    pub(crate) fn refill<F>(&self, key: WarmKey, spawn: F)
    where
        F: Fn() -> io::Result<Child> + Send + 'static,
    {
        let missing = {
            let mut state = self.inner.lock();
            if state.closed {
                return;
            }
            let slot = state.slots.entry(key).or_default();
            let missing = self
                .inner
                .per_key
                .saturating_sub(slot.ready.len() + slot.starting);
            slot.starting += missing;
            missing
        };
        if missing == 0 {
            return;
        }
        let inner = Arc::clone(&self.inner);
        // A task on the runtime's worker threads, not the blocking pool: bubblewrap's
        // --die-with-parent fires when the *thread* that started it exits, and blocking-pool
        // threads exit when idle.
        tokio::spawn(async move {
            for _ in 0..missing {
                let started = spawn();
                if let Err(e) = &started {
                    tracing::warn!(error = %e, "cannot pre-start a script sandbox");
                }
                add(&inner, key, started.ok());
            }
        });
    }

    /// Kills every waiting process and starts no more.
    pub(crate) fn shutdown(&self) {
        let mut state = self.inner.lock();
        state.closed = true;
        state.slots.clear();
    }

    /// Processes of `key` started and not taken (tests, start-up log).
    pub(crate) fn ready(&self, key: WarmKey) -> usize {
        self.inner
            .lock()
            .slots
            .get(&key)
            .map_or(0, |slot| slot.ready.len())
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every await-free step: a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops process `id` of `key` if it is still waiting.
    fn expire(&self, key: WarmKey, id: u64) {
        let mut state = self.lock();
        if let Some(slot) = state.slots.get_mut(&key) {
            slot.ready.retain(|(n, _)| *n != id);
        }
    }
}

/// Files a newly started process (or a failed start: `None`) under `key`, and arms its expiry.
fn add(inner: &Arc<Inner>, key: WarmKey, child: Option<Child>) {
    let id = {
        let mut state = inner.lock();
        let id = state.next_id;
        state.next_id += 1;
        let closed = state.closed;
        let Some(slot) = state.slots.get_mut(&key) else {
            return; // shut down meanwhile: the child is dropped, which kills it
        };
        slot.starting = slot.starting.saturating_sub(1);
        match child {
            Some(child) if !closed => slot.ready.push_back((id, child)),
            _ => return,
        }
        id
    };
    let (weak, idle): (Weak<Inner>, Duration) = (Arc::downgrade(inner), inner.idle);
    tokio::spawn(async move {
        tokio::time::sleep(idle).await;
        if let Some(inner) = weak.upgrade() {
            inner.expire(key, id);
        }
    });
}
