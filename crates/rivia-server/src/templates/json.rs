//! The view's JSON as template values, built in one pass. minijinja's own `Deserialize`
//! grows each map entry by entry (a 14-field object reallocates its entries and its index
//! three times); here a map's entries are gathered on one shared stack first and the map is
//! built at its final size: a small object as a [`Row`](super::row::Row), its keys shared
//! with the objects before it that have the same keys, a large one (or one repeating a key)
//! as minijinja's map. The values are the same: the same maps, lists, strings and numbers,
//! a repeated key keeping its first place and its last value.

use super::row::{self, Rows};
use minijinja::value::Value;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Parses JSON text into a template value: `None` when it is not JSON.
pub(crate) fn parse(bytes: &[u8]) -> Option<Value> {
    // The text checked as UTF-8 once: from bytes, serde_json checks every string again.
    let text = std::str::from_utf8(bytes).ok()?;
    parse_with(&mut Rows::default(), text).ok()
}

/// Parses JSON text into a template value, sharing key sets with `rows` (the values
/// built around it: [`super::values`]).
pub(super) fn parse_with(rows: &mut Rows, text: &str) -> Result<Value, serde_json::Error> {
    let mut state = State {
        entries: Vec::new(),
        rows,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Seed(&mut state).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// What a parse carries along: the entries of the maps still being gathered (keys as
/// they appear in the text, unescaped only when they hold an escape) and the key sets
/// seen so far.
struct State<'de, 'r> {
    entries: Vec<(Cow<'de, str>, Value)>,
    rows: &'r mut Rows,
}

/// One value, with the parse's state.
struct Seed<'s, 'de, 'r>(&'s mut State<'de, 'r>);

impl<'de> DeserializeSeed<'de> for Seed<'_, 'de, '_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// A map key, borrowed from the text when it can be.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

impl<'de> Visitor<'de> for Seed<'_, 'de, '_> {
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
        let start = self.0.entries.len();
        while let Some(key) = map.next_key_seed(Key)? {
            let value = map.next_value_seed(Seed(&mut *self.0))?;
            self.0.entries.push((key, value));
        }
        // The entries above `start` are this map's: nested maps took theirs off already.
        Ok(build_map(self.0, start))
    }
}

/// The map of the entries above `start`, taken off the stack.
fn build_map(state: &mut State, start: usize) -> Value {
    let keys = state.entries[start..].iter().map(|(k, _)| &**k);
    let set = state.rows.key_set(keys);
    let entries = state.entries.drain(start..);
    match set {
        Some(set) => row::row(set, entries.map(|(_, v)| v)),
        None => Value::from_pairs(entries.map(|(k, v)| (Value::from(&*k), v))),
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
        assert!(parse(b"{\"a\": 1} x").is_none());
        assert!(parse(b"[1,").is_none());
        assert!(parse(b"\"\xff\"").is_none());
    }
}
