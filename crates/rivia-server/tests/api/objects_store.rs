//! Class and object tests that look at or set up the store through its operations: the
//! real indexes a schema builds (through the `testing` hook `field_index_names`), the 408
//! of a store timeout, and a read-role admin granted in the store. Query plans, read
//! timeouts and the transactions of read batches are store tests
//! (`rivia-store/tests/store/reads.rs`).

use crate::both_backends;
use crate::helpers::TestApp;
use crate::objects_common::{INST, class_url, create, make_class, objects, pub_class, setup};
use axum::http::StatusCode;
use serde_json::json;

both_backends!(
    indexes_follow_the_schema,
    store_timeouts_answer_408,
    read_role_admin_reads_objects_but_cannot_create,
);

/// Names of the real database indexes on a class table.
async fn index_names(app: &TestApp, class: &str) -> Vec<String> {
    let inst = app.stored_instance(INST).await;
    let c = app
        .store
        .class_by_name(inst.id, class)
        .await
        .expect("db")
        .expect("class");
    app.store.field_index_names(c.id).await.expect("indexes")
}

async fn indexes_follow_the_schema(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "idx", "schema": [
            {"name": "a", "type": "integer", "filter_index": true},
            {"name": "b", "type": "string", "order_index": true},
            {"name": "c", "type": "array", "filter_index": true},
            {"name": "d", "type": "text"}]}),
    )
    .await;
    assert_eq!(index_names(&app, "idx").await.len(), 3);
    app.as_key(
        &key,
        "PATCH",
        &class_url("idx"),
        Some(json!({"schema": [{"name": "a", "type": "integer"}, {"name": "b", "type": "string", "order_index": true}]})),
    )
    .await
        .expect(StatusCode::OK);
    assert_eq!(index_names(&app, "idx").await.len(), 1);
    // The unique index is enforced with the spec's message.
    make_class(
        &app,
        &key,
        json!({"name": "uniq", "schema": [{"name": "code", "type": "string", "unique": true}]}),
    )
    .await;
    create(&app, &key, "uniq", json!({"code": "x"})).await;
    let dup = app
        .as_key(&key, "POST", &objects("uniq"), Some(json!({"code": "x"})))
        .await;
    assert_eq!(dup.body, json!({"code": ["This field must be unique."]}));
}

/// A store timeout is answered 408 (that reads past their deadline are cancelled and
/// leave the connection usable is the store test `reads::statement_timeout_cancels_reads`).
async fn store_timeouts_answer_408(_app: TestApp) {
    let err: rivia_server::error::ApiError = rivia_store::StoreError::Timeout.into();
    assert_eq!(err.status(), StatusCode::REQUEST_TIMEOUT);
}

/// An admin with the read role (granted straight in the store: no endpoint grants a role
/// without an invitation) may list objects but not create them.
async fn read_role_admin_reads_objects_but_cannot_create(app: TestApp) {
    let key = setup(&app).await;
    pub_class(&app, &key).await;
    let reader = app.admin("reader@example.com").await;
    let inst = app.stored_instance(INST).await;
    let reader_admin = app
        .store
        .admin_by_key(&reader)
        .await
        .expect("db")
        .expect("admin");
    app.store
        .grant_admin_role(inst.id, reader_admin.id, rivia_core::perms::Role::Read)
        .await
        .expect("role");
    app.as_key(&reader, "GET", &objects("pub"), None)
        .await
        .expect(StatusCode::OK);
    app.as_key(&reader, "POST", &objects("pub"), Some(json!({})))
        .await
        .expect(StatusCode::FORBIDDEN);
}
