//! The data-object query language (spec-core §9.6): parsing and validating `query`
//! parameters into a typed [`Query`] with Syncano's exact errors, and [`eval()`], a reference
//! evaluator that defines the semantics the SQL compiler (rivia-store `sql.rs`) must match.
//!
//! Values are normalised into the stored domain while parsing: schema datetimes become the
//! fixed-width stored string, built-in datetimes become microseconds, so comparisons in SQL
//! and in [`eval()`] are plain comparisons of like with like.
//!
//! This module holds the syntax tree and the limits; the parser is in `parse` (value
//! coercion per field domain in `coerce`), the reference evaluator in `eval`, and the
//! Python `str`/`repr` renderings Syncano's messages and limits use in `repr`.

mod coerce;
mod eval;
mod parse;
mod repr;
#[cfg(test)]
mod tests;

pub use eval::{EvalObject, LikeToken, compare, eval, haversine_km, like_match, like_tokens};
pub use parse::{ParseCtx, parse_queries, parse_value};
pub use repr::{py_repr, py_str};

use crate::schema::{Field, Schema};
use serde_json::Value;

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
    /// Which target objects the caller may read: `_is` matches only those, so a query
    /// cannot reveal fields of an object the caller may not read.
    pub readable: Readable,
}

/// Which objects of an `_is` target the caller may read (spec-core §9.9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readable {
    /// Every object (admins, `ignore_acl` keys).
    All,
    /// None (the class gate refuses the caller).
    Nothing,
    /// Objects with `other_permissions ≥ read` (anonymous-read keys).
    Others,
    /// Objects the user may read as owner, group member or other.
    User {
        /// User id.
        id: i64,
        /// Group ids of the user.
        groups: Vec<i64>,
    },
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
