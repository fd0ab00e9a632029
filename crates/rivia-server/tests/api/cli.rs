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
