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

mod access_matrix;
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
mod dashboard;
mod discovery;
mod durability;
mod endpoints_data;
mod endpoints_data_expand;
mod endpoints_data_get;
mod endpoints_scripts;
mod endpoints_scripts_run;
mod faults;
mod field_errors;
mod files;
mod fuzz_requests;
mod groups;
mod health;
mod instances;
mod invitations;
mod jobs_durability;
mod limits;
mod logs;
mod method_order;
mod metrics;
mod object_changes;
mod object_ids;
mod objects;
mod objects_common;
mod objects_permissions;
mod objects_query;
mod objects_store;
mod objects_stress;
mod query_prop;
mod schedules;
mod security_admins;
mod security_batch;
mod security_body;
mod security_input;
mod security_media;
mod security_refs;
mod snippets_config;
mod snippets_executor;
mod snippets_hostile;
mod snippets_run;
mod snippets_runtimes;
mod snippets_scripts;
mod snippets_stale;
mod snippets_templates;
mod snippets_templates_hostile;
mod snippets_warm;
mod template_responses;
mod triggers;
mod triggers_runs;
mod users;
mod writes;
