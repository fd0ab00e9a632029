//! The one declarative list of what a backup holds: every instance-scoped table, its
//! columns with their portable kinds, and how its rows are fitted into another database
//! on restore. Adding a table to backups is one entry in [`TABLES`] (in dependency order:
//! a table comes after the tables its rows refer to).
//!
//! Every table listed has an `instance_id` column (not listed among the columns: a restore
//! writes the target instance's id). Per-class object tables (`c<class id>`) and uploaded
//! files are not listed here: they follow the `classes` rows (see `export.rs`).

/// How a column's value is written in the archive (the same on both backends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 64-bit integer (ids, counters, timestamps in µs): a JSON integer.
    Int,
    /// Boolean (`INTEGER` 0/1 on SQLite, `BOOLEAN` on PostgreSQL): a JSON boolean.
    Bool,
    /// Text: a JSON string.
    Text,
    /// JSON kept as text (`TEXT` on SQLite, `jsonb` on PostgreSQL): a JSON string holding
    /// the document, bound as JSON on restore.
    Json,
}

/// A column and its kind.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// Column name.
    pub name: &'static str,
    /// Portable kind.
    pub kind: Kind,
}

const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

/// Draws a fresh key for a unique key column.
pub type KeyGenerator = fn() -> String;

/// One instance-scoped table.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Table name.
    pub name: &'static str,
    /// Columns saved and restored, `instance_id` excepted.
    pub columns: &'static [Column],
    /// The `id` column is database-wide (an identity column), not counted per instance:
    /// a restore keeps the id when the target database has it free and takes a new one
    /// otherwise (a copy within one database), remapping the columns that refer to it.
    pub global_id: bool,
    /// Columns holding another listed table's database-wide id: `(column, table)`.
    pub refs: &'static [(&'static str, &'static str)],
    /// Columns unique across the whole database (secret keys) with the generator of a
    /// fresh one: a restore keeps the value unless the target database already has it
    /// (a copy within one database), then draws a fresh key.
    pub unique_keys: &'static [(&'static str, KeyGenerator)],
    /// SQL condition (on the table's own columns) matching the rows every new instance
    /// starts with; an instance holding only such rows counts as empty for a restore.
    pub builtin: Option<&'static str>,
}

use Kind::{Bool, Int, Json, Text};

const fn table(name: &'static str, columns: &'static [Column]) -> Table {
    Table {
        name,
        columns,
        global_id: false,
        refs: &[],
        unique_keys: &[],
        builtin: None,
    }
}

/// Every instance-scoped table a backup holds, in restore order.
pub const TABLES: &[Table] = &[
    Table {
        builtin: Some("TRUE"),
        ..table("instance_counters", &[col("kind", Text), col("value", Int)])
    },
    Table {
        builtin: Some("config = '{}'"),
        ..table(
            "instance_configs",
            &[col("config", Text), col("updated_at", Int)],
        )
    },
    Table {
        global_id: true,
        unique_keys: &[("api_key", rivia_core::keys::new_api_key)],
        ..table(
            "api_keys",
            &[
                col("id", Int),
                col("api_key", Text),
                col("description", Text),
                col("ignore_acl", Bool),
                col("allow_user_create", Bool),
                col("allow_group_create", Bool),
                col("allow_anonymous_read", Bool),
                col("created_at", Int),
            ],
        )
    },
    Table {
        unique_keys: &[("user_key", rivia_core::keys::new_account_key)],
        ..table(
            "users",
            &[
                col("id", Int),
                col("username", Text),
                col("password", Text),
                col("user_key", Text),
                col("profile_id", Int),
                col("created_at", Int),
                col("updated_at", Int),
            ],
        )
    },
    table(
        "user_groups",
        &[
            col("id", Int),
            col("name", Text),
            col("label", Text),
            col("description", Text),
            col("created_at", Int),
            col("updated_at", Int),
        ],
    ),
    table(
        "memberships",
        &[
            col("user_id", Int),
            col("group_id", Int),
            col("created_at", Int),
        ],
    ),
    Table {
        global_id: true,
        builtin: Some("name = 'user_profile'"),
        ..table(
            "classes",
            &[
                col("id", Int),
                col("name", Text),
                col("description", Text),
                col("schema", Text),
                col("revision", Int),
                col("group_id", Int),
                col("group_permissions", Int),
                col("other_permissions", Int),
                col("metadata", Text),
                col("objects_count", Int),
                col("created_at", Int),
                col("updated_at", Int),
            ],
        )
    },
    Table {
        global_id: true,
        builtin: Some("name IN ('default', 'eventlog')"),
        ..table(
            "channels",
            &[
                col("id", Int),
                col("name", Text),
                col("description", Text),
                col("type", Int),
                col("group_id", Int),
                col("group_permissions", Int),
                col("other_permissions", Int),
                col("custom_publish", Bool),
                col("created_at", Int),
                col("updated_at", Int),
            ],
        )
    },
    Table {
        refs: &[("channel_id", "channels")],
        ..table(
            "changes",
            &[
                col("id", Int),
                col("channel_id", Int),
                col("room", Text),
                col("action", Text),
                col("author", Text),
                col("metadata", Text),
                col("payload", Text),
                col("created_at", Int),
            ],
        )
    },
    table(
        "scripts",
        &[
            col("id", Int),
            col("runtime_name", Text),
            col("source", Text),
            col("config", Text),
            col("label", Text),
            col("description", Text),
            col("created_at", Int),
            col("updated_at", Int),
        ],
    ),
    table(
        "traces",
        &[
            col("kind", Text),
            col("id", Int),
            col("parent", Text),
            col("status", Text),
            col("executed_at", Int),
            col("duration", Int),
            col("result", Text),
            col("result_len", Int),
            col("updated_at", Int),
            col("meta", Text),
            col("args", Text),
            col("args_len", Int),
        ],
    ),
    Table {
        unique_keys: &[("public_link", rivia_core::keys::new_token)],
        ..table(
            "script_endpoints",
            &[
                col("id", Int),
                col("name", Text),
                col("description", Text),
                col("script_id", Int),
                col("public_link", Text),
                col("public", Bool),
                col("created_at", Int),
                col("updated_at", Int),
            ],
        )
    },
    table(
        "triggers",
        &[
            col("id", Int),
            col("label", Text),
            col("description", Text),
            col("signal", Text),
            col("class_name", Text),
            col("script_id", Int),
            col("created_at", Int),
            col("updated_at", Int),
        ],
    ),
    table(
        "schedules",
        &[
            col("id", Int),
            col("label", Text),
            col("description", Text),
            col("script_id", Int),
            col("interval_sec", Int),
            col("crontab", Text),
            col("timezone", Text),
            col("scheduled_next", Int),
            col("created_at", Int),
            col("updated_at", Int),
        ],
    ),
    Table {
        global_id: true,
        refs: &[("class_id", "classes")],
        ..table(
            "data_endpoints",
            &[
                col("id", Int),
                col("name", Text),
                col("description", Text),
                col("class_id", Int),
                col("query", Text),
                col("excluded_fields", Text),
                col("order_by", Text),
                col("page_size", Int),
                col("expand", Text),
                col("created_at", Int),
                col("updated_at", Int),
            ],
        )
    },
    Table {
        global_id: true,
        builtin: Some("name IN ('objects_html_table', 'objects_csv')"),
        ..table(
            "response_templates",
            &[
                col("id", Int),
                col("name", Text),
                col("content", Text),
                col("content_type", Text),
                col("context", Text),
                col("description", Text),
                col("created_at", Int),
                col("updated_at", Int),
            ],
        )
    },
];

/// The columns of every per-class object table (`c<class id>`), in archive order.
pub const OBJECT_COLUMNS: &[Column] = &[
    col("id", Int),
    col("created_at", Int),
    col("updated_at", Int),
    col("revision", Int),
    col("owner", Int),
    col("owner_permissions", Int),
    col("group_id", Int),
    col("group_permissions", Int),
    col("other_permissions", Int),
    col("channel", Text),
    col("channel_room", Text),
    col("data", Json),
];

/// A listed table by name.
pub fn table_named(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

impl Table {
    /// `a, b, c` of the listed columns.
    pub(crate) fn column_list(&self) -> String {
        column_list(self.columns)
    }

    /// Position of a column among the listed ones.
    pub(crate) fn position(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == column)
    }
}

pub(crate) fn column_list(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_point_at_earlier_tables_with_database_wide_ids() {
        for (i, t) in TABLES.iter().enumerate() {
            for (column, target) in t.refs {
                assert!(t.position(column).is_some(), "{}.{column}", t.name);
                let j = TABLES
                    .iter()
                    .position(|o| o.name == *target)
                    .unwrap_or(usize::MAX);
                assert!(j < i, "{} refers to {target}, listed later", t.name);
                assert!(TABLES[j].global_id, "{target} has no database-wide id");
            }
            if t.global_id {
                assert_eq!(t.columns[0].name, "id", "{}", t.name);
            }
        }
    }
}
