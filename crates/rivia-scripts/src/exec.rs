//! One run: resolve the runtime, write the source into a private run directory (or, for Python,
//! take a pre-started sandbox or start one), feed stdin, capture both pipes with caps, enforce
//! the wall clock, decode.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rand::RngExt;
use tokio::io::AsyncWriteExt;
use tokio::process::Child;
use tokio::time::{Instant, timeout_at};

use crate::capture::{Captured, capture};
use crate::protocol::{Decoded, Exit, Raw, decode};
use crate::run_dir::RunDir;
use crate::runtimes::{Installed, lookup};
use crate::sandbox::{self, CODE_DIR};
use crate::warm::{self, WarmKey};
use crate::{Engine, EngineConfig, Limits, RunOutcome, RunRequest, RunStatus, SandboxMode};

/// How long the pipes may stay open after the hard deadline (a grandchild in unsafe mode).
const PIPE_GRACE: Duration = Duration::from_secs(1);

pub(crate) async fn run(engine: &Engine, request: &RunRequest) -> RunOutcome {
    let started = Instant::now();
    let decoded = match prepare_and_run(engine, request).await {
        Ok(decoded) => decoded,
        Err(reason) => Decoded {
            status: RunStatus::Failure,
            stdout: String::new(),
            stderr: reason,
            response: None,
            stdout_truncated: false,
            stderr_truncated: false,
        },
    };
    RunOutcome {
        status: decoded.status,
        stdout: decoded.stdout,
        stderr: decoded.stderr,
        response: decoded.response,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        stdout_truncated: decoded.stdout_truncated,
        stderr_truncated: decoded.stderr_truncated,
    }
}

/// `Err` = the script never started; the text becomes its stderr.
async fn prepare_and_run(engine: &Engine, request: &RunRequest) -> Result<Decoded, String> {
    let runtime = lookup(&request.runtime)
        .ok_or_else(|| format!("Unknown runtime {:?}.", request.runtime))?;
    let installed = engine.toolchains().get(runtime.toolchain).ok_or_else(|| {
        format!(
            "The {} runtime needs the `{}` toolchain, which is not installed on this server.",
            request.runtime,
            runtime.toolchain.binary()
        )
    })?;
    if let Err(reason) = engine.sandbox_ready() {
        return Err(format!(
            "Scripts cannot run: the sandbox is unavailable ({reason})."
        ));
    }
    let config = engine.config();
    let separator = format!(
        "--rivia-{}--",
        hex::encode(rand::rng().random::<[u8; 12]>())
    );
    if let Some(key) = warm::key(config, runtime.toolchain, request) {
        return run_warmable(engine, key, installed, request, separator).await;
    }
    // golang runs a binary compiled once per source (its compile is not part of the run).
    let binary = match runtime.toolchain {
        crate::runtimes::Toolchain::Go => {
            Some(crate::golang::binary(engine, installed, &request.source).await?)
        }
        _ => None,
    };
    let (dir, program) = {
        // The source may be megabytes: file IO goes to the blocking pool, not a tokio worker.
        let config = config.clone();
        let (toolchain, installed) = (runtime.toolchain, installed.clone());
        let (request, separator) = (request.clone(), separator.clone());
        let prepared = tokio::task::spawn_blocking(move || {
            let dir =
                RunDir::create(&config).map_err(|e| format!("Cannot prepare the run: {e}"))?;
            let seen_dir = match config.sandbox {
                SandboxMode::Bubblewrap => PathBuf::from(CODE_DIR),
                SandboxMode::UnsafeNoSandbox => dir.path().to_owned(),
            };
            let program =
                crate::program::build(toolchain, &installed, &request, &separator, &seen_dir)?;
            match (&binary, &program.file_content) {
                (Some(binary), _) => crate::golang::place(&dir, binary),
                (None, Some(content)) => dir.write(program.file_name, content),
                (None, None) => Ok(()),
            }
            .map_err(|e| format!("Cannot prepare the run: {e}"))?;
            Ok::<_, String>((dir, program))
        });
        prepared
            .await
            .map_err(|e| format!("Cannot prepare the run: {e}"))??
    };
    let launch = Launch {
        argv: program.argv,
        own_limits: program.own_limits,
        stdin: program.stdin,
    };
    let raw = execute(
        config,
        &request.limits,
        request.network,
        launch,
        dir.path(),
        separator,
    )
    .await?;
    Ok(decode(raw))
}

/// A run whose sandbox can be started ahead (`crate::warm`): it takes a waiting one of its
/// key or, if there is none, starts one now with the very same command; either way a
/// replacement is then started in the background.
async fn run_warmable(
    engine: &Engine,
    key: WarmKey,
    installed: &Installed,
    request: &RunRequest,
    separator: String,
) -> Result<Decoded, String> {
    let program = crate::program::build(
        key.toolchain,
        installed,
        request,
        &separator,
        Path::new(CODE_DIR),
    )?;
    let spawn = warm_spawner(engine.config().clone(), key, program.argv);
    let child = match engine.pool().take(key) {
        Some(child) => child,
        None => spawn().map_err(|e| format!("Cannot start the script sandbox: {e}"))?,
    };
    engine.pool().refill(key, spawn);
    let raw = supervise(
        engine.config(),
        &request.limits,
        child,
        program.stdin,
        separator,
    )
    .await;
    Ok(decode(raw))
}

/// Starts one sandbox of `key` running `argv` (a program that sets its own rlimits from stdin).
fn warm_spawner(
    config: EngineConfig,
    key: WarmKey,
    argv: Vec<OsString>,
) -> impl Fn() -> std::io::Result<Child> + Send + 'static {
    // Only the tmpfs size of these limits is used at spawn (`own_limits`: no prlimit).
    let limits = Limits {
        scratch_bytes: key.scratch_bytes,
        ..Limits::default()
    };
    move || sandbox::command(&config, &argv, true, &limits, key.network, None).spawn()
}

/// The process to start.
pub(crate) struct Launch {
    /// Interpreter (or binary) first.
    pub argv: Vec<OsString>,
    /// The program sets the rlimits itself: no `prlimit` before it (`sandbox::command`).
    pub own_limits: bool,
    /// `None` → stdin is `/dev/null`.
    pub stdin: Option<Vec<u8>>,
}

/// Starts the process and waits for it under the wall clock.
pub(crate) async fn execute(
    config: &EngineConfig,
    limits: &Limits,
    network: bool,
    launch: Launch,
    dir: &Path,
    separator: String,
) -> Result<Raw, String> {
    let Launch {
        argv,
        own_limits,
        stdin,
    } = launch;
    let mut cmd = sandbox::command(config, &argv, own_limits, limits, network, Some(dir));
    if stdin.is_none() {
        cmd.stdin(Stdio::null());
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("Cannot start the script sandbox: {e}"))?;
    Ok(supervise(config, limits, child, stdin, separator).await)
}

/// Feeds `stdin` to a started process and waits for it under the wall clock, which starts now
/// (for a pre-started sandbox: when its run is handed over).
async fn supervise(
    config: &EngineConfig,
    limits: &Limits,
    mut child: Child,
    stdin: Option<Vec<u8>>,
    separator: String,
) -> Raw {
    let hard_deadline = Instant::now() + limits.timeout + config.kill_grace;
    let pipe_deadline = hard_deadline + PIPE_GRACE;

    let (input, out, err) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let feed = async move {
        if let (Some(mut pipe), Some(bytes)) = (input, stdin) {
            // A script that exits without reading gives EPIPE: not an error of the run.
            let _ = timeout_at(hard_deadline, pipe.write_all(&bytes)).await;
        }
    };
    let pid = child.id();
    let wait = async {
        let exit = match timeout_at(hard_deadline, child.wait()).await {
            Ok(Ok(status)) => exit_of(status),
            Ok(Err(_)) | Err(_) => {
                // SIGKILL to bubblewrap: --die-with-parent takes its pid namespace down with it.
                let _ = child.start_kill();
                let _ = child.wait().await;
                Exit::Killed
            }
        };
        if config.sandbox == SandboxMode::UnsafeNoSandbox {
            kill_group(pid);
        }
        exit
    };
    let cap = limits.output_bytes;
    let ((), exit, stdout, stderr): ((), Exit, Captured, Captured) = tokio::join!(
        feed,
        wait,
        capture(out, cap, pipe_deadline),
        capture(err, cap, pipe_deadline)
    );
    Raw {
        stdout,
        stderr,
        cap,
        exit,
        separator,
        timeout_secs: limits.timeout.as_secs_f64(),
    }
}

fn exit_of(status: std::process::ExitStatus) -> Exit {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => Exit::Code(code),
        (None, Some(signal)) => Exit::Signal(signal),
        (None, None) => Exit::Code(-1),
    }
}

/// Without a sandbox there is no pid namespace: kill the process group (what is left of it)
/// so a background child cannot outlive the run. A script that calls setsid() escapes this —
/// one of the reasons that mode is named unsafe.
fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid names the group that
    // `process_group(0)` created for this child.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}
