//! What a job runs (spec-scripts §2–§4, §8, §9): the script of its trigger or schedule,
//! with ARGS, CONFIG and META built when the run starts. The trigger is matched again
//! then (the platform did too): a trigger deleted, or moved to another class or signal,
//! since the change no longer runs for it.

use crate::api::objects::class_schema;
use crate::api::objects::render::object_json_with;
use crate::api::snippets::run_request;
use crate::state::AppState;
use rivia_scripts::RunRequest;
use rivia_store::StoreResult;
use rivia_store::instances::Instance;
use rivia_store::jobs::Job;
use rivia_store::objects::ObjectRow;
use rivia_store::scripts::Script;
use serde_json::{Map, Value, json};

/// A job ready to run.
pub(super) struct JobRun {
    pub(super) request: RunRequest,
    pub(super) token: Option<String>,
}

/// What a job turned out to be.
pub(super) enum Prepared {
    /// Its trigger, schedule, script or instance is gone: it ends without a trace.
    Gone,
    /// Run this.
    Run(Box<JobRun>),
}

/// Builds the run of a job.
pub(super) async fn prepare(app: &AppState, job: &Job) -> StoreResult<Prepared> {
    let Ok(parent) = job.parent.parse::<i64>() else {
        return Ok(Prepared::Gone);
    };
    let Some(instance) = app.store.instance_by_id(job.instance_id).await? else {
        return Ok(Prepared::Gone);
    };
    match job.kind.as_str() {
        rivia_store::triggers::JOB_KIND => trigger_run(app, &instance, parent, &job.payload).await,
        rivia_store::schedules::JOB_KIND => schedule_run(app, &instance, parent).await,
        other => {
            tracing::warn!(
                kind = other,
                job = job.id,
                "a job of an unknown kind is dropped"
            );
            Ok(Prepared::Gone)
        }
    }
}

/// The snapshot of an object a trigger job carries (see `rivia_store::triggers`).
fn snapshot_row(v: &Value) -> Option<ObjectRow> {
    let int = |k: &str| v.get(k).and_then(Value::as_i64);
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let data = match v.get("data") {
        // PostgreSQL stores `data` as jsonb and SQLite as text: both arrive as an object.
        Some(Value::String(s)) => s.clone(),
        Some(d @ Value::Object(_)) => d.to_string(),
        _ => "{}".to_owned(),
    };
    Some(ObjectRow {
        id: int("id")?,
        created_at: int("created_at")?,
        updated_at: int("updated_at")?,
        revision: int("revision")?,
        owner: int("owner"),
        owner_permissions: int("owner_permissions")?,
        group_id: int("group_id"),
        group_permissions: int("group_permissions")?,
        other_permissions: int("other_permissions")?,
        channel: text("channel"),
        channel_room: text("channel_room"),
        data,
    })
}

async fn trigger_run(
    app: &AppState,
    instance: &Instance,
    trigger_id: i64,
    payload: &str,
) -> StoreResult<Prepared> {
    let payload: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    let signal = payload.get("signal").and_then(Value::as_str).unwrap_or("");
    let Some(trigger) = app.store.trigger(instance.id, trigger_id).await? else {
        return Ok(Prepared::Gone);
    };
    if trigger.signal != signal {
        return Ok(Prepared::Gone);
    }
    let Some(class) = app
        .store
        .class_by_name(instance.id, &trigger.class_name)
        .await?
    else {
        return Ok(Prepared::Gone);
    };
    if payload.get("class").and_then(Value::as_i64) != Some(class.id) {
        return Ok(Prepared::Gone);
    }
    let Some(script) = app.store.script(instance.id, trigger.script_id).await? else {
        return Ok(Prepared::Gone);
    };
    let schema = class_schema(app, &class);
    let base = format!("/v1.1/instances/{}", instance.name);
    let origin = origin(app);
    // ARGS: the object's JSON without `links` (spec-scripts §4).
    let render = |key: &str| -> Option<Map<String, Value>> {
        let row = snapshot_row(payload.get(key)?)?;
        match object_json_with((&base, &origin), &class.name, &schema, &row) {
            Value::Object(mut m) => {
                m.shift_remove("links");
                Some(m)
            }
            _ => None,
        }
    };
    let new = render("new");
    let old = render("old");
    let changes = match (&old, &new) {
        (Some(old), Some(new)) => {
            let changed: Vec<Value> = new
                .iter()
                .filter(|(k, v)| old.get(*k) != Some(*v))
                .map(|(k, _)| Value::String(k.clone()))
                .collect();
            (!changed.is_empty()).then_some(Value::Array(changed))
        }
        _ => None,
    };
    let Some(args) = new.or(old) else {
        return Ok(Prepared::Gone);
    };
    let meta = json!({
        "event": {"source": "dataobject", "class": class.name},
        "signal": signal,
        "changes": changes,
        "instance_pk": instance.id,
        "executed_by": "trigger",
        "executor": trigger.id,
    });
    build(app, instance, &script, Value::Object(args), meta).await
}

async fn schedule_run(
    app: &AppState,
    instance: &Instance,
    schedule_id: i64,
) -> StoreResult<Prepared> {
    let Some(schedule) = app.store.schedule(instance.id, schedule_id).await? else {
        return Ok(Prepared::Gone);
    };
    let Some(script) = app.store.script(instance.id, schedule.script_id).await? else {
        return Ok(Prepared::Gone);
    };
    let meta = json!({"executed_by": "schedule", "executor": schedule.id});
    build(app, instance, &script, json!({}), meta).await
}

/// What file URLs in ARGS start with: the public URL, else the API host.
fn origin(app: &AppState) -> String {
    match &app.settings.public_url {
        Some(url) => url.clone(),
        None => format!("http://{}", app.runner().settings().api_host),
    }
}

/// The run as every script run is built ([`run_request`]), ready for the executor.
async fn build(
    app: &AppState,
    instance: &Instance,
    script: &Script,
    args: Value,
    meta: Value,
) -> StoreResult<Prepared> {
    let (request, token) = run_request(app, instance, script, args, meta).await?;
    Ok(Prepared::Run(Box::new(JobRun { request, token })))
}
