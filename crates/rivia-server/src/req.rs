//! The request as handlers see it: method, path, last-wins query parameters, headers, the
//! parsed body, and the client address.

use crate::body::LazyBody;
use crate::error::ApiError;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AsHeaderName;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method};
use rivia_core::page::PageRequest;
use serde_json::{Map, Value};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

/// The credential headers (constants: parsed once, not per lookup).
pub(crate) const X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");
/// See [`X_API_KEY`].
pub(crate) const X_USER_KEY: HeaderName = HeaderName::from_static("x-user-key");

/// What a handler needs of the request.
pub(crate) struct Req {
    /// Method (after a `_method` override).
    pub(crate) method: Method,
    /// URL path.
    pub(crate) path: String,
    /// Query parameters in order, without blank ones.
    pub(crate) query: Vec<(String, String)>,
    /// The request URI as sent (a cheap clone: it shares the request's bytes), for the rare
    /// reader of the raw query (blank parameters included).
    pub(crate) uri: axum::http::Uri,
    /// Headers.
    pub(crate) headers: HeaderMap,
    /// The parsed body, once read: [`Req::load_body`] reads it (the extractor does at
    /// once; an instance route's [`crate::caller::Call`] only after its checks).
    pub(crate) body: LazyBody,
    /// Whether the loaded body was checked for NUL characters.
    body_checked: AtomicBool,
    /// Client address, when served over a socket.
    pub(crate) peer: Option<IpAddr>,
}

impl<S: Send + Sync> FromRequestParts<S> for Req {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let req = Req::unread(parts)?;
        req.load_body().await?;
        Ok(req)
    }
}

impl Req {
    /// The request without reading its body: [`Req::load_body`] reads it when needed.
    pub(crate) fn unread(parts: &mut Parts) -> Result<Self, ApiError> {
        let mut query = parts
            .uri
            .query()
            .map(|q| crate::body::form_urlencoded_pairs(q.as_bytes()))
            .unwrap_or_default();
        // A blank optional parameter counts as absent, as the platform's DRF treated it:
        // Syncano's JavaScript library polls with `?last_id=&room=` when neither is set.
        query.retain(|(_, v)| !v.is_empty());
        if let Some((k, _)) = query
            .iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(nul_error(k));
        }
        // A name in the URL with a NUL names nothing (PostgreSQL cannot even compare it).
        if percent_decoded_has_nul(parts.uri.path()) {
            return Err(ApiError::not_found());
        }
        let body = LazyBody::from_parts(parts);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Req {
            method: parts.method.clone(),
            path: parts.uri.path().to_string(),
            query,
            uri: parts.uri.clone(),
            // Taken, not cloned (a map and a count per header, every request): `Req` is
            // the last extractor of every handler, and nothing after it reads them.
            headers: std::mem::take(&mut parts.headers),
            body,
            body_checked: AtomicBool::new(false),
            peer,
        })
    }

    /// Reads the body (within the route's limit), once, and refuses NUL characters in it.
    pub(crate) async fn load_body(&self) -> Result<(), ApiError> {
        self.body.load(&self.headers, &self.method).await?;
        if !self.body_checked.swap(true, Ordering::Relaxed)
            && let Some(v) = &self.body.value
            && let Some(field) = nul_field(v)
        {
            self.body_checked.store(false, Ordering::Relaxed);
            return Err(nul_error(&field));
        }
        Ok(())
    }
}

/// Syncano's (DRF's) message for a NUL character in text. PostgreSQL cannot store NUL, so
/// both backends refuse it wherever it appears in a request (README, Security).
pub(crate) const NUL_MESSAGE: &str = "Null characters are not allowed.";

fn nul_error(field: &str) -> ApiError {
    let field = if field.is_empty() || field.contains('\0') {
        "non_field_errors"
    } else {
        field
    };
    ApiError::field(field, NUL_MESSAGE)
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// The top-level field of a body holding a NUL character anywhere inside it (`""` when the
/// body is not an object).
fn nul_field(body: &Value) -> Option<String> {
    match body {
        Value::Object(m) => m
            .iter()
            .find(|(k, v)| k.contains('\0') || has_nul(v))
            .map(|(k, _)| k.clone()),
        other => has_nul(other).then(String::new),
    }
}

/// Whether a URL path holds `%00` (a raw NUL cannot reach here).
fn percent_decoded_has_nul(path: &str) -> bool {
    path.as_bytes().windows(3).any(|w| w == b"%00")
}

impl Req {
    /// The last value of a query parameter (Syncano clients re-send parameters; last wins).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a query parameter, in order.
    pub(crate) fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A header as text. (Hot paths pass a [`HeaderName`] constant: a `&str` name is
    /// parsed and hashed anew on every lookup.)
    pub(crate) fn header<K: AsHeaderName>(&self, name: K) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as an object; an absent body is an empty object.
    pub(crate) fn body_object(&self) -> Result<Map<String, Value>, ApiError> {
        match &self.body.value {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(other) => Err(ApiError::Body(
                axum::http::StatusCode::BAD_REQUEST,
                serde_json::json!({"non_field_errors": [format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    json_type_name(other)
                )]}),
            )),
        }
    }

    /// The standard page parameters.
    pub(crate) fn page(&self, default_descending: bool) -> Result<PageRequest, ApiError> {
        PageRequest::parse(
            self.param("page_size"),
            self.param("ordering"),
            self.param("direction"),
            self.param("last_pk"),
            default_descending,
        )
        .map_err(|_| ApiError::bad_page())
    }

    /// Whether this is a PATCH (partial update).
    pub(crate) fn is_partial(&self) -> bool {
        self.method == Method::PATCH
    }
}

/// DRF's name for a JSON value's Python type, used in error messages.
pub(crate) fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}
