//! Groups (spec-core §7.5) and the `/groups/{id}/users/` memberships (§7.6).

use super::link::{Links, url};
use super::users::{add_membership, render_users};
use super::{Api, list_response, path_id};
use crate::auth::{Ctx, Who, caller_in, instance_ctx, resolve_instance};
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_core::names::{SlugFamily, validate_slug};
use rivia_core::perms::{AdminTable, Op};
use rivia_store::users::{Group, GroupValues};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Value, json};

/// Registers the routes.
pub fn routes(api: Api) -> Api {
    api.get(
        "/v1.1/instances/{instance}/groups/",
        "List groups",
        list_groups,
    )
    .post(
        "/v1.1/instances/{instance}/groups/",
        "Create a group",
        create_group,
    )
    .get(
        "/v1.1/instances/{instance}/groups/{id}/",
        "Get a group",
        get_group,
    )
    .put(
        "/v1.1/instances/{instance}/groups/{id}/",
        "Update a group",
        update_group,
    )
    .patch(
        "/v1.1/instances/{instance}/groups/{id}/",
        "Partially update a group",
        update_group,
    )
    .delete(
        "/v1.1/instances/{instance}/groups/{id}/",
        "Delete a group",
        delete_group,
    )
    .get(
        "/v1.1/instances/{instance}/groups/{id}/users/",
        "List a group's members",
        list_group_users,
    )
    .post(
        "/v1.1/instances/{instance}/groups/{id}/users/",
        "Add a member",
        add_group_user,
    )
    .get(
        "/v1.1/instances/{instance}/groups/{id}/users/{user}/",
        "Get a membership",
        get_group_user,
    )
    .delete(
        "/v1.1/instances/{instance}/groups/{id}/users/{user}/",
        "Remove a member",
        remove_group_user,
    )
}

/// GroupJSON.
pub fn group_json(base: &str, g: &Group) -> Value {
    serde_json::to_value(GroupView { base, group: g }).unwrap_or(Value::Null)
}

/// GroupJSON, serialised straight from the row (user lists nest many).
pub struct GroupView<'a> {
    /// The instance prefix `/v1.1/instances/<name>`.
    pub base: &'a str,
    /// The group.
    pub group: &'a Group,
}

impl Serialize for GroupView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (base, g) = (self.base, self.group);
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("id", &g.id)?;
        m.serialize_entry("name", &g.name)?;
        m.serialize_entry("label", &g.label)?;
        m.serialize_entry("description", &g.description)?;
        m.serialize_entry(
            "links",
            &Links([
                ("self", url!(base, "/groups/", g.id, "/")),
                ("users", url!(base, "/groups/", g.id, "/users/")),
            ]),
        )?;
        m.end()
    }
}

/// §7.5: admins by role; any API key reads; `allow_group_create` keys create.
fn group_access(ctx: &Ctx, op: Op) -> ApiResult<()> {
    match &ctx.who {
        Who::Admin { .. } => ctx.require_admin(AdminTable::Data, op),
        Who::ApiKey { .. } if op == Op::Read => Ok(()),
        Who::ApiKey { key, .. } if op == Op::Create && key.flags.allow_group_create => Ok(()),
        _ => Err(ApiError::forbidden()),
    }
}

fn read_group(req: &Req, current: Option<&Group>) -> ApiResult<GroupValues> {
    let body = req.body_object()?;
    let mut f = Fields::new(&body, req.is_partial());
    let name = match f.char(
        "name",
        Char {
            max: 1000,
            allow_blank: true,
            allow_null: true,
            trim: true,
        },
        false,
    ) {
        Some(Some(raw)) if !raw.is_empty() => match validate_slug(&raw, SlugFamily::Generic) {
            Ok(n) => Some(Some(n)),
            Err(errs) => {
                errs.into_iter().for_each(|e| f.errors.add("name", e));
                None
            }
        },
        Some(_) => Some(None),
        None => None,
    };
    let label = f.string("label", Char::text(64), false);
    let description = f.string("description", Char::text(256), false);
    f.finish()?;
    Ok(GroupValues {
        name: name.unwrap_or_else(|| current.and_then(|g| g.name.clone())),
        label: label.unwrap_or_else(|| current.map(|g| g.label.clone()).unwrap_or_default()),
        description: description
            .unwrap_or_else(|| current.map(|g| g.description.clone()).unwrap_or_default()),
    })
}

fn name_taken(e: rivia_store::StoreError) -> ApiError {
    match e {
        rivia_store::StoreError::Conflict(_) => ApiError::field("name", msg::UNIQUE),
        other => other.into(),
    }
}

async fn list_groups(
    State(app): State<AppState>,
    Path(instance): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    group_access(&ctx, Op::Read)?;
    ctx.throttle(&app)?;
    let page = req.page(false)?;
    let groups = app
        .store
        .list_groups(
            ctx.instance.id,
            req.param("label__startswith"),
            &page.keyset(),
        )
        .await?;
    let base = ctx.base();
    Ok(list_response(
        &req,
        &page,
        groups,
        |g| g.id,
        |g| group_json(&base, &g),
    ))
}

async fn create_group(
    State(app): State<AppState>,
    Path(instance): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    group_access(&ctx, Op::Create)?;
    ctx.throttle(&app)?;
    let values = read_group(&req, None)?;
    let group = app
        .store
        .create_group(ctx.instance.id, &values)
        .await
        .map_err(name_taken)?;
    Ok(created(group_json(&ctx.base(), &group)))
}

async fn load(app: &AppState, ctx: &Ctx, raw: &str) -> ApiResult<Group> {
    app.store
        .group(ctx.instance.id, path_id(raw)?)
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_group(
    State(app): State<AppState>,
    Path((instance, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    group_access(&ctx, Op::Read)?;
    ctx.throttle(&app)?;
    Ok(ok(group_json(&ctx.base(), &load(&app, &ctx, &id).await?)))
}

async fn update_group(
    State(app): State<AppState>,
    Path((instance, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    group_access(&ctx, Op::Update)?;
    ctx.throttle(&app)?;
    let group = load(&app, &ctx, &id).await?;
    let values = read_group(&req, Some(&group))?;
    let saved = app
        .store
        .update_group(ctx.instance.id, group.id, &values)
        .await
        .map_err(name_taken)?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(group_json(&ctx.base(), &saved)))
}

async fn delete_group(
    State(app): State<AppState>,
    Path((instance, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    group_access(&ctx, Op::Delete)?;
    ctx.throttle(&app)?;
    let group = load(&app, &ctx, &id).await?;
    app.store.delete_group(ctx.instance.id, group.id).await?;
    Ok(no_content())
}

/// Resolves instance, then the `{id}` group (404 `Group was not found.`), then the caller.
async fn group_parent(
    app: &AppState,
    req: &Req,
    instance: &str,
    raw_id: &str,
) -> ApiResult<(Ctx, Group)> {
    let instance = resolve_instance(app, instance).await?;
    let id =
        rivia_core::page::parse_pk(raw_id).ok_or_else(|| ApiError::model_not_found("Group"))?;
    let group = app
        .store
        .group(instance.id, id)
        .await?
        .ok_or_else(|| ApiError::model_not_found("Group"))?;
    Ok((caller_in(app, req, instance).await?, group))
}

/// Admins by role; an API key needs a user key and sees only that user's membership.
fn member_scope(ctx: &Ctx, op: Op) -> ApiResult<Option<i64>> {
    match &ctx.who {
        Who::Admin { .. } => ctx.require_admin(AdminTable::Data, op).map(|_| None),
        Who::ApiKey { user: Some(u), .. } if op == Op::Read => Ok(Some(u.id)),
        _ => Err(ApiError::forbidden()),
    }
}

fn group_membership_json(base: &str, gid: i64, uid: i64, user: Value) -> Value {
    json!({"user": user, "links": {"self": format!("{base}/groups/{gid}/users/{uid}/")}})
}

async fn list_group_users(
    State(app): State<AppState>,
    Path((instance, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, group) = group_parent(&app, &req, &instance, &id).await?;
    let only = member_scope(&ctx, Op::Read)?;
    ctx.throttle(&app)?;
    let page = req.page(false)?;
    let users = app
        .store
        .list_group_users(ctx.instance.id, group.id, only, &page.keyset())
        .await?;
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let rendered = render_users(&app, &ctx, users).await?;
    let base = ctx.base();
    let pairs: Vec<(i64, Value)> = ids.into_iter().zip(rendered).collect();
    Ok(list_response(
        &req,
        &page,
        pairs,
        |(uid, _)| *uid,
        |(uid, v)| group_membership_json(&base, group.id, uid, v),
    ))
}

async fn add_group_user(
    State(app): State<AppState>,
    Path((instance, id)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, group) = group_parent(&app, &req, &instance, &id).await?;
    member_scope(&ctx, Op::Create)?;
    ctx.throttle(&app)?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let uid = f.pk("user", false, true).flatten();
    f.finish()?;
    let uid = uid.ok_or_else(|| ApiError::Internal("validated fields missing".into()))?;
    let user = app
        .store
        .user(ctx.instance.id, uid)
        .await?
        .ok_or_else(|| ApiError::field("user", msg::invalid_pk(&uid.to_string())))?;
    add_membership(&app, &ctx, user.id, group.id).await?;
    let rendered = render_users(&app, &ctx, vec![user])
        .await?
        .pop()
        .unwrap_or(Value::Null);
    Ok(created(group_membership_json(
        &ctx.base(),
        group.id,
        uid,
        rendered,
    )))
}

async fn member(
    app: &AppState,
    ctx: &Ctx,
    group: &Group,
    raw_uid: &str,
    only: Option<i64>,
) -> ApiResult<rivia_store::users::User> {
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

async fn get_group_user(
    State(app): State<AppState>,
    Path((instance, id, uid)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, group) = group_parent(&app, &req, &instance, &id).await?;
    let only = member_scope(&ctx, Op::Read)?;
    ctx.throttle(&app)?;
    let user = member(&app, &ctx, &group, &uid, only).await?;
    let uid = user.id;
    let rendered = render_users(&app, &ctx, vec![user])
        .await?
        .pop()
        .unwrap_or(Value::Null);
    Ok(ok(group_membership_json(
        &ctx.base(),
        group.id,
        uid,
        rendered,
    )))
}

async fn remove_group_user(
    State(app): State<AppState>,
    Path((instance, id, uid)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, group) = group_parent(&app, &req, &instance, &id).await?;
    member_scope(&ctx, Op::Delete)?;
    ctx.throttle(&app)?;
    let user = member(&app, &ctx, &group, &uid, None).await?;
    app.store
        .remove_membership(ctx.instance.id, user.id, group.id)
        .await?;
    Ok(no_content())
}
