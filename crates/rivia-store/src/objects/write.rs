//! Object writes: insert (with a new per-instance id), update, delete and the reads a
//! write makes inside its transaction (the locked current row, which referenced ids
//! exist). Outside the store they are operations of a [`UnitOfWork`].

use super::{OBJECT_COLUMNS, ObjectRow, ObjectValues, Visibility, object_from};
use crate::db::{Row, StoreResult, Tx};
use crate::ids::{NEXT_ID_SQL, object_id_sequence};
use crate::triggers::{ObjectEvent, object_event_statement, snapshot_if_update_triggers};
use crate::{UnitOfWork, params, table_name};
use rivia_core::time::now_micros;

/// A new object's values bound in order: created (and updated) time, owner, permissions,
/// group, channel, room, data.
fn new_object_params(v: &ObjectValues) -> Vec<crate::Val> {
    params![
        now_micros(),
        v.owner,
        v.owner_permissions,
        v.group_id,
        v.group_permissions,
        v.other_permissions,
        v.channel.clone(),
        v.channel_room.clone(),
        crate::Val::Json(v.data.clone())
    ]
}

/// The statements inserting an object, run as one round trip, and which of them returns
/// the inserted row. The last one enqueues the runs of the class's `create` triggers
/// (see [`crate::triggers`]).
///
/// SQLite (one writer, so no contention): the id from the instance's counter, the insert
/// reading the id that statement just allocated in the same transaction, and the class's
/// `objects_count` kept exact. PostgreSQL: the insert alone, its id from the instance's
/// sequence. Both rows the SQLite way would stay locked until COMMIT and serialise every
/// concurrent create of an instance behind the one committing; a sequence takes no row lock,
/// and the count is computed when a class is read (`rivia_objects_count`).
fn insert_statements(
    dialect: crate::Dialect,
    instance_id: i64,
    class_id: i64,
    v: &ObjectValues,
) -> (Vec<(String, Vec<crate::Val>)>, usize) {
    let table = table_name(class_id);
    match dialect {
        crate::Dialect::Postgres => {
            let sequence = object_id_sequence(instance_id);
            let insert = format!(
                "INSERT INTO {table} ({OBJECT_COLUMNS}) \
                 VALUES (nextval('{sequence}'), $1, $1, 1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {OBJECT_COLUMNS}"
            );
            let enqueue = object_event_statement(
                dialect,
                class_id,
                &format!("currval('{sequence}')"),
                ObjectEvent::Create,
            );
            (
                vec![
                    (insert, new_object_params(v)),
                    (enqueue, params![class_id, now_micros()]),
                ],
                0,
            )
        }
        crate::Dialect::Sqlite => {
            let insert = format!(
                "INSERT INTO {table} ({OBJECT_COLUMNS}) \
                 VALUES ((SELECT value FROM instance_counters WHERE instance_id = $1 AND kind = 'objects'), \
                 $2, $2, 1, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {OBJECT_COLUMNS}"
            );
            let statements = vec![
                (NEXT_ID_SQL.to_string(), params![instance_id, "objects"]),
                (
                    insert,
                    [vec![crate::Val::Int(instance_id)], new_object_params(v)].concat(),
                ),
                (
                    "UPDATE classes SET objects_count = objects_count + 1 WHERE id = $1"
                        .to_string(),
                    params![class_id],
                ),
                (
                    object_event_statement(
                        dialect,
                        class_id,
                        "(SELECT value FROM instance_counters WHERE instance_id = k.instance_id AND kind = 'objects')",
                        ObjectEvent::Create,
                    ),
                    params![class_id, now_micros()],
                ),
            ];
            (statements, 1)
        }
    }
}

/// Whether the last statement of a write (its trigger enqueue) enqueued jobs.
fn enqueued_jobs(results: &[Vec<Row>]) -> bool {
    results.last().is_some_and(|rows| !rows.is_empty())
}

/// The row of the statement at `at` that inserted an object.
fn inserted_row(results: Vec<Vec<Row>>, at: usize) -> StoreResult<ObjectRow> {
    results
        .into_iter()
        .nth(at)
        .and_then(|rows| rows.into_iter().next())
        .map(object_from)
        .ok_or_else(|| crate::StoreError::Internal("object insert returned no row".into()))
}

/// Inserts an object into a class table, inside `tx`, with a new id of the instance.
pub(crate) async fn insert_object(
    tx: &mut Tx,
    instance_id: i64,
    class_id: i64,
    v: &ObjectValues,
) -> StoreResult<ObjectRow> {
    let (statements, at) = insert_statements(tx.dialect(), instance_id, class_id, v);
    let results = tx.query_many(statements).await?;
    if enqueued_jobs(&results) {
        tx.enqueued_jobs();
    }
    inserted_row(results, at)
}

/// [`insert_object`] as the last write of `tx`, committed in the same round trip (the
/// common create: no change event to append after the insert).
pub(crate) async fn insert_object_and_commit(
    tx: Tx,
    instance_id: i64,
    class_id: i64,
    v: &ObjectValues,
) -> StoreResult<ObjectRow> {
    let (statements, at) = insert_statements(tx.dialect(), instance_id, class_id, v);
    let wake = tx.job_wake();
    let results = tx.query_many_and_commit(statements).await?;
    if enqueued_jobs(&results) {
        wake.notify_one();
    }
    inserted_row(results, at)
}

/// Writes the full new state of an object, bumping the revision when `bump` is set, and
/// enqueues the runs of the class's `update` triggers with the states before and after.
pub(crate) async fn update_object(
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
    let update = params![
        id,
        now_micros(),
        bump as i64,
        v.owner,
        v.owner_permissions,
        v.group_id,
        v.group_permissions,
        v.other_permissions,
        crate::Val::Json(v.data.clone())
    ];
    // One round trip: the state before (only when an update trigger matches) and the update.
    let before = snapshot_if_update_triggers(tx.dialect(), class_id);
    let mut results = tx
        .query_many(vec![(before, params![class_id, id]), (sql, update)])
        .await?
        .into_iter();
    let before = results.next().and_then(|rows| rows.into_iter().next());
    let row = results
        .next()
        .and_then(|rows| rows.into_iter().next())
        .map(object_from);
    if let (Some(mut before), Some(_)) = (before, &row) {
        enqueue_object_event(
            tx,
            class_id,
            id,
            ObjectEvent::Update,
            Some(before.take_string(0)),
        )
        .await?;
    }
    Ok(row)
}

/// Enqueues the runs of the class's `update` triggers for an object left as it is by a
/// write of its owner (a user's username or password through `users/`: the platform fires
/// the profile's update triggers for those too).
pub(crate) async fn touch_object(tx: &mut Tx, class_id: i64, id: i64) -> StoreResult<()> {
    let before = snapshot_if_update_triggers(tx.dialect(), class_id);
    if let Some(mut row) = tx.query_opt(&before, params![class_id, id]).await? {
        enqueue_object_event(
            tx,
            class_id,
            id,
            ObjectEvent::Update,
            Some(row.take_string(0)),
        )
        .await?;
    }
    Ok(())
}

/// Enqueues the runs of the triggers matching `event` on object `id` as it is now (with
/// `old`, JSON text, for updates).
pub(crate) async fn enqueue_object_event(
    tx: &mut Tx,
    class_id: i64,
    id: i64,
    event: ObjectEvent,
    old: Option<String>,
) -> StoreResult<()> {
    let sql = object_event_statement(tx.dialect(), class_id, "$3", event);
    let mut p = params![class_id, now_micros(), id];
    if let Some(old) = old {
        p.push(old.into());
    }
    if !tx.query(&sql, p).await?.is_empty() {
        tx.enqueued_jobs();
    }
    Ok(())
}

/// Deletes an object, inside `tx`, enqueuing the runs of the class's `delete` triggers
/// with its last state; false when it did not exist.
pub(crate) async fn delete_object(tx: &mut Tx, class_id: i64, id: i64) -> StoreResult<bool> {
    enqueue_object_event(tx, class_id, id, ObjectEvent::Delete, None).await?;
    let n = tx
        .exec(
            &format!("DELETE FROM {} WHERE id = $1", table_name(class_id)),
            params![id],
        )
        .await?;
    // Only SQLite keeps the count on the class row (see `insert_statements`).
    if n > 0 && tx.dialect() == crate::Dialect::Sqlite {
        tx.exec(
            "UPDATE classes SET objects_count = objects_count - 1 WHERE id = $1",
            params![class_id],
        )
        .await?;
    }
    Ok(n > 0)
}

/// Where reference and relation ids point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefTarget {
    /// Objects of a class table.
    Class(i64),
    /// Users of the instance.
    Users,
}

/// Which of `ids` exist in the target, inside `tx`; of a class, only those `visibility`
/// shows (what the caller may not read counts as missing).
pub(crate) async fn existing_ids(
    tx: &mut Tx,
    instance_id: i64,
    target: RefTarget,
    ids: &[i64],
    visibility: &Visibility,
) -> StoreResult<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut p = Vec::new();
    let sql = match target {
        RefTarget::Class(class_id) => {
            let list = crate::push_in_list(&mut p, ids.iter().map(|i| crate::Val::Int(*i)));
            let mut sql = format!(
                "SELECT id FROM {} WHERE id IN ({list})",
                table_name(class_id)
            );
            super::push_visibility(&mut sql, &mut p, visibility);
            sql
        }
        RefTarget::Users => {
            p.push(crate::Val::Int(instance_id));
            let list = crate::push_in_list(&mut p, ids.iter().map(|i| crate::Val::Int(*i)));
            format!("SELECT id FROM users WHERE instance_id = $1 AND id IN ({list})")
        }
    };
    Ok(tx.query(&sql, p).await?.iter().map(|r| r.i64(0)).collect())
}

/// Reads one object inside `tx`, locking it for the rest of the transaction on PostgreSQL.
pub(crate) async fn lock_object(
    tx: &mut Tx,
    class_id: i64,
    id: i64,
) -> StoreResult<Option<ObjectRow>> {
    let lock = if tx.dialect() == crate::Dialect::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {OBJECT_COLUMNS} FROM {} WHERE id = $1{lock}",
        table_name(class_id)
    );
    Ok(tx.query_opt(&sql, params![id]).await?.map(object_from))
}

/// The id of a class of the instance by (lowercase) name, inside `tx`.
async fn class_id_by_name(tx: &mut Tx, instance_id: i64, name: &str) -> StoreResult<Option<i64>> {
    Ok(tx
        .query_opt(
            "SELECT id FROM classes WHERE instance_id = $1 AND name = $2",
            params![instance_id, name],
        )
        .await?
        .map(|r| r.i64(0)))
}

/// The object operations of a unit of work (see [`UnitOfWork`]).
impl UnitOfWork {
    /// Inserts an object into a class table with a new id of the instance.
    pub async fn insert_object(
        &mut self,
        instance_id: i64,
        class_id: i64,
        v: &ObjectValues,
    ) -> StoreResult<ObjectRow> {
        insert_object(&mut self.tx, instance_id, class_id, v).await
    }

    /// [`UnitOfWork::insert_object`] as the unit's last write, committed in the same
    /// round trip (the common create: no change event to append after the insert).
    pub async fn insert_object_and_commit(
        self,
        instance_id: i64,
        class_id: i64,
        v: &ObjectValues,
    ) -> StoreResult<ObjectRow> {
        insert_object_and_commit(self.tx, instance_id, class_id, v).await
    }

    /// Writes the full new state of an object, bumping the revision when `bump` is set;
    /// `None` when it does not exist.
    pub async fn update_object(
        &mut self,
        class_id: i64,
        id: i64,
        v: &ObjectValues,
        bump: bool,
    ) -> StoreResult<Option<ObjectRow>> {
        update_object(&mut self.tx, class_id, id, v, bump).await
    }

    /// Deletes an object; false when it did not exist.
    pub async fn delete_object(&mut self, class_id: i64, id: i64) -> StoreResult<bool> {
        delete_object(&mut self.tx, class_id, id).await
    }

    /// Reads one object, locking it until the unit ends on PostgreSQL (SQLite's writer
    /// is held already), so read-modify-write operators never lose updates.
    pub async fn lock_object(&mut self, class_id: i64, id: i64) -> StoreResult<Option<ObjectRow>> {
        lock_object(&mut self.tx, class_id, id).await
    }

    /// Which of `ids` exist in `target` (of a class: among those `visibility` shows).
    pub async fn existing_ids(
        &mut self,
        instance_id: i64,
        target: RefTarget,
        ids: &[i64],
        visibility: &Visibility,
    ) -> StoreResult<Vec<i64>> {
        existing_ids(&mut self.tx, instance_id, target, ids, visibility).await
    }

    /// The id of a class of the instance by (lowercase) name; `None` when missing.
    pub async fn class_id_by_name(
        &mut self,
        instance_id: i64,
        name: &str,
    ) -> StoreResult<Option<i64>> {
        class_id_by_name(&mut self.tx, instance_id, name).await
    }
}
