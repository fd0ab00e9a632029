//! Data-object changes published to channels (spec-core §10.6).

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::json;

both_backends!(
    object_writes_append_changes,
    users_without_publish_permission_cannot_write
);

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

async fn object_writes_append_changes(app: TestApp) {
    let admin = setup(&app, "changes-one").await;
    let base = "/v1.1/instances/changes-one";
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{base}/classes/notes/objects/"),
            Some(json!({"title": "a", "channel": "feed"})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let id = r.body["id"].as_i64().expect("id");
    let r = app
        .as_key(
            &admin,
            "PATCH",
            &format!("{base}/classes/notes/objects/{id}/"),
            Some(json!({"title": "b"})),
        )
        .await;
    r.expect(StatusCode::OK);
    app.as_key(
        &admin,
        "DELETE",
        &format!("{base}/classes/notes/objects/{id}/"),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let h = app
        .as_key(
            &admin,
            "GET",
            &format!("{base}/channels/feed/history/?ordering=asc"),
            None,
        )
        .await;
    let changes = h.body["objects"].as_array().expect("history");
    let actions: Vec<&str> = changes
        .iter()
        .map(|c| c["action"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(actions, vec!["create", "update", "delete"]);
    let admin_id = app.as_key(&admin, "GET", "/v1.1/account/", None).await.body["id"].clone();
    for c in changes {
        assert_eq!(c["metadata"], json!({"type": "object", "class": "notes"}));
        assert_eq!(c["author"], json!({"admin": admin_id}));
    }
    assert_eq!(changes[0]["payload"]["title"], "a");
    assert!(
        changes[0]["payload"].get("links").is_none()
            && changes[0]["payload"].get("channel").is_none()
    );
    let update = changes[1]["payload"].as_object().expect("payload");
    assert_eq!(update.get("title"), Some(&json!("b")));
    assert_eq!(update.get("id"), Some(&json!(id)));
    assert!(update.contains_key("updated_at") && update.contains_key("revision"));
    assert!(
        !update.contains_key("owner_permissions"),
        "unchanged fields are left out: {update:?}"
    );
    assert_eq!(changes[2]["payload"]["title"], "b");
}

async fn users_without_publish_permission_cannot_write(app: TestApp) {
    let admin = setup(&app, "changes-two").await;
    let base = "/v1.1/instances/changes-two";
    let key = app
        .api_key(&admin, "changes-two", json!({"allow_user_create": true}))
        .await;
    let u = app
        .as_key(
            &key,
            "POST",
            &format!("{base}/users/"),
            Some(json!({"username": "u", "password": "p"})),
        )
        .await;
    let user_key = u.body["user_key"].as_str().expect("key").to_string();
    let r = app
        .as_user(
            &key,
            &user_key,
            "POST",
            &format!("{base}/classes/notes/objects/"),
            Some(json!({"title": "x", "channel": "feed"})),
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::FORBIDDEN),
        json!({"detail": "You do not have permission to publish data to specified channel."})
    );
    let list = app
        .as_key(
            &admin,
            "GET",
            &format!("{base}/classes/notes/objects/"),
            None,
        )
        .await;
    assert_eq!(
        list.body["objects"],
        json!([]),
        "the refused write was rolled back"
    );
    // With publish permission the same write goes through.
    app.as_key(
        &admin,
        "PATCH",
        &format!("{base}/channels/feed/"),
        Some(json!({"other_permissions": "publish"})),
    )
    .await
    .expect(StatusCode::OK);
    let r = app
        .as_user(
            &key,
            &user_key,
            "POST",
            &format!("{base}/classes/notes/objects/"),
            Some(json!({"title": "x", "channel": "feed"})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let h = app
        .as_key(
            &admin,
            "GET",
            &format!("{base}/channels/feed/history/"),
            None,
        )
        .await;
    assert_eq!(h.body["objects"][0]["author"]["user"], u.body["id"]);
}
