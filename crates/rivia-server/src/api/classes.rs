//! Classes (schemas) — spec-core §8.

use super::{Api, list_response, stored_json, ts};
use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::state::AppState;
use axum::response::Response;
use rivia_core::names::{SlugFamily, validate_slug};
use rivia_core::perms::{AdminTable, ClassPerm, Op};
use rivia_core::schema::{Schema, validate_schema};
use rivia_store::classes::{Class, ClassUpdate, ClassVisibility, CreateClassError, NewClass};
use serde_json::{Map, Value, json};

/// The class every instance has for user profiles; it cannot be deleted.
pub(crate) const USER_PROFILE: &str = "user_profile";

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    let list = "/v1.1/instances/{instance}/classes/";
    let item = "/v1.1/instances/{instance}/classes/{class}/";
    api.get(list, "List classes", list_classes)
        .post(list, "Create a class", create_class)
        .get(item, "Get a class", get_class)
        .put(
            item,
            "Update a class (absent schema/metadata/permissions reset)",
            update_class,
        )
        .patch(item, "Partially update a class", update_class)
        .delete(item, "Delete a class and all its objects", delete_class)
}

/// ClassJSON (spec-core §8.1). `status` is always `ready`: indexes are built inside the
/// saving transaction, so there is never a pending migration to report.
pub(crate) fn class_json(base: &str, c: &Class) -> Value {
    let schema = Schema::from_stored(&c.schema);
    let mut links = Map::new();
    links.insert("self".into(), json!(format!("{base}/classes/{}/", c.name)));
    links.insert(
        "objects".into(),
        json!(format!("{base}/classes/{}/objects/", c.name)),
    );
    if let Some(g) = c.group_id {
        links.insert("group".into(), json!(format!("{base}/groups/{g}/")));
    }
    json!({
        "name": c.name,
        "description": c.description,
        "schema": schema.public(),
        "status": "ready",
        "created_at": ts(c.created_at),
        "updated_at": ts(c.updated_at),
        "objects_count": c.objects_count,
        "revision": c.revision,
        "group": c.group_id,
        "group_permissions": ClassPerm::from_i64(c.group_permissions).name(),
        "other_permissions": ClassPerm::from_i64(c.other_permissions).name(),
        "metadata": stored_json(&c.metadata),
        "links": Value::Object(links),
    })
}

/// Which classes the caller sees; anonymous callers and admins without a role get 403.
pub(crate) fn class_visibility(ctx: &Ctx) -> ApiResult<ClassVisibility> {
    match &ctx.who {
        Who::Admin { .. } => {
            ctx.require_admin(AdminTable::Data, Op::Read)?;
            Ok(ClassVisibility::All)
        }
        Who::ApiKey { key, .. } if key.flags.ignore_acl => Ok(ClassVisibility::All),
        Who::ApiKey { user: Some(u), .. } => Ok(ClassVisibility::User(u.id)),
        Who::ApiKey { user: None, .. } => Ok(ClassVisibility::Others),
        Who::Anonymous => Err(ApiError::forbidden()),
    }
}

async fn list_classes(call: Call<()>) -> ApiResult<Response> {
    let (ctx, visibility) = call.check(async |ctx| class_visibility(ctx)).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let list = app
        .store
        .list_classes(
            ctx.instance.id,
            visibility,
            req.param("name__startswith"),
            &page.keyset(),
        )
        .await?;
    let base = ctx.base();
    Ok(list_response(&req, &page, list, |c| {
        (c.id, class_json(&base, &c))
    }))
}

/// Looks up a class by its URL name (lowercased); `None` when missing. Reads the database
/// and counts the class's objects, so `objects_count` is current: the class endpoints use
/// this.
pub(crate) async fn find_class(
    app: &AppState,
    instance_id: i64,
    name: &str,
) -> ApiResult<Option<Class>> {
    let lower = name.to_lowercase();
    if lower.is_empty() || lower.len() > 64 {
        return Ok(None);
    }
    Ok(app.store.class_by_name_counted(instance_id, &lower).await?)
}

/// [`find_class`] through the cache, without counting (schema and permissions only;
/// `objects_count` is `None`): the objects endpoints use this on every request.
pub(crate) async fn find_class_cached(
    app: &AppState,
    instance_id: i64,
    name: &str,
) -> ApiResult<Option<Class>> {
    let lower = name.to_lowercase();
    if lower.is_empty() || lower.len() > 64 {
        return Ok(None);
    }
    let generation = app.store.auth_generation();
    let key = (instance_id, lower);
    if let Some(c) = app.cache.classes.get(&key, generation) {
        return Ok(Some(c));
    }
    let found = app.store.class_by_name(instance_id, &key.1).await?;
    if let Some(c) = &found {
        app.cache.classes.put(key, c.clone(), generation);
    }
    Ok(found)
}

async fn get_class(call: Call<String>) -> ApiResult<Response> {
    let (ctx, visibility) = call.check(async |ctx| class_visibility(ctx)).await?;
    let Call {
        app, path: name, ..
    } = call;
    let class = find_class(&app, ctx.instance.id, &name)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if !app.store.class_visible(&class, visibility).await? {
        return Err(ApiError::not_found());
    }
    Ok(ok(class_json(&ctx.base(), &class)))
}

/// Validated writable fields of a class body.
struct ClassInput {
    description: Option<String>,
    schema: Option<Schema>,
    group: Option<Option<i64>>,
    group_permissions: Option<i64>,
    other_permissions: Option<i64>,
    metadata: Option<String>,
}

async fn read_class_input(
    app: &AppState,
    ctx: &Ctx,
    body: &Map<String, Value>,
    partial: bool,
    current: Option<&Class>,
) -> ApiResult<ClassInput> {
    let mut f = Fields::new(body, partial);
    let description = f.string("description", Char::text(256), false);
    let choices = ClassPerm::NAMES;
    let group_permissions = f
        .choice("group_permissions", choices, false)
        .and_then(|s| ClassPerm::parse(&s))
        .map(ClassPerm::as_i64);
    let other_permissions = f
        .choice("other_permissions", choices, false)
        .and_then(|s| ClassPerm::parse(&s))
        .map(ClassPerm::as_i64);
    let metadata = f.metadata("metadata");
    let group = f.pk("group", true, false);
    let mut errors = std::mem::take(&mut f.errors);
    if let Some(Some(gid)) = group
        && !app.store.group_exists(ctx.instance.id, gid).await?
    {
        errors.add(
            "group",
            rivia_core::errors::msg::invalid_pk(&gid.to_string()),
        );
    }
    let schema = match body.get("schema") {
        None => None,
        Some(raw) => {
            let old = current
                .map(|c| Schema::from_stored(&c.schema))
                .unwrap_or_default();
            let new_revision = current.map_or(1, |c| c.revision + 1);
            let names = app.store.class_names(ctx.instance.id).await?;
            let exists = |n: &str| names.iter().any(|c| c == n);
            match validate_schema(raw, &old, new_revision, &exists) {
                Ok(s) => Some(s),
                Err(e) => {
                    errors.add("schema", e.0);
                    None
                }
            }
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    Ok(ClassInput {
        description,
        schema,
        group,
        group_permissions,
        other_permissions,
        metadata,
    })
}

async fn create_class(call: Call<()>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::Data, Op::Create).await?;
    let Call { app, req, .. } = call;
    let body = req.body_object()?;
    let name = match body.get("name") {
        None | Some(Value::Null) => Err(vec![rivia_core::errors::msg::REQUIRED.to_string()]),
        Some(Value::String(s)) => validate_slug(s, SlugFamily::Class),
        Some(other) => validate_slug(&other.to_string(), SlugFamily::Class),
    };
    let input = read_class_input(&app, &ctx, &body, false, None).await;
    let (name, input) = match (name, input) {
        (Ok(n), Ok(i)) => (n, i),
        (name, input) => {
            let mut errors = rivia_core::FieldErrors::new();
            match name {
                Err(msgs) => msgs.into_iter().for_each(|m| errors.add("name", m)),
                // DRF's unique validator runs with the other fields' validation, so a
                // taken name is reported together with their errors.
                Ok(n) => {
                    let lower = n.to_lowercase();
                    if app
                        .store
                        .class_by_name(ctx.instance.id, &lower)
                        .await?
                        .is_some()
                    {
                        errors.add("name", rivia_core::errors::msg::UNIQUE);
                    }
                }
            }
            match input {
                Err(ApiError::Body(_, Value::Object(m))) => {
                    for (k, v) in m {
                        errors.set(&k, v);
                    }
                }
                Err(other) => return Err(other),
                Ok(_) => {}
            }
            return Err(ApiError::fields(errors));
        }
    };
    let schema = input.schema.unwrap_or_default();
    let new = NewClass {
        name,
        description: input.description.unwrap_or_default(),
        schema: schema.to_stored(),
        group_id: input.group.flatten(),
        group_permissions: input
            .group_permissions
            .unwrap_or(ClassPerm::CreateObjects.as_i64()),
        other_permissions: input
            .other_permissions
            .unwrap_or(ClassPerm::CreateObjects.as_i64()),
        metadata: input.metadata.unwrap_or_else(|| "{}".into()),
    };
    let limit = app.settings.class_limit;
    match app
        .store
        .create_class(ctx.instance.id, &new, &schema, limit)
        .await
    {
        Ok(class) => Ok(created(class_json(&ctx.base(), &class))),
        Err(CreateClassError::CountExceeded(n)) => Err(ApiError::bad_request(format!(
            "Class count exceeded ({n})."
        ))),
        Err(CreateClassError::NameTaken) => {
            Err(ApiError::field("name", rivia_core::errors::msg::UNIQUE))
        }
        Err(CreateClassError::Store(e)) => Err(e.into()),
    }
}

/// `expected_revision` (write-only): when given and non-zero it must equal the current one.
pub(crate) fn check_expected_revision(body: &Map<String, Value>, current: i64) -> ApiResult<()> {
    let Some(raw) = body.get("expected_revision") else {
        return Ok(());
    };
    let expected = match raw {
        Value::Null => return Ok(()),
        Value::Number(n) => n.as_i64(),
        Value::String(s) if s.is_empty() => return Ok(()),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match expected {
        None => Err(ApiError::field(
            "expected_revision",
            rivia_core::errors::msg::INVALID_INT,
        )),
        Some(0) => Ok(()),
        Some(e) if e == current => Ok(()),
        Some(e) => Err(ApiError::field_str(
            "expected_revision",
            format!("Revision mismatch. Expected {e}, got {current}."),
        )),
    }
}

async fn update_class(call: Call<String>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::Data, Op::Update).await?;
    let Call {
        app,
        req,
        path: name,
        ..
    } = call;
    let body = req.body_object()?;
    let partial = req.is_partial();
    let name = name.to_lowercase();
    if name.is_empty() || name.len() > 64 {
        return Err(ApiError::not_found());
    }
    // Validated against the class as held by the update, so concurrent schema changes
    // apply one after the other, each to the schema the previous one left.
    let held = app
        .store
        .begin_class_update(ctx.instance.id, &name)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let upd = class_update(&app, &ctx, &body, partial, &held.class).await?;
    let saved = held.save(&upd).await?;
    Ok(ok(class_json(&ctx.base(), &saved)))
}

/// The new state of `class` from a PUT/PATCH body, validated against it.
async fn class_update(
    app: &AppState,
    ctx: &Ctx,
    body: &Map<String, Value>,
    partial: bool,
    class: &Class,
) -> ApiResult<ClassUpdate> {
    let input = read_class_input(app, ctx, body, partial, Some(class)).await?;
    check_expected_revision(body, class.revision)?;
    // PUT resets fields with serializer defaults (spec-core §1.10); PATCH keeps them.
    let keep = |partial_value: i64, default: i64| if partial { partial_value } else { default };
    let create_objects = ClassPerm::CreateObjects.as_i64();
    Ok(ClassUpdate {
        description: input
            .description
            .unwrap_or_else(|| class.description.clone()),
        schema: match input.schema {
            Some(s) => s,
            None if partial => Schema::from_stored(&class.schema),
            None => Schema::default(),
        },
        group_id: input.group.unwrap_or(class.group_id),
        group_permissions: input
            .group_permissions
            .unwrap_or_else(|| keep(class.group_permissions, create_objects)),
        other_permissions: input
            .other_permissions
            .unwrap_or_else(|| keep(class.other_permissions, create_objects)),
        metadata: input.metadata.unwrap_or_else(|| {
            if partial {
                class.metadata.clone()
            } else {
                "{}".into()
            }
        }),
    })
}

async fn delete_class(call: Call<String>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::Data, Op::Delete).await?;
    let Call {
        app, path: name, ..
    } = call;
    let class = find_class(&app, ctx.instance.id, &name)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if class.name == USER_PROFILE {
        return Err(ApiError::forbidden());
    }
    app.store.delete_class(class.id).await?;
    crate::api::files::remove_class_files(&app, ctx.instance.id, class.id).await;
    Ok(no_content())
}
