//! Faults under load (issue #13 §4): PostgreSQL restarted while writers run, and the
//! SQLite data directory's disk running full. (SIGKILL of `rivia serve` mid-write is in
//! `durability`.)
//!
//! PostgreSQL: a private cluster, never the machine's shared one (other tests use it):
//! Debian's binaries under /usr/lib/postgresql/*/bin, `initdb` into a temporary directory
//! as the `postgres` user, on a free port. A real restart (`pg_ctl stop -m fast`, then
//! `start`) rather than a proxy that cuts sockets: the server's own shutdown messages
//! (57P01 terminating connection, 57P03 starting up) and refused connections are what a
//! production restart gives, and a proxy would not send them.
//!
//! Disk full: a 24 MB tmpfs mounted as the data directory, filled by writes; space is
//! freed by deleting a ballast file, as an operator would.
//!
//! Both need root (runuser, mount). Without it they are skipped with a notice, except
//! under `CI=true`, where they fail.

use crate::helpers::{Backend, TempDir, TestApp};
use axum::http::StatusCode;
use rivia_server::state::{AppState, Settings};
use rivia_store::{Db, Store};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Whether this process may run the fault tests; under CI it must.
fn can_run(what: &str) -> bool {
    // The effective uid through `id -u` (no libc dependency for one check).
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if root {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what} needs root under CI"
    );
    eprintln!("skipping {what}: needs root");
    false
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A PostgreSQL cluster of this test's own, stopped and removed on drop.
struct PrivateCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl PrivateCluster {
    fn start() -> PrivateCluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's PostgreSQL under /usr/lib/postgresql")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|p| p.join("pg_ctl").exists())
            .expect("pg_ctl");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = std::env::temp_dir().join(format!("rivia-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        run(Command::new("chown").arg("postgres:postgres").arg(&dir));
        let cluster = PrivateCluster { bin, dir, port };
        cluster.as_postgres(
            "initdb",
            &[
                "-D",
                &cluster.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        cluster.pg_ctl(&["start"]);
        cluster
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) {
        let tool = self.bin.join(tool);
        run(Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(tool)
            .args(args)
            .current_dir(&self.dir));
    }

    fn pg_ctl(&self, args: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40",
            self.port,
            self.dir.display()
        );
        let (data, log) = (self.data(), self.dir.join("log").display().to_string());
        let mut all = vec!["-D", &data, "-w", "-t", "60", "-l", &log, "-o", &options];
        all.extend_from_slice(args);
        self.as_postgres("pg_ctl", &all);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An app on `store` with test settings, shaped like the other tests' apps.
async fn app_on(store: Store, dir: TempDir) -> TestApp {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let state = AppState::new(store.clone(), Settings::for_tests(dir.0.clone()));
    let workers = rivia_server::workers::start(&state).await;
    TestApp {
        router: rivia_server::app(state.clone()),
        store,
        state,
        backend: Backend::Postgres,
        dir,
        database: None,
        workers,
    }
}

const OBJECTS: &str = "/v1.1/instances/faults/classes/log/objects/";

async fn setup(app: &TestApp, schema: serde_json::Value) -> String {
    let key = app.admin_with_instance("faults").await;
    app.as_key(
        &key,
        "POST",
        "/v1.1/instances/faults/classes/",
        Some(json!({"name": "log", "schema": schema})),
    )
    .await
    .expect(StatusCode::CREATED);
    key
}

/// What the writers saw.
#[derive(Default)]
struct Tally {
    created: Vec<i64>,
    unavailable: usize,
    other: Vec<String>,
    slowest: Duration,
}

/// Creates objects until `stop`; every answer within 15 s (else it counts as a hang).
async fn writer(
    app: Arc<TestApp>,
    key: String,
    stop: Arc<AtomicBool>,
    tally: Arc<parking_lot::Mutex<Tally>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(15),
            app.as_key(&key, "POST", OBJECTS, Some(json!({"n": 1}))),
        )
        .await;
        let mut t = tally.lock();
        t.slowest = t.slowest.max(started.elapsed());
        match answer {
            Err(_) => t.other.push("no answer within 15 s".into()),
            Ok(r) if r.status == StatusCode::CREATED => {
                t.created.push(r.body["id"].as_i64().expect("id"))
            }
            Ok(r) if r.status == StatusCode::SERVICE_UNAVAILABLE => t.unavailable += 1,
            Ok(r) => t.other.push(format!("{} {}", r.status, r.body)),
        }
    }
}

/// Waits until `done` holds, polling every 20 ms, for at most `within`.
async fn until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_answers_503_then_recovers_without_a_restart() {
    if !can_run("the PostgreSQL restart test") {
        return;
    }
    let cluster = tokio::task::spawn_blocking(PrivateCluster::start)
        .await
        .expect("cluster");
    let db = Db::open_postgres(&cluster.url()).await.expect("open");
    let app = Arc::new(app_on(Store::new(db), TempDir::new()).await);
    let key = setup(&app, json!([{"name": "n", "type": "integer"}])).await;

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(parking_lot::Mutex::new(Tally::default()));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            tokio::spawn(writer(
                app.clone(),
                key.clone(),
                stop.clone(),
                tally.clone(),
            ))
        })
        .collect();
    until(
        Duration::from_secs(60),
        "50 writes before the restart",
        || tally.lock().created.len() >= 50,
    )
    .await;

    // Down: every write answers 503 while it is.
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.pg_ctl(&["-m", "fast", "stop"]);
        cluster
    })
    .await
    .expect("stop");
    let before = tally.lock().created.len();
    until(
        Duration::from_secs(30),
        "503s while PostgreSQL is down",
        || tally.lock().unavailable >= 5,
    )
    .await;
    // Up again: the same app writes again, reconnecting on its own.
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.pg_ctl(&["start"]);
        cluster
    })
    .await
    .expect("start");
    until(Duration::from_secs(60), "writes after the restart", || {
        tally.lock().created.len() >= before + 50
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.expect("writer");
    }

    let t = std::mem::take(&mut *tally.lock());
    assert!(
        t.other.is_empty(),
        "answers other than 201/503: {:?}",
        &t.other[..t.other.len().min(10)]
    );
    assert!(
        t.slowest < Duration::from_secs(15),
        "a write took {:?}",
        t.slowest
    );
    for id in &t.created {
        app.as_key(&key, "GET", &format!("{OBJECTS}{id}/"), None)
            .await
            .expect(StatusCode::OK);
    }
    eprintln!(
        "restart: {} writes acknowledged, {} answered 503, slowest {:?}",
        t.created.len(),
        t.unavailable,
        t.slowest
    );
    drop(cluster);
}

/// A tmpfs mounted on a directory of its own, unmounted on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(megabytes: u32) -> SmallDisk {
        let dir = std::env::temp_dir().join(format!(
            "rivia-full-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&dir));
        SmallDisk { dir }
    }
    fn path(&self) -> &Path {
        &self.dir
    }
}

fn rand_suffix() -> String {
    rivia_core::keys::new_token()[..8].to_string()
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).output();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_disk_answers_507_and_writes_work_again_once_space_is_freed() {
    if !can_run("the disk-full test") {
        return;
    }
    let disk = SmallDisk::mount(24);
    let data = disk.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    // Ballast the operator will delete to free space.
    let ballast = disk.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 6 * 1024 * 1024]).expect("ballast");
    let db = Db::open_sqlite(&data).await.expect("open sqlite");
    let mut app = app_on(Store::new(db), TempDir::new()).await;
    app.backend = Backend::Sqlite;
    let key = setup(&app, json!([{"name": "t", "type": "text"}])).await;

    // Fill the disk with ~30 KB objects until a write is refused.
    let filler = "x".repeat(30_000);
    let mut created = Vec::new();
    let refused = loop {
        let r = app
            .as_key(&key, "POST", OBJECTS, Some(json!({"t": filler})))
            .await;
        if r.status != StatusCode::CREATED {
            break r;
        }
        created.push(r.body["id"].as_i64().expect("id"));
        assert!(created.len() < 2000, "24 MB never filled");
    };
    assert_eq!(
        refused.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        refused.body
    );
    assert_eq!(
        refused.body,
        json!({"detail": "Insufficient storage. Try again later."})
    );
    // Reads still work while it is full, and every acknowledged write is there.
    let page = app
        .as_key(
            &key,
            "GET",
            &format!("{OBJECTS}?page_size=0&include_count=true"),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(page["objects_count"].as_u64(), Some(created.len() as u64));

    // The operator frees space: writes work again, on the same running app.
    std::fs::remove_file(&ballast).expect("free space");
    for _ in 0..5 {
        app.as_key(&key, "POST", OBJECTS, Some(json!({"t": filler})))
            .await
            .expect(StatusCode::CREATED);
    }
    app.store.close().await;
    drop(app);
    drop(disk);
}
