//! Classes (schemas) and their per-class object tables `c<class id>`.

use crate::db::{Dialect, Row, StoreResult, Tx};
use crate::{Store, params};
use rivia_core::time::now_micros;

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
    /// Live objects.
    pub objects_count: i64,
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

/// Column list matching [`class_from`].
pub const CLASS_COLUMNS: &str = "id, instance_id, name, description, schema, revision, group_id, group_permissions, other_permissions, metadata, objects_count, created_at, updated_at";

/// Builds a [`Class`] from a row selected with [`CLASS_COLUMNS`].
pub fn class_from(mut r: Row) -> Class {
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
        objects_count: r.i64(10),
        created_at: r.i64(11),
        updated_at: r.i64(12),
    }
}

/// The object table of a class; the name comes from the integer id only.
pub fn table_name(class_id: i64) -> String {
    format!("c{class_id}")
}

/// DDL creating a class's object table. Built-in fields are real columns; schema fields
/// live in `data` (JSON text on SQLite, `jsonb` on PostgreSQL).
pub fn create_table_ddl(dialect: Dialect, class_id: i64) -> String {
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
pub fn drop_table_ddl(class_id: i64) -> String {
    format!("DROP TABLE IF EXISTS {}", table_name(class_id))
}

/// Inserts a class row and creates its object table, inside `tx`.
pub async fn insert_class(tx: &mut Tx, instance_id: i64, new: &NewClass) -> StoreResult<Class> {
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
    let class = class_from(row);
    tx.batch(&create_table_ddl(tx.dialect(), class.id)).await?;
    Ok(class)
}

impl Store {
    /// A class of the instance by (lowercase) name.
    pub async fn class_by_name(&self, instance_id: i64, name: &str) -> StoreResult<Option<Class>> {
        let sql =
            format!("SELECT {CLASS_COLUMNS} FROM classes WHERE instance_id = $1 AND name = $2");
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, name])
            .await?
            .map(class_from))
    }
}
