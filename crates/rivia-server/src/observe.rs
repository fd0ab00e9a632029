//! What [`crate::stack::App`] does around each request to make it observable: a request id
//! (a sane incoming `X-Request-Id`, else a new one) echoed in the response and carried by
//! the request's log span, the request counted in the metrics (by its route template), and
//! with `--access-log` one log line per request, its query's secrets redacted.
//!
//! A batch's sub-requests run through the same `App`; they are marked [`SubRequest`] and
//! left alone here: the batch request is the one counted and logged, and their log lines
//! carry the batch's span.

use crate::metrics::{Metrics, RouteTemplate, UNMATCHED, method_label};
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use rand::RngExt;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::Span;

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming request id taken as is.
const MAX_ID_LEN: usize = 128;

/// Marks a request the batch endpoint runs on behalf of a batch request.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SubRequest;

/// What the stack observes with: the metrics, when they are recorded.
#[derive(Clone, Default)]
pub(crate) struct Observer {
    metrics: Option<Arc<Metrics>>,
}

impl Observer {
    /// Records into `metrics` (None: per-request metrics off).
    pub(crate) fn new(metrics: Option<Arc<Metrics>>) -> Self {
        Observer { metrics }
    }

    /// Starts observing `req`; None for a batch's sub-request.
    pub(crate) fn start(&self, req: &Request) -> Option<Observed> {
        if req.extensions().get::<SubRequest>().is_some() {
            return None;
        }
        let id = incoming_id(req.headers().get(&X_REQUEST_ID)).unwrap_or_else(new_id);
        let span = tracing::info_span!(
            target: "rivia::request",
            "request",
            request_id = %id.to_str().unwrap_or_default()
        );
        // The line is built only when access logging is on: no copy of the path otherwise.
        let access =
            tracing::enabled!(target: "rivia::access", tracing::Level::INFO).then(|| Access {
                path: redacted_path(req.uri().path(), req.uri().query()),
                peer: req
                    .extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0),
            });
        Some(Observed {
            started: Instant::now(),
            method: method_label(req.method()),
            id,
            span,
            access,
            metrics: self.metrics.as_ref().map(|m| (m.clone(), m.in_flight())),
        })
    }
}

/// One request being answered.
pub(crate) struct Observed {
    started: Instant,
    method: &'static str,
    id: HeaderValue,
    span: Span,
    access: Option<Access>,
    /// The metrics and the request's place among those in flight.
    metrics: Option<(Arc<Metrics>, crate::metrics::Open)>,
}

/// What the access log line needs from the request.
struct Access {
    path: String,
    peer: Option<SocketAddr>,
}

impl Observed {
    /// The request's log span (its `request_id` field is the request id).
    pub(crate) fn span(&self) -> Span {
        self.span.clone()
    }

    /// Counts and logs the answered request and adds its `X-Request-Id`.
    pub(crate) fn finish(self, resp: &mut Response) {
        let elapsed = self.started.elapsed();
        let route = resp
            .extensions()
            .get::<RouteTemplate>()
            .map_or(UNMATCHED, |t| t.0);
        let status = resp.status();
        if let Some((metrics, _in_flight)) = &self.metrics {
            metrics.record(self.method, route, status, elapsed);
        }
        if let Some(access) = &self.access {
            tracing::info!(
                target: "rivia::access",
                parent: &self.span,
                method = self.method,
                path = %access.path,
                route,
                status = status.as_u16(),
                ms = elapsed.as_secs_f64() * 1000.0,
                peer = access.peer.map(|p| p.ip().to_string()),
                "answered"
            );
        }
        resp.headers_mut().insert(X_REQUEST_ID, self.id);
    }
}

/// An incoming request id worth keeping: 1 to 128 characters of letters, digits and
/// `-_.:+/=@` (UUIDs, hex and base64 ids, `Root=1-…` trace ids). Anything else (spaces,
/// quotes, control characters a log could be forged with) is replaced by a new id.
fn incoming_id(value: Option<&HeaderValue>) -> Option<HeaderValue> {
    let value = value?;
    let bytes = value.as_bytes();
    let sane = !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=@".contains(b));
    sane.then(|| value.clone())
}

/// A new request id: 128 random bits as 32 lowercase hex digits.
fn new_id() -> HeaderValue {
    let bytes: [u8; 16] = rand::rng().random();
    let mut text = [0u8; 32];
    // Both cannot fail: the buffer is exactly twice the bytes, and hex is a valid header.
    let _ = hex::encode_to_slice(bytes, &mut text);
    HeaderValue::from_bytes(&text).unwrap_or_else(|_| HeaderValue::from_static("0"))
}

/// Names of query parameters whose values are never logged: credentials in the query
/// (`api_key`, `apikey`, `user_key`, `userkey`, an invitation `key`, tokens, passwords,
/// signatures). Matched as parts of the decoded, lowercased name.
const SECRET_PARAMS: [&str; 6] = ["key", "token", "password", "secret", "signature", "auth"];

/// The request target for the log: the path, and the query with every secret parameter's
/// value replaced by `[redacted]`.
pub(crate) fn redacted_path(path: &str, query: Option<&str>) -> String {
    let Some(query) = query else {
        return path.to_string();
    };
    let mut out = String::with_capacity(path.len() + 1 + query.len());
    out.push_str(path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        out.push_str(name);
        if pair.contains('=') {
            out.push('=');
            out.push_str(if is_secret(name) && !value.is_empty() {
                "[redacted]"
            } else {
                value
            });
        }
    }
    out
}

fn is_secret(name: &str) -> bool {
    let decoded: Cow<str> = match crate::body::form_urlencoded_pairs(name.as_bytes()).pop() {
        Some((k, _)) => Cow::Owned(k.to_ascii_lowercase()),
        None => Cow::Borrowed(name),
    };
    SECRET_PARAMS.iter().any(|s| decoded.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_the_query_are_redacted_and_the_rest_kept() {
        let path = "/v1.1/instances/i/users/";
        assert_eq!(redacted_path(path, None), path);
        assert_eq!(
            redacted_path(
                path,
                Some("api_key=abc&page_size=2&USER_KEY=def&a%70ikey=ghi&flag&password=&x=1")
            ),
            "/v1.1/instances/i/users/?api_key=[redacted]&page_size=2&USER_KEY=[redacted]\
             &a%70ikey=[redacted]&flag&password=&x=1"
        );
        assert_eq!(
            redacted_path("/p/", Some("access_token=t&key=k&query={\"a\":1}")),
            "/p/?access_token=[redacted]&key=[redacted]&query={\"a\":1}"
        );
    }

    #[test]
    fn sane_incoming_ids_are_kept_and_others_replaced() {
        let keep = |s: &str| incoming_id(Some(&HeaderValue::from_str(s).expect("header")));
        for good in [
            "5f0c8a9e-1b2c-4d3e-8f9a-0b1c2d3e4f5a",
            "Root=1-67891233-abcdef012345678912345678",
            "abc",
        ] {
            assert_eq!(
                keep(good).as_ref().map(|v| v.as_bytes()),
                Some(good.as_bytes())
            );
        }
        for bad in ["", "has space", "quote\"", &"x".repeat(129), "tab\there"] {
            assert!(keep(bad).is_none(), "{bad:?}");
        }
        let fresh = new_id();
        assert_eq!(fresh.len(), 32);
        assert!(fresh.as_bytes().iter().all(u8::is_ascii_hexdigit));
        assert_ne!(fresh, new_id());
    }
}
