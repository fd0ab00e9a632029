//! A crash (SIGKILL) during writes loses no acknowledged write: every object whose create
//! was answered 201 before the kill is there after a restart on the same data directory
//! (SQLite) or database (PostgreSQL).

use crate::client::{Client, Server};
use crate::helpers::{Backend, TempDir, fresh_postgres_database};
use axum::http::StatusCode;
use serde_json::json;

const OBJECTS: &str = "/v1.1/instances/crash-test/classes/log/objects/";

crate::both_backends!(backend, sigkill_during_writes_loses_no_acknowledged_write);

/// `rivia serve` on `dir` (and on `database`, a PostgreSQL URL, when given) with
/// throttling off.
async fn start(dir: &TempDir, database: Option<&str>) -> Server {
    let data_dir = dir.0.to_str().expect("utf-8 temp dir");
    let args = [
        "--instance-rate",
        "0",
        "--admin-rate",
        "0",
        "--anon-rate",
        "0",
        "--data-dir",
        data_dir,
    ];
    let env: Vec<(&str, &str)> = database
        .map(|url| ("RIVIA_DATABASE_URL", url))
        .into_iter()
        .collect();
    Server::start(&args, &env).await
}

/// Registers an admin with instance `crash-test` and class `log`; returns the account key.
async fn setup(client: &Client) -> String {
    let reg = client
        .request(
            "POST",
            "/v1.1/account/register/",
            None,
            Some(json!({"email": "crash@example.com", "password": "p"})),
        )
        .await
        .json();
    let key = reg["account_key"].as_str().expect("key").to_string();
    client
        .request(
            "POST",
            "/v1.1/instances/",
            Some(&key),
            Some(json!({"name": "crash-test"})),
        )
        .await
        .expect(StatusCode::CREATED);
    let schema = json!([{"name": "n", "type": "integer"}]);
    client
        .request(
            "POST",
            "/v1.1/instances/crash-test/classes/",
            Some(&key),
            Some(json!({"name": "log", "schema": schema})),
        )
        .await
        .expect(StatusCode::CREATED);
    key
}

/// Creates objects until the server is gone; returns the ids answered 201.
async fn write_until_gone(client: Client, key: String, writer: i64) -> Vec<i64> {
    let mut acknowledged = Vec::new();
    for i in 0.. {
        let body = json!({"n": writer * 1_000_000 + i});
        let Ok(r) = client
            .try_request("POST", OBJECTS, Some(&key), Some(body))
            .await
        else {
            break;
        };
        let obj = r.expect_json(StatusCode::CREATED);
        acknowledged.push(obj["id"].as_i64().expect("id"));
    }
    acknowledged
}

async fn sigkill_during_writes_loses_no_acknowledged_write(backend: Backend) {
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match fresh_postgres_database().await {
            Some(db) => Some(db),
            None => return,
        },
    };
    let url = database.as_ref().map(|d| d.url().to_string());
    let dir = TempDir::new();
    let mut server = start(&dir, url.as_deref()).await;
    let client = server.client;
    let key = setup(&client).await;

    // Writers run until the server dies; the kill lands while creates are in flight.
    let writers: Vec<_> = (0..4)
        .map(|w| tokio::spawn(write_until_gone(client, key.clone(), w)))
        .collect();
    // Let a few hundred writes land, then kill without warning.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let count = format!("{OBJECTS}?page_size=0&include_count=true");
    loop {
        let page = client.request("GET", &count, Some(&key), None).await.json();
        if page["objects_count"].as_i64().unwrap_or(0) >= 300
            || std::time::Instant::now() > deadline
        {
            break;
        }
    }
    server.kill().await;
    let mut acknowledged = Vec::new();
    for w in writers {
        acknowledged.extend(w.await.expect("writer"));
    }
    // The kill came after 300 committed writes; a few of those may not have been answered
    // before the connection died, so fewer may be acknowledged.
    assert!(
        acknowledged.len() >= 200,
        "only {} acknowledged writes before the kill",
        acknowledged.len()
    );

    let mut server = start(&dir, url.as_deref()).await;
    let mut missing = Vec::new();
    for id in &acknowledged {
        let path = format!("{OBJECTS}{id}/");
        let r = server.client.request("GET", &path, Some(&key), None).await;
        if r.status != StatusCode::OK {
            missing.push(*id);
        }
    }
    server.kill().await;
    assert!(
        missing.is_empty(),
        "acknowledged but lost after SIGKILL: {missing:?}"
    );
}
