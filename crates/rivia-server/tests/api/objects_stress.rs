//! Data objects under hostile input and concurrent writes: bad values and list
//! parameters answer a clean 4xx, schema changes racing writes and concurrent creates stay
//! consistent.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::objects_common::{
    class_url, classes, count_objects, create, make_class, object, objects, setup,
};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    nul_bytes_in_values_are_refused,
    hostile_list_parameters_are_a_clean_4xx,
    class_schema_that_is_not_json_is_refused,
    schema_changes_racing_writes_stay_consistent,
    concurrent_creates_commit_together_and_fail_alone,
);

/// Class `bad` (an indexed, ordered string, an object, an indexed array) with one object.
async fn bad(app: &TestApp) -> String {
    let key = setup(app).await;
    make_class(
        app,
        &key,
        json!({"name": "bad", "schema": [{"name": "s", "type": "string", "filter_index": true, "order_index": true},
                                          {"name": "o", "type": "object"}, {"name": "a", "type": "array", "filter_index": true}]}),
    )
    .await;
    create(app, &key, "bad", json!({"s": "x"})).await;
    key
}

async fn nul_bytes_in_values_are_refused(app: TestApp) {
    let key = bad(&app).await;
    app.as_key(
        &key,
        "POST",
        &objects("bad"),
        Some(json!({"s": "a\u{0}b", "o": {"k\u{0}": 1}, "channel_room": "\u{0}"})),
    )
    .await
    .expect(StatusCode::BAD_REQUEST);
}

fn with_query(q: &str) -> String {
    format!(
        "{}?query={}",
        objects("bad"),
        rivia_core::page::encode_query_value(q)
    )
}

async fn hostile_list_parameters_are_a_clean_4xx(app: TestApp) {
    let key = bad(&app).await;
    let deep = (0..200).fold(json!(1), |acc, _| json!({"_is": acc}));
    let urls = vec![
        with_query(&json!({"s": {"_eq": "a\u{0}"}}).to_string()),
        with_query(&json!({"a": {"_contains": ["\u{0}"]}}).to_string()),
        with_query(&json!({"s": deep}).to_string()),
        with_query(&"x".repeat(20000)),
        format!(
            "{}?query=%7B%22s%22%3A%7B%22_like%22%3A%22a%5C%5C%22%7D%7D",
            objects("bad")
        ),
        format!(
            "{}?order_by=s&direction=1&last_pk=99999999999",
            objects("bad")
        ),
        format!("{}?order_by=s&direction=2&last_pk=1", objects("bad")),
        format!("{}?order_by=-", objects("bad")),
        format!("{}1.5/", objects("bad")),
        format!("{}99999999999/", objects("bad")),
    ];
    for url in urls {
        let r = app.as_key(&key, "GET", &url, None).await;
        assert!(
            r.status.is_client_error() || r.status == StatusCode::OK,
            "{url}: {:?} {:?}",
            r.status,
            r.body
        );
    }
    let huge = format!(
        "{}?page_size=100000&order_by=s&direction=1&last_pk=1&last_value=%27%20OR%201%3D1",
        objects("bad")
    );
    app.as_key(&key, "GET", &huge, None)
        .await
        .expect(StatusCode::OK);
}

async fn class_schema_that_is_not_json_is_refused(app: TestApp) {
    let key = setup(&app).await;
    let class_bad = app
        .as_key(
            &key,
            "POST",
            &classes(),
            Some(json!({"name": "zz", "schema": "not json"})),
        )
        .await;
    assert_eq!(
        class_bad.body,
        json!({"schema": ["Not a valid JSON string."]})
    );
}

/// Creates 20 `race` objects, each answered 201 or (mid schema change) 400; returns the
/// ids of the created ones.
async fn race_writer(app: &TestApp, key: &str, n: i64) -> Vec<Value> {
    let mut created = Vec::new();
    for i in 0..20 {
        let body = json!({"v": n * 100 + i, "w": format!("w{n}-{i}")});
        let r = app.as_key(key, "POST", &objects("race"), Some(body)).await;
        assert!(
            r.status == StatusCode::CREATED || r.status == StatusCode::BAD_REQUEST,
            "create during schema change: {} {:?}",
            r.status,
            r.body
        );
        if r.status == StatusCode::CREATED {
            created.push(r.body["id"].clone());
        }
    }
    created
}

/// Ten schema changes of `race`, cycling through three schemas from `first`.
async fn race_schema_changer(app: &TestApp, key: &str, schemas: &[Value; 3], first: usize) {
    for round in first..first + 10 {
        let schema = schemas[round % 3].clone();
        let r = app
            .as_key(
                key,
                "PATCH",
                &class_url("race"),
                Some(json!({"schema": schema})),
            )
            .await;
        r.expect(StatusCode::OK);
    }
}

async fn schema_changes_racing_writes_stay_consistent(app: TestApp) {
    let key = setup(&app).await;
    let integer_v = json!([{"name": "v", "type": "integer"}, {"name": "w", "type": "string", "filter_index": true}]);
    let string_v = json!([{"name": "v", "type": "string"}, {"name": "w", "type": "string"}]);
    let schemas = [
        string_v,
        json!([{"name": "v", "type": "integer"}]),
        integer_v.clone(),
    ];
    make_class(&app, &key, json!({"name": "race", "schema": integer_v})).await;
    let (a, b2, c, (), ()) = tokio::join!(
        race_writer(&app, &key, 1),
        race_writer(&app, &key, 2),
        race_writer(&app, &key, 3),
        race_schema_changer(&app, &key, &schemas, 0),
        race_schema_changer(&app, &key, &schemas, 1)
    );
    app.as_key(
        &key,
        "PATCH",
        &class_url("race"),
        Some(json!({"schema": integer_v})),
    )
    .await
    .expect(StatusCode::OK);
    let created: Vec<Value> = a.into_iter().chain(b2).chain(c).collect();
    assert!(!created.is_empty());
    // Every acknowledged object is there, and its fields follow the final schema
    // (an integer `v` or none, a string `w` or none).
    for id in &created {
        let r = app.as_key(&key, "GET", &object("race", id), None).await;
        let body = r.expect_json(StatusCode::OK);
        assert!(body["v"].is_i64() || body["v"].is_null(), "{body:?}");
        assert!(body["w"].is_string() || body["w"].is_null(), "{body:?}");
    }
    assert_eq!(
        count_objects(&app, &key, "race").await,
        json!(created.len())
    );
    // The final schema's index serves filters.
    let q = rivia_core::page::encode_query_value(r#"{"w": {"_eq": "nobody"}}"#);
    app.as_key(&key, "GET", &format!("{}?query={q}", objects("race")), None)
        .await
        .expect(StatusCode::OK);
}

async fn concurrent_creates_commit_together_and_fail_alone(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "crowd", "schema": [{"name": "code", "type": "string", "unique": true}]}),
    )
    .await;
    create(&app, &key, "crowd", json!({"code": "taken"})).await;
    // 48 creates at once (they share commits on SQLite); every fourth repeats a taken code.
    let attempts = (0..48).map(|i| {
        let code = if i % 4 == 0 {
            "taken".to_string()
        } else {
            format!("c{i}")
        };
        let (app, key) = (&app, &key);
        async move {
            let r = app
                .as_key(key, "POST", &objects("crowd"), Some(json!({"code": code})))
                .await;
            (code, r)
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let mut ids = Vec::new();
    for (code, r) in &results {
        if code == "taken" {
            r.expect(StatusCode::BAD_REQUEST);
            assert_eq!(r.body, json!({"code": ["This field must be unique."]}));
        } else {
            r.expect(StatusCode::CREATED);
            assert_eq!(r.body["code"], json!(code));
            ids.push(r.body["id"].as_i64().expect("id"));
        }
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 36, "distinct ids for every created object");
    // Each acknowledged object is stored, and nothing of the refused ones.
    for (code, r) in results.iter().filter(|(c, _)| c != "taken") {
        let got = app
            .as_key(&key, "GET", &object("crowd", &r.body["id"]), None)
            .await;
        assert_eq!(got.body["code"], json!(code));
    }
    assert_eq!(count_objects(&app, &key, "crowd").await, json!(37));
    let class = app.as_key(&key, "GET", &class_url("crowd"), None).await;
    assert_eq!(class.body["objects_count"], json!(37));
}
