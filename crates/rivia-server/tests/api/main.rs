//! API integration tests: one binary, every test on SQLite and PostgreSQL.

pub mod helpers;

mod account;
mod conventions;
mod instances;
mod objects;
