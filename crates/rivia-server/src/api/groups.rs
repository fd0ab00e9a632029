//! Groups (spec-core §7.5). Their `/groups/{id}/users/` memberships are in
//! `super::memberships`.

use super::link::{Links, url};
use super::{Api, list_response, path_id};
use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_core::names::{SlugFamily, validate_slug};
use rivia_core::perms::{AdminTable, Op};
use rivia_store::users::{Group, GroupValues};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
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
}

/// GroupJSON.
pub(crate) fn group_json(base: &str, g: &Group) -> Value {
    serde_json::to_value(GroupView { base, group: g }).unwrap_or(Value::Null)
}

/// GroupJSON, serialised straight from the row (user lists nest many).
pub(crate) struct GroupView<'a> {
    /// The instance prefix `/v1.1/instances/<name>`.
    pub(crate) base: &'a str,
    /// The group.
    pub(crate) group: &'a Group,
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

async fn read_group(
    app: &AppState,
    ctx: &Ctx,
    req: &Req,
    current: Option<&Group>,
) -> ApiResult<GroupValues> {
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
    // DRF's unique validator runs with the other fields' validation, so a taken name is
    // reported together with their errors (alone, the write's conflict reports it).
    if let Some(Some(n)) = &name
        && !f.errors.is_empty()
        && app
            .store
            .group_name_taken(ctx.instance.id, n, current.map(|g| g.id))
            .await?
    {
        f.errors.add("name", msg::UNIQUE);
    }
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

async fn list_groups(call: Call<()>) -> ApiResult<Response> {
    let (ctx, _) = call.check(async |ctx| group_access(ctx, Op::Read)).await?;
    let Call { app, req, .. } = call;
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
    Ok(list_response(&req, &page, groups, |g| {
        (g.id, group_json(&base, &g))
    }))
}

async fn create_group(call: Call<()>) -> ApiResult<Response> {
    let (ctx, _) = call
        .check(async |ctx| group_access(ctx, Op::Create))
        .await?;
    let Call { app, req, .. } = call;
    let values = read_group(&app, &ctx, &req, None).await?;
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

async fn get_group(call: Call<String>) -> ApiResult<Response> {
    let (ctx, _) = call.check(async |ctx| group_access(ctx, Op::Read)).await?;
    let Call { app, path: id, .. } = call;
    Ok(ok(group_json(&ctx.base(), &load(&app, &ctx, &id).await?)))
}

async fn update_group(call: Call<String>) -> ApiResult<Response> {
    let (ctx, _) = call
        .check(async |ctx| group_access(ctx, Op::Update))
        .await?;
    let Call {
        app, req, path: id, ..
    } = call;
    let group = load(&app, &ctx, &id).await?;
    let values = read_group(&app, &ctx, &req, Some(&group)).await?;
    let saved = app
        .store
        .update_group(ctx.instance.id, group.id, &values)
        .await
        .map_err(name_taken)?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(group_json(&ctx.base(), &saved)))
}

async fn delete_group(call: Call<String>) -> ApiResult<Response> {
    let (ctx, _) = call
        .check(async |ctx| group_access(ctx, Op::Delete))
        .await?;
    let Call { app, path: id, .. } = call;
    let group = load(&app, &ctx, &id).await?;
    app.store.delete_group(ctx.instance.id, group.id).await?;
    Ok(no_content())
}
