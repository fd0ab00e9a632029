//! Concurrent writes: creates that share a commit (SQLite group commit, PostgreSQL
//! pipelined transactions) land or fail one by one, never taking their neighbours along.

use crate::both_backends;
use crate::helpers::{Response, TestApp, store_user};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

both_backends!(concurrent_creates_fail_alone);

const INST: &str = "writes-inst";
const OBJECTS: &str = "/v1.1/instances/writes-inst/classes/burst/objects/";

/// What a request of the burst is meant to do.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A valid object with a code of its own.
    Lands,
    /// Reuses the code `dup`: exactly one of these may land.
    Duplicate,
    /// References a missing object: refused inside its transaction, after a statement ran.
    BadReference,
    /// Fails schema validation before any transaction.
    Invalid,
}

fn kind(i: usize) -> Kind {
    match i % 6 {
        1 => Kind::Duplicate,
        3 => Kind::BadReference,
        5 => Kind::Invalid,
        _ => Kind::Lands,
    }
}

fn body(i: usize) -> Value {
    match kind(i) {
        Kind::Lands => json!({"code": format!("c{i}"), "n": i}),
        Kind::Duplicate => json!({"code": "dup", "n": i}),
        Kind::BadReference => json!({"code": format!("r{i}"), "n": i, "ref": 999_999}),
        Kind::Invalid => json!({"code": format!("v{i}"), "n": "not a number"}),
    }
}

/// Instance `writes-inst` with class `burst` (a unique code, a number, a reference to
/// itself; others may create), a plain key and user `writer`:
/// (admin key, API key, user id, user key).
async fn burst_class(app: &TestApp) -> (String, String, i64, String) {
    let admin = app.admin_with_instance(INST).await;
    let schema = json!([
        {"name": "code", "type": "string", "unique": true},
        {"name": "n", "type": "integer"},
        {"name": "ref", "type": "reference", "target": "self"},
    ]);
    app.as_key(
        &admin,
        "POST",
        &format!("/v1.1/instances/{INST}/classes/"),
        Some(json!({"name": "burst", "schema": schema, "other_permissions": "create_objects"})),
    )
    .await
    .expect(StatusCode::CREATED);
    let api_key = app.api_key(&admin, INST, json!({})).await;
    let (user_id, user_key) = store_user(app, INST, "writer").await;
    (admin, api_key, user_id, user_key)
}

/// Checks each answer against what its request meant to do; returns the ids that landed.
fn check_answers(responses: &[(usize, Response)], user_id: i64) -> BTreeSet<i64> {
    let mut landed = BTreeSet::new();
    let mut duplicates_landed = 0;
    for (i, r) in responses {
        match (kind(*i), r.status) {
            (Kind::Lands, StatusCode::CREATED) => {}
            (Kind::Duplicate, StatusCode::CREATED) => duplicates_landed += 1,
            (Kind::Duplicate, StatusCode::BAD_REQUEST) => {
                assert_eq!(r.body, json!({"code": ["This field must be unique."]}));
                continue;
            }
            (Kind::BadReference, StatusCode::BAD_REQUEST) => {
                assert_eq!(
                    r.body,
                    json!({"ref": ["Target with specified id does not exist."]})
                );
                continue;
            }
            (Kind::Invalid, StatusCode::BAD_REQUEST) => {
                assert!(r.body.get("n").is_some(), "{:?}", r.body);
                continue;
            }
            (k, status) => panic!("request {i} ({k:?}) answered {status}: {:?}", r.body),
        }
        assert_eq!(r.body["owner"], json!(user_id));
        let id = r.body["id"].as_i64().expect("id");
        assert!(landed.insert(id), "id {id} handed out twice");
    }
    assert_eq!(duplicates_landed, 1, "exactly one `dup` lands");
    landed
}

/// Every acknowledged object is there with its values; nothing else was written.
async fn check_stored(
    app: &TestApp,
    admin: &str,
    responses: &[(usize, Response)],
    landed: &BTreeSet<i64>,
) {
    let list = app
        .as_key(admin, "GET", &format!("{OBJECTS}?page_size=500"), None)
        .await;
    let listed: BTreeSet<i64> = list.body["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| o["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(&listed, landed);
    for (_, r) in responses
        .iter()
        .filter(|(_, r)| r.status == StatusCode::CREATED)
    {
        let id = &r.body["id"];
        let got = app
            .as_key(admin, "GET", &format!("{OBJECTS}{id}/"), None)
            .await;
        assert_eq!(got.body["code"], r.body["code"]);
        assert_eq!(got.body["n"], r.body["n"]);
    }
    let class = app
        .as_key(
            admin,
            "GET",
            &format!("/v1.1/instances/{INST}/classes/burst/"),
            None,
        )
        .await;
    assert_eq!(class.body["objects_count"], json!(landed.len()));
}

async fn concurrent_creates_fail_alone(app: TestApp) {
    let (admin, api_key, user_id, user_key) = burst_class(&app).await;
    // All requests in flight at once, as users (class gate and owner rules run).
    let total = 120;
    let responses = futures_util::future::join_all((0..total).map(|i| {
        let (app, api_key, user_key) = (&app, &api_key, &user_key);
        async move {
            let r = app
                .as_user(api_key, user_key, "POST", OBJECTS, Some(body(i)))
                .await;
            (i, r)
        }
    }))
    .await;
    let landed = check_answers(&responses, user_id);
    let expected = (0..total).filter(|i| kind(*i) == Kind::Lands).count() + 1;
    assert_eq!(landed.len(), expected);
    check_stored(&app, &admin, &responses, &landed).await;
    // The server keeps writing normally afterwards.
    let after = app
        .as_user(
            &api_key,
            &user_key,
            "POST",
            OBJECTS,
            Some(json!({"code": "after", "n": 1})),
        )
        .await;
    after.expect(StatusCode::CREATED);
}
