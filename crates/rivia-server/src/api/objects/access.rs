//! Who may do what on a class's objects (spec-core §9.9): admin roles, API key flags,
//! the class gate for users, and the object-level permission a caller ends up with.

use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::http::StatusCode;
use rivia_core::perms::{AdminTable, ClassPerm, ObjectPerm, Op};
use rivia_core::query::Readable;
use rivia_store::classes::Class;
use rivia_store::instances::Instance;
use rivia_store::objects::{ObjectRow, Visibility};

/// The caller's standing on a class's objects, after the class gate.
#[derive(Debug, Clone)]
pub enum Access {
    /// Admin with a sufficient role, or an `ignore_acl` key: no object-level checks.
    Full,
    /// `allow_anonymous_read` key without a user: objects with other ≥ read, GET only.
    Anonymous,
    /// A user (API key + user key).
    User {
        /// User id.
        id: i64,
        /// Groups of the user.
        groups: Vec<i64>,
    },
}

impl Access {
    /// The list/detail filter.
    pub fn visibility(&self) -> Visibility {
        match self {
            Access::Full => Visibility::All,
            Access::Anonymous => Visibility::Others,
            Access::User { id, groups } => Visibility::User {
                id: *id,
                groups: groups.clone(),
            },
        }
    }

    /// The caller's effective permission on an object (full for unrestricted callers).
    pub fn effective(&self, row: &ObjectRow) -> ObjectPerm {
        match self {
            Access::Full => ObjectPerm::Full,
            Access::Anonymous => ObjectPerm::from_i64(row.other_permissions).min(ObjectPerm::Read),
            Access::User { id, groups } => {
                let mut p = ObjectPerm::from_i64(row.other_permissions);
                if row.owner == Some(*id) {
                    p = p.max(ObjectPerm::from_i64(row.owner_permissions));
                }
                if row.group_id.is_some_and(|g| groups.contains(&g)) {
                    p = p.max(ObjectPerm::from_i64(row.group_permissions));
                }
                p
            }
        }
    }

    pub(super) fn user_id(&self) -> Option<i64> {
        match self {
            Access::User { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// Applies the permission rules for `op` on `class`: admin roles, API key flags and the
/// class gate for users. Errors are 403.
pub async fn access(app: &AppState, ctx: &Ctx, class: &Class, op: Op) -> ApiResult<Access> {
    match &ctx.who {
        Who::Admin { .. } => {
            ctx.require_admin(AdminTable::Data, op)?;
            Ok(Access::Full)
        }
        Who::ApiKey { key, .. } if key.flags.ignore_acl => Ok(Access::Full),
        Who::ApiKey { user: Some(u), .. } => {
            let groups = app.store.user_group_ids(ctx.instance.id, u.id).await?;
            let in_group = class.group_id.is_some_and(|g| groups.contains(&g));
            let needed = if op == Op::Create {
                ClassPerm::CreateObjects
            } else {
                ClassPerm::Read
            };
            let allowed = ClassPerm::from_i64(class.other_permissions) >= needed
                || (in_group && ClassPerm::from_i64(class.group_permissions) >= needed);
            if !allowed {
                return Err(ApiError::forbidden());
            }
            Ok(Access::User { id: u.id, groups })
        }
        Who::ApiKey { key, user: None }
            if key.flags.allow_anonymous_read
                && op == Op::Read
                && ClassPerm::from_i64(class.other_permissions) >= ClassPerm::Read =>
        {
            Ok(Access::Anonymous)
        }
        _ => Err(ApiError::forbidden()),
    }
}

/// What the caller may read of `target` (a class referenced from another): the class gate
/// and object ACLs of a read there; `None` when the read is refused. Never an error, so a
/// reference or an `_is` lookup treats what the caller may not read as missing.
pub async fn visible_in(
    app: &AppState,
    ctx: &Ctx,
    target: &Class,
) -> ApiResult<Option<Visibility>> {
    match access(app, ctx, target, Op::Read).await {
        Ok(a) => Ok(Some(a.visibility())),
        Err(ApiError::Detail(StatusCode::FORBIDDEN, _)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// [`visible_in`] for the targets of an `_is` query.
pub async fn readable_in(app: &AppState, ctx: &Ctx, target: &Class) -> ApiResult<Readable> {
    Ok(match visible_in(app, ctx, target).await? {
        None => Readable::Nothing,
        Some(Visibility::All) => Readable::All,
        Some(Visibility::Others) => Readable::Others,
        Some(Visibility::User { id, groups }) => Readable::User { id, groups },
    })
}

/// The objects preamble, through [`Call::nested`] (spec-core §1.7): the instance, the class
/// (404 `Class was not found.` before authentication), the caller, `permit` on the class,
/// then the throttle.
pub(super) async fn class_call<P>(
    call: &Call<P>,
    class_name: &str,
    permit: impl AsyncFnOnce(&Ctx, &Class) -> ApiResult<Access>,
) -> ApiResult<(Ctx, Class, Access)> {
    let app = &call.app;
    let find = async |inst: &Instance| {
        crate::api::classes::find_class_cached(app, inst.id, class_name)
            .await?
            .ok_or_else(|| ApiError::model_not_found("Class"))
    };
    call.nested(find, permit).await
}

/// [`class_call`] granting the caller's [`access`] for `op`.
pub(super) async fn class_op<P>(
    call: &Call<P>,
    class_name: &str,
    op: Op,
) -> ApiResult<(Ctx, Class, Access)> {
    let app = &call.app;
    class_call(call, class_name, async |ctx, class| {
        access(app, ctx, class, op).await
    })
    .await
}
