//! Backups and restores of whole instances (rest §10, issue #19): the archive format
//! ([`archive`], documented in docs/backup-format.md), the declarative list of what it
//! holds ([`tables`]), writing one from a snapshot ([`export`]), restoring one in a single
//! transaction ([`import`]), and the rows that record backup and restore jobs ([`jobs`]).

pub mod archive;
mod codec;
mod export;
mod import;
pub mod jobs;
pub mod tables;

pub use export::BackupSummary;
pub use import::{RestoreSummary, RestoreTarget};

use crate::StoreError;

/// Why a backup or a restore failed. The message is fit for `status_info` and the CLI.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The archive cannot be used.
    #[error(transparent)]
    Archive(#[from] archive::ArchiveError),
    /// The archive's content does not fit together (it passed its checksums, so it was
    /// written wrong or by hand).
    #[error("The backup archive is invalid: {0}.")]
    Invalid(String),
    /// The target instance holds data.
    #[error("Cannot restore to non empty target instance.")]
    NotEmpty,
    /// The instance was deleted.
    #[error("Instance no longer exists.")]
    InstanceGone,
    /// Files could not be read or written.
    #[error("File error: {0}")]
    Io(String),
    /// The database failed.
    #[error("Database error: {0}")]
    Store(#[from] StoreError),
}

/// Told how far a backup or restore has got (the CLI's progress bar; a no-op elsewhere).
pub trait Progress: Send + Sync {
    /// A listed table was done, with its row count.
    fn rows(&self, _table: &str, _rows: u64) {}
    /// More data objects were done.
    fn objects(&self, _n: u64) {}
    /// More bytes of files (or archive) were done.
    fn bytes(&self, _n: u64) {}
    /// The share of wall time the backup may spend working (1.0: flat out). Below 1 it
    /// pauses after each archive member in proportion to the work just done, so that a
    /// background backup leaves the instance's requests most of the CPU.
    fn work_share(&self) -> f64 {
        1.0
    }
}

/// A [`Progress`] that ignores everything.
pub struct NoProgress;
impl Progress for NoProgress {}

/// A [`Progress`] for backups the API schedules: nothing to show, and it works a third of
/// the time. Measured with `bench/backup.py` on 2 cores, back-to-back backups flat out left
/// reads of one object 60% of their rate; the instance's traffic comes first.
pub struct Background;
impl Progress for Background {
    fn work_share(&self) -> f64 {
        1.0 / 3.0
    }
}

/// A stored file name: 40 hex digits and an optional short alphanumeric extension (the
/// only names the server writes; anything else could escape the files directory).
pub(crate) fn valid_file_name(name: &str) -> bool {
    let (stem, ext) = match name.split_once('.') {
        Some((s, e)) => (s, Some(e)),
        None => (name, None),
    };
    stem.len() == 40
        && stem.bytes().all(|b| b.is_ascii_hexdigit())
        && ext.is_none_or(|e| {
            !e.is_empty() && e.len() <= 16 && e.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}
