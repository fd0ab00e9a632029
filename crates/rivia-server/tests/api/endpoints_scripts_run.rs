//! Running script endpoints (spec-scripts §3, §4, §6, §7): the request turned into ARGS and
//! META (JSON, form and multipart bodies, files, the query, credentials removed, headers
//! passed and withheld, the admin), the synchronous answer (the run as JSON, or the
//! script's custom response), public links, traces with `meta` and `args`, and the
//! executor's limits. The runs are real: python3 in the bubblewrap sandbox.

use crate::both_backends;
use crate::endpoints_scripts::{ENDPOINTS, add_endpoint, hooks_with_script};
use crate::helpers::TestApp;
use crate::snippets_config::admin_with_role;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use rivia_core::perms::Role;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

both_backends!(
    a_json_post_runs_the_script_with_body_and_query_as_args,
    forms_multipart_files_and_credentials_become_args,
    meta_carries_the_request_headers_it_may_and_the_admin,
    get_runs_need_the_read_role_and_post_runs_the_write_role,
    custom_responses_set_status_type_body_and_headers,
    failures_and_timeouts_answer_the_run_as_json,
    public_links_run_without_credentials_only_while_public,
    traces_keep_meta_and_args_and_hide_big_args_in_lists,
    endpoint_runs_are_refused_inside_batch_and_oversized_bodies_are_413,
);
both_backends!(
    settings(|s| s.scripts.queue_limit = 1),
    a_full_queue_answers_408_at_once_and_the_trace_is_blocked,
);
both_backends!(
    settings(|s| s.instance_rate = 1),
    public_runs_count_against_the_instance_rate,
);

/// `hooks` with script 1 (`source`) behind endpoint `hook`; the owner's key.
async fn hook(app: &TestApp, source: &str, public: bool) -> (String, Value) {
    let admin = hooks_with_script(app, source).await;
    let e = add_endpoint(
        app,
        &admin,
        json!({"name": "hook", "script": 1, "public": public}),
    )
    .await;
    (admin, e)
}

const RUN: &str = "/v1.1/instances/hooks/endpoints/scripts/hook/run/";
const PRINT_ARGS: &str = "import json\nprint(json.dumps(ARGS, sort_keys=True))";

/// The script's stdout of a JSON answer, parsed.
fn stdout_json(answer: &Value) -> Value {
    assert_eq!(answer["status"], "success", "{answer}");
    serde_json::from_str(answer["result"]["stdout"].as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {answer}"))
}

async fn a_json_post_runs_the_script_with_body_and_query_as_args(app: TestApp) {
    let (admin, _) = hook(&app, PRINT_ARGS, false).await;
    let url = format!("{RUN}?b=query&c=1&c=2&blank=&api_key={admin}");
    let answer = app
        .call(
            "POST",
            &url,
            &[],
            Some(json!({"a": 1, "b": "body", "_user_key": "secret"})),
        )
        .await;
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.header("cache-control"), Some("no-cache"));
    let answer = answer.expect_json(StatusCode::OK);
    assert_eq!(
        stdout_json(&answer),
        json!({"a": 1, "b": "query", "blank": "", "c": "2"}),
        "GET wins, last value per key, blank values kept, credentials removed"
    );
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["result"]["stderr"], "");
    assert!(answer["duration"].as_i64().is_some_and(|d| d >= 0));
    assert!(
        answer["executed_at"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    let keys: Vec<&str> = answer
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(keys, ["status", "executed_at", "result", "duration", "id"]);
    // An array body is passed to the trace but not merged into flat ARGS (QUIRK kept);
    // a scalar is refused.
    let answer = app
        .as_key(&admin, "POST", RUN, Some(json!([1, 2])))
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(stdout_json(&answer), json!({}));
    let body = app
        .as_key(&admin, "POST", RUN, Some(json!(42)))
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"non_field_errors": ["Payload passed in invalid format."]})
    );
}

/// A raw POST to the run URL with a content type.
async fn post_raw(
    app: &TestApp,
    admin: &str,
    content_type: &str,
    body: Vec<u8>,
) -> crate::helpers::Response {
    let req = Request::builder()
        .method("POST")
        .uri(RUN)
        .header("x-api-key", admin)
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("request");
    app.send(req).await
}

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, content) in parts {
        body.extend_from_slice(b"--XyZ\r\n");
        let disposition = match filename {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XyZ--\r\n");
    body
}

async fn forms_multipart_files_and_credentials_become_args(app: TestApp) {
    let (admin, _) = hook(&app, PRINT_ARGS, false).await;
    let answer = post_raw(
        &app,
        &admin,
        "application/x-www-form-urlencoded",
        b"x=1&x=2&name=Ada+L&_api_key=nope".to_vec(),
    )
    .await
    .expect_json(StatusCode::OK);
    assert_eq!(stdout_json(&answer), json!({"name": "Ada L", "x": "2"}));
    let body = multipart(&[
        ("field", None, b"value"),
        ("file", Some("notes.txt"), "text é".as_bytes()),
    ]);
    let answer = post_raw(&app, &admin, "multipart/form-data; boundary=XyZ", body)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        stdout_json(&answer),
        json!({"field": "value", "file": "text é"}),
        "a file arrives as its text; name and type are lost"
    );
    let body = multipart(&[("file", Some("x.bin"), b"\xff\xd8\xff\xe0")]);
    let refused = post_raw(&app, &admin, "multipart/form-data; boundary=XyZ", body)
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert_eq!(
        refused,
        json!({"detail": "Unsupported payload provided that cannot be serialized."})
    );
}

async fn meta_carries_the_request_headers_it_may_and_the_admin(app: TestApp) {
    let (admin, _) = hook(&app, "import json\nprint(json.dumps(META))", false).await;
    let answer = app
        .call(
            "POST",
            RUN,
            &[
                ("authorization", &format!("token {admin}")),
                ("x-github-event", "issues"),
                ("user-agent", "GitHub-Hookshot/1"),
                ("x-forwarded-for", "203.0.113.9, 10.0.0.1"),
                ("x-api-key", &admin),
                ("cookie", "a=1"),
            ],
            Some(json!({})),
        )
        .await
        .expect_json(StatusCode::OK);
    let meta = stdout_json(&answer);
    let request = &meta["request"];
    assert_eq!(request["HTTP_X_GITHUB_EVENT"], "issues");
    assert_eq!(request["HTTP_USER_AGENT"], "GitHub-Hookshot/1");
    assert_eq!(request["HTTP_COOKIE"], "a=1");
    assert_eq!(request["REMOTE_ADDR"], "203.0.113.9");
    assert_eq!(request["PATH_INFO"], RUN);
    assert_eq!(request["REQUEST_METHOD"], "POST");
    for withheld in [
        "HTTP_AUTHORIZATION",
        "HTTP_X_API_KEY",
        "HTTP_X_FORWARDED_FOR",
        "HTTP_CONTENT_TYPE",
        "CONTENT_TYPE",
    ] {
        assert!(
            request.get(withheld).is_none(),
            "{withheld} leaked: {request}"
        );
    }
    assert!(
        !meta.to_string().contains(&admin),
        "the key reached the script"
    );
    assert_eq!(meta["metadata"], json!({}));
    assert_eq!(meta["executed_by"], "webhook");
    assert_eq!(meta["executor"], "hook");
    assert_eq!(meta["instance"], "hooks");
    assert_eq!(meta["async"], 0);
    assert!(meta["api_host"].is_string());
    let owner = app
        .store
        .admin_by_key(&admin)
        .await
        .expect("db")
        .expect("admin");
    assert_eq!(meta["admin"], json!({"id": owner.id, "email": owner.email}));
    assert!(meta.get("token").is_none());
    assert!(meta.get("user").is_none());
}

async fn get_runs_need_the_read_role_and_post_runs_the_write_role(app: TestApp) {
    let (owner, _) = hook(&app, PRINT_ARGS, false).await;
    let reader = admin_with_role(&app, "hooks", Role::Read).await;
    // `fields` is the script's argument here, not a field selection of the answer.
    let answer = app
        .as_key(
            &reader,
            "GET",
            &format!("{RUN}?currency=USD&fields=id"),
            None,
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        stdout_json(&answer),
        json!({"currency": "USD", "fields": "id"})
    );
    app.as_key(&reader, "POST", RUN, Some(json!({})))
        .await
        .expect(StatusCode::FORBIDDEN);
    let api_key = app
        .api_key(&owner, "hooks", json!({"ignore_acl": true}))
        .await;
    app.as_key(&api_key, "GET", RUN, None)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.call("GET", RUN, &[], None)
        .await
        .expect(StatusCode::FORBIDDEN);
    app.as_key(&owner, "GET", &format!("{ENDPOINTS}gone/run/"), None)
        .await
        .expect(StatusCode::NOT_FOUND);
}

async fn custom_responses_set_status_type_body_and_headers(app: TestApp) {
    let source = "print('log line')\nset_response(HttpResponse(status_code=201, \
        content='<b>%s</b>' % ARGS.get('name', '?'), content_type='text/html; charset=utf-8', \
        headers={'X-Who': 'webhook', 'Cache-Control': 'max-age=60'}))";
    let (admin, _) = hook(&app, source, false).await;
    let req = Request::builder()
        .method("GET")
        .uri(format!("{RUN}?name=Ada"))
        .header("x-api-key", &admin)
        .header("origin", "https://app.example.com")
        .body(Body::empty())
        .expect("request");
    let answer = app.send(req).await;
    answer.expect(StatusCode::CREATED);
    assert_eq!(answer.body, json!("<b>Ada</b>"));
    assert_eq!(
        answer.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(answer.header("x-who"), Some("webhook"));
    assert_eq!(
        answer.header("cache-control"),
        Some("no-cache"),
        "set last (QUIRK kept)"
    );
    assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
    // The trace keeps the response and the stdout before it.
    let traces = app
        .as_key(&admin, "GET", &format!("{ENDPOINTS}hook/traces/"), None)
        .await
        .expect_json(StatusCode::OK);
    let result = &traces["objects"][0]["result"];
    assert_eq!(result["stdout"], "log line");
    assert_eq!(result["response"]["status"], 201);
    assert_eq!(result["response"]["headers"]["X-Who"], "webhook");
}

async fn failures_and_timeouts_answer_the_run_as_json(app: TestApp) {
    let admin = hooks_with_script(&app, "print('before')\n1/0").await;
    crate::endpoints_scripts::add_script(&app, &admin, "python3", "import time\ntime.sleep(60)")
        .await;
    app.as_key(
        &admin,
        "PATCH",
        "/v1.1/instances/hooks/snippets/scripts/2/",
        Some(json!({"config": {"timeout": 1}})),
    )
    .await
    .expect(StatusCode::OK);
    add_endpoint(&app, &admin, json!({"name": "fails", "script": 1})).await;
    add_endpoint(&app, &admin, json!({"name": "sleeps", "script": 2})).await;
    let answer = app
        .as_key(
            &admin,
            "POST",
            &format!("{ENDPOINTS}fails/run/"),
            Some(json!({})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(answer["status"], "failure");
    assert_eq!(answer["result"]["stdout"], "before");
    assert!(
        answer["result"]["stderr"]
            .as_str()
            .is_some_and(|s| s.contains("ZeroDivisionError")),
        "{answer}"
    );
    let started = Instant::now();
    let answer = app
        .as_key(&admin, "GET", &format!("{ENDPOINTS}sleeps/run/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(answer["status"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(15));
}

async fn public_links_run_without_credentials_only_while_public(app: TestApp) {
    let (admin, e) = hook(
        &app,
        "import json\nprint(json.dumps([ARGS, 'admin' in META]))",
        false,
    )
    .await;
    let public_url = e["links"]["public-link"].as_str().expect("link").to_owned();
    app.call("POST", &public_url, &[], Some(json!({"a": 1})))
        .await
        .expect(StatusCode::NOT_FOUND);
    app.as_key(
        &admin,
        "PATCH",
        &format!("{ENDPOINTS}hook/"),
        Some(json!({"public": true})),
    )
    .await
    .expect(StatusCode::OK);
    let answer = app
        .call(
            "POST",
            &format!("{public_url}?b=2"),
            &[],
            Some(json!({"a": 1})),
        )
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(stdout_json(&answer), json!([{"a": 1, "b": "2"}, false]));
    // A wrong key is ignored: the public route does not authenticate.
    app.call("GET", &public_url, &[("x-api-key", "nonsense")], None)
        .await
        .expect(StatusCode::OK);
    app.call("PUT", &public_url, &[], Some(json!({})))
        .await
        .expect(StatusCode::METHOD_NOT_ALLOWED);
    app.as_key(
        &admin,
        "POST",
        &format!("{ENDPOINTS}hook/reset_link/"),
        None,
    )
    .await
    .expect(StatusCode::OK);
    app.call("GET", &public_url, &[], None)
        .await
        .expect(StatusCode::NOT_FOUND);
    app.call(
        "GET",
        "/v1.1/instances/nothere/endpoints/scripts/p/abc/hook/",
        &[],
        None,
    )
    .await
    .expect(StatusCode::NOT_FOUND);
}

async fn traces_keep_meta_and_args_and_hide_big_args_in_lists(app: TestApp) {
    let (admin, _) = hook(&app, "print('ok')", false).await;
    app.call(
        "POST",
        &format!("{RUN}?q=1"),
        &[("x-api-key", &admin), ("x-custom", "yes")],
        Some(json!({"small": true})),
    )
    .await
    .expect(StatusCode::OK);
    let big = "a".repeat(65_536);
    app.as_key(&admin, "POST", RUN, Some(json!({"big": big})))
        .await
        .expect(StatusCode::OK);
    let url = format!("{ENDPOINTS}hook/traces/");
    let list = app
        .as_key(&admin, "GET", &url, None)
        .await
        .expect_json(StatusCode::OK);
    let objects = list["objects"].as_array().cloned().unwrap_or_default();
    assert_eq!(objects.len(), 2);
    assert_eq!(
        objects[0]["args"],
        json!({"__error__": "Payload is too big to show in trace."})
    );
    let small = &objects[1];
    assert_eq!(small["id"], 1);
    assert_eq!(small["status"], "success");
    assert_eq!(
        small["args"],
        json!({"POST": {"small": true}, "GET": {"q": "1"}})
    );
    assert_eq!(small["meta"]["HTTP_X_CUSTOM"], "yes");
    assert_eq!(small["meta"]["REQUEST_METHOD"], "POST");
    assert_eq!(small["result"], json!({"stderr": "", "stdout": "ok"}));
    assert_eq!(
        small["links"]["self"],
        "/v1.1/instances/hooks/endpoints/scripts/hook/traces/1/"
    );
    let detail = app
        .as_key(&admin, "GET", &format!("{url}2/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(
        detail["args"]["POST"]["big"].as_str().map(str::len),
        Some(65_536)
    );
    let missing = app
        .call(
            "GET",
            "/v1.1/instances/hooks/endpoints/scripts/gone/traces/",
            &[],
            None,
        )
        .await
        .expect_json(StatusCode::NOT_FOUND);
    assert_eq!(missing, json!({"detail": "Script Endpoint was not found."}));
    // Deleting the endpoint deletes its traces: a new one of the same name starts empty.
    app.as_key(&admin, "DELETE", &format!("{ENDPOINTS}hook/"), None)
        .await
        .expect(StatusCode::NO_CONTENT);
    add_endpoint(&app, &admin, json!({"name": "hook", "script": 1})).await;
    let list = app
        .as_key(&admin, "GET", &url, None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(list["objects"], json!([]));
}

async fn endpoint_runs_are_refused_inside_batch_and_oversized_bodies_are_413(app: TestApp) {
    let (admin, e) = hook(&app, "print(1)", true).await;
    let answer = app
        .as_key(
            &admin,
            "POST",
            "/v1.1/instances/hooks/batch/",
            Some(json!({"requests": [
                {"method": "POST", "path": RUN, "body": {}},
                {"method": "GET", "path": e["links"]["public-link"]},
            ]})),
        )
        .await
        .expect_json(StatusCode::OK);
    let refused = json!({"code": 405, "content": {"detail": "Batching not allowed."}});
    assert_eq!(answer, json!([refused, refused]));
    let big = json!({"x": "a".repeat(524_288)});
    for url in [
        RUN.to_owned(),
        e["links"]["public-link"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    ] {
        let body = app
            .call("POST", &url, &[], Some(big.clone()))
            .await
            .expect_json(StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            body,
            json!({"detail": "Request size limit exceeded (524288)."})
        );
    }
}

async fn a_full_queue_answers_408_at_once_and_the_trace_is_blocked(app: TestApp) {
    let (admin, _) = hook(&app, "import time\ntime.sleep(3)", false).await;
    let router = app.router.clone();
    let first_admin = admin.clone();
    let first = tokio::spawn(async move {
        use tower::ServiceExt;
        let req = Request::builder()
            .method("GET")
            .uri(RUN)
            .header("x-api-key", first_admin)
            .body(Body::empty())
            .expect("request");
        router.oneshot(req).await.map(|r| r.status())
    });
    // Wait until the first run holds the queue's only place.
    let traces = format!("{ENDPOINTS}hook/traces/1/");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = app.as_key(&admin, "GET", &traces, None).await;
        if t.status == StatusCode::OK && t.body["status"] == "processing" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "first run never started: {}",
            t.body
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let body = app
        .as_key(&admin, "GET", RUN, None)
        .await
        .expect_json(StatusCode::REQUEST_TIMEOUT);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered without waiting"
    );
    assert_eq!(body, json!({"detail": "Script took too much time."}));
    let blocked = app
        .as_key(&admin, "GET", &format!("{ENDPOINTS}hook/traces/2/"), None)
        .await
        .expect_json(StatusCode::OK);
    assert_eq!(blocked["status"], "blocked");
    assert_eq!(
        first.await.expect("task").expect("infallible"),
        StatusCode::OK
    );
}

async fn public_runs_count_against_the_instance_rate(app: TestApp) {
    app.admin_with_instance("hooks").await;
    // The throttle comes before the endpoint's lookup, so no script needs to run.
    let url = format!(
        "/v1.1/instances/hooks/endpoints/scripts/p/{}/hook/",
        "0".repeat(40)
    );
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(app.call("GET", &url, &[], None).await.status);
    }
    assert_eq!(statuses[0], StatusCode::NOT_FOUND);
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "three anonymous calls at 1/s: {statuses:?}"
    );
}
