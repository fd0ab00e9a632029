//! Instances, instance admins, API keys and invitations (spec-core §4–§6, spec-rest §12).

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::json;

both_backends!(
    instance_lifecycle,
    api_keys_and_isolation,
    invitations_grant_roles,
);
both_backends!(
    settings(|s| s.instance_limit = 2),
    instance_name_rules_and_limits
);

async fn instance_lifecycle(app: TestApp) {
    let key = app.admin("owner@example.com").await;
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/",
            Some(json!({"name": "My-Inst", "description": "d", "metadata": {"k": "v"}})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    assert_eq!(r.body["name"], "my-inst");
    assert_eq!(r.body["role"], "full");
    assert_eq!(r.body["owner"]["email"], "owner@example.com");
    assert_eq!(r.body["links"]["users"], "/v1.1/instances/my-inst/users/");
    assert!(r.body["created_at"].as_str().expect("ts").ends_with('Z'));
    let list = app
        .as_key(&key, "GET", "/v1.1/instances/?name__startswith=my", None)
        .await;
    assert_eq!(list.body["objects"].as_array().expect("list").len(), 1);
    let none = app
        .as_key(&key, "GET", "/v1.1/instances/?name__startswith=zz", None)
        .await;
    assert_eq!(none.body["objects"], json!([]));
    let r = app
        .as_key(
            &key,
            "PATCH",
            "/v1.1/instances/my-inst/",
            Some(json!({"description": "new", "name": "ignored"})),
        )
        .await;
    assert_eq!(
        (
            r.body["description"].clone(),
            r.body["name"].clone(),
            r.body["metadata"].clone()
        ),
        (json!("new"), json!("my-inst"), json!({"k": "v"}))
    );
    let r = app
        .as_key(
            &key,
            "PUT",
            "/v1.1/instances/my-inst/",
            Some(json!({"description": "put"})),
        )
        .await;
    assert_eq!(r.body["metadata"], json!({}), "PUT resets metadata");
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/my-inst/rename/",
            Some(json!({})),
        )
        .await;
    assert_eq!(r.body, json!({"new_name": ["This field may not be null."]}));
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/my-inst/rename/",
            Some(json!({"new_name": "renamed"})),
        )
        .await;
    assert_eq!(
        (r.status, r.body["links"]["self"].clone()),
        (StatusCode::OK, json!("/v1.1/instances/renamed/"))
    );
    app.as_key(&key, "GET", "/v1.1/instances/my-inst/", None)
        .await
        .expect(StatusCode::NOT_FOUND);
    // Another admin sees nothing of it.
    let other = app.admin("other@example.com").await;
    let r = app
        .as_key(&other, "GET", "/v1.1/instances/renamed/", None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    let r = app
        .as_key(&other, "GET", "/v1.1/instances/renamed/admins/", None)
        .await;
    r.expect(StatusCode::FORBIDDEN);
    app.as_key(&key, "DELETE", "/v1.1/instances/renamed/", None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let r = app
        .as_key(&key, "GET", "/v1.1/instances/renamed/api_keys/", None)
        .await;
    assert_eq!(r.body, json!({"detail": "Instance was not found."}));
    // The name is reusable after deletion.
    app.instance(&key, "renamed").await;
}

async fn instance_name_rules_and_limits(app: TestApp) {
    let key = app.admin("names@example.com").await;
    let cases = [
        (
            "abc",
            "Ensure this value has at least 5 characters (it has 3).",
        ),
        ("ab--cd", "Double hyphens are reserved."),
        (
            "admin",
            "Unable to use that value. Please choose a different one.",
        ),
        ("1abcde", "Value has to start with a letter."),
        (
            "abc_de",
            "Enter a valid value consisting of letters, numbers or hyphens.",
        ),
    ];
    for (name, msg) in cases {
        let r = app
            .as_key(
                &key,
                "POST",
                "/v1.1/instances/",
                Some(json!({"name": name})),
            )
            .await;
        r.expect(StatusCode::BAD_REQUEST);
        assert!(
            r.body["name"]
                .as_array()
                .expect("errors")
                .contains(&json!(msg)),
            "{name}: {:?}",
            r.body
        );
    }
    app.instance(&key, "first").await;
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/",
            Some(json!({"name": "first"})),
        )
        .await;
    assert_eq!(r.body, json!({"name": ["This field must be unique."]}));
    app.instance(&key, "second").await;
    let r = app
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/",
            Some(json!({"name": "third"})),
        )
        .await;
    assert_eq!(r.body, json!({"detail": "Instance count exceeded (2)."}));
}

async fn api_keys_and_isolation(app: TestApp) {
    let admin = app.admin_with_instance("keys-one").await;
    app.instance(&admin, "keys-two").await;
    let r = app
        .as_key(
            &admin,
            "POST",
            "/v1.1/instances/keys-one/api_keys/",
            Some(json!({"description": "d", "ignore_acl": "true"})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let key = r.body["api_key"].as_str().expect("key").to_string();
    assert!(
        u32::from_str_radix(&key[39..], 16).expect("hex") % 2 == 1,
        "API keys end in an odd digit"
    );
    assert_eq!(r.body["ignore_acl"], true);
    assert_eq!(
        r.body["links"]["reset_key"],
        format!(
            "/v1.1/instances/keys-one/api_keys/{}/reset_key/",
            r.body["id"]
        )
    );
    let id = r.body["id"].as_i64().expect("id");
    // The key works in its instance only.
    app.as_key(&key, "GET", "/v1.1/instances/keys-one/api_keys/", None)
        .await
        .expect(StatusCode::OK);
    let r = app
        .as_key(&key, "GET", "/v1.1/instances/keys-two/api_keys/", None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::FORBIDDEN),
        json!({"detail": "No such API Key."})
    );
    let r = app.as_key(&key, "GET", "/v1.1/instances/", None).await;
    assert_eq!(r.body["objects"].as_array().expect("list").len(), 1);
    assert_eq!(r.body["objects"][0]["role"], "api_key");
    app.as_key(
        &key,
        "POST",
        "/v1.1/instances/keys-one/api_keys/",
        Some(json!({})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let r = app
        .as_key(
            &admin,
            "PUT",
            &format!("/v1.1/instances/keys-one/api_keys/{id}/"),
            Some(json!({"allow_user_create": true})),
        )
        .await;
    assert_eq!(
        (
            r.body["ignore_acl"].clone(),
            r.body["allow_user_create"].clone(),
            r.body["description"].clone()
        ),
        (json!(false), json!(true), json!("d"))
    );
    let r = app
        .as_key(
            &admin,
            "PATCH",
            &format!("/v1.1/instances/keys-one/api_keys/{id}/"),
            Some(json!({"ignore_acl": "maybe"})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"ignore_acl": ["\"maybe\" is not a valid boolean."]})
    );
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("/v1.1/instances/keys-one/api_keys/{id}/reset_key/"),
            None,
        )
        .await;
    let new_key = r.body["api_key"].as_str().expect("key").to_string();
    assert_ne!(new_key, key);
    assert_eq!(
        app.as_key(&key, "GET", "/v1.1/instances/keys-one/api_keys/", None)
            .await
            .body,
        json!({"detail": "No such API Key."})
    );
    app.as_key(
        &admin,
        "DELETE",
        &format!("/v1.1/instances/keys-one/api_keys/{id}/"),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.as_key(&new_key, "GET", "/v1.1/instances/keys-one/", None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn invitations_grant_roles(app: TestApp) {
    let owner = app.admin_with_instance("invites").await;
    let guest = app.admin("guest@example.com").await;
    let r = app
        .as_key(
            &owner,
            "POST",
            "/v1.1/instances/invites/invitations/",
            Some(json!({"email": "guest@example.com", "role": "write"})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    assert_eq!(
        (r.body["state"].clone(), r.body["inviter"].clone()),
        (json!("new"), json!("owner-invites@example.com"))
    );
    let r2 = app
        .as_key(
            &owner,
            "POST",
            "/v1.1/instances/invites/invitations/",
            Some(json!({"email": "guest@example.com"})),
        )
        .await;
    assert_eq!(
        r2.body,
        json!({"detail": "Admin with specified Email already has an invitation created."})
    );
    let r3 = app
        .as_key(
            &owner,
            "POST",
            "/v1.1/instances/invites/invitations/",
            Some(json!({"email": "owner-invites@example.com"})),
        )
        .await;
    assert_eq!(
        r3.body,
        json!({"email": "Admin with specified Email is already a part of this Instance."})
    );
    let mine = app
        .as_key(&guest, "GET", "/v1.1/account/invitations/", None)
        .await;
    assert_eq!(mine.body["objects"][0]["instance"], "invites");
    let key = mine.body["objects"][0]["key"]
        .as_str()
        .expect("key")
        .to_string();
    let r = app
        .as_key(
            &guest,
            "POST",
            "/v1.1/account/invitations/accept/",
            Some(json!({"invitation_key": "nope"})),
        )
        .await;
    assert_eq!(r.body, json!({"invitation_key": "Invitation not found."}));
    app.as_key(
        &guest,
        "POST",
        "/v1.1/account/invitations/accept/",
        Some(json!({"invitation_key": key})),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let admins = app
        .as_key(&guest, "GET", "/v1.1/instances/invites/admins/", None)
        .await;
    let roles: Vec<(String, String)> = admins.body["objects"]
        .as_array()
        .expect("admins")
        .iter()
        .map(|a| {
            (
                a["email"].as_str().unwrap_or_default().to_string(),
                a["role"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(roles.contains(&("guest@example.com".into(), "write".into())));
    // A write admin may not manage API keys or roles, but may leave.
    app.as_key(&guest, "GET", "/v1.1/instances/invites/api_keys/", None)
        .await
        .expect(StatusCode::FORBIDDEN);
    let guest_id = admins.body["objects"]
        .as_array()
        .expect("a")
        .iter()
        .find(|a| a["email"] == "guest@example.com")
        .expect("guest")["id"]
        .clone();
    let owner_id = admins.body["objects"]
        .as_array()
        .expect("a")
        .iter()
        .find(|a| a["email"] != "guest@example.com")
        .expect("owner")["id"]
        .clone();
    let r = app
        .as_key(
            &owner,
            "PATCH",
            &format!("/v1.1/instances/invites/admins/{owner_id}/"),
            Some(json!({"role": "read"})),
        )
        .await;
    r.expect(StatusCode::FORBIDDEN);
    let r = app
        .as_key(
            &owner,
            "PATCH",
            &format!("/v1.1/instances/invites/admins/{guest_id}/"),
            Some(json!({"role": "furry"})),
        )
        .await;
    assert_eq!(
        r.body,
        json!({"role": ["\"furry\" is not a valid choice."]})
    );
    app.as_key(
        &guest,
        "DELETE",
        &format!("/v1.1/instances/invites/admins/{guest_id}/"),
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.as_key(&guest, "GET", "/v1.1/instances/invites/admins/", None)
        .await
        .expect(StatusCode::FORBIDDEN);
}
