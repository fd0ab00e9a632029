//! Channels (spec-core §10): CRUD and permissions, publish, history, long-poll semantics,
//! retention, and the change hook other writes use. Real-socket behaviour (vanishing
//! clients, WebSocket, two nodes) lives in `channels_net.rs`.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use rivia_store::channels::{NewChange, append_change};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    channel_crud_and_builtins,
    channel_permissions_for_keys_and_users,
    publish_validates_and_records_authors,
    history_lists_newest_first_with_cursors_and_rooms,
    poll_answers_at_once_or_waits_for_the_next_change,
    poll_with_a_current_last_id_waits_for_the_next_change,
    polls_see_a_channel_replaced_or_restricted_at_once,
    poll_on_a_deleted_channel_ends,
    retention_keeps_the_newest_and_drops_expired,
    append_change_joins_the_callers_transaction,
);
both_backends!(
    settings(|s| s.poll_timeout = std::time::Duration::from_millis(300)),
    poll_validation_and_timeouts,
);

const CH: &str = "/v1.1/instances/chan-inst/channels/";

fn names(body: &Value) -> Vec<String> {
    body["objects"]
        .as_array()
        .expect("list")
        .iter()
        .map(|o| o["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn channel_crud_and_builtins(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    let r = app
        .as_key(
            &admin,
            "POST",
            CH,
            Some(json!({"name": "ChaNNel", "custom_publish": true, "type": "separate_rooms", "description": "d"})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let keys: Vec<&String> = r.body.as_object().expect("obj").keys().collect();
    assert_eq!(
        keys,
        [
            "name",
            "description",
            "type",
            "group",
            "group_permissions",
            "other_permissions",
            "created_at",
            "updated_at",
            "custom_publish",
            "links"
        ]
    );
    assert_eq!(
        (
            &r.body["name"],
            &r.body["type"],
            &r.body["custom_publish"],
            &r.body["group"],
            &r.body["other_permissions"]
        ),
        (
            &json!("channel"),
            &json!("separate_rooms"),
            &json!(true),
            &Value::Null,
            &json!("none")
        )
    );
    assert_eq!(
        r.body["links"],
        json!({
            "self": "/v1.1/instances/chan-inst/channels/channel/",
            "poll": "/v1.1/instances/chan-inst/channels/channel/poll/",
            "publish": "/v1.1/instances/chan-inst/channels/channel/publish/",
            "history": "/v1.1/instances/chan-inst/channels/channel/history/",
        })
    );
    // Builtins come first; the filter is a case-insensitive literal prefix.
    let list = app.as_key(&admin, "GET", CH, None).await;
    assert_eq!(names(&list.body), ["default", "eventlog", "channel"]);
    let list = app
        .as_key(&admin, "GET", &format!("{CH}?name__startswith=CH"), None)
        .await;
    assert_eq!(names(&list.body), ["channel"]);
    let list = app
        .as_key(&admin, "GET", &format!("{CH}?name__startswith=%25"), None)
        .await;
    assert_eq!(names(&list.body), Vec::<String>::new());
    let builtin = app
        .as_key(&admin, "GET", &format!("{CH}default/"), None)
        .await;
    assert_eq!(
        (&builtin.body["type"], &builtin.body["custom_publish"]),
        (&json!("separate_rooms"), &json!(true))
    );

    // Validation.
    let r = app
        .as_key(&admin, "POST", CH, Some(json!({"name": "channel"})))
        .await;
    assert_eq!(r.body, json!({"name": ["This field must be unique."]}));
    let r = app
        .as_key(
            &admin,
            "POST",
            CH,
            Some(json!({"name": "9bad.", "type": "rooms", "other_permissions": "write", "group": 99})),
        )
        .await;
    r.expect(StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({
            "name": ["Value has to start with a letter.", "Value has to end with a letter or a number.",
                     "Enter a valid value consisting of letters, numbers, underscores or hyphens."],
            "type": ["\"rooms\" is not a valid choice."],
            "other_permissions": ["\"write\" is not a valid choice."],
            "group": ["Invalid pk \"99\" - object does not exist."],
        })
    );
    let r = app.as_key(&admin, "POST", CH, Some(json!({}))).await;
    assert_eq!(r.body, json!({"name": ["This field is required."]}));
    // Stored integers are accepted for choices.
    let r = app
        .as_key(
            &admin,
            "POST",
            CH,
            Some(json!({"name": "numeric", "type": 1, "other_permissions": "2"})),
        )
        .await;
    assert_eq!(
        (&r.body["type"], &r.body["other_permissions"]),
        (&json!("separate_rooms"), &json!("publish"))
    );

    // PATCH changes only what is sent; name and type are read-only.
    let item = format!("{CH}channel/");
    let r = app
        .as_key(
            &admin,
            "PATCH",
            &item,
            Some(json!({"other_permissions": "subscribe", "name": "other", "type": "default"})),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(
        (
            &r.body["name"],
            &r.body["type"],
            &r.body["other_permissions"],
            &r.body["custom_publish"],
            &r.body["description"]
        ),
        (
            &json!("channel"),
            &json!("separate_rooms"),
            &json!("subscribe"),
            &json!(true),
            &json!("d")
        )
    );
    // PUT resets custom_publish and permissions, keeps the description.
    let r = app.as_key(&admin, "PUT", &item, Some(json!({}))).await;
    assert_eq!(
        (
            &r.body["other_permissions"],
            &r.body["custom_publish"],
            &r.body["description"]
        ),
        (&json!("none"), &json!(false), &json!("d"))
    );

    // Builtins are protected; others delete, and their names become free.
    for name in ["default", "eventlog"] {
        let r = app
            .as_key(&admin, "DELETE", &format!("{CH}{name}/"), None)
            .await;
        r.expect(StatusCode::FORBIDDEN);
    }
    let r = app.as_key(&admin, "DELETE", &item, None).await;
    r.expect(StatusCode::NO_CONTENT);
    let r = app.as_key(&admin, "GET", &item, None).await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    let r = app
        .as_key(&admin, "POST", CH, Some(json!({"name": "channel"})))
        .await;
    r.expect(StatusCode::CREATED);
}

async fn channel_permissions_for_keys_and_users(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    let key = app.api_key(&admin, "chan-inst", json!({})).await;
    let anon = app
        .api_key(&admin, "chan-inst", json!({"allow_anonymous_read": true}))
        .await;
    let acl = app
        .api_key(&admin, "chan-inst", json!({"ignore_acl": true}))
        .await;
    let (alice, alice_key) = crate::helpers::store_user(&app, "chan-inst", "alice").await;
    let (_bob, bob_key) = crate::helpers::store_user(&app, "chan-inst", "bob").await;
    let group = crate::helpers::store_group(&app, "chan-inst", &[alice]).await;
    for (name, body) in [
        (
            "grp-pub",
            json!({"group": group, "group_permissions": "publish"}),
        ),
        (
            "grp-sub",
            json!({"group": group, "group_permissions": "subscribe"}),
        ),
        ("open", json!({"other_permissions": "subscribe"})),
        ("closed", json!({})),
    ] {
        let mut body = body;
        body["name"] = json!(name);
        let r = app.as_key(&admin, "POST", CH, Some(body)).await;
        r.expect(StatusCode::CREATED);
    }
    let r = app
        .as_key(&admin, "GET", &format!("{CH}grp-pub/"), None)
        .await;
    assert_eq!(
        r.body["links"]["group"],
        format!("/v1.1/instances/chan-inst/groups/{group}/")
    );

    // A plain key, and no key at all, see nothing.
    let forbidden = json!({"detail": "You do not have permission to perform this action."});
    let r = app.as_key(&key, "GET", CH, None).await;
    assert_eq!((r.status, &r.body), (StatusCode::FORBIDDEN, &forbidden));
    let r = app.call("GET", CH, &[], None).await;
    r.expect(StatusCode::FORBIDDEN);

    // Users see what others or their groups may subscribe to.
    let r = app.as_user(&key, &alice_key, "GET", CH, None).await;
    assert_eq!(names(&r.body), ["grp-pub", "grp-sub", "open"]);
    let r = app.as_user(&key, &bob_key, "GET", CH, None).await;
    assert_eq!(names(&r.body), ["open"]);
    // Detail is not filtered: a channel the user can't subscribe to is 403, not 404.
    let r = app
        .as_user(&key, &bob_key, "GET", &format!("{CH}closed/"), None)
        .await;
    assert_eq!((r.status, &r.body), (StatusCode::FORBIDDEN, &forbidden));
    let r = app
        .as_user(&key, &bob_key, "GET", &format!("{CH}missing/"), None)
        .await;
    r.expect(StatusCode::NOT_FOUND);

    // Anonymous-read keys list channels open to others, read any, write none.
    let r = app.as_key(&anon, "GET", CH, None).await;
    assert_eq!(names(&r.body), ["open"]);
    let r = app
        .as_key(&anon, "GET", &format!("{CH}closed/"), None)
        .await;
    r.expect(StatusCode::OK);
    let r = app
        .as_key(&anon, "POST", CH, Some(json!({"name": "x1"})))
        .await;
    r.expect(StatusCode::FORBIDDEN);
    // ignore_acl keys see and manage everything.
    let r = app.as_key(&acl, "GET", CH, None).await;
    assert_eq!(r.body["objects"].as_array().map(Vec::len), Some(6));
    let r = app
        .as_key(&acl, "POST", CH, Some(json!({"name": "by-acl"})))
        .await;
    r.expect(StatusCode::CREATED);

    // QUIRK: any user may create; a user with subscribe permission may update and delete.
    let r = app
        .as_user(&key, &bob_key, "POST", CH, Some(json!({"name": "bobs"})))
        .await;
    r.expect(StatusCode::CREATED);
    let r = app
        .as_user(
            &key,
            &bob_key,
            "PATCH",
            &format!("{CH}open/"),
            Some(json!({"description": "bob was here"})),
        )
        .await;
    assert_eq!(r.body["description"], "bob was here");
    let r = app
        .as_user(&key, &bob_key, "DELETE", &format!("{CH}grp-sub/"), None)
        .await;
    r.expect(StatusCode::FORBIDDEN);
    let r = app
        .as_user(&key, &alice_key, "DELETE", &format!("{CH}grp-sub/"), None)
        .await;
    r.expect(StatusCode::NO_CONTENT);

    // Admin roles: read may read, not write.
    let reader = app.admin("reader@example.com").await;
    let inst = app.stored_instance("chan-inst").await;
    let reader_id = app
        .store
        .admin_by_key(&reader)
        .await
        .expect("db")
        .expect("admin")
        .id;
    let mut tx = app.store.db.begin().await.expect("begin");
    tx.exec(
        "INSERT INTO admin_roles (instance_id, admin_id, role) VALUES ($1, $2, $3)",
        rivia_store::params![inst.id, reader_id, rivia_core::perms::Role::Read as i64],
    )
    .await
    .expect("role");
    tx.commit().await.expect("commit");
    app.as_key(&reader, "GET", CH, None)
        .await
        .expect(StatusCode::OK);
    let r = app
        .as_key(&reader, "POST", CH, Some(json!({"name": "nope"})))
        .await;
    r.expect(StatusCode::FORBIDDEN);
}

async fn publish_validates_and_records_authors(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    let key = app.api_key(&admin, "chan-inst", json!({})).await;
    let (alice, alice_key) = crate::helpers::store_user(&app, "chan-inst", "alice").await;
    let (_bob, bob_key) = crate::helpers::store_user(&app, "chan-inst", "bob").await;
    let group = crate::helpers::store_group(&app, "chan-inst", &[alice]).await;
    for body in [
        json!({"name": "plain", "custom_publish": true}),
        json!({"name": "rooms", "custom_publish": true, "type": "separate_rooms",
               "group": group, "group_permissions": "publish"}),
        json!({"name": "quiet"}),
    ] {
        let r = app.as_key(&admin, "POST", CH, Some(body)).await;
        r.expect(StatusCode::CREATED);
    }
    let admin_id = app
        .store
        .admin_by_key(&admin)
        .await
        .expect("db")
        .expect("admin")
        .id;

    // A JSON object or a JSON string of one.
    let url = format!("{CH}plain/publish/");
    let r = app
        .as_key(
            &admin,
            "POST",
            &url,
            Some(json!({"payload": {"key": "value"}})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let id = r.body["id"].as_i64().expect("id");
    assert_eq!(
        r.body["links"],
        json!({"self": format!("/v1.1/instances/chan-inst/channels/plain/history/{id}/")})
    );
    assert_eq!(
        (
            &r.body["action"],
            &r.body["author"],
            &r.body["metadata"],
            &r.body["payload"]
        ),
        (
            &json!("custom"),
            &json!({"admin": admin_id}),
            &json!({"type": "message"}),
            &json!({"key": "value"})
        )
    );
    let r = app
        .as_key(
            &admin,
            "POST",
            &url,
            Some(json!({"payload": "{\"b\": 1, \"a\": \"wartość\"}", "room": "ignored"})),
        )
        .await;
    assert_eq!(r.body["payload"], json!({"b": 1, "a": "wartość"}));
    assert_eq!(r.body["id"].as_i64(), Some(id + 1));
    let r = app.as_key(&admin, "POST", &url, Some(json!({}))).await;
    assert_eq!(r.body["payload"], json!({}));

    // Bad payloads.
    for (payload, message) in [
        (json!("abc"), "Not a valid JSON string."),
        (json!("[1]"), "Payload passed in invalid format."),
        (json!([1]), "Payload passed in invalid format."),
        (Value::Null, "This field may not be null."),
    ] {
        let r = app
            .as_key(&admin, "POST", &url, Some(json!({ "payload": payload })))
            .await;
        assert_eq!(
            r.expect_json(StatusCode::BAD_REQUEST),
            json!({"payload": [message]})
        );
    }
    // 64 KiB limit on the whole request.
    let big = "a".repeat(70_000);
    let r = app
        .as_key(&admin, "POST", &url, Some(json!({"payload": {"k": big}})))
        .await;
    assert_eq!(
        r.expect_json(StatusCode::PAYLOAD_TOO_LARGE),
        json!({"detail": "Request size limit exceeded (65536)."})
    );

    // Custom publish off, eventlog, and rooms.
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{CH}quiet/publish/"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::FORBIDDEN),
        json!({"detail": "Custom publish not allowed on this channel."})
    );
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{CH}eventlog/publish/"),
            Some(json!({"room": "r"})),
        )
        .await;
    r.expect(StatusCode::FORBIDDEN);
    let rooms = format!("{CH}rooms/publish/");
    let r = app.as_key(&admin, "POST", &rooms, Some(json!({}))).await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"room": "This field is required for channels with separate rooms."})
    );
    let r = app
        .as_key(
            &admin,
            "POST",
            &rooms,
            Some(json!({"room": "r".repeat(129)})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"room": ["Ensure this field has no more than 128 characters."]})
    );

    // Users need publish permission; the author names key and user.
    let r = app
        .as_user(&key, &bob_key, "POST", &rooms, Some(json!({"room": "ąę"})))
        .await;
    r.expect(StatusCode::FORBIDDEN);
    let r = app
        .as_user(
            &key,
            &alice_key,
            "POST",
            &rooms,
            Some(json!({"room": "ąę"})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let key_id = app
        .store
        .api_key_by_key(&key)
        .await
        .expect("db")
        .expect("key")
        .id;
    assert_eq!(r.body["author"], json!({"api_key": key_id, "user": alice}));
    // A plain key without a user cannot publish; an unknown channel is 404 after that.
    let r = app.as_key(&key, "POST", &url, Some(json!({}))).await;
    r.expect(StatusCode::FORBIDDEN);
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{CH}nope/publish/"),
            Some(json!({})),
        )
        .await;
    r.expect(StatusCode::NOT_FOUND);
}

async fn history_lists_newest_first_with_cursors_and_rooms(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "plain").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let r = app
            .as_key(
                &admin,
                "POST",
                &format!("{CH}plain/publish/"),
                Some(json!({"payload": {"n": i}})),
            )
            .await;
        ids.push(r.body["id"].as_i64().expect("id"));
    }
    for room in ["Lobby", "lobby", "other"] {
        app.as_key(
            &admin,
            "POST",
            &format!("{CH}default/publish/"),
            Some(json!({"room": room})),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let hist = format!("{CH}plain/history/");
    let page_ids = |body: &Value| -> Vec<i64> {
        body["objects"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|o| o["id"].as_i64())
            .collect()
    };
    let r = app.as_key(&admin, "GET", &hist, None).await;
    r.expect(StatusCode::OK);
    assert_eq!(
        page_ids(&r.body),
        ids.iter().rev().copied().collect::<Vec<_>>()
    );
    assert_eq!(
        (&r.body["next"], &r.body["prev"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(
        r.body["objects"][0]["links"]["self"],
        format!(
            "/v1.1/instances/chan-inst/channels/plain/history/{}/",
            ids[4]
        )
    );
    let r = app
        .as_key(
            &admin,
            "GET",
            &format!("{hist}?ordering=asc&page_size=2"),
            None,
        )
        .await;
    assert_eq!(page_ids(&r.body), ids[..2]);
    let next = r.body["next"].as_str().expect("next").to_string();
    assert_eq!(
        next,
        format!(
            "/v1.1/instances/chan-inst/channels/plain/history/?page_size=2&ordering=asc&direction=1&last_pk={}",
            ids[1]
        )
    );
    let r = app.as_key(&admin, "GET", &next, None).await;
    assert_eq!(page_ids(&r.body), ids[2..4]);
    let r = app
        .as_key(&admin, "GET", &format!("{hist}?last_id={}", ids[2]), None)
        .await;
    assert_eq!(page_ids(&r.body), [ids[4], ids[3]]);
    let r = app
        .as_key(&admin, "GET", &format!("{hist}?last_id=junk"), None)
        .await;
    assert_eq!(page_ids(&r.body).len(), 5);

    // Rooms are lowercased; a separate-rooms channel needs one.
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

    // Detail, and the 404s of the nested route.
    let r = app
        .as_key(&admin, "GET", &format!("{hist}{}/", ids[0]), None)
        .await;
    assert_eq!(
        (r.status, &r.body["payload"]),
        (StatusCode::OK, &json!({"n": 0}))
    );
    let r = app
        .as_key(&admin, "GET", &format!("{hist}999999/"), None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    // Unknown channel: 404 before authentication.
    let r = app
        .call("GET", &format!("{CH}nope/history/"), &[], None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Channel was not found."})
    );
    let r = app.call("GET", &hist, &[], None).await;
    r.expect(StatusCode::FORBIDDEN);
}

/// An admin of instance `chan-inst` with a `custom_publish` channel `name` in it.
async fn admin_with_publish_channel(app: &TestApp, name: &str) -> String {
    let admin = app.admin_with_instance("chan-inst").await;
    let r = app
        .as_key(
            &admin,
            "POST",
            CH,
            Some(json!({"name": name, "custom_publish": true})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    admin
}

async fn publish(app: &TestApp, key: &str, channel: &str, body: Value) -> i64 {
    let r = app
        .as_key(key, "POST", &format!("{CH}{channel}/publish/"), Some(body))
        .await;
    r.expect(StatusCode::CREATED);
    r.body["id"].as_i64().expect("id")
}

async fn poll_answers_at_once_or_waits_for_the_next_change(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "plain").await;
    let first = publish(&app, &admin, "plain", json!({"payload": {"n": 1}})).await;
    let second = publish(&app, &admin, "plain", json!({"payload": {"n": 2}})).await;
    let poll = format!("{CH}plain/poll/");

    // A newer change exists: the oldest one after last_id, without links.
    let r = app
        .as_key(&admin, "GET", &format!("{poll}?last_id=0"), None)
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.body["id"].as_i64(), Some(first));
    assert_eq!(r.body.get("links"), None);
    assert_eq!(
        r.body
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(
            [
                "id",
                "created_at",
                "action",
                "author",
                "metadata",
                "payload"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert_eq!(
        r.headers.get("x-last-id").and_then(|v| v.to_str().ok()),
        Some(first.to_string().as_str())
    );
    let r = app
        .as_key(&admin, "GET", &format!("{poll}?last_id={first}"), None)
        .await;
    assert_eq!(r.body["id"].as_i64(), Some(second));

    // Nothing newer: the poll waits for the next publish (here, and without last_id).
    let app = std::sync::Arc::new(app);
    let waiters: Vec<_> = [format!("{poll}?last_id={second}"), poll.clone()]
        .into_iter()
        .map(|url| {
            let app = app.clone();
            let admin = admin.clone();
            tokio::spawn(async move { app.as_key(&admin, "GET", &url, None).await })
        })
        .collect();
    wait_for_waiters(&app, 2).await;
    let third = publish(&app, &admin, "plain", json!({"payload": {"n": 3}})).await;
    for w in waiters {
        let r = w.await.expect("poll task");
        r.expect(StatusCode::OK);
        assert_eq!(r.body["id"].as_i64(), Some(third));
        assert_eq!(r.body["payload"], json!({"n": 3}));
        assert_eq!(
            r.headers.get("x-last-id").and_then(|v| v.to_str().ok()),
            Some(third.to_string().as_str())
        );
    }
    assert_eq!(app.store.bus.waiter_count(), 0);
}

/// Polls whose `last_id` is the newest change, answered from the bus's remembered newest
/// id instead of the table: each waits and gets the change published right after it
/// parks, and a `last_id` beyond the newest is still refused.
async fn poll_with_a_current_last_id_waits_for_the_next_change(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "steady").await;
    let inst = app.stored_instance("chan-inst").await;
    let channel = app
        .store
        .channel_by_name(inst.id, "steady")
        .await
        .expect("db")
        .expect("channel");
    let mut newest = publish(&app, &admin, "steady", json!({"payload": {"n": 0}})).await;
    let poll = format!("{CH}steady/poll/");
    // Another waiter on the channel (as other pollers would be) keeps its state, and so
    // the remembered newest id, alive between the polls below.
    let keeper = app.store.bus.subscribe(channel.id, None);
    let app = std::sync::Arc::new(app);
    for round in 1..=3 {
        if round > 1 {
            // The previous round's delivery moved the remembered id: no table read.
            assert_eq!(keeper.known_newest(), Some(newest));
        }
        let waiter = {
            let (app, admin) = (app.clone(), admin.clone());
            let url = format!("{poll}?last_id={newest}");
            tokio::spawn(async move { app.as_key(&admin, "GET", &url, None).await })
        };
        wait_for_waiters(&app, 2).await;
        let next = publish(&app, &admin, "steady", json!({"payload": {"n": round}})).await;
        let r = waiter.await.expect("poll task");
        r.expect(StatusCode::OK);
        assert_eq!(r.body["id"].as_i64(), Some(next));
        assert_eq!(r.body["payload"], json!({"n": round}));
        newest = next;
    }
    let r = app
        .as_key(
            &admin,
            "GET",
            &format!("{poll}?last_id={}", newest + 5),
            None,
        )
        .await;
    r.expect(StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({"last_id": "Value is higher than the most current change id."})
    );
    drop(keeper);
}

/// Polls look channels up through a cache; changing or replacing a channel on this node
/// is seen by the very next poll.
async fn polls_see_a_channel_replaced_or_restricted_at_once(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    let create = json!({"name": "swap", "custom_publish": true});
    app.as_key(&admin, "POST", CH, Some(create.clone()))
        .await
        .expect(StatusCode::CREATED);
    let first = publish(&app, &admin, "swap", json!({"payload": {"v": 1}})).await;
    let poll = format!("{CH}swap/poll/?last_id=0");
    let r = app.as_key(&admin, "GET", &poll, None).await;
    assert_eq!(r.body["id"].as_i64(), Some(first));

    // Replaced by a new channel of the same name: the poll answers from the new one.
    let r = app
        .as_key(&admin, "DELETE", &format!("{CH}swap/"), None)
        .await;
    r.expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "POST", CH, Some(create))
        .await
        .expect(StatusCode::CREATED);
    let second = publish(&app, &admin, "swap", json!({"payload": {"v": 2}})).await;
    let r = app.as_key(&admin, "GET", &poll, None).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.body["id"].as_i64(), Some(second));
    assert_eq!(r.body["payload"], json!({"v": 2}));

    // Gone: the next poll is 404.
    app.as_key(&admin, "DELETE", &format!("{CH}swap/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let r = app.as_key(&admin, "GET", &poll, None).await;
    r.expect(StatusCode::NOT_FOUND);
}

/// Waits (with a deadline) until `n` pollers are parked on the bus.
pub async fn wait_for_waiters(app: &TestApp, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.store.bus.waiter_count() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} pollers parked",
            app.store.bus.waiter_count()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn poll_validation_and_timeouts(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "plain").await;
    let poll = format!("{CH}plain/poll/");
    // Nothing published yet: any last_id waits; the timeout answers 204 with no body.
    let started = std::time::Instant::now();
    let r = app
        .as_key(&admin, "GET", &format!("{poll}?last_id=50"), None)
        .await;
    assert_eq!((r.status, &r.body), (StatusCode::NO_CONTENT, &Value::Null));
    assert!(started.elapsed() >= Duration::from_millis(250));
    let id = publish(&app, &admin, "plain", json!({})).await;
    let r = app
        .as_key(&admin, "GET", &format!("{poll}?last_id={}", id + 1), None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"last_id": "Value is higher than the most current change id."})
    );
    let r = app
        .as_key(&admin, "GET", &format!("{poll}?last_id=aaa&room="), None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"last_id": ["A valid integer is required."], "room": ["This field may not be blank."]})
    );
    let r = app
        .as_key(&admin, "GET", &format!("{CH}default/poll/"), None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"room": "This field is required for channels with separate rooms."})
    );
    let r = app
        .as_key(&admin, "GET", &format!("{CH}nope/poll/"), None)
        .await;
    r.expect(StatusCode::NOT_FOUND);
    // A plain API key may not subscribe; the poll rate throttles polls.
    let key = app.api_key(&admin, "chan-inst", json!({})).await;
    let r = app.as_key(&key, "GET", &poll, None).await;
    r.expect(StatusCode::FORBIDDEN);
    // `transport=websocket` without an upgrade request is a JSON 4xx.
    let r = app
        .as_key(&admin, "GET", &format!("{poll}?transport=websocket"), None)
        .await;
    assert!(r.status.is_client_error(), "{:?}", r.status);
    assert!(r.body["detail"].is_string());
    assert_eq!(app.store.bus.waiter_count(), 0);
}

async fn poll_on_a_deleted_channel_ends(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    app.as_key(&admin, "POST", CH, Some(json!({"name": "doomed"})))
        .await
        .expect(StatusCode::CREATED);
    let app = std::sync::Arc::new(app);
    let waiter = {
        let app = app.clone();
        let admin = admin.clone();
        tokio::spawn(async move {
            app.as_key(&admin, "GET", &format!("{CH}doomed/poll/"), None)
                .await
        })
    };
    wait_for_waiters(&app, 1).await;
    let r = app
        .as_key(&admin, "DELETE", &format!("{CH}doomed/"), None)
        .await;
    r.expect(StatusCode::NO_CONTENT);
    let r = waiter.await.expect("poll task");
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    assert_eq!(app.store.bus.waiter_count(), 0);
}

async fn retention_keeps_the_newest_and_drops_expired(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "busy").await;
    let inst = app.stored_instance("chan-inst").await;
    let channel = |name: &'static str| {
        let store = app.store.clone();
        async move {
            store
                .channel_by_name(inst.id, name)
                .await
                .expect("db")
                .expect("channel")
        }
    };
    let busy = channel("busy").await;
    let eventlog = channel("eventlog").await;
    // One multi-row transaction per channel keeps the test quick; the hook marks them.
    let mut tx = app.store.db.begin().await.expect("begin");
    let mut last = Vec::new();
    for (ch, room, n) in [(busy.id, None, 1005), (eventlog.id, Some("t"), 105)] {
        for i in 0..n {
            last.push(
                append_change(
                    &mut tx,
                    &NewChange {
                        instance_id: inst.id,
                        channel_id: ch,
                        room: room.map(String::from),
                        action: "custom".into(),
                        author: "{}".into(),
                        metadata: "{}".into(),
                        payload: format!("{{\"i\": {i}}}"),
                    },
                )
                .await
                .expect("append"),
            );
        }
    }
    tx.commit().await.expect("commit");
    for c in last {
        app.store.bus.committed(c);
    }
    app.store.prune_touched_changes().await.expect("prune");
    let kept = app
        .store
        .changes_after(busy.id, None, 0, 5000)
        .await
        .expect("read");
    assert_eq!(kept.len(), 1000);
    assert_eq!(kept[0].payload, "{\"i\": 5}");
    let kept = app
        .store
        .changes_after(eventlog.id, Some("t"), 0, 5000)
        .await
        .expect("read");
    assert_eq!(kept.len(), 100);

    // A change older than 24 h is invisible at once and deleted by the next pass.
    let newest = app.store.last_change_id(busy.id, None).await.expect("max");
    let mut tx = app.store.db.begin().await.expect("begin");
    tx.exec(
        "UPDATE changes SET created_at = $1 WHERE channel_id = $2 AND id = $3",
        rivia_store::params![0_i64, busy.id, newest],
    )
    .await
    .expect("age");
    tx.commit().await.expect("commit");
    let r = app
        .as_key(&admin, "GET", &format!("{CH}busy/history/{newest}/"), None)
        .await;
    r.expect(StatusCode::NOT_FOUND);
    app.store.prune_touched_changes().await.expect("prune");
    let all = app
        .store
        .changes_after(busy.id, None, 0, 5000)
        .await
        .expect("read");
    assert_eq!(all.len(), 999);
}

async fn append_change_joins_the_callers_transaction(app: TestApp) {
    app.admin_with_instance("chan-inst").await;
    let inst = app.stored_instance("chan-inst").await;
    let default = app
        .store
        .channel_by_name(inst.id, "default")
        .await
        .expect("db")
        .expect("default");
    let change = NewChange {
        instance_id: inst.id,
        channel_id: default.id,
        room: Some("Room-A".into()),
        action: "create".into(),
        author: r#"{"admin":1}"#.into(),
        metadata: r#"{"type":"object","class":"books"}"#.into(),
        payload: r#"{"id":1,"title":"x"}"#.into(),
    };
    let mut sub = app.store.bus.subscribe(default.id, Some("room-a"));
    // Rolled back: nothing stored, nothing announced.
    let mut tx = app.store.db.begin().await.expect("begin");
    append_change(&mut tx, &change).await.expect("append");
    drop(tx);
    assert_eq!(
        app.store
            .last_change_id(default.id, Some("room-a"))
            .await
            .expect("max"),
        0
    );
    // Committed, then handed to the hook: the waiter gets it, room lowercased.
    let mut tx = app.store.db.begin().await.expect("begin");
    let saved = append_change(&mut tx, &change).await.expect("append");
    tx.commit().await.expect("commit");
    assert_eq!(saved.room.as_deref(), Some("room-a"));
    app.store.bus.committed(saved);
    let event = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("woken");
    let rivia_store::bus::BusEvent::Change(c) = event else {
        panic!("expected a change, got {event:?}");
    };
    let msg: Value = serde_json::from_str(c.message()).expect("json");
    assert_eq!(
        (&msg["action"], &msg["metadata"], &msg["payload"]),
        (
            &json!("create"),
            &json!({"type": "object", "class": "books"}),
            &json!({"id": 1, "title": "x"})
        )
    );
}
