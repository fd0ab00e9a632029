//! Running data endpoints (rest §5): `get/` is the class's objects list with the stored
//! parameters merged in, under the caller's object permissions, with working cursors,
//! counts and `expand` (its tests: `endpoints_data_expand`); `post/` is the objects create.
//! Also what `get/` answers when the class's schema changes under an endpoint.

use crate::both_backends;
use crate::endpoints_data::{INST, create_endpoint, item_url, setup};
use crate::helpers::{Response, TestApp, store_user};
use axum::http::StatusCode;
use rivia_core::page::encode_query_value;
use serde_json::{Value, json};

both_backends!(
    get_merges_the_stored_parameters_with_the_request,
    get_pages_follow_next_and_prev_links,
    get_applies_the_callers_object_permissions,
    post_creates_an_object_as_the_objects_endpoint_does,
    schema_changes_under_an_endpoint_answer_the_lists_errors,
    get_follows_every_change_to_the_definition_at_once,
    get_and_post_work_inside_a_batch,
);

pub(crate) fn objects_url(class: &str) -> String {
    format!("/v1.1/instances/{INST}/classes/{class}/objects/")
}

pub(crate) fn get_url(name: &str) -> String {
    format!("{}get/", item_url(name))
}

fn post_url(name: &str) -> String {
    format!("{}post/", item_url(name))
}

/// `get_url(name)` with query parameters.
pub(crate) fn get_with(name: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
        .collect();
    format!("{}?{}", get_url(name), query.join("&"))
}

/// Creates a book as the admin; returns its id.
pub(crate) async fn book(app: &TestApp, key: &str, body: Value) -> i64 {
    app.as_key(key, "POST", &objects_url("books"), Some(body))
        .await
        .expect_json(StatusCode::CREATED)["id"]
        .as_i64()
        .expect("id")
}

/// The values of `field` of a list response's objects, in order.
fn column(r: &Value, field: &str) -> Vec<Value> {
    r["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("list expected: {r}"))
        .iter()
        .map(|o| o[field].clone())
        .collect()
}

/// Books a (50 pages) … e (450 pages); returns the admin key.
async fn five_books(app: &TestApp) -> String {
    let key = setup(app).await;
    for (i, title) in ["a", "b", "c", "d", "e"].iter().enumerate() {
        let pages = 50 + 100 * i as i64;
        book(
            app,
            &key,
            json!({"title": title, "pages": pages, "note": "n"}),
        )
        .await;
    }
    key
}

async fn get_merges_the_stored_parameters_with_the_request(app: TestApp) {
    let key = five_books(&app).await;
    create_endpoint(
        &app,
        &key,
        json!({"name": "long", "class": "books", "query": {"pages": {"_gt": 100}},
               "order_by": "-pages", "page_size": 2, "excluded_fields": "note"}),
    )
    .await;
    let r = app
        .as_key(&key, "GET", &get_url("long"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(column(&r, "title"), [json!("e"), json!("d")]);
    let first = r["objects"][0].as_object().expect("object");
    assert!(!first.contains_key("note"), "stored excluded_fields: {r}");
    assert!(first.contains_key("owner_permissions") && first.contains_key("links"));
    let next = r["next"].as_str().expect("next");
    assert!(
        next.starts_with(&format!(
            "{}?page_size=2&order_by=-pages&direction=1",
            get_url("long")
        )),
        "{next}"
    );
    // The request's query is ANDed with the stored one; its own parameters win.
    let titles = json!({"title": {"_in": ["a", "b", "c", "d"]}}).to_string();
    let r = app
        .as_key(&key, "GET", &get_with("long", &[("query", &titles)]), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(column(&r, "title"), [json!("d"), json!("c")]);
    let r = app
        .as_key(
            &key,
            "GET",
            &get_with(
                "long",
                &[
                    ("query", &titles),
                    ("order_by", "title"),
                    ("page_size", "3"),
                ],
            ),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(column(&r, "title"), [json!("b"), json!("c"), json!("d")]);
    let r = app
        .as_key(
            &key,
            "GET",
            &get_with(
                "long",
                &[("excluded_fields", "title"), ("include_count", "1")],
            ),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r["objects_count"], 4);
    assert_eq!(column(&r, "note"), [json!("n"), json!("n")]);
    assert!(r["objects"][0].get("title").is_none(), "{r}");
    // `page_size=0&include_count=1`: only the count, as the Python client's count() asks.
    let r = app
        .as_key(
            &key,
            "GET",
            &get_with("long", &[("page_size", "0"), ("include_count", "true")]),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (&r["objects"], &r["objects_count"]),
        (&json!([]), &json!(4))
    );
    // The request's errors are the objects list's.
    let r = app
        .as_key(
            &key,
            "GET",
            &get_with("long", &[("query", "{\"x\": {}}")]),
            None,
        )
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(r, json!({"query": "Invalid field name defined: \"x\"."}));
    let r = app
        .as_key(&key, "GET", &get_with("long", &[("page_size", "-1")]), None)
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(r, json!({"detail": "Incorrect page parameter provided."}));
    let r = app
        .as_key(&key, "GET", &get_url("missing"), None)
        .await
        .expect_json(StatusCode::NOT_FOUND);
    assert_eq!(r, json!({"detail": "Not found."}));
}

/// Every page of `url` following `next`, then back with `prev` from the last page.
async fn walk(app: &TestApp, key: &str, url: &str) -> (Vec<Vec<Value>>, Response) {
    let mut pages = Vec::new();
    let mut url = url.to_string();
    let last = loop {
        let r = app.as_key(key, "GET", &url, None).await;
        r.expect(StatusCode::OK);
        pages.push(column(&r.body, "title"));
        match r.body["next"].as_str() {
            Some(next) => url = next.to_string(),
            None => break r,
        }
        assert!(pages.len() < 10, "next links never end: {pages:?}");
    };
    (pages, last)
}

async fn get_pages_follow_next_and_prev_links(app: TestApp) {
    let key = five_books(&app).await;
    create_endpoint(
        &app,
        &key,
        json!({"name": "paged", "class": "books", "page_size": 2}),
    )
    .await;
    let (pages, last) = walk(&app, &key, &get_url("paged")).await;
    let t = |s: &str| json!(s);
    assert_eq!(
        pages,
        vec![vec![t("a"), t("b")], vec![t("c"), t("d")], vec![t("e")]]
    );
    let prev = last.body["prev"].as_str().expect("prev from the last page");
    assert!(prev.starts_with(&get_url("paged")), "{prev}");
    let back = app
        .as_key(&key, "GET", prev, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(column(&back, "title"), [t("c"), t("d")]);
    // Ordered by a field, with the stored order: `last_value` cursors.
    create_endpoint(
        &app,
        &key,
        json!({"name": "by-pages", "class": "books", "page_size": 2, "order_by": "-pages"}),
    )
    .await;
    let (pages, _) = walk(&app, &key, &get_url("by-pages")).await;
    assert_eq!(
        pages,
        vec![vec![t("e"), t("d")], vec![t("c"), t("b")], vec![t("a")]]
    );
}

/// Class `notes` (others may read, `other_permissions: read`) holding a public note, a
/// private one and alice's own private note, with endpoint `notes`. Returns (admin key,
/// alice's user key, bob's user key).
async fn notes(app: &TestApp) -> (String, String, String) {
    let key = setup(app).await;
    app.as_key(
        &key,
        "POST",
        &format!("/v1.1/instances/{INST}/classes/"),
        Some(
            json!({"name": "notes", "schema": [{"name": "text", "type": "string"}],
                    "other_permissions": "read"}),
        ),
    )
    .await
    .expect(StatusCode::CREATED);
    let (alice, akey) = store_user(app, INST, "alice").await;
    let (_, bkey) = store_user(app, INST, "bob").await;
    for body in [
        json!({"text": "public", "other_permissions": "read"}),
        json!({"text": "private"}),
        json!({"text": "alice's", "owner": alice}),
    ] {
        app.as_key(&key, "POST", &objects_url("notes"), Some(body))
            .await
            .expect(StatusCode::CREATED);
    }
    create_endpoint(app, &key, json!({"name": "notes", "class": "notes"})).await;
    (key, akey, bkey)
}

async fn get_applies_the_callers_object_permissions(app: TestApp) {
    let (key, akey, bkey) = notes(&app).await;
    let texts = |r: Value| column(&r, "text");
    let admin = app.as_key(&key, "GET", &get_url("notes"), None).await;
    assert_eq!(
        texts(admin.expect_json(StatusCode::OK)),
        [json!("public"), json!("private"), json!("alice's")]
    );
    let users_key = app.api_key(&key, INST, json!({})).await;
    let alice = app
        .as_user(&users_key, &akey, "GET", &get_url("notes"), None)
        .await;
    assert_eq!(
        texts(alice.expect_json(StatusCode::OK)),
        [json!("public"), json!("alice's")]
    );
    let bob = app
        .as_user(&users_key, &bkey, "GET", &get_url("notes"), None)
        .await;
    assert_eq!(texts(bob.expect_json(StatusCode::OK)), [json!("public")]);
    let anonymous_key = app
        .api_key(&key, INST, json!({"allow_anonymous_read": true}))
        .await;
    let anonymous = app
        .as_key(&anonymous_key, "GET", &get_url("notes"), None)
        .await;
    assert_eq!(
        texts(anonymous.expect_json(StatusCode::OK)),
        [json!("public")]
    );
    // The endpoint's own check lets any API key through; the objects list refuses a key
    // with neither a user nor anonymous reads, as `classes/notes/objects/` does.
    let plain = app.as_key(&users_key, "GET", &get_url("notes"), None).await;
    let direct = app
        .as_key(&users_key, "GET", &objects_url("notes"), None)
        .await;
    assert_eq!((plain.status, &plain.body), (direct.status, &direct.body));
    plain.expect(StatusCode::FORBIDDEN);
    // A class others may not read refuses anonymous reads, through its endpoints too.
    app.as_key(
        &key,
        "POST",
        &format!("/v1.1/instances/{INST}/classes/"),
        Some(json!({"name": "secret", "other_permissions": "none"})),
    )
    .await
    .expect(StatusCode::CREATED);
    create_endpoint(&app, &key, json!({"name": "secret", "class": "secret"})).await;
    let r = app
        .as_key(&anonymous_key, "GET", &get_url("secret"), None)
        .await;
    r.expect(StatusCode::FORBIDDEN);
    let nobody = app.call("GET", &get_url("notes"), &[], None).await;
    nobody.expect(StatusCode::FORBIDDEN);
}

async fn post_creates_an_object_as_the_objects_endpoint_does(app: TestApp) {
    let key = setup(&app).await;
    app.as_key(
        &key,
        "POST",
        &format!("/v1.1/instances/{INST}/channels/"),
        Some(json!({"name": "feed", "other_permissions": "publish"})),
    )
    .await
    .expect(StatusCode::CREATED);
    create_endpoint(&app, &key, json!({"name": "books", "class": "books"})).await;
    let (user, ukey) = store_user(&app, INST, "writer").await;
    let api_key = app.api_key(&key, INST, json!({})).await;
    let created = app
        .as_user(
            &api_key,
            &ukey,
            "POST",
            &post_url("books"),
            Some(json!({"title": "new", "pages": "12", "channel": "feed", "owner": 999})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    assert_eq!(
        (&created["title"], &created["pages"], &created["owner"]),
        (&json!("new"), &json!(12), &json!(user)),
        "owner forced to the creating user"
    );
    let id = created["id"].as_i64().expect("id");
    let stored = app
        .as_key(&key, "GET", &format!("{}{id}/", objects_url("books")), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(stored, created);
    let history = app
        .as_key(
            &key,
            "GET",
            &format!("/v1.1/instances/{INST}/channels/feed/history/"),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    let change = &history["objects"][0];
    assert_eq!(
        (
            &change["action"],
            &change["payload"]["id"],
            &change["metadata"]
        ),
        (
            &json!("create"),
            &json!(id),
            &json!({"type": "object", "class": "books"})
        ),
        "the channel event of a create"
    );
    // The create's own validation and permissions.
    let bad = app
        .as_key(
            &key,
            "POST",
            &post_url("books"),
            Some(json!({"pages": "x"})),
        )
        .await;
    let direct = app
        .as_key(
            &key,
            "POST",
            &objects_url("books"),
            Some(json!({"pages": "x"})),
        )
        .await;
    assert_eq!((bad.status, &bad.body), (direct.status, &direct.body));
    assert_eq!(bad.body, json!({"pages": ["A valid integer is required."]}));
    app.as_key(
        &key,
        "PATCH",
        &format!("/v1.1/instances/{INST}/classes/books/"),
        Some(json!({"other_permissions": "read"})),
    )
    .await
    .expect(StatusCode::OK);
    let refused = app
        .as_user(&api_key, &ukey, "POST", &post_url("books"), Some(json!({})))
        .await;
    refused.expect(StatusCode::FORBIDDEN);
    let anonymous = app
        .call("POST", &post_url("books"), &[], Some(json!({})))
        .await;
    anonymous.expect(StatusCode::FORBIDDEN);
    create_endpoint(
        &app,
        &key,
        json!({"name": "profiles", "class": "user_profile"}),
    )
    .await;
    let profile = app
        .as_key(&key, "POST", &post_url("profiles"), Some(json!({})))
        .await;
    profile.expect(StatusCode::FORBIDDEN);
    let missing = app
        .as_key(&key, "POST", &post_url("nope"), Some(json!({})))
        .await
        .expect_json(StatusCode::NOT_FOUND);
    assert_eq!(missing, json!({"detail": "Not found."}));
    // `get/` is GET only, `post/` POST only.
    let r = app
        .as_key(&key, "POST", &get_url("books"), Some(json!({})))
        .await;
    r.expect(StatusCode::METHOD_NOT_ALLOWED);
    let r = app.as_key(&key, "GET", &post_url("books"), None).await;
    r.expect(StatusCode::METHOD_NOT_ALLOWED);
}

async fn schema_changes_under_an_endpoint_answer_the_lists_errors(app: TestApp) {
    let key = five_books(&app).await;
    create_endpoint(
        &app,
        &key,
        json!({"name": "e", "class": "books", "query": {"title": {"_neq": "a"}},
               "order_by": "pages", "excluded_fields": "note", "expand": "sequel"}),
    )
    .await;
    let class = format!("/v1.1/instances/{INST}/classes/books/");
    let set_schema = |schema: Value| {
        let app = &app;
        let key = &key;
        let class = &class;
        async move {
            app.as_key(key, "PATCH", class, Some(json!({"schema": schema})))
                .await
                .expect(StatusCode::OK);
        }
    };
    let pages =
        json!({"name": "pages", "type": "integer", "filter_index": true, "order_index": true});
    set_schema(json!([pages])).await;
    let r = app
        .as_key(&key, "GET", &get_url("e"), None)
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        r,
        json!({"query": "Invalid field name defined: \"title\"."})
    );
    // The definition stays readable and can be fixed.
    app.as_key(&key, "GET", &item_url("e"), None)
        .await
        .expect(StatusCode::OK);
    app.as_key(&key, "PATCH", &item_url("e"), Some(json!({"query": null})))
        .await
        .expect(StatusCode::OK);
    let r = app
        .as_key(&key, "GET", &get_url("e"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        column(&r, "pages"),
        [json!(50), json!(150), json!(250), json!(350), json!(450)],
        "excluded and expanded fields that are gone are ignored"
    );
    set_schema(json!([{"name": "pages", "type": "integer"}])).await;
    let r = app
        .as_key(&key, "GET", &get_url("e"), None)
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        r,
        json!({"detail": "Cannot use specified order_by field. Set required index on schema first."})
    );
}

/// `get/` reads its definition through a cache: each write to the endpoint or its class
/// shows in the very next `get/`.
async fn get_follows_every_change_to_the_definition_at_once(app: TestApp) {
    let key = five_books(&app).await;
    create_endpoint(
        &app,
        &key,
        json!({"name": "e", "class": "books", "order_by": "pages", "page_size": 2}),
    )
    .await;
    let titles = |name: &'static str| {
        let (app, key) = (&app, &key);
        async move {
            let r = app
                .as_key(key, "GET", &get_url(name), None)
                .await
                .expect_json(StatusCode::OK);
            column(&r, "title")
        }
    };
    assert_eq!(titles("e").await, [json!("a"), json!("b")]);
    app.as_key(
        &key,
        "PATCH",
        &item_url("e"),
        Some(json!({"order_by": "-pages", "page_size": 3})),
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(titles("e").await, [json!("e"), json!("d"), json!("c")]);
    app.as_key(
        &key,
        "POST",
        &format!("{}rename/", item_url("e")),
        Some(json!({"new_name": "f"})),
    )
    .await
    .expect(StatusCode::OK);
    app.as_key(&key, "GET", &get_url("e"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(titles("f").await, [json!("e"), json!("d"), json!("c")]);
    let class = format!("/v1.1/instances/{INST}/classes/books/");
    app.as_key(
        &key,
        "PATCH",
        &class,
        Some(json!({"schema": [
        {"name": "title", "type": "string"},
        {"name": "pages", "type": "integer"}]})),
    )
    .await
    .expect(StatusCode::OK);
    app.as_key(&key, "GET", &get_url("f"), None)
        .await
        .expect(StatusCode::BAD_REQUEST);
    app.as_key(&key, "DELETE", &item_url("f"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&key, "GET", &get_url("f"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn get_and_post_work_inside_a_batch(app: TestApp) {
    let key = five_books(&app).await;
    create_endpoint(
        &app,
        &key,
        json!({"name": "e", "class": "books", "page_size": 1, "order_by": "-pages"}),
    )
    .await;
    let r = app
        .as_key(
            &key,
            "POST",
            &format!("/v1.1/instances/{INST}/batch/"),
            Some(json!({"requests": [
                {"method": "POST", "path": post_url("e"), "body": {"title": "f", "pages": 999}},
                {"method": "GET", "path": get_url("e")},
            ]})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!((&r[0]["code"], &r[1]["code"]), (&json!(201), &json!(200)));
    assert_eq!(r[1]["content"]["objects"][0]["title"], "f");
}
