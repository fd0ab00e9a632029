//! Issue #13 §1: a `read` admin cannot become `full` through invitations (keys are shown
//! only to admins who may invite; a key never raises the role of an admin already in the
//! instance unless it is addressed to them), and a channel's subscribers cannot change or
//! delete it.

use crate::both_backends;
use crate::helpers::{TestApp, store_user};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    read_admin_sees_invitations_without_keys,
    member_cannot_accept_an_invitation_addressed_to_another,
    member_accepts_an_invitation_addressed_to_them,
    subscriber_cannot_change_or_delete_a_channel,
    ignore_acl_key_and_write_admin_manage_channels,
);

const INST: &str = "guarded";
const INVITATIONS: &str = "/v1.1/instances/guarded/invitations/";
const ACCEPT: &str = "/v1.1/account/invitations/accept/";

async fn invite(app: &TestApp, owner: &str, email: &str, role: &str) -> Value {
    app.as_key(
        owner,
        "POST",
        INVITATIONS,
        Some(json!({"email": email, "role": role})),
    )
    .await
    .expect_json(StatusCode::CREATED)
}

fn key_of(invitation: &Value) -> String {
    invitation["key"].as_str().expect("key").to_string()
}

async fn accept(app: &TestApp, admin: &str, key: &str) -> crate::helpers::Response {
    app.as_key(admin, "POST", ACCEPT, Some(json!({"invitation_key": key})))
        .await
}

/// The role of `email` in the instance, as its admins list shows it.
async fn role_of(app: &TestApp, owner: &str, email: &str) -> String {
    let admins = app
        .as_key(
            owner,
            "GET",
            &format!("/v1.1/instances/{INST}/admins/"),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    admins["objects"]
        .as_array()
        .expect("admins")
        .iter()
        .find(|a| a["email"] == email)
        .map(|a| a["role"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

/// The owner and `reader@example.com`, a `read` admin of the instance: (owner, reader).
async fn with_reader(app: &TestApp) -> (String, String) {
    let owner = app.admin_with_instance(INST).await;
    let reader = app.admin("reader@example.com").await;
    let inv = invite(app, &owner, "reader@example.com", "read").await;
    accept(app, &reader, &key_of(&inv))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(role_of(app, &owner, "reader@example.com").await, "read");
    (owner, reader)
}

async fn read_admin_sees_invitations_without_keys(app: TestApp) {
    let (owner, reader) = with_reader(&app).await;
    let inv = invite(&app, &owner, "victim@example.com", "full").await;
    let list = app
        .as_key(&reader, "GET", INVITATIONS, None)
        .await
        .expect_json(StatusCode::OK);
    let listed = list["objects"]
        .as_array()
        .expect("invitations")
        .iter()
        .find(|v| v["email"] == "victim@example.com")
        .expect("listed");
    assert!(listed.get("key").is_none(), "{listed}");
    let one = app
        .as_key(
            &reader,
            "GET",
            &format!("{INVITATIONS}{}/", inv["id"]),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert!(one.get("key").is_none(), "{one}");
    assert!(!list.to_string().contains(&key_of(&inv)));
    // The owner, who may invite, still sees it.
    let own = app
        .as_key(&owner, "GET", INVITATIONS, None)
        .await
        .expect_json(StatusCode::OK);
    let own = own["objects"].as_array().expect("invitations");
    assert!(own.iter().any(|v| v["key"] == inv["key"]));
}

async fn member_cannot_accept_an_invitation_addressed_to_another(app: TestApp) {
    let (owner, reader) = with_reader(&app).await;
    // Say the reader learnt the key anyway.
    let inv = invite(&app, &owner, "victim@example.com", "full").await;
    let r = accept(&app, &reader, &key_of(&inv)).await;
    r.expect(StatusCode::BAD_REQUEST);
    assert!(r.body["invitation_key"].is_string(), "{:?}", r.body);
    assert_eq!(role_of(&app, &owner, "reader@example.com").await, "read");
    // The invitation is still there for its addressee.
    let victim = app.admin("victim@example.com").await;
    accept(&app, &victim, &key_of(&inv))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(role_of(&app, &owner, "victim@example.com").await, "full");
}

async fn member_accepts_an_invitation_addressed_to_them(app: TestApp) {
    let owner = app.admin_with_instance(INST).await;
    let guest = app.admin("guest@example.com").await;
    // Guest joins through a key addressed to somebody else (the key is a capability),
    // then accepts the one addressed to them.
    let theirs = invite(&app, &owner, "other@example.com", "read").await;
    let mine = invite(&app, &owner, "guest@example.com", "full").await;
    accept(&app, &guest, &key_of(&theirs))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(role_of(&app, &owner, "guest@example.com").await, "read");
    accept(&app, &guest, &key_of(&mine))
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(role_of(&app, &owner, "guest@example.com").await, "full");
}

fn channel(name: &str) -> String {
    format!("/v1.1/instances/{INST}/channels/{name}/")
}

/// Channel `room` that every user may subscribe to (and publish to): (owner, API key,
/// a user's key).
async fn open_channel(app: &TestApp) -> (String, String, String) {
    let owner = app.admin_with_instance(INST).await;
    app.as_key(
        &owner,
        "POST",
        &format!("/v1.1/instances/{INST}/channels/"),
        Some(json!({"name": "room", "other_permissions": "publish", "custom_publish": false})),
    )
    .await
    .expect(StatusCode::CREATED);
    let api_key = app.api_key(&owner, INST, json!({})).await;
    let (_, user) = store_user(app, INST, "sub").await;
    (owner, api_key, user)
}

async fn subscriber_cannot_change_or_delete_a_channel(app: TestApp) {
    let (owner, api_key, user) = open_channel(&app).await;
    // The user may read the channel…
    app.as_user(&api_key, &user, "GET", &channel("room"), None)
        .await
        .expect(StatusCode::OK);
    // …but not change or delete it.
    for (method, body) in [
        (
            "PATCH",
            Some(json!({"custom_publish": true, "other_permissions": "none"})),
        ),
        (
            "PUT",
            Some(json!({"name": "room", "other_permissions": "none"})),
        ),
        ("DELETE", None),
    ] {
        app.as_user(&api_key, &user, method, &channel("room"), body)
            .await
            .expect(StatusCode::FORBIDDEN);
    }
    let after = app
        .as_key(&owner, "GET", &channel("room"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (
            after["other_permissions"].clone(),
            after["custom_publish"].clone()
        ),
        (json!("publish"), json!(false))
    );
}

async fn ignore_acl_key_and_write_admin_manage_channels(app: TestApp) {
    let (owner, _, _) = open_channel(&app).await;
    let full_key = app.api_key(&owner, INST, json!({"ignore_acl": true})).await;
    app.as_key(
        &full_key,
        "PATCH",
        &channel("room"),
        Some(json!({"custom_publish": true})),
    )
    .await
    .expect(StatusCode::OK);
    app.as_key(&full_key, "DELETE", &channel("room"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
}
