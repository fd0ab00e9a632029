//! The middlewares around the routed API: Accept negotiation and DRF's JSON for 405 and
//! plain `OPTIONS` ([`conventions`]), CORS ([`cors`]), and `fields` / `excluded_fields`
//! selection on GET responses ([`field_selection`]). [`crate::app`] stacks them.

use crate::body;
use crate::error::ApiError;
use crate::json;
use axum::extract::Request;
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

/// CORS: any origin, the API's methods and headers, and `X-Last-Id` readable by scripts.
pub(crate) fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods(AllowMethods::list([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ]))
        .allow_headers(AllowHeaders::list([
            header::ACCEPT,
            header::ACCEPT_ENCODING,
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ORIGIN,
            header::USER_AGENT,
            HeaderName::from_static("x-csrftoken"),
            HeaderName::from_static("x-requested-with"),
            HeaderName::from_static("x-api-key"),
            HeaderName::from_static("x-user-key"),
        ]))
        .expose_headers([HeaderName::from_static("x-last-id")])
}

fn accepts_json(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let media = part
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        media.is_empty()
            || media == "*/*"
            || media == "application/*"
            || media == "application/json"
    })
}

/// Accept negotiation (406), and JSON bodies for 405 and plain `OPTIONS` (DRF metadata).
pub(crate) async fn conventions(req: Request, next: Next) -> Response {
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    if accept.is_some_and(|a| !accepts_json(a)) {
        return ApiError::Detail(
            StatusCode::NOT_ACCEPTABLE,
            "Could not satisfy the request Accept header.".into(),
        )
        .into_response();
    }
    let method = req.method().clone();
    // A plain OPTIONS (not a CORS preflight) answers DRF-style metadata.
    if method == Method::OPTIONS
        && !req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return options_metadata();
    }
    let resp = next.run(req).await;
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED
        || resp.headers().contains_key(header::CONTENT_TYPE)
    {
        return resp;
    }
    ApiError::method_not_allowed(method.as_str()).into_response()
}

fn options_metadata() -> Response {
    json::ok(json!({
        "name": "Rivia",
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"],
    }))
}

/// Applies `fields` / `excluded_fields` (spec-core §1.5) to successful GET responses.
pub(crate) async fn field_selection(req: Request, next: Next) -> Response {
    let wanted = if req.method() == Method::GET {
        FieldFilter::from_query(req.uri().query())
    } else {
        None
    };
    let resp = next.run(req).await;
    match wanted {
        // Boxed: the rewrite's state would otherwise enlarge every request's future
        // for its whole life (a held poll: minutes).
        Some(filter) => Box::pin(select_fields(resp, filter)).await,
        None => resp,
    }
}

async fn select_fields(resp: Response, filter: FieldFilter) -> Response {
    if resp.status() != StatusCode::OK {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::Internal("response body unreadable".into()).into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    match value.get_mut("objects").and_then(Value::as_array_mut) {
        Some(objects) if value_is_list(&bytes) => objects.iter_mut().for_each(|o| filter.apply(o)),
        _ => filter.apply(&mut value),
    }
    let mut resp = json::ok(value);
    *resp.status_mut() = parts.status;
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_LENGTH {
            resp.headers_mut().insert(k.clone(), v.clone());
        }
    }
    resp
}

fn value_is_list(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .is_some_and(|v| v.get("next").is_some() && v.get("objects").is_some())
}

struct FieldFilter {
    fields: Option<Vec<String>>,
    excluded: Vec<String>,
}

impl FieldFilter {
    fn from_query(query: Option<&str>) -> Option<Self> {
        let pairs = body::form_urlencoded_pairs(query?.as_bytes());
        let last = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let split = |s: String| {
            s.split(',')
                .take(65)
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
        };
        let fields = last("fields").map(split);
        let excluded = last("excluded_fields").map(split).unwrap_or_default();
        (fields.is_some() || !excluded.is_empty()).then_some(FieldFilter { fields, excluded })
    }

    /// Filters the keys of `v`, then of the nested serializers it still carries: DRF's
    /// `DynamicFieldsMixin` hands the same `fields` / `excluded_fields` to nested
    /// serializers that have the mixin (a user's `profile` and `groups`, a membership's
    /// `user` or `group`), not to plain JSON values (`links`, `metadata`, a data object's
    /// typed values).
    fn apply(&self, v: &mut Value) {
        let Value::Object(map) = v else {
            return;
        };
        let nested = nested_serializers(map);
        if let Some(keep) = &self.fields {
            map.retain(|k, _| keep.iter().any(|f| f == k));
        }
        map.retain(|k, _| !self.excluded.iter().any(|f| f == k));
        for key in nested {
            match map.get_mut(*key) {
                Some(Value::Array(items)) => items.iter_mut().for_each(|i| self.apply(i)),
                Some(inner @ Value::Object(_)) => self.apply(inner),
                _ => {}
            }
        }
    }
}

/// The keys of `map` that hold nested serializers, judged by the shape of `map` before it
/// is filtered: a user (UserJSON has `username` and `profile`) or a membership (only
/// `user` or `group`, and `links`).
fn nested_serializers(map: &serde_json::Map<String, Value>) -> &'static [&'static str] {
    let membership = map.len() == 2 && map.contains_key("links");
    if map.contains_key("username") && map.contains_key("profile") {
        &["profile", "groups"]
    } else if membership && map.get("user").is_some_and(Value::is_object) {
        &["user"]
    } else if membership && map.get("group").is_some_and(Value::is_object) {
        &["group"]
    } else {
        &[]
    }
}
