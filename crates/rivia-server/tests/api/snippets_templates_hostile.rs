//! Hostile response templates (rest §7: sandboxed and limited): an endless loop, a string
//! doubling itself, an endless recursion, a huge output and a deeply nested source each
//! end with a JSON 400, through `render/` and through a GET, and the server keeps
//! answering other requests meanwhile.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::{Value, json};

both_backends!(
    an_endless_loop_runs_out_of_time,
    a_string_doubling_itself_runs_out_before_the_memory_does,
    endless_recursion_is_cut,
    a_huge_output_is_cut,
    a_deeply_nested_source_is_refused_when_saved,
    hostile_renders_leave_the_server_answering,
    templates_reach_nothing_outside_their_context,
);

const LIST: &str = "/v1.1/instances/tpl-hostile/snippets/templates/";

/// The instance with a template `name` of `content`; the owner's key.
async fn with_template(app: &TestApp, name: &str, content: &str) -> String {
    let admin = app.admin_with_instance("tpl-hostile").await;
    save(app, &admin, name, content).await;
    admin
}

async fn save(app: &TestApp, admin: &str, name: &str, content: &str) {
    app.as_key(
        admin,
        "POST",
        LIST,
        Some(json!({"name": name, "content": content, "content_type": "text/plain"})),
    )
    .await
    .expect(StatusCode::CREATED);
}

/// `render/` of the template, then a GET of the template list through it: both 400 JSON
/// with a detail starting with `expected`.
async fn both_fail_with(app: &TestApp, admin: &str, name: &str, expected: &str) {
    let render = format!("{LIST}{name}/render/");
    let through_get = format!("{LIST}?template={name}");
    for (method, url) in [("POST", render), ("GET", through_get)] {
        let r = app.as_key(admin, method, &url, None).await;
        assert_eq!(r.header("content-type"), Some("application/json"), "{url}");
        let body = r.expect_json(StatusCode::BAD_REQUEST);
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with(expected), "{method} {url}: {body}");
    }
}

async fn an_endless_loop_runs_out_of_time(app: TestApp) {
    let admin = with_template(
        &app,
        "spin",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    )
    .await;
    both_fail_with(&app, &admin, "spin", "Template rendering timeout").await;
}

async fn a_string_doubling_itself_runs_out_before_the_memory_does(app: TestApp) {
    // 2^40 bytes if nothing stopped it; the fuel pays for every byte created.
    let admin = with_template(
        &app,
        "double",
        "{% set ns = namespace(s='x' * 1000) %}{% for i in range(40) %}\
         {% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    )
    .await;
    both_fail_with(&app, &admin, "double", "Template rendering timeout").await;
    // Repetition is checked before it allocates.
    save(&app, &admin, "repeat", "{{ 'x' * 10000000000 }}").await;
    both_fail_with(&app, &admin, "repeat", "Template rendering").await;
}

async fn endless_recursion_is_cut(app: TestApp) {
    let admin = with_template(
        &app,
        "recurse",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    )
    .await;
    both_fail_with(&app, &admin, "recurse", "Template rendering failed: ").await;
}

async fn a_huge_output_is_cut(app: TestApp) {
    let admin = with_template(
        &app,
        "flood",
        "{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}",
    )
    .await;
    both_fail_with(
        &app,
        &admin,
        "flood",
        "Template rendering failed: the output exceeds 16777216 bytes",
    )
    .await;
}

async fn a_deeply_nested_source_is_refused_when_saved(app: TestApp) {
    let admin = app.admin_with_instance("tpl-hostile").await;
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    let r = app
        .as_key(
            &admin,
            "POST",
            LIST,
            Some(json!({"name": "deep", "content": deep, "content_type": "text/plain"})),
        )
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert!(r["content"][0].is_string(), "{r}");
}

async fn hostile_renders_leave_the_server_answering(app: TestApp) {
    let admin = with_template(
        &app,
        "spin",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    )
    .await;
    // More hostile renders than rendering threads, and plain requests among them.
    let spin = format!("{LIST}spin/render/");
    let hostile = (0..4).map(|_| app.as_key(&admin, "POST", &spin, None));
    let plain = (0..4).map(|_| app.as_key(&admin, "GET", LIST, None));
    let (hostile, plain) = tokio::join!(
        futures_util::future::join_all(hostile),
        futures_util::future::join_all(plain)
    );
    for r in hostile {
        let body: Value = r.expect_json(StatusCode::BAD_REQUEST);
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with("Template rendering")),
            "{body}"
        );
    }
    for r in plain {
        r.expect(StatusCode::OK);
    }
    // And a render after them works.
    app.as_key(&admin, "POST", &format!("{LIST}objects_csv/render/"), None)
        .await
        .expect(StatusCode::OK);
}

async fn templates_reach_nothing_outside_their_context(app: TestApp) {
    let admin = app.admin_with_instance("tpl-hostile").await;
    // Python's escape hatches are plain undefined names here; includes and imports have
    // no loader to read from.
    for (name, content) in [
        ("env", "{{ a.__class__.__base__.__subclasses__() }}"),
        ("globals", "{{ self.__init__.__globals__ }}"),
        ("config", "{{ config }}{{ request }}{{ settings }}"),
        ("range", "{{ range.__self__ }}"),
    ] {
        save(&app, &admin, name, content).await;
        let r = app
            .as_key(
                &admin,
                "POST",
                &format!("{LIST}{name}/render/"),
                Some(json!({"context": {"a": {}}})),
            )
            .await;
        // Either nothing at all or a render error: never data from the server.
        match r.status {
            StatusCode::OK => assert_eq!(r.body, Value::Null, "{name}"),
            _ => {
                let body = r.expect_json(StatusCode::BAD_REQUEST);
                assert!(body["detail"].is_string(), "{name}: {body}");
            }
        }
    }
    let r = app
        .as_key(
            &admin,
            "POST",
            LIST,
            Some(json!({"name": "inc", "content": "{% include '/etc/passwd' %}", "content_type": "text/plain"})),
        )
        .await
        .expect_json(StatusCode::BAD_REQUEST);
    assert!(r["content"][0].is_string(), "{r}");
}
