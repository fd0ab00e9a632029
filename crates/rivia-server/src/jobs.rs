//! Background backup and restore jobs. A request records the job (the row is the
//! durable record) and this node starts it at once; [`Jobs::maintain`] (run by `rivia
//! serve`) renews the leases of this node's jobs, marks failed the jobs of nodes that went
//! away, and starts jobs left scheduled (requested just before a crash).

use crate::state::AppState;
use rivia_store::backup::jobs::Status;
use rivia_store::backup::{Background, BackupError, NoProgress, RestoreTarget};
use std::path::PathBuf;
use std::time::Duration;

/// How long a job's lease lasts; renewed every third of it while the job runs.
pub const LEASE: Duration = Duration::from_secs(30);

/// This node's job identity.
pub struct Jobs {
    /// Random per process: a job's `node` tells which process runs it.
    node: String,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs {
            node: rivia_core::keys::new_token(),
        }
    }
}

impl Jobs {
    /// This process's node name.
    pub fn node(&self) -> &str {
        &self.node
    }
}

fn lease_until() -> i64 {
    rivia_core::time::now_micros() + LEASE.as_micros() as i64
}

/// Where archives of backups live: `<data-dir>/backups/<owner id>/<backup id>.tar`.
pub(crate) fn backup_archive_rel(owner_id: i64, id: i64) -> String {
    format!("backups/{owner_id}/{id}.tar")
}

/// Where uploaded archives wait for their restore: `<data-dir>/restores/<token>.tar`.
pub(crate) fn upload_rel() -> String {
    format!("restores/{}.tar", rivia_core::keys::new_token())
}

/// What a failed job tells its owner: archive and content problems as they are; storage
/// and file failures only in the log.
pub(crate) fn status_info(job: &str, id: i64, e: &BackupError) -> String {
    match e {
        BackupError::Store(_) | BackupError::Io(_) => {
            tracing::error!(job, id, error = %e, "job failed");
            format!("The {job} failed on a server error; the server log has the details.")
        }
        other => {
            tracing::warn!(job, id, error = %other, "job failed");
            other.to_string()
        }
    }
}

impl AppState {
    fn files_dir(&self) -> PathBuf {
        self.settings.data_dir.join("files")
    }

    /// Starts a recorded backup in the background.
    pub(crate) fn start_backup(&self, id: i64) {
        let app = self.clone();
        tokio::spawn(async move { app.run_backup(id).await });
    }

    /// Starts a recorded restore in the background.
    pub(crate) fn start_restore(&self, id: i64) {
        let app = self.clone();
        tokio::spawn(async move { app.run_restore(id).await });
    }

    async fn run_backup(&self, id: i64) {
        let store = &self.store;
        match store
            .claim_backup(id, self.jobs.node(), lease_until())
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => return tracing::error!(id, error = %e, "claiming a backup failed"),
        }
        let backup = match store.backup(id).await {
            Ok(Some(b)) => b,
            Ok(None) => return,
            Err(e) => return tracing::error!(id, error = %e, "reading a backup failed"),
        };
        let ended = match backup.instance_id {
            None => {
                let info = BackupError::InstanceGone.to_string();
                store
                    .finish_backup(id, Status::Error, &info, None, None, "{}")
                    .await
            }
            Some(instance_id) => {
                let rel = backup_archive_rel(backup.owner_id, id);
                let path = self.settings.data_dir.join(&rel);
                let written = store
                    .write_backup(instance_id, &self.files_dir(), &path, &Background)
                    .await;
                match written {
                    Ok(summary) => {
                        let details = serde_json::Value::Object(summary.details).to_string();
                        tracing::info!(id, instance_id, size = summary.size, "backup done");
                        store
                            .finish_backup(
                                id,
                                Status::Success,
                                "",
                                Some(summary.size as i64),
                                Some(&rel),
                                &details,
                            )
                            .await
                    }
                    Err(e) => {
                        let info = status_info("backup", id, &e);
                        store
                            .finish_backup(id, Status::Error, &info, None, None, "{}")
                            .await
                    }
                }
            }
        };
        if let Err(e) = ended {
            tracing::error!(id, error = %e, "recording the end of a backup failed");
        }
    }

    async fn run_restore(&self, id: i64) {
        let store = &self.store;
        match store
            .claim_restore(id, self.jobs.node(), lease_until())
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => return tracing::error!(id, error = %e, "claiming a restore failed"),
        }
        let result = self.restore_job(id).await;
        let restore = store.restore_by_id(id).await.ok().flatten();
        // An uploaded archive is kept only until its restore ends.
        if let Some(rel) = restore.as_ref().and_then(|r| r.archive.clone()) {
            let _ = std::fs::remove_file(self.settings.data_dir.join(rel));
        }
        if let Err(e) = result {
            let info = status_info("restore", id, &e);
            if let Err(e) = store.fail_restore(id, &info).await {
                tracing::error!(id, error = %e, "recording a failed restore failed");
            }
        }
    }

    async fn restore_job(&self, id: i64) -> Result<(), BackupError> {
        let store = &self.store;
        let restore = store
            .restore_by_id(id)
            .await?
            .ok_or(BackupError::InstanceGone)?;
        let archive = match (&restore.archive, restore.backup_id) {
            (Some(rel), _) => rel.clone(),
            (None, Some(backup_id)) => store
                .backup(backup_id)
                .await?
                .filter(|b| b.status == Status::Success)
                .and_then(|b| b.archive)
                .ok_or_else(|| BackupError::Invalid("the backup is gone".into()))?,
            (None, None) => return Err(BackupError::Invalid("nothing to restore".into())),
        };
        let path = self.settings.data_dir.join(archive);
        let target = RestoreTarget::Instance {
            id: restore.instance_id,
            job: Some(id),
        };
        let summary = store
            .restore_backup(&path, target, &self.files_dir(), &NoProgress)
            .await?;
        tracing::info!(
            id,
            instance_id = restore.instance_id,
            objects = summary.objects,
            "restore done"
        );
        Ok(())
    }

    /// Keeps this node's jobs alive and picks up the others' (see the module
    /// documentation); runs until the process ends.
    pub async fn maintain_jobs(self) {
        let mut startup = true;
        loop {
            self.maintain_once(startup).await;
            startup = false;
            tokio::time::sleep(LEASE / 3).await;
        }
    }

    /// One round of [`AppState::maintain_jobs`]; `startup` for the first.
    pub async fn maintain_once(&self, startup: bool) {
        let store = &self.store;
        if let Err(e) = store
            .renew_backup_job_leases(self.jobs.node(), lease_until())
            .await
        {
            tracing::warn!(error = %e, "renewing job leases failed");
        }
        match store
            .sweep_jobs(self.jobs.node(), rivia_core::time::now_micros(), startup)
            .await
        {
            Ok(swept) => {
                if swept.interrupted > 0 {
                    tracing::warn!(
                        jobs = swept.interrupted,
                        "marked interrupted backup/restore jobs as failed"
                    );
                }
                for id in swept.backups {
                    self.start_backup(id);
                }
                for id in swept.restores {
                    self.start_restore(id);
                }
            }
            Err(e) => tracing::warn!(error = %e, "sweeping jobs failed"),
        }
    }
}
