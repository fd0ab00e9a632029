//! Running a script endpoint (spec-scripts §3, §4, §7): `{name}/run/` for admins (GET reads,
//! POST writes) and the public link `p/{public_link}/{name}/` for anyone when the endpoint
//! is public. The request waits for the run, which goes through the same bounded executor
//! as `snippets/scripts/{id}/run/`; the answer is the script's custom response when it set
//! one, else the run as compact JSON.
//!
//! Where Rivia answers differently from the platform (README): a run the executor refuses
//! (`blocked`: queue full) or that waited past the queue timeout answers 408 at once
//! instead of after 300 s; a custom status of 100–199 is a 500 like any other unusable one.

use super::load;
use super::request::run_input;
use crate::api::snippets::{run_request, script_access};
use crate::api::{Api, ts};
use crate::auth::resolve_instance;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::json::raw_json_response;
use crate::req::Req;
use crate::runner::{Job, RunEnd, py_str_len};
use crate::state::AppState;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use rivia_core::perms::Op;
use rivia_scripts::CustomResponse;
use rivia_store::instances::Instance;
use rivia_store::script_endpoints::{ScriptEndpoint, TRACE_KIND};
use serde_json::{Map, Value, json};

const PUBLIC: &str = "/v1.1/instances/{instance}/endpoints/scripts/p/{public_link}/{name}/";

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    const RUN: &str = "/v1.1/instances/{instance}/endpoints/scripts/{name}/run/";
    api.get(RUN, "Run a script endpoint", run_private)
        .post(RUN, "Run a script endpoint", run_private)
        .get(PUBLIC, "Run a public script endpoint", run_public)
        .post(PUBLIC, "Run a public script endpoint", run_public)
        .guard(PUBLIC, public_method_guard)
}

/// Headers a script cannot set: they frame the HTTP message, which the server owns.
const FRAMING_HEADERS: [HeaderName; 7] = [
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONNECTION,
    header::UPGRADE,
    header::TE,
    header::TRAILER,
    HeaderName::from_static("keep-alive"),
];

/// `{name}/run/`: GET needs the read role, POST the write role; API keys are refused.
async fn run_private(call: Call<String>) -> ApiResult<Response> {
    let op = if call.req.method == Method::GET {
        Op::Read
    } else {
        Op::Update
    };
    let (ctx, ()) = call.check(async |ctx| script_access(ctx, op)).await?;
    refuse_batching(&call.req)?;
    let endpoint = load(&call.app, &ctx, &call.path).await?;
    let admin = ctx.admin().map(|a| json!({"id": a.id, "email": a.email}));
    run_endpoint(&call.app, &ctx.instance, &endpoint, &call.req, admin).await
}

/// `p/{public_link}/{name}/`: no credentials (any sent are ignored), the instance's request
/// rate, only while the endpoint is public. QUIRK kept: `{name}` is not checked.
async fn run_public(call: Call<(String, String)>) -> ApiResult<Response> {
    let instance = resolve_instance(&call.app, &call.instance).await?;
    throttle_instance(&call.app, &instance)?;
    refuse_batching(&call.req)?;
    let endpoint = call
        .app
        .store
        .public_script_endpoint(instance.id, &call.path.0)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // No preamble here to read the body (`Call` leaves it unread): read it now that the
    // endpoint is known to be public.
    call.req.load_body().await?;
    run_endpoint(&call.app, &instance, &endpoint, &call.req, None).await
}

/// The public route has no authentication or permission step: another method is 405.
async fn public_method_guard(call: Call<()>) -> ApiResult<Response> {
    let instance = resolve_instance(&call.app, &call.instance).await?;
    throttle_instance(&call.app, &instance)?;
    Err(ApiError::method_not_allowed(call.req.method.as_str()))
}

fn throttle_instance(app: &AppState, instance: &Instance) -> ApiResult<()> {
    let key = format!("i:{}", instance.id);
    if app.throttle.allow(&key, app.settings.instance_rate) {
        Ok(())
    } else {
        Err(ApiError::Throttled)
    }
}

/// A run inside `batch/` would hold the whole batch: refused as on the platform.
fn refuse_batching(req: &Req) -> ApiResult<()> {
    match req.header("x-batching") {
        Some(_) => Err(ApiError::Detail(
            StatusCode::METHOD_NOT_ALLOWED,
            "Batching not allowed.".into(),
        )),
        None => Ok(()),
    }
}

/// 408, the platform's answer when no result came in time.
fn too_slow() -> ApiError {
    ApiError::Detail(
        StatusCode::REQUEST_TIMEOUT,
        "Script took too much time.".into(),
    )
}

/// Records the `pending` trace, runs the script through the executor, waits for its end
/// (at most the longest script timeout) and answers with it.
async fn run_endpoint(
    app: &AppState,
    instance: &Instance,
    endpoint: &ScriptEndpoint,
    req: &Req,
    admin: Option<Value>,
) -> ApiResult<Response> {
    let input = run_input(req, instance.created_at)?;
    // The endpoint's script is deleted with it, so this only fails in a race.
    let script = app
        .store
        .script(instance.id, endpoint.script_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    // The config merge, the token and META's common keys as for every script run.
    let (request, token) = run_request(
        app,
        instance,
        &script,
        input.args,
        endpoint_meta(endpoint, &input.request_meta, admin),
    )
    .await?;
    let trace = app
        .store
        .create_endpoint_trace(
            instance.id,
            endpoint.id,
            &input.request_meta.to_string(),
            &input.trace_args.to_string(),
            py_str_len(&input.trace_args),
        )
        .await?;
    let job = Job {
        instance_id: instance.id,
        token,
        kind: TRACE_KIND,
        trace_id: trace.id,
        request,
    };
    let runner = app.runner.clone();
    let wait = runner.settings().max_timeout;
    let end = tokio::time::timeout(wait, runner.run_and_wait(app.store.clone(), job))
        .await
        .map_err(|_| too_slow())?;
    answer(&end, trace.id)
}

/// META of an endpoint run (spec-scripts §3), keys in the platform's order: these, then
/// the ones [`run_request`] adds (`instance`, `api_host`, `async`, `token`).
fn endpoint_meta(endpoint: &ScriptEndpoint, request_meta: &Value, admin: Option<Value>) -> Value {
    let mut meta = Map::new();
    meta.insert("request".into(), request_meta.clone());
    meta.insert("metadata".into(), json!({}));
    if let Some(admin) = admin {
        meta.insert("admin".into(), admin);
    }
    meta.insert("executed_by".into(), json!("webhook"));
    meta.insert("executor".into(), json!(endpoint.name));
    Value::Object(meta)
}

/// The HTTP answer of a finished run (spec-scripts §7).
fn answer(end: &RunEnd, trace_id: i64) -> ApiResult<Response> {
    if matches!(end.status.as_str(), "blocked" | "queue_timeout") {
        return Err(too_slow());
    }
    let mut resp = match &end.response {
        Some(custom) => custom_response(custom),
        None => {
            let mut result = end.result.clone();
            if let Value::Object(m) = &mut result {
                m.shift_remove("response");
            }
            let body = json!({
                "status": end.status,
                "executed_at": ts(end.executed_at),
                "result": result,
                "duration": end.duration,
                "id": trace_id,
            });
            raw_json_response(
                StatusCode::OK,
                serde_json::to_vec(&body).unwrap_or_default(),
            )
        }
    };
    // QUIRK kept: set last, so it replaces a script's own Cache-Control.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// The script's response: its status, `Content-Type`, body and headers (which may replace
/// the `Content-Type`). One unusable part (a status outside 200–599, a header name that is
/// not a token, CR/LF in a value) makes the whole answer an empty 500.
fn custom_response(custom: &CustomResponse) -> Response {
    build_custom(custom).unwrap_or_else(|| {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}

fn build_custom(custom: &CustomResponse) -> Option<Response> {
    let status = u16::try_from(custom.status)
        .ok()
        .filter(|s| (200..=599).contains(s))
        .and_then(|s| StatusCode::from_u16(s).ok())?;
    let mut resp = Response::new(Body::from(custom.content.clone()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, header_value(&custom.content_type)?);
    for (name, value) in &custom.headers {
        let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
        if FRAMING_HEADERS.contains(&name) {
            continue;
        }
        resp.headers_mut().insert(name, header_value(value)?);
    }
    Some(resp)
}

/// A header value as Django sends it: Latin-1 text as is, anything else RFC 2047-encoded;
/// `None` for CR/LF (header injection) or other control characters.
fn header_value(text: &str) -> Option<HeaderValue> {
    if text.contains(['\r', '\n']) {
        return None;
    }
    let latin1: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c as u32).ok()).collect();
    match latin1 {
        Some(bytes) => HeaderValue::from_bytes(&bytes).ok(),
        None => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
            HeaderValue::from_str(&format!("=?utf-8?b?{encoded}?=")).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom(status: i64, headers: &[(&str, &str)]) -> CustomResponse {
        CustomResponse {
            status,
            content_type: "text/plain".into(),
            content: "hi".into(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn unusable_custom_responses_are_empty_500s() {
        for bad in [
            custom(99, &[]),
            custom(600, &[]),
            custom(150, &[]),
            custom(200, &[("X-A", "a\r\nSet-Cookie: x=1")]),
            custom(200, &[("Bad Name", "x")]),
            custom(200, &[("Nämé", "x")]),
        ] {
            let resp = custom_response(&bad);
            assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR, "{bad:?}");
        }
    }

    #[test]
    fn header_values_follow_django() {
        assert_eq!(
            header_value("café").map(|v| v.as_bytes().to_vec()),
            Some(b"caf\xe9".to_vec())
        );
        assert_eq!(
            header_value("日本").and_then(|v| v.to_str().ok().map(str::to_owned)),
            Some("=?utf-8?b?5pel5pys?=".to_owned())
        );
        let resp = custom_response(&custom(
            201,
            &[("Content-Length", "1"), ("content-type", "text/html")],
        ));
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert!(resp.headers().get(header::CONTENT_LENGTH).is_none());
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/html");
    }
}
