//! Unique-constraint failures come back typed, naming the constraint the same way on
//! both backends (PostgreSQL's names; SQLite's message is parsed into them).

use crate::both_backends;
use crate::helpers::{Backend, TestStore, key_of, plain_values, values_with};
use rivia_store::users::GroupValues;
use rivia_store::{Constraint, StoreError};
use serde_json::json;

both_backends!(unique_failures_name_their_constraint);

fn constraint<T: std::fmt::Debug>(r: Result<T, StoreError>) -> Constraint {
    match r {
        Err(StoreError::Conflict(c)) => c,
        other => panic!("expected a unique failure, got {other:?}"),
    }
}

async fn unique_failures_name_their_constraint(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let store = &t.store;
    let inst = t.instance("uniq").await;
    // The unique index of a schema field.
    let class = t
        .class(
            &inst,
            "books",
            json!([{"name": "isbn", "type": "string", "unique": true},
                   {"name": "code", "type": "string", "unique": true}]),
        )
        .await;
    let (isbn, code) = (key_of(&class, "isbn"), key_of(&class, "code"));
    let insert = |data| async move {
        store
            .begin_write()
            .await?
            .insert_object_and_commit(inst.id, class.id, &values_with(data))
            .await
    };
    insert(json!({&isbn: "1", &code: "a"}))
        .await
        .expect("first");
    let c = constraint(insert(json!({&isbn: "2", &code: "a"})).await);
    assert!(c.is_field_index(class.id, &code), "{c}");
    assert!(!c.is_field_index(class.id, &isbn), "{c}");
    assert_eq!(
        c.name(),
        rivia_store::testing::field_index_name(class.id, &code)
    );
    // The same through an update.
    let second = insert(json!({&isbn: "2", &code: "b"}))
        .await
        .expect("second");
    let mut unit = store.begin_write().await.expect("begin");
    let c = constraint(
        unit.update_object(class.id, second.id, &values_with(json!({&isbn: "1"})), true)
            .await,
    );
    assert!(c.is_field_index(class.id, &isbn), "{c}");
    drop(unit);
    // Constraints of the built-in tables, by their PostgreSQL names.
    let group = GroupValues {
        name: Some("staff".into()),
        label: "Staff".into(),
        description: String::new(),
    };
    store.create_group(inst.id, &group).await.expect("group");
    let c = constraint(store.create_group(inst.id, &group).await);
    assert_eq!(c.name(), "user_groups_instance_id_name_key");
    let other = t.instance("uniq-other").await;
    let c = constraint(store.rename_instance(other.id, "uniq").await);
    assert_eq!(c.name(), "instances_name_key");
    let profile = store
        .class_by_name(inst.id, "user_profile")
        .await
        .expect("db")
        .expect("profile class");
    store
        .create_user(
            inst.id,
            profile.id,
            "ann",
            "hash",
            "key-ann",
            plain_values(),
        )
        .await
        .expect("user");
    let c = constraint(
        store
            .create_user(
                inst.id,
                profile.id,
                "ann",
                "hash",
                "key-ann-2",
                plain_values(),
            )
            .await,
    );
    assert_eq!(c.name(), "users_instance_id_username_key");
}
