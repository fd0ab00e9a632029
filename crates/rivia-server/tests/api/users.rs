//! Users, groups, memberships and user login (spec-core §7).

use crate::both_backends;
use crate::helpers::{TestApp, redact};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    users_list_matches_the_reference_page,
    user_crud_and_validation,
    user_login_and_self_access,
    permissions_of_api_keys_and_users,
    groups_and_memberships,
    group_limit_and_membership_errors,
    users_list_shows_each_users_groups_in_id_order,
);

fn reference_page() -> Value {
    let text = include_str!("fixtures/users-list.json");
    let seed: Value = serde_json::from_str(text).expect("seed json");
    seed["examples"].clone()
}

/// Creates the reference example: instance `rivia`, geralt (in group witchers), ciri, triss.
async fn reference_instance(app: &TestApp) -> String {
    let admin = app.admin_with_instance("rivia").await;
    for name in ["geralt", "ciri", "triss"] {
        let r = app
            .as_key(
                &admin,
                "POST",
                "/v1.1/instances/rivia/users/",
                Some(json!({"username": name, "password": "pw"})),
            )
            .await;
        r.expect(StatusCode::CREATED);
    }
    let g = app
        .as_key(
            &admin,
            "POST",
            "/v1.1/instances/rivia/groups/",
            Some(json!({"label": "witchers"})),
        )
        .await;
    g.expect(StatusCode::CREATED);
    let m = app
        .as_key(
            &admin,
            "POST",
            "/v1.1/instances/rivia/users/1/groups/",
            Some(json!({"group": 1})),
        )
        .await;
    m.expect(StatusCode::CREATED);
    admin
}

async fn users_list_matches_the_reference_page(app: TestApp) {
    let admin = reference_instance(&app).await;
    let r = app
        .as_key(&admin, "GET", "/v1.1/instances/rivia/users/", None)
        .await;
    r.expect(StatusCode::OK);
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
    assert_eq!(redact(&r.body), redact(&expected));
    for user in r.body["objects"].as_array().expect("objects") {
        let key = user["user_key"].as_str().expect("key");
        assert_eq!(key.len(), 40);
        assert!(user["profile"]["created_at"].as_str().expect("ts").len() == 27);
    }
    // The error bodies of the reference page.
    let r = app
        .as_key(&"1".repeat(40), "GET", "/v1.1/instances/rivia/users/", None)
        .await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::FORBIDDEN, reference_page()["403"].clone())
    );
    let r = app
        .as_key(&admin, "GET", "/v1.1/instances/witcher3/users/", None)
        .await;
    assert_eq!(
        (r.status, r.body),
        (StatusCode::NOT_FOUND, reference_page()["404"].clone())
    );
    // Pagination and the username filter.
    let r = app
        .as_key(
            &admin,
            "GET",
            "/v1.1/instances/rivia/users/?page_size=2",
            None,
        )
        .await;
    assert_eq!(
        r.body["next"],
        "/v1.1/instances/rivia/users/?page_size=2&direction=1&last_pk=2"
    );
    let r = app
        .as_key(
            &admin,
            "GET",
            "/v1.1/instances/rivia/users/?username__startswith=TR",
            None,
        )
        .await;
    assert_eq!(r.body["objects"].as_array().expect("objects").len(), 1);
    assert_eq!(r.body["objects"][0]["username"], "triss");
}

async fn user_crud_and_validation(app: TestApp) {
    let admin = app.admin_with_instance("crud-users").await;
    let base = "/v1.1/instances/crud-users/users/";
    let r = app.as_key(&admin, "POST", base, Some(json!({"username": "Yennefer", "password": "lilac", "profile": {"other_permissions": "read"}}))).await;
    r.expect(StatusCode::CREATED);
    assert_eq!(
        r.body["username"], "Yennefer",
        "create echoes the username as sent"
    );
    assert_eq!(r.body["profile"]["other_permissions"], "read");
    assert_eq!(r.body["profile"]["owner"], r.body["id"]);
    assert!(r.body.get("password").is_none());
    let id = r.body["id"].as_i64().expect("id");
    let r = app
        .as_key(&admin, "GET", &format!("{base}{id}/"), None)
        .await;
    assert_eq!(
        r.body["username"], "yennefer",
        "reads return the stored lowercase form"
    );
    let r = app
        .as_key(
            &admin,
            "POST",
            base,
            Some(json!({"username": "YENNEFER", "password": "x"})),
        )
        .await;
    assert_eq!(r.body, json!({"username": ["This field must be unique."]}));
    let r = app
        .as_key(
            &admin,
            "POST",
            base,
            Some(json!({"username": "", "password": ""})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"username": ["This field may not be blank."], "password": ["This field may not be blank."]})
    );
    let r = app
        .as_key(
            &admin,
            "POST",
            base,
            Some(json!({"username": "x", "password": "p".repeat(129)})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"password": ["Ensure this field has no more than 128 characters."]})
    );
    let r = app.as_key(&admin, "POST", base, Some(json!({"username": "bad", "password": "p", "profile": {"group_permissions": "wrong_choice"}}))).await;
    assert_eq!(
        r.body,
        json!({"profile": {"group_permissions": ["\"wrong_choice\" is not a valid choice."]}})
    );
    assert_eq!(
        app.as_key(
            &admin,
            "GET",
            &format!("{base}?username__startswith=bad"),
            None
        )
        .await
        .body["objects"],
        json!([]),
        "nothing half-written"
    );
    // PATCH keeps, PUT resets the profile permissions.
    let r = app
        .as_key(
            &admin,
            "PATCH",
            &format!("{base}{id}/"),
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
    let r = app
        .as_key(
            &admin,
            "PUT",
            &format!("{base}{id}/"),
            Some(json!({"username": "yen", "profile": {}})),
        )
        .await;
    assert_eq!(r.body, json!({"password": ["This field is required."]}));
    let r = app
        .as_key(
            &admin,
            "PUT",
            &format!("{base}{id}/"),
            Some(json!({"username": "Yen", "password": "new", "profile": {}})),
        )
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(
        (
            r.body["username"].clone(),
            r.body["profile"]["other_permissions"].clone()
        ),
        (json!("Yen"), json!("none"))
    );
    let old_key = r.body["user_key"].as_str().expect("key").to_string();
    let r = app
        .as_key(&admin, "POST", &format!("{base}{id}/reset_key/"), None)
        .await;
    assert_ne!(r.body["user_key"].as_str().expect("key"), old_key);
    app.as_key(&admin, "DELETE", &format!("{base}{id}/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "GET", &format!("{base}{id}/"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
    // The username is free again.
    let r = app
        .as_key(
            &admin,
            "POST",
            base,
            Some(json!({"username": "yen", "password": "p"})),
        )
        .await;
    r.expect(StatusCode::CREATED);
}

async fn user_login_and_self_access(app: TestApp) {
    let admin = app.admin_with_instance("login-app").await;
    let key = app
        .api_key(&admin, "login-app", json!({"allow_user_create": true}))
        .await;
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/login-app/users/",
            Some(json!({"username": "Ciri", "password": "swallow"})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let body = json!({"username": "CIRI", "password": "swallow", "instance_name": "login-app"});
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/login-app/user/auth/",
            Some(body),
        )
        .await;
    r.expect(StatusCode::OK);
    let user_key = r.body["user_key"].as_str().expect("user_key").to_string();
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/login-app/user/auth/",
            Some(json!({"username": "ciri", "password": "x"})),
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::UNAUTHORIZED),
        json!({"detail": "Invalid password."})
    );
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/login-app/user/auth/",
            Some(json!({"username": "nobody", "password": "x"})),
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::UNAUTHORIZED),
        json!({"detail": "Invalid username."})
    );
    let me = app
        .as_user(
            &key,
            &user_key,
            "GET",
            "/v1.1/instances/login-app/user/",
            None,
        )
        .await;
    assert_eq!(
        (me.status, me.body["username"].clone()),
        (StatusCode::OK, json!("ciri"))
    );
    let r = app
        .as_user(
            &key,
            &user_key,
            "PATCH",
            "/v1.1/instances/login-app/user/",
            Some(json!({"profile": {"other_permissions": "read"}})),
        )
        .await;
    assert_eq!(r.body["profile"]["other_permissions"], "read");
    app.as_key(&key, "GET", "/v1.1/instances/login-app/user/", None)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_user(
        &key,
        &user_key,
        "DELETE",
        "/v1.1/instances/login-app/user/",
        None,
    )
    .await
    .expect(StatusCode::METHOD_NOT_ALLOWED);
    // A deleted user's key stops working.
    app.as_key(
        &admin,
        "DELETE",
        &format!("/v1.1/instances/login-app/users/{}/", me.body["id"]),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.as_user(
        &key,
        &user_key,
        "GET",
        "/v1.1/instances/login-app/user/",
        None,
    )
    .await
    .expect(StatusCode::FORBIDDEN);
}

async fn permissions_of_api_keys_and_users(app: TestApp) {
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
        let r = app
            .as_key(
                &acl,
                "POST",
                "/v1.1/instances/perms/users/",
                Some(json!({"username": name, "password": "p"})),
            )
            .await;
        r.expect(StatusCode::CREATED);
        keys.push((
            r.body["id"].as_i64().expect("id"),
            r.body["user_key"].as_str().expect("key").to_string(),
        ));
    }
    let (a_id, a_key) = keys[0].clone();
    let (b_id, _) = keys[1].clone();
    app.as_key(
        &plain,
        "POST",
        "/v1.1/instances/perms/users/",
        Some(json!({"username": "c", "password": "p"})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    app.as_key(&plain, "GET", "/v1.1/instances/perms/users/", None)
        .await
        .expect(StatusCode::FORBIDDEN);
    let list = app
        .as_user(&plain, &a_key, "GET", "/v1.1/instances/perms/users/", None)
        .await;
    let ids: Vec<i64> = list.body["objects"]
        .as_array()
        .expect("list")
        .iter()
        .map(|u| u["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![a_id], "a user lists only itself");
    app.as_user(
        &plain,
        &a_key,
        "GET",
        &format!("/v1.1/instances/perms/users/{b_id}/"),
        None,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
    app.as_user(
        &plain,
        &a_key,
        "DELETE",
        &format!("/v1.1/instances/perms/users/{a_id}/"),
        None,
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let r = app
        .as_user(
            &plain,
            &a_key,
            "PATCH",
            &format!("/v1.1/instances/perms/users/{a_id}/"),
            Some(json!({"username": "aa"})),
        )
        .await;
    assert_eq!(r.body["username"], "aa");
    // A user key of another instance is ignored (the request proceeds as the bare key).
    let r = app
        .as_user(
            &other_key,
            &a_key,
            "GET",
            "/v1.1/instances/perms-other/user/",
            None,
        )
        .await;
    r.expect(StatusCode::FORBIDDEN);
    // A key of another instance never reaches this one.
    let r = app
        .as_key(&other_key, "GET", "/v1.1/instances/perms/users/", None)
        .await;
    assert_eq!(r.body, json!({"detail": "No such API Key."}));
    // A read-role admin reads but cannot write.
    let reader = app.admin("reader@example.com").await;
    app.as_key(
        &admin,
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
    app.as_key(&reader, "GET", "/v1.1/instances/perms/users/", None)
        .await
        .expect(StatusCode::OK);
    app.as_key(
        &reader,
        "POST",
        "/v1.1/instances/perms/users/",
        Some(json!({"username": "z", "password": "p"})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
}

async fn groups_and_memberships(app: TestApp) {
    let admin = app.admin_with_instance("groups").await;
    let key = app
        .api_key(&admin, "groups", json!({"allow_group_create": true}))
        .await;
    let base = "/v1.1/instances/groups";
    let r = app.as_key(&key, "POST", &format!("{base}/groups/"), Some(json!({"name": "Witchers", "label": "Witchers", "description": "school of the wolf"}))).await;
    r.expect(StatusCode::CREATED);
    assert_eq!(
        r.body,
        json!({"id": 1, "name": "witchers", "label": "Witchers", "description": "school of the wolf",
        "links": {"self": "/v1.1/instances/groups/groups/1/", "users": "/v1.1/instances/groups/groups/1/users/"}})
    );
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{base}/groups/"),
            Some(json!({"name": "witchers"})),
        )
        .await;
    assert_eq!(r.body, json!({"name": ["This field must be unique."]}));
    app.as_key(
        &key,
        "PATCH",
        &format!("{base}/groups/1/"),
        Some(json!({"label": "x"})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let u = app
        .as_key(
            &admin,
            "POST",
            &format!("{base}/users/"),
            Some(json!({"username": "geralt", "password": "p"})),
        )
        .await;
    let user_key = u.body["user_key"].as_str().expect("key").to_string();
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{base}/groups/1/users/"),
            Some(json!({"user": 1})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    assert_eq!(r.body["user"]["username"], "geralt");
    assert_eq!(
        r.body["links"]["self"],
        "/v1.1/instances/groups/groups/1/users/1/"
    );
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{base}/users/1/groups/"),
            Some(json!({"group": 1})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"detail": "User is already a part of that group."})
    );
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{base}/users/1/groups/"),
            Some(json!({"group": 99})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"group": ["Invalid pk \"99\" - object does not exist."]})
    );
    let r = app
        .as_key(&admin, "GET", &format!("{base}/users/1/groups/"), None)
        .await;
    assert_eq!(
        r.body["objects"][0]["links"]["self"],
        "/v1.1/instances/groups/users/1/groups/1/"
    );
    assert_eq!(r.body["objects"][0]["group"]["label"], "Witchers");
    let r = app
        .as_key(&admin, "GET", &format!("{base}/users/1/"), None)
        .await;
    assert_eq!(r.body["groups"][0]["id"], 1);
    // Users see their own memberships, read-only.
    let r = app
        .as_user(
            &key,
            &user_key,
            "GET",
            &format!("{base}/groups/1/users/"),
            None,
        )
        .await;
    assert_eq!(r.body["objects"].as_array().expect("list").len(), 1);
    app.as_user(
        &key,
        &user_key,
        "DELETE",
        &format!("{base}/users/1/groups/1/"),
        None,
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    // Unknown parents are 404 before authentication.
    let r = app
        .as_key("bogus", "GET", &format!("{base}/users/77/groups/"), None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "User was not found."})
    );
    let r = app
        .as_key("bogus", "GET", &format!("{base}/groups/77/users/"), None)
        .await;
    assert_eq!(r.body, json!({"detail": "Group was not found."}));
    app.as_key(&admin, "DELETE", &format!("{base}/groups/1/users/1/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "GET", &format!("{base}/users/1/groups/1/"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
    // Deleting a group removes its memberships.
    app.as_key(
        &admin,
        "POST",
        &format!("{base}/users/1/groups/"),
        Some(json!({"group": 1})),
    )
    .await
    .expect(StatusCode::CREATED);
    app.as_key(&admin, "DELETE", &format!("{base}/groups/1/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        app.as_key(&admin, "GET", &format!("{base}/users/1/"), None)
            .await
            .body["groups"],
        json!([])
    );
}

async fn group_limit_and_membership_errors(app: TestApp) {
    let admin = app.admin_with_instance("limits").await;
    let base = "/v1.1/instances/limits";
    app.as_key(
        &admin,
        "POST",
        &format!("{base}/users/"),
        Some(json!({"username": "u", "password": "p"})),
    )
    .await
    .expect(StatusCode::CREATED);
    for i in 0..33 {
        let g = app
            .as_key(
                &admin,
                "POST",
                &format!("{base}/groups/"),
                Some(json!({"label": format!("g{i}")})),
            )
            .await;
        let gid = g.body["id"].clone();
        let r = app
            .as_key(
                &admin,
                "POST",
                &format!("{base}/users/1/groups/"),
                Some(json!({"group": gid})),
            )
            .await;
        if i < 32 {
            r.expect(StatusCode::CREATED);
        } else {
            assert_eq!(
                r.body,
                json!({"detail": "User's group count exceeded (32)."})
            );
        }
    }
    let r = app
        .as_key(
            &admin,
            "GET",
            &format!("{base}/groups/?label__startswith=g3"),
            None,
        )
        .await;
    assert_eq!(r.body["objects"].as_array().expect("list").len(), 4);
}

/// The users list gathers every listed user's groups in one query: each user gets exactly
/// their own groups, in group id order whatever order they joined in, on every page and
/// under a username filter.
async fn users_list_shows_each_users_groups_in_id_order(app: TestApp) {
    let admin = app.admin_with_instance("order").await;
    let base = "/v1.1/instances/order";
    for label in ["a", "b", "c"] {
        let r = app
            .as_key(
                &admin,
                "POST",
                &format!("{base}/groups/"),
                Some(json!({"label": label})),
            )
            .await;
        r.expect(StatusCode::CREATED);
    }
    for name in ["anna", "bert", "anton"] {
        let r = app
            .as_key(
                &admin,
                "POST",
                &format!("{base}/users/"),
                Some(json!({"username": name, "password": "p"})),
            )
            .await;
        r.expect(StatusCode::CREATED);
    }
    for (user, group) in [(1, 3), (1, 1), (3, 2), (3, 3), (3, 1)] {
        let r = app
            .as_key(
                &admin,
                "POST",
                &format!("{base}/users/{user}/groups/"),
                Some(json!({"group": group})),
            )
            .await;
        r.expect(StatusCode::CREATED);
    }
    let group_ids = |page: &Value| -> Vec<(String, Vec<i64>)> {
        page["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .map(|u| {
                let ids = u["groups"].as_array().expect("groups").iter();
                (
                    u["username"].as_str().expect("username").to_string(),
                    ids.map(|g| g["id"].as_i64().expect("id")).collect(),
                )
            })
            .collect()
    };
    let first = app
        .as_key(&admin, "GET", &format!("{base}/users/?page_size=2"), None)
        .await;
    assert_eq!(
        group_ids(&first.body),
        vec![
            ("anna".to_string(), vec![1, 3]),
            ("bert".to_string(), vec![])
        ]
    );
    let next = first.body["next"].as_str().expect("next link").to_string();
    let second = app.as_key(&admin, "GET", &next, None).await;
    assert_eq!(
        group_ids(&second.body),
        vec![("anton".to_string(), vec![1, 2, 3])]
    );
    let filtered = app
        .as_key(
            &admin,
            "GET",
            &format!("{base}/users/?username__startswith=an"),
            None,
        )
        .await;
    assert_eq!(
        group_ids(&filtered.body),
        vec![
            ("anna".to_string(), vec![1, 3]),
            ("anton".to_string(), vec![1, 2, 3])
        ]
    );
}
