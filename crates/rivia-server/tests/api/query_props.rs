//! Property test of the query language: on random objects and random queries, the rows the
//! SQL compiler selects (through the real HTTP API) are exactly the rows the reference
//! evaluator in `rivia_core::query` accepts — on SQLite and on PostgreSQL.

use crate::helpers::{Backend, TestApp};
use axum::http::StatusCode;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use rivia_core::query::{EvalObject, ParseCtx, eval, parse_queries};
use rivia_core::schema::Schema;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

const INST: &str = "query-props";

fn value_for(field: &str) -> BoxedStrategy<Value> {
    match field {
        "n" | "id" => (-3i64..12).prop_map(Value::from).boxed(),
        "f" => prop_oneof![
            (-3i64..6).prop_map(|v| json!(v as f64 / 2.0)),
            Just(json!(1))
        ]
        .boxed(),
        "b" => any::<bool>().prop_map(Value::from).boxed(),
        _ => "[aAb_%]{0,3}".prop_map(Value::from).boxed(),
    }
}

fn object_value(field: &'static str) -> BoxedStrategy<Value> {
    prop_oneof![1 => Just(Value::Null), 4 => value_for(field)].boxed()
}

fn condition() -> BoxedStrategy<(String, Value)> {
    let fields = prop_oneof![Just("n"), Just("f"), Just("b"), Just("s"), Just("id")];
    fields
        .prop_flat_map(|field| {
            let mut ops = vec![
                "_eq", "_neq", "_gt", "_gte", "_lt", "_lte", "_in", "_nin", "_exists",
            ];
            if field == "s" {
                ops.extend([
                    "_startswith",
                    "_istartswith",
                    "_endswith",
                    "_iendswith",
                    "_contains",
                    "_icontains",
                    "_ieq",
                    "_like",
                    "_ilike",
                ]);
            }
            (
                Just(field),
                proptest::sample::select(ops),
                value_for(field),
                proptest::collection::vec(value_for(field), 0..4),
                any::<bool>(),
            )
        })
        .prop_map(|(field, op, v, list, flag)| {
            let value = match op {
                "_in" | "_nin" => Value::Array(list),
                "_exists" => Value::Bool(flag),
                _ => v,
            };
            (field.to_string(), json!({ op: value }))
        })
        .boxed()
}

fn query() -> BoxedStrategy<Value> {
    proptest::collection::vec(condition(), 1..3)
        .prop_map(|conds| {
            let mut q = Map::new();
            for (field, cond) in conds {
                // Two conditions on one field merge their operators.
                match q.get_mut(&field) {
                    Some(Value::Object(existing)) => {
                        if let Value::Object(c) = cond {
                            existing.extend(c);
                        }
                    }
                    _ => {
                        q.insert(field, cond);
                    }
                }
            }
            Value::Object(q)
        })
        .boxed()
}

fn run(backend: Backend) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let Some(app) = rt.block_on(TestApp::new(backend)) else {
        return;
    };
    let admin = rt.block_on(app.admin_with_instance(INST));
    let schema = json!([
        {"name": "n", "type": "integer", "filter_index": true},
        {"name": "f", "type": "float", "filter_index": true},
        {"name": "b", "type": "boolean", "filter_index": true},
        {"name": "s", "type": "string", "filter_index": true},
    ]);
    let r = rt.block_on(app.as_key(
        &admin,
        "POST",
        &format!("/v1.1/instances/{INST}/classes/"),
        Some(json!({"name": "props", "schema": schema})),
    ));
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let objects_url = format!("/v1.1/instances/{INST}/classes/props/objects/");

    // Random objects, created through the API.
    let mut runner = TestRunner::new(Config {
        cases: 1,
        ..Config::default()
    });
    let object = (
        object_value("n"),
        object_value("f"),
        object_value("b"),
        object_value("s"),
    );
    let objects = proptest::collection::vec(object, 40)
        .new_tree(&mut runner)
        .expect("objects")
        .current();
    let mut ids = Vec::new();
    for (n, f, b, s) in objects {
        let r = rt.block_on(app.as_key(
            &admin,
            "POST",
            &objects_url,
            Some(json!({"n": n, "f": f, "b": b, "s": s})),
        ));
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        ids.push(r.body["id"].as_i64().expect("id"));
    }
    let class = rt
        .block_on(app.store.class_by_name(1, "props"))
        .expect("class")
        .expect("exists");
    let stored_schema = Schema::from_stored(&class.schema);
    let rows = rt
        .block_on(app.store.get_objects(class.id, &ids))
        .expect("rows");
    let eval_objects: Vec<EvalObject> = rows
        .iter()
        .map(|r| EvalObject {
            id: r.id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            revision: r.revision,
            owner: r.owner,
            group: r.group_id,
            channel: r.channel.clone(),
            channel_room: r.channel_room.clone(),
            data: serde_json::from_str(&r.data).unwrap_or_default(),
        })
        .collect();

    let matched = std::cell::Cell::new(0usize);
    let refused = std::cell::Cell::new(0usize);
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&query(), |q| {
        let text = q.to_string();
        let url = format!(
            "{objects_url}?page_size=100&query={}",
            rivia_core::page::encode_query_value(&text)
        );
        let r = rt.block_on(app.as_key(&admin, "GET", &url, None));
        let resolve = |_: &str| None;
        let parsed = parse_queries(
            &[text.as_str()],
            &ParseCtx {
                schema: &stored_schema,
                user_scope: false,
                resolve: &resolve,
            },
        );
        match parsed {
            Err(_) => {
                refused.set(refused.get() + 1);
                prop_assert_eq!(
                    r.status,
                    StatusCode::BAD_REQUEST,
                    "{} should be refused: {:?}",
                    text,
                    r.body
                )
            }
            Ok(parsed) => {
                prop_assert_eq!(r.status, StatusCode::OK, "{}: {:?}", text, r.body);
                let got: BTreeSet<i64> = r.body["objects"]
                    .as_array()
                    .expect("objects")
                    .iter()
                    .filter_map(|o| o["id"].as_i64())
                    .collect();
                let want: BTreeSet<i64> = eval_objects
                    .iter()
                    .filter(|o| eval(&parsed, o))
                    .map(|o| o.id)
                    .collect();
                if !want.is_empty() {
                    matched.set(matched.get() + 1);
                }
                prop_assert_eq!(got, want, "query {}", text);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{backend:?}: {e}");
    }
    // The generated queries must exercise both outcomes, or the comparison proves little.
    assert!(
        matched.get() >= 20,
        "only {} queries matched anything",
        matched.get()
    );
    assert!(refused.get() >= 1, "no invalid query was generated");
}

#[test]
fn sql_matches_the_reference_evaluator_sqlite() {
    run(Backend::Sqlite);
}

#[test]
fn sql_matches_the_reference_evaluator_postgres() {
    run(Backend::Postgres);
}
