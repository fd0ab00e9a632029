//! Data endpoint definitions, `endpoints/data/` (rest §5): create, read, update, rename
//! and delete, every validation message, who may do what, and what happens to an
//! endpoint when its class goes. Running them is in `endpoints_data_get`.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::snippets_config::admin_with_role;
use axum::http::StatusCode;
use rivia_core::perms::Role;
use serde_json::{Value, json};

both_backends!(
    create_read_list_and_delete_a_data_endpoint,
    definition_fields_are_validated_with_the_platforms_messages,
    stored_query_and_order_by_are_checked_against_the_class,
    put_resets_what_it_leaves_out_and_patch_keeps_it,
    rename_moves_the_endpoint_and_validates_the_new_name,
    api_keys_read_definitions_and_admin_roles_decide_writes,
    deleting_the_class_deletes_its_endpoints,
    endpoints_links_document_and_unrouted_clear_cache,
);

pub const INST: &str = "dataep-inst";

pub fn list_url() -> String {
    format!("/v1.1/instances/{INST}/endpoints/data/")
}

pub fn item_url(name: &str) -> String {
    format!("/v1.1/instances/{INST}/endpoints/data/{name}/")
}

/// The test instance with class `books`: `title` (string) and `pages` (integer) filter-
/// and order-indexed, `note` (text), `author` (reference to users), `sequel` (reference to
/// books, filter-indexed); others may read it and create objects. Returns the admin key.
pub async fn setup(app: &TestApp) -> String {
    let key = app.admin_with_instance(INST).await;
    let schema = json!([
        {"name": "title", "type": "string", "filter_index": true, "order_index": true},
        {"name": "pages", "type": "integer", "filter_index": true, "order_index": true},
        {"name": "note", "type": "text"},
        {"name": "author", "type": "reference", "target": "user"},
        {"name": "sequel", "type": "reference", "target": "self", "filter_index": true},
    ]);
    app.as_key(
        &key,
        "POST",
        &format!("/v1.1/instances/{INST}/classes/"),
        Some(json!({"name": "books", "schema": schema, "other_permissions": "create_objects"})),
    )
    .await
    .expect(StatusCode::CREATED);
    key
}

/// Creates a data endpoint; returns its JSON.
pub async fn create_endpoint(app: &TestApp, key: &str, body: Value) -> Value {
    app.as_key(key, "POST", &list_url(), Some(body))
        .await
        .expect_json(StatusCode::CREATED)
}

/// The error body of a create that must fail with 400.
async fn create_error(app: &TestApp, key: &str, body: Value) -> Value {
    app.as_key(key, "POST", &list_url(), Some(body))
        .await
        .expect_json(StatusCode::BAD_REQUEST)
}

async fn create_read_list_and_delete_a_data_endpoint(app: TestApp) {
    let key = setup(&app).await;
    let created = create_endpoint(
        &app,
        &key,
        json!({
            "name": "Long-Books", "description": "books over 100 pages", "class": "books",
            "query": {"pages": {"_gt": 100}}, "excluded_fields": "note,links",
            "order_by": "-pages", "page_size": 20, "expand": "author,sequel",
        }),
    )
    .await;
    let base = format!("/v1.1/instances/{INST}/endpoints/data/long-books");
    let expected = json!({
        "name": "long-books",
        "description": "books over 100 pages",
        "query": {"pages": {"_gt": 100}},
        "excluded_fields": "note,links",
        "order_by": "-pages",
        "page_size": 20,
        "expand": "author,sequel",
        "links": {
            "self": format!("{base}/"),
            "get": format!("{base}/get/"),
            "post": format!("{base}/post/"),
            "rename": format!("{base}/rename/"),
        },
        "class": "books",
    });
    assert_eq!(created, expected);
    let keys: Vec<&String> = created.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "name",
            "description",
            "query",
            "excluded_fields",
            "order_by",
            "page_size",
            "expand",
            "links",
            "class"
        ],
        "the platform's key order"
    );
    // Names match case-insensitively in the URL.
    let got = app
        .as_key(&key, "GET", &item_url("LONG-books"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(got, expected);
    let minimal = create_endpoint(&app, &key, json!({"name": "all", "class": "books"})).await;
    assert_eq!(minimal["query"], json!({}));
    for unset in ["excluded_fields", "order_by", "page_size", "expand"] {
        assert_eq!(minimal[unset], Value::Null, "{unset} unset");
    }
    assert_eq!(minimal["description"], "");
    let list = app
        .as_key(&key, "GET", &format!("{}?page_size=1", list_url()), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(list["objects"], json!([expected]));
    let next = list["next"].as_str().expect("next link");
    let second = app
        .as_key(&key, "GET", next, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(second["objects"][0]["name"], "all");
    app.as_key(&key, "DELETE", &item_url("long-books"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let gone = app
        .as_key(&key, "GET", &item_url("long-books"), None)
        .await
        .expect_json(StatusCode::NOT_FOUND);
    assert_eq!(gone, json!({"detail": "Not found."}));
    // The name is free again.
    create_endpoint(&app, &key, json!({"name": "long-books", "class": "books"})).await;
}

async fn definition_fields_are_validated_with_the_platforms_messages(app: TestApp) {
    let key = setup(&app).await;
    assert_eq!(
        create_error(&app, &key, json!({})).await,
        json!({"name": ["This field is required."], "class": ["This field is required."]})
    );
    assert_eq!(
        create_error(&app, &key, json!({"name": "1bad!", "class": "nope"})).await,
        json!({
            "name": [
                "Value has to start with a letter.",
                "Value has to end with a letter or a number.",
                "Enter a valid value consisting of letters, numbers, underscores or hyphens."
            ],
            "class": ["Object with name=nope does not exist."],
        })
    );
    assert_eq!(
        create_error(&app, &key, json!({"name": "a", "class": null})).await,
        json!({"class": ["This field may not be null."]})
    );
    assert_eq!(
        create_error(&app, &key, json!({"name": "a", "class": ["books"]})).await,
        json!({"class": ["Invalid value."]})
    );
    let long = "x".repeat(257);
    let body = json!({
        "name": "a", "class": "books", "description": long, "page_size": 101,
        "excluded_fields": "title, pages", "expand": "[author]", "order_by": "y".repeat(51),
    });
    assert_eq!(
        create_error(&app, &key, body).await,
        json!({
            "description": ["Ensure this field has no more than 256 characters."],
            "excluded_fields": ["Enter a comma separated list."],
            "order_by": ["Ensure this field has no more than 50 characters."],
            "page_size": ["Ensure this value is less than or equal to 100."],
            "expand": ["Enter a comma separated list."],
        })
    );
    assert_eq!(
        create_error(
            &app,
            &key,
            json!({"name": "a", "class": "books", "page_size": -1, "expand": "a,"})
        )
        .await,
        json!({
            "page_size": ["Ensure this value is greater than or equal to 0."],
            "expand": ["Enter a comma separated list."],
        })
    );
    assert_eq!(
        create_error(
            &app,
            &key,
            json!({"name": "a", "class": "books", "page_size": "ten"})
        )
        .await,
        json!({"page_size": ["A valid integer is required."]})
    );
    assert_eq!(
        create_error(
            &app,
            &key,
            json!({"name": "a", "class": "books", "excluded_fields": "y".repeat(257)})
        )
        .await,
        json!({"excluded_fields": ["Ensure this field has no more than 256 characters."]})
    );
    // Lists of field names, a form-style page size and blank values are fine.
    let ok = create_endpoint(
        &app,
        &key,
        json!({"name": "a", "class": "books", "excluded_fields": "title,Pages_2",
               "page_size": "0", "expand": "", "order_by": ""}),
    )
    .await;
    assert_eq!(
        (
            &ok["excluded_fields"],
            &ok["page_size"],
            &ok["expand"],
            &ok["order_by"]
        ),
        (&json!("title,Pages_2"), &json!(0), &json!(""), &json!(""))
    );
    assert_eq!(
        create_error(&app, &key, json!({"name": "A", "class": "books"})).await,
        json!({"name": ["This field must be unique."]})
    );
}

async fn stored_query_and_order_by_are_checked_against_the_class(app: TestApp) {
    let key = setup(&app).await;
    let cases = [
        (json!("{not json"), json!(["Not a valid JSON string."])),
        (json!([1]), json!(["Query passed in invalid format."])),
        (
            json!({"nope": {"_eq": 1}}),
            json!(["Invalid field name defined: \"nope\"."]),
        ),
        (
            json!({"note": {"_eq": "x"}}),
            json!(["Field \"note\" cannot be used in a query as it is not indexed."]),
        ),
        (
            json!({"pages": {"_gt": "many"}}),
            json!([
                "Validation of value provided for \"gt\" lookup of field \"pages\" failed: 'many' value must be an integer."
            ]),
        ),
        (
            json!({"sequel": {"_is": {"title": {"_is": {}}}}}),
            json!(["Double nested queries are not allowed."]),
        ),
    ];
    for (query, message) in cases {
        let body = json!({"name": "q", "class": "books", "query": query});
        assert_eq!(
            create_error(&app, &key, body).await,
            json!({ "query": message }),
            "query {query}"
        );
    }
    let orders = [
        (
            "note",
            "Cannot use specified order_by field. Set required index on schema first.",
        ),
        ("nope", "Incorrect order_by parameter provided."),
        ("revision", "Cannot use specified order_by field."),
    ];
    for (order_by, message) in orders {
        let body = json!({"name": "o", "class": "books", "order_by": order_by});
        assert_eq!(
            create_error(&app, &key, body).await,
            json!({ "order_by": [message] }),
            "order_by {order_by}"
        );
    }
    // A query as JSON text, with a nested `_is` on the referenced class.
    let text = json!({"sequel": {"_is": {"title": {"_startswith": "The"}}}}).to_string();
    let saved = create_endpoint(
        &app,
        &key,
        json!({"name": "q", "class": "books", "query": text, "order_by": "-created_at"}),
    )
    .await;
    assert_eq!(
        saved["query"],
        json!({"sequel": {"_is": {"title": {"_startswith": "The"}}}})
    );
}

async fn put_resets_what_it_leaves_out_and_patch_keeps_it(app: TestApp) {
    let key = setup(&app).await;
    app.as_key(
        &key,
        "POST",
        &format!("/v1.1/instances/{INST}/classes/"),
        Some(json!({"name": "other", "schema": [{"name": "title", "type": "string"}]})),
    )
    .await
    .expect(StatusCode::CREATED);
    let full = json!({
        "name": "e", "description": "d", "class": "books", "query": {"title": {"_eq": "a"}},
        "excluded_fields": "note", "order_by": "title", "page_size": 5, "expand": "author",
    });
    create_endpoint(&app, &key, full).await;
    let patched = app
        .as_key(
            &key,
            "PATCH",
            &item_url("e"),
            Some(json!({"page_size": 7, "name": "ignored"})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (
            &patched["name"],
            &patched["page_size"],
            &patched["order_by"]
        ),
        (&json!("e"), &json!(7), &json!("title")),
        "PATCH changes only what it sends; the name is read-only"
    );
    // Moving to a class where the stored query and order do not apply is refused.
    let moved = app
        .as_key(
            &key,
            "PATCH",
            &item_url("e"),
            Some(json!({"class": "other"})),
        )
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        moved,
        json!({
            "query": ["Field \"title\" cannot be used in a query as it is not indexed."],
            "order_by": ["Cannot use specified order_by field. Set required index on schema first."],
        })
    );
    let missing = app
        .as_key(&key, "PUT", &item_url("e"), Some(json!({"query": {}})))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(missing, json!({"class": ["This field is required."]}));
    let put = app
        .as_key(&key, "PUT", &item_url("e"), Some(json!({"class": "other"})))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        (
            &put["class"],
            &put["query"],
            &put["excluded_fields"],
            &put["order_by"],
            &put["page_size"],
            &put["expand"],
            &put["description"]
        ),
        (
            &json!("other"),
            &json!({}),
            &Value::Null,
            &Value::Null,
            &Value::Null,
            &Value::Null,
            &json!("d")
        ),
        "PUT resets the list parameters and keeps the description"
    );
    let unknown = app
        .as_key(&key, "PATCH", &item_url("nope"), Some(json!({})))
        .await;
    unknown.expect(StatusCode::NOT_FOUND);
}

async fn rename_moves_the_endpoint_and_validates_the_new_name(app: TestApp) {
    let key = setup(&app).await;
    create_endpoint(&app, &key, json!({"name": "first", "class": "books"})).await;
    create_endpoint(&app, &key, json!({"name": "taken", "class": "books"})).await;
    let rename = format!("{}rename/", item_url("first"));
    let cases = [
        (
            json!({}),
            json!({"new_name": ["This field may not be null."]}),
        ),
        (
            json!({"new_name": ""}),
            json!({"new_name": ["This field may not be blank."]}),
        ),
        (
            json!({"new_name": "no spaces"}),
            json!({"new_name": [
                "Enter a valid value consisting of letters, numbers, underscores or hyphens."
            ]}),
        ),
        (
            json!({"new_name": "TAKEN"}),
            json!({"new_name": ["This field must be unique."]}),
        ),
    ];
    for (body, error) in cases {
        let r = app
            .as_key(&key, "POST", &rename, Some(body.clone()))
            .await
            .expect_json(StatusCode::BAD_REQUEST);
        assert_eq!(r, error, "rename {body}");
    }
    let same = app
        .as_key(&key, "POST", &rename, Some(json!({"new_name": "first"})))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(same["name"], "first");
    let renamed = app
        .as_key(&key, "POST", &rename, Some(json!({"new_name": "Second"})))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(renamed["name"], "second");
    assert_eq!(
        renamed["links"]["get"],
        format!("/v1.1/instances/{INST}/endpoints/data/second/get/")
    );
    app.as_key(&key, "GET", &item_url("second"), None)
        .await
        .expect(StatusCode::OK);
    app.as_key(&key, "GET", &item_url("first"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
    app.as_key(&key, "POST", &rename, Some(json!({"new_name": "x"})))
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn api_keys_read_definitions_and_admin_roles_decide_writes(app: TestApp) {
    let key = setup(&app).await;
    create_endpoint(&app, &key, json!({"name": "e", "class": "books"})).await;
    let api_key = app.api_key(&key, INST, json!({})).await;
    app.as_key(&api_key, "GET", &list_url(), None)
        .await
        .expect(StatusCode::OK);
    app.as_key(&api_key, "GET", &item_url("e"), None)
        .await
        .expect(StatusCode::OK);
    let forbidden = json!({"detail": "You do not have permission to perform this action."});
    let rename = format!("{}rename/", item_url("e"));
    let writes = [
        ("POST", list_url(), json!({"name": "k", "class": "books"})),
        ("PUT", item_url("e"), json!({"class": "books"})),
        ("PATCH", item_url("e"), json!({})),
        ("DELETE", item_url("e"), json!({})),
        ("POST", rename.clone(), json!({"new_name": "k"})),
    ];
    for (method, url, body) in &writes {
        let r = app.as_key(&api_key, method, url, Some(body.clone())).await;
        assert_eq!(
            (r.status, &r.body),
            (StatusCode::FORBIDDEN, &forbidden),
            "API key {method} {url}"
        );
    }
    // An admin with the read role reads; writes are refused.
    let reader = admin_with_role(&app, INST, Role::Read).await;
    app.as_key(&reader, "GET", &item_url("e"), None)
        .await
        .expect(StatusCode::OK);
    for (method, url, body) in &writes {
        let r = app.as_key(&reader, method, url, Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "read role {method} {url}");
    }
    let anonymous = app.call("GET", &list_url(), &[], None).await;
    assert_eq!(
        (anonymous.status, anonymous.body),
        (StatusCode::FORBIDDEN, forbidden.clone())
    );
    // A method the routes lack: the caller's rights first, then 405.
    let r = app
        .as_key(&api_key, "PUT", &list_url(), Some(json!({})))
        .await;
    r.expect(StatusCode::FORBIDDEN);
    let r = app.as_key(&key, "PUT", &list_url(), Some(json!({}))).await;
    assert_eq!(
        (r.status, r.body),
        (
            StatusCode::METHOD_NOT_ALLOWED,
            json!({"detail": "Method \"PUT\" not allowed."})
        )
    );
}

async fn deleting_the_class_deletes_its_endpoints(app: TestApp) {
    let key = setup(&app).await;
    create_endpoint(&app, &key, json!({"name": "e", "class": "books"})).await;
    let class = format!("/v1.1/instances/{INST}/classes/books/");
    app.as_key(&key, "DELETE", &class, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&key, "GET", &item_url("e"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
    let get = app
        .as_key(&key, "GET", &format!("{}get/", item_url("e")), None)
        .await
        .expect_json(StatusCode::NOT_FOUND);
    assert_eq!(get, json!({"detail": "Not found."}));
    // A new class of the same name does not bring the endpoint back.
    setup_class_again(&app, &key).await;
    let list = app
        .as_key(&key, "GET", &list_url(), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(list["objects"], json!([]));
    create_endpoint(&app, &key, json!({"name": "e", "class": "books"})).await;
}

async fn setup_class_again(app: &TestApp, key: &str) {
    app.as_key(
        key,
        "POST",
        &format!("/v1.1/instances/{INST}/classes/"),
        Some(json!({"name": "books"})),
    )
    .await
    .expect(StatusCode::CREATED);
}

async fn endpoints_links_document_and_unrouted_clear_cache(app: TestApp) {
    let key = setup(&app).await;
    let links = app
        .as_key(
            &key,
            "GET",
            &format!("/v1.1/instances/{INST}/endpoints/"),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        links,
        json!({"links": {
            "scripts": format!("/v1.1/instances/{INST}/endpoints/scripts/"),
            "data": format!("/v1.1/instances/{INST}/endpoints/data/"),
        }})
    );
    create_endpoint(&app, &key, json!({"name": "e", "class": "books"})).await;
    // The Python client's `clear_cache()` is a v2 route (rest §5).
    let r = app
        .as_key(
            &key,
            "POST",
            &format!("{}clear_cache/", item_url("e")),
            None,
        )
        .await;
    r.expect(StatusCode::NOT_FOUND);
}
