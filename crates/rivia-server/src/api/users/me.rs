//! The calling user (spec-core §7.4): `/user/` and logging in with `/user/auth/`.

use super::render::render_one;
use super::{USERNAME, apply_user_update};
use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields, both};
use crate::json::ok;
use crate::req::Req;
use axum::response::Response;
use rivia_core::perms::{AdminTable, Op};
use rivia_store::users::User;

/// Who may log users in: any API key; admins whose role reads data.
fn login_access(ctx: &Ctx) -> ApiResult<()> {
    match &ctx.who {
        Who::ApiKey { .. } => Ok(()),
        Who::Admin { .. } => ctx.require_admin(AdminTable::Data, Op::Read),
        Who::Anonymous => Err(ApiError::forbidden()),
    }
}

/// A login body.
struct Login {
    username: String,
    password: String,
}

fn read_login(req: &Req) -> ApiResult<Login> {
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let username = f.required_string("username", USERNAME);
    let password = f.required_string("password", Char::PASSWORD);
    let (username, password) = f.finish_with(both(username, password))?;
    Ok(Login { username, password })
}

pub(super) async fn login_user(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |ctx| login_access(ctx)).await?;
    let Call { app, req, .. } = call;
    let Login { username, password } = read_login(&req)?;
    let user = app
        .store
        .user_by_username(ctx.instance.id, &username.to_lowercase())
        .await?;
    // Unknown usernames are verified against a dummy hash so both failures cost the same.
    let verified = app
        .verify_password(&password, user.as_ref().map(|u| u.password.as_str()))
        .await;
    match user {
        None => Err(ApiError::unauthorized("Invalid username.")),
        Some(_) if !verified => Err(ApiError::unauthorized("Invalid password.")),
        Some(u) => Ok(ok(render_one(&app, &ctx, u, None).await?)),
    }
}

fn calling_user(ctx: &Ctx) -> ApiResult<User> {
    ctx.user().cloned().ok_or_else(ApiError::forbidden)
}

pub(super) async fn get_me(call: Call<()>) -> ApiResult<Response> {
    let (ctx, user) = call.check(async |ctx| calling_user(ctx)).await?;
    let Call { app, .. } = call;
    Ok(ok(render_one(&app, &ctx, user, None).await?))
}

pub(super) async fn update_me(call: Call<()>) -> ApiResult<Response> {
    let (ctx, user) = call.check(async |ctx| calling_user(ctx)).await?;
    let Call { app, req, .. } = call;
    Ok(ok(apply_user_update(&app, &ctx, &req, user).await?))
}
