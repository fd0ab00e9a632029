//! The nested `profile` object of a user body (spec-core §7.2): permissions, group and the
//! `user_profile` class's schema fields.

use super::render::profile_class;
use crate::api::objects::ProfileError;
use crate::auth::Ctx;
use crate::fields::Fields;
use crate::state::AppState;
use rivia_core::FieldErrors;
use rivia_core::errors::msg;
use rivia_core::perms::ObjectPerm;
use rivia_store::objects::{ObjectRow, ObjectValues};
use serde_json::Value;

/// Reads the `profile` object of a user body into new profile values.
/// `partial`: keep what is not given; otherwise reset permissions to full/none/none and
/// schema fields to null (§7.2).
pub(super) async fn read_profile(
    app: &AppState,
    ctx: &Ctx,
    raw: &Value,
    current: Option<&ObjectRow>,
    partial: bool,
) -> Result<(ObjectValues, bool), FieldErrors> {
    let mut errors = FieldErrors::new();
    let Value::Object(body) = raw else {
        errors.add(
            "non_field_errors",
            "Invalid data. Expected a dictionary, but got ".to_string()
                + crate::req::json_type_name(raw)
                + ".",
        );
        return Err(errors);
    };
    let mut f = Fields::new(body, true);
    let choices = ObjectPerm::NAMES;
    let owner_perm = f
        .choice("owner_permissions", choices, false)
        .and_then(|s| ObjectPerm::parse(&s));
    let group_perm = f
        .choice("group_permissions", choices, false)
        .and_then(|s| ObjectPerm::parse(&s));
    let other_perm = f
        .choice("other_permissions", choices, false)
        .and_then(|s| ObjectPerm::parse(&s));
    let group = f.pk("group", true, false);
    let mut errors = f.errors;
    if let Some(Some(gid)) = group {
        match app.store.group(ctx.instance.id, gid).await {
            Ok(Some(_)) => {}
            Ok(None) => errors.add("group", msg::invalid_pk(&gid.to_string())),
            Err(e) => errors.add("non_field_errors", e.to_string()),
        }
    }
    let current_data = current.map(|c| c.data.as_str()).unwrap_or("{}");
    let class = match profile_class(app, ctx).await {
        Ok(c) => c,
        Err(e) => {
            errors.add("non_field_errors", format!("{e:?}"));
            return Err(errors);
        }
    };
    let data = match crate::api::objects::profile_fields(
        app,
        ctx,
        &class,
        current_data,
        body,
        !partial,
        current.is_none(),
    )
    .await
    {
        Ok(d) => Some(d),
        Err(ProfileError::Fields(Value::Object(field_errors))) => {
            for (k, v) in field_errors {
                errors.set(&k, v);
            }
            None
        }
        Err(ProfileError::Fields(other)) => {
            errors.set("non_field_errors", other);
            None
        }
        Err(ProfileError::Failed(e)) => {
            tracing::error!(error = ?e, "profile validation failed");
            errors.add("non_field_errors", "Internal server error.");
            None
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    let (data, bump) = data.unwrap_or_else(|| (current_data.to_string(), false));
    let keep = |cur: Option<i64>, default: ObjectPerm| {
        if partial {
            cur.unwrap_or(default.as_i64())
        } else {
            default.as_i64()
        }
    };
    let values = ObjectValues {
        owner: current.and_then(|c| c.owner),
        owner_permissions: owner_perm
            .map(ObjectPerm::as_i64)
            .unwrap_or_else(|| keep(current.map(|c| c.owner_permissions), ObjectPerm::Full)),
        group_id: match group {
            Some(g) => g,
            None => current.and_then(|c| c.group_id),
        },
        group_permissions: group_perm
            .map(ObjectPerm::as_i64)
            .unwrap_or_else(|| keep(current.map(|c| c.group_permissions), ObjectPerm::None)),
        other_permissions: other_perm
            .map(ObjectPerm::as_i64)
            .unwrap_or_else(|| keep(current.map(|c| c.other_permissions), ObjectPerm::None)),
        channel: current.and_then(|c| c.channel.clone()),
        channel_room: current.and_then(|c| c.channel_room.clone()),
        data,
    };
    Ok((values, bump))
}
