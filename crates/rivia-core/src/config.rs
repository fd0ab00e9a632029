//! Validation of script `config` objects (the instance config of rest §8 and a script's
//! `config` of rest §1): a JSON object, or a JSON string of one, with at most 1024 keys of
//! at most 64 characters, at most 256 KB as a whole. `""` means `{}`; `null` is the
//! caller's business (DRF answers "This field may not be null.").

use serde_json::{Map, Value};

/// Keys a config may have.
pub const MAX_KEYS: usize = 1024;
/// Characters of a key.
pub const MAX_KEY_CHARS: usize = 64;
/// Size of the whole config, in characters of its JSON text.
pub const MAX_RAW: usize = 256 * 1024;

/// Validates and normalises a submitted config value. The checks run in the platform's
/// order: JSON text, size, object, number of keys, length of each key.
pub fn validate_config(value: &Value) -> Result<Map<String, Value>, String> {
    let (parsed, raw_len) = match value {
        Value::String(s) if s.is_empty() => return Ok(Map::new()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            // The platform measured the submitted text with its quotes.
            Ok(v) => (v, s.chars().count() + 2),
            Err(_) => return Err("Not a valid JSON string.".into()),
        },
        // The platform only measured text input; an object is measured too so that no
        // config above the limit is ever stored.
        other => (other.clone(), other.to_string().chars().count()),
    };
    if raw_len > MAX_RAW {
        return Err(format!("Too big object defined (exceeds {MAX_RAW})."));
    }
    let Value::Object(object) = parsed else {
        return Err("Config passed in invalid format.".into());
    };
    if object.len() > MAX_KEYS {
        return Err(format!("Too many keys defined (exceeds {MAX_KEYS})."));
    }
    if object.keys().any(|k| k.chars().count() > MAX_KEY_CHARS) {
        return Err(format!("Too long key defined (exceeds {MAX_KEY_CHARS})."));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        validate_config(&v).err().unwrap_or_default()
    }

    #[test]
    fn accepts_objects_json_text_and_empty_text() {
        assert_eq!(validate_config(&json!({"a": 1})).map(|m| m.len()), Ok(1));
        assert_eq!(
            validate_config(&json!("{\"a\": 1}")).map(|m| m.len()),
            Ok(1)
        );
        assert_eq!(validate_config(&json!("")), Ok(Map::new()));
    }

    #[test]
    fn rejects_with_the_platform_messages() {
        assert_eq!(err(json!([1])), "Config passed in invalid format.");
        assert_eq!(err(json!(5)), "Config passed in invalid format.");
        assert_eq!(err(json!("[1]")), "Config passed in invalid format.");
        assert_eq!(err(json!("{x")), "Not a valid JSON string.");
        let many: Map<String, Value> = (0..1025).map(|i| (format!("k{i}"), json!(1))).collect();
        assert_eq!(
            err(Value::Object(many)),
            "Too many keys defined (exceeds 1024)."
        );
        assert_eq!(
            err(json!({"k".repeat(65): 1})),
            "Too long key defined (exceeds 64)."
        );
        assert_eq!(
            err(json!({"k": "x".repeat(300_000)})),
            "Too big object defined (exceeds 262144)."
        );
    }
}
