//! Data-object changes published to channels (spec-core §10.6).

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    object_writes_append_create_update_and_delete_changes,
    create_change_carries_the_object_without_links_or_channel,
    update_change_carries_only_what_changed,
    delete_change_carries_only_the_id,
    user_without_publish_permission_cannot_write_to_the_channel,
    user_with_publish_permission_writes_and_is_the_author,
);

/// Instance `name` with class `notes` (others may create) and channel `feed` (others may
/// subscribe); returns the admin key.
async fn setup(app: &TestApp, name: &str) -> String {
    let admin = app.admin_with_instance(name).await;
    let base = format!("/v1.1/instances/{name}");
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{base}/classes/"),
            Some(
                json!({"name": "notes", "schema": [{"name": "title", "type": "string"}],
            "other_permissions": "create_objects"}),
            ),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{base}/channels/"),
            Some(json!({"name": "feed", "other_permissions": "subscribe"})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    admin
}

const ONE: &str = "/v1.1/instances/changes-one";

/// An object of `notes` in `feed` created ("a"), updated ("b") and deleted: the changes
/// in `feed`'s history, oldest first, and the object's id.
async fn written_changes(app: &TestApp) -> (String, Vec<Value>, i64) {
    let admin = setup(app, "changes-one").await;
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{ONE}/classes/notes/objects/"),
            Some(json!({"title": "a", "channel": "feed"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    let id = r["id"].as_i64().expect("id");
    let url = format!("{ONE}/classes/notes/objects/{id}/");
    app.as_key(&admin, "PATCH", &url, Some(json!({"title": "b"})))
        .await
        .expect(StatusCode::OK);
    app.as_key(&admin, "DELETE", &url, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let history = format!("{ONE}/channels/feed/history/?ordering=asc");
    let h = app.as_key(&admin, "GET", &history, None).await.json();
    let changes = h["objects"].as_array().expect("history").clone();
    (admin, changes, id)
}

async fn object_writes_append_create_update_and_delete_changes(app: TestApp) {
    let (admin, changes, _) = written_changes(&app).await;
    let actions: Vec<&str> = changes
        .iter()
        .map(|c| c["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, vec!["create", "update", "delete"]);
    let admin_id = app
        .as_key(&admin, "GET", "/v1.1/account/", None)
        .await
        .json()["id"]
        .clone();
    for c in changes {
        assert_eq!(c["metadata"], json!({"type": "object", "class": "notes"}));
        assert_eq!(c["author"], json!({"admin": admin_id}));
    }
}

async fn create_change_carries_the_object_without_links_or_channel(app: TestApp) {
    let (_, changes, _) = written_changes(&app).await;
    assert_eq!(changes[0]["payload"]["title"], "a");
    assert!(
        changes[0]["payload"].get("links").is_none()
            && changes[0]["payload"].get("channel").is_none()
    );
}

async fn update_change_carries_only_what_changed(app: TestApp) {
    let (_, changes, id) = written_changes(&app).await;
    let update = changes[1]["payload"].as_object().expect("payload");
    assert_eq!(update.get("title"), Some(&json!("b")));
    assert_eq!(update.get("id"), Some(&json!(id)));
    assert!(update.contains_key("updated_at") && update.contains_key("revision"));
    assert!(
        !update.contains_key("owner_permissions"),
        "unchanged fields are left out: {update:?}"
    );
}

/// Syncano's delete event is `{"id": <id>}` (platform `test_changes_on_delete`); it used to
/// carry the whole deleted object here, which was wrong.
async fn delete_change_carries_only_the_id(app: TestApp) {
    let (_, changes, id) = written_changes(&app).await;
    assert_eq!(changes[2]["payload"], json!({"id": id}));
}

const TWO: &str = "/v1.1/instances/changes-two";

/// `changes-two` with a key that may create users and user `u` created with it:
/// (admin key, API key, user key, user id).
async fn feed_user(app: &TestApp) -> (String, String, String, Value) {
    let admin = setup(app, "changes-two").await;
    let key = app
        .api_key(&admin, "changes-two", json!({"allow_user_create": true}))
        .await;
    let body = json!({"username": "u", "password": "p"});
    let u = app
        .as_key(&key, "POST", &format!("{TWO}/users/"), Some(body))
        .await
        .json();
    let user_key = u["user_key"].as_str().expect("key").to_string();
    (admin, key, user_key, u["id"].clone())
}

async fn write_to_feed(app: &TestApp, key: &str, user_key: &str) -> crate::helpers::Response {
    let body = json!({"title": "x", "channel": "feed"});
    let url = format!("{TWO}/classes/notes/objects/");
    app.as_user(key, user_key, "POST", &url, Some(body)).await
}

async fn user_without_publish_permission_cannot_write_to_the_channel(app: TestApp) {
    let (admin, key, user_key, _) = feed_user(&app).await;
    let r = write_to_feed(&app, &key, &user_key).await;
    assert_eq!(
        r.expect_json(StatusCode::FORBIDDEN),
        json!({"detail": "You do not have permission to publish data to specified channel."})
    );
    let url = format!("{TWO}/classes/notes/objects/");
    let list = app.as_key(&admin, "GET", &url, None).await;
    assert_eq!(
        list.body["objects"],
        json!([]),
        "the refused write was rolled back"
    );
}

async fn user_with_publish_permission_writes_and_is_the_author(app: TestApp) {
    let (admin, key, user_key, user_id) = feed_user(&app).await;
    app.as_key(
        &admin,
        "PATCH",
        &format!("{TWO}/channels/feed/"),
        Some(json!({"other_permissions": "publish"})),
    )
    .await
    .expect(StatusCode::OK);
    write_to_feed(&app, &key, &user_key)
        .await
        .expect(StatusCode::CREATED);
    let history = format!("{TWO}/channels/feed/history/");
    let h = app.as_key(&admin, "GET", &history, None).await;
    assert_eq!(h.body["objects"][0]["author"]["user"], user_id);
}
