//! Data-object permissions (spec-core §9.5): what users, groups and API keys may read
//! and write, the class gate, and user profiles.

use crate::both_backends;
use crate::helpers::{TestApp, store_group, store_user};
use crate::objects_common::{INST, class_url, ids, make_class, object, objects, pub_class, setup};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    owner_is_forced_to_the_creating_user,
    users_may_only_use_their_own_groups,
    users_see_only_objects_they_may_read,
    group_write_permits_edits_with_capped_permissions,
    only_the_owner_may_change_the_owner_or_delete,
    others_read_what_other_permissions_allow_and_the_owner_deletes,
    read_only_class_forbids_creating,
    user_profiles_cannot_be_created_deleted_or_given_away,
    plain_api_key_cannot_list_objects,
    anonymous_read_key_lists_objects_others_may_read,
    anonymous_key_cannot_create_objects,
    ignore_acl_key_reads_and_creates_everything,
    request_without_a_key_is_forbidden,
    unknown_class_is_reported_without_a_key,
);

/// Users alice, bob (both in group `team`) and carol, class `notes`, alice's private
/// note and her team note (group write).
struct Notes {
    key: String,
    api_key: String,
    bob: i64,
    akey: String,
    bkey: String,
    ckey: String,
    team: i64,
    private: Value,
    shared: Value,
}

async fn notes(app: &TestApp) -> Notes {
    let key = setup(app).await;
    let api_key = app.api_key(&key, INST, json!({})).await;
    let (alice, akey) = store_user(app, INST, "alice").await;
    let (bob, bkey) = store_user(app, INST, "bob").await;
    let (_carol, ckey) = store_user(app, INST, "carol").await;
    let team = store_group(app, INST, &[alice, bob]).await;
    make_class(
        app,
        &key,
        json!({"name": "notes", "schema": [{"name": "text", "type": "string"}]}),
    )
    .await;
    let private = app
        .as_user(
            &api_key,
            &akey,
            "POST",
            &objects("notes"),
            Some(json!({"text": "mine", "owner": bob})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    assert_eq!(private["owner"], alice, "owner forced to the caller");
    let shared = app
        .as_user(
            &api_key,
            &akey,
            "POST",
            &objects("notes"),
            Some(json!({"text": "team", "group": team, "group_permissions": "write"})),
        )
        .await
        .json();
    Notes {
        key,
        api_key,
        bob,
        akey,
        bkey,
        ckey,
        team,
        private: private["id"].clone(),
        shared: shared["id"].clone(),
    }
}

/// Bob edits the team note and tries to open it to everybody (capped to write).
async fn bob_edits_the_team_note(app: &TestApp, n: &Notes) -> Value {
    app.as_user(
        &n.api_key,
        &n.bkey,
        "PATCH",
        &object("notes", &n.shared),
        Some(json!({"text": "edited", "other_permissions": "full"})),
    )
    .await
    .expect_json(StatusCode::OK)
}

async fn owner_is_forced_to_the_creating_user(app: TestApp) {
    // `notes` asserts it: alice's note names bob as owner and gets alice.
    notes(&app).await;
}

async fn users_may_only_use_their_own_groups(app: TestApp) {
    let n = notes(&app).await;
    let bad_group = app
        .as_user(
            &n.api_key,
            &n.ckey,
            "POST",
            &objects("notes"),
            Some(json!({"group": n.team})),
        )
        .await;
    assert_eq!(
        bad_group.body,
        json!({"group": ["Invalid group specified."]})
    );
}

/// Bob sees the group object only; carol sees nothing.
async fn users_see_only_objects_they_may_read(app: TestApp) {
    let n = notes(&app).await;
    let bob_list = app
        .as_user(&n.api_key, &n.bkey, "GET", &objects("notes"), None)
        .await;
    assert_eq!(ids(&bob_list), vec![n.shared.as_i64().expect("id")]);
    let carol_list = app
        .as_user(&n.api_key, &n.ckey, "GET", &objects("notes"), None)
        .await;
    assert_eq!(ids(&carol_list), Vec::<i64>::new());
    app.as_user(
        &n.api_key,
        &n.bkey,
        "GET",
        &object("notes", &n.private),
        None,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}

async fn group_write_permits_edits_with_capped_permissions(app: TestApp) {
    let n = notes(&app).await;
    let r = bob_edits_the_team_note(&app, &n).await;
    assert_eq!(r["other_permissions"], "write");
}

async fn only_the_owner_may_change_the_owner_or_delete(app: TestApp) {
    let n = notes(&app).await;
    let url = object("notes", &n.shared);
    let owner_change = app
        .as_user(
            &n.api_key,
            &n.bkey,
            "PATCH",
            &url,
            Some(json!({"owner": n.bob})),
        )
        .await;
    assert_eq!(
        owner_change.body,
        json!({"owner": ["Cannot change owner of Data Object."]})
    );
    app.as_user(&n.api_key, &n.bkey, "DELETE", &url, None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

/// With other=write everybody can read it: carol reads, alice (the owner) deletes.
async fn others_read_what_other_permissions_allow_and_the_owner_deletes(app: TestApp) {
    let n = notes(&app).await;
    bob_edits_the_team_note(&app, &n).await;
    let url = object("notes", &n.shared);
    app.as_user(&n.api_key, &n.ckey, "GET", &url, None)
        .await
        .expect(StatusCode::OK);
    app.as_user(&n.api_key, &n.akey, "DELETE", &url, None)
        .await
        .expect(StatusCode::NO_CONTENT);
}

async fn read_only_class_forbids_creating(app: TestApp) {
    let n = notes(&app).await;
    app.as_key(
        &n.key,
        "PATCH",
        &class_url("notes"),
        Some(json!({"other_permissions": "read"})),
    )
    .await
    .expect(StatusCode::OK);
    app.as_user(
        &n.api_key,
        &n.ckey,
        "POST",
        &objects("notes"),
        Some(json!({})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
}

/// Profiles: not creatable or deletable, owner unchangeable (alice's profile cannot go
/// to bob).
async fn user_profiles_cannot_be_created_deleted_or_given_away(app: TestApp) {
    let key = setup(&app).await;
    store_user(&app, INST, "alice").await;
    let (bob, _) = store_user(&app, INST, "bob").await;
    app.as_key(&key, "POST", &objects("user_profile"), Some(json!({})))
        .await
        .expect(StatusCode::FORBIDDEN);
    let profiles = app
        .as_key(&key, "GET", &objects("user_profile"), None)
        .await;
    let pid = profiles.body["objects"][0]["id"].clone();
    let profile_owner = app
        .as_key(
            &key,
            "PATCH",
            &object("user_profile", &pid),
            Some(json!({"owner": bob})),
        )
        .await;
    assert_eq!(
        profile_owner.body,
        json!({"owner": ["Cannot change owner of User Profile object."]})
    );
    app.as_key(&key, "DELETE", &object("user_profile", &pid), None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn plain_api_key_cannot_list_objects(app: TestApp) {
    let key = setup(&app).await;
    pub_class(&app, &key).await;
    let plain = app.api_key(&key, INST, json!({})).await;
    app.as_key(&plain, "GET", &objects("pub"), None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn anonymous_read_key_lists_objects_others_may_read(app: TestApp) {
    let key = setup(&app).await;
    let open = pub_class(&app, &key).await;
    let anon = app
        .api_key(&key, INST, json!({"allow_anonymous_read": true}))
        .await;
    let r = app.as_key(&anon, "GET", &objects("pub"), None).await;
    assert_eq!(ids(&r), vec![open]);
}

async fn anonymous_key_cannot_create_objects(app: TestApp) {
    let key = setup(&app).await;
    pub_class(&app, &key).await;
    let anon = app
        .api_key(&key, INST, json!({"allow_anonymous_read": true}))
        .await;
    app.as_key(&anon, "POST", &objects("pub"), Some(json!({})))
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn ignore_acl_key_reads_and_creates_everything(app: TestApp) {
    let key = setup(&app).await;
    pub_class(&app, &key).await;
    let acl = app.api_key(&key, INST, json!({"ignore_acl": true})).await;
    let r = app.as_key(&acl, "GET", &objects("pub"), None).await;
    assert_eq!(ids(&r).len(), 2);
    app.as_key(&acl, "POST", &objects("pub"), Some(json!({})))
        .await
        .expect(StatusCode::CREATED);
}

async fn request_without_a_key_is_forbidden(app: TestApp) {
    let key = setup(&app).await;
    pub_class(&app, &key).await;
    app.call("GET", &objects("pub"), &[], None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn unknown_class_is_reported_without_a_key(app: TestApp) {
    setup(&app).await;
    let unknown_class = app.call("GET", &objects("nope"), &[], None).await;
    assert_eq!(
        unknown_class.body,
        json!({"detail": "Class was not found."})
    );
}
