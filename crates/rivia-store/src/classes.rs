//! Classes (schemas) and their per-class object tables `c<class id>`.

use crate::db::{Dialect, Row, StoreResult, Tx};
use crate::{Store, params, qualify, table_name};
use rivia_core::time::now_micros;
use std::sync::LazyLock;

/// A class row.
#[derive(Debug, Clone)]
pub struct Class {
    /// Id (names the object table).
    pub id: i64,
    /// Instance id.
    pub instance_id: i64,
    /// Lowercase name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Schema JSON text (list of field definitions).
    pub schema: String,
    /// Schema revision.
    pub revision: i64,
    /// Group id.
    pub group_id: Option<i64>,
    /// `ClassPerm` as integer.
    pub group_permissions: i64,
    /// `ClassPerm` as integer.
    pub other_permissions: i64,
    /// Metadata JSON text.
    pub metadata: String,
    /// Live objects (spec-core §8.1: exact up to 1,000, estimated above); `None` when the
    /// lookup did not count them (only the reads behind the class endpoints do, see
    /// [`objects_count_sql`]).
    pub objects_count: Option<i64>,
    /// Created, µs.
    pub created_at: i64,
    /// Updated, µs.
    pub updated_at: i64,
}

/// Fields of a new class.
pub struct NewClass {
    /// Lowercase name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Schema JSON text.
    pub schema: String,
    /// Group id.
    pub group_id: Option<i64>,
    /// `ClassPerm` as integer.
    pub group_permissions: i64,
    /// `ClassPerm` as integer.
    pub other_permissions: i64,
    /// Metadata JSON text.
    pub metadata: String,
}

/// Column list matching [`class_from`]; a counted read appends [`objects_count_sql`].
pub(crate) const CLASS_COLUMNS: &str = "id, instance_id, name, description, schema, revision, group_id, group_permissions, other_permissions, metadata, created_at, updated_at";

/// The live objects of the class whose `classes` row is `alias` (`"c."` or `""`), as a
/// column. SQLite keeps an exact counter on the row (one writer, so the update costs no
/// contention). PostgreSQL counts when the class is read (`rivia_objects_count`, migration
/// 0004: exact up to 1,000, the planner's estimate above): a counter row updated by every
/// create and delete stayed locked until COMMIT and serialised the writes of a class.
pub(crate) fn objects_count_sql(dialect: Dialect, alias: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("{alias}objects_count"),
        Dialect::Postgres => format!("rivia_objects_count({alias}id)"),
    }
}

/// Builds a [`Class`] from a row selected with [`CLASS_COLUMNS`], optionally followed by
/// [`objects_count_sql`].
pub(crate) fn class_from(mut r: Row) -> Class {
    Class {
        id: r.i64(0),
        instance_id: r.i64(1),
        name: r.take_string(2),
        description: r.take_string(3),
        schema: r.take_string(4),
        revision: r.i64(5),
        group_id: r.opt_i64(6),
        group_permissions: r.i64(7),
        other_permissions: r.i64(8),
        metadata: r.take_string(9),
        created_at: r.i64(10),
        updated_at: r.i64(11),
        objects_count: r.opt_i64(12),
    }
}

/// DDL creating a class's object table. Built-in fields are real columns; schema fields
/// live in `data` (JSON text on SQLite, `jsonb` on PostgreSQL).
pub(crate) fn create_table_ddl(dialect: Dialect, class_id: i64) -> String {
    let t = table_name(class_id);
    let (int, data) = match dialect {
        Dialect::Sqlite => (
            "INTEGER",
            "TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data))",
        ),
        Dialect::Postgres => ("BIGINT", "JSONB NOT NULL DEFAULT '{}'"),
    };
    format!(
        "CREATE TABLE {t} (\
            id {int} PRIMARY KEY, created_at {int} NOT NULL, updated_at {int} NOT NULL, revision {int} NOT NULL DEFAULT 1, \
            owner {int}, owner_permissions {int} NOT NULL DEFAULT 3, group_id {int}, group_permissions {int} NOT NULL DEFAULT 0, \
            other_permissions {int} NOT NULL DEFAULT 0, channel TEXT, channel_room TEXT, data {data}); \
         CREATE INDEX {t}_owner ON {t} (owner);"
    )
}

/// DDL dropping a class's object table.
pub(crate) fn drop_table_ddl(class_id: i64) -> String {
    format!("DROP TABLE IF EXISTS {}", table_name(class_id))
}

/// Inserts a class row and creates its object table, inside `tx`.
pub(crate) async fn insert_class(
    tx: &mut Tx,
    instance_id: i64,
    new: &NewClass,
) -> StoreResult<Class> {
    let now = now_micros();
    let row = tx
        .query_one(
            &format!(
                "INSERT INTO classes (instance_id, name, description, schema, revision, group_id, group_permissions, other_permissions, metadata, objects_count, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 1, $5, $6, $7, $8, 0, $9, $9) RETURNING {CLASS_COLUMNS}"
            ),
            params![
                instance_id,
                &new.name,
                &new.description,
                &new.schema,
                new.group_id,
                new.group_permissions,
                new.other_permissions,
                &new.metadata,
                now
            ],
        )
        .await?;
    let mut class = class_from(row);
    // A new class has no objects yet.
    class.objects_count = Some(0);
    tx.batch(&create_table_ddl(tx.dialect(), class.id)).await?;
    Ok(class)
}

impl Store {
    /// A class of the instance by (lowercase) name, without its `objects_count` (for
    /// lookups on every object request, which must not count).
    pub async fn class_by_name(&self, instance_id: i64, name: &str) -> StoreResult<Option<Class>> {
        let sql =
            format!("SELECT {CLASS_COLUMNS} FROM classes WHERE instance_id = $1 AND name = $2");
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, name])
            .await?
            .map(class_from))
    }

    /// [`Store::class_by_name`] with the class's `objects_count`, in the same statement.
    pub async fn class_by_name_counted(
        &self,
        instance_id: i64,
        name: &str,
    ) -> StoreResult<Option<Class>> {
        let count = objects_count_sql(self.db.dialect(), "");
        let sql = format!(
            "SELECT {CLASS_COLUMNS}, {count} FROM classes WHERE instance_id = $1 AND name = $2"
        );
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, name])
            .await?
            .map(class_from))
    }
}

/// Which classes an API key sees (spec-core §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassVisibility {
    /// Admins and `ignore_acl` keys: every class.
    All,
    /// API key without a user: classes with `other_permissions ≥ read`.
    Others,
    /// API key with a user: also classes of the user's groups with `group_permissions ≥ read`.
    User(i64),
}

/// Appends the visibility condition for `classes c` (empty for [`ClassVisibility::All`]).
pub(crate) fn push_class_visibility(
    sql: &mut String,
    p: &mut Vec<crate::Val>,
    instance_id: i64,
    v: ClassVisibility,
) {
    match v {
        ClassVisibility::All => {}
        ClassVisibility::Others => sql.push_str(" AND c.other_permissions >= 1"),
        ClassVisibility::User(uid) => {
            p.push(instance_id.into());
            let i = p.len();
            p.push(uid.into());
            let u = p.len();
            sql.push_str(&format!(
                " AND (c.other_permissions >= 1 OR (c.group_id IS NOT NULL AND c.group_permissions >= 1 AND EXISTS \
                 (SELECT 1 FROM memberships m WHERE m.instance_id = ${i} AND m.group_id = c.group_id AND m.user_id = ${u})))"
            ));
        }
    }
}

/// Why a class could not be created.
#[derive(Debug)]
pub enum CreateClassError {
    /// The instance already has this many classes.
    CountExceeded(i64),
    /// The name is taken.
    NameTaken,
    /// Storage failure.
    Store(crate::StoreError),
}

impl From<crate::StoreError> for CreateClassError {
    fn from(e: crate::StoreError) -> Self {
        match e {
            crate::StoreError::Conflict(_) => CreateClassError::NameTaken,
            other => CreateClassError::Store(other),
        }
    }
}

/// New state of a class on update.
pub struct ClassUpdate {
    /// Description.
    pub description: String,
    /// Stored schema (with storage keys).
    pub schema: rivia_core::schema::Schema,
    /// Group id.
    pub group_id: Option<i64>,
    /// `ClassPerm` as integer.
    pub group_permissions: i64,
    /// `ClassPerm` as integer.
    pub other_permissions: i64,
    /// Metadata JSON text.
    pub metadata: String,
}

/// Creates, drops or swaps the expression indexes that differ between two schemas.
/// Indexes are built synchronously inside the caller's transaction, so a class is never
/// observably `migrating`: its `status` is always `ready`.
pub(crate) async fn sync_indexes(
    tx: &mut Tx,
    class_id: i64,
    old: &rivia_core::schema::Schema,
    new: &rivia_core::schema::Schema,
) -> StoreResult<()> {
    let dialect = tx.dialect();
    let find = |s: &rivia_core::schema::Schema, key: &str| {
        s.fields
            .iter()
            .find(|f| f.key == key)
            .and_then(|f| f.index())
    };
    for f in &old.fields {
        if f.index().is_some() && find(new, &f.key) != f.index() {
            tx.batch(&crate::sql::drop_index_ddl(class_id, &f.key))
                .await?;
        }
    }
    for f in &new.fields {
        if let Some(kind) = f.index()
            && find(old, &f.key) != Some(kind)
        {
            tx.batch(&crate::sql::create_index_ddl(dialect, class_id, f, kind))
                .await?;
        }
    }
    Ok(())
}

/// A class held for an update (see [`Store::begin_class_update`]).
pub struct ClassUpdateTx {
    tx: Tx,
    /// The class as it is inside the transaction.
    pub class: Class,
    store: Store,
}

impl ClassUpdateTx {
    /// Saves the new state; a changed schema bumps the revision and syncs the indexes in
    /// the same transaction.
    pub async fn save(mut self, upd: &ClassUpdate) -> StoreResult<Class> {
        let old = &self.class;
        let old_schema = rivia_core::schema::Schema::from_stored(&old.schema);
        let changed = old_schema.public() != upd.schema.public();
        let count = objects_count_sql(self.tx.dialect(), "");
        let row = self
            .tx
            .query_one(
                &format!(
                    "UPDATE classes SET description = $2, schema = $3, revision = revision + $4, group_id = $5, \
                     group_permissions = $6, other_permissions = $7, metadata = $8, updated_at = $9 \
                     WHERE id = $1 RETURNING {CLASS_COLUMNS}, {count}"
                ),
                params![
                    old.id,
                    &upd.description,
                    upd.schema.to_stored(),
                    changed as i64,
                    upd.group_id,
                    upd.group_permissions,
                    upd.other_permissions,
                    &upd.metadata,
                    now_micros()
                ],
            )
            .await?;
        if changed {
            sync_indexes(&mut self.tx, old.id, &old_schema, &upd.schema).await?;
        }
        self.tx.commit().await?;
        // Classes are cached with the authentication data.
        self.store.auth_changed();
        Ok(class_from(row))
    }
}

/// On PostgreSQL, locks a class table before its `classes` row, so that a schema change or
/// a drop waits for the object writes in flight (and holds back new ones). Always the table
/// first: when object writes still updated `objects_count` (table, then row), index DDL and
/// drops taking the row first deadlocked against them. SQLite has one writer, so nothing
/// to order there. `mode` is a constant of the callers.
async fn lock_class_table(tx: &mut Tx, class_id: i64, mode: &'static str) -> StoreResult<()> {
    if tx.dialect() == crate::Dialect::Postgres {
        tx.batch(&format!(
            "LOCK TABLE {} IN {mode} MODE",
            table_name(class_id)
        ))
        .await?;
    }
    Ok(())
}

/// A page of classes, `SELECT {cols} {page}` (`page`: `FROM classes c …`, ordered and
/// limited), with each class's `objects_count` as a last column, in one statement. On
/// PostgreSQL the count runs once per class of the page only: the page is a subquery,
/// sorted again outside (at most a page of rows).
fn counted_page_sql(
    dialect: Dialect,
    cols: &str,
    page: &str,
    keyset: &rivia_core::page::Keyset,
) -> String {
    match dialect {
        Dialect::Sqlite => format!("SELECT {cols}, {} {page}", objects_count_sql(dialect, "c.")),
        Dialect::Postgres => {
            let dir = if keyset.sql_descending { "DESC" } else { "ASC" };
            format!(
                "SELECT listed.*, {} FROM (SELECT {cols} {page}) AS listed ORDER BY listed.id {dir}",
                objects_count_sql(dialect, "listed.")
            )
        }
    }
}

impl Store {
    /// One page of the instance's classes visible to the caller, with their objects counts.
    pub async fn list_classes(
        &self,
        instance_id: i64,
        visibility: ClassVisibility,
        name_prefix: Option<&str>,
        keyset: &rivia_core::page::Keyset,
    ) -> StoreResult<Vec<Class>> {
        static COLUMNS_C: LazyLock<String> = LazyLock::new(|| qualify(CLASS_COLUMNS, "c"));
        let cols = &*COLUMNS_C;
        let mut page = "FROM classes c WHERE c.instance_id = $1".to_string();
        let mut p = params![instance_id];
        push_class_visibility(&mut page, &mut p, instance_id, visibility);
        if let Some(prefix) = name_prefix {
            p.push(crate::like_prefix(&prefix.to_lowercase()).into());
            page.push_str(&format!(" AND c.name LIKE ${} ESCAPE '\\'", p.len()));
        }
        crate::push_keyset(&mut page, &mut p, "c.id", keyset);
        let sql = counted_page_sql(self.db.dialect(), cols, &page, keyset);
        let rows = self.db.query(&sql, p).await?;
        Ok(crate::finish_keyset(
            rows.into_iter().map(class_from).collect(),
            keyset,
        ))
    }

    /// Whether a class is visible to the caller.
    pub async fn class_visible(
        &self,
        class: &Class,
        visibility: ClassVisibility,
    ) -> StoreResult<bool> {
        let mut sql = "SELECT 1 FROM classes c WHERE c.id = $1".to_string();
        let mut p = params![class.id];
        push_class_visibility(&mut sql, &mut p, class.instance_id, visibility);
        Ok(self.db.query_opt(&sql, p).await?.is_some())
    }

    /// Names of the instance's classes (for schema target validation).
    pub async fn class_names(&self, instance_id: i64) -> StoreResult<Vec<String>> {
        let rows = self
            .db
            .query(
                "SELECT name FROM classes WHERE instance_id = $1",
                params![instance_id],
            )
            .await?;
        Ok(rows.iter().map(|r| r.str(0).to_string()).collect())
    }

    /// Creates a class with its table and indexes, enforcing the per-instance `limit`.
    pub async fn create_class(
        &self,
        instance_id: i64,
        new: &NewClass,
        schema: &rivia_core::schema::Schema,
        limit: i64,
    ) -> Result<Class, CreateClassError> {
        let mut tx = self.db.begin().await?;
        let count = tx
            .query_one(
                "SELECT COUNT(*) FROM classes WHERE instance_id = $1",
                params![instance_id],
            )
            .await?
            .i64(0);
        if count >= limit {
            return Err(CreateClassError::CountExceeded(limit));
        }
        let taken = tx
            .query_opt(
                "SELECT 1 FROM classes WHERE instance_id = $1 AND name = $2",
                params![instance_id, &new.name],
            )
            .await?;
        if taken.is_some() {
            return Err(CreateClassError::NameTaken);
        }
        let class = insert_class(&mut tx, instance_id, new).await?;
        sync_indexes(&mut tx, class.id, &Default::default(), schema).await?;
        tx.commit().await?;
        Ok(class)
    }

    /// Starts an update of a class: a write transaction holding the class against other
    /// updates (the writer on SQLite; the class table's lock on PostgreSQL, taken before
    /// the `classes` row like object writes do), with the class as it is now. The new
    /// state is validated against that class and saved with [`ClassUpdateTx::save`];
    /// dropping it changes nothing. `None` when there is no such class.
    pub async fn begin_class_update(
        &self,
        instance_id: i64,
        name: &str,
    ) -> StoreResult<Option<ClassUpdateTx>> {
        let Some(seen) = self.class_by_name(instance_id, name).await? else {
            return Ok(None);
        };
        let mut tx = self.db.begin().await?;
        lock_class_table(&mut tx, seen.id, "SHARE ROW EXCLUSIVE").await?;
        let sql = format!("SELECT {CLASS_COLUMNS} FROM classes WHERE id = $1");
        let Some(row) = tx.query_opt(&sql, params![seen.id]).await? else {
            return Ok(None);
        };
        Ok(Some(ClassUpdateTx {
            tx,
            class: class_from(row),
            store: self.clone(),
        }))
    }

    /// Deletes a class with its table (and so all its objects).
    pub async fn delete_class(&self, class_id: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        lock_class_table(&mut tx, class_id, "ACCESS EXCLUSIVE").await?;
        let n = tx
            .exec("DELETE FROM classes WHERE id = $1", params![class_id])
            .await?;
        tx.batch(&drop_table_ddl(class_id)).await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(n > 0)
    }

    /// Whether a group exists in the instance.
    pub async fn group_exists(&self, instance_id: i64, group_id: i64) -> StoreResult<bool> {
        Ok(self
            .db
            .query_opt(
                "SELECT 1 FROM user_groups WHERE instance_id = $1 AND id = $2",
                params![instance_id, group_id],
            )
            .await?
            .is_some())
    }
}
