//! Writing a backup: one snapshot of the database (a read transaction on a connection of
//! its own, so requests keep reading and writing meanwhile), the listed tables, each
//! class's objects and the files they name, into an archive.

use super::archive::{ArchiveError, ArchiveWriter, CHUNK_BYTES, Manifest};
use super::codec::encode_row;
use super::tables::{Column, Kind, OBJECT_COLUMNS, TABLES, Table, column_list};
use super::{BackupError, Progress};
use crate::db::{Dialect, Row, Snapshot, Val};
use crate::{Store, params, table_name};
use rivia_core::schema::{FieldType, Schema};
use serde_json::{Value, json};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// What a finished backup holds.
#[derive(Debug, Clone, Default)]
pub struct BackupSummary {
    /// Archive size in bytes.
    pub size: u64,
    /// Data objects.
    pub objects: u64,
    /// Files copied.
    pub files: u64,
    /// Bytes of files copied.
    pub file_bytes: u64,
    /// Files named by objects but missing on disk (deleted since, or lost).
    pub missing_files: u64,
    /// Rows per listed table, and `objects`/`files` totals: the backup's `details`.
    pub details: serde_json::Map<String, Value>,
}

type Writer = ArchiveWriter<BufWriter<File>>;

/// The archive under construction, written off the async workers.
struct Out {
    writer: Option<Writer>,
    pace: Pace,
}

/// Pauses a backup so that it works at most `share` of the wall time.
struct Pace {
    share: f64,
    working_since: std::time::Instant,
}

impl Pace {
    fn new(share: f64) -> Self {
        Pace {
            share: share.clamp(0.05, 1.0),
            working_since: std::time::Instant::now(),
        }
    }

    /// After a piece of work: rests `work × (1/share − 1)` (a second at most).
    async fn rest(&mut self) {
        if self.share < 1.0 {
            let worked = self.working_since.elapsed();
            let rest = worked
                .mul_f64(1.0 / self.share - 1.0)
                .min(std::time::Duration::from_secs(1));
            tokio::time::sleep(rest).await;
        }
        self.working_since = std::time::Instant::now();
    }
}

impl Out {
    async fn add(&mut self, name: String, bytes: Vec<u8>, rows: u64) -> Result<(), BackupError> {
        let mut w = self
            .writer
            .take()
            .ok_or_else(|| BackupError::Io("archive writer lost".into()))?;
        let w = tokio::task::spawn_blocking(move || {
            w.add(&name, &bytes, rows)?;
            Ok::<_, ArchiveError>(w)
        })
        .await
        .map_err(|e| BackupError::Io(e.to_string()))??;
        self.writer = Some(w);
        self.pace.rest().await;
        Ok(())
    }
}

impl Out {
    /// Adds the file at `disk` as member `name`, copied through in pieces (a file may be
    /// as large as an upload; none is held whole). `None` when it is not on disk.
    async fn add_file(&mut self, name: String, disk: PathBuf) -> Result<Option<u64>, BackupError> {
        let mut w = self
            .writer
            .take()
            .ok_or_else(|| BackupError::Io("archive writer lost".into()))?;
        let (w, copied) = tokio::task::spawn_blocking(move || {
            let copied = (|| {
                let file = match File::open(&disk) {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(BackupError::Io(format!("{}: {e}", disk.display()))),
                };
                // The size from the open handle: stored files are written once under
                // a name of their content's hash and never changed in place.
                let size = file
                    .metadata()
                    .map_err(|e| BackupError::Io(format!("{}: {e}", disk.display())))?
                    .len();
                let reader = std::io::BufReader::with_capacity(1 << 16, file);
                w.add_reader(&name, reader, size)?;
                Ok(Some(size))
            })();
            (w, copied)
        })
        .await
        .map_err(|e| BackupError::Io(e.to_string()))?;
        self.writer = Some(w);
        self.pace.rest().await;
        copied
    }
}

/// A table's rows cut into members of about [`CHUNK_BYTES`].
struct Chunker<'a> {
    prefix: String,
    columns: &'a [Column],
    buf: Vec<u8>,
    rows: u64,
    part: u32,
    total: u64,
}

impl<'a> Chunker<'a> {
    fn new(prefix: String, columns: &'a [Column]) -> Self {
        Chunker {
            prefix,
            columns,
            buf: Vec::new(),
            rows: 0,
            part: 0,
            total: 0,
        }
    }

    async fn push(&mut self, out: &mut Out, row: &Row) -> Result<(), BackupError> {
        encode_row(self.columns, row, &mut self.buf);
        self.rows += 1;
        self.total += 1;
        if self.buf.len() >= CHUNK_BYTES {
            self.flush(out).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, out: &mut Out) -> Result<(), BackupError> {
        if self.rows == 0 {
            return Ok(());
        }
        let name = format!("{}/{:05}.jsonl", self.prefix, self.part);
        self.part += 1;
        let rows = std::mem::take(&mut self.rows);
        out.add(name, std::mem::take(&mut self.buf), rows).await
    }
}

impl Store {
    /// Backs up the instance into a new archive at `path` (written beside it first and
    /// renamed when complete, so `path` is never a partial archive). `files_dir` is where
    /// uploaded files live (`<data-dir>/files`).
    pub async fn write_backup(
        &self,
        instance_id: i64,
        files_dir: &Path,
        path: &Path,
        progress: &dyn Progress,
    ) -> Result<BackupSummary, BackupError> {
        let partial = path.with_extension("partial");
        let result = self
            .write_backup_to(instance_id, files_dir, &partial, progress)
            .await;
        match result {
            Ok(summary) => {
                std::fs::rename(&partial, path).map_err(|e| BackupError::Io(e.to_string()))?;
                Ok(summary)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(e)
            }
        }
    }

    async fn write_backup_to(
        &self,
        instance_id: i64,
        files_dir: &Path,
        path: &Path,
        progress: &dyn Progress,
    ) -> Result<BackupSummary, BackupError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| BackupError::Io(e.to_string()))?;
        }
        let file =
            File::create(path).map_err(|e| BackupError::Io(format!("{}: {e}", path.display())))?;
        let mut out = Out {
            writer: Some(ArchiveWriter::new(BufWriter::with_capacity(1 << 20, file))?),
            pace: Pace::new(progress.work_share()),
        };
        let snap = self.db.snapshot().await?;
        let created_at = rivia_core::time::now_micros();
        let instance = instance_json(&snap, instance_id).await?;
        let name = instance["name"].as_str().unwrap_or_default().to_string();
        out.add("instance.json".into(), instance.to_string().into_bytes(), 0)
            .await?;
        let mut summary = BackupSummary::default();
        let mut classes = Vec::new();
        for table in TABLES {
            let rows =
                export_table(self, &snap, table, instance_id, &mut out, &mut classes).await?;
            summary.details.insert(table.name.into(), json!(rows));
            progress.rows(table.name, rows);
        }
        let mut files: Vec<(i64, String)> = Vec::new();
        for (class_id, schema) in &classes {
            summary.objects += export_objects(
                &snap,
                instance_id,
                *class_id,
                schema,
                &mut out,
                &mut files,
                progress,
            )
            .await?;
        }
        drop(snap);
        let mut seen = std::collections::HashSet::new();
        files.retain(|f| seen.insert(f.clone()));
        for (class_id, rel) in files {
            match copy_file(&mut out, files_dir, class_id, &rel).await? {
                Some(bytes) => {
                    summary.files += 1;
                    summary.file_bytes += bytes;
                    progress.bytes(bytes);
                }
                None => summary.missing_files += 1,
            }
        }
        summary
            .details
            .insert("objects".into(), json!(summary.objects));
        summary.details.insert("files".into(), json!(summary.files));
        summary
            .details
            .insert("file_bytes".into(), json!(summary.file_bytes));
        if summary.missing_files > 0 {
            summary
                .details
                .insert("missing_files".into(), json!(summary.missing_files));
        }
        let manifest = Manifest {
            format: super::archive::FORMAT_NAME.into(),
            version: super::archive::FORMAT_VERSION,
            created_at,
            source: match self.db.dialect() {
                Dialect::Sqlite => "sqlite".into(),
                Dialect::Postgres => "postgres".into(),
            },
            instance: name,
            counts: summary.details.clone(),
            members: Vec::new(),
        };
        let w = out
            .writer
            .take()
            .ok_or_else(|| BackupError::Io("archive writer lost".into()))?;
        summary.size = tokio::task::spawn_blocking(move || {
            let written = w.written();
            let mut inner = w.finish(manifest)?;
            use std::io::Write;
            inner.flush()?;
            let file = inner
                .into_inner()
                .map_err(|e| ArchiveError::Io(e.to_string()))?;
            file.sync_all()?;
            Ok::<_, ArchiveError>(written)
        })
        .await
        .map_err(|e| BackupError::Io(e.to_string()))??;
        summary.size = std::fs::metadata(path)
            .map(|m| m.len())
            .unwrap_or(summary.size);
        Ok(summary)
    }
}

/// The instance row and its admins (`instance.json`): a restore that creates the
/// instance in another database recreates them, so their keys and logins keep working.
async fn instance_json(snap: &Snapshot, instance_id: i64) -> Result<Value, BackupError> {
    let row = snap
        .query(
            "SELECT id, name, description, owner_id, metadata, created_at, updated_at FROM instances WHERE id = $1",
            params![instance_id],
        )
        .await?
        .into_iter()
        .next()
        .ok_or(BackupError::InstanceGone)?;
    let admins = snap
        .query(
            "SELECT a.id, a.email, a.email_lower, a.first_name, a.last_name, a.password, a.is_active, a.is_staff, \
             a.account_key, a.metadata, a.created_at, r.role \
             FROM admin_roles r JOIN admins a ON a.id = r.admin_id WHERE r.instance_id = $1 ORDER BY a.id",
            params![instance_id],
        )
        .await?;
    let admins: Vec<Value> = admins
        .iter()
        .map(|a| {
            json!({
                "id": a.i64(0), "email": a.str(1), "email_lower": a.str(2),
                "first_name": a.str(3), "last_name": a.str(4), "password": a.opt_str(5),
                "is_active": a.bool(6), "is_staff": a.bool(7), "account_key": a.str(8),
                "metadata": a.str(9), "created_at": a.i64(10), "role": a.i64(11),
            })
        })
        .collect();
    Ok(json!({
        "id": row.i64(0), "name": row.str(1), "description": row.str(2), "owner_id": row.i64(3),
        "metadata": row.str(4), "created_at": row.i64(5), "updated_at": row.i64(6),
        "admins": admins,
    }))
}

/// Writes one listed table's rows of the instance; remembers the classes (id, schema).
async fn export_table(
    store: &Store,
    snap: &Snapshot,
    table: &Table,
    instance_id: i64,
    out: &mut Out,
    classes: &mut Vec<(i64, Schema)>,
) -> Result<u64, BackupError> {
    // In key order, so that rows given new ids on restore keep their relative order
    // (lists are ordered by id).
    let sql = format!(
        "SELECT {} FROM {} WHERE instance_id = $1 ORDER BY {}",
        table.column_list(),
        table.name,
        table.columns[0].name
    );
    let mut chunks = Chunker::new(format!("tables/{}", table.name), table.columns);
    let mut stream = snap.stream(&sql, params![instance_id], 500);
    let objects_counter =
        table.name == "instance_counters" && store.db.dialect() == Dialect::Postgres;
    let mut saw_objects_counter = false;
    while let Some(batch) = stream.next().await {
        for mut row in batch? {
            if table.name == "classes" {
                classes.push((row.i64(0), Schema::from_stored(row.str(3))));
            }
            if objects_counter && row.str(0) == "objects" {
                // Object ids come from the instance's sequence on PostgreSQL.
                saw_objects_counter = true;
                row.0[1] = Val::Int(last_object_id(snap, instance_id).await?);
            }
            chunks.push(out, &row).await?;
        }
    }
    if objects_counter && !saw_objects_counter {
        let last = last_object_id(snap, instance_id).await?;
        let row = Row(vec![Val::Text("objects".into()), Val::Int(last)]);
        chunks.push(out, &row).await?;
    }
    chunks.flush(out).await?;
    Ok(chunks.total)
}

/// The last object id handed out in the instance (PostgreSQL: its sequence).
async fn last_object_id(snap: &Snapshot, instance_id: i64) -> Result<i64, BackupError> {
    let seq = crate::ids::object_id_sequence(instance_id);
    let row = snap
        .query(&format!("SELECT last_value, is_called FROM {seq}"), vec![])
        .await?
        .into_iter()
        .next();
    Ok(match row {
        Some(r) if r.bool(1) => r.i64(0),
        Some(r) => r.i64(0) - 1,
        None => 0,
    })
}

/// Writes a class's objects and notes the files they name.
async fn export_objects(
    snap: &Snapshot,
    instance_id: i64,
    class_id: i64,
    schema: &Schema,
    out: &mut Out,
    files: &mut Vec<(i64, String)>,
    progress: &dyn Progress,
) -> Result<u64, BackupError> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY id",
        column_list(OBJECT_COLUMNS),
        table_name(class_id)
    );
    let file_keys: Vec<&str> = schema
        .fields
        .iter()
        .filter(|f| f.ftype == FieldType::File)
        .map(|f| f.key.as_str())
        .collect();
    let data_at = OBJECT_COLUMNS.len() - 1;
    debug_assert_eq!(OBJECT_COLUMNS[data_at].kind, Kind::Json);
    let mut chunks = Chunker::new(format!("objects/{class_id}"), OBJECT_COLUMNS);
    let mut stream = snap.stream(&sql, vec![], 1000);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let n = batch.len() as u64;
        for row in batch {
            if !file_keys.is_empty() {
                note_files(row.str(data_at), &file_keys, instance_id, class_id, files);
            }
            chunks.push(out, &row).await?;
        }
        progress.objects(n);
    }
    chunks.flush(out).await?;
    Ok(chunks.total)
}

/// The files an object's data names (file fields hold `<instance>/<class>/<name>`).
fn note_files(
    data: &str,
    keys: &[&str],
    instance_id: i64,
    class_id: i64,
    files: &mut Vec<(i64, String)>,
) {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(data) else {
        return;
    };
    for key in keys {
        if let Some(Value::String(rel)) = map.get(*key)
            && rel.starts_with(&format!("{instance_id}/{class_id}/"))
        {
            files.push((class_id, rel.clone()));
        }
    }
}

/// Adds a stored file as `files/<class id>/<name>`; `None` when it is not on disk.
async fn copy_file(
    out: &mut Out,
    files_dir: &Path,
    class_id: i64,
    rel: &str,
) -> Result<Option<u64>, BackupError> {
    let Some(name) = rel.rsplit('/').next().filter(|n| super::valid_file_name(n)) else {
        return Ok(None);
    };
    out.add_file(format!("files/{class_id}/{name}"), files_dir.join(rel))
        .await
}
