//! Serializer methods that refuse a value, for the serializers that take only a few forms:
//! map keys and `RawValue` text, in the JSON writer ([`crate::json`]) and in the template
//! values ([`crate::templates`]).

/// A serializer that takes no compound value: its compound serializers are `Impossible`
/// and each method that would start one fails with `$refusal`.
macro_rules! no_compounds {
    ($ok:ty, $error:ty, $refusal:expr) => {
        type SerializeSeq = serde::ser::Impossible<$ok, $error>;
        type SerializeTuple = serde::ser::Impossible<$ok, $error>;
        type SerializeTupleStruct = serde::ser::Impossible<$ok, $error>;
        type SerializeTupleVariant = serde::ser::Impossible<$ok, $error>;
        type SerializeMap = serde::ser::Impossible<$ok, $error>;
        type SerializeStruct = serde::ser::Impossible<$ok, $error>;
        type SerializeStructVariant = serde::ser::Impossible<$ok, $error>;
        $crate::serde_refuse::refuse! {
            $refusal;
            serialize_seq(Option<usize>) -> Self::SerializeSeq;
            serialize_tuple(usize) -> Self::SerializeTuple;
            serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct;
            serialize_tuple_variant(&'static str, u32, &'static str, usize) -> Self::SerializeTupleVariant;
            serialize_map(Option<usize>) -> Self::SerializeMap;
            serialize_struct(&'static str, usize) -> Self::SerializeStruct;
            serialize_struct_variant(&'static str, u32, &'static str, usize) -> Self::SerializeStructVariant;
        }
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
