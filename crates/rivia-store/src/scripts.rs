//! Scripts (rest §1): source code in one of the runtimes of scripts §1.1, with a config
//! object merged over the instance config when it runs. Ids are counted per instance.

use crate::db::{Row, StoreResult};
use crate::{Store, finish_keyset, next_instance_id, params, push_keyset};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;

/// A stored script.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Id (per instance).
    pub id: i64,
    /// Runtime key as submitted (aliases stay as given).
    pub runtime_name: String,
    /// Source code.
    pub source: String,
    /// Config as JSON text of an object.
    pub config: String,
    /// Label.
    pub label: String,
    /// Description.
    pub description: String,
    /// Creation time, µs.
    pub created_at: i64,
    /// Last update time, µs.
    pub updated_at: i64,
}

/// The fields a write sets.
#[derive(Debug, Clone)]
pub struct ScriptValues {
    /// Runtime key.
    pub runtime_name: String,
    /// Source code.
    pub source: String,
    /// Config as JSON text of an object.
    pub config: String,
    /// Label.
    pub label: String,
    /// Description.
    pub description: String,
}

const COLUMNS: &str =
    "id, runtime_name, source, config, label, description, created_at, updated_at";
/// Lists read at most [`LIST_SOURCE_CHARS`] + 1 characters of each source: enough for the
/// caller to see that it is longer and cut it, without reading megabytes per row.
const LIST_COLUMNS: &str = "id, runtime_name, substr(source, 1, 65537), config, label, description, created_at, updated_at";

/// Characters of `source` a list shows before cutting it (scripts §12.1).
pub const LIST_SOURCE_CHARS: usize = 65536;

fn script_from(mut r: Row) -> Script {
    Script {
        id: r.i64(0),
        runtime_name: r.take_string(1),
        source: r.take_string(2),
        config: r.take_string(3),
        label: r.take_string(4),
        description: r.take_string(5),
        created_at: r.i64(6),
        updated_at: r.i64(7),
    }
}

impl Store {
    /// Creates a script.
    pub async fn create_script(&self, instance_id: i64, v: &ScriptValues) -> StoreResult<Script> {
        let mut tx = self.db.begin().await?;
        let id = next_instance_id(&mut tx, instance_id, "scripts").await?;
        let now = now_micros();
        tx.exec(
            "INSERT INTO scripts (instance_id, id, runtime_name, source, config, label, description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            params![instance_id, id, &v.runtime_name, &v.source, &v.config, &v.label, &v.description, now],
        )
        .await?;
        tx.commit().await?;
        Ok(Script {
            id,
            runtime_name: v.runtime_name.clone(),
            source: v.source.clone(),
            config: v.config.clone(),
            label: v.label.clone(),
            description: v.description.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    /// A script by id.
    pub async fn script(&self, instance_id: i64, id: i64) -> StoreResult<Option<Script>> {
        let sql = format!("SELECT {COLUMNS} FROM scripts WHERE instance_id = $1 AND id = $2");
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, id])
            .await?
            .map(script_from))
    }

    /// One page of scripts, optionally only those whose label starts with a prefix. Each
    /// `source` holds at most [`LIST_SOURCE_CHARS`] + 1 characters.
    pub async fn list_scripts(
        &self,
        instance_id: i64,
        label_prefix: Option<&str>,
        keyset: &Keyset,
    ) -> StoreResult<Vec<Script>> {
        let mut sql = format!("SELECT {LIST_COLUMNS} FROM scripts WHERE instance_id = $1");
        let mut p = params![instance_id];
        if let Some(prefix) = label_prefix {
            p.push(crate::like_prefix(prefix).into());
            sql.push_str(&format!(" AND label LIKE ${} ESCAPE '\\'", p.len()));
        }
        push_keyset(&mut sql, &mut p, "id", keyset);
        Ok(finish_keyset(
            self.db
                .query(&sql, p)
                .await?
                .into_iter()
                .map(script_from)
                .collect(),
            keyset,
        ))
    }

    /// Saves a script; `None` when it no longer exists.
    pub async fn update_script(
        &self,
        instance_id: i64,
        id: i64,
        v: &ScriptValues,
    ) -> StoreResult<Option<Script>> {
        let mut tx = self.db.begin().await?;
        let now = now_micros();
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE scripts SET runtime_name = $3, source = $4, config = $5, label = $6, description = $7, updated_at = $8 \
                     WHERE instance_id = $1 AND id = $2 RETURNING {COLUMNS}"
                ),
                params![instance_id, id, &v.runtime_name, &v.source, &v.config, &v.label, &v.description, now],
            )
            .await?;
        tx.commit().await?;
        Ok(row.map(script_from))
    }

    /// Deletes a script and its traces, and its script endpoints with theirs.
    pub async fn delete_script(&self, instance_id: i64, id: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        // The endpoints go with the script (foreign key); their traces name them by id.
        tx.exec(
            "DELETE FROM traces WHERE instance_id = $1 AND kind = 'endpoint' AND parent IN \
             (SELECT CAST(id AS TEXT) FROM script_endpoints WHERE instance_id = $1 AND script_id = $2)",
            params![instance_id, id],
        )
        .await?;
        let n = tx
            .exec(
                "DELETE FROM scripts WHERE instance_id = $1 AND id = $2",
                params![instance_id, id],
            )
            .await?;
        tx.exec(
            "DELETE FROM traces WHERE instance_id = $1 AND kind = 'script' AND parent = $2",
            params![instance_id, id.to_string()],
        )
        .await?;
        tx.commit().await?;
        Ok(n > 0)
    }
}
