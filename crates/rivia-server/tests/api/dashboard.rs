//! The admin dashboard's files at `/_/` (issue #20): served from the binary with their
//! content types, a strict Content-Security-Policy, `nosniff`, and ETags that let a browser
//! revalidate without downloading again. The pages themselves are driven in a real browser
//! by `conformance/dashboard/` (Selenium + headless Chromium).

use crate::both_backends;
use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{Request, StatusCode};

both_backends!(
    the_page_is_served_with_a_strict_policy,
    each_file_has_its_content_type,
    a_current_copy_is_not_sent_again,
    unknown_files_and_parent_paths_are_not_found,
    the_bare_prefix_redirects_to_the_page,
);
both_backends!(
    settings(|s| s.dashboard = false),
    switched_off_it_is_not_served
);

/// A GET as a browser sends it (it asks for HTML first, which the API itself would refuse
/// with 406).
async fn browser_get(
    app: &TestApp,
    path: &str,
    if_none_match: Option<&str>,
) -> crate::helpers::Response {
    let mut req = Request::builder().method("GET").uri(path).header(
        "accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp",
    );
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    app.send(req.body(Body::empty()).expect("request")).await
}

async fn the_page_is_served_with_a_strict_policy(app: TestApp) {
    let r = browser_get(&app, "/_/", None).await;
    r.expect(StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let page = r.body.as_str().expect("html text");
    assert!(page.contains(r#"<script type="module" src="js/main.js"></script>"#));
    let csp = r.header("content-security-policy").expect("csp");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(
        !csp.contains("unsafe"),
        "no unsafe-inline or unsafe-eval: {csp}"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(r.header("etag").is_some_and(|t| t.starts_with('"')));
}

async fn each_file_has_its_content_type(app: TestApp) {
    for (path, content_type) in [
        ("/_/js/main.js", "text/javascript; charset=utf-8"),
        ("/_/js/pages/objects.js", "text/javascript; charset=utf-8"),
        ("/_/app.css", "text/css; charset=utf-8"),
        ("/_/icon.svg", "image/svg+xml"),
        (
            "/_/vendor/highlight/core.min.js",
            "text/javascript; charset=utf-8",
        ),
        ("/_/vendor/highlight/LICENSE", "text/plain; charset=utf-8"),
    ] {
        let r = browser_get(&app, path, None).await;
        r.expect(StatusCode::OK);
        assert_eq!(r.header("content-type"), Some(content_type), "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert!(r.header("content-security-policy").is_some(), "{path}");
    }
}

async fn a_current_copy_is_not_sent_again(app: TestApp) {
    let first = browser_get(&app, "/_/js/api.js", None).await;
    let tag = first.header("etag").expect("etag").to_string();
    let again = browser_get(&app, "/_/js/api.js", Some(&tag)).await;
    again.expect(StatusCode::NOT_MODIFIED);
    assert_eq!(again.body, serde_json::Value::Null, "304 has no body");
    assert_eq!(again.header("etag"), Some(tag.as_str()));
    // Another file's tag does not match: the file is sent.
    let other = browser_get(&app, "/_/js/ui.js", Some(&tag)).await;
    other.expect(StatusCode::OK);
    assert_ne!(other.header("etag"), Some(tag.as_str()));
}

async fn unknown_files_and_parent_paths_are_not_found(app: TestApp) {
    for path in [
        "/_/nope.js",
        "/_/js/",
        "/_/../v1.1/",
        "/_/js/../index.html",
        "/_/%2e%2e/Cargo.toml",
        "/_/vendor/update.sh",
    ] {
        let r = browser_get(&app, path, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
}

async fn the_bare_prefix_redirects_to_the_page(app: TestApp) {
    let r = browser_get(&app, "/_", None).await;
    r.expect(StatusCode::PERMANENT_REDIRECT);
    assert_eq!(r.header("location"), Some("/_/"));
}

async fn switched_off_it_is_not_served(app: TestApp) {
    let r = app.call("GET", "/_/", &[], None).await;
    assert_eq!(
        r.expect_json(StatusCode::NOT_FOUND),
        serde_json::json!({"detail": "Not found."})
    );
    // The API is unaffected.
    app.call("GET", "/v1.1/", &[], None)
        .await
        .expect(StatusCode::OK);
}
