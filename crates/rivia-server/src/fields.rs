//! DRF-style readers for request body fields: each reads one key, coerces it the way Django
//! REST Framework's field would, and records the exact DRF message on failure.

use rivia_core::FieldErrors;
use rivia_core::errors::msg;
use serde_json::{Map, Value};

/// Reads fields of one body, collecting errors.
pub struct Fields<'a> {
    body: &'a Map<String, Value>,
    /// Errors so far.
    pub errors: FieldErrors,
    partial: bool,
}

/// Options of a char field.
#[derive(Clone, Copy)]
pub struct Char {
    /// Maximum length in characters.
    pub max: usize,
    /// Whether `""` is allowed.
    pub allow_blank: bool,
    /// Whether `null` is allowed (returned as `Some(None)`).
    pub allow_null: bool,
    /// Whether the value is stripped (DRF `trim_whitespace`).
    pub trim: bool,
}

impl Char {
    /// A blank-allowing, trimmed field of `max` characters.
    pub const fn text(max: usize) -> Char {
        Char {
            max,
            allow_blank: true,
            allow_null: false,
            trim: true,
        }
    }
    /// A non-blank, trimmed field of `max` characters.
    pub const fn required(max: usize) -> Char {
        Char {
            max,
            allow_blank: false,
            allow_null: false,
            trim: true,
        }
    }
}

impl<'a> Fields<'a> {
    /// Starts reading `body`; `partial` (PATCH) disables "required" errors.
    pub fn new(body: &'a Map<String, Value>, partial: bool) -> Self {
        Fields {
            body,
            errors: FieldErrors::new(),
            partial,
        }
    }

    /// Whether the key is present.
    pub fn has(&self, name: &str) -> bool {
        self.body.contains_key(name)
    }

    /// The raw value.
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.body.get(name)
    }

    /// Records a "required" error unless partial.
    pub fn missing(&mut self, name: &str) {
        if !self.partial {
            self.errors.add(name, msg::REQUIRED);
        }
    }

    /// A char field. `Ok(None)`: absent. Nullable fields give `Some(None)` for null.
    pub fn char(&mut self, name: &str, opts: Char, required: bool) -> Option<Option<String>> {
        let Some(v) = self.body.get(name) else {
            if required {
                self.missing(name);
            }
            return None;
        };
        let s = match v {
            Value::Null if opts.allow_null => return Some(None),
            Value::Null => {
                self.errors.add(name, msg::NULL);
                return None;
            }
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                self.errors.add(name, msg::NOT_STRING);
                return None;
            }
        };
        let s = if opts.trim { s.trim().to_string() } else { s };
        if s.is_empty() && !opts.allow_blank {
            if opts.allow_null {
                return Some(None);
            }
            self.errors.add(name, msg::BLANK);
            return None;
        }
        if s.chars().count() > opts.max {
            self.errors.add(name, msg::max_length(opts.max));
            return None;
        }
        Some(Some(s))
    }

    /// A non-null char field; absent → `None`.
    pub fn string(&mut self, name: &str, opts: Char, required: bool) -> Option<String> {
        self.char(name, opts, required).flatten()
    }

    /// An email field (required unless partial).
    pub fn email(&mut self, name: &str) -> Option<String> {
        let email = self.string(name, Char::required(254), true)?;
        if rivia_core::names::valid_email(&email) {
            Some(email)
        } else {
            self.errors.add(name, msg::INVALID_EMAIL);
            None
        }
    }

    /// A boolean field.
    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        let v = self.body.get(name)?;
        match parse_bool(v) {
            Some(b) => Some(b),
            None => {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                self.errors.add(name, msg::invalid_boolean(&shown));
                None
            }
        }
    }

    /// A choice field among `choices`.
    pub fn choice(&mut self, name: &str, choices: &[&str], required: bool) -> Option<String> {
        let Some(v) = self.body.get(name) else {
            if required {
                self.missing(name);
            }
            return None;
        };
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Null => {
                self.errors.add(name, msg::NULL);
                return None;
            }
            other => other.to_string(),
        };
        if choices.contains(&s.as_str()) {
            Some(s)
        } else {
            self.errors.add(name, msg::invalid_choice(&s));
            None
        }
    }

    /// A primary-key reference (`Some(None)` for null when allowed).
    pub fn pk(&mut self, name: &str, allow_null: bool, required: bool) -> Option<Option<i64>> {
        let Some(v) = self.body.get(name) else {
            if required {
                self.missing(name);
            }
            return None;
        };
        match v {
            Value::Null if allow_null => Some(None),
            Value::Null => {
                self.errors.add(name, msg::NULL);
                None
            }
            Value::String(s) if s.is_empty() && allow_null => Some(None),
            Value::Number(_) | Value::String(_) => {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match text.trim().parse::<i64>() {
                    Ok(id) if (0..=i32::MAX as i64).contains(&id) => Some(Some(id)),
                    _ => {
                        self.errors.add(name, msg::invalid_pk(&text));
                        None
                    }
                }
            }
            other => {
                self.errors
                    .add(name, msg::pk_type(crate::req::json_type_name(other)));
                None
            }
        }
    }

    /// The `metadata` field (spec-core §1.12) as JSON text.
    pub fn metadata(&mut self, name: &str) -> Option<String> {
        let v = self.body.get(name)?;
        match rivia_core::metadata::validate_metadata(v) {
            Ok(m) => Some(Value::Object(m).to_string()),
            Err(e) => {
                self.errors.add(name, e);
                None
            }
        }
    }

    /// Finishes: `Err` with the collected errors, if any.
    pub fn finish(self) -> Result<(), crate::error::ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(crate::error::ApiError::fields(self.errors))
        }
    }
}

/// DRF `BooleanField` coercion.
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) if n.as_i64() == Some(1) => Some(true),
        Value::Number(n) if n.as_i64() == Some(0) => Some(false),
        Value::String(s) => match s.as_str() {
            "true" | "True" | "TRUE" | "t" | "T" | "yes" | "Yes" | "YES" | "y" | "Y" | "on"
            | "On" | "ON" | "1" => Some(true),
            "false" | "False" | "FALSE" | "f" | "F" | "no" | "No" | "NO" | "n" | "N" | "off"
            | "Off" | "OFF" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}
