//! The API, one module per URL noun. Each module exposes `routes(api)` that registers its
//! handlers with [`Api`], which builds the axum router and the OpenAPI document from the
//! same table, so the two cannot drift.

pub(crate) mod account;
pub(crate) mod admins;
pub(crate) mod api_keys;
pub(crate) mod backups;
pub(crate) mod batch;
pub(crate) mod channels;
pub(crate) mod classes;
pub(crate) mod discovery;
pub(crate) mod endpoints;
pub(crate) mod files;
pub(crate) mod groups;
pub(crate) mod instances;
pub(crate) mod invitations;
pub(crate) mod link;
pub(crate) mod memberships;
pub(crate) mod objects;
pub(crate) mod schedules;
pub(crate) mod snippets;
pub(crate) mod traces;
pub(crate) mod triggers;
pub(crate) mod users;

use crate::req::Req;
use crate::state::AppState;
use axum::handler::Handler;
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use rivia_core::page::PageRequest;
use serde_json::{Map, Value};

/// One documented operation.
#[derive(Debug, Clone)]
pub struct RouteDoc {
    /// HTTP method, lowercase.
    pub method: &'static str,
    /// Path with `{param}` segments.
    pub path: &'static str,
    /// Tag (the URL noun).
    pub tag: &'static str,
    /// One-line summary.
    pub summary: &'static str,
}

/// Route table under construction.
#[derive(Default)]
pub struct Api {
    routes: Vec<(&'static str, MethodRouter<AppState>)>,
    /// Paths whose answer to an unserved method was set with [`Api::guard`].
    guarded: Vec<&'static str>,
    docs: Vec<RouteDoc>,
    tag: &'static str,
}

macro_rules! verb {
    ($name:ident, $filter:expr, $method:literal) => {
        /// Registers a handler for this method.
        pub(crate) fn $name<H, T>(
            self,
            path: &'static str,
            summary: &'static str,
            handler: H,
        ) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add($filter, $method, path, summary, handler)
        }
    };
}

impl Api {
    /// Sets the tag for the following registrations.
    pub(crate) fn tag(mut self, tag: &'static str) -> Self {
        self.tag = tag;
        self
    }

    fn add<H, T>(
        mut self,
        filter: MethodFilter,
        method: &'static str,
        path: &'static str,
        summary: &'static str,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.docs.push(RouteDoc {
            method,
            path,
            tag: self.tag,
            summary,
        });
        match self.routes.iter().position(|(p, _)| *p == path) {
            Some(i) => {
                let (p, existing) = self.routes.remove(i);
                self.routes.insert(i, (p, existing.on(filter, handler)));
            }
            None => self.routes.push((path, on(filter, handler))),
        }
        self
    }

    /// Sets how `path` answers a method it does not serve (after its verbs are registered):
    /// `guard` runs the route's permission check, then answers 405.
    pub(crate) fn guard<H, T>(mut self, path: &'static str, guard: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        if let Some(i) = self.routes.iter().position(|(p, _)| *p == path) {
            let (p, existing) = self.routes.remove(i);
            self.routes.insert(i, (p, existing.fallback(guard)));
            self.guarded.push(path);
        }
        self
    }

    /// [`Api::guard`] with [`crate::caller::admin_method_guard`] on every path of `paths`.
    pub(crate) fn admin_guard(
        self,
        paths: &[&'static str],
        table: rivia_core::perms::AdminTable,
    ) -> Self {
        paths.iter().fold(self, |api, path| {
            api.guard(path, move |call| {
                crate::caller::admin_method_guard(table, call)
            })
        })
    }

    verb!(get, MethodFilter::GET, "get");
    verb!(post, MethodFilter::POST, "post");
    verb!(put, MethodFilter::PUT, "put");
    verb!(patch, MethodFilter::PATCH, "patch");
    verb!(delete, MethodFilter::DELETE, "delete");

    /// The router and the documentation of every operation.
    pub fn into_parts(self) -> (axum::Router<AppState>, Vec<RouteDoc>) {
        let mut router = axum::Router::new();
        for (path, mut mr) in self.routes {
            // Instance routes check the caller before refusing a method (spec-core §1.7);
            // the instance itself is an account-level route.
            if path.starts_with(INSTANCE_ROUTES)
                && path != INSTANCE_ROUTES
                && !self.guarded.contains(&path)
            {
                mr = mr.fallback(crate::caller::method_guard);
            }
            // Responses name their route template: the `route` of the request metrics.
            router = router.route(path, mr.layer(crate::metrics::tag_route(path)));
        }
        (router, self.docs)
    }
}

/// The prefix of the instance-scoped routes.
const INSTANCE_ROUTES: &str = "/v1.1/instances/{instance}/";

/// Every route of the API.
pub fn all() -> Api {
    let api = Api::default();
    let api = discovery::routes(api.tag("discovery"));
    let api = account::routes(api.tag("account"));
    let api = instances::routes(api.tag("instances"));
    // Admin views: an API key may at most read them, so any other method it sends is 403.
    let admins_table = rivia_core::perms::AdminTable::Admins;
    let api = admins::routes(api.tag("admins")).admin_guard(
        &[
            "/v1.1/instances/{instance}/admins/",
            "/v1.1/instances/{instance}/admins/{id}/",
        ],
        admins_table,
    );
    let api = api_keys::routes(api.tag("api_keys")).admin_guard(
        &[
            "/v1.1/instances/{instance}/api_keys/",
            "/v1.1/instances/{instance}/api_keys/{id}/",
            "/v1.1/instances/{instance}/api_keys/{id}/reset_key/",
        ],
        rivia_core::perms::AdminTable::ApiKeys,
    );
    let api = channels::routes(api.tag("channels"));
    let api = invitations::routes(api.tag("invitations")).admin_guard(
        &[
            "/v1.1/instances/{instance}/invitations/",
            "/v1.1/instances/{instance}/invitations/{id}/",
            "/v1.1/instances/{instance}/invitations/{id}/resend/",
        ],
        rivia_core::perms::AdminTable::FullWrites,
    );
    let api = users::routes(api.tag("users"));
    let api = memberships::user_routes(api);
    let api = batch::routes(api.tag("batch"));
    let api = groups::routes(api.tag("groups"));
    let api = memberships::group_routes(api);
    let api = classes::routes(api.tag("classes")).admin_guard(
        &[
            "/v1.1/instances/{instance}/classes/",
            "/v1.1/instances/{instance}/classes/{class}/",
        ],
        rivia_core::perms::AdminTable::Data,
    );
    let api = objects::routes(api.tag("objects"));
    let api = snippets::routes(api.tag("snippets"));
    let api = endpoints::routes(api.tag("endpoints"));
    let api = triggers::routes(api.tag("triggers"));
    let api = schedules::routes(api.tag("schedules"));
    let api = backups::routes(api.tag("backups"));
    files::routes(api.tag("files"))
}

/// Renders a page of a list as `{"next", "prev", "objects"}` with Syncano's cursor links,
/// serialising each item straight into the response. `render` gives an item's primary key
/// (for the links) and its rendering.
pub(crate) fn list_response<T, S: serde::Serialize>(
    req: &Req,
    page: &PageRequest,
    items: Vec<T>,
    render: impl FnMut(T) -> (i64, S),
) -> Response {
    let rendered: Vec<(i64, S)> = items.into_iter().map(render).collect();
    let first_last = match (rendered.first(), rendered.last()) {
        (Some(f), Some(l)) => Some((f.0, l.0)),
        _ => None,
    };
    let (next, prev) = page.links(rendered.len(), first_last);
    crate::json::ok(ListPage {
        next: next.map(|c| page.link(&req.path, &c)),
        prev: prev.map(|c| page.link(&req.path, &c)),
        objects: rendered.into_iter().map(|(_, s)| s).collect(),
    })
}

/// The list envelope.
#[derive(serde::Serialize)]
struct ListPage<S> {
    next: Option<String>,
    prev: Option<String>,
    objects: Vec<S>,
}

/// Parses an integer id from the URL; anything else is 404 `Not found.`.
pub(crate) fn path_id(raw: &str) -> Result<i64, crate::error::ApiError> {
    rivia_core::page::parse_pk(raw)
        .filter(|_| raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(crate::error::ApiError::not_found)
}

/// Parses a JSON text column back into a value (`{}` if it is somehow unreadable).
pub(crate) fn stored_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::Object(Map::new()))
}

/// Renders stored microseconds.
pub(crate) fn ts(micros: i64) -> Value {
    Value::String(rivia_core::time::format_micros(micros))
}
