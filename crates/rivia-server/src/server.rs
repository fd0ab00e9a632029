//! The HTTP/1.1 accept loop of `rivia serve`.
//!
//! axum's `serve` hands each connection to hyper-util's auto (HTTP/1 or HTTP/2) builder,
//! which first reads a few bytes to detect the protocol. hyper's own read buffer then
//! starts with those bytes and has to grow from 8 KiB to 16 KiB for the rest of the
//! request: 8 KiB more for every held long poll. Rivia only speaks HTTP/1.1 (and
//! WebSocket upgrades), so connections go straight to hyper's HTTP/1 server.
//!
//! Each connection has a watchdog ([`Timeouts`]): a request's head must arrive within the
//! header timeout of its first byte, and a connection with no request in flight is closed
//! once it has been quiet for the idle timeout. A request in flight (a held long poll) is
//! never cut here, and an upgraded WebSocket leaves the watchdog behind; the body's own
//! deadline is the body reader's (`crate::body`). hyper's `header_read_timeout` is not used:
//! it starts when hyper waits for the next request, so it would also be the idle timeout,
//! and it allocates a timer per request.

use crate::memory::LiveConnections;
use crate::stack::App;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::time::Instant;
use tower::Service;

/// How long a connection may take to send a request's head, and stay quiet between requests.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From a request's first byte to the end of its head.
    pub header: Duration,
    /// With no request in flight, since the last byte read or written.
    pub idle: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, lets
/// every connection finish its in-flight request, and returns once all are closed.
/// `live` counts the open connections.
pub async fn serve(
    listener: TcpListener,
    app: App,
    live: LiveConnections,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()>,
) {
    // Connections watch `stop`; each holds a `done` receiver, so `done_tx.closed()`
    // resolves when the last one ends.
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let conn = serve_connection(
                    stream,
                    peer,
                    app.clone(),
                    stop_rx.clone(),
                    live.clone(),
                    timeouts,
                );
                let done = done_rx.clone();
                tokio::spawn(async move {
                    conn.await;
                    drop(done);
                });
            }
            Err(e) => accept_failed(e).await,
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_rx);
    done_tx.closed().await;
}

/// Out of file descriptors and similar: wait a moment instead of spinning.
async fn accept_failed(e: std::io::Error) {
    tracing::warn!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// What the watchdog of one connection knows: requests in flight, and when (microseconds
/// after `start`) the connection last moved and the request being read began.
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    last_active: AtomicU64,
    /// 1 + when the first byte of a request not yet handed to the app arrived; 0: none.
    head_since: AtomicU64,
}

impl Activity {
    /// Microseconds since the connection opened, rounded up: a deadline counted from it is
    /// never early (whole milliseconds rounded down closed idle connections up to 1 ms
    /// before their timeout).
    fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    }

    fn read(&self) {
        let now = self.now_us();
        self.last_active.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == 0
        {
            self.head_since.store(now + 1, Ordering::Relaxed);
        }
    }

    fn wrote(&self) {
        self.last_active.store(self.now_us(), Ordering::Relaxed);
    }

    /// When the connection is due to be closed; `None` while a request is in flight.
    fn deadline(&self, timeouts: Timeouts) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let us = Duration::from_micros;
        Some(match self.head_since.load(Ordering::Relaxed) {
            0 => self.start + us(self.last_active.load(Ordering::Relaxed)) + timeouts.idle,
            since => self.start + us(since - 1) + timeouts.header,
        })
    }
}

/// Marks a request in flight while the app answers it.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn enter(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.head_since.store(0, Ordering::Relaxed);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.wrote();
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The socket, reporting reads and writes to the connection's [`Activity`].
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// One connection: HTTP/1.1 with keep-alive and upgrades, the client address as
/// [`ConnectInfo`], closed by its watchdog when it stalls, ended gracefully once `stop`
/// turns true.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: App,
    mut stop: watch::Receiver<bool>,
    live: LiveConnections,
    timeouts: Timeouts,
) {
    let _counted = live.enter();
    let start = Instant::now();
    let activity = Arc::new(Activity {
        start,
        in_flight: AtomicUsize::new(0),
        last_active: AtomicU64::new(0),
        head_since: AtomicU64::new(0),
    });
    let watched = Watched {
        stream,
        activity: activity.clone(),
    };
    let requests = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = InFlight::enter(&requests);
        let answer = app.clone().call(req.map(Body::new));
        async move {
            let answered = answer.await;
            drop(in_flight);
            answered
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(watched), service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let stopping = async {
        // An error means the accept loop is gone: stop as well.
        while !*stop.borrow_and_update() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    let mut stopping = std::pin::pin!(stopping);
    let mut stopped = false;
    let watchdog = tokio::time::sleep(timeouts.header.min(timeouts.idle));
    let mut watchdog = std::pin::pin!(watchdog);
    loop {
        tokio::select! {
            result = conn.as_mut() => return log_end(result),
            () = &mut stopping, if !stopped => {
                stopped = true;
                conn.as_mut().graceful_shutdown();
            }
            () = watchdog.as_mut() => {
                let now = Instant::now();
                match activity.deadline(timeouts) {
                    Some(due) if due <= now => {
                        tracing::debug!(%peer, "closing a stalled connection");
                        return;
                    }
                    Some(due) => watchdog.as_mut().reset(due),
                    None => watchdog.as_mut().reset(now + timeouts.header.min(timeouts.idle)),
                }
            }
        }
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::{Notify, oneshot};

    async fn get_text(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn serves_the_peer_address_and_finishes_requests_on_shutdown() {
        let release = Arc::new(Notify::new());
        let held = release.clone();
        let router =
            Router::new()
                .route(
                    "/peer",
                    get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                        peer.ip().to_string()
                    }),
                )
                .route(
                    "/slow",
                    get(move || async move {
                        held.notified().await;
                        "done"
                    }),
                );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let live = LiveConnections::default();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let app = App::new(
            router,
            Duration::from_secs(60),
            crate::observe::Observer::default(),
        );
        let timeouts = Timeouts {
            header: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        };
        let server = tokio::spawn(serve(listener, app, live.clone(), timeouts, async {
            let _ = stop_rx.await;
        }));

        assert!(get_text(addr, "/peer").await.ends_with("127.0.0.1"));
        let slow = tokio::spawn(get_text(addr, "/slow"));
        while live.get() == 0 {
            tokio::task::yield_now().await;
        }
        let _ = stop_tx.send(());
        // New connections are refused once the loop has stopped accepting.
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
        assert!(!server.is_finished(), "waits for the request in flight");
        release.notify_one();
        let reply = slow.await.expect("client");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.ends_with("done"), "{reply}");
        server.await.expect("server");
        assert_eq!(live.get(), 0);
    }
}
