//! Store integration tests: one binary, every test on SQLite and PostgreSQL, against the
//! store's own operations (no HTTP): units of work, cancelled and failed statements,
//! pipelined reads, per-instance id sequences and typed unique-constraint failures.

pub mod helpers;

mod backup_tables;
mod constraints;
mod ids;
mod reads;
mod units;
