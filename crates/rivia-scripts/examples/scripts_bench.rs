//! Script start-up cost: the bare interpreter (`python3 -c pass`, `node -e 0`, same binaries the
//! engine uses) against a hello-world run through [`Engine::run`] without the sandbox (wrapper +
//! prlimit) and with it, at concurrency 1 and 4; p50/p99 latency and runs/s. See bench/README.md.
//!
//! `cargo run --release -p rivia-scripts --example scripts_bench -- [runs per case, default 200] [--net-off]`
//!
//! Network is on by default (Rivia's default); `--net-off` adds a network namespace per run.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rivia_scripts::{Engine, EngineConfig, Limits, RunRequest, RunStatus, SandboxMode, Toolchain};
use tokio::sync::Mutex;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let network = !argv.iter().any(|a| a == "--net-off");
    let runs: usize = argv
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or(Ok(200), |a| a.parse())?;
    let engine = Arc::new(Engine::start(EngineConfig::default()).await);
    // The same engine without bubblewrap: separates the wrapper's cost from the sandbox's.
    let unsandboxed = Arc::new(
        Engine::start(EngineConfig {
            sandbox: SandboxMode::UnsafeNoSandbox,
            ..EngineConfig::default()
        })
        .await,
    );
    println!("{}", engine.summary());
    if let Err(reason) = engine.sandbox_status() {
        return Err(format!("sandbox unavailable: {reason}").into());
    }
    println!(
        "{runs} runs per case; network {}; latency in ms\n",
        if network { "on" } else { "off" }
    );
    println!(
        "{:<44} {:>4} {:>8} {:>8} {:>8}",
        "case", "c", "p50", "p99", "runs/s"
    );
    let cases = [
        (
            Toolchain::Python,
            "python3",
            "-c",
            "pass",
            "print('hello world')",
        ),
        (
            Toolchain::Node,
            "nodejs_v6",
            "-e",
            "0",
            "console.log('hello world')",
        ),
    ];
    for (toolchain, runtime, flag, noop, hello) in cases {
        let Some(installed) = engine.toolchains().get(toolchain) else {
            continue;
        };
        let binary = installed.path.clone();
        for concurrency in [1, 4] {
            let label = format!("bare {} {flag} {noop}", binary.display());
            let bin = binary.clone();
            let stats = measure(runs, concurrency, move || {
                let bin = bin.clone();
                async move { bare(&bin, flag, noop).await }
            })
            .await;
            print_row(&label, concurrency, &stats);

            for (mode, engine) in [("no sandbox", &unsandboxed), ("sandboxed", &engine)] {
                let label = format!("{mode} {runtime} hello world");
                let engine = engine.clone();
                let request = Arc::new(hello_request(runtime, hello, network));
                let stats = measure(runs, concurrency, move || {
                    let (engine, request) = (engine.clone(), request.clone());
                    async move {
                        let outcome = engine.run(&request).await;
                        outcome.status == RunStatus::Success && outcome.stdout == "hello world"
                    }
                })
                .await;
                print_row(&label, concurrency, &stats);
            }
        }
    }
    println!("\nbench process peak RSS: {}", peak_rss());
    Ok(())
}

fn hello_request(runtime: &str, source: &str, network: bool) -> RunRequest {
    RunRequest {
        runtime: runtime.to_owned(),
        source: source.to_owned(),
        args: serde_json::json!({}),
        config: serde_json::json!({}),
        meta: serde_json::json!({}),
        limits: Limits {
            timeout: Duration::from_secs(30),
            ..Limits::default()
        },
        network,
    }
}

async fn bare(binary: &Path, flag: &str, noop: &str) -> bool {
    let status = tokio::process::Command::new(binary)
        .args([flag, noop])
        // The same environment the sandbox gets: an inherited NODE_EXTRA_CA_CERTS alone makes
        // `node -e 0` several times slower here.
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
    status.is_ok_and(|s| s.success())
}

struct Stats {
    latencies: Vec<Duration>,
    wall: Duration,
    failed: usize,
}

/// Runs `job` `runs` times with `concurrency` workers pulling from one counter.
async fn measure<F, Fut>(runs: usize, concurrency: usize, job: F) -> Stats
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(Mutex::new(0usize));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (job, next) = (job.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            let mut failed = 0;
            loop {
                {
                    let mut n = next.lock().await;
                    if *n >= runs {
                        break;
                    }
                    *n += 1;
                }
                let t = Instant::now();
                if !job().await {
                    failed += 1;
                }
                mine.push(t.elapsed());
            }
            (mine, failed)
        }));
    }
    let mut latencies = Vec::with_capacity(runs);
    let mut failed = 0;
    for worker in workers {
        if let Ok((mine, f)) = worker.await {
            latencies.extend(mine);
            failed += f;
        }
    }
    latencies.sort();
    Stats {
        latencies,
        wall: started.elapsed(),
        failed,
    }
}

fn print_row(label: &str, concurrency: usize, stats: &Stats) {
    let pct = |p: f64| {
        let i = ((stats.latencies.len() as f64 - 1.0) * p).round() as usize;
        stats
            .latencies
            .get(i)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    let rate = stats.latencies.len() as f64 / stats.wall.as_secs_f64();
    let failed = if stats.failed > 0 {
        format!("  ({} FAILED)", stats.failed)
    } else {
        String::new()
    };
    println!(
        "{label:<44} {concurrency:>4} {:>8.1} {:>8.1} {rate:>8.1}{failed}",
        pct(0.5),
        pct(0.99)
    );
}

fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.to_owned())
        })
        .unwrap_or_default()
}
