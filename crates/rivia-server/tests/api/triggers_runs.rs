//! Trigger runs (spec-scripts §8): after a committed create, update or delete through the
//! objects API, `batch/` or `users/`, the trigger's script runs with the object as ARGS and
//! the event in META; one final trace per change. The runs are real (python3).

use crate::both_backends;
use crate::helpers::TestApp;
use crate::triggers::{TRIGGERS, setup};
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

both_backends!(
    create_update_and_delete_run_their_triggers_with_args_and_meta,
    batch_writes_fire_triggers_like_single_writes,
    users_writes_fire_user_profile_triggers,
    a_failing_script_does_not_block_later_triggers,
    a_rolled_back_write_runs_nothing,
    a_deleted_trigger_runs_no_more,
);

/// A script that prints its ARGS and META as JSON.
const ECHO: &str = "import json\nprint(json.dumps({'args': ARGS, 'meta': META}))";

const DOGS: &str = "/v1.1/instances/trigs/classes/dog/objects/";

pub async fn trigger(app: &TestApp, admin: &str, signal: &str, class: &str, script: i64) -> i64 {
    let r = app
        .as_key(
            admin,
            "POST",
            TRIGGERS,
            Some(json!({"signal": signal, "class": class, "script": script})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    r["id"].as_i64().expect("id")
}

/// The traces of trigger `id` once there are `n` of them (at most 60 s), oldest first.
pub async fn traces(app: &TestApp, admin: &str, id: i64, n: usize) -> Vec<Value> {
    let url = format!("{TRIGGERS}{id}/traces/?page_size=100");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list = app
            .as_key(admin, "GET", &url, None)
            .await
            .expect_json(StatusCode::OK);
        let got: Vec<Value> = list["objects"].as_array().cloned().unwrap_or_default();
        if got.len() >= n {
            assert_eq!(got.len(), n, "more traces than changes: {got:?}");
            return got.into_iter().rev().collect();
        }
        assert!(
            Instant::now() < deadline,
            "trigger {id}: {} of {n} traces",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `{args, meta}` a trace of [`ECHO`] printed.
fn echoed(trace: &Value) -> Value {
    assert_eq!(trace["status"], "success", "{trace}");
    let stdout = trace["result"]["stdout"].as_str().unwrap_or_default();
    serde_json::from_str(stdout).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}

/// Waits until no job is left (a run that should not happen would have happened by then).
async fn settled(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.store.count_jobs("trigger").await.expect("db") > 0 {
        assert!(Instant::now() < deadline, "jobs left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create_update_and_delete_run_their_triggers_with_args_and_meta(app: TestApp) {
    let admin = setup(&app, ECHO).await;
    let on_create = trigger(&app, &admin, "post_create", "dog", 1).await;
    let on_update = trigger(&app, &admin, "post_update", "dog", 1).await;
    let on_delete = trigger(&app, &admin, "post_delete", "dog", 1).await;
    let dog = app
        .as_key(&admin, "POST", DOGS, Some(json!({"name": "Fluffy"})))
        .await
        .expect_json(StatusCode::CREATED);
    let created = echoed(&traces(&app, &admin, on_create, 1).await[0]);
    let mut expected = dog.clone();
    expected.as_object_mut().map(|o| o.shift_remove("links"));
    assert_eq!(created["args"], expected, "ARGS: the object without links");
    let meta = &created["meta"];
    assert_eq!(meta["executed_by"], "trigger");
    assert_eq!(meta["executor"], on_create);
    assert_eq!(
        meta["event"],
        json!({"source": "dataobject", "class": "dog"})
    );
    assert_eq!(meta["signal"], "create");
    assert_eq!(meta["changes"], Value::Null);
    assert_eq!(meta["instance"], "trigs");

    let url = format!("{DOGS}{}/", dog["id"]);
    let updated = app
        .as_key(&admin, "PATCH", &url, Some(json!({"name": "Rex"})))
        .await
        .expect_json(StatusCode::OK);
    let run = echoed(&traces(&app, &admin, on_update, 1).await[0]);
    assert_eq!(run["args"]["name"], "Rex");
    assert_eq!(run["args"]["revision"], updated["revision"]);
    assert_eq!(run["meta"]["signal"], "update");
    let mut changes: Vec<String> = run["meta"]["changes"]
        .as_array()
        .expect("changes on update")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    changes.sort();
    assert_eq!(changes, ["name", "revision", "updated_at"]);

    app.as_key(&admin, "DELETE", &url, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let run = echoed(&traces(&app, &admin, on_delete, 1).await[0]);
    assert_eq!(run["args"]["name"], "Rex", "the last state");
    assert_eq!(run["meta"]["signal"], "delete");
    assert_eq!(run["meta"]["changes"], Value::Null);
    // One trace per change and no more.
    settled(&app).await;
    traces(&app, &admin, on_create, 1).await;
    traces(&app, &admin, on_update, 1).await;
    let detail = app
        .as_key(
            &admin,
            "GET",
            &format!("{TRIGGERS}{on_delete}/traces/1/"),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        detail["links"]["self"],
        format!("/v1.1/instances/trigs/triggers/{on_delete}/traces/1/")
    );
    assert!(detail["duration"].as_i64().is_some());
}

async fn batch_writes_fire_triggers_like_single_writes(app: TestApp) {
    let admin = setup(&app, ECHO).await;
    let on_create = trigger(&app, &admin, "post_create", "dog", 1).await;
    let requests: Vec<Value> = (0..3)
        .map(|i| json!({"method": "POST", "path": DOGS, "body": {"name": format!("d{i}")}}))
        .collect();
    let r = app
        .as_key(
            &admin,
            "POST",
            "/v1.1/instances/trigs/batch/",
            Some(json!({ "requests": requests })),
        )
        .await
        .expect_json(StatusCode::OK);
    assert!(
        r.as_array()
            .is_some_and(|a| a.iter().all(|x| x["code"] == 201)),
        "{r}"
    );
    let mut names: Vec<String> = traces(&app, &admin, on_create, 3)
        .await
        .iter()
        .map(|t| {
            echoed(t)["args"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["d0", "d1", "d2"]);
}

async fn users_writes_fire_user_profile_triggers(app: TestApp) {
    let admin = setup(&app, ECHO).await;
    let on_create = trigger(&app, &admin, "post_create", "user_profile", 1).await;
    let on_update = trigger(&app, &admin, "post_update", "user_profile", 1).await;
    let on_delete = trigger(&app, &admin, "post_delete", "user_profile", 1).await;
    let users = "/v1.1/instances/trigs/users/";
    let user = app
        .as_key(
            &admin,
            "POST",
            users,
            Some(json!({"username": "fluffy", "password": "123"})),
        )
        .await
        .expect_json(StatusCode::CREATED);
    let run = echoed(&traces(&app, &admin, on_create, 1).await[0]);
    assert_eq!(
        run["args"]["id"], user["profile"]["id"],
        "ARGS: the profile"
    );
    assert_eq!(run["meta"]["event"]["class"], "user_profile");
    let url = format!("{users}{}/", user["id"]);
    app.as_key(&admin, "PATCH", &url, Some(json!({"username": "fluffy2"})))
        .await
        .expect(StatusCode::OK);
    let run = echoed(&traces(&app, &admin, on_update, 1).await[0]);
    assert_eq!(run["args"]["id"], user["profile"]["id"]);
    app.as_key(&admin, "DELETE", &url, None)
        .await
        .expect(StatusCode::NO_CONTENT);
    let run = echoed(&traces(&app, &admin, on_delete, 1).await[0]);
    assert_eq!(run["args"]["id"], user["profile"]["id"]);
}

async fn a_failing_script_does_not_block_later_triggers(app: TestApp) {
    let admin = setup(&app, "raise Exception('boom')").await;
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/trigs/snippets/scripts/",
        Some(json!({"runtime_name": "python3", "source": ECHO})),
    )
    .await
    .expect(StatusCode::CREATED);
    let failing = trigger(&app, &admin, "post_create", "dog", 1).await;
    let working = trigger(&app, &admin, "post_create", "dog", 2).await;
    for i in 0..3 {
        app.as_key(&admin, "POST", DOGS, Some(json!({"name": format!("d{i}")})))
            .await
            .expect(StatusCode::CREATED);
    }
    let failed = traces(&app, &admin, failing, 3).await;
    assert!(
        failed.iter().all(|t| t["status"] == "failure"),
        "{failed:?}"
    );
    assert!(
        failed[0]["result"]["stderr"]
            .as_str()
            .is_some_and(|s| s.contains("boom"))
    );
    let ran = traces(&app, &admin, working, 3).await;
    assert!(ran.iter().all(|t| t["status"] == "success"), "{ran:?}");
}

async fn a_rolled_back_write_runs_nothing(app: TestApp) {
    let admin = setup(&app, ECHO).await;
    // A unique field: the second create fails after its insert statement and rolls back.
    app.as_key(
        &admin,
        "POST",
        "/v1.1/instances/trigs/classes/",
        Some(
            json!({"name": "tag", "schema": [{"name": "code", "type": "string", "unique": true}]}),
        ),
    )
    .await
    .expect(StatusCode::CREATED);
    let on_create = trigger(&app, &admin, "post_create", "tag", 1).await;
    let tags = "/v1.1/instances/trigs/classes/tag/objects/";
    app.as_key(&admin, "POST", tags, Some(json!({"code": "a"})))
        .await
        .expect(StatusCode::CREATED);
    app.as_key(&admin, "POST", tags, Some(json!({"code": "a"})))
        .await
        .expect(StatusCode::BAD_REQUEST);
    settled(&app).await;
    let runs = traces(&app, &admin, on_create, 1).await;
    assert_eq!(echoed(&runs[0])["args"]["code"], "a");
}

async fn a_deleted_trigger_runs_no_more(app: TestApp) {
    let admin = setup(&app, ECHO).await;
    let on_create = trigger(&app, &admin, "post_create", "dog", 1).await;
    app.as_key(&admin, "POST", DOGS, Some(json!({"name": "a"})))
        .await
        .expect(StatusCode::CREATED);
    traces(&app, &admin, on_create, 1).await;
    app.as_key(&admin, "DELETE", &format!("{TRIGGERS}{on_create}/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.as_key(&admin, "POST", DOGS, Some(json!({"name": "b"})))
        .await
        .expect(StatusCode::CREATED);
    settled(&app).await;
    assert_eq!(app.store.count_jobs("trigger").await.expect("db"), 0);
    app.as_key(
        &admin,
        "GET",
        &format!("{TRIGGERS}{on_create}/traces/"),
        None,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}
