//! Channels over real sockets: clients that vanish mid-poll or mid-WebSocket, the WebSocket
//! transport, and two `rivia serve` processes sharing one PostgreSQL database.

use crate::both_backends;
use crate::channels::wait_for_waiters;
use crate::helpers::{Backend, TempDir, TestApp, fresh_postgres_url};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

both_backends!(
    vanished_pollers_release_everything,
    websocket_streams_backlog_and_new_changes,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_deliver_each_others_changes_across_listener_restarts() {
    two_nodes().await
}

const CH: &str = "/v1.1/instances/net-inst/channels/";

/// Serves the app on a real loopback socket inside the test runtime.
async fn serve(app: &TestApp) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = rivia_server::app(app.state.clone());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    addr
}

fn request_bytes(method: &str, path: &str, key: Option<&str>, body: Option<&Value>) -> Vec<u8> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    if let Some(k) = key {
        head.push_str(&format!("X-API-KEY: {k}\r\n"));
    }
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    head.into_bytes()
}

/// Status, lowercase headers, JSON body (Null when empty).
type HttpReply = (u16, Vec<(String, String)>, Value);

/// A minimal HTTP/1.1 exchange over a fresh connection: (status, headers, JSON body).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> HttpReply {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(&request_bytes(method, path, key, body.as_ref()))
        .await
        .expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect::<Vec<_>>();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    let json = serde_json::from_str(&body).unwrap_or(Value::Null);
    (status, headers, json)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

async fn setup_channel(addr: SocketAddr, email: &str) -> String {
    let (status, _, body) = http(
        addr,
        "POST",
        "/v1.1/account/register/",
        None,
        Some(json!({"email": email, "password": "secret"})),
    )
    .await;
    assert_eq!(status, 201, "{body:?}");
    let key = body["account_key"].as_str().expect("key").to_string();
    let (status, _, body) = http(
        addr,
        "POST",
        "/v1.1/instances/",
        Some(&key),
        Some(json!({"name": "net-inst"})),
    )
    .await;
    assert_eq!(status, 201, "{body:?}");
    let (status, _, _) = http(
        addr,
        "POST",
        CH,
        Some(&key),
        Some(json!({"name": "live", "custom_publish": true})),
    )
    .await;
    assert_eq!(status, 201);
    key
}

async fn publish(addr: SocketAddr, key: &str, n: i64) -> i64 {
    let (status, _, body) = http(
        addr,
        "POST",
        &format!("{CH}live/publish/"),
        Some(key),
        Some(json!({"payload": {"n": n}})),
    )
    .await;
    assert_eq!(status, 201, "{body:?}");
    body["id"].as_i64().expect("id")
}

async fn vanished_pollers_release_everything(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let addr = serve(&app).await;
    let key = setup_channel(addr, "net@example.com").await;
    // Hold 200 polls and 20 WebSockets open, then make every client vanish.
    let mut polls = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(&request_bytes(
            "GET",
            &format!("{CH}live/poll/"),
            Some(&key),
            None,
        ))
        .await
        .expect("write");
        polls.push(s);
    }
    let mut sockets = Vec::new();
    for _ in 0..20 {
        let url = format!("ws://{addr}{CH}live/poll/?transport=websocket&api_key={key}");
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
        sockets.push(ws);
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
    let poll_key = key.clone();
    let waiter = tokio::spawn(async move {
        let url = format!("{CH}live/poll/");
        http(addr, "GET", &url, Some(&poll_key), None).await
    });
    wait_for_waiters(&app, 1).await;
    let id = publish(addr, &key, 1).await;
    let (status, headers, body) = waiter.await.expect("poll");
    assert_eq!(status, 200);
    assert_eq!(body["id"].as_i64(), Some(id));
    assert!(headers.contains(&("x-last-id".into(), id.to_string())));
}

async fn next_text<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let msg = timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")
            .expect("stream open")
            .expect("frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).expect("json frame");
        }
    }
}

async fn websocket_streams_backlog_and_new_changes(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let addr = serve(&app).await;
    let key = setup_channel(addr, "ws@example.com").await;
    let first = publish(addr, &key, 1).await;
    let second = publish(addr, &key, 2).await;
    // With last_id: the stored changes after it, then every new one, as text frames.
    let url =
        format!("ws://{addr}{CH}live/poll/?transport=websocket&last_id={first}&api_key={key}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
    let frame = next_text(&mut ws).await;
    assert_eq!(frame["id"].as_i64(), Some(second));
    assert_eq!(frame.get("links"), None);
    let mut expected = Vec::new();
    for n in 3..6 {
        expected.push(publish(addr, &key, n).await);
    }
    for id in expected {
        let frame = next_text(&mut ws).await;
        assert_eq!(frame["id"].as_i64(), Some(id));
        assert_eq!(frame["action"], "custom");
    }
    ws.send(Message::Close(None)).await.expect("close");
    wait_for_no_waiters(&app).await;
    // Without last_id: the next change, even one published while the socket was being
    // set up (right after it subscribed, possibly before it read the newest id).
    for n in 0..5 {
        let url = format!("ws://{addr}{CH}live/poll/?transport=websocket&api_key={key}");
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
        wait_for_waiters(&app, 1).await;
        let id = publish(addr, &key, 10 + n).await;
        let frame = next_text(&mut ws).await;
        assert_eq!(frame["id"].as_i64(), Some(id));
        ws.send(Message::Close(None)).await.expect("close");
        wait_for_no_waiters(&app).await;
    }
    // A last_id beyond the newest change is an error frame.
    let url = format!("ws://{addr}{CH}live/poll/?transport=websocket&last_id=9999&api_key={key}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
    assert_eq!(
        next_text(&mut ws).await,
        json!({"last_id": "Value is higher than the most current change id."})
    );
    // Validation happens before the upgrade, as plain HTTP errors.
    let url = format!("ws://{addr}{CH}default/poll/?transport=websocket&api_key={key}");
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}

/// A `rivia serve` child process.
struct Node {
    child: tokio::process::Child,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Node {
    async fn start(database_url: &str) -> Node {
        let dir = TempDir::new();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rivia"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("RIVIA_DATABASE_URL", database_url)
            .env("RIVIA_DATA_DIR", &dir.0)
            .env("RIVIA_INSTANCE_RATE", "0")
            .env("RIVIA_ADMIN_RATE", "0")
            .env("RIVIA_ANON_RATE", "0")
            .env("RIVIA_POLL_RATE", "0")
            .env("RIVIA_POLL_TIMEOUT", "60")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn rivia");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(rest) = line.strip_prefix("Rivia listening on http://") {
                    let addr = rest.split('/').next().unwrap_or_default();
                    return addr.parse::<SocketAddr>().expect("address");
                }
            }
            panic!("rivia exited before listening")
        })
        .await
        .expect("rivia started in time");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Node {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
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
    from: SocketAddr,
    key: &str,
    mut pending: tokio::task::JoinHandle<HttpReply>,
) -> (Vec<i64>, Value) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent = Vec::new();
    loop {
        sent.push(publish(from, key, sent.len() as i64).await);
        if let Ok(done) = timeout(Duration::from_millis(100), &mut pending).await {
            let (status, _, body) = done.expect("poll task");
            assert_eq!(status, 200, "{body:?}");
            return (sent, body);
        }
        assert!(Instant::now() < deadline, "the other node never answered");
    }
}

async fn two_nodes() {
    let Some(url) = fresh_postgres_url().await else {
        return;
    };
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect test db");
    tokio::spawn(conn);
    let a = Node::start(&url).await;
    let b = Node::start(&url).await;
    let key = setup_channel(a.addr, "nodes@example.com").await;
    wait_for_listeners(&client, 2).await;

    // A long poll on B (no last_id: waits for the next change) answers A's publish.
    let (addr_b, key_b) = (b.addr, key.clone());
    let pending = tokio::spawn(async move {
        http(
            addr_b,
            "GET",
            &format!("{CH}live/poll/"),
            Some(&key_b),
            None,
        )
        .await
    });
    let (sent, body) = publish_until_answered(a.addr, &key, pending).await;
    assert!(sent.contains(&body["id"].as_i64().expect("id")));

    // A WebSocket on B streams A's publishes.
    let url = format!(
        "ws://{}{CH}live/poll/?transport=websocket&api_key={key}",
        b.addr
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("ws");
    let mut first_frame = None;
    let deadline = Instant::now() + Duration::from_secs(20);
    while first_frame.is_none() {
        let id = publish(a.addr, &key, 100).await;
        if let Ok(Some(Ok(Message::Text(t)))) = timeout(Duration::from_millis(100), ws.next()).await
        {
            let v: Value = serde_json::from_str(t.as_str()).expect("json");
            assert!(v["id"].as_i64().expect("id") <= id);
            first_frame = Some(v);
        }
        assert!(Instant::now() < deadline, "no frame on node B");
    }
    // Drain frames of publishes that raced the first one.
    let newest = publish(a.addr, &key, 200).await;
    loop {
        if next_text(&mut ws).await["id"].as_i64() == Some(newest) {
            break;
        }
    }

    // Kill both listeners' connections and publish at once: B's notification is lost, yet
    // B's subscribers get the change when the listener reconnects and re-reads.
    let killed: i64 = client
        .query_one(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'rivia-listener' AND datname = current_database()",
            &[],
        )
        .await
        .expect("terminate")
        .get(0);
    assert_eq!(killed, 2);
    // A poll on B whose last_id is B's remembered newest id (the WebSocket keeps it) may
    // wait without reading the table; it must still get the change whose notification
    // is lost, once B's listener reconnects.
    let (addr_b, key_b) = (b.addr, key.clone());
    let current = tokio::spawn(async move {
        http(
            addr_b,
            "GET",
            &format!("{CH}live/poll/?last_id={newest}"),
            Some(&key_b),
            None,
        )
        .await
    });
    let lost = publish(a.addr, &key, 300).await;
    assert_eq!(next_text(&mut ws).await["id"].as_i64(), Some(lost));
    let (status, _, body) = current.await.expect("poll task");
    assert_eq!(status, 200, "{body:?}");
    assert_eq!(body["id"].as_i64(), Some(lost));
    wait_for_listeners(&client, 2).await;

    // After reconnecting, fresh polls on B get A's publishes, and A gets B's.
    let (addr_b, key_b) = (b.addr, key.clone());
    let pending = tokio::spawn(async move {
        http(
            addr_b,
            "GET",
            &format!("{CH}live/poll/"),
            Some(&key_b),
            None,
        )
        .await
    });
    let (sent, body) = publish_until_answered(a.addr, &key, pending).await;
    assert!(sent.contains(&body["id"].as_i64().expect("id")));
    let (addr_a, key_a) = (a.addr, key.clone());
    let pending = tokio::spawn(async move {
        http(
            addr_a,
            "GET",
            &format!("{CH}live/poll/"),
            Some(&key_a),
            None,
        )
        .await
    });
    let (sent, body) = publish_until_answered(b.addr, &key, pending).await;
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
