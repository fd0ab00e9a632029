//! Response templates, `snippets/templates/` (spec-rest §7): CRUD, `rename/` and
//! `render/`. Admins manage them as owner or full admin and read them with any role; API
//! keys read them and may render them (the platform's `AllowApiKeyRenderAccess`), an
//! admin renders with the update right. Rendering itself is [`crate::templates::render`],
//! the function the response path of every instance GET uses too.

use crate::api::{Api, list_response, stored_json};
use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields, Parsed};
use crate::json::{created, no_content, ok};
use crate::state::AppState;
use crate::templates::{Defaults, context_values, engine, hook::content_type, load, render};
use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_core::names::{SlugFamily, validate_slug};
use rivia_core::perms::{AdminTable, Op};
use rivia_core::templates::{
    INVALID_CONTENT_TYPE, MAX_CONTENT_CHARS, MAX_CONTENT_TYPE_CHARS, valid_content_type,
    validate_context,
};
use rivia_store::StoreError;
use rivia_store::templates::{ResponseTemplate, TemplateValues};
use serde_json::{Value, json};

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    const LIST: &str = "/v1.1/instances/{instance}/snippets/templates/";
    const ITEM: &str = "/v1.1/instances/{instance}/snippets/templates/{name}/";
    api.get(LIST, "List response templates", list_templates)
        .post(LIST, "Create a response template", create_template)
        .get(ITEM, "Get a response template", get_template)
        .put(ITEM, "Replace a response template", update_template)
        .patch(ITEM, "Update a response template", update_template)
        .delete(ITEM, "Delete a response template", delete_template)
        .post(
            "/v1.1/instances/{instance}/snippets/templates/{name}/rename/",
            "Rename a response template",
            rename_template,
        )
        .post(
            "/v1.1/instances/{instance}/snippets/templates/{name}/render/",
            "Render a response template with a context",
            render_template,
        )
}

/// Admins by role (owner and full admins write); API keys read, and render (`Op::Update`
/// with `render`); anonymous callers nothing.
fn template_access(ctx: &Ctx, op: Op, rendering: bool) -> ApiResult<()> {
    match &ctx.who {
        Who::Admin { .. } => ctx.require_admin(AdminTable::FullWrites, op),
        Who::ApiKey { .. } if op == Op::Read || rendering => Ok(()),
        _ => Err(ApiError::forbidden()),
    }
}

/// ResponseTemplateJSON.
fn template_json(base: &str, t: &ResponseTemplate) -> Value {
    let url = format!("{base}/snippets/templates/{}/", t.name);
    json!({
        "name": t.name,
        "content": t.content,
        "content_type": t.content_type,
        "context": stored_json(&t.context),
        "description": t.description,
        "links": {
            "self": url,
            "rename": format!("{url}rename/"),
        },
    })
}

/// A `name` or `new_name`: a slug of letters, numbers, underscores and hyphens, unique in
/// the instance (`except`: the template being renamed keeps its own name).
async fn read_name(
    app: &AppState,
    ctx: &Ctx,
    f: &mut Fields<'_>,
    field: &str,
    except: Option<i64>,
) -> ApiResult<Parsed<String>> {
    let name = f
        .required_string(field, Char::required(1000))
        .and_then(|raw| validate_slug(&raw, SlugFamily::Generic).map_err(|e| f.reject(field, e)));
    if let Ok(n) = &name
        && let Some(existing) = app.store.template(ctx.instance.id, n).await?
        && Some(existing.id) != except
    {
        return Ok(Err(f.report(field, msg::UNIQUE)));
    }
    Ok(name)
}

/// The writable fields of a create or update body (errors are recorded in `f`). PUT
/// resets `context` to `{}` when absent (its serializer default) and leaves the
/// description alone; PATCH keeps whatever is absent.
fn read_values(
    f: &mut Fields,
    partial: bool,
    current: Option<&ResponseTemplate>,
) -> TemplateValues {
    // DRF's CharField trims: a template's surrounding whitespace is not stored.
    let content = f
        .string("content", Char::required(MAX_CONTENT_CHARS), true)
        .filter(|c| match engine::compile(c) {
            Ok(_) => true,
            Err(message) => {
                f.report("content", message);
                false
            }
        });
    let content_type = f
        .string("content_type", Char::required(MAX_CONTENT_TYPE_CHARS), true)
        .filter(|t| {
            valid_content_type(t) || {
                f.report("content_type", INVALID_CONTENT_TYPE);
                false
            }
        });
    let context = match f.raw("context") {
        None => None,
        Some(Value::Null) => {
            f.report("context", msg::NULL);
            None
        }
        Some(v) => match validate_context(v, true) {
            Ok(map) => Some(Value::Object(map).to_string()),
            Err(e) => {
                f.report("context", e);
                None
            }
        },
    };
    let description = f.string("description", Char::text(256), false);
    let old = |pick: fn(&ResponseTemplate) -> &String| current.map(|t| pick(t).clone());
    TemplateValues {
        content: content.or_else(|| old(|t| &t.content)).unwrap_or_default(),
        content_type: content_type
            .or_else(|| old(|t| &t.content_type))
            .unwrap_or_default(),
        context: match context {
            Some(c) => c,
            None if partial => old(|t| &t.context).unwrap_or_else(|| "{}".into()),
            None => "{}".into(),
        },
        description: description
            .or_else(|| old(|t| &t.description))
            .unwrap_or_default(),
    }
}

/// A unique-name failure the pre-check missed (a concurrent write) as the field's error.
fn name_taken(e: StoreError, field: &str) -> ApiError {
    match e {
        StoreError::Conflict(_) => ApiError::field(field, msg::UNIQUE),
        other => other.into(),
    }
}

/// The `{name}` template of the instance (the URL's name, lowercased), or 404.
async fn load_item(app: &AppState, ctx: &Ctx, name: &str) -> ApiResult<ResponseTemplate> {
    app.store
        .template(ctx.instance.id, &name.to_lowercase())
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn list_templates(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| template_access(ctx, Op::Read, false))
        .await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let templates = app
        .store
        .list_templates(ctx.instance.id, &page.keyset())
        .await?;
    let base = ctx.base();
    Ok(list_response(&req, &page, templates, |t| {
        (t.id, template_json(&base, &t))
    }))
}

async fn create_template(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| template_access(ctx, Op::Create, false))
        .await?;
    let Call { app, req, .. } = call;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let name = read_name(&app, &ctx, &mut f, "name", None).await?;
    let values = read_values(&mut f, false, None);
    let name = f.finish_with(name)?;
    let saved = app
        .store
        .create_template(ctx.instance.id, &name, &values)
        .await
        .map_err(|e| name_taken(e, "name"))?;
    Ok(created(template_json(&ctx.base(), &saved)))
}

async fn get_template(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| template_access(ctx, Op::Read, false))
        .await?;
    let t = load_item(&call.app, &ctx, &call.path).await?;
    Ok(ok(template_json(&ctx.base(), &t)))
}

/// PUT and PATCH; `name` is read-only here (`rename/` changes it).
async fn update_template(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| template_access(ctx, Op::Update, false))
        .await?;
    let Call { app, req, path, .. } = call;
    let current = load_item(&app, &ctx, &path).await?;
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let values = read_values(&mut f, partial, Some(&current));
    f.finish()?;
    let saved = app
        .store
        .update_template(ctx.instance.id, current.id, &values)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(template_json(&ctx.base(), &saved)))
}

async fn delete_template(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| template_access(ctx, Op::Delete, false))
        .await?;
    let t = load_item(&call.app, &ctx, &call.path).await?;
    call.app
        .store
        .delete_template(ctx.instance.id, t.id)
        .await?;
    Ok(no_content())
}

/// `{"new_name"}`, validated as `name` is (an absent one reads as null, as the platform's
/// `request.data.get('new_name')` did).
async fn rename_template(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| template_access(ctx, Op::Update, false))
        .await?;
    let Call { app, req, path, .. } = call;
    let current = load_item(&app, &ctx, &path).await?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let new_name = match body.get("new_name") {
        None | Some(Value::Null) => Err(f.report("new_name", msg::NULL)),
        Some(_) => read_name(&app, &ctx, &mut f, "new_name", Some(current.id)).await?,
    };
    let new_name = f.finish_with(new_name)?;
    let saved = app
        .store
        .rename_template(ctx.instance.id, current.id, &new_name)
        .await
        .map_err(|e| name_taken(e, "new_name"))?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(template_json(&ctx.base(), &saved)))
}

/// `{"context": {…}}` (reserved keys allowed here) renders the template with `action`
/// `render`, the instance and the user; an empty or absent context uses the template's.
/// 200 with the template's content type, or 400 `{"detail": "Template rendering …"}`.
async fn render_template(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| template_access(ctx, Op::Update, true))
        .await?;
    let Call { app, req, path, .. } = call;
    let body = req.body_object()?;
    let context = match body.get("context") {
        None => serde_json::Map::new(),
        Some(Value::Null) => return Err(ApiError::field("context", msg::NULL)),
        Some(v) => validate_context(v, false).map_err(|e| ApiError::field("context", e))?,
    };
    let stored = load_item(&app, &ctx, &path).await?;
    let template = load(&app, ctx.instance.id, &stored.name)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let defaults = Defaults {
        instance: ctx.instance.name.clone(),
        action: "render",
        user: ctx.user().map(|u| u.username.clone()),
        response: None,
    };
    let text = render(
        &app,
        template.clone(),
        defaults,
        Some(context_values(&context)),
    )
    .await
    .map_err(|e| ApiError::bad_request(e.detail()))?;
    let mut resp = Response::new(Body::from(text));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, content_type(&template.content_type));
    Ok(resp)
}
