//! Hostile scripts through the API (issue #16): a run cannot read the server's data
//! directory, database or environment; endless loops end as `timeout`; floods of output are
//! cut; unreadable output ends as `failure`; a memory hog is contained and the server
//! keeps answering.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

both_backends!(
    a_script_cannot_read_the_data_directory_database_or_server_environment,
    an_endless_loop_ends_as_timeout,
    fifty_megabytes_of_stdout_are_cut_not_buffered,
    non_utf8_output_ends_as_failure_with_a_readable_message,
    a_memory_hog_is_contained_and_the_server_keeps_answering,
);

const SCRIPTS: &str = "/v1.1/instances/hostile/snippets/scripts/";

/// Runs `source` (python3, `config`) with `payload` and waits for its final trace.
async fn outcome(app: &TestApp, source: &str, config: Value, payload: Value) -> Value {
    let admin = app.admin_with_instance("hostile").await;
    let body = json!({"runtime_name": "python3", "source": source, "config": config});
    app.as_key(&admin, "POST", SCRIPTS, Some(body))
        .await
        .expect(StatusCode::CREATED);
    let pending = app
        .as_key(
            &admin,
            "POST",
            &format!("{SCRIPTS}1/run/"),
            Some(json!({ "payload": payload })),
        )
        .await
        .expect_json(StatusCode::OK);
    let url = format!("{SCRIPTS}1/traces/{}/", pending["id"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = app
            .as_key(&admin, "GET", &url, None)
            .await
            .expect_json(StatusCode::OK);
        if !matches!(t["status"].as_str(), Some("pending" | "processing")) {
            return t;
        }
        assert!(Instant::now() < deadline, "trace stayed {}", t["status"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const PROBE: &str = r#"
import os
def probe(path):
    try:
        with open(path, 'rb') as f:
            return 'READ %d bytes' % len(f.read())
    except Exception as e:
        return type(e).__name__
print([probe(p) for p in ARGS['files']], os.path.exists(ARGS['dir']))
"#;

async fn a_script_cannot_read_the_data_directory_database_or_server_environment(app: TestApp) {
    let dir = app.dir.0.display().to_string();
    let files = [
        format!("{dir}/rivia.db"),
        format!("/proc/{}/environ", std::process::id()),
        format!("/proc/{}/cmdline", std::process::id()),
    ];
    let t = outcome(&app, PROBE, json!({}), json!({"files": files, "dir": dir})).await;
    assert_eq!(t["status"], "success", "{t}");
    let stdout = t["result"]["stdout"].as_str().unwrap_or_default();
    assert!(!stdout.contains("READ"), "{stdout}");
    assert!(
        stdout.ends_with("False"),
        "the data directory is invisible: {stdout}"
    );
}

async fn an_endless_loop_ends_as_timeout(app: TestApp) {
    let t = outcome(
        &app,
        "while True:\n    pass",
        json!({"timeout": 1}),
        json!({}),
    )
    .await;
    assert_eq!(t["status"], "timeout");
}

async fn fifty_megabytes_of_stdout_are_cut_not_buffered(app: TestApp) {
    let source = "import sys\nfor _ in range(50):\n    sys.stdout.write('x' * (1 << 20))";
    let t = outcome(&app, source, json!({}), json!({})).await;
    let stdout = t["result"]["stdout"].as_str().unwrap_or_default();
    assert!(stdout.len() <= 524_288, "{} bytes kept", stdout.len());
    assert!(stdout.len() >= 500_000);
}

async fn non_utf8_output_ends_as_failure_with_a_readable_message(app: TestApp) {
    let source = "import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe end')";
    let t = outcome(&app, source, json!({}), json!({})).await;
    assert_eq!(t["status"], "failure", "{t}");
    assert!(
        t["result"]["stdout"]
            .as_str()
            .unwrap_or_default()
            .starts_with("ok ")
    );
    assert!(
        !t["result"]["stderr"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
}

async fn a_memory_hog_is_contained_and_the_server_keeps_answering(app: TestApp) {
    let source = "blocks = []\nwhile True:\n    blocks.append(bytearray(64 << 20))";
    let t = outcome(&app, source, json!({"timeout": 20}), json!({})).await;
    assert_eq!(t["status"], "failure", "{t}");
    assert!(
        t["result"]["stderr"]
            .as_str()
            .unwrap_or_default()
            .contains("MemoryError")
    );
    app.call("GET", "/v1.1/", &[], None)
        .await
        .expect(StatusCode::OK);
}
