//! The instance config (rest §8): one JSON object per instance, merged under each script's
//! own config when a script runs (scripts §2). An instance without a row has `{}`.

use crate::db::StoreResult;
use crate::{Store, params};
use rivia_core::time::now_micros;

impl Store {
    /// The instance config as JSON text (`{}` when never set).
    pub async fn instance_config(&self, instance_id: i64) -> StoreResult<String> {
        Ok(self
            .db
            .query_opt(
                "SELECT config FROM instance_configs WHERE instance_id = $1",
                params![instance_id],
            )
            .await?
            .map(|mut r| r.take_string(0))
            .unwrap_or_else(|| "{}".to_owned()))
    }

    /// Replaces the instance config (JSON text of an object, validated by the caller).
    pub async fn set_instance_config(&self, instance_id: i64, config: &str) -> StoreResult<()> {
        let mut tx = self.db.begin().await?;
        tx.exec(
            "INSERT INTO instance_configs (instance_id, config, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (instance_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at",
            params![instance_id, config, now_micros()],
        )
        .await?;
        tx.commit().await
    }
}
