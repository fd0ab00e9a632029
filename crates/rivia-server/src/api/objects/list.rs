//! The objects list: the query language, `order_by` with its cursors, counts, and the
//! page envelope with its links.

use super::access::{class_op, readable_in};
use super::render::{ObjectView, parse_data};
use super::{LIST_TIMEOUT, class_schema};
use crate::api::classes::USER_PROFILE;
use crate::auth::Ctx;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::json::ok;
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::Response;
use rivia_core::page::{Cursor, PageRequest, encode_query_value, join_link};
use rivia_core::perms::Op;
use rivia_core::query::{ParseCtx, Query, QueryError, Scalar, Target, TargetKind, parse_queries};
use rivia_core::schema::{Field, FieldType, Schema};
use rivia_store::classes::Class;
use rivia_store::objects::{ObjectListQuery, ObjectRow, OrderField};
use serde::Serialize;
use serde_json::{Value, json};

pub(super) fn query_error(e: QueryError) -> ApiError {
    match e {
        QueryError::Field(m) => ApiError::field_str("query", m),
        QueryError::Structural(m) => ApiError::Body(StatusCode::BAD_REQUEST, json!([m])),
    }
}

/// Resolves `_is` targets: `self`, `user` (profiles) and class names.
pub(super) async fn targets_for(
    app: &AppState,
    ctx: &Ctx,
    class: &Class,
    schema: &Schema,
) -> ApiResult<Vec<(String, Target)>> {
    let mut out = Vec::new();
    for f in &schema.fields {
        let Some(t) = f.target.as_deref() else {
            continue;
        };
        if out.iter().any(|(n, _)| n == t) {
            continue;
        }
        let target = match t {
            "self" => Some(Target {
                kind: TargetKind::Class(class.id),
                schema: schema.clone(),
                readable: readable_in(app, ctx, class).await?,
            }),
            "user" => match app
                .store
                .class_by_name(ctx.instance.id, USER_PROFILE)
                .await?
            {
                Some(p) => Some(Target {
                    kind: TargetKind::User {
                        profile_class_id: p.id,
                    },
                    schema: Schema::from_stored(&p.schema),
                    readable: readable_in(app, ctx, &p).await?,
                }),
                None => None,
            },
            name => match app.store.class_by_name(ctx.instance.id, name).await? {
                Some(c) => Some(Target {
                    kind: TargetKind::Class(c.id),
                    schema: Schema::from_stored(&c.schema),
                    readable: readable_in(app, ctx, &c).await?,
                }),
                None => None,
            },
        };
        if let Some(target) = target {
            out.push((t.to_string(), target));
        }
    }
    Ok(out)
}

/// `order_by` (§9.7): the order field, its direction, and whether values are JSON.
pub(super) fn parse_order_by(
    raw: Option<&str>,
    schema: &Schema,
) -> ApiResult<(OrderField, bool, Option<Field>)> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok((OrderField::Id, false, None));
    };
    let (desc, name) = match raw.strip_prefix('-') {
        Some(n) => (true, n),
        None => (false, raw),
    };
    match name {
        "id" => Ok((OrderField::Id, desc, None)),
        "created_at" => Ok((OrderField::Column("created_at"), desc, None)),
        "updated_at" => Ok((OrderField::Column("updated_at"), desc, None)),
        "revision" | "owner" | "group" | "channel" | "channel_room" | "owner_permissions"
        | "group_permissions" | "other_permissions" | "_klass" | "_data" | "_files" => Err(
            ApiError::bad_request("Cannot use specified order_by field."),
        ),
        other => match schema.field(other) {
            Some(f) if f.order_index => {
                Ok((OrderField::Schema(f.key.clone()), desc, Some(f.clone())))
            }
            Some(_) => Err(ApiError::bad_request(
                "Cannot use specified order_by field. Set required index on schema first.",
            )),
            None => Err(ApiError::bad_request(
                "Incorrect order_by parameter provided.",
            )),
        },
    }
}

/// Whether `order_by` can order the class's objects: its message when not.
pub(crate) fn check_order_by(raw: &str, schema: &Schema) -> Result<(), String> {
    match parse_order_by(Some(raw), schema) {
        Ok(_) => Ok(()),
        Err(ApiError::Detail(_, m)) => Err(m),
        Err(_) => Err("Incorrect order_by parameter provided.".into()),
    }
}

/// Parses a `last_value` cursor for the order field into the stored domain.
pub(super) fn parse_last_value(
    raw: &str,
    order: &OrderField,
    field: Option<&Field>,
) -> ApiResult<Scalar> {
    let bad = ApiError::bad_page;
    match (order, field.map(|f| f.ftype)) {
        (OrderField::Column(_), _) => rivia_core::time::parse_lenient(raw)
            .map(Scalar::Int)
            .ok_or_else(bad),
        (_, Some(FieldType::Integer | FieldType::Reference)) => raw
            .trim()
            .parse::<i64>()
            .map(Scalar::Int)
            .map_err(|_| bad()),
        (_, Some(FieldType::Float)) => raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Scalar::Float)
            .ok_or_else(bad),
        (_, Some(FieldType::Boolean)) => match raw {
            "true" | "True" | "1" => Ok(Scalar::Bool(true)),
            "false" | "False" | "0" => Ok(Scalar::Bool(false)),
            _ => Err(bad()),
        },
        (_, Some(FieldType::Datetime)) => rivia_core::time::parse_lenient(raw)
            .map(|m| Scalar::Str(rivia_core::time::format_micros(m)))
            .ok_or_else(bad),
        (_, Some(FieldType::String)) if raw.chars().count() <= 128 => Ok(Scalar::Str(raw.into())),
        _ => Err(bad()),
    }
}

/// The cursor value of a row for the order field (`None` when null).
pub(super) fn row_order_value(row: &ObjectRow, order: &OrderField) -> Option<String> {
    match order {
        OrderField::Id => None,
        OrderField::Column("created_at") => Some(rivia_core::time::format_micros(row.created_at)),
        OrderField::Column(_) => Some(rivia_core::time::format_micros(row.updated_at)),
        OrderField::Schema(key) => match parse_data(&row.data).get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => Some(other.to_string()),
        },
    }
}

/// The parameters of an objects list (spec-core §9.1): the request's own, or a data
/// endpoint's stored parameters merged with the request's (rest §5).
#[derive(Debug, Default, Clone)]
pub struct ListParams<'a> {
    /// Every `query` (ANDed).
    pub queries: Vec<&'a str>,
    /// `order_by`.
    pub order_by: Option<&'a str>,
    /// `page_size`.
    pub page_size: Option<&'a str>,
    /// `direction`.
    pub direction: Option<&'a str>,
    /// `last_pk`.
    pub last_pk: Option<&'a str>,
    /// `last_value`.
    pub last_value: Option<&'a str>,
    /// `ordering`.
    pub ordering: Option<&'a str>,
    /// `include_count`.
    pub include_count: Option<&'a str>,
}

impl<'a> ListParams<'a> {
    /// The list parameters of a request (last wins; every `query`).
    pub(crate) fn of(req: &'a crate::req::Req) -> Self {
        ListParams {
            queries: req.params("query"),
            order_by: req.param("order_by"),
            page_size: req.param("page_size"),
            direction: req.param("direction"),
            last_pk: req.param("last_pk"),
            last_value: req.param("last_value"),
            ordering: req.param("ordering"),
            include_count: req.param("include_count"),
        }
    }
}

/// One page of a class's objects as the caller may see them: the rows, the count when
/// asked for, and the `next`/`prev` links.
pub struct ObjectList {
    /// The page's rows, in page order.
    pub rows: Vec<ObjectRow>,
    /// `objects_count`, when `include_count` asked for it.
    pub count: Option<i64>,
    /// The `next` link.
    pub next: Option<String>,
    /// The `prev` link.
    pub prev: Option<String>,
}

/// Parses `query` parameters against the class (resolving `_is` targets only when one may
/// occur): the outer error is a failure to read the targets, the inner the query's own.
pub(crate) async fn parse_class_query(
    app: &AppState,
    ctx: &Ctx,
    class: &Class,
    schema: &Schema,
    raw_queries: &[&str],
) -> ApiResult<Result<Query, QueryError>> {
    let targets = if raw_queries.iter().any(|q| q.contains("_is")) {
        targets_for(app, ctx, class, schema).await?
    } else {
        Vec::new()
    };
    let resolve = |name: &str| {
        targets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
    };
    let pctx = ParseCtx {
        schema,
        user_scope: false,
        resolve: &resolve,
    };
    Ok(parse_queries(raw_queries, &pctx))
}

/// Runs the objects list of `class` for a caller granted `access`: the one query engine
/// behind `classes/{c}/objects/` and a data endpoint's `get/`. `path` is what the
/// `next`/`prev` links point at.
pub async fn run_list(
    app: &AppState,
    ctx: &Ctx,
    class: &Class,
    access: &super::Access,
    params: &ListParams<'_>,
    path: &str,
) -> ApiResult<ObjectList> {
    let schema = class_schema(app, class);
    let query = parse_class_query(app, ctx, class, &schema, &params.queries)
        .await?
        .map_err(query_error)?;
    let order_by = params.order_by;
    let (order, descending, order_field) = parse_order_by(order_by, &schema)?;
    let direction = params.direction;
    // QUIRK (§9.7): `ordering` only matters once a cursor is followed.
    let ordering = if order == OrderField::Id && order_by.is_none() && direction.is_some() {
        params.ordering
    } else {
        None
    };
    let mut page = PageRequest::parse(params.page_size, ordering, direction, params.last_pk, false)
        .map_err(|_| ApiError::bad_page())?;
    if order_by.is_some() {
        page.descending = descending;
    }
    page.ordering_param = None;
    let boundary = match (params.last_value, &order) {
        (Some(raw), OrderField::Schema(_) | OrderField::Column(_)) if page.direction.is_some() => {
            Some(parse_last_value(raw, &order, order_field.as_ref())?)
        }
        _ => None,
    };
    let include_count = params
        .include_count
        .is_some_and(|v| crate::fields::parse_bool(&json!(v)) == Some(true));
    let visibility = access.visibility();
    let list_query = ObjectListQuery {
        instance_id: ctx.instance.id,
        class_id: class.id,
        query: &query,
        visibility: &visibility,
        order: order.clone(),
        keyset: page.keyset(),
        boundary,
        count: include_count,
        timeout: LIST_TIMEOUT,
    };
    let (rows, count) = app.store.list_objects(&list_query).await?;
    let (next, prev) = page_links(path, &page, order_by, &order, &rows);
    Ok(ObjectList {
        rows,
        count,
        next,
        prev,
    })
}

pub(super) async fn list_objects(call: Call<String>) -> ApiResult<Response> {
    let (ctx, class, access) = class_op(&call, &call.path, Op::Read).await?;
    let Call { app, req, .. } = call;
    let list = run_list(
        &app,
        &ctx,
        &class,
        &access,
        &ListParams::of(&req),
        &req.path,
    )
    .await?;
    let schema = class_schema(&app, &class);
    let base = ctx.base();
    let origin = ctx.origin(&app);
    let objects = list
        .rows
        .iter()
        .map(|row| ObjectView {
            base: &base,
            origin: &origin,
            class_name: &class.name,
            schema: &schema,
            row,
        })
        .collect();
    Ok(ok(ObjectPage {
        next: list.next,
        prev: list.prev,
        objects,
        objects_count: list.count,
    }))
}

/// The objects list envelope (§1.4 plus `objects_count` when asked for).
#[derive(Serialize)]
pub(crate) struct ObjectPage<T> {
    pub(crate) next: Option<String>,
    pub(crate) prev: Option<String>,
    pub(crate) objects: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) objects_count: Option<i64>,
}

/// next/prev links carrying `page_size`, `order_by`, `direction`, `last_pk`, `last_value`.
pub(super) fn page_links(
    path: &str,
    page: &PageRequest,
    order_by: Option<&str>,
    order: &OrderField,
    rows: &[ObjectRow],
) -> (Option<String>, Option<String>) {
    let first_last = match (rows.first(), rows.last()) {
        (Some(f), Some(l)) => Some((f.id, l.id)),
        _ => None,
    };
    let (next, prev) = page.links(rows.len(), first_last);
    let render = |c: Cursor| {
        let mut parts = Vec::new();
        if let Some(ps) = &page.page_size_param {
            parts.push(format!("page_size={}", encode_query_value(ps)));
        }
        if let Some(ob) = order_by {
            parts.push(format!("order_by={}", encode_query_value(ob)));
        }
        c.push_params(&mut parts);
        if let Some(pk) = c.last_pk
            && let Some(row) = rows.iter().find(|r| r.id == pk)
            && let Some(v) = row_order_value(row, order)
        {
            parts.push(format!("last_value={}", encode_query_value(&v)));
        }
        join_link(path, &parts)
    };
    (next.map(render), prev.map(render))
}
