//! A blank optional query parameter counts as absent, as the platform's DRF treated it
//! (Syncano's JavaScript library sends `?last_id=&room=` on every poll when neither is set).

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    settings(|s| s.poll_timeout = std::time::Duration::from_millis(300)),
    blank_poll_parameters_wait_for_the_next_message,
    blank_history_parameters_are_ignored,
);
both_backends!(
    blank_object_list_parameters_are_ignored,
    blank_user_and_instance_list_parameters_are_ignored,
    blank_field_selection_selects_every_field,
);

const INST: &str = "blank-inst";
const CHANNELS: &str = "/v1.1/instances/blank-inst/channels/";

async fn admin_with_plain_channel(app: &TestApp) -> String {
    let admin = app.admin_with_instance(INST).await;
    let body = json!({"name": "plain", "custom_publish": true});
    app.as_key(&admin, "POST", CHANNELS, Some(body))
        .await
        .expect(StatusCode::CREATED);
    admin
}

async fn blank_poll_parameters_wait_for_the_next_message(app: TestApp) {
    let admin = admin_with_plain_channel(&app).await;
    // On a separate-rooms channel a blank room is no room.
    let r = app
        .as_key(
            &admin,
            "GET",
            &format!("{CHANNELS}default/poll/?last_id=&room="),
            None,
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"room": "This field is required for channels with separate rooms."})
    );
    // On a plain channel the poll waits (here: until the 300 ms timeout, 204).
    let r = app
        .as_key(
            &admin,
            "GET",
            &format!("{CHANNELS}plain/poll/?last_id=&room="),
            None,
        )
        .await;
    assert_eq!(r.expect_json(StatusCode::NO_CONTENT), Value::Null);
}

async fn blank_history_parameters_are_ignored(app: TestApp) {
    let admin = admin_with_plain_channel(&app).await;
    let history = format!("{CHANNELS}plain/history/?last_id=&room=&ordering=&page_size=");
    let body = app
        .as_key(&admin, "GET", &history, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(body["objects"], json!([]));
}

async fn blank_object_list_parameters_are_ignored(app: TestApp) {
    let admin = app.admin_with_instance(INST).await;
    let classes = format!("/v1.1/instances/{INST}/classes/");
    let schema =
        json!({"name": "notes", "schema": [{"name": "n", "type": "integer", "order_index": true}]});
    app.as_key(&admin, "POST", &classes, Some(schema))
        .await
        .expect(StatusCode::CREATED);
    let objects = format!("{classes}notes/objects/");
    for n in [1, 2, 3] {
        app.as_key(&admin, "POST", &objects, Some(json!({"n": n})))
            .await
            .expect(StatusCode::CREATED);
    }
    let blank = format!(
        "{objects}?page_size=&order_by=&query=&last_pk=&direction=&ordering=&include_count="
    );
    let body = app
        .as_key(&admin, "GET", &blank, None)
        .await
        .expect_json(StatusCode::OK);
    let ns: Vec<i64> = body["objects"]
        .as_array()
        .map(|a| a.iter().filter_map(|o| o["n"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(ns, vec![1, 2, 3]);
}

async fn blank_user_and_instance_list_parameters_are_ignored(app: TestApp) {
    let admin = app.admin_with_instance(INST).await;
    let users = format!("/v1.1/instances/{INST}/users/?page_size=&last_pk=&username__startswith=");
    app.as_key(&admin, "GET", &users, None)
        .await
        .expect(StatusCode::OK);
    let body = app
        .as_key(
            &admin,
            "GET",
            "/v1.1/instances/?name__startswith=&page_size=",
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(body["objects"].as_array().map(Vec::len), Some(1));
}

async fn blank_field_selection_selects_every_field(app: TestApp) {
    let admin = app.admin_with_instance(INST).await;
    let url = format!("/v1.1/instances/{INST}/");
    let whole = app
        .as_key(&admin, "GET", &url, None)
        .await
        .expect_json(StatusCode::OK);
    let blank = app
        .as_key(
            &admin,
            "GET",
            &format!("{url}?fields=&excluded_fields="),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(blank, whole);
    let named = app
        .as_key(&admin, "GET", &format!("{url}?fields=name&fields="), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(named, json!({"name": INST}));
}
