//! Realtime channels (spec-core §10): CRUD, `publish/`, `history/`, and `poll/` as a long
//! poll or a WebSocket stream. Waiting is parked on the store's change bus with a deadline:
//! a held poll is one idle task, never a thread or a loop.

use super::{Api, list_response, path_id, stored_json, ts};
use crate::auth::{Ctx, Who, caller_in, instance_ctx, resolve_instance};
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok, raw_json_response};
use crate::req::Req;
use crate::state::AppState;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rivia_core::errors::msg;
use rivia_core::names::{SlugFamily, validate_slug};
use rivia_core::perms::{AdminTable, ChannelPerm, Op};
use rivia_store::StoreError;
use rivia_store::bus::{BusEvent, Subscription};
use rivia_store::channels::{
    Change, Channel, ChannelValues, ChannelVisibility, DEFAULT_CHANNEL, EVENTLOG_CHANNEL,
    NewChange, TYPE_DEFAULT, TYPE_SEPARATE_ROOMS,
};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tokio::time::Instant;

const ROOM_REQUIRED: &str = "This field is required for channels with separate rooms.";
const LAST_ID_TOO_HIGH: &str = "Value is higher than the most current change id.";
/// Longest room accepted by publish and poll.
const MAX_ROOM: usize = 128;
/// Changes sent per table read when a WebSocket catches up.
const WS_BATCH: i64 = 100;

/// Registers the routes.
pub fn routes(api: Api) -> Api {
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
            publish,
        )
        .get(
            "/v1.1/instances/{instance}/channels/{name}/poll/",
            "Wait for the next change (long poll or WebSocket)",
            poll,
        )
        .get(
            "/v1.1/instances/{instance}/channels/{name}/history/",
            "List a channel's changes",
            list_history,
        )
        .get(
            "/v1.1/instances/{instance}/channels/{name}/history/{id}/",
            "Get one change",
            get_history,
        )
}

// ---------------------------------------------------------------------------------------
// Permissions (apps/channels/v1/views.py permission_classes, apps/channels/permissions.py)

/// What a request does to channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    List,
    Create,
    Retrieve,
    Update,
    Delete,
    Publish,
    Poll,
    History,
}

impl Action {
    fn op(self) -> Op {
        match self {
            Action::List | Action::Retrieve | Action::Poll | Action::History => Op::Read,
            Action::Create => Op::Create,
            Action::Update | Action::Publish => Op::Update,
            Action::Delete => Op::Delete,
        }
    }
    /// GET requests, which anonymous-read keys may make.
    fn safe(self) -> bool {
        self.op() == Op::Read
    }
}

/// The view-level check, before the channel is looked up. A user key passes here for every
/// action: Syncano's subscribe/publish checks are object-level only, which is why any
/// user may create channels (QUIRK, spec-core §10.2).
fn check_view(ctx: &Ctx, action: Action) -> ApiResult<()> {
    match &ctx.who {
        Who::Admin { .. } => ctx.require_admin(AdminTable::Data, action.op()),
        Who::ApiKey { key, user } => {
            let flags = key.flags;
            if flags.ignore_acl || (action.safe() && flags.allow_anonymous_read) || user.is_some() {
                Ok(())
            } else {
                Err(ApiError::forbidden())
            }
        }
        Who::Anonymous => Err(ApiError::forbidden()),
    }
}

/// Whether `user_id` holds `needed` on the channel (others, or a member of its group).
async fn user_holds(
    app: &AppState,
    channel: &Channel,
    user_id: i64,
    needed: ChannelPerm,
) -> ApiResult<bool> {
    if ChannelPerm::from_i64(channel.other_permissions) >= needed {
        return Ok(true);
    }
    match channel.group_id {
        Some(group) if ChannelPerm::from_i64(channel.group_permissions) >= needed => Ok(app
            .store
            .is_member(channel.instance_id, user_id, group)
            .await?),
        _ => Ok(false),
    }
}

/// The object-level check on a looked-up channel, then the builtin-channel protections.
async fn check_object(
    app: &AppState,
    ctx: &Ctx,
    channel: &Channel,
    action: Action,
) -> ApiResult<()> {
    let allowed = match &ctx.who {
        Who::Admin { .. } => true,
        Who::ApiKey { key, user } => {
            if key.flags.ignore_acl || (action.safe() && key.flags.allow_anonymous_read) {
                true
            } else if let Some(user) = user {
                let needed = if action == Action::Publish {
                    ChannelPerm::Publish
                } else {
                    ChannelPerm::Subscribe
                };
                user_holds(app, channel, user.id, needed).await?
            } else {
                false
            }
        }
        Who::Anonymous => false,
    };
    if !allowed {
        return Err(ApiError::forbidden());
    }
    match action {
        Action::Delete if channel.name == DEFAULT_CHANNEL || channel.name == EVENTLOG_CHANNEL => {
            Err(ApiError::forbidden())
        }
        Action::Publish if !channel.custom_publish => Err(ApiError::Detail(
            StatusCode::FORBIDDEN,
            "Custom publish not allowed on this channel.".into(),
        )),
        Action::Publish if channel.name == EVENTLOG_CHANNEL => Err(ApiError::forbidden()),
        _ => Ok(()),
    }
}

/// The §10.6 check for data-object writes attached to `channel`: a caller that used a user
/// key without `ignore_acl` needs publish permission (custom_publish is not required),
/// else the whole write fails with 403.
pub async fn check_object_change_publish(
    app: &AppState,
    ctx: &Ctx,
    channel: &Channel,
) -> ApiResult<()> {
    let denied = match &ctx.who {
        Who::ApiKey {
            key,
            user: Some(user),
        } if !key.flags.ignore_acl => {
            !user_holds(app, channel, user.id, ChannelPerm::Publish).await?
        }
        _ => false,
    };
    if denied {
        Err(ApiError::Detail(
            StatusCode::FORBIDDEN,
            "You do not have permission to publish data to specified channel.".into(),
        ))
    } else {
        Ok(())
    }
}

/// Channel polls count against the instance's poll rate instead of its request rate.
fn throttle_poll(app: &AppState, ctx: &Ctx) -> ApiResult<()> {
    if ctx.admin().is_some_and(|a| a.is_staff) {
        return Ok(());
    }
    if app
        .throttle
        .allow(&format!("poll:{}", ctx.instance.id), app.settings.poll_rate)
    {
        Ok(())
    } else {
        Err(ApiError::Throttled)
    }
}

/// A channel by its URL name; `Not found.` when missing.
async fn load(app: &AppState, ctx: &Ctx, name: &str) -> ApiResult<Channel> {
    app.store
        .channel_by_name(ctx.instance.id, &name.to_lowercase())
        .await?
        .ok_or_else(ApiError::not_found)
}

/// [`load`] through the cache, for polls: a channel changed on another node is seen
/// within the cache's TTL (its deletion at once, through the notification).
async fn load_cached(app: &AppState, ctx: &Ctx, name: &str) -> ApiResult<Channel> {
    let key = (ctx.instance.id, name.to_lowercase());
    let generation = app.store.auth_generation();
    if let Some(c) = app.cache.channels.get(&key, generation) {
        return Ok(c);
    }
    let channel = load(app, ctx, name).await?;
    app.cache.channels.put(key, channel.clone(), generation);
    Ok(channel)
}

// ---------------------------------------------------------------------------------------
// Representations

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

/// A poll answer: the message form of a change and `X-Last-Id`.
fn message_response(c: &Change) -> Response {
    let mut resp = raw_json_response(StatusCode::OK, c.message().as_bytes().to_vec());
    if let Ok(v) = HeaderValue::from_str(&c.id.to_string()) {
        resp.headers_mut().insert("x-last-id", v);
    }
    resp
}

/// `{"admin": id}` or `{"api_key": id[, "user": id]}` (apps/channels/helpers.py): the
/// `author` of a change made by this caller, as JSON text for [`NewChange::author`].
pub fn author_json(ctx: &Ctx) -> String {
    let v = match &ctx.who {
        Who::Admin { admin, .. } => json!({"admin": admin.id}),
        Who::ApiKey { key, user } => match user {
            Some(u) => json!({"api_key": key.id, "user": u.id}),
            None => json!({"api_key": key.id}),
        },
        Who::Anonymous => json!({}),
    };
    v.to_string()
}

// ---------------------------------------------------------------------------------------
// Channel fields

/// A DRF `DisplayedChoiceField`: the display name or the stored integer (as number or
/// text) is accepted.
fn level_field(
    f: &mut Fields,
    name: &str,
    parse: impl Fn(&str) -> Option<i64>,
    max: i64,
) -> Option<i64> {
    let raw = f.raw(name)?;
    let text = match raw {
        Value::Null => {
            f.errors.add(name, msg::NULL);
            return None;
        }
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        other => other.to_string(),
    };
    let value = parse(&text).or_else(|| {
        text.parse::<i64>()
            .ok()
            .filter(|v| (0..=max).contains(v) && !text.starts_with('+'))
    });
    if value.is_none() {
        f.errors.add(name, msg::invalid_choice(&text));
    }
    value
}

fn perm_field(f: &mut Fields, name: &str) -> Option<i64> {
    level_field(
        f,
        name,
        |s| ChannelPerm::parse(s).map(ChannelPerm::as_i64),
        2,
    )
}

fn type_field(f: &mut Fields) -> Option<i64> {
    level_field(
        f,
        "type",
        |s| match s {
            "default" => Some(TYPE_DEFAULT),
            "separate_rooms" => Some(TYPE_SEPARATE_ROOMS),
            _ => None,
        },
        1,
    )
}

/// What a create or update request asks for.
struct ChannelInput {
    name: Option<String>,
    kind: i64,
    values: ChannelValues,
}

/// Reads channel fields. On create `current` is `None`; a full update (PUT) resets
/// `custom_publish` and both permissions to their defaults (spec-core §1.10), keeps the
/// description and group when absent, and ignores `name` and `type`.
async fn read_channel(
    app: &AppState,
    ctx: &Ctx,
    req: &Req,
    current: Option<&Channel>,
) -> ApiResult<ChannelInput> {
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let mut name = None;
    let mut kind = TYPE_DEFAULT;
    if current.is_none() {
        name = match f.string("name", Char::required(1000), true) {
            Some(raw) => match validate_slug(&raw, SlugFamily::Generic) {
                Ok(n) => Some(n),
                Err(errs) => {
                    errs.into_iter().for_each(|e| f.errors.add("name", e));
                    None
                }
            },
            None => None,
        };
        kind = type_field(&mut f).unwrap_or(TYPE_DEFAULT);
    }
    let description = f.string("description", Char::text(256), false);
    let group = f.pk("group", true, false);
    let group_permissions = perm_field(&mut f, "group_permissions");
    let other_permissions = perm_field(&mut f, "other_permissions");
    let custom_publish = f.boolean("custom_publish");
    if let Some(Some(g)) = group
        && app.store.group(ctx.instance.id, g).await?.is_none()
    {
        f.errors.add("group", msg::invalid_pk(&g.to_string()));
    }
    if let Some(n) = &name
        && app
            .store
            .channel_by_name(ctx.instance.id, n)
            .await?
            .is_some()
    {
        f.errors.add("name", msg::UNIQUE);
    }
    f.finish()?;
    // PATCH keeps what is absent; PUT and create fall back to the serializer defaults.
    let keep = current.filter(|_| partial);
    let values = ChannelValues {
        description: description
            .or_else(|| current.map(|c| c.description.clone()))
            .unwrap_or_default(),
        group_id: match group {
            Some(g) => g,
            None => current.and_then(|c| c.group_id),
        },
        group_permissions: group_permissions
            .or_else(|| keep.map(|c| c.group_permissions))
            .unwrap_or(0),
        other_permissions: other_permissions
            .or_else(|| keep.map(|c| c.other_permissions))
            .unwrap_or(0),
        custom_publish: custom_publish
            .or_else(|| keep.map(|c| c.custom_publish))
            .unwrap_or(false),
    };
    Ok(ChannelInput { name, kind, values })
}

// ---------------------------------------------------------------------------------------
// CRUD

async fn list_channels(
    State(app): State<AppState>,
    Path(instance): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    check_view(&ctx, Action::List)?;
    ctx.throttle(&app)?;
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
    Ok(list_response(
        &req,
        &page,
        list,
        |c| c.id,
        |c| channel_json(&base, &c),
    ))
}

async fn create_channel(
    State(app): State<AppState>,
    Path(instance): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    check_view(&ctx, Action::Create)?;
    ctx.throttle(&app)?;
    let input = read_channel(&app, &ctx, &req, None).await?;
    let name = input
        .name
        .ok_or_else(|| ApiError::Internal("validated channel name missing".into()))?;
    match app
        .store
        .create_channel(ctx.instance.id, &name, input.kind, &input.values)
        .await
    {
        Ok(c) => Ok(created(channel_json(&ctx.base(), &c))),
        // Lost a race with a concurrent create of the same name.
        Err(StoreError::Conflict(_)) => Err(ApiError::field("name", msg::UNIQUE)),
        Err(e) => Err(e.into()),
    }
}

async fn get_channel(
    State(app): State<AppState>,
    Path((instance, name)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    check_view(&ctx, Action::Retrieve)?;
    ctx.throttle(&app)?;
    let channel = load(&app, &ctx, &name).await?;
    check_object(&app, &ctx, &channel, Action::Retrieve).await?;
    Ok(ok(channel_json(&ctx.base(), &channel)))
}

async fn update_channel(
    State(app): State<AppState>,
    Path((instance, name)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    check_view(&ctx, Action::Update)?;
    ctx.throttle(&app)?;
    let channel = load(&app, &ctx, &name).await?;
    check_object(&app, &ctx, &channel, Action::Update).await?;
    let input = read_channel(&app, &ctx, &req, Some(&channel)).await?;
    let saved = app
        .store
        .update_channel(ctx.instance.id, channel.id, &input.values)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(channel_json(&ctx.base(), &saved)))
}

async fn delete_channel(
    State(app): State<AppState>,
    Path((instance, name)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    check_view(&ctx, Action::Delete)?;
    ctx.throttle(&app)?;
    let channel = load(&app, &ctx, &name).await?;
    check_object(&app, &ctx, &channel, Action::Delete).await?;
    app.store
        .delete_channel(ctx.instance.id, channel.id)
        .await?;
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------
// Publish

/// The `payload` field: a JSON object or a JSON string of one; absent or `""` is `{}`.
fn read_payload(f: &mut Fields) -> Option<String> {
    let Some(raw) = f.raw("payload") else {
        return Some("{}".into());
    };
    let value = match raw {
        Value::Null => {
            f.errors.add("payload", msg::NULL);
            return None;
        }
        Value::String(s) if s.is_empty() => return Some("{}".into()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            Err(_) => {
                f.errors.add("payload", "Not a valid JSON string.");
                return None;
            }
        },
        other => other.clone(),
    };
    if value.is_object() {
        Some(value.to_string())
    } else {
        f.errors.add("payload", "Payload passed in invalid format.");
        None
    }
}

async fn publish(
    State(app): State<AppState>,
    Path((instance, name)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let ctx = instance_ctx(&app, &req, &instance).await?;
    check_view(&ctx, Action::Publish)?;
    ctx.throttle(&app)?;
    let channel = load(&app, &ctx, &name).await?;
    check_object(&app, &ctx, &channel, Action::Publish).await?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let payload = read_payload(&mut f);
    let room = f.string("room", Char::required(MAX_ROOM), false);
    f.finish()?;
    let room = if channel.separate_rooms() {
        Some(room.ok_or_else(|| ApiError::field_str("room", ROOM_REQUIRED))?)
    } else {
        None
    };
    let change = app
        .store
        .publish_change(&NewChange {
            instance_id: ctx.instance.id,
            channel_id: channel.id,
            room,
            action: "custom".into(),
            author: author_json(&ctx),
            metadata: r#"{"type":"message"}"#.into(),
            payload: payload.unwrap_or_else(|| "{}".into()),
        })
        .await?;
    Ok(created(change_json(&ctx.base(), &channel.name, &change)))
}

// ---------------------------------------------------------------------------------------
// History

/// The channel of a nested history route: unknown → `Channel was not found.`, before
/// authentication (spec-core §1.7).
async fn history_ctx(
    app: &AppState,
    req: &Req,
    instance: &str,
    name: &str,
) -> ApiResult<(Ctx, Channel, Option<String>)> {
    let instance = resolve_instance(app, instance).await?;
    let channel = app
        .store
        .channel_by_name(instance.id, &name.to_lowercase())
        .await?
        .ok_or_else(|| ApiError::model_not_found("Channel"))?;
    let ctx = caller_in(app, req, instance).await?;
    check_view(&ctx, Action::History)?;
    check_object(app, &ctx, &channel, Action::History).await?;
    // Like Syncano's Redis list key, the room filter applies whenever one is given.
    let room = req.param("room").map(str::to_lowercase);
    if channel.separate_rooms() && room.is_none() {
        return Err(ApiError::field_str("room", ROOM_REQUIRED));
    }
    ctx.throttle(app)?;
    Ok((ctx, channel, room))
}

async fn list_history(
    State(app): State<AppState>,
    Path((instance, name)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, channel, room) = history_ctx(&app, &req, &instance, &name).await?;
    let page = req.page(true)?;
    // `last_id` that is not an integer is ignored, as in Syncano.
    let after = req
        .param("last_id")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v != -1);
    let list = app
        .store
        .list_changes(channel.id, room.as_deref(), after, &page.keyset())
        .await?;
    let base = ctx.base();
    Ok(list_response(
        &req,
        &page,
        list,
        |c| c.id,
        |c| change_json(&base, &channel.name, &c),
    ))
}

async fn get_history(
    State(app): State<AppState>,
    Path((instance, name, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, channel, room) = history_ctx(&app, &req, &instance, &name).await?;
    let id = path_id(&id)?;
    let change = app
        .store
        .change(channel.id, room.as_deref(), id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(change_json(&ctx.base(), &channel.name, &change)))
}

// ---------------------------------------------------------------------------------------
// Poll

/// DRF `IntegerField` parsing of a query value (`"12"`, `" 12 "`, `"12.0"`).
fn parse_drf_int(raw: &str) -> Option<i64> {
    let t = raw.trim();
    let t = match t.find('.') {
        Some(dot) if t[dot + 1..].bytes().all(|b| b == b'0') => &t[..dot],
        _ => t,
    };
    t.parse().ok()
}

/// Validated poll parameters.
struct PollQuery {
    last_id: Option<i64>,
    room: Option<String>,
}

fn read_poll_query(req: &Req, channel: &Channel) -> ApiResult<PollQuery> {
    let mut errors = rivia_core::FieldErrors::new();
    let last_id = match req.param("last_id") {
        None => None,
        Some(raw) => {
            let v = parse_drf_int(raw);
            if v.is_none() {
                errors.add("last_id", msg::INVALID_INT);
            }
            v
        }
    };
    let room = match req.param("room").map(str::trim) {
        None => None,
        Some("") => {
            errors.add("room", msg::BLANK);
            None
        }
        Some(r) if r.chars().count() > MAX_ROOM => {
            errors.add("room", msg::max_length(MAX_ROOM));
            None
        }
        Some(r) => Some(r.to_lowercase()),
    };
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let room = if channel.separate_rooms() {
        Some(room.ok_or_else(|| ApiError::field_str("room", ROOM_REQUIRED))?)
    } else {
        None
    };
    Ok(PollQuery { last_id, room })
}

async fn poll(
    State(app): State<AppState>,
    Path((instance, name)): Path<(String, String)>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    req: Req,
) -> ApiResult<Response> {
    // The checks run in their own boxed future, which consumes `req`: a held poll keeps
    // only what waiting needs. The request's header values point into hyper's read
    // buffer, so keeping them would pin that 8 KiB while hyper reads into a new one.
    let opened = Box::pin(open_poll(&app, &instance, &name, req)).await?;
    if opened.websocket {
        let ws = ws.map_err(|rej| ApiError::Detail(rej.status(), rej.body_text()))?;
        let timeout = app.settings.poll_timeout;
        let (channel_id, query) = (opened.channel.id, opened.query);
        return Ok(ws
            .on_upgrade(move |socket| stream_changes(app, socket, channel_id, query, timeout))
            .into_response());
    }
    drop(ws);
    long_poll(&app, &opened.channel, opened.query).await
}

/// A poll that passed its checks.
struct OpenedPoll {
    channel: Channel,
    query: PollQuery,
    websocket: bool,
}

/// Authenticates and authorizes a poll and validates its parameters.
async fn open_poll(app: &AppState, instance: &str, name: &str, req: Req) -> ApiResult<OpenedPoll> {
    let ctx = instance_ctx(app, &req, instance).await?;
    check_view(&ctx, Action::Poll)?;
    throttle_poll(app, &ctx)?;
    let channel = load_cached(app, &ctx, name).await?;
    check_object(app, &ctx, &channel, Action::Poll).await?;
    let query = read_poll_query(&req, &channel)?;
    Ok(OpenedPoll {
        websocket: req.param("transport") == Some("websocket"),
        channel,
        query,
    })
}

/// What a waiter does next with the cursor it holds.
enum Next {
    /// Answer with this change.
    Deliver(Arc<Change>),
    /// Nothing for this waiter yet.
    Wait,
    /// The bus may have skipped something: read the table.
    Reread,
    /// The channel is gone.
    Gone,
}

/// Decides what a bus event means for a waiter whose cursor is `after`: a change whose
/// predecessor the waiter has already seen can be taken as is. `setup_newest` is set for
/// waiters opened without `last_id`: the newest id they read after subscribing. A change
/// the subscription brings that is not newer than it committed during that setup (after
/// the subscription began), so it is new to the waiter too.
fn next_step(event: BusEvent, after: i64, setup_newest: Option<i64>) -> Next {
    match event {
        BusEvent::Change(c) if setup_newest.is_some_and(|n| c.id <= n) => Next::Deliver(c),
        BusEvent::Change(c) if c.id <= after => Next::Wait,
        BusEvent::Change(c) if c.prev_id <= after => Next::Deliver(c),
        BusEvent::Change(_) | BusEvent::Resync => Next::Reread,
        BusEvent::Deleted => Next::Gone,
    }
}

/// The newest change id, rejecting a `last_id` beyond it (spec: IncorrectLastId). A poll
/// whose `last_id` is the bus's remembered newest id needs no table read.
async fn poll_cursor(
    app: &AppState,
    sub: &Subscription,
    query: &PollQuery,
) -> ApiResult<(i64, i64)> {
    let current = app.store.newest_change_id(sub, query.last_id).await?;
    match query.last_id {
        Some(l) if current > 0 && current < l => {
            Err(ApiError::field_str("last_id", LAST_ID_TOO_HIGH))
        }
        Some(l) => Ok((current, l)),
        None => Ok((current, current)),
    }
}

/// §10.4: answer at once with the oldest change after `last_id`, else wait for the next
/// one until the poll timeout (204).
async fn long_poll(app: &AppState, channel: &Channel, query: PollQuery) -> ApiResult<Response> {
    let room = query.room.as_deref();
    // Subscribe before reading so a change committed in between still wakes us.
    let mut sub = app.store.bus.subscribe(channel.id, room);
    let (current, after) = Box::pin(poll_cursor(app, &sub, &query)).await?;
    if current > after
        && let Some(c) = first_change_after(app, channel.id, room, after).await?
    {
        return Ok(message_response(&c));
    }
    let deadline = Instant::now() + app.settings.poll_timeout;
    loop {
        let Ok(event) = tokio::time::timeout_at(deadline, sub.recv()).await else {
            return Ok(no_content());
        };
        match next_step(event, after, query.last_id.is_none().then_some(after)) {
            Next::Deliver(c) => return Ok(message_response(&c)),
            Next::Wait => {}
            Next::Gone => return Err(ApiError::not_found()),
            Next::Reread => {
                if let Some(c) = first_change_after(app, channel.id, room, after).await? {
                    return Ok(message_response(&c));
                }
            }
        }
    }
}

/// The oldest stored change after `after`. The read is boxed: a database future is large,
/// and inline it would enlarge every held poll's waiting state.
async fn first_change_after(
    app: &AppState,
    channel_id: i64,
    room: Option<&str>,
    after: i64,
) -> ApiResult<Option<Change>> {
    let changes = Box::pin(app.store.changes_after(channel_id, room, after, 1)).await?;
    Ok(changes.into_iter().next())
}

/// Sends an error frame shaped like Syncano's (`{"<field or detail>": "<message>"}`).
async fn send_error(socket: &mut WebSocket, field: &str, message: &str) {
    let text = json!({ field: message }).to_string();
    let _ = socket.send(Message::Text(text.into())).await;
}

/// Sends every stored change after `*sent`; false when the client is gone.
async fn send_backlog(
    app: &AppState,
    socket: &mut WebSocket,
    channel_id: i64,
    room: Option<&str>,
    sent: &mut i64,
) -> bool {
    loop {
        let batch = match app
            .store
            .changes_after(channel_id, room, *sent, WS_BATCH)
            .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "reading changes for a WebSocket failed");
                send_error(socket, "detail", "Service temporarily unavailable.").await;
                return false;
            }
        };
        let full = batch.len() as i64 == WS_BATCH;
        for c in batch {
            if socket
                .send(Message::Text(c.message().to_string().into()))
                .await
                .is_err()
            {
                return false;
            }
            *sent = c.id;
        }
        if !full {
            return true;
        }
    }
}

/// The WebSocket transport: stored changes after `last_id`, then every new change as a
/// text frame. The socket closes after `idle` without a change, like a poll timing out.
async fn stream_changes(
    app: AppState,
    mut socket: WebSocket,
    channel_id: i64,
    query: PollQuery,
    idle: std::time::Duration,
) {
    let room = query.room.as_deref();
    let mut sub = app.store.bus.subscribe(channel_id, room);
    let mut sent = match poll_cursor(&app, &sub, &query).await {
        Ok((_, after)) => after,
        Err(_) if query.last_id.is_some() => {
            send_error(&mut socket, "last_id", LAST_ID_TOO_HIGH).await;
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
        Err(_) => return,
    };
    if query.last_id.is_some()
        && !send_backlog(&app, &mut socket, channel_id, room, &mut sent).await
    {
        return;
    }
    let setup_newest = query.last_id.is_none().then_some(sent);
    let mut deadline = Instant::now() + idle;
    loop {
        tokio::select! {
            event = sub.recv() => match next_step(event, sent, setup_newest) {
                Next::Wait => {}
                Next::Deliver(c) => {
                    if socket.send(Message::Text(c.message().to_string().into())).await.is_err() {
                        return;
                    }
                    // A change from the setup is older than `sent`.
                    sent = sent.max(c.id);
                    deadline = Instant::now() + idle;
                }
                Next::Reread => {
                    let before = sent;
                    if !send_backlog(&app, &mut socket, channel_id, room, &mut sent).await {
                        return;
                    }
                    if sent != before {
                        deadline = Instant::now() + idle;
                    }
                }
                Next::Gone => {
                    send_error(&mut socket, "detail", "Not found.").await;
                    break;
                }
            },
            incoming = socket.recv() => match incoming {
                // Client frames carry nothing for us (pings are answered by the library).
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}
