//! Reading a data endpoint definition from a body, with the platform's messages:
//! `name` (a slug, unique), `class` (an existing class's name), `query` (a JSON object,
//! checked against the class as the objects list checks it), `order_by` (≤ 50 characters,
//! a field the class can be ordered by), `excluded_fields` and `expand` (≤ 256 characters,
//! comma-separated field names), `page_size` (0..=100) and `description` (≤ 256).
//!
//! A full update (PUT) resets what it leaves out to the serializer defaults: `query` to
//! `{}` and the list parameters to unset; `name` is read-only there and the description
//! stays (spec-core §1.10).

use crate::api::objects::{check_order_by, class_schema, parse_class_query};
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::req::Req;
use crate::state::AppState;
use rivia_core::errors::msg;
use rivia_core::names::{SlugFamily, validate_slug};
use rivia_core::query::QueryError;
use rivia_store::classes::Class;
use rivia_store::data_endpoints::{DataEndpoint, DataEndpointValues};
use serde_json::Value;

/// Longest `excluded_fields` / `expand`.
const FIELD_LIST_CHARS: usize = 256;
/// Longest `order_by`.
const ORDER_BY_CHARS: usize = 50;
/// Largest `page_size` (the API's page size).
const MAX_PAGE_SIZE: i64 = 100;

/// A value as a body gave it: absent, cleared (null or blank) or set.
enum Given<T> {
    Absent,
    Cleared,
    Set(T),
    /// Invalid; its error is recorded.
    Invalid,
}

impl<T> Given<T> {
    /// The stored value after a write: what was given, else (PATCH) the current value,
    /// else (create, PUT) unset.
    fn resolve(self, current: Option<T>, partial: bool) -> Option<T> {
        match self {
            Given::Set(v) => Some(v),
            Given::Cleared => None,
            Given::Absent | Given::Invalid if partial => current,
            Given::Absent | Given::Invalid => None,
        }
    }
}

/// The fields of a body, as read (class and query are checked together afterwards).
struct Read {
    description: Option<String>,
    class: Given<Class>,
    query: Given<Value>,
    excluded_fields: Given<String>,
    order_by: Given<String>,
    page_size: Given<i64>,
    expand: Given<String>,
}

/// Reads a create body: the new endpoint's name and values.
pub(super) async fn read_new(
    app: &AppState,
    ctx: &Ctx,
    req: &Req,
) -> ApiResult<(String, DataEndpointValues)> {
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let name = f
        .required_string("name", Char::required(1000))
        .and_then(|raw| validate_slug(&raw, SlugFamily::Generic).map_err(|e| f.reject("name", e)));
    if let Ok(n) = &name
        && app.store.data_endpoint(ctx.instance.id, n).await?.is_some()
    {
        f.errors.add("name", msg::UNIQUE);
    }
    let read = read_fields(app, ctx, &mut f).await?;
    if matches!(read.class, Given::Absent) {
        f.errors.add("class", msg::REQUIRED);
    }
    let values = resolve(app, ctx, &mut f, read, None, false).await?;
    let name = f.finish_with(name)?;
    // Without a class its error was recorded, so `finish_with` answered it.
    let values = values.ok_or_else(|| ApiError::Internal("create without a class".into()))?;
    Ok((name, values))
}

/// Reads an update body (PUT or PATCH) of `current`, which lists `class`.
pub(super) async fn read_update(
    app: &AppState,
    ctx: &Ctx,
    req: &Req,
    current: (&DataEndpoint, &Class),
) -> ApiResult<DataEndpointValues> {
    let body = req.body_object()?;
    let partial = req.is_partial();
    let mut f = Fields::new(&body, partial);
    let read = read_fields(app, ctx, &mut f).await?;
    if matches!(read.class, Given::Absent) && !partial {
        f.errors.add("class", msg::REQUIRED);
    }
    let values = resolve(app, ctx, &mut f, read, Some(current), partial).await?;
    f.finish()?;
    values.ok_or_else(|| ApiError::Internal("update without a class".into()))
}

async fn read_fields(app: &AppState, ctx: &Ctx, f: &mut Fields<'_>) -> ApiResult<Read> {
    Ok(Read {
        description: f.string("description", Char::text(256), false),
        class: read_class(app, ctx, f).await?,
        query: read_query(f),
        excluded_fields: read_field_list(f, "excluded_fields"),
        order_by: read_text(f, "order_by", ORDER_BY_CHARS),
        page_size: read_page_size(f),
        expand: read_field_list(f, "expand"),
    })
}

/// Combines what was read with the current endpoint and checks `query` and `order_by`
/// against the class they will run on (whenever either or the class was given). `None`
/// when there is no class (its error is recorded).
async fn resolve(
    app: &AppState,
    ctx: &Ctx,
    f: &mut Fields<'_>,
    read: Read,
    current: Option<(&DataEndpoint, &Class)>,
    partial: bool,
) -> ApiResult<Option<DataEndpointValues>> {
    let class_given = matches!(read.class, Given::Set(_));
    let query_given = matches!(read.query, Given::Set(_) | Given::Cleared);
    let order_given = matches!(read.order_by, Given::Set(_) | Given::Cleared);
    let class = match read.class {
        Given::Set(c) => Some(c),
        _ if partial => current.map(|(_, c)| c.clone()),
        _ => None,
    };
    let Some(class) = class else {
        return Ok(None);
    };
    let current = current.map(|(e, _)| e);
    let current_query = current.map(|e| serde_json::from_str(&e.query).unwrap_or_default());
    let query = read
        .query
        .resolve(current_query, partial)
        .unwrap_or_else(|| Value::Object(Default::default()));
    let order_by = read
        .order_by
        .resolve(current.and_then(|e| e.order_by.clone()), partial);
    if class_given || query_given {
        check_query(app, ctx, f, &class, &query).await?;
    }
    if (class_given || order_given)
        && let Some(raw) = order_by.as_deref().filter(|o| !o.is_empty())
        && let Err(e) = check_order_by(raw, &class_schema(app, &class))
    {
        f.errors.add("order_by", e);
    }
    Ok(Some(DataEndpointValues {
        description: read
            .description
            .or_else(|| current.map(|e| e.description.clone()))
            .unwrap_or_default(),
        class_id: class.id,
        query: query.to_string(),
        excluded_fields: read
            .excluded_fields
            .resolve(current.and_then(|e| e.excluded_fields.clone()), partial),
        order_by,
        page_size: read
            .page_size
            .resolve(current.and_then(|e| e.page_size), partial),
        expand: read
            .expand
            .resolve(current.and_then(|e| e.expand.clone()), partial),
    }))
}

/// `class`: the name of an existing class (as DRF's slug-related field reads it).
async fn read_class(app: &AppState, ctx: &Ctx, f: &mut Fields<'_>) -> ApiResult<Given<Class>> {
    let name = match f.raw("class") {
        None => return Ok(Given::Absent),
        Some(Value::Null) => {
            f.report("class", msg::NULL);
            return Ok(Given::Invalid);
        }
        Some(Value::String(s)) if s.is_empty() => {
            f.report("class", msg::NULL);
            return Ok(Given::Invalid);
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => if *b { "True" } else { "False" }.to_string(),
        Some(_) => {
            f.report("class", "Invalid value.");
            return Ok(Given::Invalid);
        }
    };
    let found = if name.chars().count() <= 64 {
        app.store.class_by_name(ctx.instance.id, &name).await?
    } else {
        None
    };
    Ok(match found {
        Some(c) => Given::Set(c),
        None => {
            f.report("class", format!("Object with name={name} does not exist."));
            Given::Invalid
        }
    })
}

/// `query`: a JSON object or the JSON text of one; null or blank is `{}`.
fn read_query(f: &mut Fields<'_>) -> Given<Value> {
    let value = match f.raw("query") {
        None => return Given::Absent,
        Some(Value::Null) => return Given::Cleared,
        Some(Value::String(s)) if s.is_empty() => return Given::Cleared,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => v,
            Err(_) => {
                f.report("query", "Not a valid JSON string.");
                return Given::Invalid;
            }
        },
        Some(other) => other.clone(),
    };
    Given::Set(value)
}

/// Checks a stored query as the objects list would parse it against `class`; the
/// message goes in the list form of a serializer field error.
async fn check_query(
    app: &AppState,
    ctx: &Ctx,
    f: &mut Fields<'_>,
    class: &Class,
    query: &Value,
) -> ApiResult<()> {
    let schema = class_schema(app, class);
    let text = query.to_string();
    match parse_class_query(app, ctx, class, &schema, &[&text]).await? {
        Ok(_) => {}
        Err(QueryError::Field(m) | QueryError::Structural(m)) => {
            f.errors.add("query", m);
        }
    }
    Ok(())
}

/// A trimmed, blank-allowing text of at most `max` characters; blank clears it.
fn read_text(f: &mut Fields<'_>, name: &str, max: usize) -> Given<String> {
    let opts = Char {
        max,
        allow_blank: true,
        allow_null: true,
        trim: true,
    };
    match (f.raw(name).is_some(), f.char(name, opts, false)) {
        (false, _) => Given::Absent,
        (true, None) => Given::Invalid,
        (true, Some(None)) => Given::Cleared,
        (true, Some(Some(s))) => Given::Set(s),
    }
}

/// `excluded_fields` / `expand`: [`read_text`] whose parts must each be a field name.
fn read_field_list(f: &mut Fields<'_>, name: &str) -> Given<String> {
    match read_text(f, name, FIELD_LIST_CHARS) {
        Given::Set(s) if !s.is_empty() && !s.split(',').all(is_field_name) => {
            f.report(name, "Enter a comma separated list.");
            Given::Invalid
        }
        other => other,
    }
}

/// The platform's field name pattern `^[a-z][a-z0-9_]*$`, case-insensitively.
fn is_field_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `page_size`: an integer 0..=100 (DRF's integer field); null or blank clears it.
fn read_page_size(f: &mut Fields<'_>) -> Given<i64> {
    let text = match f.raw("page_size") {
        None => return Given::Absent,
        Some(Value::Null) => return Given::Cleared,
        Some(Value::String(s)) if s.trim().is_empty() => return Given::Cleared,
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            f.report("page_size", msg::INVALID_INT);
            return Given::Invalid;
        }
    };
    // DRF accepts a whole number written with a zero fraction ("5.0").
    let whole = match text.split_once('.') {
        Some((int, frac)) if frac.chars().all(|c| c == '0') => int,
        Some(_) => "",
        None => text.as_str(),
    };
    match whole.parse::<i64>() {
        Ok(v) if v > MAX_PAGE_SIZE => {
            f.report(
                "page_size",
                format!("Ensure this value is less than or equal to {MAX_PAGE_SIZE}."),
            );
            Given::Invalid
        }
        Ok(v) if v < 0 => {
            f.report(
                "page_size",
                "Ensure this value is greater than or equal to 0.",
            );
            Given::Invalid
        }
        Ok(v) => Given::Set(v),
        Err(_) => {
            f.report("page_size", msg::INVALID_INT);
            Given::Invalid
        }
    }
}
