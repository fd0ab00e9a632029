//! Channel publish and history (spec-core §10.3–§10.4): payloads, rooms, authors,
//! limits, and the history's order, cursors and rooms.

use crate::both_backends;
use crate::channels::{CH, admin_with_publish_channel, publish};
use crate::helpers::{TestApp, store_group, store_user};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    publish_answers_the_change_with_its_author_and_links,
    payload_may_be_a_json_string_of_an_object,
    missing_payload_publishes_an_empty_object,
    bad_payloads_are_refused,
    publish_request_is_limited_to_64_kib,
    channel_without_custom_publish_refuses_publishing,
    eventlog_cannot_be_published_to,
    separate_rooms_publish_needs_a_valid_room,
    users_need_publish_permission_and_are_named_as_authors,
    plain_key_cannot_publish_and_unknown_channel_is_404,
    history_lists_newest_first,
    history_pages_in_ascending_order_with_cursors,
    history_last_id_lists_the_newer_changes,
    history_of_separate_rooms_needs_a_room_and_lowercases_it,
    history_detail_and_unknown_change,
    unknown_channel_history_is_404_before_authentication,
);

/// Channels plain (custom publish), rooms (separate rooms, alice's group may publish)
/// and quiet (no custom publish); a plain key and users alice and bob.
struct Publishing {
    admin: String,
    key: String,
    alice: i64,
    alice_key: String,
    bob_key: String,
}

async fn publishing(app: &TestApp) -> Publishing {
    let admin = app.admin_with_instance("chan-inst").await;
    let key = app.api_key(&admin, "chan-inst", json!({})).await;
    let (alice, alice_key) = store_user(app, "chan-inst", "alice").await;
    let (_bob, bob_key) = store_user(app, "chan-inst", "bob").await;
    let group = store_group(app, "chan-inst", &[alice]).await;
    for body in [
        json!({"name": "plain", "custom_publish": true}),
        json!({"name": "rooms", "custom_publish": true, "type": "separate_rooms",
               "group": group, "group_permissions": "publish"}),
        json!({"name": "quiet"}),
    ] {
        app.as_key(&admin, "POST", CH, Some(body))
            .await
            .expect(StatusCode::CREATED);
    }
    Publishing {
        admin,
        key,
        alice,
        alice_key,
        bob_key,
    }
}

const PLAIN: &str = "/v1.1/instances/chan-inst/channels/plain/publish/";
const ROOMS: &str = "/v1.1/instances/chan-inst/channels/rooms/publish/";

async fn publish_answers_the_change_with_its_author_and_links(app: TestApp) {
    let p = publishing(&app).await;
    let admin_id = app
        .store
        .admin_by_key(&p.admin)
        .await
        .expect("db")
        .expect("admin")
        .id;
    let body = json!({"payload": {"key": "value"}});
    let r = app
        .as_key(&p.admin, "POST", PLAIN, Some(body))
        .await
        .expect_json(StatusCode::CREATED);
    let id = r["id"].as_i64().expect("id");
    assert_eq!(
        r["links"],
        json!({"self": format!("/v1.1/instances/chan-inst/channels/plain/history/{id}/")})
    );
    assert_eq!(
        (&r["action"], &r["author"], &r["metadata"], &r["payload"]),
        (
            &json!("custom"),
            &json!({"admin": admin_id}),
            &json!({"type": "message"}),
            &json!({"key": "value"})
        )
    );
}

async fn payload_may_be_a_json_string_of_an_object(app: TestApp) {
    let p = publishing(&app).await;
    let id = publish(&app, &p.admin, "plain", json!({"payload": {"k": 1}})).await;
    let body = json!({"payload": "{\"b\": 1, \"a\": \"wartość\"}", "room": "ignored"});
    let r = app.as_key(&p.admin, "POST", PLAIN, Some(body)).await;
    assert_eq!(r.body["payload"], json!({"b": 1, "a": "wartość"}));
    assert_eq!(r.body["id"].as_i64(), Some(id + 1));
}

async fn missing_payload_publishes_an_empty_object(app: TestApp) {
    let p = publishing(&app).await;
    let r = app.as_key(&p.admin, "POST", PLAIN, Some(json!({}))).await;
    assert_eq!(r.body["payload"], json!({}));
}

async fn bad_payloads_are_refused(app: TestApp) {
    let p = publishing(&app).await;
    for (payload, message) in [
        (json!("abc"), "Not a valid JSON string."),
        (json!("[1]"), "Payload passed in invalid format."),
        (json!([1]), "Payload passed in invalid format."),
        (Value::Null, "This field may not be null."),
    ] {
        let r = app
            .as_key(&p.admin, "POST", PLAIN, Some(json!({ "payload": payload })))
            .await;
        assert_eq!(
            r.expect_json(StatusCode::BAD_REQUEST),
            json!({"payload": [message]})
        );
    }
}

/// The limit is on the whole request.
async fn publish_request_is_limited_to_64_kib(app: TestApp) {
    let p = publishing(&app).await;
    let big = "a".repeat(70_000);
    let r = app
        .as_key(
            &p.admin,
            "POST",
            PLAIN,
            Some(json!({"payload": {"k": big}})),
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::PAYLOAD_TOO_LARGE),
        json!({"detail": "Request size limit exceeded (65536)."})
    );
}

async fn channel_without_custom_publish_refuses_publishing(app: TestApp) {
    let p = publishing(&app).await;
    let quiet = format!("{CH}quiet/publish/");
    let r = app.as_key(&p.admin, "POST", &quiet, Some(json!({}))).await;
    assert_eq!(
        r.expect_json(StatusCode::FORBIDDEN),
        json!({"detail": "Custom publish not allowed on this channel."})
    );
}

async fn eventlog_cannot_be_published_to(app: TestApp) {
    let p = publishing(&app).await;
    let eventlog = format!("{CH}eventlog/publish/");
    app.as_key(&p.admin, "POST", &eventlog, Some(json!({"room": "r"})))
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn separate_rooms_publish_needs_a_valid_room(app: TestApp) {
    let p = publishing(&app).await;
    let r = app.as_key(&p.admin, "POST", ROOMS, Some(json!({}))).await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"room": "This field is required for channels with separate rooms."})
    );
    let body = json!({"room": "r".repeat(129)});
    let r = app.as_key(&p.admin, "POST", ROOMS, Some(body)).await;
    assert_eq!(
        r.body,
        json!({"room": ["Ensure this field has no more than 128 characters."]})
    );
}

/// Users need publish permission; the author names key and user.
async fn users_need_publish_permission_and_are_named_as_authors(app: TestApp) {
    let p = publishing(&app).await;
    let body = json!({"room": "ąę"});
    app.as_user(&p.key, &p.bob_key, "POST", ROOMS, Some(body.clone()))
        .await
        .expect(StatusCode::FORBIDDEN);
    let r = app
        .as_user(&p.key, &p.alice_key, "POST", ROOMS, Some(body))
        .await
        .expect_json(StatusCode::CREATED);
    let key_id = app
        .store
        .api_key_by_key(&p.key)
        .await
        .expect("db")
        .expect("key")
        .id;
    assert_eq!(r["author"], json!({"api_key": key_id, "user": p.alice}));
}

/// A plain key without a user cannot publish; an unknown channel is 404 after that.
async fn plain_key_cannot_publish_and_unknown_channel_is_404(app: TestApp) {
    let p = publishing(&app).await;
    app.as_key(&p.key, "POST", PLAIN, Some(json!({})))
        .await
        .expect(StatusCode::FORBIDDEN);
    let nope = format!("{CH}nope/publish/");
    app.as_key(&p.admin, "POST", &nope, Some(json!({})))
        .await
        .expect(StatusCode::NOT_FOUND);
}

const HIST: &str = "/v1.1/instances/chan-inst/channels/plain/history/";

/// Channel `plain` with five changes (payload n = 0..5) and three on `default` in rooms
/// Lobby, lobby and other: (admin key, the five ids).
async fn history(app: &TestApp) -> (String, Vec<i64>) {
    let admin = admin_with_publish_channel(app, "plain").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(publish(app, &admin, "plain", json!({"payload": {"n": i}})).await);
    }
    for room in ["Lobby", "lobby", "other"] {
        publish(app, &admin, "default", json!({"room": room})).await;
    }
    (admin, ids)
}

fn page_ids(body: &Value) -> Vec<i64> {
    body["objects"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|o| o["id"].as_i64())
        .collect()
}

async fn history_lists_newest_first(app: TestApp) {
    let (admin, ids) = history(&app).await;
    let r = app
        .as_key(&admin, "GET", HIST, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(page_ids(&r), ids.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!((&r["next"], &r["prev"]), (&Value::Null, &Value::Null));
    assert_eq!(
        r["objects"][0]["links"]["self"],
        format!("{HIST}{}/", ids[4])
    );
}

async fn history_pages_in_ascending_order_with_cursors(app: TestApp) {
    let (admin, ids) = history(&app).await;
    let url = format!("{HIST}?ordering=asc&page_size=2");
    let r = app.as_key(&admin, "GET", &url, None).await;
    assert_eq!(page_ids(&r.body), ids[..2]);
    let next = r.body["next"].as_str().expect("next").to_string();
    assert_eq!(
        next,
        format!(
            "{HIST}?page_size=2&ordering=asc&direction=1&last_pk={}",
            ids[1]
        )
    );
    let r = app.as_key(&admin, "GET", &next, None).await;
    assert_eq!(page_ids(&r.body), ids[2..4]);
}

/// `last_id` lists the changes after it (newest first); a junk one is ignored.
async fn history_last_id_lists_the_newer_changes(app: TestApp) {
    let (admin, ids) = history(&app).await;
    let r = app
        .as_key(&admin, "GET", &format!("{HIST}?last_id={}", ids[2]), None)
        .await;
    assert_eq!(page_ids(&r.body), [ids[4], ids[3]]);
    let r = app
        .as_key(&admin, "GET", &format!("{HIST}?last_id=junk"), None)
        .await;
    assert_eq!(page_ids(&r.body).len(), 5);
}

async fn history_of_separate_rooms_needs_a_room_and_lowercases_it(app: TestApp) {
    let (admin, _) = history(&app).await;
    let rooms = format!("{CH}default/history/");
    let r = app.as_key(&admin, "GET", &rooms, None).await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"room": "This field is required for channels with separate rooms."})
    );
    let r = app
        .as_key(&admin, "GET", &format!("{rooms}?room=LOBBY"), None)
        .await;
    assert_eq!(page_ids(&r.body).len(), 2);
}

async fn history_detail_and_unknown_change(app: TestApp) {
    let (admin, ids) = history(&app).await;
    let r = app
        .as_key(&admin, "GET", &format!("{HIST}{}/", ids[0]), None)
        .await;
    assert_eq!(r.expect_json(StatusCode::OK)["payload"], json!({"n": 0}));
    let r = app
        .as_key(&admin, "GET", &format!("{HIST}999999/"), None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
}

async fn unknown_channel_history_is_404_before_authentication(app: TestApp) {
    history(&app).await;
    let r = app
        .call("GET", &format!("{CH}nope/history/"), &[], None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Channel was not found."})
    );
    app.call("GET", HIST, &[], None)
        .await
        .expect(StatusCode::FORBIDDEN);
}
