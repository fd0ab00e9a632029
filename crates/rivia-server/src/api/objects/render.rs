//! Rendering: DataObjectJSON (spec-core §9.2) of a stored object, as a value tree or
//! serialised straight from the row.

use crate::api::files;
use crate::api::link::url;
use rivia_core::object::{RenderedValue, stored_fields};
use rivia_core::perms::ObjectPerm;
use rivia_core::schema::Schema;
use rivia_core::time::Timestamp;
use rivia_store::objects::ObjectRow;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// DataObjectJSON (spec-core §9.2) of a row of a class whose schema is already parsed, as
/// a value tree for callers that edit or nest it. `base` is the instance prefix
/// `/v1.1/instances/<name>`, `origin` what file URLs start with.
pub(crate) fn object_json_with(
    (base, origin): (&str, &str),
    class_name: &str,
    schema: &Schema,
    row: &ObjectRow,
) -> Value {
    serde_json::to_value(ObjectView {
        base,
        origin,
        class_name,
        schema,
        row,
    })
    .unwrap_or(Value::Null)
}

/// DataObjectJSON of one row, serialised without an intermediate value tree (lists write
/// many of these; the tree, not the query, was their main cost).
pub struct ObjectView<'a> {
    /// The instance prefix `/v1.1/instances/<name>`.
    pub base: &'a str,
    /// What file URLs start with: `scheme://host` (see `Ctx::origin`).
    pub origin: &'a str,
    /// Name of the row's class.
    pub class_name: &'a str,
    /// The class's parsed schema.
    pub schema: &'a Schema,
    /// The row.
    pub row: &'a ObjectRow,
}

/// How [`ObjectView::serialize_shaped`] shows one key of an object.
pub(crate) enum Shown<R> {
    /// As stored.
    Value,
    /// Left out.
    Hidden,
    /// Replaced by another rendering (a data endpoint's expanded reference).
    Replaced(R),
}

impl ObjectView<'_> {
    /// DataObjectJSON with each key shown as `shape` says (by key name).
    pub(crate) fn serialize_shaped<S: Serializer, R: Serialize>(
        &self,
        s: S,
        shape: impl Fn(&str) -> Shown<R>,
    ) -> Result<S::Ok, S::Error> {
        self.serialize_parsed(s, &stored_fields(&self.row.data), shape)
    }

    /// [`ObjectView::serialize_shaped`] of a row whose `data` the caller has already read
    /// into its fields ([`stored_fields`]).
    pub(crate) fn serialize_parsed<S: Serializer, R: Serialize>(
        &self,
        s: S,
        data: &BTreeMap<&str, &RawValue>,
        shape: impl Fn(&str) -> Shown<R>,
    ) -> Result<S::Ok, S::Error> {
        let row = self.row;
        let perm = |p: i64| ObjectPerm::from_i64(p).name();
        let mut m = s.serialize_map(Some(12 + self.schema.fields.len()))?;
        macro_rules! entry {
            ($key:expr, $value:expr) => {
                match shape($key) {
                    Shown::Value => m.serialize_entry($key, $value)?,
                    Shown::Hidden => {}
                    Shown::Replaced(r) => m.serialize_entry($key, &r)?,
                }
            };
        }
        entry!("id", &row.id);
        entry!("created_at", &Timestamp(row.created_at));
        entry!("updated_at", &Timestamp(row.updated_at));
        entry!("revision", &row.revision);
        entry!("owner", &row.owner);
        entry!("owner_permissions", perm(row.owner_permissions));
        entry!("group", &row.group_id);
        entry!("group_permissions", perm(row.group_permissions));
        entry!("other_permissions", perm(row.other_permissions));
        entry!("channel", &row.channel);
        entry!("channel_room", &row.channel_room);
        let file_url = |path: &str| format!("{}{}", self.origin, files::file_url(path));
        for f in &self.schema.fields {
            let value = RenderedValue {
                field: f,
                stored: data.get(f.key.as_str()).copied(),
                file_url: &file_url,
            };
            entry!(f.name.as_str(), &value);
        }
        entry!("links", &ObjectLinks(self));
        m.end()
    }
}

impl Serialize for ObjectView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.serialize_shaped(s, |_| Shown::<()>::Value)
    }
}

/// The `links` of an object.
pub(super) struct ObjectLinks<'a>(&'a ObjectView<'a>);

impl Serialize for ObjectLinks<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ObjectView {
            base,
            class_name,
            row,
            ..
        } = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(
            "self",
            &url!(*base, "/classes/", *class_name, "/objects/", row.id, "/"),
        )?;
        if let Some(o) = row.owner {
            m.serialize_entry("owner", &url!(*base, "/users/", o, "/"))?;
        }
        if let Some(g) = row.group_id {
            m.serialize_entry("group", &url!(*base, "/groups/", g, "/"))?;
        }
        if let Some(c) = &row.channel {
            m.serialize_entry("channel", &url!(*base, "/channels/", c, "/"))?;
        }
        m.end()
    }
}

/// An object's `data` text as a map (writers edit it).
pub(super) fn parse_data(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}
