//! Channel polling (spec-core §10.5): answers at once or waits for the next change, the
//! remembered newest id, channels replaced or deleted under a poll, validation and timeouts.

use crate::both_backends;
use crate::channels::{CH, admin_with_publish_channel, publish};
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    poll_answers_the_oldest_newer_change_at_once,
    poll_without_a_newer_change_waits_for_the_next_one,
    poll_with_a_current_last_id_waits_for_the_next_change,
    polls_see_a_channel_replaced_or_restricted_at_once,
    poll_on_a_deleted_channel_ends,
);
both_backends!(
    settings(|s| s.poll_timeout = std::time::Duration::from_millis(300)),
    poll_times_out_with_204_and_no_body,
    poll_validates_last_id_and_room,
    plain_key_cannot_poll,
    websocket_transport_without_an_upgrade_is_a_json_4xx,
);
both_backends!(
    settings(|s| s.poll_rate = 2),
    a_configured_poll_rate_answers_429_with_retry_after,
);

/// Waits (with a deadline) until `n` pollers are parked on the bus.
pub async fn wait_for_waiters(app: &TestApp, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while app.store.bus.waiter_count() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} pollers parked",
            app.store.bus.waiter_count()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A newer change exists: the oldest one after last_id, without links.
async fn poll_answers_the_oldest_newer_change_at_once(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "plain").await;
    let first = publish(&app, &admin, "plain", json!({"payload": {"n": 1}})).await;
    let second = publish(&app, &admin, "plain", json!({"payload": {"n": 2}})).await;
    let poll = format!("{CH}plain/poll/");

    let r = app
        .as_key(&admin, "GET", &format!("{poll}?last_id=0"), None)
        .await;
    r.expect(StatusCode::OK);
    assert_eq!(r.body["id"].as_i64(), Some(first));
    assert_eq!(r.body.get("links"), None);
    assert_eq!(
        r.body
            .as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(
            [
                "id",
                "created_at",
                "action",
                "author",
                "metadata",
                "payload"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    assert_eq!(r.header("x-last-id"), Some(first.to_string().as_str()));
    let r = app
        .as_key(&admin, "GET", &format!("{poll}?last_id={first}"), None)
        .await;
    assert_eq!(r.body["id"].as_i64(), Some(second));
}

/// Nothing newer: the poll waits for the next publish (with a current last_id, and
/// without one).
async fn poll_without_a_newer_change_waits_for_the_next_one(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "plain").await;
    publish(&app, &admin, "plain", json!({"payload": {"n": 1}})).await;
    let second = publish(&app, &admin, "plain", json!({"payload": {"n": 2}})).await;
    let poll = format!("{CH}plain/poll/");
    let app = std::sync::Arc::new(app);
    let waiters: Vec<_> = [format!("{poll}?last_id={second}"), poll.clone()]
        .into_iter()
        .map(|url| {
            let app = app.clone();
            let admin = admin.clone();
            tokio::spawn(async move { app.as_key(&admin, "GET", &url, None).await })
        })
        .collect();
    wait_for_waiters(&app, 2).await;
    let third = publish(&app, &admin, "plain", json!({"payload": {"n": 3}})).await;
    for w in waiters {
        let r = w.await.expect("poll task");
        assert_eq!(r.header("x-last-id"), Some(third.to_string().as_str()));
        let body = r.expect_json(StatusCode::OK);
        assert_eq!(body["id"].as_i64(), Some(third));
        assert_eq!(body["payload"], json!({"n": 3}));
    }
    assert_eq!(app.store.bus.waiter_count(), 0);
}

/// Polls whose `last_id` is the newest change, answered from the bus's remembered newest
/// id instead of the table: each waits and gets the change published right after it
/// parks, and a `last_id` beyond the newest is still refused.
async fn poll_with_a_current_last_id_waits_for_the_next_change(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "steady").await;
    let inst = app.stored_instance("chan-inst").await;
    let channel = app
        .store
        .channel_by_name(inst.id, "steady")
        .await
        .expect("db")
        .expect("channel");
    let mut newest = publish(&app, &admin, "steady", json!({"payload": {"n": 0}})).await;
    let poll = format!("{CH}steady/poll/");
    // Another waiter on the channel (as other pollers would be) keeps its state, and so
    // the remembered newest id, alive between the polls below.
    let keeper = app.store.bus.subscribe(channel.id, None);
    let app = std::sync::Arc::new(app);
    for round in 1..=3 {
        if round > 1 {
            // The previous round's delivery moved the remembered id: no table read.
            assert_eq!(keeper.known_newest(), Some(newest));
        }
        let waiter = {
            let (app, admin) = (app.clone(), admin.clone());
            let url = format!("{poll}?last_id={newest}");
            tokio::spawn(async move { app.as_key(&admin, "GET", &url, None).await })
        };
        wait_for_waiters(&app, 2).await;
        let next = publish(&app, &admin, "steady", json!({"payload": {"n": round}})).await;
        let r = waiter.await.expect("poll task");
        r.expect(StatusCode::OK);
        assert_eq!(r.body["id"].as_i64(), Some(next));
        assert_eq!(r.body["payload"], json!({"n": round}));
        newest = next;
    }
    let r = app
        .as_key(
            &admin,
            "GET",
            &format!("{poll}?last_id={}", newest + 5),
            None,
        )
        .await;
    r.expect(StatusCode::BAD_REQUEST);
    assert_eq!(
        r.body,
        json!({"last_id": "Value is higher than the most current change id."})
    );
    drop(keeper);
}

/// Polls look channels up through a cache; changing or replacing a channel on this node
/// is seen by the very next poll.
async fn polls_see_a_channel_replaced_or_restricted_at_once(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    let create = json!({"name": "swap", "custom_publish": true});
    app.as_key(&admin, "POST", CH, Some(create.clone()))
        .await
        .expect(StatusCode::CREATED);
    let first = publish(&app, &admin, "swap", json!({"payload": {"v": 1}})).await;
    let poll = format!("{CH}swap/poll/?last_id=0");
    let r = app.as_key(&admin, "GET", &poll, None).await;
    assert_eq!(r.body["id"].as_i64(), Some(first));

    // Replaced by a new channel of the same name: the poll answers from the new one.
    let r = app
        .as_key(&admin, "DELETE", &format!("{CH}swap/"), None)
        .await;
    r.expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "POST", CH, Some(create))
        .await
        .expect(StatusCode::CREATED);
    let second = publish(&app, &admin, "swap", json!({"payload": {"v": 2}})).await;
    let r = app.as_key(&admin, "GET", &poll, None).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.body["id"].as_i64(), Some(second));
    assert_eq!(r.body["payload"], json!({"v": 2}));

    // Gone: the next poll is 404.
    app.as_key(&admin, "DELETE", &format!("{CH}swap/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let r = app.as_key(&admin, "GET", &poll, None).await;
    r.expect(StatusCode::NOT_FOUND);
}

async fn poll_on_a_deleted_channel_ends(app: TestApp) {
    let admin = app.admin_with_instance("chan-inst").await;
    app.as_key(&admin, "POST", CH, Some(json!({"name": "doomed"})))
        .await
        .expect(StatusCode::CREATED);
    let app = std::sync::Arc::new(app);
    let waiter = {
        let app = app.clone();
        let admin = admin.clone();
        tokio::spawn(async move {
            app.as_key(&admin, "GET", &format!("{CH}doomed/poll/"), None)
                .await
        })
    };
    wait_for_waiters(&app, 1).await;
    let r = app
        .as_key(&admin, "DELETE", &format!("{CH}doomed/"), None)
        .await;
    r.expect(StatusCode::NO_CONTENT);
    let r = waiter.await.expect("poll task");
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        json!({"detail": "Not found."})
    );
    assert_eq!(app.store.bus.waiter_count(), 0);
}

const PLAIN_POLL: &str = "/v1.1/instances/chan-inst/channels/plain/poll/";

/// Nothing published yet: any last_id waits; the timeout answers 204 with no body.
async fn poll_times_out_with_204_and_no_body(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "plain").await;
    let started = std::time::Instant::now();
    let r = app
        .as_key(&admin, "GET", &format!("{PLAIN_POLL}?last_id=50"), None)
        .await;
    assert_eq!(r.expect_json(StatusCode::NO_CONTENT), Value::Null);
    assert!(started.elapsed() >= Duration::from_millis(250));
}

async fn poll_validates_last_id_and_room(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "plain").await;
    let id = publish(&app, &admin, "plain", json!({})).await;
    let r = app
        .as_key(
            &admin,
            "GET",
            &format!("{PLAIN_POLL}?last_id={}", id + 1),
            None,
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"last_id": "Value is higher than the most current change id."})
    );
    let r = app
        .as_key(
            &admin,
            "GET",
            &format!("{PLAIN_POLL}?last_id=aaa&room=x"),
            None,
        )
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"last_id": ["A valid integer is required."]})
    );
    let r = app
        .as_key(&admin, "GET", &format!("{CH}default/poll/"), None)
        .await;
    assert_eq!(
        r.expect_json(StatusCode::BAD_REQUEST),
        json!({"room": "This field is required for channels with separate rooms."})
    );
    app.as_key(&admin, "GET", &format!("{CH}nope/poll/"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn plain_key_cannot_poll(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "plain").await;
    let key = app.api_key(&admin, "chan-inst", json!({})).await;
    app.as_key(&key, "GET", PLAIN_POLL, None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

/// `transport=websocket` without an upgrade request is a JSON 4xx, and leaves no waiter.
async fn websocket_transport_without_an_upgrade_is_a_json_4xx(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "plain").await;
    let url = format!("{PLAIN_POLL}?transport=websocket");
    let r = app.as_key(&admin, "GET", &url, None).await;
    assert!(r.status.is_client_error(), "{:?}", r.status);
    assert!(r.body["detail"].is_string());
    assert_eq!(app.store.bus.waiter_count(), 0);
}

/// The poll rate is off by default (0) but still works when set: polls above it in one
/// second answer 429 with `Retry-After`.
async fn a_configured_poll_rate_answers_429_with_retry_after(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "plain").await;
    publish(&app, &admin, "plain", json!({"payload": {"n": 1}})).await;
    let poll = format!("{CH}plain/poll/?last_id=0");
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let r = app.as_key(&admin, "GET", &poll, None).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.header("retry-after"), Some("1"));
        }
        statuses.push(r.status);
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    // Eight polls cross at most one second boundary, so at least four are refused.
    assert!(refused >= 4, "{statuses:?}");
}
