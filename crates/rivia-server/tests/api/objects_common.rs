//! Shared by the class and data-object tests (classes.rs, objects*.rs, files.rs): the test
//! instance, its URLs, and helpers that create classes and objects through the API.

use crate::helpers::{Response, TestApp};
use axum::http::StatusCode;
use serde_json::{Value, json};

pub const INST: &str = "objects-inst";

pub fn classes() -> String {
    format!("/v1.1/instances/{INST}/classes/")
}
pub fn class_url(c: &str) -> String {
    format!("/v1.1/instances/{INST}/classes/{c}/")
}
pub fn objects(c: &str) -> String {
    format!("/v1.1/instances/{INST}/classes/{c}/objects/")
}
pub fn object(c: &str, id: &Value) -> String {
    format!("/v1.1/instances/{INST}/classes/{c}/objects/{id}/")
}

/// The admin key of the test instance, created on `app`.
pub async fn setup(app: &TestApp) -> String {
    app.admin_with_instance(INST).await
}

/// Creates a class; returns its JSON.
pub async fn make_class(app: &TestApp, key: &str, body: Value) -> Value {
    app.as_key(key, "POST", &classes(), Some(body))
        .await
        .expect_json(StatusCode::CREATED)
}

/// Creates an object; returns its JSON.
pub async fn create(app: &TestApp, key: &str, class: &str, body: Value) -> Value {
    app.as_key(key, "POST", &objects(class), Some(body))
        .await
        .expect_json(StatusCode::CREATED)
}

/// The class's `objects_count` as a `page_size=0&include_count=1` list reports it.
pub async fn count_objects(app: &TestApp, key: &str, class: &str) -> Value {
    let url = format!("{}?page_size=0&include_count=1", objects(class));
    let r = app.as_key(key, "GET", &url, None).await;
    r.expect(StatusCode::OK);
    r.body["objects_count"].clone()
}

/// The ids of a list response's objects, in order.
pub fn ids(r: &Response) -> Vec<i64> {
    r.body["objects"]
        .as_array()
        .unwrap_or_else(|| panic!("list expected: {:?}", r.body))
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect()
}

/// A list filtered by one `query` parameter.
pub async fn list_q(app: &TestApp, key: &str, class: &str, q: Value) -> Response {
    let url = format!(
        "{}?query={}",
        objects(class),
        rivia_core::page::encode_query_value(&q.to_string())
    );
    app.as_key(key, "GET", &url, None).await
}

/// A create that must fail with 400; returns the error body.
pub async fn create_err(app: &TestApp, key: &str, class: &str, body: Value) -> Value {
    let r = app.as_key(key, "POST", &objects(class), Some(body)).await;
    r.expect(StatusCode::BAD_REQUEST);
    r.body
}

/// Creates objects through `/batch/`, 50 per call.
pub async fn create_many(app: &TestApp, key: &str, class: &str, bodies: Vec<Value>) {
    for chunk in bodies.chunks(50) {
        let requests: Vec<Value> = chunk
            .iter()
            .map(|b| json!({"method": "POST", "path": objects(class), "body": b}))
            .collect();
        let r = app
            .as_key(
                key,
                "POST",
                &format!("/v1.1/instances/{INST}/batch/"),
                Some(json!({"requests": requests})),
            )
            .await;
        r.expect(StatusCode::OK);
        let codes: Vec<&Value> = r
            .body
            .as_array()
            .expect("results")
            .iter()
            .map(|x| &x["code"])
            .collect();
        assert!(codes.iter().all(|c| **c == json!(201)), "{codes:?}");
    }
}

/// Class `pub` (readable by anybody) with one object others may read and one they may
/// not; returns the readable object's id.
pub async fn pub_class(app: &TestApp, key: &str) -> i64 {
    make_class(
        app,
        key,
        json!({"name": "pub", "other_permissions": "read"}),
    )
    .await;
    let open = create(app, key, "pub", json!({"other_permissions": "read"})).await["id"]
        .as_i64()
        .expect("id");
    create(app, key, "pub", json!({})).await;
    open
}
