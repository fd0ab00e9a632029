//! Triggers (rest §3, spec-scripts §8): a script run after every committed create, update
//! or delete of an object of a class. Matching happens inside the object write's own
//! transaction: the write's statements include one that inserts a `trigger` job per
//! matching trigger (see [`crate::jobs`]) with a snapshot of the object, so a committed
//! change always has its runs recorded and a rolled-back one has none. Every object write
//! of the store goes through [`object_event_statement`] (objects, batch, data endpoints,
//! users' profiles).

use crate::db::{Dialect, Row, StoreResult};
use crate::{Store, next_instance_id, params, table_name};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;

/// The job kind (and trace kind) of trigger runs.
pub const JOB_KIND: &str = "trigger";

/// A stored trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// Id (per instance).
    pub id: i64,
    /// Label.
    pub label: String,
    /// Description.
    pub description: String,
    /// `create`, `update` or `delete`.
    pub signal: String,
    /// Name of the class whose objects fire it.
    pub class_name: String,
    /// The script it runs.
    pub script_id: i64,
    /// Creation time, µs.
    pub created_at: i64,
    /// Last update time, µs.
    pub updated_at: i64,
}

/// The fields a write sets.
#[derive(Debug, Clone)]
pub struct TriggerValues {
    /// Label.
    pub label: String,
    /// Description.
    pub description: String,
    /// `create`, `update` or `delete`.
    pub signal: String,
    /// Class name.
    pub class_name: String,
    /// Script id (must exist).
    pub script_id: i64,
}

const COLUMNS: &str =
    "id, label, description, signal, class_name, script_id, created_at, updated_at";

fn trigger_from(mut r: Row) -> Trigger {
    Trigger {
        id: r.i64(0),
        label: r.take_string(1),
        description: r.take_string(2),
        signal: r.take_string(3),
        class_name: r.take_string(4),
        script_id: r.i64(5),
        created_at: r.i64(6),
        updated_at: r.i64(7),
    }
}

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectEvent {
    /// Created; the snapshot is the new state.
    Create,
    /// Updated; the snapshots are the state before (`old`) and after (`new`).
    Update,
    /// Deleted; the snapshot is the last state.
    Delete,
}

impl ObjectEvent {
    /// The stored signal name.
    pub fn signal(self) -> &'static str {
        match self {
            ObjectEvent::Create => "create",
            ObjectEvent::Update => "update",
            ObjectEvent::Delete => "delete",
        }
    }
}

/// SQL building a JSON object of the object row `o` (its columns, `data` as an object),
/// the snapshot a trigger job carries.
pub(crate) fn object_snapshot_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "json_object('id', o.id, 'created_at', o.created_at, 'updated_at', o.updated_at, \
             'revision', o.revision, 'owner', o.owner, 'owner_permissions', o.owner_permissions, \
             'group_id', o.group_id, 'group_permissions', o.group_permissions, \
             'other_permissions', o.other_permissions, 'channel', o.channel, \
             'channel_room', o.channel_room, 'data', json(o.data))"
        }
        Dialect::Postgres => {
            "json_build_object('id', o.id, 'created_at', o.created_at, 'updated_at', o.updated_at, \
             'revision', o.revision, 'owner', o.owner, 'owner_permissions', o.owner_permissions, \
             'group_id', o.group_id, 'group_permissions', o.group_permissions, \
             'other_permissions', o.other_permissions, 'channel', o.channel, \
             'channel_room', o.channel_room, 'data', o.data)"
        }
    }
}

/// The statement that enqueues one job per trigger matching `event` on the object
/// `object_id_sql` (an SQL expression: the id just allocated, or `$3`) of class `$1` at
/// time `$2`, with the snapshot of the object as it is when the statement runs, plus `old`
/// (bound as `$4`, JSON text) for updates. Returns the ids of the jobs (none when nothing
/// matches: then the statement costs one index probe).
pub(crate) fn object_event_statement(
    dialect: Dialect,
    class_id: i64,
    object_id_sql: &str,
    event: ObjectEvent,
) -> String {
    let snapshot = object_snapshot_sql(dialect);
    let signal = event.signal();
    let (key, old) = match (event, dialect) {
        (ObjectEvent::Update, Dialect::Sqlite) => ("new", ", 'old', json($4)"),
        (ObjectEvent::Update, Dialect::Postgres) => {
            ("new", ", 'old', CAST(CAST($4 AS TEXT) AS json)")
        }
        (ObjectEvent::Create, _) => ("new", ""),
        (ObjectEvent::Delete, _) => ("old", ""),
    };
    let payload = match dialect {
        Dialect::Sqlite => {
            format!("json_object('signal', '{signal}', 'class', k.id, '{key}', {snapshot}{old})")
        }
        Dialect::Postgres => format!(
            "CAST(json_build_object('signal', '{signal}', 'class', k.id, '{key}', {snapshot}{old}) AS TEXT)"
        ),
    };
    format!(
        "INSERT INTO jobs (kind, instance_id, parent, payload, due_at, created_at) \
         SELECT '{JOB_KIND}', t.instance_id, CAST(t.id AS TEXT), {payload}, CAST($2 AS BIGINT), CAST($2 AS BIGINT) \
         FROM classes k \
         JOIN triggers t ON t.instance_id = k.instance_id AND t.class_name = k.name AND t.signal = '{signal}' \
         JOIN {table} o ON o.id = {object_id_sql} WHERE k.id = $1 \
         RETURNING id",
        table = table_name(class_id),
    )
}

/// The statement reading the snapshot of object `$2` of class `$1` when an update trigger
/// matches it (no row when none does), taken before an update.
pub(crate) fn snapshot_if_update_triggers(dialect: Dialect, class_id: i64) -> String {
    let snapshot = match dialect {
        Dialect::Sqlite => object_snapshot_sql(dialect).to_owned(),
        Dialect::Postgres => format!("CAST({} AS TEXT)", object_snapshot_sql(dialect)),
    };
    format!(
        "SELECT {snapshot} FROM {table} o WHERE o.id = $2 AND EXISTS (SELECT 1 FROM classes k \
         JOIN triggers t ON t.instance_id = k.instance_id AND t.class_name = k.name \
         AND t.signal = 'update' WHERE k.id = $1)",
        table = table_name(class_id)
    )
}

impl Store {
    /// Creates a trigger.
    pub async fn create_trigger(
        &self,
        instance_id: i64,
        v: &TriggerValues,
    ) -> StoreResult<Trigger> {
        let mut tx = self.db.begin().await?;
        let id = next_instance_id(&mut tx, instance_id, "triggers").await?;
        let now = now_micros();
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO triggers (instance_id, id, label, description, signal, class_name, script_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {COLUMNS}"
                ),
                params![instance_id, id, &v.label, &v.description, &v.signal, &v.class_name, v.script_id, now],
            )
            .await?;
        tx.commit().await?;
        Ok(trigger_from(row))
    }

    /// A trigger by id.
    pub async fn trigger(&self, instance_id: i64, id: i64) -> StoreResult<Option<Trigger>> {
        let sql = format!("SELECT {COLUMNS} FROM triggers WHERE instance_id = $1 AND id = $2");
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, id])
            .await?
            .map(trigger_from))
    }

    /// One page of triggers.
    pub async fn list_triggers(
        &self,
        instance_id: i64,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Trigger>> {
        let sql = format!("SELECT {COLUMNS} FROM triggers WHERE instance_id = $1");
        self.list_page(sql, "id", instance_id, keyset, trigger_from)
            .await
    }

    /// Saves a trigger; `None` when it no longer exists. Runs already enqueued are
    /// matched again when they start, so a trigger moved to another class or signal no
    /// longer runs for the old one.
    pub async fn update_trigger(
        &self,
        instance_id: i64,
        id: i64,
        v: &TriggerValues,
    ) -> StoreResult<Option<Trigger>> {
        let sql = format!(
            "UPDATE triggers SET label = $3, description = $4, signal = $5, class_name = $6, script_id = $7, updated_at = $8 \
             WHERE instance_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        self.write_returning(
            &sql,
            params![
                instance_id,
                id,
                &v.label,
                &v.description,
                &v.signal,
                &v.class_name,
                v.script_id,
                now_micros()
            ],
            trigger_from,
        )
        .await
    }

    /// Deletes a trigger with its pending runs and its traces.
    pub async fn delete_trigger(&self, instance_id: i64, id: i64) -> StoreResult<bool> {
        self.delete_job_owner("triggers", JOB_KIND, instance_id, id)
            .await
    }
}
