//! `poll/` (spec-core §10.4): a long poll, or a WebSocket stream with
//! `transport=websocket`. Waiting is parked on the store's change bus with a deadline: a
//! held poll is one idle task, never a thread or a loop.

use super::perms::{Action, check_object, check_view};
use super::{MAX_ROOM, ROOM_REQUIRED, load};
use crate::auth::Ctx;
use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::json::{no_content, raw_json_response};
use crate::req::Req;
use crate::state::AppState;
use axum::extract::ws::{
    Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection,
};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rivia_core::errors::msg;
use rivia_store::bus::{BusEvent, Subscription};
use rivia_store::channels::{Change, Channel};
use serde_json::json;
use std::sync::Arc;
use tokio::time::Instant;

const LAST_ID_TOO_HIGH: &str = "Value is higher than the most current change id.";
/// Changes sent per table read when a WebSocket catches up.
const WS_BATCH: i64 = 100;

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

/// A poll answer: the message form of a change and `X-Last-Id`.
fn message_response(c: &Change) -> Response {
    let mut resp = raw_json_response(StatusCode::OK, c.message().as_bytes().to_vec());
    if let Ok(v) = HeaderValue::from_str(&c.id.to_string()) {
        resp.headers_mut().insert("x-last-id", v);
    }
    resp
}

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

pub(super) async fn poll(
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
    let (ctx, ()) = Caller::new(app, &req, instance)
        .polling()
        .check(async |ctx| check_view(ctx, Action::Poll))
        .await?;
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
        return Ok(deliver_polled(app, &c));
    }
    let deadline = Instant::now() + app.settings.poll_timeout;
    let _held = app.metrics.poll_held();
    loop {
        let Ok(event) = tokio::time::timeout_at(deadline, sub.recv()).await else {
            return Ok(no_content());
        };
        match next_step(event, after, query.last_id.is_none().then_some(after)) {
            Next::Deliver(c) => return Ok(deliver_polled(app, &c)),
            Next::Wait => {}
            Next::Gone => return Err(ApiError::not_found()),
            Next::Reread => {
                if let Some(c) = first_change_after(app, channel.id, room, after).await? {
                    return Ok(deliver_polled(app, &c));
                }
            }
        }
    }
}

/// A poll's answer with change `c`, counted as a delivery.
fn deliver_polled(app: &AppState, c: &Change) -> Response {
    app.metrics.delivered("poll");
    message_response(c)
}

/// Sends change `c` on a WebSocket, counted as a delivery; false when the client is gone.
async fn deliver_streamed(app: &AppState, socket: &mut WebSocket, c: &Change) -> bool {
    let sent = socket
        .send(Message::Text(c.message().to_string().into()))
        .await
        .is_ok();
    if sent {
        app.metrics.delivered("websocket");
    }
    sent
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
            if !deliver_streamed(app, socket, &c).await {
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
    let _open = app.metrics.websocket_open();
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
                    if !deliver_streamed(&app, &mut socket, &c).await {
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
