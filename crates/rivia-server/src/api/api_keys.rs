//! Instance API keys (spec-core §6).

use super::{Api, list_response, path_id, ts};
use crate::auth::Ctx;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::perms::{AdminTable, Op};
use rivia_store::api_keys::{ApiKey, ApiKeyFlags};
use serde_json::{Value, json};

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    api.get(
        "/v1.1/instances/{instance}/api_keys/",
        "List API keys",
        list_keys,
    )
    .post(
        "/v1.1/instances/{instance}/api_keys/",
        "Create an API key",
        create_key,
    )
    .get(
        "/v1.1/instances/{instance}/api_keys/{id}/",
        "Get an API key",
        get_key,
    )
    .put(
        "/v1.1/instances/{instance}/api_keys/{id}/",
        "Update an API key",
        update_key,
    )
    .patch(
        "/v1.1/instances/{instance}/api_keys/{id}/",
        "Partially update an API key",
        update_key,
    )
    .delete(
        "/v1.1/instances/{instance}/api_keys/{id}/",
        "Delete an API key",
        delete_key,
    )
    .post(
        "/v1.1/instances/{instance}/api_keys/{id}/reset_key/",
        "Replace an API key's value",
        reset_key,
    )
}

fn key_json(base: &str, k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "description": k.description,
        "api_key": k.api_key,
        "ignore_acl": k.flags.ignore_acl,
        "allow_user_create": k.flags.allow_user_create,
        "allow_group_create": k.flags.allow_group_create,
        "allow_anonymous_read": k.flags.allow_anonymous_read,
        "created_at": ts(k.created_at),
        "links": {
            "self": format!("{base}/api_keys/{}/", k.id),
            "reset_key": format!("{base}/api_keys/{}/reset_key/", k.id),
        }
    })
}

/// Reads key fields; on a full update absent flags become false.
fn read_key_fields(req: &Req, current: Option<&ApiKey>) -> ApiResult<(String, ApiKeyFlags)> {
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let description = f.string("description", Char::text(256), false);
    let base = match (current, partial) {
        (Some(k), true) => k.flags,
        _ => ApiKeyFlags::default(),
    };
    let flags = ApiKeyFlags {
        ignore_acl: f.boolean("ignore_acl").unwrap_or(base.ignore_acl),
        allow_user_create: f
            .boolean("allow_user_create")
            .unwrap_or(base.allow_user_create),
        allow_group_create: f
            .boolean("allow_group_create")
            .unwrap_or(base.allow_group_create),
        allow_anonymous_read: f
            .boolean("allow_anonymous_read")
            .unwrap_or(base.allow_anonymous_read),
    };
    f.finish()?;
    let description =
        description.unwrap_or_else(|| current.map(|k| k.description.clone()).unwrap_or_default());
    Ok((description, flags))
}

/// Reading keys: an API key sees only itself (its id is returned); admins need a role
/// that reads API keys.
fn own_key_or_admin(ctx: &Ctx) -> ApiResult<Option<i64>> {
    match ctx.api_key() {
        Some(k) => Ok(Some(k.id)),
        None => ctx
            .require_admin(AdminTable::ApiKeys, Op::Read)
            .map(|()| None),
    }
}

async fn list_keys(call: Call<()>) -> ApiResult<Response> {
    let (ctx, only) = call.check(async |ctx| own_key_or_admin(ctx)).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let list = app
        .store
        .list_api_keys(ctx.instance.id, only, &page.keyset())
        .await?;
    let base = ctx.base();
    Ok(list_response(&req, &page, list, |k| {
        (k.id, key_json(&base, &k))
    }))
}

async fn create_key(call: Call<()>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::ApiKeys, Op::Create).await?;
    let Call { app, req, .. } = call;
    let (description, flags) = read_key_fields(&req, None)?;
    let key = app
        .store
        .create_api_key(
            ctx.instance.id,
            &rivia_core::keys::new_api_key(),
            &description,
            flags,
        )
        .await?;
    Ok(created(key_json(&ctx.base(), &key)))
}

async fn load(app: &AppState, ctx: &Ctx, id: &str) -> ApiResult<ApiKey> {
    app.store
        .api_key(ctx.instance.id, path_id(id)?)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_key(call: Call<String>) -> ApiResult<Response> {
    let (ctx, own) = call.check(async |ctx| own_key_or_admin(ctx)).await?;
    let Call { app, path: id, .. } = call;
    let key = load(&app, &ctx, &id).await?;
    if own.is_some_and(|own| own != key.id) {
        return Err(ApiError::not_found());
    }
    Ok(ok(key_json(&ctx.base(), &key)))
}

async fn update_key(call: Call<String>) -> ApiResult<Response> {
    let (ctx, key) = call
        .admin_item((AdminTable::ApiKeys, Op::Update), load)
        .await?;
    let Call { app, req, .. } = call;
    let (description, flags) = read_key_fields(&req, Some(&key))?;
    let saved = app
        .store
        .update_api_key(ctx.instance.id, key.id, &description, flags)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(key_json(&ctx.base(), &saved)))
}

async fn delete_key(call: Call<String>) -> ApiResult<Response> {
    let (ctx, key) = call
        .admin_item((AdminTable::ApiKeys, Op::Delete), load)
        .await?;
    let Call { app, .. } = call;
    app.store.delete_api_key(ctx.instance.id, key.id).await?;
    Ok(no_content())
}

async fn reset_key(call: Call<String>) -> ApiResult<Response> {
    let (ctx, key) = call
        .admin_item((AdminTable::ApiKeys, Op::Update), load)
        .await?;
    let Call { app, .. } = call;
    let saved = app
        .store
        .reset_api_key(ctx.instance.id, key.id, &rivia_core::keys::new_api_key())
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(key_json(&ctx.base(), &saved)))
}
