//! The change events of object writes on the object's channel (spec-core §10.6): the
//! payload, the publish check, and waking this node's pollers after the commit.

use super::input::ObjectInput;
use super::render::object_json_with;
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use rivia_core::schema::Schema;
use rivia_store::UnitOfWork;
use rivia_store::classes::Class;
use rivia_store::objects::ObjectRow;
use serde_json::{Map, Value, json};

/// The object as it appears in a change payload: DataObjectJSON without `links`,
/// `channel` and `channel_room` (spec-core §10.6).
pub(super) fn change_payload(
    at: (&str, &str),
    class: &Class,
    schema: &Schema,
    row: &ObjectRow,
) -> Map<String, Value> {
    match object_json_with(at, &class.name, schema, row) {
        Value::Object(mut m) => {
            for k in ["links", "channel", "channel_room"] {
                m.remove(k);
            }
            m
        }
        _ => Map::new(),
    }
}

/// Appends the change event of an object write to the object's channel, inside the write's
/// transaction, after checking the caller may publish there (a refusal rolls the write
/// back with 403). The caller hands the returned change to the bus after committing.
pub(super) async fn append_object_change(
    app: &AppState,
    ctx: &Ctx,
    unit: &mut UnitOfWork,
    class: &Class,
    row: &ObjectRow,
    action: &str,
    payload: Map<String, Value>,
) -> ApiResult<Option<rivia_store::channels::Change>> {
    let Some(name) = &row.channel else {
        return Ok(None);
    };
    let Some(channel) = app.store.channel_by_name(ctx.instance.id, name).await? else {
        return Ok(None);
    };
    crate::api::channels::check_object_change_publish(app, ctx, &channel).await?;
    let change = rivia_store::channels::NewChange {
        instance_id: ctx.instance.id,
        channel_id: channel.id,
        room: row.channel_room.clone(),
        action: action.to_string(),
        author: crate::api::channels::author_json(ctx),
        metadata: json!({"type": "object", "class": class.name}).to_string(),
        payload: Value::Object(payload).to_string(),
    };
    Ok(Some(unit.append_change(&change).await?))
}

/// Wakes this node's pollers once the write that produced `change` has committed.
pub(super) fn announce(app: &AppState, change: Option<rivia_store::channels::Change>) {
    if let Some(c) = change {
        app.store.bus.committed(c);
    }
}

pub(super) async fn resolve_channel(
    unit: &mut UnitOfWork,
    instance_id: i64,
    input: &ObjectInput,
) -> ApiResult<(Option<String>, Option<String>)> {
    let Some(Some(name)) = &input.channel else {
        return Ok((None, None));
    };
    let name = name.to_lowercase();
    let Some(kind) = unit.channel_kind(instance_id, &name).await? else {
        return Err(ApiError::field(
            "channel",
            format!("Object with name={name} does not exist."),
        ));
    };
    let room = input.channel_room.clone().flatten();
    if kind == 1 {
        match room {
            Some(r) if !r.is_empty() => Ok((Some(name), Some(r))),
            _ => Err(ApiError::field(
                "non_field_errors",
                "Channel room field is required for channels with separate rooms.",
            )),
        }
    } else {
        Ok((Some(name), None))
    }
}
