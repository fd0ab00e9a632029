//! Rivia's HTTP layer: a Syncano platform API v1.1 server. [`app`] builds the router that
//! `rivia serve` runs and that the tests drive in-process.

pub mod api;
pub(crate) mod auth;
pub mod backup_cli;
pub(crate) mod body;
pub(crate) mod cache;
pub(crate) mod caller;
pub mod config;
pub mod dashboard;
pub mod error;
pub(crate) mod fields;
pub mod health;
pub mod jobs;
pub(crate) mod json;
pub mod logging;
pub(crate) mod mailer;
pub mod memory;
pub mod metrics;
mod middleware;
pub mod observe;
pub mod openapi;
pub(crate) mod req;
pub mod runner;
mod serde_refuse;
pub mod server;
pub mod stack;
pub mod state;
pub(crate) mod templates;
pub(crate) mod throttle;
pub mod workers;

use crate::error::ApiError;
use crate::state::AppState;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// Builds the application: the API's routes inside [`stack::App`], which does what every
/// request needs before and after routing.
pub fn app(state: AppState) -> stack::App {
    let (mut router, docs) = api::all().into_parts();
    if state.settings.bench_baseline {
        router = router.route(
            "/_bench/fixed/{bytes}/",
            axum::routing::get(bench_fixed).layer(metrics::tag_route("/_bench/fixed/{bytes}/")),
        );
    }
    if state.settings.dashboard {
        router = dashboard::routes(router);
    }
    let openapi = Arc::new(openapi::document(&docs));
    let body_timeout = state.settings.body_timeout;
    let observer = observe::Observer::new(state.settings.metrics.then(|| state.metrics.clone()));
    let templates = templates::hook::Hook::new(state.clone(), &docs);
    let routed = router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { json::ok((*doc).clone()) }
            })
            .layer(metrics::tag_route("/openapi.json")),
        )
        .route(
            "/healthz",
            axum::routing::get(health::healthz).layer(metrics::tag_route("/healthz")),
        )
        .route(
            "/readyz",
            axum::routing::get(health::readyz).layer(metrics::tag_route("/readyz")),
        )
        .fallback(not_found)
        .with_state(state);
    stack::App::new(routed, body_timeout, observer).with_templates(templates)
}

/// The benchmarks' baseline: a fixed JSON body of the requested size, built once per size.
async fn bench_fixed(axum::extract::Path(bytes): axum::extract::Path<usize>) -> Response {
    static BODIES: std::sync::OnceLock<
        parking_lot::Mutex<std::collections::HashMap<usize, bytes::Bytes>>,
    > = std::sync::OnceLock::new();
    let size = bytes.clamp(16, 4 * 1024 * 1024);
    let body = BODIES
        .get_or_init(Default::default)
        .lock()
        .entry(size)
        .or_insert_with(|| bytes::Bytes::from(format!("{{\"pad\":\"{}\"}}", "x".repeat(size - 10))))
        .clone();
    let mut resp = Response::new(axum::body::Body::from(body));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

async fn not_found() -> Response {
    let mut resp = ApiError::not_found().into_response();
    resp.extensions_mut().insert(api::batch::Unrouted);
    resp
}
