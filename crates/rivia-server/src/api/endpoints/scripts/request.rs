//! The HTTP request of a script endpoint run turned into the script's inputs
//! (spec-scripts §3, §4): `ARGS` from the body and the query, `META.request` from the
//! headers, and the trace's `args` (`{"POST", "GET"}`, unmerged).

use crate::error::{ApiError, ApiResult};
use crate::req::Req;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

/// Body keys that carry credentials and never reach the script.
const BODY_CREDENTIALS: [&str; 2] = ["_api_key", "_user_key"];
/// Query keys that carry credentials and never reach the script (`user_key`,
/// `template_response` and `_method` stay, as on the platform).
const QUERY_CREDENTIALS: [&str; 2] = ["api_key", "apikey"];
/// Headers withheld from `META.request` (as their WSGI names): proxy details and
/// credentials.
const WITHHELD_HEADERS: [&str; 12] = [
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_ORIGINAL_FORWARDED_FOR",
    "HTTP_X_REAL_IP",
    "HTTP_X_API_KEY",
    "HTTP_X_USER_KEY",
    "HTTP_X_SCHEME",
    "HTTP_AUTHORIZATION",
    "HTTP_HOST_TYPE",
    "HTTP_CONNECTION",
];
/// Instances created from 2017 on get flat ARGS; older ones `{"POST", "GET"}` plus the
/// merged keys (the platform's cut-over, 2017-01-01T00:00:00Z in µs).
const FLAT_ARGS_SINCE_MICROS: i64 = 1_483_228_800_000_000;

/// What a request gives the script and its trace.
#[derive(Debug)]
pub(crate) struct RunInput {
    /// ARGS.
    pub(crate) args: Value,
    /// The trace's `args`: `{"POST": …, "GET": …}`.
    pub(crate) trace_args: Value,
    /// META.request (also the trace's `meta`).
    pub(crate) request_meta: Value,
}

/// Reads the request (spec-scripts §4): POST data (any body; a scalar is refused), GET
/// data (the query, last value per key), both without credentials, merged with GET
/// winning; `instance_created_at` picks flat or nested ARGS.
pub(crate) fn run_input(req: &Req, instance_created_at: i64) -> ApiResult<RunInput> {
    let post = post_data(req)?;
    let get = get_data(req);
    let mut merged = Map::new();
    for part in [&post, &get] {
        if let Value::Object(m) = part {
            merged.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    let trace_args = json!({"POST": post, "GET": get});
    let args = if instance_created_at >= FLAT_ARGS_SINCE_MICROS {
        // QUIRK kept (spec-scripts §4): an array body is not merged, so it disappears.
        Value::Object(merged)
    } else {
        let mut nested = match trace_args.clone() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        nested.extend(merged);
        Value::Object(nested)
    };
    Ok(RunInput {
        args,
        trace_args,
        request_meta: request_meta(req),
    })
}

/// The body as the script sees it: an object (form fields with uploaded files as their
/// text, credentials removed) or an array; no body is `{}`.
fn post_data(req: &Req) -> ApiResult<Value> {
    let mut data = match &req.body.value {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ (Value::Object(_) | Value::Array(_))) => v.clone(),
        Some(_) => {
            return Err(ApiError::field(
                "non_field_errors",
                "Payload passed in invalid format.",
            ));
        }
    };
    if let Value::Object(m) = &mut data {
        for upload in &req.body.files {
            let text = std::str::from_utf8(&upload.bytes).map_err(|_| unsupported_payload())?;
            m.insert(upload.field.clone(), Value::String(text.to_owned()));
        }
        for key in BODY_CREDENTIALS {
            m.shift_remove(key);
        }
    }
    Ok(data)
}

/// An uploaded file that is not UTF-8 text cannot become a JSON string.
fn unsupported_payload() -> ApiError {
    ApiError::Detail(
        StatusCode::BAD_REQUEST,
        "Unsupported payload provided that cannot be serialized.".into(),
    )
}

/// The query, last value per key (in first-seen order, blank values included), without
/// credentials.
fn get_data(req: &Req) -> Value {
    let pairs = req
        .uri
        .query()
        .map(|q| crate::body::form_urlencoded_pairs(q.as_bytes()))
        .unwrap_or_default();
    let mut m = Map::new();
    for (k, v) in pairs {
        if !QUERY_CREDENTIALS.contains(&k.as_str()) {
            m.insert(k, Value::String(v));
        }
    }
    Value::Object(m)
}

/// META.request: every header under its WSGI name (`User-Agent` → `HTTP_USER_AGENT`)
/// except [`WITHHELD_HEADERS`] and the body's `Content-Type`/`Content-Length` (WSGI keeps
/// those apart), plus `PATH_INFO`, `REQUEST_METHOD` and `REMOTE_ADDR` (the first address of
/// `X-Forwarded-For`, else `X-Real-IP`, else the peer).
pub(crate) fn request_meta(req: &Req) -> Value {
    let mut m = Map::new();
    for name in req.headers.keys() {
        let wsgi = format!(
            "HTTP_{}",
            name.as_str().to_ascii_uppercase().replace('-', "_")
        );
        if WITHHELD_HEADERS.contains(&wsgi.as_str())
            || wsgi == "HTTP_CONTENT_TYPE"
            || wsgi == "HTTP_CONTENT_LENGTH"
        {
            continue;
        }
        // A repeated header reads as one value, joined as a WSGI server joins it.
        let value = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| latin1(v.as_bytes()))
            .collect::<Vec<_>>()
            .join(",");
        m.insert(wsgi, Value::String(value));
    }
    m.insert("PATH_INFO".into(), Value::String(path_info(&req.path)));
    m.insert(
        "REQUEST_METHOD".into(),
        Value::String(req.method.as_str().to_owned()),
    );
    let forwarded = req
        .header("x-forwarded-for")
        .or_else(|| req.header("x-real-ip"))
        .map(str::to_owned)
        .or_else(|| req.peer.map(|p| p.to_string()))
        .unwrap_or_default();
    let first = forwarded.split(',').next().unwrap_or_default().to_owned();
    m.insert("REMOTE_ADDR".into(), Value::String(first));
    Value::Object(m)
}

/// A header value as WSGI gives it: each byte one Latin-1 character.
fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The percent-decoded path (WSGI `PATH_INFO`).
fn path_info(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_decoded() {
        assert_eq!(path_info("/a%20b/%zz/%41"), "/a b/%zz/A");
        assert_eq!(path_info("/x%"), "/x%");
    }

    #[test]
    fn header_bytes_read_as_latin1() {
        assert_eq!(latin1(b"caf\xe9"), "café");
    }
}
