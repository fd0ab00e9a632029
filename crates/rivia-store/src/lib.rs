//! Rivia's storage seam. [`Store`] is the only way the server reaches a database; every
//! operation is one method, and every method that writes is one transaction. The same
//! code runs on SQLite and PostgreSQL through [`db::Db`]; the few dialect differences
//! (DDL, JSON expressions) branch on [`db::Dialect`].

mod db;
mod error;
mod fragments;
mod ids;
mod unit;

pub mod admins;
pub mod api_keys;
pub mod backup;
pub mod bus;
pub mod channels;
pub mod classes;
pub mod config;
pub mod data_endpoints;
pub mod health;
pub mod instances;
pub mod invitations;
pub mod jobs;
pub mod objects;
mod rows;
pub mod schedules;
pub mod script_endpoints;
pub mod scripts;
mod sql;
pub mod templates;
#[cfg(feature = "testing")]
pub mod testing;
pub mod traces;
pub mod triggers;
pub mod users;

pub(crate) use db::params;
pub use db::{Constraint, Db, Dialect, StoreError, StoreResult};
pub(crate) use db::{Row, Val};
pub(crate) use fragments::{
    finish_keyset, like_prefix, push_in_list, push_keyset, push_keyset_by, push_placeholder,
    qualify,
};
pub(crate) use ids::{next_instance_id, table_name};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
pub use unit::UnitOfWork;

/// The storage handle shared by the whole server.
#[derive(Clone)]
pub struct Store {
    /// The database: reached only through the store's named operations.
    pub(crate) db: Db,
    /// Bumped after every committed change to what authentication reads (instances, admins,
    /// roles, API keys, users), to classes and to channels (also when another node's
    /// channel deletion is notified), so caches of those lookups can tell a
    /// stale entry: an entry remembers the generation read before its database lookup.
    auth_generation: Arc<AtomicU64>,
    /// Wakes channel pollers on this node when changes commit.
    pub bus: bus::ChangeBus,
    /// Recent PostgreSQL planner estimates of large counts (see [`objects::EstimateCache`]).
    estimates: Arc<objects::EstimateCache>,
}

impl Store {
    /// Wraps an opened database.
    pub fn new(db: Db) -> Self {
        Store {
            db,
            auth_generation: Arc::new(AtomicU64::new(0)),
            bus: bus::ChangeBus::default(),
            estimates: Arc::default(),
        }
    }

    /// The current generation of authentication data (see [`Store`]).
    pub fn auth_generation(&self) -> u64 {
        self.auth_generation.load(Ordering::Acquire)
    }

    /// Records a committed change to authentication data.
    pub(crate) fn auth_changed(&self) {
        self.auth_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Closes the database cleanly (checkpoints the SQLite WAL).
    pub async fn close(&self) {
        self.db.close().await;
    }
}
