//! The script executor (spec-scripts §5): slots per instance and in all, the queue
//! timeout, and shutdown stopping runs still going.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

both_backends!(
    settings(|s| {
        s.scripts.concurrency = 2;
        s.scripts.per_instance = 1;
        s.scripts.queue_timeout = std::time::Duration::from_millis(300);
    }),
    a_run_waiting_past_the_queue_timeout_ends_as_queue_timeout,
    a_busy_instance_leaves_slots_to_the_others,
);
both_backends!(
    settings(|s| s.scripts.queue_limit = 1),
    a_run_beyond_the_queue_limit_ends_as_blocked,
);
both_backends!(
    settings(|s| s.scripts.shutdown_grace = std::time::Duration::from_millis(100)),
    shutdown_stops_runs_still_going_and_marks_their_traces,
);

fn scripts(instance: &str) -> String {
    format!("/v1.1/instances/{instance}/snippets/scripts/")
}

/// Instance `name` with script 1 running `source`: the admin key.
async fn instance_with_script(app: &TestApp, name: &str, source: &str) -> String {
    let admin = app.admin_with_instance(name).await;
    app.as_key(
        &admin,
        "POST",
        &scripts(name),
        Some(json!({"runtime_name": "python3", "source": source})),
    )
    .await
    .expect(StatusCode::CREATED);
    admin
}

async fn run(app: &TestApp, admin: &str, instance: &str) -> Value {
    app.as_key(
        admin,
        "POST",
        &format!("{}1/run/", scripts(instance)),
        Some(json!({})),
    )
    .await
    .expect_json(StatusCode::OK)
}

/// Polls a trace until its status is one of `statuses` (at most 30 s).
async fn until(app: &TestApp, admin: &str, instance: &str, id: &Value, statuses: &[&str]) -> Value {
    let url = format!("{}1/traces/{id}/", scripts(instance));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let t = app
            .as_key(admin, "GET", &url, None)
            .await
            .expect_json(StatusCode::OK);
        if statuses.iter().any(|s| t["status"] == *s) {
            return t;
        }
        assert!(Instant::now() < deadline, "trace stayed {}", t["status"]);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

async fn a_run_waiting_past_the_queue_timeout_ends_as_queue_timeout(app: TestApp) {
    let admin = instance_with_script(&app, "queued", "import time\ntime.sleep(3)").await;
    let first = run(&app, &admin, "queued").await;
    let second = run(&app, &admin, "queued").await;
    let t = until(&app, &admin, "queued", &second["id"], &["queue_timeout"]).await;
    assert_eq!(
        t["result"],
        json!({"stdout": "", "stderr": "Internal queue timeout."})
    );
    assert!(t["executed_at"].is_string());
    let t = until(&app, &admin, "queued", &first["id"], &["success"]).await;
    assert_eq!(t["status"], "success");
}

async fn a_busy_instance_leaves_slots_to_the_others(app: TestApp) {
    // The busy instance's run holds its only slot far longer than the other instance's
    // run can take, so the order of the two ends shows whether the other one waited
    // (no bound on elapsed time: a loaded machine only makes both slower).
    let busy = instance_with_script(&app, "busy-one", "import time\ntime.sleep(25)").await;
    let calm = instance_with_script(&app, "calm-one", "print('done')").await;
    let long = run(&app, &busy, "busy-one").await;
    until(&app, &busy, "busy-one", &long["id"], &["processing"]).await;
    let quick = run(&app, &calm, "calm-one").await;
    let t = until(&app, &calm, "calm-one", &quick["id"], &["success"]).await;
    assert_eq!(t["result"]["stdout"], "done");
    let still = app
        .as_key(
            &busy,
            "GET",
            &format!("{}1/traces/{}/", scripts("busy-one"), long["id"]),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(still["status"], "processing", "the other instance waited");
}

async fn shutdown_stops_runs_still_going_and_marks_their_traces(app: TestApp) {
    let admin = instance_with_script(&app, "stopped", "import time\ntime.sleep(30)").await;
    let t = run(&app, &admin, "stopped").await;
    until(&app, &admin, "stopped", &t["id"], &["processing"]).await;
    let started = Instant::now();
    app.state.runner().shutdown(&app.store).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let t = until(&app, &admin, "stopped", &t["id"], &["failure"]).await;
    assert_eq!(
        t["result"],
        json!({"stdout": "", "stderr": "The run was stopped: the server shut down."})
    );
}

async fn a_run_beyond_the_queue_limit_ends_as_blocked(app: TestApp) {
    let admin = instance_with_script(&app, "blocked", "import time\ntime.sleep(2)").await;
    let first = run(&app, &admin, "blocked").await;
    let second = run(&app, &admin, "blocked").await;
    let t = until(&app, &admin, "blocked", &second["id"], &["blocked"]).await;
    assert_eq!(t["result"], json!({}));
    assert!(t["executed_at"].is_string());
    until(&app, &admin, "blocked", &first["id"], &["success"]).await;
}
