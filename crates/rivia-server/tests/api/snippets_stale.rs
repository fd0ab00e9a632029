//! Traces a stopped server never finished (kill -9 during a run): the sweep run at start
//! and every minute ends them as `failure`, but only once they are older than the longest
//! queue wait plus the longest run, so a live run of another node is never touched.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};

both_backends!(
    settings(|s| {
        s.scripts.queue_timeout = std::time::Duration::from_millis(300);
        s.scripts.max_timeout = std::time::Duration::from_millis(300);
        s.scripts.engine.kill_grace = std::time::Duration::from_millis(100);
        s.scripts.stale_margin = std::time::Duration::from_millis(100);
    }),
    traces_left_unfinished_by_a_stopped_server_end_as_failure_once_stale,
);

async fn traces_left_unfinished_by_a_stopped_server_end_as_failure_once_stale(app: TestApp) {
    let admin = app.admin_with_instance("crashed").await;
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/crashed/snippets/scripts/",
        Some(json!({"runtime_name": "python3", "source": "print(1)"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let instance = app.stored_instance("crashed").await;
    // What a killed server leaves: one run accepted, one started, neither finished.
    let pending = app
        .store
        .create_trace(instance.id, "script", "1")
        .await
        .expect("trace");
    let processing = app
        .store
        .create_trace(instance.id, "script", "1")
        .await
        .expect("trace");
    assert!(
        app.store
            .start_trace(instance.id, "script", processing.id)
            .await
            .expect("start")
    );
    let runner = app.state.runner();
    assert!(runner.stale_after() < Duration::from_secs(2));
    // Fresh traces may belong to a live run (another node's): a sweep leaves them alone.
    assert_eq!(
        runner.sweep_stale_traces(&app.store).await.expect("sweep"),
        0
    );
    let url = |id: i64| format!("/v1.1/instances/crashed/snippets/scripts/1/traces/{id}/");
    for id in [pending.id, processing.id] {
        let t = app
            .as_key(&admin, "GET", &url(id), None)
            .await
            .expect_json(StatusCode::OK);
        assert!(
            matches!(t["status"].as_str(), Some("pending" | "processing")),
            "{t}"
        );
    }
    // Once older than the bound, the next sweep (what a restart runs first) ends them.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut swept = 0;
    while swept < 2 {
        assert!(Instant::now() < deadline, "stale traces were never swept");
        swept += runner.sweep_stale_traces(&app.store).await.expect("sweep");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for id in [pending.id, processing.id] {
        let t = app
            .as_key(&admin, "GET", &url(id), None)
            .await
            .expect_json(StatusCode::OK);
        assert_eq!(t["status"], "failure");
        assert!(t["executed_at"].is_string());
        assert_eq!(t["result"]["stdout"], "");
        assert!(
            t["result"]["stderr"]
                .as_str()
                .is_some_and(|s| s.contains("server stopped during the run")),
            "{t}"
        );
    }
    // Finished traces are never touched again.
    assert_eq!(
        runner.sweep_stale_traces(&app.store).await.expect("sweep"),
        0
    );
}
