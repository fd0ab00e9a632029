//! User–group memberships (spec-core §7.6), seen from both sides: `/users/{id}/groups/`
//! and `/groups/{id}/users/`. Both sides add, list, show and remove the same rows; users and
//! groups only lend their renderings, so neither of those modules depends on the other.

use super::groups::group_json;
use super::users::render_users;
use super::{Api, list_response, path_id};
use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::Fields;
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_core::perms::{AdminTable, Op};
use rivia_store::instances::Instance;
use rivia_store::users::{Group, MembershipError, User};
use serde_json::{Value, json};

/// Registers the `/users/{id}/groups/` routes.
pub(crate) fn user_routes(api: Api) -> Api {
    let list = "/v1.1/instances/{instance}/users/{id}/groups/";
    let item = "/v1.1/instances/{instance}/users/{id}/groups/{group}/";
    api.get(list, "List a user's groups", list_user_groups)
        .post(list, "Add a user to a group", add_user_group)
        .get(item, "Get a user's membership", get_user_group)
        .delete(item, "Remove a user from a group", remove_user_group)
}

/// Registers the `/groups/{id}/users/` routes.
pub(crate) fn group_routes(api: Api) -> Api {
    let list = "/v1.1/instances/{instance}/groups/{id}/users/";
    let item = "/v1.1/instances/{instance}/groups/{id}/users/{user}/";
    api.get(list, "List a group's members", list_group_users)
        .post(list, "Add a member", add_group_user)
        .get(item, "Get a membership", get_group_user)
        .delete(item, "Remove a member", remove_group_user)
}

/// Adds a membership, mapping the domain outcomes to Syncano's errors.
async fn add_membership(app: &AppState, ctx: &Ctx, user_id: i64, group_id: i64) -> ApiResult<()> {
    app.store
        .add_membership(ctx.instance.id, user_id, group_id)
        .await
        .map_err(|e| match e {
            MembershipError::AlreadyMember => {
                ApiError::bad_request("User is already a part of that group.")
            }
            MembershipError::LimitExceeded => ApiError::bad_request(format!(
                "User's group count exceeded ({}).",
                rivia_store::users::MAX_GROUPS_PER_USER
            )),
            MembershipError::Store(e) => e.into(),
        })
}

/// The id of a body's required pk field `name` (`user` or `group`).
fn body_pk(req: &Req, name: &str) -> ApiResult<i64> {
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let id = f.required_pk(name);
    f.finish_with(id)
}

// ---------------------------------------------------------------------------------------
// /users/{id}/groups/

/// The `{id}` user of a nested route: 404 `User was not found.` (before authentication).
async fn parent_user(app: &AppState, instance: &Instance, raw_id: &str) -> ApiResult<User> {
    let id = rivia_core::page::parse_pk(raw_id).ok_or_else(|| ApiError::model_not_found("User"))?;
    app.store
        .user(instance.id, id)
        .await?
        .ok_or_else(|| ApiError::model_not_found("User"))
}

/// Membership permissions: admins by role; API keys read-only, and only for their own user.
fn user_side_access(ctx: &Ctx, op: Op, user_id: i64) -> ApiResult<()> {
    match &ctx.who {
        Who::Admin { .. } => ctx.require_admin(AdminTable::Data, op),
        Who::ApiKey { user: Some(u), .. } if op == Op::Read && u.id == user_id => Ok(()),
        _ => Err(ApiError::forbidden()),
    }
}

/// The preamble of a `/users/{id}/groups/` route doing `op`.
async fn user_side<P>(call: &Call<P>, id: &str, op: Op) -> ApiResult<(Ctx, User)> {
    let (ctx, user, ()) = call
        .nested(
            async |inst| parent_user(&call.app, inst, id).await,
            async |ctx, user| user_side_access(ctx, op, user.id),
        )
        .await?;
    Ok((ctx, user))
}

fn user_membership_json(base: &str, uid: i64, g: &Group) -> Value {
    json!({"group": group_json(base, g), "links": {"self": format!("{base}/users/{uid}/groups/{}/", g.id)}})
}

async fn list_user_groups(call: Call<String>) -> ApiResult<Response> {
    let (ctx, user) = user_side(&call, &call.path, Op::Read).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let groups = app
        .store
        .list_user_groups(ctx.instance.id, user.id, &page.keyset())
        .await?;
    let base = ctx.base();
    Ok(list_response(&req, &page, groups, |g| {
        (g.id, user_membership_json(&base, user.id, &g))
    }))
}

async fn add_user_group(call: Call<String>) -> ApiResult<Response> {
    let (ctx, user) = user_side(&call, &call.path, Op::Create).await?;
    let Call { app, req, .. } = call;
    let gid = body_pk(&req, "group")?;
    let group = app
        .store
        .group(ctx.instance.id, gid)
        .await?
        .ok_or_else(|| ApiError::field("group", msg::invalid_pk(&gid.to_string())))?;
    add_membership(&app, &ctx, user.id, group.id).await?;
    Ok(created(user_membership_json(&ctx.base(), user.id, &group)))
}

/// The `{group}` of a user's membership; 404 when the user is not in it.
async fn membership_group(
    app: &AppState,
    ctx: &Ctx,
    user: &User,
    raw_gid: &str,
) -> ApiResult<Group> {
    let gid = path_id(raw_gid)?;
    if !app.store.is_member(ctx.instance.id, user.id, gid).await? {
        return Err(ApiError::not_found());
    }
    app.store
        .group(ctx.instance.id, gid)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_user_group(call: Call<(String, String)>) -> ApiResult<Response> {
    let (ctx, user) = user_side(&call, &call.path.0, Op::Read).await?;
    let Call {
        app,
        path: (_, gid),
        ..
    } = call;
    let group = membership_group(&app, &ctx, &user, &gid).await?;
    Ok(ok(user_membership_json(&ctx.base(), user.id, &group)))
}

async fn remove_user_group(call: Call<(String, String)>) -> ApiResult<Response> {
    let (ctx, user) = user_side(&call, &call.path.0, Op::Delete).await?;
    let Call {
        app,
        path: (_, gid),
        ..
    } = call;
    let group = membership_group(&app, &ctx, &user, &gid).await?;
    app.store
        .remove_membership(ctx.instance.id, user.id, group.id)
        .await?;
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------
// /groups/{id}/users/

/// The `{id}` group of a nested route: 404 `Group was not found.` (before authentication).
async fn parent_group(app: &AppState, instance: &Instance, raw_id: &str) -> ApiResult<Group> {
    let id =
        rivia_core::page::parse_pk(raw_id).ok_or_else(|| ApiError::model_not_found("Group"))?;
    app.store
        .group(instance.id, id)
        .await?
        .ok_or_else(|| ApiError::model_not_found("Group"))
}

/// Admins by role; an API key needs a user key and sees only that user's membership
/// (the user's id is returned).
fn group_side_scope(ctx: &Ctx, op: Op) -> ApiResult<Option<i64>> {
    match &ctx.who {
        Who::Admin { .. } => ctx.require_admin(AdminTable::Data, op).map(|_| None),
        Who::ApiKey { user: Some(u), .. } if op == Op::Read => Ok(Some(u.id)),
        _ => Err(ApiError::forbidden()),
    }
}

/// The preamble of a `/groups/{id}/users/` route doing `op`; also returns the only user
/// the caller may see, if restricted.
async fn group_side<P>(call: &Call<P>, id: &str, op: Op) -> ApiResult<(Ctx, Group, Option<i64>)> {
    call.nested(
        async |inst| parent_group(&call.app, inst, id).await,
        async |ctx, _| group_side_scope(ctx, op),
    )
    .await
}

fn group_membership_json(base: &str, gid: i64, uid: i64, user: Value) -> Value {
    json!({"user": user, "links": {"self": format!("{base}/groups/{gid}/users/{uid}/")}})
}

/// One member rendered as a membership of `group`.
async fn render_member(app: &AppState, ctx: &Ctx, group: &Group, user: User) -> ApiResult<Value> {
    let uid = user.id;
    let rendered = render_users(app, ctx, vec![user])
        .await?
        .pop()
        .unwrap_or(Value::Null);
    Ok(group_membership_json(&ctx.base(), group.id, uid, rendered))
}

async fn list_group_users(call: Call<String>) -> ApiResult<Response> {
    let (ctx, group, only) = group_side(&call, &call.path, Op::Read).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let users = app
        .store
        .list_group_users(ctx.instance.id, group.id, only, &page.keyset())
        .await?;
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let rendered = render_users(&app, &ctx, users).await?;
    let base = ctx.base();
    let pairs: Vec<(i64, Value)> = ids.into_iter().zip(rendered).collect();
    Ok(list_response(&req, &page, pairs, |(uid, v)| {
        (uid, group_membership_json(&base, group.id, uid, v))
    }))
}

async fn add_group_user(call: Call<String>) -> ApiResult<Response> {
    let (ctx, group, _) = group_side(&call, &call.path, Op::Create).await?;
    let Call { app, req, .. } = call;
    let uid = body_pk(&req, "user")?;
    let user = app
        .store
        .user(ctx.instance.id, uid)
        .await?
        .ok_or_else(|| ApiError::field("user", msg::invalid_pk(&uid.to_string())))?;
    add_membership(&app, &ctx, user.id, group.id).await?;
    Ok(created(render_member(&app, &ctx, &group, user).await?))
}

/// The `{user}` member of `group`; 404 when not a member or not the one `only` allows.
async fn member(
    app: &AppState,
    ctx: &Ctx,
    group: &Group,
    raw_uid: &str,
    only: Option<i64>,
) -> ApiResult<User> {
    let uid = path_id(raw_uid)?;
    if only.is_some_and(|own| own != uid)
        || !app.store.is_member(ctx.instance.id, uid, group.id).await?
    {
        return Err(ApiError::not_found());
    }
    app.store
        .user(ctx.instance.id, uid)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_group_user(call: Call<(String, String)>) -> ApiResult<Response> {
    let (ctx, group, only) = group_side(&call, &call.path.0, Op::Read).await?;
    let Call {
        app,
        path: (_, uid),
        ..
    } = call;
    let user = member(&app, &ctx, &group, &uid, only).await?;
    Ok(ok(render_member(&app, &ctx, &group, user).await?))
}

async fn remove_group_user(call: Call<(String, String)>) -> ApiResult<Response> {
    let (ctx, group, _) = group_side(&call, &call.path.0, Op::Delete).await?;
    let Call {
        app,
        path: (_, uid),
        ..
    } = call;
    let user = member(&app, &ctx, &group, &uid, None).await?;
    app.store
        .remove_membership(ctx.instance.id, user.id, group.id)
        .await?;
    Ok(no_content())
}
