//! `GET /healthz` and `GET /readyz` on the API port and the metrics listener, and the
//! metrics listener of `rivia serve --metrics-bind` over real sockets.

use crate::both_backends;
use crate::client::{Client, Server};
use crate::helpers::{Backend, TestApp, fresh_postgres_database};
use crate::metrics::sample;
use axum::http::StatusCode;
use rivia_store::testing::Val;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::timeout;

both_backends!(
    healthz_answers_and_readyz_checks_the_database,
    readyz_is_503_while_a_migration_is_missing,
);
both_backends!(
    backend,
    the_metrics_listener_serves_metrics_and_probes_off_the_api_port
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_when_postgresql_is_out_of_reach() {
    let Some(app) = TestApp::new(Backend::Postgres).await else {
        return;
    };
    app.call("GET", "/readyz", &[], None)
        .await
        .expect(StatusCode::OK);
    // Closing the pool leaves the process up and the database out of reach.
    app.store.close().await;
    let body = app
        .call("GET", "/readyz", &[], None)
        .await
        .expect_json(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"status": "unavailable", "detail": "database unavailable"})
    );
    app.call("GET", "/healthz", &[], None)
        .await
        .expect(StatusCode::OK);
}

async fn healthz_answers_and_readyz_checks_the_database(app: TestApp) {
    let r = app.call("GET", "/healthz", &[], None).await;
    assert!(r.header("x-request-id").is_some());
    assert_eq!(r.expect_json(StatusCode::OK), json!({"status": "ok"}));
    let body = app
        .call("GET", "/readyz", &[], None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(body, json!({"status": "ready"}));
    // Probes answer only GET (and HEAD), like every route.
    app.call("POST", "/readyz", &[], None)
        .await
        .expect(StatusCode::METHOD_NOT_ALLOWED);
}

async fn readyz_is_503_while_a_migration_is_missing(app: TestApp) {
    app.store
        .raw()
        .write(vec![(
            "DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)"
                .into(),
            Vec::<Val>::new(),
        )])
        .await
        .expect("forget the newest migration");
    let body = app
        .call("GET", "/readyz", &[], None)
        .await
        .expect_json(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"status": "unavailable", "detail": "migrations pending"})
    );
    // The process itself is fine.
    app.call("GET", "/healthz", &[], None)
        .await
        .expect(StatusCode::OK);
}

/// The metrics address from `rivia serve`'s start-up lines.
async fn metrics_address(server: &mut Server) -> SocketAddr {
    loop {
        let line = timeout(Duration::from_secs(10), server.stdout.recv())
            .await
            .expect("a line in time")
            .expect("stdout open");
        if let Some(rest) = line.strip_prefix("Metrics on http://") {
            let addr = rest.split('/').next().unwrap_or_default();
            return addr.parse().expect("an address");
        }
    }
}

async fn the_metrics_listener_serves_metrics_and_probes_off_the_api_port(b: Backend) {
    let database = match b {
        Backend::Sqlite => None,
        Backend::Postgres => match fresh_postgres_database().await {
            Some(d) => Some(d),
            None => return,
        },
    };
    let url = database.as_ref().map(|d| d.url().to_string());
    let mut env = vec![("RIVIA_METRICS_BIND", "127.0.0.1:0")];
    if let Some(url) = &url {
        env.push(("RIVIA_DATABASE_URL", url));
    }
    let mut server = Server::start(&[], &env).await;
    let api = server.client;
    let metrics = Client::new(metrics_address(&mut server).await);
    // Traffic on the API port shows on the metrics listener.
    api.request("GET", "/v1.1/", None, None)
        .await
        .expect(StatusCode::OK);
    api.request("GET", "/metrics", None, None)
        .await
        .expect(StatusCode::NOT_FOUND);
    let scraped = metrics.request("GET", "/metrics", None, None).await;
    assert_eq!(
        scraped.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let text = scraped.expect_json(StatusCode::OK);
    let text = text.as_str().expect("text");
    let discovery = r#"rivia_http_requests_total{method="GET",route="/v1.1/",status="200"}"#;
    assert_eq!(sample(text, discovery), Some(1.0), "{text}");
    let unmatched = r#"rivia_http_requests_total{method="GET",route="unmatched",status="404"}"#;
    assert_eq!(sample(text, unmatched), Some(1.0), "{text}");
    let pool = match b {
        Backend::Sqlite => "sqlite_read",
        Backend::Postgres => "postgres",
    };
    let size = format!(r#"rivia_db_pool_connections{{pool="{pool}"}}"#);
    assert!(sample(text, &size).is_some(), "{text}");
    // The probes answer on both ports.
    for client in [&api, &metrics] {
        let r = client.request("GET", "/healthz", None, None).await;
        assert_eq!(r.expect_json(StatusCode::OK), json!({"status": "ok"}));
        let r = client.request("GET", "/readyz", None, None).await;
        assert_eq!(r.expect_json(StatusCode::OK), json!({"status": "ready"}));
    }
}
