//! Building an object's new data from its current data and the submitted changes:
//! stored uploads, checked references, the size limit, and which unique field a
//! violated unique index guards.

use super::access::visible_in;
use super::input::Change;
use crate::api::files::{self, FileError};
use crate::auth::Ctx;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use rivia_core::FieldErrors;
use rivia_core::errors::msg;
use rivia_core::object::{MAX_OBJECT_SIZE, NewValue, apply_operator, object_size, relation_value};
use rivia_core::schema::{Field, FieldType, Schema};
use rivia_store::classes::Class;
use rivia_store::objects::{RefTarget, Visibility};
use rivia_store::{StoreError, UnitOfWork};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Where new object data goes: the class (with its parsed schema) of an instance.
pub(super) struct DataScope<'a> {
    pub(super) app: &'a AppState,
    /// What the caller may read of each reference target: see [`ref_visibility`].
    pub(super) visible: &'a RefVisibility,
    pub(super) instance_id: i64,
    pub(super) class: &'a Class,
    pub(super) schema: &'a Schema,
}

/// Files written during a request, removed again if it fails.
#[derive(Default)]
pub(super) struct NewFiles(pub(super) Vec<String>);

impl NewFiles {
    pub(super) async fn discard(self, app: &AppState) {
        for p in self.0 {
            files::remove_file(app, &p).await;
        }
    }
}

/// New data of an object: the current values of fields still in the schema (stale keys
/// of removed or retyped fields are dropped here), with the submitted changes applied.
/// A full update resets every absent field to null. `errors` holds what earlier checks
/// found (fields that failed to read, the owner, the group); what this finds joins them,
/// so a request learns every failing field at once. Returns the data and the files it no
/// longer references.
pub(super) async fn build_data(
    scope: &DataScope<'_>,
    unit: &mut UnitOfWork,
    current: &Map<String, Value>,
    (changes, mut errors): (&[(Field, Change)], FieldErrors),
    full: bool,
    new_files: &mut NewFiles,
) -> ApiResult<(Map<String, Value>, Vec<String>)> {
    let DataScope {
        app,
        instance_id,
        class,
        schema,
        ..
    } = *scope;
    let mut data = Map::new();
    for f in &schema.fields {
        if let Some(v) = current.get(&f.key) {
            data.insert(f.key.clone(), v.clone());
        }
    }
    let mut touched: Vec<&str> = Vec::new();
    for (f, change) in changes {
        touched.push(&f.key);
        let result = match change {
            Change::Set(v) => Ok(v.clone()),
            Change::Op(op) => apply_operator(f, data.get(&f.key), op),
            Change::Upload(u) => match files::store_upload(app, instance_id, class.id, u).await {
                Ok(p) => {
                    new_files.0.push(p.clone());
                    Ok(NewValue::Set(Value::String(p)))
                }
                Err(FileError::Invalid(m)) => Err(m),
                Err(FileError::Failed(e)) => return Err(e),
            },
            Change::FileUrl(url) => {
                match files::copy_from_url(app, instance_id, class.id, url).await {
                    Ok(p) => {
                        new_files.0.push(p.clone());
                        Ok(NewValue::Set(Value::String(p)))
                    }
                    Err(FileError::Invalid(m)) => Err(m),
                    Err(FileError::Failed(e)) => return Err(e),
                }
            }
        };
        match result {
            Ok(NewValue::Set(v)) => {
                data.insert(f.key.clone(), v);
            }
            Ok(NewValue::Null) => {
                data.remove(&f.key);
            }
            Err(m) => errors.add(&f.name, m),
        }
    }
    if full {
        for f in &schema.fields {
            if !touched.contains(&f.key.as_str()) {
                data.remove(&f.key);
            }
        }
    }
    check_references(unit, scope, &mut data, &touched, &mut errors).await?;
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let size = object_size(&schema.fields, &data);
    if size > MAX_OBJECT_SIZE {
        return Err(ApiError::field(
            "non_field_errors",
            "Object maximum size exceeded.",
        ));
    }
    let dropped = schema
        .fields
        .iter()
        .filter(|f| f.ftype == FieldType::File)
        .filter_map(|f| match (current.get(&f.key), data.get(&f.key)) {
            (Some(Value::String(old)), new) if new != Some(&Value::String(old.clone())) => {
                Some(old.clone())
            }
            _ => None,
        })
        .collect();
    Ok((data, dropped))
}

pub(super) fn ref_target(
    class: &Class,
    field: &Field,
    resolve: &std::collections::HashMap<String, i64>,
) -> Option<RefTarget> {
    match field.target.as_deref() {
        Some("self") => Some(RefTarget::Class(class.id)),
        Some("user") => Some(RefTarget::Users),
        Some(name) => resolve.get(name).map(|id| RefTarget::Class(*id)),
        None => None,
    }
}

/// References must point at existing objects (else a message joins `errors`); relations
/// silently drop missing ids. Fields that already failed are skipped.
pub(super) async fn check_references(
    unit: &mut UnitOfWork,
    scope: &DataScope<'_>,
    data: &mut Map<String, Value>,
    touched: &[&str],
    errors: &mut FieldErrors,
) -> ApiResult<()> {
    let DataScope {
        visible,
        instance_id,
        class,
        schema,
        ..
    } = *scope;
    let mut targets = std::collections::HashMap::new();
    for f in &schema.fields {
        if !matches!(f.ftype, FieldType::Reference | FieldType::Relation)
            || !touched.contains(&f.key.as_str())
            || errors.has(&f.name)
        {
            continue;
        }
        let Some(v) = data.get(&f.key).cloned() else {
            continue;
        };
        if let Some(name) = f.target.as_deref()
            && !matches!(name, "self" | "user")
            && !targets.contains_key(name)
            && let Some(id) = unit.class_id_by_name(instance_id, name).await?
        {
            targets.insert(name.to_string(), id);
        }
        let ids: Vec<i64> = match &v {
            Value::Array(a) => a.iter().filter_map(Value::as_i64).collect(),
            other => other.as_i64().into_iter().collect(),
        };
        let found = match ref_target(class, f, &targets) {
            Some(t @ RefTarget::Class(_)) => {
                let target = f.target.as_deref().unwrap_or_default();
                match visible.get(target).cloned().flatten() {
                    Some(v) => unit.existing_ids(instance_id, t, &ids, &v).await?,
                    None => Vec::new(),
                }
            }
            // Users are not objects with ACLs; their profiles are guarded where queried.
            Some(t @ RefTarget::Users) => {
                unit.existing_ids(instance_id, t, &ids, &Visibility::All)
                    .await?
            }
            None => Vec::new(),
        };
        if f.ftype == FieldType::Reference {
            if found.is_empty() {
                errors.add(&f.name, "Target with specified id does not exist.");
            }
        } else {
            let kept: Vec<i64> = ids.into_iter().filter(|i| found.contains(i)).collect();
            match relation_value(kept) {
                NewValue::Set(v) => data.insert(f.key.clone(), v),
                NewValue::Null => data.remove(&f.key),
            };
        }
    }
    Ok(())
}

/// What the caller may read of each class a submitted reference or relation targets, by
/// target name (`None`: nothing). Read before the write's unit of work begins: the unit
/// holds a connection, and these reads need another.
pub(super) type RefVisibility = HashMap<String, Option<Visibility>>;

/// [`RefVisibility`] for the fields `changes` touch.
pub(super) async fn ref_visibility(
    app: &AppState,
    ctx: &Ctx,
    class: &Class,
    changes: &[(Field, Change)],
) -> ApiResult<RefVisibility> {
    let mut out = RefVisibility::new();
    for (f, _) in changes {
        if !matches!(f.ftype, FieldType::Reference | FieldType::Relation) {
            continue;
        }
        let Some(name) = f.target.as_deref() else {
            continue;
        };
        if name == "user" || out.contains_key(name) {
            continue;
        }
        let target = if name == "self" {
            Some(class.clone())
        } else {
            crate::api::classes::find_class_cached(app, ctx.instance.id, name).await?
        };
        let v = match target {
            Some(c) => visible_in(app, ctx, &c).await?,
            None => None,
        };
        out.insert(name.to_string(), v);
    }
    Ok(out)
}

/// Maps a unique-index violation to the field it guards.
pub(super) fn conflict_error(class: &Class, schema: &Schema, e: StoreError) -> ApiError {
    if let StoreError::Conflict(constraint) = &e
        && let Some(f) = schema
            .fields
            .iter()
            .find(|f| f.unique && constraint.is_field_index(class.id, &f.key))
    {
        return ApiError::field(&f.name, msg::UNIQUE);
    }
    e.into()
}
