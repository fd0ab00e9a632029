//! Validation of `metadata` fields (spec-core §1.12): a JSON object (or a JSON string of
//! one) with at most 8 keys of at most 16 characters and values whose repr is ≤ 4096.

use serde_json::{Map, Value};

/// Validates and normalises a submitted metadata value; `null`/`""` mean `{}`.
pub fn validate_metadata(value: &Value) -> Result<Map<String, Value>, String> {
    let object = match value {
        Value::Null => return Ok(Map::new()),
        Value::String(s) if s.is_empty() => return Ok(Map::new()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => o,
            Ok(_) => return Err("Metadata passed in invalid format.".into()),
            Err(_) => return Err("Not a valid JSON string.".into()),
        },
        Value::Object(o) => o.clone(),
        _ => return Err("Metadata passed in invalid format.".into()),
    };
    if object.len() > 8 {
        return Err("Too many keys defined (exceeds 8).".into());
    }
    for (key, v) in &object {
        if key.chars().count() > 16 {
            return Err("Too long key defined (exceeds 16).".into());
        }
        if v.to_string().len() > 4096 {
            return Err(format!(
                "Too long value defined for key {key} (exceeds 4096)."
            ));
        }
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_objects_and_strings() {
        assert_eq!(validate_metadata(&json!(null)), Ok(Map::new()));
        assert_eq!(
            validate_metadata(&json!("{\"a\":1}")).map(|m| m.len()),
            Ok(1)
        );
        assert!(validate_metadata(&json!([1])).is_err());
        let many: Map<String, Value> = (0..9).map(|i| (format!("k{i}"), json!(i))).collect();
        assert_eq!(
            validate_metadata(&Value::Object(many)),
            Err("Too many keys defined (exceeds 8).".to_string())
        );
        assert!(validate_metadata(&json!({"a".repeat(17): 1})).is_err());
    }
}
