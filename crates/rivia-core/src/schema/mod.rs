//! Class schemas (spec-core §8.3): the field types, validation of a submitted schema with
//! Syncano's exact messages, and the storage key of every field.
//!
//! Each field's values live in the object's `data` JSON under a *storage key*
//! `<revision>_<name>` (as Syncano's hstore source keys did). A field keeps its key while its
//! name, type and target stay the same; changing the type or target, or removing and
//! re-adding the field, gives it a new key, so old values become invisible at once without
//! rewriting any object (they are dropped on each object's next write).
//!
//! This module holds the types; the stored and wire forms of a schema are in `stored`, the
//! validation of a submitted schema in `validate`.

mod stored;
mod validate;

pub use validate::{SchemaError, validate_schema};

use serde_json::{Map, Value};

/// Most fields a class may define.
pub const MAX_FIELDS: usize = 32;
/// Most order + filter indexes a class may define.
pub const MAX_INDEXES: usize = 16;

/// A schema field type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// ≤128 chars, indexable.
    String,
    /// ≤32000 chars, not indexable.
    Text,
    /// 32-bit signed integer.
    Integer,
    /// Double.
    Float,
    /// Boolean.
    Boolean,
    /// UTC datetime with microseconds.
    Datetime,
    /// Uploaded file.
    File,
    /// Id of an object of the target class (or user).
    Reference,
    /// Ids of objects of the target class (or users).
    Relation,
    /// Any JSON object.
    Object,
    /// List of scalars.
    Array,
    /// Longitude/latitude.
    Geopoint,
}

/// Every type, in the order Syncano's error message lists them.
pub const ALL_TYPES: &[FieldType] = &[
    FieldType::String,
    FieldType::Text,
    FieldType::Integer,
    FieldType::Float,
    FieldType::Boolean,
    FieldType::Datetime,
    FieldType::File,
    FieldType::Reference,
    FieldType::Object,
    FieldType::Array,
    FieldType::Geopoint,
    FieldType::Relation,
];

impl FieldType {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Text => "text",
            FieldType::Integer => "integer",
            FieldType::Float => "float",
            FieldType::Boolean => "boolean",
            FieldType::Datetime => "datetime",
            FieldType::File => "file",
            FieldType::Reference => "reference",
            FieldType::Relation => "relation",
            FieldType::Object => "object",
            FieldType::Array => "array",
            FieldType::Geopoint => "geopoint",
        }
    }

    /// Parses a (lowercased) wire name.
    pub fn parse(s: &str) -> Option<FieldType> {
        ALL_TYPES.iter().copied().find(|t| t.name() == s)
    }

    /// Keys allowed in a definition of this type, besides none (error-message order).
    fn allowed_keys(self) -> &'static [&'static str] {
        match self {
            FieldType::Reference => &[
                "name",
                "type",
                "order_index",
                "filter_index",
                "target",
                "unique",
            ],
            FieldType::Relation => &["name", "type", "filter_index", "target"],
            FieldType::Array | FieldType::Geopoint => &["name", "type", "filter_index"],
            FieldType::Text | FieldType::File | FieldType::Object => &["name", "type"],
            _ => &["name", "type", "order_index", "filter_index", "unique"],
        }
    }

    /// Whether the type takes index flags at all.
    pub fn indexable(self) -> bool {
        !matches!(self, FieldType::Text | FieldType::File | FieldType::Object)
    }

    /// Whether values of the type are JSON arrays (indexed with GIN on PostgreSQL).
    pub fn is_list(self) -> bool {
        matches!(self, FieldType::Array | FieldType::Relation)
    }
}

/// One field of a class schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Name as given (case preserved).
    pub name: String,
    /// Type.
    pub ftype: FieldType,
    /// Lowercased target of a reference/relation (`self`, `user` or a class name).
    pub target: Option<String>,
    /// Filter index.
    pub filter_index: bool,
    /// Order index.
    pub order_index: bool,
    /// Unique index (implies filter index).
    pub unique: bool,
    /// Storage key in the object's `data`: `<revision>_<name>`.
    pub key: String,
    /// The definition as shown on the wire (input key order, normalised).
    pub public: Map<String, Value>,
}

/// What kind of database index a field needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexKind {
    /// A plain expression index.
    Plain,
    /// A unique expression index.
    Unique,
}

impl Field {
    /// The database index this field needs, if any.
    pub fn index(&self) -> Option<IndexKind> {
        if self.unique {
            Some(IndexKind::Unique)
        } else if self.filter_index || self.order_index {
            Some(IndexKind::Plain)
        } else {
            None
        }
    }
}

/// A parsed class schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    /// Fields in schema order.
    pub fields: Vec<Field>,
}

impl Schema {
    /// A field by exact name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}
