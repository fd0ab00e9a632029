//! Script runs through pre-started ("warm") sandboxes (issue #16): a run after another sees
//! nothing of it, the timeout still applies, and with the pool disabled runs still work.
//! The runs are real: python3 in the bubblewrap sandbox.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::snippets_run::final_trace;
use axum::http::StatusCode;
use rivia_scripts::Limits;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

both_backends!(a_run_through_a_warm_sandbox_sees_nothing_of_the_run_before,);
both_backends!(
    settings(|s| s.scripts.engine.warm_per_kind = 0),
    runs_work_with_pre_started_sandboxes_disabled,
);

const SCRIPTS: &str = "/v1.1/instances/warmed/snippets/scripts/";

async fn add_script(app: &TestApp, admin: &str, source: &str, config: Value) {
    app.as_key(
        admin,
        "POST",
        SCRIPTS,
        Some(json!({"runtime_name": "python3", "source": source, "config": config})),
    )
    .await
    .expect(StatusCode::CREATED);
}

/// Runs script `id` and polls its trace until it is final (at most 30 s).
async fn run_to_end(app: &TestApp, admin: &str, id: i64) -> Value {
    let url = format!("{SCRIPTS}{id}/run/");
    let pending = app
        .as_key(admin, "POST", &url, Some(json!({})))
        .await
        .expect_json(StatusCode::OK);
    let url = format!("{SCRIPTS}{id}/traces/{}/", pending["id"]);
    final_trace(app, admin, &url, Duration::from_secs(30)).await
}

/// Pre-started sandboxes waiting for this app's script runs.
async fn warm(app: &TestApp) -> usize {
    let runner = app.state.runner();
    let network = runner.settings().network;
    runner
        .engine()
        .await
        .warm_python(network, &Limits::default())
}

async fn until_warm(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while warm(app).await == 0 {
        assert!(Instant::now() < deadline, "no sandbox was pre-started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn a_run_through_a_warm_sandbox_sees_nothing_of_the_run_before(app: TestApp) {
    let admin = app.admin_with_instance("warmed").await;
    let first = "import sys, builtins\nopen('left.txt', 'w').write('1')\nopen('/tmp/left.txt', 'w').write('1')\nsys.rivia_mark = 1\nbuiltins.rivia_mark = 1\nprint('wrote')";
    let second = "import os, sys, builtins\nprint(os.path.exists('left.txt'), os.path.exists('/tmp/left.txt'), hasattr(sys, 'rivia_mark'), hasattr(builtins, 'rivia_mark'), ARGS)";
    add_script(&app, &admin, first, json!({})).await;
    add_script(&app, &admin, second, json!({})).await;
    add_script(
        &app,
        &admin,
        "import time\ntime.sleep(60)",
        json!({"timeout": 1}),
    )
    .await;

    let t = run_to_end(&app, &admin, 1).await;
    assert_eq!(t["result"], json!({"stderr": "", "stdout": "wrote"}));
    until_warm(&app).await;
    let t = run_to_end(&app, &admin, 2).await;
    assert_eq!(t["status"], "success");
    assert_eq!(
        t["result"],
        json!({"stderr": "", "stdout": "False False False False {}"})
    );
    // The wall clock of a pre-started sandbox starts with its run.
    until_warm(&app).await;
    let started = Instant::now();
    let t = run_to_end(&app, &admin, 3).await;
    assert_eq!(t["status"], "timeout");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(started.elapsed() < Duration::from_secs(15));
}

async fn runs_work_with_pre_started_sandboxes_disabled(app: TestApp) {
    let admin = app.admin_with_instance("warmed").await;
    add_script(&app, &admin, "print('hello', ARGS)", json!({})).await;
    for _ in 0..2 {
        let t = run_to_end(&app, &admin, 1).await;
        assert_eq!(t["status"], "success");
        assert_eq!(t["result"], json!({"stderr": "", "stdout": "hello {}"}));
        assert_eq!(warm(&app).await, 0);
    }
}
