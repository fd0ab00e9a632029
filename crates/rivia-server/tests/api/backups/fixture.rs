//! The backup tests' fixture: an instance with one of everything a backup covers, job
//! polling, and what an app sees of an instance (to compare a restored copy with its
//! original). `backups_cli` uses it too.

use crate::helpers::{Response, TestApp};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

pub const SRC: &str = "source-inst";

pub(crate) fn base(inst: &str) -> String {
    format!("/v1.1/instances/{inst}")
}

/// Multipart body with one file field.
pub fn multipart(field: &str, filename: &str, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = "BaCkUpBoUnDaRy";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub async fn send_multipart(
    app: &TestApp,
    key: &str,
    url: &str,
    (ct, body): (String, Vec<u8>),
) -> Response {
    let req = axum::http::Request::builder()
        .method("POST")
        .uri(url)
        .header("x-api-key", key)
        .header("content-type", ct)
        .body(axum::body::Body::from(body))
        .expect("request");
    app.send(req).await
}

/// Fills an instance with one of everything a backup covers; returns its API key.
pub async fn populate(app: &TestApp, key: &str, inst: &str) -> String {
    let b = base(inst);
    let schema = json!([
        {"name": "title", "type": "string", "filter_index": true, "order_index": true},
        {"name": "n", "type": "integer"},
        {"name": "doc", "type": "file"},
        {"name": "meta", "type": "object"}
    ]);
    app.as_key(
        key,
        "POST",
        &format!("{b}/classes/"),
        Some(json!({"name": "docs", "schema": schema, "description": "Docs ü"})),
    )
    .await
    .expect(StatusCode::CREATED);
    for i in 0..5 {
        app.as_key(
            key,
            "POST",
            &format!("{b}/classes/docs/objects/"),
            Some(
                json!({"title": format!("t{i}"), "n": i * 100_000_007i64, "meta": {"k": [i, "é"]}}),
            ),
        )
        .await
        .expect(StatusCode::CREATED);
    }
    let upload = multipart("doc", "Report.TXT", b"file body \x00\xff bytes");
    send_multipart(app, key, &format!("{b}/classes/docs/objects/"), upload)
        .await
        .expect(StatusCode::CREATED);
    let api_key = app
        .api_key(
            key,
            inst,
            json!({"description": "app key", "allow_user_create": true, "ignore_acl": true}),
        )
        .await;
    let user = app
        .as_key(
            &api_key,
            "POST",
            &format!("{b}/users/"),
            Some(json!({"username": "alice", "password": "s3cret"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    let group = app
        .as_key(
            key,
            "POST",
            &format!("{b}/groups/"),
            Some(json!({"label": "editors", "name": "editors"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    app.as_key(
        key,
        "POST",
        &format!("{b}/groups/{}/users/", group["id"]),
        Some(json!({"user": user["id"]})),
    )
    .await
    .expect(StatusCode::CREATED);
    app.as_key(
        key,
        "POST",
        &format!("{b}/channels/"),
        Some(json!({"name": "news", "custom_publish": true})),
    )
    .await
    .expect(StatusCode::CREATED);
    app.as_key(
        key,
        "POST",
        &format!("{b}/channels/news/publish/"),
        Some(json!({"payload": {"hello": "world"}})),
    )
    .await
    .expect(StatusCode::CREATED);
    app.as_key(
        key,
        "POST",
        &format!("{b}/snippets/scripts/"),
        Some(json!({"runtime_name": "python", "source": "print('hi')", "label": "hello"})),
    )
    .await
    .expect(StatusCode::CREATED);
    app.as_key(
        key,
        "PUT",
        &format!("{b}/snippets/config/"),
        Some(json!({"config": {"answer": 42}})),
    )
    .await
    .expect(StatusCode::OK);
    api_key
}

/// Polls a job's URL until it leaves scheduled/running; returns its last JSON.
pub async fn finished(app: &TestApp, key: &str, url: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let body = app
            .as_key(key, "GET", url, None)
            .await
            .expect_json(StatusCode::OK);
        let status = body["status"].as_str().unwrap_or_default().to_string();
        if !["scheduled", "running", "uploading"].contains(&status.as_str()) {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{url} still {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A finished, successful backup of `inst`: its JSON.
pub async fn backup(app: &TestApp, key: &str, inst: &str) -> Value {
    let created = app
        .as_key(
            key,
            "POST",
            &format!("{}/backups/full/", base(inst)),
            Some(json!({"label": "nightly", "description": "d"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    assert_eq!(created["status"], "scheduled");
    assert_eq!(created["instance"], inst);
    let url = format!("{}/backups/full/{}/", base(inst), created["id"]);
    let done = finished(app, key, &url).await;
    assert_eq!(done["status"], "success", "{done}");
    done
}

pub(crate) async fn restore_from(app: &TestApp, key: &str, inst: &str, body: Value) -> Value {
    let created = app
        .as_key(
            key,
            "POST",
            &format!("{}/restores/", base(inst)),
            Some(body),
        )
        .await
        .expect_json(StatusCode::CREATED);
    finished(app, key, created["links"]["self"].as_str().expect("self")).await
}

/// The parts of an instance an app sees (see [`scrub`] for what is left out).
pub(crate) async fn visible_state(app: &TestApp, key: &str, inst: &str) -> Value {
    let b = base(inst);
    let mut out = serde_json::Map::new();
    for (name, path) in [
        ("classes", "/classes/"),
        ("objects", "/classes/docs/objects/?order_by=id"),
        ("users", "/users/"),
        ("groups", "/groups/"),
        ("channels", "/channels/"),
        ("history", "/channels/news/history/"),
        ("scripts", "/snippets/scripts/"),
        ("config", "/snippets/config/"),
    ] {
        let body = app
            .as_key(key, "GET", &format!("{b}{path}"), None)
            .await
            .expect_json(StatusCode::OK);
        out.insert(name.into(), scrub(&body, inst));
    }
    Value::Object(out)
}

/// Instance names, file URLs, and user keys (a copy within one database gets fresh ones:
/// the originals are still in use) are left out.
pub(crate) fn scrub(v: &Value, inst: &str) -> Value {
    match v {
        Value::Object(m) if m.contains_key("user_key") => {
            let kept = m.iter().filter(|(k, _)| *k != "user_key");
            scrub(
                &Value::Object(kept.map(|(k, x)| (k.clone(), x.clone())).collect()),
                inst,
            )
        }
        Value::String(s) if s.contains("/media/") => json!("<file url>"),
        Value::String(s) => Value::String(s.replace(inst, "<inst>")),
        Value::Array(a) => Value::Array(a.iter().map(|x| scrub(x, inst)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), scrub(x, inst))).collect())
        }
        other => other.clone(),
    }
}

pub(crate) async fn file_bytes(app: &TestApp, key: &str, inst: &str) -> Vec<u8> {
    let objects = app
        .as_key(
            key,
            "GET",
            &format!("{}/classes/docs/objects/?order_by=id", base(inst)),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    let url = objects["objects"]
        .as_array()
        .and_then(|l| l.iter().find_map(|o| o["doc"]["value"].as_str()))
        .expect("an object with a file")
        .to_string();
    let path = &url[url.find("/media/").expect("media")..];
    let resp = app
        .call("GET", path, &[], None)
        .await
        .expect_json(StatusCode::OK);
    match resp {
        Value::String(s) => s.into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

/// Where a finished backup's archive is on disk.
pub async fn archive_path(app: &TestApp, backup: &Value) -> std::path::PathBuf {
    let id = backup["id"].as_i64().expect("id");
    let stored = app.store.backup(id).await.expect("db").expect("backup");
    app.dir.0.join(stored.archive.expect("archive"))
}
