//! Probes for load balancers and orchestrators, on the API port and on the metrics
//! listener: `GET /healthz` (the process answers; no database work) and `GET /readyz` (the
//! database answers within [`READY_TIMEOUT`] and has every migration of this build; one
//! trivial query). Both are cheap enough to poll every second. `GET /metrics` (the metrics
//! listener only) renders [`crate::metrics::Metrics`].

use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long `/readyz` waits for the database before answering 503.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: 200 while the process serves requests.
pub(crate) async fn healthz() -> Response {
    crate::json::ok(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 `{"status": "ready"}`, or 503 `{"status": "unavailable", "detail"}`
/// when the database does not answer in time or lacks a migration. Changes of readiness
/// are logged once each, not at every poll.
pub(crate) async fn readyz(State(app): State<AppState>) -> Response {
    let checked = tokio::time::timeout(READY_TIMEOUT, app.store.check_ready()).await;
    let failure = match checked {
        Ok(Ok(())) => None,
        Ok(Err(rivia_store::StoreError::Unavailable(m))) if m.starts_with("migrations") => {
            Some(("migrations pending", m))
        }
        Ok(Err(e)) => Some(("database unavailable", e.to_string())),
        Err(_) => Some((
            "database unavailable",
            format!("no answer within {READY_TIMEOUT:?}"),
        )),
    };
    note_readiness(&LAST_READY, failure.as_ref().map(|(_, why)| why.as_str()));
    match failure {
        None => crate::json::ok(json!({"status": "ready"})),
        Some((detail, _)) => crate::json::json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"status": "unavailable", "detail": detail}),
        ),
    }
}

/// Whether the last `/readyz` answered ready (this process).
static LAST_READY: AtomicBool = AtomicBool::new(true);

/// Logs a change of readiness (`failure`: why not ready).
fn note_readiness(last: &AtomicBool, failure: Option<&str>) {
    let ready = failure.is_none();
    if last.swap(ready, Ordering::Relaxed) == ready {
        return;
    }
    match failure {
        Some(why) => tracing::warn!(reason = why, "not ready"),
        None => tracing::info!("ready again"),
    }
}

/// `GET /metrics`: the metrics in the OpenMetrics text format.
pub(crate) async fn metrics(State(app): State<AppState>) -> Response {
    let mut resp = app.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
    );
    resp
}

/// The router of the metrics listener (`--metrics-bind`): `/metrics`, `/healthz`, `/readyz`.
pub fn metrics_router(state: AppState) -> axum::Router {
    use axum::routing::get;
    axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}
