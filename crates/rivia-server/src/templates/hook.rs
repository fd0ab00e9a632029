//! Response templates on instance-scoped GETs (spec-rest §7), as the platform's content
//! negotiation did it: a GET naming a template (header `X-TEMPLATE`, then
//! `X-TEMPLATE-RESPONSE`, then query `template`, then `template_response`; the first one
//! present decides, and a blank one names none) is answered through that template.
//!
//! [`Hook::negotiate`] runs before routing: an unknown template is 406 before the view
//! runs (and before authentication, as DRF negotiated first), and a known one replaces the
//! `Accept` check. [`Pending::apply`] runs on the view's answer: a success is rendered with
//! the view's JSON as `response`, the route's `action`, `instance`, `user` and the
//! template's context, in the template's content type; an error stays JSON.
//!
//! Any GET route under `/v1.1/instances/{instance}/` is covered, whatever module adds it
//! (data endpoints' `get/` included): the actions come from the route table itself
//! ([`action_for`]). Inside `batch/` (requests marked `X-Batching`) the template is looked
//! up (unknown → 406) but not rendered: the platform's batch took the view's data, not the
//! rendered text.

use super::memo::Inputs;
use super::values::Built;
use super::{Defaults, Loaded};
use crate::api::RouteDoc;
use crate::auth::{Principal, authenticate, resolve_instance};
use crate::error::ApiError;
use crate::req::Req;
use crate::state::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::Arc;

/// The headers that ask for a template (constants: every request looks them up).
const X_TEMPLATE: HeaderName = HeaderName::from_static("x-template");
const X_TEMPLATE_RESPONSE: HeaderName = HeaderName::from_static("x-template-response");

/// The prefix of instance-scoped routes.
const INSTANCE_ROUTES: &str = "/v1.1/instances/{instance}/";

/// GET routes whose platform views were not viewsets: they had no `action`, and a
/// template on them answered 400 (the links documents, the instance config, the user's
/// own account, public script endpoints).
const NO_ACTION: &[&str] = &[
    "snippets/",
    "snippets/config/",
    "endpoints/",
    "push_notifications/",
    "push_notifications/gcm/",
    "push_notifications/apns/",
    "backups/",
    "user/",
    "endpoints/scripts/p/{public_link}/{name}/",
];

/// What a route's answer becomes through a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Rendered with this `action`.
    Named(&'static str),
    /// 400 `This endpoint does not support templates.` (a view without an action).
    Unsupported,
    /// Answered as it is (a channel poll: the platform answered it outside DRF).
    Unrendered,
}

/// The action of a GET route, from its path: a `{param}` last is one object
/// (`retrieve`); a data endpoint's `get/` runs a list (the platform renamed its `get_api`
/// action to `list` for templates); any other collection or listing is `list`.
fn action_for(route: &str) -> Action {
    let rest = route.strip_prefix(INSTANCE_ROUTES).unwrap_or(route);
    if NO_ACTION.contains(&rest) {
        Action::Unsupported
    } else if rest.starts_with("channels/") && rest.ends_with("/poll/") {
        Action::Unrendered
    } else if rest.ends_with("}/") {
        Action::Named("retrieve")
    } else {
        Action::Named("list")
    }
}

/// The hook: the state and the instance GET routes with their actions.
pub struct Hook {
    app: AppState,
    routes: matchit::Router<Action>,
}

/// What negotiation decided for a request.
pub(crate) enum Negotiated {
    /// No template involved: the normal JSON path.
    Plain,
    /// Answer this at once (406 for an unknown template, or a lookup failure).
    Refuse(Response),
    /// Render the answer through a template.
    Render(Pending),
}

/// A request whose answer goes through a template.
pub(crate) struct Pending {
    template: Arc<Loaded>,
    instance: rivia_store::instances::Instance,
    action: Action,
    /// For the `user`: the request's credentials, authenticated again after the view.
    request: Wanted,
    batching: bool,
}

impl Hook {
    /// The hook over the GET routes of `docs` (the API's route table).
    pub(crate) fn new(app: AppState, docs: &[RouteDoc]) -> Self {
        let mut routes = matchit::Router::new();
        for doc in docs {
            if doc.method == "get"
                && doc.path.starts_with(INSTANCE_ROUTES)
                && doc.path != INSTANCE_ROUTES
            {
                // A path registered twice keeps its first action (they are the same).
                let _ = routes.insert(doc.path, action_for(doc.path));
            }
        }
        Hook { app, routes }
    }

    /// The template a GET names, with what negotiation needs of the request (cheap when
    /// it names none, as most requests do).
    pub(crate) fn requested(&self, req: &Request) -> Option<Wanted> {
        if req.method() != Method::GET {
            return None;
        }
        let name = requested_name(req)?;
        Some(Wanted {
            name,
            path: req.uri().path().to_owned(),
            query: req.uri().query().map(str::to_owned),
            headers: req.headers().clone(),
        })
    }

    /// Decides, before routing, how a request naming a template is answered.
    pub(crate) async fn negotiate(&self, wanted: Wanted) -> Negotiated {
        let Ok(matched) = self.routes.at(&wanted.path) else {
            // Not an instance GET route: the router answers (404) as usual.
            return Negotiated::Plain;
        };
        let action = *matched.value;
        let Some(instance_name) = matched.params.get("instance") else {
            return Negotiated::Plain;
        };
        // An unknown instance: the view answers its 404, as the platform did before it
        // negotiated anything.
        let Ok(instance) = resolve_instance(&self.app, instance_name).await else {
            return Negotiated::Plain;
        };
        match super::load(&self.app, instance.id, &wanted.name).await {
            Err(e) => Negotiated::Refuse(e.into_response()),
            Ok(None) => Negotiated::Refuse(
                ApiError::Detail(
                    StatusCode::NOT_ACCEPTABLE,
                    "Could not satisfy the request Accept header.".into(),
                )
                .into_response(),
            ),
            Ok(Some(template)) => Negotiated::Render(Pending {
                template,
                instance,
                action,
                batching: wanted.headers.contains_key("x-batching"),
                request: wanted,
            }),
        }
    }
}

/// A GET that names a template: the name and the parts of the request the hook reads.
pub(crate) struct Wanted {
    name: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

/// The template a request names, if any: the platform's `dict_get_any` over the headers,
/// then over the query (the first name present wins, a blank one names none).
fn requested_name(req: &Request) -> Option<String> {
    let headers = req.headers();
    let from_headers = [&X_TEMPLATE, &X_TEMPLATE_RESPONSE]
        .into_iter()
        .find_map(|h| headers.get(h))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Some(name) = from_headers.filter(|n| !n.is_empty()) {
        return Some(name);
    }
    let query = req.uri().query().filter(|q| q.contains("template"))?;
    let pairs = crate::body::form_urlencoded_pairs(query.as_bytes());
    let last = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
    last("template")
        .or_else(|| last("template_response"))
        .filter(|n| !n.is_empty())
        .cloned()
}

impl Hook {
    /// The view's answer to a request that [`Hook::negotiate`] sent to a template.
    pub(crate) async fn apply(&self, pending: Pending, resp: Response) -> Response {
        pending.apply(&self.app, resp).await
    }
}

impl Pending {
    /// Whether a success of the view is rendered (not answered as it is).
    pub(crate) fn renders(&self) -> bool {
        !self.batching && matches!(self.action, Action::Named(_))
    }

    /// The view's answer through the template: a success rendered, anything else as it is.
    async fn apply(self, app: &AppState, resp: Response) -> Response {
        if !resp.status().is_success() || self.batching {
            return resp;
        }
        let action = match self.action {
            Action::Unrendered => return resp,
            Action::Unsupported => {
                return ApiError::bad_request("This endpoint does not support templates.")
                    .into_response();
            }
            Action::Named(action) => action,
        };
        let (mut parts, body) = resp.into_parts();
        // The view's values (see `values::scope`), their fingerprint standing for the JSON.
        let built = parts.extensions.remove::<Built>();
        let bytes = match &built {
            Some(built) => built.fingerprint.clone(),
            None => match axum::body::to_bytes(body, usize::MAX).await {
                Ok(bytes) => bytes,
                Err(_) => {
                    return ApiError::Internal("response body unreadable".into()).into_response();
                }
            },
        };
        let user = self.username(app).await;
        let inputs = Inputs {
            template: &self.template,
            instance: &self.instance.name,
            action,
            user: user.as_deref(),
            response: &bytes,
        };
        let key = match app.templates.memo.get(&inputs) {
            Ok(text) => return self.rendered(parts, text),
            Err(key) => key,
        };
        let Some(data) = built
            .map(|b| b.value)
            .or_else(|| super::json::parse(&bytes))
        else {
            // Not JSON (a file's content): nothing a template could take.
            return Response::from_parts(parts, Body::from(bytes));
        };
        let defaults = Defaults {
            user: user.clone(),
            instance: self.instance.name.clone(),
            action,
            response: data.is_true().then_some(data),
        };
        match super::render(app, self.template.clone(), defaults, None).await {
            Ok(text) => {
                let text = Bytes::from(text);
                app.templates.memo.put(key, &inputs, text.clone());
                self.rendered(parts, text)
            }
            Err(e) => ApiError::bad_request(e.detail()).into_response(),
        }
    }

    /// The view's answer with the rendered text in the template's content type.
    fn rendered(&self, parts: axum::http::response::Parts, text: Bytes) -> Response {
        let mut out = Response::from_parts(parts, Body::from(text));
        out.headers_mut().remove(header::CONTENT_LENGTH);
        out.headers_mut().insert(
            header::CONTENT_TYPE,
            content_type(&self.template.content_type),
        );
        out
    }

    /// The username of the user the request authenticated (API key + user key), looked up
    /// again through the authentication caches.
    async fn username(&self, app: &AppState) -> Option<String> {
        // The request as the handler saw it (its path, query and headers; no body: a GET).
        let uri = match &self.request.query {
            Some(q) => format!("{}?{q}", self.request.path),
            None => self.request.path.clone(),
        };
        let (mut parts, ()) = axum::http::Request::get(uri).body(()).ok()?.into_parts();
        parts.headers = self.request.headers.clone();
        let req = Req::unread(&mut parts).ok()?;
        match authenticate(app, &req, Some(&self.instance)).await {
            Ok(Principal::ApiKey {
                user: Some(user), ..
            }) => Some(user.username),
            _ => None,
        }
    }
}

/// `<content type>; charset=utf-8`, as the platform's renderer answered.
pub(crate) fn content_type(stored: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{stored}; charset=utf-8"))
        .unwrap_or_else(|_| HeaderValue::from_static("text/plain; charset=utf-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_follow_the_route_shape() {
        let action = |rest: &str| action_for(&format!("{INSTANCE_ROUTES}{rest}"));
        assert_eq!(action("classes/"), Action::Named("list"));
        assert_eq!(action("classes/{class}/"), Action::Named("retrieve"));
        assert_eq!(action("classes/{class}/objects/"), Action::Named("list"));
        assert_eq!(
            action("classes/{class}/objects/{id}/"),
            Action::Named("retrieve")
        );
        assert_eq!(action("endpoints/data/{name}/get/"), Action::Named("list"));
        assert_eq!(action("channels/{name}/history/"), Action::Named("list"));
        assert_eq!(action("snippets/scripts/runtimes/"), Action::Named("list"));
        assert_eq!(action("channels/{name}/poll/"), Action::Unrendered);
        assert_eq!(action("snippets/"), Action::Unsupported);
        assert_eq!(action("snippets/config/"), Action::Unsupported);
    }
}
