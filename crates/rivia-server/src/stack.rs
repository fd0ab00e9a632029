//! The one service around the routed API, in place of a stack of layers: it marks the
//! credential headers sensitive, negotiates `Accept` (406), answers plain `OPTIONS` with
//! DRF's metadata and CORS preflights, adds the CORS headers, applies `fields` /
//! `excluded_fields`, renders response templates ([`crate::templates::hook`]), gives a 405
//! its JSON body and turns a panic into a 500 — then routes once. A layered stack (four `from_fn` layers, CORS, panic catching and header
//! redaction, around a router nested as a fallback) cost about 30% of a bare axum server
//! before any work: each `from_fn` boxes its `Next` and its future, the CORS layer builds a
//! header map per request, and the request was routed twice.
//!
//! Request bodies are not read here (except the one case that needs it to route: a
//! `text/plain` POST with `_method`). The body travels as a [`crate::body::Pending`] and the
//! handler's [`crate::req::Req`] reads it, after routing: an unknown route or a method the
//! route lacks answers without reading a byte of the body, and the limit is the route's.
//! An instance route reads it only after authentication, permission and throttle have
//! passed (see [`crate::caller`]).

use crate::body;
use crate::error::ApiError;
use crate::middleware::{FieldFilter, accepts_json, options_metadata, select_fields};
use crate::observe::Observer;
use crate::req::{X_API_KEY, X_USER_KEY};
use crate::templates;
use crate::templates::hook::{Hook, Negotiated};
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::Service;
use tracing::Instrument;

/// The application: [`crate::app`] builds it; a `tower::Service` for hyper and tests.
#[derive(Clone)]
pub struct App {
    router: Router,
    body_timeout: Duration,
    /// Request ids, metrics and the access log ([`crate::observe`]).
    observer: Observer,
    /// Response templates for instance GETs that ask for one.
    templates: Option<Arc<Hook>>,
}

impl App {
    pub(crate) fn new(router: Router, body_timeout: Duration, observer: Observer) -> Self {
        App {
            router,
            body_timeout,
            observer,
            templates: None,
        }
    }

    /// Answers instance GETs through response templates when they ask for one.
    pub(crate) fn with_templates(self, templates: Hook) -> Self {
        App {
            templates: Some(Arc::new(templates)),
            ..self
        }
    }
}

const ALLOW_METHODS: &str = "GET,POST,PUT,PATCH,DELETE,OPTIONS";
const ALLOW_HEADERS: &str = "accept,accept-encoding,authorization,content-type,origin,\
user-agent,x-csrftoken,x-requested-with,x-api-key,x-user-key";

impl Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let router = self.router.clone();
        let body_timeout = self.body_timeout;
        let templates = self.templates.clone();
        let observed = self.observer.start(&req);
        Box::pin(async move {
            let span = observed
                .as_ref()
                .map_or_else(tracing::Span::none, |o| o.span());
            let mut resp = async move {
                // A panic anywhere below is a 500, never a dropped connection.
                AssertUnwindSafe(handle(router, body_timeout, templates, req))
                    .catch_unwind()
                    .await
                    .unwrap_or_else(|_| {
                        ApiError::Internal("handler panicked".into()).into_response()
                    })
            }
            .instrument(span)
            .await;
            if let Some(observed) = observed {
                observed.finish(&mut resp);
            }
            Ok(resp)
        })
    }
}

async fn handle(
    mut router: Router,
    body_timeout: Duration,
    templates: Option<Arc<Hook>>,
    mut req: Request,
) -> Response {
    // Credentials never reach logs or debug output (hyper and `tracing` honour the flag).
    for name in [header::AUTHORIZATION, X_API_KEY, X_USER_KEY] {
        if let Some(v) = req.headers_mut().get_mut(&name) {
            v.set_sensitive(true);
        }
    }
    // A response template replaces the Accept negotiation (an unknown one is 406 here).
    let template = match templates
        .as_deref()
        .and_then(|t| Some((t, t.requested(&req)?)))
    {
        None => None,
        // Boxed: only requests naming a template pay for the lookup's state.
        Some((hook, wanted)) => match Box::pin(hook.negotiate(wanted)).await {
            Negotiated::Plain => None,
            Negotiated::Refuse(resp) => return resp,
            Negotiated::Render(pending) => Some((hook, pending)),
        },
    };
    // The dashboard's files are not JSON: a browser asks for HTML, CSS and scripts.
    if template.is_none()
        && let Some(accept) = req.headers().get(header::ACCEPT)
        && !crate::dashboard::serves(req.uri().path())
        && accept.to_str().is_ok_and(|a| !accepts_json(a))
    {
        return ApiError::Detail(
            StatusCode::NOT_ACCEPTABLE,
            "Could not satisfy the request Accept header.".into(),
        )
        .into_response();
    }
    let method = req.method().clone();
    if method == Method::OPTIONS {
        // A plain OPTIONS answers DRF-style metadata; any other is a CORS preflight.
        if !req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
        {
            return options_metadata();
        }
        return preflight();
    }
    let wanted = if method == Method::GET
        && req.uri().query().is_some_and(may_select)
        && !runs_a_script_endpoint(req.uri().path())
    {
        FieldFilter::from_query(req.uri().query())
    } else {
        None
    };
    // Boxed: the reading state is large and would otherwise stay in every request's future
    // for its whole life (a held poll: minutes). Only requests with a body get here.
    let prepared = if body::has_body(&req) {
        Box::pin(body::prepare(req, body_timeout)).await
    } else {
        Ok(req)
    };
    // A view whose success is rendered hands the template its values, not JSON text
    // (unless `fields` filtering reads that JSON first).
    let direct = wanted.is_none() && template.as_ref().is_some_and(|(_, p)| p.renders());
    let mut resp = match prepared {
        Ok(req) if direct => match templates::values::scope(router.call(req)).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        },
        Ok(req) => match router.call(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        },
        Err(e) => e.into_response(),
    };
    if let Some(filter) = wanted {
        // Boxed for the same reason as above.
        resp = Box::pin(select_fields(resp, filter)).await;
    }
    if let Some((hook, pending)) = template {
        resp = Box::pin(hook.apply(pending, resp)).await;
    }
    let status = resp.status();
    if status == StatusCode::METHOD_NOT_ALLOWED
        && !resp.headers().contains_key(header::CONTENT_TYPE)
    {
        // DRF's JSON body for a method the route lacks (axum's is empty).
        return ApiError::method_not_allowed(method.as_str()).into_response();
    }
    let headers = resp.headers_mut();
    if status == StatusCode::REQUEST_TIMEOUT {
        // The body was not read to its end: the connection cannot carry another request.
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-last-id,x-request-id"),
    );
    resp
}

/// Whether a query may hold `fields` / `excluded_fields` (else it is not parsed twice): the
/// names as sent, or percent-encoded.
fn may_select(query: &str) -> bool {
    query.contains("fields") || query.contains('%')
}

/// Whether `path` runs a script endpoint, whose answer is the script's own: its query is
/// the script's ARGS, never a field selection.
fn runs_a_script_endpoint(path: &str) -> bool {
    path.contains("/endpoints/scripts/")
        && (path.ends_with("/run/") || path.contains("/endpoints/scripts/p/"))
}

/// A CORS preflight: any origin, the API's methods and headers.
fn preflight() -> Response {
    let mut resp = Response::new(Body::empty());
    let headers = resp.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preflight_lists_what_the_cors_layer_listed() {
        let resp = preflight();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "accept,accept-encoding,authorization,content-type,origin,user-agent,x-csrftoken,\
             x-requested-with,x-api-key,x-user-key"
        );
    }
}
