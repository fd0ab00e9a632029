//! Restoring an archive: checked whole first (format version, every checksum), then
//! applied in ONE transaction, so a restore that fails or is killed leaves the target as
//! it was. Ids and keys are kept wherever the target database has them free, which is
//! always the case when moving an instance to another database; a copy within one
//! database gets fresh database-wide ids and keys where the originals are taken.

use super::archive::{ArchiveError, MemberInfo, read_archive};
use super::codec::{decode_row, lines};
use super::tables::{OBJECT_COLUMNS, TABLES, Table, column_list, table_named};
use super::{BackupError, Progress, valid_file_name};
use crate::db::{Dialect, Statement, Tx, Val};
use crate::{Store, params, table_name};
use rivia_core::schema::{FieldType, Schema};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Where a restore goes.
#[derive(Debug, Clone, Copy)]
pub enum RestoreTarget<'a> {
    /// An existing instance, which must hold no data. `job` is the restore row marked
    /// successful in the restore's own transaction.
    Instance {
        /// Instance id.
        id: i64,
        /// Restore row id.
        job: Option<i64>,
    },
    /// A new instance of this name, made from the archive's instance and admins (the
    /// command line moving an instance to another database).
    New {
        /// Instance name.
        name: &'a str,
    },
}

/// What a restore did.
#[derive(Debug, Clone, Default)]
pub struct RestoreSummary {
    /// The instance restored into.
    pub instance_id: i64,
    /// Rows of listed tables.
    pub rows: u64,
    /// Data objects.
    pub objects: u64,
    /// Files written.
    pub files: u64,
    /// Bytes of files written.
    pub file_bytes: u64,
    /// Database-wide ids that were taken in the target and replaced.
    pub new_ids: u64,
    /// Keys that were taken in the target and replaced.
    pub new_keys: u64,
}

fn invalid(what: impl Into<String>) -> BackupError {
    BackupError::Invalid(what.into())
}

/// Rows per INSERT statement and statements per trip to the database.
const ROWS_PER_INSERT: usize = 200;
const INSERTS_PER_TRIP: usize = 5;

/// A class restored: its new id and schema.
struct RestoredClass {
    id: i64,
    schema: Schema,
}

/// The state of a restore between members.
struct Apply<'a> {
    target: RestoreTarget<'a>,
    files_dir: &'a Path,
    progress: &'a dyn Progress,
    dialect: Dialect,
    instance_id: i64,
    source_instance_id: i64,
    /// Database-wide ids, old → new, per table.
    ids: HashMap<&'static str, HashMap<i64, i64>>,
    classes: HashMap<i64, RestoredClass>,
    written: Vec<PathBuf>,
    max_object_id: i64,
    summary: RestoreSummary,
}

impl Store {
    /// Restores the archive at `archive` (see the module documentation). `files_dir` is
    /// where uploaded files live (`<data-dir>/files`).
    pub async fn restore_backup(
        &self,
        archive: &Path,
        target: RestoreTarget<'_>,
        files_dir: &Path,
        progress: &dyn Progress,
    ) -> Result<RestoreSummary, BackupError> {
        let path = archive.to_path_buf();
        let manifest = tokio::task::spawn_blocking(move || read_archive(&path, |_, _| Ok(())))
            .await
            .map_err(|e| BackupError::Io(e.to_string()))??;
        let listed: HashMap<String, MemberInfo> = manifest
            .members
            .into_iter()
            .map(|m| (m.name.clone(), m))
            .collect();
        let (send, members) = flume::bounded::<Result<(String, Vec<u8>), ArchiveError>>(2);
        let path = archive.to_path_buf();
        std::thread::Builder::new()
            .name("rivia-restore-reader".into())
            .spawn(move || {
                let read = read_archive(&path, |info, bytes| {
                    // The file was checked a moment ago; check again that it did not change.
                    if listed.get(&info.name).map(|m| &m.sha256) != Some(&info.sha256) {
                        return Err(ArchiveError::Damaged(format!(
                            "member {} changed while it was being restored",
                            info.name
                        )));
                    }
                    send.send(Ok((info.name.clone(), bytes)))
                        .map_err(|_| ArchiveError::Io("restore stopped".into()))
                });
                if let Err(e) = read {
                    let _ = send.send(Err(e));
                }
            })
            .map_err(|e| BackupError::Io(e.to_string()))?;
        let mut apply = Apply {
            target,
            files_dir,
            progress,
            dialect: self.db.dialect(),
            instance_id: 0,
            source_instance_id: 0,
            ids: HashMap::new(),
            classes: HashMap::new(),
            written: Vec::new(),
            max_object_id: 0,
            summary: RestoreSummary::default(),
        };
        let mut tx = self.db.begin().await?;
        let result = apply.run(&mut tx, members).await;
        let result = match result {
            Ok(()) => tx.commit().await.map_err(BackupError::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                self.auth_changed();
                apply.summary.instance_id = apply.instance_id;
                Ok(apply.summary)
            }
            Err(e) => {
                for f in &apply.written {
                    let _ = std::fs::remove_file(f);
                }
                Err(e)
            }
        }
    }
}

impl Apply<'_> {
    async fn run(
        &mut self,
        tx: &mut Tx,
        members: flume::Receiver<Result<(String, Vec<u8>), ArchiveError>>,
    ) -> Result<(), BackupError> {
        let mut started = false;
        while let Ok(member) = members.recv_async().await {
            let (name, bytes) = member?;
            if !started {
                if name != "instance.json" {
                    return Err(invalid("it does not start with instance.json"));
                }
                self.start(tx, &bytes).await?;
                started = true;
                continue;
            }
            self.member(tx, &name, bytes).await?;
        }
        if !started {
            return Err(invalid("it holds no instance"));
        }
        self.finish(tx).await
    }

    /// Sets up the target from `instance.json`: an empty existing instance, cleared of the
    /// rows every instance starts with, or a new one.
    async fn start(&mut self, tx: &mut Tx, bytes: &[u8]) -> Result<(), BackupError> {
        let instance: Value =
            serde_json::from_slice(bytes).map_err(|_| invalid("instance.json is unreadable"))?;
        self.source_instance_id = instance["id"].as_i64().unwrap_or(0);
        self.instance_id = match self.target {
            RestoreTarget::Instance { id, .. } => id,
            RestoreTarget::New { name } => create_instance(tx, name, &instance).await?,
        };
        check_empty(tx, self.instance_id).await?;
        clear_instance(tx, self.instance_id).await
    }

    async fn member(&mut self, tx: &mut Tx, name: &str, bytes: Vec<u8>) -> Result<(), BackupError> {
        let mut parts = name.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("tables"), Some(table), Some(_)) => {
                let table = table_named(table).ok_or_else(|| {
                    invalid(format!(
                        "it holds table {table}, unknown to this version of Rivia"
                    ))
                })?;
                let rows = decode_all(table.columns, &bytes)?;
                self.summary.rows += rows.len() as u64;
                self.insert_table_rows(tx, table, rows).await?;
                self.progress.rows(table.name, 0);
                Ok(())
            }
            (Some("objects"), Some(class), Some(_)) => {
                let rows = decode_all(OBJECT_COLUMNS, &bytes)?;
                let class: i64 = class
                    .parse()
                    .map_err(|_| invalid(format!("bad member {name}")))?;
                self.insert_objects(tx, class, rows).await
            }
            (Some("files"), Some(class), Some(file)) => {
                let class: i64 = class
                    .parse()
                    .map_err(|_| invalid(format!("bad member {name}")))?;
                self.write_file(class, file, &bytes).await
            }
            _ => Err(invalid(format!("unexpected member {name}"))),
        }
    }

    async fn insert_table_rows(
        &mut self,
        tx: &mut Tx,
        table: &'static Table,
        mut rows: Vec<Vec<Val>>,
    ) -> Result<(), BackupError> {
        for (column, target) in table.refs {
            let at = table
                .position(column)
                .ok_or_else(|| invalid("bad reference"))?;
            let map = self.ids.get(target);
            for row in &mut rows {
                if let Val::Int(old) = row[at] {
                    let new = map.and_then(|m| m.get(&old)).ok_or_else(|| {
                        invalid(format!("{}.{column} names a missing row", table.name))
                    })?;
                    row[at] = Val::Int(*new);
                }
            }
        }
        for (column, fresh) in table.unique_keys {
            self.summary.new_keys +=
                replace_taken_keys(tx, table, column, *fresh, &mut rows).await?;
        }
        if table.global_id {
            for row in rows {
                let old = match row.first() {
                    Some(Val::Int(id)) => *id,
                    _ => return Err(invalid(format!("a row of {} has no id", table.name))),
                };
                let new = insert_keeping_id(tx, table, self.instance_id, row).await?;
                if new != old {
                    self.summary.new_ids += 1;
                }
                self.ids.entry(table.name).or_default().insert(old, new);
                if table.name == "classes" {
                    self.create_class_table(tx, old, new).await?;
                }
            }
            bump_identity(tx, table.name).await?;
        } else {
            let sql_head = format!(
                "INSERT INTO {} (instance_id, {}) VALUES ",
                table.name,
                table.column_list()
            );
            let rows: Vec<Vec<Val>> = rows
                .into_iter()
                .map(|mut r| {
                    r.insert(0, Val::Int(self.instance_id));
                    r
                })
                .collect();
            insert_many(tx, &sql_head, table.columns.len() + 1, rows).await?;
        }
        Ok(())
    }

    /// Creates the object table (and indexes) of a class just inserted.
    async fn create_class_table(
        &mut self,
        tx: &mut Tx,
        old: i64,
        new: i64,
    ) -> Result<(), BackupError> {
        let row = tx
            .query_one("SELECT schema FROM classes WHERE id = $1", params![new])
            .await?;
        let schema = Schema::from_stored(row.str(0));
        tx.batch(&crate::classes::create_table_ddl(self.dialect, new))
            .await?;
        crate::classes::sync_indexes(tx, new, &Schema::default(), &schema).await?;
        self.classes.insert(old, RestoredClass { id: new, schema });
        Ok(())
    }

    async fn insert_objects(
        &mut self,
        tx: &mut Tx,
        class: i64,
        rows: Vec<Vec<Val>>,
    ) -> Result<(), BackupError> {
        let restored = self
            .classes
            .get(&class)
            .ok_or_else(|| invalid(format!("objects of class {class}, which it does not hold")))?;
        let file_keys: Vec<String> = restored
            .schema
            .fields
            .iter()
            .filter(|f| f.ftype == FieldType::File)
            .map(|f| f.key.clone())
            .collect();
        let moved = restored.id != class || self.instance_id != self.source_instance_id;
        let (old_prefix, new_prefix) = (
            format!("{}/{class}/", self.source_instance_id),
            format!("{}/{}/", self.instance_id, restored.id),
        );
        let data_at = OBJECT_COLUMNS.len() - 1;
        let mut rows = rows;
        for row in &mut rows {
            if let Val::Int(id) = row[0] {
                self.max_object_id = self.max_object_id.max(id);
            }
            if moved
                && !file_keys.is_empty()
                && let Val::Json(data) = &row[data_at]
            {
                row[data_at] = Val::Json(rewrite_file_paths(
                    data,
                    &file_keys,
                    &old_prefix,
                    &new_prefix,
                ));
            }
        }
        let n = rows.len() as u64;
        let sql_head = format!(
            "INSERT INTO {} ({}) VALUES ",
            table_name(restored.id),
            column_list(OBJECT_COLUMNS)
        );
        insert_many(tx, &sql_head, OBJECT_COLUMNS.len(), rows).await?;
        self.summary.objects += n;
        self.progress.objects(n);
        Ok(())
    }

    async fn write_file(
        &mut self,
        class: i64,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), BackupError> {
        if !valid_file_name(name) {
            return Err(invalid(format!(
                "file name {name:?} is not one Rivia writes"
            )));
        }
        let restored = self
            .classes
            .get(&class)
            .ok_or_else(|| invalid(format!("a file of class {class}, which it does not hold")))?;
        let dir = self
            .files_dir
            .join(self.instance_id.to_string())
            .join(restored.id.to_string());
        let path = dir.join(name);
        let bytes = bytes.to_vec();
        let len = bytes.len() as u64;
        let at = path.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::write(&at, bytes)
        })
        .await
        .map_err(|e| BackupError::Io(e.to_string()))?
        .map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?;
        self.written.push(path);
        self.summary.files += 1;
        self.summary.file_bytes += len;
        self.progress.bytes(len);
        Ok(())
    }

    /// Counters and derived values, and the restore row, before the commit.
    async fn finish(&mut self, tx: &mut Tx) -> Result<(), BackupError> {
        let counter = tx
            .query_opt(
                "SELECT value FROM instance_counters WHERE instance_id = $1 AND kind = 'objects'",
                params![self.instance_id],
            )
            .await?
            .map_or(0, |r| r.i64(0))
            .max(self.max_object_id);
        match self.dialect {
            Dialect::Postgres => {
                let seq = crate::ids::object_id_sequence(self.instance_id);
                let sql = if counter > 0 {
                    format!("SELECT setval('{seq}', {counter})")
                } else {
                    format!("SELECT setval('{seq}', 1, false)")
                };
                tx.query(&sql, vec![]).await?;
            }
            Dialect::Sqlite => {
                tx.exec(
                    "INSERT INTO instance_counters (instance_id, kind, value) VALUES ($1, 'objects', $2) \
                     ON CONFLICT (instance_id, kind) DO UPDATE SET value = excluded.value",
                    params![self.instance_id, counter],
                )
                .await?;
                for class in self.classes.values() {
                    tx.exec(
                        &format!(
                            "UPDATE classes SET objects_count = (SELECT COUNT(*) FROM {}) WHERE id = $1",
                            table_name(class.id)
                        ),
                        params![class.id],
                    )
                    .await?;
                }
            }
        }
        if let RestoreTarget::Instance { job: Some(job), .. } = self.target {
            tx.exec(
                "UPDATE restores SET status = $2, status_info = '', node = NULL, lease_until = NULL, updated_at = $3 WHERE id = $1",
                params![job, super::jobs::Status::Success.code(), rivia_core::time::now_micros()],
            )
            .await?;
        }
        Ok(())
    }
}

fn decode_all(
    columns: &[super::tables::Column],
    bytes: &[u8],
) -> Result<Vec<Vec<Val>>, BackupError> {
    lines(bytes)
        .map(|l| decode_row(columns, l).map_err(BackupError::Invalid))
        .collect()
}

/// Rewrites the file fields of an object moved to another instance or class.
fn rewrite_file_paths(data: &str, keys: &[String], old: &str, new: &str) -> String {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(data) else {
        return data.to_string();
    };
    let mut changed = false;
    for key in keys {
        if let Some(Value::String(path)) = map.get_mut(key)
            && let Some(rest) = path.strip_prefix(old)
        {
            *path = format!("{new}{rest}");
            changed = true;
        }
    }
    if changed {
        Value::Object(map).to_string()
    } else {
        data.to_string()
    }
}

/// Multi-row INSERTs, several per trip to the database.
async fn insert_many(
    tx: &mut Tx,
    head: &str,
    width: usize,
    rows: Vec<Vec<Val>>,
) -> Result<(), BackupError> {
    let mut statements: Vec<Statement> = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val>> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        let mut sql = String::with_capacity(head.len() + chunk.len() * width * 5);
        sql.push_str(head);
        let mut params = Vec::with_capacity(chunk.len() * width);
        for (i, row) in chunk.into_iter().enumerate() {
            if row.len() != width {
                return Err(invalid("a row has the wrong number of values"));
            }
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..width {
                if j > 0 {
                    sql.push_str(", ");
                }
                sql.push('$');
                sql.push_str(&(params.len() + j + 1).to_string());
            }
            sql.push(')');
            params.extend(row);
        }
        statements.push((sql, params));
        if statements.len() >= INSERTS_PER_TRIP {
            tx.query_many(std::mem::take(&mut statements)).await?;
        }
    }
    if !statements.is_empty() {
        tx.query_many(statements).await?;
    }
    Ok(())
}

/// Inserts a row of a table with a database-wide id, keeping the id when it is free;
/// returns the id the row got.
async fn insert_keeping_id(
    tx: &mut Tx,
    table: &Table,
    instance_id: i64,
    mut row: Vec<Val>,
) -> Result<i64, BackupError> {
    let id = row.first().cloned().unwrap_or(Val::Null);
    let taken = tx
        .query_opt(
            &format!("SELECT 1 FROM {} WHERE id = $1", table.name),
            vec![id],
        )
        .await?
        .is_some();
    let (columns, values) = if taken {
        row.remove(0);
        (&table.columns[1..], row)
    } else {
        (table.columns, row)
    };
    let names = column_list(columns);
    let placeholders: Vec<String> = (1..=columns.len() + 1).map(|i| format!("${i}")).collect();
    let mut params = vec![Val::Int(instance_id)];
    params.extend(values);
    let sql = format!(
        "INSERT INTO {} (instance_id, {names}) VALUES ({}) RETURNING id",
        table.name,
        placeholders.join(", ")
    );
    Ok(tx.query_one(&sql, params).await?.i64(0))
}

/// Moves a PostgreSQL identity sequence past the ids a restore wrote explicitly, so the
/// next row created normally does not collide with them.
async fn bump_identity(tx: &mut Tx, table: &str) -> Result<(), BackupError> {
    if tx.dialect() != Dialect::Postgres {
        return Ok(());
    }
    let seq = tx
        .query_one("SELECT pg_get_serial_sequence($1, 'id')", params![table])
        .await?;
    let Some(seq) = seq.opt_str(0).map(str::to_string) else {
        return Ok(());
    };
    // The name comes from the catalog (the table names are the list's constants).
    tx.query(
        &format!(
            "SELECT setval('{seq}', GREATEST((SELECT COALESCE(MAX(id), 1) FROM {table}), (SELECT last_value FROM {seq})))"
        ),
        vec![],
    )
    .await?;
    Ok(())
}

/// Replaces the values of a database-wide unique key column that the target already
/// holds with fresh keys; returns how many were replaced.
async fn replace_taken_keys(
    tx: &mut Tx,
    table: &Table,
    column: &str,
    fresh: super::tables::KeyGenerator,
    rows: &mut [Vec<Val>],
) -> Result<u64, BackupError> {
    let at = table
        .position(column)
        .ok_or_else(|| invalid("bad key column"))?;
    let mut taken: HashSet<String> = HashSet::new();
    for chunk in rows.chunks(500) {
        let values: Vec<Val> = chunk.iter().map(|r| r[at].clone()).collect();
        let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("${i}")).collect();
        let found = tx
            .query(
                &format!(
                    "SELECT {column} FROM {} WHERE {column} IN ({})",
                    table.name,
                    placeholders.join(", ")
                ),
                values,
            )
            .await?;
        taken.extend(found.iter().map(|r| r.str(0).to_string()));
    }
    let mut replaced = 0;
    for row in rows.iter_mut() {
        if let Val::Text(key) = &row[at]
            && taken.contains(key)
        {
            row[at] = Val::Text(fresh());
            replaced += 1;
        }
    }
    Ok(replaced)
}

/// Refuses a target holding anything but what every new instance starts with.
async fn check_empty(tx: &mut Tx, instance_id: i64) -> Result<(), BackupError> {
    for table in TABLES {
        let extra = table
            .builtin
            .map(|b| format!(" AND NOT ({b})"))
            .unwrap_or_default();
        let n = tx
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM {} WHERE instance_id = $1{extra}",
                    table.name
                ),
                params![instance_id],
            )
            .await?
            .i64(0);
        if n > 0 {
            return Err(BackupError::NotEmpty);
        }
    }
    let classes = tx
        .query(
            "SELECT id FROM classes WHERE instance_id = $1",
            params![instance_id],
        )
        .await?;
    for class in classes {
        let any = tx
            .query_opt(
                &format!("SELECT 1 FROM {} LIMIT 1", table_name(class.i64(0))),
                vec![],
            )
            .await?;
        if any.is_some() {
            return Err(BackupError::NotEmpty);
        }
    }
    Ok(())
}

/// Removes the rows every instance starts with (the archive brings its own).
async fn clear_instance(tx: &mut Tx, instance_id: i64) -> Result<(), BackupError> {
    let classes = tx
        .query(
            "SELECT id FROM classes WHERE instance_id = $1",
            params![instance_id],
        )
        .await?;
    for class in classes {
        tx.batch(&crate::classes::drop_table_ddl(class.i64(0)))
            .await?;
    }
    for table in TABLES.iter().rev() {
        tx.exec(
            &format!("DELETE FROM {} WHERE instance_id = $1", table.name),
            params![instance_id],
        )
        .await?;
    }
    Ok(())
}

/// Creates the instance (and those of its admins the target lacks) from `instance.json`.
async fn create_instance(tx: &mut Tx, name: &str, instance: &Value) -> Result<i64, BackupError> {
    let mut admin_ids: HashMap<i64, i64> = HashMap::new();
    let admins = instance["admins"].as_array().cloned().unwrap_or_default();
    for a in &admins {
        let old = a["id"]
            .as_i64()
            .ok_or_else(|| invalid("an admin has no id"))?;
        let new = ensure_admin(tx, a).await?;
        admin_ids.insert(old, new);
    }
    bump_identity(tx, "admins").await?;
    let owner = instance["owner_id"]
        .as_i64()
        .and_then(|o| admin_ids.get(&o))
        .copied()
        .ok_or_else(|| invalid("the instance's owner is not among its admins"))?;
    let wanted = instance["id"].as_i64().unwrap_or(0);
    let taken = tx
        .query_opt("SELECT 1 FROM instances WHERE id = $1", params![wanted])
        .await?
        .is_some();
    let text = |k: &str| instance[k].as_str().unwrap_or_default().to_string();
    let now = rivia_core::time::now_micros();
    let created = instance["created_at"].as_i64().unwrap_or(now);
    let updated = instance["updated_at"].as_i64().unwrap_or(now);
    let row = if taken || wanted <= 0 {
        tx.query_one(
            "INSERT INTO instances (name, description, owner_id, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            params![name, text("description"), owner, text("metadata"), created, updated],
        )
        .await?
    } else {
        tx.query_one(
            "INSERT INTO instances (id, name, description, owner_id, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            params![wanted, name, text("description"), owner, text("metadata"), created, updated],
        )
        .await?
    };
    let id = row.i64(0);
    bump_identity(tx, "instances").await?;
    for a in &admins {
        let (Some(old), Some(role)) = (a["id"].as_i64(), a["role"].as_i64()) else {
            continue;
        };
        if let Some(new) = admin_ids.get(&old) {
            tx.exec(
                "INSERT INTO admin_roles (instance_id, admin_id, role) VALUES ($1, $2, $3)",
                params![id, *new, role],
            )
            .await?;
        }
    }
    if tx.dialect() == Dialect::Postgres {
        tx.batch(&crate::ids::create_id_sequence_ddl(id)).await?;
    }
    // An instance starts with its built-ins; the restore replaces them right away, but
    // the emptiness check and clearing run the same way for new and existing targets.
    Ok(id)
}

/// The target's admin with this email, or a new one with the archive's id, key and
/// password hash where those are free.
async fn ensure_admin(tx: &mut Tx, a: &Value) -> Result<i64, BackupError> {
    let text = |k: &str| a[k].as_str().unwrap_or_default().to_string();
    let email_lower = text("email_lower");
    if let Some(row) = tx
        .query_opt(
            "SELECT id FROM admins WHERE email_lower = $1",
            params![&email_lower],
        )
        .await?
    {
        return Ok(row.i64(0));
    }
    let id = a["id"].as_i64().unwrap_or(0);
    let id_taken = tx
        .query_opt("SELECT 1 FROM admins WHERE id = $1", params![id])
        .await?
        .is_some();
    let mut key = text("account_key");
    let key_taken = tx
        .query_opt("SELECT 1 FROM admins WHERE account_key = $1", params![&key])
        .await?
        .is_some();
    if key_taken || key.is_empty() {
        key = rivia_core::keys::new_account_key();
    }
    let password = a["password"].as_str().map(str::to_string);
    let created = a["created_at"]
        .as_i64()
        .unwrap_or_else(rivia_core::time::now_micros);
    let values = params![
        text("email"),
        email_lower,
        text("first_name"),
        text("last_name"),
        password,
        a["is_active"].as_bool().unwrap_or(false),
        a["is_staff"].as_bool().unwrap_or(false),
        key,
        text("metadata"),
        created
    ];
    let columns = "email, email_lower, first_name, last_name, password, is_active, is_staff, account_key, metadata, created_at";
    let row = if id_taken || id <= 0 {
        tx.query_one(
            &format!("INSERT INTO admins ({columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"),
            values,
        )
        .await?
    } else {
        let mut with_id = vec![Val::Int(id)];
        with_id.extend(values);
        tx.query_one(
            &format!("INSERT INTO admins (id, {columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id"),
            with_id,
        )
        .await?
    };
    Ok(row.i64(0))
}

impl Store {
    /// Whether the instance holds nothing but what every new instance starts with (a
    /// restore's target must).
    pub async fn instance_is_empty(&self, instance_id: i64) -> crate::StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        match check_empty(&mut tx, instance_id).await {
            Ok(()) => Ok(true),
            Err(BackupError::NotEmpty) => Ok(false),
            Err(BackupError::Store(e)) => Err(e),
            Err(other) => Err(crate::StoreError::Internal(other.to_string())),
        }
    }
}
