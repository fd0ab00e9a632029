//! Script endpoints (rest §4): a named URL that runs a script with the HTTP request, and
//! optionally a public link that runs it without credentials. Their traces live in
//! `traces` with kind [`TRACE_KIND`] and, besides the common columns, the request (`meta`)
//! and the unmerged arguments (`args`).

use crate::db::{Row, StoreResult};
use crate::traces::{Retention, Trace, retained_page};
use crate::{Store, finish_keyset, next_instance_id, params};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;

/// The `kind` of endpoint traces in `traces`.
pub const TRACE_KIND: &str = "endpoint";

/// A stored script endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptEndpoint {
    /// Internal id (per instance); the parent of its traces.
    pub id: i64,
    /// Lowercase slug, unique per instance.
    pub name: String,
    /// Description.
    pub description: String,
    /// The script it runs.
    pub script_id: i64,
    /// 40 hex characters.
    pub public_link: String,
    /// Whether the public link runs it.
    pub public: bool,
}

/// The fields a write sets.
#[derive(Debug, Clone)]
pub struct EndpointValues {
    /// Name (ignored by updates: it is read-only once created).
    pub name: String,
    /// Description.
    pub description: String,
    /// Script id.
    pub script_id: i64,
    /// Public.
    pub public: bool,
}

/// An endpoint trace with the request it ran for.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointTrace {
    /// The common trace fields.
    pub trace: Trace,
    /// META.request as JSON text.
    pub meta: String,
    /// `{"POST", "GET"}` as JSON text; `None` in lists when longer than the cut-off.
    pub args: Option<String>,
}

const COLUMNS: &str = "id, name, description, script_id, public_link, public";

fn endpoint_from(mut r: Row) -> ScriptEndpoint {
    ScriptEndpoint {
        id: r.i64(0),
        name: r.take_string(1),
        description: r.take_string(2),
        script_id: r.i64(3),
        public_link: r.take_string(4),
        public: r.bool(5),
    }
}

fn endpoint_trace_from(mut r: Row) -> EndpointTrace {
    EndpointTrace {
        trace: Trace {
            id: r.i64(0),
            status: r.take_string(1),
            executed_at: r.opt_i64(2),
            duration: r.opt_i64(3),
            result: r.take_opt_string(4),
        },
        meta: r.take_opt_string(5).unwrap_or_else(|| "{}".to_owned()),
        args: r.take_opt_string(6),
    }
}

impl Store {
    /// Creates an endpoint with a fresh public link. A taken name is a
    /// [`crate::StoreError::Conflict`].
    pub async fn create_script_endpoint(
        &self,
        instance_id: i64,
        v: &EndpointValues,
    ) -> StoreResult<ScriptEndpoint> {
        let mut tx = self.db.begin().await?;
        let id = next_instance_id(&mut tx, instance_id, "script_endpoints").await?;
        let link = rivia_core::keys::new_token();
        let now = now_micros();
        tx.exec(
            "INSERT INTO script_endpoints (instance_id, id, name, description, script_id, public_link, public, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
            params![instance_id, id, &v.name, &v.description, v.script_id, &link, v.public, now],
        )
        .await?;
        tx.commit().await?;
        Ok(ScriptEndpoint {
            id,
            name: v.name.clone(),
            description: v.description.clone(),
            script_id: v.script_id,
            public_link: link,
            public: v.public,
        })
    }

    /// An endpoint by name.
    pub async fn script_endpoint(
        &self,
        instance_id: i64,
        name: &str,
    ) -> StoreResult<Option<ScriptEndpoint>> {
        let sql =
            format!("SELECT {COLUMNS} FROM script_endpoints WHERE instance_id = $1 AND name = $2");
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, name])
            .await?
            .map(endpoint_from))
    }

    /// The public endpoint whose link is `public_link`.
    pub async fn public_script_endpoint(
        &self,
        instance_id: i64,
        public_link: &str,
    ) -> StoreResult<Option<ScriptEndpoint>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM script_endpoints WHERE instance_id = $1 AND public_link = $2 AND public = $3"
        );
        Ok(self
            .db
            .query_opt(&sql, params![instance_id, public_link, true])
            .await?
            .map(endpoint_from))
    }

    /// One page of endpoints, by id.
    pub async fn list_script_endpoints(
        &self,
        instance_id: i64,
        keyset: &Keyset,
    ) -> StoreResult<Vec<ScriptEndpoint>> {
        let sql = format!("SELECT {COLUMNS} FROM script_endpoints WHERE instance_id = $1");
        self.list_page(sql, "id", instance_id, keyset, endpoint_from)
            .await
    }

    /// Saves an endpoint's description, script and `public`; `None` when it is gone.
    pub async fn update_script_endpoint(
        &self,
        instance_id: i64,
        id: i64,
        v: &EndpointValues,
    ) -> StoreResult<Option<ScriptEndpoint>> {
        let sql = format!(
            "UPDATE script_endpoints SET description = $3, script_id = $4, public = $5, updated_at = $6 \
             WHERE instance_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        self.write_returning(
            &sql,
            params![
                instance_id,
                id,
                &v.description,
                v.script_id,
                v.public,
                now_micros()
            ],
            endpoint_from,
        )
        .await
    }

    /// Gives an endpoint a new public link; `None` when it is gone.
    pub async fn reset_script_endpoint_link(
        &self,
        instance_id: i64,
        id: i64,
    ) -> StoreResult<Option<ScriptEndpoint>> {
        let sql = format!(
            "UPDATE script_endpoints SET public_link = $3, updated_at = $4 \
             WHERE instance_id = $1 AND id = $2 RETURNING {COLUMNS}"
        );
        self.write_returning(
            &sql,
            params![instance_id, id, rivia_core::keys::new_token(), now_micros()],
            endpoint_from,
        )
        .await
    }

    /// Deletes an endpoint and its traces.
    pub async fn delete_script_endpoint(&self, instance_id: i64, id: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "DELETE FROM script_endpoints WHERE instance_id = $1 AND id = $2",
                params![instance_id, id],
            )
            .await?;
        tx.exec(
            "DELETE FROM traces WHERE instance_id = $1 AND kind = $2 AND parent = $3",
            params![instance_id, TRACE_KIND, id.to_string()],
        )
        .await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Creates the `pending` trace of an endpoint run with its request and arguments.
    pub async fn create_endpoint_trace(
        &self,
        instance_id: i64,
        endpoint_id: i64,
        meta: &str,
        args: &str,
        args_len: i64,
    ) -> StoreResult<Trace> {
        let mut tx = self.db.begin().await?;
        let id = next_instance_id(&mut tx, instance_id, &format!("traces:{TRACE_KIND}")).await?;
        tx.exec(
            "INSERT INTO traces (instance_id, kind, id, parent, status, updated_at, meta, args, args_len) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $8)",
            params![instance_id, TRACE_KIND, id, endpoint_id.to_string(), now_micros(), meta, args, args_len],
        )
        .await?;
        tx.commit().await?;
        Ok(Trace {
            id,
            status: "pending".to_owned(),
            executed_at: None,
            duration: None,
            result: Some("{}".to_owned()),
        })
    }

    /// An endpoint trace by id (whatever its endpoint, as the platform), if not expired.
    pub async fn endpoint_trace(
        &self,
        instance_id: i64,
        id: i64,
        retention: Retention,
    ) -> StoreResult<Option<EndpointTrace>> {
        let since = now_micros() - retention.ttl_micros;
        Ok(self
            .db
            .query_opt(
                "SELECT id, status, executed_at, duration, result, meta, args FROM traces \
                 WHERE instance_id = $1 AND kind = $2 AND id = $3 AND updated_at >= $4",
                params![instance_id, TRACE_KIND, id, since],
            )
            .await?
            .map(endpoint_trace_from))
    }

    /// One page of an endpoint's traces among its newest `retention.keep` live ones;
    /// results longer than `max_result_len` and args longer than `max_args_len` come back
    /// as `None`.
    pub async fn list_endpoint_traces(
        &self,
        instance_id: i64,
        endpoint_id: i64,
        retention: Retention,
        (max_result_len, max_args_len): (i64, i64),
        keyset: &Keyset,
    ) -> StoreResult<Vec<EndpointTrace>> {
        let parent = endpoint_id.to_string();
        let (sql, p) = retained_page(
            "id, status, executed_at, duration, CASE WHEN result_len > $6 THEN NULL ELSE result END, \
             meta, CASE WHEN args_len > $7 THEN NULL ELSE args END",
            (instance_id, TRACE_KIND, &parent),
            retention,
            params![max_result_len, max_args_len],
            keyset,
        );
        Ok(finish_keyset(
            self.db
                .query(&sql, p)
                .await?
                .into_iter()
                .map(endpoint_trace_from)
                .collect(),
            keyset,
        ))
    }
}
