//! A blank optional query parameter counts as absent, as the platform's DRF treated it
//! (Syncano's JavaScript library sends `?last_id=&room=` on every poll when neither is set).

use crate::both_backends;
use crate::helpers::{Backend, TestApp};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    blank_poll_parameters_wait_for_the_next_message,
    blank_paging_and_filter_parameters_are_ignored
);

const INST: &str = "blank-inst";

async fn blank_poll_parameters_wait_for_the_next_message(b: Backend) {
    let Some(app) =
        TestApp::with_settings(b, |s| s.poll_timeout = Duration::from_millis(300)).await
    else {
        return;
    };
    let admin = app.admin_with_instance(INST).await;
    let poll = format!("/v1.1/instances/{INST}/channels/default/poll/?last_id=&room=");
    let r = app.as_key(&admin, "GET", &poll, None).await;
    assert_eq!(
        (r.status, &r.body),
        (
            StatusCode::BAD_REQUEST,
            &json!({"room": "This field is required for channels with separate rooms."})
        ),
        "a blank room is no room"
    );
    let created = app
        .as_key(
            &admin,
            "POST",
            &format!("/v1.1/instances/{INST}/channels/"),
            Some(json!({"name": "plain", "custom_publish": true})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let poll = format!("/v1.1/instances/{INST}/channels/plain/poll/?last_id=&room=");
    let r = app.as_key(&admin, "GET", &poll, None).await;
    assert_eq!((r.status, &r.body), (StatusCode::NO_CONTENT, &Value::Null));
    let history = format!(
        "/v1.1/instances/{INST}/channels/plain/history/?last_id=&room=&ordering=&page_size="
    );
    let r = app.as_key(&admin, "GET", &history, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["objects"], json!([]));
}

async fn blank_paging_and_filter_parameters_are_ignored(b: Backend) {
    let Some(app) = TestApp::new(b).await else {
        return;
    };
    let admin = app.admin_with_instance(INST).await;
    let classes = format!("/v1.1/instances/{INST}/classes/");
    let schema =
        json!({"name": "notes", "schema": [{"name": "n", "type": "integer", "order_index": true}]});
    let r = app.as_key(&admin, "POST", &classes, Some(schema)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let objects = format!("{classes}notes/objects/");
    for n in [1, 2, 3] {
        let r = app
            .as_key(&admin, "POST", &objects, Some(json!({"n": n})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let blank = format!(
        "{objects}?page_size=&order_by=&query=&last_pk=&direction=&ordering=&include_count="
    );
    let r = app.as_key(&admin, "GET", &blank, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let ns: Vec<i64> = r.body["objects"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["n"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(ns, vec![1, 2, 3]);
    let users = format!("/v1.1/instances/{INST}/users/?page_size=&last_pk=&username__startswith=");
    let r = app.as_key(&admin, "GET", &users, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = app
        .as_key(
            &admin,
            "GET",
            "/v1.1/instances/?name__startswith=&page_size=",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["objects"].as_array().map(Vec::len), Some(1));
}
