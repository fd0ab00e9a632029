//! Traces of runs (spec-scripts §6), one implementation for every owner of runs: scripts
//! (`snippets/scripts/{id}/traces/`), script endpoints (`endpoints/scripts/{name}/traces/`),
//! triggers and schedules (`triggers/{id}/traces/`, `schedules/{id}/traces/`). A list
//! shows the newest first; the detail ignores which owner the trace belongs to (as the
//! platform's did). Owners differ only in how the route names them, their model name, their
//! trace kind and, for script endpoints, the request (`meta`) and `args` a trace also shows.
//! Each area's route module registers [`list`] and [`get`] with its [`Owner`].

use crate::api::{list_response, path_id, stored_json, ts};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::json::ok;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::perms::{AdminTable, Op};
use rivia_store::script_endpoints::EndpointTrace;
use rivia_store::traces::{Retention, Trace};
use rivia_store::{schedules, script_endpoints, triggers};
use serde_json::{Map, Value, json};

/// A list shows `result` (and a script endpoint's `args`) only up to this length of
/// Python's `str()` of it (§6: the platform's 64 KB).
const LIST_CUTOFF: i64 = 65536;

/// Traces of script runs in the `traces` table.
pub(crate) const SCRIPT_KIND: &str = "script";

/// Whose traces.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Owner {
    /// `snippets/scripts/{id}/`.
    Script,
    /// `endpoints/scripts/{name}/`.
    ScriptEndpoint,
    /// `triggers/{id}/`.
    Trigger,
    /// `schedules/{id}/`.
    Schedule,
}

/// The owner a route names: its id (the traces' parent) and its URL segment.
struct Found {
    id: i64,
    segment: String,
}

/// A trace as shown: the common fields, or a script endpoint's with its request and args.
enum Shown {
    Run(Trace),
    Endpoint(EndpointTrace),
}

impl Owner {
    /// The kind its traces are filed under.
    fn kind(self) -> &'static str {
        match self {
            Owner::Script => SCRIPT_KIND,
            Owner::ScriptEndpoint => script_endpoints::TRACE_KIND,
            Owner::Trigger => triggers::JOB_KIND,
            Owner::Schedule => schedules::JOB_KIND,
        }
    }

    /// Its URL below the instance.
    fn url(self) -> &'static str {
        match self {
            Owner::Script => "snippets/scripts",
            Owner::ScriptEndpoint => "endpoints/scripts",
            Owner::Trigger => "triggers",
            Owner::Schedule => "schedules",
        }
    }

    /// The model name of its 404.
    fn model(self) -> &'static str {
        match self {
            Owner::Script => "Script",
            Owner::ScriptEndpoint => "Script Endpoint",
            Owner::Trigger => "Trigger",
            Owner::Schedule => "Schedule",
        }
    }

    /// The owner `raw` names, or 404 `<Model> was not found.` (looked up before
    /// authentication, as the platform's nested views did).
    async fn find(self, app: &AppState, instance_id: i64, raw: &str) -> ApiResult<Found> {
        let store = &app.store;
        let by_id = |id: i64| (id, id.to_string());
        let found = match (self, path_id(raw).ok()) {
            (Owner::ScriptEndpoint, _) => store
                .script_endpoint(instance_id, raw)
                .await?
                .map(|e| (e.id, e.name)),
            (_, None) => None,
            (Owner::Script, Some(id)) => store.script(instance_id, id).await?.map(|_| by_id(id)),
            (Owner::Trigger, Some(id)) => store.trigger(instance_id, id).await?.map(|_| by_id(id)),
            (Owner::Schedule, Some(id)) => {
                store.schedule(instance_id, id).await?.map(|_| by_id(id))
            }
        };
        found
            .map(|(id, segment)| Found { id, segment })
            .ok_or_else(|| ApiError::model_not_found(self.model()))
    }

    /// One page of the owner's traces.
    async fn page(
        self,
        app: &AppState,
        instance_id: i64,
        owner_id: i64,
        retention: Retention,
        keyset: &rivia_core::page::Keyset,
    ) -> ApiResult<Vec<Shown>> {
        let store = &app.store;
        Ok(match self {
            Owner::ScriptEndpoint => store
                .list_endpoint_traces(
                    instance_id,
                    owner_id,
                    retention,
                    (LIST_CUTOFF, LIST_CUTOFF),
                    keyset,
                )
                .await?
                .into_iter()
                .map(Shown::Endpoint)
                .collect(),
            _ => store
                .list_traces(
                    instance_id,
                    self.kind(),
                    &owner_id.to_string(),
                    retention,
                    LIST_CUTOFF,
                    keyset,
                )
                .await?
                .into_iter()
                .map(Shown::Run)
                .collect(),
        })
    }

    /// A trace of this owner's kind by id.
    async fn one(
        self,
        app: &AppState,
        instance_id: i64,
        id: i64,
        retention: Retention,
    ) -> ApiResult<Option<Shown>> {
        let store = &app.store;
        Ok(match self {
            Owner::ScriptEndpoint => store
                .endpoint_trace(instance_id, id, retention)
                .await?
                .map(Shown::Endpoint),
            _ => store
                .trace(instance_id, self.kind(), id, retention)
                .await?
                .map(Shown::Run),
        })
    }
}

impl Shown {
    /// The common fields, and a script endpoint's request and args.
    fn parts(&self) -> (&Trace, Option<&EndpointTrace>) {
        match self {
            Shown::Run(t) => (t, None),
            Shown::Endpoint(e) => (&e.trace, Some(e)),
        }
    }

    fn json(&self, base: &str, owner: Owner, segment: &str) -> Value {
        let (t, request) = self.parts();
        trace_json(base, owner, segment, t, request)
    }
}

/// TraceJSON of a trace of `owner` (URL segment `segment`), plus `meta` and `args` for a
/// script endpoint's `request`; a `None` result or args is a list's placeholder for one
/// too big to show.
pub(crate) fn trace_json(
    base: &str,
    owner: Owner,
    segment: &str,
    t: &Trace,
    request: Option<&EndpointTrace>,
) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(t.id));
    out.insert("status".into(), json!(t.status));
    out.insert("executed_at".into(), json!(t.executed_at.map(ts)));
    out.insert("duration".into(), json!(t.duration));
    let result = match &t.result {
        Some(text) => stored_json(text),
        None => json!({"__error__": "Result is too big to show in trace."}),
    };
    out.insert("result".into(), result);
    if let Some(e) = request {
        out.insert("meta".into(), stored_json(&e.meta));
        let args = match &e.args {
            Some(text) => stored_json(text),
            None => json!({"__error__": "Payload is too big to show in trace."}),
        };
        out.insert("args".into(), args);
    }
    let url = owner.url();
    let link = format!("{base}/{url}/{segment}/traces/{}/", t.id);
    out.insert("links".into(), json!({ "self": link }));
    Value::Object(out)
}

/// `<owner>/{id}/traces/`. Admins only, as the owners: the read role reads.
pub(crate) async fn list(call: Call<String>, owner: Owner) -> ApiResult<Response> {
    let (ctx, found, ()) = call
        .nested(
            async |inst| owner.find(&call.app, inst.id, &call.path).await,
            async |ctx, _| ctx.require_admin(AdminTable::Data, Op::Read),
        )
        .await?;
    let page = call.req.page(true)?;
    let retention = call.app.runner().settings().retention;
    let traces = owner
        .page(
            &call.app,
            ctx.instance.id,
            found.id,
            retention,
            &page.keyset(),
        )
        .await?;
    let base = ctx.base();
    Ok(list_response(&call.req, &page, traces, |t| {
        (t.parts().0.id, t.json(&base, owner, &found.segment))
    }))
}

/// `<owner>/{id}/traces/{trace_id}/` (the platform's detail ignores the owner).
pub(crate) async fn get(call: Call<(String, String)>, owner: Owner) -> ApiResult<Response> {
    let (owner_raw, trace_raw) = &call.path;
    let (ctx, found, ()) = call
        .nested(
            async |inst| owner.find(&call.app, inst.id, owner_raw).await,
            async |ctx, _| ctx.require_admin(AdminTable::Data, Op::Read),
        )
        .await?;
    let retention = call.app.runner().settings().retention;
    let trace = owner
        .one(&call.app, ctx.instance.id, path_id(trace_raw)?, retention)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(trace.json(&ctx.base(), owner, &found.segment)))
}
