//! Property test of the query compiler: on random objects and random queries, the SQL
//! result on each backend equals the reference evaluator `rivia_core::query::eval`.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::http::StatusCode;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use rivia_core::query::{EvalObject, ParseCtx, Query, parse_value};
use rivia_core::schema::Schema;
use rivia_store::objects::{ObjectListQuery, OrderField, Visibility};
use serde_json::{Map, Value, json};

both_backends!(sql_matches_reference_evaluator);

const INST: &str = "prop-inst";
const DATES: &[&str] = &[
    "2015-01-01T00:00:00.000000Z",
    "2015-06-01T12:30:00.500000Z",
    "2020-02-29T23:59:59.999999Z",
];

fn maybe(s: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![1 => Just(None), 3 => s.prop_map(Some)].boxed()
}

fn element() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(json!("a")),
        Just(json!("b")),
        Just(json!(1)),
        Just(json!(2)),
        Just(json!(true)),
        Just(json!("1")),
    ]
    .boxed()
}

fn text() -> BoxedStrategy<String> {
    "[aAbc%_]{0,3}".boxed()
}

fn object_body() -> impl Strategy<Value = Value> {
    (
        maybe(text().prop_map(Value::from).boxed()),
        maybe((-3i64..4).prop_map(Value::from).boxed()),
        maybe(
            prop::sample::select(vec![-1.5, 0.0, 0.5, 2.0])
                .prop_map(Value::from)
                .boxed(),
        ),
        maybe(any::<bool>().prop_map(Value::from).boxed()),
        maybe(
            prop::sample::select(DATES.to_vec())
                .prop_map(Value::from)
                .boxed(),
        ),
        maybe(
            prop::collection::vec(element(), 0..4)
                .prop_map(Value::from)
                .boxed(),
        ),
    )
        .prop_map(|(s, n, f, b, d, tags)| {
            let mut m = Map::new();
            for (k, v) in [
                ("s", s),
                ("n", n),
                ("f", f),
                ("b", b),
                ("d", d),
                ("tags", tags),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
}

fn cmp_op() -> BoxedStrategy<&'static str> {
    prop::sample::select(vec!["_eq", "_neq", "_gt", "_gte", "_lt", "_lte"]).boxed()
}

fn lookup(ids: Vec<i64>) -> BoxedStrategy<(String, String, Value)> {
    let f = |name: &'static str, ops: BoxedStrategy<&'static str>, v: BoxedStrategy<Value>| {
        (ops, v)
            .prop_map(move |(op, v)| (name.to_string(), op.to_string(), v))
            .boxed()
    };
    let str_ops = prop::sample::select(vec![
        "_eq",
        "_neq",
        "_gt",
        "_lte",
        "_contains",
        "_icontains",
        "_startswith",
        "_istartswith",
        "_endswith",
        "_iendswith",
        "_ieq",
        "_like",
        "_ilike",
    ])
    .boxed();
    prop_oneof![
        f("n", cmp_op(), (-3i64..4).prop_map(Value::from).boxed()),
        f(
            "n",
            prop::sample::select(vec!["_in", "_nin"]).boxed(),
            prop::collection::vec(-3i64..4, 0..4)
                .prop_map(Value::from)
                .boxed()
        ),
        f("s", str_ops, text().prop_map(Value::from).boxed()),
        f(
            "s",
            prop::sample::select(vec!["_in", "_nin"]).boxed(),
            prop::collection::vec(text(), 0..3)
                .prop_map(Value::from)
                .boxed()
        ),
        f(
            "f",
            cmp_op(),
            prop::sample::select(vec![-1.5, 0.0, 0.5, 1.0])
                .prop_map(Value::from)
                .boxed()
        ),
        f("b", cmp_op(), any::<bool>().prop_map(Value::from).boxed()),
        f(
            "d",
            cmp_op(),
            prop::sample::select(vec![
                "2015-01-01",
                "2015-06-01T12:30:00.5Z",
                "2020-02-29 23:59"
            ])
            .prop_map(Value::from)
            .boxed()
        ),
        f(
            "tags",
            Just("_contains").boxed(),
            prop::collection::vec(element(), 0..3)
                .prop_map(Value::from)
                .boxed()
        ),
        (
            prop::sample::select(vec!["n", "s", "f", "b", "d"]),
            any::<bool>()
        )
            .prop_map(|(n, v)| (n.to_string(), "_exists".to_string(), Value::from(v)))
            .boxed(),
        f(
            "id",
            cmp_op(),
            prop::sample::select(ids).prop_map(Value::from).boxed()
        ),
    ]
    .boxed()
}

fn query(ids: Vec<i64>) -> impl Strategy<Value = Value> {
    prop::collection::vec(lookup(ids), 1..4).prop_map(|conds| {
        let mut m: Map<String, Value> = Map::new();
        for (field, op, v) in conds {
            let entry = m.entry(field).or_insert_with(|| json!({}));
            entry[op.as_str()] = v;
        }
        Value::Object(m)
    })
}

async fn sql_matches_reference_evaluator(app: TestApp) {
    let key = app.admin_with_instance(INST).await;
    let schema_def = json!([
        {"name": "s", "type": "string", "filter_index": true},
        {"name": "n", "type": "integer", "filter_index": true},
        {"name": "f", "type": "float", "filter_index": true},
        {"name": "b", "type": "boolean", "filter_index": true},
        {"name": "d", "type": "datetime", "filter_index": true},
        {"name": "tags", "type": "array", "filter_index": true},
    ]);
    let r = app
        .as_key(
            &key,
            "POST",
            &format!("/v1.1/instances/{INST}/classes/"),
            Some(json!({"name": "prop", "schema": schema_def})),
        )
        .await;
    r.expect(StatusCode::CREATED);
    let mut runner = TestRunner::deterministic();
    for _ in 0..60 {
        let body = object_body().new_tree(&mut runner).expect("tree").current();
        let r = app
            .as_key(
                &key,
                "POST",
                &format!("/v1.1/instances/{INST}/classes/prop/objects/"),
                Some(body),
            )
            .await;
        r.expect(StatusCode::CREATED);
    }
    let inst = app.stored_instance(INST).await;
    let class = app
        .store
        .class_by_name(inst.id, "prop")
        .await
        .expect("db")
        .expect("class");
    let schema = Schema::from_stored(&class.schema);
    // Every object, in id order: one page of the store's list (60 objects).
    let everything = Query::default();
    let all_visible = Visibility::All;
    let (all, _) = app
        .store
        .list_objects(&ObjectListQuery {
            instance_id: inst.id,
            class_id: class.id,
            query: &everything,
            visibility: &all_visible,
            order: OrderField::Id,
            keyset: rivia_core::page::Keyset {
                sql_descending: false,
                bound: None,
                reverse_after: false,
                limit: 1000,
            },
            boundary: None,
            count: false,
            timeout: std::time::Duration::from_secs(5),
        })
        .await
        .expect("rows");
    let objects: Vec<EvalObject> = all
        .into_iter()
        .map(|r| EvalObject {
            id: r.id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            revision: r.revision,
            owner: r.owner,
            group: r.group_id,
            channel: r.channel,
            channel_room: r.channel_room,
            data: match serde_json::from_str(&r.data) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            },
        })
        .collect();
    let ids: Vec<i64> = objects.iter().map(|o| o.id).collect();
    let resolve = |_: &str| None;
    let ctx = ParseCtx {
        schema: &schema,
        user_scope: false,
        resolve: &resolve,
    };
    let mut matched_any = 0;
    for _ in 0..250 {
        let q = query(ids.clone())
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        let parsed = parse_value(&q, &ctx).unwrap_or_else(|e| panic!("{q}: {e:?}"));
        let want: Vec<i64> = objects
            .iter()
            .filter(|o| rivia_core::query::eval(&parsed, o))
            .map(|o| o.id)
            .collect();
        let list = ObjectListQuery {
            instance_id: inst.id,
            class_id: class.id,
            query: &parsed,
            visibility: &Visibility::All,
            order: OrderField::Id,
            keyset: rivia_core::page::Keyset {
                sql_descending: false,
                bound: None,
                reverse_after: false,
                limit: 1000,
            },
            boundary: None,
            count: true,
            timeout: std::time::Duration::from_secs(5),
        };
        let (rows, count) = app.store.list_objects(&list).await.expect("list");
        let got: Vec<i64> = rows.iter().map(|r| r.id).collect();
        assert_eq!(got, want, "{:?} query {q}", app.backend);
        assert_eq!(count, Some(want.len() as i64), "{q}");
        if !want.is_empty() && want.len() < ids.len() {
            matched_any += 1;
        }
    }
    assert!(
        matched_any > 50,
        "queries should discriminate: {matched_any}"
    );
}
