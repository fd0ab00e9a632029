//! Class and object tests that look into the store itself (`app.store.db`): real indexes,
//! query plans, read timeouts and the transactions of read batches. They stay apart so
//! they can move to a store-level test binary.

use crate::both_backends;
use crate::helpers::{Backend, TestApp};
use crate::objects_common::{
    INST, class_url, count_objects, create, make_class, objects, pub_class, setup,
};
use axum::http::StatusCode;
use serde_json::json;

both_backends!(
    indexes_follow_the_schema,
    statement_timeout_cancels_reads,
    filters_use_the_expression_index,
    cancelled_reads_leave_no_open_transaction,
    failed_reads_report_the_first_error_and_leave_no_open_transaction,
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
    let table = format!("c{}", c.id);
    let sql = match app.backend {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND name LIKE '%\\_x%' ESCAPE '\\' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT indexname FROM pg_indexes WHERE tablename = $1 AND indexname LIKE '%\\_x%' ORDER BY indexname"
        }
    };
    app.store
        .db
        .query(sql, rivia_store::params![table])
        .await
        .expect("indexes")
        .iter()
        .map(|r| r.str(0).to_string())
        .collect()
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

async fn statement_timeout_cancels_reads(app: TestApp) {
    let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500000000) SELECT COUNT(*) FROM c";
    let started = std::time::Instant::now();
    let r = app
        .store
        .db
        .read_with_timeout(
            vec![(slow.to_string(), vec![])],
            std::time::Duration::from_millis(200),
        )
        .await;
    assert!(matches!(r, Err(rivia_store::StoreError::Timeout)), "{r:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let err: rivia_server::error::ApiError = rivia_store::StoreError::Timeout.into();
    assert_eq!(err.status(), StatusCode::REQUEST_TIMEOUT);
    // The connection is usable again afterwards.
    let ok = app
        .store
        .db
        .read_with_timeout(
            vec![("SELECT 1".to_string(), vec![])],
            std::time::Duration::from_millis(200),
        )
        .await
        .expect("fast read");
    assert_eq!(ok[0][0].i64(0), 1);
}

async fn filters_use_the_expression_index(app: TestApp) {
    let key = setup(&app).await;
    if app.backend != Backend::Sqlite {
        // PostgreSQL picks sequential scans on tiny tables; the shared expression is
        // asserted by the SQLite plan and by the unit test of `field_expr`.
        return;
    }
    make_class(&app, &key, json!({"name": "ix", "schema": [{"name": "score", "type": "integer", "filter_index": true}]})).await;
    let inst = app.stored_instance(INST).await;
    let class = app
        .store
        .class_by_name(inst.id, "ix")
        .await
        .expect("db")
        .expect("class");
    let field = rivia_core::schema::Schema::from_stored(&class.schema)
        .fields
        .remove(0);
    let expr = rivia_store::sql::field_expr(rivia_store::Dialect::Sqlite, "", &field.key);
    let plan = app
        .store
        .db
        .query(
            &format!(
                "EXPLAIN QUERY PLAN SELECT id FROM c{} WHERE {expr} > $1",
                class.id
            ),
            rivia_store::params![5i64],
        )
        .await
        .expect("plan");
    let text: Vec<String> = plan.iter().map(|r| r.str(3).to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains(&rivia_store::sql::index_name(class.id, &field.key))),
        "{text:?}"
    );
}

async fn cancelled_reads_leave_no_open_transaction(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "calm", "schema": [{"name": "n", "type": "integer"}]}),
    )
    .await;
    let slow = match app.backend {
        Backend::Sqlite => {
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT COUNT(*) FROM r"
        }
        Backend::Postgres => "SELECT pg_sleep(5)",
    };
    // Clients that go away mid-list: their reads are dropped inside the transaction.
    for _ in 0..12 {
        let read = app.store.db.read_with_timeout(
            vec![(slow.to_string(), vec![])],
            std::time::Duration::from_millis(300),
        );
        let cut = tokio::time::timeout(std::time::Duration::from_millis(20), read).await;
        assert!(cut.is_err(), "the slow read finished early");
    }
    // Every later write lands: no pooled connection is left inside a read-only transaction.
    for n in 0..24 {
        create(&app, &key, "calm", json!({"n": n})).await;
    }
    assert_eq!(count_objects(&app, &key, "calm").await, json!(24));
}

/// Reads of one batch share a transaction (on PostgreSQL one pipeline: BEGIN, the
/// statements, COMMIT); a statement failing at run time or at prepare ends it cleanly.
async fn failed_reads_report_the_first_error_and_leave_no_open_transaction(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "sane", "schema": [{"name": "n", "type": "integer"}]}),
    )
    .await;
    let read = |statements: Vec<&str>| {
        let statements = statements
            .into_iter()
            .map(|s| (s.to_string(), vec![]))
            .collect();
        app.store
            .db
            .read_with_timeout(statements, std::time::Duration::from_secs(5))
    };
    // A statement that prepares but fails when it runs (SQLite's 1 / 0 is NULL).
    let (fails_at_run, message) = match app.backend {
        Backend::Sqlite => ("SELECT json('not json')", "malformed JSON"),
        Backend::Postgres => ("SELECT 1 / 0", "division by zero"),
    };
    // More failures than the pool has connections, so every connection sees one.
    for _ in 0..20 {
        let at_run = read(vec!["SELECT 1", fails_at_run, "SELECT 2"]).await;
        assert!(
            matches!(at_run, Err(rivia_store::StoreError::Internal(ref m)) if m.contains(message)),
            "{at_run:?}"
        );
        let at_prepare = read(vec!["SELECT 1", "SELEKT 2"]).await;
        assert!(
            matches!(at_prepare, Err(rivia_store::StoreError::Internal(_))),
            "{at_prepare:?}"
        );
    }
    let ok = read(vec!["SELECT 1", "SELECT 2"])
        .await
        .expect("reads work again");
    assert_eq!((ok[0][0].i64(0), ok[1][0].i64(0)), (1, 2));
    // Writes land and later lists see them: no connection was left in a read-only
    // transaction or an old snapshot.
    for n in 0..24 {
        create(&app, &key, "sane", json!({"n": n})).await;
        assert_eq!(count_objects(&app, &key, "sane").await, json!(n + 1));
    }
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
    let mut tx = app.store.db.begin().await.expect("tx");
    tx.exec(
        "INSERT INTO admin_roles (instance_id, admin_id, role) VALUES ($1, $2, 1)",
        rivia_store::params![inst.id, reader_admin.id],
    )
    .await
    .expect("role");
    tx.commit().await.expect("commit");
    app.as_key(&reader, "GET", &objects("pub"), None)
        .await
        .expect(StatusCode::OK);
    app.as_key(&reader, "POST", &objects("pub"), Some(json!({})))
        .await
        .expect(StatusCode::FORBIDDEN);
}
