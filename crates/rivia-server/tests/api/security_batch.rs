//! Issue #13 §2–§3 for batch: no batch inside a batch, a bounded answer, raw characters in
//! a sub-request's query accepted as Syncano did, and no sub-request turns the whole batch
//! into a 500.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::objects_common::{INST, create_many, make_class, objects, setup};
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    batch_inside_a_batch_is_refused_before_anything_runs,
    raw_characters_in_a_subrequest_query_are_accepted,
    answers_beyond_the_size_cap_are_not_run,
);

fn batch_url() -> String {
    format!("/v1.1/instances/{INST}/batch/")
}

async fn batch(app: &TestApp, key: &str, requests: Value) -> crate::helpers::Response {
    app.as_key(
        key,
        "POST",
        &batch_url(),
        Some(json!({"requests": requests})),
    )
    .await
}

async fn group_count(app: &TestApp, key: &str) -> usize {
    let r = app
        .as_key(key, "GET", &format!("/v1.1/instances/{INST}/groups/"), None)
        .await
        .expect_json(StatusCode::OK);
    r["objects"].as_array().map_or(0, Vec::len)
}

async fn batch_inside_a_batch_is_refused_before_anything_runs(app: TestApp) {
    let key = setup(&app).await;
    let inner =
        json!({"requests": [{"method": "GET", "path": format!("/v1.1/instances/{INST}/groups/")}]});
    let r = batch(
        &app,
        &key,
        json!([
            {"method": "POST", "path": format!("/v1.1/instances/{INST}/groups/"), "body": {"label": "a"}},
            {"method": "POST", "path": batch_url(), "body": inner},
        ]),
    )
    .await;
    r.expect(StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({"requests": [{}, {"path": ["Batch requests cannot be nested: a batch may not contain a batch request."]}]})
    );
    assert_eq!(group_count(&app, &key).await, 0, "nothing ran");
}

async fn raw_characters_in_a_subrequest_query_are_accepted(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "things", "schema": [
            {"name": "n", "type": "integer", "filter_index": true},
            {"name": "s", "type": "string", "filter_index": true}]}),
    )
    .await;
    create_many(
        &app,
        &key,
        "things",
        vec![json!({"n": 1, "s": "a b"}), json!({"n": 2})],
    )
    .await;
    let list = objects("things");
    let r = batch(
        &app,
        &key,
        json!([
            {"method": "POST", "path": format!("/v1.1/instances/{INST}/groups/"), "body": {"label": "a"}},
            {"method": "GET", "path": format!("{list}?query={{\"n\": {{\"_eq\": 1}}}}")},
            {"method": "GET", "path": format!("{list}?query={{\"s\":{{\"_eq\":\"a b\"}}}}")},
            {"method": "GET", "path": format!("{list}?query={{\"n\":{{\"_lt\":2}}}}&x=<\u{7f}|^`\\é")},
            {"method": "GET", "path": format!("{list}?query=%7B%22n%22%3A%7B%22_eq%22%3A2%7D%7D")},
            {"method": "GET", "path": format!("{list}?query=%zz")},
        ]),
    )
    .await;
    r.expect(StatusCode::OK);
    let answers = r.body.as_array().expect("answers");
    assert_eq!(answers[0]["code"], 201);
    let found = |i: usize| -> Vec<Value> {
        answers[i]["content"]["objects"]
            .as_array()
            .unwrap_or_else(|| panic!("{i}: {}", answers[i]))
            .iter()
            .map(|o| o["n"].clone())
            .collect()
    };
    assert_eq!(found(1), vec![json!(1)]);
    assert_eq!(found(2), vec![json!(1)]);
    assert_eq!(found(3), vec![json!(1)]);
    assert_eq!(found(4), vec![json!(2)]);
    let last = answers[5]["code"].as_u64().expect("code");
    assert!((400..500).contains(&last), "{}", answers[5]);
}

async fn answers_beyond_the_size_cap_are_not_run(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "big", "schema": [{"name": "t", "type": "text"}]}),
    )
    .await;
    let text = "x".repeat(30_000);
    create_many(&app, &key, "big", vec![json!({"t": text}); 30]).await;
    // Each list answers ~900 kB: the 8 MiB cap is reached after about nine.
    let mut requests: Vec<Value> = (0..15)
        .map(|_| json!({"method": "GET", "path": format!("{}?page_size=100", objects("big"))}))
        .collect();
    requests.push(json!({"method": "POST", "path": format!("/v1.1/instances/{INST}/groups/"), "body": {"label": "late"}}));
    let r = batch(&app, &key, Value::Array(requests)).await;
    r.expect(StatusCode::OK);
    let codes: Vec<u64> = r
        .body
        .as_array()
        .expect("answers")
        .iter()
        .map(|a| a["code"].as_u64().unwrap_or_default())
        .collect();
    let ran = codes.iter().take_while(|c| **c == 200).count();
    assert!((8..=10).contains(&ran), "{codes:?}");
    assert!(codes[ran..].iter().all(|c| *c == 413), "{codes:?}");
    assert!(r.body.to_string().len() < 10 * 1024 * 1024);
    assert_eq!(group_count(&app, &key).await, 0, "the late write never ran");
}
