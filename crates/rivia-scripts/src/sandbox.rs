//! The bubblewrap command line and the resource limits of one run.
//!
//! Flags and why:
//! * `--unshare-user --unshare-pid --unshare-ipc --unshare-uts --unshare-cgroup-try`, plus
//!   `--unshare-net` when network is off: the script sees only its own processes (so not the
//!   server's `/proc/<pid>/environ`), its own hostname, and with network off only a down loopback.
//! * `--uid 1000 --gid 1000`: the platform's script user. bubblewrap itself runs as
//!   [`EngineConfig::run_as`] (`nobody` when the server is root) because the kernel skips
//!   RLIMIT_NPROC for processes whose real uid is host root.
//! * `--die-with-parent`, `--new-session`: killing bubblewrap kills the whole namespace; the script
//!   cannot reach the server's terminal (TIOCSTI).
//! * `--clearenv` + PATH/HOME/LANG, and bubblewrap is itself started with an empty environment:
//!   otherwise the sandbox's pid 1 (a bubblewrap fork) would expose the server's environment at
//!   `/proc/1/environ` — measured here before this was done.
//! * Read-only binds of `/usr` (+ the `/bin`, `/lib*` links), a few `/etc` entries interpreters
//!   need, DNS files only with network on; `/code` (this run's source, read-only; not for Python,
//!   whose source comes over stdin); private tmpfs `/scratch` (cwd, HOME) and `/tmp` with
//!   `--size`, since tmpfs pages escape RLIMIT_DATA. They are new with each sandbox, so a
//!   pre-started one (`crate::warm`) has its own too.
//! * Limits are set INSIDE the sandbox, by `prlimit` or, for Python, by the wrapper as the first
//!   thing it does with its run (saves an exec per run): RLIMIT_NPROC is then counted per user
//!   namespace (each run its own), not against every process of the host uid. Set before the
//!   namespace exists, the kernel would also cap the new namespace's parent-level count (all
//!   runs of the host uid together) at the same value. RLIMIT_DATA, not RLIMIT_AS: Node reserves gigabytes of address space at start and dies under RLIMIT_AS=320M
//!   ("Failed to reserve virtual memory for CodeRange"); RLIMIT_DATA counts only writable private
//!   memory, which is what a hog grows. RLIMIT_CPU backs up the wall clock; RLIMIT_CORE = 0.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;

use tokio::process::Command;

use crate::{EngineConfig, Limits, SandboxMode};

/// Where the run's source directory appears inside the sandbox.
pub(crate) const CODE_DIR: &str = "/code";
/// The sandbox's cwd and HOME.
const SCRATCH_DIR: &str = "/scratch";
const PRLIMIT: &str = "/usr/bin/prlimit";
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// `/etc` entries every interpreter may need (missing ones are skipped).
const ETC_ALWAYS: [&str; 8] = [
    "/etc/alternatives",
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/php",
    "/etc/ruby",
    "/etc/mime.types",
];
/// `/etc` entries for name resolution, bound only with network on.
const ETC_NETWORK: [&str; 5] = [
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
];
/// Top-level directories that are links into `/usr` on merged-/usr systems.
const USR_LINKS: [&str; 6] = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];

/// The command that runs `argv` (interpreter first) for one script. `own_limits`: the program
/// sets the rlimits itself (see [`rlimits`]); otherwise `prlimit` goes first. `code_dir`: the
/// run's source directory, bound at `/code` (cwd and HOME without a sandbox); `None` for a
/// program that gets its source over stdin (nothing of the run is then in the command).
pub(crate) fn command(
    config: &EngineConfig,
    argv: &[OsString],
    own_limits: bool,
    limits: &Limits,
    network: bool,
    code_dir: Option<&Path>,
) -> Command {
    let mut inner: Vec<OsString> = if own_limits {
        Vec::with_capacity(argv.len())
    } else {
        prlimit_args(limits)
    };
    inner.extend(argv.iter().cloned());
    let mut cmd = match config.sandbox {
        SandboxMode::Bubblewrap => {
            let mut cmd = Command::new(&config.bwrap);
            cmd.args(bwrap_args(limits, network, code_dir))
                .arg("--")
                .args(&inner);
            if let Some((uid, gid)) = config.run_as {
                cmd.uid(uid).gid(gid);
            }
            cmd
        }
        SandboxMode::UnsafeNoSandbox => {
            let (program, args) = inner.split_first().map_or_else(
                || (OsString::from(PRLIMIT), &[][..]),
                |(p, rest)| (p.clone(), rest),
            );
            let mut cmd = Command::new(program);
            cmd.args(args);
            if let Some(dir) = code_dir {
                cmd.current_dir(dir);
            }
            cmd
        }
    };
    // bubblewrap's own environment is visible at the sandbox's /proc/1/environ: keep it empty.
    cmd.env_clear();
    if let (SandboxMode::UnsafeNoSandbox, Some(dir)) = (&config.sandbox, code_dir) {
        cmd.env("HOME", dir);
    }
    if config.sandbox == SandboxMode::UnsafeNoSandbox {
        cmd.env("LANG", "C.UTF-8").env("PATH", PATH);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    cmd
}

/// RLIMIT_DATA, RLIMIT_NPROC, RLIMIT_FSIZE and RLIMIT_CPU of a run (RLIMIT_CORE is always 0).
/// Hard = soft wherever they are set, so the script cannot raise them.
pub(crate) fn rlimits(limits: &Limits) -> [u64; 4] {
    // CPU seconds: the wall clock rules; this only stops threads burning several cores past it.
    let cpu = limits.timeout.as_secs() + 2;
    [
        limits.memory_bytes,
        limits.processes,
        limits.file_size_bytes,
        cpu,
    ]
}

/// `prlimit --data=… --nproc=… --fsize=… --cpu=… --core=0 --`.
fn prlimit_args(limits: &Limits) -> Vec<OsString> {
    let [data, nproc, fsize, cpu] = rlimits(limits);
    [
        PRLIMIT.to_owned(),
        format!("--data={data}"),
        format!("--nproc={nproc}"),
        format!("--fsize={fsize}"),
        format!("--cpu={cpu}"),
        "--core=0".to_owned(),
        "--".to_owned(),
    ]
    .into_iter()
    .map(OsString::from)
    .collect()
}

fn bwrap_args(limits: &Limits, network: bool, code_dir: Option<&Path>) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::with_capacity(96);
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    push(&[
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
    ]);
    push(&["--unshare-cgroup-try"]);
    if !network {
        push(&["--unshare-net"]);
    }
    push(&[
        "--uid",
        "1000",
        "--gid",
        "1000",
        "--hostname",
        "rivia-script",
    ]);
    push(&["--die-with-parent", "--new-session", "--clearenv"]);
    push(&["--setenv", "PATH", PATH, "--setenv", "HOME", SCRATCH_DIR]);
    push(&["--setenv", "LANG", "C.UTF-8", "--setenv", "TMPDIR", "/tmp"]);
    push(&["--ro-bind", "/usr", "/usr"]);
    for link in USR_LINKS {
        match std::fs::read_link(link) {
            Ok(target) => {
                a.extend(["--symlink".into(), target.into_os_string(), link.into()]);
            }
            Err(_) => a.extend(["--ro-bind-try".into(), link.into(), link.into()]),
        }
    }
    let etc = ETC_ALWAYS
        .iter()
        .chain(if network { &ETC_NETWORK[..] } else { &[] });
    for path in etc {
        a.extend([
            "--ro-bind-try".into(),
            OsString::from(path),
            OsString::from(path),
        ]);
    }
    let size = limits.scratch_bytes.to_string();
    a.extend(["--proc", "/proc", "--dev", "/dev"].map(OsString::from));
    a.extend(["--size", &size, "--tmpfs", SCRATCH_DIR].map(OsString::from));
    a.extend(["--size", &size, "--tmpfs", "/tmp"].map(OsString::from));
    if let Some(dir) = code_dir {
        a.extend([
            "--ro-bind".into(),
            dir.as_os_str().to_owned(),
            CODE_DIR.into(),
        ]);
    }
    a.extend(["--chdir", SCRATCH_DIR].map(OsString::from));
    a
}

/// Whether bubblewrap can build the sandbox on this host: runs `true` inside it.
pub(crate) async fn probe(config: &EngineConfig) -> Result<(), String> {
    if !config.bwrap.is_file() {
        return Err(format!(
            "bubblewrap not found at {} (install the Debian package `bubblewrap`)",
            config.bwrap.display()
        ));
    }
    if !Path::new(PRLIMIT).is_file() {
        return Err(format!("{PRLIMIT} not found (util-linux)"));
    }
    let dir = crate::run_dir::RunDir::create(config).map_err(|e| format!("work dir: {e}"))?;
    let argv = [OsString::from("/usr/bin/true")];
    let mut cmd = command(
        config,
        &argv,
        false,
        &Limits::default(),
        false,
        Some(dir.path()),
    );
    cmd.stdin(Stdio::null());
    let output = cmd
        .output()
        .await
        .map_err(|e| format!("cannot start bubblewrap: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "bubblewrap cannot create the sandbox here ({}): {}",
            output.status,
            stderr.trim()
        ))
    }
}
