//! Scripts CRUD `snippets/scripts/` (rest §1, spec-scripts §12) and `runtimes/`: fields
//! and links, validation messages, source cut in lists, permissions by role and API key.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::snippets_config::admin_with_role;
use axum::http::StatusCode;
use rivia_core::perms::Role;
use serde_json::{Value, json};

both_backends!(
    script_create_answers_the_script_and_its_links,
    script_put_patch_and_delete,
    script_list_filters_by_label_and_cuts_long_sources,
    bad_scripts_get_the_platform_messages,
    hidden_runtime_aliases_are_accepted_and_kept,
    runtimes_lists_every_runtime_key,
    read_admins_only_read_and_api_keys_are_refused,
);

const SCRIPTS: &str = "/v1.1/instances/scripts/snippets/scripts/";

async fn create(app: &TestApp, key: &str, body: Value) -> crate::helpers::Response {
    app.as_key(key, "POST", SCRIPTS, Some(body)).await
}

async fn script_create_answers_the_script_and_its_links(app: TestApp) {
    let admin = app.admin_with_instance("scripts").await;
    let body = json!({"runtime_name": "python3", "source": "print(1)\n", "label": "hello",
        "description": "says one", "config": {"a": 1}});
    let r = create(&app, &admin, body)
        .await
        .expect_json(StatusCode::CREATED);
    assert!(r["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(r["created_at"], r["updated_at"]);
    let base = "/v1.1/instances/scripts/snippets/scripts";
    let mut shown = r.clone();
    shown.as_object_mut().map(|o| {
        o.remove("created_at");
        o.remove("updated_at")
    });
    assert_eq!(
        shown,
        json!({"id": 1, "runtime_name": "python3", "source": "print(1)\n", "config": {"a": 1},
            "label": "hello", "description": "says one", "links": {
            "self": format!("{base}/1/"), "runtimes": format!("{base}/runtimes/"),
            "run": format!("{base}/1/run/"), "traces": format!("{base}/1/traces/")}})
    );
    let keys: Vec<&str> = r
        .as_object()
        .map_or(vec![], |o| o.keys().map(|k| k.as_str()).collect());
    assert_eq!(
        keys,
        [
            "id",
            "runtime_name",
            "source",
            "created_at",
            "updated_at",
            "config",
            "label",
            "description",
            "links"
        ]
    );
    let got = app
        .as_key(&admin, "GET", &format!("{SCRIPTS}1/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(got, r);
}

async fn script_put_patch_and_delete(app: TestApp) {
    let admin = app.admin_with_instance("scripts").await;
    create(
        &app,
        &admin,
        json!({"runtime_name": "nodejs_v6", "source": "  x  ", "label": "l"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let url = format!("{SCRIPTS}1/");
    let r = app
        .as_key(&admin, "PATCH", &url, Some(json!({"description": "d"})))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (
            &r["runtime_name"],
            &r["source"],
            &r["label"],
            &r["description"]
        ),
        (
            &json!("nodejs_v6"),
            &json!("  x  "),
            &json!("l"),
            &json!("d")
        ),
        "PATCH keeps the rest; the source is not trimmed"
    );
    let r = app
        .as_key(&admin, "PUT", &url, Some(json!({"runtime_name": "ruby"})))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (&r["runtime_name"], &r["source"], &r["label"], &r["config"]),
        (&json!("ruby"), &json!(""), &json!(""), &json!({})),
        "PUT resets what it does not send"
    );
    app.as_key(&admin, "PUT", &url, Some(json!({"source": "x"})))
        .await
        .expect(StatusCode::BAD_REQUEST);
    app.as_key(&admin, "DELETE", &url, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "GET", &url, None)
        .await
        .expect(StatusCode::NOT_FOUND);
    app.as_key(&admin, "GET", &format!("{SCRIPTS}abc/"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn script_list_filters_by_label_and_cuts_long_sources(app: TestApp) {
    let admin = app.admin_with_instance("scripts").await;
    let long = "y".repeat(70_000);
    create(
        &app,
        &admin,
        json!({"runtime_name": "python3", "source": long, "label": "big one"}),
    )
    .await
    .expect(StatusCode::CREATED);
    create(
        &app,
        &admin,
        json!({"runtime_name": "python3", "source": "small", "label": "tiny"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let list = app
        .as_key(&admin, "GET", SCRIPTS, None)
        .await
        .expect_json(StatusCode::OK);
    let source = list["objects"][0]["source"].as_str().unwrap_or_default();
    assert_eq!(source.chars().count(), 65536);
    assert!(source.ends_with("y\n(...truncated...)"));
    assert_eq!(list["objects"][1]["source"], "small");
    let detail = app
        .as_key(&admin, "GET", &format!("{SCRIPTS}1/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        detail["source"].as_str().map(str::len),
        Some(70_000),
        "detail is whole"
    );
    let r = app
        .as_key(
            &admin,
            "GET",
            &format!("{SCRIPTS}?label__startswith=tin"),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    let ids: Vec<&Value> = r["objects"]
        .as_array()
        .map_or(vec![], |a| a.iter().map(|o| &o["id"]).collect());
    assert_eq!(ids, [&json!(2)]);
}

async fn bad_scripts_get_the_platform_messages(app: TestApp) {
    let admin = app.admin_with_instance("scripts").await;
    let cases = [
        (
            json!({}),
            json!({"runtime_name": ["This field is required."]}),
        ),
        (
            json!({"runtime_name": "cobol"}),
            json!({"runtime_name": ["\"cobol\" is not a valid choice."]}),
        ),
        (
            json!({"runtime_name": "python3", "config": [1]}),
            json!({"config": ["Config passed in invalid format."]}),
        ),
        (
            json!({"runtime_name": "python3", "config": "{x"}),
            json!({"config": ["Not a valid JSON string."]}),
        ),
        (
            json!({"runtime_name": "python3", "label": "l".repeat(65)}),
            json!({"label": ["Ensure this field has no more than 64 characters."]}),
        ),
        (
            json!({"runtime_name": "python3", "description": "d".repeat(257)}),
            json!({"description": ["Ensure this field has no more than 256 characters."]}),
        ),
        (
            json!({"runtime_name": "python3", "source": "s".repeat(3 * 1024 * 1024 + 1)}),
            json!({"source": ["Ensure this field has no more than 3145728 characters."]}),
        ),
    ];
    for (body, errors) in cases {
        let r = create(&app, &admin, body)
            .await
            .expect_json(StatusCode::BAD_REQUEST);
        assert_eq!(r, errors);
    }
    let list = app
        .as_key(&admin, "GET", SCRIPTS, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(list["objects"], json!([]));
}

async fn hidden_runtime_aliases_are_accepted_and_kept(app: TestApp) {
    let admin = app.admin_with_instance("scripts").await;
    for alias in ["python", "nodejs"] {
        let r = create(&app, &admin, json!({"runtime_name": alias}))
            .await
            .expect_json(StatusCode::CREATED);
        assert_eq!(r["runtime_name"], alias);
    }
}

async fn runtimes_lists_every_runtime_key(app: TestApp) {
    let admin = app.admin_with_instance("scripts").await;
    let reader = admin_with_role(&app, "scripts", Role::Read).await;
    let r = app
        .as_key(&reader, "GET", &format!("{SCRIPTS}runtimes/"), None)
        .await
        .expect_json(StatusCode::OK);
    let keys: Vec<&str> = r
        .as_object()
        .map_or(vec![], |o| o.keys().map(|k| k.as_str()).collect());
    assert_eq!(
        keys,
        [
            "nodejs_library_v0.4",
            "nodejs_library_v1.0",
            "nodejs_v6",
            "python_library_v4.2",
            "python_library_v5.0",
            "python3",
            "ruby",
            "golang",
            "swift",
            "php"
        ]
    );
    assert_eq!(r["python3"]["name"], "Python 3");
    assert_eq!(r["python3"]["deprecated"], false);
    assert_eq!(r["python_library_v4.2"]["deprecated"], true);
    assert_eq!(r["golang"]["library"], Value::Null);
    let key = app
        .api_key(&admin, "scripts", json!({"ignore_acl": true}))
        .await;
    app.as_key(&key, "GET", &format!("{SCRIPTS}runtimes/"), None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn read_admins_only_read_and_api_keys_are_refused(app: TestApp) {
    let owner = app.admin_with_instance("scripts").await;
    create(&app, &owner, json!({"runtime_name": "python3"}))
        .await
        .expect(StatusCode::CREATED);
    let writer = admin_with_role(&app, "scripts", Role::Write).await;
    create(&app, &writer, json!({"runtime_name": "python3"}))
        .await
        .expect(StatusCode::CREATED);
    let reader = admin_with_role(&app, "scripts", Role::Read).await;
    app.as_key(&reader, "GET", &format!("{SCRIPTS}1/"), None)
        .await
        .expect(StatusCode::OK);
    create(&app, &reader, json!({"runtime_name": "python3"}))
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(&reader, "DELETE", &format!("{SCRIPTS}1/"), None)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(
        &reader,
        "POST",
        &format!("{SCRIPTS}1/run/"),
        Some(json!({})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    let key = app
        .api_key(&owner, "scripts", json!({"ignore_acl": true}))
        .await;
    app.as_key(&key, "GET", SCRIPTS, None)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(&key, "GET", &format!("{SCRIPTS}1/"), None)
        .await
        .expect(StatusCode::FORBIDDEN);
}
