//! Triggers, `triggers/` (rest §3, spec-scripts §8): CRUD and traces. Admins only; the
//! write role writes, the read role reads. The runs themselves are enqueued by the object
//! writes of the store and run by the job worker ([`crate::workers`]).

use crate::api::traces::{self, Owner};
use crate::api::{Api, list_response, path_id, ts};
use crate::auth::Ctx;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_core::perms::{AdminTable, Op};
use rivia_store::triggers::{Trigger, TriggerValues};
use serde_json::{Value, json};

/// The signals as the API names them.
const SIGNALS: [&str; 3] = ["post_update", "post_create", "post_delete"];

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    const LIST: &str = "/v1.1/instances/{instance}/triggers/";
    const ITEM: &str = "/v1.1/instances/{instance}/triggers/{id}/";
    api.get(LIST, "List triggers", list_triggers)
        .post(LIST, "Create a trigger", create_trigger)
        .get(ITEM, "Get a trigger", get_trigger)
        .put(ITEM, "Replace a trigger", update_trigger)
        .patch(ITEM, "Update a trigger", update_trigger)
        .delete(ITEM, "Delete a trigger", delete_trigger)
        .get(
            "/v1.1/instances/{instance}/triggers/{id}/traces/",
            "List a trigger's traces",
            async |call: Call<String>| traces::list(call, Owner::Trigger).await,
        )
        .get(
            "/v1.1/instances/{instance}/triggers/{id}/traces/{trace_id}/",
            "Get a trigger trace",
            async |call: Call<(String, String)>| traces::get(call, Owner::Trigger).await,
        )
}

/// TriggerJSON (rest §3).
fn trigger_json(base: &str, t: &Trigger) -> Value {
    let url = format!("{base}/triggers/{}/", t.id);
    json!({
        "id": t.id,
        "label": t.label,
        "description": t.description,
        "signal": format!("post_{}", t.signal),
        "class": t.class_name,
        "created_at": ts(t.created_at),
        "updated_at": ts(t.updated_at),
        "script": t.script_id,
        "links": {
            "self": url,
            "script": format!("{base}/snippets/scripts/{}/", t.script_id),
            "class": format!("{base}/classes/{}/", t.class_name),
            "traces": format!("{url}traces/"),
        },
    })
}

fn access(ctx: &Ctx, op: Op) -> ApiResult<()> {
    ctx.require_admin(AdminTable::Data, op)
}

/// The `class` field: the name of an existing class (DRF `SlugRelatedField`).
async fn read_class(app: &AppState, ctx: &Ctx, f: &mut Fields<'_>) -> Option<String> {
    let value = match f.raw("class")? {
        Value::Null => {
            f.report("class", msg::NULL);
            return None;
        }
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            f.report("class", "Invalid value.");
            return None;
        }
    };
    match app.store.class_by_name(ctx.instance.id, &value).await {
        Ok(Some(class)) => Some(class.name),
        Ok(None) => {
            f.report("class", format!("Object with name={value} does not exist."));
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "class lookup failed");
            f.report("class", "Invalid value.");
            None
        }
    }
}

/// The `script` field: the id of a script of the instance.
pub(crate) async fn read_script_id(
    app: &AppState,
    ctx: &Ctx,
    f: &mut Fields<'_>,
    required: bool,
) -> ApiResult<Option<i64>> {
    let Some(Some(id)) = f.pk("script", false, required) else {
        return Ok(None);
    };
    if app.store.script(ctx.instance.id, id).await?.is_none() {
        f.report("script", msg::invalid_pk(&id.to_string()));
        return Ok(None);
    }
    Ok(Some(id))
}

async fn read_trigger(
    app: &AppState,
    ctx: &Ctx,
    req: &Req,
    current: Option<&Trigger>,
) -> ApiResult<TriggerValues> {
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let label = f.string("label", Char::text(64), false);
    let description = f.string("description", Char::text(256), false);
    let signal = f.choice("signal", &SIGNALS, true);
    let class = read_class(app, ctx, &mut f).await;
    if class.is_none() && body.get("class").is_none() {
        f.missing("class");
    }
    let script = read_script_id(app, ctx, &mut f, true).await?;
    f.finish()?;
    let keep = |new: Option<String>, old: Option<&String>| match (new, old) {
        (Some(v), _) => v,
        (None, Some(o)) if partial => o.clone(),
        _ => String::new(),
    };
    let signal = signal.map(|s| s.trim_start_matches("post_").to_owned());
    let missing = || ApiError::Internal("a required trigger field passed validation unset".into());
    Ok(TriggerValues {
        label: keep(label, current.map(|t| &t.label)),
        description: keep(description, current.map(|t| &t.description)),
        signal: keep(signal, current.map(|t| &t.signal)),
        class_name: keep(class, current.map(|t| &t.class_name)),
        script_id: script
            .or(current.map(|t| t.script_id))
            .ok_or_else(missing)?,
    })
}

async fn list_triggers(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| access(ctx, Op::Read)).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let triggers = app
        .store
        .list_triggers(ctx.instance.id, &page.keyset())
        .await?;
    let base = ctx.base();
    Ok(list_response(&req, &page, triggers, |t| {
        (t.id, trigger_json(&base, &t))
    }))
}

async fn create_trigger(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| access(ctx, Op::Create)).await?;
    let Call { app, req, .. } = call;
    let values = read_trigger(&app, &ctx, &req, None).await?;
    let trigger = app.store.create_trigger(ctx.instance.id, &values).await?;
    Ok(created(trigger_json(&ctx.base(), &trigger)))
}

/// The `{id}` trigger of the instance, or 404 `Not found.`.
async fn load(app: &AppState, ctx: &Ctx, raw: &str) -> ApiResult<Trigger> {
    app.store
        .trigger(ctx.instance.id, path_id(raw)?)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_trigger(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| access(ctx, Op::Read)).await?;
    let trigger = load(&call.app, &ctx, &call.path).await?;
    Ok(ok(trigger_json(&ctx.base(), &trigger)))
}

async fn update_trigger(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| access(ctx, Op::Update)).await?;
    let Call {
        app, req, path: id, ..
    } = call;
    let trigger = load(&app, &ctx, &id).await?;
    let values = read_trigger(&app, &ctx, &req, Some(&trigger)).await?;
    let saved = app
        .store
        .update_trigger(ctx.instance.id, trigger.id, &values)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(trigger_json(&ctx.base(), &saved)))
}

async fn delete_trigger(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| access(ctx, Op::Delete)).await?;
    let trigger = load(&call.app, &ctx, &call.path).await?;
    call.app
        .store
        .delete_trigger(ctx.instance.id, trigger.id)
        .await?;
    Ok(no_content())
}
