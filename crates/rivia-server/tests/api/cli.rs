//! The `rivia` binary: `admin create`, `openapi`, and `serve` answering and shutting down.

use crate::helpers::TempDir;
use rivia_store::{Db, Store};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

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

#[test]
fn serve_prints_its_url_answers_and_stops_on_sigterm() {
    let dir = TempDir::new();
    let mut child = rivia()
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&dir.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("utf8");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url")
        .to_string();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("account/register"))),
        "prints the first steps"
    );
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = std::net::TcpStream::connect(&addr).expect("connect");
    use std::io::{Read, Write};
    write!(
        stream,
        "GET /v1.1/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("/v1.1/instances/"));
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let status = child.wait().expect("wait");
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}
