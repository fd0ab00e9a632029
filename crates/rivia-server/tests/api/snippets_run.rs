//! Running scripts and their traces (spec-scripts §2–§6): the `pending` answer, the final
//! trace, ARGS/CONFIG/META, timeouts, payload validation and size, trace lists and
//! retention. The runs are real: python3 in the bubblewrap sandbox.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

both_backends!(
    hello_world_run_answers_pending_then_succeeds_with_its_stdout,
    failing_script_ends_as_failure_with_its_traceback,
    script_config_timeout_ends_a_long_run_as_timeout,
    args_config_and_meta_reach_the_script,
    bad_payloads_get_the_platform_messages,
    oversized_run_body_is_413_before_authentication,
    traces_list_newest_first_and_hide_big_results,
    traces_of_an_unknown_script_are_404_before_authentication,
    deleting_a_script_deletes_its_traces,
    meta_token_acts_as_the_owner_in_its_instance_only_while_the_run_lasts,
);
both_backends!(
    settings(|s| s.scripts.retention.keep = 2),
    traces_list_keeps_only_the_newest_of_each_script,
);

const SCRIPTS: &str = "/v1.1/instances/runner/snippets/scripts/";

/// Instance `runner` with script 1 (python3, `source`): the admin key.
async fn script(app: &TestApp, source: &str, config: Value) -> String {
    let admin = app.admin_with_instance("runner").await;
    add_script(app, &admin, source, config).await;
    admin
}

async fn add_script(app: &TestApp, admin: &str, source: &str, config: Value) {
    app.as_key(
        admin,
        "POST",
        SCRIPTS,
        Some(json!({"runtime_name": "python3", "source": source, "config": config})),
    )
    .await
    .expect(StatusCode::CREATED);
}

async fn run(app: &TestApp, admin: &str, id: i64, body: Value) -> Value {
    app.as_key(admin, "POST", &format!("{SCRIPTS}{id}/run/"), Some(body))
        .await
        .expect_json(StatusCode::OK)
}

/// Polls a trace until it leaves `pending`/`processing` (at most 30 s).
async fn finished(app: &TestApp, admin: &str, script: i64, trace: &Value) -> Value {
    let url = format!("{SCRIPTS}{script}/traces/{}/", trace["id"]);
    final_trace(app, admin, &url, Duration::from_secs(30)).await
}

/// Polls the trace at `url` until it leaves `pending`/`processing`, failing after `within`.
pub(crate) async fn final_trace(app: &TestApp, admin: &str, url: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let t = app
            .as_key(admin, "GET", url, None)
            .await
            .expect_json(StatusCode::OK);
        if !matches!(t["status"].as_str(), Some("pending" | "processing")) {
            return t;
        }
        assert!(Instant::now() < deadline, "trace still {}", t["status"]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn hello_world_run_answers_pending_then_succeeds_with_its_stdout(app: TestApp) {
    let admin = script(&app, "print('hello world')", json!({})).await;
    let pending = run(&app, &admin, 1, json!({})).await;
    assert_eq!(
        pending,
        json!({"id": 1, "status": "pending", "executed_at": null, "duration": null, "result": {},
            "links": {"self": "/v1.1/instances/runner/snippets/scripts/1/traces/1/"}})
    );
    let t = finished(&app, &admin, 1, &pending).await;
    assert_eq!(t["status"], "success");
    assert_eq!(t["result"], json!({"stderr": "", "stdout": "hello world"}));
    assert!(t["duration"].as_i64().is_some_and(|d| d >= 0));
    assert!(t["executed_at"].as_str().is_some_and(|s| s.ends_with('Z')));
}

async fn failing_script_ends_as_failure_with_its_traceback(app: TestApp) {
    let admin = script(&app, "print('before')\n1/0", json!({})).await;
    let t = finished(&app, &admin, 1, &run(&app, &admin, 1, json!({})).await).await;
    assert_eq!(t["status"], "failure");
    assert_eq!(t["result"]["stdout"], "before");
    let stderr = t["result"]["stderr"].as_str().unwrap_or_default();
    assert!(stderr.contains("ZeroDivisionError"), "{stderr}");
}

async fn script_config_timeout_ends_a_long_run_as_timeout(app: TestApp) {
    let admin = script(&app, "import time\ntime.sleep(60)", json!({"timeout": 1})).await;
    let started = Instant::now();
    let t = finished(&app, &admin, 1, &run(&app, &admin, 1, json!({})).await).await;
    assert_eq!(t["status"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(15));
}

async fn args_config_and_meta_reach_the_script(app: TestApp) {
    let source = "import json\nprint(json.dumps([ARGS, CONFIG, META], sort_keys=True))";
    let admin = script(
        &app,
        source,
        json!({"mine": 1, "shared": "script", "timeout": 20, "allow_full_access": true}),
    )
    .await;
    app.as_key(
        &admin,
        "PUT",
        "/v1.1/instances/runner/snippets/config/",
        Some(json!({"config": {"shared": "instance", "only_instance": true}})),
    )
    .await
    .expect(StatusCode::OK);
    let t = finished(
        &app,
        &admin,
        1,
        &run(&app, &admin, 1, json!({"payload": "{\"x\": [1, 2]}"})).await,
    )
    .await;
    assert_eq!(t["status"], "success", "{t}");
    let seen: Value =
        serde_json::from_str(t["result"]["stdout"].as_str().unwrap_or_default()).expect("json");
    assert_eq!(seen[0], json!({"x": [1, 2]}));
    assert_eq!(
        seen[1],
        json!({"mine": 1, "only_instance": true, "shared": "script"}),
        "the script's config wins; timeout and allow_full_access are taken out"
    );
    assert_eq!(seen[2]["executed_by"], "codebox");
    assert_eq!(seen[2]["executor"], 1);
    assert_eq!(seen[2]["instance"], "runner");
    assert_eq!(seen[2]["async"], 0);
    assert!(seen[2]["api_host"].is_string());
    let t = finished(
        &app,
        &admin,
        1,
        &run(&app, &admin, 1, json!({"payload": [3]})).await,
    )
    .await;
    assert!(
        t["result"]["stdout"]
            .as_str()
            .unwrap_or_default()
            .starts_with("[[3], ")
    );
}

async fn bad_payloads_get_the_platform_messages(app: TestApp) {
    let admin = script(&app, "pass", json!({})).await;
    for (payload, message) in [
        (json!("{nope"), "Not a valid JSON string."),
        (json!("5"), "Payload passed in invalid format."),
        (json!(5), "Payload passed in invalid format."),
        (json!(true), "Payload passed in invalid format."),
    ] {
        let r = app
            .as_key(
                &admin,
                "POST",
                &format!("{SCRIPTS}1/run/"),
                Some(json!({ "payload": payload })),
            )
            .await
            .expect_json(StatusCode::BAD_REQUEST);
        assert_eq!(r, json!({"payload": [message]}));
    }
    app.as_key(&admin, "POST", &format!("{SCRIPTS}2/run/"), Some(json!({})))
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn oversized_run_body_is_413_before_authentication(app: TestApp) {
    script(&app, "pass", json!({})).await;
    let body = json!({"payload": {"big": "x".repeat(524_288)}});
    let r = app
        .call("POST", &format!("{SCRIPTS}1/run/"), &[], Some(body))
        .await
        .expect_json(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        r,
        json!({"detail": "Request size limit exceeded (524288)."})
    );
}

async fn traces_list_newest_first_and_hide_big_results(app: TestApp) {
    let admin = script(&app, "print('z' * ARGS.get('n', 1))", json!({})).await;
    let first = run(&app, &admin, 1, json!({"payload": {"n": 70000}})).await;
    finished(&app, &admin, 1, &first).await;
    let second = run(&app, &admin, 1, json!({})).await;
    finished(&app, &admin, 1, &second).await;
    let list = app
        .as_key(&admin, "GET", &format!("{SCRIPTS}1/traces/"), None)
        .await
        .expect_json(StatusCode::OK);
    let objects = list["objects"].as_array().cloned().unwrap_or_default();
    assert_eq!(objects.len(), 2);
    assert_eq!(
        (&objects[0]["id"], &objects[1]["id"]),
        (&json!(2), &json!(1))
    );
    assert_eq!(objects[0]["result"], json!({"stderr": "", "stdout": "z"}));
    assert_eq!(
        objects[1]["result"],
        json!({"__error__": "Result is too big to show in trace."})
    );
    let detail = finished(&app, &admin, 1, &first).await;
    assert_eq!(
        detail["result"]["stdout"].as_str().map(str::len),
        Some(70000)
    );
}

async fn traces_of_an_unknown_script_are_404_before_authentication(app: TestApp) {
    script(&app, "pass", json!({})).await;
    for url in [
        format!("{SCRIPTS}9/traces/"),
        format!("{SCRIPTS}9/traces/1/"),
    ] {
        let r = app
            .call("GET", &url, &[], None)
            .await
            .expect_json(StatusCode::NOT_FOUND);
        assert_eq!(r, json!({"detail": "Script was not found."}));
    }
    app.call("GET", &format!("{SCRIPTS}1/traces/"), &[], None)
        .await
        .expect(StatusCode::FORBIDDEN);
}

async fn deleting_a_script_deletes_its_traces(app: TestApp) {
    let admin = script(&app, "pass", json!({})).await;
    let t = run(&app, &admin, 1, json!({})).await;
    finished(&app, &admin, 1, &t).await;
    app.as_key(&admin, "DELETE", &format!("{SCRIPTS}1/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    add_script(&app, &admin, "pass", json!({})).await;
    let list = app
        .as_key(&admin, "GET", &format!("{SCRIPTS}2/traces/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(list["objects"], json!([]));
    app.as_key(&admin, "GET", &format!("{SCRIPTS}2/traces/1/"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn traces_list_keeps_only_the_newest_of_each_script(app: TestApp) {
    let admin = script(&app, "pass", json!({})).await;
    add_script(&app, &admin, "pass", json!({})).await;
    for _ in 0..3 {
        let t = run(&app, &admin, 1, json!({})).await;
        finished(&app, &admin, 1, &t).await;
    }
    let other = run(&app, &admin, 2, json!({})).await;
    finished(&app, &admin, 2, &other).await;
    let list = app
        .as_key(&admin, "GET", &format!("{SCRIPTS}1/traces/"), None)
        .await
        .expect_json(StatusCode::OK);
    let ids: Vec<&Value> = list["objects"]
        .as_array()
        .map_or(vec![], |a| a.iter().map(|t| &t["id"]).collect());
    assert_eq!(ids, [&json!(3), &json!(2)]);
    let list = app
        .as_key(&admin, "GET", &format!("{SCRIPTS}2/traces/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        list["objects"][0]["id"], 4,
        "trace ids are counted per instance"
    );
}

const CALL_BACK: &str = r#"
import json, urllib.request, urllib.error
def get(url):
    req = urllib.request.Request(url, headers={'X-API-KEY': META['token']})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
print(json.dumps([get(ARGS['own']), get(ARGS['other']), META['token']]))
"#;

async fn meta_token_acts_as_the_owner_in_its_instance_only_while_the_run_lasts(app: TestApp) {
    let admin = script(&app, CALL_BACK, json!({"allow_full_access": true})).await;
    add_script(&app, &admin, "print('token' in META)", json!({})).await;
    app.admin_with_instance("other-inst").await;
    let server = crate::client::serve(&app).await;
    let root = format!("http://{}/v1.1/instances", server.addr);
    let payload = json!({"own": format!("{root}/runner/snippets/scripts/"),
        "other": format!("{root}/other-inst/")});
    let t = finished(
        &app,
        &admin,
        1,
        &run(&app, &admin, 1, json!({ "payload": payload })).await,
    )
    .await;
    assert_eq!(t["status"], "success", "{t}");
    let seen: Value =
        serde_json::from_str(t["result"]["stdout"].as_str().unwrap_or_default()).expect("json");
    assert_eq!((&seen[0], &seen[1]), (&json!(200), &json!(403)));
    let token = seen[2].as_str().unwrap_or_default();
    let r = app
        .as_key(token, "GET", SCRIPTS, None)
        .await
        .expect_json(StatusCode::FORBIDDEN);
    assert_eq!(
        r,
        json!({"detail": "No such API Key."}),
        "revoked when the run ended"
    );
    let t = finished(&app, &admin, 2, &run(&app, &admin, 2, json!({})).await).await;
    assert_eq!(
        t["result"]["stdout"], "False",
        "no token without allow_full_access"
    );
}
