//! `GET /metrics` (the metrics listener's router, driven in-process; `health` covers the
//! listener itself over real sockets): requests by route template, method and status,
//! latency histograms, throttled requests, connection pools, held polls, WebSockets,
//! channel deliveries and script runs.

use crate::both_backends;
use crate::client::{next_json, serve};
use crate::helpers::{Backend, TestApp};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::SinkExt;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

both_backends!(
    requests_are_counted_by_route_template_method_and_status,
    a_batch_counts_as_one_request,
    pools_scripts_and_the_build_are_read_when_scraped,
    held_polls_websockets_and_deliveries_are_counted,
    script_runs_are_counted_by_status,
);
both_backends!(
    settings(|s| s.anon_rate = 1),
    throttled_requests_are_counted_by_limit,
);
both_backends!(
    settings(|s| s.metrics = false),
    without_a_metrics_listener_requests_are_not_recorded,
);
both_backends!(
    settings(|s| s.scripts = rivia_server::runner::ScriptSettings::with_concurrency(1)),
    the_script_queue_length_is_read_when_scraped,
);

/// Scrapes `GET /metrics` from the metrics listener's router.
pub async fn scrape(app: &TestApp) -> String {
    let router = rivia_server::health::metrics_router(app.state.clone());
    let req = Request::get("/metrics")
        .body(Body::empty())
        .expect("request");
    let resp = router.oneshot(req).await.expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let text = String::from_utf8(bytes.to_vec()).expect("utf-8");
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    text
}

/// The value of the sample `series` (name and labels exactly as rendered), if present.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().expect("a number"))
}

fn requests(method: &str, route: &str, status: u16) -> String {
    format!(r#"rivia_http_requests_total{{method="{method}",route="{route}",status="{status}"}}"#)
}

/// Scrapes until `series` has `value` (a gauge settling after a client's move), else
/// fails after 10 s with the last scrape.
async fn until_sample(app: &TestApp, series: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(app).await;
        if sample(&text, series) == Some(value) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{series} never reached {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const USERS: &str = "/v1.1/instances/{instance}/users/";
const USER: &str = "/v1.1/instances/{instance}/users/{id}/";

async fn requests_are_counted_by_route_template_method_and_status(app: TestApp) {
    let key = app.admin_with_instance("metered").await;
    for _ in 0..2 {
        app.as_key(&key, "GET", "/v1.1/instances/metered/users/", None)
            .await
            .expect(StatusCode::OK);
    }
    app.as_key(&key, "GET", "/v1.1/instances/metered/users/999/", None)
        .await
        .expect(StatusCode::NOT_FOUND);
    app.as_key(
        &key,
        "PUT",
        "/v1.1/instances/metered/users/",
        Some(json!({})),
    )
    .await
    .expect(StatusCode::METHOD_NOT_ALLOWED);
    app.call("GET", "/no/such/path/", &[], None)
        .await
        .expect(StatusCode::NOT_FOUND);
    app.as_key(&key, "PROPFIND", "/v1.1/instances/metered/users/", None)
        .await
        .expect(StatusCode::METHOD_NOT_ALLOWED);
    app.call("GET", "/healthz", &[], None)
        .await
        .expect(StatusCode::OK);

    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, &requests("GET", USERS, 200)),
        Some(2.0),
        "{text}"
    );
    assert_eq!(sample(&text, &requests("GET", USER, 404)), Some(1.0));
    assert_eq!(sample(&text, &requests("PUT", USERS, 405)), Some(1.0));
    assert_eq!(sample(&text, &requests("other", USERS, 405)), Some(1.0));
    assert_eq!(sample(&text, &requests("GET", "unmatched", 404)), Some(1.0));
    assert_eq!(sample(&text, &requests("GET", "/healthz", 200)), Some(1.0));
    assert_eq!(
        sample(&text, &requests("POST", "/v1.1/instances/", 201)),
        Some(1.0)
    );
    // The latency histogram of the same route: two observations, every one in +Inf.
    let labels = format!(r#"method="GET",route="{USERS}""#);
    let count = format!("rivia_http_request_duration_seconds_count{{{labels}}}");
    assert_eq!(sample(&text, &count), Some(2.0), "{text}");
    let inf = format!(r#"rivia_http_request_duration_seconds_bucket{{le="+Inf",{labels}}}"#);
    assert_eq!(sample(&text, &inf), Some(2.0), "{text}");
    let sum = format!("rivia_http_request_duration_seconds_sum{{{labels}}}");
    assert!(sample(&text, &sum).is_some_and(|s| s > 0.0 && s < 60.0));
    // Raw paths never become labels (unbounded cardinality).
    assert!(!text.contains("/instances/metered"), "{text}");
    assert!(!text.contains("/no/such/path"), "{text}");
    // The scrape itself is served off the API and not counted there.
    assert!(!text.contains(r#"route="/metrics""#));
    assert_eq!(
        sample(&text, "rivia_http_requests_in_flight"),
        Some(0.0),
        "{text}"
    );
}

async fn a_batch_counts_as_one_request(app: TestApp) {
    let key = app.admin_with_instance("batched").await;
    let sub = json!({"method": "GET", "path": "/v1.1/instances/batched/users/"});
    let answers = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/batched/batch/",
            Some(json!({"requests": [sub, sub, sub]})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(answers.as_array().map(Vec::len), Some(3));
    assert!(
        answers
            .as_array()
            .into_iter()
            .flatten()
            .all(|a| a["code"] == 200)
    );
    let text = scrape(&app).await;
    let batch = "/v1.1/instances/{instance}/batch/";
    assert_eq!(
        sample(&text, &requests("POST", batch, 200)),
        Some(1.0),
        "{text}"
    );
    assert_eq!(sample(&text, &requests("GET", USERS, 200)), None, "{text}");
}

async fn throttled_requests_are_counted_by_limit(app: TestApp) {
    let mut throttled = 0;
    for _ in 0..10 {
        let r = app.call("GET", "/v1.1/instances/", &[], None).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            throttled += 1;
        }
    }
    assert!(throttled > 0, "ten anonymous requests at 1/s");
    let text = scrape(&app).await;
    assert_eq!(
        sample(
            &text,
            r#"rivia_throttled_requests_total{scope="anonymous"}"#
        ),
        Some(f64::from(throttled)),
        "{text}"
    );
    assert_eq!(
        sample(&text, &requests("GET", "/v1.1/instances/", 429)),
        Some(f64::from(throttled))
    );
}

async fn without_a_metrics_listener_requests_are_not_recorded(app: TestApp) {
    let key = app.admin_with_instance("quiet").await;
    let r = app
        .as_key(&key, "GET", "/v1.1/instances/quiet/users/", None)
        .await;
    r.expect(StatusCode::OK);
    assert!(
        r.header("x-request-id").is_some(),
        "ids do not need metrics"
    );
    let text = scrape(&app).await;
    assert!(!text.contains("rivia_http_requests_total{"), "{text}");
    assert!(!text.contains("rivia_http_request_duration_seconds_count{"));
}

async fn pools_scripts_and_the_build_are_read_when_scraped(app: TestApp) {
    app.admin_with_instance("pooled").await;
    let text = scrape(&app).await;
    let pools: &[&str] = match app.backend {
        Backend::Sqlite => &["sqlite_read", "sqlite_write"],
        Backend::Postgres => &["postgres"],
    };
    for pool in pools {
        let size = sample(
            &text,
            &format!(r#"rivia_db_pool_connections{{pool="{pool}"}}"#),
        );
        assert!(size.is_some_and(|s| s >= 1.0), "{pool}: {text}");
        let acquired = sample(
            &text,
            &format!(r#"rivia_db_pool_acquires_total{{pool="{pool}"}}"#),
        );
        assert!(acquired.is_some_and(|a| a >= 1.0), "{pool}: {text}");
        // The background workers (trigger and schedule runs) poll the database on their
        // own, so a connection may be in use at the moment of the scrape: at most the pool.
        let size = size.unwrap_or_default();
        for gauge in ["rivia_db_pool_in_use", "rivia_db_pool_waiting"] {
            let series = format!(r#"{gauge}{{pool="{pool}"}}"#);
            let value = sample(&text, &series);
            assert!(
                value.is_some_and(|v| (0.0..=size).contains(&v)),
                "{series}: {text}"
            );
        }
        let waited = format!(r#"rivia_db_pool_wait_seconds_total{{pool="{pool}"}}"#);
        assert!(sample(&text, &waited).is_some_and(|w| w >= 0.0), "{text}");
    }
    assert_eq!(sample(&text, "rivia_script_queue_length"), Some(0.0));
    assert_eq!(sample(&text, "rivia_script_runs_running"), Some(0.0));
    let build = format!(
        r#"rivia_build_info{{version="{}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&text, &build), Some(1.0), "{text}");
}

const CH: &str = "/v1.1/instances/live-metrics/channels/";

async fn held_polls_websockets_and_deliveries_are_counted(app: TestApp) {
    let client = serve(&app).await;
    let key = app.admin_with_instance("live-metrics").await;
    app.as_key(
        &key,
        "POST",
        CH,
        Some(json!({"name": "c", "custom_publish": true})),
    )
    .await
    .expect(StatusCode::CREATED);
    let publish = |n: i64| {
        let key = key.clone();
        async move {
            client
                .request(
                    "POST",
                    &format!("{CH}c/publish/"),
                    Some(&key),
                    Some(json!({"payload": {"n": n}})),
                )
                .await
                .expect(StatusCode::CREATED);
        }
    };
    // A held long poll is open until a change answers it.
    let poll_path = format!("{CH}c/poll/");
    let poll = {
        let key = key.clone();
        tokio::spawn(async move { client.request("GET", &poll_path, Some(&key), None).await })
    };
    until_sample(&app, "rivia_channel_polls_open", 1.0).await;
    publish(1).await;
    poll.await.expect("poll").expect(StatusCode::OK);
    until_sample(&app, "rivia_channel_polls_open", 0.0).await;
    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"rivia_channel_deliveries_total{transport="poll"}"#),
        Some(1.0),
        "{text}"
    );
    // A WebSocket is open until its client closes it; each change sent is a delivery.
    let path = format!("{CH}c/poll/?transport=websocket&api_key={key}");
    let mut ws = client.websocket(&path).await.expect("websocket");
    until_sample(&app, "rivia_channel_websockets_open", 1.0).await;
    publish(2).await;
    publish(3).await;
    assert_eq!(next_json(&mut ws).await["payload"], json!({"n": 2}));
    assert_eq!(next_json(&mut ws).await["payload"], json!({"n": 3}));
    until_sample(
        &app,
        r#"rivia_channel_deliveries_total{transport="websocket"}"#,
        2.0,
    )
    .await;
    ws.send(Message::Close(None)).await.expect("close");
    until_sample(&app, "rivia_channel_websockets_open", 0.0).await;
    let text = scrape(&app).await;
    let upgrade = requests(
        "GET",
        "/v1.1/instances/{instance}/channels/{name}/poll/",
        101,
    );
    assert_eq!(sample(&text, &upgrade), Some(1.0), "{text}");
}

const SCRIPTS: &str = "/v1.1/instances/scripted/snippets/scripts/";

/// Runs script `id` and returns the pending trace's URL.
async fn start_run(app: &TestApp, key: &str, id: i64) -> String {
    let trace = app
        .as_key(key, "POST", &format!("{SCRIPTS}{id}/run/"), Some(json!({})))
        .await
        .expect_json(StatusCode::OK);
    format!("{SCRIPTS}{id}/traces/{}/", trace["id"])
}

/// Polls a trace until it has finished (at most 60 s); its status.
async fn finished(app: &TestApp, key: &str, trace: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = app
            .as_key(key, "GET", trace, None)
            .await
            .expect_json(StatusCode::OK);
        if !matches!(t["status"].as_str(), Some("pending" | "processing")) {
            return t["status"].clone();
        }
        assert!(Instant::now() < deadline, "trace still {}", t["status"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn add_script(app: &TestApp, key: &str, source: &str) {
    app.as_key(
        key,
        "POST",
        SCRIPTS,
        Some(json!({"runtime_name": "python3", "source": source})),
    )
    .await
    .expect(StatusCode::CREATED);
}

async fn script_runs_are_counted_by_status(app: TestApp) {
    let key = app.admin_with_instance("scripted").await;
    add_script(&app, &key, "print('ok')").await;
    add_script(&app, &key, "raise SystemExit(3)").await;
    let ok = start_run(&app, &key, 1).await;
    let failing = start_run(&app, &key, 2).await;
    assert_eq!(finished(&app, &key, &ok).await, "success");
    assert_eq!(finished(&app, &key, &failing).await, "failure");
    let text = scrape(&app).await;
    for status in ["success", "failure"] {
        let series = format!(r#"rivia_script_runs_total{{status="{status}"}}"#);
        assert_eq!(sample(&text, &series), Some(1.0), "{text}");
    }
}

async fn the_script_queue_length_is_read_when_scraped(app: TestApp) {
    let key = app.admin_with_instance("scripted").await;
    // One slot: the second run of a slow script waits for the first.
    add_script(&app, &key, "import time\ntime.sleep(1.5)").await;
    let first = start_run(&app, &key, 1).await;
    let second = start_run(&app, &key, 1).await;
    until_sample(&app, "rivia_script_runs_running", 1.0).await;
    until_sample(&app, "rivia_script_queue_length", 1.0).await;
    assert_eq!(finished(&app, &key, &first).await, "success");
    assert_eq!(finished(&app, &key, &second).await, "success");
    until_sample(&app, "rivia_script_queue_length", 0.0).await;
    until_sample(&app, "rivia_script_runs_running", 0.0).await;
}
