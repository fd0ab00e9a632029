//! The backup table list (`rivia_store::backup::tables::TABLES`) against the real schema
//! on both backends: every table with an `instance_id` column is backed up or
//! deliberately left out, and every column of a backed-up table is listed. A migration
//! that adds an instance-scoped table or column without a backup entry fails here.

use crate::both_backends;
use crate::helpers::{Backend, TestStore};
use rivia_store::backup::tables::{TABLES, table_named};
use rivia_store::testing::Val;

both_backends!(every_instance_scoped_table_and_column_is_backed_up);

/// Instance-scoped tables a backup leaves out, and why.
const NOT_BACKED_UP: &[(&str, &str)] = &[
    (
        "admin_roles",
        "account-level: admins; the CLI restore recreates the archive's admins",
    ),
    ("invitations", "account-level: invitations of admins"),
    ("backups", "the backup jobs themselves"),
    ("restores", "the restore jobs themselves"),
    (
        "jobs",
        "pending trigger and schedule runs of the source; a restored instance starts with none",
    ),
];

async fn every_instance_scoped_table_and_column_is_backed_up(backend: Backend) {
    let Some(t) = TestStore::new(backend).await else {
        return;
    };
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' ORDER BY m.name, p.cid"
        }
        Backend::Postgres => {
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        }
    };
    let rows = t.store.raw().query(sql, vec![]).await.expect("catalog");
    let mut columns: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for r in rows {
        let (Some(Val::Text(table)), Some(Val::Text(col))) = (r.0.first(), r.0.get(1)) else {
            continue;
        };
        columns.entry(table.clone()).or_default().push(col.clone());
    }
    for (table, cols) in &columns {
        if !cols.iter().any(|c| c == "instance_id") || NOT_BACKED_UP.iter().any(|(n, _)| n == table)
        {
            continue;
        }
        let listed = table_named(table).unwrap_or_else(|| {
            panic!("table {table} is instance-scoped but neither in backup::tables::TABLES nor in NOT_BACKED_UP")
        });
        for c in cols.iter().filter(|c| *c != "instance_id") {
            assert!(
                listed.columns.iter().any(|l| l.name == c),
                "column {table}.{c} is not in its backup::tables entry"
            );
        }
        assert_eq!(
            listed.columns.len() + 1,
            cols.len(),
            "{table}: the entry lists a column the table lacks"
        );
    }
    for t in TABLES {
        assert!(
            columns.contains_key(t.name),
            "{} is listed for backups but does not exist",
            t.name
        );
    }
}
