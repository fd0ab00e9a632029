//! Instances (spec-core §4).

use super::account::admin_json;
use super::{Api, list_response, stored_json, ts};
use crate::auth::{Principal, authenticate, throttle_account};
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_core::names::{SlugFamily, validate_slug};
use rivia_core::perms::Role;
use rivia_store::instances::{CreateInstanceError, Instance};
use serde_json::{Map, Value, json};

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    api.get("/v1.1/instances/", "List instances", list_instances)
        .post("/v1.1/instances/", "Create an instance", create_instance)
        .get(
            "/v1.1/instances/{instance}/",
            "Get an instance",
            get_instance,
        )
        .put(
            "/v1.1/instances/{instance}/",
            "Update an instance",
            update_instance,
        )
        .patch(
            "/v1.1/instances/{instance}/",
            "Partially update an instance",
            update_instance,
        )
        .delete(
            "/v1.1/instances/{instance}/",
            "Delete an instance",
            delete_instance,
        )
        .post(
            "/v1.1/instances/{instance}/rename/",
            "Rename an instance",
            rename_instance,
        )
}

const LINKS: &[(&str, &str)] = &[
    ("admins", "admins/"),
    ("snippets", "snippets/"),
    ("endpoints", "endpoints/"),
    ("push_notification", "push_notifications/"),
    ("classes", "classes/"),
    ("invitations", "invitations/"),
    ("api_keys", "api_keys/"),
    ("triggers", "triggers/"),
    ("schedules", "schedules/"),
    ("users", "users/"),
    ("groups", "groups/"),
    ("channels", "channels/"),
    ("batch", "batch/"),
    ("rename", "rename/"),
    ("backups", "backups/"),
    ("restores", "restores/"),
    ("hosting", "hosting/"),
];

/// InstanceJSON; `role` is the caller's stored role name or `api_key`.
pub(crate) fn instance_json(i: &Instance, owner: &Value, role: &str) -> Value {
    let base = format!("/v1.1/instances/{}/", i.name);
    let mut links = Map::new();
    links.insert("self".into(), Value::String(base.clone()));
    for (name, suffix) in LINKS {
        links.insert((*name).into(), Value::String(format!("{base}{suffix}")));
    }
    json!({
        "name": i.name,
        "description": i.description,
        "owner": owner,
        "created_at": ts(i.created_at),
        "updated_at": ts(i.updated_at),
        "role": role,
        "location": "rivia",
        "metadata": stored_json(&i.metadata),
        "links": links,
    })
}

async fn owner_json(app: &AppState, i: &Instance) -> ApiResult<Value> {
    let owner = app.store.admin_by_id(i.owner_id).await?;
    Ok(owner.map(|o| admin_json(&o)).unwrap_or(Value::Null))
}

async fn render(app: &AppState, i: &Instance, role: &str) -> ApiResult<Value> {
    Ok(instance_json(i, &owner_json(app, i).await?, role))
}

async fn list_instances(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    let principal = authenticate(&app, &req, None).await?;
    throttle_account(&app, &req, &principal)?;
    let page = req.page(false)?;
    let prefix = req.param("name__startswith");
    match &principal {
        Principal::Admin(admin) => {
            let list = app
                .store
                .list_instances_for_admin(admin.id, prefix, &page.keyset())
                .await?;
            let mut owners = std::collections::HashMap::new();
            for (i, _) in &list {
                if let std::collections::hash_map::Entry::Vacant(e) = owners.entry(i.owner_id) {
                    e.insert(owner_json(&app, i).await?);
                }
            }
            Ok(list_response(&req, &page, list, |(i, role)| {
                let owner = owners.get(&i.owner_id).cloned().unwrap_or(Value::Null);
                (i.id, instance_json(&i, &owner, role.name()))
            }))
        }
        Principal::ApiKey { key, .. } => {
            let own = app.store.instance_by_id(key.instance_id).await?;
            let keyset = page.keyset();
            let matches = own.filter(|i| {
                prefix.is_none_or(|p| i.name.starts_with(&p.to_lowercase()))
                    && keyset
                        .bound
                        .is_none_or(|(greater, pk)| if greater { i.id > pk } else { i.id < pk })
                    && keyset.limit > 0
            });
            let mut list = Vec::new();
            if let Some(i) = matches {
                let owner = owner_json(&app, &i).await?;
                list.push((i, owner));
            }
            Ok(list_response(&req, &page, list, |(i, owner)| {
                (i.id, instance_json(&i, &owner, "api_key"))
            }))
        }
        Principal::Anonymous => Err(ApiError::forbidden()),
    }
}

async fn create_instance(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    let principal = authenticate(&app, &req, None).await?;
    let Principal::Admin(admin) = &principal else {
        return Err(ApiError::forbidden());
    };
    throttle_account(&app, &req, &principal)?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let name = f
        .required_string("name", Char::required(1000))
        .and_then(|raw| validate_slug(&raw, SlugFamily::Instance).map_err(|e| f.reject("name", e)));
    let description = f
        .string("description", Char::text(256), false)
        .unwrap_or_default();
    let metadata = f.metadata("metadata").unwrap_or_else(|| "{}".into());
    // DRF's unique validator runs with the other fields' validation, so a taken name is
    // reported together with their errors (alone, the insert's conflict reports it).
    if let Ok(n) = &name
        && !f.errors.is_empty()
        && app.store.instance_by_name(n).await?.is_some()
    {
        f.errors.add("name", msg::UNIQUE);
    }
    let name = f.finish_with(name)?;
    let instance = app
        .store
        .create_instance(
            admin.id,
            &name,
            &description,
            &metadata,
            app.settings.instance_limit,
        )
        .await
        .map_err(|e| match e {
            CreateInstanceError::CountExceeded(n) => {
                ApiError::bad_request(format!("Instance count exceeded ({n})."))
            }
            CreateInstanceError::NameTaken => ApiError::field("name", msg::UNIQUE),
            CreateInstanceError::Store(e) => e.into(),
        })?;
    tracing::info!(instance = %instance.name, admin_id = admin.id, "instance created");
    Ok(created(instance_json(
        &instance,
        &admin_json(admin),
        Role::Full.name(),
    )))
}

/// Looks up `/v1.1/instances/{name}/` for the caller: admins need a role, API keys must
/// belong to it; anything else is 404 `Not found.` (this route is not instance-scoped).
async fn visible_instance(
    app: &AppState,
    req: &Req,
    name: &str,
) -> ApiResult<(Instance, Principal, Option<Role>)> {
    let principal = authenticate(app, req, None).await?;
    throttle_account(app, req, &principal)?;
    let lower = name.to_lowercase();
    let instance = if rivia_core::names::plausible_instance_name(&lower) {
        app.store.instance_by_name(&lower).await?
    } else {
        None
    };
    let instance = instance.ok_or_else(ApiError::not_found)?;
    let role = match &principal {
        Principal::Admin(a) if a.is_staff => Some(Role::Owner),
        Principal::Admin(a) => Some(
            app.store
                .admin_role(instance.id, a.id)
                .await?
                .ok_or_else(ApiError::not_found)?,
        ),
        Principal::ApiKey { key, .. } if key.instance_id == instance.id => None,
        Principal::ApiKey { .. } => return Err(ApiError::not_found()),
        Principal::Anonymous => return Err(ApiError::forbidden()),
    };
    Ok((instance, principal, role))
}

/// What an instance route needs of the caller.
#[derive(Clone, Copy)]
enum Need {
    /// Seeing the instance.
    Read,
    /// The full or owner role.
    Full,
    /// Ownership (the owner role, or the owning or a staff admin).
    Owner,
}

/// The preamble of `/v1.1/instances/{name}/` routes: [`visible_instance`], then what the
/// route needs of the caller (403 otherwise). Returns the instance and the caller's role.
async fn open_instance(
    app: &AppState,
    req: &Req,
    name: &str,
    need: Need,
) -> ApiResult<(Instance, Option<Role>)> {
    let (instance, _, role) = visible_instance(app, req, name).await?;
    let allowed = match need {
        Need::Read => true,
        Need::Full => role.is_some_and(|r| r >= Role::Full),
        Need::Owner => role == Some(Role::Owner) || is_owner(&instance, req, app).await?,
    };
    if allowed {
        Ok((instance, role))
    } else {
        Err(ApiError::forbidden())
    }
}

fn role_name(role: Option<Role>) -> &'static str {
    role.map_or("api_key", Role::name)
}

async fn get_instance(
    State(app): State<AppState>,
    Path(name): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let (instance, role) = open_instance(&app, &req, &name, Need::Read).await?;
    Ok(ok(render(&app, &instance, role_name(role)).await?))
}

async fn update_instance(
    State(app): State<AppState>,
    Path(name): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let (instance, role) = open_instance(&app, &req, &name, Need::Full).await?;
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let description = f.string("description", Char::text(256), false);
    let metadata = f.metadata("metadata");
    f.finish()?;
    let saved = app
        .store
        .update_instance(
            instance.id,
            &description.unwrap_or_else(|| instance.description.clone()),
            &metadata.unwrap_or_else(|| {
                if partial {
                    instance.metadata.clone()
                } else {
                    "{}".into()
                }
            }),
        )
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(render(&app, &saved, role_name(role)).await?))
}

async fn delete_instance(
    State(app): State<AppState>,
    Path(name): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let (instance, _) = open_instance(&app, &req, &name, Need::Owner).await?;
    app.store.delete_instance(instance.id).await?;
    tracing::info!(instance = %instance.name, "instance deleted");
    Ok(no_content())
}

async fn is_owner(instance: &Instance, req: &Req, app: &AppState) -> ApiResult<bool> {
    Ok(
        matches!(authenticate(app, req, None).await?, Principal::Admin(a) if a.id == instance.owner_id || a.is_staff),
    )
}

async fn rename_instance(
    State(app): State<AppState>,
    Path(name): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let (instance, role) = open_instance(&app, &req, &name, Need::Owner).await?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    // An absent `new_name` reads as null (Syncano's message for both).
    let new_name = match body.get("new_name") {
        None | Some(Value::Null) => Err(f.report("new_name", msg::NULL)),
        Some(_) => f
            .required_string("new_name", Char::required(1000))
            .and_then(|raw| {
                validate_slug(&raw, SlugFamily::Instance).map_err(|e| f.reject("new_name", e))
            }),
    };
    let new_name = f.finish_with(new_name)?;
    let saved = app
        .store
        .rename_instance(instance.id, &new_name)
        .await
        .map_err(|e| match e {
            rivia_store::StoreError::Conflict(_) => ApiError::field("new_name", msg::UNIQUE),
            other => other.into(),
        })?
        .ok_or_else(ApiError::not_found)?;
    Ok(ok(render(&app, &saved, role_name(role)).await?))
}
