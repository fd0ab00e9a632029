//! Per-instance ids: objects of every class and user profiles share one increasing
//! sequence per instance (a counter row on SQLite, a sequence per instance on
//! PostgreSQL), including instances created before the sequences existed.

use crate::both_backends;
use crate::helpers::{Backend, TestStore, plain_values};
use rivia_store::testing::Val;
use serde_json::json;

both_backends!(
    ids_increase_per_instance_across_classes_and_profiles,
    instances_created_before_id_sequences_continue_their_ids,
    a_deleted_instance_takes_its_id_sequence_along,
);

/// The PostgreSQL migration that moved object ids to sequences, run again below.
const SEQUENCES_MIGRATION: &str =
    include_str!("../../migrations/postgres/0004_object_sequences.sql");

async fn insert(t: &TestStore, instance_id: i64, class_id: i64) -> i64 {
    t.store
        .begin_write()
        .await
        .expect("begin")
        .insert_object_and_commit(instance_id, class_id, &plain_values())
        .await
        .expect("insert")
        .id
}

async fn ids_increase_per_instance_across_classes_and_profiles(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let inst = t.instance("ids").await;
    let a = t.class(&inst, "a", json!([])).await;
    let c = t.class(&inst, "c", json!([])).await;
    let profile = t
        .store
        .class_by_name(inst.id, "user_profile")
        .await
        .expect("db")
        .expect("profile class");
    let mut ids = vec![
        insert(&t, inst.id, a.id).await,
        insert(&t, inst.id, c.id).await,
    ];
    let (_, profile_row) = t
        .store
        .create_user(
            inst.id,
            profile.id,
            "u1",
            "hash",
            "user-key-1",
            plain_values(),
        )
        .await
        .expect("user");
    ids.push(profile_row.id);
    ids.push(insert(&t, inst.id, a.id).await);
    assert_eq!(ids, vec![1, 2, 3, 4]);
    // Another instance counts on its own.
    let other = t.instance("ids-other").await;
    let other_class = t.class(&other, "a", json!([])).await;
    assert_eq!(insert(&t, other.id, other_class.id).await, 1);
    assert_eq!(insert(&t, inst.id, c.id).await, 5);
}

async fn instances_created_before_id_sequences_continue_their_ids(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let inst = t.instance("old").await;
    let a = t.class(&inst, "a", json!([])).await;
    let bee = t.class(&inst, "b", json!([])).await;
    assert_eq!(insert(&t, inst.id, a.id).await, 1);
    // The instance as an older release left it: its counter handed out 41 ids and, on
    // PostgreSQL, no sequence yet; then the migration runs.
    let raw = t.store.raw();
    raw.write(vec![(
        "INSERT INTO instance_counters (instance_id, kind, value) VALUES ($1, 'objects', 41) \
         ON CONFLICT (instance_id, kind) DO UPDATE SET value = 41"
            .into(),
        vec![Val::Int(inst.id)],
    )])
    .await
    .expect("counter");
    if b == Backend::Postgres {
        raw.batch(&format!("DROP SEQUENCE rivia_objects_{}", inst.id))
            .await
            .expect("drop sequence");
        raw.batch(SEQUENCES_MIGRATION).await.expect("migration");
    }
    assert_eq!(insert(&t, inst.id, bee.id).await, 42);
    // Running it again does not restart a sequence that exists.
    if b == Backend::Postgres {
        raw.batch(SEQUENCES_MIGRATION).await.expect("migration");
    }
    assert_eq!(insert(&t, inst.id, a.id).await, 43);
}

async fn a_deleted_instance_takes_its_id_sequence_along(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let inst = t.instance("gone").await;
    let a = t.class(&inst, "a", json!([])).await;
    insert(&t, inst.id, a.id).await;
    insert(&t, inst.id, a.id).await;
    t.store.delete_instance(inst.id).await.expect("delete");
    if b == Backend::Postgres {
        let left = t
            .store
            .raw()
            .query(
                "SELECT relname FROM pg_class WHERE relname = $1",
                vec![Val::Text(format!("rivia_objects_{}", inst.id))],
            )
            .await
            .expect("catalog");
        assert!(left.is_empty(), "sequence left behind: {left:?}");
    }
    // The name can be used again; the new instance counts from 1.
    let again = t.instance("gone").await;
    let a = t.class(&again, "a", json!([])).await;
    assert_eq!(insert(&t, again.id, a.id).await, 1);
}
