//! Script endpoint traces, `endpoints/scripts/{name}/traces/` (spec-scripts §6): TraceJSON
//! plus `meta` (the request) and `args` (`{"POST", "GET"}`); in lists, a result or args
//! longer than 65536 (Python `str()`) is replaced by its placeholder.

use crate::api::snippets::script_access;
use crate::api::{Api, list_response, path_id, stored_json, ts};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::json::ok;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::perms::Op;
use rivia_store::script_endpoints::{EndpointTrace, ScriptEndpoint};
use serde_json::{Value, json};

/// The list cut-off of `result` and `args` (the platform's 64 KB, measured on `str()`).
const LIST_CUTOFF: i64 = 65536;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    api.get(
        "/v1.1/instances/{instance}/endpoints/scripts/{name}/traces/",
        "List a script endpoint's traces",
        list_traces,
    )
    .get(
        "/v1.1/instances/{instance}/endpoints/scripts/{name}/traces/{trace_id}/",
        "Get a script endpoint trace",
        get_trace,
    )
}

fn trace_json(base: &str, endpoint: &str, t: &EndpointTrace) -> Value {
    let result = match &t.trace.result {
        Some(text) => stored_json(text),
        None => json!({"__error__": "Result is too big to show in trace."}),
    };
    let args = match &t.args {
        Some(text) => stored_json(text),
        None => json!({"__error__": "Payload is too big to show in trace."}),
    };
    json!({
        "id": t.trace.id,
        "status": t.trace.status,
        "executed_at": t.trace.executed_at.map(ts),
        "duration": t.trace.duration,
        "result": result,
        "meta": stored_json(&t.meta),
        "args": args,
        "links": {"self": format!("{base}/endpoints/scripts/{endpoint}/traces/{}/", t.trace.id)},
    })
}

/// The endpoint of a traces route, looked up before authentication (404 `Script Endpoint
/// was not found.`).
async fn parent(app: &AppState, instance_id: i64, name: &str) -> ApiResult<ScriptEndpoint> {
    app.store
        .script_endpoint(instance_id, name)
        .await?
        .ok_or_else(|| ApiError::model_not_found("Script Endpoint"))
}

async fn list_traces(call: Call<String>) -> ApiResult<Response> {
    let (ctx, endpoint, ()) = call
        .nested(
            async |inst| parent(&call.app, inst.id, &call.path).await,
            async |ctx, _| script_access(ctx, Op::Read),
        )
        .await?;
    let page = call.req.page(true)?;
    let retention = call.app.runner().settings().retention;
    let traces = call
        .app
        .store
        .list_endpoint_traces(
            ctx.instance.id,
            endpoint.id,
            retention,
            (LIST_CUTOFF, LIST_CUTOFF),
            &page.keyset(),
        )
        .await?;
    let base = ctx.base();
    Ok(list_response(&call.req, &page, traces, |t| {
        (t.trace.id, trace_json(&base, &endpoint.name, &t))
    }))
}

/// QUIRK kept: the detail ignores which endpoint the trace belongs to.
async fn get_trace(call: Call<(String, String)>) -> ApiResult<Response> {
    let (name, trace_raw) = &call.path;
    let (ctx, endpoint, ()) = call
        .nested(
            async |inst| parent(&call.app, inst.id, name).await,
            async |ctx, _| script_access(ctx, Op::Read),
        )
        .await?;
    let retention = call.app.runner().settings().retention;
    let trace = call
        .app
        .store
        .endpoint_trace(ctx.instance.id, path_id(trace_raw)?, retention)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(trace_json(&ctx.base(), &endpoint.name, &trace)))
}
