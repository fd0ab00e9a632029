//! Store integration tests: one binary, every test on SQLite and PostgreSQL, against the
//! store's own operations (no HTTP): units of work, cancelled and failed statements,
//! pipelined reads, per-instance id sequences, typed unique-constraint failures and the
//! migration that gave existing instances their response templates.

pub mod helpers;

mod backup_tables;
mod constraints;
mod health;
mod ids;
mod inline_reads;
mod jobs;
mod reads;
mod shared_reads;
mod templates;
mod units;
