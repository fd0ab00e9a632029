//! Request bodies (spec-core §1.2): JSON, `text/plain` JSON (with the `_method` override),
//! form-urlencoded and multipart, parsed once. The parsed body and any
//! `_api_key`/`_user_key` it carries travel as a request extension ([`Parsed`]).
//!
//! A body is read after routing, when the handler's [`crate::req::Req`] needs it
//! ([`LazyBody`]): until then it travels unread as a [`Pending`], so that an unknown
//! route or a method the route lacks answers without reading it, and the limit is the
//! route's. Instance routes read it after their checks (see [`crate::caller`]). The one exception is a `text/plain` POST, whose `_method` picks the route:
//! [`prepare`] reads it before routing (at the default limit).

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::MatchedPath;
use axum::extract::Request;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Default limit for request bodies.
pub(crate) const DEFAULT_LIMIT: usize = 1024 * 1024;
/// Limit for multipart uploads (whole request), on the routes that take files.
pub(crate) const UPLOAD_LIMIT: usize = 15 * 1024 * 1024;
/// An uploaded backup archive to restore (`restores/`, multipart). Larger archives are
/// restored with `rivia backup restore` on the server itself.
pub(crate) const ARCHIVE_LIMIT: usize = 256 * 1024 * 1024;
/// Limit for channel publish requests.
pub(crate) const PUBLISH_LIMIT: usize = 65536;
/// Limit for batch requests (50 sub-requests).
pub(crate) const BATCH_LIMIT: usize = 4 * 1024 * 1024;
/// Script writes carry sources of up to 3 MB (rest §1) plus the rest of the body.
pub(crate) const SCRIPT_LIMIT: usize = 4 * 1024 * 1024;
/// Script runs (spec-scripts §5: `Request size limit exceeded (524288).`).
pub(crate) const RUN_LIMIT: usize = 524_288;

/// An uploaded file of a multipart request.
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    /// Form field name.
    pub(crate) field: String,
    /// Client file name.
    pub(crate) filename: String,
    /// Contents.
    pub(crate) bytes: Bytes,
}

/// The parsed request body.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedBody {
    /// The data: any JSON for JSON bodies; an object of strings for forms.
    pub(crate) value: Option<Value>,
    /// Files of a multipart body.
    pub(crate) files: Vec<Upload>,
}

impl ParsedBody {
    /// `_api_key` from a dict body.
    pub(crate) fn api_key(&self) -> Option<&str> {
        self.value
            .as_ref()?
            .get("_api_key")?
            .as_str()
            .filter(|s| !s.is_empty())
    }
    /// `_user_key` from a dict body.
    pub(crate) fn user_key(&self) -> Option<&str> {
        self.value
            .as_ref()?
            .get("_user_key")?
            .as_str()
            .filter(|s| !s.is_empty())
    }
}

/// The request extension holding the parsed body.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed(pub Arc<ParsedBody>);

/// The body limit of a route. Only the data object writes take files: any other route's
/// multipart body has the default limit.
fn limit_for(route: &str, content_type: &str) -> usize {
    if content_type == "multipart/form-data" && takes_uploads(route) {
        UPLOAD_LIMIT
    } else if content_type == "multipart/form-data" && route.ends_with("/restores/") {
        ARCHIVE_LIMIT
    } else if route.ends_with("/publish/") {
        PUBLISH_LIMIT
    } else if route.ends_with("/batch/") {
        BATCH_LIMIT
    } else if route.contains("/snippets/scripts/") && route.ends_with("/run/") {
        RUN_LIMIT
    } else if route.contains("/endpoints/scripts/")
        && (route.ends_with("/run/") || route.contains("/endpoints/scripts/p/"))
    {
        // Script endpoint runs, public ones included (multipart bodies too).
        RUN_LIMIT
    } else if route.contains("/snippets/scripts/") {
        SCRIPT_LIMIT
    } else {
        DEFAULT_LIMIT
    }
}

fn takes_uploads(route: &str) -> bool {
    route.ends_with("/classes/{class}/objects/")
        || route.ends_with("/classes/{class}/objects/{id}/")
        // A data endpoint's `post/` is the objects create.
        || route.ends_with("/endpoints/data/{name}/post/")
}

/// A request body not read yet, and how long reading it may take.
#[derive(Clone)]
pub(crate) struct Pending(Arc<PendingInner>);

struct PendingInner {
    body: parking_lot::Mutex<Option<Body>>,
    timeout: Duration,
}

/// Whether the request carries a body to read: GET, HEAD and OPTIONS bodies are ignored.
pub(crate) fn has_body(req: &Request) -> bool {
    let method = req.method();
    method != Method::GET
        && method != Method::HEAD
        && method != Method::OPTIONS
        && !axum::body::HttpBody::is_end_stream(req.body())
}

/// Before routing: a `text/plain` POST is read and parsed now (its `_method` picks the
/// route); any other body is set aside as [`Pending`] for the handler.
pub(crate) async fn prepare(req: Request, timeout: Duration) -> Result<Request, ApiError> {
    let (mut parts, body) = req.into_parts();
    let content_type = content_type(&parts.headers);
    if parts.method == Method::POST && essence(content_type) == "text/plain" {
        let path = parts.uri.path().to_owned();
        let (parsed, method) =
            read_and_parse(&parts.headers, &parts.method, body, &path, timeout).await?;
        if let Some(method) = method {
            parts.method = method;
        }
        parts.extensions.insert(Parsed(Arc::new(parsed)));
        return Ok(Request::from_parts(parts, Body::empty()));
    }
    parts.extensions.insert(Pending(Arc::new(PendingInner {
        body: parking_lot::Mutex::new(Some(body)),
        timeout,
    })));
    Ok(Request::from_parts(parts, Body::empty()))
}

/// The body of a routed request, read when first needed ([`LazyBody::load`]): the
/// instance routes authenticate (and check permissions) before they read it, so a
/// request that will be refused is answered without reading a large body. Until it is
/// loaded it reads as empty; reading it then is a bug, which debug builds report.
pub(crate) struct LazyBody {
    parsed: tokio::sync::OnceCell<Arc<ParsedBody>>,
    /// The unread body, with the route whose limit applies.
    source: Option<(Pending, String)>,
}

/// What an absent or not yet loaded body reads as.
static EMPTY: ParsedBody = ParsedBody {
    value: None,
    files: Vec::new(),
};

impl LazyBody {
    /// Takes the routed request's body: parsed already (a `text/plain` POST) or set aside.
    pub(crate) fn from_parts(parts: &mut Parts) -> Self {
        let parsed = tokio::sync::OnceCell::new();
        if let Some(done) = parts.extensions.get::<Parsed>() {
            let _ = parsed.set(done.0.clone());
            return LazyBody {
                parsed,
                source: None,
            };
        }
        let source = parts.extensions.remove::<Pending>().map(|pending| {
            let route = match parts.extensions.get::<MatchedPath>() {
                Some(m) => m.as_str().to_owned(),
                None => parts.uri.path().to_owned(),
            };
            (pending, route)
        });
        LazyBody { parsed, source }
    }

    /// Reads and parses the body within its route's limit, once; later calls answer the
    /// first one's result. `Ok(true)` when this call read it.
    pub(crate) async fn load(
        &self,
        headers: &HeaderMap,
        method: &Method,
    ) -> Result<bool, ApiError> {
        let Some((pending, route)) = &self.source else {
            return Ok(false);
        };
        if self.parsed.initialized() {
            return Ok(false);
        }
        let mut read_now = false;
        self.parsed
            .get_or_try_init(|| async {
                read_now = true;
                let body = pending.0.body.lock().take().unwrap_or_default();
                // Boxed: the reading state is large, and inline it would stay allocated
                // for as long as the handler runs (a held poll: minutes).
                let (parsed, _) = Box::pin(read_and_parse(
                    headers,
                    method,
                    body,
                    route,
                    pending.0.timeout,
                ))
                .await?;
                Ok::<_, ApiError>(Arc::new(parsed))
            })
            .await?;
        Ok(read_now)
    }
}

impl std::ops::Deref for LazyBody {
    type Target = ParsedBody;

    fn deref(&self) -> &ParsedBody {
        match self.parsed.get() {
            Some(parsed) => parsed,
            None => {
                debug_assert!(
                    self.source.is_none(),
                    "the request body was used before it was read"
                );
                &EMPTY
            }
        }
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::too_large(limit)),
        Err(_) => Err(ApiError::bad_request("Malformed request body.")),
    }
}

fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("JSON parse error - {e}")))
}

fn parse_form(bytes: &[u8]) -> Value {
    let mut map = Map::new();
    for (k, v) in form_urlencoded_pairs(bytes) {
        map.insert(k, Value::String(v));
    }
    Value::Object(map)
}

/// Decodes `a=1&b=2` pairs (`+` as space, percent escapes).
pub(crate) fn form_urlencoded_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    bytes
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let mut it = pair.splitn(2, |b| *b == b'=');
            let k = percent_decode(it.next().unwrap_or_default());
            let v = percent_decode(it.next().unwrap_or_default());
            (k, v)
        })
        .collect()
}

fn percent_decode(input: &[u8]) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < input.len() => {
                let hex = std::str::from_utf8(&input[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn parse_multipart(bytes: Bytes, content_type: &str) -> Result<ParsedBody, ApiError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        ApiError::bad_request("Multipart form parse error - Invalid boundary in multipart: None")
    })?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(bytes) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut map = Map::new();
    let mut files = Vec::new();
    loop {
        let field = mp
            .next_field()
            .await
            .map_err(|e| ApiError::bad_request(format!("Multipart form parse error - {e}")))?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(str::to_string);
        let data = field
            .bytes()
            .await
            .map_err(|e| ApiError::bad_request(format!("Multipart form parse error - {e}")))?;
        match filename {
            Some(filename) => files.push(Upload {
                field: name,
                filename,
                bytes: data,
            }),
            None => {
                map.insert(
                    name,
                    Value::String(String::from_utf8_lossy(&data).into_owned()),
                );
            }
        }
    }
    Ok(ParsedBody {
        value: Some(Value::Object(map)),
        files,
    })
}

/// Reads the body within `route`'s limit and `timeout` and parses it per its content type;
/// also the method a `text/plain` POST's `_method` asks for.
async fn read_and_parse(
    headers: &HeaderMap,
    method: &Method,
    body: Body,
    route: &str,
    timeout: Duration,
) -> Result<(ParsedBody, Option<Method>), ApiError> {
    let content_type = content_type(headers).to_owned();
    let essence = essence(&content_type);
    let limit = limit_for(route, &essence);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(limit));
    }
    let bytes = match tokio::time::timeout(timeout, read_limited(body, limit)).await {
        Ok(read) => read?,
        // The stack closes the connection after a 408 (the rest of the body is unread).
        Err(_) => {
            return Err(ApiError::Detail(
                StatusCode::REQUEST_TIMEOUT,
                "Request body was not received in time.".into(),
            ));
        }
    };
    parse_bytes(&content_type, method, bytes).await
}

/// Parses a body that was read whole, per its content type (`content_type` as sent, with
/// its parameters); also the method a `text/plain` POST's `_method` asks for. Never
/// panics: anything malformed is a 400 or 415.
pub(crate) async fn parse_bytes(
    content_type: &str,
    method: &Method,
    bytes: Bytes,
) -> Result<(ParsedBody, Option<Method>), ApiError> {
    if bytes.is_empty() {
        return Ok((ParsedBody::default(), None));
    }
    let mut new_method = None;
    let parsed = match essence(content_type).as_str() {
        "application/json" | "" => ParsedBody {
            value: Some(parse_json(&bytes)?),
            ..Default::default()
        },
        "text/plain" => {
            let value = parse_json(&bytes)?;
            if method == Method::POST
                && let Some(m) = value.get("_method").and_then(Value::as_str)
            {
                let upper = m.to_ascii_uppercase();
                if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&upper.as_str()) {
                    new_method = Method::from_bytes(upper.as_bytes()).ok();
                }
            }
            ParsedBody {
                value: Some(value),
                ..Default::default()
            }
        }
        "application/x-www-form-urlencoded" => ParsedBody {
            value: Some(parse_form(&bytes)),
            ..Default::default()
        },
        "multipart/form-data" => parse_multipart(bytes, content_type).await?,
        other => {
            return Err(ApiError::Detail(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("Unsupported media type \"{other}\" in request."),
            ));
        }
    };
    Ok((parsed, new_method))
}

#[cfg(test)]
#[path = "body_props.rs"]
mod props;
