//! Data objects: rows of the per-class tables.

use crate::classes::table_name;
use crate::db::{Row, StoreResult, Tx};
use crate::{next_instance_id, params};
use rivia_core::time::now_micros;

/// A stored data object. `data` holds the schema fields as JSON text, keyed by field name.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRow {
    /// Id, unique per instance across classes.
    pub id: i64,
    /// Created, µs.
    pub created_at: i64,
    /// Updated, µs.
    pub updated_at: i64,
    /// Revision.
    pub revision: i64,
    /// Owning user id.
    pub owner: Option<i64>,
    /// `ObjectPerm` as integer.
    pub owner_permissions: i64,
    /// Group id.
    pub group_id: Option<i64>,
    /// `ObjectPerm` as integer.
    pub group_permissions: i64,
    /// `ObjectPerm` as integer.
    pub other_permissions: i64,
    /// Channel name.
    pub channel: Option<String>,
    /// Channel room.
    pub channel_room: Option<String>,
    /// Schema field values, JSON object text.
    pub data: String,
}

/// Column list matching [`object_from`].
pub const OBJECT_COLUMNS: &str = "id, created_at, updated_at, revision, owner, owner_permissions, group_id, group_permissions, other_permissions, channel, channel_room, data";

/// Builds an [`ObjectRow`] from a row selected with [`OBJECT_COLUMNS`].
pub fn object_from(mut r: Row) -> ObjectRow {
    ObjectRow {
        id: r.i64(0),
        created_at: r.i64(1),
        updated_at: r.i64(2),
        revision: r.i64(3),
        owner: r.opt_i64(4),
        owner_permissions: r.i64(5),
        group_id: r.opt_i64(6),
        group_permissions: r.i64(7),
        other_permissions: r.i64(8),
        channel: r.take_opt_string(9),
        channel_room: r.take_opt_string(10),
        data: r.take_string(11),
    }
}

/// Values of a new object (or the full new state of an updated one).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectValues {
    /// Owning user id.
    pub owner: Option<i64>,
    /// `ObjectPerm` as integer.
    pub owner_permissions: i64,
    /// Group id.
    pub group_id: Option<i64>,
    /// `ObjectPerm` as integer.
    pub group_permissions: i64,
    /// `ObjectPerm` as integer.
    pub other_permissions: i64,
    /// Channel name.
    pub channel: Option<String>,
    /// Channel room.
    pub channel_room: Option<String>,
    /// Schema field values, JSON object text.
    pub data: String,
}

impl ObjectValues {
    /// The values of an existing row.
    pub fn of(row: &ObjectRow) -> Self {
        ObjectValues {
            owner: row.owner,
            owner_permissions: row.owner_permissions,
            group_id: row.group_id,
            group_permissions: row.group_permissions,
            other_permissions: row.other_permissions,
            channel: row.channel.clone(),
            channel_room: row.channel_room.clone(),
            data: row.data.clone(),
        }
    }
}

/// Inserts an object into a class table, inside `tx`, and counts it on the class.
pub async fn insert_object(
    tx: &mut Tx,
    instance_id: i64,
    class_id: i64,
    v: &ObjectValues,
) -> StoreResult<ObjectRow> {
    let id = next_instance_id(tx, instance_id, "objects").await?;
    let now = now_micros();
    let sql = format!(
        "INSERT INTO {} (id, created_at, updated_at, revision, owner, owner_permissions, group_id, group_permissions, other_permissions, channel, channel_room, data) \
         VALUES ($1, $2, $2, 1, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {OBJECT_COLUMNS}",
        table_name(class_id)
    );
    let row = tx
        .query_one(
            &sql,
            params![
                id,
                now,
                v.owner,
                v.owner_permissions,
                v.group_id,
                v.group_permissions,
                v.other_permissions,
                v.channel.clone(),
                v.channel_room.clone(),
                crate::Val::Json(v.data.clone())
            ],
        )
        .await?;
    tx.exec(
        "UPDATE classes SET objects_count = objects_count + 1 WHERE id = $1",
        params![class_id],
    )
    .await?;
    Ok(object_from(row))
}

/// Writes the full new state of an object, bumping the revision when `bump` is set.
pub async fn update_object(
    tx: &mut Tx,
    class_id: i64,
    id: i64,
    v: &ObjectValues,
    bump: bool,
) -> StoreResult<Option<ObjectRow>> {
    let sql = format!(
        "UPDATE {} SET updated_at = $2, revision = revision + $3, owner = $4, owner_permissions = $5, group_id = $6, \
         group_permissions = $7, other_permissions = $8, data = $9 WHERE id = $1 RETURNING {OBJECT_COLUMNS}",
        table_name(class_id)
    );
    let row = tx
        .query_opt(
            &sql,
            params![
                id,
                now_micros(),
                bump as i64,
                v.owner,
                v.owner_permissions,
                v.group_id,
                v.group_permissions,
                v.other_permissions,
                crate::Val::Json(v.data.clone())
            ],
        )
        .await?;
    Ok(row.map(object_from))
}

/// Deletes an object, inside `tx`; false when it did not exist.
pub async fn delete_object(tx: &mut Tx, class_id: i64, id: i64) -> StoreResult<bool> {
    let n = tx
        .exec(
            &format!("DELETE FROM {} WHERE id = $1", table_name(class_id)),
            params![id],
        )
        .await?;
    if n > 0 {
        tx.exec(
            "UPDATE classes SET objects_count = objects_count - 1 WHERE id = $1",
            params![class_id],
        )
        .await?;
    }
    Ok(n > 0)
}

/// Reads one object inside `tx`.
pub async fn get_object_tx(tx: &mut Tx, class_id: i64, id: i64) -> StoreResult<Option<ObjectRow>> {
    let sql = format!(
        "SELECT {OBJECT_COLUMNS} FROM {} WHERE id = $1",
        table_name(class_id)
    );
    Ok(tx.query_opt(&sql, params![id]).await?.map(object_from))
}

impl crate::Store {
    /// Reads one object.
    pub async fn get_object(&self, class_id: i64, id: i64) -> StoreResult<Option<ObjectRow>> {
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM {} WHERE id = $1",
            table_name(class_id)
        );
        Ok(self.db.query_opt(&sql, params![id]).await?.map(object_from))
    }

    /// Reads several objects by id (one query).
    pub async fn get_objects(&self, class_id: i64, ids: &[i64]) -> StoreResult<Vec<ObjectRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = Vec::new();
        let list = crate::push_in_list(&mut p, ids.iter().map(|i| crate::Val::Int(*i)));
        let sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM {} WHERE id IN ({list})",
            table_name(class_id)
        );
        Ok(self
            .db
            .query(&sql, p)
            .await?
            .into_iter()
            .map(object_from)
            .collect())
    }
}
