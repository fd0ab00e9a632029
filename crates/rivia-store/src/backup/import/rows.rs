//! The row work of a restore: decoding chunks, rewriting what moved, and writing rows in
//! multi-row INSERTs while keeping ids and keys where the target has them free.

use super::invalid;
use crate::backup::BackupError;
use crate::backup::codec::{decode_row, lines};
use crate::backup::tables::{Table, column_list};
use crate::db::{Dialect, Statement, Tx, Val};
use crate::params;
use serde_json::Value;
use std::collections::HashSet;

/// Rows per INSERT statement and statements per trip to the database.
const ROWS_PER_INSERT: usize = 200;
const INSERTS_PER_TRIP: usize = 5;

pub(super) fn decode_all(
    columns: &[crate::backup::tables::Column],
    bytes: &[u8],
) -> Result<Vec<Vec<Val>>, BackupError> {
    lines(bytes)
        .map(|l| decode_row(columns, l).map_err(BackupError::Invalid))
        .collect()
}

/// Rewrites the file fields of an object moved to another instance or class.
pub(super) fn rewrite_file_paths(data: &str, keys: &[String], old: &str, new: &str) -> String {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(data) else {
        return data.to_string();
    };
    let mut changed = false;
    for key in keys {
        if let Some(Value::String(path)) = map.get_mut(key)
            && let Some(rest) = path.strip_prefix(old)
        {
            *path = format!("{new}{rest}");
            changed = true;
        }
    }
    if changed {
        Value::Object(map).to_string()
    } else {
        data.to_string()
    }
}

/// Multi-row INSERTs, several per trip to the database.
pub(super) async fn insert_many(
    tx: &mut Tx,
    head: &str,
    width: usize,
    rows: Vec<Vec<Val>>,
) -> Result<(), BackupError> {
    let mut statements: Vec<Statement> = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val>> = rows.by_ref().take(ROWS_PER_INSERT).collect();
        let mut sql = String::with_capacity(head.len() + chunk.len() * width * 5);
        sql.push_str(head);
        let mut params = Vec::with_capacity(chunk.len() * width);
        for (i, row) in chunk.into_iter().enumerate() {
            if row.len() != width {
                return Err(invalid("a row has the wrong number of values"));
            }
            sql.push_str(if i == 0 { "(" } else { ", (" });
            for j in 0..width {
                if j > 0 {
                    sql.push_str(", ");
                }
                sql.push('$');
                sql.push_str(&(params.len() + j + 1).to_string());
            }
            sql.push(')');
            params.extend(row);
        }
        statements.push((sql, params));
        if statements.len() >= INSERTS_PER_TRIP {
            tx.query_many(std::mem::take(&mut statements)).await?;
        }
    }
    if !statements.is_empty() {
        tx.query_many(statements).await?;
    }
    Ok(())
}

/// Inserts a row of a table with a database-wide id, keeping the id when it is free;
/// returns the id the row got.
pub(super) async fn insert_keeping_id(
    tx: &mut Tx,
    table: &Table,
    instance_id: i64,
    mut row: Vec<Val>,
) -> Result<i64, BackupError> {
    let id = row.first().cloned().unwrap_or(Val::Null);
    let taken = tx
        .query_opt(
            &format!("SELECT 1 FROM {} WHERE id = $1", table.name),
            vec![id],
        )
        .await?
        .is_some();
    let (columns, values) = if taken {
        row.remove(0);
        (&table.columns[1..], row)
    } else {
        (table.columns, row)
    };
    let names = column_list(columns);
    let placeholders: Vec<String> = (1..=columns.len() + 1).map(|i| format!("${i}")).collect();
    let mut params = vec![Val::Int(instance_id)];
    params.extend(values);
    let sql = format!(
        "INSERT INTO {} (instance_id, {names}) VALUES ({}) RETURNING id",
        table.name,
        placeholders.join(", ")
    );
    Ok(tx.query_one(&sql, params).await?.i64(0))
}

/// Moves a PostgreSQL identity sequence past the ids a restore wrote explicitly, so the
/// next row created normally does not collide with them.
pub(super) async fn bump_identity(tx: &mut Tx, table: &str) -> Result<(), BackupError> {
    if tx.dialect() != Dialect::Postgres {
        return Ok(());
    }
    let seq = tx
        .query_one("SELECT pg_get_serial_sequence($1, 'id')", params![table])
        .await?;
    let Some(seq) = seq.opt_str(0).map(str::to_string) else {
        return Ok(());
    };
    // The name comes from the catalog (the table names are the list's constants).
    tx.query(
        &format!(
            "SELECT setval('{seq}', GREATEST((SELECT COALESCE(MAX(id), 1) FROM {table}), (SELECT last_value FROM {seq})))"
        ),
        vec![],
    )
    .await?;
    Ok(())
}

/// Replaces the values of a database-wide unique key column that the target already
/// holds with fresh keys; returns how many were replaced.
pub(super) async fn replace_taken_keys(
    tx: &mut Tx,
    table: &Table,
    column: &str,
    fresh: crate::backup::tables::KeyGenerator,
    rows: &mut [Vec<Val>],
) -> Result<u64, BackupError> {
    let at = table
        .position(column)
        .ok_or_else(|| invalid("bad key column"))?;
    let mut taken: HashSet<String> = HashSet::new();
    for chunk in rows.chunks(500) {
        let values: Vec<Val> = chunk.iter().map(|r| r[at].clone()).collect();
        let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("${i}")).collect();
        let found = tx
            .query(
                &format!(
                    "SELECT {column} FROM {} WHERE {column} IN ({})",
                    table.name,
                    placeholders.join(", ")
                ),
                values,
            )
            .await?;
        taken.extend(found.iter().map(|r| r.str(0).to_string()));
    }
    let mut replaced = 0;
    for row in rows.iter_mut() {
        if let Val::Text(key) = &row[at]
            && taken.contains(key)
        {
            row[at] = Val::Text(fresh());
            replaced += 1;
        }
    }
    Ok(replaced)
}
