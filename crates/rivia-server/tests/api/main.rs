//! API integration tests: one binary, every test on SQLite and PostgreSQL.

pub mod helpers;

mod account;
mod admins;
mod api_keys;
mod batch;
mod channel_polling;
mod channel_publish;
mod channels;
mod channels_net;
mod channels_store;
mod classes;
mod cli;
mod client;
mod conventions;
mod durability;
mod files;
mod groups;
mod instances;
mod invitations;
mod object_changes;
mod object_ids;
mod objects;
mod objects_common;
mod objects_permissions;
mod objects_query;
mod objects_store;
mod objects_stress;
mod query_prop;
mod users;
mod writes;
