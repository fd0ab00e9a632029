//! Test harness: a fresh store per test on either backend. PostgreSQL cases run when
//! `RIVIA_TEST_DATABASE_URL` is set (each test creates its own database); without it they
//! are skipped with a notice, except under `CI=true`, where a missing database fails the
//! test (as in the server's API tests).

use rivia_core::schema::{Schema, validate_schema};
use rivia_store::classes::{Class, NewClass};
use rivia_store::instances::Instance;
use rivia_store::objects::ObjectValues;
use rivia_store::testing::TestDatabase;
use rivia_store::{Db, Store};
use serde_json::Value;

/// Which storage backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Instantiates an `async fn(Backend)` test for both backends.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
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
}

/// A temporary directory removed on drop (shared with the other test binary).
pub use rivia_store::testing::TempDir;

/// A fresh store on one backend (its directory lives as long as it).
pub struct TestStore {
    pub store: Store,
    pub backend: Backend,
    _dir: TempDir,
    /// The PostgreSQL database of the test, if on PostgreSQL.
    _database: Option<TestDatabase>,
}

impl TestStore {
    /// Opens a fresh store on `backend` (None: PostgreSQL skipped).
    pub async fn new(backend: Backend) -> Option<TestStore> {
        let dir = TempDir::new();
        let (db, database) = match backend {
            Backend::Sqlite => (Db::open_sqlite(&dir.0).await.expect("open sqlite"), None),
            Backend::Postgres => {
                let database = TestDatabase::create("rivia_s", "store tests").await?;
                let db = Db::open_postgres(database.url())
                    .await
                    .expect("open postgres");
                (db, Some(database))
            }
        };
        Some(TestStore {
            store: Store::new(db),
            backend,
            _dir: dir,
            _database: database,
        })
    }

    /// The test's PostgreSQL database URL (None on SQLite).
    pub fn database_url(&self) -> Option<&str> {
        self._database.as_ref().map(|d| d.url())
    }

    /// A new instance `name` with a class `n` (one integer field `n`) holding one object
    /// per value of `values`, in order: the class, the field's storage key and the objects.
    pub async fn numbered_objects(
        &self,
        name: &str,
        values: impl IntoIterator<Item = i64>,
    ) -> (Class, String, Vec<rivia_store::objects::ObjectRow>) {
        let inst = self.instance(name).await;
        let class = self
            .class(
                &inst,
                "n",
                serde_json::json!([{"name": "n", "type": "integer"}]),
            )
            .await;
        let n = key_of(&class, "n");
        let mut rows = Vec::new();
        for value in values {
            let row = self
                .store
                .begin_write()
                .await
                .expect("begin")
                .insert_object_and_commit(
                    inst.id,
                    class.id,
                    &values_with(serde_json::json!({&n: value})),
                )
                .await
                .expect("insert");
            rows.push(row);
        }
        (class, n, rows)
    }

    /// The store's data directory (SQLite: `rivia.db` is in it).
    pub fn dir(&self) -> &std::path::Path {
        &self._dir.0
    }

    /// Closes the store and opens its database again, running the migrations not yet
    /// recorded (as a restarted server does).
    pub async fn reopen(&mut self) {
        self.store.close().await;
        let db = match &self._database {
            None => Db::open_sqlite(&self._dir.0).await.expect("reopen sqlite"),
            Some(database) => Db::open_postgres(database.url())
                .await
                .expect("reopen postgres"),
        };
        self.store = Store::new(db);
    }

    /// An admin owning a new instance `name`.
    pub async fn instance(&self, name: &str) -> Instance {
        let email = format!("{name}@example.com");
        let admin = match self.store.admin_by_email(&email).await.expect("db") {
            Some(a) => a,
            None => self
                .store
                .create_admin(rivia_store::admins::NewAdmin {
                    email: &email,
                    password: None,
                    first_name: "",
                    last_name: "",
                    account_key: &format!("key-{name}"),
                    is_active: true,
                })
                .await
                .expect("admin"),
        };
        self.store
            .create_instance(admin.id, name, "", "{}", 100)
            .await
            .expect("instance")
    }

    /// A class of `instance` with the schema given as the API takes it.
    pub async fn class(&self, instance: &Instance, name: &str, schema: Value) -> Class {
        let schema = validate_schema(&schema, &Schema::default(), 1, &|_| false).expect("schema");
        let new = NewClass {
            name: name.into(),
            description: String::new(),
            schema: schema.to_stored(),
            group_id: None,
            group_permissions: 2,
            other_permissions: 2,
            metadata: "{}".into(),
        };
        self.store
            .create_class(instance.id, &new, &schema, 100)
            .await
            .expect("class")
    }

    /// The number of objects in a class, read back through a list page.
    pub async fn count(&self, instance: &Instance, class: &Class) -> usize {
        all_objects(&self.store, instance, class).await.len()
    }
}

/// Every object of a class in id order (one list page of up to 1,000).
pub async fn all_objects(
    store: &Store,
    instance: &Instance,
    class: &Class,
) -> Vec<rivia_store::objects::ObjectRow> {
    let query = rivia_core::query::Query::default();
    let visibility = rivia_store::objects::Visibility::All;
    let q = rivia_store::objects::ObjectListQuery {
        instance_id: instance.id,
        class_id: class.id,
        query: &query,
        visibility: &visibility,
        order: rivia_store::objects::OrderField::Id,
        keyset: rivia_core::page::Keyset {
            sql_descending: false,
            bound: None,
            reverse_after: false,
            limit: 1000,
        },
        boundary: None,
        count: false,
        timeout: std::time::Duration::from_secs(5),
    };
    store.list_objects(&q).await.expect("list").0
}

/// Object values with no owner, group, channel or data.
pub fn plain_values() -> ObjectValues {
    ObjectValues {
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

/// Object values with `data` (schema fields by storage key).
pub fn values_with(data: Value) -> ObjectValues {
    ObjectValues {
        data: data.to_string(),
        ..plain_values()
    }
}

/// The storage key of a class's field by name.
pub fn key_of(class: &Class, field: &str) -> String {
    Schema::from_stored(&class.schema)
        .fields
        .into_iter()
        .find(|f| f.name == field)
        .expect("field")
        .key
}
