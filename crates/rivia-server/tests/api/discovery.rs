//! Discovery documents (spec-core §3): the root and the v1.1 index, without auth.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::json;

both_backends!(discovery_answers_without_auth, root_lists_the_api_versions);

async fn discovery_answers_without_auth(app: TestApp) {
    let r = app.call("GET", "/v1.1/", &[], None).await;
    assert_eq!(
        r.expect_json(StatusCode::OK)["links"]["instances"],
        "/v1.1/instances/"
    );
}

async fn root_lists_the_api_versions(app: TestApp) {
    let r = app.call("GET", "/", &[], None).await;
    assert_eq!(
        r.body,
        json!({"links": {"v1": "/v1/", "v1.1": "/v1.1/", "v2": "/v2/"}})
    );
}
