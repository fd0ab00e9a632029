//! The view's JSON as template values, built in one pass. minijinja's own `Deserialize`
//! grows each map entry by entry (a 14-field object reallocates its entries and its index
//! three times); here a map's entries are gathered on one shared stack first and the map is
//! built at its final size. The values are the same: the same maps, lists, strings and
//! numbers, a repeated key keeping its first place and its last value.

use minijinja::value::Value;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// Parses JSON text into a template value.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut stack = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Seed(&mut stack).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// One value, with the stack of map entries still being gathered.
struct Seed<'s>(&'s mut Vec<(Value, Value)>);

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::from(()))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::from(()))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Seed(&mut *self.0))? {
            items.push(item);
        }
        Ok(Value::from(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let start = self.0.len();
        while let Some(key) = map.next_key_seed(Seed(&mut *self.0))? {
            let value = map.next_value_seed(Seed(&mut *self.0))?;
            self.0.push((key, value));
        }
        // The entries above `start` are this map's: nested maps took theirs off already.
        Ok(Value::from_pairs(self.0.drain(start..)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_minijinja_s_own() {
        let text = br#"{"a": [1, -2, 2.5, "x\u00e9", null, true, {"k": {"z": 1, "y": []}}],
            "b": {}, "dup": 1, "c": 18446744073709551615, "dup": 2}"#;
        let ours = parse(text).expect("parses");
        let theirs: Value = serde_json::from_slice(text).expect("parses");
        assert_eq!(ours, theirs);
        assert_eq!(ours.to_string(), theirs.to_string());
        assert!(parse(b"{\"a\": 1} x").is_err());
        assert!(parse(b"[1,").is_err());
    }
}
