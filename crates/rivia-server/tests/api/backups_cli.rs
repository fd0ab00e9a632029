//! `rivia backup` on the command line: an instance moved from SQLite to PostgreSQL and
//! back answers exactly as before (ids, keys, password hashes, timestamps, files), and a
//! restore killed with SIGKILL leaves the target as it was.

use crate::backups::{SRC, populate};
use crate::both_backends;
use crate::helpers::{Backend, TempDir, TestApp, fresh_store, plain_object_values};
use axum::http::StatusCode;
use rivia_server::state::{AppState, Settings};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};

both_backends!(
    backend,
    moving_an_instance_to_the_other_backend_keeps_everything,
    a_restore_killed_midway_leaves_the_target_as_it_was,
);

fn rivia() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rivia"))
}

fn other(b: Backend) -> Backend {
    match b {
        Backend::Sqlite => Backend::Postgres,
        Backend::Postgres => Backend::Sqlite,
    }
}

/// `--data-dir` and, on PostgreSQL, `--database-url` of an app.
fn store_args(cmd: &mut Command, app: &TestApp) {
    cmd.arg("--data-dir")
        .arg(&app.dir.0)
        .env_remove("RIVIA_DATABASE_URL");
    if let Some(db) = &app.database {
        cmd.arg("--database-url").arg(db.url());
    }
}

fn run(mut cmd: Command) -> String {
    let out = cmd.output().expect("run rivia");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh, empty app on `backend` (None: PostgreSQL not configured).
async fn empty_app(backend: Backend) -> Option<TestApp> {
    let dir = TempDir::new();
    let (store, database) = fresh_store(backend, &dir).await?;
    let state = AppState::new(store.clone(), Settings::for_tests(dir.0.clone()));
    let router = rivia_server::app(state.clone());
    let workers = rivia_server::workers::start(&state).await;
    Some(TestApp {
        router,
        store,
        state,
        backend,
        dir,
        database,
        workers,
    })
}

fn backup_to(app: &TestApp, out: &Path) {
    let mut cmd = rivia();
    cmd.args(["backup", "create", "--instance", SRC, "--out"])
        .arg(out);
    store_args(&mut cmd, app);
    let log = run(cmd);
    assert!(log.contains("backed up"), "{log}");
}

/// Everything an app of the instance sees, as is (same ids, keys and file URLs).
async fn everything(app: &TestApp, key: &str) -> Value {
    let b = format!("/v1.1/instances/{SRC}");
    let mut out = serde_json::Map::new();
    for path in [
        "/",
        "/classes/",
        "/classes/docs/objects/?order_by=id",
        "/classes/user_profile/objects/",
        "/users/",
        "/groups/",
        "/channels/",
        "/channels/news/history/",
        "/snippets/scripts/",
        "/snippets/config/",
        "/api_keys/",
        "/admins/",
    ] {
        let body = app
            .as_key(key, "GET", &format!("{b}{path}"), None)
            .await
            .expect_json(StatusCode::OK);
        out.insert(path.into(), body);
    }
    Value::Object(out)
}

async fn moving_an_instance_to_the_other_backend_keeps_everything(backend: Backend) {
    let (Some(source), Some(target)) =
        (TestApp::new(backend).await, empty_app(other(backend)).await)
    else {
        return;
    };
    let key = source.admin_with_instance(SRC).await;
    let api_key = populate(&source, &key, SRC).await;
    let archive = source.dir.0.join("move.tar");
    backup_to(&source, &archive);

    let mut cmd = rivia();
    cmd.arg("backup")
        .arg("restore")
        .arg(&archive)
        .args(["--instance", SRC]);
    store_args(&mut cmd, &target);
    let log = run(cmd);
    assert!(log.contains("0 ids and 0 keys had to change"), "{log}");

    // The owner's account key, the app's API key and alice's password work unchanged,
    // and every answer is the same, byte for byte.
    assert_eq!(
        everything(&target, &key).await,
        everything(&source, &key).await
    );
    target
        .as_key(
            &api_key,
            "POST",
            &format!("/v1.1/instances/{SRC}/user/auth/"),
            Some(json!({"username": "alice", "password": "s3cret"})),
        )
        .await
        .expect(StatusCode::OK);
    target
        .call(
            "POST",
            "/v1.1/account/auth/",
            &[],
            Some(json!({"email": format!("owner-{SRC}@example.com"), "password": "secret"})),
        )
        .await
        .expect(StatusCode::OK);
    let objects =
        everything(&source, &key).await["/classes/docs/objects/?order_by=id"]["objects"].clone();
    let url = objects
        .as_array()
        .and_then(|l| l.iter().find_map(|o| o["doc"]["value"].as_str()))
        .expect("a file")
        .to_string();
    let media = &url[url.find("/media/").expect("media")..];
    let served = |app: &TestApp| {
        let path = app
            .dir
            .0
            .join("files")
            .join(media.trim_start_matches("/media/"));
        std::fs::read(path).expect("file on disk")
    };
    assert_eq!(served(&target), served(&source));
    // Ids continue where they were: the next object, user, change and class.
    assert_eq!(next_ids(&target, &key).await, next_ids(&source, &key).await);
    // A new instance and class in the target take ids past the restored ones.
    target.instance(&key, "fresh-inst").await;
    target
        .as_key(
            &key,
            "POST",
            "/v1.1/instances/fresh-inst/classes/",
            Some(json!({"name": "k"})),
        )
        .await
        .expect(StatusCode::CREATED);
    target.api_key(&key, "fresh-inst", json!({})).await;
}

async fn a_restore_killed_midway_leaves_the_target_as_it_was(backend: Backend) {
    let (Some(source), Some(target)) = (TestApp::new(backend).await, empty_app(backend).await)
    else {
        return;
    };
    let key = source.admin_with_instance(SRC).await;
    source
        .as_key(
            &key,
            "POST",
            &format!("/v1.1/instances/{SRC}/classes/"),
            Some(json!({"name": "big", "schema": [{"name": "body", "type": "text"}]})),
        )
        .await
        .expect(StatusCode::CREATED);
    // About 12 MB of objects: several archive chunks, so the restore reports progress
    // long before it commits.
    let inst = source.stored_instance(SRC).await;
    let class = source
        .store
        .class_by_name(inst.id, "big")
        .await
        .expect("db")
        .expect("class");
    let mut unit = source.store.begin_write().await.expect("unit");
    let body = "x".repeat(1000);
    for i in 0..12_000 {
        let mut v = plain_object_values();
        v.data = json!({"1_body": format!("{i}{body}")}).to_string();
        unit.insert_object(inst.id, class.id, &v)
            .await
            .expect("insert");
    }
    unit.commit().await.expect("commit");
    let archive = source.dir.0.join("big.tar");
    backup_to(&source, &archive);

    // Into an existing, empty instance of the target: killed at its first progress line.
    let target_key = target.admin_with_instance(SRC).await;
    let before = target_state(&target, &target_key).await;
    let mut cmd = rivia();
    cmd.arg("backup")
        .arg("restore")
        .arg(&archive)
        .args(["--instance", SRC]);
    store_args(&mut cmd, &target);
    let mut child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    let first = lines
        .find(|l| l.as_ref().is_ok_and(|l| l.contains("objects;")))
        .expect("a progress line")
        .expect("text");
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("wait");
    assert!(
        !status.success(),
        "the restore finished before it was killed: {first}"
    );
    assert_eq!(target_state(&target, &target_key).await, before);
    // The same archive restores completely afterwards.
    let mut cmd = rivia();
    cmd.arg("backup")
        .arg("restore")
        .arg(&archive)
        .args(["--instance", SRC]);
    store_args(&mut cmd, &target);
    run(cmd);
    let class = target
        .as_key(
            &target_key,
            "GET",
            &format!("/v1.1/instances/{SRC}/classes/big/"),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert!(
        class["objects_count"].as_i64().unwrap_or(0) > 1000,
        "{class}"
    );
}

async fn target_state(app: &TestApp, key: &str) -> Value {
    let b = format!("/v1.1/instances/{SRC}");
    let classes = app
        .as_key(key, "GET", &format!("{b}/classes/"), None)
        .await
        .expect_json(StatusCode::OK);
    let channels = app
        .as_key(key, "GET", &format!("{b}/channels/"), None)
        .await
        .expect_json(StatusCode::OK);
    json!({"classes": classes, "channels": channels})
}

/// The ids the next object, user and user profile get.
async fn next_ids(app: &TestApp, key: &str) -> (Value, Value, Value) {
    let o = app
        .as_key(
            key,
            "POST",
            &format!("/v1.1/instances/{SRC}/classes/docs/objects/"),
            Some(json!({"title": "next"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    let u = app
        .as_key(
            key,
            "POST",
            &format!("/v1.1/instances/{SRC}/users/"),
            Some(json!({"username": "bob", "password": "x"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    (o["id"].clone(), u["id"].clone(), u["profile"]["id"].clone())
}
