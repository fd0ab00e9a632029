//! The schema fields of a user's `profile` body, validated for the users API exactly as
//! the objects API validates an object of `user_profile`.

use super::class_schema;
use super::data::{DataScope, NewFiles, build_data, ref_visibility};
use super::input::read_input;
use super::render::parse_data;
use crate::auth::Ctx;
use crate::error::ApiError;
use crate::state::AppState;
use axum::http::StatusCode;
use rivia_store::classes::Class;
use serde_json::{Map, Value};

/// Why a profile body was refused.
#[derive(Debug)]
pub enum ProfileError {
    /// The bare field-error object (or another 400 body), for nesting under `profile`.
    Fields(Value),
    /// Anything else (a storage failure).
    Failed(ApiError),
}

/// The schema fields of a user's `profile` body (users API): validates them against the
/// `user_profile` schema exactly as the objects API would and returns the new data JSON
/// text and whether any schema value changed (which bumps the revision). `full` resets
/// absent fields to null (user PUT); `creating` refuses update operators. Field errors
/// come back as the bare field-error object, for nesting under `profile`.
pub async fn profile_fields(
    app: &AppState,
    ctx: &Ctx,
    class: &Class,
    current_data: &str,
    body: &Map<String, Value>,
    full: bool,
    creating: bool,
) -> Result<(String, bool), ProfileError> {
    let schema = class_schema(app, class);
    if schema.fields.is_empty() {
        return Ok((current_data.to_string(), false));
    }
    let input = read_input(body, &[], &schema, creating);
    let current = parse_data(current_data);
    let visible = ref_visibility(app, ctx, class, &input.changes)
        .await
        .map_err(ProfileError::Failed)?;
    // Reference checks read through a unit of work; nothing is written in it.
    let mut unit = app
        .store
        .begin_write()
        .await
        .map_err(|e| ProfileError::Failed(e.into()))?;
    let mut new_files = NewFiles::default();
    let scope = DataScope {
        app,
        visible: &visible,
        instance_id: ctx.instance.id,
        class,
        schema: &schema,
    };
    let result = build_data(
        &scope,
        &mut unit,
        &current,
        (&input.changes, input.errors.clone()),
        full,
        &mut new_files,
    )
    .await;
    drop(unit);
    match result {
        Ok((data, _)) => {
            let before: Map<String, Value> = schema
                .fields
                .iter()
                .filter_map(|f| current.get(&f.key).map(|v| (f.key.clone(), v.clone())))
                .collect();
            let changed = data != before;
            Ok((Value::Object(data).to_string(), changed))
        }
        Err(ApiError::Body(StatusCode::BAD_REQUEST, v)) => Err(ProfileError::Fields(v)),
        Err(other) => Err(ProfileError::Failed(other)),
    }
}
