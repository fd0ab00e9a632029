//! A PostgreSQL database of one test's own, created from `RIVIA_TEST_DATABASE_URL` and
//! dropped again when the test is done (also when it panics), so test runs do not leave
//! hundreds of databases behind for the next run to clean up.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// One test's PostgreSQL database; dropping it drops the database (`WITH (FORCE)`, so
/// connections the test left open do not keep it alive).
pub struct TestDatabase {
    /// URL of the server the database lives on (the configured one).
    base: String,
    /// Database name.
    name: String,
    /// URL of the new database.
    url: String,
}

impl TestDatabase {
    /// Creates a fresh database named `<prefix>_<unique>`. `None` when PostgreSQL tests
    /// are not configured (`RIVIA_TEST_DATABASE_URL` unset), after one notice on stderr
    /// naming `suite`; under `CI=true` an unset URL panics instead, because CI must run
    /// the PostgreSQL half.
    pub async fn create(prefix: &str, suite: &str) -> Option<TestDatabase> {
        let Ok(base) = std::env::var("RIVIA_TEST_DATABASE_URL") else {
            skip_notice(suite);
            return None;
        };
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at RIVIA_TEST_DATABASE_URL: {e}"));
        tokio::spawn(conn);
        let name = format!("{prefix}_{}", unique_suffix());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = with_database(&base, &name);
        Some(TestDatabase { base, name, url })
    }

    /// The URL of the test's database.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop cannot await, and may run inside a runtime: a short-lived thread with its
        // own runtime does the work. It is not waited for: DROP DATABASE forces a
        // checkpoint (a second or more on a busy machine), which the test need not wait
        // out. A drop cut short by the end of the test process, or a failed one, only
        // leaves a database for `.ci/run` to drop.
        let (base, name) = (self.base.clone(), self.name.clone());
        std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&base, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = client.batch_execute(&sql).await;
                }
            });
        });
    }
}

fn skip_notice(suite: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "CI=true but RIVIA_TEST_DATABASE_URL is not set: the PostgreSQL half of the suite must run in CI"
        );
    }
    // Written to fd 2 directly, past libtest's output capture, once per run, so the skip
    // is visible in a plain `cargo test`.
    static NOTICE: Once = Once::new();
    NOTICE.call_once(|| {
        use std::io::Write;
        let notice = format!(
            "NOTICE: RIVIA_TEST_DATABASE_URL is not set: the PostgreSQL variants of the {suite} are skipped\n"
        );
        match std::fs::OpenOptions::new().write(true).open("/dev/stderr") {
            Ok(mut stderr) => {
                let _ = stderr.write_all(notice.as_bytes());
            }
            Err(_) => eprint!("{notice}"),
        }
    });
}

/// Unique within this process and across concurrent test processes.
fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000_000
    )
}

/// Replaces the database name in a `postgres://` URL (keeping its query string).
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}
