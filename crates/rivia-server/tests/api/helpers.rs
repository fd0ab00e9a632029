//! Test harness: a fresh app per test on either backend, driven in-process through the
//! real router. PostgreSQL cases run when `RIVIA_TEST_DATABASE_URL` is set (each test gets
//! its own database); without it they are skipped with a notice, except under `CI=true`,
//! where a missing database fails the test.
//!
//! `both_backends!` builds the app and runs the test on each backend; the request helpers
//! (`call`, `as_key`, `as_user`, `send`) answer a `#[must_use]` [`Response`] whose
//! `expect(status)` / `expect_json(status)` name the request, status and body on failure:
//!
//! ```ignore
//! both_backends!(class_name_must_be_unique);
//! async fn class_name_must_be_unique(app: TestApp) {
//!     let key = app.admin_with_instance("inst").await;
//!     let url = "/v1.1/instances/inst/classes/";
//!     app.as_key(&key, "POST", url, Some(json!({"name": "a"}))).await.expect(StatusCode::CREATED);
//!     let body = app.as_key(&key, "POST", url, Some(json!({"name": "a"}))).await.expect_json(StatusCode::BAD_REQUEST);
//! }
//! ```

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use rivia_server::state::{AppState, Settings};
use rivia_store::testing::TestDatabase;
use rivia_store::{Db, Store};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Which storage backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Instantiates a test for both backends as `mod name { sqlite(), postgres() }`.
///
/// - `both_backends!(a, b)`: `async fn a(app: TestApp)` gets a fresh app with test
///   settings; the PostgreSQL half is skipped with a notice when no database is configured
///   (and fails under `CI=true`).
/// - `both_backends!(settings(|s| s.class_limit = 3), a, b)`: the same with adjusted
///   settings.
/// - `both_backends!(backend, a, b)`: `async fn a(b: Backend)` for tests that build their
///   own app or store (two apps on one database, a spawned binary, the store alone).
#[macro_export]
macro_rules! both_backends {
    (backend, $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        )*
    };
    (settings($adjust:expr), $($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    $crate::helpers::run(super::$name, $crate::helpers::Backend::Sqlite, $adjust).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    $crate::helpers::run(super::$name, $crate::helpers::Backend::Postgres, $adjust).await
                }
            }
        )*
    };
    ($($name:ident),* $(,)?) => {
        $crate::both_backends!(settings(|_| {}), $($name),*);
    };
}

/// Builds the app for one backend and runs the test on it; returns at once when the
/// backend is not configured (PostgreSQL without `RIVIA_TEST_DATABASE_URL`).
pub async fn run<F, Fut>(test: F, backend: Backend, adjust: impl FnOnce(&mut Settings))
where
    F: FnOnce(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if let Some(app) = TestApp::with_settings(backend, adjust).await {
        test(app).await
    }
}

/// A temporary directory removed on drop (shared with the other test binary).
pub use rivia_store::testing::TempDir;

/// A fresh PostgreSQL database for one test (dropped with the returned guard), or `None`
/// when PostgreSQL tests are not configured (which fails under `CI=true`).
pub async fn fresh_postgres_database() -> Option<TestDatabase> {
    TestDatabase::create("rivia_t", "API tests").await
}

/// Opens a fresh store on `backend` (None: PostgreSQL skipped), with the guard of its
/// PostgreSQL database.
pub async fn fresh_store(backend: Backend, dir: &TempDir) -> Option<(Store, Option<TestDatabase>)> {
    match backend {
        Backend::Sqlite => {
            let db = Db::open_sqlite(&dir.0).await.expect("open sqlite");
            Some((Store::new(db), None))
        }
        Backend::Postgres => {
            let database = fresh_postgres_database().await?;
            let db = Db::open_postgres(database.url())
                .await
                .expect("open postgres");
            Some((Store::new(db), Some(database)))
        }
    }
}

/// A running app (in-process) with its store.
pub struct TestApp {
    pub router: rivia_server::stack::App,
    pub store: Store,
    pub state: AppState,
    pub backend: Backend,
    pub dir: TempDir,
    /// The PostgreSQL database of the test, if on PostgreSQL.
    pub database: Option<TestDatabase>,
    /// The background workers (trigger and schedule runs), as `rivia serve` runs them.
    pub workers: rivia_server::workers::Workers,
}

/// A response: status, JSON body (Null when empty), headers, and the request that got it
/// (named in every failure message). `#[must_use]`: a test either checks it or says
/// `let _ =` on purpose.
#[must_use = "check the response (expect, expect_json) or bind it with `let _ =`"]
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
    /// "METHOD /path" of the request.
    pub request: String,
}

impl Response {
    /// Panics (naming the request, the status and the body) unless the status is `status`.
    #[track_caller]
    pub fn expect(&self, status: StatusCode) -> &Self {
        assert!(
            self.status == status,
            "{}: expected {status}, got {}: {}",
            self.request,
            self.status,
            self.body
        );
        self
    }

    /// The body after checking the status.
    #[track_caller]
    pub fn expect_json(self, status: StatusCode) -> Value {
        self.expect(status);
        self.body
    }

    /// The body, whatever the status.
    pub fn json(self) -> Value {
        self.body
    }

    /// A header's value as text (None when absent or not text).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestApp {
    /// A fresh app with test settings (no throttling).
    pub async fn new(backend: Backend) -> Option<TestApp> {
        Self::with_settings(backend, |_| {}).await
    }

    /// A fresh app with adjusted settings.
    pub async fn with_settings(
        backend: Backend,
        adjust: impl FnOnce(&mut Settings),
    ) -> Option<TestApp> {
        // Server errors reach the failing test's output (captured per test otherwise).
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("warn")
            .try_init();
        let dir = TempDir::new();
        let (store, database) = fresh_store(backend, &dir).await?;
        let mut settings = Settings::for_tests(dir.0.clone());
        adjust(&mut settings);
        let state = AppState::new(store.clone(), settings);
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

    /// Sends a raw request.
    pub async fn send(&self, req: Request<Body>) -> Response {
        let request = format!("{} {}", req.method(), req.uri());
        let resp = self.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Response {
            status,
            body,
            headers,
            request,
        }
    }

    /// A JSON request with optional `X-API-KEY`-style headers.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Response {
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    /// The stored instance of that name (the test created it).
    pub async fn stored_instance(&self, name: &str) -> rivia_store::instances::Instance {
        self.store
            .instance_by_name(name)
            .await
            .expect("db")
            .expect("instance")
    }

    /// A request authenticated with an account or API key (as `X-API-KEY`).
    pub async fn as_key(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        self.call(method, path, &[("x-api-key", key)], body).await
    }

    /// A request as a user (API key + user key).
    pub async fn as_user(
        &self,
        api_key: &str,
        user_key: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        self.call(
            method,
            path,
            &[("x-api-key", api_key), ("x-user-key", user_key)],
            body,
        )
        .await
    }

    /// Registers an admin and returns its account key.
    pub async fn admin(&self, email: &str) -> String {
        let r = self
            .call(
                "POST",
                "/v1.1/account/register/",
                &[],
                Some(json!({"email": email, "password": "secret"})),
            )
            .await
            .expect_json(StatusCode::CREATED);
        r["account_key"].as_str().expect("account_key").to_string()
    }

    /// Creates an instance as the admin.
    pub async fn instance(&self, admin_key: &str, name: &str) {
        self.as_key(
            admin_key,
            "POST",
            "/v1.1/instances/",
            Some(json!({"name": name})),
        )
        .await
        .expect(StatusCode::CREATED);
    }

    /// Creates an API key with the given flags and returns it.
    pub async fn api_key(&self, admin_key: &str, instance: &str, flags: Value) -> String {
        let r = self
            .as_key(
                admin_key,
                "POST",
                &format!("/v1.1/instances/{instance}/api_keys/"),
                Some(flags),
            )
            .await
            .expect_json(StatusCode::CREATED);
        r["api_key"].as_str().expect("api_key").to_string()
    }

    /// An admin with an instance: (admin key, instance name).
    pub async fn admin_with_instance(&self, name: &str) -> String {
        let key = self.admin(&format!("owner-{name}@example.com")).await;
        self.instance(&key, name).await;
        key
    }
}

/// Creates an app user directly in the store (no password hashing): (user id, user key).
pub async fn store_user(app: &TestApp, instance: &str, name: &str) -> (i64, String) {
    let inst = app.stored_instance(instance).await;
    let profile = app
        .store
        .class_by_name(inst.id, "user_profile")
        .await
        .expect("db")
        .expect("profile class");
    let key = rivia_core::keys::new_account_key();
    let values = plain_object_values();
    let (user, _) = app
        .store
        .create_user(inst.id, profile.id, name, "unused-hash", &key, values)
        .await
        .expect("create user");
    (user.id, key)
}

/// Creates a group directly in the store with the given members; returns its id.
pub async fn store_group(app: &TestApp, instance: &str, members: &[i64]) -> i64 {
    let inst = app.stored_instance(instance).await;
    let values = rivia_store::users::GroupValues {
        name: None,
        label: "g".into(),
        description: String::new(),
    };
    let g = app
        .store
        .create_group(inst.id, &values)
        .await
        .expect("group");
    for m in members {
        app.store
            .add_membership(inst.id, *m, g.id)
            .await
            .map_err(|_| "membership")
            .expect("membership");
    }
    g.id
}

/// Replaces the values of keys (at any depth) that vary between runs, for snapshot-style
/// comparisons: timestamps and keys.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let redacted = match k.as_str() {
                        "created_at" | "updated_at" => json!("<datetime>"),
                        "account_key" | "api_key" | "user_key" | "key" => json!("<key>"),
                        _ => redact(v),
                    };
                    (k.clone(), redacted)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// Values of an object with no fields, full owner rights and nothing else set.
pub fn plain_object_values() -> rivia_store::objects::ObjectValues {
    rivia_store::objects::ObjectValues {
        owner: None,
        owner_permissions: 3,
        group_id: None,
        group_permissions: 0,
        other_permissions: 0,
        channel: None,
        channel_room: None,
        data: "{}".into(),
    }
}
