//! Data objects — spec-core §9: list (query language, ordering cursors, counts), create,
//! retrieve, full update by POST (PUT is 405), PATCH, DELETE, with the owner/group/other
//! permission model of §9.9 and file uploads.
//!
//! One file per concern: `render` (DataObjectJSON), `access` (who may do what), `input`
//! (reading a body), `data` (building an object's new data: files, references, unique
//! fields), `write` (create, update, delete), `changes` (their channel change events),
//! `list` (the list endpoint) and `profile` (user profiles for the users API). This file
//! holds the routes and the single-object read.

mod access;
mod changes;
mod data;
mod input;
mod list;
mod profile;
pub(crate) mod render;
mod write;

pub use access::{Access, access};
pub(crate) use list::{ListParams, ObjectPage, check_order_by, parse_class_query, run_list};
pub use profile::{ProfileError, profile_fields};
pub use render::ObjectView;
pub(crate) use render::Shown;
pub(crate) use write::{create_in_class, create_permit};

use super::{Api, path_id};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::json::ok;
use crate::state::AppState;
use access::class_op;
use axum::response::Response;
use list::list_objects;
use rivia_core::perms::Op;
use rivia_core::schema::Schema;
use rivia_store::classes::Class;
use rivia_store::objects::ObjectRow;
use std::time::Duration;
use write::{create_object, delete_object_handler, update_object_full, update_object_partial};

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
        .guard(list, method_guard)
        .guard(item, method_guard)
}

/// An unserved method on objects (e.g. PUT): the class gate for the method's operation
/// first (403 for an anonymous-read key or a read-only role), then 405 (spec-core §1.7).
async fn method_guard(call: Call<String>) -> ApiResult<Response> {
    let op = crate::caller::method_op(&call.req.method);
    let app = &call.app;
    access::class_call(&call, &call.path, async |ctx, class| {
        access::access(app, ctx, class, op).await
    })
    .await?;
    Err(ApiError::method_not_allowed(call.req.method.as_str()))
}

/// One object of the class the caller may see (404 otherwise).
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

async fn get_object(call: Call<(String, String)>) -> ApiResult<Response> {
    let (class_name, id) = &call.path;
    let (ctx, class, access) = class_op(&call, class_name, Op::Read).await?;
    let app = &call.app;
    let row = load_visible(app, &class, &access, id).await?;
    let schema = class_schema(app, &class);
    Ok(ok(ObjectView {
        base: &ctx.base(),
        origin: &ctx.origin(app),
        class_name: &class.name,
        schema: &schema,
        row: &row,
    }))
}
