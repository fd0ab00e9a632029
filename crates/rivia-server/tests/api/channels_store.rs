//! Channel tests that write the store directly (`app.store.db`, the change hook): an admin
//! role granted in the store, retention, and `append_change` inside a caller's
//! transaction. They stay apart so they can move to a store-level test binary.

use crate::both_backends;
use crate::channels::{CH, admin_with_publish_channel};
use crate::helpers::TestApp;
use axum::http::StatusCode;
use rivia_store::channels::{NewChange, append_change};
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    read_role_admin_reads_channels_but_cannot_create,
    retention_keeps_the_newest_and_drops_expired,
    append_change_joins_the_callers_transaction,
);

/// Admin roles: read may read, not write (the role is granted straight in the store).
async fn read_role_admin_reads_channels_but_cannot_create(app: TestApp) {
    app.admin_with_instance("chan-inst").await;
    let reader = app.admin("reader@example.com").await;
    let inst = app.stored_instance("chan-inst").await;
    let reader_id = app
        .store
        .admin_by_key(&reader)
        .await
        .expect("db")
        .expect("admin")
        .id;
    let mut tx = app.store.db.begin().await.expect("begin");
    tx.exec(
        "INSERT INTO admin_roles (instance_id, admin_id, role) VALUES ($1, $2, $3)",
        rivia_store::params![inst.id, reader_id, rivia_core::perms::Role::Read as i64],
    )
    .await
    .expect("role");
    tx.commit().await.expect("commit");
    app.as_key(&reader, "GET", CH, None)
        .await
        .expect(StatusCode::OK);
    let r = app
        .as_key(&reader, "POST", CH, Some(json!({"name": "nope"})))
        .await;
    r.expect(StatusCode::FORBIDDEN);
}

async fn retention_keeps_the_newest_and_drops_expired(app: TestApp) {
    let admin = admin_with_publish_channel(&app, "busy").await;
    let inst = app.stored_instance("chan-inst").await;
    let channel = |name: &'static str| {
        let store = app.store.clone();
        async move {
            store
                .channel_by_name(inst.id, name)
                .await
                .expect("db")
                .expect("channel")
        }
    };
    let busy = channel("busy").await;
    let eventlog = channel("eventlog").await;
    // One multi-row transaction per channel keeps the test quick; the hook marks them.
    let mut tx = app.store.db.begin().await.expect("begin");
    let mut last = Vec::new();
    for (ch, room, n) in [(busy.id, None, 1005), (eventlog.id, Some("t"), 105)] {
        for i in 0..n {
            last.push(
                append_change(
                    &mut tx,
                    &NewChange {
                        instance_id: inst.id,
                        channel_id: ch,
                        room: room.map(String::from),
                        action: "custom".into(),
                        author: "{}".into(),
                        metadata: "{}".into(),
                        payload: format!("{{\"i\": {i}}}"),
                    },
                )
                .await
                .expect("append"),
            );
        }
    }
    tx.commit().await.expect("commit");
    for c in last {
        app.store.bus.committed(c);
    }
    app.store.prune_touched_changes().await.expect("prune");
    let kept = app
        .store
        .changes_after(busy.id, None, 0, 5000)
        .await
        .expect("read");
    assert_eq!(kept.len(), 1000);
    assert_eq!(kept[0].payload, "{\"i\": 5}");
    let kept = app
        .store
        .changes_after(eventlog.id, Some("t"), 0, 5000)
        .await
        .expect("read");
    assert_eq!(kept.len(), 100);

    // A change older than 24 h is invisible at once and deleted by the next pass.
    let newest = app.store.last_change_id(busy.id, None).await.expect("max");
    let mut tx = app.store.db.begin().await.expect("begin");
    tx.exec(
        "UPDATE changes SET created_at = $1 WHERE channel_id = $2 AND id = $3",
        rivia_store::params![0_i64, busy.id, newest],
    )
    .await
    .expect("age");
    tx.commit().await.expect("commit");
    let r = app
        .as_key(&admin, "GET", &format!("{CH}busy/history/{newest}/"), None)
        .await;
    r.expect(StatusCode::NOT_FOUND);
    app.store.prune_touched_changes().await.expect("prune");
    let all = app
        .store
        .changes_after(busy.id, None, 0, 5000)
        .await
        .expect("read");
    assert_eq!(all.len(), 999);
}

async fn append_change_joins_the_callers_transaction(app: TestApp) {
    app.admin_with_instance("chan-inst").await;
    let inst = app.stored_instance("chan-inst").await;
    let default = app
        .store
        .channel_by_name(inst.id, "default")
        .await
        .expect("db")
        .expect("default");
    let change = NewChange {
        instance_id: inst.id,
        channel_id: default.id,
        room: Some("Room-A".into()),
        action: "create".into(),
        author: r#"{"admin":1}"#.into(),
        metadata: r#"{"type":"object","class":"books"}"#.into(),
        payload: r#"{"id":1,"title":"x"}"#.into(),
    };
    let mut sub = app.store.bus.subscribe(default.id, Some("room-a"));
    // Rolled back: nothing stored, nothing announced.
    let mut tx = app.store.db.begin().await.expect("begin");
    append_change(&mut tx, &change).await.expect("append");
    drop(tx);
    assert_eq!(
        app.store
            .last_change_id(default.id, Some("room-a"))
            .await
            .expect("max"),
        0
    );
    // Committed, then handed to the hook: the waiter gets it, room lowercased.
    let mut tx = app.store.db.begin().await.expect("begin");
    let saved = append_change(&mut tx, &change).await.expect("append");
    tx.commit().await.expect("commit");
    assert_eq!(saved.room.as_deref(), Some("room-a"));
    app.store.bus.committed(saved);
    let event = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("woken");
    let rivia_store::bus::BusEvent::Change(c) = event else {
        panic!("expected a change, got {event:?}");
    };
    let msg: Value = serde_json::from_str(c.message()).expect("json");
    assert_eq!(
        (&msg["action"], &msg["metadata"], &msg["payload"]),
        (
            &json!("create"),
            &json!({"type": "object", "class": "books"}),
            &json!({"id": 1, "title": "x"})
        )
    );
}
