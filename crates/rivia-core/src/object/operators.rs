//! Update operators (`_increment`, `_add`, `_addunique`, `_remove`): recognised in a
//! submitted value and applied to the current stored value.

use super::values::{check_array_items, check_i32, float_value, relation_from_items};
use super::{NewValue, invalid_message};
use crate::schema::{Field, FieldType};
use serde_json::Value;

/// An update operator found in a submitted value.
#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    /// `_increment` on integer/float.
    Increment(Value),
    /// Array/relation operators, applied in the order add → addunique → remove.
    List {
        /// `_add` values.
        add: Option<Value>,
        /// `_addunique` values.
        add_unique: Option<Value>,
        /// `_remove` values.
        remove: Option<Value>,
    },
}

/// Recognises an operator object (or a JSON string of one) for a field type. `Ok(None)`:
/// not an operator (validate as a plain value). `Err`: an object that is not a valid
/// operator for the type (the type's invalid message).
pub fn parse_operator(field: &Field, v: &Value) -> Result<Option<Operator>, String> {
    let t = field.ftype;
    let takes_ops = matches!(
        t,
        FieldType::Integer | FieldType::Float | FieldType::Array | FieldType::Relation
    );
    if !takes_ops {
        return Ok(None);
    }
    let obj = match v {
        Value::Object(o) => o.clone(),
        Value::String(s) if s.trim_start().starts_with('{') => match serde_json::from_str(s) {
            Ok(Value::Object(o)) => o,
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let invalid = || invalid_message(t).to_string();
    match t {
        FieldType::Integer | FieldType::Float => match obj.get("_increment") {
            Some(n) if obj.len() == 1 => Ok(Some(Operator::Increment(n.clone()))),
            _ => Err(invalid()),
        },
        _ => {
            let allowed: &[&str] = if t == FieldType::Array {
                &["_add", "_addunique", "_remove"]
            } else {
                &["_add", "_remove"]
            };
            if obj.is_empty() || obj.keys().any(|k| !allowed.contains(&k.as_str())) {
                return Err(invalid());
            }
            Ok(Some(Operator::List {
                add: obj.get("_add").cloned(),
                add_unique: obj.get("_addunique").cloned(),
                remove: obj.get("_remove").cloned(),
            }))
        }
    }
}

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// Loose equality of JSON scalars as Python compares them (`1 == 1.0`, `true != 1`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Applies an operator to the current stored value, giving the new stored value.
pub fn apply_operator(
    field: &Field,
    current: Option<&Value>,
    op: &Operator,
) -> Result<NewValue, String> {
    let t = field.ftype;
    let invalid = || invalid_message(t).to_string();
    match op {
        Operator::Increment(by) => {
            if t == FieldType::Integer {
                let by = match by {
                    Value::Number(n) => n.as_i64().ok_or_else(invalid)?,
                    _ => return Err(invalid()),
                };
                let base = current.and_then(Value::as_i64).unwrap_or(0);
                let sum = base.checked_add(by).ok_or_else(invalid)?;
                check_i32(sum).map(|s| NewValue::Set(Value::from(s)))
            } else {
                let by = match by {
                    Value::Number(n) => n.as_f64().ok_or_else(invalid)?,
                    _ => return Err(invalid()),
                };
                let sum = current.and_then(Value::as_f64).unwrap_or(0.0) + by;
                if !sum.is_finite() {
                    return Err(invalid());
                }
                Ok(NewValue::Set(float_value(sum)))
            }
        }
        Operator::List {
            add,
            add_unique,
            remove,
        } => {
            let mut items: Vec<Value> = match current {
                Some(Value::Array(a)) => a.clone(),
                _ => Vec::new(),
            };
            if let Some(a) = add {
                items.extend(as_list(a));
            }
            if let Some(a) = add_unique {
                for v in as_list(a) {
                    if !items.iter().any(|i| same(i, &v)) {
                        items.push(v);
                    }
                }
            }
            if let Some(r) = remove {
                let gone = as_list(r);
                items.retain(|i| !gone.iter().any(|g| same(i, g)));
            }
            if t == FieldType::Relation {
                relation_from_items(&items)
            } else {
                check_array_items(&items)?;
                Ok(NewValue::Set(Value::Array(items)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::test_field as field;
    use serde_json::json;

    #[test]
    fn operators() {
        let int = field("integer");
        let op = parse_operator(&int, &json!({"_increment": 5}))
            .expect("op")
            .expect("some");
        assert_eq!(
            apply_operator(&int, Some(&json!(2)), &op),
            Ok(NewValue::Set(json!(7)))
        );
        assert_eq!(apply_operator(&int, None, &op), Ok(NewValue::Set(json!(5))));
        assert_eq!(
            parse_operator(&int, &json!({"_add": 5})),
            Err("A valid integer is required.".into())
        );
        let arr = field("array");
        let op = parse_operator(
            &arr,
            &json!({"_add": [1, 2], "_addunique": [2, 3], "_remove": 1}),
        )
        .expect("op")
        .expect("some");
        assert_eq!(
            apply_operator(&arr, Some(&json!([1])), &op),
            Ok(NewValue::Set(json!([2, 3])))
        );
        let rel = field("relation");
        let op = parse_operator(&rel, &json!({"_remove": [1]}))
            .expect("op")
            .expect("some");
        assert_eq!(
            apply_operator(&rel, Some(&json!([1])), &op),
            Ok(NewValue::Null)
        );
    }
}
