//! Files of `file` schema fields (spec-core §9.3): stored under
//! `<data-dir>/files/<instance id>/<class id>/<40 hex><ext>` and served at
//! `/media/<instance id>/<class id>/<40 hex><ext>`. An object's `data` keeps the relative
//! path `<instance id>/<class id>/<name>`; the URL is derived from it when rendering.

use super::Api;
use crate::body::Upload;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use std::path::PathBuf;

/// URL prefix files are served under.
pub const MEDIA_PREFIX: &str = "/media/";

/// Registers the download route.
pub fn routes(api: Api) -> Api {
    api.get(
        "/media/{instance_id}/{class_id}/{file}",
        "Download a file of a data object",
        get_file,
    )
}

/// The URL of a stored file path.
pub fn file_url(path: &str) -> String {
    format!("{MEDIA_PREFIX}{path}")
}

fn files_root(app: &AppState) -> PathBuf {
    app.settings.data_dir.join("files")
}

/// A stored name is 40 hex digits plus an optional lowercase extension; anything else
/// never names a file (and can never escape the files directory).
fn valid_name(name: &str) -> bool {
    let (stem, ext) = match name.split_once('.') {
        Some((s, e)) => (s, Some(e)),
        None => (name, None),
    };
    stem.len() == 40
        && stem.bytes().all(|b| b.is_ascii_hexdigit())
        && ext.is_none_or(|e| {
            !e.is_empty() && e.len() <= 16 && e.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Parses a stored relative path into its (instance id, class id, name).
fn split_path(path: &str) -> Option<(i64, i64, &str)> {
    let mut parts = path.splitn(3, '/');
    let inst = parts.next()?.parse().ok()?;
    let class = parts.next()?.parse().ok()?;
    let name = parts.next()?;
    valid_name(name).then_some((inst, class, name))
}

fn disk_path(app: &AppState, path: &str) -> Option<PathBuf> {
    let (inst, class, name) = split_path(path)?;
    Some(
        files_root(app)
            .join(inst.to_string())
            .join(class.to_string())
            .join(name),
    )
}

/// The lowercased extension (with its dot) of an uploaded file name, checked against the
/// 16-character limit (Python's `os.path.splitext`, dot included).
fn extension(filename: &str) -> Result<String, String> {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    let trimmed = base.trim_start_matches('.');
    let ext = match trimmed.rfind('.') {
        Some(i) => &trimmed[i..],
        None => "",
    };
    if ext.chars().count() > 16 {
        return Err("File provided has too long extension. Max 16 characters.".into());
    }
    // Only characters that are safe in a file name and a URL are kept.
    let clean: String = ext
        .chars()
        .skip(1)
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    Ok(if clean.is_empty() {
        String::new()
    } else {
        format!(".{clean}")
    })
}

/// Runs blocking file IO off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
}

async fn write_new(
    app: &AppState,
    instance_id: i64,
    class_id: i64,
    ext: &str,
    bytes: &[u8],
) -> ApiResult<String> {
    let name = format!("{}{ext}", rivia_core::keys::new_token());
    let rel = format!("{instance_id}/{class_id}/{name}");
    let dir = files_root(app)
        .join(instance_id.to_string())
        .join(class_id.to_string());
    let file = dir.join(&name);
    let bytes = bytes.to_vec();
    let written = blocking(move || {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(&file, bytes).inspect_err(|_| {
            // A partly written file is of no use to anyone.
            let _ = std::fs::remove_file(&file);
        })
    })
    .await;
    match written {
        Ok(()) => Ok(rel),
        // A full disk is the operator's to fix, not a server fault (as for the database).
        Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
            Err(rivia_store::StoreError::Full(format!("write file: {e}")).into())
        }
        Err(e) => Err(ApiError::Internal(format!("write file: {e}"))),
    }
}

/// Why a file could not be stored for a field.
#[derive(Debug)]
pub enum FileError {
    /// A validation message for the field (400).
    Invalid(String),
    /// Anything else (writing the file failed).
    Failed(ApiError),
}

/// Stores an upload for a field.
pub async fn store_upload(
    app: &AppState,
    instance_id: i64,
    class_id: i64,
    upload: &Upload,
) -> Result<String, FileError> {
    let ext = extension(&upload.filename).map_err(FileError::Invalid)?;
    write_new(app, instance_id, class_id, &ext, &upload.bytes)
        .await
        .map_err(FileError::Failed)
}

/// Copies a file of this instance given by its URL (absolute or relative).
pub async fn copy_from_url(
    app: &AppState,
    instance_id: i64,
    class_id: i64,
    url: &str,
) -> Result<String, FileError> {
    let invalid = || FileError::Invalid("File URL is invalid.".to_string());
    let rel = url
        .find(MEDIA_PREFIX)
        .map(|i| &url[i + MEDIA_PREFIX.len()..])
        .ok_or_else(invalid)?;
    let (inst, _, name) = split_path(rel).ok_or_else(invalid)?;
    if inst != instance_id {
        return Err(invalid());
    }
    let src = disk_path(app, rel).ok_or_else(invalid)?;
    let bytes = blocking(move || std::fs::read(src))
        .await
        .map_err(|_| invalid())?;
    let ext = name.find('.').map(|i| &name[i..]).unwrap_or("");
    write_new(app, instance_id, class_id, ext, &bytes)
        .await
        .map_err(FileError::Failed)
}

/// Removes a stored file (missing files are fine: the goal is that it is gone).
pub async fn remove_file(app: &AppState, path: &str) {
    if let Some(p) = disk_path(app, path) {
        let _ = blocking(move || std::fs::remove_file(p)).await;
    }
}

/// Removes every file of a class.
pub async fn remove_class_files(app: &AppState, instance_id: i64, class_id: i64) {
    let dir = files_root(app)
        .join(instance_id.to_string())
        .join(class_id.to_string());
    let _ = blocking(move || std::fs::remove_dir_all(dir)).await;
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, e)| e) {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("txt") => "text/plain",
        Some("json") => "application/json",
        Some("pdf") => "application/pdf",
        Some("html" | "htm") => "text/html",
        _ => "application/octet-stream",
    }
}

async fn get_file(
    State(app): State<AppState>,
    Path((instance_id, class_id, file)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let rel = format!("{instance_id}/{class_id}/{file}");
    let path = disk_path(&app, &rel).ok_or_else(ApiError::not_found)?;
    let bytes = blocking(move || std::fs::read(path))
        .await
        .map_err(|_| ApiError::not_found())?;
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = StatusCode::OK;
    let ct = content_type(&file);
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    // Nothing uploaded may run in the API's origin (README, Security): browsers must not
    // guess another type, the document gets no script and no origin of its own, and
    // anything not clearly passive downloads instead of rendering.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    if !PASSIVE_TYPES.contains(&ct) {
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment"),
        );
    }
    Ok(resp)
}

/// Types a browser only ever displays (with `nosniff`); every other file (HTML, SVG, XML,
/// scripts, PDF, unknown) is served as an attachment.
const PASSIVE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "text/plain",
    "application/json",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_and_names() {
        assert_eq!(extension("photo.JPG"), Ok(".jpg".into()));
        assert_eq!(extension("noext"), Ok(String::new()));
        assert_eq!(extension(".bashrc"), Ok(String::new()));
        assert!(extension("a.abcdefghijklmnopq").is_err());
        assert!(valid_name(&format!("{}.png", "a".repeat(40))));
        assert!(!valid_name("../../etc/passwd"));
        assert_eq!(split_path("1/2/x"), None);
    }
}
