//! Runs ONE Syncano script in a sandbox (spec-scripts §1, §13; design §5.2, §5.4).
//!
//! No HTTP, no database: the input is a [`RunRequest`] (runtime key, source, ARGS, CONFIG, META,
//! [`Limits`], network on/off), the output a [`RunOutcome`] (status, stdout, stderr, optional
//! [`CustomResponse`], duration, truncation flags). An [`Engine`] is built once at start-up
//! ([`Engine::start`] probes the host's interpreters and bubblewrap) and shared by every run.
//!
//! Layout: [`runtimes`] (the §1.1 table and host toolchains), `program` (wrappers and templates
//! per language), `sandbox` (the bubblewrap command line and limits), `capture` (capped pipes),
//! `protocol` (exit status, separator and custom response → outcome), `exec` (one run), `warm`
//! (sandboxes started ahead of their run).

mod capture;
mod exec;
mod golang;
mod program;
mod protocol;
mod run_dir;
pub mod runtimes;
mod sandbox;
mod warm;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

pub use runtimes::{Toolchain, Toolchains};

/// Resource limits of one run.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall clock. The wrapper stops the script at this point (exit 124); the engine kills the
    /// whole sandbox [`EngineConfig::kill_grace`] later if it is still alive. Both → `timeout`.
    pub timeout: Duration,
    /// Writable private memory of each process (RLIMIT_DATA; see `sandbox` for why not AS).
    pub memory_bytes: u64,
    /// Processes and threads the script may have at once (RLIMIT_NPROC in its own user namespace).
    pub processes: u64,
    /// Largest file the script may write (RLIMIT_FSIZE).
    pub file_size_bytes: u64,
    /// Size of each private tmpfs (`/scratch`, the cwd, and `/tmp`).
    pub scratch_bytes: u64,
    /// Bytes kept of stdout; stderr keeps what stdout left (spec-scripts §1.5).
    pub output_bytes: usize,
}

impl Default for Limits {
    /// The platform's values where it had one (30 s, 320 MB, 524288 output bytes).
    fn default() -> Limits {
        Limits {
            timeout: Duration::from_secs(30),
            memory_bytes: 320 << 20,
            processes: 64,
            file_size_bytes: 16 << 20,
            scratch_bytes: 64 << 20,
            output_bytes: 524_288,
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// A runtime key of spec-scripts §1.1 or a hidden alias (`python`, `nodejs`).
    pub runtime: String,
    pub source: String,
    pub args: Value,
    pub config: Value,
    pub meta: Value,
    pub limits: Limits,
    /// Outbound network (on by default in Rivia: Syncano scripts call outside services).
    pub network: bool,
}

/// Final state of a run (trace `status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    Success,
    Failure,
    Timeout,
}

impl RunStatus {
    /// The trace `status` string.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Failure => "failure",
            RunStatus::Timeout => "timeout",
        }
    }
}

/// A custom HTTP response the script registered (spec-scripts §1.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomResponse {
    pub status: i64,
    pub content_type: String,
    pub content: String,
    /// Empty when the script set none (the result then has no `headers` key).
    pub headers: Vec<(String, String)>,
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub stdout: String,
    pub stderr: String,
    pub response: Option<CustomResponse>,
    /// Wall clock from the call to the end of the run, sandbox start-up included unless the run
    /// was given a pre-started sandbox.
    pub duration_ms: u64,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

/// How scripts are isolated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SandboxMode {
    /// bubblewrap with fresh user/pid/ipc/uts/cgroup (and net when off) namespaces.
    Bubblewrap,
    /// The interpreter runs directly on the host with only rlimits and a cleared environment:
    /// a script can read anything the server can. For trusted single-user setups only.
    UnsafeNoSandbox,
}

/// Engine settings, fixed at start-up.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    pub sandbox: SandboxMode,
    /// The bubblewrap binary.
    pub bwrap: PathBuf,
    /// Where each run's private source directory is created (removed after the run).
    pub work_dir: PathBuf,
    /// Host uid/gid bubblewrap runs as. When the server is root this defaults to `nobody`
    /// (65534): the kernel never applies RLIMIT_NPROC to processes whose real uid is host root,
    /// even inside a user namespace, so a fork bomb would not be contained.
    pub run_as: Option<(u32, u32)>,
    /// How long after `timeout` a still-running sandbox is killed.
    pub kill_grace: Duration,
    /// Sandboxes kept started ahead of their run, per kind (see `warm`; Python only); 0 = none.
    /// Each is used by one run only. They do not count against any run concurrency limit.
    pub warm_per_kind: usize,
    /// How long a pre-started sandbox waits for a run before it is stopped.
    pub warm_idle: Duration,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        let root = effective_uid() == Some(0);
        EngineConfig {
            sandbox: SandboxMode::Bubblewrap,
            bwrap: PathBuf::from("/usr/bin/bwrap"),
            work_dir: std::env::temp_dir().join("rivia-scripts"),
            run_as: root.then_some((65534, 65534)),
            kill_grace: Duration::from_secs(1),
            warm_per_kind: 2,
            warm_idle: Duration::from_secs(60),
        }
    }
}

/// The server's effective uid: `/proc/self` is owned by it (avoids an FFI call).
fn effective_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// Runs scripts; build once with [`Engine::start`] and share (it is cheap to clone).
#[derive(Clone, Debug)]
pub struct Engine {
    config: EngineConfig,
    toolchains: Toolchains,
    /// `Err(reason)` when bubblewrap cannot sandbox on this host.
    sandbox_ready: Result<(), String>,
    pool: warm::Pool,
}

impl Engine {
    /// Probes the host's interpreters and, in [`SandboxMode::Bubblewrap`], whether bubblewrap can
    /// create its namespaces here (one `true` run, a few ms).
    pub async fn start(config: EngineConfig) -> Engine {
        let toolchains = Toolchains::probe().await;
        Engine::with_toolchains(config, toolchains).await
    }

    /// Like [`Engine::start`] with a given toolchain table.
    pub async fn with_toolchains(config: EngineConfig, toolchains: Toolchains) -> Engine {
        let sandbox_ready = match config.sandbox {
            SandboxMode::Bubblewrap => sandbox::probe(&config).await,
            SandboxMode::UnsafeNoSandbox => Ok(()),
        };
        let pool = warm::Pool::new(config.warm_per_kind, config.warm_idle);
        Engine {
            config,
            toolchains,
            sandbox_ready,
            pool,
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub fn toolchains(&self) -> &Toolchains {
        &self.toolchains
    }

    /// `Err(reason)` when runs will fail because the sandbox cannot be built.
    pub fn sandbox_status(&self) -> Result<(), &str> {
        self.sandbox_ready
            .as_ref()
            .map(|_| ())
            .map_err(String::as_str)
    }

    /// One line for the start-up log: sandbox state and available runtimes.
    pub fn summary(&self) -> String {
        let sandbox = match (&self.config.sandbox, &self.sandbox_ready) {
            (SandboxMode::UnsafeNoSandbox, _) => "NO SANDBOX (unsafe_no_sandbox)".to_owned(),
            (SandboxMode::Bubblewrap, Ok(())) => "bubblewrap".to_owned(),
            (SandboxMode::Bubblewrap, Err(e)) => format!("unavailable, scripts will fail: {e}"),
        };
        let warm = match (&self.config.sandbox, self.config.warm_per_kind) {
            (SandboxMode::Bubblewrap, n) if n > 0 => format!("{n} pre-started per kind"),
            _ => "none pre-started".to_owned(),
        };
        format!(
            "scripts: sandbox {sandbox} (Python: {warm}); runtimes: {}",
            self.toolchains.summary()
        )
    }

    /// Runs one script to completion. Never panics on script input; every problem ends as a
    /// `failure` outcome whose stderr says what went wrong. Dropping the future kills the run.
    pub async fn run(&self, request: &RunRequest) -> RunOutcome {
        exec::run(self, request).await
    }

    /// Stops the pre-started sandboxes and starts no more (runs then start their own).
    pub fn shutdown(&self) {
        self.pool.shutdown();
    }

    /// Pre-started Python sandboxes waiting for a run with `network` and `limits`.
    pub fn warm_python(&self, network: bool, limits: &Limits) -> usize {
        let key = warm::WarmKey {
            toolchain: Toolchain::Python,
            network,
            scratch_bytes: limits.scratch_bytes,
        };
        self.pool.ready(key)
    }

    pub(crate) fn pool(&self) -> &warm::Pool {
        &self.pool
    }

    pub(crate) fn sandbox_ready(&self) -> &Result<(), String> {
        &self.sandbox_ready
    }
}
