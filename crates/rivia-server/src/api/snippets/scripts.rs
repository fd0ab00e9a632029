//! Scripts, `snippets/scripts/` (rest §1, spec-scripts §12): CRUD and the runtimes list.
//! Admins only; the write role writes, the read role reads; API keys are refused.

use super::config::read_config;
use crate::api::{Api, list_response, path_id, stored_json, ts};
use crate::auth::Ctx;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::perms::{AdminTable, Op};
use rivia_scripts::runtimes::{ALIASES, RUNTIMES};
use rivia_store::scripts::{LIST_SOURCE_CHARS, Script, ScriptValues};
use serde_json::{Value, json};

/// Longest source, in characters (the platform's `CODEBOX_SOURCE_SIZE_LIMIT`).
const MAX_SOURCE_CHARS: usize = 3 * 1024 * 1024;
/// What replaces the end of a source cut in a list.
const TRUNCATED_SUFFIX: &str = "\n(...truncated...)";

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    const LIST: &str = "/v1.1/instances/{instance}/snippets/scripts/";
    const ITEM: &str = "/v1.1/instances/{instance}/snippets/scripts/{id}/";
    api.get(LIST, "List scripts", list_scripts)
        .post(LIST, "Create a script", create_script)
        .get(
            "/v1.1/instances/{instance}/snippets/scripts/runtimes/",
            "List the script runtimes",
            runtimes,
        )
        .get(ITEM, "Get a script", get_script)
        .put(ITEM, "Replace a script", update_script)
        .patch(ITEM, "Update a script", update_script)
        .delete(ITEM, "Delete a script", delete_script)
}

/// ScriptJSON.
pub(crate) fn script_json(base: &str, s: &Script, source: &str) -> Value {
    let url = format!("{base}/snippets/scripts/{}/", s.id);
    json!({
        "id": s.id,
        "runtime_name": s.runtime_name,
        "source": source,
        "created_at": ts(s.created_at),
        "updated_at": ts(s.updated_at),
        "config": stored_json(&s.config),
        "label": s.label,
        "description": s.description,
        "links": {
            "self": url,
            "runtimes": format!("{base}/snippets/scripts/runtimes/"),
            "run": format!("{url}run/"),
            "traces": format!("{url}traces/"),
        },
    })
}

/// A list shows at most [`LIST_SOURCE_CHARS`] characters of a source, its end replaced by
/// [`TRUNCATED_SUFFIX`] (spec-scripts §12.1).
fn list_source(source: &str) -> String {
    if source.chars().count() <= LIST_SOURCE_CHARS {
        return source.to_owned();
    }
    let keep = LIST_SOURCE_CHARS - TRUNCATED_SUFFIX.chars().count();
    source.chars().take(keep).collect::<String>() + TRUNCATED_SUFFIX
}

/// The script table of spec-core §2.4: data resources (write role writes), admins only.
pub(crate) fn script_access(ctx: &Ctx, op: Op) -> ApiResult<()> {
    ctx.require_admin(AdminTable::Data, op)
}

/// Every accepted `runtime_name`: the listed keys and the hidden aliases.
fn runtime_choices() -> Vec<&'static str> {
    RUNTIMES
        .iter()
        .map(|r| r.key)
        .chain(ALIASES.iter().map(|(alias, _)| *alias))
        .collect()
}

fn read_script(req: &Req, current: Option<&Script>) -> ApiResult<ScriptValues> {
    let body = req.body_object()?;
    let mut f = Fields::new(&body, req.is_partial());
    let runtime = f.choice("runtime_name", &runtime_choices(), true);
    let source = f.string(
        "source",
        Char {
            max: MAX_SOURCE_CHARS,
            allow_blank: true,
            allow_null: false,
            trim: false,
        },
        false,
    );
    let config = read_config(&mut f);
    let label = f.string("label", Char::text(64), false);
    let description = f.string("description", Char::text(256), false);
    f.finish()?;
    let partial = req.is_partial();
    let keep = |new: Option<String>, old: Option<&String>, default: &str| match (new, old) {
        (Some(v), _) => v,
        (None, Some(o)) if partial => o.clone(),
        _ => default.to_owned(),
    };
    Ok(ScriptValues {
        runtime_name: keep(runtime, current.map(|s| &s.runtime_name), ""),
        source: keep(source, current.map(|s| &s.source), ""),
        config: keep(config, current.map(|s| &s.config), "{}"),
        label: keep(label, current.map(|s| &s.label), ""),
        description: keep(description, current.map(|s| &s.description), ""),
    })
}

async fn list_scripts(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| script_access(ctx, Op::Read)).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let scripts = app
        .store
        .list_scripts(
            ctx.instance.id,
            req.param("label__startswith"),
            &page.keyset(),
        )
        .await?;
    let base = ctx.base();
    Ok(list_response(&req, &page, scripts, |s| {
        (s.id, script_json(&base, &s, &list_source(&s.source)))
    }))
}

async fn create_script(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| script_access(ctx, Op::Create))
        .await?;
    let Call { app, req, .. } = call;
    let values = read_script(&req, None)?;
    let script = app.store.create_script(ctx.instance.id, &values).await?;
    Ok(created(script_json(&ctx.base(), &script, &script.source)))
}

/// The `{id}` script of the instance, or 404 `Not found.`.
pub(crate) async fn load(app: &AppState, ctx: &Ctx, raw: &str) -> ApiResult<Script> {
    app.store
        .script(ctx.instance.id, path_id(raw)?)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_script(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| script_access(ctx, Op::Read)).await?;
    let script = load(&call.app, &ctx, &call.path).await?;
    Ok(ok(script_json(&ctx.base(), &script, &script.source)))
}

async fn update_script(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| script_access(ctx, Op::Update))
        .await?;
    let Call {
        app, req, path: id, ..
    } = call;
    let script = load(&app, &ctx, &id).await?;
    let values = read_script(&req, Some(&script))?;
    let saved = app
        .store
        .update_script(ctx.instance.id, script.id, &values)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(script_json(&ctx.base(), &saved, &saved.source)))
}

async fn delete_script(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| script_access(ctx, Op::Delete))
        .await?;
    let script = load(&call.app, &ctx, &call.path).await?;
    call.app
        .store
        .delete_script(ctx.instance.id, script.id)
        .await?;
    Ok(no_content())
}

/// Any admin role reads the runtimes (spec-scripts §1.1); not paginated.
async fn runtimes(call: Call<()>) -> ApiResult<Response> {
    call.check(async |ctx| script_access(ctx, Op::Read)).await?;
    let engine = call.app.runner().engine().await;
    Ok(ok(engine.toolchains().listing()))
}
