//! The query grammar as proptest strategies: every query generated here is valid for the
//! test schema of `query.rs` (fields, lookups and values in their domains), so the parser
//! must accept it.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

fn string_value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 %_\\\\'\"é]{0,20}"
}

fn datetime_value() -> impl Strategy<Value = String> {
    (
        1900i32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        any::<bool>(),
    )
        .prop_map(|(y, mo, d, h, mi, s, t)| {
            let sep = if t { 'T' } else { ' ' };
            format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}")
        })
}

fn int_value() -> BoxedStrategy<Value> {
    prop_oneof![
        (i32::MIN as i64..=i32::MAX as i64).prop_map(Value::from),
        (-1000i64..1000).prop_map(|i| Value::String(i.to_string())),
    ]
    .boxed()
}

fn id_value() -> BoxedStrategy<Value> {
    (0..=i32::MAX as i64).prop_map(Value::from).boxed()
}

/// Floats JSON text writes and reads back exactly.
fn float_value() -> BoxedStrategy<Value> {
    prop_oneof![
        (-1_000_000i64..1_000_000).prop_map(|i| json!(i as f64 / 4.0)),
        (-1000i64..1000).prop_map(Value::from),
    ]
    .boxed()
}

fn list_of<S: Strategy<Value = Value>>(s: S) -> impl Strategy<Value = Value> {
    prop::collection::vec(s, 0..8).prop_map(Value::Array)
}

/// Comparison lookups (`_eq` … `_in`/`_nin`) over a value strategy.
fn comparisons(s: BoxedStrategy<Value>) -> BoxedStrategy<(String, Value)> {
    prop_oneof![
        (
            prop::sample::select(vec!["_eq", "_neq", "_gt", "_gte", "_lt", "_lte"]),
            s.clone()
        )
            .prop_map(|(op, v)| (op.to_string(), v)),
        (prop::sample::select(vec!["_in", "_nin"]), list_of(s))
            .prop_map(|(op, v)| (op.to_string(), v)),
        any::<bool>().prop_map(|b| ("_exists".to_string(), Value::Bool(b))),
    ]
    .boxed()
}

fn string_lookups() -> BoxedStrategy<(String, Value)> {
    let text = string_value().prop_map(Value::String).boxed();
    prop_oneof![
        comparisons(text.clone()),
        (
            prop::sample::select(vec![
                "_contains",
                "_icontains",
                "_startswith",
                "_istartswith",
                "_endswith",
                "_iendswith",
                "_like",
                "_ilike",
                "_ieq",
            ]),
            text
        )
            .prop_map(|(op, v)| (op.to_string(), v)),
    ]
    .boxed()
}

fn near_lookup() -> impl Strategy<Value = (String, Value)> {
    (
        -179_000i64..179_000,
        -89_000i64..89_000,
        prop_oneof![
            Just(None),
            (0i64..=40075).prop_map(|d| Some(("distance_in_kilometers", d))),
            (0i64..=24901).prop_map(|d| Some(("distance_in_miles", d))),
        ],
    )
        .prop_map(|(lon, lat, distance)| {
            let mut m = Map::new();
            m.insert("longitude".into(), json!(lon as f64 / 1000.0));
            m.insert("latitude".into(), json!(lat as f64 / 1000.0));
            if let Some((k, d)) = distance {
                m.insert(k.into(), json!(d));
            }
            ("_near".to_string(), Value::Object(m))
        })
}

/// One valid `(field, lookup, value)` of the test schema's scope; with `nested`, `_is`
/// lookups on the references carry a valid query of the target's scope.
pub fn valid_lookup(nested: bool) -> BoxedStrategy<(String, String, Value)> {
    let on = |field: &'static str, s: BoxedStrategy<(String, Value)>| {
        s.prop_map(move |(op, v)| (field.to_string(), op, v))
            .boxed()
    };
    let date = datetime_value().prop_map(Value::String).boxed();
    let scalars = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        (-100i64..100).prop_map(Value::from),
        "[a-z]{0,5}".prop_map(Value::String),
    ];
    let mut options: Vec<BoxedStrategy<(String, String, Value)>> = vec![
        on("name", string_lookups()),
        on("n", comparisons(int_value())),
        on("x", comparisons(float_value())),
        on(
            "ok",
            comparisons(any::<bool>().prop_map(Value::Bool).boxed()),
        ),
        on("at", comparisons(date.clone())),
        on("created_at", comparisons(date)),
        on("id", comparisons(id_value())),
        on("owner", comparisons(id_value())),
        on("revision", comparisons(int_value())),
        on(
            "channel",
            comparisons("[a-z]{0,10}".prop_map(Value::String).boxed()),
        ),
        on(
            "tags",
            list_of(scalars)
                .prop_map(|v| ("_contains".to_string(), v))
                .boxed(),
        ),
        on(
            "rel",
            list_of(id_value())
                .prop_map(|v| ("_contains".to_string(), v))
                .boxed(),
        ),
        on("ref", comparisons(int_value())),
        on("loc", near_lookup().boxed()),
    ];
    if nested {
        let user_scope = prop_oneof![
            comparisons(id_value()).prop_map(|(op, v)| ("id".to_string(), op, v)),
            string_lookups().prop_map(|(op, v)| ("username".to_string(), op, v)),
            string_lookups().prop_map(|(op, v)| ("nick".to_string(), op, v)),
        ];
        options.push(
            query_of(valid_lookup(false))
                .prop_map(|q| ("ref".to_string(), "_is".to_string(), q))
                .boxed(),
        );
        options.push(
            query_of(user_scope.boxed())
                .prop_map(|q| ("who".to_string(), "_is".to_string(), q))
                .boxed(),
        );
    }
    prop::strategy::Union::new(options).boxed()
}

/// A query of up to 16 fields built from `(field, lookup, value)` triples.
pub fn query_of(lookups: BoxedStrategy<(String, String, Value)>) -> impl Strategy<Value = Value> {
    prop::collection::vec(lookups, 0..12).prop_map(|triples| {
        let mut q = Map::new();
        for (field, op, v) in triples {
            let entry = q.entry(field).or_insert_with(|| json!({}));
            if let Value::Object(m) = entry {
                m.insert(op, v);
            }
        }
        Value::Object(q)
    })
}

/// How many conditions a query of the grammar has (one per lookup).
pub fn lookup_count(q: &Value) -> usize {
    q.as_object().map_or(0, |m| {
        m.values().filter_map(Value::as_object).map(Map::len).sum()
    })
}
