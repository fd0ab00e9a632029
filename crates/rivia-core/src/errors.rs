//! Field-level validation errors in Django REST Framework's shape:
//! `{"field": ["message", ...], "non_field_errors": [...]}`.

use serde_json::{Map, Value};

/// Accumulates validation messages per field, preserving the order fields were reported.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FieldErrors {
    map: Map<String, Value>,
}

impl FieldErrors {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one message to `field`'s list.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let entry = self
            .map
            .entry(field.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = entry {
            list.push(Value::String(message.into()));
        }
    }

    /// Sets `field` to an arbitrary JSON value (nested serializer errors, string-valued errors).
    pub fn set(&mut self, field: &str, value: Value) {
        self.map.insert(field.to_string(), value);
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `field` already has an error.
    pub fn has(&self, field: &str) -> bool {
        self.map.contains_key(field)
    }

    /// `Err(self)` when any error was recorded.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The JSON body.
    pub fn into_value(self) -> Value {
        Value::Object(self.map)
    }

    /// A single-field error.
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }
}

/// Standard DRF messages.
pub mod msg {
    pub const REQUIRED: &str = "This field is required.";
    pub const NULL: &str = "This field may not be null.";
    pub const BLANK: &str = "This field may not be blank.";
    pub const NOT_STRING: &str = "Not a valid string.";
    pub const UNIQUE: &str = "This field must be unique.";
    pub const INVALID_INT: &str = "A valid integer is required.";
    pub const INVALID_EMAIL: &str = "Enter a valid email address.";

    /// `Ensure this field has no more than {n} characters.`
    pub fn max_length(n: usize) -> String {
        format!("Ensure this field has no more than {n} characters.")
    }
    /// `"{input}" is not a valid choice.`
    pub fn invalid_choice(input: &str) -> String {
        format!("\"{input}\" is not a valid choice.")
    }
    /// `"{input}" is not a valid boolean.`
    pub fn invalid_boolean(input: &str) -> String {
        format!("\"{input}\" is not a valid boolean.")
    }
    /// `Invalid pk "{pk}" - object does not exist.`
    pub fn invalid_pk(pk: &str) -> String {
        format!("Invalid pk \"{pk}\" - object does not exist.")
    }
    /// `Incorrect type. Expected pk value, received {type}.`
    pub fn pk_type(kind: &str) -> String {
        format!("Incorrect type. Expected pk value, received {kind}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_lists() {
        let mut e = FieldErrors::new();
        e.add("b", "one");
        e.add("a", "two");
        e.add("b", "three");
        assert_eq!(
            serde_json::to_string(&e.into_value()).expect("json"),
            r#"{"b":["one","three"],"a":["two"]}"#
        );
    }
}
