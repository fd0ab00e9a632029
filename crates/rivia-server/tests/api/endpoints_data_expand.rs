//! `expand` on a data endpoint's `get/` (rest §5): references replaced by the objects and
//! users they name, under the caller's rights on the target, for a full page of distinct
//! references.

use crate::both_backends;
use crate::endpoints_data::{INST, create_endpoint, setup};
use crate::endpoints_data_get::{book, get_url, get_with, objects_url};
use crate::helpers::{TestApp, store_user};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    expand_replaces_references_with_objects_and_users,
    expand_follows_the_callers_rights_on_the_target,
    expand_covers_a_full_page_of_distinct_references,
);

async fn expand_replaces_references_with_objects_and_users(app: TestApp) {
    let key = setup(&app).await;
    let (user, _) = store_user(&app, INST, "geralt").await;
    let first = book(&app, &key, json!({"title": "first"})).await;
    let second = book(
        &app,
        &key,
        json!({"title": "second", "sequel": first, "author": user}),
    )
    .await;
    book(&app, &key, json!({"title": "third", "sequel": second})).await;
    create_endpoint(
        &app,
        &key,
        json!({"name": "series", "class": "books", "expand": "sequel,author"}),
    )
    .await;
    let r = app
        .as_key(&key, "GET", &get_url("series"), None)
        .await
        .expect_json(StatusCode::OK);
    let direct = app
        .as_key(&key, "GET", &objects_url("books"), None)
        .await
        .expect_json(StatusCode::OK);
    let books = direct["objects"].as_array().expect("books");
    assert_eq!(r["objects"][0], books[0], "nothing to expand: as listed");
    assert_eq!(
        r["objects"][1]["sequel"], books[0],
        "the whole referenced object"
    );
    assert_eq!(
        r["objects"][2]["sequel"], books[1],
        "an expanded object's own references stay references"
    );
    let author = &r["objects"][1]["author"];
    let user_json = app
        .as_key(
            &key,
            "GET",
            &format!("/v1.1/instances/{INST}/users/{user}/"),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(author, &user_json, "user references expand to UserJSON");
    assert!(author["profile"].is_object());
    assert_eq!(r["objects"][2]["author"], Value::Null);
    // The request's `expand` wins; names that are not reference fields are ignored.
    let r = app
        .as_key(
            &key,
            "GET",
            &get_with("series", &[("expand", "author")]),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r["objects"][1]["sequel"], books[1]["sequel"]);
    assert_eq!(r["objects"][1]["author"], user_json);
    let r = app
        .as_key(
            &key,
            "GET",
            &get_with("series", &[("expand", "title,nope,,links")]),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r["objects"], direct["objects"]);
    // Field selection applies to the page's objects, not to what was expanded.
    let r = app
        .as_key(
            &key,
            "GET",
            &get_with("series", &[("fields", "sequel,title")]),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        r["objects"][1],
        json!({"title": "second", "sequel": books[0]})
    );
    let keys: Vec<&String> = r["objects"][1]
        .as_object()
        .expect("object")
        .keys()
        .collect();
    assert_eq!(keys, ["title", "sequel"], "schema order");
}

async fn expand_follows_the_callers_rights_on_the_target(app: TestApp) {
    let key = setup(&app).await;
    let (geralt, gkey) = store_user(&app, INST, "geralt").await;
    let (ciri, _) = store_user(&app, INST, "ciri").await;
    let hidden = book(&app, &key, json!({"title": "hidden"})).await;
    let open = |title: &str, body: Value| {
        let mut b = body;
        b["title"] = json!(title);
        b["other_permissions"] = json!("read");
        b
    };
    let visible = book(&app, &key, open("visible", json!({}))).await;
    book(
        &app,
        &key,
        open("refs", json!({"sequel": hidden, "author": geralt})),
    )
    .await;
    book(
        &app,
        &key,
        open("more", json!({"sequel": visible, "author": ciri})),
    )
    .await;
    create_endpoint(
        &app,
        &key,
        json!({"name": "refs", "class": "books", "expand": "sequel,author",
               "query": {"title": {"_in": ["refs", "more"]}}}),
    )
    .await;
    let api_key = app.api_key(&key, INST, json!({})).await;
    let r = app
        .as_user(&api_key, &gkey, "GET", &get_url("refs"), None)
        .await
        .expect_json(StatusCode::OK);
    let refs = &r["objects"][0];
    let more = &r["objects"][1];
    assert_eq!(
        refs["sequel"],
        json!({"type": "reference", "target": "self", "value": hidden}),
        "an object the user may not read stays a reference"
    );
    assert_eq!(more["sequel"]["title"], "visible");
    assert_eq!(
        refs["author"]["username"], "geralt",
        "a user key sees itself"
    );
    assert_eq!(
        more["author"],
        json!({"type": "reference", "target": "user", "value": ciri}),
        "…and no other user"
    );
    // An anonymous-read key may not list users: expanding them is refused, as the users
    // list is; expanding the objects it may read is fine.
    let anonymous = app
        .api_key(&key, INST, json!({"allow_anonymous_read": true}))
        .await;
    app.as_key(
        &key,
        "PATCH",
        &format!("/v1.1/instances/{INST}/classes/books/"),
        Some(json!({"other_permissions": "read"})),
    )
    .await
    .expect(StatusCode::OK);
    let r = app
        .as_key(&anonymous, "GET", &get_url("refs"), None)
        .await
        .expect_json(StatusCode::FORBIDDEN);
    assert_eq!(
        r,
        json!({"detail": "You do not have permission to perform this action."})
    );
    let r = app
        .as_key(
            &anonymous,
            "GET",
            &get_with("refs", &[("expand", "sequel")]),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(r["objects"][1]["sequel"]["title"], "visible");
    assert_eq!(r["objects"][0]["sequel"]["type"], "reference");
}

async fn expand_covers_a_full_page_of_distinct_references(app: TestApp) {
    let key = setup(&app).await;
    let requests: Vec<Value> = (0..50)
        .map(|i| json!({"method": "POST", "path": objects_url("books"), "body": {"title": format!("t{i:03}")}}))
        .collect();
    let batch = format!("/v1.1/instances/{INST}/batch/");
    let targets = app
        .as_key(&key, "POST", &batch, Some(json!({"requests": requests})))
        .await
        .expect_json(StatusCode::OK);
    let target_ids: Vec<i64> = targets
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["content"]["id"].as_i64().expect("id"))
        .collect();
    let requests: Vec<Value> = target_ids
        .iter()
        .map(|id| json!({"method": "POST", "path": objects_url("books"), "body": {"title": format!("r{id:05}"), "sequel": id}}))
        .collect();
    app.as_key(&key, "POST", &batch, Some(json!({"requests": requests})))
        .await
        .expect(StatusCode::OK);
    create_endpoint(
        &app,
        &key,
        json!({"name": "all", "class": "books", "expand": "sequel", "order_by": "title"}),
    )
    .await;
    let r = app
        .as_key(&key, "GET", &get_url("all"), None)
        .await
        .expect_json(StatusCode::OK);
    let objects = r["objects"].as_array().expect("objects");
    assert_eq!(objects.len(), 100);
    for o in &objects[..50] {
        let sequel = &o["sequel"];
        let id = sequel["id"].as_i64().expect("expanded sequel");
        assert_eq!(o["title"], format!("r{id:05}"));
        assert_eq!(
            sequel["title"].as_str().map(|t| t.starts_with('t')),
            Some(true)
        );
    }
    assert!(objects[50..].iter().all(|o| o["sequel"].is_null()));
}
