//! Instances (spec-core §4): create, list, update, rename, delete, name rules and limits.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    instance_create_answers_the_normalised_instance,
    instance_list_filters_by_name_prefix,
    instance_patch_keeps_the_name_and_metadata,
    instance_put_resets_metadata,
    instance_rename_requires_a_new_name,
    instance_rename_moves_its_url,
    other_admins_see_nothing_of_an_instance,
    deleted_instance_is_gone_and_its_name_reusable,
    instance_names_follow_the_rules,
);
both_backends!(
    settings(|s| s.instance_limit = 2),
    instance_name_must_be_unique_and_the_count_is_limited,
);

/// Registers `owner@example.com` and creates `My-Inst` (saved as `my-inst`) with a
/// description and metadata; returns the account key and the created instance.
async fn my_inst(app: &TestApp) -> (String, Value) {
    let key = app.admin("owner@example.com").await;
    let body = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/",
            Some(json!({"name": "My-Inst", "description": "d", "metadata": {"k": "v"}})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    (key, body)
}

/// `my-inst` renamed to `renamed`; returns the account key.
async fn renamed(app: &TestApp) -> String {
    let (key, _) = my_inst(app).await;
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/my-inst/rename/",
            Some(json!({"new_name": "renamed"})),
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::OK)["links"]["self"],
        json!("/v1.1/instances/renamed/")
    );
    key
}

async fn instance_create_answers_the_normalised_instance(app: TestApp) {
    let (_, body) = my_inst(&app).await;
    assert_eq!(body["name"], "my-inst");
    assert_eq!(body["role"], "full");
    assert_eq!(body["owner"]["email"], "owner@example.com");
    assert_eq!(body["links"]["users"], "/v1.1/instances/my-inst/users/");
    assert!(body["created_at"].as_str().expect("ts").ends_with('Z'));
}

async fn instance_list_filters_by_name_prefix(app: TestApp) {
    let (key, _) = my_inst(&app).await;
    let list = app
        .as_key(&key, "GET", "/v1.1/instances/?name__startswith=my", None)
        .await;
    assert_eq!(list.body["objects"].as_array().expect("list").len(), 1);
    let none = app
        .as_key(&key, "GET", "/v1.1/instances/?name__startswith=zz", None)
        .await;
    assert_eq!(none.body["objects"], json!([]));
}

async fn instance_patch_keeps_the_name_and_metadata(app: TestApp) {
    let (key, _) = my_inst(&app).await;
    let r = app
        .as_key(
            &key,
            "PATCH",
            "/v1.1/instances/my-inst/",
            Some(json!({"description": "new", "name": "ignored"})),
        )
        .await;
    assert_eq!(
        (
            r.body["description"].clone(),
            r.body["name"].clone(),
            r.body["metadata"].clone()
        ),
        (json!("new"), json!("my-inst"), json!({"k": "v"}))
    );
}

async fn instance_put_resets_metadata(app: TestApp) {
    let (key, _) = my_inst(&app).await;
    let r = app
        .as_key(
            &key,
            "PUT",
            "/v1.1/instances/my-inst/",
            Some(json!({"description": "put"})),
        )
        .await;
    assert_eq!(r.body["metadata"], json!({}), "PUT resets metadata");
}

async fn instance_rename_requires_a_new_name(app: TestApp) {
    let (key, _) = my_inst(&app).await;
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/my-inst/rename/",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.body, json!({"new_name": ["This field may not be null."]}));
}

async fn instance_rename_moves_its_url(app: TestApp) {
    let key = renamed(&app).await;
    app.as_key(&key, "GET", "/v1.1/instances/my-inst/", None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn other_admins_see_nothing_of_an_instance(app: TestApp) {
    renamed(&app).await;
    let other = app.admin("other@example.com").await;
    let r = app
        .as_key(&other, "GET", "/v1.1/instances/renamed/", None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    app.as_key(&other, "GET", "/v1.1/instances/renamed/admins/", None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn deleted_instance_is_gone_and_its_name_reusable(app: TestApp) {
    let key = renamed(&app).await;
    app.as_key(&key, "DELETE", "/v1.1/instances/renamed/", None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let r = app
        .as_key(&key, "GET", "/v1.1/instances/renamed/api_keys/", None)
        .await;
    assert_eq!(r.body, json!({"detail": "Instance was not found."}));
    app.instance(&key, "renamed").await;
}

async fn instance_names_follow_the_rules(app: TestApp) {
    let key = app.admin("names@example.com").await;
    let cases = [
        (
            "abc",
            "Ensure this value has at least 5 characters (it has 3).",
        ),
        ("ab--cd", "Double hyphens are reserved."),
        (
            "admin",
            "Unable to use that value. Please choose a different one.",
        ),
        ("1abcde", "Value has to start with a letter."),
        (
            "abc_de",
            "Enter a valid value consisting of letters, numbers or hyphens.",
        ),
    ];
    for (name, msg) in cases {
        let body = app
            .as_key(
                &key,
                "POST",
                "/v1.1/instances/",
                Some(json!({"name": name})),
            )
            .await
            .expect_json(StatusCode::BAD_REQUEST);
        assert!(
            body["name"]
                .as_array()
                .expect("errors")
                .contains(&json!(msg)),
            "{name}: {body:?}"
        );
    }
}

async fn instance_name_must_be_unique_and_the_count_is_limited(app: TestApp) {
    let key = app.admin("names@example.com").await;
    app.instance(&key, "first").await;
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/",
            Some(json!({"name": "first"})),
        )
        .await;
    assert_eq!(r.body, json!({"name": ["This field must be unique."]}));
    app.instance(&key, "second").await;
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/",
            Some(json!({"name": "third"})),
        )
        .await;
    assert_eq!(r.body, json!({"detail": "Instance count exceeded (2)."}));
}
