//! Instance administrators and their roles (spec-core §5).

use super::{Api, list_response, path_id};
use crate::auth::Ctx;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::Fields;
use crate::json::{no_content, ok};
use axum::response::Response;
use rivia_core::perms::{AdminTable, Op, Role};
use rivia_store::instances::InstanceAdmin;
use serde_json::{Value, json};

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    api.get(
        "/v1.1/instances/{instance}/admins/",
        "List the instance's admins",
        list_admins,
    )
    .get(
        "/v1.1/instances/{instance}/admins/{id}/",
        "Get an admin's role",
        get_admin,
    )
    .put(
        "/v1.1/instances/{instance}/admins/{id}/",
        "Change an admin's role",
        update_admin,
    )
    .patch(
        "/v1.1/instances/{instance}/admins/{id}/",
        "Change an admin's role",
        update_admin,
    )
    .delete(
        "/v1.1/instances/{instance}/admins/{id}/",
        "Remove an admin from the instance",
        delete_admin,
    )
}

fn admin_role_json(base: &str, a: &InstanceAdmin) -> Value {
    json!({
        "id": a.admin_id,
        "role": a.role.name(),
        "email": a.email,
        "first_name": a.first_name,
        "last_name": a.last_name,
        "links": {"self": format!("{base}/admins/{}/", a.admin_id)},
    })
}

async fn list_admins(call: Call<()>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::Admins, Op::Read).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let list = app
        .store
        .list_instance_admins(&ctx.instance, &page.keyset())
        .await?;
    let base = ctx.base();
    Ok(list_response(&req, &page, list, |a| {
        (a.admin_id, admin_role_json(&base, &a))
    }))
}

async fn get_admin(call: Call<String>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::Admins, Op::Read).await?;
    let Call { app, path: id, .. } = call;
    let a = app
        .store
        .instance_admin(&ctx.instance, path_id(&id)?)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(admin_role_json(&ctx.base(), &a)))
}

async fn update_admin(call: Call<String>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::Admins, Op::Update).await?;
    let Call {
        app, req, path: id, ..
    } = call;
    let a = app
        .store
        .instance_admin(&ctx.instance, path_id(&id)?)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if a.is_owner {
        return Err(ApiError::forbidden());
    }
    let body = req.body_object()?;
    let mut f = Fields::new(&body, req.is_partial());
    let role = f.choice("role", &["full", "write", "read"], true);
    f.finish()?;
    let role = role.and_then(|r| Role::parse(&r)).unwrap_or(a.role);
    app.store
        .set_admin_role(ctx.instance.id, a.admin_id, role)
        .await?;
    let a = app
        .store
        .instance_admin(&ctx.instance, a.admin_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(admin_role_json(&ctx.base(), &a)))
}

/// Any admin may leave an instance; removing others needs owner/full. The `{id}` is
/// parsed first (404 for a malformed one), after authentication, as Syncano does.
fn may_remove(ctx: &Ctx, raw_id: &str) -> ApiResult<i64> {
    let id = path_id(raw_id)?;
    let is_self = ctx.admin().is_some_and(|a| a.id == id) && ctx.admin_role().is_some();
    if !is_self {
        ctx.require_admin(AdminTable::Admins, Op::Delete)?;
    }
    Ok(id)
}

async fn delete_admin(call: Call<String>) -> ApiResult<Response> {
    let (ctx, id) = call.check(async |ctx| may_remove(ctx, &call.path)).await?;
    let app = call.app;
    let a = app
        .store
        .instance_admin(&ctx.instance, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if a.is_owner {
        return Err(ApiError::forbidden());
    }
    app.store
        .remove_admin_role(ctx.instance.id, a.admin_id)
        .await?;
    Ok(no_content())
}
