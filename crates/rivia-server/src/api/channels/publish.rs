//! `publish/`: a custom message on a channel (spec-core §10.3), and the `author` of a change.

use super::perms::Action;
use super::{MAX_ROOM, ROOM_REQUIRED, change_json};
use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields, Parsed};
use crate::json::created;
use crate::req::Req;
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_store::channels::NewChange;
use serde_json::{Value, json};

/// `{"admin": id}` or `{"api_key": id[, "user": id]}` (apps/channels/helpers.py): the
/// `author` of a change made by this caller, as JSON text for [`NewChange::author`].
pub(crate) fn author_json(ctx: &Ctx) -> String {
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

/// The `payload` field: a JSON object or a JSON string of one; absent or `""` is `{}`.
fn read_payload(f: &mut Fields) -> Parsed<String> {
    let Some(raw) = f.raw("payload") else {
        return Ok("{}".into());
    };
    let value = match raw {
        Value::Null => return Err(f.report("payload", msg::NULL)),
        Value::String(s) if s.is_empty() => return Ok("{}".into()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            Err(_) => return Err(f.report("payload", "Not a valid JSON string.")),
        },
        other => other.clone(),
    };
    if value.is_object() {
        Ok(value.to_string())
    } else {
        Err(f.report("payload", "Payload passed in invalid format."))
    }
}

/// A publish body.
struct Message {
    payload: String,
    room: Option<String>,
}

fn read_message(req: &Req) -> ApiResult<Message> {
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let payload = read_payload(&mut f);
    let room = f.string("room", Char::required(MAX_ROOM), false);
    let message = payload.map(|payload| Message { payload, room });
    f.finish_with(message)
}

pub(super) async fn publish(call: Call<String>) -> ApiResult<Response> {
    let (ctx, channel) = super::open_item(&call, &call.path, Action::Publish).await?;
    let Call { app, req, .. } = call;
    let Message { payload, room } = read_message(&req)?;
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
            payload,
        })
        .await?;
    Ok(created(change_json(&ctx.base(), &channel.name, &change)))
}
