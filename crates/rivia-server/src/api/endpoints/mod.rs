//! `endpoints/`: the links document (rest §4), script endpoints (`endpoints/scripts/`,
//! webhooks) and data endpoints (`endpoints/data/`, rest §5).

mod data;
mod scripts;

use super::Api;
use crate::caller::Call;
use crate::error::ApiResult;
use crate::json::ok;
use axum::response::Response;
use serde_json::json;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    let api = api.get(
        "/v1.1/instances/{instance}/endpoints/",
        "Links of the endpoints",
        links,
    );
    let api = data::routes(api);
    scripts::routes(api)
}

/// Like `snippets/`, any caller of the instance may read the links.
async fn links(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |_| Ok(())).await?;
    let base = ctx.base();
    Ok(ok(json!({"links": {
        "scripts": format!("{base}/endpoints/scripts/"),
        "data": format!("{base}/endpoints/data/"),
    }})))
}
