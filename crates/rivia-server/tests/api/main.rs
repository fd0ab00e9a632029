//! API integration tests: one binary, every test on SQLite and PostgreSQL.
//!
//! One file per API module of `src/api/` (account, admins, api_keys, batch, channels,
//! classes, discovery, files, groups, instances, invitations, objects, users), split
//! further where a module is large (channel_polling, channel_publish, objects_query,
//! objects_permissions, objects_stress), plus cross-cutting files (conventions,
//! object_changes, writes, durability, cli, channels_net). Tests that reach into the store
//! itself live in files of their own, to move to a store-level binary: object_ids,
//! objects_store, channels_store, query_prop. `helpers` builds apps and sends in-process
//! requests; `client` speaks HTTP and WebSocket over real sockets.

pub mod helpers;

mod account;
mod admins;
mod api_keys;
mod backups;
mod backups_cli;
mod batch;
mod blank_params;
mod channel_polling;
mod channel_publish;
mod channels;
mod channels_net;
mod channels_store;
mod classes;
mod cli;
mod client;
mod conventions;
mod discovery;
mod durability;
mod field_errors;
mod files;
mod groups;
mod instances;
mod invitations;
mod limits;
mod method_order;
mod object_changes;
mod object_ids;
mod objects;
mod objects_common;
mod objects_permissions;
mod objects_query;
mod objects_store;
mod objects_stress;
mod query_prop;
mod security_admins;
mod security_batch;
mod security_input;
mod security_media;
mod security_refs;
mod snippets_config;
mod snippets_executor;
mod snippets_hostile;
mod snippets_run;
mod snippets_scripts;
mod users;
mod writes;
