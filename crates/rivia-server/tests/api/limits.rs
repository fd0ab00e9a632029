//! What a connection may cost the server (issue #13 §2), over real sockets: a request's
//! head and body have deadlines, a quiet keep-alive connection is closed, a held poll is
//! not, and a body nobody will use is never read.

use crate::both_backends;
use crate::channels::{CH, admin_with_publish_channel};
use crate::client::serve;
use crate::helpers::TestApp;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

both_backends!(
    settings(|s| {
        s.header_timeout = std::time::Duration::from_millis(400);
        s.idle_timeout = std::time::Duration::from_secs(60);
    }),
    headers_trickled_byte_by_byte_are_cut_after_the_header_timeout,
);
both_backends!(
    settings(|s| {
        s.header_timeout = std::time::Duration::from_secs(60);
        s.idle_timeout = std::time::Duration::from_millis(400);
    }),
    an_idle_keep_alive_connection_is_closed_after_the_idle_timeout,
);
both_backends!(
    settings(|s| {
        s.header_timeout = std::time::Duration::from_millis(200);
        s.idle_timeout = std::time::Duration::from_millis(200);
        s.poll_timeout = std::time::Duration::from_millis(1500);
    }),
    a_held_poll_outlives_the_idle_and_header_timeouts,
);
both_backends!(
    settings(|s| s.body_timeout = std::time::Duration::from_millis(400)),
    a_body_sent_too_slowly_answers_408_and_closes,
);
both_backends!(
    a_large_post_to_an_unknown_path_answers_404_before_its_body,
    a_large_body_on_a_route_without_uploads_answers_413_before_it_is_sent,
);

/// Reads until the server closes the connection (`Ok(0)` or a reset); everything read.
pub(crate) async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "still open after {within:?}; read {:?}",
                String::from_utf8_lossy(&out)
            ),
        }
    }
}

/// Reads one response's head and its `Content-Length` body, leaving the connection open.
pub(crate) async fn read_one_response(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let n = timeout(left, stream.read(&mut buf))
            .await
            .expect("a response in time")
            .expect("read");
        assert!(n > 0, "closed before a whole response: {text:?}");
        out.extend_from_slice(&buf[..n]);
    }
}

async fn headers_trickled_byte_by_byte_are_cut_after_the_header_timeout(app: TestApp) {
    let client = serve(&app).await;
    let mut stream = TcpStream::connect(client.addr).await.expect("connect");
    let started = Instant::now();
    // A request head that never ends: one byte every 50 ms, for up to 10 s.
    let head = b"GET /v1.1/ HTTP/1.1\r\nHost: test\r\nX-Padding: ".to_vec();
    let mut ticks = tokio::time::interval(Duration::from_millis(50));
    let mut sent = 0usize;
    let mut buf = [0u8; 1024];
    let closed = loop {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => break true,
                Ok(n) => panic!("answered a request whose head never ended: {:?}", String::from_utf8_lossy(&buf[..n])),
            },
            _ = ticks.tick() => {
                if started.elapsed() > Duration::from_secs(10) {
                    break false;
                }
                let byte = head.get(sent).copied().unwrap_or(b'x');
                if stream.write_all(&[byte]).await.is_err() {
                    break true;
                }
                sent += 1;
            }
        }
    };
    assert!(closed, "a trickling client was still connected after 10 s");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "cut before the header timeout: {:?}",
        started.elapsed()
    );
    // It was still sending when it was cut: the deadline counts from the first byte, not
    // from the last.
    assert!(sent > 5, "only {sent} bytes sent");
}

async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(app: TestApp) {
    let client = serve(&app).await;
    let mut stream = TcpStream::connect(client.addr).await.expect("connect");
    stream
        .write_all(b"GET /v1.1/ HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let first = read_one_response(&mut stream).await;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    // Kept alive: a second request on the same connection is answered. The idle clock
    // starts when the server has answered it, so timing from before the request is a
    // lower bound that holds however late this test gets to read the answer.
    let quiet = Instant::now();
    stream
        .write_all(b"GET /v1.1/ HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let second = read_one_response(&mut stream).await;
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
    let rest = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert!(
        quiet.elapsed() >= Duration::from_millis(400),
        "closed before the idle timeout: {:?}",
        quiet.elapsed()
    );
}

async fn a_held_poll_outlives_the_idle_and_header_timeouts(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "held").await;
    let client = serve(&app).await;
    let started = Instant::now();
    let r = client
        .request("GET", &format!("{CH}held/poll/"), Some(&admin), None)
        .await;
    // Held until the poll timeout (1.5 s), far past the 200 ms connection timeouts.
    assert_eq!(r.status.as_u16(), 204, "{:?}", r.body);
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

async fn a_body_sent_too_slowly_answers_408_and_closes(app: TestApp) {
    let key = app.admin("slow@example.com").await;
    let client = serve(&app).await;
    let mut stream = TcpStream::connect(client.addr).await.expect("connect");
    let head = format!(
        "POST /v1.1/instances/ HTTP/1.1\r\nHost: test\r\nX-API-KEY: {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    // The other 92 bytes never come.
    let answer = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        answer.ends_with(r#"{"detail":"Request body was not received in time."}"#),
        "{answer}"
    );
}

/// Sends only the head of a request announcing a 10 MB body and reads the answer: an
/// answer at all proves it came before the body was sent.
async fn answer_to_head_only(app: &TestApp, head: &str) -> String {
    let client = serve(app).await;
    let mut stream = TcpStream::connect(client.addr).await.expect("connect");
    stream.write_all(head.as_bytes()).await.expect("write");
    let answer = read_one_response(&mut stream).await;
    // And the connection is not kept waiting for a body that will not be read.
    let rest = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    answer
}

async fn a_large_post_to_an_unknown_path_answers_404_before_its_body(app: TestApp) {
    let answer = answer_to_head_only(
        &app,
        "POST /v1.1/nowhere/at/all/ HTTP/1.1\r\nHost: test\r\n\
         Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.ends_with(r#"{"detail":"Not found."}"#), "{answer}");
}

async fn a_large_body_on_a_route_without_uploads_answers_413_before_it_is_sent(app: TestApp) {
    let key = app.admin("big@example.com").await;
    // Multipart bodies take the upload limit only on the routes that store files.
    let answer = answer_to_head_only(
        &app,
        &format!(
            "POST /v1.1/instances/ HTTP/1.1\r\nHost: test\r\nX-API-KEY: {key}\r\n\
             Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 10485760\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.ends_with(r#"{"detail":"Request size limit exceeded (1048576)."}"#),
        "{answer}"
    );
}
