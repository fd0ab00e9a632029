//! Restoring an archive: checked whole first (format version, every checksum), then
//! applied in ONE transaction, so a restore that fails or is killed leaves the target as
//! it was. Ids and keys are kept wherever the target database has them free, which is
//! always the case when moving an instance to another database; a copy within one
//! database gets fresh database-wide ids and keys where the originals are taken.

mod rows;
mod target;

use super::archive::{ArchiveError, Content, MemberInfo, Sink, read_archive};
use super::tables::{OBJECT_COLUMNS, Table, column_list, table_named};
use super::{BackupError, Progress, valid_file_name};
use crate::db::{Dialect, Tx, Val};
use crate::{Store, params, table_name};
use rivia_core::schema::{FieldType, Schema};
use rows::{
    bump_identity, decode_all, insert_keeping_id, insert_many, replace_taken_keys,
    rewrite_file_paths,
};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use target::{check_empty, clear_instance, create_instance};

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
        let manifest = tokio::task::spawn_blocking(move || {
            read_archive(&path, |_| Sink::Discard, |_, _| Ok(()))
        })
        .await
        .map_err(|e| BackupError::Io(e.to_string()))??;
        let listed: HashMap<String, MemberInfo> = manifest
            .members
            .into_iter()
            .map(|m| (m.name.clone(), m))
            .collect();
        // Files are copied from the archive into this directory as they are read (so no
        // file is ever held whole in memory), then renamed into place: it is inside the
        // files directory, so on the same file system.
        remove_stale_spools(files_dir);
        let spool = files_dir.join(format!(".restore-{}", rivia_core::keys::new_token()));
        std::fs::create_dir_all(&spool)
            .map_err(|e| BackupError::Io(format!("{}: {e}", spool.display())))?;
        let (send, members) = flume::bounded::<Result<Member, ArchiveError>>(2);
        let reader = {
            let (path, spool) = (archive.to_path_buf(), spool.clone());
            std::thread::Builder::new()
                .name("rivia-restore-reader".into())
                .spawn(move || read_members(&path, &spool, &listed, &send))
        };
        let reader = match reader {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&spool);
                return Err(BackupError::Io(e.to_string()));
            }
        };
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
        let result = match self.db.begin().await {
            Ok(mut tx) => match apply.run(&mut tx, &members).await {
                Ok(()) => tx.commit().await.map_err(BackupError::from),
                Err(e) => Err(e),
            },
            Err(e) => Err(e.into()),
        };
        // The reader stops at its next member once nobody receives; wait for it before
        // removing the spool, so that it leaves no file behind.
        drop(members);
        let _ = tokio::task::spawn_blocking(move || reader.join()).await;
        let _ = std::fs::remove_dir_all(&spool);
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

/// A spool older than any restore runs was left by a process killed mid-restore (its
/// transaction rolled back; the files in it are orphans): removed before a new restore.
fn remove_stale_spools(files_dir: &Path) {
    const STALE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    let Ok(entries) = std::fs::read_dir(files_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry.file_name().to_string_lossy().starts_with(".restore-")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > STALE);
        if stale {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A member of the archive on its way from the reader thread to the restore.
type Member = (MemberInfo, Content);

/// The reader thread of a restore: sends every member in order, files spooled into
/// `spool`, each checked against the manifest of the checking pass.
fn read_members(
    path: &Path,
    spool: &Path,
    listed: &HashMap<String, MemberInfo>,
    send: &flume::Sender<Result<Member, ArchiveError>>,
) {
    let mut spooled = 0u64;
    let sink = |name: &str| {
        if name.starts_with("files/") {
            spooled += 1;
            Sink::File(spool.join(spooled.to_string()))
        } else {
            Sink::Memory
        }
    };
    let read = read_archive(path, sink, |info, content| {
        // The file was checked a moment ago; check again that it did not change.
        let unchanged = listed.get(&info.name).map(|m| &m.sha256) == Some(&info.sha256);
        let sent = if unchanged {
            send.send(Ok((info.clone(), content)))
                .map_err(|flume::SendError(m)| (ArchiveError::Io("restore stopped".into()), m))
        } else {
            Err((
                ArchiveError::Damaged(format!(
                    "member {} changed while it was being restored",
                    info.name
                )),
                Ok((info.clone(), content)),
            ))
        };
        sent.map_err(|(e, unsent)| {
            if let Ok((_, Content::File(f))) = unsent {
                let _ = std::fs::remove_file(f);
            }
            e
        })
    });
    if let Err(e) = read {
        let _ = send.send(Err(e));
    }
}

impl Apply<'_> {
    async fn run(
        &mut self,
        tx: &mut Tx,
        members: &flume::Receiver<Result<Member, ArchiveError>>,
    ) -> Result<(), BackupError> {
        let mut started = false;
        while let Ok(member) = members.recv_async().await {
            let (info, content) = member?;
            if !started {
                if info.name != "instance.json" {
                    return Err(invalid("it does not start with instance.json"));
                }
                self.start(tx, &bytes_of(&info.name, content)?).await?;
                started = true;
                continue;
            }
            self.member(tx, &info, content).await?;
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

    async fn member(
        &mut self,
        tx: &mut Tx,
        info: &MemberInfo,
        content: Content,
    ) -> Result<(), BackupError> {
        let name = info.name.as_str();
        let mut parts = name.splitn(3, '/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("tables"), Some(table), Some(_)) => {
                let table = table_named(table).ok_or_else(|| {
                    invalid(format!(
                        "it holds table {table}, unknown to this version of Rivia"
                    ))
                })?;
                let rows = decode_all(table.columns, &bytes_of(name, content)?)?;
                self.summary.rows += rows.len() as u64;
                self.insert_table_rows(tx, table, rows).await?;
                self.progress.rows(table.name, 0);
                Ok(())
            }
            (Some("objects"), Some(class), Some(_)) => {
                let rows = decode_all(OBJECT_COLUMNS, &bytes_of(name, content)?)?;
                let class: i64 = class
                    .parse()
                    .map_err(|_| invalid(format!("bad member {name}")))?;
                self.insert_objects(tx, class, rows).await
            }
            (Some("files"), Some(class), Some(file)) => {
                let class: i64 = class
                    .parse()
                    .map_err(|_| invalid(format!("bad member {name}")))?;
                self.write_file(class, file, info.size, content).await
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

    /// Moves a file the reader spooled into its place (or writes one it read into memory).
    async fn write_file(
        &mut self,
        class: i64,
        name: &str,
        len: u64,
        content: Content,
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
        let at = path.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            match content {
                Content::File(spooled) => std::fs::rename(spooled, &at),
                Content::Bytes(bytes) => std::fs::write(&at, bytes),
                Content::Discarded => Err(std::io::Error::other("the file's content was dropped")),
            }
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

/// The content of a member read into memory (every member but files is).
fn bytes_of(name: &str, content: Content) -> Result<Vec<u8>, BackupError> {
    match content {
        Content::Bytes(b) => Ok(b),
        _ => Err(BackupError::Io(format!(
            "member {name} was not read into memory"
        ))),
    }
}
