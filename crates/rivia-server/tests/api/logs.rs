//! Logs and request ids: `X-Request-Id` on every answer (a sane incoming id kept, else a
//! new one), and the log of a real `rivia serve` (captured from its stderr) — JSON lines
//! or text, each request's lines carrying its id, and no secret in it at any level: not
//! the account key, API key, user key or passwords, whether sent in headers
//! (`Authorization`, `X-API-KEY`, `X-USER-KEY`), in the query (`api_key=`, `user_key=`) or
//! in bodies, with `RUST_LOG=trace` (PostgreSQL's driver logs statement parameters there).

use crate::both_backends;
use crate::client::{Client, Server};
use crate::helpers::{Backend, TestApp, fresh_postgres_database};
use axum::http::StatusCode;
use rivia_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::{Instant, timeout};

both_backends!(every_answer_carries_a_request_id);
both_backends!(
    backend,
    json_logs_carry_request_ids_and_no_secrets,
    text_logs_are_plain_lines_with_request_ids
);

fn is_generated_id(id: Option<&str>) -> bool {
    id.is_some_and(|i| i.len() == 32 && i.bytes().all(|b| b.is_ascii_hexdigit()))
}

async fn every_answer_carries_a_request_id(app: TestApp) {
    let a = app.call("GET", "/v1.1/", &[], None).await;
    let b = app.call("GET", "/v1.1/", &[], None).await;
    assert!(is_generated_id(a.header("x-request-id")), "{:?}", a.headers);
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
    // Browsers may read it.
    let exposed = a
        .header("access-control-expose-headers")
        .unwrap_or_default();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    // A sane incoming id is kept, on any answer: routed, unrouted, refused, preflight.
    let id = [("x-request-id", "client-7f3a:01")];
    for (method, path, extra) in [
        ("GET", "/v1.1/", None),
        ("GET", "/no/such/", None),
        ("GET", "/v1.1/", Some(("accept", "text/html"))),
        (
            "OPTIONS",
            "/v1.1/",
            Some(("access-control-request-method", "GET")),
        ),
    ] {
        let mut headers = id.to_vec();
        headers.extend(extra);
        let r = app.call(method, path, &headers, None).await;
        assert_eq!(
            r.header("x-request-id"),
            Some("client-7f3a:01"),
            "{method} {path}: {}",
            r.status
        );
    }
    // One that could forge a log line or is absurdly long is replaced.
    let long = "a".repeat(200);
    for bad in ["two words", "quote\"d", long.as_str()] {
        let r = app
            .call("GET", "/v1.1/", &[("x-request-id", bad)], None)
            .await;
        assert!(is_generated_id(r.header("x-request-id")), "{bad:?}");
    }
}

/// Secrets a log must never hold, and an admin's account key.
struct Secrets {
    account_key: String,
    api_key: String,
    user_key: String,
}

const ADMIN_PASSWORD: &str = "admin-pw-7c1e99f0";
const USER_PASSWORD: &str = "user-pw-2b8d41aa";

/// Registers, logs in, and uses every credential in every place a client may put it.
async fn use_every_credential(client: &Client) -> Secrets {
    let reg = client
        .request(
            "POST",
            "/v1.1/account/register/",
            None,
            Some(json!({"email": "logs@example.com", "password": ADMIN_PASSWORD})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    let account_key = reg["account_key"].as_str().expect("key").to_string();
    client
        .request(
            "POST",
            "/v1.1/account/auth/",
            None,
            Some(json!({"email": "logs@example.com", "password": ADMIN_PASSWORD})),
        )
        .await
        .expect(StatusCode::OK);
    client
        .request(
            "POST",
            "/v1.1/instances/",
            Some(&account_key),
            Some(json!({"name": "logged"})),
        )
        .await
        .expect(StatusCode::CREATED);
    let api_key = client
        .request(
            "POST",
            "/v1.1/instances/logged/api_keys/",
            Some(&account_key),
            Some(json!({"allow_user_create": true})),
        )
        .await
        .expect_json(StatusCode::CREATED)["api_key"]
        .as_str()
        .expect("api key")
        .to_string();
    let user = client
        .request(
            "POST",
            "/v1.1/instances/logged/users/",
            Some(&api_key),
            Some(json!({"username": "ciri", "password": USER_PASSWORD})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    let user_key = user["user_key"].as_str().expect("user key").to_string();
    client
        .request(
            "POST",
            "/v1.1/instances/logged/user/auth/",
            Some(&api_key),
            Some(json!({"username": "ciri", "password": USER_PASSWORD})),
        )
        .await
        .expect(StatusCode::OK);
    let users = "/v1.1/instances/logged/users/";
    let auth = format!("token {account_key}");
    client
        .request_with_headers("GET", users, &[("Authorization", &auth)], None)
        .await
        .expect(StatusCode::OK);
    client
        .request_with_headers("GET", users, &[("X-API-KEY", &account_key)], None)
        .await
        .expect(StatusCode::OK);
    let me = "/v1.1/instances/logged/user/";
    client
        .request_with_headers(
            "GET",
            me,
            &[("X-API-KEY", &api_key), ("X-USER-KEY", &user_key)],
            None,
        )
        .await
        .expect(StatusCode::OK);
    client
        .request(
            "GET",
            &format!("{me}?api_key={api_key}&user_key={user_key}"),
            None,
            None,
        )
        .await
        .expect(StatusCode::OK);
    // A wrong key and a failed login are logged as answers too, never their secrets.
    client
        .request_with_headers("GET", users, &[("X-API-KEY", &"f".repeat(40))], None)
        .await
        .expect(StatusCode::FORBIDDEN);
    Secrets {
        account_key,
        api_key,
        user_key,
    }
}

/// Starts `rivia serve` with `args` and `RUST_LOG=rust_log` on `b`; None when PostgreSQL
/// is not configured.
async fn logged_server(
    b: Backend,
    args: &[&str],
    rust_log: &str,
) -> Option<(Server, Option<TestDatabase>)> {
    let database = match b {
        Backend::Sqlite => None,
        Backend::Postgres => Some(fresh_postgres_database().await?),
    };
    let url = database.as_ref().map(|d| d.url().to_string());
    let mut env = vec![("RUST_LOG", rust_log), ("RIVIA_ANON_RATE", "0")];
    if let Some(url) = &url {
        env.push(("RIVIA_DATABASE_URL", url.as_str()));
    }
    Some((Server::start(args, &env).await, database))
}

/// Reads log lines until the access line of the request with id `marker` (at most 20 s);
/// every line read, that one last.
async fn lines_until(server: &mut Server, marker: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = timeout(left, server.stderr.recv())
            .await
            .unwrap_or_else(|_| panic!("no log line with {marker:?}; read:\n{}", lines.join("\n")))
            .expect("stderr open");
        let done = line.contains(marker) && line.contains("rivia::access");
        lines.push(line);
        if done {
            return lines;
        }
    }
}

fn assert_no_secret(lines: &[String], secrets: &Secrets) {
    let upper = |s: &str| s.to_ascii_uppercase();
    for (what, secret) in [
        ("account key", secrets.account_key.as_str()),
        ("API key", secrets.api_key.as_str()),
        ("user key", secrets.user_key.as_str()),
        ("admin password", ADMIN_PASSWORD),
        ("user password", USER_PASSWORD),
    ] {
        for line in lines {
            assert!(
                !line.contains(secret) && !upper(line).contains(&upper(secret)),
                "the log holds the {what}: {line}"
            );
        }
    }
}

async fn json_logs_carry_request_ids_and_no_secrets(b: Backend) {
    let args = ["--log-format", "json", "--access-log"];
    let Some((mut server, _database)) = logged_server(b, &args, "trace").await else {
        return;
    };
    let client = server.client;
    let secrets = use_every_credential(&client).await;
    let marked = client
        .request_with_headers(
            "GET",
            &format!(
                "/v1.1/instances/logged/users/?api_key={}&page_size=1",
                secrets.account_key
            ),
            &[("X-Request-Id", "logs-test-marker-1")],
            None,
        )
        .await;
    assert_eq!(marked.header("x-request-id"), Some("logs-test-marker-1"));
    let lines = lines_until(&mut server, "logs-test-marker-1").await;
    assert_no_secret(&lines, &secrets);
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = parsed
        .iter()
        .find(|v| v["span"]["request_id"] == "logs-test-marker-1" && v["target"] == "rivia::access")
        .expect("the marked request's access line");
    assert_eq!(access["target"], "rivia::access", "{access}");
    assert_eq!(access["level"], "INFO");
    let fields = &access["fields"];
    assert_eq!(
        fields["path"],
        "/v1.1/instances/logged/users/?api_key=[redacted]&page_size=1"
    );
    assert_eq!(fields["route"], "/v1.1/instances/{instance}/users/");
    assert_eq!(fields["status"], 200);
    assert_eq!(fields["method"], "GET");
    assert!(
        fields["ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{access}"
    );
    // Lines logged while a request is answered carry its id (here: the registration's
    // "admin registered").
    let registered = parsed
        .iter()
        .find(|v| v["fields"]["message"] == "admin registered")
        .expect("the registration's line");
    assert!(
        registered["span"]["request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 32),
        "{registered}"
    );
}

async fn text_logs_are_plain_lines_with_request_ids(b: Backend) {
    // Only warnings asked for: the access log still comes, with its request ids.
    let Some((mut server, _database)) = logged_server(b, &["--access-log"], "warn").await else {
        return;
    };
    let client = server.client;
    let secrets = use_every_credential(&client).await;
    client
        .request_with_headers(
            "GET",
            &format!("/v1.1/instances/logged/user/?user_key={}", secrets.user_key),
            &[
                ("X-API-KEY", &secrets.api_key),
                ("X-Request-Id", "text-marker-2"),
            ],
            None,
        )
        .await
        .expect(StatusCode::OK);
    let lines = lines_until(&mut server, "text-marker-2").await;
    assert_no_secret(&lines, &secrets);
    let last = lines.last().expect("a line");
    assert!(last.contains("request{request_id=text-marker-2}"), "{last}");
    assert!(last.contains("user_key=[redacted]"), "{last}");
    // stderr is a pipe here: no terminal colours.
    assert!(lines.iter().all(|l| !l.contains('\u{1b}')), "{last}");
}

#[test]
fn an_unknown_log_format_is_refused_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rivia"))
        // An address that cannot be bound: a server that took the format would exit too.
        .args(["serve", "--bind", "no-such-address", "--log-format", "xml"])
        .output()
        .expect("run rivia");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("xml") && err.contains("[possible values: text, json]"),
        "{err}"
    );
}
