//! The stored form of a schema (its public definitions, each with its storage `key`) and
//! the public form ClassJSON shows.

use super::{Field, FieldType, Schema};
use serde_json::{Map, Value};

impl Schema {
    /// Parses the stored form (the public definitions plus a `key` entry each). Unreadable
    /// entries are skipped: the stored schema was validated when it was written.
    pub fn from_stored(text: &str) -> Schema {
        let Ok(Value::Array(items)) = serde_json::from_str::<Value>(text) else {
            return Schema::default();
        };
        let fields = items
            .into_iter()
            .filter_map(|item| match item {
                Value::Object(mut m) => {
                    let key = match m.remove("key") {
                        Some(Value::String(k)) => k,
                        _ => return None,
                    };
                    field_from_public(m, key)
                }
                _ => None,
            })
            .collect();
        Schema { fields }
    }

    /// The stored form: public definitions with their `key`.
    pub fn to_stored(&self) -> String {
        let list: Vec<Value> = self
            .fields
            .iter()
            .map(|f| {
                let mut m = f.public.clone();
                m.insert("key".into(), Value::String(f.key.clone()));
                Value::Object(m)
            })
            .collect();
        Value::Array(list).to_string()
    }

    /// The schema as shown in ClassJSON.
    pub fn public(&self) -> Value {
        Value::Array(
            self.fields
                .iter()
                .map(|f| Value::Object(f.public.clone()))
                .collect(),
        )
    }
}

pub(super) fn field_from_public(public: Map<String, Value>, key: String) -> Option<Field> {
    let name = public.get("name")?.as_str()?.to_string();
    let ftype = FieldType::parse(public.get("type")?.as_str()?)?;
    let flag = |k: &str| public.get(k).and_then(Value::as_bool).unwrap_or(false);
    Some(Field {
        name,
        ftype,
        target: public
            .get("target")
            .and_then(Value::as_str)
            .map(str::to_lowercase),
        filter_index: flag("filter_index") || flag("unique"),
        order_index: flag("order_index"),
        unique: flag("unique"),
        key,
        public,
    })
}
