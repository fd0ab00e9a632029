//! Channels (spec-core §10): CRUD and the permissions of keys and users. Publish and
//! history are in `channel_publish.rs`; polling in `channel_polling.rs`; real sockets in `channels_net.rs`; the tests that
//! write the store directly in `channels_store.rs`.

use crate::both_backends;
use crate::helpers::{TestApp, store_group, store_user};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    channel_create_answers_its_fields_in_order,
    builtins_come_first_and_the_name_filter_is_a_literal_prefix,
    builtin_default_channel_has_rooms_and_custom_publish,
    channel_name_must_be_unique,
    invalid_channel_fields_are_reported_together,
    channel_name_is_required,
    stored_integers_are_accepted_for_choices,
    channel_patch_changes_only_what_is_sent,
    channel_put_resets_custom_publish_and_permissions,
    builtin_channels_cannot_be_deleted,
    deleted_channel_is_gone_and_its_name_free,
    channel_links_its_group,
    plain_key_and_no_key_see_no_channels,
    users_list_channels_they_or_their_groups_may_subscribe_to,
    channel_detail_is_forbidden_rather_than_hidden,
    anonymous_read_key_lists_open_channels_and_writes_none,
    ignore_acl_key_sees_and_manages_every_channel,
    any_user_may_create_a_channel,
    users_with_subscribe_permission_may_not_update_or_delete,
);

pub const CH: &str = "/v1.1/instances/chan-inst/channels/";

fn names(body: &Value) -> Vec<String> {
    body["objects"]
        .as_array()
        .expect("list")
        .iter()
        .map(|o| o["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// An admin of instance `chan-inst` with a `custom_publish` channel `name` in it.
pub async fn admin_with_publish_channel(app: &TestApp, name: &str) -> String {
    let admin = app.admin_with_instance("chan-inst").await;
    app.as_key(
        &admin,
        "POST",
        CH,
        Some(json!({"name": name, "custom_publish": true})),
    )
    .await
    .expect(StatusCode::CREATED);
    admin
}

/// Publishes on `channel`; returns the change id.
pub async fn publish(app: &TestApp, key: &str, channel: &str, body: Value) -> i64 {
    let r = app
        .as_key(key, "POST", &format!("{CH}{channel}/publish/"), Some(body))
        .await
        .expect_json(StatusCode::CREATED);
    r["id"].as_i64().expect("id")
}

/// Instance `chan-inst` with channel `ChaNNel` (saved as `channel`): (admin key, its JSON).
async fn channel(app: &TestApp) -> (String, Value) {
    let admin = app.admin_with_instance("chan-inst").await;
    let body = json!({"name": "ChaNNel", "custom_publish": true, "type": "separate_rooms", "description": "d"});
    let r = app
        .as_key(&admin, "POST", CH, Some(body))
        .await
        .expect_json(StatusCode::CREATED);
    (admin, r)
}

async fn create_channel(app: &TestApp, admin: &str, body: Value) -> Value {
    app.as_key(admin, "POST", CH, Some(body)).await.json()
}

async fn channel_create_answers_its_fields_in_order(app: TestApp) {
    let (_, r) = channel(&app).await;
    let keys: Vec<&String> = r.as_object().expect("obj").keys().collect();
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
            &r["name"],
            &r["type"],
            &r["custom_publish"],
            &r["group"],
            &r["other_permissions"]
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
        r["links"],
        json!({
            "self": "/v1.1/instances/chan-inst/channels/channel/",
            "poll": "/v1.1/instances/chan-inst/channels/channel/poll/",
            "publish": "/v1.1/instances/chan-inst/channels/channel/publish/",
            "history": "/v1.1/instances/chan-inst/channels/channel/history/",
        })
    );
}

/// Builtins come first; the filter is a case-insensitive literal prefix.
async fn builtins_come_first_and_the_name_filter_is_a_literal_prefix(app: TestApp) {
    let (admin, _) = channel(&app).await;
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
}

async fn builtin_default_channel_has_rooms_and_custom_publish(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    let builtin = app
        .as_key(&admin, "GET", &format!("{CH}default/"), None)
        .await;
    assert_eq!(
        (&builtin.body["type"], &builtin.body["custom_publish"]),
        (&json!("separate_rooms"), &json!(true))
    );
}

async fn channel_name_must_be_unique(app: TestApp) {
    let (admin, _) = channel(&app).await;
    let r = create_channel(&app, &admin, json!({"name": "channel"})).await;
    assert_eq!(r, json!({"name": ["This field must be unique."]}));
}

async fn invalid_channel_fields_are_reported_together(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    let body = json!({"name": "9bad.", "type": "rooms", "other_permissions": "write", "group": 99});
    let r = app.as_key(&admin, "POST", CH, Some(body)).await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({
            "name": ["Value has to start with a letter.", "Value has to end with a letter or a number.",
                     "Enter a valid value consisting of letters, numbers, underscores or hyphens."],
            "type": ["\"rooms\" is not a valid choice."],
            "other_permissions": ["\"write\" is not a valid choice."],
            "group": ["Invalid pk \"99\" - object does not exist."],
        })
    );
}

async fn channel_name_is_required(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    let r = create_channel(&app, &admin, json!({})).await;
    assert_eq!(r, json!({"name": ["This field is required."]}));
}

async fn stored_integers_are_accepted_for_choices(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    let body = json!({"name": "numeric", "type": 1, "other_permissions": "2"});
    let r = create_channel(&app, &admin, body).await;
    assert_eq!(
        (&r["type"], &r["other_permissions"]),
        (&json!("separate_rooms"), &json!("publish"))
    );
}

/// PATCH changes only what is sent; name and type are read-only.
async fn channel_patch_changes_only_what_is_sent(app: TestApp) {
    let (admin, _) = channel(&app).await;
    let body = json!({"other_permissions": "subscribe", "name": "other", "type": "default"});
    let r = app
        .as_key(&admin, "PATCH", &format!("{CH}channel/"), Some(body))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (
            &r["name"],
            &r["type"],
            &r["other_permissions"],
            &r["custom_publish"],
            &r["description"]
        ),
        (
            &json!("channel"),
            &json!("separate_rooms"),
            &json!("subscribe"),
            &json!(true),
            &json!("d")
        )
    );
}

/// PUT resets custom_publish and permissions, keeps the description.
async fn channel_put_resets_custom_publish_and_permissions(app: TestApp) {
    let (admin, _) = channel(&app).await;
    let item = format!("{CH}channel/");
    let body = json!({"other_permissions": "subscribe"});
    app.as_key(&admin, "PATCH", &item, Some(body))
        .await
        .expect(StatusCode::OK);
    let r = app.as_key(&admin, "PUT", &item, Some(json!({}))).await;
    assert_eq!(
        (
            &r.body["other_permissions"],
            &r.body["custom_publish"],
            &r.body["description"]
        ),
        (&json!("none"), &json!(false), &json!("d"))
    );
}

async fn builtin_channels_cannot_be_deleted(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    for name in ["default", "eventlog"] {
        app.as_key(&admin, "DELETE", &format!("{CH}{name}/"), None)
            .await
            .expect(StatusCode::FORBIDDEN);
    }
}

async fn deleted_channel_is_gone_and_its_name_free(app: TestApp) {
    let (admin, _) = channel(&app).await;
    let item = format!("{CH}channel/");
    app.as_key(&admin, "DELETE", &item, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let r = app.as_key(&admin, "GET", &item, None).await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    app.as_key(&admin, "POST", CH, Some(json!({"name": "channel"})))
        .await
        .expect(StatusCode::CREATED);
}

/// Keys (plain, anonymous-read, ignore_acl), users alice (in the group) and bob, and
/// channels grp-pub and grp-sub (for the group), open (others subscribe) and closed.
struct Access {
    admin: String,
    key: String,
    anon: String,
    acl: String,
    alice_key: String,
    bob_key: String,
    group: i64,
}

async fn access(app: &TestApp) -> Access {
    let admin = app.admin_with_instance("chan-inst").await;
    let key = app.api_key(&admin, "chan-inst", json!({})).await;
    let anon = app
        .api_key(&admin, "chan-inst", json!({"allow_anonymous_read": true}))
        .await;
    let acl = app
        .api_key(&admin, "chan-inst", json!({"ignore_acl": true}))
        .await;
    let (alice, alice_key) = store_user(app, "chan-inst", "alice").await;
    let (_bob, bob_key) = store_user(app, "chan-inst", "bob").await;
    let group = store_group(app, "chan-inst", &[alice]).await;
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
        app.as_key(&admin, "POST", CH, Some(body))
            .await
            .expect(StatusCode::CREATED);
    }
    Access {
        admin,
        key,
        anon,
        acl,
        alice_key,
        bob_key,
        group,
    }
}

fn forbidden() -> Value {
    json!({"detail": "You do not have permission to perform this action."})
}

async fn channel_links_its_group(app: TestApp) {
    let a = access(&app).await;
    let r = app
        .as_key(&a.admin, "GET", &format!("{CH}grp-pub/"), None)
        .await;
    assert_eq!(
        r.body["links"]["group"],
        format!("/v1.1/instances/chan-inst/groups/{}/", a.group)
    );
}

async fn plain_key_and_no_key_see_no_channels(app: TestApp) {
    let a = access(&app).await;
    let r = app.as_key(&a.key, "GET", CH, None).await;
    assert_eq!(r.expect_json(StatusCode::FORBIDDEN), forbidden());
    app.call("GET", CH, &[], None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn users_list_channels_they_or_their_groups_may_subscribe_to(app: TestApp) {
    let a = access(&app).await;
    let r = app.as_user(&a.key, &a.alice_key, "GET", CH, None).await;
    assert_eq!(names(&r.body), ["grp-pub", "grp-sub", "open"]);
    let r = app.as_user(&a.key, &a.bob_key, "GET", CH, None).await;
    assert_eq!(names(&r.body), ["open"]);
}

/// Detail is not filtered: a channel the user can't subscribe to is 403, not 404.
async fn channel_detail_is_forbidden_rather_than_hidden(app: TestApp) {
    let a = access(&app).await;
    let r = app
        .as_user(&a.key, &a.bob_key, "GET", &format!("{CH}closed/"), None)
        .await;
    assert_eq!(r.expect_json(StatusCode::FORBIDDEN), forbidden());
    app.as_user(&a.key, &a.bob_key, "GET", &format!("{CH}missing/"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

/// Anonymous-read keys list and read channels open to others, and write none. Rivia
/// differs from Syncano (README, Security): a closed channel is refused, whose detail,
/// history and poll Syncano let such a (public) key read.
async fn anonymous_read_key_lists_open_channels_and_writes_none(app: TestApp) {
    let a = access(&app).await;
    let r = app.as_key(&a.anon, "GET", CH, None).await;
    assert_eq!(names(&r.body), ["open"]);
    app.as_key(&a.anon, "GET", &format!("{CH}open/"), None)
        .await
        .expect(StatusCode::OK);
    for path in ["closed/", "closed/history/", "closed/poll/"] {
        app.as_key(&a.anon, "GET", &format!("{CH}{path}"), None)
            .await
            .expect(StatusCode::FORBIDDEN);
    }
    app.as_key(&a.anon, "POST", CH, Some(json!({"name": "x1"})))
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn ignore_acl_key_sees_and_manages_every_channel(app: TestApp) {
    let a = access(&app).await;
    let r = app.as_key(&a.acl, "GET", CH, None).await;
    assert_eq!(r.body["objects"].as_array().map(Vec::len), Some(6));
    app.as_key(&a.acl, "POST", CH, Some(json!({"name": "by-acl"})))
        .await
        .expect(StatusCode::CREATED);
}

/// QUIRK: any user may create a channel.
async fn any_user_may_create_a_channel(app: TestApp) {
    let a = access(&app).await;
    let body = json!({"name": "bobs"});
    app.as_user(&a.key, &a.bob_key, "POST", CH, Some(body))
        .await
        .expect(StatusCode::CREATED);
}

/// Syncano let a user with subscribe permission update and delete a channel; Rivia does
/// not (issue #13, README Security).
async fn users_with_subscribe_permission_may_not_update_or_delete(app: TestApp) {
    let a = access(&app).await;
    let body = json!({"description": "bob was here"});
    let open = format!("{CH}open/");
    app.as_user(&a.key, &a.bob_key, "PATCH", &open, Some(body))
        .await
        .expect(StatusCode::FORBIDDEN);
    let grp_sub = format!("{CH}grp-sub/");
    app.as_user(&a.key, &a.bob_key, "DELETE", &grp_sub, None)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_user(&a.key, &a.alice_key, "DELETE", &grp_sub, None)
        .await
        .expect(StatusCode::FORBIDDEN);
}
