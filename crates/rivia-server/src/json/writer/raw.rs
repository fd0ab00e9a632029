//! A `RawValue`'s text, written as it is (serde_json checked it when the value was made).

use super::{Error, Result};
use crate::serde_refuse::{no_compounds, refuse};
use serde::ser::{self, Serialize};

pub(super) struct RawText<'a>(pub(super) &'a mut Vec<u8>);

fn not_raw() -> Error {
    Error("invalid RawValue".to_string())
}

impl ser::Serializer for RawText<'_> {
    type Ok = ();
    type Error = Error;
    no_compounds!((), Error, not_raw());

    fn serialize_str(self, v: &str) -> Result {
        self.0.extend_from_slice(v.as_bytes());
        Ok(())
    }
    refuse! {
        not_raw();
        serialize_bool(bool) -> ();
        serialize_i8(i8) -> ();
        serialize_i16(i16) -> ();
        serialize_i32(i32) -> ();
        serialize_i64(i64) -> ();
        serialize_u8(u8) -> ();
        serialize_u16(u16) -> ();
        serialize_u32(u32) -> ();
        serialize_u64(u64) -> ();
        serialize_f32(f32) -> ();
        serialize_f64(f64) -> ();
        serialize_char(char) -> ();
        serialize_bytes(&[u8]) -> ();
        serialize_none() -> ();
        serialize_unit() -> ();
        serialize_unit_struct(&'static str) -> ();
        serialize_unit_variant(&'static str, u32, &'static str) -> ();
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result {
        Err(not_raw())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _value: &T,
    ) -> Result {
        Err(not_raw())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _i: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result {
        Err(not_raw())
    }
}
