//! Who may do what to a channel (apps/channels/v1/views.py permission_classes,
//! apps/channels/permissions.py): the view-level check before the channel is looked up,
//! the object-level one after, and the §10.6 check for object writes that publish.

use crate::auth::{Ctx, Who};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::StatusCode;
use rivia_core::perms::{AdminTable, ChannelPerm, Op};
use rivia_store::channels::{Channel, DEFAULT_CHANNEL, EVENTLOG_CHANNEL};

/// What a request does to channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
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
pub(super) fn check_view(ctx: &Ctx, action: Action) -> ApiResult<()> {
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
pub(super) async fn check_object(
    app: &AppState,
    ctx: &Ctx,
    channel: &Channel,
    action: Action,
) -> ApiResult<()> {
    let allowed = match &ctx.who {
        Who::Admin { .. } => true,
        Who::ApiKey { key, user } => {
            if key.flags.ignore_acl {
                true
            } else if matches!(action, Action::Update | Action::Delete) {
                // Rivia differs from Syncano (README, Security): a subscribe or publish
                // right never lets a user change or delete the channel itself.
                false
            } else if action.safe()
                && key.flags.allow_anonymous_read
                && ChannelPerm::from_i64(channel.other_permissions) >= ChannelPerm::Subscribe
            {
                // Rivia differs from Syncano (README, Security): an anonymous-read key,
                // public by design, subscribes only to channels open to others (as its
                // list shows), not to any channel whose name it knows.
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
pub(crate) async fn check_object_change_publish(
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
