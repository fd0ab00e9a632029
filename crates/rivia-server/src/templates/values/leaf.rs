//! The two leaf serialisers of [`super`]: a map key, and `RawValue`'s JSON text. Each
//! takes the few forms it mirrors and refuses the rest.

use super::{State, Unsupported};
use crate::serde_refuse::{no_compounds, refuse, refuse_generic};
use crate::templates::json;
use minijinja::value::Value;
use serde::ser::{Serialize, Serializer};

/// A map key, as serde_json writes keys: strings, and integers as their digits.
pub(super) struct KeySer<'a>(pub(super) &'a mut String);

impl KeySer<'_> {
    fn digits(self, v: impl itoa::Integer) -> Result<(), Unsupported> {
        self.0.push_str(itoa::Buffer::new().format(v));
        Ok(())
    }
}

impl Serializer for KeySer<'_> {
    type Ok = ();
    type Error = Unsupported;
    no_compounds!((), Unsupported, Unsupported);

    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        self.0.push_str(v);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        self.0.push(v);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), Unsupported> {
        self.digits(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Unsupported> {
        self.digits(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Unsupported> {
        self.digits(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Unsupported> {
        self.digits(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
        self.digits(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
        self.digits(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Unsupported> {
        self.digits(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Unsupported> {
        self.digits(v)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<(), Unsupported> {
        v.serialize(self)
    }
    refuse! {
        Unsupported;
        serialize_bool(bool) -> ();
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
    }
    refuse_generic!(Unsupported; ());
}

/// `RawValue`'s JSON text, parsed where it stands (with the build's key sets).
pub(super) struct RawSer<'a>(pub(super) &'a mut State);

impl Serializer for RawSer<'_> {
    type Ok = Value;
    type Error = Unsupported;
    no_compounds!(Value, Unsupported, Unsupported);

    fn serialize_str(self, text: &str) -> Result<Value, Unsupported> {
        // The text itself stands for the value in the fingerprint.
        self.0.mark(b'r', text.as_bytes());
        json::parse_with(&mut self.0.rows, text).map_err(|_| Unsupported)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Value, Unsupported> {
        v.serialize(self)
    }
    refuse! {
        Unsupported;
        serialize_bool(bool) -> Value;
        serialize_i8(i8) -> Value;
        serialize_i16(i16) -> Value;
        serialize_i32(i32) -> Value;
        serialize_i64(i64) -> Value;
        serialize_u8(u8) -> Value;
        serialize_u16(u16) -> Value;
        serialize_u32(u32) -> Value;
        serialize_u64(u64) -> Value;
        serialize_f32(f32) -> Value;
        serialize_f64(f64) -> Value;
        serialize_char(char) -> Value;
        serialize_bytes(&[u8]) -> Value;
        serialize_none() -> Value;
        serialize_unit() -> Value;
        serialize_unit_struct(&'static str) -> Value;
        serialize_unit_variant(&'static str, u32, &'static str) -> Value;
    }
    refuse_generic!(Unsupported; Value);
}
