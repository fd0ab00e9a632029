//! Global conventions (spec-core §1): error shapes, methods and content types,
//! credentials, pagination, field selection, size limits and throttling.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

both_backends!(
    missing_trailing_slash_is_404_not_a_redirect,
    openapi_document_is_served,
    unsupported_method_is_405,
    unacceptable_accept_header_is_406,
    unsupported_content_type_is_415,
    malformed_json_is_a_parse_error,
    body_that_is_not_an_object_is_refused,
    unknown_api_key_and_no_key_are_forbidden,
    unknown_instance_wins_over_bad_credentials,
    unknown_or_huge_id_is_404,
    options_describes_the_endpoint,
    text_plain_preflight_overrides_method_and_carries_keys,
    any_authorization_scheme_and_api_key_parameter_carry_keys,
    pagination_links_walk_forward_and_back,
    last_duplicated_parameter_wins_and_page_size_is_capped,
    descending_ordering_pages_with_cursors,
    bad_page_parameters_are_refused,
    fields_and_excluded_fields_select_keys,
    field_selection_applies_to_nested_serializers,
    oversized_bodies_are_413,
);
both_backends!(
    settings(|s| s.instance_rate = 3),
    throttling_answers_429_with_retry_after
);
both_backends!(
    settings(|s| s.admin_rate = 3),
    a_configured_admin_rate_answers_429_on_account_urls
);

async fn missing_trailing_slash_is_404_not_a_redirect(app: TestApp) {
    app.call("GET", "/v1.1/instances", &[], None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn openapi_document_is_served(app: TestApp) {
    let doc = app.call("GET", "/openapi.json", &[], None).await;
    assert_eq!(doc.body["openapi"], "3.1.0");
    assert!(doc.body["paths"]["/v1.1/instances/{instance}/api_keys/"]["post"].is_object());
}

/// A request with a content type and a raw body, as the admin of instance `shapes`.
async fn raw_post(app: &TestApp, key: &str, content_type: &str, body: &str) -> Value {
    let req = Request::post("/v1.1/instances/")
        .header("x-api-key", key)
        .header("content-type", content_type)
        .body(Body::from(body.to_string()))
        .expect("req");
    let r = app.send(req).await;
    let status = r.status;
    let body = r.json();
    json!({"status": status.as_u16(), "body": body})
}

async fn unsupported_method_is_405(app: TestApp) {
    let key = app.admin_with_instance("shapes").await;
    let r = app.as_key(&key, "PUT", "/v1.1/instances/", None).await;
    assert_eq!(
        r.expect_json(StatusCode::METHOD_NOT_ALLOWED),
        json!({"detail": "Method \"PUT\" not allowed."})
    );
}

async fn unacceptable_accept_header_is_406(app: TestApp) {
    let key = app.admin_with_instance("shapes").await;
    let headers = [("x-api-key", key.as_str()), ("accept", "text/html")];
    let r = app.call("GET", "/v1.1/instances/", &headers, None).await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_ACCEPTABLE),
        json!({"detail": "Could not satisfy the request Accept header."})
    );
}

async fn unsupported_content_type_is_415(app: TestApp) {
    let key = app.admin_with_instance("shapes").await;
    assert_eq!(
        raw_post(&app, &key, "application/xml", "<x/>").await,
        json!({"status": 415, "body": {"detail": "Unsupported media type \"application/xml\" in request."}})
    );
}

async fn malformed_json_is_a_parse_error(app: TestApp) {
    let key = app.admin_with_instance("shapes").await;
    let r = raw_post(&app, &key, "application/json", "{nope").await;
    assert_eq!(r["status"], 400);
    assert!(
        r["body"]["detail"]
            .as_str()
            .expect("detail")
            .starts_with("JSON parse error - ")
    );
}

async fn body_that_is_not_an_object_is_refused(app: TestApp) {
    let key = app.admin_with_instance("shapes").await;
    let r = app
        .as_key(&key, "POST", "/v1.1/instances/", Some(json!([1, 2])))
        .await;
    assert_eq!(
        r.body,
        json!({"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]})
    );
}

async fn unknown_api_key_and_no_key_are_forbidden(app: TestApp) {
    let r = app
        .as_key(&"0".repeat(40), "GET", "/v1.1/instances/", None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::FORBIDDEN),
        json!({"detail": "No such API Key."})
    );
    let r = app.call("GET", "/v1.1/instances/", &[], None).await;
    assert_eq!(
        r.body,
        json!({"detail": "You do not have permission to perform this action."})
    );
}

/// §1.7: the unknown instance is reported, not the bad key.
async fn unknown_instance_wins_over_bad_credentials(app: TestApp) {
    let r = app
        .as_key("bogus", "GET", "/v1.1/instances/nope/api_keys/", None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Instance was not found."})
    );
}

async fn unknown_or_huge_id_is_404(app: TestApp) {
    let key = app.admin_with_instance("shapes").await;
    let url = "/v1.1/instances/shapes/api_keys/99999999999/";
    let r = app.as_key(&key, "GET", url, None).await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
}

async fn options_describes_the_endpoint(app: TestApp) {
    let r = app.call("OPTIONS", "/v1.1/instances/", &[], None).await;
    assert_eq!(
        r.expect_json(StatusCode::OK)["renders"],
        json!(["application/json"])
    );
}

async fn text_plain_preflight_overrides_method_and_carries_keys(app: TestApp) {
    let key = app.admin_with_instance("preflight").await;
    let body = json!({"_method": "GET", "_api_key": key}).to_string();
    let req = Request::post("/v1.1/instances/preflight/")
        .header("content-type", "text/plain")
        .body(Body::from(body))
        .expect("req");
    let r = app.send(req).await;
    assert_eq!(r.expect_json(StatusCode::OK)["name"], "preflight");
}

/// The Authorization header takes any scheme word, and ?api_key= works too.
async fn any_authorization_scheme_and_api_key_parameter_carry_keys(app: TestApp) {
    let key = app.admin_with_instance("preflight").await;
    let bearer = format!("Bearer {key}");
    app.call(
        "GET",
        "/v1.1/instances/preflight/",
        &[("authorization", &bearer)],
        None,
    )
    .await
    .expect(StatusCode::OK);
    let url = format!("/v1.1/instances/preflight/?api_key={key}");
    app.call("GET", &url, &[], None)
        .await
        .expect(StatusCode::OK);
}

const KEYS: &str = "/v1.1/instances/paging/api_keys/";

/// Instance `paging` with API keys 1..=5; returns the admin key.
async fn five_keys(app: &TestApp) -> String {
    let key = app.admin_with_instance("paging").await;
    for i in 0..5 {
        app.api_key(&key, "paging", json!({"description": format!("k{i}")}))
            .await;
    }
    key
}

fn page_ids(body: &Value) -> Vec<i64> {
    body["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect()
}

async fn pagination_links_walk_forward_and_back(app: TestApp) {
    let key = five_keys(&app).await;
    let first = app
        .as_key(&key, "GET", &format!("{KEYS}?page_size=2"), None)
        .await;
    assert_eq!(first.body["prev"], json!(null));
    assert_eq!(
        first.body["next"],
        json!(format!("{KEYS}?page_size=2&direction=1&last_pk=2"))
    );
    let next = first.body["next"].as_str().expect("next");
    let second = app.as_key(&key, "GET", next, None).await;
    assert_eq!(page_ids(&second.body), vec![3, 4]);
    assert_eq!(
        second.body["prev"],
        json!(format!("{KEYS}?page_size=2&direction=0&last_pk=3"))
    );
    let prev = second.body["prev"].as_str().expect("prev");
    let back = app.as_key(&key, "GET", prev, None).await;
    assert_eq!(page_ids(&back.body), vec![1, 2]);
}

async fn last_duplicated_parameter_wins_and_page_size_is_capped(app: TestApp) {
    let key = five_keys(&app).await;
    let url = format!("{KEYS}?page_size=1&page_size=3");
    let r = app.as_key(&key, "GET", &url, None).await;
    assert_eq!(r.body["objects"].as_array().expect("objects").len(), 3);
    let url = format!("{KEYS}?page_size=1000");
    let r = app.as_key(&key, "GET", &url, None).await;
    assert_eq!(r.body["objects"].as_array().expect("objects").len(), 5);
}

async fn descending_ordering_pages_with_cursors(app: TestApp) {
    let key = five_keys(&app).await;
    let url = format!("{KEYS}?ordering=desc&page_size=2");
    let r = app.as_key(&key, "GET", &url, None).await;
    assert_eq!(r.body["objects"][0]["id"], 5);
    assert_eq!(
        r.body["next"],
        json!(format!(
            "{KEYS}?page_size=2&ordering=desc&direction=1&last_pk=4"
        ))
    );
}

async fn bad_page_parameters_are_refused(app: TestApp) {
    let key = five_keys(&app).await;
    for bad in [
        "page_size=-1",
        "page_size=x",
        "direction=3",
        "last_pk=abc",
        "last_pk=2147483648",
    ] {
        let r = app
            .as_key(&key, "GET", &format!("{KEYS}?{bad}"), None)
            .await;
        assert_eq!(
            r.expect_json(StatusCode::BAD_REQUEST),
            json!({"detail": "Incorrect page parameter provided."}),
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

/// `fields` / `excluded_fields` reach nested serializers too (spec-core §1.5, DRF's
/// `DynamicFieldsMixin`): a user's `profile` and `groups`, a membership's `user`; plain
/// JSON values such as `links` are only kept or dropped whole.
async fn field_selection_applies_to_nested_serializers(app: TestApp) {
    let key = app.admin_with_instance("nested").await;
    let (uid, _) = crate::helpers::store_user(&app, "nested", "ciri").await;
    let gid = crate::helpers::store_group(&app, "nested", &[uid]).await;
    let base = "/v1.1/instances/nested";
    let get = async |url: String| {
        app.as_key(&key, "GET", &url, None)
            .await
            .expect_json(StatusCode::OK)
    };
    let user = get(format!("{base}/users/{uid}/?fields=id,profile")).await;
    let profile_id = user["profile"]["id"].clone();
    assert!(profile_id.is_i64(), "{user}");
    assert_eq!(user, json!({"id": uid, "profile": {"id": profile_id}}));
    let users = get(format!(
        "{base}/users/?excluded_fields=links,owner_permissions"
    ))
    .await;
    let one = &users["objects"][0];
    assert!(
        one.get("links").is_none() && one["username"] == "ciri",
        "{one}"
    );
    let profile = one["profile"].as_object().expect("profile");
    assert!(
        !profile.contains_key("links") && !profile.contains_key("owner_permissions"),
        "{profile:?}"
    );
    assert!(profile.contains_key("revision"));
    let group = one["groups"][0].as_object().expect("a group");
    assert!(
        !group.contains_key("links") && group["id"] == gid,
        "{group:?}"
    );
    let members = get(format!(
        "{base}/groups/{gid}/users/?fields=user,id,username"
    ))
    .await;
    assert_eq!(
        members["objects"],
        json!([{"user": {"id": uid, "username": "ciri"}}])
    );
    let memberships = get(format!("{base}/users/{uid}/groups/?fields=group,label")).await;
    assert_eq!(memberships["objects"], json!([{"group": {"label": "g"}}]));
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
        r.expect_json(StatusCode::PAYLOAD_TOO_LARGE),
        json!({"detail": "Request size limit exceeded (1048576)."})
    );
}

async fn throttling_answers_429_with_retry_after(app: TestApp) {
    let key = app.admin_with_instance("throttled").await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = app
            .as_key(&key, "GET", "/v1.1/instances/throttled/api_keys/", None)
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.header("retry-after"), Some("1"));
            assert_eq!(
                r.body,
                json!({"detail": "Request was throttled. Expected available in 1 second."})
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

/// The per-admin rate is off by default (0) but still works when set, on account URLs.
async fn a_configured_admin_rate_answers_429_on_account_urls(app: TestApp) {
    let key = app.admin("busy-admin@example.com").await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = app.as_key(&key, "GET", "/v1.1/account/", None).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.header("retry-after"), Some("1"));
        }
        statuses.push(r.status);
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(refused >= 2, "{statuses:?}");
}
