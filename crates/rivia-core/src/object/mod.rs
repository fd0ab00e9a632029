//! Data object values (spec-core §9.3–§9.5): validating submitted values per field type
//! into their stored JSON form, the update operators, the object size limit, and rendering
//! stored values back to the wire format.
//!
//! Stored forms (inside the object's `data`, under each field's storage key; a null value
//! is an absent key so that SQL sees NULL on both databases):
//! string/text → string; integer → int; float → number; boolean → bool;
//! datetime → `YYYY-MM-DDThh:mm:ss.ffffffZ` string (fixed width, so text order = time
//! order); file → storage path string; reference → int; relation → ascending unique ints;
//! array → list; object → object; geopoint → `{"longitude": x, "latitude": y}`.
//!
//! This module holds the shared pieces (limits, type messages, [`NewValue`], the size
//! rule); submitted values are validated in `values`, update operators in `operators`, and
//! stored values are rendered for the wire in `render`.

mod operators;
mod render;
mod values;

pub use operators::{Operator, apply_operator, parse_operator};
pub use render::{RenderedValue, stored_fields};
pub use values::{contains_nul, relation_value, validate_value};

use crate::schema::{Field, FieldType};
use serde_json::{Map, Value};

/// Largest object size (§9.5).
pub const MAX_OBJECT_SIZE: usize = 32768;
/// Most ids in a relation.
pub const MAX_RELATION: usize = 1000;

/// The "invalid value" message of a type (also used for bad operator objects).
pub fn invalid_message(t: FieldType) -> &'static str {
    match t {
        FieldType::String | FieldType::Text => "Not a valid string.",
        FieldType::Integer | FieldType::Reference => "A valid integer is required.",
        FieldType::Float => "A valid number is required.",
        FieldType::Boolean => "Not a valid boolean.",
        FieldType::Datetime => {
            "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm:ss.uuuuuuZ."
        }
        FieldType::File => "File URL is invalid.",
        FieldType::Relation => "Not a valid relation.",
        FieldType::Array => "Not a valid array.",
        FieldType::Object => "Not a valid object.",
        FieldType::Geopoint => "Not a valid geopoint.",
    }
}

/// A validated new value for one field.
#[derive(Debug, Clone, PartialEq)]
pub enum NewValue {
    /// Clear the field.
    Null,
    /// Store this JSON value.
    Set(Value),
}

impl NewValue {
    /// The stored value, if any.
    pub fn as_option(&self) -> Option<&Value> {
        match self {
            NewValue::Null => None,
            NewValue::Set(v) => Some(v),
        }
    }
}

/// Size of an object as Syncano counted it (§9.5): 103 + Σ (6 + key + value bytes), files
/// counting 78. `data` maps storage keys to stored values.
pub fn object_size(fields: &[Field], data: &Map<String, Value>) -> usize {
    let mut size = 103;
    for f in fields {
        let Some(v) = data.get(&f.key) else { continue };
        let value_len = match (f.ftype, v) {
            (FieldType::File, _) => 78,
            (_, Value::String(s)) => s.len(),
            (_, other) => other.to_string().len(),
        };
        size += 6 + f.key.len() + value_len;
    }
    size
}

/// A one-field schema of type `t` (target `self` for references and relations), for the
/// tests of every submodule.
#[cfg(test)]
fn test_field(t: &str) -> Field {
    use crate::schema::{Schema, validate_schema};
    let def = if t == "relation" || t == "reference" {
        serde_json::json!([{"name": "f", "type": t, "target": "self"}])
    } else {
        serde_json::json!([{"name": "f", "type": t}])
    };
    validate_schema(&def, &Schema::default(), 1, &|_| true)
        .expect("schema")
        .fields
        .remove(0)
}

#[cfg(test)]
mod tests {
    use super::test_field as field;
    use super::*;
    use serde_json::json;

    #[test]
    fn size_counts_keys_and_values() {
        let f = field("text");
        let mut data = Map::new();
        data.insert(f.key.clone(), json!("x".repeat(31000)));
        assert!(object_size(std::slice::from_ref(&f), &data) <= MAX_OBJECT_SIZE);
        data.insert(f.key.clone(), json!("x".repeat(32700)));
        assert!(object_size(&[f], &data) > MAX_OBJECT_SIZE);
    }
}
