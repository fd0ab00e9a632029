//! The OpenAPI 3.1 document, generated from the same route table that builds the router.

use crate::api::RouteDoc;
use serde_json::{Map, Value, json};

/// Builds the document.
pub fn document(docs: &[RouteDoc]) -> Value {
    let mut paths = Map::new();
    for d in docs {
        let params: Vec<Value> = d
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "operationId": format!("{}_{}", d.method, d.path.trim_matches('/').replace(['/', '{', '}', '.'], "_")),
            "summary": d.summary,
            "tags": [d.tag],
            "parameters": params,
            "responses": {
                "default": {
                    "description": "Syncano JSON: the resource, a list envelope {next, prev, objects}, or an error {detail}",
                    "content": {"application/json": {"schema": {}}}
                }
            }
        });
        if matches!(d.method, "post" | "put" | "patch") {
            op["requestBody"] = json!({
                "required": false,
                "content": {"application/json": {"schema": {"type": "object", "additionalProperties": true}}}
            });
        }
        let entry = paths
            .entry(d.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(d.method.to_string(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Rivia — Syncano platform API v1.1", "version": env!("CARGO_PKG_VERSION")},
        "components": {"securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
            "userKey": {"type": "apiKey", "in": "header", "name": "X-USER-KEY"}
        }},
        "paths": paths,
    })
}
