//! `snippets/`: the links document, the instance config (rest §8), scripts (rest §1,
//! spec-scripts) and response templates (rest §7).

mod config;
mod run;
mod scripts;
mod templates;
mod traces;

pub(crate) use run::run_request;
pub(crate) use scripts::script_access;

use super::Api;
use crate::caller::Call;
use crate::error::ApiResult;
use crate::json::ok;
use axum::response::Response;
use serde_json::json;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    let api = api.get(
        "/v1.1/instances/{instance}/snippets/",
        "Links of the snippets",
        links,
    );
    let api = config::routes(api);
    let api = scripts::routes(api);
    let api = templates::routes(api);
    let api = run::routes(api);
    traces::routes(api)
}

/// The platform's links view lets any caller of the instance read it.
async fn links(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |_| Ok(())).await?;
    let base = ctx.base();
    Ok(ok(json!({"links": {
        "scripts": format!("{base}/snippets/scripts/"),
        "templates": format!("{base}/snippets/templates/"),
        "config": format!("{base}/snippets/config/"),
    }})))
}
