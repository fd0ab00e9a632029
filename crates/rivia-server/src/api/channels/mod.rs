//! Realtime channels (spec-core §10): CRUD here, the channel fields of a body in [`input`],
//! permissions in [`perms`], `publish/` in [`publish`], `history/` in [`history`], and
//! `poll/` as a long poll or a WebSocket stream in [`poll`].

mod history;
mod input;
mod perms;
mod poll;
mod publish;

pub(crate) use perms::check_object_change_publish;
pub(crate) use publish::author_json;

use self::input::{read_channel_update, read_new_channel};
use self::perms::{Action, check_object, check_view};
use super::{Api, list_response, stored_json, ts};
use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::json::{created, no_content, ok};
use crate::state::AppState;
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_core::perms::ChannelPerm;
use rivia_store::StoreError;
use rivia_store::channels::{Change, Channel, ChannelVisibility, TYPE_SEPARATE_ROOMS};
use serde_json::{Map, Value, json};

const ROOM_REQUIRED: &str = "This field is required for channels with separate rooms.";
/// Longest room accepted by publish and poll.
const MAX_ROOM: usize = 128;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    let list = "/v1.1/instances/{instance}/channels/";
    let item = "/v1.1/instances/{instance}/channels/{name}/";
    api.get(list, "List channels", list_channels)
        .post(list, "Create a channel", create_channel)
        .get(item, "Get a channel", get_channel)
        .put(item, "Update a channel", update_channel)
        .patch(item, "Partially update a channel", update_channel)
        .delete(item, "Delete a channel", delete_channel)
        .post(
            "/v1.1/instances/{instance}/channels/{name}/publish/",
            "Publish a message",
            publish::publish,
        )
        .get(
            "/v1.1/instances/{instance}/channels/{name}/poll/",
            "Wait for the next change (long poll or WebSocket)",
            poll::poll,
        )
        .get(
            "/v1.1/instances/{instance}/channels/{name}/history/",
            "List a channel's changes",
            history::list_history,
        )
        .get(
            "/v1.1/instances/{instance}/channels/{name}/history/{id}/",
            "Get one change",
            history::get_history,
        )
}

// ---------------------------------------------------------------------------------------
// Lookups and representations

/// A channel by its URL name; `Not found.` when missing.
async fn load(app: &AppState, ctx: &Ctx, name: &str) -> ApiResult<Channel> {
    app.store
        .channel_by_name(ctx.instance.id, &name.to_lowercase())
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The preamble of an item route doing `action`: the caller, checked for the view, then the
/// `{name}` channel, checked for the object.
async fn open_item<P>(call: &Call<P>, name: &str, action: Action) -> ApiResult<(Ctx, Channel)> {
    let (ctx, ()) = call
        .caller()
        .check(async |ctx| check_view(ctx, action))
        .await?;
    let channel = load(&call.app, &ctx, name).await?;
    check_object(&call.app, &ctx, &channel, action).await?;
    Ok((ctx, channel))
}

fn type_name(kind: i64) -> &'static str {
    if kind == TYPE_SEPARATE_ROOMS {
        "separate_rooms"
    } else {
        "default"
    }
}

fn channel_json(base: &str, c: &Channel) -> Value {
    let own = format!("{base}/channels/{}", c.name);
    let mut links = Map::new();
    links.insert("self".into(), json!(format!("{own}/")));
    if let Some(g) = c.group_id {
        links.insert("group".into(), json!(format!("{base}/groups/{g}/")));
    }
    links.insert("poll".into(), json!(format!("{own}/poll/")));
    links.insert("publish".into(), json!(format!("{own}/publish/")));
    links.insert("history".into(), json!(format!("{own}/history/")));
    json!({
        "name": c.name,
        "description": c.description,
        "type": type_name(c.kind),
        "group": c.group_id,
        "group_permissions": ChannelPerm::from_i64(c.group_permissions).name(),
        "other_permissions": ChannelPerm::from_i64(c.other_permissions).name(),
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "custom_publish": c.custom_publish,
        "links": links,
    })
}

/// ChangeJSON with its `self` link (history and publish responses).
fn change_json(base: &str, channel: &str, c: &Change) -> Value {
    json!({
        "id": c.id,
        "created_at": ts(c.created_at),
        "action": c.action,
        "author": stored_json(&c.author),
        "metadata": stored_json(&c.metadata),
        "payload": stored_json(&c.payload),
        "links": {"self": format!("{base}/channels/{channel}/history/{}/", c.id)},
    })
}

// ---------------------------------------------------------------------------------------
// CRUD

async fn list_channels(call: Call<()>) -> ApiResult<Response> {
    let (ctx, _) = call
        .check(async |ctx| check_view(ctx, Action::List))
        .await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let visibility = match &ctx.who {
        Who::ApiKey { key, .. } if key.flags.ignore_acl => ChannelVisibility::All,
        Who::ApiKey { user: Some(u), .. } => ChannelVisibility::User(u.id),
        Who::ApiKey { .. } => ChannelVisibility::OthersSubscribe,
        _ => ChannelVisibility::All,
    };
    let list = app
        .store
        .list_channels(
            ctx.instance.id,
            visibility,
            req.param("name__startswith"),
            &page.keyset(),
        )
        .await?;
    let base = ctx.base();
    Ok(list_response(&req, &page, list, |c| {
        (c.id, channel_json(&base, &c))
    }))
}

async fn create_channel(call: Call<()>) -> ApiResult<Response> {
    let (ctx, _) = call
        .check(async |ctx| check_view(ctx, Action::Create))
        .await?;
    let Call { app, req, .. } = call;
    let input = read_new_channel(&app, &ctx, &req).await?;
    match app
        .store
        .create_channel(ctx.instance.id, &input.name, input.kind, &input.values)
        .await
    {
        Ok(c) => Ok(created(channel_json(&ctx.base(), &c))),
        // Lost a race with a concurrent create of the same name.
        Err(StoreError::Conflict(_)) => Err(ApiError::field("name", msg::UNIQUE)),
        Err(e) => Err(e.into()),
    }
}

async fn get_channel(call: Call<String>) -> ApiResult<Response> {
    let (ctx, channel) = open_item(&call, &call.path, Action::Retrieve).await?;
    Ok(ok(channel_json(&ctx.base(), &channel)))
}

async fn update_channel(call: Call<String>) -> ApiResult<Response> {
    let (ctx, channel) = open_item(&call, &call.path, Action::Update).await?;
    let Call { app, req, .. } = call;
    let values = read_channel_update(&app, &ctx, &req, &channel).await?;
    let saved = app
        .store
        .update_channel(ctx.instance.id, channel.id, &values)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(channel_json(&ctx.base(), &saved)))
}

async fn delete_channel(call: Call<String>) -> ApiResult<Response> {
    let (ctx, channel) = open_item(&call, &call.path, Action::Delete).await?;
    let Call { app, .. } = call;
    app.store
        .delete_channel(ctx.instance.id, channel.id)
        .await?;
    Ok(no_content())
}
