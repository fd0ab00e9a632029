//! The target of a restore: checked empty, cleared of the rows every new instance starts
//! with, or created (with its admins) from the archive's `instance.json`.

use super::invalid;
use super::rows::bump_identity;
use crate::backup::BackupError;
use crate::backup::tables::TABLES;
use crate::db::{Dialect, Tx, Val};
use crate::{Store, params, table_name};
use serde_json::Value;
use std::collections::HashMap;

/// Refuses a target holding anything but what every new instance starts with.
pub(super) async fn check_empty(tx: &mut Tx, instance_id: i64) -> Result<(), BackupError> {
    for table in TABLES {
        let extra = table
            .builtin
            .map(|b| format!(" AND NOT ({b})"))
            .unwrap_or_default();
        let n = tx
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM {} WHERE instance_id = $1{extra}",
                    table.name
                ),
                params![instance_id],
            )
            .await?
            .i64(0);
        if n > 0 {
            return Err(BackupError::NotEmpty);
        }
    }
    let classes = tx
        .query(
            "SELECT id FROM classes WHERE instance_id = $1",
            params![instance_id],
        )
        .await?;
    for class in classes {
        let any = tx
            .query_opt(
                &format!("SELECT 1 FROM {} LIMIT 1", table_name(class.i64(0))),
                vec![],
            )
            .await?;
        if any.is_some() {
            return Err(BackupError::NotEmpty);
        }
    }
    Ok(())
}

/// Removes the rows every instance starts with (the archive brings its own).
pub(super) async fn clear_instance(tx: &mut Tx, instance_id: i64) -> Result<(), BackupError> {
    let classes = tx
        .query(
            "SELECT id FROM classes WHERE instance_id = $1",
            params![instance_id],
        )
        .await?;
    for class in classes {
        tx.batch(&crate::classes::drop_table_ddl(class.i64(0)))
            .await?;
    }
    for table in TABLES.iter().rev() {
        tx.exec(
            &format!("DELETE FROM {} WHERE instance_id = $1", table.name),
            params![instance_id],
        )
        .await?;
    }
    Ok(())
}

/// Creates the instance (and those of its admins the target lacks) from `instance.json`.
pub(super) async fn create_instance(
    tx: &mut Tx,
    name: &str,
    instance: &Value,
) -> Result<i64, BackupError> {
    let mut admin_ids: HashMap<i64, i64> = HashMap::new();
    let admins = instance["admins"].as_array().cloned().unwrap_or_default();
    for a in &admins {
        let old = a["id"]
            .as_i64()
            .ok_or_else(|| invalid("an admin has no id"))?;
        let new = ensure_admin(tx, a).await?;
        admin_ids.insert(old, new);
    }
    bump_identity(tx, "admins").await?;
    let owner = instance["owner_id"]
        .as_i64()
        .and_then(|o| admin_ids.get(&o))
        .copied()
        .ok_or_else(|| invalid("the instance's owner is not among its admins"))?;
    let wanted = instance["id"].as_i64().unwrap_or(0);
    let taken = tx
        .query_opt("SELECT 1 FROM instances WHERE id = $1", params![wanted])
        .await?
        .is_some();
    let text = |k: &str| instance[k].as_str().unwrap_or_default().to_string();
    let now = rivia_core::time::now_micros();
    let created = instance["created_at"].as_i64().unwrap_or(now);
    let updated = instance["updated_at"].as_i64().unwrap_or(now);
    let row = if taken || wanted <= 0 {
        tx.query_one(
            "INSERT INTO instances (name, description, owner_id, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            params![name, text("description"), owner, text("metadata"), created, updated],
        )
        .await?
    } else {
        tx.query_one(
            "INSERT INTO instances (id, name, description, owner_id, metadata, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            params![wanted, name, text("description"), owner, text("metadata"), created, updated],
        )
        .await?
    };
    let id = row.i64(0);
    bump_identity(tx, "instances").await?;
    for a in &admins {
        let (Some(old), Some(role)) = (a["id"].as_i64(), a["role"].as_i64()) else {
            continue;
        };
        if let Some(new) = admin_ids.get(&old) {
            tx.exec(
                "INSERT INTO admin_roles (instance_id, admin_id, role) VALUES ($1, $2, $3)",
                params![id, *new, role],
            )
            .await?;
        }
    }
    if tx.dialect() == Dialect::Postgres {
        tx.batch(&crate::ids::create_id_sequence_ddl(id)).await?;
    }
    // An instance starts with its built-ins; the restore replaces them right away, but
    // the emptiness check and clearing run the same way for new and existing targets.
    Ok(id)
}

/// The target's admin with this email, or a new one with the archive's id, key and
/// password hash where those are free.
async fn ensure_admin(tx: &mut Tx, a: &Value) -> Result<i64, BackupError> {
    let text = |k: &str| a[k].as_str().unwrap_or_default().to_string();
    let email_lower = text("email_lower");
    if let Some(row) = tx
        .query_opt(
            "SELECT id FROM admins WHERE email_lower = $1",
            params![&email_lower],
        )
        .await?
    {
        return Ok(row.i64(0));
    }
    let id = a["id"].as_i64().unwrap_or(0);
    let id_taken = tx
        .query_opt("SELECT 1 FROM admins WHERE id = $1", params![id])
        .await?
        .is_some();
    let mut key = text("account_key");
    let key_taken = tx
        .query_opt("SELECT 1 FROM admins WHERE account_key = $1", params![&key])
        .await?
        .is_some();
    if key_taken || key.is_empty() {
        key = rivia_core::keys::new_account_key();
    }
    let password = a["password"].as_str().map(str::to_string);
    let created = a["created_at"]
        .as_i64()
        .unwrap_or_else(rivia_core::time::now_micros);
    let values = params![
        text("email"),
        email_lower,
        text("first_name"),
        text("last_name"),
        password,
        a["is_active"].as_bool().unwrap_or(false),
        a["is_staff"].as_bool().unwrap_or(false),
        key,
        text("metadata"),
        created
    ];
    let columns = "email, email_lower, first_name, last_name, password, is_active, is_staff, account_key, metadata, created_at";
    let row = if id_taken || id <= 0 {
        tx.query_one(
            &format!("INSERT INTO admins ({columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"),
            values,
        )
        .await?
    } else {
        let mut with_id = vec![Val::Int(id)];
        with_id.extend(values);
        tx.query_one(
            &format!("INSERT INTO admins (id, {columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id"),
            with_id,
        )
        .await?
    };
    Ok(row.i64(0))
}

impl Store {
    /// Whether the instance holds nothing but what every new instance starts with (a
    /// restore's target must).
    pub async fn instance_is_empty(&self, instance_id: i64) -> crate::StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        match check_empty(&mut tx, instance_id).await {
            Ok(()) => Ok(true),
            Err(BackupError::NotEmpty) => Ok(false),
            Err(BackupError::Store(e)) => Err(e),
            Err(other) => Err(crate::StoreError::Internal(other.to_string())),
        }
    }
}
