//! Script endpoints (webhooks), `endpoints/scripts/` (rest §4): CRUD and `reset_link/`
//! here; running them in `run` (with the request turned into ARGS and META in `request`)
//! and their traces in `traces`. Admins only, as scripts: the write role writes, the read
//! role reads; API keys are refused.

mod request;
mod run;
mod traces;

use crate::api::snippets::script_access;
use crate::api::{Api, list_response};
use crate::auth::Ctx;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_core::names::{SlugFamily, validate_slug};
use rivia_core::perms::Op;
use rivia_store::StoreError;
use rivia_store::script_endpoints::{EndpointValues, ScriptEndpoint};
use serde_json::{Value, json};

const LIST: &str = "/v1.1/instances/{instance}/endpoints/scripts/";
const ITEM: &str = "/v1.1/instances/{instance}/endpoints/scripts/{name}/";

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    let api = api
        .get(LIST, "List script endpoints", list_endpoints)
        .post(LIST, "Create a script endpoint", create_endpoint)
        .get(ITEM, "Get a script endpoint", get_endpoint)
        .put(ITEM, "Replace a script endpoint", update_endpoint)
        .patch(ITEM, "Update a script endpoint", update_endpoint)
        .delete(ITEM, "Delete a script endpoint", delete_endpoint)
        .post(
            "/v1.1/instances/{instance}/endpoints/scripts/{name}/reset_link/",
            "Give a script endpoint a new public link",
            reset_link,
        );
    let api = run::routes(api);
    traces::routes(api)
}

/// ScriptEndpointJSON (v1.1: the v1 `codebox` field is called `script`).
pub(crate) fn endpoint_json(base: &str, e: &ScriptEndpoint) -> Value {
    let url = format!("{base}/endpoints/scripts/{}/", e.name);
    json!({
        "name": e.name,
        "description": e.description,
        "script": e.script_id,
        "public_link": e.public_link,
        "public": e.public,
        "links": {
            "self": url,
            "run": format!("{url}run/"),
            "reset-link": format!("{url}reset_link/"),
            "script": format!("{base}/snippets/scripts/{}/", e.script_id),
            "public-link": format!("{base}/endpoints/scripts/p/{}/{}/", e.public_link, e.name),
            "traces": format!("{url}traces/"),
        },
    })
}

/// Reads a create (`current` = None) or update body. `name` is read-only once created.
async fn read_endpoint(
    app: &AppState,
    ctx: &Ctx,
    req: &Req,
    current: Option<&ScriptEndpoint>,
) -> ApiResult<EndpointValues> {
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let name = match current {
        Some(e) => Some(e.name.clone()),
        None => read_name(&mut f),
    };
    let description = f.string("description", Char::text(usize::MAX), false);
    let script = match f.pk("script", false, true).flatten() {
        Some(id) if app.store.script(ctx.instance.id, id).await?.is_none() => {
            f.report("script", msg::invalid_pk(&id.to_string()));
            None
        }
        other => other,
    };
    let public = f.boolean("public");
    f.finish()?;
    let keep_partial = |current_value: Option<String>| current_value.filter(|_| partial);
    Ok(EndpointValues {
        name: name.unwrap_or_default(),
        description: description
            .or_else(|| keep_partial(current.map(|e| e.description.clone())))
            .unwrap_or_default(),
        // Absent only on PATCH (else `required` was reported).
        script_id: script.or(current.map(|e| e.script_id)).unwrap_or_default(),
        public: public
            .or(current.filter(|_| partial).map(|e| e.public))
            .unwrap_or(false),
    })
}

/// The `name` of a create: required, a slug of letters, numbers, `_` and `-`, lowercased.
fn read_name(f: &mut Fields) -> Option<String> {
    let raw = f.string("name", Char::required(usize::MAX), true)?;
    match validate_slug(&raw, SlugFamily::Generic) {
        Ok(name) => Some(name),
        Err(messages) => {
            f.reject("name", messages);
            None
        }
    }
}

async fn list_endpoints(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| script_access(ctx, Op::Read)).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let list = app
        .store
        .list_script_endpoints(ctx.instance.id, &page.keyset())
        .await?;
    let base = ctx.base();
    Ok(list_response(&req, &page, list, |e| {
        (e.id, endpoint_json(&base, &e))
    }))
}

async fn create_endpoint(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| script_access(ctx, Op::Create))
        .await?;
    let Call { app, req, .. } = call;
    let values = read_endpoint(&app, &ctx, &req, None).await?;
    if app
        .store
        .script_endpoint(ctx.instance.id, &values.name)
        .await?
        .is_some()
    {
        return Err(ApiError::field("name", msg::UNIQUE));
    }
    match app
        .store
        .create_script_endpoint(ctx.instance.id, &values)
        .await
    {
        Ok(e) => Ok(created(endpoint_json(&ctx.base(), &e))),
        // Lost a race with a concurrent create of the same name.
        Err(StoreError::Conflict(_)) => Err(ApiError::field("name", msg::UNIQUE)),
        Err(e) => Err(e.into()),
    }
}

/// The `{name}` endpoint of the instance, or 404 `Not found.`.
pub(crate) async fn load(app: &AppState, ctx: &Ctx, name: &str) -> ApiResult<ScriptEndpoint> {
    app.store
        .script_endpoint(ctx.instance.id, name)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_endpoint(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| script_access(ctx, Op::Read)).await?;
    let endpoint = load(&call.app, &ctx, &call.path).await?;
    Ok(ok(endpoint_json(&ctx.base(), &endpoint)))
}

async fn update_endpoint(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| script_access(ctx, Op::Update))
        .await?;
    let Call {
        app,
        req,
        path: name,
        ..
    } = call;
    let endpoint = load(&app, &ctx, &name).await?;
    let values = read_endpoint(&app, &ctx, &req, Some(&endpoint)).await?;
    let saved = app
        .store
        .update_script_endpoint(ctx.instance.id, endpoint.id, &values)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(endpoint_json(&ctx.base(), &saved)))
}

async fn delete_endpoint(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| script_access(ctx, Op::Delete))
        .await?;
    let endpoint = load(&call.app, &ctx, &call.path).await?;
    call.app
        .store
        .delete_script_endpoint(ctx.instance.id, endpoint.id)
        .await?;
    Ok(no_content())
}

/// POST `reset_link/`: a new public link, answered with the endpoint (200).
async fn reset_link(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| script_access(ctx, Op::Update))
        .await?;
    let endpoint = load(&call.app, &ctx, &call.path).await?;
    let saved = call
        .app
        .store
        .reset_script_endpoint_link(ctx.instance.id, endpoint.id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(endpoint_json(&ctx.base(), &saved)))
}
