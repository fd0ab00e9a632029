//! Create, update and delete handlers. Each write runs in one store unit of work, so a
//! failed check after the first statement (a publish refusal, a unique field) keeps
//! nothing; files stored for a failed request are removed again.

use super::access::{Access, access, class_call, class_op};
use super::changes::{announce, append_object_change, change_payload, resolve_channel};
use super::class_schema;
use super::data::{DataScope, NewFiles, RefVisibility, build_data, conflict_error, ref_visibility};
use super::input::{ObjectInput, read_input};
use super::load_visible;
use super::render::{object_json_with, parse_data};
use crate::api::classes::{USER_PROFILE, check_expected_revision};
use crate::api::files;
use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::json::{created, no_content, ok};
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::Response;
use rivia_core::FieldErrors;
use rivia_core::errors::msg;
use rivia_core::perms::{ClassPerm, ObjectPerm, Op};
use rivia_core::schema::{FieldType, Schema};
use rivia_store::classes::Class;
use rivia_store::objects::{ObjectRow, ObjectValues};
use serde_json::{Map, Value, json};

/// One object write of a caller on a class: what every step of it needs.
pub(super) struct ObjectWrite<'a> {
    pub(super) app: &'a AppState,
    pub(super) ctx: &'a Ctx,
    pub(super) class: &'a Class,
    pub(super) schema: &'a Schema,
    pub(super) access: &'a Access,
}

impl ObjectWrite<'_> {
    /// Where the write's new data goes; `visible`: see [`ref_visibility`].
    fn scope<'b>(&'b self, visible: &'b RefVisibility) -> DataScope<'b> {
        DataScope {
            app: self.app,
            visible,
            instance_id: self.ctx.instance.id,
            class: self.class,
            schema: self.schema,
        }
    }
}

/// What an update submits: the body (for `expected_revision`), its validated fields,
/// the object and whether absent fields reset (a full update).
pub(super) struct UpdateRequest<'a> {
    pub(super) body: &'a Map<String, Value>,
    pub(super) input: &'a ObjectInput,
    pub(super) id: i64,
    pub(super) full: bool,
}

pub(super) async fn create_object(call: Call<String>) -> ApiResult<Response> {
    let app = &call.app;
    let permit = async |ctx: &Ctx, class: &Class| create_permit(app, ctx, class).await;
    let (ctx, class, access) = class_call(&call, &call.path, permit).await?;
    create_in_class(&call.app, &call.req, &ctx, &class, &access).await
}

/// The permission step of a create (spec-core §9.9): [`create_access`], and never in the
/// `user_profile` class (profiles come with their users).
pub async fn create_permit(app: &AppState, ctx: &Ctx, class: &Class) -> ApiResult<Access> {
    if class.name == USER_PROFILE {
        return Err(ApiError::forbidden());
    }
    create_access(app, ctx, class).await
}

/// Creates an object of `class` from the request's body for a caller granted `access` by
/// [`create_permit`]: the one create path behind `classes/{c}/objects/` and a data
/// endpoint's `post/` (validation, files, channel change events, all of it). 201 with the
/// object.
pub(crate) async fn create_in_class(
    app: &AppState,
    req: &crate::req::Req,
    ctx: &Ctx,
    class: &Class,
    access: &Access,
) -> ApiResult<Response> {
    let schema = class_schema(app, class);
    let body = req.body_object()?;
    let input = read_input(&body, &req.body.files, &schema, true);
    let mut new_files = NewFiles::default();
    let write = ObjectWrite {
        app,
        ctx,
        class,
        schema: &schema,
        access,
    };
    match create_in_tx(&write, &input, &mut new_files).await {
        Ok(row) => Ok(created(object_json_with(
            (&ctx.base(), &ctx.origin(app)),
            &class.name,
            &schema,
            &row,
        ))),
        Err(e) => {
            new_files.discard(app).await;
            Err(e)
        }
    }
}

/// [`access`] for a create. When the class lets every user create objects, a user's
/// groups play no part in the gate, so they are not read (one database read less on the
/// hot create path); [`check_group`] reads them if the object names a group.
pub(super) async fn create_access(app: &AppState, ctx: &Ctx, class: &Class) -> ApiResult<Access> {
    match &ctx.who {
        Who::ApiKey { key, user: Some(u) }
            if !key.flags.ignore_acl
                && ClassPerm::from_i64(class.other_permissions) >= ClassPerm::CreateObjects =>
        {
            Ok(Access::User {
                id: u.id,
                groups: Vec::new(),
            })
        }
        _ => access(app, ctx, class, Op::Create).await,
    }
}

pub(super) async fn check_group(
    app: &AppState,
    ctx: &Ctx,
    access: &Access,
    group: i64,
) -> ApiResult<()> {
    match access {
        Access::User { groups, .. } if groups.contains(&group) => Ok(()),
        // The groups may not have been read (see `create_access`): read them now.
        Access::User { id, .. } => {
            if app
                .store
                .user_group_ids(ctx.instance.id, *id)
                .await?
                .contains(&group)
            {
                Ok(())
            } else {
                Err(ApiError::field("group", "Invalid group specified."))
            }
        }
        _ if app.store.group_exists(ctx.instance.id, group).await? => Ok(()),
        _ => Err(ApiError::field(
            "group",
            msg::invalid_pk(&group.to_string()),
        )),
    }
}

/// Adds a field error of `result` to `errors` (DRF reports every field's error in one
/// answer); any other error is returned.
fn gather(errors: &mut FieldErrors, result: ApiResult<()>) -> ApiResult<()> {
    match result {
        Err(ApiError::Body(StatusCode::BAD_REQUEST, Value::Object(fields))) => {
            for (field, messages) in fields {
                errors.set(&field, messages);
            }
            Ok(())
        }
        other => other,
    }
}

pub(super) async fn check_owner(app: &AppState, ctx: &Ctx, owner: i64) -> ApiResult<()> {
    if app.store.user(ctx.instance.id, owner).await?.is_some() {
        Ok(())
    } else {
        Err(ApiError::field(
            "owner",
            msg::invalid_pk(&owner.to_string()),
        ))
    }
}

pub(super) async fn create_in_tx(
    write: &ObjectWrite<'_>,
    input: &ObjectInput,
    new_files: &mut NewFiles,
) -> ApiResult<ObjectRow> {
    let ObjectWrite {
        app,
        ctx,
        class,
        schema,
        access,
    } = *write;
    let owner = match access.user_id() {
        Some(uid) => Some(uid),
        None => input.owner.flatten(),
    };
    let mut errors = input.errors.clone();
    if access.user_id().is_none()
        && let Some(o) = owner
    {
        gather(&mut errors, check_owner(app, ctx, o).await)?;
    }
    if let Some(Some(g)) = input.group {
        gather(&mut errors, check_group(app, ctx, access, g).await)?;
    }
    // Before the unit: it holds a connection, and these reads need one of their own.
    let visible = ref_visibility(app, ctx, class, &input.changes).await?;
    let mut unit = app.store.begin_write().await?;
    let (channel, channel_room) = resolve_channel(&mut unit, ctx.instance.id, input).await?;
    let (data, _) = build_data(
        &write.scope(&visible),
        &mut unit,
        &Map::new(),
        (&input.changes, errors),
        false,
        new_files,
    )
    .await?;
    let values = ObjectValues {
        owner,
        owner_permissions: input.owner_permissions.unwrap_or(ObjectPerm::Full.as_i64()),
        group_id: input.group.flatten(),
        group_permissions: input.group_permissions.unwrap_or(ObjectPerm::None.as_i64()),
        other_permissions: input.other_permissions.unwrap_or(ObjectPerm::None.as_i64()),
        channel,
        channel_room,
        data: Value::Object(data).to_string(),
    };
    if values.channel.is_none() {
        // No change event follows the insert: insert and commit in one round trip.
        return unit
            .insert_object_and_commit(ctx.instance.id, class.id, &values)
            .await
            .map_err(|e| conflict_error(class, schema, e));
    }
    let row = unit
        .insert_object(ctx.instance.id, class.id, &values)
        .await
        .map_err(|e| conflict_error(class, schema, e))?;
    let payload = change_payload((&ctx.base(), &ctx.origin(app)), class, schema, &row);
    let change = append_object_change(app, ctx, &mut unit, class, &row, "create", payload).await?;
    unit.commit().await?;
    announce(app, change);
    Ok(row)
}

pub(super) async fn update_object_full(call: Call<(String, String)>) -> ApiResult<Response> {
    update_object_handler(call, true).await
}

pub(super) async fn update_object_partial(call: Call<(String, String)>) -> ApiResult<Response> {
    update_object_handler(call, false).await
}

async fn update_object_handler(call: Call<(String, String)>, full: bool) -> ApiResult<Response> {
    let (ctx, class, access) = class_op(&call, &call.path.0, Op::Update).await?;
    let Call {
        app,
        req,
        path: (_, id),
        ..
    } = call;
    let current = load_visible(&app, &class, &access, &id).await?;
    if access.effective(&current) < ObjectPerm::Write {
        return Err(ApiError::forbidden());
    }
    let schema = class_schema(&app, &class);
    let body = req.body_object()?;
    let input = read_input(&body, &req.body.files, &schema, false);
    let mut new_files = NewFiles::default();
    let write = ObjectWrite {
        app: &app,
        ctx: &ctx,
        class: &class,
        schema: &schema,
        access: &access,
    };
    let update = UpdateRequest {
        body: &body,
        input: &input,
        id: current.id,
        full,
    };
    let result = update_in_tx(&write, &update, &mut new_files).await;
    match result {
        Ok((row, dropped)) => {
            for p in dropped {
                files::remove_file(&app, &p).await;
            }
            Ok(ok(object_json_with(
                (&ctx.base(), &ctx.origin(&app)),
                &class.name,
                &schema,
                &row,
            )))
        }
        Err(e) => {
            new_files.discard(&app).await;
            Err(e)
        }
    }
}

/// Owner, group and permission fields of an update, checked and capped (§9.9).
pub(super) async fn updated_builtins(
    app: &AppState,
    ctx: &Ctx,
    class: &Class,
    access: &Access,
    input: &ObjectInput,
    row: &ObjectRow,
    full: bool,
) -> ApiResult<(Option<i64>, Option<i64>, [i64; 3])> {
    let owner = match input.owner {
        Some(o) if o != row.owner => {
            if class.name == USER_PROFILE {
                return Err(ApiError::field(
                    "owner",
                    "Cannot change owner of User Profile object.",
                ));
            }
            if access.user_id().is_some() {
                return Err(ApiError::field(
                    "owner",
                    "Cannot change owner of Data Object.",
                ));
            }
            if let Some(o) = o {
                check_owner(app, ctx, o).await?;
            }
            o
        }
        _ => row.owner,
    };
    let group = match input.group {
        Some(g) if g != row.group_id => {
            if let Some(g) = g {
                check_group(app, ctx, access, g).await?;
            }
            g
        }
        _ => row.group_id,
    };
    // A full update applies the model defaults to absent permission fields (§1.10).
    // Users' submitted (or defaulted) values are capped at their effective permission;
    // values left as they are stay untouched.
    let cap = access.effective(row).as_i64();
    let is_user = access.user_id().is_some();
    let pick = |given: Option<i64>, current: i64, default: ObjectPerm| match given {
        Some(v) if is_user => v.min(cap),
        Some(v) => v,
        None if full && is_user => default.as_i64().min(cap),
        None if full => default.as_i64(),
        None => current,
    };
    let perms = [
        pick(
            input.owner_permissions,
            row.owner_permissions,
            ObjectPerm::Full,
        ),
        pick(
            input.group_permissions,
            row.group_permissions,
            ObjectPerm::None,
        ),
        pick(
            input.other_permissions,
            row.other_permissions,
            ObjectPerm::None,
        ),
    ];
    Ok((owner, group, perms))
}

pub(super) async fn update_in_tx(
    write: &ObjectWrite<'_>,
    update: &UpdateRequest<'_>,
    new_files: &mut NewFiles,
) -> ApiResult<(ObjectRow, Vec<String>)> {
    let ObjectWrite {
        app,
        ctx,
        class,
        schema,
        access,
    } = *write;
    let UpdateRequest {
        body,
        input,
        id,
        full,
    } = *update;
    // Before the unit: it holds a connection, and these reads need one of their own.
    let visible = ref_visibility(app, ctx, class, &input.changes).await?;
    let mut unit = app.store.begin_write().await?;
    // Re-read under the write lock so operators like `_increment` never lose updates.
    let row = unit
        .lock_object(class.id, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    check_expected_revision(body, row.revision)?;
    let (owner, group, perms) =
        updated_builtins(app, ctx, class, access, input, &row, full).await?;
    let current = parse_data(&row.data);
    let (data, dropped) = build_data(
        &write.scope(&visible),
        &mut unit,
        &current,
        (&input.changes, input.errors.clone()),
        full,
        new_files,
    )
    .await?;
    let bump = schema
        .fields
        .iter()
        .any(|f| current.get(&f.key) != data.get(&f.key));
    let values = ObjectValues {
        owner,
        owner_permissions: perms[0],
        group_id: group,
        group_permissions: perms[1],
        other_permissions: perms[2],
        channel: row.channel.clone(),
        channel_room: row.channel_room.clone(),
        data: Value::Object(data).to_string(),
    };
    let saved = unit
        .update_object(class.id, id, &values, bump)
        .await
        .map_err(|e| conflict_error(class, schema, e))?
        .ok_or_else(ApiError::not_found)?;
    let change = if saved.channel.is_some() {
        // Only the fields whose values changed, plus the id.
        let at = (&*ctx.base(), &*ctx.origin(app));
        let before = change_payload(at, class, schema, &row);
        let mut payload: Map<String, Value> = change_payload(at, class, schema, &saved)
            .into_iter()
            .filter(|(k, v)| before.get(k) != Some(v))
            .collect();
        payload.insert("id".into(), json!(saved.id));
        append_object_change(app, ctx, &mut unit, class, &saved, "update", payload).await?
    } else {
        None
    };
    unit.commit().await?;
    announce(app, change);
    Ok((saved, dropped))
}

pub(super) async fn delete_object_handler(call: Call<(String, String)>) -> ApiResult<Response> {
    let app = &call.app;
    let permit = async |ctx: &Ctx, class: &Class| {
        if class.name == USER_PROFILE {
            return Err(ApiError::forbidden());
        }
        access(app, ctx, class, Op::Delete).await
    };
    let (ctx, class, access) = class_call(&call, &call.path.0, permit).await?;
    let Call {
        app, path: (_, id), ..
    } = call;
    let row = load_visible(&app, &class, &access, &id).await?;
    if access.effective(&row) < ObjectPerm::Full {
        return Err(ApiError::forbidden());
    }
    let schema = class_schema(&app, &class);
    let mut unit = app.store.begin_write().await?;
    if !unit.delete_object(class.id, row.id).await? {
        return Err(ApiError::not_found());
    }
    // Syncano's delete event carries only the id (platform test_changes_on_delete).
    let payload = Map::from_iter([("id".to_string(), json!(row.id))]);
    let change =
        append_object_change(&app, &ctx, &mut unit, &class, &row, "delete", payload).await?;
    unit.commit().await?;
    announce(&app, change);
    let data = parse_data(&row.data);
    for f in schema.fields.iter().filter(|f| f.ftype == FieldType::File) {
        if let Some(Value::String(p)) = data.get(&f.key) {
            files::remove_file(&app, p).await;
        }
    }
    Ok(no_content())
}
