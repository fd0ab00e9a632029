//! What [`crate::stack`] applies around the routed API: Accept negotiation
//! ([`accepts_json`]), DRF's metadata for plain `OPTIONS` ([`options_metadata`]), and
//! `fields` / `excluded_fields` selection on GET responses ([`select_fields`]).

use crate::body;
use crate::error::ApiError;
use crate::json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(crate) fn accepts_json(accept: &str) -> bool {
    accept.split(',').any(|part| {
        let media = part.split(';').next().unwrap_or_default().trim();
        media.is_empty()
            || ["*/*", "application/*", "application/json"]
                .iter()
                .any(|m| media.eq_ignore_ascii_case(m))
    })
}

/// DRF's metadata for a plain `OPTIONS`.
pub(crate) fn options_metadata() -> Response {
    json::ok(json!({
        "name": "Rivia",
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data", "text/plain"],
    }))
}

/// Applies `fields` / `excluded_fields` (spec-core §1.5) to a successful GET response.
pub(crate) async fn select_fields(resp: Response, filter: FieldFilter) -> Response {
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

pub(crate) struct FieldFilter {
    fields: Option<Vec<String>>,
    excluded: Vec<String>,
}

impl FieldFilter {
    pub(crate) fn from_query(query: Option<&str>) -> Option<Self> {
        let pairs = body::form_urlencoded_pairs(query?.as_bytes());
        let last = |name: &str| {
            pairs
                .iter()
                .rev()
                // Blank counts as absent, as for every other query parameter.
                .find(|(k, v)| k == name && !v.is_empty())
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
