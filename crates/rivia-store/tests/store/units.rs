//! Units of work: all or nothing, also when a request is cancelled mid-write, and change
//! events that exist only once their unit commits.

use crate::both_backends;
use crate::helpers::{Backend, TestStore, key_of, plain_values, values_with};
use rivia_store::StoreError;
use rivia_store::bus::BusEvent;
use rivia_store::channels::NewChange;
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    a_unit_of_work_failing_midway_leaves_nothing,
    a_cancelled_write_leaves_no_open_transaction,
    append_change_joins_the_units_transaction,
);

fn change(instance_id: i64, channel_id: i64, room: Option<&str>) -> NewChange {
    NewChange {
        instance_id,
        channel_id,
        room: room.map(String::from),
        action: "create".into(),
        author: r#"{"admin":1}"#.into(),
        metadata: r#"{"type":"object","class":"books"}"#.into(),
        payload: r#"{"id":1,"title":"x"}"#.into(),
    }
}

async fn a_unit_of_work_failing_midway_leaves_nothing(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let inst = t.instance("uow").await;
    let class = t
        .class(
            &inst,
            "b",
            json!([{"name": "code", "type": "string", "unique": true}]),
        )
        .await;
    let code = key_of(&class, "code");
    let store = &t.store;
    store
        .begin_write()
        .await
        .expect("begin")
        .insert_object_and_commit(inst.id, class.id, &values_with(json!({&code: "taken"})))
        .await
        .expect("first");
    let eventlog = store
        .channel_by_name(inst.id, "eventlog")
        .await
        .expect("db")
        .expect("eventlog");
    // An insert and a change event, then a write the unique index refuses.
    let mut unit = store.begin_write().await.expect("begin");
    let inserted = unit
        .insert_object(inst.id, class.id, &values_with(json!({&code: "fresh"})))
        .await
        .expect("insert");
    unit.append_change(&change(inst.id, eventlog.id, Some("r")))
        .await
        .expect("append");
    let refused = unit
        .insert_object(inst.id, class.id, &values_with(json!({&code: "taken"})))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    drop(unit);
    assert_eq!(
        store.get_object(class.id, inserted.id).await.expect("read"),
        None
    );
    assert_eq!(t.count(&inst, &class).await, 1);
    assert_eq!(
        store
            .last_change_id(eventlog.id, Some("r"))
            .await
            .expect("max"),
        0
    );
    let counted = store
        .class_by_name_counted(inst.id, "b")
        .await
        .expect("db")
        .expect("class");
    assert_eq!(counted.objects_count, Some(1));
    // The store is usable at once: the next unit commits.
    let kept = store
        .begin_write()
        .await
        .expect("begin")
        .insert_object_and_commit(inst.id, class.id, &values_with(json!({&code: "fresh"})))
        .await
        .expect("after");
    assert!(kept.id > inserted.id || b == Backend::Sqlite, "{kept:?}");
    assert_eq!(t.count(&inst, &class).await, 2);
}

async fn a_cancelled_write_leaves_no_open_transaction(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let inst = t.instance("cancel").await;
    let class = t.class(&inst, "calm", json!([])).await;
    // Requests that go away mid-write, at every stage: before, between and after their
    // statements, with their unit still open. More of them than the pool has connections.
    let (instance_id, class_id) = (inst.id, class.id);
    for cut_after_ms in 0..40u64 {
        let store = t.store.clone();
        let write = async move {
            let mut unit = store.begin_write().await.expect("begin");
            unit.insert_object(instance_id, class_id, &plain_values())
                .await
                .expect("insert");
            unit.insert_object(instance_id, class_id, &plain_values())
                .await
                .expect("insert");
            tokio::time::sleep(Duration::from_secs(30)).await;
            unit.commit().await.expect("commit");
        };
        let cut = tokio::time::timeout(Duration::from_millis(cut_after_ms % 8), write).await;
        assert!(cut.is_err(), "the write finished");
    }
    // Every later write lands and is visible: no connection (and not SQLite's writer) is
    // left inside the cancelled transactions.
    for n in 0..24 {
        let saved = t
            .store
            .begin_write()
            .await
            .expect("begin")
            .insert_object_and_commit(inst.id, class.id, &plain_values())
            .await;
        assert!(saved.is_ok(), "write {n}: {saved:?}");
    }
    assert_eq!(t.count(&inst, &class).await, 24);
}

async fn append_change_joins_the_units_transaction(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let inst = t.instance("chan-inst").await;
    let store = &t.store;
    let default = store
        .channel_by_name(inst.id, "default")
        .await
        .expect("db")
        .expect("default");
    let change = change(inst.id, default.id, Some("Room-A"));
    let mut sub = store.bus.subscribe(default.id, Some("room-a"));
    // Rolled back: nothing stored, nothing announced.
    let mut unit = store.begin_write().await.expect("begin");
    unit.append_change(&change).await.expect("append");
    drop(unit);
    assert_eq!(
        store
            .last_change_id(default.id, Some("room-a"))
            .await
            .expect("max"),
        0
    );
    // Committed, then handed to the hook: the waiter gets it, room lowercased.
    let mut unit = store.begin_write().await.expect("begin");
    let saved = unit.append_change(&change).await.expect("append");
    unit.commit().await.expect("commit");
    assert_eq!(saved.room.as_deref(), Some("room-a"));
    store.bus.committed(saved);
    let event = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("woken");
    let BusEvent::Change(c) = event else {
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
