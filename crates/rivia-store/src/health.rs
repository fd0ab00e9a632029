//! What the server's `/readyz` and `/metrics` ask of the store: whether the database answers
//! with every migration applied, and how busy its connections are.

use crate::{Store, StoreResult};

pub use crate::db::PoolStats;

impl Store {
    /// Succeeds when the database answers (one trivial query) and has every migration of
    /// this build applied; [`crate::StoreError::Unavailable`] otherwise.
    pub async fn check_ready(&self) -> StoreResult<()> {
        self.db.check_ready().await
    }

    /// How busy each connection pool is now (no database work: counters only).
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        self.db.pool_stats()
    }
}
