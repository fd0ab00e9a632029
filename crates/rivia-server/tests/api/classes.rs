//! Classes (spec-core §8): create, schema rules and revisions, update, list, delete,
//! visibility to keys and users, and the class limit.

use crate::both_backends;
use crate::helpers::{Response, TestApp, store_group, store_user};
use crate::objects_common::{INST, class_url, classes, make_class, objects, setup};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    class_create_normalises_its_name_and_schema,
    class_name_must_be_unique,
    reserved_class_name_is_refused,
    reserved_field_name_is_refused,
    class_patch_without_schema_keeps_the_revision,
    schema_change_bumps_the_revision_and_a_stale_expected_revision_fails,
    class_put_resets_schema_metadata_and_permissions,
    class_list_filters_by_name_prefix,
    user_profile_class_cannot_be_deleted,
    deleted_class_is_gone_with_its_objects,
    api_key_sees_only_classes_others_may_read,
    group_members_see_classes_their_group_may_read,
    api_key_cannot_create_classes,
    class_group_must_exist,
);
both_backends!(settings(|s| s.class_limit = 3), class_count_is_limited);

/// Creates class `Books` (saved as `books`) with a description, metadata and two fields.
async fn books(app: &TestApp, key: &str) -> Value {
    make_class(
        app,
        key,
        json!({"name": "Books", "description": "d", "metadata": {"m": 1},
               "schema": [{"name": "title", "type": "STRING", "filter_index": true, "order_index": false},
                          {"name": "pages", "type": "integer", "unique": true}]}),
    )
    .await
}

async fn patch_books(app: &TestApp, key: &str, body: Value) -> Response {
    app.as_key(key, "PATCH", &class_url("books"), Some(body))
        .await
}

/// `books` with its description patched to "new" and its schema changed once (revision 2).
async fn books_at_revision_2(app: &TestApp, key: &str) {
    books(app, key).await;
    patch_books(app, key, json!({"description": "new"}))
        .await
        .expect(StatusCode::OK);
    let body = json!({"schema": [{"name": "title", "type": "string"}], "expected_revision": 1});
    let r = patch_books(app, key, body).await;
    assert_eq!(r.body["revision"], 2, "{:?}", r.body);
}

async fn class_create_normalises_its_name_and_schema(app: TestApp) {
    let key = setup(&app).await;
    let r = books(&app, &key).await;
    assert_eq!(r["name"], "books");
    assert_eq!(
        r["schema"],
        json!([{"name": "title", "type": "string", "filter_index": true},
               {"name": "pages", "type": "integer", "unique": true, "filter_index": true}])
    );
    assert_eq!(
        (
            r["status"].clone(),
            r["revision"].clone(),
            r["objects_count"].clone()
        ),
        (json!("ready"), json!(1), json!(0))
    );
    assert_eq!(r["group_permissions"], "create_objects");
    assert_eq!(
        r["links"],
        json!({"self": class_url("books"), "objects": objects("books")})
    );
}

async fn class_name_must_be_unique(app: TestApp) {
    let key = setup(&app).await;
    books(&app, &key).await;
    let dup = app
        .as_key(&key, "POST", &classes(), Some(json!({"name": "books"})))
        .await;
    assert_eq!(dup.body, json!({"name": ["This field must be unique."]}));
}

async fn reserved_class_name_is_refused(app: TestApp) {
    let key = setup(&app).await;
    let reserved = app
        .as_key(&key, "POST", &classes(), Some(json!({"name": "users"})))
        .await;
    assert_eq!(
        reserved.body,
        json!({"name": ["Unable to use that value. Please choose a different one."]})
    );
}

async fn reserved_field_name_is_refused(app: TestApp) {
    let key = setup(&app).await;
    let bad = app
        .as_key(
            &key,
            "POST",
            &classes(),
            Some(json!({"name": "x1", "schema": [{"name": "owner", "type": "string"}]})),
        )
        .await;
    assert_eq!(
        bad.expect_json(StatusCode::BAD_REQUEST),
        json!({"schema": ["Error processing field definition \"owner\" #0: Field name \"owner\" is reserved."]})
    );
}

async fn class_patch_without_schema_keeps_the_revision(app: TestApp) {
    let key = setup(&app).await;
    books(&app, &key).await;
    let r = patch_books(&app, &key, json!({"description": "new"})).await;
    assert_eq!(
        (r.body["revision"].clone(), r.body["description"].clone()),
        (json!(1), json!("new"))
    );
}

async fn schema_change_bumps_the_revision_and_a_stale_expected_revision_fails(app: TestApp) {
    let key = setup(&app).await;
    books_at_revision_2(&app, &key).await;
    let stale = patch_books(
        &app,
        &key,
        json!({"description": "x", "expected_revision": 1}),
    )
    .await;
    assert_eq!(
        stale.body,
        json!({"expected_revision": "Revision mismatch. Expected 1, got 2."})
    );
}

/// PUT without schema/metadata/permissions resets them (spec-core §1.10).
async fn class_put_resets_schema_metadata_and_permissions(app: TestApp) {
    let key = setup(&app).await;
    books_at_revision_2(&app, &key).await;
    let r = app
        .as_key(
            &key,
            "PUT",
            &class_url("books"),
            Some(json!({"other_permissions": "read", "name": "ignored"})),
        )
        .await;
    let body = r.expect_json(StatusCode::OK);
    assert_eq!(
        (
            body["schema"].clone(),
            body["metadata"].clone(),
            body["revision"].clone()
        ),
        (json!([]), json!({}), json!(3))
    );
    assert_eq!(body["name"], "books");
    assert_eq!(body["description"], "new");
    assert_eq!(body["other_permissions"], "read");
}

async fn class_list_filters_by_name_prefix(app: TestApp) {
    let key = setup(&app).await;
    books(&app, &key).await;
    let list = app
        .as_key(
            &key,
            "GET",
            &format!("{}?name__startswith=BO", classes()),
            None,
        )
        .await;
    assert_eq!(list.body["objects"].as_array().map(Vec::len), Some(1));
}

async fn user_profile_class_cannot_be_deleted(app: TestApp) {
    let key = setup(&app).await;
    app.as_key(&key, "DELETE", &class_url("user_profile"), None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn deleted_class_is_gone_with_its_objects(app: TestApp) {
    let key = setup(&app).await;
    books(&app, &key).await;
    app.as_key(&key, "DELETE", &class_url("books"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let gone = app.as_key(&key, "GET", &class_url("books"), None).await;
    assert_eq!(
        gone.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    let missing = app.as_key(&key, "GET", &objects("books"), None).await;
    assert_eq!(missing.body, json!({"detail": "Class was not found."}));
}

/// Classes `open` (readable by anybody) and `hidden` (readable by its group only).
async fn open_and_hidden(app: &TestApp, key: &str) {
    make_class(app, key, json!({"name": "open"})).await;
    make_class(
        app,
        key,
        json!({"name": "hidden", "other_permissions": "none", "group_permissions": "read"}),
    )
    .await;
}

fn names(r: &Response) -> Vec<String> {
    r.body["objects"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["name"].as_str().expect("name").to_string())
        .collect()
}

async fn class_count_is_limited(app: TestApp) {
    let key = setup(&app).await;
    open_and_hidden(&app, &key).await;
    let over = app
        .as_key(&key, "POST", &classes(), Some(json!({"name": "third"})))
        .await;
    assert_eq!(over.body, json!({"detail": "Class count exceeded (3)."}));
}

async fn api_key_sees_only_classes_others_may_read(app: TestApp) {
    let key = setup(&app).await;
    open_and_hidden(&app, &key).await;
    let api_key = app.api_key(&key, INST, json!({})).await;
    let r = app.as_key(&api_key, "GET", &classes(), None).await;
    assert_eq!(names(&r), vec!["user_profile", "open"]);
    app.as_key(&api_key, "GET", &class_url("hidden"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn group_members_see_classes_their_group_may_read(app: TestApp) {
    let key = setup(&app).await;
    open_and_hidden(&app, &key).await;
    let api_key = app.api_key(&key, INST, json!({})).await;
    let (uid, ukey) = store_user(&app, INST, "member").await;
    let g = store_group(&app, INST, &[uid]).await;
    app.as_key(
        &key,
        "PATCH",
        &class_url("hidden"),
        Some(json!({"group": g})),
    )
    .await
    .expect(StatusCode::OK);
    let r = app.as_user(&api_key, &ukey, "GET", &classes(), None).await;
    assert_eq!(names(&r), vec!["user_profile", "open", "hidden"]);
}

async fn api_key_cannot_create_classes(app: TestApp) {
    let key = setup(&app).await;
    let api_key = app.api_key(&key, INST, json!({})).await;
    app.as_key(&api_key, "POST", &classes(), Some(json!({"name": "nope"})))
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn class_group_must_exist(app: TestApp) {
    let key = setup(&app).await;
    open_and_hidden(&app, &key).await;
    let bad_group = app
        .as_key(
            &key,
            "PATCH",
            &class_url("open"),
            Some(json!({"group": 999})),
        )
        .await;
    assert_eq!(
        bad_group.body,
        json!({"group": ["Invalid pk \"999\" - object does not exist."]})
    );
}
