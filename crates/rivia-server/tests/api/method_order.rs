//! Permission before method (spec-core §1.7): DRF authenticates, checks the view's
//! permissions and throttles before it dispatches on the method, so a caller without the
//! right gets 403 for a method the route lacks, and only an allowed caller gets 405.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    anonymous_read_key_sending_put_to_an_object_is_forbidden,
    api_key_posting_to_its_own_key_is_forbidden,
    allowed_callers_get_405_for_an_unsupported_method,
    unknown_instance_and_missing_credentials_come_before_the_method,
);
both_backends!(
    settings(|s| s.instance_rate = 2),
    throttle_comes_before_the_method,
);

const BASE: &str = "/v1.1/instances/methods";

/// Instance `methods` with class `open` (others read) and one object: (admin key,
/// anonymous-read key, the object's URL).
async fn setup(app: &TestApp) -> (String, String, String) {
    let admin = app.admin_with_instance("methods").await;
    let class = json!({"name": "open", "schema": [{"name": "n", "type": "integer"}],
                       "other_permissions": "read"});
    app.as_key(&admin, "POST", &format!("{BASE}/classes/"), Some(class))
        .await
        .expect(StatusCode::CREATED);
    let objects = format!("{BASE}/classes/open/objects/");
    let body = json!({"n": 1, "other_permissions": "read"});
    let o = app
        .as_key(&admin, "POST", &objects, Some(body))
        .await
        .expect_json(StatusCode::CREATED);
    let anon = app
        .api_key(&admin, "methods", json!({"allow_anonymous_read": true}))
        .await;
    (admin, anon, format!("{objects}{}/", o["id"]))
}

fn forbidden() -> Value {
    json!({"detail": "You do not have permission to perform this action."})
}

fn not_allowed(method: &str) -> Value {
    json!({"detail": format!("Method \"{method}\" not allowed.")})
}

async fn anonymous_read_key_sending_put_to_an_object_is_forbidden(app: TestApp) {
    let (_, anon, object) = setup(&app).await;
    app.as_key(&anon, "GET", &object, None)
        .await
        .expect(StatusCode::OK);
    let r = app
        .as_key(&anon, "PUT", &object, Some(json!({"n": 2})))
        .await;
    assert_eq!(r.expect_json(StatusCode::FORBIDDEN), forbidden());
    let list = format!("{BASE}/classes/open/objects/");
    let r = app.as_key(&anon, "PUT", &list, Some(json!({"n": 2}))).await;
    assert_eq!(r.expect_json(StatusCode::FORBIDDEN), forbidden());
}

async fn api_key_posting_to_its_own_key_is_forbidden(app: TestApp) {
    let (admin, _, _) = setup(&app).await;
    let created = app
        .as_key(
            &admin,
            "POST",
            &format!("{BASE}/api_keys/"),
            Some(json!({})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    let key = created["api_key"].as_str().expect("key");
    let own = format!("{BASE}/api_keys/{}/", created["id"]);
    app.as_key(key, "GET", &own, None)
        .await
        .expect(StatusCode::OK);
    let r = app.as_key(key, "POST", &own, Some(json!({}))).await;
    assert_eq!(r.expect_json(StatusCode::FORBIDDEN), forbidden());
    // The admin may manage keys: only the method is wrong.
    let r = app.as_key(&admin, "POST", &own, Some(json!({}))).await;
    assert_eq!(
        r.expect_json(StatusCode::METHOD_NOT_ALLOWED),
        not_allowed("POST")
    );
}

async fn allowed_callers_get_405_for_an_unsupported_method(app: TestApp) {
    let (admin, _, object) = setup(&app).await;
    let r = app
        .as_key(&admin, "PUT", &object, Some(json!({"n": 2})))
        .await;
    assert_eq!(
        r.expect_json(StatusCode::METHOD_NOT_ALLOWED),
        not_allowed("PUT")
    );
    let full = app
        .api_key(&admin, "methods", json!({"ignore_acl": true}))
        .await;
    let r = app
        .as_key(&full, "PUT", &object, Some(json!({"n": 2})))
        .await;
    assert_eq!(
        r.expect_json(StatusCode::METHOD_NOT_ALLOWED),
        not_allowed("PUT")
    );
    // Another instance route (no guard of its own): any valid credential gets 405.
    let r = app
        .as_key(&full, "PUT", &format!("{BASE}/channels/"), Some(json!({})))
        .await;
    assert_eq!(
        r.expect_json(StatusCode::METHOD_NOT_ALLOWED),
        not_allowed("PUT")
    );
}

async fn unknown_instance_and_missing_credentials_come_before_the_method(app: TestApp) {
    let (admin, _, _) = setup(&app).await;
    let r = app
        .as_key(&admin, "PUT", "/v1.1/instances/nowhere/channels/", None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Instance was not found."})
    );
    let r = app
        .as_key(
            &admin,
            "PUT",
            &format!("{BASE}/classes/none/objects/"),
            None,
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Class was not found."})
    );
    let r = app
        .call("PUT", &format!("{BASE}/channels/"), &[], None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn throttle_comes_before_the_method(app: TestApp) {
    let key = app.admin_with_instance("methods").await;
    let url = format!("{BASE}/channels/");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = app.as_key(&key, "PUT", &url, Some(json!({}))).await;
        statuses.push(r.status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS)
            && statuses.contains(&StatusCode::METHOD_NOT_ALLOWED),
        "{statuses:?}"
    );
}
