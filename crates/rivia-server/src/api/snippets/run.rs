//! Running a script (spec-scripts §2–§5): `snippets/scripts/{id}/run/` answers at once
//! with the `pending` trace and hands the run to the executor ([`crate::runner`]); the
//! trace is then read at `traces/` ([`super::traces`]).

use super::scripts::{load, script_access};
use crate::api::traces::{Owner, SCRIPT_KIND, trace_json};
use crate::api::{Api, stored_json};
use crate::caller::Call;
use crate::error::ApiResult;
use crate::fields::{Fields, Parsed};
use crate::json::ok;
use crate::runner::Job;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::perms::Op;
use rivia_scripts::RunRequest;
use rivia_store::StoreResult;
use rivia_store::instances::Instance;
use rivia_store::scripts::Script;
use serde_json::{Map, Value, json};

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    api.post(
        "/v1.1/instances/{instance}/snippets/scripts/{id}/run/",
        "Run a script",
        run_script,
    )
}

/// The `payload` of a run (spec-scripts §4): an object or array, or JSON text of one;
/// absent, null, `""` and empty values are `{}`.
fn read_payload(f: &mut Fields) -> Parsed<Value> {
    let value = match f.raw("payload") {
        None | Some(Value::Null) => return Ok(json!({})),
        Some(Value::String(s)) if s.is_empty() => return Ok(json!({})),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            Err(_) => return Err(f.report("payload", "Not a valid JSON string.")),
        },
        Some(other) => other.clone(),
    };
    match value {
        Value::Array(a) if a.is_empty() => Ok(json!({})),
        v @ (Value::Object(_) | Value::Array(_)) => Ok(v),
        _ => Err(f.report("payload", "Payload passed in invalid format.")),
    }
}

/// CONFIG and the run's `timeout` (spec-scripts §2): the instance config under the
/// script's, without `timeout`, `async`, `mcpu` (taken from the script's config only) and
/// `allow_full_access`.
fn merge_config(instance: &str, script: &str) -> (Value, Option<Value>, Value, bool) {
    let mut config = match stored_json(instance) {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    let mut own = match stored_json(script) {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    let timeout = own.shift_remove("timeout");
    let run_async = own.shift_remove("async").unwrap_or(json!(0));
    own.shift_remove("mcpu");
    config.extend(own);
    // QUIRK kept: an instance-level `allow_full_access: true` grants tokens too.
    let full_access = config.shift_remove("allow_full_access") == Some(Value::Bool(true));
    (Value::Object(config), timeout, run_async, full_access)
}

/// The run request of `script`: CONFIG merged as for every run (§2), META (`meta`, with the
/// executor's keys) completed with the keys every run has (§3), and the `token` (issued
/// here) when the config allows full access.
pub(crate) async fn run_request(
    app: &AppState,
    instance: &Instance,
    script: &Script,
    args: Value,
    mut meta: Value,
) -> StoreResult<(RunRequest, Option<String>)> {
    let instance_config = app.store.instance_config(instance.id).await?;
    let (config, timeout, run_async, full_access) = merge_config(&instance_config, &script.config);
    let runner = app.runner();
    let token = full_access.then(|| runner.issue_token(instance.id));
    if let Some(m) = meta.as_object_mut() {
        m.insert("instance".into(), json!(instance.name));
        m.insert("api_host".into(), json!(runner.settings().api_host));
        m.insert("async".into(), run_async);
        if let Some(t) = &token {
            m.insert("token".into(), json!(t));
        }
    }
    let request = RunRequest {
        runtime: script.runtime_name.clone(),
        source: script.source.clone(),
        args,
        config,
        meta,
        limits: runner.limits(timeout.as_ref()),
        network: runner.settings().network,
    };
    Ok((request, token))
}

async fn run_script(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| script_access(ctx, Op::Update))
        .await?;
    let Call {
        app, req, path: id, ..
    } = call;
    let script: Script = load(&app, &ctx, &id).await?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let payload = read_payload(&mut f);
    let args = f.finish_with(payload)?;
    let meta = json!({"executed_by": "codebox", "executor": script.id});
    let (request, token) = run_request(&app, &ctx.instance, &script, args, meta).await?;
    let trace = app
        .store
        .create_trace(ctx.instance.id, SCRIPT_KIND, &script.id.to_string())
        .await?;
    app.runner.submit(
        app.store.clone(),
        Job {
            instance_id: ctx.instance.id,
            token,
            kind: SCRIPT_KIND,
            trace_id: trace.id,
            request,
        },
    );
    let segment = script.id.to_string();
    Ok(ok(trace_json(
        &ctx.base(),
        Owner::Script,
        &segment,
        &trace,
        None,
    )))
}
