//! The reference evaluator: the semantics of a [`Query`] on one object, which the SQL
//! compiler (rivia-store `sql.rs`) must match, with the LIKE and distance helpers both
//! sides share.

use super::{CmpOp, Col, Cond, EARTH_RADIUS_KM, FieldRef, Query, StrOp};
use serde_json::{Map, Value};

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
