//! The admin dashboard at `/_/`: static files compiled into the binary (plain JavaScript
//! modules, no build step; sources under `crates/rivia-server/dashboard/`). The pages speak
//! only the public v1.1 API, with the account key in a header, so this module serves
//! bytes and nothing else: no route here reads the store or knows who is signed in.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles and requests
//! only from this origin; no inline code; no framing), `nosniff`, and an `ETag` with
//! `Cache-Control: no-cache`: browsers revalidate each file (a 304 without a body) and so
//! never mix files of two versions after an upgrade.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

/// Where the dashboard is served.
pub const PREFIX: &str = "/_/";

/// Whether `path` is the dashboard's (its answers are not JSON, whatever `Accept` says).
pub(crate) fn serves(path: &str) -> bool {
    path == "/_" || path.starts_with(PREFIX)
}

/// One embedded file: its path under `dashboard/` and its bytes.
struct Asset {
    path: &'static str,
    bytes: &'static [u8],
}

/// Embeds files of `dashboard/` by their relative paths.
macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, bytes: include_bytes!(concat!("../dashboard/", $path)) }),*]
    };
}

/// Every file the dashboard serves. A unit test checks this list against the directory,
/// so a file added there and not here (or the reverse) fails `cargo test`.
static ASSETS: &[Asset] = assets![
    "index.html",
    "app.css",
    "icon.svg",
    "js/api.js",
    "js/dom.js",
    "js/editor.js",
    "js/main.js",
    "js/router.js",
    "js/schema.js",
    "js/session.js",
    "js/state.js",
    "js/ui.js",
    "js/pages/admins.js",
    "js/pages/api_keys.js",
    "js/pages/channel_live.js",
    "js/pages/channels.js",
    "js/pages/class_edit.js",
    "js/pages/classes.js",
    "js/pages/groups.js",
    "js/pages/instances.js",
    "js/pages/memberships.js",
    "js/pages/object_form.js",
    "js/pages/objects.js",
    "js/pages/registry.js",
    "js/pages/script_edit.js",
    "js/pages/scripts.js",
    "js/pages/signin.js",
    "js/pages/users.js",
    "vendor/highlight/LICENSE",
    "vendor/highlight/VERSION",
    "vendor/highlight/core.min.js",
    "vendor/highlight/languages/go.min.js",
    "vendor/highlight/languages/javascript.min.js",
    "vendor/highlight/languages/json.min.js",
    "vendor/highlight/languages/php.min.js",
    "vendor/highlight/languages/python.min.js",
    "vendor/highlight/languages/ruby.min.js",
    "vendor/highlight/languages/swift.min.js",
];

/// Only this origin's files and API; nothing inline, no plugins, no framing, no form
/// posts (the pages send every request with `fetch`).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// An embedded file ready to serve.
struct Served {
    bytes: &'static [u8],
    content_type: &'static str,
    etag: HeaderValue,
}

/// The embedded files by request path (`""` is the index), built once.
fn files() -> &'static HashMap<&'static str, Served> {
    static FILES: OnceLock<HashMap<&'static str, Served>> = OnceLock::new();
    FILES.get_or_init(|| {
        let mut map = HashMap::with_capacity(ASSETS.len() + 1);
        for asset in ASSETS {
            let served = Served {
                bytes: asset.bytes,
                content_type: content_type(asset.path),
                etag: etag(asset.bytes),
            };
            if asset.path == "index.html" {
                map.insert(
                    "",
                    Served {
                        etag: served.etag.clone(),
                        ..served
                    },
                );
                continue;
            }
            map.insert(asset.path, served);
        }
        map
    })
}

/// A strong validator from the content: the same bytes give the same tag in every process
/// of one build, so several nodes behind a balancer agree.
fn etag(bytes: &[u8]) -> HeaderValue {
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    let tag = format!("\"{:016x}-{:x}\"", hasher.finish(), bytes.len());
    HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "text/plain; charset=utf-8",
    }
}

/// Adds the dashboard's routes: `/_/` and its files, and `/_` → `/_/`.
pub fn routes<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .route("/_", get(redirect_to_index))
        .route(PREFIX, get(index))
        .route("/_/{*path}", get(asset))
}

async fn redirect_to_index() -> Response {
    let mut resp = StatusCode::PERMANENT_REDIRECT.into_response();
    resp.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(PREFIX));
    resp
}

async fn index(headers: HeaderMap) -> Response {
    serve("", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// Answers one file, or 304 when the browser's copy is current, or a plain 404.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = files().get(path) else {
        let mut resp = (StatusCode::NOT_FOUND, "Not found.").into_response();
        protect(resp.headers_mut());
        return resp;
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| matches_etag(tags, &file.etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut resp = Response::new(Body::from(file.bytes));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.content_type),
        );
        resp
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, file.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    protect(h);
    resp
}

/// Whether an `If-None-Match` list names `etag` (weak or strong, or `*`).
fn matches_etag(list: &str, etag: &HeaderValue) -> bool {
    let Ok(ours) = etag.to_str() else {
        return false;
    };
    list.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
}

/// The security headers of every dashboard answer.
fn protect(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path as FsPath, PathBuf};

    fn dashboard_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboard")
    }

    /// Every file under `dir` (relative, `/`-separated), skipping the tools that maintain the
    /// dashboard (shell scripts, READMEs): they are not served.
    fn walk(dir: &FsPath, base: &FsPath, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read dashboard dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, base, out);
                continue;
            }
            let rel = path
                .strip_prefix(base)
                .expect("under base")
                .to_string_lossy()
                .replace('\\', "/");
            if !(rel.ends_with(".sh") || rel.ends_with(".md")) {
                out.push(rel);
            }
        }
    }

    #[test]
    fn every_dashboard_file_is_embedded_and_nothing_else() {
        let dir = dashboard_dir();
        let mut on_disk = Vec::new();
        walk(&dir, &dir, &mut on_disk);
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "the ASSETS list in dashboard.rs must name every file under dashboard/"
        );
    }

    /// Every relative module a dashboard script imports (statically or with `import()`) is
    /// embedded: a missing one would only show as a broken page in a browser.
    #[test]
    fn every_imported_module_is_embedded() {
        let files = files();
        let mut checked = 0;
        for asset in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).expect("utf-8");
            let dir = asset.path.rsplit_once('/').map_or("", |(d, _)| d);
            for spec in imported_paths(text) {
                let target = join(dir, &spec);
                assert!(
                    files.contains_key(target.as_str()),
                    "{} imports {spec} ({target}), which is not embedded",
                    asset.path
                );
                checked += 1;
            }
        }
        assert!(checked > 30, "the scan found only {checked} imports");
    }

    /// The `'./x.js'` / `'../x.js'` specifiers after `from` or `import(` in a script.
    fn imported_paths(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for marker in ["from '", "import('", "from \"", "import(\""] {
            let mut rest = text;
            while let Some(i) = rest.find(marker) {
                rest = &rest[i + marker.len()..];
                let quote = marker.as_bytes()[marker.len() - 1] as char;
                if let Some(end) = rest.find(quote) {
                    let spec = &rest[..end];
                    if spec.starts_with("./") || spec.starts_with("../") {
                        out.push(spec.to_string());
                    }
                }
            }
        }
        out
    }

    /// Resolves a relative specifier against a directory of `/`-separated segments.
    fn join(dir: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
        for seg in spec.split('/') {
            match seg {
                "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    }

    #[test]
    fn index_loads_only_files_of_this_origin_and_no_inline_script() {
        let index = std::str::from_utf8(files()[""].bytes).expect("utf-8");
        assert!(
            !index.contains("<script>"),
            "inline scripts are refused by the CSP"
        );
        assert!(
            !index.contains("style="),
            "inline styles are refused by the CSP"
        );
        assert!(!index.contains("http://") && !index.contains("https://"));
    }

    #[test]
    fn etags_differ_by_content_and_match_weak_forms() {
        let a = etag(b"one");
        let b = etag(b"two");
        assert_ne!(a, b);
        let strong = a.to_str().expect("ascii").to_string();
        assert!(matches_etag(&strong, &a));
        assert!(matches_etag(&format!("\"x\", W/{strong}"), &a));
        assert!(matches_etag("*", &a));
        assert!(!matches_etag("\"other\"", &a));
    }
}
