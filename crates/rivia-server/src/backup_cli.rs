//! `rivia backup create | restore | list`, against the data directory or the database
//! URL, with a progress bar (objects and bytes) on a terminal and plain lines otherwise.

use crate::config::BackupCommand;
use crate::jobs::{LEASE, backup_archive_rel};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rivia_store::Store;
use rivia_store::backup::jobs::{NewBackup, Status};
use rivia_store::backup::{Progress, RestoreTarget};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Progress on stderr: a live bar on a terminal, one line per step otherwise.
struct CliProgress {
    bar: Option<ProgressBar>,
    verb: &'static str,
    objects: AtomicU64,
    bytes: AtomicU64,
    started: Instant,
}

impl CliProgress {
    fn new(verb: &'static str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        CliProgress {
            bar,
            verb,
            objects: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    fn report(&self, what: &str) {
        let objects = self.objects.load(Ordering::Relaxed);
        let mb = self.bytes.load(Ordering::Relaxed) as f64 / 1e6;
        let line = format!(
            "{}: {what}; {objects} objects, {mb:.1} MB of files",
            self.verb
        );
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None => eprintln!("{line}"),
        }
    }

    fn done(&self, line: &str) {
        let secs = self.started.elapsed().as_secs_f64();
        match &self.bar {
            Some(bar) => bar.finish_with_message(format!("{line} in {secs:.1} s")),
            None => eprintln!("{line} in {secs:.1} s"),
        }
    }
}

impl Progress for CliProgress {
    fn rows(&self, table: &str, _rows: u64) {
        self.report(&format!("table {table}"));
    }
    fn objects(&self, n: u64) {
        self.objects.fetch_add(n, Ordering::Relaxed);
        self.report("objects");
    }
    fn bytes(&self, n: u64) {
        let before = self.bytes.fetch_add(n, Ordering::Relaxed);
        // One line per 10 MB of files in plain mode; the bar redraws anyway.
        if self.bar.is_some() || (before + n) / 10_000_000 != before / 10_000_000 {
            self.report("files");
        }
    }
}

/// Runs a `rivia backup` command on an opened store.
pub async fn run(command: BackupCommand, store: Store, data_dir: &Path) -> anyhow::Result<()> {
    match command {
        BackupCommand::Create { instance, out, .. } => {
            create(&store, data_dir, &instance, out).await
        }
        BackupCommand::Restore { file, instance, .. } => {
            restore(&store, data_dir, &file, &instance).await
        }
        BackupCommand::List { .. } => list(&store).await,
    }
}

async fn create(
    store: &Store,
    data_dir: &Path,
    name: &str,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let instance = store
        .instance_by_name(&name.to_lowercase())
        .await?
        .with_context(|| format!("no instance named {name:?}"))?;
    let files = data_dir.join("files");
    let progress = CliProgress::new("backup");
    if let Some(out) = out {
        let summary = store
            .write_backup(instance.id, &files, &out, &progress)
            .await?;
        progress.done(&format!(
            "backed up {name} to {} ({} objects, {} files, {} bytes)",
            out.display(),
            summary.objects,
            summary.files,
            summary.size
        ));
        return Ok(());
    }
    // Kept under the data directory and recorded, as a backup made through the API by
    // the instance's owner.
    let new = NewBackup {
        owner_id: instance.owner_id,
        instance_id: instance.id,
        description: "rivia backup create",
        label: "",
        metadata: "{}",
    };
    let backup = store
        .create_backup(&new, crate::api::backups::BACKUPS_PER_ACCOUNT)
        .await
        .map_err(|e| anyhow::anyhow!("cannot start a backup: {e:?}"))?;
    let node = format!("cli-{}", rivia_core::keys::new_token());
    let lease = || rivia_core::time::now_micros() + LEASE.as_micros() as i64;
    store.claim_backup(backup.id, &node, lease()).await?;
    let renew = {
        let (store, node) = (store.clone(), node.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE / 3).await;
                let _ = store.renew_backup_job_leases(&node, lease()).await;
            }
        })
    };
    let rel = backup_archive_rel(instance.owner_id, backup.id);
    let written = store
        .write_backup(instance.id, &files, &data_dir.join(&rel), &progress)
        .await;
    renew.abort();
    match written {
        Ok(summary) => {
            let details = serde_json::Value::Object(summary.details.clone()).to_string();
            store
                .finish_backup(
                    backup.id,
                    Status::Success,
                    "",
                    Some(summary.size as i64),
                    Some(&rel),
                    &details,
                )
                .await?;
            progress.done(&format!(
                "backup {} of {name}: {} ({} objects, {} files, {} bytes)",
                backup.id,
                data_dir.join(&rel).display(),
                summary.objects,
                summary.files,
                summary.size
            ));
            Ok(())
        }
        Err(e) => {
            store
                .finish_backup(backup.id, Status::Error, &e.to_string(), None, None, "{}")
                .await?;
            Err(e.into())
        }
    }
}

async fn restore(store: &Store, data_dir: &Path, file: &Path, name: &str) -> anyhow::Result<()> {
    let name = match rivia_core::names::validate_slug(name, rivia_core::names::SlugFamily::Instance)
    {
        Ok(n) => n,
        Err(why) => bail!("{name:?} is not a valid instance name: {}", why.join(" ")),
    };
    let target = match store.instance_by_name(&name).await? {
        Some(i) => RestoreTarget::Instance {
            id: i.id,
            job: None,
        },
        None => RestoreTarget::New { name: &name },
    };
    let progress = CliProgress::new("restore");
    let summary = store
        .restore_backup(file, target, &data_dir.join("files"), &progress)
        .await?;
    progress.done(&format!(
        "restored {} into instance {name} ({} rows, {} objects, {} files; {} ids and {} keys had to change)",
        file.display(),
        summary.rows,
        summary.objects,
        summary.files,
        summary.new_ids,
        summary.new_keys
    ));
    Ok(())
}

async fn list(store: &Store) -> anyhow::Result<()> {
    let backups = store.all_backups(1000).await?;
    println!(
        "{:>6}  {:<24} {:<10} {:>12}  {:<27} archive",
        "id", "instance", "status", "bytes", "created"
    );
    for b in backups {
        println!(
            "{:>6}  {:<24} {:<10} {:>12}  {:<27} {}",
            b.id,
            b.instance_name.as_deref().unwrap_or("-"),
            b.status.name(),
            b.size.map_or("-".into(), |s| s.to_string()),
            rivia_core::time::format_micros(b.created_at),
            b.archive.as_deref().unwrap_or("-"),
        );
    }
    Ok(())
}
