//! The HTTP/1.1 accept loop of `rivia serve`.
//!
//! axum's `serve` hands each connection to hyper-util's auto (HTTP/1 or HTTP/2) builder,
//! which first reads a few bytes to detect the protocol. hyper's own read buffer then
//! starts with those bytes and has to grow from 8 KiB to 16 KiB for the rest of the
//! request: 8 KiB more for every held long poll. Rivia only speaks HTTP/1.1 (and
//! WebSocket upgrades), so connections go straight to hyper's HTTP/1 server.

use crate::memory::LiveConnections;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::Service;

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting, lets
/// every connection finish its in-flight request, and returns once all are closed.
/// `live` counts the open connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    live: LiveConnections,
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
                let conn =
                    serve_connection(stream, peer, router.clone(), stop_rx.clone(), live.clone());
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

/// One connection: HTTP/1.1 with keep-alive and upgrades, the client address as
/// [`ConnectInfo`], ended gracefully once `stop` turns true.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
    live: LiveConnections,
) {
    let _counted = live.enter();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        router.clone().call(req.map(Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
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
    tokio::select! {
        result = conn.as_mut() => return log_end(result),
        () = stopping => conn.as_mut().graceful_shutdown(),
    }
    log_end(conn.await);
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let server = tokio::spawn(serve(listener, router, live.clone(), async {
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
