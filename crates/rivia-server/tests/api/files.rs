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
    file_urls_are_absolute_with_the_request_host_everywhere,
    a_malformed_host_is_not_put_into_file_urls,
    channel_change_payloads_carry_absolute_file_urls,
);
both_backends!(
    settings(|s| s.public_url = Some("https://api.example.com/rivia".into())),
    file_urls_start_with_the_configured_public_url,
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

/// The `/media/…` path of an absolute file URL.
fn media_path(url: &str) -> &str {
    url.find("/media/")
        .map(|i| &url[i..])
        .expect("a /media/ URL")
}

/// Where a `/media/` URL's file lives on disk.
fn on_disk(app: &TestApp, url: &str) -> PathBuf {
    app.dir
        .0
        .join("files")
        .join(media_path(url).trim_start_matches("/media/"))
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
    // Absolute, as the platform's file storage answered (it used to be a relative
    // `/media/…`, which clients could not download as it was); without a `Host` header
    // (an in-process request) the host reads as localhost.
    assert!(
        url.starts_with("http://localhost/media/") && url.ends_with(".txt"),
        "{url}"
    );
    let served = app.call("GET", media_path(&url), &[], None).await;
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

/// As [`uploaded`], with a `Host` header on the upload: (admin key, the object's JSON).
async fn uploaded_via(app: &TestApp, host: &str) -> (String, Value) {
    let key = setup(app).await;
    make_class(
        app,
        &key,
        json!({"name": "docs", "schema": [{"name": "file", "type": "file"}]}),
    )
    .await;
    let (ct, body) = multipart("file", "a.txt", b"a", &[]);
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(objects("docs"))
        .header("x-api-key", &key)
        .header("host", host)
        .header("content-type", ct)
        .body(axum::body::Body::from(body))
        .expect("request");
    (
        key.clone(),
        app.send(req).await.expect_json(StatusCode::CREATED),
    )
}

/// GET `url` as `key` with a `Host` header.
async fn get_via(app: &TestApp, key: &str, host: &str, url: &str) -> Value {
    let headers = [("x-api-key", key), ("host", host)];
    app.call("GET", url, &headers, None)
        .await
        .expect_json(StatusCode::OK)
}

async fn file_urls_are_absolute_with_the_request_host_everywhere(app: TestApp) {
    let host = "files.example:8443";
    let (key, created) = uploaded_via(&app, host).await;
    let prefix = format!("http://{host}/media/");
    let created_url = file_url(&created);
    assert!(created_url.starts_with(&prefix), "create: {created_url}");
    let one = get_via(&app, &key, host, &object("docs", &created["id"])).await;
    assert_eq!(file_url(&one), created_url, "detail");
    let list = get_via(&app, &key, host, &objects("docs")).await;
    assert_eq!(file_url(&list["objects"][0]), created_url, "list");
    let batch = json!({"requests": [{"method": "GET", "path": object("docs", &created["id"])}]});
    let headers = [("x-api-key", key.as_str()), ("host", host)];
    let b = app
        .call(
            "POST",
            "/v1.1/instances/objects-inst/batch/",
            &headers,
            Some(batch),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(file_url(&b[0]["content"]), created_url, "batch");
    // Another host sees its own host: the URL is built per request, not stored.
    let other = get_via(&app, &key, "other.example", &object("docs", &created["id"])).await;
    assert!(file_url(&other).starts_with("http://other.example/media/"));
    // The absolute URL downloads the file and copies it into another object.
    let served = app.call("GET", media_path(&created_url), &[], None).await;
    assert_eq!(served.expect_json(StatusCode::OK), json!("a"));
    let copy = create(&app, &key, "docs", json!({"file": created_url})).await;
    assert!(file_url(&copy).starts_with("http://localhost/media/"));
}

async fn a_malformed_host_is_not_put_into_file_urls(app: TestApp) {
    let (key, created) = uploaded_via(&app, "good.example").await;
    let url = object("docs", &created["id"]);
    let one = get_via(&app, &key, "evil.example/x?", &url).await;
    assert!(
        file_url(&one).starts_with("http://localhost/media/"),
        "{}",
        file_url(&one)
    );
}

async fn file_urls_start_with_the_configured_public_url(app: TestApp) {
    let (key, created) = uploaded_via(&app, "internal:8080").await;
    let url = file_url(&created);
    assert!(
        url.starts_with("https://api.example.com/rivia/media/"),
        "{url}"
    );
    let one = get_via(&app, &key, "internal:8080", &object("docs", &created["id"])).await;
    assert_eq!(file_url(&one), url);
}

async fn channel_change_payloads_carry_absolute_file_urls(app: TestApp) {
    let key = setup(&app).await;
    let base = "/v1.1/instances/objects-inst";
    let channel = json!({"name": "feed", "other_permissions": "subscribe"});
    app.as_key(&key, "POST", &format!("{base}/channels/"), Some(channel))
        .await
        .expect(StatusCode::CREATED);
    make_class(
        &app,
        &key,
        json!({"name": "docs", "schema": [{"name": "file", "type": "file"}]}),
    )
    .await;
    let (ct, body) = multipart("file", "a.txt", b"a", &[("channel", "feed")]);
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(objects("docs"))
        .header("x-api-key", &key)
        .header("host", "files.example")
        .header("content-type", ct)
        .body(axum::body::Body::from(body))
        .expect("request");
    let created = app.send(req).await.expect_json(StatusCode::CREATED);
    let history = get_via(
        &app,
        &key,
        "files.example",
        &format!("{base}/channels/feed/history/"),
    )
    .await;
    let payload = &history["objects"][0]["payload"];
    assert_eq!(file_url(payload), file_url(&created));
    assert!(
        file_url(payload).starts_with("http://files.example/media/"),
        "{payload}"
    );
}
