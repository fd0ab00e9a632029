//! Command line and environment configuration: every option is a flag and a `RIVIA_*`
//! variable, with defaults that work with zero setup.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Rivia: a Syncano platform API v1.1 server.
#[derive(Debug, Parser)]
#[command(name = "rivia", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (boxed: its options outweigh the other commands).
    Serve(Box<ServeArgs>),
    /// Administrative tasks on the store.
    Admin {
        /// The task.
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Back up an instance to a file, restore one, list backups.
    Backup {
        /// The task.
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
}

/// `rivia backup …` (README, Backups).
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up a whole instance. Without `--out` the backup is kept under the data
    /// directory and listed by the API like one made there.
    Create {
        /// Instance name.
        #[arg(long)]
        instance: String,
        /// Archive file to write.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Where the data lives.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Restore an archive into an instance: a new one (created with the archive's
    /// admins, ids and keys) or an existing empty one.
    Restore {
        /// Archive file.
        file: PathBuf,
        /// Instance name.
        #[arg(long)]
        instance: String,
        /// Where the data lives.
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the backups recorded in the database.
    List {
        /// Where the data lives.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// `rivia admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an active admin account and print its account key.
    Create {
        /// Account email.
        #[arg(long)]
        email: String,
        /// Password (omit to create an account that logs in by key only).
        #[arg(long, env = "RIVIA_ADMIN_PASSWORD")]
        password: Option<String>,
        /// Where the data lives.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite database and uploaded files.
    #[arg(long, env = "RIVIA_DATA_DIR", default_value = "./rivia-data")]
    pub data_dir: PathBuf,
    /// `postgres://` URL; when set, PostgreSQL is the store instead of SQLite.
    #[arg(long, env = "RIVIA_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// `rivia serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "RIVIA_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Where the data lives.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Close open registration (`/v1.1/account/register/` answers 400).
    #[arg(long, default_value_t = false)]
    pub no_registration: bool,
    /// `open` or `closed`.
    #[arg(long, env = "RIVIA_REGISTRATION", default_value = "open")]
    pub registration: String,
    /// Instances one admin may own.
    #[arg(long, env = "RIVIA_INSTANCE_LIMIT", default_value_t = 16)]
    pub instance_limit: i64,
    /// Classes per instance.
    #[arg(long, env = "RIVIA_CLASS_LIMIT", default_value_t = 100)]
    pub class_limit: i64,
    /// Requests per second per instance (0 = unlimited). Off by default: Syncano's
    /// per-plan rate was a billing feature of the hosted service, not a safety limit.
    #[arg(long, env = "RIVIA_INSTANCE_RATE", default_value_t = 0)]
    pub instance_rate: u32,
    /// Requests per second per admin on account-level URLs (0 = unlimited, the default).
    #[arg(long, env = "RIVIA_ADMIN_RATE", default_value_t = 0)]
    pub admin_rate: u32,
    /// Anonymous requests per second per client IP (0 = unlimited).
    #[arg(long, env = "RIVIA_ANON_RATE", default_value_t = 10)]
    pub anon_rate: u32,
    /// Channel polls per second per instance (0 = unlimited, the default).
    #[arg(long, env = "RIVIA_POLL_RATE", default_value_t = 0)]
    pub poll_rate: u32,
    /// The public base URL clients reach this server at (`https://api.example.com`), used
    /// for absolute file URLs behind a proxy; unset = the request's scheme and `Host`.
    #[arg(long, env = "RIVIA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Seconds a long poll is held before answering 204.
    #[arg(long, env = "RIVIA_POLL_TIMEOUT", default_value_t = 300)]
    pub poll_timeout: u64,
    /// Serve `/_bench/fixed/{bytes}/` (a fixed JSON body), the baseline of `bench/`.
    #[arg(
        long,
        env = "RIVIA_BENCH_BASELINE",
        default_value_t = false,
        hide = true
    )]
    pub bench_baseline: bool,
    /// Seconds from a request's first byte to the end of its head; slower clients are cut.
    #[arg(long, env = "RIVIA_HEADER_TIMEOUT", default_value_t = crate::state::DEFAULT_HEADER_TIMEOUT)]
    pub header_timeout: u64,
    /// Seconds to receive a request's whole body; slower bodies answer 408.
    #[arg(long, env = "RIVIA_BODY_TIMEOUT", default_value_t = crate::state::DEFAULT_BODY_TIMEOUT)]
    pub body_timeout: u64,
    /// Seconds a keep-alive connection may stay quiet with no request in flight.
    #[arg(long, env = "RIVIA_IDLE_TIMEOUT", default_value_t = crate::state::DEFAULT_IDLE_TIMEOUT)]
    pub idle_timeout: u64,
    /// Log format: `text` (human-readable) or `json` (one object per line).
    #[arg(
        long,
        env = "RIVIA_LOG_FORMAT",
        value_enum,
        ignore_case = true,
        default_value = "text"
    )]
    pub log_format: crate::logging::LogFormat,
    /// Log one line per request (method, path with secrets redacted, route, status, time).
    #[arg(long, env = "RIVIA_ACCESS_LOG", default_value_t = false)]
    pub access_log: bool,
    /// Address of a second listener serving `/metrics` (Prometheus), `/healthz` and
    /// `/readyz`; unset = no metrics listener and no per-request metrics.
    #[arg(long, env = "RIVIA_METRICS_BIND")]
    pub metrics_bind: Option<String>,
    /// Script runs at once on this node (0 = twice the core count).
    #[arg(long, env = "RIVIA_SCRIPT_CONCURRENCY", default_value_t = 0)]
    pub script_concurrency: usize,
    /// Script runs at once per instance (0 = half of `--script-concurrency`).
    #[arg(long, env = "RIVIA_SCRIPT_INSTANCE_CONCURRENCY", default_value_t = 0)]
    pub script_instance_concurrency: usize,
    /// Seconds a run may wait for a slot before its trace ends as `queue_timeout`.
    #[arg(long, env = "RIVIA_SCRIPT_QUEUE_TIMEOUT", default_value_t = 60)]
    pub script_queue_timeout: u64,
    /// Outbound network for scripts: `on` or `off`.
    #[arg(long, env = "RIVIA_SCRIPT_NETWORK", default_value = "on")]
    pub script_network: String,
    /// Run scripts WITHOUT a sandbox (they can read everything the server can).
    #[arg(long, env = "RIVIA_SCRIPTS_UNSAFE_NO_SANDBOX", default_value_t = false)]
    pub scripts_unsafe_no_sandbox: bool,
    /// Python sandboxes kept started ahead of their run, per kind (network, limits); each
    /// serves one run. 0 = every run starts its own.
    #[arg(long, env = "RIVIA_SCRIPT_WARM_SANDBOXES", default_value_t = 2)]
    pub script_warm_sandboxes: usize,
    /// Seconds shutdown waits for running scripts before killing them.
    #[arg(long, env = "RIVIA_SCRIPT_SHUTDOWN_GRACE", default_value_t = 10)]
    pub script_shutdown_grace: u64,
    /// `META.api_host` given to scripts (default: the bind address).
    #[arg(long, env = "RIVIA_API_HOST")]
    pub api_host: Option<String>,
    /// Schedules per instance.
    #[arg(long, env = "RIVIA_SCHEDULE_LIMIT", default_value_t = 100)]
    pub schedule_limit: i64,
    /// Seconds a node's claim on a trigger or schedule run lasts without renewal: after
    /// a node dies, its runs are taken over this long after its last renewal.
    #[arg(long, env = "RIVIA_JOB_LEASE", default_value_t = 30)]
    pub job_lease: u64,
    /// Milliseconds between looks for runs enqueued by other nodes.
    #[arg(long, env = "RIVIA_JOB_POLL_MS", default_value_t = 1000, hide = true)]
    pub job_poll_ms: u64,
    /// TEST ONLY: the smallest `interval_sec` a schedule may have (the platform's is 30).
    #[arg(
        long,
        env = "RIVIA_TEST_SCHEDULE_MIN_INTERVAL",
        default_value_t = 30,
        hide = true
    )]
    pub test_schedule_min_interval: i64,
    /// TEST ONLY: read the schedules' "now" from this file (Unix seconds) instead of the
    /// system clock, so tests can move time forward.
    #[arg(long, env = "RIVIA_TEST_CLOCK_FILE", hide = true)]
    pub test_clock_file: Option<std::path::PathBuf>,
    /// The admin dashboard at `/_/`: `on` or `off`.
    #[arg(long, env = "RIVIA_DASHBOARD", value_enum, ignore_case = true, default_value_t = Switch::On)]
    pub dashboard: Switch,
}

/// A feature switch given as `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

impl ServeArgs {
    /// The script settings these arguments ask for.
    pub fn script_settings(&self) -> crate::runner::ScriptSettings {
        let mut s = if self.script_concurrency == 0 {
            crate::runner::ScriptSettings::default()
        } else {
            crate::runner::ScriptSettings::with_concurrency(self.script_concurrency)
        };
        if self.script_instance_concurrency > 0 {
            s.per_instance = self.script_instance_concurrency;
        }
        s.queue_timeout = std::time::Duration::from_secs(self.script_queue_timeout);
        s.shutdown_grace = std::time::Duration::from_secs(self.script_shutdown_grace);
        s.network = !self.script_network.eq_ignore_ascii_case("off");
        s.engine.warm_per_kind = self.script_warm_sandboxes;
        if self.scripts_unsafe_no_sandbox {
            s.engine.sandbox = rivia_scripts::SandboxMode::UnsafeNoSandbox;
        }
        s.api_host = self.api_host.clone().unwrap_or_else(|| self.bind.clone());
        s
    }

    /// The background job settings these arguments ask for.
    pub fn job_settings(&self) -> crate::workers::JobSettings {
        crate::workers::JobSettings {
            poll: std::time::Duration::from_millis(self.job_poll_ms.max(10)),
            lease: std::time::Duration::from_secs(self.job_lease.max(1)),
            schedule_min_interval: self.test_schedule_min_interval.max(1),
            schedule_limit: self.schedule_limit.max(0),
            clock: match &self.test_clock_file {
                Some(path) => crate::workers::Clock::File(path.clone()),
                None => crate::workers::Clock::System,
            },
            ..Default::default()
        }
    }

    /// Whether the dashboard is served.
    pub fn dashboard_on(&self) -> bool {
        self.dashboard == Switch::On
    }

    /// Whether open registration is on.
    pub fn registration_open(&self) -> bool {
        !self.no_registration && !self.registration.eq_ignore_ascii_case("closed")
    }
}
