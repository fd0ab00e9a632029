//! Instance invitations (spec-rest §12).

use super::{Api, list_response, path_id, ts};
use crate::auth::Ctx;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::Fields;
use crate::json::{created, no_content, ok};
use crate::state::AppState;
use axum::response::Response;
use rivia_core::perms::{AdminTable, Op, Role};
use rivia_store::invitations::{Invitation, InviteError};
use serde_json::{Value, json};

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    api.get(
        "/v1.1/instances/{instance}/invitations/",
        "List invitations",
        list_invitations,
    )
    .post(
        "/v1.1/instances/{instance}/invitations/",
        "Invite an admin",
        create_invitation,
    )
    .get(
        "/v1.1/instances/{instance}/invitations/{id}/",
        "Get an invitation",
        get_invitation,
    )
    .put(
        "/v1.1/instances/{instance}/invitations/{id}/",
        "Update an invitation",
        update_invitation,
    )
    .patch(
        "/v1.1/instances/{instance}/invitations/{id}/",
        "Partially update an invitation",
        update_invitation,
    )
    .delete(
        "/v1.1/instances/{instance}/invitations/{id}/",
        "Delete an invitation",
        delete_invitation,
    )
    .post(
        "/v1.1/instances/{instance}/invitations/{id}/resend/",
        "Mail an invitation again",
        resend_invitation,
    )
}

/// An invitation; its `key` only for admins who may create invitations (a `read` admin
/// holding another's key could accept it: README, Security).
fn invitation_json(ctx: &Ctx, v: &Invitation) -> Value {
    let base = ctx.base();
    let mut out = json!({
        "id": v.id,
        "email": v.email,
        "role": v.role.name(),
        "key": v.key,
        "inviter": v.inviter,
        "created_at": ts(v.created_at),
        "updated_at": ts(v.updated_at),
        "state": v.state.name(),
        "links": {
            "self": format!("{base}/invitations/{}/", v.id),
            "resend": format!("{base}/invitations/{}/resend/", v.id),
        }
    });
    if ctx
        .require_admin(AdminTable::FullWrites, Op::Create)
        .is_err()
        && let Value::Object(m) = &mut out
    {
        m.remove("key");
    }
    out
}

fn mail_invitation(app: &AppState, v: &Invitation) {
    app.mailer.send(&v.email, "invitation", json!({"instance": v.instance_name, "role": v.role.name(), "key": v.key, "inviter": v.inviter}));
}

async fn list_invitations(call: Call<()>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::FullWrites, Op::Read).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let list = app
        .store
        .list_invitations(ctx.instance.id, &page.keyset())
        .await?;
    Ok(list_response(&req, &page, list, |v| {
        (v.id, invitation_json(&ctx, &v))
    }))
}

async fn create_invitation(call: Call<()>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::FullWrites, Op::Create).await?;
    let Call { app, req, .. } = call;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let email = f.required_email("email");
    let role = f
        .choice("role", &["full", "write", "read"], false)
        .and_then(|r| Role::parse(&r))
        .unwrap_or(Role::Full);
    let email = f.finish_with(email)?;
    let inviter = ctx.admin().map(|a| a.id).unwrap_or_default();
    let v = app
        .store
        .create_invitation(
            ctx.instance.id,
            &email,
            role,
            &rivia_core::keys::new_token(),
            inviter,
        )
        .await
        .map_err(|e| match e {
            InviteError::AlreadyMember => ApiError::field_str(
                "email",
                "Admin with specified Email is already a part of this Instance.",
            ),
            InviteError::AlreadyInvited => ApiError::bad_request(
                "Admin with specified Email already has an invitation created.",
            ),
            InviteError::Store(e) => e.into(),
        })?;
    mail_invitation(&app, &v);
    Ok(created(invitation_json(&ctx, &v)))
}

async fn load(app: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Invitation> {
    app.store
        .invitation(ctx.instance.id, path_id(id)?)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_invitation(call: Call<String>) -> ApiResult<Response> {
    let (ctx, v) = call
        .admin_item((AdminTable::FullWrites, Op::Read), load)
        .await?;
    Ok(ok(invitation_json(&ctx, &v)))
}

async fn update_invitation(call: Call<String>) -> ApiResult<Response> {
    let (ctx, v) = call
        .admin_item((AdminTable::FullWrites, Op::Update), load)
        .await?;
    let Call { app, req, .. } = call;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, true);
    let role = f
        .choice("role", &["full", "write", "read"], false)
        .and_then(|r| Role::parse(&r));
    f.finish()?;
    // A full update without `role` resets it to its default, `full`.
    let role = role.unwrap_or(if req.is_partial() { v.role } else { Role::Full });
    let saved = app
        .store
        .update_invitation_role(ctx.instance.id, v.id, role)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(invitation_json(&ctx, &saved)))
}

async fn delete_invitation(call: Call<String>) -> ApiResult<Response> {
    let (ctx, v) = call
        .admin_item((AdminTable::FullWrites, Op::Delete), load)
        .await?;
    let Call { app, .. } = call;
    app.store.delete_invitation(ctx.instance.id, v.id).await?;
    Ok(no_content())
}

async fn resend_invitation(call: Call<String>) -> ApiResult<Response> {
    let (_, v) = call
        .admin_item((AdminTable::FullWrites, Op::Update), load)
        .await?;
    mail_invitation(&call.app, &v);
    Ok(no_content())
}
