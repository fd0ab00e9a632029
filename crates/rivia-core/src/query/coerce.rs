//! Lookup values converted into a field's comparison domain, as Django's `to_python` and
//! field validators did, with their exact messages.

use super::repr::py_str;
use super::{Col, FieldRef, QueryError, Scalar};
use crate::schema::FieldType;
use serde_json::Value;

/// The value domain of a field for comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Domain {
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

pub(super) fn domain(f: &FieldRef) -> Domain {
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

pub(super) fn field_type(f: &FieldRef) -> Option<FieldType> {
    match f {
        FieldRef::Schema(s) => Some(s.ftype),
        FieldRef::Builtin(_) => None,
    }
}

/// Converts a lookup value with the field's Django `to_python` and validators.
pub(super) fn scalar(
    field: &FieldRef,
    op: &str,
    name: &str,
    v: &Value,
) -> Result<Scalar, QueryError> {
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
    // `channel` compares channel names: Syncano refuses a non-string operand rather than
    // matching its text against the names (which would only ever give an empty page).
    if matches!(field, FieldRef::Builtin(Col::Channel)) && !v.is_string() {
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
