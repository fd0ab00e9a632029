//! DRF-style readers for request body fields: each reads one key, coerces it the way Django
//! REST Framework's field would, and records the exact DRF message on failure.

use rivia_core::FieldErrors;
use rivia_core::errors::msg;
use serde_json::{Map, Value};

/// Reads fields of one body, collecting errors.
pub(crate) struct Fields<'a> {
    body: &'a Map<String, Value>,
    /// Errors so far.
    pub(crate) errors: FieldErrors,
    partial: bool,
}

/// Proof that a field error was recorded: only [`Fields`] makes one, when it records an
/// error. A required field's reader returns it instead of a value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reported(());

/// A required field's value, or the proof that its error was recorded.
pub(crate) type Parsed<T> = Result<T, Reported>;

/// Two required fields together: both values, or the proof that an error was recorded.
pub(crate) fn both<A, B>(a: Parsed<A>, b: Parsed<B>) -> Parsed<(A, B)> {
    Ok((a?, b?))
}

/// What reading a field found.
enum Read<T> {
    /// The key is absent.
    Absent,
    /// `null` (or blank) on a nullable field.
    Null,
    /// A valid value.
    Value(T),
    /// An invalid value; its error is recorded.
    Invalid(Reported),
}

/// Options of a char field.
#[derive(Clone, Copy)]
pub(crate) struct Char {
    /// Maximum length in characters.
    pub(crate) max: usize,
    /// Whether `""` is allowed.
    pub(crate) allow_blank: bool,
    /// Whether `null` is allowed (returned as `Some(None)`).
    pub(crate) allow_null: bool,
    /// Whether the value is stripped (DRF `trim_whitespace`).
    pub(crate) trim: bool,
}

impl Char {
    /// A password: non-blank, not trimmed, at most 128 characters.
    pub(crate) const PASSWORD: Char = Char {
        max: 128,
        allow_blank: false,
        allow_null: false,
        trim: false,
    };

    /// A blank-allowing, trimmed field of `max` characters.
    pub(crate) const fn text(max: usize) -> Char {
        Char {
            max,
            allow_blank: true,
            allow_null: false,
            trim: true,
        }
    }
    /// A non-blank, trimmed field of `max` characters.
    pub(crate) const fn required(max: usize) -> Char {
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
    pub(crate) fn new(body: &'a Map<String, Value>, partial: bool) -> Self {
        Fields {
            body,
            errors: FieldErrors::new(),
            partial,
        }
    }

    /// The raw value.
    pub(crate) fn raw(&self, name: &str) -> Option<&'a Value> {
        self.body.get(name)
    }

    /// Records a "required" error unless partial.
    pub(crate) fn missing(&mut self, name: &str) {
        if !self.partial {
            self.errors.add(name, msg::REQUIRED);
        }
    }

    /// A char field. `None`: absent or invalid. Nullable fields give `Some(None)` for null.
    pub(crate) fn char(
        &mut self,
        name: &str,
        opts: Char,
        required: bool,
    ) -> Option<Option<String>> {
        match self.text(name, opts) {
            Read::Absent => {
                if required {
                    self.missing(name);
                }
                None
            }
            Read::Null => Some(None),
            Read::Value(s) => Some(Some(s)),
            Read::Invalid(_) => None,
        }
    }

    /// Reads a char field, recording its errors. `Read::Null` only when `opts.allow_null`.
    fn text(&mut self, name: &str, opts: Char) -> Read<String> {
        let Some(v) = self.body.get(name) else {
            return Read::Absent;
        };
        let s = match v {
            Value::Null if opts.allow_null => return Read::Null,
            Value::Null => return Read::Invalid(self.report(name, msg::NULL)),
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Read::Invalid(self.report(name, msg::NOT_STRING)),
        };
        let s = if opts.trim { s.trim().to_string() } else { s };
        if s.is_empty() && !opts.allow_blank {
            if opts.allow_null {
                return Read::Null;
            }
            return Read::Invalid(self.report(name, msg::BLANK));
        }
        if s.chars().count() > opts.max {
            return Read::Invalid(self.report(name, msg::max_length(opts.max)));
        }
        Read::Value(s)
    }

    /// Records `message` for `name`; the returned token proves an error was recorded.
    pub(crate) fn report(&mut self, name: &str, message: impl Into<String>) -> Reported {
        self.errors.add(name, message);
        Reported(())
    }

    /// Records every message of `messages` for `name` (e.g. a slug's rule violations).
    pub(crate) fn reject<M: Into<String>>(
        &mut self,
        name: &str,
        messages: impl IntoIterator<Item = M>,
    ) -> Reported {
        messages.into_iter().for_each(|m| self.errors.add(name, m));
        Reported(())
    }

    /// A required, non-null char field of a full body (absent → `This field is required.`,
    /// whatever `partial` says). `opts.allow_null` is ignored: null is an error.
    pub(crate) fn required_string(&mut self, name: &str, opts: Char) -> Parsed<String> {
        let opts = Char {
            allow_null: false,
            ..opts
        };
        match self.text(name, opts) {
            Read::Value(s) => Ok(s),
            Read::Invalid(r) => Err(r),
            Read::Absent => Err(self.report(name, msg::REQUIRED)),
            Read::Null => Err(self.report(name, msg::NULL)),
        }
    }

    /// A required email field of a full body.
    pub(crate) fn required_email(&mut self, name: &str) -> Parsed<String> {
        let email = self.required_string(name, Char::required(254))?;
        if rivia_core::names::valid_email(&email) {
            Ok(email)
        } else {
            Err(self.report(name, msg::INVALID_EMAIL))
        }
    }

    /// A required, non-null primary-key reference of a full body.
    pub(crate) fn required_pk(&mut self, name: &str) -> Parsed<i64> {
        match self.read_pk(name, false) {
            Read::Value(id) => Ok(id),
            Read::Invalid(r) => Err(r),
            Read::Absent => Err(self.report(name, msg::REQUIRED)),
            Read::Null => Err(self.report(name, msg::NULL)),
        }
    }

    /// A non-null char field; absent → `None`.
    pub(crate) fn string(&mut self, name: &str, opts: Char, required: bool) -> Option<String> {
        self.char(name, opts, required).flatten()
    }

    /// An email field (required unless partial).
    pub(crate) fn email(&mut self, name: &str) -> Option<String> {
        let email = self.string(name, Char::required(254), true)?;
        if rivia_core::names::valid_email(&email) {
            Some(email)
        } else {
            self.report(name, msg::INVALID_EMAIL);
            None
        }
    }

    /// A boolean field.
    pub(crate) fn boolean(&mut self, name: &str) -> Option<bool> {
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
    pub(crate) fn choice(
        &mut self,
        name: &str,
        choices: &[&str],
        required: bool,
    ) -> Option<String> {
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
    pub(crate) fn pk(
        &mut self,
        name: &str,
        allow_null: bool,
        required: bool,
    ) -> Option<Option<i64>> {
        match self.read_pk(name, allow_null) {
            Read::Absent => {
                if required {
                    self.missing(name);
                }
                None
            }
            Read::Null => Some(None),
            Read::Value(id) => Some(Some(id)),
            Read::Invalid(_) => None,
        }
    }

    /// Reads a primary-key reference, recording its errors. `Read::Null` only when
    /// `allow_null`.
    fn read_pk(&mut self, name: &str, allow_null: bool) -> Read<i64> {
        let Some(v) = self.body.get(name) else {
            return Read::Absent;
        };
        match v {
            Value::Null if allow_null => Read::Null,
            Value::Null => Read::Invalid(self.report(name, msg::NULL)),
            Value::String(s) if s.is_empty() && allow_null => Read::Null,
            Value::Number(_) | Value::String(_) => {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                match text.trim().parse::<i64>() {
                    Ok(id) if (0..=i32::MAX as i64).contains(&id) => Read::Value(id),
                    _ => Read::Invalid(self.report(name, msg::invalid_pk(&text))),
                }
            }
            other => {
                Read::Invalid(self.report(name, msg::pk_type(crate::req::json_type_name(other))))
            }
        }
    }

    /// The `metadata` field (spec-core §1.12) as JSON text.
    pub(crate) fn metadata(&mut self, name: &str) -> Option<String> {
        let v = self.body.get(name)?;
        match rivia_core::metadata::validate_metadata(v) {
            Ok(m) => Some(Value::Object(m).to_string()),
            Err(e) => {
                self.errors.add(name, e);
                None
            }
        }
    }

    /// Finishes a typed input: its value when no field error was recorded, else the
    /// errors. A required field that failed to parse carries a [`Reported`], so "valid but
    /// missing" cannot occur.
    pub(crate) fn finish_with<T>(self, parsed: Parsed<T>) -> Result<T, crate::error::ApiError> {
        match parsed {
            Ok(value) if self.errors.is_empty() => Ok(value),
            _ => Err(crate::error::ApiError::fields(self.errors)),
        }
    }

    /// Finishes: `Err` with the collected errors, if any.
    pub(crate) fn finish(self) -> Result<(), crate::error::ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(crate::error::ApiError::fields(self.errors))
        }
    }
}

/// DRF `BooleanField` coercion.
pub(crate) fn parse_bool(v: &Value) -> Option<bool> {
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
