//! App users, their profiles, user login and the calling user's own account
//! (spec-core §7.1–§7.4), and the `/users/{id}/groups/` memberships (§7.6).

use super::groups::{GroupView, group_json};
use super::link::{Links, url};
use super::objects::ObjectView;
use super::{Api, list_response, path_id};
use crate::auth::{Ctx, Who, caller_in, instance_ctx, resolve_instance};
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use rivia_core::FieldErrors;
use rivia_core::errors::msg;
use rivia_core::perms::{AdminTable, ObjectPerm, Op};
use rivia_core::schema::Schema;
use rivia_store::classes::Class;
use rivia_store::objects::{ObjectRow, ObjectValues};
use rivia_store::users::{Group, MembershipError, User, UserUpdate};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.get(
        "/v1.1/instances/{instance}/users/",
        "List users",
        list_users,
    )
    .post(
        "/v1.1/instances/{instance}/users/",
        "Create a user",
        create_user,
    )
    .get(
        "/v1.1/instances/{instance}/users/{id}/",
        "Get a user",
        get_user,
    )
    .put(
        "/v1.1/instances/{instance}/users/{id}/",
        "Update a user",
        update_user,
    )
    .patch(
        "/v1.1/instances/{instance}/users/{id}/",
        "Partially update a user",
        update_user,
    )
    .delete(
        "/v1.1/instances/{instance}/users/{id}/",
        "Delete a user",
        delete_user,
    )
    .post(
        "/v1.1/instances/{instance}/users/{id}/reset_key/",
        "Replace a user's key",
        reset_user_key,
    )
    .post(
        "/v1.1/instances/{instance}/user/auth/",
        "Log a user in by username and password",
        login_user,
    )
    .get(
        "/v1.1/instances/{instance}/user/",
        "The calling user",
        get_me,
    )
    .put(
        "/v1.1/instances/{instance}/user/",
        "Update the calling user",
        update_me,
    )
    .patch(
        "/v1.1/instances/{instance}/user/",
        "Partially update the calling user",
        update_me,
    )
    .get(
        "/v1.1/instances/{instance}/users/{id}/groups/",
        "List a user's groups",
        list_user_groups,
    )
    .post(
        "/v1.1/instances/{instance}/users/{id}/groups/",
        "Add a user to a group",
        add_user_group,
    )
    .get(
        "/v1.1/instances/{instance}/users/{id}/groups/{group}/",
        "Get a user's membership",
        get_user_group,
    )
    .delete(
        "/v1.1/instances/{instance}/users/{id}/groups/{group}/",
        "Remove a user from a group",
        remove_user_group,
    )
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

/// The `user_profile` class of the instance.
pub async fn profile_class(app: &AppState, ctx: &Ctx) -> ApiResult<Class> {
    let generation = app.store.auth_generation();
    if let Some(c) = app.cache.profile_classes.get(&ctx.instance.id, generation) {
        return Ok(c);
    }
    let class = app
        .store
        .class_by_name(ctx.instance.id, "user_profile")
        .await?
        .ok_or_else(|| {
            ApiError::Internal(format!(
                "instance {} has no user_profile class",
                ctx.instance.id
            ))
        })?;
    app.cache
        .profile_classes
        .put(ctx.instance.id, class.clone(), generation);
    Ok(class)
}

/// UserJSON (UserFullSerializer), serialised straight from the rows. `username` is
/// separate because create and update responses echo it as sent (QUIRK), while reads
/// return the stored lowercase form.
pub struct UserView<'a> {
    /// The instance prefix `/v1.1/instances/<name>`.
    pub base: &'a str,
    /// The user.
    pub user: &'a User,
    /// The username to show.
    pub username: &'a str,
    /// The profile object (null if missing).
    pub profile: Option<ObjectView<'a>>,
    /// The user's groups.
    pub groups: &'a [Group],
}

impl Serialize for UserView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (base, u) = (self.base, self.user);
        let groups: Vec<GroupView> = self
            .groups
            .iter()
            .map(|group| GroupView { base, group })
            .collect();
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("id", &u.id)?;
        m.serialize_entry("username", self.username)?;
        m.serialize_entry("profile", &self.profile)?;
        m.serialize_entry("groups", &groups)?;
        m.serialize_entry("user_key", &u.user_key)?;
        m.serialize_entry(
            "links",
            &Links([
                ("self", url!(base, "/users/", u.id, "/")),
                ("groups", url!(base, "/users/", u.id, "/groups/")),
                ("reset-key", url!(base, "/users/", u.id, "/reset_key/")),
                (
                    "profile",
                    url!(base, "/classes/user_profile/objects/", u.profile_id, "/"),
                ),
            ]),
        )?;
        m.end()
    }
}

/// Renders users that come with their profiles and groups.
fn render_full(
    ctx: &Ctx,
    class: &Class,
    rows: Vec<(User, Option<ObjectRow>, Vec<Group>)>,
) -> Vec<(i64, Value)> {
    let base = ctx.base();
    let schema = Schema::from_stored(&class.schema);
    rows.iter()
        .map(|(user, profile, groups)| {
            let view = user_view(&base, class, &schema, user, profile.as_ref(), groups);
            (user.id, serde_json::to_value(view).unwrap_or(Value::Null))
        })
        .collect()
}

/// The [`UserView`] of a user row with its profile row and groups.
fn user_view<'a>(
    base: &'a str,
    class: &'a Class,
    schema: &'a Schema,
    user: &'a User,
    profile: Option<&'a ObjectRow>,
    groups: &'a [Group],
) -> UserView<'a> {
    UserView {
        base,
        user,
        username: &user.username,
        profile: profile.map(|row| ObjectView {
            base,
            class_name: &class.name,
            schema,
            row,
        }),
        groups,
    }
}

/// Renders several users with one query for their profiles and one for their groups.
pub async fn render_users(app: &AppState, ctx: &Ctx, users: Vec<User>) -> ApiResult<Vec<Value>> {
    let class = profile_class(app, ctx).await?;
    let profile_ids: Vec<i64> = users.iter().map(|u| u.profile_id).collect();
    let user_ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let (profiles, groups) = tokio::try_join!(
        app.store.profiles(class.id, &profile_ids),
        app.store.groups_of_users(ctx.instance.id, &user_ids)
    )?;
    let mut profiles: HashMap<i64, ObjectRow> = profiles.into_iter().map(|p| (p.id, p)).collect();
    let mut groups_by_user: HashMap<i64, Vec<Group>> = HashMap::new();
    for (uid, g) in groups {
        groups_by_user.entry(uid).or_default().push(g);
    }
    let full = users
        .into_iter()
        .map(|u| {
            let p = profiles.remove(&u.profile_id);
            let g = groups_by_user.remove(&u.id).unwrap_or_default();
            (u, p, g)
        })
        .collect();
    Ok(render_full(ctx, &class, full)
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

async fn render_one(
    app: &AppState,
    ctx: &Ctx,
    user: User,
    username: Option<&str>,
) -> ApiResult<Value> {
    let echoed = username.map(str::to_string);
    let mut rendered = render_users(app, ctx, vec![user]).await?;
    let mut v = rendered.pop().ok_or_else(ApiError::not_found)?;
    if let Some(name) = echoed {
        v["username"] = Value::String(name);
    }
    Ok(v)
}

/// Reads the `profile` object of a user body into new profile values.
/// `partial`: keep what is not given; otherwise reset permissions to full/none/none and
/// schema fields to null (§7.2).
async fn read_profile(
    app: &AppState,
    ctx: &Ctx,
    raw: &Value,
    current: Option<&ObjectRow>,
    partial: bool,
) -> Result<(ObjectValues, bool), FieldErrors> {
    let mut errors = FieldErrors::new();
    let Value::Object(body) = raw else {
        errors.add(
            "non_field_errors",
            "Invalid data. Expected a dictionary, but got ".to_string()
                + crate::req::json_type_name(raw)
                + ".",
        );
        return Err(errors);
    };
    let mut f = Fields::new(body, true);
    let choices = ObjectPerm::NAMES;
    let owner_perm = f
        .choice("owner_permissions", choices, false)
        .and_then(|s| ObjectPerm::parse(&s));
    let group_perm = f
        .choice("group_permissions", choices, false)
        .and_then(|s| ObjectPerm::parse(&s));
    let other_perm = f
        .choice("other_permissions", choices, false)
        .and_then(|s| ObjectPerm::parse(&s));
    let group = f.pk("group", true, false);
    let mut errors = f.errors;
    if let Some(Some(gid)) = group {
        match app.store.group(ctx.instance.id, gid).await {
            Ok(Some(_)) => {}
            Ok(None) => errors.add("group", msg::invalid_pk(&gid.to_string())),
            Err(e) => errors.add("non_field_errors", e.to_string()),
        }
    }
    let current_data = current.map(|c| c.data.as_str()).unwrap_or("{}");
    let class = match profile_class(app, ctx).await {
        Ok(c) => c,
        Err(e) => {
            errors.add("non_field_errors", format!("{e:?}"));
            return Err(errors);
        }
    };
    let data = match super::objects::profile_fields(
        app,
        ctx.instance.id,
        &class,
        current_data,
        body,
        !partial,
        current.is_none(),
    )
    .await
    {
        Ok(d) => Some(d),
        Err(super::objects::ProfileError::Fields(Value::Object(field_errors))) => {
            for (k, v) in field_errors {
                errors.set(&k, v);
            }
            None
        }
        Err(super::objects::ProfileError::Fields(other)) => {
            errors.set("non_field_errors", other);
            None
        }
        Err(super::objects::ProfileError::Failed(e)) => {
            tracing::error!(error = ?e, "profile validation failed");
            errors.add("non_field_errors", "Internal server error.");
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let (data, bump) = data.unwrap_or_else(|| (current_data.to_string(), false));
    let keep = |cur: Option<i64>, default: ObjectPerm| {
        if partial {
            cur.unwrap_or(default.as_i64())
        } else {
            default.as_i64()
        }
    };
    let values = ObjectValues {
        owner: current.and_then(|c| c.owner),
        owner_permissions: owner_perm
            .map(ObjectPerm::as_i64)
            .unwrap_or_else(|| keep(current.map(|c| c.owner_permissions), ObjectPerm::Full)),
        group_id: match group {
            Some(g) => g,
            None => current.and_then(|c| c.group_id),
        },
        group_permissions: group_perm
            .map(ObjectPerm::as_i64)
            .unwrap_or_else(|| keep(current.map(|c| c.group_permissions), ObjectPerm::None)),
        other_permissions: other_perm
            .map(ObjectPerm::as_i64)
            .unwrap_or_else(|| keep(current.map(|c| c.other_permissions), ObjectPerm::None)),
        channel: current.and_then(|c| c.channel.clone()),
        channel_room: current.and_then(|c| c.channel_room.clone()),
        data,
    };
    Ok((values, bump))
}

const USERNAME: Char = Char {
    max: 64,
    allow_blank: false,
    allow_null: false,
    trim: true,
};
const PASSWORD: Char = Char {
    max: 128,
    allow_blank: false,
    allow_null: false,
    trim: false,
};

async fn list_users(
    State(app): State<AppState>,
    Path(instance): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    let access = user_access(&ctx, Op::Read)?;
    ctx.throttle(&app)?;
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
    let schema = super::objects::class_schema(&app, &class);
    Ok(list_response(
        &req,
        &page,
        rows.iter().collect(),
        |(user, _, _)| user.id,
        |(user, profile, groups)| user_view(&base, &class, &schema, user, profile.as_ref(), groups),
    ))
}

async fn create_user(
    State(app): State<AppState>,
    Path(instance): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    user_access(&ctx, Op::Create)?;
    ctx.throttle(&app)?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let username = f.string("username", USERNAME, true);
    let password = f.string("password", PASSWORD, true);
    let mut errors = f.errors;
    let profile = match body.get("profile") {
        None | Some(Value::Null) => None,
        Some(raw) => match read_profile(&app, &ctx, raw, None, false).await {
            Ok(p) => Some(p.0),
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
            .is_some()
    {
        errors.add("username", msg::UNIQUE);
    }
    errors.clone().into_result().map_err(ApiError::fields)?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
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

async fn get_user(
    State(app): State<AppState>,
    Path((instance, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    let access = user_access(&ctx, Op::Read)?;
    ctx.throttle(&app)?;
    let user = visible_user(&app, &ctx, access, &id).await?;
    Ok(ok(render_one(&app, &ctx, user, None).await?))
}

/// Applies a PUT/PATCH body to a user (shared by `/users/{id}/` and `/user/`).
async fn apply_user_update(app: &AppState, ctx: &Ctx, req: &Req, user: User) -> ApiResult<Value> {
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let username = f.string("username", USERNAME, true);
    let password = f.string("password", PASSWORD, true);
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

async fn update_user(
    State(app): State<AppState>,
    Path((instance, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    let access = user_access(&ctx, Op::Update)?;
    ctx.throttle(&app)?;
    let user = visible_user(&app, &ctx, access, &id).await?;
    Ok(ok(apply_user_update(&app, &ctx, &req, user).await?))
}

async fn delete_user(
    State(app): State<AppState>,
    Path((instance, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    user_access(&ctx, Op::Delete)?;
    ctx.throttle(&app)?;
    let user = visible_user(&app, &ctx, Access::All, &id).await?;
    let class = profile_class(&app, &ctx).await?;
    app.store
        .delete_user(ctx.instance.id, class.id, user.id)
        .await?;
    Ok(no_content())
}

async fn reset_user_key(
    State(app): State<AppState>,
    Path((instance, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    let access = user_access(&ctx, Op::Update)?;
    ctx.throttle(&app)?;
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

async fn login_user(
    State(app): State<AppState>,
    Path(instance): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    match &ctx.who {
        Who::ApiKey { .. } => {}
        Who::Admin { .. } => ctx.require_admin(AdminTable::Data, Op::Read)?,
        Who::Anonymous => return Err(ApiError::forbidden()),
    }
    ctx.throttle(&app)?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let username = f.string("username", USERNAME, true);
    let password = f.string("password", PASSWORD, true);
    f.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::Internal("validated fields missing".into()));
    };
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

async fn get_me(
    State(app): State<AppState>,
    Path(instance): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    let user = calling_user(&ctx)?;
    ctx.throttle(&app)?;
    Ok(ok(render_one(&app, &ctx, user, None).await?))
}

async fn update_me(
    State(app): State<AppState>,
    Path(instance): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    let user = calling_user(&ctx)?;
    ctx.throttle(&app)?;
    Ok(ok(apply_user_update(&app, &ctx, &req, user).await?))
}

/// Resolves instance, then the `{id}` user (404 `User was not found.`), then the caller.
async fn user_parent(
    app: &AppState,
    req: &Req,
    instance: &str,
    raw_id: &str,
) -> ApiResult<(Ctx, User)> {
    let instance = resolve_instance(app, instance).await?;
    let id = rivia_core::page::parse_pk(raw_id).ok_or_else(|| ApiError::model_not_found("User"))?;
    let user = app
        .store
        .user(instance.id, id)
        .await?
        .ok_or_else(|| ApiError::model_not_found("User"))?;
    Ok((caller_in(app, req, instance).await?, user))
}

/// Membership permissions: admins by role; API keys read-only, and only for their own user.
fn membership_access(ctx: &Ctx, op: Op, user_id: i64) -> ApiResult<()> {
    match &ctx.who {
        Who::Admin { .. } => ctx.require_admin(AdminTable::Data, op),
        Who::ApiKey { user: Some(u), .. } if op == Op::Read && u.id == user_id => Ok(()),
        _ => Err(ApiError::forbidden()),
    }
}

fn user_membership_json(base: &str, uid: i64, g: &Group) -> Value {
    json!({"group": group_json(base, g), "links": {"self": format!("{base}/users/{uid}/groups/{}/", g.id)}})
}

async fn list_user_groups(
    State(app): State<AppState>,
    Path((instance, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, user) = user_parent(&app, &req, &instance, &id).await?;
    membership_access(&ctx, Op::Read, user.id)?;
    ctx.throttle(&app)?;
    let page = req.page(false)?;
    let groups = app
        .store
        .list_user_groups(ctx.instance.id, user.id, &page.keyset())
        .await?;
    let base = ctx.base();
    Ok(list_response(
        &req,
        &page,
        groups,
        |g| g.id,
        |g| user_membership_json(&base, user.id, &g),
    ))
}

async fn add_user_group(
    State(app): State<AppState>,
    Path((instance, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, user) = user_parent(&app, &req, &instance, &id).await?;
    membership_access(&ctx, Op::Create, user.id)?;
    ctx.throttle(&app)?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let gid = f.pk("group", false, true).flatten();
    f.finish()?;
    let gid = gid.ok_or_else(|| ApiError::Internal("validated fields missing".into()))?;
    let group = app
        .store
        .group(ctx.instance.id, gid)
        .await?
        .ok_or_else(|| ApiError::field("group", msg::invalid_pk(&gid.to_string())))?;
    add_membership(&app, &ctx, user.id, group.id).await?;
    Ok(created(user_membership_json(&ctx.base(), user.id, &group)))
}

/// Adds a membership, mapping the domain outcomes to Syncano's errors.
pub async fn add_membership(
    app: &AppState,
    ctx: &Ctx,
    user_id: i64,
    group_id: i64,
) -> ApiResult<()> {
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

async fn get_user_group(
    State(app): State<AppState>,
    Path((instance, id, gid)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, user) = user_parent(&app, &req, &instance, &id).await?;
    membership_access(&ctx, Op::Read, user.id)?;
    ctx.throttle(&app)?;
    let group = membership_group(&app, &ctx, &user, &gid).await?;
    Ok(ok(user_membership_json(&ctx.base(), user.id, &group)))
}

async fn remove_user_group(
    State(app): State<AppState>,
    Path((instance, id, gid)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, user) = user_parent(&app, &req, &instance, &id).await?;
    membership_access(&ctx, Op::Delete, user.id)?;
    ctx.throttle(&app)?;
    let group = membership_group(&app, &ctx, &user, &gid).await?;
    app.store
        .remove_membership(ctx.instance.id, user.id, group.id)
        .await?;
    Ok(no_content())
}
