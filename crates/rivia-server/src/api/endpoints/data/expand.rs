//! `expand` (rest §5): a page's reference values replaced by the objects they name (users
//! for target `user`), read as the caller's own list of the target would show them — one
//! query per expanded field, whatever the page size, never one per object.
//!
//! As on the platform, each expanded field shows what the target's list filtered by
//! `{"id": {"_in": [the page's ids]}}` would under the caller's permissions: a caller who
//! may not list the target gets that list's error (403, or 404 `Class was not found.` for
//! a target class that is gone) instead of the page, and a referenced object the caller
//! may not see stays a plain reference. The objects are read by key with the caller's
//! visibility (`Store::visible_objects`), not through the list's paging and timeout.

use crate::api::classes::find_class_cached;
use crate::api::objects::{ObjectView, access, class_schema};
use crate::api::users::{ExpandedUsers, users_for_expand};
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use rivia_core::perms::Op;
use rivia_core::schema::{FieldType, Schema};
use rivia_store::classes::Class;
use rivia_store::objects::ObjectRow;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Most names read from an `expand` value (the platform splits it at most 64 times).
const MAX_NAMES: usize = 65;

/// The reference fields of `schema` named in `raw` (unknown names and fields of other
/// types are ignored), in schema order.
pub(super) fn expand_fields<'s>(raw: Option<&str>, schema: &'s Schema) -> Vec<&'s str> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Vec::new();
    };
    let names: BTreeSet<&str> = raw.split(',').take(MAX_NAMES).collect();
    schema
        .fields
        .iter()
        .filter(|f| f.ftype == FieldType::Reference && names.contains(f.name.as_str()))
        .map(|f| f.name.as_str())
        .collect()
}

/// The objects (or users) one expanded field's references name.
enum Targets {
    Objects {
        class: Class,
        schema: Arc<Schema>,
        /// By id (a binary search finds a reference: no hashing per row).
        rows: Vec<ObjectRow>,
    },
    Users(ExpandedUsers),
}

/// A page's expansions: per expanded field, what its references name, and per row the
/// reference of each expanded field.
pub(super) struct Expansions {
    fields: Vec<(String, Targets)>,
    /// `refs[row][field]`: the row's reference in that field.
    refs: Vec<Vec<Option<i64>>>,
}

/// What replaces a reference value.
pub(super) enum Expanded<'a> {
    Object(ObjectView<'a>),
    User(crate::api::users::UserView<'a>),
}

impl Serialize for Expanded<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Expanded::Object(v) => v.serialize(s),
            Expanded::User(v) => v.serialize(s),
        }
    }
}

impl Expansions {
    /// Reads what the `fields` of the page's rows reference: one query per field. `data` is
    /// each row's stored fields, in page order.
    pub(super) async fn load(
        app: &AppState,
        ctx: &Ctx,
        class: &Class,
        schema: &Schema,
        fields: &[&str],
        data: &[BTreeMap<&str, &RawValue>],
    ) -> ApiResult<Expansions> {
        let keys: Vec<&str> = fields
            .iter()
            .filter_map(|name| schema.field(name).map(|f| f.key.as_str()))
            .collect();
        let refs: Vec<Vec<Option<i64>>> = data
            .iter()
            .map(|row| {
                keys.iter()
                    .map(|k| row.get(k).and_then(|raw| raw.get().trim().parse().ok()))
                    .collect()
            })
            .collect();
        let mut loaded = Vec::with_capacity(fields.len());
        for (i, name) in fields.iter().enumerate() {
            let mut ids: Vec<i64> = refs.iter().filter_map(|r| r[i]).collect();
            ids.sort_unstable();
            ids.dedup();
            let target = schema
                .field(name)
                .and_then(|f| f.target.clone())
                .unwrap_or_default();
            let targets = match target.as_str() {
                "user" => Targets::Users(users_for_expand(app, ctx, &ids).await?),
                "self" => objects_of(app, ctx, class.clone(), &ids).await?,
                other => {
                    let target = find_class_cached(app, ctx.instance.id, other)
                        .await?
                        .ok_or_else(|| ApiError::model_not_found("Class"))?;
                    objects_of(app, ctx, target, &ids).await?
                }
            };
            loaded.push((name.to_string(), targets));
        }
        Ok(Expansions {
            fields: loaded,
            refs,
        })
    }

    /// What replaces field `key` of row number `row`, if it is expanded and its target was
    /// read.
    #[inline]
    pub(super) fn replacement<'a>(
        &'a self,
        row: usize,
        key: &str,
        (base, origin): (&'a str, &'a str),
    ) -> Option<Expanded<'a>> {
        // Asked for every key of every row, and most keys are not expanded: that answer
        // is the inlined name check alone.
        let i = self.fields.iter().position(|(name, _)| name == key)?;
        self.replacement_of(row, i, (base, origin))
    }

    /// What replaces expanded field number `i` of row number `row`, if its target was read.
    fn replacement_of<'a>(
        &'a self,
        row: usize,
        i: usize,
        (base, origin): (&'a str, &'a str),
    ) -> Option<Expanded<'a>> {
        let id = self.refs.get(row)?.get(i).copied().flatten()?;
        match &self.fields[i].1 {
            Targets::Objects {
                class,
                schema,
                rows,
            } => by_id(rows, id).map(|row| {
                Expanded::Object(ObjectView {
                    base,
                    origin,
                    class_name: &class.name,
                    schema,
                    row,
                })
            }),
            Targets::Users(users) => users.view(id, base, origin).map(Expanded::User),
        }
    }
}

/// The row of `id` among `rows` sorted by id.
fn by_id(rows: &[ObjectRow], id: i64) -> Option<&ObjectRow> {
    rows.binary_search_by_key(&id, |r| r.id)
        .ok()
        .map(|at| &rows[at])
}

/// The objects of `target` among `ids` the caller may see (the target's own class gate
/// first: its 403 is the answer), in one read by key.
async fn objects_of(app: &AppState, ctx: &Ctx, target: Class, ids: &[i64]) -> ApiResult<Targets> {
    let granted = access(app, ctx, &target, Op::Read).await?;
    let schema = class_schema(app, &target);
    let mut rows = app
        .store
        .visible_objects(target.id, ids, &granted.visibility())
        .await?;
    rows.sort_unstable_by_key(|r| r.id);
    Ok(Targets::Objects {
        class: target,
        schema,
        rows,
    })
}
