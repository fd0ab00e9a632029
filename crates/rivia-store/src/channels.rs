//! Realtime channels and their change history.

use crate::db::{Row, StoreResult};
use crate::{Store, params};

/// A channel.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Id.
    pub id: i64,
    /// Instance id.
    pub instance_id: i64,
    /// Lowercase name.
    pub name: String,
    /// Description.
    pub description: String,
    /// 0 = default, 1 = separate_rooms.
    pub kind: i64,
    /// Group id.
    pub group_id: Option<i64>,
    /// `ChannelPerm` as integer.
    pub group_permissions: i64,
    /// `ChannelPerm` as integer.
    pub other_permissions: i64,
    /// Whether `/publish/` is allowed.
    pub custom_publish: bool,
    /// Created, µs.
    pub created_at: i64,
    /// Updated, µs.
    pub updated_at: i64,
}

/// Column list matching [`channel_from`].
pub const CHANNEL_COLUMNS: &str = "id, instance_id, name, description, type, group_id, group_permissions, other_permissions, custom_publish, created_at, updated_at";

/// Builds a [`Channel`] from a row selected with [`CHANNEL_COLUMNS`].
pub fn channel_from(mut r: Row) -> Channel {
    Channel {
        id: r.i64(0),
        instance_id: r.i64(1),
        name: r.take_string(2),
        description: r.take_string(3),
        kind: r.i64(4),
        group_id: r.opt_i64(5),
        group_permissions: r.i64(6),
        other_permissions: r.i64(7),
        custom_publish: r.bool(8),
        created_at: r.i64(9),
        updated_at: r.i64(10),
    }
}

impl Store {
    /// A channel by (lowercase) name.
    pub async fn channel_by_name(
        &self,
        instance_id: i64,
        name: &str,
    ) -> StoreResult<Option<Channel>> {
        let sql =
            format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE instance_id = $1 AND name = $2");
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, name])
            .await?
            .map(channel_from))
    }
}
