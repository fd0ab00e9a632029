//! The execution service of scripts (spec-scripts §5, §6): a bounded executor in front of
//! the sandbox engine. A run is accepted at once (its trace is `pending`), waits for a slot
//! of its instance and a global slot, bounded by `queue_timeout` (then `queue_timeout`), is
//! marked `processing`, runs in the engine and stores its final trace.
//!
//! The global limit keeps the host's cores from being oversubscribed; the per-instance
//! share (half of it by default) keeps one busy instance from taking every slot.

mod result;
pub(crate) use result::{py_str_len, result_json};

use rivia_scripts::{Engine, EngineConfig, Limits, RunRequest, SandboxMode};
use rivia_store::Store;
use rivia_store::traces::{Retention, TraceEnd};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{OnceCell, Semaphore};

/// Script settings, fixed at start-up.
#[derive(Debug, Clone)]
pub struct ScriptSettings {
    /// The sandbox.
    pub engine: EngineConfig,
    /// Runs at once on this node.
    pub concurrency: usize,
    /// Runs at once per instance.
    pub per_instance: usize,
    /// Runs accepted and not finished beyond which a new run ends at once as `blocked`
    /// (the platform: 50 × its concurrency).
    pub queue_limit: usize,
    /// Longest wait for a slot before the trace ends as `queue_timeout`.
    pub queue_timeout: Duration,
    /// Default and maximum of the script config's `timeout` (spec-scripts §5).
    pub default_timeout: Duration,
    /// Maximum `timeout`.
    pub max_timeout: Duration,
    /// Outbound network for scripts.
    pub network: bool,
    /// `META.api_host`.
    pub api_host: String,
    /// Trace retention.
    pub retention: Retention,
    /// How long shutdown waits for running scripts before it kills them.
    pub shutdown_grace: Duration,
    /// Added to the longest queue wait and run before an unfinished trace counts as
    /// abandoned by a stopped server ([`Runner::sweep_stale_traces`]).
    pub stale_margin: Duration,
}

impl ScriptSettings {
    /// Defaults from the core count: twice as many runs as cores (an interpreter start waits
    /// on the disk and the kernel as much as on a core), half of them per instance.
    pub fn with_concurrency(concurrency: usize) -> ScriptSettings {
        let concurrency = concurrency.max(1);
        ScriptSettings {
            engine: EngineConfig::default(),
            concurrency,
            per_instance: (concurrency / 2).max(1),
            queue_limit: 50 * concurrency,
            queue_timeout: Duration::from_secs(60),
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(300),
            network: true,
            api_host: "127.0.0.1:8080".to_owned(),
            retention: Retention::default(),
            shutdown_grace: Duration::from_secs(10),
            stale_margin: Duration::from_secs(60),
        }
    }
}

impl Default for ScriptSettings {
    fn default() -> ScriptSettings {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        ScriptSettings::with_concurrency(cores * 2)
    }
}

/// What a run needs besides the script's own fields.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub(crate) instance_id: i64,
    /// The run's `META.token`, revoked when the run ends.
    pub(crate) token: Option<String>,
    pub(crate) kind: &'static str,
    pub(crate) trace_id: i64,
    pub(crate) request: RunRequest,
}

/// The executor; one per server.
pub struct Runner {
    settings: ScriptSettings,
    engine: OnceCell<Engine>,
    global: Arc<Semaphore>,
    instances: parking_lot::Mutex<HashMap<i64, Arc<Semaphore>>>,
    last_prune: AtomicI64,
    /// Runs accepted and not finished: their trace and, once spawned, their task.
    running: parking_lot::Mutex<HashMap<u64, Running>>,
    next_run: AtomicU64,
    /// Live `META.token`s: token → (instance id, expiry µs).
    tokens: parking_lot::Mutex<HashMap<String, (i64, i64)>>,
    /// Finished runs by trace status (`/metrics`).
    runs: crate::metrics::ScriptRunCounter,
}

/// Runs accepted and not finished, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Load {
    /// Waiting for a slot.
    pub(crate) queued: usize,
    /// Executing.
    pub(crate) running: usize,
}

/// How long a `META.token` lives at most (the platform: 600 s from the run's start).
const TOKEN_LIFETIME_MICROS: i64 = 600_000_000;

/// A run in flight, for shutdown.
struct Running {
    instance_id: i64,
    kind: &'static str,
    trace_id: i64,
    task: Option<tokio::task::AbortHandle>,
}

impl Runner {
    /// A runner; the engine starts on first use (or [`Runner::engine`] at start-up).
    pub fn new(settings: ScriptSettings) -> Runner {
        Runner {
            global: Arc::new(Semaphore::new(settings.concurrency)),
            settings,
            engine: OnceCell::new(),
            instances: Default::default(),
            last_prune: AtomicI64::new(0),
            running: Default::default(),
            next_run: AtomicU64::new(0),
            tokens: Default::default(),
            runs: Default::default(),
        }
    }

    /// Finished runs by trace status.
    pub(crate) fn run_counter(&self) -> &crate::metrics::ScriptRunCounter {
        &self.runs
    }

    /// Counts a run that ended with trace status `status`.
    fn finished(&self, status: &'static str) {
        self.runs
            .get_or_create(&crate::metrics::StatusLabel::new(status))
            .inc();
    }

    /// Runs executing and runs waiting for a slot, now.
    pub(crate) fn load(&self) -> Load {
        let accepted = self.running.lock().len();
        let running = self
            .settings
            .concurrency
            .saturating_sub(self.global.available_permits());
        Load {
            queued: accepted.saturating_sub(running),
            running,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &ScriptSettings {
        &self.settings
    }

    /// The engine, probing the host on first call.
    pub async fn engine(&self) -> &Engine {
        self.engine
            .get_or_init(|| Engine::start(self.settings.engine.clone()))
            .await
    }

    /// Limits of a run whose script config asked for `timeout` (spec-scripts §5: a JSON
    /// number > 0, capped; anything else means the default).
    pub(crate) fn limits(&self, timeout: Option<&Value>) -> Limits {
        let seconds = timeout
            .and_then(Value::as_f64)
            .filter(|t| *t > 0.0 && t.is_finite())
            .map(|t| t.min(self.settings.max_timeout.as_secs_f64()));
        Limits {
            timeout: seconds.map_or(self.settings.default_timeout, Duration::from_secs_f64),
            ..Limits::default()
        }
    }

    fn instance_slots(&self, instance_id: i64) -> Arc<Semaphore> {
        self.instances
            .lock()
            .entry(instance_id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.settings.per_instance)))
            .clone()
    }

    /// A new `META.token` for a run in `instance_id` (spec-scripts §3): it authenticates as
    /// the instance owner, only under that instance's URLs, until the run ends (or 600 s).
    /// Lowercase only, because primary keys are compared lowercased.
    pub(crate) fn issue_token(&self, instance_id: i64) -> String {
        let expires = rivia_core::time::now_micros() + TOKEN_LIFETIME_MICROS;
        let token = format!(
            "{instance_id}:{}:{}",
            expires / 1_000_000,
            rivia_core::keys::new_token()
        );
        self.tokens
            .lock()
            .insert(token.clone(), (instance_id, expires));
        token
    }

    /// The instance a live `META.token` belongs to.
    pub(crate) fn token_instance(&self, token: &str) -> Option<i64> {
        let now = rivia_core::time::now_micros();
        let tokens = self.tokens.lock();
        let (instance_id, expires) = tokens.get(token)?;
        (*expires > now).then_some(*instance_id)
    }

    fn revoke(&self, token: Option<&String>) {
        if let Some(t) = token {
            self.tokens.lock().remove(t);
        }
    }

    /// Runs `job` in the background; its trace records the outcome.
    pub(crate) fn submit(self: &Arc<Self>, store: Store, job: Job) {
        self.submit_with(store, job, None);
    }

    /// Runs `job` through the same queue as [`Runner::submit`] and waits for its end (script
    /// endpoints answer with it). Dropping the future does not stop the run: its trace is
    /// still written.
    pub(crate) async fn run_and_wait(self: &Arc<Self>, store: Store, job: Job) -> RunEnd {
        let (reply, ended) = tokio::sync::oneshot::channel();
        self.submit_with(store, job, Some(reply));
        // A dropped sender: the run was stopped at shutdown.
        ended.await.unwrap_or_else(|_| RunEnd::stopped())
    }

    fn submit_with(
        self: &Arc<Self>,
        store: Store,
        job: Job,
        reply: Option<tokio::sync::oneshot::Sender<RunEnd>>,
    ) {
        if self.running.lock().len() >= self.settings.queue_limit {
            self.revoke(job.token.as_ref());
            self.finished("blocked");
            tokio::spawn(async move {
                let end = TraceEnd {
                    status: "blocked",
                    executed_at: rivia_core::time::now_micros(),
                    duration: None,
                    result: "{}",
                    result_len: 2,
                };
                if let Err(e) = store
                    .finish_trace(job.instance_id, job.kind, job.trace_id, &end)
                    .await
                {
                    tracing::error!(trace = job.trace_id, error = %e, "could not block a run");
                }
                if let Some(reply) = reply {
                    let _ = reply.send(RunEnd::from_trace_end(&end));
                }
            });
            return;
        }
        let run = self.next_run.fetch_add(1, Ordering::Relaxed);
        // Registered before the task exists, so that the task's removal always comes after.
        self.running.lock().insert(
            run,
            Running {
                instance_id: job.instance_id,
                kind: job.kind,
                trace_id: job.trace_id,
                task: None,
            },
        );
        let runner = self.clone();
        let task = tokio::spawn(async move {
            match runner.execute(&store, &job).await {
                Ok(end) => {
                    if let (Some(reply), Some(end)) = (reply, end) {
                        let _ = reply.send(end);
                    }
                }
                Err(e) => {
                    tracing::error!(trace = job.trace_id, error = %e, "script run could not be recorded")
                }
            }
            runner.revoke(job.token.as_ref());
            runner.running.lock().remove(&run);
            runner.maybe_prune(&store).await;
        });
        if let Some(entry) = self.running.lock().get_mut(&run) {
            entry.task = Some(task.abort_handle());
        }
    }

    /// Waits up to [`ScriptSettings::shutdown_grace`] for the runs in flight, then kills the
    /// rest (dropping a run kills its sandbox) and ends their traces as `failure`.
    pub async fn shutdown(&self, store: &Store) {
        // Pre-started sandboxes go first: runs still finishing need none.
        if let Some(engine) = self.engine.get() {
            engine.shutdown();
        }
        let deadline = Instant::now() + self.settings.shutdown_grace;
        while !self.running.lock().is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let left: Vec<Running> = self.running.lock().drain().map(|(_, r)| r).collect();
        if left.is_empty() {
            return;
        }
        tracing::warn!(
            runs = left.len(),
            "shutdown: stopping script runs still going"
        );
        let result = json!({"stdout": "", "stderr": "The run was stopped: the server shut down."});
        let text = result.to_string();
        for r in left {
            if let Some(task) = &r.task {
                task.abort();
            }
            self.finished("failure");
            let end = TraceEnd {
                status: "failure",
                executed_at: rivia_core::time::now_micros(),
                duration: None,
                result: &text,
                result_len: py_str_len(&result),
            };
            if let Err(e) = store
                .finish_trace(r.instance_id, r.kind, r.trace_id, &end)
                .await
            {
                tracing::warn!(trace = r.trace_id, error = %e, "could not mark a stopped run");
            }
        }
    }

    /// Runs one job to its end and records it; `None` when the trace had already left
    /// `pending` (another writer ended it).
    async fn execute(&self, store: &Store, job: &Job) -> rivia_store::StoreResult<Option<RunEnd>> {
        let instance_slots = self.instance_slots(job.instance_id);
        let queued = async {
            let a = instance_slots.acquire_owned().await.ok()?;
            let b = self.global.clone().acquire_owned().await.ok()?;
            Some((a, b))
        };
        let Ok(Some(_slots)) = tokio::time::timeout(self.settings.queue_timeout, queued).await
        else {
            self.finished("queue_timeout");
            let result = json!({"stdout": "", "stderr": "Internal queue timeout."}).to_string();
            let end = TraceEnd {
                status: "queue_timeout",
                executed_at: rivia_core::time::now_micros(),
                duration: None,
                result: &result,
                result_len: py_str_len(&serde_json::from_str(&result).unwrap_or_default()),
            };
            store
                .finish_trace(job.instance_id, job.kind, job.trace_id, &end)
                .await?;
            return Ok(Some(RunEnd::from_trace_end(&end)));
        };
        if !store
            .start_trace(job.instance_id, job.kind, job.trace_id)
            .await?
        {
            return Ok(None);
        }
        let started = Instant::now();
        let executed_at = rivia_core::time::now_micros();
        let outcome = self.engine().await.run(&job.request).await;
        self.finished(outcome.status.as_str());
        let result = result_json(&outcome);
        let text = result.to_string();
        let end = TraceEnd {
            status: outcome.status.as_str(),
            executed_at,
            duration: Some(started.elapsed().as_millis().min(i64::MAX as u128) as i64),
            result: &text,
            result_len: py_str_len(&result),
        };
        store
            .finish_trace(job.instance_id, job.kind, job.trace_id, &end)
            .await?;
        Ok(Some(RunEnd {
            status: end.status.to_owned(),
            executed_at,
            duration: end.duration,
            result,
            response: outcome.response,
        }))
    }

    /// How long an unfinished trace may go unwritten before it counts as abandoned: the
    /// longest queue wait and the longest run (with its kill grace) plus a margin. A live
    /// run writes its trace when it starts and when it ends, so on a shared PostgreSQL no
    /// node's sweep can end another live node's run (nodes should share these settings).
    pub fn stale_after(&self) -> Duration {
        let s = &self.settings;
        s.queue_timeout + s.max_timeout + s.engine.kill_grace + s.stale_margin
    }

    /// Ends as `failure` the traces left `pending`/`processing` by a server that stopped
    /// without finishing them (kill -9, power loss); returns how many.
    pub async fn sweep_stale_traces(&self, store: &Store) -> rivia_store::StoreResult<u64> {
        let bound = i64::try_from(self.stale_after().as_micros()).unwrap_or(i64::MAX);
        let before = rivia_core::time::now_micros().saturating_sub(bound);
        let result = json!({"stdout": "", "stderr": STALE_MESSAGE});
        let n = store
            .fail_stale_traces(before, &result.to_string(), py_str_len(&result))
            .await?;
        if n > 0 {
            tracing::warn!(
                traces = n,
                "ended runs abandoned by a stopped server as failure"
            );
        }
        Ok(n)
    }

    /// Sweeps at once, then every [`STALE_SWEEP_EVERY`], for as long as the server runs.
    pub async fn keep_sweeping_stale_traces(&self, store: Store) {
        let mut tick = tokio::time::interval(STALE_SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.sweep_stale_traces(&store).await {
                tracing::warn!(error = %e, "sweeping abandoned traces failed");
            }
        }
    }

    /// Runs `request` for a background job (a trigger or schedule run) and returns its
    /// trace's final fields instead of storing them: the job's worker stores them in the
    /// transaction that ends the job. It waits for a slot of its instance and a global slot
    /// as long as it takes (the job's lease is kept alive meanwhile); `token` (its
    /// `META.token`) is revoked when the run ends.
    pub(crate) async fn run_for_job(
        &self,
        instance_id: i64,
        request: &RunRequest,
        token: Option<String>,
    ) -> JobRunEnd {
        let instance_slots = self.instance_slots(instance_id);
        let slots = async {
            let a = instance_slots.acquire_owned().await.ok()?;
            let b = self.global.clone().acquire_owned().await.ok()?;
            Some((a, b))
        }
        .await;
        let started = Instant::now();
        let executed_at = rivia_core::time::now_micros();
        let outcome = match slots {
            Some(_slots) => Some(self.engine().await.run(request).await),
            None => None,
        };
        self.revoke(token.as_ref());
        let Some(outcome) = outcome else {
            let result = json!({"stdout": "", "stderr": "The executor is shutting down."});
            return JobRunEnd {
                status: "failure",
                executed_at,
                duration: None,
                result_len: py_str_len(&result),
                result: result.to_string(),
            };
        };
        let result = result_json(&outcome);
        JobRunEnd {
            status: outcome.status.as_str(),
            executed_at,
            duration: Some(started.elapsed().as_millis().min(i64::MAX as u128) as i64),
            result_len: py_str_len(&result),
            result: result.to_string(),
        }
    }

    /// Deletes expired traces at most once a minute.
    pub(crate) async fn maybe_prune(&self, store: &Store) {
        let now = rivia_core::time::now_micros();
        let last = self.last_prune.load(Ordering::Relaxed);
        if now - last < 60_000_000
            || self
                .last_prune
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(e) = store.prune_traces(self.settings.retention).await {
            tracing::warn!(error = %e, "pruning traces failed");
        }
    }
}

/// The final fields of a background job's trace (see [`Runner::run_for_job`]).
#[derive(Debug, Clone)]
pub(crate) struct JobRunEnd {
    pub(crate) status: &'static str,
    pub(crate) executed_at: i64,
    pub(crate) duration: Option<i64>,
    pub(crate) result: String,
    pub(crate) result_len: i64,
}

/// The stderr of a trace whose run a stopped server abandoned.
pub(crate) const STALE_MESSAGE: &str =
    "The run was stopped: the server stopped during the run (crash or kill) and did not finish it.";
/// How often [`Runner::keep_sweeping_stale_traces`] looks for abandoned traces.
const STALE_SWEEP_EVERY: Duration = Duration::from_secs(60);

/// How a run waited on with [`Runner::run_and_wait`] ended.
#[derive(Debug, Clone)]
pub(crate) struct RunEnd {
    /// The final trace status.
    pub(crate) status: String,
    /// Execution start (or decision time), µs.
    pub(crate) executed_at: i64,
    /// Milliseconds, when it ran.
    pub(crate) duration: Option<i64>,
    /// The trace `result`.
    pub(crate) result: Value,
    /// The script's custom response, if it set one.
    pub(crate) response: Option<rivia_scripts::CustomResponse>,
}

impl RunEnd {
    fn from_trace_end(end: &TraceEnd<'_>) -> RunEnd {
        RunEnd {
            status: end.status.to_owned(),
            executed_at: end.executed_at,
            duration: end.duration,
            result: serde_json::from_str(end.result).unwrap_or_else(|_| json!({})),
            response: None,
        }
    }

    /// A run stopped at shutdown.
    fn stopped() -> RunEnd {
        RunEnd {
            status: "failure".to_owned(),
            executed_at: rivia_core::time::now_micros(),
            duration: None,
            result: json!({"stdout": "", "stderr": "The run was stopped: the server shut down."}),
            response: None,
        }
    }
}

/// Whether runs are isolated on this host (for the start-up log).
pub fn sandboxed(engine: &Engine) -> bool {
    engine.config().sandbox == SandboxMode::Bubblewrap && engine.sandbox_status().is_ok()
}
