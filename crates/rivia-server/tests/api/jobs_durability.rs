//! Durable trigger and schedule runs with real `rivia serve` processes: a server killed
//! with SIGKILL under load runs every committed change's triggers exactly once after it
//! restarts (one final trace each, counted), and two servers on one PostgreSQL database
//! share 100 due schedule runs without running any twice, carrying on when one is killed.

use crate::both_backends;
use crate::client::{Client, Server};
use crate::helpers::{Backend, TempDir, fresh_postgres_database};
use axum::http::StatusCode;
use rivia_store::{Db, Store};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

both_backends!(
    backend,
    a_killed_server_runs_every_committed_trigger_once_after_restart
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_due_schedule_runs_and_trigger_runs_without_duplicates() {
    two_nodes().await
}

const INSTANCE: &str = "/v1.1/instances/durable";

/// Registers an admin, creates instance `durable`, class `dog` and python3 script 1 with
/// `source`: the account key.
async fn setup(client: &Client, source: &str) -> String {
    let r = client
        .request(
            "POST",
            "/v1.1/account/register/",
            None,
            Some(json!({"email": "durable@example.com", "password": "secret"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    let key = r["account_key"].as_str().expect("key").to_owned();
    let k = Some(key.as_str());
    client
        .request(
            "POST",
            "/v1.1/instances/",
            k,
            Some(json!({"name": "durable"})),
        )
        .await
        .expect(StatusCode::CREATED);
    client
        .request(
            "POST",
            &format!("{INSTANCE}/classes/"),
            k,
            Some(json!({"name": "dog", "schema": [{"name": "n", "type": "integer"}]})),
        )
        .await
        .expect(StatusCode::CREATED);
    client
        .request(
            "POST",
            &format!("{INSTANCE}/snippets/scripts/"),
            k,
            Some(json!({"runtime_name": "python3", "source": source})),
        )
        .await
        .expect(StatusCode::CREATED);
    key
}

/// The ids of the objects of class `dog`.
async fn object_ids(client: &Client, key: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut url = format!("{INSTANCE}/classes/dog/objects/?page_size=100&order_by=id");
    loop {
        let page = client
            .request("GET", &url, Some(key), None)
            .await
            .expect_json(StatusCode::OK);
        ids.extend(
            page["objects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o["id"].as_i64()),
        );
        match page["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return ids,
        }
    }
}

/// The traces of `parent` (`triggers/1`), once there are `n` (at most 120 s).
async fn traces(client: &Client, key: &str, parent: &str, n: usize) -> Vec<Value> {
    let url = format!("{INSTANCE}/{parent}/traces/?page_size=100");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let list = client
            .request("GET", &url, Some(key), None)
            .await
            .expect_json(StatusCode::OK);
        let got = list["objects"].as_array().cloned().unwrap_or_default();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{parent}: {} of {n} traces",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The object ids the runs of [`PRINT_ID`] printed, sorted.
fn printed_ids(traces: &[Value]) -> Vec<i64> {
    let mut ids: Vec<i64> = traces
        .iter()
        .map(|t| {
            assert_eq!(t["status"], "success", "{t}");
            t["result"]["stdout"]
                .as_str()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or_else(|| panic!("no id printed: {t}"))
        })
        .collect();
    ids.sort_unstable();
    ids
}

const PRINT_ID: &str = "print(ARGS['id'])";

/// Where a server keeps its data: a directory, or a PostgreSQL database.
fn store_args(dir: &TempDir, url: Option<&str>) -> Vec<String> {
    match url {
        Some(url) => vec!["--database-url".into(), url.into()],
        None => vec!["--data-dir".into(), dir.0.display().to_string()],
    }
}

async fn open_store(dir: &TempDir, url: Option<&str>) -> Store {
    let db = match url {
        Some(url) => Db::open_postgres(url).await.expect("postgres"),
        None => Db::open_sqlite(&dir.0).await.expect("sqlite"),
    };
    Store::new(db)
}

async fn start(store: &[String], more: &[&str]) -> Server {
    let mut args: Vec<&str> = store.iter().map(String::as_str).collect();
    args.extend_from_slice(&["--job-lease", "2", "--job-poll-ms", "100"]);
    args.extend_from_slice(more);
    Server::start(&args, &[]).await
}

async fn a_killed_server_runs_every_committed_trigger_once_after_restart(backend: Backend) {
    let dir = TempDir::new();
    let database = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match fresh_postgres_database().await {
            Some(db) => Some(db),
            None => return,
        },
    };
    let url = database.as_ref().map(|d| d.url().to_owned());
    let store = store_args(&dir, url.as_deref());
    let mut server = start(&store, &[]).await;
    let client = server.client;
    let key = setup(&client, PRINT_ID).await;
    for _ in 0..2 {
        client
            .request(
                "POST",
                &format!("{INSTANCE}/triggers/"),
                Some(&key),
                Some(json!({"signal": "post_create", "class": "dog", "script": 1})),
            )
            .await
            .expect(StatusCode::CREATED);
    }
    // Eight writers create up to 100 objects; the server is killed after 40 answers.
    let answered = Arc::new(AtomicUsize::new(0));
    let issued = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..8)
        .map(|_| {
            let (answered, issued, key) = (answered.clone(), issued.clone(), key.clone());
            tokio::spawn(async move {
                while issued.fetch_add(1, Ordering::SeqCst) < 100 {
                    let url = format!("{INSTANCE}/classes/dog/objects/");
                    match client
                        .try_request("POST", &url, Some(&key), Some(json!({"n": 1})))
                        .await
                    {
                        Ok(r) if r.status == StatusCode::CREATED => {
                            answered.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < 40 {
        assert!(Instant::now() < deadline, "creates are too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill().await;
    for w in writers {
        w.await.expect("writer");
    }
    let acknowledged = answered.load(Ordering::SeqCst);
    drop(server);
    // The kill left work behind: runs enqueued and not ended (some of them mid-run).
    let dead = open_store(&dir, url.as_deref()).await;
    let left = dead.count_jobs("trigger").await.expect("db");
    dead.close().await;
    eprintln!("killed after {acknowledged} creates answered, {left} trigger runs left");
    assert!(
        left > 0,
        "the kill came after all runs ended: the test proves nothing"
    );

    let restarted = start(&store, &[]).await;
    let client = restarted.client;
    // Every change that committed (acknowledged or not) is an object now.
    let ids = object_ids(&client, &key).await;
    assert!(ids.len() >= acknowledged, "{} < {acknowledged}", ids.len());
    for trigger in ["triggers/1", "triggers/2"] {
        let runs = traces(&client, &key, trigger, ids.len()).await;
        assert_eq!(printed_ids(&runs), ids, "{trigger}: one run per object");
    }
    // Stop it, and look inside: no job left, and no trace beyond those.
    let pid = restarted.child.id().expect("running").to_string();
    let mut restarted = restarted;
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    restarted.child.wait().await.expect("exit");
    let store = open_store(&dir, url.as_deref()).await;
    assert_eq!(store.count_jobs("trigger").await.expect("db"), 0);
    let instance = store
        .instance_by_name("durable")
        .await
        .expect("db")
        .expect("instance");
    for trigger in ["1", "2"] {
        let page = rivia_core::page::Keyset {
            sql_descending: true,
            bound: None,
            reverse_after: false,
            limit: 1000,
        };
        let all = store
            .list_traces(
                instance.id,
                "trigger",
                trigger,
                rivia_store::traces::Retention::default(),
                i64::MAX,
                &page,
            )
            .await
            .expect("traces");
        assert_eq!(
            all.len(),
            ids.len(),
            "trigger {trigger}: exactly one trace per object"
        );
    }
    store.close().await;
}

/// Writes the schedules' clock of both nodes.
fn set_clock(path: &std::path::Path, seconds: i64) {
    std::fs::write(path, seconds.to_string()).expect("clock file");
}

async fn two_nodes() {
    let Some(database) = fresh_postgres_database().await else {
        return;
    };
    let dir = TempDir::new();
    let clock = dir.0.join("clock");
    let t0: i64 = 1_767_225_600; // 2026-01-01 00:00:00 UTC
    set_clock(&clock, t0);
    let store = store_args(&dir, Some(database.url()));
    let clock_arg = clock.display().to_string();
    let extra = ["--test-clock-file", clock_arg.as_str()];
    let mut a = start(&store, &extra).await;
    let b = start(&store, &extra).await;
    let key = setup(&a.client, "print('ran')").await;
    let schedules = 20;
    for _ in 0..schedules {
        b.client
            .request(
                "POST",
                &format!("{INSTANCE}/schedules/"),
                Some(&key),
                Some(json!({"interval_sec": 30, "script": 1})),
            )
            .await
            .expect(StatusCode::CREATED);
    }
    // Five due times of twenty schedules: 100 due runs. Node A dies during the fourth.
    let mut per_schedule: HashMap<i64, usize> = HashMap::new();
    for step in 1..=5usize {
        set_clock(&clock, t0 + 30 * step as i64);
        if step == 4 {
            a.kill().await;
        }
        for id in 1..=schedules {
            let runs = traces(&b.client, &key, &format!("schedules/{id}"), step).await;
            per_schedule.insert(id, runs.len());
        }
    }
    let total: usize = per_schedule.values().sum();
    assert_eq!(total, 100, "{per_schedule:?}");
    assert!(per_schedule.values().all(|n| *n == 5), "{per_schedule:?}");

    // Trigger runs: creates through a restarted A and through B; A is killed again
    // right after its last create, B finishes every run.
    drop(a);
    let a = start(&store, &extra).await;
    b.client
        .request(
            "POST",
            &format!("{INSTANCE}/snippets/scripts/"),
            Some(&key),
            Some(json!({"runtime_name": "python3", "source": PRINT_ID})),
        )
        .await
        .expect(StatusCode::CREATED);
    b.client
        .request(
            "POST",
            &format!("{INSTANCE}/triggers/"),
            Some(&key),
            Some(json!({"signal": "post_create", "class": "dog", "script": 2})),
        )
        .await
        .expect(StatusCode::CREATED);
    let mut a = a;
    for i in 0..50 {
        let node = if i % 2 == 0 { &a.client } else { &b.client };
        node.request(
            "POST",
            &format!("{INSTANCE}/classes/dog/objects/"),
            Some(&key),
            Some(json!({"n": i})),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    a.kill().await;
    let ids = object_ids(&b.client, &key).await;
    assert_eq!(ids.len(), 50);
    let runs = traces(&b.client, &key, "triggers/1", 50).await;
    assert_eq!(printed_ids(&runs), ids, "one run per object, none twice");
    // Later schedule runs still happen once each on the surviving node.
    set_clock(&clock, t0 + 180);
    for id in 1..=schedules {
        let runs = traces(&b.client, &key, &format!("schedules/{id}"), 6).await;
        assert_eq!(runs.len(), 6, "schedule {id}");
    }
}
