//! Values to and from PostgreSQL (the storage seam's `Val` and `Row`), its errors mapped
//! to the store's, and the one-statement helpers on a client.

use crate::db::{Constraint, Row, StoreError, StoreResult, Val};
use bytes::BytesMut;
use deadpool_postgres::Object;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) => match *ty {
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                Type::JSONB | Type::JSON => serde_json::Value::from(*v).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Val::Float(v) => match *ty {
                Type::FLOAT4 => (*v as f32).to_sql(ty, out),
                Type::JSONB | Type::JSON => serde_json::Value::from(*v).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Val::Bool(b) => match *ty {
                Type::INT2 | Type::INT4 | Type::INT8 => (*b as i64).to_sql(&Type::INT8, out),
                Type::JSONB | Type::JSON => serde_json::Value::from(*b).to_sql(ty, out),
                _ => b.to_sql(ty, out),
            },
            Val::Text(s) | Val::Json(s) => match *ty {
                Type::JSONB => {
                    out.extend_from_slice(&[1]);
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                _ => {
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// JSON/JSONB columns read as their text, without building a `serde_json::Value`.
struct RawJson(String);

impl<'a> FromSql<'a> for RawJson {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let body = if *ty == Type::JSONB {
            raw.get(1..).unwrap_or_default()
        } else {
            raw
        };
        Ok(RawJson(std::str::from_utf8(body)?.to_string()))
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB || *ty == Type::JSON
    }
}

pub(super) fn map_err(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(Constraint::named(
            e.as_db_error()
                .and_then(|d| d.constraint())
                .unwrap_or_default(),
        )),
        Some(c) if *c == SqlState::QUERY_CANCELED => StoreError::Timeout,
        Some(c) if *c == SqlState::DISK_FULL => StoreError::Full(e.to_string()),
        Some(c)
            if *c == SqlState::CHARACTER_NOT_IN_REPERTOIRE
                || *c == SqlState::UNTRANSLATABLE_CHARACTER =>
        {
            StoreError::InvalidText(e.to_string())
        }
        // The server is going away or not there yet (a restart: 57P01 admin_shutdown,
        // 57P02 crash_shutdown, 57P03 cannot_connect_now; class 08: the connection): the
        // request answers 503 and the pool reconnects on a later one.
        Some(c) if c.code().starts_with("57P") || c.code().starts_with("08") => {
            StoreError::Unavailable(e.to_string())
        }
        _ if e.is_closed() || lost_connection(&e) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(match e.as_db_error() {
            Some(d) => format!("{}: {}", d.code().code(), d.message()),
            None => e.to_string(),
        }),
    }
}

/// Whether the error is the connection's socket failing (reset, broken pipe, end of
/// stream), not anything the database said.
fn lost_connection(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_none()
        && std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

pub(super) fn convert_row(row: &tokio_postgres::Row) -> StoreResult<Row> {
    let mut vals = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let ty = col.type_();
        let get_err = |e: tokio_postgres::Error| StoreError::Internal(e.to_string());
        let v = match *ty {
            Type::INT8 => row
                .try_get::<_, Option<i64>>(i)
                .map_err(get_err)?
                .map(Val::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)
                .map_err(get_err)?
                .map(|v| Val::Int(v.into())),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)
                .map_err(get_err)?
                .map(|v| Val::Int(v.into())),
            Type::FLOAT8 => row
                .try_get::<_, Option<f64>>(i)
                .map_err(get_err)?
                .map(Val::Float),
            Type::FLOAT4 => row
                .try_get::<_, Option<f32>>(i)
                .map_err(get_err)?
                .map(|v| Val::Float(v.into())),
            Type::BOOL => row
                .try_get::<_, Option<bool>>(i)
                .map_err(get_err)?
                .map(Val::Bool),
            Type::JSONB | Type::JSON => row
                .try_get::<_, Option<RawJson>>(i)
                .map_err(get_err)?
                .map(|j| Val::Text(j.0)),
            _ => row
                .try_get::<_, Option<String>>(i)
                .map_err(get_err)?
                .map(Val::Text),
        };
        vals.push(v.unwrap_or(Val::Null));
    }
    Ok(Row(vals))
}

pub(super) fn refs(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

pub(super) async fn client_query(
    client: &Object,
    sql: &str,
    params: &[Val],
) -> StoreResult<Vec<Row>> {
    let stmt = client.prepare_cached(sql).await.map_err(map_err)?;
    let rows = client.query(&stmt, &refs(params)).await.map_err(map_err)?;
    rows.iter().map(convert_row).collect()
}

pub(super) async fn client_exec(client: &Object, sql: &str, params: &[Val]) -> StoreResult<u64> {
    let stmt = client.prepare_cached(sql).await.map_err(map_err)?;
    client.execute(&stmt, &refs(params)).await.map_err(map_err)
}
