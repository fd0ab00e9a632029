//! `history/`: a channel's stored changes (spec-core §10.5).

use super::perms::{Action, check_object, check_view};
use super::{ROOM_REQUIRED, change_json};
use crate::api::{list_response, path_id};
use crate::auth::Ctx;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::json::ok;
use crate::req::Req;
use crate::state::AppState;
use axum::response::Response;
use rivia_store::channels::Channel;
use rivia_store::instances::Instance;

/// The `{name}` channel of a history route: unknown → `Channel was not found.`, before
/// authentication (spec-core §1.7).
async fn parent_channel(app: &AppState, instance: &Instance, name: &str) -> ApiResult<Channel> {
    app.store
        .channel_by_name(instance.id, &name.to_lowercase())
        .await?
        .ok_or_else(|| ApiError::model_not_found("Channel"))
}

/// The permission step of a history route: the view and object checks, then the `room`
/// a channel with separate rooms needs. Syncano checks the room before throttling, so it
/// runs here and not in the handler.
async fn history_access(
    app: &AppState,
    req: &Req,
    ctx: &Ctx,
    channel: &Channel,
) -> ApiResult<Option<String>> {
    check_view(ctx, Action::History)?;
    check_object(app, ctx, channel, Action::History).await?;
    // Like Syncano's Redis list key, the room filter applies whenever one is given.
    let room = req.param("room").map(str::to_lowercase);
    if channel.separate_rooms() && room.is_none() {
        return Err(ApiError::field_str("room", ROOM_REQUIRED));
    }
    Ok(room)
}

/// The preamble of a history route: the caller, the channel and the room filter.
async fn history_ctx<P>(call: &Call<P>, name: &str) -> ApiResult<(Ctx, Channel, Option<String>)> {
    call.nested(
        async |inst| parent_channel(&call.app, inst, name).await,
        async |ctx, channel| history_access(&call.app, &call.req, ctx, channel).await,
    )
    .await
}

pub(super) async fn list_history(call: Call<String>) -> ApiResult<Response> {
    let (ctx, channel, room) = history_ctx(&call, &call.path).await?;
    let Call { app, req, .. } = call;
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
    Ok(list_response(&req, &page, list, |c| {
        (c.id, change_json(&base, &channel.name, &c))
    }))
}

pub(super) async fn get_history(call: Call<(String, String)>) -> ApiResult<Response> {
    let (ctx, channel, room) = history_ctx(&call, &call.path.0).await?;
    let Call {
        app, path: (_, id), ..
    } = call;
    let id = path_id(&id)?;
    let change = app
        .store
        .change(channel.id, room.as_deref(), id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(change_json(&ctx.base(), &channel.name, &change)))
}
