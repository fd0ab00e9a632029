//! A request that will be refused is answered before its body is read (issue #13 §2), over
//! real sockets: the client sends the head of a 10 MB upload and its first 64 KiB, and
//! the answer comes while it still holds the rest.
//!
//! When must the body be read first? Only when it may carry the credential that decides
//! (spec-core §2.2): `_api_key` when neither the headers nor the query carry a primary
//! key, `_user_key` when the primary key is an API key and no user key came outside the
//! body. A wrong key, an admin without a role that allows the write, or a user whose
//! class refuses it, all sent in headers, are refused at once; the last tests show that a
//! key in the body still works.

use crate::both_backends;
use crate::client::serve;
use crate::helpers::{TestApp, store_user};
use crate::limits::{read_one_response, read_until_closed};
use crate::snippets_config::admin_with_role;
use axum::http::StatusCode;
use rivia_core::perms::Role;
use serde_json::json;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

both_backends!(
    wrong_keys_in_headers_are_refused_while_the_upload_is_still_being_sent,
    callers_without_the_right_are_refused_while_the_upload_is_still_being_sent,
    a_batch_with_a_wrong_key_is_refused_before_its_body,
    a_key_in_the_body_still_authenticates_an_upload,
);

const OBJECTS: &str = "/v1.1/instances/early/classes/docs/objects/";
/// What the uploads announce: under the 15 MB upload limit, so only a refusal ends them.
const ANNOUNCED: usize = 10 * 1024 * 1024;
const BOUNDARY: &str = "XyZbOuNdArY";

/// Instance `early` with class `docs` (a file field; other users may not create), its
/// owner's key.
async fn setup(app: &TestApp) -> String {
    let owner = app.admin_with_instance("early").await;
    app.as_key(
        &owner,
        "POST",
        "/v1.1/instances/early/classes/",
        Some(
            json!({"name": "docs", "schema": [{"name": "file", "type": "file"}],
                    "other_permissions": "none", "group_permissions": "none"}),
        ),
    )
    .await
    .expect(StatusCode::CREATED);
    owner
}

/// Sends the head of a 10 MB multipart upload to `path` with `headers`, then its first
/// 64 KiB, and reads the answer: an answer at all proves it came before the rest of the
/// body was sent. The connection is closed afterwards (the rest will not be read).
async fn answer_to_a_started_upload(app: &TestApp, path: &str, headers: &str) -> String {
    let client = serve(app).await;
    let mut stream = TcpStream::connect(client.addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\n{headers}\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {ANNOUNCED}\r\n\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    // The server may already have answered and closed: a failed write is not the test's
    // concern, the answer is.
    let _ = stream.write_all(&vec![b'x'; 64 * 1024]).await;
    let answer = read_one_response(&mut stream).await;
    let rest = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    answer
}

fn assert_refused(answer: &str, status: &str, detail: &str) {
    assert!(
        answer.starts_with(&format!("HTTP/1.1 {status}")),
        "{answer}"
    );
    assert!(
        answer.ends_with(&format!(r#"{{"detail":"{detail}"}}"#)),
        "{answer}"
    );
}

async fn wrong_keys_in_headers_are_refused_while_the_upload_is_still_being_sent(app: TestApp) {
    setup(&app).await;
    let no_such_api_key = format!("{}1", "a".repeat(39));
    let no_such_admin = format!("{}2", "b".repeat(39));
    for headers in [
        format!("X-API-KEY: {no_such_api_key}\r\n"),
        format!("Authorization: token {no_such_admin}\r\n"),
        "X-API-KEY: not-a-key-at-all\r\n".to_string(),
    ] {
        let answer = answer_to_a_started_upload(&app, OBJECTS, &headers).await;
        assert_refused(&answer, "403", "No such API Key.");
    }
    // In the query too (it outranks the body as well).
    let path = format!("{OBJECTS}?api_key={no_such_api_key}");
    let answer = answer_to_a_started_upload(&app, &path, "").await;
    assert_refused(&answer, "403", "No such API Key.");
    // Unknown instance and class: 404 before authentication, and before the body.
    let answer =
        answer_to_a_started_upload(&app, "/v1.1/instances/early/classes/nope/objects/", "").await;
    assert_refused(&answer, "404", "Class was not found.");
}

async fn callers_without_the_right_are_refused_while_the_upload_is_still_being_sent(app: TestApp) {
    let owner = setup(&app).await;
    let reader = admin_with_role(&app, "early", Role::Read).await;
    let stranger = app.admin_with_instance("elsewhere").await;
    let api_key = app.api_key(&owner, "early", json!({})).await;
    let (_, user_key) = store_user(&app, "early", "alice").await;
    for (who, headers) in [
        ("a read admin", format!("X-API-KEY: {reader}\r\n")),
        (
            "another instance's owner",
            format!("X-API-KEY: {stranger}\r\n"),
        ),
        (
            "a user the class refuses",
            format!("X-API-KEY: {api_key}\r\nX-USER-KEY: {user_key}\r\n"),
        ),
    ] {
        let answer = answer_to_a_started_upload(&app, OBJECTS, &headers).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{who}: {answer}");
        assert!(
            answer.ends_with(r#"{"detail":"You do not have permission to perform this action."}"#),
            "{who}: {answer}"
        );
    }
}

async fn a_batch_with_a_wrong_key_is_refused_before_its_body(app: TestApp) {
    setup(&app).await;
    let client = serve(&app).await;
    let mut stream = TcpStream::connect(client.addr).await.expect("connect");
    let head = format!(
        "POST /v1.1/instances/early/batch/ HTTP/1.1\r\nHost: test\r\nX-API-KEY: {}1\r\n\
         Content-Type: application/json\r\nContent-Length: 4000000\r\n\r\n{{\"requests\": [",
        "c".repeat(39)
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let answer = read_one_response(&mut stream).await;
    assert_refused(&answer, "403", "No such API Key.");
}

/// Sends a whole multipart upload (a text field or two, then a small file) without any
/// key outside the body.
async fn upload_with_keys_in_body(app: &TestApp, headers: &str, fields: &[(&str, &str)]) -> String {
    let mut body = String::new();
    for (k, v) in fields {
        body.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    body.push_str(&format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nhello\r\n--{BOUNDARY}--\r\n"
    ));
    let client = serve(app).await;
    let mut stream = TcpStream::connect(client.addr).await.expect("connect");
    let request = format!(
        "POST {OBJECTS} HTTP/1.1\r\nHost: test\r\n{headers}\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    read_one_response(&mut stream).await
}

async fn a_key_in_the_body_still_authenticates_an_upload(app: TestApp) {
    let owner = setup(&app).await;
    // No key outside the body: the body is read for its `_api_key`.
    let answer = upload_with_keys_in_body(&app, "", &[("_api_key", &owner)]).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    // An API key in a header and the user's key in the body: the body is read for its
    // `_user_key`, and the upload is that user's object.
    let api_key = app.api_key(&owner, "early", json!({})).await;
    let (_, user_key) = store_user(&app, "early", "bob").await;
    let headers = format!("X-API-KEY: {api_key}\r\n");
    app.as_key(
        &owner,
        "PATCH",
        "/v1.1/instances/early/classes/docs/",
        Some(json!({"other_permissions": "create_objects"})),
    )
    .await
    .expect(StatusCode::OK);
    let answer = upload_with_keys_in_body(&app, &headers, &[("_user_key", &user_key)]).await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let owner_id = store_user_id(&app, "bob").await;
    assert!(
        answer.contains(&format!("\"owner\":{owner_id}")),
        "{answer}"
    );
}

async fn store_user_id(app: &TestApp, username: &str) -> i64 {
    let inst = app.stored_instance("early").await;
    app.store
        .user_by_username(inst.id, username)
        .await
        .expect("db")
        .expect("user")
        .id
}
