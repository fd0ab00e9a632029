//! Rivia domain types and rules: names, keys, passwords, permissions, field errors,
//! pagination cursors, metadata. Pure functions only: no IO, no HTTP, no SQL.

pub mod config;
pub mod errors;
pub mod keys;
pub mod metadata;
pub mod names;
pub mod page;
pub mod password;
pub mod perms;
pub mod templates;
pub mod time;

pub use errors::FieldErrors;
pub mod object;
pub mod query;
pub mod schedule;
pub mod schema;
