//! API integration tests: one binary, every test on SQLite and PostgreSQL.

pub mod helpers;

mod account;
mod channels;
mod channels_net;
mod conventions;
mod instances;
