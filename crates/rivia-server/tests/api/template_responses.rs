//! Response templates on instance-scoped GETs (rest §7): asked for by header or query
//! parameter, rendered with the view's JSON as `response` plus `action`, `instance`, `user`
//! and the template's context, in the template's content type; unknown templates are 406,
//! errors stay JSON, views without an action answer 400, and `batch/` looks templates up
//! without rendering them.

use crate::both_backends;
use crate::helpers::{Response, TestApp, store_user};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

both_backends!(
    a_list_and_an_object_render_through_the_predefined_templates,
    the_template_gets_the_views_json_as_response,
    any_of_the_four_names_asks_for_a_template,
    the_context_has_the_user_instance_action_and_the_templates_context,
    unknown_templates_are_406_even_before_authentication,
    errors_stay_json,
    views_without_an_action_refuse_templates,
    a_template_replaces_the_accept_check,
    field_selection_applies_before_the_template,
    render_errors_on_a_get_are_json_400,
    other_methods_and_other_routes_ignore_templates,
    batch_looks_templates_up_but_answers_json,
    a_page_asked_again_follows_its_data_its_template_and_its_user,
);

const INST: &str = "tpl-hook";
const OBJECTS: &str = "/v1.1/instances/tpl-hook/classes/items/objects/";

/// The instance with a class `items` (title, score, price, tags) and two objects; the
/// owner's account key.
async fn seed(app: &TestApp) -> String {
    let admin = app.admin_with_instance(INST).await;
    let schema = json!([{"name": "title", "type": "string"}, {"name": "score", "type": "integer", "filter_index": true},
        {"name": "price", "type": "float"}, {"name": "tags", "type": "array"}]);
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/tpl-hook/classes/",
        Some(json!({"name": "items", "schema": schema, "other_permissions": "read"})),
    )
    .await
    .expect(StatusCode::CREATED);
    for body in [
        json!({"title": "Zażółć \"x\" <b>", "score": 5, "price": 2.0, "tags": ["a", "ü"]}),
        json!({"title": "plain, comma", "score": -7, "price": 0.5, "tags": []}),
    ] {
        app.as_key(&admin, "POST", OBJECTS, Some(body))
            .await
            .expect(StatusCode::CREATED);
    }
    admin
}

async fn get(app: &TestApp, key: &str, url: &str, headers: &[(&str, &str)]) -> Response {
    let mut all = vec![("x-api-key", key)];
    all.extend_from_slice(headers);
    app.call("GET", url, &all, None).await
}

/// The body as text (the helper reads an empty body as null).
fn text(r: &Response) -> &str {
    if r.body.is_null() {
        return "";
    }
    r.body
        .as_str()
        .unwrap_or_else(|| panic!("{}: not text: {}", r.request, r.body))
}

async fn a_list_and_an_object_render_through_the_predefined_templates(app: TestApp) {
    let admin = seed(&app).await;
    let csv = get(
        &app,
        &admin,
        OBJECTS,
        &[("x-template-response", "objects_csv")],
    )
    .await;
    csv.expect(StatusCode::OK);
    assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
    // The platform's CSV as it was: every value quoted (quotes not doubled), a leading
    // delimiter when the object's first field is a skipped one, eight spaces at line end,
    // floats and lists printed as Python and JSON print them.
    assert_eq!(
        text(&csv),
        "title,score,price,tags\n\
         ,\"Zażółć \"x\" <b>\",\"5\",\"2.0\",\"[\"a\",\"\\u00FC\"]\"        \n\
         ,\"plain, comma\",\"-7\",\"0.5\",\"[]\"        \n"
    );
    let html = get(
        &app,
        &admin,
        &format!("{OBJECTS}1/"),
        &[("x-template-response", "objects_html_table")],
    )
    .await;
    html.expect(StatusCode::OK);
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        text(&html),
        "\n    <table>\n\n    <tr>\n            <th>title</th>\n            <th>score</th>\n\
         \x20           <th>price</th>\n            <th>tags</th>\n    </tr>\n        <tr>\n\
         \x20           <td>Zażółć \"x\" <b></td>\n            <td>5</td>\n            <td>2.0</td>\n\
         \x20           <td>[\"a\",\"\\u00FC\"]</td>\n        </tr>\n    </table>\n"
    );
    // An empty list renders the template's empty case.
    let empty = get(
        &app,
        &admin,
        &format!("{OBJECTS}?query=%7B%22score%22%3A%7B%22_gt%22%3A100%7D%7D"),
        &[("x-template-response", "objects_html_table")],
    )
    .await;
    assert_eq!(text(&empty), "\n");
}

async fn the_template_gets_the_views_json_as_response(app: TestApp) {
    let admin = seed(&app).await;
    // `render/` with the same context the hook builds renders the same text: the hook
    // passes the list's JSON, unchanged, as `response`.
    let list = get(&app, &admin, OBJECTS, &[])
        .await
        .expect_json(StatusCode::OK);
    let template = app
        .as_key(
            &admin,
            "GET",
            "/v1.1/instances/tpl-hook/snippets/templates/objects_html_table/",
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    let mut context = template["context"].as_object().expect("context").clone();
    context.insert("response".into(), list);
    context.insert("action".into(), json!("list"));
    let rendered = app
        .as_key(
            &admin,
            "POST",
            "/v1.1/instances/tpl-hook/snippets/templates/objects_html_table/render/",
            Some(json!({"context": context})),
        )
        .await
        .expect_json(StatusCode::OK);
    let through_hook = get(
        &app,
        &admin,
        OBJECTS,
        &[("x-template", "objects_html_table")],
    )
    .await;
    assert_eq!(through_hook.body, rendered);
    // A JSON template replaces the answer entirely.
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/tpl-hook/snippets/templates/",
        Some(json!({"name": "count", "content_type": "application/json",
            "content": "{\"count\": {{ response.objects|length }}, \"first\": {{ response.objects[0].title|tojson }}}"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let r = get(&app, &admin, OBJECTS, &[("x-template", "count")]).await;
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.expect_json(StatusCode::OK),
        json!({"count": 2, "first": "Zażółć \"x\" <b>"})
    );
}

async fn any_of_the_four_names_asks_for_a_template(app: TestApp) {
    let admin = seed(&app).await;
    let csv_header = "title,score,price,tags\n";
    for headers in [
        vec![("x-template", "objects_csv")],
        vec![("x-template-response", "objects_csv")],
        // X-TEMPLATE comes first; a blank header names nothing and the query decides.
        vec![
            ("x-template", "objects_csv"),
            ("x-template-response", "nope"),
        ],
        vec![("x-template", "")],
    ] {
        let url = if headers.iter().any(|(_, v)| v.is_empty()) {
            format!("{OBJECTS}?template_response=objects_csv")
        } else {
            OBJECTS.to_string()
        };
        let r = get(&app, &admin, &url, &headers).await;
        r.expect(StatusCode::OK);
        assert!(text(&r).starts_with(csv_header), "{headers:?}");
    }
    for query in [
        "template=objects_csv",
        "template_response=objects_csv",
        "template=objects_csv&template_response=nope",
    ] {
        let r = get(&app, &admin, &format!("{OBJECTS}?{query}"), &[]).await;
        r.expect(StatusCode::OK);
        assert!(text(&r).starts_with(csv_header), "{query}");
    }
    // A blank `template` names none, even with `template_response` after it.
    let r = get(
        &app,
        &admin,
        &format!("{OBJECTS}?template=&template_response=objects_csv"),
        &[],
    )
    .await;
    assert!(r.expect_json(StatusCode::OK)["objects"].is_array());
}

async fn the_context_has_the_user_instance_action_and_the_templates_context(app: TestApp) {
    let admin = seed(&app).await;
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/tpl-hook/snippets/templates/",
        Some(json!({"name": "who", "content_type": "text/plain", "context": {"one": 1},
            "content": "{{ user }};{{ instance }};{{ action }};{{ one }};{{ response.objects|length if response.objects is defined else response.title }}"})),
    )
    .await
    .expect(StatusCode::CREATED);
    // `ignore_acl`: the user sees the admin's objects.
    let key = app.api_key(&admin, INST, json!({"ignore_acl": true})).await;
    let (_, user_key) = store_user(&app, INST, "john@doe.com").await;
    let headers = [("x-user-key", user_key.as_str()), ("x-template", "who")];
    let r = get(&app, &key, OBJECTS, &headers).await;
    assert_eq!(text(&r), "john@doe.com;tpl-hook;list;1;2");
    let r = get(&app, &key, &format!("{OBJECTS}2/"), &headers).await;
    assert_eq!(text(&r), "john@doe.com;tpl-hook;retrieve;1;plain, comma");
    // No user key, no user; an admin has none either.
    let r = get(&app, &key, OBJECTS, &[("x-template", "who")]).await;
    assert_eq!(text(&r), ";tpl-hook;list;1;2");
    let r = get(
        &app,
        &admin,
        "/v1.1/instances/tpl-hook/classes/",
        &[("x-template", "who")],
    )
    .await;
    assert_eq!(text(&r), ";tpl-hook;list;1;2");
}

async fn unknown_templates_are_406_even_before_authentication(app: TestApp) {
    let admin = seed(&app).await;
    let r = get(&app, &admin, OBJECTS, &[("x-template-response", "nope")]).await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_ACCEPTABLE),
        json!({"detail": "Could not satisfy the request Accept header."})
    );
    // The platform negotiated before authenticating.
    let r = app
        .call("GET", &format!("{OBJECTS}?template=nope"), &[], None)
        .await;
    r.expect(StatusCode::NOT_ACCEPTABLE);
    // Names are looked up as sent: stored names are lowercase.
    let r = get(&app, &admin, OBJECTS, &[("x-template", "Objects_CSV")]).await;
    r.expect(StatusCode::NOT_ACCEPTABLE);
    // An unknown instance is the instance's 404.
    let r = get(
        &app,
        &admin,
        "/v1.1/instances/nowhere/classes/",
        &[("x-template", "nope")],
    )
    .await;
    r.expect(StatusCode::NOT_FOUND);
}

async fn errors_stay_json(app: TestApp) {
    let admin = seed(&app).await;
    let template = [("x-template", "objects_html_table")];
    let r = get(&app, &admin, &format!("{OBJECTS}99/"), &template).await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    let r = app
        .call("GET", &format!("{OBJECTS}?template=objects_csv"), &[], None)
        .await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.expect(StatusCode::FORBIDDEN);
    let r = get(
        &app,
        &admin,
        &format!("{OBJECTS}?page_size=oops"),
        &template,
    )
    .await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    r.expect(StatusCode::BAD_REQUEST);
}

async fn views_without_an_action_refuse_templates(app: TestApp) {
    let admin = seed(&app).await;
    for url in [
        "/v1.1/instances/tpl-hook/snippets/",
        "/v1.1/instances/tpl-hook/snippets/config/",
    ] {
        let r = get(&app, &admin, url, &[("x-template", "objects_csv")]).await;
        assert_eq!(
            r.expect_json(StatusCode::BAD_REQUEST),
            json!({"detail": "This endpoint does not support templates."}),
            "{url}"
        );
    }
    // Nested and custom GET routes are lists or objects like any other.
    for (url, starts) in [
        ("/v1.1/instances/tpl-hook/classes/", "name,description"),
        (
            "/v1.1/instances/tpl-hook/classes/items/",
            "name,description",
        ),
        (
            "/v1.1/instances/tpl-hook/snippets/templates/",
            "name,content",
        ),
        (
            "/v1.1/instances/tpl-hook/channels/default/history/?room=r",
            "",
        ),
    ] {
        let r = get(&app, &admin, url, &[("x-template", "objects_csv")]).await;
        r.expect(StatusCode::OK);
        assert!(text(&r).starts_with(starts), "{url}: {:?}", text(&r));
    }
}

async fn a_template_replaces_the_accept_check(app: TestApp) {
    let admin = seed(&app).await;
    let r = get(&app, &admin, OBJECTS, &[("accept", "text/html")]).await;
    r.expect(StatusCode::NOT_ACCEPTABLE);
    let r = get(
        &app,
        &admin,
        OBJECTS,
        &[
            ("accept", "text/html"),
            ("x-template", "objects_html_table"),
        ],
    )
    .await;
    r.expect(StatusCode::OK);
    assert!(text(&r).contains("<table>"));
}

async fn field_selection_applies_before_the_template(app: TestApp) {
    let admin = seed(&app).await;
    let r = get(
        &app,
        &admin,
        &format!("{OBJECTS}?fields=title,score&template=objects_csv"),
        &[],
    )
    .await;
    assert_eq!(
        text(&r),
        "title,score\n\"Zażółć \"x\" <b>\",\"5\"        \n\"plain, comma\",\"-7\"        \n"
    );
}

async fn render_errors_on_a_get_are_json_400(app: TestApp) {
    let admin = seed(&app).await;
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/tpl-hook/snippets/templates/",
        Some(json!({"name": "broken", "content_type": "text/html",
            "content": "{{ response.nothing.deeper }}"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let r = get(&app, &admin, OBJECTS, &[("x-template", "broken")]).await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.expect_json(StatusCode::BAD_REQUEST);
    assert!(
        body["detail"].as_str().is_some_and(
            |d| d.starts_with("Template rendering failed: ") && d.contains("response.nothing")
        ),
        "{body}"
    );
}

async fn other_methods_and_other_routes_ignore_templates(app: TestApp) {
    let admin = seed(&app).await;
    // Writes answer JSON (templates apply to GETs).
    let r = app
        .call(
            "POST",
            OBJECTS,
            &[("x-api-key", &admin), ("x-template", "nope")],
            Some(json!({"title": "t"})),
        )
        .await;
    assert_eq!(r.expect_json(StatusCode::CREATED)["title"], "t");
    // Account routes and the instance itself are outside instances' templates.
    let r = get(
        &app,
        &admin,
        "/v1.1/instances/tpl-hook/",
        &[("x-template", "nope")],
    )
    .await;
    r.expect(StatusCode::OK);
    let r = get(&app, &admin, "/v1.1/account/", &[("x-template", "nope")]).await;
    r.expect(StatusCode::OK);
    // An unknown route stays the router's 404.
    let r = get(
        &app,
        &admin,
        "/v1.1/instances/tpl-hook/nothing/",
        &[("x-template", "nope")],
    )
    .await;
    r.expect(StatusCode::NOT_FOUND);
}

async fn batch_looks_templates_up_but_answers_json(app: TestApp) {
    let admin = seed(&app).await;
    let body = json!({"requests": [
        {"method": "GET", "path": format!("{OBJECTS}1/?template_response=objects_csv")},
        {"method": "GET", "path": format!("{OBJECTS}1/?template_response=nope")},
    ]});
    let req = Request::builder()
        .method("POST")
        .uri("/v1.1/instances/tpl-hook/batch/")
        .header("x-api-key", &admin)
        // Headers of the batch request are not those of its sub-requests.
        .header("x-template-response", "nope")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let answers = app.send(req).await.expect_json(StatusCode::OK);
    assert_eq!(answers[0]["code"], 200);
    assert_eq!(answers[0]["content"]["title"], "Zażółć \"x\" <b>");
    assert_eq!(
        answers[1],
        json!({"code": 406, "content": {"detail": "Could not satisfy the request Accept header."}})
    );
    let _: Value = answers;
}

async fn a_page_asked_again_follows_its_data_its_template_and_its_user(app: TestApp) {
    let admin = seed(&app).await;
    let templates = "/v1.1/instances/tpl-hook/snippets/templates/";
    app.as_key(
        &admin,
        "POST",
        templates,
        Some(json!({"name": "titles", "content_type": "text/plain",
            "content": "{{ user }}:{% for o in response.objects %}{{ o.title }};{% endfor %}"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let page = |key: String, user: Option<String>| {
        let app = &app;
        async move {
            let mut headers = vec![("x-api-key", key.as_str()), ("x-template", "titles")];
            if let Some(u) = &user {
                headers.push(("x-user-key", u.as_str()));
            }
            let r = app.call("GET", OBJECTS, &headers, None).await;
            text(&r).to_owned()
        }
    };
    let first = page(admin.clone(), None).await;
    assert_eq!(first, ":Zażółć \"x\" <b>;plain, comma;");
    assert_eq!(page(admin.clone(), None).await, first);
    // New data, new page.
    app.as_key(&admin, "POST", OBJECTS, Some(json!({"title": "third"})))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        page(admin.clone(), None).await,
        ":Zażółć \"x\" <b>;plain, comma;third;"
    );
    // A changed template renders anew.
    app.as_key(
        &admin,
        "PATCH",
        &format!("{templates}titles/"),
        Some(json!({"content": "n={{ response.objects|length }}"})),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(page(admin.clone(), None).await, "n=3");
    // The same data for two users: each gets their own name.
    app.as_key(
        &admin,
        "PATCH",
        &format!("{templates}titles/"),
        Some(json!({"content": "{{ user }}"})),
    )
    .await
    .expect(StatusCode::OK);
    let key = app.api_key(&admin, INST, json!({"ignore_acl": true})).await;
    let (_, ann) = store_user(&app, INST, "ann").await;
    let (_, bob) = store_user(&app, INST, "bob").await;
    assert_eq!(page(key.clone(), Some(ann)).await, "ann");
    assert_eq!(page(key, Some(bob)).await, "bob");
}
