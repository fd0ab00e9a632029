//! Pre-started ("warm") Python sandboxes: same outcome as a cold start, nothing shared between
//! runs, the timeout still kills the whole tree, and the pool can be disabled, expires and
//! shuts down. Skips like `scripts.rs` when the host cannot sandbox (fails under `CI=true`).

use std::time::{Duration, Instant};

use rivia_scripts::{Engine, EngineConfig, Limits, RunOutcome, RunRequest, RunStatus};
use serde_json::json;

async fn engine_with(per_kind: usize, idle: Duration) -> Option<Engine> {
    let config = EngineConfig {
        warm_per_kind: per_kind,
        warm_idle: idle,
        ..EngineConfig::default()
    };
    let engine = Engine::start(config).await;
    if let Err(reason) = engine.sandbox_status() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("CI=true but the script sandbox is unavailable: {reason}");
        }
        eprintln!("SKIPPING warm sandbox test: {reason}");
        return None;
    }
    if engine
        .toolchains()
        .get(rivia_scripts::Toolchain::Python)
        .is_none()
    {
        eprintln!("SKIPPING warm sandbox test: python3 is not installed");
        return None;
    }
    Some(engine)
}

fn request(source: &str) -> RunRequest {
    RunRequest {
        runtime: "python3".to_owned(),
        source: source.to_owned(),
        args: json!({"name": "Ada"}),
        config: json!({"greeting": "Hello"}),
        meta: json!({"executor": "hello"}),
        limits: Limits {
            timeout: Duration::from_secs(10),
            ..Limits::default()
        },
        network: false,
    }
}

/// Waits (polling) until `engine` has `n` pre-started Python sandboxes for [`request`]'s kind.
async fn until_warm(engine: &Engine, n: usize) {
    let limits = Limits::default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while engine.warm_python(false, &limits) != n {
        assert!(Instant::now() < deadline, "never {n} warm sandboxes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn assert_status(outcome: &RunOutcome, status: RunStatus) {
    assert_eq!(
        outcome.status, status,
        "stdout: {}\nstderr: {}",
        outcome.stdout, outcome.stderr
    );
}

/// Seconds since boot (`/proc/uptime`, 10 ms steps), as the sandbox sees them too.
fn uptime_ticks() -> u64 {
    let text = std::fs::read_to_string("/proc/uptime").expect("/proc/uptime");
    let secs: f64 = text
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("uptime");
    (secs * 100.0) as u64
}

/// Prints the Python process's start (clock ticks since boot), so a test can tell whether it
/// was started before its run was asked for.
const STARTED_AT: &str =
    "print('started', open('/proc/self/stat').read().rsplit(')', 1)[1].split()[19])";

fn started_ticks(outcome: &RunOutcome) -> u64 {
    outcome
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("started "))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no start time in {:?}", outcome.stdout))
}

/// A run through a pre-started sandbox: it was started before the run, and the outcome (output,
/// custom response, errors) is the one a cold start gives.
#[tokio::test]
async fn a_warm_run_gives_the_same_outcome_as_a_cold_one() {
    let Some(warm) = engine_with(1, Duration::from_secs(60)).await else {
        return;
    };
    let Some(cold) = engine_with(0, Duration::from_secs(60)).await else {
        return;
    };
    let sources = [
        "print('%s, %s! %s' % (CONFIG['greeting'], ARGS['name'], META['executor']))",
        "print('x')\nset_response(HttpResponse(status_code=201, content='<b>%s</b>' % ARGS['name'], content_type='text/html', headers={'X': 'y'}))",
        "import sys\nsys.stderr.write('oops\\n')\nraise ValueError('bad')",
    ];
    // Fills the pool (a first run starts its own sandbox and a replacement after it).
    assert_status(&warm.run(&request("pass")).await, RunStatus::Success);
    for source in sources {
        until_warm(&warm, 1).await;
        let (a, b) = (
            warm.run(&request(source)).await,
            cold.run(&request(source)).await,
        );
        assert_eq!(
            (a.status, &a.stdout, &a.stderr),
            (b.status, &b.stdout, &b.stderr)
        );
        assert_eq!(a.response, b.response);
    }
    // The sandbox really was started ahead: before the run was asked for.
    until_warm(&warm, 1).await;
    let ready_at = uptime_ticks();
    while uptime_ticks() < ready_at + 2 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let asked_at = uptime_ticks();
    let outcome = warm.run(&request(STARTED_AT)).await;
    assert_status(&outcome, RunStatus::Success);
    assert!(started_ticks(&outcome) < asked_at, "{}", outcome.stdout);
    // Without a pool, the process starts after the run is asked for.
    let asked_at = uptime_ticks();
    let outcome = cold.run(&request(STARTED_AT)).await;
    assert!(started_ticks(&outcome) >= asked_at, "{}", outcome.stdout);
    assert_eq!(cold.warm_python(false, &Limits::default()), 0);
}

/// Run 1 leaves files in its scratch directory and /tmp, module state and a changed builtin;
/// run 2, through the next pre-started sandbox, sees none of it.
#[tokio::test]
async fn consecutive_runs_share_no_files_or_module_state() {
    let Some(engine) = engine_with(2, Duration::from_secs(60)).await else {
        return;
    };
    let first = "import sys, builtins, json\nopen('left.txt', 'w').write('1')\nopen('/tmp/left.txt', 'w').write('1')\nsys.rivia_mark = 1\njson.rivia_mark = 1\nbuiltins.rivia_mark = 1\nprint('wrote')";
    let second = "import os, sys, builtins, json\nprint(os.path.exists('left.txt'), os.path.exists('/tmp/left.txt'), os.listdir('.'), hasattr(sys, 'rivia_mark'), hasattr(json, 'rivia_mark'), hasattr(builtins, 'rivia_mark'))";
    assert_status(&engine.run(&request("pass")).await, RunStatus::Success);
    until_warm(&engine, 2).await;
    let outcome = engine.run(&request(first)).await;
    assert_status(&outcome, RunStatus::Success);
    assert_eq!(outcome.stdout, "wrote");
    let outcome = engine.run(&request(second)).await;
    assert_status(&outcome, RunStatus::Success);
    assert_eq!(outcome.stdout, "False False [] False False False");
}

/// Whether a process whose command line contains `marker` is alive on the host.
fn alive(marker: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        std::fs::read(e.path().join("cmdline"))
            .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
    })
}

/// The wall clock starts at the hand-over, and at the deadline the whole sandbox is killed,
/// a background child included.
#[tokio::test]
async fn a_warm_run_times_out_and_its_whole_tree_dies() {
    let Some(engine) = engine_with(1, Duration::from_secs(60)).await else {
        return;
    };
    assert_status(&engine.run(&request("pass")).await, RunStatus::Success);
    until_warm(&engine, 1).await;
    let marker = format!("{}.{}", std::process::id(), 4242);
    let source = format!(
        "import signal, subprocess, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nsubprocess.Popen(['sleep', '{marker}'])\nprint('child started', flush=True)\nwhile True: time.sleep(0.05)"
    );
    let mut req = request(&source);
    req.limits.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let outcome = engine.run(&req).await;
    assert_status(&outcome, RunStatus::Timeout);
    assert!(
        outcome.stdout.contains("child started"),
        "{}",
        outcome.stdout
    );
    assert!(outcome.stderr.contains("stopped"), "{}", outcome.stderr);
    let elapsed = started.elapsed();
    assert!(elapsed >= req.limits.timeout, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(&marker) {
        assert!(
            Instant::now() < deadline,
            "the script's child outlived its run"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// With the pool disabled every run starts its own sandbox; an idle pre-started sandbox
/// expires; after shutdown none are kept and runs still work.
#[tokio::test]
async fn the_pool_can_be_disabled_expires_and_shuts_down() {
    let Some(disabled) = engine_with(0, Duration::from_secs(60)).await else {
        return;
    };
    for _ in 0..2 {
        let outcome = disabled.run(&request("print(ARGS['name'])")).await;
        assert_status(&outcome, RunStatus::Success);
        assert_eq!(outcome.stdout, "Ada");
        assert_eq!(disabled.warm_python(false, &Limits::default()), 0);
    }

    let Some(expiring) = engine_with(1, Duration::from_millis(300)).await else {
        return;
    };
    assert_status(&expiring.run(&request("pass")).await, RunStatus::Success);
    until_warm(&expiring, 1).await;
    until_warm(&expiring, 0).await;

    let Some(engine) = engine_with(2, Duration::from_secs(60)).await else {
        return;
    };
    assert_status(&engine.run(&request("pass")).await, RunStatus::Success);
    until_warm(&engine, 2).await;
    engine.shutdown();
    assert_eq!(engine.warm_python(false, &Limits::default()), 0);
    let outcome = engine.run(&request("print(ARGS['name'])")).await;
    assert_status(&outcome, RunStatus::Success);
    assert_eq!(engine.warm_python(false, &Limits::default()), 0);
}
