//! Bare axum: `GET /_bench/fixed/{bytes}/` answers `{"pad":"xxx…"}` of `bytes` bytes, each
//! body built once. Usage: `axum-baseline 127.0.0.1:PORT`.

use axum::Router;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::OnceLock;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn fixed(Path(bytes): Path<usize>) -> Response {
    static BODIES: OnceLock<parking_lot::Mutex<HashMap<usize, Bytes>>> = OnceLock::new();
    let size = bytes.clamp(16, 4 * 1024 * 1024);
    let body = BODIES
        .get_or_init(Default::default)
        .lock()
        .entry(size)
        .or_insert_with(|| Bytes::from(format!("{{\"pad\":\"{}\"}}", "x".repeat(size - 10))))
        .clone();
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

#[tokio::main]
async fn main() {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8090".into());
    let app = Router::new().route("/_bench/fixed/{bytes}/", get(fixed));
    let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
