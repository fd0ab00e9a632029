//! JSON responses: UTF-8 `application/json`, non-ASCII unescaped, serialised once.

use crate::templates;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

pub(crate) mod writer;

/// Initial capacity of a response body being serialised.
const INITIAL_BODY_BYTES: usize = 2048;

/// A JSON response with a status, serialised straight from `body` by [`writer`] (the
/// bytes serde_json would write, faster).
pub(crate) fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    // A success rendered through a template: its values, without JSON text in between.
    if status.is_success()
        && templates::values::wanted()
        && let Some(built) = templates::values::build(body)
    {
        let mut resp = raw_json_response(status, Vec::new());
        resp.extensions_mut().insert(built);
        return resp;
    }
    // Room for a typical object or short page up front: a 2 KB page grown from a small
    // buffer would be copied five times.
    let mut bytes = Vec::with_capacity(INITIAL_BODY_BYTES);
    if writer::write(&mut bytes, body).is_err() {
        bytes = b"{}".to_vec();
    }
    raw_json_response(status, bytes)
}

/// A response from already-serialised JSON bytes.
pub(crate) fn raw_json_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// 200 with a body.
pub(crate) fn ok<T: Serialize>(body: T) -> Response {
    json_response(StatusCode::OK, &body)
}

/// 201 with a body.
pub(crate) fn created<T: Serialize>(body: T) -> Response {
    json_response(StatusCode::CREATED, &body)
}

/// 204 with an empty body.
pub(crate) fn no_content() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}
