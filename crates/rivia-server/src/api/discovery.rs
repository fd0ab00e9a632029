//! Discovery documents (spec-core §3).

use super::Api;
use crate::json::ok;
use axum::response::Response;
use serde_json::json;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    api.get("/", "API versions", root)
        .get("/v1.1/", "Top-level links of API v1.1", v1_1)
}

async fn root() -> Response {
    ok(json!({"links": {"v1": "/v1/", "v1.1": "/v1.1/", "v2": "/v2/"}}))
}

async fn v1_1() -> Response {
    ok(json!({"links": {
        "instances": "/v1.1/instances/",
        "backups": "/v1.1/backups/",
        "account": "/v1.1/account/",
        "usage": "/v1.1/usage/"
    }}))
}
