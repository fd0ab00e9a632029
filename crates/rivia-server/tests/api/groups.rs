//! Groups and memberships (spec-core §7.4–§7.5): create, edit rights, memberships from
//! both sides, limits, and each user's groups in the users list.

use crate::both_backends;
use crate::helpers::{Response, TestApp};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    group_create_answers_the_group_and_its_links,
    group_name_must_be_unique,
    group_creating_key_cannot_edit_groups,
    membership_create_answers_the_user_and_its_links,
    second_membership_in_a_group_is_refused,
    membership_group_must_exist,
    user_memberships_list_and_user_detail_show_the_groups,
    users_see_their_own_memberships_read_only,
    unknown_parents_are_404_before_authentication,
    deleted_membership_is_gone,
    deleting_a_group_removes_its_memberships,
    user_group_count_is_limited_to_32,
    group_list_filters_by_label_prefix,
    users_list_shows_each_users_groups_in_id_order,
    user_groups_keep_names_and_texts_as_written,
    users_list_reads_backwards_with_each_users_groups,
);

const BASE: &str = "/v1.1/instances/groups";

/// Instance `groups`, a key that may create groups, and group 1 `Witchers` created with
/// it: (admin key, API key, the group's JSON).
async fn witchers(app: &TestApp) -> (String, String, Value) {
    let admin = app.admin_with_instance("groups").await;
    let key = app
        .api_key(&admin, "groups", json!({"allow_group_create": true}))
        .await;
    let body =
        json!({"name": "Witchers", "label": "Witchers", "description": "school of the wolf"});
    let group = app
        .as_key(&key, "POST", &format!("{BASE}/groups/"), Some(body))
        .await
        .expect_json(StatusCode::CREATED);
    (admin, key, group)
}

/// `witchers` with user 1 `geralt` made a member of group 1 through the group:
/// (admin key, API key, geralt's user key, the membership response).
async fn geralt_in_witchers(app: &TestApp) -> (String, String, String, Response) {
    let (admin, key, _) = witchers(app).await;
    let body = json!({"username": "geralt", "password": "p"});
    let u = app
        .as_key(&admin, "POST", &format!("{BASE}/users/"), Some(body))
        .await;
    let user_key = u.body["user_key"].as_str().expect("key").to_string();
    let membership = join(app, &admin, "groups/1/users/", json!({"user": 1})).await;
    (admin, key, user_key, membership)
}

async fn join(app: &TestApp, admin: &str, path: &str, body: Value) -> Response {
    app.as_key(admin, "POST", &format!("{BASE}/{path}"), Some(body))
        .await
}

async fn group_create_answers_the_group_and_its_links(app: TestApp) {
    let (_, _, group) = witchers(&app).await;
    assert_eq!(
        group,
        json!({"id": 1, "name": "witchers", "label": "Witchers", "description": "school of the wolf",
        "links": {"self": "/v1.1/instances/groups/groups/1/", "users": "/v1.1/instances/groups/groups/1/users/"}})
    );
}

async fn group_name_must_be_unique(app: TestApp) {
    let (admin, _, _) = witchers(&app).await;
    let r = join(&app, &admin, "groups/", json!({"name": "witchers"})).await;
    assert_eq!(r.body, json!({"name": ["This field must be unique."]}));
}

async fn group_creating_key_cannot_edit_groups(app: TestApp) {
    let (_, key, _) = witchers(&app).await;
    app.as_key(
        &key,
        "PATCH",
        &format!("{BASE}/groups/1/"),
        Some(json!({"label": "x"})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
}

async fn membership_create_answers_the_user_and_its_links(app: TestApp) {
    let (_, _, _, r) = geralt_in_witchers(&app).await;
    let body = r.expect_json(StatusCode::CREATED);
    assert_eq!(body["user"]["username"], "geralt");
    assert_eq!(
        body["links"]["self"],
        "/v1.1/instances/groups/groups/1/users/1/"
    );
}

async fn second_membership_in_a_group_is_refused(app: TestApp) {
    let (admin, _, _, _) = geralt_in_witchers(&app).await;
    let r = join(&app, &admin, "users/1/groups/", json!({"group": 1})).await;
    assert_eq!(
        r.body,
        json!({"detail": "User is already a part of that group."})
    );
}

async fn membership_group_must_exist(app: TestApp) {
    let (admin, _, _, _) = geralt_in_witchers(&app).await;
    let r = join(&app, &admin, "users/1/groups/", json!({"group": 99})).await;
    assert_eq!(
        r.body,
        json!({"group": ["Invalid pk \"99\" - object does not exist."]})
    );
}

async fn user_memberships_list_and_user_detail_show_the_groups(app: TestApp) {
    let (admin, _, _, _) = geralt_in_witchers(&app).await;
    let r = app
        .as_key(&admin, "GET", &format!("{BASE}/users/1/groups/"), None)
        .await;
    assert_eq!(
        r.body["objects"][0]["links"]["self"],
        "/v1.1/instances/groups/users/1/groups/1/"
    );
    assert_eq!(r.body["objects"][0]["group"]["label"], "Witchers");
    let r = app
        .as_key(&admin, "GET", &format!("{BASE}/users/1/"), None)
        .await;
    assert_eq!(r.body["groups"][0]["id"], 1);
}

async fn users_see_their_own_memberships_read_only(app: TestApp) {
    let (_, key, user_key, _) = geralt_in_witchers(&app).await;
    let members = format!("{BASE}/groups/1/users/");
    let r = app.as_user(&key, &user_key, "GET", &members, None).await;
    assert_eq!(r.body["objects"].as_array().expect("list").len(), 1);
    let mine = format!("{BASE}/users/1/groups/1/");
    app.as_user(&key, &user_key, "DELETE", &mine, None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn unknown_parents_are_404_before_authentication(app: TestApp) {
    witchers(&app).await;
    let r = app
        .as_key("bogus", "GET", &format!("{BASE}/users/77/groups/"), None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "User was not found."})
    );
    let r = app
        .as_key("bogus", "GET", &format!("{BASE}/groups/77/users/"), None)
        .await;
    assert_eq!(r.body, json!({"detail": "Group was not found."}));
}

async fn deleted_membership_is_gone(app: TestApp) {
    let (admin, _, _, _) = geralt_in_witchers(&app).await;
    app.as_key(&admin, "DELETE", &format!("{BASE}/groups/1/users/1/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "GET", &format!("{BASE}/users/1/groups/1/"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn deleting_a_group_removes_its_memberships(app: TestApp) {
    let (admin, _, _, _) = geralt_in_witchers(&app).await;
    app.as_key(&admin, "DELETE", &format!("{BASE}/groups/1/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert_eq!(
        app.as_key(&admin, "GET", &format!("{BASE}/users/1/"), None)
            .await
            .json()["groups"],
        json!([])
    );
}

const LIMITS: &str = "/v1.1/instances/limits";

/// Instance `limits` with user 1 and groups g0..g32: (admin key, the group ids).
async fn thirty_three_groups(app: &TestApp) -> (String, Vec<Value>) {
    let admin = app.admin_with_instance("limits").await;
    app.as_key(
        &admin,
        "POST",
        &format!("{LIMITS}/users/"),
        Some(json!({"username": "u", "password": "p"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let mut ids = Vec::new();
    for i in 0..33 {
        let body = json!({"label": format!("g{i}")});
        let g = app
            .as_key(&admin, "POST", &format!("{LIMITS}/groups/"), Some(body))
            .await;
        ids.push(g.body["id"].clone());
    }
    (admin, ids)
}

async fn user_group_count_is_limited_to_32(app: TestApp) {
    let (admin, groups) = thirty_three_groups(&app).await;
    let url = format!("{LIMITS}/users/1/groups/");
    for (i, gid) in groups.into_iter().enumerate() {
        let r = app
            .as_key(&admin, "POST", &url, Some(json!({"group": gid})))
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
}

async fn group_list_filters_by_label_prefix(app: TestApp) {
    let (admin, _) = thirty_three_groups(&app).await;
    let url = format!("{LIMITS}/groups/?label__startswith=g3");
    let r = app.as_key(&admin, "GET", &url, None).await;
    assert_eq!(r.body["objects"].as_array().expect("list").len(), 4);
}

/// Each listed user's name and group ids, in order.
fn group_ids(page: &Value) -> Vec<(String, Vec<i64>)> {
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
}

/// The users list gathers every listed user's groups in one query: each user gets exactly
/// their own groups, in group id order whatever order they joined in, on every page and
/// under a username filter.
async fn users_list_shows_each_users_groups_in_id_order(app: TestApp) {
    let admin = app.admin_with_instance("order").await;
    let base = "/v1.1/instances/order";
    let post = |path: String, body: Value| {
        let admin = &admin;
        let app = &app;
        async move {
            app.as_key(admin, "POST", &path, Some(body))
                .await
                .expect(StatusCode::CREATED);
        }
    };
    for label in ["a", "b", "c"] {
        post(format!("{base}/groups/"), json!({"label": label})).await;
    }
    for name in ["anna", "bert", "anton"] {
        let body = json!({"username": name, "password": "p"});
        post(format!("{base}/users/"), body).await;
    }
    for (user, group) in [(1, 3), (1, 1), (3, 2), (3, 3), (3, 1)] {
        post(
            format!("{base}/users/{user}/groups/"),
            json!({"group": group}),
        )
        .await;
    }
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
    let url = format!("{base}/users/?username__startswith=an");
    let filtered = app.as_key(&admin, "GET", &url, None).await;
    assert_eq!(
        group_ids(&filtered.body),
        vec![
            ("anna".to_string(), vec![1, 3]),
            ("anton".to_string(), vec![1, 2, 3])
        ]
    );
}

/// A user's groups on the list and on the user's own page carry each group's name, label
/// and description as written, texts that need JSON escapes included (on PostgreSQL
/// the store reads them as one JSON array per user); a user in no group has an empty list.
async fn user_groups_keep_names_and_texts_as_written(app: TestApp) {
    let admin = crate::users::reference_instance(&app).await;
    let base = "/v1.1/instances/rivia";
    let made = [
        json!({"label": "Lodge of \"Sorceresses\"", "name": "lodge", "description": "Montecalvo\n\u{1F9D9} \\ żmija"}),
        json!({"label": "school of the wolf", "description": ""}),
    ];
    for body in made {
        app.as_key(&admin, "POST", &format!("{base}/groups/"), Some(body))
            .await
            .expect(StatusCode::CREATED);
    }
    // ciri (user 2) joins group 3, then 2; geralt (user 1) stays in group 1 only.
    for group in [3, 2] {
        let path = format!("{base}/users/2/groups/");
        app.as_key(&admin, "POST", &path, Some(json!({"group": group})))
            .await
            .expect(StatusCode::CREATED);
    }
    let page = app
        .as_key(&admin, "GET", &format!("{base}/users/"), None)
        .await
        .expect_json(StatusCode::OK);
    let groups_of = |user: &Value| -> Vec<(Value, Value, Value, Value)> {
        user["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| {
                (
                    g["id"].clone(),
                    g["name"].clone(),
                    g["label"].clone(),
                    g["description"].clone(),
                )
            })
            .collect()
    };
    let ciri = &page["objects"][1];
    assert_eq!(ciri["username"], "ciri");
    let expected = vec![
        (
            json!(2),
            json!("lodge"),
            json!("Lodge of \"Sorceresses\""),
            json!("Montecalvo\n\u{1F9D9} \\ żmija"),
        ),
        (
            json!(3),
            json!(null),
            json!("school of the wolf"),
            json!(""),
        ),
    ];
    assert_eq!(groups_of(ciri), expected);
    assert_eq!(groups_of(&page["objects"][0]).len(), 1);
    assert_eq!(groups_of(&page["objects"][2]), vec![]);
    let one = app
        .as_key(&admin, "GET", &format!("{base}/users/2/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(groups_of(&one), expected);
}

/// Newest first (`ordering=desc`) and a page before a given user (`direction=0`): the
/// users in the order asked for, each with its own groups.
async fn users_list_reads_backwards_with_each_users_groups(app: TestApp) {
    let admin = crate::users::reference_instance(&app).await;
    let users = "/v1.1/instances/rivia/users/";
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/rivia/groups/",
        Some(json!({"label": "lodge"})),
    )
    .await
    .expect(StatusCode::CREATED);
    for (user, group) in [(3, 2), (1, 2)] {
        let path = format!("{users}{user}/groups/");
        app.as_key(&admin, "POST", &path, Some(json!({"group": group})))
            .await
            .expect(StatusCode::CREATED);
    }
    let owned = |list: &[(&str, &[i64])]| -> Vec<(String, Vec<i64>)> {
        list.iter()
            .map(|(n, g)| (n.to_string(), g.to_vec()))
            .collect()
    };
    let desc = app
        .as_key(&admin, "GET", &format!("{users}?ordering=desc"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        group_ids(&desc),
        owned(&[("triss", &[2]), ("ciri", &[]), ("geralt", &[1, 2])])
    );
    let before = app
        .as_key(
            &admin,
            "GET",
            &format!("{users}?page_size=2&direction=0&last_pk=3"),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        group_ids(&before),
        owned(&[("geralt", &[1, 2]), ("ciri", &[])])
    );
}
