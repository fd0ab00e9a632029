//! Running a data endpoint. `get/` is its class's objects list, through the same
//! [`run_list`] as `classes/{c}/objects/`: the stored parameters fill in what the request
//! leaves out (the request wins), except `query`, which is ANDed with the request's; the
//! caller's own object permissions apply; `next`/`prev` point back at `get/`. `post/` is
//! the objects create ([`create_in_class`]), with its permissions and channel events.

use super::expand::{Expansions, expand_fields};
use super::{definition_access, load_with_class};
use crate::api::objects::{
    ListParams, ObjectPage, ObjectView, Shown, access, class_schema, create_in_class,
    create_permit, run_list,
};
use crate::caller::Call;
use crate::error::ApiResult;
use crate::json::ok;
use crate::req::Req;
use axum::response::Response;
use rivia_core::object::stored_fields;
use rivia_core::perms::Op;
use rivia_store::data_endpoints::DataEndpoint;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Most names read from an `excluded_fields` value (as the response's field selection).
const MAX_EXCLUDED: usize = 65;

/// GET `get/`.
pub(super) async fn get_objects(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call
        .check(async |ctx| definition_access(ctx, Op::Read))
        .await?;
    let Call { app, req, path, .. } = call;
    let (endpoint, class) = load_with_class(&app, &ctx, &path).await?;
    let granted = access(&app, &ctx, &class, Op::Read).await?;
    let page_size = stored_page_size(&endpoint);
    let params = merged_params(&req, &endpoint, page_size.as_deref());
    let list = run_list(&app, &ctx, &class, &granted, &params, &req.path).await?;
    let schema = class_schema(&app, &class);
    let base = ctx.base();
    let origin = ctx.origin(&app);
    let view = |row| ObjectView {
        base: &base,
        origin: &origin,
        class_name: &class.name,
        schema: &schema,
        row,
    };
    let hidden = stored_exclusions(&req, &endpoint);
    let expand = req.param("expand").or(endpoint.expand.as_deref());
    let fields = expand_fields(expand, &schema);
    if hidden.is_empty() && fields.is_empty() {
        // Nothing to reshape: the objects list's own rendering.
        return Ok(ok(ObjectPage {
            next: list.next,
            prev: list.prev,
            objects: list.rows.iter().map(view).collect(),
            objects_count: list.count,
        }));
    }
    // Each row's data is read once, for its references and for its rendering.
    let data: Vec<_> = list.rows.iter().map(|r| stored_fields(&r.data)).collect();
    let expansions = Expansions::load(&app, &ctx, &class, &schema, &fields, &data).await?;
    let objects = list
        .rows
        .iter()
        .zip(&data)
        .enumerate()
        .map(|(index, (row, data))| Shaped {
            view: view(row),
            data,
            index,
            hidden: &hidden,
            expansions: &expansions,
        })
        .collect();
    Ok(ok(ObjectPage {
        next: list.next,
        prev: list.prev,
        objects,
        objects_count: list.count,
    }))
}

/// POST `post/`: the objects create of the endpoint's class. The endpoint itself asks no
/// permission (the platform checks only the owner's standing); the create's own do.
pub(super) async fn post_object(call: Call<String>) -> ApiResult<Response> {
    let (ctx, ()) = call.check(async |_| Ok(())).await?;
    let Call { app, req, path, .. } = call;
    let (_, class) = load_with_class(&app, &ctx, &path).await?;
    let granted = create_permit(&app, &ctx, &class).await?;
    create_in_class(&app, &req, &ctx, &class, &granted).await
}

/// The stored page size as a parameter: 0 counts as unset, as on the platform (which
/// merged only truthy stored values).
fn stored_page_size(endpoint: &DataEndpoint) -> Option<String> {
    endpoint
        .page_size
        .filter(|size| *size != 0)
        .map(|size| size.to_string())
}

/// The request's list parameters with the endpoint's filling in what it leaves out; the
/// stored `query` (unless empty) is ANDed with the request's.
fn merged_params<'a>(
    req: &'a Req,
    endpoint: &'a DataEndpoint,
    stored_page_size: Option<&'a str>,
) -> ListParams<'a> {
    let mut params = ListParams::of(req);
    if endpoint.query != "{}" {
        params.queries.push(&endpoint.query);
    }
    let stored_order = endpoint.order_by.as_deref().filter(|o| !o.is_empty());
    params.order_by = params.order_by.or(stored_order);
    params.page_size = params.page_size.or(stored_page_size);
    params
}

/// The stored `excluded_fields` when the request has none of its own (the response's
/// field selection applies a request's).
fn stored_exclusions<'a>(req: &Req, endpoint: &'a DataEndpoint) -> Vec<&'a str> {
    if req.param("excluded_fields").is_some() {
        return Vec::new();
    }
    endpoint
        .excluded_fields
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .take(MAX_EXCLUDED)
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect()
}

/// An object of a `get/` page with stored exclusions left out and expanded references
/// replaced.
struct Shaped<'a> {
    view: ObjectView<'a>,
    /// The row's stored fields.
    data: &'a BTreeMap<&'a str, &'a RawValue>,
    index: usize,
    hidden: &'a [&'a str],
    expansions: &'a Expansions,
}

impl Serialize for Shaped<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let origin = (self.view.base, self.view.origin);
        self.view.serialize_parsed(s, self.data, |key| {
            if self.hidden.contains(&key) {
                return Shown::Hidden;
            }
            match self.expansions.replacement(self.index, key, origin) {
                Some(expanded) => Shown::Replaced(expanded),
                None => Shown::Value,
            }
        })
    }
}
