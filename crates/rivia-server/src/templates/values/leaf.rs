//! The two leaf serialisers of [`super`]: a map key, and `RawValue`'s JSON text. Each
//! takes the few forms it mirrors and refuses the rest.

use super::{State, Unsupported};
use crate::templates::json;
use minijinja::value::Value;
use serde::ser::{Impossible, Serialize, Serializer};

/// The methods of a leaf serialiser that refuse: every compound form and what is left.
macro_rules! refuse {
    ($ok:ty; $($name:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $name(self, $(_: $arg),*) -> Result<$ok, Unsupported> {
            Err(Unsupported)
        })*
        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<$ok, Unsupported> {
            Err(Unsupported)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<$ok, Unsupported> {
            Err(Unsupported)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
            Err(Unsupported)
        }
        fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
            Err(Unsupported)
        }
        fn serialize_tuple_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeTupleStruct, Unsupported> {
            Err(Unsupported)
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
        fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
            Err(Unsupported)
        }
        fn serialize_struct(
            self,
            _: &'static str,
            _: usize,
        ) -> Result<Self::SerializeStruct, Unsupported> {
            Err(Unsupported)
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
    };
}

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
    type SerializeSeq = Impossible<(), Unsupported>;
    type SerializeTuple = Impossible<(), Unsupported>;
    type SerializeTupleStruct = Impossible<(), Unsupported>;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = Impossible<(), Unsupported>;
    type SerializeStruct = Impossible<(), Unsupported>;
    type SerializeStructVariant = Impossible<(), Unsupported>;

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
    refuse!((); serialize_bool(bool), serialize_f32(f32), serialize_f64(f64),
        serialize_bytes(&[u8]), serialize_none(), serialize_unit(),
        serialize_unit_struct(&'static str));
}

/// `RawValue`'s JSON text, parsed where it stands (with the build's key sets).
pub(super) struct RawSer<'a>(pub(super) &'a mut State);

impl Serializer for RawSer<'_> {
    type Ok = Value;
    type Error = Unsupported;
    type SerializeSeq = Impossible<Value, Unsupported>;
    type SerializeTuple = Impossible<Value, Unsupported>;
    type SerializeTupleStruct = Impossible<Value, Unsupported>;
    type SerializeTupleVariant = Impossible<Value, Unsupported>;
    type SerializeMap = Impossible<Value, Unsupported>;
    type SerializeStruct = Impossible<Value, Unsupported>;
    type SerializeStructVariant = Impossible<Value, Unsupported>;

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
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<Value, Unsupported> {
        Err(Unsupported)
    }
    refuse!(Value; serialize_bool(bool), serialize_i8(i8), serialize_i16(i16),
        serialize_i32(i32), serialize_i64(i64), serialize_u8(u8), serialize_u16(u16),
        serialize_u32(u32), serialize_u64(u64), serialize_f32(f32), serialize_f64(f64),
        serialize_char(char), serialize_bytes(&[u8]), serialize_none(), serialize_unit(),
        serialize_unit_struct(&'static str));
}
