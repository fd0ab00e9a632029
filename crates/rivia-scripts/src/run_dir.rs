//! The private directory of one run: it holds the script's source, readable by the sandbox
//! user only, and is removed when the run ends (also when the run is dropped).

use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rand::RngExt;

use crate::EngineConfig;

/// A private directory holding one run's source; removed when dropped.
pub(crate) struct RunDir {
    path: PathBuf,
    owner: Option<(u32, u32)>,
}

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

impl RunDir {
    /// Creates `<work_dir>/run-<pid>-<n>-<random>` (0700, owned by `run_as` so the sandbox user
    /// can read it and nobody else can).
    pub(crate) fn create(config: &EngineConfig) -> io::Result<RunDir> {
        // 0711 on the parent: bubblewrap running as `nobody` must traverse it.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&config.work_dir)?;
        let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag = hex::encode(rand::rng().random::<[u8; 6]>());
        let path = config
            .work_dir
            .join(format!("run-{}-{n}-{tag}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&path)?;
        let dir = RunDir {
            path,
            owner: config.run_as,
        };
        if let Some((uid, gid)) = dir.owner {
            std::os::unix::fs::chown(&dir.path, Some(uid), Some(gid))?;
        }
        Ok(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a file the sandbox user can read (0600, same owner as the directory).
    pub(crate) fn write(&self, name: &str, content: &str) -> io::Result<()> {
        use std::io::Write;
        let path = self.path.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        file.write_all(content.as_bytes())?;
        if let Some((uid, gid)) = self.owner {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid))?;
        }
        Ok(())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory holds only a copy of the script source.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
