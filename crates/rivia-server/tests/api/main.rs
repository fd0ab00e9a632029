//! API integration tests: one binary, every test on SQLite and PostgreSQL.

pub mod helpers;

mod account;
mod admins;
mod api_keys;
mod batch;
mod channels;
mod channels_net;
mod cli;
mod client;
mod conventions;
mod durability;
mod instances;
mod invitations;
mod object_changes;
mod object_ids;
mod objects;
mod query_prop;
mod users;
mod writes;
