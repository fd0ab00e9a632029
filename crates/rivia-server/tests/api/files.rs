//! File fields (spec-core §9.4): multipart upload, serving under /media/, copy by URL,
//! and removal of replaced or deleted files.

use crate::both_backends;
use crate::helpers::{Response, TestApp};
use crate::objects_common::{create, create_err, make_class, object, objects, setup};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;

both_backends!(
    upload_stores_the_file_and_serves_it,
    file_url_copies_into_another_object,
    uploading_a_new_file_removes_the_replaced_one,
    full_update_without_the_field_deletes_the_file,
    file_url_from_elsewhere_is_refused,
    file_extension_is_limited_to_16_characters,
    deleting_an_object_removes_its_file,
);

fn multipart(
    field: &str,
    filename: &str,
    content: &[u8],
    extra: &[(&str, &str)],
) -> (String, Vec<u8>) {
    let boundary = "XyZbOuNdArY";
    let mut body = Vec::new();
    for (k, v) in extra {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn send_multipart(
    app: &TestApp,
    key: &str,
    method: &str,
    url: &str,
    ct: String,
    body: Vec<u8>,
) -> Response {
    let req = axum::http::Request::builder()
        .method(method)
        .uri(url)
        .header("x-api-key", key)
        .header("content-type", ct)
        .body(axum::body::Body::from(body))
        .expect("request");
    app.send(req).await
}

/// Where a `/media/` URL's file lives on disk.
fn on_disk(app: &TestApp, url: &str) -> PathBuf {
    app.dir
        .0
        .join("files")
        .join(url.trim_start_matches("/media/"))
}

fn file_url(body: &Value) -> String {
    body["file"]["value"].as_str().expect("url").to_string()
}

/// Class `docs` (a file and an integer) and one object uploaded into it with
/// `Hello.TXT`: (admin key, the object's JSON).
async fn uploaded(app: &TestApp) -> (String, Value) {
    let key = setup(app).await;
    make_class(app, &key, json!({"name": "docs", "schema": [{"name": "file", "type": "file"}, {"name": "n", "type": "integer"}]})).await;
    let (ct, body) = multipart("file", "Hello.TXT", b"hello world", &[("n", "4")]);
    let r = send_multipart(app, &key, "POST", &objects("docs"), ct, body).await;
    (key, r.expect_json(StatusCode::CREATED))
}

/// A copy of the uploaded file in a second object, by URL: (admin key, first, copy).
async fn copied(app: &TestApp) -> (String, Value, Value) {
    let (key, first) = uploaded(app).await;
    let copy = create(app, &key, "docs", json!({"file": file_url(&first)})).await;
    (key, first, copy)
}

async fn upload_stores_the_file_and_serves_it(app: TestApp) {
    let (_, r) = uploaded(&app).await;
    assert_eq!(r["n"], 4);
    assert_eq!(r["file"]["type"], "file");
    let url = file_url(&r);
    assert!(url.starts_with("/media/") && url.ends_with(".txt"), "{url}");
    let served = app.call("GET", &url, &[], None).await;
    assert_eq!(served.expect_json(StatusCode::OK), json!("hello world"));
    assert!(on_disk(&app, &url).exists());
}

async fn file_url_copies_into_another_object(app: TestApp) {
    let (_, first, copy) = copied(&app).await;
    assert_ne!(file_url(&copy), file_url(&first));
}

async fn uploading_a_new_file_removes_the_replaced_one(app: TestApp) {
    let (key, first, _) = copied(&app).await;
    let (ct, body) = multipart("file", "two.bin", b"second", &[]);
    let url = object("docs", &first["id"]);
    let r2 = send_multipart(&app, &key, "PATCH", &url, ct, body).await;
    r2.expect(StatusCode::OK);
    assert!(
        !on_disk(&app, &file_url(&first)).exists(),
        "replaced file removed"
    );
}

async fn full_update_without_the_field_deletes_the_file(app: TestApp) {
    let (key, first, _) = copied(&app).await;
    let (ct, body) = multipart("file", "two.bin", b"second", &[]);
    let url = object("docs", &first["id"]);
    let r2 = send_multipart(&app, &key, "PATCH", &url, ct, body).await;
    let new_url = file_url(&r2.expect_json(StatusCode::OK));
    let r3 = app.as_key(&key, "POST", &url, Some(json!({}))).await;
    assert_eq!(r3.body["file"], Value::Null);
    assert!(!on_disk(&app, &new_url).exists());
}

async fn file_url_from_elsewhere_is_refused(app: TestApp) {
    let (key, _) = uploaded(&app).await;
    let bad = create_err(
        &app,
        &key,
        "docs",
        json!({"file": "https://elsewhere.example/x.png"}),
    )
    .await;
    assert_eq!(bad, json!({"file": ["File URL is invalid."]}));
}

async fn file_extension_is_limited_to_16_characters(app: TestApp) {
    let (key, _) = uploaded(&app).await;
    let (ct, body) = multipart("file", "x.abcdefghijklmnopq", b"x", &[]);
    let r = send_multipart(&app, &key, "POST", &objects("docs"), ct, body).await;
    assert_eq!(
        r.body,
        json!({"file": ["File provided has too long extension. Max 16 characters."]})
    );
}

async fn deleting_an_object_removes_its_file(app: TestApp) {
    let (key, _, copy) = copied(&app).await;
    app.as_key(&key, "DELETE", &object("docs", &copy["id"]), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    assert!(!on_disk(&app, &file_url(&copy)).exists());
}
