//! Traces of trigger and schedule runs (spec-scripts §6): `triggers/{id}/traces/` and
//! `schedules/{id}/traces/`, newest first, each written once in its final state when its
//! job ends (so never `pending` or `processing`).

use crate::api::{list_response, path_id, stored_json, ts};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::json::ok;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::perms::{AdminTable, Op};
use rivia_store::traces::Trace;
use serde_json::{Value, json};

/// A list shows `result` only up to this length of Python's `str()` of it (§6).
const LIST_RESULT_CUTOFF: i64 = 65536;

/// Whose traces: the job kind and the parent's URL noun and model name.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Parent {
    Trigger,
    Schedule,
}

impl Parent {
    fn kind(self) -> &'static str {
        match self {
            Parent::Trigger => rivia_store::triggers::JOB_KIND,
            Parent::Schedule => rivia_store::schedules::JOB_KIND,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Parent::Trigger => "triggers",
            Parent::Schedule => "schedules",
        }
    }

    /// The parent's id, or 404 `<Model> was not found.` (looked up before authentication,
    /// as the platform's nested views did).
    async fn find(self, app: &AppState, instance_id: i64, raw: &str) -> ApiResult<i64> {
        let model = match self {
            Parent::Trigger => "Trigger",
            Parent::Schedule => "Schedule",
        };
        let missing = || ApiError::model_not_found(model);
        let id = path_id(raw).map_err(|_| missing())?;
        let found = match self {
            Parent::Trigger => app.store.trigger(instance_id, id).await?.is_some(),
            Parent::Schedule => app.store.schedule(instance_id, id).await?.is_some(),
        };
        if found { Ok(id) } else { Err(missing()) }
    }
}

/// TraceJSON; `result: None` is a list's placeholder for a result too big to show.
fn trace_json(base: &str, parent: Parent, parent_id: i64, t: &Trace) -> Value {
    let result = match &t.result {
        Some(text) => stored_json(text),
        None => json!({"__error__": "Result is too big to show in trace."}),
    };
    json!({
        "id": t.id,
        "status": t.status,
        "executed_at": t.executed_at.map(ts),
        "duration": t.duration,
        "result": result,
        "links": {"self": format!("{base}/{}/{parent_id}/traces/{}/", parent.noun(), t.id)},
    })
}

/// `<parent>/{id}/traces/`.
pub(crate) async fn list(call: Call<String>, parent: Parent) -> ApiResult<Response> {
    let (ctx, parent_id, ()) = call
        .nested(
            async |inst| parent.find(&call.app, inst.id, &call.path).await,
            async |ctx, _| ctx.require_admin(AdminTable::Data, Op::Read),
        )
        .await?;
    let page = call.req.page(true)?;
    let retention = call.app.runner().settings().retention;
    let traces = call
        .app
        .store
        .list_traces(
            ctx.instance.id,
            parent.kind(),
            &parent_id.to_string(),
            retention,
            LIST_RESULT_CUTOFF,
            &page.keyset(),
        )
        .await?;
    let base = ctx.base();
    Ok(list_response(&call.req, &page, traces, |t| {
        (t.id, trace_json(&base, parent, parent_id, &t))
    }))
}

/// `<parent>/{id}/traces/{trace_id}/` (the platform's detail ignores the parent).
pub(crate) async fn get(call: Call<(String, String)>, parent: Parent) -> ApiResult<Response> {
    let (parent_raw, trace_raw) = &call.path;
    let (ctx, parent_id, ()) = call
        .nested(
            async |inst| parent.find(&call.app, inst.id, parent_raw).await,
            async |ctx, _| ctx.require_admin(AdminTable::Data, Op::Read),
        )
        .await?;
    let retention = call.app.runner().settings().retention;
    let trace = call
        .app
        .store
        .trace(
            ctx.instance.id,
            parent.kind(),
            path_id(trace_raw)?,
            retention,
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(trace_json(&ctx.base(), parent, parent_id, &trace)))
}
