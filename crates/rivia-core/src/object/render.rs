//! Stored values rendered for the wire (DataObjectJSON), straight from the stored JSON text.

use crate::schema::{Field, FieldType};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

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
    use crate::object::test_field as field;
    use serde_json::{Value, json};

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
