//! One client for tests that need real sockets: HTTP/1.1 requests (each on a fresh
//! connection, answered as the same [`Response`] the in-process helpers give), WebSocket
//! streams, the app served on a loopback port, and `rivia serve` as a child process.

use crate::helpers::{Response, TempDir, TestApp};
use axum::http::header::{HeaderName, HeaderValue};
use axum::http::{HeaderMap, StatusCode};
use futures_util::StreamExt;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket connected to the server.
pub type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A client of one server address.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub addr: SocketAddr,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Client { addr }
    }

    /// One request on a fresh connection (`Connection: close`); panics when the server
    /// cannot be reached.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        self.try_request(method, path, key, body)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// One request on a fresh connection; an error when the server is gone (or answers
    /// something that is not HTTP).
    pub async fn try_request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> std::io::Result<Response> {
        let mut stream = self.send_only(method, path, key, body.as_ref()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        parse_response(&format!("{method} {path}"), &raw)
    }

    /// One request with any headers, on a fresh connection.
    pub async fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Response {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() {
            head.push_str("Content-Type: application/json\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let mut stream = TcpStream::connect(self.addr).await.expect("connect");
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        parse_response(&format!("{method} {path}"), &raw).expect("an HTTP response")
    }

    /// Connects and writes a request without reading the answer: the connection stays
    /// open (a held poll) until the stream is dropped.
    pub async fn send_only(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> std::io::Result<TcpStream> {
        let mut stream = TcpStream::connect(self.addr).await?;
        stream
            .write_all(&request_bytes(method, path, key, body))
            .await?;
        Ok(stream)
    }

    /// Opens a WebSocket on `path` (with its query); an error when the server refuses the
    /// upgrade.
    pub async fn websocket(
        &self,
        path: &str,
    ) -> Result<WebSocket, tokio_tungstenite::tungstenite::Error> {
        let url = format!("ws://{}{path}", self.addr);
        tokio_tungstenite::connect_async(url)
            .await
            .map(|(ws, _)| ws)
    }
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

fn invalid(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string())
}

/// Status line, headers and body (JSON, else text, Null when empty) of a whole HTTP/1.1
/// response.
fn parse_response(request: &str, raw: &[u8]) -> std::io::Result<Response> {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| invalid("no status line"))?;
    let mut headers = HeaderMap::new();
    for (k, v) in lines.filter_map(|l| l.split_once(':')) {
        let name = HeaderName::from_bytes(k.trim().as_bytes()).map_err(|_| invalid("header"))?;
        let value = HeaderValue::from_str(v.trim()).map_err(|_| invalid("header"))?;
        headers.append(name, value);
    }
    let chunked = headers
        .get("transfer-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    };
    Ok(Response {
        status,
        body,
        headers,
        request: request.to_string(),
    })
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

/// The next text frame as JSON (pings and other frames skipped); panics after 10 s.
pub async fn next_json(ws: &mut WebSocket) -> Value {
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

/// Serves the app on a real loopback socket inside the test runtime, through `rivia
/// serve`'s own accept loop (its timeouts from the app's settings).
pub async fn serve(app: &TestApp) -> Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = rivia_server::app(app.state.clone());
    let timeouts = app.state.settings().timeouts();
    let live = rivia_server::memory::LiveConnections::default();
    tokio::spawn(rivia_server::server::serve(
        listener,
        router,
        live,
        timeouts,
        std::future::pending(),
    ));
    Client::new(addr)
}

/// A `rivia serve` child process on a loopback port, killed on drop.
pub struct Server {
    pub child: tokio::process::Child,
    pub client: Client,
    /// Its stdout after the listening line (drained so the child never blocks on a full
    /// pipe).
    pub stdout: mpsc::UnboundedReceiver<String>,
    /// Its stderr (the log), line by line, drained likewise.
    pub stderr: mpsc::UnboundedReceiver<String>,
    /// A data directory made for it (None when the test gave one).
    _dir: Option<TempDir>,
}

impl Server {
    /// Starts `rivia serve --bind 127.0.0.1:0` with more arguments and environment; without
    /// a `--data-dir` argument it gets a fresh data directory of its own.
    pub async fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        let own_dir = (!args.contains(&"--data-dir")).then(TempDir::new);
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_rivia"));
        command.args(["serve", "--bind", "127.0.0.1:0"]).args(args);
        if let Some(dir) = &own_dir {
            command.arg("--data-dir").arg(&dir.0);
        }
        let mut child = command
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn rivia");
        let stdout = child.stdout.take().expect("stdout");
        let (err_tx, err_rx) = mpsc::unbounded_channel();
        let mut err_lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let _ = err_tx.send(line);
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let addr = timeout(Duration::from_secs(60), async {
            let first = lines.next_line().await.expect("read stdout");
            let first = first.expect("rivia exited before listening");
            let url = first
                .split_whitespace()
                .find_map(|w| w.strip_prefix("http://"))
                .unwrap_or_else(|| panic!("no URL in {first:?}"));
            let addr = url.split('/').next().unwrap_or_default();
            addr.parse::<SocketAddr>().expect("address")
        })
        .await
        .expect("rivia started in time");
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
        Server {
            child,
            client: Client::new(addr),
            stdout: rx,
            stderr: err_rx,
            _dir: own_dir,
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("SIGKILL");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
