//! JSON responses: UTF-8 `application/json`, non-ASCII unescaped, serialised once.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Serialize;

/// A JSON response with a status, serialised straight from `body`.
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    raw_json_response(status, bytes)
}

/// A response from already-serialised JSON bytes.
pub fn raw_json_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// 200 with a body.
pub fn ok<T: Serialize>(body: T) -> Response {
    json_response(StatusCode::OK, &body)
}

/// 201 with a body.
pub fn created<T: Serialize>(body: T) -> Response {
    json_response(StatusCode::CREATED, &body)
}

/// 204 with an empty body.
pub fn no_content() -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}
