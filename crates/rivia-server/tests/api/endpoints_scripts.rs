//! `endpoints/` links and script endpoint definitions, `endpoints/scripts/` (rest §4): the
//! JSON and its links, validation messages, PUT/PATCH, `reset_link/`, deletion (with the
//! script too), and who may read and write them.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::snippets_config::admin_with_role;
use axum::http::StatusCode;
use rivia_core::perms::Role;
use serde_json::{Value, json};

both_backends!(
    endpoints_links_name_scripts_and_data,
    create_answers_the_endpoint_and_its_links,
    bad_endpoints_get_the_platform_messages,
    put_patch_keep_the_name_and_reset_link_changes_the_link,
    list_and_delete_and_deleting_the_script_deletes_its_endpoints,
    read_admins_read_write_admins_write_and_api_keys_are_refused,
);

pub(crate) const ENDPOINTS: &str = "/v1.1/instances/hooks/endpoints/scripts/";

/// Instance `hooks` with python3 script 1 (`source`); the owner's key.
pub(crate) async fn hooks_with_script(app: &TestApp, source: &str) -> String {
    let admin = app.admin_with_instance("hooks").await;
    add_script(app, &admin, "python3", source).await;
    admin
}

/// Adds a script to `hooks`; its id.
pub(crate) async fn add_script(app: &TestApp, admin: &str, runtime: &str, source: &str) -> i64 {
    let s = app
        .as_key(
            admin,
            "POST",
            "/v1.1/instances/hooks/snippets/scripts/",
            Some(json!({"runtime_name": runtime, "source": source})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    s["id"].as_i64().expect("id")
}

/// Creates an endpoint of `hooks`; its JSON.
pub(crate) async fn add_endpoint(app: &TestApp, admin: &str, body: Value) -> Value {
    app.as_key(admin, "POST", ENDPOINTS, Some(body))
        .await
        .expect_json(StatusCode::CREATED)
}

async fn endpoints_links_name_scripts_and_data(app: TestApp) {
    let admin = app.admin_with_instance("hooks").await;
    let links = app
        .as_key(&admin, "GET", "/v1.1/instances/hooks/endpoints/", None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        links,
        json!({"links": {
            "scripts": "/v1.1/instances/hooks/endpoints/scripts/",
            "data": "/v1.1/instances/hooks/endpoints/data/",
        }})
    );
}

async fn create_answers_the_endpoint_and_its_links(app: TestApp) {
    let admin = hooks_with_script(&app, "print(1)").await;
    let e = add_endpoint(
        &app,
        &admin,
        json!({"name": " My-Hook_1 ", "script": 1, "description": "d"}),
    )
    .await;
    let link = e["public_link"].as_str().expect("public_link").to_owned();
    assert_eq!(link.len(), 40);
    assert!(link.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        e,
        json!({
            "name": "my-hook_1",
            "description": "d",
            "script": 1,
            "public_link": link,
            "public": false,
            "links": {
                "self": "/v1.1/instances/hooks/endpoints/scripts/my-hook_1/",
                "run": "/v1.1/instances/hooks/endpoints/scripts/my-hook_1/run/",
                "reset-link": "/v1.1/instances/hooks/endpoints/scripts/my-hook_1/reset_link/",
                "script": "/v1.1/instances/hooks/snippets/scripts/1/",
                "public-link": format!("/v1.1/instances/hooks/endpoints/scripts/p/{link}/my-hook_1/"),
                "traces": "/v1.1/instances/hooks/endpoints/scripts/my-hook_1/traces/",
            },
        })
    );
    let got = app
        .as_key(&admin, "GET", &format!("{ENDPOINTS}my-hook_1/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(got, e);
}

async fn bad_endpoints_get_the_platform_messages(app: TestApp) {
    let admin = hooks_with_script(&app, "print(1)").await;
    let post = |body: Value| app.as_key(&admin, "POST", ENDPOINTS, Some(body));
    let body = post(json!({})).await.expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"name": ["This field is required."], "script": ["This field is required."]})
    );
    let body = post(json!({"name": "not a good slug", "script": 3}))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        body["name"],
        json!(["Enter a valid value consisting of letters, numbers, underscores or hyphens."])
    );
    assert_eq!(
        body["script"],
        json!(["Invalid pk \"3\" - object does not exist."])
    );
    let body = post(json!({"name": "x".repeat(65), "script": 1, "public": "maybe"}))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        body["name"],
        json!(["Ensure this value has at most 64 characters (it has 65)."])
    );
    assert_eq!(body["public"], json!(["\"maybe\" is not a valid boolean."]));
    post(json!({"name": "hook", "script": 1}))
        .await
        .expect(StatusCode::CREATED);
    let body = post(json!({"name": "HOOK", "script": 1}))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"name": ["This field must be unique."]}));
}

async fn put_patch_keep_the_name_and_reset_link_changes_the_link(app: TestApp) {
    let admin = hooks_with_script(&app, "print(1)").await;
    add_script(&app, &admin, "python3", "print(2)").await;
    let e = add_endpoint(
        &app,
        &admin,
        json!({"name": "hook", "script": 1, "description": "d", "public": true}),
    )
    .await;
    let url = format!("{ENDPOINTS}hook/");
    let patched = app
        .as_key(
            &admin,
            "PATCH",
            &url,
            Some(json!({"name": "other", "script": 2})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(patched["name"], "hook", "name is read-only on detail");
    assert_eq!(patched["script"], 2);
    assert_eq!(patched["description"], "d");
    assert_eq!(patched["public"], true);
    assert_eq!(patched["public_link"], e["public_link"]);
    let body = app
        .as_key(&admin, "PUT", &url, Some(json!({"description": "x"})))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(body, json!({"script": ["This field is required."]}));
    let put = app
        .as_key(&admin, "PUT", &url, Some(json!({"script": 1})))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (&put["description"], &put["public"]),
        (&json!(""), &json!(false))
    );
    let reset = app
        .as_key(&admin, "POST", &format!("{url}reset_link/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_ne!(reset["public_link"], e["public_link"]);
    assert_eq!(reset["public_link"].as_str().map(str::len), Some(40));
    let got = app
        .as_key(&admin, "GET", &url, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(got["public_link"], reset["public_link"]);
}

async fn list_and_delete_and_deleting_the_script_deletes_its_endpoints(app: TestApp) {
    let admin = hooks_with_script(&app, "print(1)").await;
    add_script(&app, &admin, "python3", "print(2)").await;
    for (name, script) in [("a", 1), ("b", 2), ("c", 1)] {
        add_endpoint(&app, &admin, json!({"name": name, "script": script})).await;
    }
    let names = |list: &Value| -> Vec<String> {
        list["objects"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let list = app
        .as_key(&admin, "GET", ENDPOINTS, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(names(&list), ["a", "b", "c"]);
    app.as_key(&admin, "DELETE", &format!("{ENDPOINTS}b/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "GET", &format!("{ENDPOINTS}b/"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
    app.as_key(
        &admin,
        "DELETE",
        "/v1.1/instances/hooks/snippets/scripts/1/",
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    let list = app
        .as_key(&admin, "GET", ENDPOINTS, None)
        .await
        .expect_json(StatusCode::OK);
    assert!(names(&list).is_empty(), "{list}");
}

async fn read_admins_read_write_admins_write_and_api_keys_are_refused(app: TestApp) {
    let owner = hooks_with_script(&app, "print(1)").await;
    add_endpoint(&app, &owner, json!({"name": "hook", "script": 1})).await;
    let reader = admin_with_role(&app, "hooks", Role::Read).await;
    let writer = admin_with_role(&app, "hooks", Role::Write).await;
    let api_key = app
        .api_key(&owner, "hooks", json!({"ignore_acl": true}))
        .await;
    let url = format!("{ENDPOINTS}hook/");
    app.as_key(&reader, "GET", &url, None)
        .await
        .expect(StatusCode::OK);
    for (method, path) in [("PATCH", url.clone()), ("DELETE", url.clone())] {
        app.as_key(&reader, method, &path, Some(json!({})))
            .await
            .expect(StatusCode::FORBIDDEN);
    }
    app.as_key(&reader, "POST", &format!("{url}reset_link/"), None)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(
        &writer,
        "POST",
        ENDPOINTS,
        Some(json!({"name": "w", "script": 1})),
    )
    .await
    .expect(StatusCode::CREATED);
    for (method, path) in [("GET", ENDPOINTS.to_owned()), ("GET", url.clone())] {
        app.as_key(&api_key, method, &path, None)
            .await
            .expect(StatusCode::FORBIDDEN);
    }
    app.call("GET", ENDPOINTS, &[], None)
        .await
        .expect(StatusCode::FORBIDDEN);
}
