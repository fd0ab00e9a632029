//! Serializer methods that refuse a value, for the serializers that take only a few forms:
//! map keys and `RawValue` text, in the JSON writer ([`crate::json`]) and in the template
//! values ([`crate::templates`]).

/// The compound serializers of a serializer that takes no compound value.
macro_rules! no_compounds {
    ($ok:ty, $error:ty) => {
        type SerializeSeq = serde::ser::Impossible<$ok, $error>;
        type SerializeTuple = serde::ser::Impossible<$ok, $error>;
        type SerializeTupleStruct = serde::ser::Impossible<$ok, $error>;
        type SerializeTupleVariant = serde::ser::Impossible<$ok, $error>;
        type SerializeMap = serde::ser::Impossible<$ok, $error>;
        type SerializeStruct = serde::ser::Impossible<$ok, $error>;
        type SerializeStructVariant = serde::ser::Impossible<$ok, $error>;
    };
}

/// Methods that fail with `$error`, each given as `name(argument types) -> return type;`.
macro_rules! refuse {
    ($error:expr; $($name:ident($($arg:ty),*) -> $ret:ty;)*) => {
        $(fn $name(self, $(_: $arg),*) -> ::std::result::Result<$ret, Self::Error> {
            Err($error)
        })*
    };
}

/// The two generic methods (`serialize_some`, `serialize_newtype_variant`) failing with
/// `$error`, for a serializer whose `Ok` is `$ok`.
macro_rules! refuse_generic {
    ($error:expr; $ok:ty) => {
        fn serialize_some<T: serde::Serialize + ?Sized>(
            self,
            _: &T,
        ) -> ::std::result::Result<$ok, Self::Error> {
            Err($error)
        }
        fn serialize_newtype_variant<T: serde::Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> ::std::result::Result<$ok, Self::Error> {
            Err($error)
        }
    };
}

pub(crate) use {no_compounds, refuse, refuse_generic};
