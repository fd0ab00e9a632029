//! Submitted (non-operator) values validated per field type into their stored form, with
//! DRF's coercions and messages.

use super::{MAX_RELATION, NewValue, invalid_message};
use crate::schema::{Field, FieldType};
use serde_json::{Map, Number, Value};

/// Form bodies carry JSON-typed values as JSON text; decode them for the JSON types.
fn decoded(v: &Value) -> Option<Value> {
    match v {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

/// Validates a submitted (non-operator) value of a non-file field into its stored form.
pub fn validate_value(field: &Field, v: &Value) -> Result<NewValue, String> {
    if v.is_null() {
        return Ok(NewValue::Null);
    }
    let t = field.ftype;
    let invalid = || invalid_message(t).to_string();
    // PostgreSQL text and jsonb cannot hold NUL characters; reject them on both backends.
    if contains_nul(v) {
        return Err(invalid());
    }
    match t {
        FieldType::String | FieldType::Text => {
            let max = if t == FieldType::String { 128 } else { 32000 };
            let s = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(invalid()),
            };
            if s.chars().count() > max {
                return Err(crate::errors::msg::max_length(max));
            }
            Ok(NewValue::Set(Value::String(s)))
        }
        FieldType::Integer => parse_int(v)
            .ok_or_else(invalid)
            .and_then(check_i32)
            .map(|i| NewValue::Set(Value::from(i))),
        FieldType::Float => parse_float(v)
            .ok_or_else(invalid)
            .map(|f| NewValue::Set(float_value(f))),
        FieldType::Boolean => parse_boolean(v).map_err(|_| invalid()).map(|b| match b {
            Some(b) => NewValue::Set(Value::Bool(b)),
            None => NewValue::Null,
        }),
        FieldType::Datetime => match v {
            // Year 0 does not exist in Python's datetime.
            Value::String(s) if !s.starts_with("0000") => crate::time::parse_strict(s)
                .map(|m| NewValue::Set(Value::String(crate::time::format_micros(m))))
                .ok_or_else(invalid),
            _ => Err(invalid()),
        },
        FieldType::Reference => parse_int(v)
            .filter(|i| (0..=i32::MAX as i64).contains(i))
            .map(|i| NewValue::Set(Value::from(i)))
            .ok_or_else(invalid),
        FieldType::Relation => validate_relation(v),
        FieldType::Array => validate_array(v),
        FieldType::Object => match decoded(v) {
            Some(Value::Object(o)) => Ok(NewValue::Set(Value::Object(o))),
            _ => Err(invalid()),
        },
        FieldType::Geopoint => validate_geopoint(v),
        // Files are handled by the caller (uploads and storage URLs need IO).
        FieldType::File => Err(invalid()),
    }
}

/// Whether a JSON value contains a NUL character in any string or key.
pub fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(contains_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

pub(super) fn check_i32(i: i64) -> Result<i64, String> {
    if i > i32::MAX as i64 {
        Err(format!(
            "Ensure this value is less than or equal to {}.",
            i32::MAX
        ))
    } else if i < i32::MIN as i64 {
        Err(format!(
            "Ensure this value is greater than or equal to {}.",
            i32::MIN
        ))
    } else {
        Ok(i)
    }
}

/// DRF `IntegerField`: ints, integral floats and integer strings (`"12"`, `"12.0"`).
fn parse_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e18)
                .map(|f| f as i64)
        }),
        Value::String(s) => {
            let t = s.trim();
            let t = match t.split_once('.') {
                Some((int, frac)) if frac.bytes().all(|b| b == b'0') => int,
                Some(_) => return None,
                None => t,
            };
            t.parse().ok()
        }
        _ => None,
    }
}

fn parse_float(v: &Value) -> Option<f64> {
    let f = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    f.is_finite().then_some(f)
}

/// A float as JSON; integral values keep a fraction so they read back as floats.
pub(super) fn float_value(f: f64) -> Value {
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// DRF `NullBooleanField` coercion: `Ok(None)` for the null spellings.
fn parse_boolean(v: &Value) -> Result<Option<bool>, ()> {
    match v {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) if n.as_f64() == Some(1.0) => Ok(Some(true)),
        Value::Number(n) if n.as_f64() == Some(0.0) => Ok(Some(false)),
        Value::String(s) => match s.as_str() {
            "t" | "T" | "y" | "Y" | "yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On"
            | "ON" | "1" => Ok(Some(true)),
            "f" | "F" | "n" | "N" | "no" | "NO" | "false" | "False" | "FALSE" | "off" | "Off"
            | "OFF" | "0" => Ok(Some(false)),
            "" | "null" | "Null" | "NULL" => Ok(None),
            _ => Err(()),
        },
        _ => Err(()),
    }
}

fn validate_relation(v: &Value) -> Result<NewValue, String> {
    let Some(Value::Array(items)) = decoded(v) else {
        return Err(invalid_message(FieldType::Relation).into());
    };
    relation_from_items(&items)
}

pub(super) fn relation_from_items(items: &[Value]) -> Result<NewValue, String> {
    if items.len() > MAX_RELATION {
        return Err(format!("Relation length limit exceeded ({MAX_RELATION})."));
    }
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        match item.as_i64() {
            Some(i) if (0..=i32::MAX as i64).contains(&i) => ids.push(i),
            _ => return Err("Relation can only contain integers (object ids).".into()),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(relation_value(ids))
}

/// The stored form of a relation: ascending ids, null when empty.
pub fn relation_value(ids: Vec<i64>) -> NewValue {
    if ids.is_empty() {
        NewValue::Null
    } else {
        NewValue::Set(Value::Array(ids.into_iter().map(Value::from).collect()))
    }
}

fn validate_array(v: &Value) -> Result<NewValue, String> {
    let Some(Value::Array(items)) = decoded(v) else {
        return Err(invalid_message(FieldType::Array).into());
    };
    check_array_items(&items)?;
    Ok(NewValue::Set(Value::Array(items)))
}

pub(super) fn check_array_items(items: &[Value]) -> Result<(), String> {
    if items
        .iter()
        .any(|i| matches!(i, Value::Array(_) | Value::Object(_) | Value::Null))
    {
        return Err("Array can only contain strings, booleans, integers and floats.".into());
    }
    Ok(())
}

fn validate_geopoint(v: &Value) -> Result<NewValue, String> {
    let bad = || invalid_message(FieldType::Geopoint).to_string();
    let Some(Value::Object(m)) = decoded(v) else {
        return Err(bad());
    };
    let num = |k: &str| match m.get(k) {
        Some(Value::Number(n)) => n.as_f64(),
        _ => None,
    };
    let (Some(lon), Some(lat)) = (num("longitude"), num("latitude")) else {
        return Err(bad());
    };
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(bad());
    }
    let mut out = Map::new();
    out.insert("longitude".into(), float_value(lon));
    out.insert("latitude".into(), float_value(lat));
    Ok(NewValue::Set(Value::Object(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::test_field as field;
    use serde_json::json;

    fn val(t: &str, v: Value) -> Result<Option<Value>, String> {
        validate_value(&field(t), &v).map(|n| n.as_option().cloned())
    }

    #[test]
    fn coerces_like_drf() {
        assert_eq!(val("string", json!(12)), Ok(Some(json!("12"))));
        assert_eq!(
            val("string", json!(true)),
            Err("Not a valid string.".into())
        );
        assert_eq!(
            val("string", json!("x".repeat(129))),
            Err("Ensure this field has no more than 128 characters.".into())
        );
        assert_eq!(val("integer", json!("12")), Ok(Some(json!(12))));
        assert_eq!(val("integer", json!(12.0)), Ok(Some(json!(12))));
        assert_eq!(
            val("integer", json!(true)),
            Err("A valid integer is required.".into())
        );
        assert_eq!(
            val("integer", json!(2147483648i64)),
            Err("Ensure this value is less than or equal to 2147483647.".into())
        );
        assert_eq!(val("float", json!("1.5")), Ok(Some(json!(1.5))));
        assert_eq!(
            val("float", json!("nan")),
            Err("A valid number is required.".into())
        );
        assert_eq!(val("boolean", json!("n")), Ok(Some(json!(false))));
        assert_eq!(val("boolean", json!("null")), Ok(None));
        assert_eq!(
            val("boolean", json!("maybe")),
            Err("Not a valid boolean.".into())
        );
        assert_eq!(
            val("datetime", json!("2015-01-01T12:00:00.1Z")),
            Ok(Some(json!("2015-01-01T12:00:00.100000Z")))
        );
        assert!(val("datetime", json!("2015-01-01")).is_err());
        assert_eq!(val("relation", json!([3, 1, 3])), Ok(Some(json!([1, 3]))));
        assert_eq!(val("relation", json!([])), Ok(None));
        assert_eq!(
            val("relation", json!(["a"])),
            Err("Relation can only contain integers (object ids).".into())
        );
        assert_eq!(
            val("array", json!([[1]])),
            Err("Array can only contain strings, booleans, integers and floats.".into())
        );
        assert_eq!(val("array", json!("[1, \"a\"]")), Ok(Some(json!([1, "a"]))));
        assert_eq!(val("object", json!([1])), Err("Not a valid object.".into()));
        assert_eq!(
            val("geopoint", json!({"longitude": 10, "latitude": 20})),
            Ok(Some(json!({"longitude": 10.0, "latitude": 20.0})))
        );
        assert_eq!(
            val("geopoint", json!({"longitude": 181, "latitude": 0})),
            Err("Not a valid geopoint.".into())
        );
    }
}
