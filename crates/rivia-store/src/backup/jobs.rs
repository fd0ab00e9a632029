//! The rows of backup and restore jobs. A job is recorded `scheduled` when requested;
//! the node that runs it claims it (`running`, its `node` name and, renewed while it
//! runs, a `lease_until`), and ends it `success` or `error` with a `status_info`. A job
//! whose node died is found by [`Store::sweep_jobs`]: on SQLite (one process) every
//! running job at start-up; on PostgreSQL (several nodes) those whose lease ran out.

use crate::db::{Dialect, Row, StoreResult};
use crate::{Store, finish_keyset, params, push_keyset};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;

/// A job's status, with the platform's codes and names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Stopped before it ended (its node went away).
    Aborted,
    /// Failed; `status_info` says why.
    Error,
    /// Waiting to run.
    Scheduled,
    /// Running.
    Running,
    /// Writing its archive (backups).
    Uploading,
    /// Done.
    Success,
}

impl Status {
    /// Stored code.
    pub fn code(self) -> i64 {
        match self {
            Status::Aborted => -2,
            Status::Error => -1,
            Status::Scheduled => 0,
            Status::Running => 1,
            Status::Uploading => 2,
            Status::Success => 3,
        }
    }
    /// From the stored code.
    pub fn from_code(code: i64) -> Status {
        match code {
            -2 => Status::Aborted,
            -1 => Status::Error,
            1 => Status::Running,
            2 => Status::Uploading,
            3 => Status::Success,
            _ => Status::Scheduled,
        }
    }
    /// Wire name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Aborted => "aborted",
            Status::Error => "error",
            Status::Scheduled => "scheduled",
            Status::Running => "running",
            Status::Uploading => "uploading",
            Status::Success => "success",
        }
    }
    /// Scheduled, running or uploading.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            Status::Scheduled | Status::Running | Status::Uploading
        )
    }
}

/// A backup row, with its instance's name (None once the instance is deleted).
#[derive(Debug, Clone)]
pub struct Backup {
    /// Id.
    pub id: i64,
    /// Admin who asked for it.
    pub owner_id: i64,
    /// Instance backed up.
    pub instance_id: Option<i64>,
    /// Its name.
    pub instance_name: Option<String>,
    /// Status.
    pub status: Status,
    /// Why it failed.
    pub status_info: String,
    /// Description.
    pub description: String,
    /// Label.
    pub label: String,
    /// Metadata JSON text.
    pub metadata: String,
    /// What it holds (JSON text).
    pub details: String,
    /// Archive bytes once done.
    pub size: Option<i64>,
    /// Archive path relative to the data directory.
    pub archive: Option<String>,
    /// Created, µs.
    pub created_at: i64,
    /// Updated, µs.
    pub updated_at: i64,
}

const BACKUP_COLUMNS: &str = "b.id, b.owner_id, b.instance_id, i.name, b.status, b.status_info, b.description, b.label, b.metadata, b.details, b.size, b.archive, b.created_at, b.updated_at";
const BACKUP_FROM: &str = "backups b LEFT JOIN instances i ON i.id = b.instance_id";

fn backup_from(mut r: Row) -> Backup {
    Backup {
        id: r.i64(0),
        owner_id: r.i64(1),
        instance_id: r.opt_i64(2),
        instance_name: r.take_opt_string(3),
        status: Status::from_code(r.i64(4)),
        status_info: r.take_string(5),
        description: r.take_string(6),
        label: r.take_string(7),
        metadata: r.take_string(8),
        details: r.take_string(9),
        size: r.opt_i64(10),
        archive: r.take_opt_string(11),
        created_at: r.i64(12),
        updated_at: r.i64(13),
    }
}

/// Fields of a new backup.
pub struct NewBackup<'a> {
    /// Admin asking.
    pub owner_id: i64,
    /// Instance.
    pub instance_id: i64,
    /// Description.
    pub description: &'a str,
    /// Label.
    pub label: &'a str,
    /// Metadata JSON text.
    pub metadata: &'a str,
}

/// Why a backup could not be requested.
#[derive(Debug)]
pub enum CreateBackupError {
    /// The account has a backup scheduled or running.
    TooManyRunning,
    /// The account has this many backups already.
    TooMany(i64),
    /// Storage failure.
    Store(crate::StoreError),
}

impl From<crate::StoreError> for CreateBackupError {
    fn from(e: crate::StoreError) -> Self {
        CreateBackupError::Store(e)
    }
}

/// Which backups a listing covers.
#[derive(Debug, Clone, Copy)]
pub enum BackupScope {
    /// Those of one instance.
    Instance(i64),
    /// Those an admin asked for, across instances.
    Owner(i64),
}

impl BackupScope {
    fn condition(self) -> (&'static str, i64) {
        match self {
            BackupScope::Instance(id) => ("b.instance_id = $1", id),
            BackupScope::Owner(id) => ("b.owner_id = $1", id),
        }
    }
}

/// A restore row.
#[derive(Debug, Clone)]
pub struct Restore {
    /// Id.
    pub id: i64,
    /// Admin who asked for it.
    pub owner_id: i64,
    /// Target instance.
    pub instance_id: i64,
    /// Backup restored (None for an uploaded archive, or once the backup is deleted).
    pub backup_id: Option<i64>,
    /// Uploaded archive, relative to the data directory.
    pub archive: Option<String>,
    /// Status.
    pub status: Status,
    /// Why it failed.
    pub status_info: String,
    /// Created, µs.
    pub created_at: i64,
    /// Updated, µs.
    pub updated_at: i64,
}

const RESTORE_COLUMNS: &str =
    "id, owner_id, instance_id, backup_id, archive, status, status_info, created_at, updated_at";

fn restore_from(mut r: Row) -> Restore {
    Restore {
        id: r.i64(0),
        owner_id: r.i64(1),
        instance_id: r.i64(2),
        backup_id: r.opt_i64(3),
        archive: r.take_opt_string(4),
        status: Status::from_code(r.i64(5)),
        status_info: r.take_string(6),
        created_at: r.i64(7),
        updated_at: r.i64(8),
    }
}

/// Jobs found by a sweep.
#[derive(Debug, Default)]
pub struct Swept {
    /// Backups left scheduled (requested, never started): to run.
    pub backups: Vec<i64>,
    /// Restores left scheduled: to run.
    pub restores: Vec<i64>,
    /// Jobs marked failed because their node went away.
    pub interrupted: u64,
}

/// `status_info` of a job whose node stopped while it ran.
pub const INTERRUPTED: &str =
    "Interrupted: the server stopped while this job ran. Nothing was changed; start it again.";

impl Store {
    /// Records a backup request, enforcing one active backup and `limit` backups per
    /// account.
    pub async fn create_backup(
        &self,
        new: &NewBackup<'_>,
        limit: i64,
    ) -> Result<Backup, CreateBackupError> {
        let mut tx = self.db.begin().await?;
        if tx.dialect() == Dialect::Postgres {
            // Two requests of one account count one after the other.
            tx.query(
                "SELECT id FROM admins WHERE id = $1 FOR UPDATE",
                params![new.owner_id],
            )
            .await?;
        }
        let counts = tx
            .query_one(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status BETWEEN 0 AND 2 THEN 1 ELSE 0 END), 0) FROM backups WHERE owner_id = $1",
                params![new.owner_id],
            )
            .await?;
        if counts.i64(1) > 0 {
            return Err(CreateBackupError::TooManyRunning);
        }
        if counts.i64(0) >= limit {
            return Err(CreateBackupError::TooMany(limit));
        }
        let now = now_micros();
        let id = tx
            .query_one(
                "INSERT INTO backups (owner_id, instance_id, description, label, metadata, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                params![new.owner_id, new.instance_id, new.description, new.label, new.metadata, now],
            )
            .await?
            .i64(0);
        tx.commit().await?;
        self.backup(id).await?.ok_or_else(|| {
            CreateBackupError::Store(crate::StoreError::Internal("backup vanished".into()))
        })
    }

    /// A backup by id.
    pub async fn backup(&self, id: i64) -> StoreResult<Option<Backup>> {
        let sql = format!("SELECT {BACKUP_COLUMNS} FROM {BACKUP_FROM} WHERE b.id = $1");
        Ok(self.db.query_opt(&sql, params![id]).await?.map(backup_from))
    }

    /// One page of backups.
    pub async fn list_backups(
        &self,
        scope: BackupScope,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Backup>> {
        let (cond, id) = scope.condition();
        let mut sql = format!("SELECT {BACKUP_COLUMNS} FROM {BACKUP_FROM} WHERE {cond}");
        let mut params = params![id];
        push_keyset(&mut sql, &mut params, "b.id", keyset);
        let rows = self.db.query(&sql, params).await?;
        Ok(finish_keyset(
            rows.into_iter().map(backup_from).collect(),
            keyset,
        ))
    }

    /// Every backup, newest first, up to `limit` (the command line's list).
    pub async fn all_backups(&self, limit: i64) -> StoreResult<Vec<Backup>> {
        let sql = format!(
            "SELECT {BACKUP_COLUMNS} FROM {BACKUP_FROM} ORDER BY b.id DESC LIMIT {}",
            limit.max(0)
        );
        Ok(self
            .db
            .query(&sql, vec![])
            .await?
            .into_iter()
            .map(backup_from)
            .collect())
    }

    /// Deletes a backup unless it is running or uploading; `Ok(None)` when it is. The
    /// deleted row is returned (its archive is the caller's to remove).
    pub async fn delete_backup(&self, id: i64) -> StoreResult<Option<Backup>> {
        let Some(backup) = self.backup(id).await? else {
            return Ok(None);
        };
        let deleted = self
            .db
            .begin()
            .await?
            .query_many_and_commit(vec![(
                "DELETE FROM backups WHERE id = $1 AND status NOT IN (1, 2) RETURNING id".into(),
                params![id],
            )])
            .await?;
        Ok(deleted.first().filter(|r| !r.is_empty()).map(|_| backup))
    }

    /// Claims a scheduled backup for this node; false when another took it (or it is
    /// gone).
    pub async fn claim_backup(&self, id: i64, node: &str, lease_until: i64) -> StoreResult<bool> {
        self.claim("backups", id, node, lease_until).await
    }

    /// Claims a scheduled restore for this node.
    pub async fn claim_restore(&self, id: i64, node: &str, lease_until: i64) -> StoreResult<bool> {
        self.claim("restores", id, node, lease_until).await
    }

    async fn claim(&self, table: &str, id: i64, node: &str, lease_until: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                &format!(
                    "UPDATE {table} SET status = 1, node = $2, lease_until = $3, updated_at = $4 WHERE id = $1 AND status = 0"
                ),
                params![id, node, lease_until, now_micros()],
            )
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Ends a backup: `Success` with its size, archive and details, or `Error` with why.
    pub async fn finish_backup(
        &self,
        id: i64,
        status: Status,
        info: &str,
        size: Option<i64>,
        archive: Option<&str>,
        details: &str,
    ) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "UPDATE backups SET status = $2, status_info = $3, size = $4, archive = $5, details = $6, node = NULL, lease_until = NULL, updated_at = $7 WHERE id = $1",
            params![id, status.code(), info, size, archive, details, now_micros()],
        )
        .await?;
        tx.commit().await
    }

    /// Records a restore request.
    pub async fn create_restore(
        &self,
        owner_id: i64,
        instance_id: i64,
        backup_id: Option<i64>,
        archive: Option<&str>,
    ) -> StoreResult<Restore> {
        let now = now_micros();
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO restores (owner_id, instance_id, backup_id, archive, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5) RETURNING {RESTORE_COLUMNS}"
                ),
                params![owner_id, instance_id, backup_id, archive, now],
            )
            .await?;
        tx.commit().await?;
        Ok(restore_from(row))
    }

    /// A restore of an instance by id.
    pub async fn restore(&self, instance_id: i64, id: i64) -> StoreResult<Option<Restore>> {
        let sql =
            format!("SELECT {RESTORE_COLUMNS} FROM restores WHERE id = $1 AND instance_id = $2");
        Ok(self
            .db
            .query_opt(&sql, params![id, instance_id])
            .await?
            .map(restore_from))
    }

    /// A restore by id alone (the job runner).
    pub async fn restore_by_id(&self, id: i64) -> StoreResult<Option<Restore>> {
        let sql = format!("SELECT {RESTORE_COLUMNS} FROM restores WHERE id = $1");
        Ok(self
            .db
            .query_opt(&sql, params![id])
            .await?
            .map(restore_from))
    }

    /// One page of an instance's restores.
    pub async fn list_restores(
        &self,
        instance_id: i64,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Restore>> {
        let mut sql = format!("SELECT {RESTORE_COLUMNS} FROM restores WHERE instance_id = $1");
        let mut params = params![instance_id];
        push_keyset(&mut sql, &mut params, "id", keyset);
        let rows = self.db.query(&sql, params).await?;
        Ok(finish_keyset(
            rows.into_iter().map(restore_from).collect(),
            keyset,
        ))
    }

    /// Ends a restore that failed (a successful one is ended inside its own transaction).
    pub async fn fail_restore(&self, id: i64, info: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "UPDATE restores SET status = -1, status_info = $2, node = NULL, lease_until = NULL, updated_at = $3 WHERE id = $1 AND status <> 3",
            params![id, info, now_micros()],
        )
        .await?;
        tx.commit().await
    }

    /// Extends the leases of the jobs this node runs.
    pub async fn renew_backup_job_leases(&self, node: &str, lease_until: i64) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        for table in ["backups", "restores"] {
            tx.exec(
                &format!(
                    "UPDATE {table} SET lease_until = $2 WHERE node = $1 AND status IN (1, 2)"
                ),
                params![node, lease_until],
            )
            .await?;
        }
        tx.commit().await
    }

    /// Marks failed the running jobs of other nodes whose lease ended before `now`, and
    /// at `startup` on SQLite every running job of another node (one server process owns
    /// a SQLite database, so they were cut off by its last stop). Returns them counted,
    /// and the jobs still scheduled.
    pub async fn sweep_jobs(&self, node: &str, now: i64, startup: bool) -> StoreResult<Swept> {
        let mut swept = Swept::default();
        let mut tx = self.db.begin().await?;
        let gone = if startup && tx.dialect() == Dialect::Sqlite {
            "status IN (1, 2) AND (node IS NULL OR node <> $1)"
        } else {
            "status IN (1, 2) AND (node IS NULL OR node <> $1) AND COALESCE(lease_until, 0) < $2"
        };
        for table in ["backups", "restores"] {
            swept.interrupted += tx
                .exec(
                    &format!(
                        "UPDATE {table} SET status = -1, status_info = $3, node = NULL, lease_until = NULL, updated_at = $2 WHERE {gone}"
                    ),
                    params![node, now, INTERRUPTED],
                )
                .await?;
        }
        tx.commit().await?;
        let scheduled =
            |table: &str| format!("SELECT id FROM {table} WHERE status = 0 ORDER BY id");
        swept.backups = self
            .db
            .query(&scheduled("backups"), vec![])
            .await?
            .iter()
            .map(|r| r.i64(0))
            .collect();
        swept.restores = self
            .db
            .query(&scheduled("restores"), vec![])
            .await?
            .iter()
            .map(|r| r.i64(0))
            .collect();
        Ok(swept)
    }
}

impl Store {
    /// Whether a restore into the instance is scheduled or running.
    pub async fn restore_active(&self, instance_id: i64) -> StoreResult<bool> {
        Ok(self
            .db
            .query_opt(
                "SELECT 1 FROM restores WHERE instance_id = $1 AND status IN (0, 1) LIMIT 1",
                params![instance_id],
            )
            .await?
            .is_some())
    }
}
