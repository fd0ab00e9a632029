//! Instance API keys (spec-core §5): flags, scope, reset and delete.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    api_key_create_answers_an_odd_key_and_its_links,
    api_key_works_in_its_own_instance_only,
    api_key_cannot_create_api_keys,
    api_key_put_resets_absent_flags,
    api_key_patch_validates_booleans,
    reset_api_key_replaces_the_old_one,
    deleted_api_key_is_refused,
);

const KEYS: &str = "/v1.1/instances/keys-one/api_keys/";

/// An admin of instances `keys-one` and `keys-two`, and an `ignore_acl` key of
/// `keys-one` (description "d"): (admin key, API key, the created key's JSON).
async fn setup(app: &TestApp) -> (String, String, Value) {
    let admin = app.admin_with_instance("keys-one").await;
    app.instance(&admin, "keys-two").await;
    let body = app
        .as_key(
            &admin,
            "POST",
            KEYS,
            Some(json!({"description": "d", "ignore_acl": "true"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    let key = body["api_key"].as_str().expect("key").to_string();
    (admin, key, body)
}

fn key_url(body: &Value) -> String {
    format!("{KEYS}{}/", body["id"].as_i64().expect("id"))
}

async fn api_key_create_answers_an_odd_key_and_its_links(app: TestApp) {
    let (_, key, body) = setup(&app).await;
    assert!(
        u32::from_str_radix(&key[39..], 16).expect("hex") % 2 == 1,
        "API keys end in an odd digit"
    );
    assert_eq!(body["ignore_acl"], true);
    assert_eq!(
        body["links"]["reset_key"],
        format!("{KEYS}{}/reset_key/", body["id"])
    );
}

async fn api_key_works_in_its_own_instance_only(app: TestApp) {
    let (_, key, _) = setup(&app).await;
    app.as_key(&key, "GET", KEYS, None)
        .await
        .expect(StatusCode::OK);
    let r = app
        .as_key(&key, "GET", "/v1.1/instances/keys-two/api_keys/", None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::FORBIDDEN),
        json!({"detail": "No such API Key."})
    );
    let r = app.as_key(&key, "GET", "/v1.1/instances/", None).await;
    assert_eq!(r.body["objects"].as_array().expect("list").len(), 1);
    assert_eq!(r.body["objects"][0]["role"], "api_key");
}

async fn api_key_cannot_create_api_keys(app: TestApp) {
    let (_, key, _) = setup(&app).await;
    app.as_key(&key, "POST", KEYS, Some(json!({})))
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn api_key_put_resets_absent_flags(app: TestApp) {
    let (admin, _, body) = setup(&app).await;
    let r = app
        .as_key(
            &admin,
            "PUT",
            &key_url(&body),
            Some(json!({"allow_user_create": true})),
        )
        .await;
    assert_eq!(
        (
            r.body["ignore_acl"].clone(),
            r.body["allow_user_create"].clone(),
            r.body["description"].clone()
        ),
        (json!(false), json!(true), json!("d"))
    );
}

async fn api_key_patch_validates_booleans(app: TestApp) {
    let (admin, _, body) = setup(&app).await;
    let r = app
        .as_key(
            &admin,
            "PATCH",
            &key_url(&body),
            Some(json!({"ignore_acl": "maybe"})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"ignore_acl": ["\"maybe\" is not a valid boolean."]})
    );
}

async fn reset_api_key_replaces_the_old_one(app: TestApp) {
    let (admin, key, body) = setup(&app).await;
    let reset = format!("{}reset_key/", key_url(&body));
    let r = app.as_key(&admin, "POST", &reset, None).await;
    let new_key = r.body["api_key"].as_str().expect("key").to_string();
    assert_ne!(new_key, key);
    assert_eq!(
        app.as_key(&key, "GET", KEYS, None).await.json(),
        json!({"detail": "No such API Key."})
    );
}

async fn deleted_api_key_is_refused(app: TestApp) {
    let (admin, key, body) = setup(&app).await;
    app.as_key(&admin, "DELETE", &key_url(&body), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&key, "GET", "/v1.1/instances/keys-one/", None)
        .await
        .expect(StatusCode::FORBIDDEN);
}
