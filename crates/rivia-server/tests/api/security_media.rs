//! Issue #13 §1: uploaded files never run as pages in the API's origin. Every `/media/`
//! answer says `nosniff` and `Content-Security-Policy: sandbox`; active types download.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::objects_common::{make_class, objects, setup};
use axum::http::StatusCode;
use serde_json::json;

both_backends!(active_uploads_download_sandboxed_and_passive_ones_display);

async fn upload(app: &TestApp, key: &str, filename: &str, content: &[u8]) -> String {
    let boundary = "XyZbOuNdArY";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: text/html\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(objects("docs"))
        .header("x-api-key", key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(axum::body::Body::from(body))
        .expect("request");
    let r = app.send(req).await.expect_json(StatusCode::CREATED);
    r["file"]["value"].as_str().expect("url").to_string()
}

async fn active_uploads_download_sandboxed_and_passive_ones_display(app: TestApp) {
    let key = setup(&app).await;
    make_class(
        &app,
        &key,
        json!({"name": "docs", "schema": [{"name": "file", "type": "file"}]}),
    )
    .await;
    let script = b"<script>alert(document.cookie)</script>";
    let cases = [
        ("x.html", true),
        ("x.htm", true),
        ("x.svg", true),
        ("x.xml", true),
        ("x.js", true),
        ("x.pdf", true),
        ("noext", true),
        ("x.png", false),
        ("x.jpg", false),
        ("x.txt", false),
    ];
    for (name, active) in cases {
        let url = upload(&app, &key, name, script).await;
        let r = app.call("GET", &url, &[], None).await;
        r.expect(StatusCode::OK);
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{name}"
        );
        assert_eq!(
            r.header("content-security-policy"),
            Some("sandbox"),
            "{name}"
        );
        let disposition = r.header("content-disposition");
        if active {
            assert_eq!(disposition, Some("attachment"), "{name}");
        } else {
            assert_eq!(disposition, None, "{name}");
        }
    }
}
