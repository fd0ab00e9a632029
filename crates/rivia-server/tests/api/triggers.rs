//! Triggers CRUD `triggers/` (rest §3): fields and links, every validation message,
//! permissions by role and API key, traces of an unknown trigger.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::snippets_config::admin_with_role;
use axum::http::StatusCode;
use rivia_core::perms::Role;
use serde_json::{Value, json};

both_backends!(
    trigger_create_answers_the_trigger_and_its_links,
    trigger_put_patch_list_and_delete,
    bad_triggers_get_the_platform_messages,
    read_admins_only_read_triggers_and_api_keys_are_refused,
    traces_of_an_unknown_trigger_are_404,
    deleting_the_script_deletes_its_triggers,
);

pub const TRIGGERS: &str = "/v1.1/instances/trigs/triggers/";

/// Instance `trig` with class `dog` (field `name`) and python3 script 1 (`source`):
/// the admin key.
pub async fn setup(app: &TestApp, source: &str) -> String {
    let admin = app.admin_with_instance("trigs").await;
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/trigs/classes/",
        Some(json!({"name": "dog", "schema": [{"name": "name", "type": "string"}]})),
    )
    .await
    .expect(StatusCode::CREATED);
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/trigs/snippets/scripts/",
        Some(json!({"runtime_name": "python3", "source": source})),
    )
    .await
    .expect(StatusCode::CREATED);
    admin
}

async fn create(app: &TestApp, key: &str, body: Value) -> crate::helpers::Response {
    app.as_key(key, "POST", TRIGGERS, Some(body)).await
}

async fn trigger_create_answers_the_trigger_and_its_links(app: TestApp) {
    let admin = setup(&app, "print(1)").await;
    let r = create(
        &app,
        &admin,
        json!({"signal": "post_create", "class": "dog", "script": 1, "label": "new dogs",
            "description": "says hello"}),
    )
    .await
    .expect_json(StatusCode::CREATED);
    assert!(r["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(r["created_at"], r["updated_at"]);
    let keys: Vec<&str> = r
        .as_object()
        .map_or(vec![], |o| o.keys().map(|k| k.as_str()).collect());
    assert_eq!(
        keys,
        [
            "id",
            "label",
            "description",
            "signal",
            "class",
            "created_at",
            "updated_at",
            "script",
            "links"
        ]
    );
    let base = "/v1.1/instances/trigs";
    assert_eq!(
        json!([
            r["id"],
            r["label"],
            r["description"],
            r["signal"],
            r["class"],
            r["script"],
            r["links"]
        ]),
        json!([1, "new dogs", "says hello", "post_create", "dog", 1, {
            "self": format!("{base}/triggers/1/"),
            "script": format!("{base}/snippets/scripts/1/"),
            "class": format!("{base}/classes/dog/"),
            "traces": format!("{base}/triggers/1/traces/"),
        }])
    );
    let got = app
        .as_key(&admin, "GET", &format!("{TRIGGERS}1/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(got, r);
}

async fn trigger_put_patch_list_and_delete(app: TestApp) {
    let admin = setup(&app, "print(1)").await;
    create(
        &app,
        &admin,
        json!({"signal": "post_create", "class": "dog", "script": 1, "label": "a"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let url = format!("{TRIGGERS}1/");
    let patched = app
        .as_key(
            &admin,
            "PATCH",
            &url,
            Some(json!({"signal": "post_delete"})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (patched["signal"].clone(), patched["label"].clone()),
        (json!("post_delete"), json!("a"))
    );
    // PUT is a full update: missing required fields are errors, label resets.
    let bad = app
        .as_key(&admin, "PUT", &url, Some(json!({"signal": "post_update"})))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        bad,
        json!({"class": ["This field is required."], "script": ["This field is required."]})
    );
    let put = app
        .as_key(
            &admin,
            "PUT",
            &url,
            Some(json!({"signal": "post_update", "class": "dog", "script": 1})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (put["signal"].clone(), put["label"].clone()),
        (json!("post_update"), json!(""))
    );
    let list = app
        .as_key(&admin, "GET", TRIGGERS, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(list["objects"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["objects"][0], put);
    app.as_key(&admin, "DELETE", &url, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "GET", &url, None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn bad_triggers_get_the_platform_messages(app: TestApp) {
    let admin = setup(&app, "print(1)").await;
    let cases = [
        (
            json!({}),
            json!({"signal": ["This field is required."], "class": ["This field is required."],
                "script": ["This field is required."]}),
        ),
        (
            json!({"signal": "unknown", "class": "cat", "script": 7}),
            json!({"signal": ["\"unknown\" is not a valid choice."],
                "class": ["Object with name=cat does not exist."],
                "script": ["Invalid pk \"7\" - object does not exist."]}),
        ),
        (
            json!({"signal": null, "class": null, "script": "x"}),
            json!({"signal": ["This field may not be null."], "class": ["This field may not be null."],
                "script": ["Invalid pk \"x\" - object does not exist."]}),
        ),
        (
            json!({"signal": "post_create", "class": {"a": 1}, "script": [1], "label": "l".repeat(65)}),
            json!({"label": ["Ensure this field has no more than 64 characters."],
                "class": ["Invalid value."],
                "script": ["Incorrect type. Expected pk value, received list."]}),
        ),
    ];
    for (body, errors) in cases {
        let r = create(&app, &admin, body.clone())
            .await
            .expect_json(StatusCode::BAD_REQUEST);
        assert_eq!(r, errors, "{body}");
    }
    let none = app
        .as_key(&admin, "GET", TRIGGERS, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(none["objects"], json!([]));
}

async fn read_admins_only_read_triggers_and_api_keys_are_refused(app: TestApp) {
    let admin = setup(&app, "print(1)").await;
    create(
        &app,
        &admin,
        json!({"signal": "post_create", "class": "dog", "script": 1}),
    )
    .await
    .expect(StatusCode::CREATED);
    let reader = admin_with_role(&app, "trigs", Role::Read).await;
    app.as_key(&reader, "GET", &format!("{TRIGGERS}1/"), None)
        .await
        .expect(StatusCode::OK);
    let body = json!({"signal": "post_create", "class": "dog", "script": 1});
    create(&app, &reader, body.clone())
        .await
        .expect(StatusCode::FORBIDDEN);
    let writer = admin_with_role(&app, "trigs", Role::Write).await;
    create(&app, &writer, body.clone())
        .await
        .expect(StatusCode::CREATED);
    let key = app
        .api_key(&admin, "trigs", json!({"ignore_acl": true}))
        .await;
    app.as_key(&key, "GET", TRIGGERS, None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn traces_of_an_unknown_trigger_are_404(app: TestApp) {
    let admin = setup(&app, "print(1)").await;
    let r = app
        .as_key(&admin, "GET", &format!("{TRIGGERS}9/traces/"), None)
        .await
        .expect_json(StatusCode::NOT_FOUND);
    assert_eq!(r, json!({"detail": "Trigger was not found."}));
    let r = app
        .call("GET", &format!("{TRIGGERS}9/traces/1/"), &[], None)
        .await
        .expect_json(StatusCode::NOT_FOUND);
    assert_eq!(r, json!({"detail": "Trigger was not found."}));
}

async fn deleting_the_script_deletes_its_triggers(app: TestApp) {
    let admin = setup(&app, "print(1)").await;
    create(
        &app,
        &admin,
        json!({"signal": "post_create", "class": "dog", "script": 1}),
    )
    .await
    .expect(StatusCode::CREATED);
    app.as_key(
        &admin,
        "DELETE",
        "/v1.1/instances/trigs/snippets/scripts/1/",
        None,
    )
    .await
    .expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "GET", &format!("{TRIGGERS}1/"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
    // Objects of the class are still written, with no run to do.
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/trigs/classes/dog/objects/",
        Some(json!({"name": "a"})),
    )
    .await
    .expect(StatusCode::CREATED);
    assert_eq!(app.store.count_jobs("trigger").await.expect("db"), 0);
}
