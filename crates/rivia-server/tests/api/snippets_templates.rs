//! Response templates `snippets/templates/` (rest §7): the predefined templates, CRUD,
//! `rename/`, `render/`, the platform's validation messages and who may do what.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::snippets_config::admin_with_role;
use axum::http::StatusCode;
use rivia_core::perms::Role;
use serde_json::{Value, json};

both_backends!(
    every_instance_starts_with_the_predefined_templates,
    create_answers_the_template_and_get_lists_it,
    put_patch_rename_and_delete,
    bad_templates_get_the_platform_messages,
    names_are_unique_and_lowercase,
    render_uses_the_context_and_answers_the_content_type,
    render_errors_are_json_400,
    read_admins_and_api_keys_read_and_render_only,
    anonymous_callers_are_refused,
);

const LIST: &str = "/v1.1/instances/tpl-demo/snippets/templates/";

fn item(name: &str) -> String {
    format!("{LIST}{name}/")
}

async fn create(app: &TestApp, key: &str, body: Value) -> crate::helpers::Response {
    app.as_key(key, "POST", LIST, Some(body)).await
}

fn hello() -> Value {
    json!({"name": "hello", "content": "<p>{{ greeting }}, {{ instance }}</p>",
        "content_type": "text/html", "context": {"greeting": "Hi"}, "description": "greets"})
}

async fn every_instance_starts_with_the_predefined_templates(app: TestApp) {
    let admin = app.admin_with_instance("tpl-demo").await;
    let list = app
        .as_key(&admin, "GET", LIST, None)
        .await
        .expect_json(StatusCode::OK);
    let names: Vec<&str> = list["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["objects_html_table", "objects_csv"]);
    let csv = app
        .as_key(&admin, "GET", &item("objects_csv"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(csv["content_type"], "text/csv");
    assert_eq!(csv["context"]["delimiter"], ",");
    assert_eq!(csv["context"]["newline"], "\n");
    assert_eq!(
        csv["context"]["fields_to_skip"].as_array().map(Vec::len),
        Some(12)
    );
    let html = app
        .as_key(&admin, "GET", &item("objects_html_table"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(html["content_type"], "text/html");
    assert_eq!(html["context"]["table_classes"], "");
}

async fn create_answers_the_template_and_get_lists_it(app: TestApp) {
    let admin = app.admin_with_instance("tpl-demo").await;
    let r = create(&app, &admin, hello())
        .await
        .expect_json(StatusCode::CREATED);
    assert_eq!(
        r,
        json!({"name": "hello", "content": "<p>{{ greeting }}, {{ instance }}</p>",
            "content_type": "text/html", "context": {"greeting": "Hi"}, "description": "greets",
            "links": {"self": item("hello"), "rename": format!("{}rename/", item("hello"))}})
    );
    let keys: Vec<&str> = r
        .as_object()
        .map_or(vec![], |o| o.keys().map(String::as_str).collect());
    assert_eq!(
        keys,
        [
            "name",
            "content",
            "content_type",
            "context",
            "description",
            "links"
        ]
    );
    let got = app
        .as_key(&admin, "GET", &item("HELLO"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(got, r);
    let list = app
        .as_key(&admin, "GET", &format!("{LIST}?page_size=2"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(list["objects"].as_array().map(Vec::len), Some(2));
    let next = list["next"].as_str().expect("a next page").to_owned();
    let rest = app
        .as_key(&admin, "GET", &next, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(rest["objects"][0]["name"], "hello");
    // DRF's CharField trims: surrounding whitespace of the content is not stored.
    let trimmed = create(
        &app,
        &admin,
        json!({"name": "trim", "content": "\n  {{ x }}  \n", "content_type": "text/plain"}),
    )
    .await
    .expect_json(StatusCode::CREATED);
    assert_eq!(trimmed["content"], "{{ x }}");
    assert_eq!(trimmed["context"], json!({}));
    assert_eq!(trimmed["description"], "");
}

async fn put_patch_rename_and_delete(app: TestApp) {
    let admin = app.admin_with_instance("tpl-demo").await;
    create(&app, &admin, hello())
        .await
        .expect(StatusCode::CREATED);
    // PATCH changes what it names.
    let r = app
        .as_key(
            &admin,
            "PATCH",
            &item("hello"),
            Some(json!({"content": "{{ greeting }}!"})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r["content"], "{{ greeting }}!");
    assert_eq!(r["context"], json!({"greeting": "Hi"}));
    // PUT needs content and content_type, resets the context, keeps the description and
    // ignores a name.
    let missing = app
        .as_key(&admin, "PUT", &item("hello"), Some(json!({"content": "x"})))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        missing,
        json!({"content_type": ["This field is required."]})
    );
    let r = app
        .as_key(
            &admin,
            "PUT",
            &item("hello"),
            Some(json!({"name": "other", "content": "plain", "content_type": "text/plain"})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (&r["name"], &r["context"], &r["description"]),
        (&json!("hello"), &json!({}), &json!("greets"))
    );
    // rename/ moves it, links follow.
    let r = app
        .as_key(
            &admin,
            "POST",
            &format!("{}rename/", item("hello")),
            Some(json!({"new_name": "Welcome"})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r["name"], "welcome");
    assert_eq!(r["links"]["self"], item("welcome"));
    app.as_key(&admin, "GET", &item("hello"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
    app.as_key(&admin, "DELETE", &item("welcome"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "GET", &item("welcome"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
    // The predefined templates are ordinary templates: they may be deleted too.
    app.as_key(&admin, "DELETE", &item("objects_csv"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
}

async fn bad_templates_get_the_platform_messages(app: TestApp) {
    let admin = app.admin_with_instance("tpl-demo").await;
    let r = create(&app, &admin, json!({}))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        r,
        json!({"name": ["This field is required."], "content": ["This field is required."],
            "content_type": ["This field is required."]})
    );
    let base = |over: Value| {
        let mut body = hello();
        body.as_object_mut()
            .expect("object")
            .extend(over.as_object().expect("object").clone());
        body
    };
    let cases = [
        (
            json!({"content_type": "html"}),
            "content_type",
            "Not a valid content_type.",
        ),
        (
            json!({"content_type": "text/html; charset=utf-8"}),
            "content_type",
            "Not a valid content_type.",
        ),
        (
            json!({"content": ""}),
            "content",
            "This field may not be blank.",
        ),
        (
            json!({"content": "x".repeat(65537)}),
            "content",
            "Ensure this field has no more than 65536 characters.",
        ),
        (
            json!({"context": [1]}),
            "context",
            "Context passed in invalid format.",
        ),
        (
            json!({"context": "{x"}),
            "context",
            "Not a valid JSON string.",
        ),
        (
            json!({"context": {"response": 1}}),
            "context",
            "Reserved key \"response\" used.",
        ),
        (
            json!({"context": {"User": 1}}),
            "context",
            "Reserved key \"User\" used.",
        ),
        (
            json!({"context": null}),
            "context",
            "This field may not be null.",
        ),
        (
            json!({"context": {"k".repeat(129): 1}}),
            "context",
            "Too long key defined (exceeds 128).",
        ),
        (
            json!({"context": {"big": "x".repeat(5000)}}),
            "context",
            "Too long value defined for key big (exceeds 4096).",
        ),
        (
            json!({"name": "9lives"}),
            "name",
            "Value has to start with a letter.",
        ),
        (
            json!({"description": "d".repeat(257)}),
            "description",
            "Ensure this field has no more than 256 characters.",
        ),
    ];
    for (over, field, message) in cases {
        let r = create(&app, &admin, base(over.clone()))
            .await
            .expect_json(StatusCode::BAD_REQUEST);
        assert_eq!(r, json!({field: [message]}), "{over}");
    }
    let many: serde_json::Map<String, Value> =
        (0..33).map(|i| (format!("k{i}"), json!(i))).collect();
    let r = create(&app, &admin, base(json!({"context": many})))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        r,
        json!({"context": ["Too many keys defined (exceeds 32)."]})
    );
    // A syntax error names what is wrong and where.
    let r = create(
        &app,
        &admin,
        base(json!({"content": "<ul>{% for i in objects %}<li>{{ i }}</li>\n{% endfo %}</ul>"})),
    )
    .await
    .expect_json(StatusCode::BAD_REQUEST);
    let message = r["content"][0].as_str().expect("a content error");
    assert!(message.contains("line 2"), "{message}");
    // The context given as JSON text is stored as an object.
    let r = create(
        &app,
        &admin,
        base(json!({"name": "texty", "context": "{\"a\": [1]}"})),
    )
    .await
    .expect_json(StatusCode::CREATED);
    assert_eq!(r["context"], json!({"a": [1]}));
}

async fn names_are_unique_and_lowercase(app: TestApp) {
    let admin = app.admin_with_instance("tpl-demo").await;
    let r = create(
        &app,
        &admin,
        json!({"name": " Mixed_Case-1 ", "content": "x",
        "content_type": "text/plain"}),
    )
    .await
    .expect_json(StatusCode::CREATED);
    assert_eq!(r["name"], "mixed_case-1");
    let r = create(
        &app,
        &admin,
        json!({"name": "MIXED_case-1", "content": "x",
        "content_type": "text/plain"}),
    )
    .await
    .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(r, json!({"name": ["This field must be unique."]}));
    let rename = format!("{}rename/", item("mixed_case-1"));
    let r = app
        .as_key(
            &admin,
            "POST",
            &rename,
            Some(json!({"new_name": "objects_csv"})),
        )
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(r, json!({"new_name": ["This field must be unique."]}));
    let r = app
        .as_key(&admin, "POST", &rename, Some(json!({})))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(r, json!({"new_name": ["This field may not be null."]}));
    // Its own name is free to keep.
    app.as_key(
        &admin,
        "POST",
        &rename,
        Some(json!({"new_name": "mixed_case-1"})),
    )
    .await
    .expect(StatusCode::OK);
}

async fn render_uses_the_context_and_answers_the_content_type(app: TestApp) {
    let admin = app.admin_with_instance("tpl-demo").await;
    create(
        &app,
        &admin,
        json!({"name": "card", "content_type": "text/html", "context": {"one": 1, "two": 2},
            "content": "<div>{{ user }};{{ instance }};{{ action }};{{ one }};{{ two }};</div>"}),
    )
    .await
    .expect(StatusCode::CREATED);
    let render = format!("{}render/", item("card"));
    let r = app.as_key(&admin, "POST", &render, None).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.body, json!("<div>;tpl-demo;render;1;2;</div>"));
    // A context replaces the template's; reserved keys are allowed here.
    let r = app
        .as_key(
            &admin,
            "POST",
            &render,
            Some(json!({"context": {"one": 11, "action": "detail"}})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r, json!("<div>;tpl-demo;detail;11;;</div>"));
    // An empty context falls back to the template's.
    let r = app
        .as_key(&admin, "POST", &render, Some(json!({"context": {}})))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r, json!("<div>;tpl-demo;render;1;2;</div>"));
    // An API key with a user key renders with the user's name.
    let api_key = app.api_key(&admin, "tpl-demo", json!({})).await;
    let (_, user_key) = crate::helpers::store_user(&app, "tpl-demo", "john@doe.com").await;
    let r = app
        .as_user(&api_key, &user_key, "POST", &render, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r, json!("<div>john@doe.com;tpl-demo;render;1;2;</div>"));
    // The context is validated like a stored one, reserved keys aside.
    let r = app
        .as_key(&admin, "POST", &render, Some(json!({"context": [1]})))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(r, json!({"context": ["Context passed in invalid format."]}));
    app.as_key(&admin, "POST", &format!("{}render/", item("nope")), None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn render_errors_are_json_400(app: TestApp) {
    let admin = app.admin_with_instance("tpl-demo").await;
    let render = |name: &str| format!("{}render/", item(name));
    for (name, content) in [
        ("undefined", "{{ some_object.gimme_this }}"),
        ("unsafe", "{{ a.__class__.__base__.__subclasses__() }}"),
        ("call", "{{ true() }}"),
        (
            "append",
            "{% for o in objects %}{{ objects.append(1) }}{% endfor %}",
        ),
    ] {
        create(
            &app,
            &admin,
            json!({"name": name, "content": content, "content_type": "application/json",
                "context": {"a": {}, "objects": [1, 2, 3]}}),
        )
        .await
        .expect(StatusCode::CREATED);
        let r = app.as_key(&admin, "POST", &render(name), None).await;
        assert_eq!(r.header("content-type"), Some("application/json"), "{name}");
        let body = r.expect_json(StatusCode::BAD_REQUEST);
        let detail = body["detail"].as_str().expect("detail");
        assert!(
            detail.starts_with("Template rendering failed: "),
            "{name}: {detail}"
        );
    }
    // The failing expression is named.
    let body = app
        .as_key(&admin, "POST", &render("undefined"), None)
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("some_object")),
        "{body}"
    );
}

async fn read_admins_and_api_keys_read_and_render_only(app: TestApp) {
    let owner = app.admin_with_instance("tpl-demo").await;
    create(&app, &owner, hello())
        .await
        .expect(StatusCode::CREATED);
    let render = format!("{}render/", item("hello"));
    for role in [Role::Write, Role::Read] {
        let admin = admin_with_role(&app, "tpl-demo", role).await;
        app.as_key(&admin, "GET", LIST, None)
            .await
            .expect(StatusCode::OK);
        app.as_key(&admin, "GET", &item("hello"), None)
            .await
            .expect(StatusCode::OK);
        let body = json!({"name": "mine", "content": "x", "content_type": "text/plain"});
        app.as_key(&admin, "POST", LIST, Some(body))
            .await
            .expect(StatusCode::FORBIDDEN);
        app.as_key(
            &admin,
            "PATCH",
            &item("hello"),
            Some(json!({"content": "y"})),
        )
        .await
        .expect(StatusCode::FORBIDDEN);
        app.as_key(&admin, "DELETE", &item("hello"), None)
            .await
            .expect(StatusCode::FORBIDDEN);
        // Rendering is an update for admins (the platform's permission table).
        app.as_key(&admin, "POST", &render, None)
            .await
            .expect(StatusCode::FORBIDDEN);
    }
    let full = admin_with_role(&app, "tpl-demo", Role::Full).await;
    app.as_key(
        &full,
        "PATCH",
        &item("hello"),
        Some(json!({"description": "d"})),
    )
    .await
    .expect(StatusCode::OK);
    let key = app
        .api_key(&owner, "tpl-demo", json!({"ignore_acl": true}))
        .await;
    app.as_key(&key, "GET", LIST, None)
        .await
        .expect(StatusCode::OK);
    let r = app.as_key(&key, "POST", &render, None).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.body, json!("<p>Hi, tpl-demo</p>"));
    let body = json!({"name": "mine", "content": "x", "content_type": "text/plain"});
    app.as_key(&key, "POST", LIST, Some(body))
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(&key, "PUT", &item("hello"), Some(hello()))
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(
        &key,
        "POST",
        &format!("{}rename/", item("hello")),
        Some(json!({"new_name": "x"})),
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    app.as_key(&key, "DELETE", &item("hello"), None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn anonymous_callers_are_refused(app: TestApp) {
    app.admin_with_instance("tpl-demo").await;
    let other = app.admin_with_instance("tpl-other").await;
    for (method, url) in [
        ("GET", LIST.to_string()),
        ("GET", item("objects_csv")),
        ("POST", format!("{}render/", item("objects_csv"))),
    ] {
        app.call(method, &url, &[], None)
            .await
            .expect(StatusCode::FORBIDDEN);
        // An admin of another instance has no role here.
        app.as_key(&other, method, &url, None)
            .await
            .expect(StatusCode::FORBIDDEN);
    }
}
