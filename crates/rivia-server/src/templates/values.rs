//! A view's answer as template values, built straight from what the view serialises: on a
//! request answered through a template the JSON text was written only to be parsed back
//! (a 100-object page: escaping it and parsing it cost more than rendering it). The values
//! are those [`super::json::parse`] makes of the JSON the view would have written (the
//! same maps and rows, lists, strings, numbers as serde_json reads them back, raw JSON
//! parsed in place), and a *fingerprint* stands for the JSON in the memo of rendered
//! outputs: a compact, exact encoding of the same data (equal fingerprints, equal values).
//!
//! Anything serde_json writes in a way not mirrored here (`f32`, bytes, enum variants with
//! data, 128-bit integers, unusual map keys) fails the build, and the view answers JSON
//! as usual ([`crate::json`]).

use super::row::{self, KeySet, Rows};
use bytes::Bytes;
use leaf::{KeySer, RawSer};
use minijinja::value::Value;
use serde::ser::{self, Impossible, Serialize, Serializer};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod leaf;

tokio::task_local! {
    /// Set while a view runs whose success will be rendered through a template.
    static WANTED: ();
}

/// Runs a view whose successful answer goes to a template: its JSON answers
/// ([`crate::json`]) carry [`Built`] values instead of JSON text.
pub(crate) async fn scope<F: std::future::Future>(view: F) -> F::Output {
    WANTED.scope((), view).await
}

/// Whether the running view's success goes to a template (see [`scope`]).
pub(crate) fn wanted() -> bool {
    WANTED.try_with(|_| ()).is_ok()
}

/// The values of a view's answer and the fingerprint of its data.
#[derive(Clone)]
pub(crate) struct Built {
    pub(crate) value: Value,
    /// Starts with a byte no JSON text starts with, so it never equals a JSON body.
    pub(crate) fingerprint: Bytes,
}

/// Builds the values of `body`, or `None` when it uses a form not mirrored here.
pub(crate) fn build<T: Serialize + ?Sized>(body: &T) -> Option<Built> {
    // Room for a fingerprint a little longer than the last one: growing it to a page's
    // size copied it over and over (as many instructions as building a row's values).
    let last = LAST_PRINT_BYTES.load(Ordering::Relaxed);
    let room = (last + last / 4).clamp(4096, 1 << 20);
    let mut state = State {
        rows: Rows::default(),
        printed_sets: Vec::new(),
        print: Vec::with_capacity(room),
        keys: String::new(),
        entries: Vec::new(),
        ends: Vec::new(),
    };
    state.print.push(0xff);
    let value = body.serialize(Ser(&mut state)).ok()?;
    LAST_PRINT_BYTES.store(state.print.len(), Ordering::Relaxed);
    Some(Built {
        value,
        fingerprint: Bytes::from(state.print),
    })
}

/// The length of the last fingerprint built.
static LAST_PRINT_BYTES: AtomicUsize = AtomicUsize::new(0);

/// The build's state: key sets seen, the fingerprint so far, and the entries of the maps
/// still open (their keys as ranges of one shared string).
struct State {
    rows: Rows,
    /// The key sets the fingerprint has spelt out so far, by number (see [`Map::close`]).
    printed_sets: Vec<Arc<KeySet>>,
    print: Vec<u8>,
    keys: String,
    entries: Vec<(Range<usize>, Value)>,
    /// Where a closing map's keys end in its part of `keys` (reused from map to map).
    ends: Vec<usize>,
}

impl State {
    fn mark(&mut self, tag: u8, bytes: &[u8]) {
        mark(&mut self.print, tag, bytes);
    }
}

fn mark(print: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    print.push(tag);
    print.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    print.extend_from_slice(bytes);
}

/// A closed map's keys in the fingerprint, after its values: a key set met before in this
/// build by its number, else spelt out (its text and where each key ends). Spelling a
/// page's row keys once instead of once per entry halves the fingerprint; the numbers
/// follow from the data alone, so equal data still gives equal fingerprints.
fn mark_keys(
    print: &mut Vec<u8>,
    printed: &mut Vec<Arc<KeySet>>,
    set: Option<&Arc<KeySet>>,
    text: &str,
    ends: &[usize],
) {
    if let Some(set) = set {
        if let Some(n) = printed.iter().position(|p| Arc::ptr_eq(p, set)) {
            print.push(b'#');
            print.extend_from_slice(&(n as u32).to_le_bytes());
            return;
        }
        printed.push(set.clone());
    }
    mark(print, b'K', text.as_bytes());
    print.extend_from_slice(&(ends.len() as u64).to_le_bytes());
    for &end in ends {
        print.extend_from_slice(&(end as u64).to_le_bytes());
    }
}

/// A form serde_json writes that is not mirrored here.
#[derive(Debug)]
pub(crate) struct Unsupported;

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("not mirrored")
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Unsupported
    }
}

struct Ser<'a>(&'a mut State);

impl Ser<'_> {
    /// An integer as serde_json reads it back: non-negative ones as `u64`.
    fn int(self, v: i64) -> Result<Value, Unsupported> {
        match u64::try_from(v) {
            Ok(u) => self.serialize_u64(u),
            Err(_) => {
                self.0.mark(b'i', &v.to_le_bytes());
                Ok(Value::from(v))
            }
        }
    }
}

impl<'a> Serializer for Ser<'a> {
    type Ok = Value;
    type Error = Unsupported;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Impossible<Value, Unsupported>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Map<'a>;
    type SerializeStructVariant = Impossible<Value, Unsupported>;

    fn serialize_bool(self, v: bool) -> Result<Value, Unsupported> {
        self.0.print.push(if v { b't' } else { b'f' });
        Ok(Value::from(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, Unsupported> {
        self.int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Value, Unsupported> {
        self.int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Value, Unsupported> {
        self.int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Value, Unsupported> {
        self.int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Value, Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Value, Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Value, Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Value, Unsupported> {
        self.0.mark(b'u', &v.to_le_bytes());
        Ok(Value::from(v))
    }
    fn serialize_f32(self, _: f32) -> Result<Value, Unsupported> {
        // serde_json writes an f32's own shortest digits, read back as another f64.
        Err(Unsupported)
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Unsupported> {
        if !v.is_finite() {
            // serde_json writes NaN and infinities as null.
            return self.serialize_unit();
        }
        self.0.mark(b'd', &v.to_bits().to_le_bytes());
        Ok(Value::from(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, Unsupported> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Unsupported> {
        self.0.mark(b's', v.as_bytes());
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Value, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_none(self) -> Result<Value, Unsupported> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Value, Unsupported> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, Unsupported> {
        self.0.print.push(b'n');
        Ok(Value::from(()))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, Unsupported> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, Unsupported> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Value, Unsupported> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Value, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'a>, Unsupported> {
        self.0.print.push(b'[');
        Ok(Seq {
            state: self.0,
            items: Vec::with_capacity(len.unwrap_or(0).min(4096)),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        Err(Unsupported)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Map<'a>, Unsupported> {
        self.0.print.push(b'{');
        Ok(Map::open(self.0, false))
    }
    fn serialize_struct(self, name: &'static str, _: usize) -> Result<Map<'a>, Unsupported> {
        // serde_json's `RawValue` is a struct of this name holding the JSON text.
        let raw = name == crate::json::writer::RAW_VALUE_TOKEN;
        if !raw {
            self.0.print.push(b'{');
        }
        Ok(Map::open(self.0, raw))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        Err(Unsupported)
    }
}

struct Seq<'a> {
    state: &'a mut State,
    items: Vec<Value>,
}

impl Seq<'_> {
    fn push<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        let item = v.serialize(Ser(&mut *self.state))?;
        self.items.push(item);
        Ok(())
    }

    fn close(self) -> Result<Value, Unsupported> {
        self.state.print.push(b']');
        Ok(Value::from(self.items))
    }
}

/// The array-like compounds: each element pushed in turn.
macro_rules! seq_elements {
    ($($trait:ident :: $method:ident),*) => {
        $(impl ser::$trait for Seq<'_> {
            type Ok = Value;
            type Error = Unsupported;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
                self.push(v)
            }
            fn end(self) -> Result<Value, Unsupported> {
                self.close()
            }
        })*
    };
}

seq_elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field
);

/// A map or struct being built (or a `RawValue`: its one field is JSON text).
struct Map<'a> {
    state: &'a mut State,
    /// Where this map's entries and key text start.
    start: usize,
    key_start: usize,
    /// The key given to `serialize_key`, waiting for its value.
    key: Option<Range<usize>>,
    raw: Option<Value>,
    is_raw: bool,
}

impl<'a> Map<'a> {
    fn open(state: &'a mut State, is_raw: bool) -> Self {
        Map {
            start: state.entries.len(),
            key_start: state.keys.len(),
            state,
            key: None,
            raw: None,
            is_raw,
        }
    }

    fn entry<T: Serialize + ?Sized>(
        &mut self,
        key: Range<usize>,
        v: &T,
    ) -> Result<(), Unsupported> {
        // The keys go into the fingerprint when the map closes.
        let value = v.serialize(Ser(&mut *self.state))?;
        self.state.entries.push((key, value));
        Ok(())
    }

    fn close(self) -> Result<Value, Unsupported> {
        if self.is_raw {
            return self.raw.ok_or(Unsupported);
        }
        let state = self.state;
        // This map's keys are the end of the key text, one after another.
        let base = self.key_start;
        state.ends.clear();
        let entries = &state.entries[self.start..];
        state.ends.extend(entries.iter().map(|(k, _)| k.end - base));
        let text = state.keys.get(base..).unwrap_or_default();
        let set = state.rows.key_set_of(text, &state.ends);
        state.print.push(b'}');
        mark_keys(
            &mut state.print,
            &mut state.printed_sets,
            set.as_ref(),
            text,
            &state.ends,
        );
        let keys = &state.keys;
        let entries = state.entries.drain(self.start..);
        let value = match set {
            Some(set) => row::row(set, entries.map(|(_, v)| v)),
            None => Value::from_pairs(
                entries.map(|(k, v)| (Value::from(keys.get(k).unwrap_or_default()), v)),
            ),
        };
        state.keys.truncate(self.key_start);
        Ok(value)
    }
}

impl ser::SerializeMap for Map<'_> {
    type Ok = Value;
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        let start = self.state.keys.len();
        key.serialize(KeySer(&mut self.state.keys))?;
        self.key = Some(start..self.state.keys.len());
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        let key = self.key.take().ok_or(Unsupported)?;
        self.entry(key, v)
    }
    fn end(self) -> Result<Value, Unsupported> {
        self.close()
    }
}

impl ser::SerializeStruct for Map<'_> {
    type Ok = Value;
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Unsupported> {
        if self.is_raw {
            self.raw = Some(v.serialize(RawSer(&mut *self.state))?);
            return Ok(());
        }
        let start = self.state.keys.len();
        self.state.keys.push_str(name);
        self.entry(start..self.state.keys.len(), v)
    }
    fn end(self) -> Result<Value, Unsupported> {
        self.close()
    }
}

#[cfg(test)]
mod tests;
