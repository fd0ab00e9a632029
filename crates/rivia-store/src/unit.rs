//! The unit of work: a write transaction handed out of the store with named operations
//! instead of SQL. An HTTP write that must check things between its statements (a
//! channel's publish rights, files stored for the request) runs them on one
//! [`UnitOfWork`]; its operations are defined by the area they touch (objects,
//! channels) in `impl UnitOfWork` blocks there. Nothing is kept unless
//! [`UnitOfWork::commit`] succeeds: dropping it (an error, or the request cancelled)
//! rolls everything back.

use crate::Store;
use crate::db::{StoreResult, Tx};

/// Several writes in one transaction (see the module documentation).
pub struct UnitOfWork {
    pub(crate) tx: Tx,
}

impl Store {
    /// Starts a unit of work. Like every write transaction it holds the writer (SQLite)
    /// or a pooled connection (PostgreSQL) until it ends, so keep it short.
    pub async fn begin_write(&self) -> StoreResult<UnitOfWork> {
        Ok(UnitOfWork {
            tx: self.db.begin().await?,
        })
    }
}

impl UnitOfWork {
    /// Commits every write of the unit; dropping the unit instead rolls them back.
    pub async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await
    }
}
