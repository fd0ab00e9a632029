//! The jobs table (design §5.3): object writes enqueue their trigger runs in their own
//! transaction (none when rolled back), concurrent claimers never take the same job, an
//! expired lease lets another worker take a job over, and only the current claim can end
//! it with its trace.

use crate::both_backends;
use crate::helpers::{Backend, TestStore, plain_values};
use rivia_store::jobs::{ClaimRequest, Job};
use rivia_store::scripts::ScriptValues;
use rivia_store::traces::TraceEnd;
use rivia_store::triggers::TriggerValues;
use serde_json::json;
use std::collections::{HashMap, HashSet};

both_backends!(
    writes_enqueue_runs_and_rollbacks_do_not,
    concurrent_claimers_never_take_the_same_job,
    an_expired_lease_moves_the_job_and_only_the_new_claim_ends_it,
);

/// Instance `jobs` with class `dog` and a `create` trigger on it: (instance id, class id).
async fn setup(t: &TestStore) -> (i64, i64) {
    let inst = t.instance("jobs").await;
    let class = t.class(&inst, "dog", json!([])).await;
    let script = t
        .store
        .create_script(
            inst.id,
            &ScriptValues {
                runtime_name: "python3".into(),
                source: "print(1)".into(),
                config: "{}".into(),
                label: String::new(),
                description: String::new(),
            },
        )
        .await
        .expect("script");
    t.store
        .create_trigger(
            inst.id,
            &TriggerValues {
                label: String::new(),
                description: String::new(),
                signal: "create".into(),
                class_name: "dog".into(),
                script_id: script.id,
            },
        )
        .await
        .expect("trigger");
    (inst.id, class.id)
}

async fn create_objects(t: &TestStore, instance_id: i64, class_id: i64, n: usize) {
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

fn request(held: &HashMap<i64, usize>, lease_micros: i64) -> ClaimRequest<'_> {
    ClaimRequest {
        limit: 100,
        per_instance: 100,
        held,
        lease_micros,
    }
}

fn end() -> TraceEnd<'static> {
    TraceEnd {
        status: "success",
        executed_at: 1,
        duration: Some(1),
        result: "{}",
        result_len: 2,
    }
}

async fn writes_enqueue_runs_and_rollbacks_do_not(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let (instance_id, class_id) = setup(&t).await;
    create_objects(&t, instance_id, class_id, 3).await;
    assert_eq!(t.store.count_jobs("trigger").await.expect("db"), 3);
    // Inserted, then rolled back: no run.
    let mut unit = t.store.begin_write().await.expect("begin");
    unit.insert_object(instance_id, class_id, &plain_values())
        .await
        .expect("insert");
    drop(unit);
    assert_eq!(t.store.count_jobs("trigger").await.expect("db"), 3);
    let held = HashMap::new();
    let jobs = t
        .store
        .claim_jobs(&request(&held, 60_000_000))
        .await
        .expect("claim");
    assert_eq!(jobs.len(), 3);
    let payload: serde_json::Value = serde_json::from_str(&jobs[0].payload).expect("json");
    assert_eq!(payload["signal"], "create");
    assert_eq!(payload["class"], class_id);
    assert!(payload["new"]["id"].as_i64().is_some(), "{payload}");
}

async fn concurrent_claimers_never_take_the_same_job(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let (instance_id, class_id) = setup(&t).await;
    create_objects(&t, instance_id, class_id, 40).await;
    let claimers: Vec<_> = (0..4)
        .map(|_| {
            let store = t.store.clone();
            tokio::spawn(async move {
                let held = HashMap::new();
                let mut mine = Vec::new();
                loop {
                    let req = ClaimRequest {
                        limit: 3,
                        per_instance: 100,
                        held: &held,
                        lease_micros: 60_000_000,
                    };
                    let got = store.claim_jobs(&req).await.expect("claim");
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|j: Job| j.id));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.expect("claimer"));
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 40, "every job claimed once");
    assert_eq!(distinct.len(), 40, "no job claimed twice");
}

async fn an_expired_lease_moves_the_job_and_only_the_new_claim_ends_it(b: Backend) {
    let Some(t) = TestStore::new(b).await else {
        return;
    };
    let (instance_id, class_id) = setup(&t).await;
    create_objects(&t, instance_id, class_id, 1).await;
    let held = HashMap::new();
    // A lease of 1 µs: over by the next claim, as if its worker had died.
    let first = t.store.claim_jobs(&request(&held, 1)).await.expect("claim");
    assert_eq!(first.len(), 1);
    let second = t
        .store
        .claim_jobs(&request(&held, 60_000_000))
        .await
        .expect("claim");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, first[0].id);
    assert_eq!(second[0].attempts, first[0].attempts + 1);
    // A live lease is not taken over.
    let none = t
        .store
        .claim_jobs(&request(&held, 60_000_000))
        .await
        .expect("claim");
    assert!(none.is_empty());
    assert_eq!(
        t.store.finish_job(&first[0], &end()).await.expect("db"),
        None
    );
    let trace = t.store.finish_job(&second[0], &end()).await.expect("db");
    assert_eq!(trace, Some(1));
    assert_eq!(
        t.store.finish_job(&second[0], &end()).await.expect("db"),
        None
    );
    assert_eq!(t.store.count_jobs("trigger").await.expect("db"), 0);
}
