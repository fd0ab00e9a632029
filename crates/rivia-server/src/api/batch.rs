//! Batch (spec-rest §6): up to 50 sub-requests answered in order, each run through the same
//! router, middleware and permission code as a direct request, with the caller's identity.

use super::Api;
use crate::auth::{Principal, authenticate, primary_key, resolve_instance, user_key};
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::json::ok;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use http_body_util::BodyExt;
use rivia_core::FieldErrors;
use serde_json::{Map, Value, json};
use tower::ServiceExt;
use tracing::Instrument;

/// Most sub-requests in one batch.
pub(crate) const MAX_REQUESTS: usize = 50;

/// Most bytes of sub-request answers (their JSON) one batch returns. Once reached, the
/// remaining sub-requests are not run and answer 413 (README, Security).
pub(crate) const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

const NESTED: &str = "Batch requests cannot be nested: a batch may not contain a batch request.";

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    api.post(
        "/v1.1/instances/{instance}/batch/",
        "Run up to 50 requests in one call",
        run_batch,
    )
}

/// Response extension marking the router's fallback: no route matched.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unrouted;

/// One validated sub-request.
struct SubRequest {
    method: String,
    path: String,
    body: Option<Value>,
}

fn valid_path_shape(path: &str) -> bool {
    // `^(?:/[a-z0-9-_\.]+)+/(\?[^\?]+){0,1}$`
    let (route, query) = match path.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (path, None),
    };
    let segments_ok = route.len() > 1
        && route.starts_with('/')
        && route.ends_with('/')
        && route[1..route.len() - 1].split('/').all(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        });
    segments_ok && query.is_none_or(|q| !q.is_empty() && !q.contains('?'))
}

fn validate_body(body: &Value) -> Result<Option<Value>, String> {
    let map = match body {
        Value::Null => return Ok(None),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => m,
            _ => return Err("Body passed in invalid format.".into()),
        },
        Value::Object(m) => m.clone(),
        _ => return Err("Body passed in invalid format.".into()),
    };
    if map.len() > 32 {
        return Err("Too many keys defined (exceeds 32).".into());
    }
    for (k, v) in &map {
        if k.chars().count() > 64 {
            return Err("Too long key defined (exceeds 64).".into());
        }
        if v.to_string().len() > 48 * 1024 {
            return Err(format!(
                "Too long value defined for key {k} (exceeds 49152)."
            ));
        }
    }
    Ok(Some(Value::Object(map)))
}

/// Validates the `requests` list with DRF's nested-serializer error shape.
fn parse_requests(body: &Map<String, Value>, instance: &str) -> ApiResult<Vec<SubRequest>> {
    let list = match body.get("requests") {
        None => {
            return Err(ApiError::field(
                "requests",
                rivia_core::errors::msg::REQUIRED,
            ));
        }
        Some(Value::Array(list)) => list,
        Some(other) => {
            return Err(ApiError::Body(
                StatusCode::BAD_REQUEST,
                json!({"requests": {"non_field_errors": [format!(
                    "Expected a list of items but got type \"{}\".",
                    crate::req::json_type_name(other)
                )]}}),
            ));
        }
    };
    let prefix = format!("/v1.1/instances/{instance}/");
    let mut parsed = Vec::new();
    let mut item_errors = Vec::new();
    for item in list {
        let mut errors = FieldErrors::new();
        let Value::Object(item) = item else {
            errors.add(
                "non_field_errors",
                format!(
                    "Invalid data. Expected a dictionary, but got {}.",
                    crate::req::json_type_name(item)
                ),
            );
            item_errors.push(errors.into_value());
            continue;
        };
        let method = match item.get("method").and_then(Value::as_str) {
            Some(m) if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m) => {
                Some(m.to_string())
            }
            Some(m) => {
                errors.add("method", rivia_core::errors::msg::invalid_choice(m));
                None
            }
            None => {
                errors.add("method", rivia_core::errors::msg::REQUIRED);
                None
            }
        };
        let path = match item.get("path").and_then(Value::as_str) {
            Some(p) if p.chars().count() > 8192 => {
                errors.add("path", rivia_core::errors::msg::max_length(8192));
                None
            }
            Some(p) => {
                let p = p.trim().to_lowercase();
                if !p.starts_with(&prefix) {
                    errors.add("path", "Path needs to point to an endpoint within current instance and API version.");
                    None
                } else if !valid_path_shape(&p) {
                    errors.add("path", "Invalid path specified.");
                    None
                } else if p.split('?').next() == Some(&format!("{prefix}batch/")) {
                    // A batch of batches would multiply the work of one request.
                    errors.add("path", NESTED);
                    None
                } else {
                    Some(p)
                }
            }
            None => {
                errors.add("path", rivia_core::errors::msg::REQUIRED);
                None
            }
        };
        let body = match validate_body(item.get("body").unwrap_or(&Value::Null)) {
            Ok(b) => b,
            Err(msg) => {
                errors.add("body", msg);
                None
            }
        };
        match (method, path) {
            (Some(method), Some(path)) if errors.is_empty() => {
                parsed.push(SubRequest { method, path, body });
                item_errors.push(json!({}));
            }
            _ => item_errors.push(errors.into_value()),
        }
    }
    if parsed.len() != list.len() {
        return Err(ApiError::Body(
            StatusCode::BAD_REQUEST,
            json!({"requests": item_errors}),
        ));
    }
    if parsed.len() > MAX_REQUESTS {
        return Err(ApiError::bad_request(format!(
            "Max requests per batch exceeded ({MAX_REQUESTS})."
        )));
    }
    Ok(parsed)
}

fn is_poll(path: &str) -> bool {
    let route = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = route.trim_matches('/').split('/').collect();
    parts.len() == 6 && parts[3] == "channels" && parts[5] == "poll"
}

async fn run_batch(call: Call<()>) -> ApiResult<Response> {
    let Call {
        app, req, instance, ..
    } = call;
    let inst = resolve_instance(&app, &instance).await?;
    // An anonymous caller is refused before the (up to 4 MB) body is read, unless the
    // body is where its key is.
    if matches!(
        authenticate(&app, &req, Some(&inst)).await?,
        Principal::Anonymous
    ) {
        return Err(ApiError::forbidden());
    }
    if req.header("x-batching").is_some() {
        return Err(ApiError::bad_request(NESTED));
    }
    req.load_body().await?;
    let body = req.body_object()?;
    let requests = parse_requests(&body, &inst.name)?;
    let router = crate::app(app.clone());
    let primary = primary_key(&req);
    let user = user_key(&req);
    let mut answers = Vec::with_capacity(requests.len());
    let mut answer_bytes = 0usize;
    for sub in requests {
        if answer_bytes >= MAX_ANSWER_BYTES {
            answers.push(json!({"code": 413, "content": {"detail": format!(
                "Batch answer size limit exceeded ({MAX_ANSWER_BYTES} bytes); request not run."
            )}}));
            continue;
        }
        if is_poll(&sub.path) {
            answers.push(json!({"code": 405, "content": {"detail": "Batching not allowed."}}));
            continue;
        }
        let mut builder = Request::builder()
            .method(sub.method.as_str())
            .uri(encode_raw_query(&sub.path))
            .header("x-batching", "1")
            // Counted and logged as part of the batch request, not on its own.
            .extension(crate::observe::SubRequest);
        if let Some(k) = &primary {
            builder = builder.header("x-api-key", k);
        }
        if let Some(k) = &user {
            builder = builder.header("x-user-key", k);
        }
        if let Some(ua) = req.header("user-agent") {
            builder = builder.header(header::USER_AGENT, ua);
        }
        // Absolute file URLs in the answers are built from the batch request's host.
        if let Some(host) = req.headers.get(header::HOST) {
            builder = builder.header(header::HOST, host);
        }
        let body = match (&sub.body, sub.method.as_str()) {
            (Some(b), m) if m != "GET" && m != "DELETE" => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            _ => Body::empty(),
        };
        let one = match builder.body(body) {
            Ok(request) => run_one(router.clone(), request).await,
            Err(_) => json!({"code": 400, "content": {"path": ["Invalid path specified."]}}),
        };
        answer_bytes += one.to_string().len();
        answers.push(one);
    }
    Ok(ok(Value::Array(answers)))
}

/// Runs one sub-request in a task of its own, so that even a panic in it becomes that
/// sub-request's 500 instead of failing the batch (whose earlier writes are committed).
async fn run_one(router: crate::stack::App, request: Request<Body>) -> Value {
    // In the batch request's span: its log lines carry the batch's request id.
    let task =
        tokio::spawn(async move { answer(router.oneshot(request).await).await }.in_current_span());
    match task.await {
        Ok(v) => v,
        Err(_) => json!({"code": 500, "content": {"detail": "Internal server error."}}),
    }
}

/// Percent-encodes what a URI may not hold raw (space, `"`, `{`, `<`, DEL, non-ASCII…) in
/// a sub-request's query: Syncano took raw JSON `query=` values there. Existing `%XX`
/// escapes are kept.
fn encode_raw_query(path: &str) -> String {
    let Some((route, query)) = path.split_once('?') else {
        return path.to_string();
    };
    let mut out = String::with_capacity(path.len() + 16);
    out.push_str(route);
    out.push('?');
    for b in query.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn answer(result: Result<Response, std::convert::Infallible>) -> Value {
    let Ok(resp) = result;
    let code = resp.status().as_u16();
    if resp.extensions().get::<Unrouted>().is_some() {
        return json!({"code": 404, "content": "Invalid endpoint specified."});
    }
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let content: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let has_content = match &content {
        Value::Null => false,
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    };
    if has_content {
        json!({"code": code, "content": content})
    } else {
        json!({"code": code})
    }
}
