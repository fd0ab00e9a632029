//! Every failing field at once (DRF validates each field and answers all field errors in
//! one 400): checks that need the store (a password, a uid, a taken name) are reported
//! together with the other fields' errors, not instead of them.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::json;

both_backends!(
    password_change_reports_a_wrong_current_password_and_a_missing_new_one,
    password_reset_confirm_reports_a_bad_uid_with_the_missing_fields,
    instance_create_reports_a_taken_name_with_the_other_fields,
    class_create_reports_a_taken_name_with_a_bad_schema,
    group_create_and_update_report_a_taken_name_with_the_other_fields,
    object_create_reports_type_reference_and_owner_errors_together,
    object_update_reports_a_type_error_with_a_missing_reference,
);

async fn password_change_reports_a_wrong_current_password_and_a_missing_new_one(app: TestApp) {
    let key = app.admin("pw@example.com").await;
    let body = json!({"current_password": "wrong"});
    let r = app
        .as_key(&key, "POST", "/v1.1/account/password/", Some(body))
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"current_password": ["Invalid password."], "new_password": ["This field is required."]})
    );
    // A right current password with the new one missing: only the missing one.
    let body = json!({"current_password": "secret"});
    let r = app
        .as_key(&key, "POST", "/v1.1/account/password/", Some(body))
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"new_password": ["This field is required."]})
    );
}

async fn password_reset_confirm_reports_a_bad_uid_with_the_missing_fields(app: TestApp) {
    let body = json!({"uid": "nobody"});
    let r = app
        .call(
            "POST",
            "/v1.1/account/password/reset/confirm/",
            &[],
            Some(body),
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"uid": ["Invalid token."], "token": ["This field is required."],
               "new_password": ["This field is required."]})
    );
}

async fn instance_create_reports_a_taken_name_with_the_other_fields(app: TestApp) {
    let key = app.admin_with_instance("taken-name").await;
    let body = json!({"name": "taken-name", "description": "d".repeat(300)});
    let r = app
        .as_key(&key, "POST", "/v1.1/instances/", Some(body))
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"name": ["This field must be unique."],
               "description": ["Ensure this field has no more than 256 characters."]})
    );
}

async fn class_create_reports_a_taken_name_with_a_bad_schema(app: TestApp) {
    let key = app.admin_with_instance("class-errors").await;
    let url = "/v1.1/instances/class-errors/classes/";
    let good = json!({"name": "books", "schema": [{"name": "title", "type": "string"}]});
    app.as_key(&key, "POST", url, Some(good))
        .await
        .expect(StatusCode::CREATED);
    let bad = json!({"name": "books", "description": "d".repeat(300)});
    let r = app.as_key(&key, "POST", url, Some(bad)).await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"name": ["This field must be unique."],
               "description": ["Ensure this field has no more than 256 characters."]})
    );
}

async fn group_create_and_update_report_a_taken_name_with_the_other_fields(app: TestApp) {
    let key = app.admin_with_instance("group-errors").await;
    let url = "/v1.1/instances/group-errors/groups/";
    let crew = app
        .as_key(&key, "POST", url, Some(json!({"name": "crew"})))
        .await
        .expect_json(StatusCode::CREATED);
    let other = app
        .as_key(&key, "POST", url, Some(json!({"name": "other"})))
        .await
        .expect_json(StatusCode::CREATED);
    let want = json!({"name": ["This field must be unique."],
                      "label": ["Ensure this field has no more than 64 characters."]});
    let bad = json!({"name": "crew", "label": "l".repeat(65)});
    let r = app.as_key(&key, "POST", url, Some(bad.clone())).await;
    assert_eq!(r.expect_json(StatusCode::BAD_REQUEST), want);
    let r = app
        .as_key(
            &key,
            "PATCH",
            &format!("{url}{}/", other["id"]),
            Some(bad.clone()),
        )
        .await;
    assert_eq!(r.expect_json(StatusCode::BAD_REQUEST), want);
    // A group keeping its own name is not a clash.
    let r = app
        .as_key(&key, "PATCH", &format!("{url}{}/", crew["id"]), Some(bad))
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"label": ["Ensure this field has no more than 64 characters."]})
    );
}

/// A class `notes` (integer `score`, reference `parent` to itself) with one object.
async fn notes_class(app: &TestApp, instance: &str) -> String {
    let key = app.admin_with_instance(instance).await;
    let schema = json!([{"name": "score", "type": "integer"},
                        {"name": "parent", "type": "reference", "target": "self"}]);
    app.as_key(
        &key,
        "POST",
        &format!("/v1.1/instances/{instance}/classes/"),
        Some(json!({"name": "notes", "schema": schema})),
    )
    .await
    .expect(StatusCode::CREATED);
    app.as_key(
        &key,
        "POST",
        &format!("/v1.1/instances/{instance}/classes/notes/objects/"),
        Some(json!({"score": 1})),
    )
    .await
    .expect(StatusCode::CREATED);
    key
}

async fn object_create_reports_type_reference_and_owner_errors_together(app: TestApp) {
    let key = notes_class(&app, "object-errors").await;
    let url = "/v1.1/instances/object-errors/classes/notes/objects/";
    let body = json!({"score": "many", "parent": 999, "owner": 77});
    let r = app.as_key(&key, "POST", url, Some(body)).await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"score": ["A valid integer is required."],
               "parent": ["Target with specified id does not exist."],
               "owner": ["Invalid pk \"77\" - object does not exist."]})
    );
    // Nothing was created by the refused request.
    let list = app.as_key(&key, "GET", url, None).await;
    assert_eq!(
        list.expect_json(StatusCode::OK)["objects"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

async fn object_update_reports_a_type_error_with_a_missing_reference(app: TestApp) {
    let key = notes_class(&app, "object-update-errors").await;
    let url = "/v1.1/instances/object-update-errors/classes/notes/objects/1/";
    let body = json!({"score": "many", "parent": 999});
    let r = app.as_key(&key, "PATCH", url, Some(body)).await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"score": ["A valid integer is required."],
               "parent": ["Target with specified id does not exist."]})
    );
    let got = app.as_key(&key, "GET", url, None).await;
    assert_eq!(got.expect_json(StatusCode::OK)["score"], json!(1));
}
