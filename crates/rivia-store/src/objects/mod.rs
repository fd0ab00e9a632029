//! Data objects: rows of the per-class tables `c<class id>`. This file holds the row
//! types, who may see what ([`Visibility`]) and the single-object reads; writes (and the
//! unit-of-work operations of object writes) are in `write`, list pages in `list` and the
//! exact-or-estimated counts of lists in `count`.

mod count;
mod list;
mod write;

pub(crate) use count::EstimateCache;
pub use list::{ObjectListQuery, OrderField};
pub use write::RefTarget;
pub(crate) use write::{delete_object, insert_object, touch_object, update_object};

use crate::db::{Row, StoreResult};
use crate::{params, table_name};

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
pub(crate) const OBJECT_COLUMNS: &str = "id, created_at, updated_at, revision, owner, owner_permissions, group_id, group_permissions, other_permissions, channel, channel_room, data";

/// Builds an [`ObjectRow`] from a row selected with [`OBJECT_COLUMNS`].
pub(crate) fn object_from(mut r: Row) -> ObjectRow {
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

impl crate::Store {
    /// Reads one object.
    pub async fn get_object(&self, class_id: i64, id: i64) -> StoreResult<Option<ObjectRow>> {
        let sql = select_by_id(class_id);
        Ok(self
            .db
            .query_point(&sql, params![id])
            .await?
            .map(object_from))
    }

    /// The objects among `ids` (at most a page's worth) the caller may see, in no
    /// particular order: one read by key, run as a small page is (on SQLite on the calling
    /// thread when an inline connection is free, on PostgreSQL on a shared connection)
    /// rather than as a list under a statement timeout.
    pub async fn visible_objects(
        &self,
        class_id: i64,
        ids: &[i64],
        visibility: &Visibility,
    ) -> StoreResult<Vec<ObjectRow>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut p = Vec::new();
        let list = crate::push_in_list(&mut p, ids.iter().map(|i| crate::Val::Int(*i)));
        let mut sql = format!(
            "SELECT {OBJECT_COLUMNS} FROM {} WHERE id IN ({list})",
            table_name(class_id)
        );
        push_visibility(&mut sql, &mut p, visibility);
        let rows = self.db.query_many_small(vec![(sql, p)]).await?;
        Ok(rows.into_iter().flatten().map(object_from).collect())
    }

    /// One object if the caller may see it.
    pub async fn visible_object(
        &self,
        class_id: i64,
        id: i64,
        visibility: &Visibility,
    ) -> StoreResult<Option<ObjectRow>> {
        let mut sql = select_by_id(class_id);
        let mut p = params![id];
        push_visibility(&mut sql, &mut p, visibility);
        Ok(self.db.query_point(&sql, p).await?.map(object_from))
    }
}

/// `SELECT` of an object's columns by `id = $1` from a class's table.
fn select_by_id(class_id: i64) -> String {
    let table = table_name(class_id);
    [
        "SELECT ",
        OBJECT_COLUMNS,
        " FROM ",
        &table,
        " WHERE id = $1",
    ]
    .concat()
}

/// Which objects a caller may see (spec-core §9.9), compiled into every read's `WHERE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Admins and `ignore_acl` keys.
    All,
    /// `allow_anonymous_read` keys without a user: `other_permissions ≥ read`.
    Others,
    /// A user with the ids of their groups.
    User {
        /// User id.
        id: i64,
        /// Group ids.
        groups: Vec<i64>,
    },
}

/// Appends the visibility condition (nothing for [`Visibility::All`]).
pub(crate) fn push_visibility(sql: &mut String, p: &mut Vec<crate::Val>, v: &Visibility) {
    match v {
        Visibility::All => {}
        Visibility::Others => sql.push_str(" AND other_permissions >= 1"),
        Visibility::User { id, groups } => {
            p.push(crate::Val::Int(*id));
            let u = p.len();
            let group_cond = if groups.is_empty() {
                String::new()
            } else {
                let list = crate::push_in_list(p, groups.iter().map(|g| crate::Val::Int(*g)));
                format!(" OR (group_id IN ({list}) AND group_permissions >= 1)")
            };
            sql.push_str(&format!(
                " AND ((owner = ${u} AND owner_permissions >= 1) OR other_permissions >= 1{group_cond})"
            ));
        }
    }
}
