//! The one error type of the HTTP layer. Every failure becomes a Syncano-shaped JSON body
//! with the right status; internal details go to the log, never to the response.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rivia_core::FieldErrors;
use rivia_store::StoreError;
use serde_json::{Value, json};

/// An error answered to the client.
#[derive(Debug)]
pub enum ApiError {
    /// `{"detail": "..."}` with a status.
    Detail(StatusCode, String),
    /// Any JSON body with a status (field errors, bare lists, string-valued field errors).
    Body(StatusCode, Value),
    /// 429 with `Retry-After: 1`.
    Throttled,
    /// An internal failure: logged, answered as a generic 500.
    Internal(String),
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 404 `Not found.`
    pub(crate) fn not_found() -> Self {
        ApiError::Detail(StatusCode::NOT_FOUND, "Not found.".into())
    }
    /// 404 `<Model> was not found.`
    pub(crate) fn model_not_found(model: &str) -> Self {
        ApiError::Detail(StatusCode::NOT_FOUND, format!("{model} was not found."))
    }
    /// 403 `You do not have permission to perform this action.`
    pub(crate) fn forbidden() -> Self {
        ApiError::Detail(
            StatusCode::FORBIDDEN,
            "You do not have permission to perform this action.".into(),
        )
    }
    /// 403 `No such API Key.`
    pub(crate) fn no_such_key() -> Self {
        ApiError::Detail(StatusCode::FORBIDDEN, "No such API Key.".into())
    }
    /// 400 `{"detail": msg}`.
    pub(crate) fn bad_request(msg: impl Into<String>) -> Self {
        ApiError::Detail(StatusCode::BAD_REQUEST, msg.into())
    }
    /// 400 with a field-error body.
    pub(crate) fn fields(errors: FieldErrors) -> Self {
        ApiError::Body(StatusCode::BAD_REQUEST, errors.into_value())
    }
    /// 400 `{field: [msg]}`.
    pub(crate) fn field(field: &str, msg: impl Into<String>) -> Self {
        Self::fields(FieldErrors::single(field, msg))
    }
    /// 400 `{field: "msg"}` (string, not list: custom Syncano exceptions).
    pub(crate) fn field_str(field: &str, msg: impl Into<String>) -> Self {
        ApiError::Body(StatusCode::BAD_REQUEST, json!({ field: msg.into() }))
    }
    /// 400 `Incorrect page parameter provided.`
    pub(crate) fn bad_page() -> Self {
        Self::bad_request("Incorrect page parameter provided.")
    }
    /// 413 `Request size limit exceeded (<n>).`
    pub(crate) fn too_large(limit: usize) -> Self {
        ApiError::Detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request size limit exceeded ({limit})."),
        )
    }
    /// 405 `Method "<M>" not allowed.`
    pub(crate) fn method_not_allowed(method: &str) -> Self {
        ApiError::Detail(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method \"{method}\" not allowed."),
        )
    }
    /// 401 with a detail.
    pub(crate) fn unauthorized(msg: &str) -> Self {
        ApiError::Detail(StatusCode::UNAUTHORIZED, msg.into())
    }

    /// The status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Detail(s, _) | ApiError::Body(s, _) => *s,
            ApiError::Throttled => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Every store failure, variant by variant: the ones a client can act on get their status
/// and message; internals are logged (by [`ApiError::Internal`]'s response) and answered
/// with a generic 500, never echoed.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Timeout => ApiError::Detail(
                StatusCode::REQUEST_TIMEOUT,
                "Requested query took too long. Timeout was reached.".into(),
            ),
            StoreError::Unavailable(m) => {
                tracing::error!(error = %m, "database unavailable");
                ApiError::Detail(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service temporarily unavailable.".into(),
                )
            }
            // A handler that expects a unique failure maps it before it gets here (to
            // its field's error); one that reaches this point was not foreseen.
            StoreError::Conflict(constraint) => ApiError::Internal(format!(
                "unexpected unique constraint violation: {constraint}"
            )),
            StoreError::Full(m) => {
                tracing::error!(error = %m, "storage full: writes refused until space is freed");
                ApiError::Detail(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "Insufficient storage. Try again later.".into(),
                )
            }
            StoreError::InvalidText(m) => {
                tracing::warn!(error = %m, "text the database cannot store reached it");
                ApiError::bad_request(crate::req::NUL_MESSAGE)
            }
            StoreError::Internal(m) => ApiError::Internal(format!("database error: {m}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self {
            ApiError::Detail(_, msg) => json!({ "detail": msg }),
            ApiError::Body(_, v) => v,
            ApiError::Throttled => {
                json!({"detail": "Request was throttled. Expected available in 1 second."})
            }
            ApiError::Internal(msg) => {
                tracing::error!(error = %msg, "internal error");
                json!({"detail": "Internal server error."})
            }
        };
        let mut resp = crate::json::json_response(status, &body);
        if status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}
