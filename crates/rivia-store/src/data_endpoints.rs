//! Data endpoints (rest §5): a named, saved objects list of one class — its `query`,
//! `order_by`, `page_size`, `excluded_fields` and `expand`. The class is referenced by id,
//! so an endpoint follows its class, and goes with it when the class is deleted (foreign
//! key `ON DELETE CASCADE`, migration 0007/0008).

use crate::classes::{CLASS_COLUMNS, Class, class_from};
use crate::db::{Row, StoreResult, Tx};
use crate::{Store, params, qualify};
use rivia_core::page::Keyset;
use rivia_core::time::now_micros;
use std::sync::LazyLock;

/// A stored data endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct DataEndpoint {
    /// Id (orders lists; cursors carry it as `last_pk`).
    pub id: i64,
    /// Lowercase name, unique in the instance.
    pub name: String,
    /// Description.
    pub description: String,
    /// The class listed.
    pub class_id: i64,
    /// The class's current name.
    pub class_name: String,
    /// JSON text of the stored `query` object (`{}` when none).
    pub query: String,
    /// Comma-separated field names to leave out.
    pub excluded_fields: Option<String>,
    /// `order_by` as the objects list takes it.
    pub order_by: Option<String>,
    /// Page size 0..=100.
    pub page_size: Option<i64>,
    /// Comma-separated reference fields to expand.
    pub expand: Option<String>,
    /// Creation time, µs.
    pub created_at: i64,
    /// Last update time, µs.
    pub updated_at: i64,
}

/// What a write sets.
#[derive(Debug, Clone, PartialEq)]
pub struct DataEndpointValues {
    /// Description.
    pub description: String,
    /// The class listed.
    pub class_id: i64,
    /// JSON text of the `query` object.
    pub query: String,
    /// See [`DataEndpoint::excluded_fields`].
    pub excluded_fields: Option<String>,
    /// See [`DataEndpoint::order_by`].
    pub order_by: Option<String>,
    /// See [`DataEndpoint::page_size`].
    pub page_size: Option<i64>,
    /// See [`DataEndpoint::expand`].
    pub expand: Option<String>,
}

const COLUMNS: &str = "id, name, description, class_id, query, excluded_fields, order_by, page_size, expand, created_at, updated_at";
static COLUMNS_E: LazyLock<String> = LazyLock::new(|| qualify(COLUMNS, "e"));
static COLUMNS_C: LazyLock<String> = LazyLock::new(|| qualify(CLASS_COLUMNS, "c"));
/// Number of endpoint columns before the class's in a joined row.
const WIDTH: usize = 11;

/// An endpoint from a row of `e.{COLUMNS}, c.name`.
fn endpoint_from(mut r: Row) -> DataEndpoint {
    DataEndpoint {
        id: r.i64(0),
        name: r.take_string(1),
        description: r.take_string(2),
        class_id: r.i64(3),
        query: r.take_string(4),
        excluded_fields: r.take_opt_string(5),
        order_by: r.take_opt_string(6),
        page_size: r.opt_i64(7),
        expand: r.take_opt_string(8),
        created_at: r.i64(9),
        updated_at: r.i64(10),
        class_name: r.take_string(WIDTH),
    }
}

fn select_sql(filter: &str) -> String {
    format!(
        "SELECT {}, c.name FROM data_endpoints e JOIN classes c ON c.id = e.class_id WHERE {filter}",
        &*COLUMNS_E
    )
}

/// The endpoint `id` as a write in `tx` left it, when the write matched it (`n > 0`): the
/// endpoint's columns come from a join, so an `UPDATE` cannot return them.
async fn read_back(tx: &mut Tx, n: u64, id: i64) -> StoreResult<Option<DataEndpoint>> {
    if n == 0 {
        return Ok(None);
    }
    let row = tx.query_opt(&select_sql("e.id = $1"), params![id]).await?;
    Ok(row.map(endpoint_from))
}

impl Store {
    /// Creates an endpoint; a taken name is [`crate::StoreError::Conflict`].
    pub async fn create_data_endpoint(
        &self,
        instance_id: i64,
        name: &str,
        v: &DataEndpointValues,
    ) -> StoreResult<DataEndpoint> {
        let mut tx = self.db.begin().await?;
        let now = now_micros();
        let row = tx
            .query_one(
                "INSERT INTO data_endpoints (instance_id, name, description, class_id, query, excluded_fields, order_by, page_size, expand, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
                params![
                    instance_id,
                    name,
                    &v.description,
                    v.class_id,
                    &v.query,
                    v.excluded_fields.clone(),
                    v.order_by.clone(),
                    v.page_size,
                    v.expand.clone(),
                    now
                ],
            )
            .await?;
        let id = row.i64(0);
        let saved = tx.query_one(&select_sql("e.id = $1"), params![id]).await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(endpoint_from(saved))
    }

    /// An endpoint by (lowercase) name.
    pub async fn data_endpoint(
        &self,
        instance_id: i64,
        name: &str,
    ) -> StoreResult<Option<DataEndpoint>> {
        Ok(self
            .db
            .query_opt(
                &select_sql("e.instance_id = $1 AND e.name = $2"),
                params![instance_id, name],
            )
            .await?
            .map(endpoint_from))
    }

    /// An endpoint by name together with its whole class, in one round trip (what a
    /// `get/` or `post/` needs before it runs the objects list or create).
    pub async fn data_endpoint_with_class(
        &self,
        instance_id: i64,
        name: &str,
    ) -> StoreResult<Option<(DataEndpoint, Class)>> {
        let sql = format!(
            "SELECT {}, c.name, {} FROM data_endpoints e JOIN classes c ON c.id = e.class_id \
             WHERE e.instance_id = $1 AND e.name = $2",
            &*COLUMNS_E, &*COLUMNS_C
        );
        let row = self.db.query_opt(&sql, params![instance_id, name]).await?;
        Ok(row.map(|mut r| {
            let class = class_from(Row(r.0.split_off(WIDTH + 1)));
            (endpoint_from(r), class)
        }))
    }

    /// One page of the instance's endpoints, by id.
    pub async fn list_data_endpoints(
        &self,
        instance_id: i64,
        keyset: &Keyset,
    ) -> StoreResult<Vec<DataEndpoint>> {
        let sql = select_sql("e.instance_id = $1");
        self.list_page(sql, "e.id", instance_id, keyset, endpoint_from)
            .await
    }

    /// Saves an endpoint's values; `None` when it no longer exists.
    pub async fn update_data_endpoint(
        &self,
        instance_id: i64,
        id: i64,
        v: &DataEndpointValues,
    ) -> StoreResult<Option<DataEndpoint>> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "UPDATE data_endpoints SET description = $3, class_id = $4, query = $5, excluded_fields = $6, \
                 order_by = $7, page_size = $8, expand = $9, updated_at = $10 WHERE instance_id = $1 AND id = $2",
                params![
                    instance_id,
                    id,
                    &v.description,
                    v.class_id,
                    &v.query,
                    v.excluded_fields.clone(),
                    v.order_by.clone(),
                    v.page_size,
                    v.expand.clone(),
                    now_micros()
                ],
            )
            .await?;
        let saved = read_back(&mut tx, n, id).await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(saved)
    }

    /// Renames an endpoint; a taken name is [`crate::StoreError::Conflict`], `None` when
    /// the endpoint no longer exists.
    pub async fn rename_data_endpoint(
        &self,
        instance_id: i64,
        id: i64,
        new_name: &str,
    ) -> StoreResult<Option<DataEndpoint>> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "UPDATE data_endpoints SET name = $3, updated_at = $4 WHERE instance_id = $1 AND id = $2",
                params![instance_id, id, new_name, now_micros()],
            )
            .await?;
        let saved = read_back(&mut tx, n, id).await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(saved)
    }

    /// Deletes an endpoint.
    pub async fn delete_data_endpoint(&self, instance_id: i64, id: i64) -> StoreResult<bool> {
        let mut tx = self.db.begin().await?;
        let n = tx
            .exec(
                "DELETE FROM data_endpoints WHERE instance_id = $1 AND id = $2",
                params![instance_id, id],
            )
            .await?;
        tx.commit().await?;
        self.auth_changed();
        Ok(n > 0)
    }
}
