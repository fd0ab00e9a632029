//! `snippets/` links and the instance config `snippets/config/` (rest §8): defaults, PUT
//! and PATCH, the platform's validation messages, and who may read and write it.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use rivia_core::perms::Role;
use serde_json::{Map, Value, json};

both_backends!(
    snippets_links_name_scripts_templates_and_config,
    new_instance_config_is_empty,
    put_replaces_the_config_and_get_returns_it,
    patch_without_config_keeps_it_and_put_without_config_empties_it,
    config_given_as_json_text_is_stored_as_an_object,
    bad_configs_get_the_platform_messages,
    write_and_read_admins_and_api_keys_only_read_the_config,
    anonymous_callers_and_other_instances_are_refused,
);

const CONFIG: &str = "/v1.1/instances/config/snippets/config/";

/// An admin of instance `config` with `role`, returning its account key.
pub(crate) async fn admin_with_role(app: &TestApp, instance: &str, role: Role) -> String {
    let email = format!("{}-{instance}@example.com", role.name());
    let key = app.admin(&email).await;
    let inst = app.stored_instance(instance).await;
    let id = app
        .store
        .admin_by_key(&key)
        .await
        .expect("db")
        .expect("admin")
        .id;
    app.store
        .grant_admin_role(inst.id, id, role)
        .await
        .expect("role");
    key
}

async fn put(app: &TestApp, key: &str, body: Value) -> crate::helpers::Response {
    app.as_key(key, "PUT", CONFIG, Some(body)).await
}

async fn snippets_links_name_scripts_templates_and_config(app: TestApp) {
    let admin = app.admin_with_instance("config").await;
    let r = app
        .as_key(&admin, "GET", "/v1.1/instances/config/snippets/", None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        r,
        json!({"links": {
            "scripts": "/v1.1/instances/config/snippets/scripts/",
            "templates": "/v1.1/instances/config/snippets/templates/",
            "config": "/v1.1/instances/config/snippets/config/"}})
    );
}

async fn new_instance_config_is_empty(app: TestApp) {
    let admin = app.admin_with_instance("config").await;
    let r = app
        .as_key(&admin, "GET", CONFIG, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r, json!({"config": {}}));
}

async fn put_replaces_the_config_and_get_returns_it(app: TestApp) {
    let admin = app.admin_with_instance("config").await;
    let body = json!({"config": {"var1": "var1", "var2": 5}});
    let r = put(&app, &admin, body.clone())
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r, body);
    put(&app, &admin, json!({"config": {"other": [1, {"a": null}]}}))
        .await
        .expect(StatusCode::OK);
    let r = app
        .as_key(&admin, "GET", CONFIG, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r, json!({"config": {"other": [1, {"a": null}]}}));
}

async fn patch_without_config_keeps_it_and_put_without_config_empties_it(app: TestApp) {
    let admin = app.admin_with_instance("config").await;
    put(&app, &admin, json!({"config": {"a": 1}}))
        .await
        .expect(StatusCode::OK);
    let r = app
        .as_key(&admin, "PATCH", CONFIG, Some(json!({})))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r, json!({"config": {"a": 1}}));
    let r = app
        .as_key(&admin, "PATCH", CONFIG, Some(json!({"config": {"b": 2}})))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        r,
        json!({"config": {"b": 2}}),
        "PATCH replaces the whole object"
    );
    let r = put(&app, &admin, json!({}))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r, json!({"config": {}}));
}

async fn config_given_as_json_text_is_stored_as_an_object(app: TestApp) {
    let admin = app.admin_with_instance("config").await;
    let r = put(&app, &admin, json!({"config": "{\"k\": \"v\"}"}))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r, json!({"config": {"k": "v"}}));
    let r = put(&app, &admin, json!({"config": ""}))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r, json!({"config": {}}));
}

async fn bad_configs_get_the_platform_messages(app: TestApp) {
    let admin = app.admin_with_instance("config").await;
    put(&app, &admin, json!({"config": {"kept": true}}))
        .await
        .expect(StatusCode::OK);
    let many: Map<String, Value> = (0..1025).map(|i| (format!("k{i}"), json!(i))).collect();
    let cases = [
        (json!([1, 2]), "Config passed in invalid format."),
        (json!(12), "Config passed in invalid format."),
        (json!("[1]"), "Config passed in invalid format."),
        (json!("{nope"), "Not a valid JSON string."),
        (json!(null), "This field may not be null."),
        (Value::Object(many), "Too many keys defined (exceeds 1024)."),
        (
            json!({"k".repeat(65): 1}),
            "Too long key defined (exceeds 64).",
        ),
        (
            json!({"big": "x".repeat(262_144)}),
            "Too big object defined (exceeds 262144).",
        ),
    ];
    for (config, message) in cases {
        let r = put(&app, &admin, json!({ "config": config }))
            .await
            .expect_json(StatusCode::BAD_REQUEST);
        assert_eq!(r, json!({"config": [message]}), "{message}");
    }
    let r = app
        .as_key(&admin, "GET", CONFIG, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        r,
        json!({"config": {"kept": true}}),
        "nothing bad was stored"
    );
}

async fn write_and_read_admins_and_api_keys_only_read_the_config(app: TestApp) {
    let owner = app.admin_with_instance("config").await;
    put(&app, &owner, json!({"config": {"a": 1}}))
        .await
        .expect(StatusCode::OK);
    let full = admin_with_role(&app, "config", Role::Full).await;
    put(&app, &full, json!({"config": {"a": 2}}))
        .await
        .expect(StatusCode::OK);
    let key = app
        .api_key(&owner, "config", json!({"ignore_acl": true}))
        .await;
    let writer = admin_with_role(&app, "config", Role::Write).await;
    let reader = admin_with_role(&app, "config", Role::Read).await;
    for caller in [&writer, &reader, &key] {
        let r = app
            .as_key(caller, "GET", CONFIG, None)
            .await
            .expect_json(StatusCode::OK);
        assert_eq!(r, json!({"config": {"a": 2}}));
        for method in ["PUT", "PATCH"] {
            app.as_key(caller, method, CONFIG, Some(json!({"config": {"a": 3}})))
                .await
                .expect(StatusCode::FORBIDDEN);
        }
    }
}

async fn anonymous_callers_and_other_instances_are_refused(app: TestApp) {
    let owner = app.admin_with_instance("config").await;
    // Rivia differs from Syncano (README, Security): keys that ship inside apps (without
    // ignore_acl: plain, user, anonymous-read) do not read the config scripts keep
    // secrets in.
    let (_, user_key) = crate::helpers::store_user(&app, "config", "alice").await;
    for flags in [
        json!({}),
        json!({"allow_anonymous_read": true}),
        json!({"allow_user_create": true}),
    ] {
        let key = app.api_key(&owner, "config", flags).await;
        app.as_key(&key, "GET", CONFIG, None)
            .await
            .expect(StatusCode::FORBIDDEN);
        app.as_user(&key, &user_key, "GET", CONFIG, None)
            .await
            .expect(StatusCode::FORBIDDEN);
    }
    let stranger = app.admin_with_instance("other-inst").await;
    app.call("GET", CONFIG, &[], None)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(&stranger, "GET", CONFIG, None)
        .await
        .expect(StatusCode::FORBIDDEN);
    let other_key = app.api_key(&stranger, "other-inst", json!({})).await;
    app.as_key(&other_key, "GET", CONFIG, None)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(&owner, "GET", "/v1.1/instances/nope/snippets/config/", None)
        .await
        .expect(StatusCode::NOT_FOUND);
}
