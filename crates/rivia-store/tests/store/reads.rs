//! Reads: several statements in one round trip (pipelined on PostgreSQL), under a
//! statement timeout, cancelled by a client going away, or failing at run time or at
//! prepare; none of them leaves a connection inside a transaction.

use crate::both_backends;
use crate::helpers::{Backend, TestStore, key_of, plain_values};
use rivia_store::testing::{Row, Val, field_expr, field_index_name, object_table};
use rivia_store::{Dialect, StoreError};
use serde_json::json;
use std::time::Duration;

both_backends!(
    batched_reads_come_back_in_order,
    statement_timeout_cancels_reads,
    cancelled_reads_leave_no_open_transaction,
    failed_reads_report_the_first_error_and_leave_no_open_transaction,
    filters_use_the_expression_index,
);

fn statements(sql: &[&str]) -> Vec<(String, Vec<Val>)> {
    sql.iter().map(|s| (s.to_string(), vec![])).collect()
}

fn first_int(rows: &[Row]) -> i64 {
    rows.first().map(|r| r.i64(0)).expect("a row")
}

/// Writes `n` plain objects into a class, one unit each.
async fn create(t: &TestStore, instance_id: i64, class_id: i64, n: usize) {
    for _ in 0..n {
        t.store
            .begin_write()
            .await
            .expect("begin")
            .insert_object_and_commit(instance_id, class_id, &plain_values())
            .await
            .expect("insert");
    }
}

async fn batched_reads_come_back_in_order(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let (class, _, _) = t.numbered_objects("batch", 0..5).await;
    let table = object_table(class.id);
    let raw = t.store.raw();
    // Many statements in one trip (pipelined on one PostgreSQL connection, one reader job
    // on SQLite): each result in its statement's place.
    let batch: Vec<(String, Vec<Val>)> = (0..20)
        .map(|i| {
            (
                format!("SELECT COUNT(*) FROM {table} WHERE id > $1"),
                vec![Val::Int(i % 6)],
            )
        })
        .collect();
    let results = raw.query_many(batch).await.expect("batch");
    let counts: Vec<i64> = results.iter().map(|rows| first_int(rows)).collect();
    let expected: Vec<i64> = (0..20).map(|i| (5 - i % 6).max(0)).collect();
    assert_eq!(counts, expected);
    // The same under a deadline, in one read transaction.
    let results = raw
        .query_many_with_timeout(
            statements(&[
                &format!("SELECT MIN(id) FROM {table}"),
                &format!("SELECT MAX(id) FROM {table}"),
                "SELECT 3",
            ]),
            Duration::from_secs(5),
        )
        .await
        .expect("read");
    assert_eq!(
        results.iter().map(|r| first_int(r)).collect::<Vec<_>>(),
        vec![1, 5, 3]
    );
    // One object by id.
    let got = t.store.get_object(class.id, 3).await.expect("read");
    assert_eq!(got.map(|o| o.id), Some(3));
}

async fn statement_timeout_cancels_reads(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500000000) SELECT COUNT(*) FROM c";
    let started = std::time::Instant::now();
    let r = t
        .store
        .raw()
        .query_many_with_timeout(statements(&[slow]), Duration::from_millis(200))
        .await;
    assert!(matches!(r, Err(StoreError::Timeout)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The connection is usable again afterwards.
    let ok = t
        .store
        .raw()
        .query_many_with_timeout(statements(&["SELECT 1"]), Duration::from_millis(200))
        .await
        .expect("fast read");
    assert_eq!(first_int(&ok[0]), 1);
}

async fn cancelled_reads_leave_no_open_transaction(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let inst = t.instance("calm").await;
    let class = t
        .class(&inst, "calm", json!([{"name": "n", "type": "integer"}]))
        .await;
    let slow = match b {
        Backend::Sqlite => {
            "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT COUNT(*) FROM r"
        }
        Backend::Postgres => "SELECT pg_sleep(5)",
    };
    // Clients that go away mid-list: their reads are dropped inside the transaction.
    for _ in 0..12 {
        let raw = t.store.raw();
        let read = raw.query_many_with_timeout(statements(&[slow]), Duration::from_millis(300));
        let cut = tokio::time::timeout(Duration::from_millis(20), read).await;
        assert!(cut.is_err(), "the slow read finished early");
    }
    // Every later write lands: no pooled connection is left inside a read-only transaction.
    create(&t, inst.id, class.id, 24).await;
    assert_eq!(t.count(&inst, &class).await, 24);
}

/// Reads of one batch share a transaction (on PostgreSQL one pipeline: BEGIN, the
/// statements, COMMIT); a statement failing at run time or at prepare ends it cleanly.
async fn failed_reads_report_the_first_error_and_leave_no_open_transaction(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let inst = t.instance("sane").await;
    let class = t
        .class(&inst, "sane", json!([{"name": "n", "type": "integer"}]))
        .await;
    let read = |sql: Vec<&str>| {
        let raw = t.store.raw();
        let batch = statements(&sql);
        async move {
            raw.query_many_with_timeout(batch, Duration::from_secs(5))
                .await
        }
    };
    // A statement that prepares but fails when it runs (SQLite's 1 / 0 is NULL).
    let (fails_at_run, message) = match b {
        Backend::Sqlite => ("SELECT json('not json')", "malformed JSON"),
        Backend::Postgres => ("SELECT 1 / 0", "division by zero"),
    };
    // More failures than the pool has connections, so every connection sees one.
    for _ in 0..20 {
        let at_run = read(vec!["SELECT 1", fails_at_run, "SELECT 2"]).await;
        assert!(
            matches!(at_run, Err(StoreError::Internal(ref m)) if m.contains(message)),
            "{at_run:?}"
        );
        let at_prepare = read(vec!["SELECT 1", "SELEKT 2"]).await;
        assert!(
            matches!(at_prepare, Err(StoreError::Internal(_))),
            "{at_prepare:?}"
        );
    }
    let ok = read(vec!["SELECT 1", "SELECT 2"])
        .await
        .expect("reads work again");
    assert_eq!((first_int(&ok[0]), first_int(&ok[1])), (1, 2));
    // Writes land and later lists see them: no connection was left in a read-only
    // transaction or an old snapshot.
    for n in 0..24 {
        create(&t, inst.id, class.id, 1).await;
        assert_eq!(t.count(&inst, &class).await, n + 1);
    }
}

async fn filters_use_the_expression_index(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    if b != Backend::Sqlite {
        // PostgreSQL picks sequential scans on tiny tables; the shared expression is
        // asserted by the SQLite plan and by the unit test of `field_expr`.
        return;
    }
    let inst = t.instance("ix").await;
    let class = t
        .class(
            &inst,
            "ix",
            json!([{"name": "score", "type": "integer", "filter_index": true}]),
        )
        .await;
    let key = key_of(&class, "score");
    let expr = field_expr(Dialect::Sqlite, &key);
    let plan = t
        .store
        .raw()
        .query(
            &format!(
                "EXPLAIN QUERY PLAN SELECT id FROM {} WHERE {expr} > $1",
                object_table(class.id)
            ),
            vec![Val::Int(5)],
        )
        .await
        .expect("plan");
    let text: Vec<String> = plan.iter().map(|r| r.str(3).to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains(&field_index_name(class.id, &key))),
        "{text:?}"
    );
}
