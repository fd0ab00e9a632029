//! The view's JSON as template values read only where the template looks. A page's JSON is
//! checked once, whole; its maps and lists then stay spans of the text until a template
//! touches them, and a map's values until one is read: the HTML table of a 100-object page
//! reads two fields of fourteen a row, and building the other twelve (timestamps, links,
//! permissions) as values was a third of the render's cost.
//!
//! What a template sees is what [`super::json::parse`] gives: maps in the text's order (a
//! repeated key keeping its first place and its last value), lists, and the same strings,
//! numbers, booleans and `None`. Every part is built at most once (a value read again is the
//! one built the first time), so a template looping over the same field costs no more than
//! the eager values did.

use bytes::Bytes;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

/// Maps with more keys than this look keys up through a hash index; below, a scan is faster.
const SCANNED_KEYS: usize = 16;

/// The JSON text as a template value; an error when it is not one JSON value.
pub(crate) fn parse(src: Bytes) -> Result<Value, serde_json::Error> {
    // Checks the whole text (syntax, UTF-8, nothing after the value), so the parts read
    // later cannot fail.
    let top: &RawValue = serde_json::from_slice(&src)?;
    let span = span_in(&src, top);
    Ok(value_at(&src, span))
}

/// Where `raw` (borrowed from `src`) lies in `src`.
fn span_in(src: &[u8], raw: &RawValue) -> Range<usize> {
    let start = (raw.get().as_ptr() as usize).wrapping_sub(src.as_ptr() as usize);
    start..start + raw.get().len()
}

/// The value of a checked span: a lazy map or list, else the scalar itself.
fn value_at(src: &Bytes, span: Range<usize>) -> Value {
    match src.get(span.start) {
        Some(b'{') => Value::from_object(LazyMap {
            src: src.clone(),
            span,
            entries: OnceLock::new(),
        }),
        Some(b'[') => Value::from_object(LazySeq {
            src: src.clone(),
            span,
            items: OnceLock::new(),
        }),
        // The span was checked with the whole text; a failure here cannot happen, and would
        // read as undefined rather than stop the render.
        _ => src
            .get(span)
            .and_then(|text| super::json::parse(text).ok())
            .unwrap_or_default(),
    }
}

/// A value's span and, once read, the value.
struct Slot {
    span: Range<usize>,
    value: OnceLock<Value>,
}

impl Slot {
    fn new(span: Range<usize>) -> Self {
        Slot {
            span,
            value: OnceLock::new(),
        }
    }

    fn get(&self, src: &Bytes) -> Value {
        self.value
            .get_or_init(|| value_at(src, self.span.clone()))
            .clone()
    }
}

/// A JSON object, its entries found on first use.
struct LazyMap {
    src: Bytes,
    span: Range<usize>,
    entries: OnceLock<Entries>,
}

/// A map's keys in order, their values' slots, and for a large map an index of the keys.
#[derive(Default)]
struct Entries {
    keys: Vec<Value>,
    slots: Vec<Slot>,
    index: Option<HashMap<Arc<str>, usize>>,
}

impl Entries {
    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.keys.iter().position(|k| k.as_str() == Some(key)),
        }
    }

    /// Adds an entry; a key seen before keeps its place and takes the new value (as a
    /// Python dict built from the JSON did).
    fn push(&mut self, key: Value, span: Range<usize>) {
        let Some(name) = key.as_str() else { return };
        if let Some(i) = self.position(name) {
            self.slots[i] = Slot::new(span);
            return;
        }
        if let Some(index) = &mut self.index {
            index.insert(Arc::from(name), self.keys.len());
        }
        self.keys.push(key);
        self.slots.push(Slot::new(span));
        if self.index.is_none() && self.keys.len() > SCANNED_KEYS {
            self.index = Some(self.build_index());
        }
    }

    fn build_index(&self) -> HashMap<Arc<str>, usize> {
        self.keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| Some((Arc::from(k.as_str()?), i)))
            .collect()
    }
}

impl LazyMap {
    fn entries(&self) -> &Entries {
        self.entries.get_or_init(|| {
            let mut entries = Entries::default();
            let Some(text) = self.src.get(self.span.clone()) else {
                return entries;
            };
            let mut de = serde_json::Deserializer::from_slice(text);
            let visitor = SpansOf {
                src: &self.src,
                entries: &mut entries,
            };
            // Checked with the whole text: cannot fail (an error leaves the entries read).
            let _ = de.deserialize_map(visitor);
            entries
        })
    }

    fn get(&self, key: &str) -> Option<Value> {
        let entries = self.entries();
        let i = entries.position(key)?;
        Some(entries.slots[i].get(&self.src))
    }
}

impl Object for LazyMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        // JSON keys are strings: any other key finds nothing, as in a map of the values.
        self.get(key.as_str()?)
    }

    fn get_value_by_str(self: &Arc<Self>, key: &str) -> Option<Value> {
        self.get(key)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.entries().keys.clone())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.entries().keys.len())
    }
}

impl fmt::Debug for LazyMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.entries();
        f.debug_map()
            .entries(
                entries
                    .keys
                    .iter()
                    .zip(&entries.slots)
                    .map(|(k, slot)| (k, slot.get(&self.src))),
            )
            .finish()
    }
}

/// A JSON array, its items found on first use.
struct LazySeq {
    src: Bytes,
    span: Range<usize>,
    items: OnceLock<Vec<Slot>>,
}

impl LazySeq {
    fn items(&self) -> &[Slot] {
        self.items.get_or_init(|| {
            let mut items = Vec::new();
            if let Some(text) = self.src.get(self.span.clone()) {
                let mut de = serde_json::Deserializer::from_slice(text);
                let visitor = ItemSpans {
                    src: &self.src,
                    items: &mut items,
                };
                // Checked with the whole text: cannot fail.
                let _ = de.deserialize_seq(visitor);
            }
            items
        })
    }
}

impl Object for LazySeq {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let slot = self.items().get(key.as_usize()?)?;
        Some(slot.get(&self.src))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.items().len())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.items().len())
    }
}

impl fmt::Debug for LazySeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.items().iter().map(|slot| slot.get(&self.src)))
            .finish()
    }
}

/// Reads an object's keys and its values' spans.
struct SpansOf<'a> {
    src: &'a Bytes,
    entries: &'a mut Entries,
}

impl<'de> Visitor<'de> for SpansOf<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            let raw: &RawValue = map.next_value()?;
            self.entries.push(key, span_in(self.src, raw));
        }
        Ok(())
    }
}

/// Reads an array's items' spans.
struct ItemSpans<'a> {
    src: &'a Bytes,
    items: &'a mut Vec<Slot>,
}

impl<'de> Visitor<'de> for ItemSpans<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<&RawValue>()? {
            self.items.push(Slot::new(span_in(self.src, raw)));
        }
        Ok(())
    }
}

/// An object's key as a template string.
struct Key(Value);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(Key(Value::from(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
#[path = "lazy_tests.rs"]
mod tests;
