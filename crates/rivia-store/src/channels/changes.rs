//! The change history of channels: appending a change inside a unit of work, reading
//! a channel/room's history, and retention (24 h, newest 1,000 per channel/room; 100
//! for `eventlog`).

use super::{
    CHANGE_TTL_MICROS, EVENTLOG_CHANNEL, MAX_CHANGES, MAX_EVENTLOG_CHANGES, NOTIFY_CHANNEL,
};
use crate::db::{Dialect, Row, StoreResult, Tx, Val};
use crate::{Store, UnitOfWork, finish_keyset, next_instance_id, params, push_keyset};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;
use std::sync::OnceLock;

/// A change of a channel: a custom message or a data-object event.
#[derive(Debug)]
pub struct Change {
    /// Id, per instance (shared by all channels of the instance).
    pub id: i64,
    /// Instance id.
    pub instance_id: i64,
    /// Channel id.
    pub channel_id: i64,
    /// Lowercase room, for separate-rooms channels.
    pub room: Option<String>,
    /// `custom`, `create`, `update` or `delete`.
    pub action: String,
    /// Author as JSON text (`{"admin": 1}`, `{"api_key": 2, "user": 3}`).
    pub author: String,
    /// Metadata as JSON text.
    pub metadata: String,
    /// Payload as JSON text.
    pub payload: String,
    /// Created, µs.
    pub created_at: i64,
    /// The id of the change before this one in the same channel/room (0: none). A poller
    /// whose cursor is at least this id can take this change without reading the table.
    pub prev_id: i64,
    message: OnceLock<String>,
}

impl Change {
    /// A change with empty contents, for the bus's unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(
        id: i64,
        instance_id: i64,
        channel_id: i64,
        room: Option<String>,
        prev_id: i64,
    ) -> Change {
        Change {
            id,
            instance_id,
            channel_id,
            room,
            action: "custom".into(),
            author: "{}".into(),
            metadata: "{}".into(),
            payload: "{}".into(),
            created_at: 0,
            prev_id,
            message: OnceLock::new(),
        }
    }

    /// The message form delivered by poll and WebSocket: ChangeJSON without `links`,
    /// rendered once however many pollers receive it.
    pub fn message(&self) -> &str {
        self.message.get_or_init(|| {
            let created = serde_json::Value::String(rivia_core::time::format_micros(
                self.created_at,
            ));
            let action = serde_json::Value::String(self.action.clone());
            format!(
                "{{\"id\":{},\"created_at\":{created},\"action\":{action},\"author\":{},\"metadata\":{},\"payload\":{}}}",
                self.id, self.author, self.metadata, self.payload
            )
        })
    }
}

/// A change to append (see [`append_change`]).
#[derive(Debug, Clone)]
pub struct NewChange {
    /// Instance id.
    pub instance_id: i64,
    /// Channel id.
    pub channel_id: i64,
    /// Room; lowercased on write. Ignored (stored as none) is the caller's business: pass
    /// `None` for channels of type `default`.
    pub room: Option<String>,
    /// `custom`, `create`, `update` or `delete`.
    pub action: String,
    /// Author JSON text.
    pub author: String,
    /// Metadata JSON text.
    pub metadata: String,
    /// Payload JSON text.
    pub payload: String,
}

const CHANGE_COLUMNS: &str =
    "id, instance_id, channel_id, room, action, author, metadata, payload, created_at";

fn change_from(mut r: Row, prev_id: i64) -> Change {
    Change {
        id: r.i64(0),
        instance_id: r.i64(1),
        channel_id: r.i64(2),
        room: r.take_opt_string(3),
        action: r.take_string(4),
        author: r.take_string(5),
        metadata: r.take_string(6),
        payload: r.take_string(7),
        created_at: r.i64(8),
        prev_id,
        message: OnceLock::new(),
    }
}

/// `room IS NULL` or `room = $n` (binding the room after `params`).
fn room_condition(params: &mut Vec<Val>, room: Option<&str>) -> String {
    match room {
        None => "room IS NULL".to_string(),
        Some(r) => {
            params.push(Val::Text(r.to_string()));
            format!("room = ${}", params.len())
        }
    }
}

/// The newest change id of a channel/room at or below `below` (exclusive), 0 when none.
async fn prev_change_id(
    tx: &mut Tx,
    channel_id: i64,
    room: Option<&str>,
    below: i64,
) -> StoreResult<i64> {
    let mut p = params![channel_id, below];
    let cond = room_condition(&mut p, room);
    let row = tx
        .query_opt(
            &format!("SELECT MAX(id) FROM changes WHERE channel_id = $1 AND id < $2 AND {cond}"),
            p,
        )
        .await?;
    Ok(row.and_then(|r| r.opt_i64(0)).unwrap_or(0))
}

/// Appends a change inside the caller's write transaction and, on PostgreSQL, queues
/// `NOTIFY rivia_changes '<instance>:<channel>:<change>'`, delivered to every node only if
/// the transaction commits. After a successful commit the caller must pass the returned
/// change to [`crate::bus::ChangeBus::committed`] so local pollers wake without waiting
/// for the notification (and, on SQLite, at all).
pub(crate) async fn append_change(tx: &mut Tx, change: &NewChange) -> StoreResult<Change> {
    let id = next_instance_id(tx, change.instance_id, "changes").await?;
    let room = change.room.as_ref().map(|r| r.to_lowercase());
    let prev_id = prev_change_id(tx, change.channel_id, room.as_deref(), id).await?;
    let sql = format!(
        "INSERT INTO changes ({CHANGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         RETURNING {CHANGE_COLUMNS}"
    );
    let row = tx
        .query_one(
            &sql,
            params![
                id,
                change.instance_id,
                change.channel_id,
                room,
                change.action.as_str(),
                change.author.as_str(),
                change.metadata.as_str(),
                change.payload.as_str(),
                now_micros()
            ],
        )
        .await?;
    if tx.dialect() == Dialect::Postgres {
        let payload = format!("{}:{}:{}", change.instance_id, change.channel_id, id);
        tx.exec(
            &format!("SELECT pg_notify('{NOTIFY_CHANNEL}', $1)"),
            params![payload],
        )
        .await?;
    }
    Ok(change_from(row, prev_id))
}

/// The change operations of a unit of work (see [`UnitOfWork`]).
impl UnitOfWork {
    /// Appends a change event (see [`append_change`]). After the unit commits, hand
    /// the returned change to [`crate::bus::ChangeBus::committed`].
    pub async fn append_change(&mut self, change: &NewChange) -> StoreResult<Change> {
        append_change(&mut self.tx, change).await
    }
}

impl Store {
    /// Publishes a custom message: appends the change in its own transaction and wakes the
    /// pollers.
    pub async fn publish_change(&self, change: &NewChange) -> StoreResult<std::sync::Arc<Change>> {
        let mut tx = self.db.begin().await?;
        let saved = append_change(&mut tx, change).await?;
        tx.commit().await?;
        Ok(self.bus.committed(saved))
    }

    /// One page of a channel/room's history (keyed by id); `after` keeps ids > after only.
    pub async fn list_changes(
        &self,
        channel_id: i64,
        room: Option<&str>,
        after: Option<i64>,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Change>> {
        let mut p = params![channel_id, now_micros() - CHANGE_TTL_MICROS];
        let cond = room_condition(&mut p, room);
        let mut sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE channel_id = $1 AND created_at >= $2 AND {cond}"
        );
        if let Some(after) = after {
            p.push(Val::Int(after));
            sql.push_str(&format!(" AND id > ${}", p.len()));
        }
        push_keyset(&mut sql, &mut p, "id", keyset);
        let rows = self.db.query(&sql, p).await?;
        Ok(finish_keyset(
            rows.into_iter().map(|r| change_from(r, 0)).collect(),
            keyset,
        ))
    }

    /// One change of a channel/room's history.
    pub async fn change(
        &self,
        channel_id: i64,
        room: Option<&str>,
        id: i64,
    ) -> StoreResult<Option<Change>> {
        let mut p = params![channel_id, now_micros() - CHANGE_TTL_MICROS, id];
        let cond = room_condition(&mut p, room);
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE channel_id = $1 AND created_at >= $2 AND id = $3 AND {cond}"
        );
        Ok(self.db.query_opt(&sql, p).await?.map(|r| change_from(r, 0)))
    }

    /// The oldest changes of a channel/room with id > `after`, oldest first (for pollers).
    pub async fn changes_after(
        &self,
        channel_id: i64,
        room: Option<&str>,
        after: i64,
        limit: i64,
    ) -> StoreResult<Vec<Change>> {
        let mut p = params![channel_id, now_micros() - CHANGE_TTL_MICROS, after];
        let cond = room_condition(&mut p, room);
        // A literal limit (from code, not input): SQLite re-prepares statements whose
        // LIMIT is bound.
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM changes WHERE channel_id = $1 AND created_at >= $2 \
             AND id > $3 AND {cond} ORDER BY id ASC LIMIT {}",
            limit.max(0)
        );
        let rows = self.db.query(&sql, p).await?;
        let mut prev = after;
        Ok(rows
            .into_iter()
            .map(|r| {
                let c = change_from(r, prev);
                prev = c.id;
                c
            })
            .collect())
    }

    /// The newest change id of a channel/room (0 when it has none).
    pub async fn last_change_id(&self, channel_id: i64, room: Option<&str>) -> StoreResult<i64> {
        let mut p = params![channel_id];
        let cond = room_condition(&mut p, room);
        let row = self
            .db
            .query_opt(
                &format!("SELECT MAX(id) FROM changes WHERE channel_id = $1 AND {cond}"),
                p,
            )
            .await?;
        Ok(row.and_then(|r| r.opt_i64(0)).unwrap_or(0))
    }

    /// A change by instance and id, with its predecessor in its channel/room (used when a
    /// notification from another node arrives).
    pub(crate) async fn change_by_id(
        &self,
        instance_id: i64,
        id: i64,
    ) -> StoreResult<Option<Change>> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS}, (SELECT MAX(p.id) FROM changes p WHERE p.channel_id = c.channel_id \
             AND p.id < c.id AND (p.room = c.room OR (p.room IS NULL AND c.room IS NULL))) \
             FROM changes c WHERE c.instance_id = $1 AND c.id = $2"
        );
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, id])
            .await?
            .map(|r| {
                let prev = r.opt_i64(9).unwrap_or(0);
                change_from(r, prev)
            }))
    }

    /// Enforces retention: drops changes older than 24 h, and trims each channel/room in
    /// `touched` to its newest 1,000 changes (100 for `eventlog`). Returns rows deleted.
    pub(crate) async fn prune_changes(
        &self,
        touched: &[(i64, Option<String>)],
    ) -> StoreResult<u64> {
        let mut tx = self.db.begin().await?;
        let mut deleted = tx
            .exec(
                "DELETE FROM changes WHERE created_at < $1",
                params![now_micros() - CHANGE_TTL_MICROS],
            )
            .await?;
        for (channel_id, room) in touched {
            let keep = match tx
                .query_opt(
                    "SELECT name FROM channels WHERE id = $1",
                    params![*channel_id],
                )
                .await?
            {
                Some(r) if r.str(0) == EVENTLOG_CHANNEL => MAX_EVENTLOG_CHANGES,
                Some(_) => MAX_CHANGES,
                None => continue,
            };
            let mut p = params![*channel_id, keep];
            let cond = room_condition(&mut p, room.as_deref());
            let boundary = tx
                .query_opt(
                    &format!(
                        "SELECT id FROM changes WHERE channel_id = $1 AND {cond} \
                         ORDER BY id DESC LIMIT 1 OFFSET $2"
                    ),
                    p,
                )
                .await?;
            if let Some(b) = boundary {
                let mut p = params![*channel_id, b.i64(0)];
                let cond = room_condition(&mut p, room.as_deref());
                deleted += tx
                    .exec(
                        &format!(
                            "DELETE FROM changes WHERE channel_id = $1 AND id <= $2 AND {cond}"
                        ),
                        p,
                    )
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
