//! Instance API keys.

use crate::db::{Row, StoreResult};
use crate::{Store, finish_keyset, params, push_keyset};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;

/// An API key of an instance.
#[derive(Debug, Clone)]
pub struct ApiKey {
    /// Id.
    pub id: i64,
    /// Owning instance.
    pub instance_id: i64,
    /// The key.
    pub api_key: String,
    /// Description.
    pub description: String,
    /// Flags (spec-core §2.5).
    pub flags: ApiKeyFlags,
    /// Created, µs.
    pub created_at: i64,
}

/// The four API key flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApiKeyFlags {
    /// Bypass object-level permissions.
    pub ignore_acl: bool,
    /// May register users.
    pub allow_user_create: bool,
    /// May create groups.
    pub allow_group_create: bool,
    /// May read public data without a user key.
    pub allow_anonymous_read: bool,
}

const COLUMNS: &str = "id, instance_id, api_key, description, ignore_acl, allow_user_create, allow_group_create, allow_anonymous_read, created_at";

fn key_from(mut r: Row) -> ApiKey {
    ApiKey {
        id: r.i64(0),
        instance_id: r.i64(1),
        api_key: r.take_string(2),
        description: r.take_string(3),
        flags: ApiKeyFlags {
            ignore_acl: r.bool(4),
            allow_user_create: r.bool(5),
            allow_group_create: r.bool(6),
            allow_anonymous_read: r.bool(7),
        },
        created_at: r.i64(8),
    }
}

impl Store {
    /// Creates a key.
    pub async fn create_api_key(
        &self,
        instance_id: i64,
        key: &str,
        description: &str,
        f: ApiKeyFlags,
    ) -> StoreResult<ApiKey> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO api_keys (instance_id, api_key, description, ignore_acl, allow_user_create, allow_group_create, allow_anonymous_read, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
                ),
                params![
                    instance_id,
                    key,
                    description,
                    f.ignore_acl,
                    f.allow_user_create,
                    f.allow_group_create,
                    f.allow_anonymous_read,
                    now_micros()
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(key_from(row))
    }

    /// A key by its value, any instance (the caller checks the instance).
    pub async fn api_key_by_key(&self, key: &str) -> StoreResult<Option<ApiKey>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE api_key = $1");
        Ok(self.db.query_opt(&sql, params![key]).await?.map(key_from))
    }

    /// A key of the instance by id.
    pub async fn api_key(&self, instance_id: i64, id: i64) -> StoreResult<Option<ApiKey>> {
        let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE instance_id = $1 AND id = $2");
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, id])
            .await?
            .map(key_from))
    }

    /// One page of the instance's keys; `only` restricts the list to one key id.
    pub async fn list_api_keys(
        &self,
        instance_id: i64,
        only: Option<i64>,
        keyset: &Keyset,
    ) -> StoreResult<Vec<ApiKey>> {
        let mut sql = format!("SELECT {COLUMNS} FROM api_keys WHERE instance_id = $1");
        let mut p = params![instance_id];
        if let Some(id) = only {
            p.push(id.into());
            sql.push_str(&format!(" AND id = ${}", p.len()));
        }
        push_keyset(&mut sql, &mut p, "id", keyset);
        Ok(finish_keyset(
            self.db
                .query(&sql, p)
                .await?
                .into_iter()
                .map(key_from)
                .collect(),
            keyset,
        ))
    }

    /// Saves description and flags.
    pub async fn update_api_key(
        &self,
        instance_id: i64,
        id: i64,
        description: &str,
        f: ApiKeyFlags,
    ) -> StoreResult<Option<ApiKey>> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE api_keys SET description = $3, ignore_acl = $4, allow_user_create = $5, allow_group_create = $6, \
                     allow_anonymous_read = $7 WHERE instance_id = $1 AND id = $2 RETURNING {COLUMNS}"
                ),
                params![
                    instance_id,
                    id,
                    description,
                    f.ignore_acl,
                    f.allow_user_create,
                    f.allow_group_create,
                    f.allow_anonymous_read
                ],
            )
            .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(row.map(key_from))
    }

    /// Replaces the key value.
    pub async fn reset_api_key(
        &self,
        instance_id: i64,
        id: i64,
        key: &str,
    ) -> StoreResult<Option<ApiKey>> {
        let mut tx = self.db.begin().await?;
        let row = tx
            .query_opt(
                &format!("UPDATE api_keys SET api_key = $3 WHERE instance_id = $1 AND id = $2 RETURNING {COLUMNS}"),
                params![instance_id, id, key],
            )
            .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(row.map(key_from))
    }

    /// Deletes a key; false when it did not exist.
    pub async fn delete_api_key(&self, instance_id: i64, id: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "DELETE FROM api_keys WHERE instance_id = $1 AND id = $2",
                params![instance_id, id],
            )
            .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(n > 0)
    }
}
