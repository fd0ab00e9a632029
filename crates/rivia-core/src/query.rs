//! The data-object query language (spec-core §9.6): parsing and validating `query`
//! parameters into a typed [`Query`] with Syncano's exact errors, and [`eval`], a reference
//! evaluator that defines the semantics the SQL compiler (rivia-store `sql.rs`) must match.
//!
//! Values are normalised into the stored domain while parsing: schema datetimes become the
//! fixed-width stored string, built-in datetimes become microseconds, so comparisons in SQL
//! and in [`eval`] are plain comparisons of like with like.

use crate::schema::{Field, FieldType, Schema};
use serde_json::{Map, Value};

/// Most top-level keys of a query.
pub const MAX_KEYS: usize = 16;
/// Most characters of a field name in a query.
pub const MAX_KEY_LEN: usize = 64;
/// Most characters of one field's lookups (Python repr).
pub const MAX_VALUE_LEN: usize = 8192;
/// Most values of `_in`/`_nin`/`_contains`.
pub const MAX_LIST: usize = 128;
/// Most target objects a nested `_is` considers.
pub const NESTED_LIMIT: i64 = 1000;
/// Earth radius used for `_near`, kilometres.
pub const EARTH_RADIUS_KM: f64 = 6371.0088;

/// A rejected query, in one of Syncano's two shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// `{"query": "<message>"}`.
    Field(String),
    /// A bare JSON list `["<message>"]` (structural problems).
    Structural(String),
}

fn field_err<T>(msg: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError::Field(msg.into()))
}

/// A built-in (real) column of an object table, or of the users table in a nested
/// query on target `user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// `id` (the user id for target `user`).
    Id,
    /// `created_at` (microseconds).
    CreatedAt,
    /// `updated_at` (microseconds).
    UpdatedAt,
    /// `revision`.
    Revision,
    /// `owner`.
    Owner,
    /// `group`.
    Group,
    /// `channel` (the channel name).
    Channel,
    /// `channel_room`.
    ChannelRoom,
    /// `username` (target `user` only).
    Username,
}

/// What a condition filters on.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldRef {
    /// A built-in column.
    Builtin(Col),
    /// A schema field (its storage key decides the JSON path).
    Schema(Field),
}

/// A comparison value in the stored domain.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// Integer (also built-in datetimes, in microseconds).
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// String (also schema datetimes, in their stored form).
    Str(String),
}

impl Scalar {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        match self {
            Scalar::Int(i) => Value::from(*i),
            Scalar::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Str(s) => Value::String(s.clone()),
        }
    }
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `_eq`
    Eq,
    /// `_neq` (also matches null)
    Neq,
    /// `_gt`
    Gt,
    /// `_gte`
    Gte,
    /// `_lt`
    Lt,
    /// `_lte`
    Lte,
}

/// String operators (schema `string` fields and `username`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrOp {
    /// substring
    Contains,
    /// case-insensitive substring
    IContains,
    /// prefix
    StartsWith,
    /// case-insensitive prefix
    IStartsWith,
    /// suffix
    EndsWith,
    /// case-insensitive suffix
    IEndsWith,
    /// case-insensitive equality
    IEq,
    /// SQL LIKE pattern
    Like,
    /// case-insensitive SQL LIKE pattern
    ILike,
}

/// The target of a nested `_is` query.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetKind {
    /// An object class (its table id).
    Class(i64),
    /// Users, joined with their profiles in the `user_profile` class.
    User {
        /// Class id of `user_profile`.
        profile_class_id: i64,
    },
}

/// A resolved `_is` target: where to look and which fields it has.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Where.
    pub kind: TargetKind,
    /// The target class's schema (the profile schema for users).
    pub schema: Schema,
}

/// One condition; a [`Query`] is their conjunction.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `field <op> value`.
    Cmp(FieldRef, CmpOp, Scalar),
    /// `_in` (`negate`: `_nin`, which also matches null).
    In(FieldRef, Vec<Scalar>, bool),
    /// `_exists`.
    Exists(FieldRef, bool),
    /// String operator with its (already validated) operand.
    Str(FieldRef, StrOp, String),
    /// Array/relation contains all values.
    Contains(FieldRef, Vec<Scalar>),
    /// Reference/relation target matches a nested query.
    Is(FieldRef, Box<Target>, Query),
    /// Geopoint within `km` kilometres of (lon, lat).
    Near(FieldRef, f64, f64, f64),
}

/// A parsed query: all conditions must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// The conditions.
    pub conds: Vec<Cond>,
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

/// The value domain of a field for comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Domain {
    /// Object/user ids: 0..2147483647.
    Id,
    /// 32-bit integer.
    Int,
    /// Float.
    Float,
    /// Boolean.
    Bool,
    /// Built-in datetime (microseconds).
    Micros,
    /// Schema datetime (stored string).
    DateText,
    /// Text of at most this many characters.
    Text(usize),
    /// Not comparable (array, relation, geopoint).
    None,
}

fn domain(f: &FieldRef) -> Domain {
    match f {
        FieldRef::Builtin(c) => match c {
            Col::Id | Col::Owner | Col::Group => Domain::Id,
            Col::Revision => Domain::Int,
            Col::CreatedAt | Col::UpdatedAt => Domain::Micros,
            Col::Channel | Col::ChannelRoom => Domain::Text(64),
            Col::Username => Domain::Text(64),
        },
        FieldRef::Schema(s) => match s.ftype {
            FieldType::Integer | FieldType::Reference => Domain::Int,
            FieldType::Float => Domain::Float,
            FieldType::Boolean => Domain::Bool,
            FieldType::Datetime => Domain::DateText,
            FieldType::String => Domain::Text(128),
            _ => Domain::None,
        },
    }
}

fn field_type(f: &FieldRef) -> Option<FieldType> {
    match f {
        FieldRef::Schema(s) => Some(s.ftype),
        FieldRef::Builtin(_) => None,
    }
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

/// Converts a lookup value with the field's Django `to_python` and validators.
fn scalar(field: &FieldRef, op: &str, name: &str, v: &Value) -> Result<Scalar, QueryError> {
    let bad_type = || {
        QueryError::Field(format!(
            "Invalid value type provided for \"{op}\" lookup of field \"{name}\"."
        ))
    };
    let failed = |m: String| {
        QueryError::Field(format!(
            "Validation of value provided for \"{op}\" lookup of field \"{name}\" failed: {m}"
        ))
    };
    if v.is_null() || crate::object::contains_nul(v) {
        return Err(bad_type());
    }
    let shown = py_str(v);
    match domain(field) {
        Domain::Id | Domain::Int => {
            let i =
                py_int(v).ok_or_else(|| failed(format!("'{shown}' value must be an integer.")))?;
            let (min, max) = if domain(field) == Domain::Id {
                (0, i32::MAX as i64)
            } else {
                (i32::MIN as i64, i32::MAX as i64)
            };
            if i > max {
                return Err(failed(format!(
                    "Ensure this value is less than or equal to {max}."
                )));
            }
            if i < min {
                return Err(failed(format!(
                    "Ensure this value is greater than or equal to {min}."
                )));
            }
            Ok(Scalar::Int(i))
        }
        Domain::Float => {
            let f = match v {
                Value::Number(n) => n.as_f64(),
                Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match f {
                Some(f) if f.is_finite() => Ok(Scalar::Float(f)),
                _ => Err(failed(format!("'{shown}' value must be a float."))),
            }
        }
        Domain::Bool => match v {
            Value::Bool(b) => Ok(Scalar::Bool(*b)),
            Value::Number(n) if n.as_f64() == Some(1.0) => Ok(Scalar::Bool(true)),
            Value::Number(n) if n.as_f64() == Some(0.0) => Ok(Scalar::Bool(false)),
            Value::String(s) if matches!(s.as_str(), "t" | "True" | "1") => Ok(Scalar::Bool(true)),
            Value::String(s) if matches!(s.as_str(), "f" | "False" | "0") => {
                Ok(Scalar::Bool(false))
            }
            _ => Err(failed(format!(
                "'{shown}' value must be either True or False."
            ))),
        },
        Domain::Micros | Domain::DateText => {
            let Value::String(s) = v else {
                return Err(bad_type());
            };
            let micros = crate::time::parse_lenient(s).ok_or_else(|| {
                failed(format!(
                    "'{shown}' value has an invalid format. It must be in YYYY-MM-DD HH:MM[:ss[.uuuuuu]][TZ] format."
                ))
            })?;
            if domain(field) == Domain::Micros {
                Ok(Scalar::Int(micros))
            } else {
                Ok(Scalar::Str(crate::time::format_micros(micros)))
            }
        }
        Domain::Text(max) => {
            let s = match v {
                Value::String(s) => s.clone(),
                other => shown_str(other),
            };
            let n = s.chars().count();
            if n > max {
                return Err(failed(format!(
                    "Ensure this value has at most {max} characters (it has {n})."
                )));
            }
            Ok(Scalar::Str(s))
        }
        Domain::None => Err(bad_type()),
    }
}

fn shown_str(v: &Value) -> String {
    py_str(v)
}

/// Python `int(value)` as Django's `IntegerField.to_python` applies it.
fn py_int(v: &Value) -> Option<i64> {
    match v {
        Value::Bool(b) => Some(*b as i64),
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.abs() < 9.2e18)
                .map(|f| f.trunc() as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
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

/// Python `str(value)` of a JSON value (as Django interpolates `%(value)s`).
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python `repr` of a JSON value, used for length limits and messages.
pub fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            _ => n.to_string(),
        },
        Value::String(s) => {
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        }
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", py_repr(&Value::String(k.clone())), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// An object as the reference evaluator sees it: built-in columns and the stored `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalObject {
    /// id
    pub id: i64,
    /// created_at, µs
    pub created_at: i64,
    /// updated_at, µs
    pub updated_at: i64,
    /// revision
    pub revision: i64,
    /// owner
    pub owner: Option<i64>,
    /// group
    pub group: Option<i64>,
    /// channel name
    pub channel: Option<String>,
    /// channel room
    pub channel_room: Option<String>,
    /// stored data by storage key
    pub data: Map<String, Value>,
}

impl EvalObject {
    fn get(&self, f: &FieldRef) -> Option<Value> {
        match f {
            FieldRef::Builtin(c) => match c {
                Col::Id => Some(Value::from(self.id)),
                Col::CreatedAt => Some(Value::from(self.created_at)),
                Col::UpdatedAt => Some(Value::from(self.updated_at)),
                Col::Revision => Some(Value::from(self.revision)),
                Col::Owner => self.owner.map(Value::from),
                Col::Group => self.group.map(Value::from),
                Col::Channel => self.channel.clone().map(Value::String),
                Col::ChannelRoom => self.channel_room.clone().map(Value::String),
                Col::Username => None,
            },
            FieldRef::Schema(s) => self.data.get(&s.key).filter(|v| !v.is_null()).cloned(),
        }
    }
}

/// Orders two stored scalars the way both databases do (numbers numerically, strings by
/// bytes — the C collation Rivia's databases use —, false < true). `None` when the
/// values are not comparable.
pub fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// The reference semantics of a query on one object. `_is` conditions need other
/// objects and are not evaluated here (they count as matching).
pub fn eval(q: &Query, o: &EvalObject) -> bool {
    q.conds.iter().all(|c| eval_cond(c, o))
}

fn eval_cond(c: &Cond, o: &EvalObject) -> bool {
    use std::cmp::Ordering::*;
    match c {
        Cond::Cmp(f, op, s) => {
            let Some(v) = o.get(f) else {
                return *op == CmpOp::Neq;
            };
            let ord = compare(&v, &s.to_json());
            match op {
                CmpOp::Eq => ord == Some(Equal),
                CmpOp::Neq => ord != Some(Equal),
                CmpOp::Gt => ord == Some(Greater),
                CmpOp::Gte => matches!(ord, Some(Greater | Equal)),
                CmpOp::Lt => ord == Some(Less),
                CmpOp::Lte => matches!(ord, Some(Less | Equal)),
            }
        }
        Cond::In(f, values, negate) => match o.get(f) {
            None => *negate,
            Some(v) => {
                let found = values
                    .iter()
                    .any(|s| compare(&v, &s.to_json()) == Some(Equal));
                found != *negate
            }
        },
        Cond::Exists(f, want) => o.get(f).is_some() == *want,
        Cond::Str(f, op, needle) => match o.get(f) {
            Some(Value::String(s)) => eval_str(&s, *op, needle),
            _ => false,
        },
        Cond::Contains(f, values) => match o.get(f) {
            Some(Value::Array(items)) => values.iter().all(|want| {
                let w = want.to_json();
                items.iter().any(|i| same_scalar(i, &w))
            }),
            _ => false,
        },
        Cond::Is(..) => true,
        Cond::Near(f, lon, lat, km) => match o.get(f) {
            Some(p) => {
                let plon = p.get("longitude").and_then(Value::as_f64);
                let plat = p.get("latitude").and_then(Value::as_f64);
                match (plon, plat) {
                    (Some(plon), Some(plat)) => haversine_km(plon, plat, *lon, *lat) <= *km,
                    _ => false,
                }
            }
            None => false,
        },
    }
}

/// Equality of array elements: numbers by value, otherwise same type and value.
fn same_scalar(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn eval_str(s: &str, op: StrOp, n: &str) -> bool {
    let (ls, ln) = (s.to_ascii_lowercase(), n.to_ascii_lowercase());
    match op {
        StrOp::Contains => s.contains(n),
        StrOp::IContains => ls.contains(&ln),
        StrOp::StartsWith => s.starts_with(n),
        StrOp::IStartsWith => ls.starts_with(&ln),
        StrOp::EndsWith => s.ends_with(n),
        StrOp::IEndsWith => ls.ends_with(&ln),
        StrOp::IEq => ls == ln,
        StrOp::Like => like_match(s, n),
        StrOp::ILike => like_match(&ls, &ln),
    }
}

/// Token of a LIKE pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LikeToken {
    /// `%`
    AnyRun,
    /// `_`
    AnyOne,
    /// A literal character (escaped or plain).
    Lit(char),
}

/// Tokenises a LIKE pattern with `\` as the escape character.
pub fn like_tokens(pattern: &str) -> Vec<LikeToken> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '%' => LikeToken::AnyRun,
            '_' => LikeToken::AnyOne,
            '\\' => LikeToken::Lit(chars.next().unwrap_or('\\')),
            other => LikeToken::Lit(other),
        });
    }
    out
}

/// Whether `s` matches a LIKE pattern (case-sensitive).
pub fn like_match(s: &str, pattern: &str) -> bool {
    let toks = like_tokens(pattern);
    let chars: Vec<char> = s.chars().collect();
    // Dynamic programming over (token index, char index).
    let mut reach = vec![false; chars.len() + 1];
    reach[0] = true;
    for t in &toks {
        let mut next = vec![false; chars.len() + 1];
        for i in 0..=chars.len() {
            if !reach[i] {
                continue;
            }
            match t {
                LikeToken::AnyRun => {
                    for slot in next.iter_mut().skip(i) {
                        *slot = true;
                    }
                }
                LikeToken::AnyOne => {
                    if i < chars.len() {
                        next[i + 1] = true;
                    }
                }
                LikeToken::Lit(c) => {
                    if chars.get(i) == Some(c) {
                        next[i + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[chars.len()]
}

/// Great-circle distance in kilometres (haversine), as `rivia_geo_km` computes in SQL.
pub fn haversine_km(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dlat = (lat2 - lat1).to_radians();
    let dlon = (lon2 - lon1).to_radians();
    let a = (dlat / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::validate_schema;
    use serde_json::json;

    fn schema() -> Schema {
        validate_schema(
            &json!([
                {"name": "name", "type": "string", "filter_index": true},
                {"name": "n", "type": "integer", "filter_index": true},
                {"name": "hidden", "type": "integer"},
                {"name": "tags", "type": "array", "filter_index": true},
                {"name": "ref", "type": "reference", "target": "self", "filter_index": true},
                {"name": "loc", "type": "geopoint", "filter_index": true},
            ]),
            &Schema::default(),
            1,
            &|_| true,
        )
        .expect("schema")
    }

    fn parse(q: Value) -> Result<Query, QueryError> {
        let s = schema();
        let resolve = |t: &str| {
            (t == "self").then(|| Target {
                kind: TargetKind::Class(1),
                schema: schema(),
            })
        };
        let ctx = ParseCtx {
            schema: &s,
            user_scope: false,
            resolve: &resolve,
        };
        parse_value(&q, &ctx)
    }

    fn err(q: Value) -> QueryError {
        parse(q).expect_err("invalid")
    }

    fn f(m: &str) -> QueryError {
        QueryError::Field(m.into())
    }

    #[test]
    fn field_errors() {
        assert_eq!(
            err(json!({"nope": {"_eq": 1}})),
            f("Invalid field name defined: \"nope\".")
        );
        assert_eq!(
            err(json!({"hidden": {"_eq": 1}})),
            f("Field \"hidden\" cannot be used in a query as it is not indexed.")
        );
        assert_eq!(
            err(json!({"n": 1})),
            f("Invalid field \"n\" lookup type. Expected JSON object.")
        );
        assert_eq!(
            err(json!({"n": {"_foo": 1}})),
            f("Invalid lookup \"_foo\" defined for field \"n\".")
        );
        assert_eq!(
            err(json!({"n": {"_contains": "a"}})),
            f("Invalid lookup \"_contains\" defined for field \"n\".")
        );
        assert_eq!(
            err(json!({"n": {"_eq": null}})),
            f("Invalid value type provided for \"eq\" lookup of field \"n\".")
        );
        assert_eq!(
            err(json!({"n": {"_gt": "abc"}})),
            f(
                "Validation of value provided for \"gt\" lookup of field \"n\" failed: 'abc' value must be an integer."
            )
        );
        assert_eq!(
            err(json!({"id": {"_eq": -1}})),
            f(
                "Validation of value provided for \"eq\" lookup of field \"id\" failed: Ensure this value is greater than or equal to 0."
            )
        );
        assert_eq!(
            err(json!({"n": {"_in": (0..129).collect::<Vec<_>>()}})),
            f("Too many values provided for \"in\" lookup of field \"n\". Max 128.")
        );
        assert_eq!(
            err(json!({"n": {"_exists": "true"}})),
            f("Invalid value type provided for \"exists\" lookup of field \"n\".")
        );
        assert_eq!(
            err(json!({"channel_room": {"_contains": "a"}})),
            f("contains is not supported on this field type.")
        );
        assert_eq!(
            err(json!({"loc": {"_near": {"longitude": 190, "latitude": 0}}})),
            f("Invalid longitude/latitude values.")
        );
        assert_eq!(
            err(
                json!({"loc": {"_near": {"longitude": 1, "latitude": 0, "distance_in_kilometers": 50000}}})
            ),
            f("Invalid distance value.")
        );
        assert_eq!(
            err(json!({"created_at": {"_gt": "yesterday"}})),
            f(
                "Validation of value provided for \"gt\" lookup of field \"created_at\" failed: 'yesterday' value has an invalid format. It must be in YYYY-MM-DD HH:MM[:ss[.uuuuuu]][TZ] format."
            )
        );
    }

    #[test]
    fn structural_errors() {
        let s = |m: &str| QueryError::Structural(m.into());
        assert_eq!(err(json!([1])), s("Query passed in invalid format."));
        let many: Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!({}))).collect();
        assert_eq!(
            err(Value::Object(many)),
            s("Too many keys defined (exceeds 16).")
        );
        assert_eq!(
            err(json!({"ref": {"_is": {"ref": {"_is": {"n": {"_eq": 1}}}}}})),
            s("Double nested queries are not allowed.")
        );
        assert_eq!(
            err(json!({"n": {"_in": vec!["x".repeat(100); 100]}})),
            s("Too long value defined for key n (exceeds 8192).")
        );
    }

    #[test]
    fn eval_semantics() {
        let s = schema();
        let key = |n: &str| s.field(n).expect("field").key.clone();
        let mut data = Map::new();
        data.insert(key("n"), json!(5));
        data.insert(key("name"), json!("Hello world"));
        data.insert(key("tags"), json!(["a", 1]));
        let o = EvalObject {
            id: 1,
            created_at: 0,
            updated_at: 0,
            revision: 1,
            owner: None,
            group: None,
            channel: None,
            channel_room: None,
            data,
        };
        let yes = |q: Value| eval(&parse(q).expect("valid"), &o);
        assert!(yes(json!({"n": {"_gt": 4, "_lte": "5"}})));
        assert!(yes(json!({"owner": {"_neq": 3}})));
        assert!(yes(json!({"owner": {"_nin": [3]}})));
        assert!(!yes(json!({"owner": {"_in": [3]}})));
        assert!(!yes(json!({"n": {"_in": []}})));
        assert!(yes(
            json!({"name": {"_icontains": "WORLD", "_like": "H%o _orld"}})
        ));
        assert!(!yes(json!({"name": {"_contains": "WORLD"}})));
        assert!(yes(json!({"tags": {"_contains": ["a", 1]}})));
        assert!(!yes(json!({"tags": {"_contains": ["1"]}})));
        assert!(yes(json!({"loc": {"_exists": false}})));
    }

    #[test]
    fn like_patterns() {
        assert!(like_match("data%_a", "data\\%\\_a"));
        assert!(!like_match("dataX_a", "data\\%\\_a"));
        assert!(like_match("abc", "a%"));
        assert!(like_match("abc", "%"));
        assert!(!like_match("abc", "a_"));
    }
}
