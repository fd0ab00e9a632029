//! What per-request metrics cost, measured in-process without sockets or wrk: one SQLite
//! store, two apps over it (per-request metrics off and on, logs off), the same hot read
//! (`GET` one data object by id) sent through each app in alternating blocks; the figure is
//! the process's CPU time (user + system, all threads: the SQLite readers too) per request,
//! the median block of each. `bench/metrics.py` measures the same over real sockets.
//!
//! `cargo run --release -p rivia-server --example metrics_cost -- [blocks] [requests per block]`

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use rivia_server::state::{AppState, Settings};
use rivia_store::{Db, Store};
use serde_json::{Value, json};
use std::time::Duration;
use tower::ServiceExt;

/// User + system CPU time of this process so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

async fn send(
    app: &rivia_server::stack::App,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let blocks: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(21);
    let per_block: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(blocks, per_block));
}

async fn run(blocks: usize, per_block: usize) {
    let dir = std::env::temp_dir().join(format!("rivia-metrics-cost-{}", std::process::id()));
    let store = Store::new(Db::open_sqlite(&dir).await.expect("sqlite"));
    let app_with = |metrics: bool| {
        let mut settings = Settings::for_tests(dir.clone());
        settings.metrics = metrics;
        rivia_server::app(AppState::new(store.clone(), settings))
    };
    let (off, on) = (app_with(false), app_with(true));
    let (_, reg) = send(
        &off,
        "POST",
        "/v1.1/account/register/",
        None,
        Some(json!({"email": "m@example.com", "password": "p"})),
    )
    .await;
    let key = reg["account_key"].as_str().expect("key").to_string();
    send(
        &off,
        "POST",
        "/v1.1/instances/",
        Some(&key),
        Some(json!({"name": "m"})),
    )
    .await;
    let class = json!({"name": "items", "schema": [{"name": "score", "type": "integer"}]});
    send(
        &off,
        "POST",
        "/v1.1/instances/m/classes/",
        Some(&key),
        Some(class),
    )
    .await;
    let objects = "/v1.1/instances/m/classes/items/objects/";
    for score in 0..20 {
        send(
            &off,
            "POST",
            objects,
            Some(&key),
            Some(json!({"score": score})),
        )
        .await;
    }
    let path = format!("{objects}17/");
    let mut cost = [Vec::new(), Vec::new()];
    for block in 0..blocks {
        for (i, app) in [&off, &on].into_iter().enumerate() {
            let before = process_cpu();
            for _ in 0..per_block {
                let (status, _) = send(app, "GET", &path, Some(&key), None).await;
                assert_eq!(status, StatusCode::OK);
            }
            let spent = process_cpu() - before;
            cost[i].push(spent.as_secs_f64() * 1e6 / per_block as f64);
        }
        if block == 0 {
            // The first block warms caches and creates the metric series.
            cost[0].clear();
            cost[1].clear();
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (off_us, on_us) = (median(&mut cost[0]), median(&mut cost[1]));
    println!(
        "GET one object, {} blocks of {per_block}: metrics off {off_us:.2} µs CPU/request, on {on_us:.2} ({:+.1}%)",
        blocks - 1,
        (on_us / off_us - 1.0) * 100.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
