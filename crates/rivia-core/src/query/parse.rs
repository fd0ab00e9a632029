//! The query parser: Syncano's structural checks (`QueryValidator`), field resolution, and
//! each lookup turned into a [`Cond`] with Syncano's exact messages.

use super::coerce::{Domain, domain, field_type, scalar};
use super::repr::py_repr;
use super::{
    CmpOp, Col, Cond, FieldRef, MAX_KEY_LEN, MAX_KEYS, MAX_LIST, MAX_VALUE_LEN, Query, QueryError,
    Scalar, StrOp, Target, TargetKind,
};
use crate::schema::{FieldType, Schema};
use serde_json::{Map, Value};

fn field_err<T>(msg: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError::Field(msg.into()))
}

/// What the parser needs to know about the queried class.
pub struct ParseCtx<'a> {
    /// The class schema (profile schema in a user scope).
    pub schema: &'a Schema,
    /// Whether this is the nested scope of target `user` (id/username are user columns).
    pub user_scope: bool,
    /// Resolves a reference target (`self`, `user` or a class name) for `_is`.
    pub resolve: &'a dyn Fn(&str) -> Option<Target>,
}

/// Parses every `query` parameter (ANDed). Empty parameters are ignored.
pub fn parse_queries(raw: &[&str], ctx: &ParseCtx) -> Result<Query, QueryError> {
    let mut out = Query::default();
    for text in raw.iter().filter(|t| !t.is_empty()) {
        let value: Value = serde_json::from_str(text)
            .map_err(|_| QueryError::Field("Not a valid JSON string.".into()))?;
        out.conds.extend(parse_value(&value, ctx)?.conds);
    }
    Ok(out)
}

/// Parses one query given as JSON.
pub fn parse_value(value: &Value, ctx: &ParseCtx) -> Result<Query, QueryError> {
    validate_structure(value, 1)?;
    let Value::Object(map) = value else {
        return Err(QueryError::Structural(
            "Query passed in invalid format.".into(),
        ));
    };
    let mut q = Query::default();
    for (name, lookups) in map {
        let field = resolve_field(name, ctx)?;
        let Value::Object(lookups) = lookups else {
            return field_err(format!(
                "Invalid field \"{name}\" lookup type. Expected JSON object."
            ));
        };
        for (lookup, v) in lookups {
            q.conds.push(parse_lookup(name, &field, lookup, v, ctx)?);
        }
    }
    Ok(q)
}

/// Syncano's `QueryValidator`: shape, key counts and lengths, nesting depth.
fn validate_structure(value: &Value, level: u8) -> Result<(), QueryError> {
    let structural = |m: String| Err(QueryError::Structural(m));
    let Value::Object(map) = value else {
        return structural("Query passed in invalid format.".into());
    };
    if map.len() > MAX_KEYS {
        return structural(format!("Too many keys defined (exceeds {MAX_KEYS})."));
    }
    for (key, v) in map {
        if key.chars().count() > MAX_KEY_LEN {
            return structural(format!("Too long key defined (exceeds {MAX_KEY_LEN})."));
        }
        if let Value::Object(lookups) = v
            && let Some(nested) = lookups.get("_is")
        {
            if level > 1 {
                return structural("Double nested queries are not allowed.".into());
            }
            validate_structure(nested, level + 1)?;
        }
        if py_repr(v).chars().count() > MAX_VALUE_LEN {
            return structural(format!(
                "Too long value defined for key {key} (exceeds {MAX_VALUE_LEN})."
            ));
        }
    }
    Ok(())
}

fn resolve_field(name: &str, ctx: &ParseCtx) -> Result<FieldRef, QueryError> {
    let builtin = if ctx.user_scope {
        match name {
            "id" => Some(Col::Id),
            "username" => Some(Col::Username),
            _ => None,
        }
    } else {
        match name {
            "id" => Some(Col::Id),
            "created_at" => Some(Col::CreatedAt),
            "updated_at" => Some(Col::UpdatedAt),
            "revision" => Some(Col::Revision),
            "owner" => Some(Col::Owner),
            "group" => Some(Col::Group),
            "channel" => Some(Col::Channel),
            "channel_room" => Some(Col::ChannelRoom),
            _ => None,
        }
    };
    if let Some(c) = builtin {
        return Ok(FieldRef::Builtin(c));
    }
    let Some(field) = ctx.schema.field(name) else {
        return field_err(format!("Invalid field name defined: \"{name}\"."));
    };
    // Syncano filters only on built indexes; Rivia builds them synchronously.
    if !field.filter_index {
        return field_err(format!(
            "Field \"{name}\" cannot be used in a query as it is not indexed."
        ));
    }
    Ok(FieldRef::Schema(field.clone()))
}

fn parse_lookup(
    name: &str,
    field: &FieldRef,
    lookup: &str,
    v: &Value,
    ctx: &ParseCtx,
) -> Result<Cond, QueryError> {
    let op = lookup.strip_prefix('_').unwrap_or("\u{0}");
    let invalid_lookup = || {
        field_err(format!(
            "Invalid lookup \"{lookup}\" defined for field \"{name}\"."
        ))
    };
    let bad_type = || {
        field_err(format!(
            "Invalid value type provided for \"{op}\" lookup of field \"{name}\"."
        ))
    };
    let ftype = field_type(field);
    let comparable = domain(field) != Domain::None;
    let cmp = |c: CmpOp| -> Result<Cond, QueryError> {
        Ok(Cond::Cmp(field.clone(), c, scalar(field, op, name, v)?))
    };
    match op {
        "eq" | "neq" | "gt" | "gte" | "lt" | "lte" if comparable => cmp(match op {
            "eq" => CmpOp::Eq,
            "neq" => CmpOp::Neq,
            "gt" => CmpOp::Gt,
            "gte" => CmpOp::Gte,
            "lt" => CmpOp::Lt,
            _ => CmpOp::Lte,
        }),
        "in" | "nin" if comparable => {
            let items = list(op, name, v)?;
            let values = items
                .iter()
                .map(|i| scalar(field, op, name, i))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Cond::In(field.clone(), values, op == "nin"))
        }
        "exists" if ftype != Some(FieldType::Array) => match v {
            Value::Bool(b) => Ok(Cond::Exists(field.clone(), *b)),
            _ => bad_type(),
        },
        "contains" if ftype == Some(FieldType::Array) => {
            let items = list(op, name, v)?;
            let mut values = Vec::with_capacity(items.len());
            for i in items {
                values.push(match i {
                    Value::Bool(b) => Scalar::Bool(*b),
                    Value::Number(n) => match n.as_i64() {
                        Some(x) => Scalar::Int(x),
                        None => Scalar::Float(n.as_f64().unwrap_or(0.0)),
                    },
                    Value::String(s) if s.chars().count() <= 128 && !s.contains('\0') => {
                        Scalar::Str(s.clone())
                    }
                    _ => return bad_type(),
                });
            }
            Ok(Cond::Contains(field.clone(), values))
        }
        "contains" if ftype == Some(FieldType::Relation) => {
            let items = list(op, name, v)?;
            let mut values = Vec::with_capacity(items.len());
            for i in items {
                match i.as_i64() {
                    Some(x) if !i.is_boolean() => values.push(Scalar::Int(x)),
                    _ => return bad_type(),
                }
            }
            Ok(Cond::Contains(field.clone(), values))
        }
        "contains" | "icontains" | "startswith" | "istartswith" | "endswith" | "iendswith"
        | "like" | "ilike" | "ieq"
            if is_stringish(field) =>
        {
            if matches!(field, FieldRef::Builtin(Col::Channel | Col::ChannelRoom)) {
                return field_err(format!("{op} is not supported on this field type."));
            }
            let Scalar::Str(s) = scalar(field, op, name, v)? else {
                return bad_type();
            };
            let sop = match op {
                "contains" => StrOp::Contains,
                "icontains" => StrOp::IContains,
                "startswith" => StrOp::StartsWith,
                "istartswith" => StrOp::IStartsWith,
                "endswith" => StrOp::EndsWith,
                "iendswith" => StrOp::IEndsWith,
                "like" => StrOp::Like,
                "ilike" => StrOp::ILike,
                _ => StrOp::IEq,
            };
            let s = if matches!(sop, StrOp::Like | StrOp::ILike) {
                close_escape(s)
            } else {
                s
            };
            Ok(Cond::Str(field.clone(), sop, s))
        }
        "is" if matches!(ftype, Some(FieldType::Reference | FieldType::Relation)) => {
            parse_is(field, v, ctx)
        }
        "near" if ftype == Some(FieldType::Geopoint) => parse_near(field, op, name, v),
        _ => invalid_lookup(),
    }
}

fn is_stringish(f: &FieldRef) -> bool {
    match f {
        FieldRef::Schema(s) => s.ftype == FieldType::String,
        FieldRef::Builtin(c) => matches!(c, Col::Channel | Col::ChannelRoom | Col::Username),
    }
}

/// A LIKE pattern ending in a lone escape character would be an SQL error; treat the
/// trailing backslash as a literal one.
fn close_escape(s: String) -> String {
    let trailing = s.chars().rev().take_while(|c| *c == '\\').count();
    if trailing % 2 == 1 { s + "\\" } else { s }
}

fn list<'v>(op: &str, name: &str, v: &'v Value) -> Result<&'v Vec<Value>, QueryError> {
    let Value::Array(items) = v else {
        return field_err(format!(
            "Invalid value type provided for \"{op}\" lookup of field \"{name}\"."
        ));
    };
    if items.len() > MAX_LIST {
        return field_err(format!(
            "Too many values provided for \"{op}\" lookup of field \"{name}\". Max {MAX_LIST}."
        ));
    }
    Ok(items)
}

fn parse_is(field: &FieldRef, v: &Value, ctx: &ParseCtx) -> Result<Cond, QueryError> {
    let FieldRef::Schema(f) = field else {
        return field_err("Invalid lookup.");
    };
    let target_name = f.target.clone().unwrap_or_default();
    let Some(target) = (ctx.resolve)(&target_name) else {
        let shown = if target_name == "user" {
            "user_profile"
        } else {
            &target_name
        };
        return field_err(format!("Referenced class \"{shown}\" does not exist."));
    };
    let nested_ctx = ParseCtx {
        schema: &target.schema,
        user_scope: matches!(target.kind, TargetKind::User { .. }),
        resolve: ctx.resolve,
    };
    let nested = parse_value(v, &nested_ctx)?;
    Ok(Cond::Is(field.clone(), Box::new(target), nested))
}

fn parse_near(field: &FieldRef, op: &str, name: &str, v: &Value) -> Result<Cond, QueryError> {
    let bad_type = || {
        field_err(format!(
            "Invalid value type provided for \"{op}\" lookup of field \"{name}\"."
        ))
    };
    let Value::Object(m) = v else {
        return bad_type();
    };
    let (Some(lon), Some(lat)) = (m.get("longitude"), m.get("latitude")) else {
        return bad_type();
    };
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    let (lon, lat) = match (number(lon), number(lat)) {
        (Some(lon), Some(lat)) if lon > -180.0 && lon < 180.0 && lat > -90.0 && lat < 90.0 => {
            (lon, lat)
        }
        _ => return field_err("Invalid longitude/latitude values."),
    };
    let km = near_distance_km(m)?;
    Ok(Cond::Near(field.clone(), lon, lat, km))
}

fn near_distance_km(m: &Map<String, Value>) -> Result<f64, QueryError> {
    let (raw, max, factor) = if let Some(d) = m.get("distance_in_miles") {
        (d, 24901.0, 1.609344)
    } else if let Some(d) = m.get("distance_in_kilometers") {
        (d, 40075.0, 1.0)
    } else {
        return Ok(100.0 * 1.609344);
    };
    match raw {
        Value::Number(n) => match n.as_f64() {
            Some(d) if (0.0..=max).contains(&d) => Ok(d * factor),
            _ => field_err("Invalid distance value."),
        },
        _ => field_err("Invalid distance value."),
    }
}
