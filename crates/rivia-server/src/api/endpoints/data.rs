//! Data endpoints, `endpoints/data/` (rest §5): saved objects lists of one class.
//!
//! The definitions are a data resource of the instance: admins write them by role (the
//! read role reads), API keys only read them. Running one (`get/`, in `run`) is the
//! class's objects list — the same code as `classes/{c}/objects/`, with the stored
//! parameters merged into the request's — and `post/` is the objects create, both with
//! the caller's own object permissions. `input` reads and validates a definition.
//!
//! When the class changes under an endpoint: deleting the class deletes its endpoints (the
//! platform's foreign key cascades too); a field the stored `query` or `order_by` names
//! that is later dropped or loses its index makes `get/` answer the objects list's own 400
//! (`{"query": "Invalid field name defined: …"}`, `Incorrect order_by parameter
//! provided.`) until the endpoint is fixed; stored `excluded_fields` and `expand` naming a
//! dropped field are ignored, as unknown names are.

mod expand;
mod input;
mod run;

use super::super::{Api, list_response};
use crate::api::link::url;
use crate::auth::{Ctx, Who};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::state::AppState;
use axum::response::Response;
use rivia_core::errors::msg;
use rivia_core::names::{SlugFamily, validate_slug};
use rivia_core::perms::{AdminTable, Op};
use rivia_store::StoreError;
use rivia_store::data_endpoints::DataEndpoint;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;

const LIST: &str = "/v1.1/instances/{instance}/endpoints/data/";
const ITEM: &str = "/v1.1/instances/{instance}/endpoints/data/{name}/";
const RENAME: &str = "/v1.1/instances/{instance}/endpoints/data/{name}/rename/";

/// Registers the routes.
pub(super) fn routes(api: Api) -> Api {
    api.get(LIST, "List data endpoints", list_endpoints)
        .post(LIST, "Create a data endpoint", create_endpoint)
        .get(ITEM, "Get a data endpoint", get_endpoint)
        .put(ITEM, "Replace a data endpoint", update_endpoint)
        .patch(ITEM, "Update a data endpoint", update_endpoint)
        .delete(ITEM, "Delete a data endpoint", delete_endpoint)
        .post(RENAME, "Rename a data endpoint", rename_endpoint)
        .get(
            "/v1.1/instances/{instance}/endpoints/data/{name}/get/",
            "Run a data endpoint: its class's objects list",
            run::get_objects,
        )
        .post(
            "/v1.1/instances/{instance}/endpoints/data/{name}/post/",
            "Create an object in a data endpoint's class",
            run::post_object,
        )
        .admin_guard(&[LIST, ITEM, RENAME], AdminTable::Data)
}

/// Who may read and write definitions: admins by role on data resources, API keys read.
fn definition_access(ctx: &Ctx, op: Op) -> ApiResult<()> {
    match &ctx.who {
        Who::Admin { .. } => ctx.require_admin(AdminTable::Data, op),
        Who::ApiKey { .. } if op == Op::Read => Ok(()),
        _ => Err(ApiError::forbidden()),
    }
}

/// DataEndpointJSON, in the platform's key order (`class` is remapped last).
struct EndpointView<'a> {
    base: &'a str,
    endpoint: &'a DataEndpoint,
}

impl Serialize for EndpointView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.endpoint;
        let query: Value = serde_json::from_str(&e.query).unwrap_or_default();
        let mut m = s.serialize_map(Some(9))?;
        m.serialize_entry("name", &e.name)?;
        m.serialize_entry("description", &e.description)?;
        m.serialize_entry("query", &query)?;
        m.serialize_entry("excluded_fields", &e.excluded_fields)?;
        m.serialize_entry("order_by", &e.order_by)?;
        m.serialize_entry("page_size", &e.page_size)?;
        m.serialize_entry("expand", &e.expand)?;
        m.serialize_entry("links", &EndpointLinks(self))?;
        m.serialize_entry("class", &e.class_name)?;
        m.end()
    }
}

struct EndpointLinks<'a>(&'a EndpointView<'a>);

impl Serialize for EndpointLinks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (base, name) = (self.0.base, self.0.endpoint.name.as_str());
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("self", &url!(base, "/endpoints/data/", name, "/"))?;
        m.serialize_entry("get", &url!(base, "/endpoints/data/", name, "/get/"))?;
        m.serialize_entry("post", &url!(base, "/endpoints/data/", name, "/post/"))?;
        m.serialize_entry("rename", &url!(base, "/endpoints/data/", name, "/rename/"))?;
        m.end()
    }
}

fn render(ctx: &Ctx, endpoint: &DataEndpoint) -> Response {
    ok(EndpointView {
        base: &ctx.base(),
        endpoint,
    })
}

/// The endpoint named in the URL (names match case-insensitively), or 404 `Not found.`.
async fn load(app: &AppState, ctx: &Ctx, name: &str) -> ApiResult<DataEndpoint> {
    app.store
        .data_endpoint(ctx.instance.id, &name.to_lowercase())
        .await?
        .ok_or_else(ApiError::not_found)
}

/// [`load`] with the endpoint's class.
async fn load_with_class(
    app: &AppState,
    ctx: &Ctx,
    name: &str,
) -> ApiResult<(DataEndpoint, rivia_store::classes::Class)> {
    let generation = app.store.auth_generation();
    let key = (ctx.instance.id, name.to_lowercase());
    if let Some(hit) = app.cache.data_endpoints.get(&key, generation) {
        return Ok(hit);
    }
    let found = app
        .store
        .data_endpoint_with_class(key.0, &key.1)
        .await?
        .ok_or_else(ApiError::not_found)?;
    app.cache.data_endpoints.put(key, found.clone(), generation);
    Ok(found)
}

/// A store conflict on the endpoint's name as `field`'s uniqueness error.
fn name_conflict(field: &'static str) -> impl Fn(StoreError) -> ApiError {
    move |e| match e {
        StoreError::Conflict(_) => ApiError::field(field, msg::UNIQUE),
        other => other.into(),
    }
}

async fn list_endpoints(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| definition_access(ctx, Op::Read))
        .await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let endpoints = app
        .store
        .list_data_endpoints(ctx.instance.id, &page.keyset())
        .await?;
    let base = ctx.base();
    Ok(list_response(&req, &page, endpoints, |e| {
        let id = e.id;
        (id, OwnedView { base: &base, e })
    }))
}

/// [`EndpointView`] of an endpoint a list owns.
struct OwnedView<'a> {
    base: &'a str,
    e: DataEndpoint,
}

impl Serialize for OwnedView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        EndpointView {
            base: self.base,
            endpoint: &self.e,
        }
        .serialize(s)
    }
}

async fn create_endpoint(call: Call<()>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| definition_access(ctx, Op::Create))
        .await?;
    let Call { app, req, .. } = call;
    let (name, values) = input::read_new(&app, &ctx, &req).await?;
    let saved = app
        .store
        .create_data_endpoint(ctx.instance.id, &name, &values)
        .await
        .map_err(name_conflict("name"))?;
    Ok(created(EndpointView {
        base: &ctx.base(),
        endpoint: &saved,
    }))
}

async fn get_endpoint(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| definition_access(ctx, Op::Read))
        .await?;
    let endpoint = load(&call.app, &ctx, &call.path).await?;
    Ok(render(&ctx, &endpoint))
}

async fn update_endpoint(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| definition_access(ctx, Op::Update))
        .await?;
    let Call { app, req, path, .. } = call;
    let (current, class) = load_with_class(&app, &ctx, &path).await?;
    let values = input::read_update(&app, &ctx, &req, (&current, &class)).await?;
    let saved = app
        .store
        .update_data_endpoint(ctx.instance.id, current.id, &values)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(render(&ctx, &saved))
}

async fn delete_endpoint(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| definition_access(ctx, Op::Delete))
        .await?;
    let endpoint = load(&call.app, &ctx, &call.path).await?;
    call.app
        .store
        .delete_data_endpoint(ctx.instance.id, endpoint.id)
        .await?;
    Ok(no_content())
}

/// POST `rename/` `{"new_name"}`: the name field's rules (an absent name reads as null, as
/// the platform passes it on); keeping the same name is allowed.
async fn rename_endpoint(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| definition_access(ctx, Op::Update))
        .await?;
    let Call { app, req, path, .. } = call;
    let current = load(&app, &ctx, &path).await?;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let new_name = match body.get("new_name") {
        None | Some(Value::Null) => Err(f.report("new_name", msg::NULL)),
        Some(_) => f
            .required_string("new_name", Char::required(1000))
            .and_then(|raw| {
                validate_slug(&raw, SlugFamily::Generic).map_err(|e| f.reject("new_name", e))
            }),
    };
    let new_name = f.finish_with(new_name)?;
    if new_name == current.name {
        return Ok(render(&ctx, &current));
    }
    let saved = app
        .store
        .rename_data_endpoint(ctx.instance.id, current.id, &new_name)
        .await
        .map_err(name_conflict("new_name"))?
        .ok_or_else(ApiError::not_found)?;
    Ok(render(&ctx, &saved))
}
