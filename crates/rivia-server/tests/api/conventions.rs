//! Global conventions (spec-core §1): errors, methods, content types, pagination, fields.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

both_backends!(
    discovery_answers_without_auth,
    errors_have_the_syncano_shapes,
    text_plain_preflight_overrides_method_and_carries_keys,
    pagination_links_walk_forward_and_back,
    fields_and_excluded_fields_select_keys,
    oversized_bodies_are_413,
);

async fn discovery_answers_without_auth(app: TestApp) {
    let r = app.call("GET", "/v1.1/", &[], None).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.body["links"]["instances"], "/v1.1/instances/");
    let r = app.call("GET", "/", &[], None).await;
    assert_eq!(
        r.body,
        json!({"links": {"v1": "/v1/", "v1.1": "/v1.1/", "v2": "/v2/"}})
    );
    // No redirect for a missing trailing slash.
    app.call("GET", "/v1.1/instances", &[], None)
        .await
        .expect(StatusCode::NOT_FOUND);
    let doc = app.call("GET", "/openapi.json", &[], None).await;
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert!(doc.body["paths"]["/v1.1/instances/{instance}/api_keys/"]["post"].is_object());
}

async fn errors_have_the_syncano_shapes(app: TestApp) {
    let key = app.admin_with_instance("shapes").await;
    let r = app.as_key(&key, "PUT", "/v1.1/instances/", None).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"detail": "Method \"PUT\" not allowed."})
        )
    );
    let r = app
        .call(
            "GET",
            "/v1.1/instances/",
            &[("x-api-key", &key), ("accept", "text/html")],
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            StatusCode::NOT_ACCEPTABLE,
            json!({"detail": "Could not satisfy the request Accept header."})
        )
    );
    let req = Request::post("/v1.1/instances/")
        .header("x-api-key", &key)
        .header("content-type", "application/xml")
        .body(Body::from("<x/>"))
        .expect("req");
    let r = app.send(req).await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"detail": "Unsupported media type \"application/xml\" in request."})
        )
    );
    let req = Request::post("/v1.1/instances/")
        .header("x-api-key", &key)
        .header("content-type", "application/json")
        .body(Body::from("{nope"))
        .expect("req");
    let r = app.send(req).await;
    r.expect(StatusCode::BAD_REQUEST);
    assert!(
        r.body["detail"]
            .as_str()
            .expect("detail")
            .starts_with("JSON parse error - ")
    );
    let r = app
        .as_key(&key, "POST", "/v1.1/instances/", Some(json!([1, 2])))
        .await;
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    );
    let r = app
        .as_key(&"0".repeat(40), "GET", "/v1.1/instances/", None)
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (StatusCode::FORBIDDEN, json!({"detail": "No such API Key."}))
    );
    let r = app.call("GET", "/v1.1/instances/", &[], None).await;
    assert_eq!(
        r.body,
        json!({"detail": "You do not have permission to perform this action."})
    );
    // Unknown instance wins over bad credentials (§1.7).
    let r = app
        .as_key("bogus", "GET", "/v1.1/instances/nope/api_keys/", None)
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            StatusCode::NOT_FOUND,
            json!({"detail": "Instance was not found."})
        )
    );
    let r = app
        .as_key(
            &key,
            "GET",
            "/v1.1/instances/shapes/api_keys/99999999999/",
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
    );
    let r = app.call("OPTIONS", "/v1.1/instances/", &[], None).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.body["renders"], json!(["application/json"]));
}

async fn text_plain_preflight_overrides_method_and_carries_keys(app: TestApp) {
    let key = app.admin_with_instance("preflight").await;
    let body = json!({"_method": "GET", "_api_key": key}).to_string();
    let req = Request::post("/v1.1/instances/preflight/")
        .header("content-type", "text/plain")
        .body(Body::from(body))
        .expect("req");
    let r = app.send(req).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.body["name"], "preflight");
    // The Authorization header takes any scheme word, and ?api_key= works too.
    let r = app
        .call(
            "GET",
            "/v1.1/instances/preflight/",
            &[("authorization", &format!("Bearer {key}"))],
            None,
        )
        .await;
    r.expect(StatusCode::OK);
    let r = app
        .call(
            "GET",
            &format!("/v1.1/instances/preflight/?api_key={key}"),
            &[],
            None,
        )
        .await;
    r.expect(StatusCode::OK);
}

async fn pagination_links_walk_forward_and_back(app: TestApp) {
    let key = app.admin_with_instance("paging").await;
    for i in 0..5 {
        app.api_key(&key, "paging", json!({"description": format!("k{i}")}))
            .await;
    }
    let base = "/v1.1/instances/paging/api_keys/";
    let first = app
        .as_key(&key, "GET", &format!("{base}?page_size=2"), None)
        .await;
    assert_eq!(first.body["prev"], json!(null));
    assert_eq!(
        first.body["next"],
        json!(format!("{base}?page_size=2&direction=1&last_pk=2"))
    );
    let second = app
        .as_key(
            &key,
            "GET",
            first.body["next"].as_str().expect("next"),
            None,
        )
        .await;
    let ids: Vec<i64> = second.body["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![3, 4]);
    assert_eq!(
        second.body["prev"],
        json!(format!("{base}?page_size=2&direction=0&last_pk=3"))
    );
    let back = app
        .as_key(
            &key,
            "GET",
            second.body["prev"].as_str().expect("prev"),
            None,
        )
        .await;
    let ids: Vec<i64> = back.body["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![1, 2]);
    // Duplicated parameters: the last one wins; huge page sizes are capped.
    let r = app
        .as_key(
            &key,
            "GET",
            &format!("{base}?page_size=1&page_size=3"),
            None,
        )
        .await;
    assert_eq!(r.body["objects"].as_array().expect("objects").len(), 3);
    let r = app
        .as_key(&key, "GET", &format!("{base}?page_size=1000"), None)
        .await;
    assert_eq!(r.body["objects"].as_array().expect("objects").len(), 5);
    let r = app
        .as_key(
            &key,
            "GET",
            &format!("{base}?ordering=desc&page_size=2"),
            None,
        )
        .await;
    assert_eq!(r.body["objects"][0]["id"], 5);
    assert_eq!(
        r.body["next"],
        json!(format!(
            "{base}?page_size=2&ordering=desc&direction=1&last_pk=4"
        ))
    );
    for bad in [
        "page_size=-1",
        "page_size=x",
        "direction=3",
        "last_pk=abc",
        "last_pk=2147483648",
    ] {
        let r = app
            .as_key(&key, "GET", &format!("{base}?{bad}"), None)
            .await;
        assert_eq!(
            (r.status, r.body.clone()),
            (
                StatusCode::BAD_REQUEST,
                json!({"detail": "Incorrect page parameter provided."})
            ),
            "{bad}"
        );
    }
}

async fn fields_and_excluded_fields_select_keys(app: TestApp) {
    let key = app.admin_with_instance("fieldsel").await;
    let r = app
        .as_key(
            &key,
            "GET",
            "/v1.1/account/?fields=id,email,first_name&excluded_fields=email",
            None,
        )
        .await;
    let keys: Vec<&String> = r.body.as_object().expect("object").keys().collect();
    assert_eq!(keys, vec!["id", "first_name"]);
    let r = app
        .as_key(&key, "GET", "/v1.1/instances/?fields=name", None)
        .await;
    assert_eq!(r.body["objects"][0], json!({"name": "fieldsel"}));
}

async fn oversized_bodies_are_413(app: TestApp) {
    let key = app.admin_with_instance("bigbody").await;
    let huge = "x".repeat(2 * 1024 * 1024);
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/",
            Some(json!({"name": huge})),
        )
        .await;
    assert_eq!(
        (r.status, r.body.clone()),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"detail": "Request size limit exceeded (1048576)."})
        )
    );
}

both_backends!(
    settings(|s| s.instance_rate = 3),
    throttling_answers_429_with_retry_after
);

async fn throttling_answers_429_with_retry_after(app: TestApp) {
    let key = app.admin_with_instance("throttled").await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = app
            .as_key(&key, "GET", "/v1.1/instances/throttled/api_keys/", None)
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(
                r.body,
                json!({"detail": "Request was throttled. Expected available in 1 second."})
            );
            assert_eq!(
                r.headers.get("retry-after").and_then(|v| v.to_str().ok()),
                Some("1")
            );
        }
        statuses.push(r.status);
    }
    // Eight requests cross at most one second boundary, so at least two must be refused.
    assert!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count()
            >= 2,
        "{statuses:?}"
    );
}
