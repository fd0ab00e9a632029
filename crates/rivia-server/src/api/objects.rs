//! Data objects — spec-core §9: list (query language, ordering cursors, counts), create,
//! retrieve, full update by POST (PUT is 405), PATCH, DELETE, with the owner/group/other
//! permission model of §9.9 and file uploads.

use super::classes::{USER_PROFILE, check_expected_revision};
use super::link::url;
use super::{Api, path_id};
use crate::api::files;
use crate::auth::{Ctx, Who, resolve_instance};
use crate::body::Upload;
use crate::error::{ApiError, ApiResult};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use rivia_core::FieldErrors;
use rivia_core::errors::msg;
use rivia_core::object::{
    MAX_OBJECT_SIZE, NewValue, Operator, RenderedValue, apply_operator, object_size,
    parse_operator, relation_value, stored_fields, validate_value,
};
use rivia_core::page::{Cursor, PageRequest, encode_query_value, join_link};
use rivia_core::perms::{AdminTable, ClassPerm, ObjectPerm, Op};
use rivia_core::query::{ParseCtx, Query, QueryError, Scalar, Target, TargetKind, parse_queries};
use rivia_core::schema::{Field, FieldType, Schema};
use rivia_core::time::Timestamp;
use rivia_store::classes::Class;
use rivia_store::objects::{
    ObjectListQuery, ObjectRow, ObjectValues, OrderField, RefTarget, Visibility, channel_kind,
    delete_object, existing_ids, insert_object, insert_object_and_commit, lock_object,
    update_object,
};
use rivia_store::{StoreError, Tx};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The parsed schema of a class, parsed once per class revision (a schema changes only
/// with its revision) rather than on every request.
pub fn class_schema(app: &AppState, class: &Class) -> std::sync::Arc<Schema> {
    let generation = app.store.auth_generation();
    let key = (class.id, class.revision);
    if let Some(schema) = app.cache.schemas.get(&key, generation) {
        return schema;
    }
    let schema = std::sync::Arc::new(Schema::from_stored(&class.schema));
    app.cache.schemas.put(key, schema.clone(), generation);
    schema
}

/// Statement timeout of list queries (Syncano's `DATA_OBJECT_STATEMENT_TIMEOUT`).
pub const LIST_TIMEOUT: Duration = Duration::from_millis(2000);

/// Registers the routes. There is no PUT on items: full updates are POSTs (§9.1).
pub fn routes(api: Api) -> Api {
    let list = "/v1.1/instances/{instance}/classes/{class}/objects/";
    let item = "/v1.1/instances/{instance}/classes/{class}/objects/{id}/";
    api.get(list, "List data objects", list_objects)
        .post(list, "Create a data object", create_object)
        .get(item, "Get a data object", get_object)
        .post(
            item,
            "Update a data object (absent fields reset)",
            update_object_full,
        )
        .patch(
            item,
            "Partially update a data object",
            update_object_partial,
        )
        .delete(item, "Delete a data object", delete_object_handler)
}

// ---------------------------------------------------------------------------------------
// Rendering

/// DataObjectJSON (spec-core §9.2) of a row of `class`, for the objects API and for user
/// profiles. `base` is the instance prefix `/v1.1/instances/<name>`.
pub fn object_json(base: &str, class: &Class, row: &ObjectRow) -> Value {
    object_json_with(base, &class.name, &Schema::from_stored(&class.schema), row)
}

/// [`object_json`] with an already parsed schema, as a value tree for callers that edit
/// or nest it.
pub fn object_json_with(base: &str, class_name: &str, schema: &Schema, row: &ObjectRow) -> Value {
    serde_json::to_value(ObjectView {
        base,
        class_name,
        schema,
        row,
    })
    .unwrap_or(Value::Null)
}

/// DataObjectJSON of one row, serialised without an intermediate value tree (lists write
/// many of these; the tree, not the query, was their main cost).
pub struct ObjectView<'a> {
    /// The instance prefix `/v1.1/instances/<name>`.
    pub base: &'a str,
    /// Name of the row's class.
    pub class_name: &'a str,
    /// The class's parsed schema.
    pub schema: &'a Schema,
    /// The row.
    pub row: &'a ObjectRow,
}

impl Serialize for ObjectView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let row = self.row;
        let perm = |p: i64| ObjectPerm::from_i64(p).name();
        let data = stored_fields(&row.data);
        let mut m = s.serialize_map(Some(12 + self.schema.fields.len()))?;
        m.serialize_entry("id", &row.id)?;
        m.serialize_entry("created_at", &Timestamp(row.created_at))?;
        m.serialize_entry("updated_at", &Timestamp(row.updated_at))?;
        m.serialize_entry("revision", &row.revision)?;
        m.serialize_entry("owner", &row.owner)?;
        m.serialize_entry("owner_permissions", perm(row.owner_permissions))?;
        m.serialize_entry("group", &row.group_id)?;
        m.serialize_entry("group_permissions", perm(row.group_permissions))?;
        m.serialize_entry("other_permissions", perm(row.other_permissions))?;
        m.serialize_entry("channel", &row.channel)?;
        m.serialize_entry("channel_room", &row.channel_room)?;
        for f in &self.schema.fields {
            let value = RenderedValue {
                field: f,
                stored: data.get(f.key.as_str()).copied(),
                file_url: &files::file_url,
            };
            m.serialize_entry(&f.name, &value)?;
        }
        m.serialize_entry("links", &ObjectLinks(self))?;
        m.end()
    }
}

/// The `links` of an object.
struct ObjectLinks<'a>(&'a ObjectView<'a>);

impl Serialize for ObjectLinks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ObjectView {
            base,
            class_name,
            row,
            ..
        } = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(
            "self",
            &url!(*base, "/classes/", *class_name, "/objects/", row.id, "/"),
        )?;
        if let Some(o) = row.owner {
            m.serialize_entry("owner", &url!(*base, "/users/", o, "/"))?;
        }
        if let Some(g) = row.group_id {
            m.serialize_entry("group", &url!(*base, "/groups/", g, "/"))?;
        }
        if let Some(c) = &row.channel {
            m.serialize_entry("channel", &url!(*base, "/channels/", c, "/"))?;
        }
        m.end()
    }
}

/// An object's `data` text as a map (writers edit it).
fn parse_data(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Who may do what (§9.9)

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

    fn user_id(&self) -> Option<i64> {
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

/// Instance, then class (404 `Class was not found.` before authentication), then caller.
async fn class_ctx(
    app: &AppState,
    req: &Req,
    instance: &str,
    class: &str,
) -> ApiResult<(Ctx, Class)> {
    let inst = resolve_instance(app, instance).await?;
    let class = super::classes::find_class_cached(app, inst.id, class)
        .await?
        .ok_or_else(|| ApiError::model_not_found("Class"))?;
    let ctx = crate::auth::caller_in(app, req, inst).await?;
    Ok((ctx, class))
}

// ---------------------------------------------------------------------------------------
// Reading a body

/// A submitted change to one schema field.
#[derive(Debug, Clone)]
enum Change {
    Set(NewValue),
    Op(Operator),
    Upload(Upload),
    FileUrl(String),
}

/// The validated writable fields of an object body.
#[derive(Debug, Default)]
struct ObjectInput {
    changes: Vec<(Field, Change)>,
    owner: Option<Option<i64>>,
    owner_permissions: Option<i64>,
    group: Option<Option<i64>>,
    group_permissions: Option<i64>,
    other_permissions: Option<i64>,
    channel: Option<Option<String>>,
    channel_room: Option<Option<String>>,
}

fn read_input(
    body: &Map<String, Value>,
    uploads: &[Upload],
    schema: &Schema,
    creating: bool,
) -> Result<ObjectInput, FieldErrors> {
    let mut f = crate::fields::Fields::new(body, true);
    let perm = |f: &mut crate::fields::Fields, name: &str| {
        f.choice(name, ObjectPerm::NAMES, false)
            .and_then(|s| ObjectPerm::parse(&s))
            .map(ObjectPerm::as_i64)
    };
    let mut input = ObjectInput {
        owner: f.pk("owner", true, false),
        owner_permissions: perm(&mut f, "owner_permissions"),
        group: f.pk("group", true, false),
        group_permissions: perm(&mut f, "group_permissions"),
        other_permissions: perm(&mut f, "other_permissions"),
        ..Default::default()
    };
    if creating {
        for name in ["channel", "channel_room"] {
            if body.get(name).is_some_and(rivia_core::object::contains_nul) {
                f.errors.add(name, msg::NOT_STRING);
            }
        }
        input.channel = f.char(
            "channel",
            crate::fields::Char {
                max: 64,
                allow_blank: false,
                allow_null: true,
                trim: true,
            },
            false,
        );
        input.channel_room = f.char(
            "channel_room",
            crate::fields::Char {
                max: 64,
                allow_blank: true,
                allow_null: true,
                trim: false,
            },
            false,
        );
    }
    let mut errors = std::mem::take(&mut f.errors);
    for field in &schema.fields {
        let upload = uploads.iter().find(|u| u.field == field.name);
        match read_change(field, body.get(&field.name), upload, creating) {
            Ok(Some(c)) => input.changes.push((field.clone(), c)),
            Ok(None) => {}
            Err(m) => errors.add(&field.name, m),
        }
    }
    if errors.is_empty() {
        Ok(input)
    } else {
        Err(errors)
    }
}

fn read_change(
    field: &Field,
    raw: Option<&Value>,
    upload: Option<&Upload>,
    creating: bool,
) -> Result<Option<Change>, String> {
    if field.ftype == FieldType::File {
        if let Some(u) = upload {
            return Ok(Some(Change::Upload(u.clone())));
        }
        return match raw {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(Change::Set(NewValue::Null))),
            Some(Value::String(s)) if s.is_empty() => Ok(Some(Change::Set(NewValue::Null))),
            Some(Value::String(s)) => Ok(Some(Change::FileUrl(s.clone()))),
            Some(_) => Err(
                "The submitted data was not a file. Check the encoding type on the form.".into(),
            ),
        };
    }
    let Some(v) = raw else {
        return Ok(None);
    };
    if !creating && let Some(op) = parse_operator(field, v)? {
        return Ok(Some(Change::Op(op)));
    }
    validate_value(field, v).map(|n| Some(Change::Set(n)))
}

// ---------------------------------------------------------------------------------------
// Building the new state

/// Files written during a request, removed again if it fails.
#[derive(Default)]
struct NewFiles(Vec<String>);

impl NewFiles {
    async fn discard(self, app: &AppState) {
        for p in self.0 {
            files::remove_file(app, &p).await;
        }
    }
}

/// New data of an object: the current values of fields still in the schema (stale keys
/// of removed or retyped fields are dropped here), with the submitted changes applied.
/// A full update resets every absent field to null. Returns the data and the files it no
/// longer references.
#[allow(clippy::too_many_arguments)]
async fn build_data(
    app: &AppState,
    tx: &mut Tx,
    instance_id: i64,
    class: &Class,
    schema: &Schema,
    current: &Map<String, Value>,
    changes: &[(Field, Change)],
    full: bool,
    new_files: &mut NewFiles,
) -> ApiResult<(Map<String, Value>, Vec<String>)> {
    let mut data = Map::new();
    for f in &schema.fields {
        if let Some(v) = current.get(&f.key) {
            data.insert(f.key.clone(), v.clone());
        }
    }
    let mut errors = FieldErrors::new();
    let mut touched: Vec<&str> = Vec::new();
    for (f, change) in changes {
        touched.push(&f.key);
        let result = match change {
            Change::Set(v) => Ok(v.clone()),
            Change::Op(op) => apply_operator(f, data.get(&f.key), op),
            Change::Upload(u) => match files::store_upload(app, instance_id, class.id, u).await {
                Ok(p) => {
                    new_files.0.push(p.clone());
                    Ok(NewValue::Set(Value::String(p)))
                }
                Err(Ok(m)) => Err(m),
                Err(Err(e)) => return Err(e),
            },
            Change::FileUrl(url) => {
                match files::copy_from_url(app, instance_id, class.id, url).await {
                    Ok(p) => {
                        new_files.0.push(p.clone());
                        Ok(NewValue::Set(Value::String(p)))
                    }
                    Err(Ok(m)) => Err(m),
                    Err(Err(e)) => return Err(e),
                }
            }
        };
        match result {
            Ok(NewValue::Set(v)) => {
                data.insert(f.key.clone(), v);
            }
            Ok(NewValue::Null) => {
                data.remove(&f.key);
            }
            Err(m) => errors.add(&f.name, m),
        }
    }
    if full {
        for f in &schema.fields {
            if !touched.contains(&f.key.as_str()) {
                data.remove(&f.key);
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    check_references(tx, instance_id, class, schema, &mut data, &touched).await?;
    let size = object_size(&schema.fields, &data);
    if size > MAX_OBJECT_SIZE {
        return Err(ApiError::field(
            "non_field_errors",
            "Object maximum size exceeded.",
        ));
    }
    let dropped = schema
        .fields
        .iter()
        .filter(|f| f.ftype == FieldType::File)
        .filter_map(|f| match (current.get(&f.key), data.get(&f.key)) {
            (Some(Value::String(old)), new) if new != Some(&Value::String(old.clone())) => {
                Some(old.clone())
            }
            _ => None,
        })
        .collect();
    Ok((data, dropped))
}

/// The schema fields of a user's `profile` body (users API): validates them against the
/// `user_profile` schema exactly as the objects API would and returns the new data JSON
/// text and whether any schema value changed (which bumps the revision). `full` resets
/// absent fields to null (user PUT); `creating` refuses update operators. Field errors
/// come back as the bare field-error object, for nesting under `profile`.
pub async fn profile_fields(
    app: &AppState,
    instance_id: i64,
    class: &Class,
    current_data: &str,
    body: &Map<String, Value>,
    full: bool,
    creating: bool,
) -> Result<(String, bool), Result<Value, ApiError>> {
    let schema = class_schema(app, class);
    if schema.fields.is_empty() {
        return Ok((current_data.to_string(), false));
    }
    let input = read_input(body, &[], &schema, creating).map_err(|e| Ok(e.into_value()))?;
    let current = parse_data(current_data);
    // Reference checks read through a transaction; nothing is written in it.
    let mut tx = app.store.db.begin().await.map_err(|e| Err(e.into()))?;
    let mut new_files = NewFiles::default();
    let result = build_data(
        app,
        &mut tx,
        instance_id,
        class,
        &schema,
        &current,
        &input.changes,
        full,
        &mut new_files,
    )
    .await;
    drop(tx);
    match result {
        Ok((data, _)) => {
            let before: Map<String, Value> = schema
                .fields
                .iter()
                .filter_map(|f| current.get(&f.key).map(|v| (f.key.clone(), v.clone())))
                .collect();
            let changed = data != before;
            Ok((Value::Object(data).to_string(), changed))
        }
        Err(ApiError::Body(StatusCode::BAD_REQUEST, v)) => Err(Ok(v)),
        Err(other) => Err(Err(other)),
    }
}

fn ref_target(
    class: &Class,
    field: &Field,
    resolve: &std::collections::HashMap<String, i64>,
) -> Option<RefTarget> {
    match field.target.as_deref() {
        Some("self") => Some(RefTarget::Class(class.id)),
        Some("user") => Some(RefTarget::Users),
        Some(name) => resolve.get(name).map(|id| RefTarget::Class(*id)),
        None => None,
    }
}

/// References must point at existing objects; relations silently drop missing ids.
async fn check_references(
    tx: &mut Tx,
    instance_id: i64,
    class: &Class,
    schema: &Schema,
    data: &mut Map<String, Value>,
    touched: &[&str],
) -> ApiResult<()> {
    let mut targets = std::collections::HashMap::new();
    let mut errors = FieldErrors::new();
    for f in &schema.fields {
        if !matches!(f.ftype, FieldType::Reference | FieldType::Relation)
            || !touched.contains(&f.key.as_str())
        {
            continue;
        }
        let Some(v) = data.get(&f.key).cloned() else {
            continue;
        };
        if let Some(name) = f.target.as_deref()
            && !matches!(name, "self" | "user")
            && !targets.contains_key(name)
        {
            let row = tx
                .query_opt(
                    "SELECT id FROM classes WHERE instance_id = $1 AND name = $2",
                    rivia_store::params![instance_id, name],
                )
                .await?;
            if let Some(r) = row {
                targets.insert(name.to_string(), r.i64(0));
            }
        }
        let ids: Vec<i64> = match &v {
            Value::Array(a) => a.iter().filter_map(Value::as_i64).collect(),
            other => other.as_i64().into_iter().collect(),
        };
        let found = match ref_target(class, f, &targets) {
            Some(t) => existing_ids(tx, instance_id, t, &ids).await?,
            None => Vec::new(),
        };
        if f.ftype == FieldType::Reference {
            if found.is_empty() {
                errors.add(&f.name, "Target with specified id does not exist.");
            }
        } else {
            let kept: Vec<i64> = ids.into_iter().filter(|i| found.contains(i)).collect();
            match relation_value(kept) {
                NewValue::Set(v) => data.insert(f.key.clone(), v),
                NewValue::Null => data.remove(&f.key),
            };
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::fields(errors))
    }
}

/// Maps a unique-index violation to the field it guards.
fn conflict_error(class: &Class, schema: &Schema, e: StoreError) -> ApiError {
    let StoreError::Conflict(text) = &e else {
        return e.into();
    };
    for f in schema.fields.iter().filter(|f| f.unique) {
        if text.contains(&rivia_store::sql::index_name(class.id, &f.key)) {
            return ApiError::field(&f.name, msg::UNIQUE);
        }
    }
    e.into()
}

// ---------------------------------------------------------------------------------------
// Handlers

async fn create_object(
    State(app): State<AppState>,
    Path((instance, class_name)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, class) = class_ctx(&app, &req, &instance, &class_name).await?;
    if class.name == USER_PROFILE {
        return Err(ApiError::forbidden());
    }
    let access = create_access(&app, &ctx, &class).await?;
    ctx.throttle(&app)?;
    let schema = class_schema(&app, &class);
    let body = req.body_object()?;
    let input = read_input(&body, &req.body.files, &schema, true).map_err(ApiError::fields)?;
    let mut new_files = NewFiles::default();
    match create_in_tx(&app, &ctx, &class, &schema, &access, &input, &mut new_files).await {
        Ok(row) => Ok(created(object_json_with(
            &ctx.base(),
            &class.name,
            &schema,
            &row,
        ))),
        Err(e) => {
            new_files.discard(&app).await;
            Err(e)
        }
    }
}

/// [`access`] for a create. When the class lets every user create objects, a user's
/// groups play no part in the gate, so they are not read (one database read less on the
/// hot create path); [`check_group`] reads them if the object names a group.
async fn create_access(app: &AppState, ctx: &Ctx, class: &Class) -> ApiResult<Access> {
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

async fn check_group(app: &AppState, ctx: &Ctx, access: &Access, group: i64) -> ApiResult<()> {
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

async fn check_owner(app: &AppState, ctx: &Ctx, owner: i64) -> ApiResult<()> {
    if app.store.user(ctx.instance.id, owner).await?.is_some() {
        Ok(())
    } else {
        Err(ApiError::field(
            "owner",
            msg::invalid_pk(&owner.to_string()),
        ))
    }
}

async fn create_in_tx(
    app: &AppState,
    ctx: &Ctx,
    class: &Class,
    schema: &Schema,
    access: &Access,
    input: &ObjectInput,
    new_files: &mut NewFiles,
) -> ApiResult<ObjectRow> {
    let owner = match access.user_id() {
        Some(uid) => Some(uid),
        None => input.owner.flatten(),
    };
    if access.user_id().is_none()
        && let Some(o) = owner
    {
        check_owner(app, ctx, o).await?;
    }
    if let Some(Some(g)) = input.group {
        check_group(app, ctx, access, g).await?;
    }
    let mut tx = app.store.db.begin().await?;
    let (channel, channel_room) = resolve_channel(&mut tx, ctx.instance.id, input).await?;
    let (data, _) = build_data(
        app,
        &mut tx,
        ctx.instance.id,
        class,
        schema,
        &Map::new(),
        &input.changes,
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
        return insert_object_and_commit(tx, ctx.instance.id, class.id, &values)
            .await
            .map_err(|e| conflict_error(class, schema, e));
    }
    let row = insert_object(&mut tx, ctx.instance.id, class.id, &values)
        .await
        .map_err(|e| conflict_error(class, schema, e))?;
    let payload = change_payload(&ctx.base(), class, schema, &row);
    let change = append_object_change(app, ctx, &mut tx, class, &row, "create", payload).await?;
    tx.commit().await?;
    announce(app, change);
    Ok(row)
}

/// The object as it appears in a change payload: DataObjectJSON without `links`,
/// `channel` and `channel_room` (spec-core §10.6).
fn change_payload(
    base: &str,
    class: &Class,
    schema: &Schema,
    row: &ObjectRow,
) -> Map<String, Value> {
    match object_json_with(base, &class.name, schema, row) {
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
async fn append_object_change(
    app: &AppState,
    ctx: &Ctx,
    tx: &mut Tx,
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
    super::channels::check_object_change_publish(app, ctx, &channel).await?;
    let change = rivia_store::channels::NewChange {
        instance_id: ctx.instance.id,
        channel_id: channel.id,
        room: row.channel_room.clone(),
        action: action.to_string(),
        author: super::channels::author_json(ctx),
        metadata: json!({"type": "object", "class": class.name}).to_string(),
        payload: Value::Object(payload).to_string(),
    };
    Ok(Some(
        rivia_store::channels::append_change(tx, &change).await?,
    ))
}

/// Wakes this node's pollers once the write that produced `change` has committed.
fn announce(app: &AppState, change: Option<rivia_store::channels::Change>) {
    if let Some(c) = change {
        app.store.bus.committed(c);
    }
}

async fn resolve_channel(
    tx: &mut Tx,
    instance_id: i64,
    input: &ObjectInput,
) -> ApiResult<(Option<String>, Option<String>)> {
    let Some(Some(name)) = &input.channel else {
        return Ok((None, None));
    };
    let name = name.to_lowercase();
    let Some(kind) = channel_kind(tx, instance_id, &name).await? else {
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

async fn load_visible(
    app: &AppState,
    class: &Class,
    access: &Access,
    id: &str,
) -> ApiResult<ObjectRow> {
    let id = path_id(id)?;
    app.store
        .visible_object(class.id, id, &access.visibility())
        .await?
        .ok_or_else(ApiError::not_found)
}

async fn get_object(
    State(app): State<AppState>,
    Path((instance, class_name, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, class) = class_ctx(&app, &req, &instance, &class_name).await?;
    let access = access(&app, &ctx, &class, Op::Read).await?;
    ctx.throttle(&app)?;
    let row = load_visible(&app, &class, &access, &id).await?;
    let schema = class_schema(&app, &class);
    Ok(ok(ObjectView {
        base: &ctx.base(),
        class_name: &class.name,
        schema: &schema,
        row: &row,
    }))
}

async fn update_object_full(
    State(app): State<AppState>,
    Path((instance, class_name, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    update_object_handler(app, instance, class_name, id, req, true).await
}

async fn update_object_partial(
    State(app): State<AppState>,
    Path((instance, class_name, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    update_object_handler(app, instance, class_name, id, req, false).await
}

async fn update_object_handler(
    app: AppState,
    instance: String,
    class_name: String,
    id: String,
    req: Req,
    full: bool,
) -> ApiResult<Response> {
    let (ctx, class) = class_ctx(&app, &req, &instance, &class_name).await?;
    let access = access(&app, &ctx, &class, Op::Update).await?;
    ctx.throttle(&app)?;
    let current = load_visible(&app, &class, &access, &id).await?;
    if access.effective(&current) < ObjectPerm::Write {
        return Err(ApiError::forbidden());
    }
    let schema = class_schema(&app, &class);
    let body = req.body_object()?;
    let input = read_input(&body, &req.body.files, &schema, false).map_err(ApiError::fields)?;
    let mut new_files = NewFiles::default();
    let result = update_in_tx(
        &app,
        &ctx,
        &class,
        &schema,
        &access,
        &body,
        &input,
        current.id,
        full,
        &mut new_files,
    )
    .await;
    match result {
        Ok((row, dropped)) => {
            for p in dropped {
                files::remove_file(&app, &p).await;
            }
            Ok(ok(object_json_with(
                &ctx.base(),
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
async fn updated_builtins(
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

#[allow(clippy::too_many_arguments)]
async fn update_in_tx(
    app: &AppState,
    ctx: &Ctx,
    class: &Class,
    schema: &Schema,
    access: &Access,
    body: &Map<String, Value>,
    input: &ObjectInput,
    id: i64,
    full: bool,
    new_files: &mut NewFiles,
) -> ApiResult<(ObjectRow, Vec<String>)> {
    let mut tx = app.store.db.begin().await?;
    // Re-read under the write lock so operators like `_increment` never lose updates.
    let row = lock_object(&mut tx, class.id, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    check_expected_revision(body, row.revision)?;
    let (owner, group, perms) =
        updated_builtins(app, ctx, class, access, input, &row, full).await?;
    let current = parse_data(&row.data);
    let (data, dropped) = build_data(
        app,
        &mut tx,
        ctx.instance.id,
        class,
        schema,
        &current,
        &input.changes,
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
    let saved = update_object(&mut tx, class.id, id, &values, bump)
        .await
        .map_err(|e| conflict_error(class, schema, e))?
        .ok_or_else(ApiError::not_found)?;
    let change = if saved.channel.is_some() {
        // Only the fields whose values changed, plus the id.
        let before = change_payload(&ctx.base(), class, schema, &row);
        let mut payload: Map<String, Value> = change_payload(&ctx.base(), class, schema, &saved)
            .into_iter()
            .filter(|(k, v)| before.get(k) != Some(v))
            .collect();
        payload.insert("id".into(), json!(saved.id));
        append_object_change(app, ctx, &mut tx, class, &saved, "update", payload).await?
    } else {
        None
    };
    tx.commit().await?;
    announce(app, change);
    Ok((saved, dropped))
}

async fn delete_object_handler(
    State(app): State<AppState>,
    Path((instance, class_name, id)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, class) = class_ctx(&app, &req, &instance, &class_name).await?;
    if class.name == USER_PROFILE {
        return Err(ApiError::forbidden());
    }
    let access = access(&app, &ctx, &class, Op::Delete).await?;
    ctx.throttle(&app)?;
    let row = load_visible(&app, &class, &access, &id).await?;
    if access.effective(&row) < ObjectPerm::Full {
        return Err(ApiError::forbidden());
    }
    let schema = class_schema(&app, &class);
    let mut tx = app.store.db.begin().await?;
    if !delete_object(&mut tx, class.id, row.id).await? {
        return Err(ApiError::not_found());
    }
    let payload = change_payload(&ctx.base(), &class, &schema, &row);
    let change = append_object_change(&app, &ctx, &mut tx, &class, &row, "delete", payload).await?;
    tx.commit().await?;
    announce(&app, change);
    let data = parse_data(&row.data);
    for f in schema.fields.iter().filter(|f| f.ftype == FieldType::File) {
        if let Some(Value::String(p)) = data.get(&f.key) {
            files::remove_file(&app, p).await;
        }
    }
    Ok(no_content())
}

// ---------------------------------------------------------------------------------------
// Listing

fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::Field(m) => ApiError::field_str("query", m),
        QueryError::Structural(m) => ApiError::Body(StatusCode::BAD_REQUEST, json!([m])),
    }
}

/// Resolves `_is` targets: `self`, `user` (profiles) and class names.
async fn targets_for(
    app: &AppState,
    ctx: &Ctx,
    class: &Class,
    schema: &Schema,
) -> ApiResult<Vec<(String, Target)>> {
    let mut out = Vec::new();
    for f in &schema.fields {
        let Some(t) = f.target.as_deref() else {
            continue;
        };
        if out.iter().any(|(n, _)| n == t) {
            continue;
        }
        let target = match t {
            "self" => Some(Target {
                kind: TargetKind::Class(class.id),
                schema: schema.clone(),
            }),
            "user" => app
                .store
                .class_by_name(ctx.instance.id, USER_PROFILE)
                .await?
                .map(|p| Target {
                    kind: TargetKind::User {
                        profile_class_id: p.id,
                    },
                    schema: Schema::from_stored(&p.schema),
                }),
            name => app
                .store
                .class_by_name(ctx.instance.id, name)
                .await?
                .map(|c| Target {
                    kind: TargetKind::Class(c.id),
                    schema: Schema::from_stored(&c.schema),
                }),
        };
        if let Some(target) = target {
            out.push((t.to_string(), target));
        }
    }
    Ok(out)
}

/// `order_by` (§9.7): the order field, its direction, and whether values are JSON.
fn parse_order_by(
    raw: Option<&str>,
    schema: &Schema,
) -> ApiResult<(OrderField, bool, Option<Field>)> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok((OrderField::Id, false, None));
    };
    let (desc, name) = match raw.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, raw),
    };
    match name {
        "id" => Ok((OrderField::Id, desc, None)),
        "created_at" => Ok((OrderField::Column("created_at"), desc, None)),
        "updated_at" => Ok((OrderField::Column("updated_at"), desc, None)),
        "revision" | "owner" | "group" | "channel" | "channel_room" | "owner_permissions"
        | "group_permissions" | "other_permissions" | "_klass" | "_data" | "_files" => Err(
            ApiError::bad_request("Cannot use specified order_by field."),
        ),
        other => match schema.field(other) {
            Some(f) if f.order_index => {
                Ok((OrderField::Schema(f.key.clone()), desc, Some(f.clone())))
            }
            Some(_) => Err(ApiError::bad_request(
                "Cannot use specified order_by field. Set required index on schema first.",
            )),
            None => Err(ApiError::bad_request(
                "Incorrect order_by parameter provided.",
            )),
        },
    }
}

/// Parses a `last_value` cursor for the order field into the stored domain.
fn parse_last_value(raw: &str, order: &OrderField, field: Option<&Field>) -> ApiResult<Scalar> {
    let bad = ApiError::bad_page;
    match (order, field.map(|f| f.ftype)) {
        (OrderField::Column(_), _) => rivia_core::time::parse_lenient(raw)
            .map(Scalar::Int)
            .ok_or_else(bad),
        (_, Some(FieldType::Integer | FieldType::Reference)) => raw
            .trim()
            .parse::<i64>()
            .map(Scalar::Int)
            .map_err(|_| bad()),
        (_, Some(FieldType::Float)) => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Scalar::Float)
            .ok_or_else(bad),
        (_, Some(FieldType::Boolean)) => match raw {
            "true" | "True" | "1" => Ok(Scalar::Bool(true)),
            "false" | "False" | "0" => Ok(Scalar::Bool(false)),
            _ => Err(bad()),
        },
        (_, Some(FieldType::Datetime)) => rivia_core::time::parse_lenient(raw)
            .map(|m| Scalar::Str(rivia_core::time::format_micros(m)))
            .ok_or_else(bad),
        (_, Some(FieldType::String)) if raw.chars().count() <= 128 => Ok(Scalar::Str(raw.into())),
        _ => Err(bad()),
    }
}

/// The cursor value of a row for the order field (`None` when null).
fn row_order_value(row: &ObjectRow, order: &OrderField) -> Option<String> {
    match order {
        OrderField::Id => None,
        OrderField::Column("created_at") => Some(rivia_core::time::format_micros(row.created_at)),
        OrderField::Column(_) => Some(rivia_core::time::format_micros(row.updated_at)),
        OrderField::Schema(key) => match parse_data(&row.data).get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        },
    }
}

async fn list_objects(
    State(app): State<AppState>,
    Path((instance, class_name)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let (ctx, class) = class_ctx(&app, &req, &instance, &class_name).await?;
    let access = access(&app, &ctx, &class, Op::Read).await?;
    ctx.throttle(&app)?;
    let schema = class_schema(&app, &class);
    let raw_queries = req.params("query");
    let targets = if raw_queries.iter().any(|q| q.contains("_is")) {
        targets_for(&app, &ctx, &class, &schema).await?
    } else {
        Vec::new()
    };
    let query: Query = {
        let resolve = |name: &str| {
            targets
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.clone())
        };
        let pctx = ParseCtx {
            schema: &schema,
            user_scope: false,
            resolve: &resolve,
        };
        parse_queries(&raw_queries, &pctx).map_err(query_error)?
    };
    let order_by = req.param("order_by");
    let (order, descending, order_field) = parse_order_by(order_by, &schema)?;
    let direction = req.param("direction");
    // QUIRK (§9.7): `ordering` only matters once a cursor is followed.
    let ordering = if order == OrderField::Id && order_by.is_none() && direction.is_some() {
        req.param("ordering")
    } else {
        None
    };
    let mut page = PageRequest::parse(
        req.param("page_size"),
        ordering,
        direction,
        req.param("last_pk"),
        false,
    )
    .map_err(|_| ApiError::bad_page())?;
    if order_by.is_some() {
        page.descending = descending;
    }
    page.ordering_param = None;
    let boundary = match (req.param("last_value"), &order) {
        (Some(raw), OrderField::Schema(_) | OrderField::Column(_)) if page.direction.is_some() => {
            Some(parse_last_value(raw, &order, order_field.as_ref())?)
        }
        _ => None,
    };
    let include_count = req
        .param("include_count")
        .is_some_and(|v| crate::fields::parse_bool(&json!(v)) == Some(true));
    let visibility = access.visibility();
    let list_query = ObjectListQuery {
        instance_id: ctx.instance.id,
        class_id: class.id,
        query: &query,
        visibility: &visibility,
        order: order.clone(),
        keyset: page.keyset(),
        boundary,
        count: include_count,
        timeout: LIST_TIMEOUT,
    };
    let (rows, count) = app.store.list_objects(&list_query).await?;
    let links = page_links(&req.path, &page, order_by, &order, &rows);
    let base = ctx.base();
    let objects = rows
        .iter()
        .map(|row| ObjectView {
            base: &base,
            class_name: &class.name,
            schema: &schema,
            row,
        })
        .collect();
    Ok(ok(ObjectPage {
        next: links.0,
        prev: links.1,
        objects,
        objects_count: count,
    }))
}

/// The objects list envelope (§1.4 plus `objects_count` when asked for).
#[derive(Serialize)]
struct ObjectPage<'a> {
    next: Option<String>,
    prev: Option<String>,
    objects: Vec<ObjectView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    objects_count: Option<i64>,
}

/// next/prev links carrying `page_size`, `order_by`, `direction`, `last_pk`, `last_value`.
fn page_links(
    path: &str,
    page: &PageRequest,
    order_by: Option<&str>,
    order: &OrderField,
    rows: &[ObjectRow],
) -> (Option<String>, Option<String>) {
    let first_last = match (rows.first(), rows.last()) {
        (Some(f), Some(l)) => Some((f.id, l.id)),
        _ => None,
    };
    let (next, prev) = page.links(rows.len(), first_last);
    let render = |c: Cursor| {
        let mut parts = Vec::new();
        if let Some(ps) = &page.page_size_param {
            parts.push(format!("page_size={}", encode_query_value(ps)));
        }
        if let Some(ob) = order_by {
            parts.push(format!("order_by={}", encode_query_value(ob)));
        }
        c.push_params(&mut parts);
        if let Some(pk) = c.last_pk
            && let Some(row) = rows.iter().find(|r| r.id == pk)
            && let Some(v) = row_order_value(row, order)
        {
            parts.push(format!("last_value={}", encode_query_value(&v)));
        }
        join_link(path, &parts)
    };
    (next.map(render), prev.map(render))
}

// ---------------------------------------------------------------------------------------
// Profiles (for the users API)
