//! A PostgreSQL database of one test's own, created from `RIVIA_TEST_DATABASE_URL`.
//!
//! It is not dropped when the test ends: DROP DATABASE waits for a checkpoint (a second or
//! more on a busy machine), and a few hundred checkpoints during a run stall every other
//! test's PostgreSQL work. `.ci/run` drops the `rivia_t_*` / `rivia_s_*` databases of
//! earlier runs before it starts; on a developer machine,
//! `psql -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'rivia\_%'"` lists them.

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

/// One test's PostgreSQL database.
pub struct TestDatabase {
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
        Some(TestDatabase { url })
    }

    /// The URL of the test's database.
    pub fn url(&self) -> &str {
        &self.url
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

/// A temporary directory of one test (a SQLite store's data directory, uploads), removed
/// when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TempDir {
    /// Creates `<tmp>/rivia-test-<unique>`.
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("rivia-test-{}", unique_suffix()));
        std::fs::create_dir_all(&p).unwrap_or_else(|e| panic!("temp dir {}: {e}", p.display()));
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
