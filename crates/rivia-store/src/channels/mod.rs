//! Realtime channels (spec-core §10): the channels themselves here, their change
//! history in `changes`.
//!
//! A change is one row of `changes`, numbered per instance. Writers append changes inside
//! their own unit of work ([`UnitOfWork::append_change`], which also queues a PostgreSQL
//! `NOTIFY` on [`NOTIFY_CHANNEL`] for the other nodes) and, after committing, hand the
//! change to [`crate::bus::ChangeBus::committed`] so waiting pollers on this node wake at
//! once.

mod changes;

pub use changes::{Change, NewChange};

use crate::db::{Dialect, Row, StoreResult, Tx, Val};
use crate::{Store, UnitOfWork, finish_keyset, like_prefix, params, push_keyset};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;

/// The PostgreSQL notification channel carrying `<instance>:<channel>:<change id>` (a
/// committed change) and `<instance>:<channel>:deleted` to every node's bus.
pub(crate) const NOTIFY_CHANNEL: &str = "rivia_changes";

/// Channel type `default` (one stream, no rooms).
pub const TYPE_DEFAULT: i64 = 0;
/// Channel type `separate_rooms` (one stream per room).
pub const TYPE_SEPARATE_ROOMS: i64 = 1;
/// The builtin channel every instance gets; it cannot be deleted.
pub const DEFAULT_CHANNEL: &str = "default";
/// The builtin channel of script traces; it can be neither deleted nor published to.
pub const EVENTLOG_CHANNEL: &str = "eventlog";
/// Changes kept per channel/room (Syncano's `list_max_size`).
pub(crate) const MAX_CHANGES: i64 = 1000;
/// Changes kept per room of the `eventlog` channel.
pub(crate) const MAX_EVENTLOG_CHANGES: i64 = 100;
/// Changes older than this are gone (Syncano's 24 h `CHANGES_TTL`).
pub(crate) const CHANGE_TTL_MICROS: i64 = 24 * 3600 * 1_000_000;

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

impl Channel {
    /// Whether publish/poll/history need a room.
    pub fn separate_rooms(&self) -> bool {
        self.kind == TYPE_SEPARATE_ROOMS
    }
}

/// Column list matching [`channel_from`].
pub(crate) const CHANNEL_COLUMNS: &str = "id, instance_id, name, description, type, group_id, group_permissions, other_permissions, custom_publish, created_at, updated_at";

/// Builds a [`Channel`] from a row selected with [`CHANNEL_COLUMNS`].
pub(crate) fn channel_from(mut r: Row) -> Channel {
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

/// The writable fields of a channel (name and type are fixed at creation).
#[derive(Debug, Clone, Default)]
pub struct ChannelValues {
    /// Description.
    pub description: String,
    /// Group id.
    pub group_id: Option<i64>,
    /// `ChannelPerm` as integer.
    pub group_permissions: i64,
    /// `ChannelPerm` as integer.
    pub other_permissions: i64,
    /// Whether `/publish/` is allowed.
    pub custom_publish: bool,
}

/// Which channels a list shows (spec-core §10.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelVisibility {
    /// Admins and `ignore_acl` keys: every channel.
    All,
    /// Anonymous-read keys: channels whose others may subscribe.
    OthersSubscribe,
    /// A user: others may subscribe, or the user's group may.
    User(i64),
}

/// The type of a channel (0 default, 1 separate rooms), inside `tx`; `None` if missing.
async fn channel_kind(tx: &mut Tx, instance_id: i64, name: &str) -> StoreResult<Option<i64>> {
    Ok(tx
        .query_opt(
            "SELECT type FROM channels WHERE instance_id = $1 AND name = $2",
            params![instance_id, name],
        )
        .await?
        .map(|r| r.i64(0)))
}

/// The channel operations of a unit of work (see [`UnitOfWork`]).
impl UnitOfWork {
    /// The type of a channel ([`TYPE_DEFAULT`] or [`TYPE_SEPARATE_ROOMS`]); `None` if
    /// there is no such channel.
    pub async fn channel_kind(&mut self, instance_id: i64, name: &str) -> StoreResult<Option<i64>> {
        channel_kind(&mut self.tx, instance_id, name).await
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

    /// Creates a channel; `Conflict` when the name is taken.
    pub async fn create_channel(
        &self,
        instance_id: i64,
        name: &str,
        kind: i64,
        v: &ChannelValues,
    ) -> StoreResult<Channel> {
        let mut tx = self.db.begin().await?;
        let now = now_micros();
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO channels (instance_id, name, description, type, group_id, group_permissions, other_permissions, custom_publish, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {CHANNEL_COLUMNS}"
                ),
                params![
                    instance_id,
                    name,
                    v.description.as_str(),
                    kind,
                    v.group_id,
                    v.group_permissions,
                    v.other_permissions,
                    v.custom_publish,
                    now
                ],
            )
            .await?;
        tx.commit().await?;
        // Pollers cache channels with the authentication data.
        self.auth_changed();
        Ok(channel_from(row))
    }

    /// One page of channels (keyed by id), filtered by visibility and a name prefix.
    pub async fn list_channels(
        &self,
        instance_id: i64,
        visibility: ChannelVisibility,
        name_prefix: Option<&str>,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Channel>> {
        let mut sql = format!("SELECT {CHANNEL_COLUMNS} FROM channels WHERE instance_id = $1");
        let mut p = params![instance_id];
        match visibility {
            ChannelVisibility::All => {}
            ChannelVisibility::OthersSubscribe => sql.push_str(" AND other_permissions >= 1"),
            ChannelVisibility::User(user_id) => {
                p.push(Val::Int(user_id));
                sql.push_str(&format!(
                    " AND (other_permissions >= 1 OR (group_id IS NOT NULL AND group_permissions >= 1 AND EXISTS (\
                     SELECT 1 FROM memberships m WHERE m.instance_id = channels.instance_id \
                     AND m.group_id = channels.group_id AND m.user_id = ${})))",
                    p.len()
                ));
            }
        }
        if let Some(prefix) = name_prefix {
            p.push(Val::Text(like_prefix(&prefix.to_lowercase())));
            sql.push_str(&format!(" AND name LIKE ${} ESCAPE '\\'", p.len()));
        }
        push_keyset(&mut sql, &mut p, "id", keyset);
        let rows = self.db.query(&sql, p).await?;
        Ok(finish_keyset(
            rows.into_iter().map(channel_from).collect(),
            keyset,
        ))
    }

    /// Saves the writable fields of a channel; `None` when it no longer exists.
    pub async fn update_channel(
        &self,
        instance_id: i64,
        id: i64,
        v: &ChannelValues,
    ) -> StoreResult<Option<Channel>> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE channels SET description = $3, group_id = $4, group_permissions = $5, \
                     other_permissions = $6, custom_publish = $7, updated_at = $8 \
                     WHERE instance_id = $1 AND id = $2 RETURNING {CHANNEL_COLUMNS}"
                ),
                params![
                    instance_id,
                    id,
                    v.description.as_str(),
                    v.group_id,
                    v.group_permissions,
                    v.other_permissions,
                    v.custom_publish,
                    now_micros()
                ],
            )
            .await?;
        tx.commit().await?;
        // Pollers cache channels with the authentication data.
        self.auth_changed();
        Ok(row.map(channel_from))
    }

    /// Deletes a channel with its history and ends the polls waiting on it, on every node.
    pub async fn delete_channel(&self, instance_id: i64, id: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "DELETE FROM changes WHERE instance_id = $1 AND channel_id = $2",
            params![instance_id, id],
        )
        .await?;
        let n = tx
            .exec(
                "DELETE FROM channels WHERE instance_id = $1 AND id = $2",
                params![instance_id, id],
            )
            .await?;
        if n > 0 && tx.dialect() == Dialect::Postgres {
            let payload = format!("{instance_id}:{id}:deleted");
            tx.exec(
                &format!("SELECT pg_notify('{NOTIFY_CHANNEL}', $1)"),
                params![payload],
            )
            .await?;
        }
        tx.commit().await?;
        // Pollers cache channels with the authentication data.
        self.auth_changed();
        if n > 0 {
            self.bus.channel_deleted(id);
        }
        Ok(n > 0)
    }
}
