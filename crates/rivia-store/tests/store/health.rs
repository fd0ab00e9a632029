//! What `/readyz` and `/metrics` read from the store: readiness (the database answers and
//! has every migration) and the use of its connection pools.

use crate::both_backends;
use crate::helpers::{Backend, TestStore};
use rivia_store::StoreError;
use rivia_store::health::PoolStats;
use rivia_store::testing::Val;

both_backends!(
    ready_only_with_every_migration_applied,
    pool_stats_count_acquisitions_and_use,
);

async fn ready_only_with_every_migration_applied(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    t.store
        .check_ready()
        .await
        .expect("a migrated store is ready");
    // A database whose newest migration is not recorded (an older schema) is not ready.
    t.store
        .raw()
        .write(vec![(
            "DELETE FROM schema_migrations WHERE version = (SELECT MAX(version) FROM schema_migrations)".into(),
            Vec::<Val>::new(),
        )])
        .await
        .expect("forget the newest migration");
    match t.store.check_ready().await {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("migrations pending"), "{m}"),
        other => panic!("expected not ready, got {other:?}"),
    }
}

fn pool<'a>(stats: &'a [PoolStats], name: &str) -> &'a PoolStats {
    stats
        .iter()
        .find(|s| s.pool == name)
        .unwrap_or_else(|| panic!("no pool {name} in {stats:?}"))
}

async fn pool_stats_count_acquisitions_and_use(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let read_pool = match b {
        Backend::Sqlite => "sqlite_read",
        Backend::Postgres => "postgres",
    };
    let before = pool(&t.store.pool_stats(), read_pool).acquired;
    for _ in 0..5 {
        t.store.check_ready().await.expect("ready");
    }
    let stats = t.store.pool_stats();
    let read = pool(&stats, read_pool);
    assert!(read.acquired >= before + 5, "{read:?}");
    assert!(read.size >= 2, "{read:?}");
    // Nothing runs now: no connection is in use and nobody waits.
    assert_eq!((read.in_use, read.waiting), (0, 0), "{read:?}");
    assert!(read.wait_seconds >= 0.0);
    if b == Backend::Sqlite {
        let write_before = pool(&stats, "sqlite_write").acquired;
        t.instance("pooled").await;
        let write = *pool(&t.store.pool_stats(), "sqlite_write");
        assert!(write.acquired > write_before, "{write:?}");
        assert_eq!((write.size, write.in_use, write.waiting), (1, 0, 0));
    }
}
