//! Shared application state.

use crate::mailer::Mailer;
use crate::throttle::Throttle;
use rivia_store::Store;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// Seconds from a request's first byte to the end of its head (`--header-timeout`).
pub const DEFAULT_HEADER_TIMEOUT: u64 = 20;
/// Seconds to read a request's body (`--body-timeout`): a 15 MB upload needs 1 Mbit/s.
pub const DEFAULT_BODY_TIMEOUT: u64 = 120;
/// Seconds a keep-alive connection may stay quiet between requests (`--idle-timeout`).
pub const DEFAULT_IDLE_TIMEOUT: u64 = 60;

/// Tunables of a running server.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Open registration.
    pub registration_open: bool,
    /// Instances per owner.
    pub instance_limit: i64,
    /// Classes per instance.
    pub class_limit: i64,
    /// Requests/s per instance (0 = unlimited).
    pub instance_rate: u32,
    /// Requests/s per admin on account URLs.
    pub admin_rate: u32,
    /// Anonymous requests/s per IP.
    pub anon_rate: u32,
    /// Polls/s per instance.
    pub poll_rate: u32,
    /// How long a poll is held.
    pub poll_timeout: Duration,
    /// Data directory (SQLite file, uploads, outbox).
    pub data_dir: PathBuf,
    /// Serve `/_bench/fixed/{bytes}/`, the fixed-JSON baseline of the benchmarks.
    pub bench_baseline: bool,
    /// From a request's first byte to the end of its head.
    pub header_timeout: Duration,
    /// Reading a request's body, whole.
    pub body_timeout: Duration,
    /// A keep-alive connection with no request in flight, since its last byte.
    pub idle_timeout: Duration,
    /// The public base URL (scheme and host, maybe a path prefix, no trailing slash) that
    /// absolute file URLs start with; `None` = the request's scheme and `Host`.
    pub public_url: Option<String>,
    /// Script execution.
    pub scripts: crate::runner::ScriptSettings,
    /// Record per-request metrics (`--metrics-bind` set).
    pub metrics: bool,
    /// Serve the admin dashboard at `/_/`.
    pub dashboard: bool,
    /// Background jobs: triggers and schedules.
    pub jobs: crate::workers::JobSettings,
}

impl Settings {
    /// The rate limits in force, for the start-up log (0 = unlimited).
    pub fn rate_summary(&self) -> String {
        let rate = |r: u32| match r {
            0 => "unlimited".to_string(),
            r => format!("{r}/s"),
        };
        format!(
            "Rate limits: per instance {}, per admin {}, channel polls {}, anonymous per IP {}",
            rate(self.instance_rate),
            rate(self.admin_rate),
            rate(self.poll_rate),
            rate(self.anon_rate),
        )
    }

    /// Settings for tests: no throttling, short polls.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        Settings {
            registration_open: true,
            instance_limit: 16,
            class_limit: 100,
            instance_rate: 0,
            admin_rate: 0,
            anon_rate: 0,
            poll_rate: 0,
            poll_timeout: Duration::from_secs(300),
            data_dir,
            bench_baseline: false,
            header_timeout: Duration::from_secs(DEFAULT_HEADER_TIMEOUT),
            body_timeout: Duration::from_secs(DEFAULT_BODY_TIMEOUT),
            idle_timeout: Duration::from_secs(DEFAULT_IDLE_TIMEOUT),
            public_url: None,
            scripts: crate::runner::ScriptSettings::default(),
            metrics: true,
            dashboard: true,
            jobs: crate::workers::JobSettings {
                poll: Duration::from_millis(200),
                schedule_tick: Duration::from_millis(100),
                ..Default::default()
            },
        }
    }

    /// The connection timeouts of `rivia serve`.
    pub fn timeouts(&self) -> crate::server::Timeouts {
        crate::server::Timeouts {
            header: self.header_timeout,
            idle: self.idle_timeout,
        }
    }
}

/// Everything a handler can reach.
pub struct Inner {
    /// The store.
    pub(crate) store: Store,
    /// Tunables.
    pub(crate) settings: Settings,
    /// Outgoing mail.
    pub(crate) mailer: Mailer,
    /// Rate limiting.
    pub(crate) throttle: Throttle,
    /// Caches of the authentication lookups.
    pub(crate) cache: crate::cache::AuthCache,
    /// The script executor.
    pub(crate) runner: Arc<crate::runner::Runner>,
    /// Metrics (`/metrics`).
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
    /// Response templates: compiled-template cache and rendering threads.
    pub(crate) templates: crate::templates::Templates,
    /// Background backup and restore jobs of this node.
    pub(crate) jobs: crate::jobs::Jobs,
    /// Bounds concurrent Argon2 work (each hash takes 19 MiB and a core for ~25 ms).
    hash_permits: Semaphore,
}

/// Cheaply clonable handle to [`Inner`].
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// The script executor (`rivia serve` starts its engine and logs what it found).
    pub fn runner(&self) -> &crate::runner::Runner {
        &self.runner
    }

    /// Builds the state.
    pub fn new(store: Store, settings: Settings) -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let mailer = Mailer::new(settings.data_dir.clone());
        let runner = Arc::new(crate::runner::Runner::new(settings.scripts.clone()));
        let throttle = Throttle::default();
        let metrics = Arc::new(crate::metrics::Metrics::new(
            &store,
            &runner,
            throttle.refused(),
        ));
        AppState(Arc::new(Inner {
            runner,
            metrics,
            store,
            settings,
            mailer,
            throttle,
            cache: Default::default(),
            // Rendering is CPU work: one thread per core.
            templates: crate::templates::Templates::new(cores),
            jobs: Default::default(),
            hash_permits: Semaphore::new(cores),
        }))
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The server's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Hashes a password off the async workers.
    pub(crate) async fn hash_password(
        &self,
        password: &str,
    ) -> Result<String, crate::error::ApiError> {
        let _permit = self
            .hash_permits
            .acquire()
            .await
            .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?;
        let pw = password.to_string();
        tokio::task::spawn_blocking(move || rivia_core::password::hash(&pw))
            .await
            .map_err(|e| crate::error::ApiError::Internal(e.to_string()))?
            .map_err(crate::error::ApiError::Internal)
    }

    /// Verifies a password off the async workers. `None` verifies against a dummy hash so
    /// that unknown accounts cost the same time as known ones, and always fails.
    pub(crate) async fn verify_password(&self, password: &str, hash: Option<&str>) -> bool {
        let Ok(_permit) = self.hash_permits.acquire().await else {
            return false;
        };
        let pw = password.to_string();
        let known = hash.is_some();
        let phc = hash
            .map(str::to_string)
            .unwrap_or_else(|| rivia_core::password::dummy_hash().to_string());
        let ok = tokio::task::spawn_blocking(move || rivia_core::password::verify(&pw, &phc))
            .await
            .unwrap_or(false);
        ok && known
    }
}
