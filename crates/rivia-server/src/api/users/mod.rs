//! App users (spec-core §7.1–§7.4): the `/users/` records, and the calling user's own
//! `/user/` and `/user/auth/` (in [`me`]). Renderings are in [`render`], the nested
//! `profile` object of a body in [`profile`]; memberships live in `super::memberships`.

mod expand;
mod me;
mod profile;
mod render;

pub(crate) use expand::{ExpandedUsers, users_for_expand};
pub(crate) use render::{UserView, profile_class, render_users};

use self::profile::read_profile;
use self::render::{render_one, user_view};
use super::{Api, list_response, path_id};
use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields, both};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_core::perms::{AdminTable, ObjectPerm, Op};
use rivia_store::objects::ObjectValues;
use rivia_store::users::{User, UserUpdate};
use serde_json::Value;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    let list = "/v1.1/instances/{instance}/users/";
    let item = "/v1.1/instances/{instance}/users/{id}/";
    let me = "/v1.1/instances/{instance}/user/";
    api.get(list, "List users", list_users)
        .post(list, "Create a user", create_user)
        .get(item, "Get a user", get_user)
        .put(item, "Update a user", update_user)
        .patch(item, "Partially update a user", update_user)
        .delete(item, "Delete a user", delete_user)
        .post(
            "/v1.1/instances/{instance}/users/{id}/reset_key/",
            "Replace a user's key",
            reset_user_key,
        )
        .post(
            "/v1.1/instances/{instance}/user/auth/",
            "Log a user in by username and password",
            me::login_user,
        )
        .get(me, "The calling user", me::get_me)
        .put(me, "Update the calling user", me::update_me)
        .patch(me, "Partially update the calling user", me::update_me)
}

/// What the caller may do with user records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Any user.
    All,
    /// Only the caller's own record.
    OnlySelf(i64),
}

/// Checks the user permissions of §7.3 for `op`.
fn user_access(ctx: &Ctx, op: Op) -> ApiResult<Access> {
    match &ctx.who {
        Who::Admin { .. } => {
            ctx.require_admin(AdminTable::Data, op)?;
            Ok(Access::All)
        }
        Who::ApiKey { key, .. } if key.flags.ignore_acl => Ok(Access::All),
        Who::ApiKey { key, .. } if op == Op::Create && key.flags.allow_user_create => {
            Ok(Access::All)
        }
        Who::ApiKey { user: Some(u), .. } if matches!(op, Op::Read | Op::Update) => {
            Ok(Access::OnlySelf(u.id))
        }
        _ => Err(ApiError::forbidden()),
    }
}

const USERNAME: Char = Char {
    max: 64,
    allow_blank: false,
    allow_null: false,
    trim: true,
};

async fn list_users(call: Call<()>) -> ApiResult<Response> {
    let (ctx, access) = call.check(async |ctx| user_access(ctx, Op::Read)).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let only = match access {
        Access::All => None,
        Access::OnlySelf(id) => Some(id),
    };
    let class = profile_class(&app, &ctx).await?;
    // One round trip: the page joined with its profiles, and the groups of that page.
    let rows = app
        .store
        .list_users_full(
            ctx.instance.id,
            class.id,
            req.param("username__startswith"),
            only,
            &page.keyset(),
        )
        .await?;
    let base = ctx.base();
    let origin = ctx.origin(&app);
    let schema = crate::api::objects::class_schema(&app, &class);
    Ok(list_response(
        &req,
        &page,
        rows.iter().collect(),
        |(user, profile, groups)| {
            let view = user_view(
                (&base, &origin),
                &class,
                &schema,
                user,
                profile.as_ref(),
                groups,
            );
            (user.id, view)
        },
    ))
}

async fn create_user(call: Call<()>) -> ApiResult<Response> {
    let (ctx, _) = call.check(async |ctx| user_access(ctx, Op::Create)).await?;
    let Call { app, req, .. } = call;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let username = f.required_string("username", USERNAME);
    let password = f.required_string("password", Char::PASSWORD);
    let profile = match body.get("profile") {
        None | Some(Value::Null) => None,
        Some(raw) => match read_profile(&app, &ctx, raw, None, false).await {
            Ok(p) => Some(p.0),
            Err(e) => {
                f.errors.set("profile", e.into_value());
                None
            }
        },
    };
    if let Ok(name) = &username
        && app
            .store
            .user_by_username(ctx.instance.id, &name.to_lowercase())
            .await?
            .is_some()
    {
        f.errors.add("username", msg::UNIQUE);
    }
    let (username, password) = f.finish_with(both(username, password))?;
    let class = profile_class(&app, &ctx).await?;
    let profile = profile.unwrap_or(ObjectValues {
        owner: None,
        owner_permissions: ObjectPerm::Full.as_i64(),
        group_id: None,
        group_permissions: ObjectPerm::None.as_i64(),
        other_permissions: ObjectPerm::None.as_i64(),
        channel: None,
        channel_room: None,
        data: "{}".into(),
    });
    let hash = app.hash_password(&password).await?;
    let (user, _) = app
        .store
        .create_user(
            ctx.instance.id,
            class.id,
            &username.to_lowercase(),
            &hash,
            &rivia_core::keys::new_account_key(),
            profile,
        )
        .await
        .map_err(|e| match e {
            rivia_store::StoreError::Conflict(_) => ApiError::field("username", msg::UNIQUE),
            other => other.into(),
        })?;
    Ok(created(
        render_one(&app, &ctx, user, Some(&username)).await?,
    ))
}

/// Loads a user the caller may see: others' ids are 404 for users acting as themselves.
async fn visible_user(app: &AppState, ctx: &Ctx, access: Access, raw_id: &str) -> ApiResult<User> {
    let id = path_id(raw_id)?;
    if let Access::OnlySelf(own) = access
        && own != id
    {
        return Err(ApiError::not_found());
    }
    app.store
        .user(ctx.instance.id, id)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_user(call: Call<String>) -> ApiResult<Response> {
    let (ctx, access) = call.check(async |ctx| user_access(ctx, Op::Read)).await?;
    let Call { app, path: id, .. } = call;
    let user = visible_user(&app, &ctx, access, &id).await?;
    Ok(ok(render_one(&app, &ctx, user, None).await?))
}

/// Applies a PUT/PATCH body to a user (shared by `/users/{id}/` and `/user/`).
async fn apply_user_update(app: &AppState, ctx: &Ctx, req: &Req, user: User) -> ApiResult<Value> {
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let username = f.string("username", USERNAME, true);
    let password = f.string("password", Char::PASSWORD, true);
    let mut errors = f.errors;
    let class = profile_class(app, ctx).await?;
    let current_profile = app.store.get_object(class.id, user.profile_id).await?;
    let profile = match body.get("profile") {
        None | Some(Value::Null) => None,
        Some(raw) => match read_profile(app, ctx, raw, current_profile.as_ref(), partial).await {
            Ok(p) => Some(p),
            Err(e) => {
                errors.set("profile", e.into_value());
                None
            }
        },
    };
    if let Some(name) = &username
        && app
            .store
            .user_by_username(ctx.instance.id, &name.to_lowercase())
            .await?
            .is_some_and(|other| other.id != user.id)
    {
        errors.add("username", msg::UNIQUE);
    }
    errors.into_result().map_err(ApiError::fields)?;
    let hash = match &password {
        Some(p) => Some(app.hash_password(p).await?),
        None => None,
    };
    let update = UserUpdate {
        username: username.as_ref().map(|u| u.to_lowercase()),
        password: hash,
        profile,
    };
    let (saved, _) = app
        .store
        .update_user(ctx.instance.id, class.id, user.id, update)
        .await
        .map_err(|e| match e {
            rivia_store::StoreError::Conflict(_) => ApiError::field("username", msg::UNIQUE),
            other => other.into(),
        })?
        .ok_or_else(ApiError::not_found)?;
    render_one(app, ctx, saved, username.as_deref()).await
}

async fn update_user(call: Call<String>) -> ApiResult<Response> {
    let (ctx, access) = call.check(async |ctx| user_access(ctx, Op::Update)).await?;
    let Call {
        app, req, path: id, ..
    } = call;
    let user = visible_user(&app, &ctx, access, &id).await?;
    Ok(ok(apply_user_update(&app, &ctx, &req, user).await?))
}

async fn delete_user(call: Call<String>) -> ApiResult<Response> {
    let (ctx, _) = call.check(async |ctx| user_access(ctx, Op::Delete)).await?;
    let Call { app, path: id, .. } = call;
    let user = visible_user(&app, &ctx, Access::All, &id).await?;
    let class = profile_class(&app, &ctx).await?;
    app.store
        .delete_user(ctx.instance.id, class.id, user.id)
        .await?;
    Ok(no_content())
}

async fn reset_user_key(call: Call<String>) -> ApiResult<Response> {
    let (ctx, access) = call.check(async |ctx| user_access(ctx, Op::Update)).await?;
    let Call { app, path: id, .. } = call;
    let user = visible_user(&app, &ctx, access, &id).await?;
    let saved = app
        .store
        .reset_user_key(
            ctx.instance.id,
            user.id,
            &rivia_core::keys::new_account_key(),
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(render_one(&app, &ctx, saved, None).await?))
}
