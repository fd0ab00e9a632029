//! Batch (spec-rest §6).

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::json;

both_backends!(
    batch_answers_each_subrequest_in_order,
    batch_subrequests_carry_the_callers_identity,
    batch_without_a_key_is_forbidden,
    batch_validation
);

const URL: &str = "/v1.1/instances/batch-one/batch/";

async fn batch_answers_each_subrequest_in_order(app: TestApp) {
    let admin = app.admin_with_instance("batch-one").await;
    let requests = json!({"requests": [
        {"method": "POST", "path": "/v1.1/instances/batch-one/groups/", "body": {"label": "a"}},
        {"method": "POST", "path": "/v1.1/instances/batch-one/groups/", "body": {"label": "b"}},
        {"method": "GET", "path": "/v1.1/instances/batch-one/groups/?page_size=1"},
        {"method": "DELETE", "path": "/v1.1/instances/batch-one/groups/1/"},
        {"method": "GET", "path": "/v1.1/instances/batch-one/groups/1/"},
        {"method": "GET", "path": "/v1.1/instances/batch-one/nothing-here/"},
        {"method": "GET", "path": "/v1.1/instances/batch-one/channels/default/poll/"},
        {"method": "PUT", "path": "/v1.1/instances/batch-one/groups/2/", "body": {"label": 5}},
    ]});
    let r = app.as_key(&admin, "POST", URL, Some(requests)).await;
    r.expect(StatusCode::OK);
    let answers = r.body.as_array().expect("list");
    assert_eq!(answers[0]["code"], 201);
    assert_eq!(answers[0]["content"]["label"], "a");
    assert_eq!(answers[1]["content"]["id"], 2);
    assert_eq!(
        answers[2]["content"]["next"],
        "/v1.1/instances/batch-one/groups/?page_size=1&direction=1&last_pk=1"
    );
    assert_eq!(answers[3], json!({"code": 204}));
    assert_eq!(
        answers[4],
        json!({"code": 404, "content": {"detail": "Not found."}})
    );
    assert_eq!(
        answers[5],
        json!({"code": 404, "content": "Invalid endpoint specified."})
    );
    assert_eq!(
        answers[6],
        json!({"code": 405, "content": {"detail": "Batching not allowed."}})
    );
    assert_eq!(answers[7]["content"]["label"], "5");
}

/// Sub-requests carry the caller's identity and permissions: a plain key may read groups
/// but not create them.
async fn batch_subrequests_carry_the_callers_identity(app: TestApp) {
    let admin = app.admin_with_instance("batch-one").await;
    for label in ["a", "b"] {
        app.as_key(
            &admin,
            "POST",
            "/v1.1/instances/batch-one/groups/",
            Some(json!({"label": label})),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let key = app.api_key(&admin, "batch-one", json!({})).await;
    let r = app
        .as_key(&key, "POST", URL, Some(json!({"requests": [
            {"method": "GET", "path": "/v1.1/instances/batch-one/groups/2/"},
            {"method": "POST", "path": "/v1.1/instances/batch-one/groups/", "body": {"label": "c"}},
        ]})))
        .await;
    assert_eq!(r.body[0]["code"], 200);
    assert_eq!(
        r.body[1],
        json!({"code": 403, "content": {"detail": "You do not have permission to perform this action."}})
    );
}

async fn batch_without_a_key_is_forbidden(app: TestApp) {
    app.admin_with_instance("batch-one").await;
    app.call("POST", URL, &[], Some(json!({"requests": []})))
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn batch_validation(app: TestApp) {
    let admin = app.admin_with_instance("batch-two").await;
    app.instance(&admin, "batch-other").await;
    let url = "/v1.1/instances/batch-two/batch/";
    let r = app.as_key(&admin, "POST", url, Some(json!({}))).await;
    assert_eq!(r.body, json!({"requests": ["This field is required."]}));
    let r = app
        .as_key(
            &admin,
            "POST",
            url,
            Some(json!({"requests": [
                {"method": "GET", "path": "/v1.1/instances/batch-two/groups/"},
                {"method": "GET", "path": "/v1.1/instances/batch-other/groups/"},
                {"method": "GET", "path": "/v1.1/instances/batch-two/gr oups/"},
                {"method": "FETCH", "path": "/v1.1/instances/batch-two/groups/", "body": [1]},
            ]})),
        )
        .await;
    r.expect(StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({"requests": [
            {},
            {"path": ["Path needs to point to an endpoint within current instance and API version."]},
            {"path": ["Invalid path specified."]},
            {"method": ["\"FETCH\" is not a valid choice."], "body": ["Body passed in invalid format."]},
        ]})
    );
    let many: Vec<_> = (0..51)
        .map(|_| json!({"method": "GET", "path": "/v1.1/instances/batch-two/groups/"}))
        .collect();
    let r = app
        .as_key(&admin, "POST", url, Some(json!({"requests": many})))
        .await;
    assert_eq!(
        r.body,
        json!({"detail": "Max requests per batch exceeded (50)."})
    );
    let r = app
        .as_key(
            &admin,
            "POST",
            "/v1.1/instances/nope-nope/batch/",
            Some(json!({"requests": []})),
        )
        .await;
    assert_eq!(r.body, json!({"detail": "Instance was not found."}));
}
