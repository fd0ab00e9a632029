//! Runs one script file through the engine and prints the outcome (manual checks).
//!
//! `cargo run -p rivia-scripts --example run_script -- <runtime> <file> [ARGS json] [--net]`

use std::time::Duration;

use rivia_scripts::{Engine, EngineConfig, Limits, RunRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (Some(runtime), Some(file)) = (argv.first(), argv.get(1)) else {
        return Err("usage: run_script <runtime> <file> [ARGS json] [--net]".into());
    };
    let args = match argv.get(2).filter(|a| *a != "--net") {
        Some(text) => serde_json::from_str(text)?,
        None => serde_json::json!({}),
    };
    let engine = Engine::start(EngineConfig::default()).await;
    eprintln!("{}", engine.summary());
    let request = RunRequest {
        runtime: runtime.clone(),
        source: std::fs::read_to_string(file)?,
        args,
        config: serde_json::json!({}),
        meta: serde_json::json!({"executed_by": "codebox"}),
        limits: Limits {
            timeout: Duration::from_secs(5),
            ..Limits::default()
        },
        network: argv.iter().any(|a| a == "--net"),
    };
    let outcome = engine.run(&request).await;
    println!(
        "status: {}  duration: {} ms",
        outcome.status.as_str(),
        outcome.duration_ms
    );
    println!(
        "truncated: stdout {} stderr {}",
        outcome.stdout_truncated, outcome.stderr_truncated
    );
    println!("response: {:?}", outcome.response);
    println!(
        "--- stdout\n{}\n--- stderr\n{}",
        outcome.stdout, outcome.stderr
    );
    Ok(())
}
