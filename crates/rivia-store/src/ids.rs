//! Per-instance ids and the names derived from integer ids: the object table of a class,
//! the PostgreSQL sequence of an instance's object ids, and the counters that hand out
//! the small per-instance ids of users, groups, objects (SQLite) and changes. Names built
//! here never carry user text.

use crate::db::{StoreResult, Tx, params};

/// The object table of a class; the name comes from the integer id only.
pub(crate) fn table_name(class_id: i64) -> String {
    let mut name = String::with_capacity(12);
    name.push('c');
    crate::fragments::push_int(&mut name, class_id);
    name
}

/// The PostgreSQL sequence handing out an instance's object ids; the name comes from the
/// integer id only.
pub(crate) fn object_id_sequence(instance_id: i64) -> String {
    format!("rivia_objects_{instance_id}")
}

/// DDL creating an instance's object id sequence (PostgreSQL; run with the instance's
/// creation). No `CACHE`: each id is the next one, so ids grow in allocation order across
/// connections.
pub(crate) fn create_id_sequence_ddl(instance_id: i64) -> String {
    format!("CREATE SEQUENCE {}", object_id_sequence(instance_id))
}

/// DDL dropping an instance's object id sequence (PostgreSQL).
pub(crate) fn drop_id_sequence_ddl(instance_id: i64) -> String {
    format!(
        "DROP SEQUENCE IF EXISTS {}",
        object_id_sequence(instance_id)
    )
}

/// Allocates the next per-instance id of kind `$2` in instance `$1`, returning it.
pub(crate) const NEXT_ID_SQL: &str = "INSERT INTO instance_counters (instance_id, kind, value) VALUES ($1, $2, 1) \
     ON CONFLICT (instance_id, kind) DO UPDATE SET value = instance_counters.value + 1 \
     RETURNING value";

/// The next per-instance id of `kind` (users, groups, objects, changes): ids are small
/// integers counted per instance, as Syncano's per-tenant schemas gave them.
pub(crate) async fn next_instance_id(
    tx: &mut Tx,
    instance_id: i64,
    kind: &str,
) -> StoreResult<i64> {
    let row = tx
        .query_one(NEXT_ID_SQL, params![instance_id, kind])
        .await?;
    Ok(row.i64(0))
}
