//! Point reads after writes: a lookup right after an acknowledged write sees it, however
//! the lookups before it ran (on SQLite an inline connection keeps its read transaction
//! between lookups while nothing is committed); on SQLite, a write by another process
//! shows up within a bounded time and an idle store does not keep the WAL from being
//! checkpointed away.

use crate::both_backends;
use crate::helpers::{Backend, TestStore, values_with};
use rivia_store::classes::Class;
use rivia_store::objects::ObjectRow;
use rusqlite::Connection;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

both_backends!(a_lookup_after_a_write_sees_it);

/// The integer field `n` of an object as read by a point lookup.
async fn read_n(t: &TestStore, class_id: i64, id: i64, key: &str) -> Option<i64> {
    let row = t.store.get_object(class_id, id).await.expect("read")?;
    let data: Value = serde_json::from_str(&row.data).expect("json");
    data[key].as_i64()
}

/// An instance named `name` with a class `n` (one integer field `n`) and one object in it
/// whose `n` is `value`: the class, the field's storage key and the object.
async fn object_with_n(t: &TestStore, name: &str, value: i64) -> (Class, String, ObjectRow) {
    let (class, n, mut rows) = t.numbered_objects(name, [value]).await;
    let row = rows.pop().expect("one object");
    (class, n, row)
}

async fn a_lookup_after_a_write_sees_it(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let (class, n, created) = object_with_n(&t, "fresh", 0).await;
    for i in 1..=200 {
        // Lookups from both workers before the write, so every inline connection holds a
        // read transaction from before it.
        let before =
            futures_util::future::join_all((0..4).map(|_| read_n(&t, class.id, created.id, &n)))
                .await;
        assert!(before.iter().all(|v| *v == Some(i - 1)), "{before:?}");
        let mut unit = t.store.begin_write().await.expect("begin");
        unit.update_object(class.id, created.id, &values_with(json!({&n: i})), true)
            .await
            .expect("update")
            .expect("the object");
        unit.commit().await.expect("commit");
        assert_eq!(read_n(&t, class.id, created.id, &n).await, Some(i));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_another_process_write_shows_up_and_the_wal_is_released() {
    let t = TestStore::new(Backend::Sqlite).await.expect("sqlite");
    let (class, n, created) = object_with_n(&t, "outside", 1).await;
    assert_eq!(read_n(&t, class.id, created.id, &n).await, Some(1));

    // Another process (as `rivia backup restore` beside a live server) writes the row.
    let other = Connection::open(t.dir().join("rivia.db")).expect("open");
    other.busy_timeout(Duration::from_secs(5)).expect("busy");
    let table = rivia_store::testing::object_table(class.id);
    other
        .execute(
            &format!("UPDATE {table} SET data = ?1 WHERE id = ?2"),
            rusqlite::params![json!({&n: 2}).to_string(), created.id],
        )
        .expect("update");
    let deadline = Instant::now() + Duration::from_secs(2);
    while read_n(&t, class.id, created.id, &n).await != Some(2) {
        assert!(
            Instant::now() < deadline,
            "the other process's write never showed up"
        );
        tokio::task::yield_now().await;
    }

    // Idle, the store holds no read transaction for long: a TRUNCATE checkpoint (which
    // waits for every reader, up to the busy timeout) empties the WAL.
    let (busy, wal_frames): (i64, i64) = other
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("checkpoint");
    assert_eq!((busy, wal_frames), (0, 0), "a reader kept the WAL pinned");
}
