//! The `rivia` binary: `admin create`, `openapi`, and `serve` answering and shutting down.

use crate::client::Server;
use crate::helpers::TempDir;
use axum::http::StatusCode;
use rivia_store::{Db, Store};
use std::process::Command;
use std::time::Duration;
use tokio::time::timeout;

fn rivia() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rivia"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_prints_a_working_account_key() {
    let dir = TempDir::new();
    let out = rivia()
        .args([
            "admin",
            "create",
            "--email",
            "cli@example.com",
            "--password",
            "pw",
            "--data-dir",
        ])
        .arg(&dir.0)
        .output()
        .expect("run rivia");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("account_key: "))
        .expect("key line")
        .trim()
        .to_string();
    let store = Store::new(Db::open_sqlite(&dir.0).await.expect("open"));
    let admin = store
        .admin_by_key(&key)
        .await
        .expect("query")
        .expect("admin exists");
    assert_eq!(admin.email, "cli@example.com");
    assert!(
        admin.is_active,
        "accounts created from the command line are active"
    );
    // The same email twice fails loudly.
    let again = rivia()
        .args([
            "admin",
            "create",
            "--email",
            "cli@example.com",
            "--data-dir",
        ])
        .arg(&dir.0)
        .output()
        .expect("run");
    assert!(!again.status.success());
}

#[test]
fn openapi_subcommand_prints_the_document() {
    let out = rivia().arg("openapi").output().expect("run rivia");
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1.1/instances/{instance}/users/"]["get"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_its_url_answers_and_stops_on_sigterm() {
    let mut server = Server::start(&[], &[]).await;
    let mut first_steps = false;
    while let Ok(Some(line)) = timeout(Duration::from_secs(10), server.stdout.recv()).await {
        if line.contains("account/register") {
            first_steps = true;
            break;
        }
    }
    assert!(first_steps, "prints the first steps");
    let r = server.client.request("GET", "/v1.1/", None, None).await;
    let body = r.expect_json(StatusCode::OK);
    assert!(body.to_string().contains("/v1.1/instances/"), "{body}");
    let pid = server.child.id().expect("running").to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = server.child.wait().await.expect("wait");
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

/// The default server does not throttle an instance, an admin or polls (Syncano's per-plan
/// rates were a billing feature), keeps the anonymous per-IP rate, and says so at start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_server_throttles_only_anonymous_callers_and_says_so() {
    let mut server = Server::start(&[], &[]).await;
    let mut rates = None;
    while let Ok(Some(line)) = timeout(Duration::from_secs(10), server.stdout.recv()).await {
        if line.starts_with("Rate limits:") {
            rates = Some(line);
            break;
        }
    }
    let rates = rates.expect("the start-up output names the rate limits");
    assert!(
        rates.contains("per instance unlimited")
            && rates.contains("per admin unlimited")
            && rates.contains("channel polls unlimited")
            && rates.contains("anonymous per IP 10/s"),
        "{rates}"
    );
    let client = &server.client;
    let reg = client
        .request(
            "POST",
            "/v1.1/account/register/",
            None,
            Some(serde_json::json!({"email": "busy@example.com", "password": "p"})),
        )
        .await
        .json();
    let key = reg["account_key"].as_str().expect("key").to_string();
    client
        .request(
            "POST",
            "/v1.1/instances/",
            Some(&key),
            Some(serde_json::json!({"name": "busy-app"})),
        )
        .await
        .expect(StatusCode::CREATED);
    // 150 requests in well under a second: more than the old default of 60/s per instance
    // and per admin.
    for _ in 0..150 {
        let r = client
            .request(
                "GET",
                "/v1.1/instances/busy-app/api_keys/",
                Some(&key),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let r = client
            .request("GET", "/v1.1/instances/", Some(&key), None)
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    // Anonymous callers still meet their per-IP rate.
    let mut anonymous = Vec::new();
    for _ in 0..30 {
        let r = client.request("GET", "/v1.1/instances/", None, None).await;
        anonymous.push(r.status);
    }
    assert!(
        anonymous.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{anonymous:?}"
    );
}
