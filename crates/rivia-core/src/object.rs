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

use crate::schema::{Field, FieldType};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};
use std::collections::BTreeMap;

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

fn check_i32(i: i64) -> Result<i64, String> {
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
fn float_value(f: f64) -> Value {
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

fn relation_from_items(items: &[Value]) -> Result<NewValue, String> {
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

fn check_array_items(items: &[Value]) -> Result<(), String> {
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

/// A stored field value as DataObjectJSON shows it, written straight from the stored JSON
/// text: lists render many objects, and building a value tree per field cost more than
/// the query did. `file_url` turns a stored file path into its URL.
pub struct RenderedValue<'a> {
    /// The schema field.
    pub field: &'a Field,
    /// The stored value (absent: null).
    pub stored: Option<&'a RawValue>,
    /// Stored file path → URL.
    pub file_url: &'a dyn Fn(&str) -> String,
}

/// The stored parts of a geopoint; anything else renders as nulls.
#[derive(Default, Deserialize)]
struct GeoParts<'a> {
    #[serde(borrow)]
    longitude: Option<&'a RawValue>,
    #[serde(borrow)]
    latitude: Option<&'a RawValue>,
}

/// `{"type": kind, ["target": target,] "value": value}`.
fn typed_value<S: Serializer, V: Serialize + ?Sized>(
    s: S,
    kind: &str,
    target: Option<&str>,
    value: &V,
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(2 + target.is_some() as usize))?;
    m.serialize_entry("type", kind)?;
    if let Some(t) = target {
        m.serialize_entry("target", t)?;
    }
    m.serialize_entry("value", value)?;
    m.end()
}

fn is_empty_array(raw: &RawValue) -> bool {
    raw.get()
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .eq(*b"[]")
}

impl Serialize for RenderedValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(raw) = self.stored else {
            return s.serialize_none();
        };
        let target = Some(self.field.target.as_deref().unwrap_or_default());
        match self.field.ftype {
            FieldType::Datetime => typed_value(s, "datetime", None, raw),
            FieldType::Reference => typed_value(s, "reference", target, raw),
            FieldType::Relation if is_empty_array(raw) => s.serialize_none(),
            FieldType::Relation => typed_value(s, "relation", target, raw),
            FieldType::File => match serde_json::from_str::<String>(raw.get()) {
                Ok(path) => typed_value(s, "file", None, &(self.file_url)(&path)),
                Err(_) => s.serialize_none(),
            },
            FieldType::Geopoint => {
                let point: GeoParts = serde_json::from_str(raw.get()).unwrap_or_default();
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("type", "geopoint")?;
                m.serialize_entry("longitude", &point.longitude)?;
                m.serialize_entry("latitude", &point.latitude)?;
                m.end()
            }
            _ => raw.serialize(s),
        }
    }
}

/// The stored fields of an object's `data` text, borrowed from it, by storage key.
/// Unreadable text reads as no fields (the column is checked to be valid JSON).
pub fn stored_fields(data: &str) -> BTreeMap<&str, &RawValue> {
    serde_json::from_str(data).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Schema, validate_schema};
    use serde_json::json;

    fn field(t: &str) -> Field {
        let def = if t == "relation" || t == "reference" {
            json!([{"name": "f", "type": t, "target": "self"}])
        } else {
            json!([{"name": "f", "type": t}])
        };
        validate_schema(&def, &Schema::default(), 1, &|_| true)
            .expect("schema")
            .fields
            .remove(0)
    }

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

    #[test]
    fn size_counts_keys_and_values() {
        let f = field("text");
        let mut data = Map::new();
        data.insert(f.key.clone(), json!("x".repeat(31000)));
        assert!(object_size(std::slice::from_ref(&f), &data) <= MAX_OBJECT_SIZE);
        data.insert(f.key.clone(), json!("x".repeat(32700)));
        assert!(object_size(&[f], &data) > MAX_OBJECT_SIZE);
    }

    fn rendered(t: &str, stored: Option<&str>) -> Value {
        let f = field(t);
        let raw = stored.map(|s| serde_json::from_str::<&RawValue>(s).expect("raw"));
        let url = |p: &str| format!("/media/{p}");
        serde_json::to_value(RenderedValue {
            field: &f,
            stored: raw,
            file_url: &url,
        })
        .expect("renders")
    }

    #[test]
    fn renders_stored_values_as_the_wire_shows_them() {
        assert_eq!(rendered("integer", None), Value::Null);
        assert_eq!(rendered("integer", Some("12")), json!(12));
        assert_eq!(rendered("string", Some(r#""a\"b""#)), json!("a\"b"));
        assert_eq!(
            rendered("datetime", Some(r#""2026-01-02T03:04:05.000006Z""#)),
            json!({"type": "datetime", "value": "2026-01-02T03:04:05.000006Z"})
        );
        assert_eq!(
            rendered("reference", Some("7")),
            json!({"type": "reference", "target": "self", "value": 7})
        );
        assert_eq!(
            rendered("relation", Some("[1, 2]")),
            json!({"type": "relation", "target": "self", "value": [1, 2]})
        );
        assert_eq!(rendered("relation", Some("[ ]")), Value::Null);
        assert_eq!(
            rendered("file", Some(r#""a/b.txt""#)),
            json!({"type": "file", "value": "/media/a/b.txt"})
        );
        assert_eq!(rendered("file", Some("3")), Value::Null);
        assert_eq!(
            rendered("geopoint", Some(r#"{"longitude": 1.5, "latitude": -2}"#)),
            json!({"type": "geopoint", "longitude": 1.5, "latitude": -2})
        );
        assert_eq!(
            rendered("geopoint", Some("null")),
            json!({"type": "geopoint", "longitude": null, "latitude": null})
        );
    }

    #[test]
    fn stored_fields_borrow_the_data_text() {
        let data = r#"{"1_a": 1, "2_b": {"x": [1]}}"#;
        let fields = stored_fields(data);
        assert_eq!(fields.get("1_a").map(|r| r.get()), Some("1"));
        assert_eq!(fields.get("2_b").map(|r| r.get()), Some(r#"{"x": [1]}"#));
        assert!(stored_fields("not json").is_empty());
    }
}
