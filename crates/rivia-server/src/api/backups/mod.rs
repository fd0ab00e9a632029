//! Backups and restores (rest §10): full backups of an instance, listed per instance and
//! per account, and restores into an instance from a backup or an uploaded archive. The
//! work runs in the background (`crate::jobs`); these handlers record and report it.

mod restores;

use super::account::{account_admin, admin_json};
use super::{Api, list_response, path_id, stored_json, ts};
use crate::auth::Ctx;
use crate::caller::Call;
use crate::error::{ApiError, ApiResult};
use crate::fields::{Char, Fields};
use crate::json::{created, no_content, ok};
use crate::req::Req;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use rivia_core::perms::{AdminTable, Op};
use rivia_store::backup::jobs::{Backup, BackupScope, CreateBackupError, NewBackup};
use serde_json::{Value, json};

/// Backups one account may keep (the platform's `BACKUPS_PER_ACCOUNT_LIMIT`).
pub(crate) const BACKUPS_PER_ACCOUNT: i64 = 75;

/// Registers the routes.
pub(crate) fn routes(api: Api) -> Api {
    let api = api
        .get(
            "/v1.1/instances/{instance}/backups/",
            "Links of an instance's backups",
            instance_links,
        )
        .get(
            "/v1.1/instances/{instance}/backups/full/",
            "List an instance's full backups",
            list_instance_backups,
        )
        .post(
            "/v1.1/instances/{instance}/backups/full/",
            "Back up the whole instance",
            create_backup,
        )
        .get(
            "/v1.1/instances/{instance}/backups/full/{id}/",
            "Get a backup",
            get_instance_backup,
        )
        .delete(
            "/v1.1/instances/{instance}/backups/full/{id}/",
            "Delete a backup",
            delete_instance_backup,
        )
        .get(
            "/v1.1/backups/",
            "Links of the account's backups",
            account_links,
        )
        .get(
            "/v1.1/backups/full/",
            "List the account's full backups",
            list_account_backups,
        )
        .get(
            "/v1.1/backups/full/{id}/",
            "Get one of the account's backups",
            get_account_backup,
        )
        .delete(
            "/v1.1/backups/full/{id}/",
            "Delete one of the account's backups",
            delete_account_backup,
        );
    restores::routes(api)
}

/// A backup (BackupJSON of the platform's full backups); `author` is the admin who
/// asked for it.
async fn backup_json(app: &AppState, b: &Backup) -> ApiResult<Value> {
    let author = app
        .store
        .admin_by_id(b.owner_id)
        .await?
        .map(|a| admin_json(&a));
    Ok(json!({
        "id": b.id,
        "instance": b.instance_name,
        "created_at": ts(b.created_at),
        "updated_at": ts(b.updated_at),
        "size": b.size,
        "status": b.status.name(),
        "status_info": b.status_info,
        "description": b.description,
        "label": b.label,
        "author": author,
        "details": stored_json(&b.details),
        "metadata": stored_json(&b.metadata),
        "links": {"self": format!("/v1.1/backups/full/{}/", b.id)},
    }))
}

async fn page_of_backups(app: &AppState, req: &Req, scope: BackupScope) -> ApiResult<Response> {
    let page = req.page(false)?;
    let list = app.store.list_backups(scope, &page.keyset()).await?;
    let mut rendered = Vec::with_capacity(list.len());
    for b in list {
        rendered.push((b.id, backup_json(app, &b).await?));
    }
    Ok(list_response(req, &page, rendered, |x| x))
}

async fn instance_links(call: Call<()>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::Backups, Op::Read).await?;
    Ok(ok(
        json!({"links": {"full": format!("{}/backups/full/", ctx.base())}}),
    ))
}

async fn list_instance_backups(call: Call<()>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::Backups, Op::Read).await?;
    page_of_backups(&call.app, &call.req, BackupScope::Instance(ctx.instance.id)).await
}

async fn create_backup(call: Call<()>) -> ApiResult<Response> {
    let ctx = call.admin(AdminTable::Backups, Op::Create).await?;
    let Call { app, req, .. } = call;
    let body = req.body_object()?;
    let mut f = Fields::new(&body, false);
    let description = f.string("description", Char::text(256), false);
    let label = f.string("label", Char::text(64), false);
    let metadata = f.metadata("metadata");
    f.finish()?;
    let owner_id = ctx.admin().map(|a| a.id).ok_or_else(ApiError::forbidden)?;
    let new = NewBackup {
        owner_id,
        instance_id: ctx.instance.id,
        description: description.as_deref().unwrap_or(""),
        label: label.as_deref().unwrap_or(""),
        metadata: metadata.as_deref().unwrap_or("{}"),
    };
    let backup = app
        .store
        .create_backup(&new, BACKUPS_PER_ACCOUNT)
        .await
        .map_err(|e| match e {
            CreateBackupError::TooManyRunning => {
                ApiError::bad_request("You can have only one active backup running.")
            }
            CreateBackupError::TooMany(limit) => ApiError::bad_request(format!(
                "Maximum number of backups per account reached ({limit})."
            )),
            CreateBackupError::Store(e) => e.into(),
        })?;
    let rendered = backup_json(&app, &backup).await?;
    app.start_backup(backup.id);
    Ok(created(rendered))
}

/// A backup of the URL's instance.
async fn instance_backup(app: &AppState, ctx: &Ctx, id: &str) -> ApiResult<Backup> {
    app.store
        .backup(path_id(id)?)
        .await?
        .filter(|b| b.instance_id == Some(ctx.instance.id))
        .ok_or_else(ApiError::not_found)
}

async fn get_instance_backup(call: Call<String>) -> ApiResult<Response> {
    let (_, b) = call
        .admin_item((AdminTable::Backups, Op::Read), instance_backup)
        .await?;
    Ok(ok(backup_json(&call.app, &b).await?))
}

async fn delete_instance_backup(call: Call<String>) -> ApiResult<Response> {
    let (_, b) = call
        .admin_item((AdminTable::Backups, Op::Delete), instance_backup)
        .await?;
    delete(&call.app, b).await
}

/// Deletes a backup and its archive; a running one stays (400).
async fn delete(app: &AppState, b: Backup) -> ApiResult<Response> {
    if matches!(
        b.status,
        rivia_store::backup::jobs::Status::Running | rivia_store::backup::jobs::Status::Uploading
    ) {
        return Err(ApiError::bad_request("Cannot delete active backup"));
    }
    let deleted = app
        .store
        .delete_backup(b.id)
        .await?
        .ok_or_else(|| ApiError::bad_request("Cannot delete active backup"))?;
    if let Some(rel) = deleted.archive {
        let path = app.settings.data_dir.join(rel);
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
    }
    Ok(no_content())
}

async fn account_links(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    account_admin(&app, &req).await?;
    Ok(ok(json!({"links": {"full": "/v1.1/backups/full/"}})))
}

async fn list_account_backups(State(app): State<AppState>, req: Req) -> ApiResult<Response> {
    let admin = account_admin(&app, &req).await?;
    page_of_backups(&app, &req, BackupScope::Owner(admin.id)).await
}

/// One of the caller's own backups.
async fn own_backup(app: &AppState, req: &Req, id: &str) -> ApiResult<Backup> {
    let admin = account_admin(app, req).await?;
    app.store
        .backup(path_id(id)?)
        .await?
        .filter(|b| b.owner_id == admin.id)
        .ok_or_else(ApiError::not_found)
}

async fn get_account_backup(
    State(app): State<AppState>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let b = own_backup(&app, &req, &id).await?;
    Ok(ok(backup_json(&app, &b).await?))
}

async fn delete_account_backup(
    State(app): State<AppState>,
    Path(id): Path<String>,
    req: Req,
) -> ApiResult<Response> {
    let b = own_backup(&app, &req, &id).await?;
    delete(&app, b).await
}
