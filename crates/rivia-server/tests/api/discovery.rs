//! Discovery documents (spec-core §3): the root and the v1.1 index, without auth.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use serde_json::json;

both_backends!(
    discovery_answers_without_auth,
    root_lists_the_api_versions,
    every_link_answers_or_is_a_json_404,
);

async fn discovery_answers_without_auth(app: TestApp) {
    let r = app.call("GET", "/v1.1/", &[], None).await;
    assert_eq!(
        r.expect_json(StatusCode::OK)["links"]["instances"],
        "/v1.1/instances/"
    );
}

async fn root_lists_the_api_versions(app: TestApp) {
    let r = app.call("GET", "/", &[], None).await;
    assert_eq!(
        r.body,
        json!({"links": {"v1": "/v1/", "v1.1": "/v1.1/", "v2": "/v2/"}})
    );
}

/// Follows every link of `/v1.1/` and of an instance as its owner: each answers 200, or the
/// spec's JSON 404 for an area not built yet (usage, backups, …). Action links
/// (`batch`, `rename`) take POST only and answer a JSON 405 to GET, as on Syncano.
async fn every_link_answers_or_is_a_json_404(app: TestApp) {
    let key = app.admin_with_instance("linked").await;
    let index = app.call("GET", "/v1.1/", &[], None).await.json();
    let instance = app
        .as_key(&key, "GET", "/v1.1/instances/linked/", None)
        .await
        .expect_json(StatusCode::OK);
    let links = index["links"]
        .as_object()
        .into_iter()
        .chain(instance["links"].as_object())
        .flat_map(|m| m.iter())
        .map(|(name, url)| (name.clone(), url.as_str().expect("link").to_string()));
    let mut missing = Vec::new();
    for (name, url) in links {
        let r = app.as_key(&key, "GET", &url, None).await;
        let status = r.status;
        let body = r.json();
        match status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => {
                assert_eq!(body, json!({"detail": "Not found."}), "{name}: {url}");
                missing.push(name);
            }
            StatusCode::METHOD_NOT_ALLOWED if name == "batch" || name == "rename" => {
                assert_eq!(body, json!({"detail": "Method \"GET\" not allowed."}));
            }
            other => panic!("{name}: {url} answered {other}: {body}"),
        }
    }
    // The areas not built yet answer the JSON 404; every built one answers.
    let mut unbuilt = missing.clone();
    unbuilt.sort();
    assert_eq!(unbuilt, ["hosting", "push_notification", "usage"]);
}
