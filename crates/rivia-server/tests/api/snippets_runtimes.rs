//! Every language through the API (spec-scripts §1.3, §1.4): a script run in `node`, `ruby`,
//! `php` and `golang` sees ARGS, CONFIG and META, and each language's custom-response helper
//! answers a script endpoint. A toolchain missing on the host skips its case with a notice,
//! except under `CI=true`, where it fails (CI installs them all).

use crate::both_backends;
use crate::helpers::TestApp;
use crate::snippets_run::final_trace;
use axum::http::StatusCode;
use rivia_scripts::runtimes::Toolchain;
use serde_json::{Value, json};
use std::time::Duration;

both_backends!(
    each_language_sees_args_config_and_meta,
    each_language_custom_response_answers_its_endpoint,
);

/// Whether `toolchain` is installed; under `CI=true` a missing one fails the test.
async fn installed(app: &TestApp, toolchain: Toolchain) -> bool {
    let found = app
        .state
        .runner()
        .engine()
        .await
        .toolchains()
        .get(toolchain)
        .is_some();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but `{}` is not installed",
            toolchain.binary()
        );
        eprintln!(
            "SKIPPING the {} case: `{}` is not installed",
            toolchain.binary(),
            toolchain.binary()
        );
    }
    found
}

/// `(toolchain, runtime, source printing "<ARGS.name> <CONFIG.greeting> <META.executed_by>")`.
const PRINTERS: [(Toolchain, &str, &str); 4] = [
    (
        Toolchain::Node,
        "nodejs_v6",
        "console.log(ARGS.name + ' ' + CONFIG.greeting + ' ' + META.executed_by)",
    ),
    (
        Toolchain::Ruby,
        "ruby",
        "puts ARGS['name'] + ' ' + CONFIG['greeting'] + ' ' + META['executed_by']",
    ),
    (
        Toolchain::Php,
        "php",
        "echo $ARGS['name'] . ' ' . $CONFIG['greeting'] . ' ' . $META['executed_by'];",
    ),
    (
        Toolchain::Go,
        "golang",
        "import \"fmt\"\n\nfunc main() {\n\tfmt.Println(ARGS[\"name\"], CONFIG[\"greeting\"], META[\"executed_by\"])\n}\n",
    ),
];

/// `(toolchain, runtime, source answering 202 text/plain "hi <ARGS.name>" with `X-Lang`)`.
const RESPONDERS: [(Toolchain, &str, &str); 4] = [
    (
        Toolchain::Python,
        "python3",
        "set_response(HttpResponse(202, 'hi ' + ARGS['name'], 'text/plain', {'X-Lang': 'python'}))",
    ),
    (
        Toolchain::Node,
        "nodejs_library_v1.0",
        "setResponse(new HttpResponse(202, 'hi ' + ARGS.name, 'text/plain', {'X-Lang': 'node'}))",
    ),
    (
        Toolchain::Ruby,
        "ruby",
        "set_response(HttpResponse.new(202, 'hi ' + ARGS['name'], 'text/plain', {'X-Lang' => 'ruby'}))",
    ),
    (
        Toolchain::Php,
        "php",
        "set_response(new HttpResponse(202, 'hi ' . $ARGS['name'], 'text/plain', array('X-Lang' => 'php')));",
    ),
];

async fn script(app: &TestApp, admin: &str, runtime: &str, source: &str) -> i64 {
    let s = app
        .as_key(
            admin,
            "POST",
            "/v1.1/instances/langs/snippets/scripts/",
            Some(
                json!({"runtime_name": runtime, "source": source, "config": {"greeting": "hello"}}),
            ),
        )
        .await
        .expect_json(StatusCode::CREATED);
    s["id"].as_i64().expect("id")
}

/// Runs script `id` with ARGS `{"name": "Ada"}` and waits for its final trace.
async fn run_to_end(app: &TestApp, admin: &str, id: i64) -> Value {
    let base = format!("/v1.1/instances/langs/snippets/scripts/{id}/");
    let t = app
        .as_key(
            admin,
            "POST",
            &format!("{base}run/"),
            Some(json!({"payload": {"name": "Ada"}})),
        )
        .await
        .expect_json(StatusCode::OK);
    let url = format!("{base}traces/{}/", t["id"]);
    // Go compiles on a first run: allow for it.
    final_trace(app, admin, &url, Duration::from_secs(90)).await
}

async fn each_language_sees_args_config_and_meta(app: TestApp) {
    let admin = app.admin_with_instance("langs").await;
    for (toolchain, runtime, source) in PRINTERS {
        if !installed(&app, toolchain).await {
            continue;
        }
        let id = script(&app, &admin, runtime, source).await;
        let t = run_to_end(&app, &admin, id).await;
        assert_eq!(t["status"], "success", "{runtime}: {t}");
        assert_eq!(t["result"]["stdout"], "Ada hello codebox", "{runtime}: {t}");
    }
}

async fn each_language_custom_response_answers_its_endpoint(app: TestApp) {
    let admin = app.admin_with_instance("langs").await;
    for (toolchain, runtime, source) in RESPONDERS {
        if !installed(&app, toolchain).await {
            continue;
        }
        let id = script(&app, &admin, runtime, source).await;
        let name = format!("hook-{id}");
        app.as_key(
            &admin,
            "POST",
            "/v1.1/instances/langs/endpoints/scripts/",
            Some(json!({"name": name, "script": id})),
        )
        .await
        .expect(StatusCode::CREATED);
        let answer = app
            .as_key(
                &admin,
                "GET",
                &format!("/v1.1/instances/langs/endpoints/scripts/{name}/run/?name=Ada"),
                None,
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::ACCEPTED,
            "{runtime}: {:?}",
            answer.body
        );
        assert_eq!(answer.body, json!("hi Ada"), "{runtime}");
        assert_eq!(
            answer.header("content-type"),
            Some("text/plain"),
            "{runtime}"
        );
        let lang = runtime
            .split('_')
            .next()
            .unwrap_or_default()
            .trim_end_matches("js")
            .trim_end_matches('3');
        assert_eq!(answer.header("x-lang"), Some(lang), "{runtime}");
    }
}
