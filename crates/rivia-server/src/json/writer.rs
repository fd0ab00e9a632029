//! The response serialiser: compact JSON written byte for byte as `serde_json::to_writer`
//! writes it, with a faster string escape.
//!
//! serde_json looks every byte of every string up in its escape table, one at a time;
//! a page of users is mostly strings (names, keys, timestamps, link URLs) and that loop
//! was 17% of the instructions of serving one (`bench/README.md`). Here a string is
//! checked eight bytes at a time and copied in one piece when nothing in it needs escaping.
//! Everything else follows serde_json exactly: the same escapes (`\"`, `\\`, `\b`, `\f`,
//! `\n`, `\r`, `\t`, `\u00xx` in lowercase hex; nothing else escaped), floats formatted
//! by serde_json itself (non-finite ones as `null`), map keys as serde_json accepts them,
//! and `RawValue`s written as they are (`tests/json_writer.rs` compares the two).

use serde::ser::{self, Serialize};
use std::fmt::Display;

mod keys;
mod raw;
use keys::MapKey;
use raw::RawText;

/// The failure of a value's own `Serialize` (or a map key that is not a string).
#[derive(Debug)]
pub(crate) struct Error(String);

impl Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Error {
        Error(msg.to_string())
    }
}

type Result<T = ()> = std::result::Result<T, Error>;

/// Appends `value` as compact JSON to `out`.
pub(crate) fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result {
    value.serialize(&mut Writer { out })
}

/// The name serde_json gives its `RawValue` (a struct of one field of that name holding
/// the JSON text); part of how serde_json serialises it, stable since 1.0.29.
pub(crate) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `word` is below 0x20, `"` or `\`. (The classic "has a byte less
/// than n" test: exact for whether any byte matches, which is all that is asked.)
fn needs_escape(word: u64) -> bool {
    let below_space = word.wrapping_sub(LOW_BITS * 0x20) & !word;
    let quote = word ^ (LOW_BITS * u64::from(b'"'));
    let backslash = word ^ (LOW_BITS * u64::from(b'\\'));
    let zero_byte = |v: u64| v.wrapping_sub(LOW_BITS) & !v;
    (below_space | zero_byte(quote) | zero_byte(backslash)) & HIGH_BITS != 0
}

/// What a byte is written as inside a JSON string, when not as itself.
fn escape_of(byte: u8) -> Option<&'static [u8]> {
    Some(match byte {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        0x08 => b"\\b",
        0x0C => b"\\f",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x00..=0x1F => return Some(&[]),
        _ => return None,
    })
}

/// Appends `s` as a JSON string.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if any_needs_escape(bytes) {
        write_escaped(out, bytes);
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'"');
}

/// Whether each byte must be escaped.
static ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// The eight bytes of `bytes` from `at` as one word.
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Whether any byte of `bytes` must be escaped: a short string byte by byte, a longer
/// one eight bytes at a time, its last word overlapping the one before.
fn any_needs_escape(bytes: &[u8]) -> bool {
    let len = bytes.len();
    if len < 8 {
        return bytes.iter().any(|&b| ESCAPED[usize::from(b)]);
    }
    let mut at = 0;
    while at + 8 < len {
        if needs_escape(word_at(bytes, at)) {
            return true;
        }
        at += 8;
    }
    needs_escape(word_at(bytes, len - 8))
}

/// Writes `bytes` with its escapes, runs between them copied whole.
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut copied = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let Some(escape) = escape_of(byte) else {
            continue;
        };
        out.extend_from_slice(&bytes[copied..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xF)]);
        } else {
            out.extend_from_slice(escape);
        }
        copied = i + 1;
    }
    out.extend_from_slice(&bytes[copied..]);
}

/// A float as serde_json writes it (the same formatter, `null` when not finite).
fn write_float<F: Serialize>(out: &mut Vec<u8>, value: F) -> Result {
    serde_json::to_writer(&mut *out, &value).map_err(|e| Error(e.to_string()))
}

fn write_int(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

impl Writer<'_> {
    /// `{"variant":`, then `bracket` if any: the start of an enum variant with data, as
    /// serde_json writes it.
    fn open_variant(&mut self, variant: &str, bracket: Option<u8>) {
        self.out.push(b'{');
        write_str(self.out, variant);
        self.out.push(b':');
        self.out.extend(bracket);
    }
}

impl<'a, 'b> ser::Serializer for &'b mut Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a, 'b>;
    type SerializeTuple = Compound<'a, 'b>;
    type SerializeTupleStruct = Compound<'a, 'b>;
    type SerializeTupleVariant = Compound<'a, 'b>;
    type SerializeMap = Compound<'a, 'b>;
    type SerializeStruct = Compound<'a, 'b>;
    type SerializeStructVariant = Compound<'a, 'b>;

    fn serialize_bool(self, v: bool) -> Result {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result {
        write_int(self.out, v);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result {
        write_int(self.out, v);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result {
        write_int(self.out, v);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result {
        write_int(self.out, v);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result {
        write_int(self.out, v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result {
        write_int(self.out, v);
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result {
        write_int(self.out, v);
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result {
        write_int(self.out, v);
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result {
        write_int(self.out, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result {
        write_int(self.out, v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result {
        write_float(self.out, v)
    }
    fn serialize_f64(self, v: f64) -> Result {
        write_float(self.out, v)
    }
    fn serialize_char(self, v: char) -> Result {
        write_str(self.out, v.encode_utf8(&mut [0u8; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        self.out.push(b'[');
        for (i, byte) in v.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            write_int(self.out, *byte);
        }
        self.out.push(b']');
        Ok(())
    }
    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        self.out.extend_from_slice(b"null");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _name: &'static str, _i: u32, variant: &'static str) -> Result {
        write_str(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        self.open_variant(variant, None);
        value.serialize(&mut *self)?;
        self.out.push(b'}');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a, 'b>> {
        self.out.push(b'[');
        Ok(Compound::new(self, b"]"))
    }
    fn serialize_tuple(self, len: usize) -> Result<Compound<'a, 'b>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Compound<'a, 'b>> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>> {
        self.open_variant(variant, Some(b'['));
        Ok(Compound::new(self, b"]}"))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a, 'b>> {
        self.out.push(b'{');
        Ok(Compound::new(self, b"}"))
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Compound<'a, 'b>> {
        if name == RAW_VALUE_TOKEN {
            return Ok(Compound {
                raw: true,
                ..Compound::new(self, b"")
            });
        }
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _i: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a, 'b>> {
        self.open_variant(variant, Some(b'{'));
        Ok(Compound::new(self, b"}}"))
    }
}

/// An array, object or `RawValue` being written: what closes it, whether an element was
/// written (for the commas).
pub(crate) struct Compound<'a, 'b> {
    writer: &'b mut Writer<'a>,
    close: &'static [u8],
    started: bool,
    raw: bool,
}

impl<'a, 'b> Compound<'a, 'b> {
    fn new(writer: &'b mut Writer<'a>, close: &'static [u8]) -> Compound<'a, 'b> {
        Compound {
            writer,
            close,
            started: false,
            raw: false,
        }
    }

    fn comma(&mut self) {
        if self.started {
            self.writer.out.push(b',');
        }
        self.started = true;
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.comma();
        value.serialize(&mut *self.writer)
    }

    fn entry<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result {
        if self.raw {
            return match key {
                RAW_VALUE_TOKEN => value.serialize(RawText(self.writer.out)),
                _ => Err(ser::Error::custom("invalid RawValue")),
            };
        }
        self.comma();
        write_str(self.writer.out, key);
        self.writer.out.push(b':');
        value.serialize(&mut *self.writer)
    }

    fn finish(self) -> Result {
        self.writer.out.extend_from_slice(self.close);
        Ok(())
    }
}

/// The array-like compounds: each element after a comma.
macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {
        $(impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
                self.element(value)
            }
            fn end(self) -> Result {
                self.finish()
            }
        })*
    };
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        self.comma();
        key.serialize(MapKey(self.writer.out))?;
        self.writer.out.push(b':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        value.serialize(&mut *self.writer)
    }
    fn end(self) -> Result {
        self.finish()
    }
}

/// The struct-like compounds: `"key":value` entries (or a `RawValue`'s text).
macro_rules! entries {
    ($($trait:ident),*) => {
        $(impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result {
                self.entry(key, value)
            }
            fn end(self) -> Result {
                self.finish()
            }
        })*
    };
}

entries!(SerializeStruct, SerializeStructVariant);

#[cfg(test)]
mod tests;
