//! Channels over real sockets: clients that vanish mid-poll or mid-WebSocket, the WebSocket
//! transport, and two `rivia serve` processes sharing one PostgreSQL database.

use crate::both_backends;
use crate::channel_polling::wait_for_waiters;
use crate::client::{Client, Server, WebSocket, next_json, serve};
use crate::helpers::{Response, TestApp, fresh_postgres_database};
use axum::http::StatusCode;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

both_backends!(
    vanished_pollers_release_everything,
    websocket_with_last_id_streams_the_backlog_then_new_changes,
    websocket_without_last_id_gets_the_next_change,
    websocket_last_id_beyond_the_newest_change_is_an_error_frame,
    websocket_validation_fails_before_the_upgrade,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_each_others_changes_across_listener_restarts() {
    two_nodes().await
}

const CH: &str = "/v1.1/instances/net-inst/channels/";

/// Registers an admin with instance `net-inst` and a custom-publish channel `live`;
/// returns the account key.
async fn setup_channel(client: &Client, email: &str) -> String {
    let body = client
        .request(
            "POST",
            "/v1.1/account/register/",
            None,
            Some(json!({"email": email, "password": "secret"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    let key = body["account_key"].as_str().expect("key").to_string();
    client
        .request(
            "POST",
            "/v1.1/instances/",
            Some(&key),
            Some(json!({"name": "net-inst"})),
        )
        .await
        .expect(StatusCode::CREATED);
    client
        .request(
            "POST",
            CH,
            Some(&key),
            Some(json!({"name": "live", "custom_publish": true})),
        )
        .await
        .expect(StatusCode::CREATED);
    key
}

async fn publish(client: &Client, key: &str, n: i64) -> i64 {
    let body = client
        .request(
            "POST",
            &format!("{CH}live/publish/"),
            Some(key),
            Some(json!({"payload": {"n": n}})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    body["id"].as_i64().expect("id")
}

/// A long poll of `live` (with `query`, e.g. `?last_id=3`) running in the background.
fn spawn_poll(client: Client, key: &str, query: &str) -> tokio::task::JoinHandle<Response> {
    let (key, path) = (key.to_string(), format!("{CH}live/poll/{query}"));
    tokio::spawn(async move { client.request("GET", &path, Some(&key), None).await })
}

/// The WebSocket transport of `live`'s poll, with more query parameters.
fn ws_path(key: &str, query: &str) -> String {
    format!("{CH}live/poll/?transport=websocket{query}&api_key={key}")
}

async fn vanished_pollers_release_everything(app: TestApp) {
    let client = serve(&app).await;
    let key = setup_channel(&client, "net@example.com").await;
    // Hold 200 polls and 20 WebSockets open, then make every client vanish.
    let mut polls = Vec::new();
    for _ in 0..200 {
        let poll = format!("{CH}live/poll/");
        let held = client.send_only("GET", &poll, Some(&key), None).await;
        polls.push(held.expect("connect"));
    }
    let mut sockets = Vec::new();
    for _ in 0..20 {
        sockets.push(client.websocket(&ws_path(&key, "")).await.expect("ws"));
    }
    wait_for_waiters(&app, 220).await;
    drop(polls);
    drop(sockets);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.store.bus.waiter_count() > 0 {
        assert!(
            Instant::now() < deadline,
            "{} waiters left after their clients vanished",
            app.store.bus.waiter_count()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The server still answers and a new poll still works.
    let waiter = spawn_poll(client, &key, "");
    wait_for_waiters(&app, 1).await;
    let id = publish(&client, &key, 1).await;
    let r = waiter.await.expect("poll");
    assert_eq!(r.header("x-last-id"), Some(id.to_string().as_str()));
    assert_eq!(r.expect_json(StatusCode::OK)["id"].as_i64(), Some(id));
}

async fn websocket_with_last_id_streams_the_backlog_then_new_changes(app: TestApp) {
    let client = serve(&app).await;
    let key = setup_channel(&client, "ws@example.com").await;
    let first = publish(&client, &key, 1).await;
    let second = publish(&client, &key, 2).await;
    // The stored changes after last_id, then every new one, as text frames.
    let path = ws_path(&key, &format!("&last_id={first}"));
    let mut ws = client.websocket(&path).await.expect("ws");
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["id"].as_i64(), Some(second));
    assert_eq!(frame.get("links"), None);
    let mut expected = Vec::new();
    for n in 3..6 {
        expected.push(publish(&client, &key, n).await);
    }
    for id in expected {
        let frame = next_json(&mut ws).await;
        assert_eq!(frame["id"].as_i64(), Some(id));
        assert_eq!(frame["action"], "custom");
    }
    ws.send(Message::Close(None)).await.expect("close");
    wait_for_no_waiters(&app).await;
}

/// Without last_id: the next change, even one published while the socket was being set
/// up (right after it subscribed, possibly before it read the newest id).
async fn websocket_without_last_id_gets_the_next_change(app: TestApp) {
    let client = serve(&app).await;
    let key = setup_channel(&client, "ws@example.com").await;
    publish(&client, &key, 1).await;
    for n in 0..5 {
        let mut ws = client.websocket(&ws_path(&key, "")).await.expect("ws");
        wait_for_waiters(&app, 1).await;
        let id = publish(&client, &key, 10 + n).await;
        let frame = next_json(&mut ws).await;
        assert_eq!(frame["id"].as_i64(), Some(id));
        ws.send(Message::Close(None)).await.expect("close");
        wait_for_no_waiters(&app).await;
    }
}

async fn websocket_last_id_beyond_the_newest_change_is_an_error_frame(app: TestApp) {
    let client = serve(&app).await;
    let key = setup_channel(&client, "ws@example.com").await;
    publish(&client, &key, 1).await;
    let path = ws_path(&key, "&last_id=9999");
    let mut ws = client.websocket(&path).await.expect("ws");
    assert_eq!(
        next_json(&mut ws).await,
        json!({"last_id": "Value is higher than the most current change id."})
    );
}

/// Validation happens before the upgrade, as plain HTTP errors.
async fn websocket_validation_fails_before_the_upgrade(app: TestApp) {
    let client = serve(&app).await;
    let key = setup_channel(&client, "ws@example.com").await;
    let path = format!("{CH}default/poll/?transport=websocket&api_key={key}");
    assert!(client.websocket(&path).await.is_err());
}

/// Number of connected change listeners on the test database.
async fn listeners(client: &tokio_postgres::Client) -> i64 {
    client
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'rivia-listener' \
             AND datname = current_database()",
            &[],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

async fn wait_for_listeners(client: &tokio_postgres::Client, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while listeners(client).await != n {
        assert!(Instant::now() < deadline, "listeners did not reach {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes on `from` until the pending poll on the other node answers (a poll that was
/// not yet parked misses the earlier publishes, so this proves delivery without sleeping).
async fn publish_until_answered(
    from: &Client,
    key: &str,
    mut pending: tokio::task::JoinHandle<Response>,
) -> (Vec<i64>, Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent = Vec::new();
    loop {
        sent.push(publish(from, key, sent.len() as i64).await);
        if let Ok(done) = timeout(Duration::from_millis(100), &mut pending).await {
            let body = done.expect("poll task").expect_json(StatusCode::OK);
            return (sent, body);
        }
        assert!(Instant::now() < deadline, "the other node never answered");
    }
}

/// A `rivia serve` on the shared PostgreSQL database, throttling off, polls held a minute.
async fn node(database_url: &str) -> Server {
    let env = [
        ("RIVIA_DATABASE_URL", database_url),
        ("RIVIA_INSTANCE_RATE", "0"),
        ("RIVIA_ADMIN_RATE", "0"),
        ("RIVIA_ANON_RATE", "0"),
        ("RIVIA_POLL_RATE", "0"),
        ("RIVIA_POLL_TIMEOUT", "60"),
        ("RUST_LOG", "warn"),
    ];
    Server::start(&[], &env).await
}

/// Opens a WebSocket on `b` and publishes on `a` until its first frame arrives, then
/// drains the frames of publishes that raced it; returns the socket and the newest id.
async fn websocket_across_nodes(a: &Client, b: &Client, key: &str) -> (WebSocket, i64) {
    let mut ws = b.websocket(&ws_path(key, "")).await.expect("ws");
    let mut first_frame = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while first_frame.is_none() {
        let id = publish(a, key, 100).await;
        if let Ok(Some(Ok(Message::Text(t)))) = timeout(Duration::from_millis(100), ws.next()).await
        {
            let v: Value = serde_json::from_str(t.as_str()).expect("json");
            assert!(v["id"].as_i64().expect("id") <= id);
            first_frame = Some(v);
        }
        assert!(Instant::now() < deadline, "no frame on node B");
    }
    let newest = publish(a, key, 200).await;
    loop {
        if next_json(&mut ws).await["id"].as_i64() == Some(newest) {
            break;
        }
    }
    (ws, newest)
}

/// Kills both listeners' connections and publishes at once on `a`: B's notification is
/// lost, yet B's subscribers (the WebSocket, and a poll whose last_id is B's remembered
/// newest id, which may wait without reading the table) get the change once B's listener
/// reconnects and re-reads.
async fn lost_notification_still_arrives(
    db: &tokio_postgres::Client,
    (a, b): (&Client, &Client),
    key: &str,
    ws: &mut WebSocket,
    newest: i64,
) {
    let killed: i64 = db
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'rivia-listener' AND datname = current_database()",
            &[],
        )
        .await
        .expect("terminate")
        .get(0);
    assert_eq!(killed, 2);
    let current = spawn_poll(*b, key, &format!("?last_id={newest}"));
    let lost = publish(a, key, 300).await;
    assert_eq!(next_json(ws).await["id"].as_i64(), Some(lost));
    let body = current
        .await
        .expect("poll task")
        .expect_json(StatusCode::OK);
    assert_eq!(body["id"].as_i64(), Some(lost));
    wait_for_listeners(db, 2).await;
}

async fn two_nodes() {
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let url = database.url().to_string();
    let (db, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect test db");
    tokio::spawn(conn);
    let (node_a, node_b) = (node(&url).await, node(&url).await);
    let (a, b) = (node_a.client, node_b.client);
    let key = setup_channel(&a, "nodes@example.com").await;
    wait_for_listeners(&db, 2).await;
    // A long poll on B (no last_id: waits for the next change) answers A's publish.
    let (sent, body) = publish_until_answered(&a, &key, spawn_poll(b, &key, "")).await;
    assert!(sent.contains(&body["id"].as_i64().expect("id")));
    // A WebSocket on B streams A's publishes.
    let (mut ws, newest) = websocket_across_nodes(&a, &b, &key).await;
    lost_notification_still_arrives(&db, (&a, &b), &key, &mut ws, newest).await;
    // After reconnecting, fresh polls on B get A's publishes, and A gets B's.
    let (sent, body) = publish_until_answered(&a, &key, spawn_poll(b, &key, "")).await;
    assert!(sent.contains(&body["id"].as_i64().expect("id")));
    let (sent, body) = publish_until_answered(&b, &key, spawn_poll(a, &key, "")).await;
    assert!(sent.contains(&body["id"].as_i64().expect("id")));
    drop(ws);
}

/// Waits until every subscription of the app is gone (closed sockets are noticed by the
/// server asynchronously).
async fn wait_for_no_waiters(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.store.bus.waiter_count() > 0 {
        assert!(Instant::now() < deadline, "subscriptions left open");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
