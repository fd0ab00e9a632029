//! Channel tests that set up state through store operations rather than the API: an admin
//! role granted in the store, and retention over more changes than the API would write
//! quickly (appended in one unit of work, one backdated through the `testing` hook).
//! `append_change` inside a caller's transaction is a store test
//! (`rivia-store/tests/store/units.rs`).

use crate::both_backends;
use crate::channels::{CH, admin_with_publish_channel};
use crate::helpers::TestApp;
use axum::http::StatusCode;
use rivia_store::channels::NewChange;
use serde_json::json;

both_backends!(
    read_role_admin_reads_channels_but_cannot_create,
    retention_keeps_the_newest_and_drops_expired,
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
    app.store
        .grant_admin_role(inst.id, reader_id, rivia_core::perms::Role::Read)
        .await
        .expect("role");
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
    let mut unit = app.store.begin_write().await.expect("begin");
    let mut last = Vec::new();
    for (ch, room, n) in [(busy.id, None, 1005), (eventlog.id, Some("t"), 105)] {
        for i in 0..n {
            last.push(
                unit.append_change(&NewChange {
                    instance_id: inst.id,
                    channel_id: ch,
                    room: room.map(String::from),
                    action: "custom".into(),
                    author: "{}".into(),
                    metadata: "{}".into(),
                    payload: format!("{{\"i\": {i}}}"),
                })
                .await
                .expect("append"),
            );
        }
    }
    unit.commit().await.expect("commit");
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
    app.store
        .backdate_change(busy.id, newest, 0)
        .await
        .expect("age");
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
