//! Users (spec-core §7.1–§7.3): the list against the reference page, create and
//! validation, update, key reset, delete, user login and self access, and what keys and
//! users may do. Groups and memberships are in `groups.rs`.

use crate::both_backends;
use crate::helpers::{Response, TestApp, redact};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    users_list_matches_the_reference_page,
    users_list_errors_match_the_reference_page,
    users_list_pages_and_filters_by_username,
    user_create_echoes_the_username_and_owns_its_profile,
    user_reads_return_the_lowercase_username,
    username_must_be_unique_whatever_its_case,
    blank_username_and_password_are_refused,
    password_is_limited_to_128_characters,
    invalid_profile_fails_the_whole_create,
    user_patch_keeps_profile_permissions,
    user_put_requires_a_password,
    user_put_resets_profile_permissions,
    reset_user_key_replaces_it,
    deleted_user_is_gone_and_its_username_free,
    wrong_password_is_refused,
    unknown_username_is_refused,
    user_reads_and_updates_itself,
    user_endpoint_needs_a_user_key,
    user_cannot_delete_itself,
    deleted_users_key_stops_working,
    plain_key_cannot_create_or_list_users,
    user_lists_and_reads_only_itself,
    user_cannot_delete_but_may_rename_itself,
    user_key_of_another_instance_is_ignored,
    key_of_another_instance_never_reaches_this_one,
    read_role_admin_reads_users_but_cannot_create,
);

fn reference_page() -> Value {
    let text = include_str!("fixtures/users-list.json");
    let seed: Value = serde_json::from_str(text).expect("seed json");
    seed["examples"].clone()
}

/// Creates the reference example: instance `rivia`, geralt (in group witchers), ciri, triss.
pub(crate) async fn reference_instance(app: &TestApp) -> String {
    let admin = app.admin_with_instance("rivia").await;
    for name in ["geralt", "ciri", "triss"] {
        app.as_key(
            &admin,
            "POST",
            "/v1.1/instances/rivia/users/",
            Some(json!({"username": name, "password": "pw"})),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/rivia/groups/",
        Some(json!({"label": "witchers"})),
    )
    .await
    .expect(StatusCode::CREATED);
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/rivia/users/1/groups/",
        Some(json!({"group": 1})),
    )
    .await
    .expect(StatusCode::CREATED);
    admin
}

async fn users_list_matches_the_reference_page(app: TestApp) {
    let admin = reference_instance(&app).await;
    let r = app
        .as_key(&admin, "GET", "/v1.1/instances/rivia/users/", None)
        .await;
    let body = r.expect_json(StatusCode::OK);
    let mut expected = reference_page()["200"].clone();
    // The reference instance had created three other objects before triss's profile; this
    // one has not, so her profile is object 3 rather than 6.
    expected["objects"][2]["profile"]["id"] = json!(3);
    expected["objects"][2]["profile"]["links"]["self"] =
        json!("/v1.1/instances/rivia/classes/user_profile/objects/3/");
    expected["objects"][2]["links"]["profile"] =
        json!("/v1.1/instances/rivia/classes/user_profile/objects/3/");
    // The reference group predates group names; Rivia includes `name` (null) as the spec does.
    expected["objects"][0]["groups"][0]["name"] = json!(null);
    assert_eq!(redact(&body), redact(&expected));
    for user in body["objects"].as_array().expect("objects") {
        let key = user["user_key"].as_str().expect("key");
        assert_eq!(key.len(), 40);
        assert!(user["profile"]["created_at"].as_str().expect("ts").len() == 27);
    }
}

async fn users_list_errors_match_the_reference_page(app: TestApp) {
    let admin = reference_instance(&app).await;
    let r = app
        .as_key(&"1".repeat(40), "GET", "/v1.1/instances/rivia/users/", None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::FORBIDDEN),
        reference_page()["403"]
    );
    let r = app
        .as_key(&admin, "GET", "/v1.1/instances/witcher3/users/", None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        reference_page()["404"]
    );
}

async fn users_list_pages_and_filters_by_username(app: TestApp) {
    let admin = reference_instance(&app).await;
    let users = "/v1.1/instances/rivia/users/";
    let r = app
        .as_key(&admin, "GET", &format!("{users}?page_size=2"), None)
        .await;
    assert_eq!(
        r.body["next"],
        "/v1.1/instances/rivia/users/?page_size=2&direction=1&last_pk=2"
    );
    let url = format!("{users}?username__startswith=TR");
    let r = app.as_key(&admin, "GET", &url, None).await;
    assert_eq!(r.body["objects"].as_array().expect("objects").len(), 1);
    assert_eq!(r.body["objects"][0]["username"], "triss");
}

const CRUD: &str = "/v1.1/instances/crud-users/users/";

/// Instance `crud-users` with user `Yennefer` (profile readable by others):
/// (admin key, the user's URL, the created user's JSON).
async fn yennefer(app: &TestApp) -> (String, String, Value) {
    let admin = app.admin_with_instance("crud-users").await;
    let body = json!({"username": "Yennefer", "password": "lilac", "profile": {"other_permissions": "read"}});
    let user = app
        .as_key(&admin, "POST", CRUD, Some(body))
        .await
        .expect_json(StatusCode::CREATED);
    let url = format!("{CRUD}{}/", user["id"].as_i64().expect("id"));
    (admin, url, user)
}

async fn create_user(app: &TestApp, admin: &str, body: Value) -> Response {
    app.as_key(admin, "POST", CRUD, Some(body)).await
}

async fn user_create_echoes_the_username_and_owns_its_profile(app: TestApp) {
    let (_, _, user) = yennefer(&app).await;
    assert_eq!(
        user["username"], "Yennefer",
        "create echoes the username as sent"
    );
    assert_eq!(user["profile"]["other_permissions"], "read");
    assert_eq!(user["profile"]["owner"], user["id"]);
    assert!(user.get("password").is_none());
}

async fn user_reads_return_the_lowercase_username(app: TestApp) {
    let (admin, url, _) = yennefer(&app).await;
    let r = app.as_key(&admin, "GET", &url, None).await;
    assert_eq!(
        r.body["username"], "yennefer",
        "reads return the stored lowercase form"
    );
}

async fn username_must_be_unique_whatever_its_case(app: TestApp) {
    let (admin, _, _) = yennefer(&app).await;
    let r = create_user(
        &app,
        &admin,
        json!({"username": "YENNEFER", "password": "x"}),
    )
    .await;
    assert_eq!(r.body, json!({"username": ["This field must be unique."]}));
}

async fn blank_username_and_password_are_refused(app: TestApp) {
    let (admin, _, _) = yennefer(&app).await;
    let r = create_user(&app, &admin, json!({"username": "", "password": ""})).await;
    assert_eq!(
        r.body,
        json!({"username": ["This field may not be blank."], "password": ["This field may not be blank."]})
    );
}

async fn password_is_limited_to_128_characters(app: TestApp) {
    let (admin, _, _) = yennefer(&app).await;
    let body = json!({"username": "x", "password": "p".repeat(129)});
    let r = create_user(&app, &admin, body).await;
    assert_eq!(
        r.body,
        json!({"password": ["Ensure this field has no more than 128 characters."]})
    );
}

async fn invalid_profile_fails_the_whole_create(app: TestApp) {
    let (admin, _, _) = yennefer(&app).await;
    let body = json!({"username": "bad", "password": "p", "profile": {"group_permissions": "wrong_choice"}});
    let r = create_user(&app, &admin, body).await;
    assert_eq!(
        r.body,
        json!({"profile": {"group_permissions": ["\"wrong_choice\" is not a valid choice."]}})
    );
    let url = format!("{CRUD}?username__startswith=bad");
    assert_eq!(
        app.as_key(&admin, "GET", &url, None).await.json()["objects"],
        json!([]),
        "nothing half-written"
    );
}

async fn user_patch_keeps_profile_permissions(app: TestApp) {
    let (admin, url, _) = yennefer(&app).await;
    let r = app
        .as_key(
            &admin,
            "PATCH",
            &url,
            Some(json!({"profile": {"group_permissions": "write"}})),
        )
        .await;
    assert_eq!(
        (
            r.body["profile"]["group_permissions"].clone(),
            r.body["profile"]["other_permissions"].clone()
        ),
        (json!("write"), json!("read"))
    );
}

async fn user_put_requires_a_password(app: TestApp) {
    let (admin, url, _) = yennefer(&app).await;
    let body = json!({"username": "yen", "profile": {}});
    let r = app.as_key(&admin, "PUT", &url, Some(body)).await;
    assert_eq!(r.body, json!({"password": ["This field is required."]}));
}

async fn user_put_resets_profile_permissions(app: TestApp) {
    let (admin, url, _) = yennefer(&app).await;
    let body = json!({"username": "Yen", "password": "new", "profile": {}});
    let r = app
        .as_key(&admin, "PUT", &url, Some(body))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (
            r["username"].clone(),
            r["profile"]["other_permissions"].clone()
        ),
        (json!("Yen"), json!("none"))
    );
}

async fn reset_user_key_replaces_it(app: TestApp) {
    let (admin, url, user) = yennefer(&app).await;
    let old_key = user["user_key"].as_str().expect("key");
    let r = app
        .as_key(&admin, "POST", &format!("{url}reset_key/"), None)
        .await;
    assert_ne!(r.body["user_key"].as_str().expect("key"), old_key);
}

async fn deleted_user_is_gone_and_its_username_free(app: TestApp) {
    let (admin, url, _) = yennefer(&app).await;
    app.as_key(&admin, "DELETE", &url, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "GET", &url, None)
        .await
        .expect(StatusCode::NOT_FOUND);
    create_user(
        &app,
        &admin,
        json!({"username": "yennefer", "password": "p"}),
    )
    .await
    .expect(StatusCode::CREATED);
}

const AUTH: &str = "/v1.1/instances/login-app/user/auth/";
const ME: &str = "/v1.1/instances/login-app/user/";

/// Instance `login-app`, a key that may create users, and user `Ciri` created with it
/// and logged in as `CIRI`: (admin key, API key, user key).
async fn ciri(app: &TestApp) -> (String, String, String) {
    let admin = app.admin_with_instance("login-app").await;
    let key = app
        .api_key(&admin, "login-app", json!({"allow_user_create": true}))
        .await;
    app.as_key(
        &key,
        "POST",
        "/v1.1/instances/login-app/users/",
        Some(json!({"username": "Ciri", "password": "swallow"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let body = json!({"username": "CIRI", "password": "swallow", "instance_name": "login-app"});
    let r = app
        .as_key(&key, "POST", AUTH, Some(body))
        .await
        .expect_json(StatusCode::OK);
    let user_key = r["user_key"].as_str().expect("user_key").to_string();
    (admin, key, user_key)
}

async fn wrong_password_is_refused(app: TestApp) {
    let (_, key, _) = ciri(&app).await;
    let body = json!({"username": "ciri", "password": "x"});
    let r = app.as_key(&key, "POST", AUTH, Some(body)).await;
    assert_eq!(
        r.expect_json(StatusCode::UNAUTHORIZED),
        json!({"detail": "Invalid password."})
    );
}

async fn unknown_username_is_refused(app: TestApp) {
    let (_, key, _) = ciri(&app).await;
    let body = json!({"username": "nobody", "password": "x"});
    let r = app.as_key(&key, "POST", AUTH, Some(body)).await;
    assert_eq!(
        r.expect_json(StatusCode::UNAUTHORIZED),
        json!({"detail": "Invalid username."})
    );
}

async fn user_reads_and_updates_itself(app: TestApp) {
    let (_, key, user_key) = ciri(&app).await;
    let me = app.as_user(&key, &user_key, "GET", ME, None).await;
    assert_eq!(me.expect_json(StatusCode::OK)["username"], json!("ciri"));
    let body = json!({"profile": {"other_permissions": "read"}});
    let r = app.as_user(&key, &user_key, "PATCH", ME, Some(body)).await;
    assert_eq!(r.body["profile"]["other_permissions"], "read");
}

async fn user_endpoint_needs_a_user_key(app: TestApp) {
    let (_, key, _) = ciri(&app).await;
    app.as_key(&key, "GET", ME, None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn user_cannot_delete_itself(app: TestApp) {
    let (_, key, user_key) = ciri(&app).await;
    app.as_user(&key, &user_key, "DELETE", ME, None)
        .await
        .expect(StatusCode::METHOD_NOT_ALLOWED);
}

async fn deleted_users_key_stops_working(app: TestApp) {
    let (admin, key, user_key) = ciri(&app).await;
    let me = app.as_user(&key, &user_key, "GET", ME, None).await.json();
    app.as_key(
        &admin,
        "DELETE",
        &format!("/v1.1/instances/login-app/users/{}/", me["id"]),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.as_user(&key, &user_key, "GET", ME, None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

const PERMS: &str = "/v1.1/instances/perms/users/";

/// Instances `perms` and `perms-other`, keys of both, and users a and b in `perms`.
struct Perms {
    admin: String,
    plain: String,
    other_key: String,
    a_id: i64,
    a_key: String,
    b_id: i64,
}

async fn perms(app: &TestApp) -> Perms {
    let admin = app.admin_with_instance("perms").await;
    app.instance(&admin, "perms-other").await;
    let plain = app.api_key(&admin, "perms", json!({})).await;
    let acl = app
        .api_key(&admin, "perms", json!({"ignore_acl": true}))
        .await;
    let other_key = app
        .api_key(&admin, "perms-other", json!({"ignore_acl": true}))
        .await;
    let mut keys = vec![];
    for name in ["a", "b"] {
        let body = json!({"username": name, "password": "p"});
        let r = app
            .as_key(&acl, "POST", PERMS, Some(body))
            .await
            .expect_json(StatusCode::CREATED);
        keys.push((
            r["id"].as_i64().expect("id"),
            r["user_key"].as_str().expect("key").to_string(),
        ));
    }
    let (a_id, a_key) = keys[0].clone();
    Perms {
        admin,
        plain,
        other_key,
        a_id,
        a_key,
        b_id: keys[1].0,
    }
}

async fn plain_key_cannot_create_or_list_users(app: TestApp) {
    let p = perms(&app).await;
    let body = json!({"username": "c", "password": "p"});
    app.as_key(&p.plain, "POST", PERMS, Some(body))
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(&p.plain, "GET", PERMS, None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn user_lists_and_reads_only_itself(app: TestApp) {
    let p = perms(&app).await;
    let list = app.as_user(&p.plain, &p.a_key, "GET", PERMS, None).await;
    let ids: Vec<i64> = list.body["objects"]
        .as_array()
        .expect("list")
        .iter()
        .map(|u| u["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![p.a_id], "a user lists only itself");
    let b = format!("{PERMS}{}/", p.b_id);
    app.as_user(&p.plain, &p.a_key, "GET", &b, None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn user_cannot_delete_but_may_rename_itself(app: TestApp) {
    let p = perms(&app).await;
    let me = format!("{PERMS}{}/", p.a_id);
    app.as_user(&p.plain, &p.a_key, "DELETE", &me, None)
        .await
        .expect(StatusCode::FORBIDDEN);
    let body = json!({"username": "aa"});
    let r = app
        .as_user(&p.plain, &p.a_key, "PATCH", &me, Some(body))
        .await;
    assert_eq!(r.body["username"], "aa");
}

/// The request proceeds as the bare key, which may not read `/user/`.
async fn user_key_of_another_instance_is_ignored(app: TestApp) {
    let p = perms(&app).await;
    let me = "/v1.1/instances/perms-other/user/";
    app.as_user(&p.other_key, &p.a_key, "GET", me, None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn key_of_another_instance_never_reaches_this_one(app: TestApp) {
    let p = perms(&app).await;
    let r = app.as_key(&p.other_key, "GET", PERMS, None).await;
    assert_eq!(r.body, json!({"detail": "No such API Key."}));
}

async fn read_role_admin_reads_users_but_cannot_create(app: TestApp) {
    let p = perms(&app).await;
    let reader = app.admin("reader@example.com").await;
    app.as_key(
        &p.admin,
        "POST",
        "/v1.1/instances/perms/invitations/",
        Some(json!({"email": "reader@example.com", "role": "read"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let inv = app
        .as_key(&reader, "GET", "/v1.1/account/invitations/", None)
        .await;
    let key = inv.body["objects"][0]["key"].clone();
    app.as_key(
        &reader,
        "POST",
        "/v1.1/account/invitations/accept/",
        Some(json!({"invitation_key": key})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.as_key(&reader, "GET", PERMS, None)
        .await
        .expect(StatusCode::OK);
    let body = json!({"username": "z", "password": "p"});
    app.as_key(&reader, "POST", PERMS, Some(body))
        .await
        .expect(StatusCode::FORBIDDEN);
}
