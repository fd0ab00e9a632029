//! `restores/`: restoring a backup of the account, or an uploaded archive, into an
//! empty instance.

use super::super::{Api, list_response, path_id, ts};
use crate::api::account::admin_json;
use crate::auth::Ctx;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::json::{created, ok};
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::Response;
use rivia_core::perms::{AdminTable, Op};
use rivia_store::backup::jobs::{Restore, Status};
use serde_json::{Value, json};

pub(super) fn routes(api: Api) -> Api {
    api.get(
        "/v1.1/instances/{instance}/restores/",
        "List restores into the instance",
        list_restores,
    )
    .post(
        "/v1.1/instances/{instance}/restores/",
        "Restore a backup or an uploaded archive into the instance",
        create_restore,
    )
    .get(
        "/v1.1/instances/{instance}/restores/{id}/",
        "Get a restore",
        get_restore,
    )
}

async fn restore_json(app: &AppState, ctx: &Ctx, r: &Restore) -> ApiResult<Value> {
    let author = app
        .store
        .admin_by_id(r.owner_id)
        .await?
        .map(|a| admin_json(&a));
    Ok(json!({
        "id": r.id,
        "backup": r.backup_id,
        "created_at": ts(r.created_at),
        "updated_at": ts(r.updated_at),
        "status": r.status.name(),
        "archive": r.archive.as_ref().map(|_| "uploaded"),
        "status_info": r.status_info,
        "author": author,
        "links": {"self": format!("{}/restores/{}/", ctx.base(), r.id)},
    }))
}

async fn list_restores(call: Call<()>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::Backups, Op::Read).await?;
    let Call { app, req, .. } = call;
    let page = req.page(false)?;
    let list = app
        .store
        .list_restores(ctx.instance.id, &page.keyset())
        .await?;
    let mut rendered = Vec::with_capacity(list.len());
    for r in list {
        rendered.push((r.id, restore_json(&app, &ctx, &r).await?));
    }
    Ok(list_response(&req, &page, rendered, |x| x))
}

async fn get_restore(call: Call<String>) -> ApiResult<Response> {
    let (ctx, r) = call
        .admin_item(
            (AdminTable::Backups, Op::Read),
            |app: &AppState, ctx: &Ctx, id: &str| {
                let (app, instance, id) = (app.clone(), ctx.instance.id, id.to_string());
                async move {
                    app.store
                        .restore(instance, path_id(&id)?)
                        .await?
                        .ok_or_else(ApiError::not_found)
                }
            },
        )
        .await?;
    Ok(ok(restore_json(&call.app, &ctx, &r).await?))
}

fn backup_field_error(msg: String) -> ApiError {
    ApiError::Body(StatusCode::BAD_REQUEST, json!({"backup": [msg]}))
}

/// The `backup` field: a successful backup of the caller's account.
async fn chosen_backup(app: &AppState, owner_id: i64, raw: &Value) -> ApiResult<i64> {
    let id = match raw {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        backup_field_error(format!(
            "Incorrect type. Expected pk value, received {}.",
            crate::req::json_type_name(raw)
        ))
    })?;
    app.store
        .backup(id)
        .await?
        .filter(|b| b.owner_id == owner_id && b.status == Status::Success)
        .map(|b| b.id)
        .ok_or_else(|| backup_field_error(format!("Invalid pk \"{id}\" - object does not exist.")))
}

async fn create_restore(call: Call<()>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::Backups, Op::Create).await?;
    let Call { app, req, .. } = call;
    let owner_id = ctx.admin().map(|a| a.id).ok_or_else(ApiError::forbidden)?;
    let body = req.body_object()?;
    let backup = body
        .get("backup")
        .filter(|v| !v.is_null() && *v != &json!(""));
    let upload = req.body.files.iter().find(|u| u.field == "archive");
    let backup_id = match (backup, upload) {
        (Some(raw), None) => Some(chosen_backup(&app, owner_id, raw).await?),
        (None, Some(_)) => None,
        _ => {
            return Err(ApiError::Body(
                StatusCode::BAD_REQUEST,
                json!({"non_field_errors": ["You have to provide either backup or archive."]}),
            ));
        }
    };
    if app.store.restore_active(ctx.instance.id).await? {
        return Err(ApiError::bad_request(
            "A restore into this instance is already running.",
        ));
    }
    if !app.store.instance_is_empty(ctx.instance.id).await? {
        return Err(ApiError::bad_request(
            "Cannot restore to non empty target instance",
        ));
    }
    let archive = match upload {
        Some(u) => Some(save_upload(&app, &u.bytes).await?),
        None => None,
    };
    let restore = app
        .store
        .create_restore(owner_id, ctx.instance.id, backup_id, archive.as_deref())
        .await?;
    let rendered = restore_json(&app, &ctx, &restore).await?;
    app.start_restore(restore.id);
    Ok(created(rendered))
}

/// Keeps an uploaded archive under the data directory until its restore ends.
async fn save_upload(app: &AppState, bytes: &bytes::Bytes) -> ApiResult<String> {
    let rel = crate::jobs::upload_rel();
    let path = app.settings.data_dir.join(&rel);
    let bytes = bytes.clone();
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &bytes)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?
    .map_err(|e| ApiError::Internal(format!("saving an uploaded archive: {e}")))?;
    Ok(rel)
}
