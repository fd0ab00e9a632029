//! The OpenAPI 3.1 document, generated from the same route table that builds the router.
//!
//! Each operation gets typed path parameters, the query parameters of its kind (lists,
//! data objects, channel history and polls), a request body schema where the resource's
//! writable fields are known ([`body_schema`]; any JSON object otherwise), and responses:
//! the list envelope for lists, 204 without a body where the API may answer it, and the
//! error shapes of spec-core §1.6 for everything else. Generated requests
//! (`conformance/openapi/run.sh`, schemathesis) check the answers against it.

use crate::api::RouteDoc;
use serde_json::{Map, Value, json};

/// Builds the document.
pub fn document(docs: &[RouteDoc]) -> Value {
    let mut paths = Map::new();
    for d in docs {
        let mut params: Vec<Value> = d
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": path_param_schema(name)}))
            .collect();
        params.extend(query_params(d));
        let mut op = json!({
            "operationId": format!("{}_{}", d.method, d.path.trim_matches('/').replace(['/', '{', '}', '.'], "_")),
            "summary": d.summary,
            "tags": [d.tag],
            "parameters": params,
            "responses": responses(d),
        });
        if matches!(d.method, "post" | "put" | "patch") {
            op["requestBody"] = json!({
                "required": false,
                "content": {"application/json": {"schema": body_schema(d.path)}}
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
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
                "userKey": {"type": "apiKey", "in": "header", "name": "X-USER-KEY"}
            },
            "schemas": {
                "Error": error_schema(),
                "List": list_schema(),
            }
        },
        "security": [{}, {"apiKey": []}, {"apiKey": [], "userKey": []}],
        "paths": paths,
    })
}

/// Ids are 32-bit (spec-core §1.3); names are slugs (§1.11), matched case-insensitively.
fn path_param_schema(name: &str) -> Value {
    match name {
        "id" | "group" | "user" | "trace_id" | "instance_id" | "class_id" => {
            json!({"type": "integer", "minimum": 0, "maximum": 2147483647})
        }
        "file" | "backend" => json!({"type": "string", "minLength": 1}),
        _ => json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
    }
}

/// Whether the operation answers the list envelope of spec-core §1.4.
fn is_list(d: &RouteDoc) -> bool {
    d.method == "get"
        && (d.summary.starts_with("List ") || d.path == "/v1.1/account/invitations/")
        && !d.path.ends_with("/runtimes/")
}

fn query_params(d: &RouteDoc) -> Vec<Value> {
    let q = |name: &str, schema: Value| json!({"name": name, "in": "query", "required": false, "schema": schema});
    let mut out = Vec::new();
    if is_list(d) {
        out.push(q("page_size", json!({"type": "integer", "minimum": 0})));
        out.push(q(
            "ordering",
            json!({"type": "string", "enum": ["asc", "desc"]}),
        ));
        out.push(q("direction", json!({"type": "integer", "enum": [0, 1]})));
        out.push(q("last_pk", json!({"type": "integer", "minimum": 0})));
    }
    if d.method == "get" && d.path.ends_with("/objects/") {
        out.push(q(
            "query",
            json!({"type": "string", "contentMediaType": "application/json"}),
        ));
        out.push(q("order_by", json!({"type": "string"})));
        out.push(q("last_value", json!({"type": "string"})));
        out.push(q("include_count", json!({"type": "boolean"})));
    }
    if d.method == "get" {
        out.push(q("fields", json!({"type": "string"})));
        out.push(q("excluded_fields", json!({"type": "string"})));
    }
    if d.path.ends_with("/history/") || d.path.ends_with("/poll/") {
        out.push(q("room", json!({"type": "string", "maxLength": 128})));
        out.push(q("last_id", json!({"type": "integer", "minimum": 0})));
    }
    out
}

fn responses(d: &RouteDoc) -> Value {
    let json_of = |schema: Value| json!({"application/json": {"schema": schema}});
    let mut out = Map::new();
    if is_list(d) {
        out.insert(
            "200".into(),
            json!({"description": "A page of the list", "content": json_of(json!({"$ref": "#/components/schemas/List"}))}),
        );
    } else if d.path.starts_with("/media/") {
        out.insert(
            "200".into(),
            json!({"description": "The file as uploaded", "content": {"*/*": {"schema": {}}}}),
        );
    } else if d.method != "delete" {
        out.insert(
            "200".into(),
            json!({"description": "The resource", "content": json_of(json!({"type": ["object", "array"]}))}),
        );
    }
    if d.method == "post" {
        out.insert(
            "201".into(),
            json!({"description": "Created", "content": json_of(json!({"type": "object"}))}),
        );
    }
    // Deletes, actions without a result, and a poll that timed out answer without a body.
    if d.method != "get" || d.path.ends_with("/poll/") {
        out.insert("204".into(), json!({"description": "No content"}));
    }
    out.insert(
        "default".into(),
        json!({"description": "An error (spec-core §1.6)", "content": json_of(json!({"$ref": "#/components/schemas/Error"}))}),
    );
    Value::Object(out)
}

/// The error shapes of spec-core §1.6: `{"detail"}`, field errors, or (a structurally
/// invalid `query`) a bare list of messages.
fn error_schema() -> Value {
    json!({"anyOf": [
        {"type": "object", "minProperties": 1},
        {"type": "array", "items": {"type": "string"}},
    ]})
}

fn list_schema() -> Value {
    json!({
        "type": "object",
        "required": ["next", "prev", "objects"],
        "properties": {
            "next": {"type": ["string", "null"]},
            "prev": {"type": ["string", "null"]},
            "objects": {"type": "array"},
            "objects_count": {"type": "integer"},
        }
    })
}

/// The writable fields of the resource a write acts on (spec-core, spec-rest), so that
/// generated bodies reach validation and storage instead of stopping at a missing field.
/// Other fields are allowed: the API ignores or refuses them.
fn body_schema(path: &str) -> Value {
    let s = |max: u64| json!({"type": "string", "maxLength": max});
    let slug = json!({"type": "string", "pattern": "^[a-z][a-z0-9_-]{0,63}$"});
    let metadata = json!({"type": "object", "maxProperties": 8});
    let tail = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let parent = path
        .trim_end_matches('/')
        .rsplit('/')
        .nth(1)
        .unwrap_or_default();
    let props = match (tail, parent) {
        // Memberships: `/users/{id}/groups/` and `/groups/{id}/users/`.
        ("groups", "{id}") => json!({"group": {"type": "integer"}}),
        ("users", "{id}") => json!({"user": {"type": "integer"}}),
        ("register", _) => {
            json!({"email": s(254), "password": s(128),
            "first_name": s(64), "last_name": s(64), "invitation_key": s(40)})
        }
        ("auth", "account") => {
            json!({"email": s(254), "password": s(128)})
        }
        ("account", _) => {
            json!({"email": s(254), "first_name": s(64),
            "last_name": s(64), "metadata": metadata})
        }
        ("accept", _) => json!({"invitation_key": s(40)}),
        ("instances", _) | ("{instance}", "instances") => {
            json!({"name": slug, "description": s(256), "metadata": metadata})
        }
        ("rename", _) => json!({"new_name": slug}),
        ("{id}", "admins") => {
            json!({"role": {"type": "string", "enum": ["full", "write", "read"]}})
        }
        ("api_keys", _) | ("{id}", "api_keys") => json!({"description": s(256),
            "ignore_acl": {"type": "boolean"}, "allow_user_create": {"type": "boolean"},
            "allow_group_create": {"type": "boolean"}, "allow_anonymous_read": {"type": "boolean"}}),
        ("channels", _) | ("{name}", "channels") => json!({"name": slug, "description": s(256),
            "type": {"type": "string", "enum": ["default", "separate_rooms"]},
            "group": {"type": ["integer", "null"]},
            "group_permissions": {"type": "string", "enum": ["none", "subscribe", "publish"]},
            "other_permissions": {"type": "string", "enum": ["none", "subscribe", "publish"]},
            "custom_publish": {"type": "boolean"}}),
        ("publish", _) => json!({"payload": {"type": "object"}, "room": s(128)}),
        ("invitations", _) | ("{id}", "invitations") => {
            json!({"email": s(254),
            "role": {"type": "string", "enum": ["full", "write", "read"]}})
        }
        ("users", _) | ("{id}", "users") | ("user", _) => {
            json!({"username": s(64), "password": s(128),
            "profile": {"type": "object"}})
        }
        ("auth", "user") => json!({"username": s(64), "password": s(128)}),
        ("groups", _) | ("{id}", "groups") => {
            json!({"name": {"type": ["string", "null"]}, "label": s(64),
            "description": s(256)})
        }
        ("batch", _) => json!({"requests": {"type": "array", "maxItems": 50, "items": {
            "type": "object",
            "properties": {"method": {"type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
                "path": {"type": "string"}, "body": {"type": "object"}},
            "required": ["method", "path"]}}}),
        ("classes", _) | ("{class}", "classes") => json!({"name": slug, "description": s(256),
            "schema": {"type": "array", "maxItems": 32, "items": {"type": "object",
                "properties": {"name": {"type": "string"}, "type": {"type": "string", "enum": [
                    "string", "text", "integer", "float", "boolean", "datetime", "file",
                    "reference", "relation", "array", "object", "geopoint"]},
                    "target": {"type": "string"}, "filter_index": {"type": "boolean"},
                    "order_index": {"type": "boolean"}, "unique": {"type": "boolean"}},
                "required": ["name", "type"]}},
            "group": {"type": ["integer", "null"]},
            "group_permissions": {"type": "string", "enum": ["none", "read", "create_objects"]},
            "other_permissions": {"type": "string", "enum": ["none", "read", "create_objects"]},
            "metadata": metadata}),
        ("objects", _) | ("{id}", "objects") => {
            let perm = json!({"type": "string", "enum": ["none", "read", "write", "full"]});
            // The class's own fields come on top (its schema is the instance's data).
            json!({"owner": {"type": ["integer", "null"]}, "owner_permissions": perm,
                "group": {"type": ["integer", "null"]}, "group_permissions": perm,
                "other_permissions": perm, "channel": {"type": ["string", "null"]},
                "channel_room": {"type": ["string", "null"], "maxLength": 64}})
        }
        ("config", _) => json!({"config": {"type": "object"}}),
        ("scripts", _) | ("{id}", "scripts") => json!({"label": s(64), "description": s(256),
            "source": s(4096), "runtime_name": {"type": "string", "enum": ["python3", "nodejs", "ruby", "php"]},
            "config": {"type": "object"}}),
        ("run", _) => json!({"args": {"type": "object"}}),
        _ => json!({}),
    };
    json!({"type": "object", "properties": props, "additionalProperties": true})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_documents_its_errors_and_lists_their_envelope() {
        let (_, docs) = crate::api::all().into_parts();
        let doc = document(&docs);
        let mut lists = 0;
        for d in &docs {
            let op = &doc["paths"][d.path][d.method];
            assert!(
                op["responses"]["default"].is_object(),
                "{} {}",
                d.method,
                d.path
            );
            if op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
                == "#/components/schemas/List"
            {
                lists += 1;
            }
        }
        assert!(lists >= 15, "only {lists} lists documented");
    }
}
