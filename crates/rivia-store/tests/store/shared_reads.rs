//! Point lookups many at once: each gets its own row (on PostgreSQL they are pipelined on
//! a few shared connections), and on PostgreSQL the lookups recover on their own after the
//! server drops those connections (a restart, a failover, an administrator's kill).

use crate::both_backends;
use crate::helpers::{Backend, TestStore};
use futures_util::future::join_all;
use serde_json::Value;
use std::time::{Duration, Instant};

both_backends!(concurrent_lookups_each_get_their_own_object);

/// A class `n` in a new instance with `count` objects whose `n` is 0, 1, …: the class id,
/// the field's storage key and the object ids in that order.
async fn numbered_objects(t: &TestStore, count: i64) -> (i64, String, Vec<i64>) {
    let (class, n, rows) = t.numbered_objects("shared", 0..count).await;
    (class.id, n, rows.iter().map(|r| r.id).collect())
}

/// The `n` of object `id`, or the error's text.
async fn read_n(t: &TestStore, class_id: i64, id: i64, key: &str) -> Result<Option<i64>, String> {
    let row = t
        .store
        .get_object(class_id, id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.and_then(|r| serde_json::from_str::<Value>(&r.data).ok()?[key].as_i64()))
}

async fn concurrent_lookups_each_get_their_own_object(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let (class_id, n, ids) = numbered_objects(&t, 40).await;
    // 400 lookups in flight together, ten of each object, interleaved.
    let wanted: Vec<usize> = (0..400).map(|i| (i * 7) % ids.len()).collect();
    let got = join_all(wanted.iter().map(|&i| read_n(&t, class_id, ids[i], &n))).await;
    for (i, answer) in wanted.iter().zip(got) {
        assert_eq!(answer, Ok(Some(*i as i64)), "object {}", ids[*i]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lookups_recover_after_the_server_drops_their_connections() {
    let Some(t) = TestStore::new(Backend::Postgres).await else {
        return;
    };
    let (class_id, n, ids) = numbered_objects(&t, 4).await;
    // Open the shared connections.
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(read_n(&t, class_id, *id, &n).await, Ok(Some(i as i64)));
    }
    let url = t.database_url().expect("a PostgreSQL test has a database");
    let (admin, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .expect("terminate");
    assert!(!killed.is_empty(), "the store had connections open");
    wait_until_only_this_connection_is_left(&admin).await;
    // A lookup racing the drop may fail; after that every lookup must succeed again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut in_a_row = 0;
    while in_a_row < 20 {
        assert!(
            Instant::now() < deadline,
            "lookups still failing 10 s after the connections were dropped"
        );
        match read_n(&t, class_id, ids[0], &n).await {
            Ok(v) => {
                assert_eq!(v, Some(0));
                in_a_row += 1;
            }
            Err(_) => {
                in_a_row = 0;
                tokio::task::yield_now().await;
            }
        }
    }
}

/// Waits until the backends told to terminate have gone (termination is asynchronous).
async fn wait_until_only_this_connection_is_left(admin: &tokio_postgres::Client) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let others: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .expect("count")
            .get(0);
        if others == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{others} backends outlived termination"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
