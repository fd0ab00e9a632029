//! The query parser on generated input: arbitrary JSON (odd operator names, huge numbers,
//! deep nesting, odd text) is answered with `Ok` or a `QueryError`, never a panic; queries
//! built from the grammar parse; and parsing is deterministic.

use crate::grammar::{lookup_count, query_of, valid_lookup};
use proptest::prelude::*;
use rivia_core::query::{
    EvalObject, ParseCtx, Query, QueryError, Readable, Target, TargetKind, eval, parse_queries,
    parse_value,
};
use rivia_core::schema::{Schema, validate_schema};
use serde_json::{Map, Number, Value, json};

/// A class with one indexed field of every filterable type, plus an unindexed one and
/// references to itself and to users (for nested `_is` queries in both scopes).
fn schema() -> Schema {
    validate_schema(
        &json!([
            {"name": "name", "type": "string", "filter_index": true},
            {"name": "n", "type": "integer", "filter_index": true},
            {"name": "x", "type": "float", "filter_index": true},
            {"name": "ok", "type": "boolean", "filter_index": true},
            {"name": "at", "type": "datetime", "filter_index": true},
            {"name": "tags", "type": "array", "filter_index": true},
            {"name": "rel", "type": "relation", "target": "self", "filter_index": true},
            {"name": "ref", "type": "reference", "target": "self", "filter_index": true},
            {"name": "who", "type": "reference", "target": "user", "filter_index": true},
            {"name": "loc", "type": "geopoint", "filter_index": true},
            {"name": "hidden", "type": "integer"},
            {"name": "body", "type": "text"},
        ]),
        &Schema::default(),
        1,
        &|_| true,
    )
    .expect("the test schema is valid")
}

/// The `user_profile` schema a nested query on target `user` sees.
fn profile_schema() -> Schema {
    validate_schema(
        &json!([{"name": "nick", "type": "string", "filter_index": true}]),
        &Schema::default(),
        1,
        &|_| true,
    )
    .expect("the profile schema is valid")
}

fn resolve(target: &str) -> Option<Target> {
    match target {
        "self" => Some(Target {
            kind: TargetKind::Class(1),
            schema: schema(),
            readable: Readable::All,
        }),
        "user" => Some(Target {
            kind: TargetKind::User {
                profile_class_id: 2,
            },
            schema: profile_schema(),
            readable: Readable::All,
        }),
        _ => None,
    }
}

fn parse(v: &Value) -> Result<Query, QueryError> {
    let s = schema();
    let ctx = ParseCtx {
        schema: &s,
        user_scope: false,
        resolve: &resolve,
    };
    parse_value(v, &ctx)
}

fn parse_text(texts: &[&str]) -> Result<Query, QueryError> {
    let s = schema();
    let ctx = ParseCtx {
        schema: &s,
        user_scope: false,
        resolve: &resolve,
    };
    parse_queries(texts, &ctx)
}

/// Names a query may use: every schema field, built-in columns, user-scope columns, and
/// near misses.
const FIELD_NAMES: &[&str] = &[
    "name",
    "n",
    "x",
    "ok",
    "at",
    "tags",
    "rel",
    "ref",
    "who",
    "loc",
    "hidden",
    "body",
    "id",
    "created_at",
    "updated_at",
    "revision",
    "owner",
    "group",
    "channel",
    "channel_room",
    "username",
    "nick",
    "Name",
    "",
    "_eq",
];

/// Every lookup of the language, plus near misses.
const LOOKUPS: &[&str] = &[
    "_eq",
    "_neq",
    "_gt",
    "_gte",
    "_lt",
    "_lte",
    "_in",
    "_nin",
    "_exists",
    "_contains",
    "_icontains",
    "_startswith",
    "_istartswith",
    "_endswith",
    "_iendswith",
    "_like",
    "_ilike",
    "_ieq",
    "_is",
    "_near",
    "eq",
    "_",
    "",
    "__eq",
    "_EQ",
    "_eq\u{0}",
    "_é",
];

/// Numbers at the edges of every domain the parser converts into.
fn edge_number() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!(0),
        json!(-1),
        json!(i32::MAX),
        json!(i32::MAX as i64 + 1),
        json!(i32::MIN),
        json!(i32::MIN as i64 - 1),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(f64::MAX),
        json!(f64::MIN),
        json!(f64::MIN_POSITIVE),
        json!(-0.0),
        json!(9.2e18),
        json!(-9.2e18),
        json!(1e16),
        json!(180.0),
        json!(-90.0),
        json!(40075.0),
        json!(24901.5),
    ])
}

/// Strings the parser treats specially: dates, LIKE escapes, quotes, NUL, long text.
fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z%_\\\\'\"]{0,12}",
        Just("2015-06-01 12:30".to_string()),
        Just("2015-06-01T12:30:00.5+02:00".to_string()),
        Just("+262143-12-31".to_string()),
        Just("-262144-01-01T00:00:00Z".to_string()),
        Just("+262143-12-31T23:59:59.999999-23:59".to_string()),
        Just("-262144-01-01 00:00+23:59".to_string()),
        Just("+262143-12-31T23:59:59.999999999999Z".to_string()),
        Just("9999-12-31T23:59:60Z".to_string()),
        Just("1".to_string()),
        Just("True".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just(" 12 ".to_string()),
        Just("\\".to_string()),
        Just("a\u{0}b".to_string()),
        (0usize..200).prop_map(|n| "x".repeat(n)),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        edge_number(),
        odd_string().prop_map(Value::String),
    ]
}

/// Keys of lookup or `_near` objects: lookups, `_near` parameters, anything.
fn inner_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(LOOKUPS).prop_map(str::to_string),
        2 => prop::sample::select(vec![
            "longitude", "latitude", "distance_in_kilometers", "distance_in_miles",
        ])
        .prop_map(str::to_string),
        1 => ".{0,8}",
    ]
}

/// Arbitrary JSON, nested up to a few levels, biased towards query-like keys.
fn any_json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((inner_key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Field names: mostly known ones, sometimes anything (including over 64 characters).
fn field_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(FIELD_NAMES).prop_map(str::to_string),
        1 => ".{0,70}",
        1 => (60usize..70).prop_map(|n| "k".repeat(n)),
    ]
}

/// Query-shaped JSON whose lookup values are arbitrary or, `depth` times over, another
/// (smaller) query, so `_is` nesting past the allowed single level is generated too.
fn query_shaped(depth: u32) -> BoxedStrategy<Value> {
    query_with_keys(depth, 0..20)
}

fn query_with_keys(depth: u32, keys: std::ops::Range<usize>) -> BoxedStrategy<Value> {
    let value = if depth == 0 {
        any_json().boxed()
    } else {
        prop_oneof![3 => any_json(), 1 => query_with_keys(depth - 1, 0..3)].boxed()
    };
    let lookups = prop_oneof![
        1 => any_json(),
        4 => prop::collection::vec((inner_key(), value), 0..4)
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
    ];
    prop_oneof![
        1 => any_json(),
        8 => prop::collection::vec((field_key(), lookups), keys)
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
    ]
    .boxed()
}

/// Number literals JSON text may hold, beyond what `f64`/`i64` represent.
fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{1,40}(\\.[0-9]{1,20})?([eE][-+]?[0-9]{1,4})?",
        prop::sample::select(vec![
            "1e400",
            "-1e400",
            "1e-400",
            "18446744073709551616",
            "-9223372036854775809",
            "2147483648",
            "-0",
            "0.0",
            "9.2e18",
            "1.7976931348623157e308",
        ])
        .prop_map(str::to_string),
    ]
}

/// A value wrapped `depth` times in alternating arrays and single-key objects.
fn nested(depth: usize, key: &str) -> Value {
    (0..depth).fold(json!(1), |inner, level| {
        if level % 2 == 0 {
            Value::Array(vec![inner])
        } else {
            let mut m = Map::new();
            m.insert(key.to_string(), inner);
            Value::Object(m)
        }
    })
}

fn object_with(data: Map<String, Value>, owner: Option<i64>) -> EvalObject {
    EvalObject {
        id: 1,
        created_at: 0,
        updated_at: 0,
        revision: 1,
        owner,
        group: None,
        channel: Some("c".into()),
        channel_room: None,
        data,
    }
}

proptest! {
    #![proptest_config(crate::config())]

    /// Arbitrary query-shaped JSON parses or is refused with a `QueryError`, the same way
    /// every time; whatever parses can be evaluated.
    #[test]
    fn arbitrary_json_never_panics(q in query_shaped(2), data in any_json()) {
        let first = parse(&q);
        prop_assert_eq!(&first, &parse(&q));
        if let Ok(parsed) = &first {
            let data = match data {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            let _ = eval(parsed, &object_with(data, Some(3)));
        }
    }

    /// The same holds for query text: JSON that is not a query, text that is not JSON,
    /// and numbers beyond what `f64`/`i64` hold.
    #[test]
    fn arbitrary_text_never_panics(
        q in query_shaped(1),
        field in prop::sample::select(FIELD_NAMES),
        op in prop::sample::select(LOOKUPS),
        number in number_literal(),
        junk in ".{0,40}",
    ) {
        let text = q.to_string();
        let numeric = format!(r#"{{"{field}": {{"{op}": {number}}}}}"#);
        let listed = format!(r#"{{"{field}": {{"{op}": [{number}, {number}]}}}}"#);
        for texts in [
            vec![text.as_str()],
            vec![numeric.as_str()],
            vec![listed.as_str(), numeric.as_str()],
            vec![junk.as_str()],
            vec!["", text.as_str(), ""],
        ] {
            let first = parse_text(&texts);
            prop_assert_eq!(&first, &parse_text(&texts));
        }
    }

    /// Deeply nested values (arrays and objects, far past serde_json's text limit) in
    /// any position are refused or parsed, never a stack overflow or a panic.
    #[test]
    fn deep_nesting_never_panics(
        depth in 0usize..400,
        field in prop::sample::select(FIELD_NAMES),
        op in prop::sample::select(LOOKUPS),
    ) {
        let deep = nested(depth, op);
        let _ = parse(&deep);
        let _ = parse(&json!({ field: deep }));
        let _ = parse(&json!({ field: { op: deep } }));
        let _ = parse(&json!({ "ref": { "_is": { field: { op: deep } } } }));
        let text = json!({ field: { op: nested(depth, "_eq") } }).to_string();
        let _ = parse_text(&[&text]);
    }

    /// Every query of the grammar parses, into one condition per lookup, both as a value
    /// and as text, identically every time; and it can be evaluated.
    #[test]
    fn grammar_queries_parse(q in query_of(valid_lookup(true))) {
        let parsed = parse(&q);
        prop_assert!(parsed.is_ok(), "{} -> {:?}", q, parsed);
        let parsed = parsed.expect("checked above");
        prop_assert_eq!(parsed.conds.len(), lookup_count(&q));
        prop_assert_eq!(&parse(&q), &Ok(parsed.clone()));
        let text = q.to_string();
        prop_assert_eq!(&parse_text(&[&text]), &Ok(parsed.clone()));
        let _ = eval(&parsed, &object_with(Map::new(), None));
    }

    /// Several `query` parameters are one conjunction: their conditions, in order.
    #[test]
    fn parameters_are_anded(
        a in query_of(valid_lookup(false)),
        b in query_of(valid_lookup(false)),
    ) {
        let (ta, tb) = (a.to_string(), b.to_string());
        let both = parse_text(&[&ta, &tb]).expect("valid");
        let mut conds = parse(&a).expect("valid").conds;
        conds.extend(parse(&b).expect("valid").conds);
        prop_assert_eq!(both.conds, conds);
    }
}

/// The datetime edges chrono can represent, with offsets pushing them past its range,
/// on a built-in and a schema datetime: refused or parsed, never a panic (checked every
/// run rather than left to the generator's odds).
#[test]
fn datetime_edges_never_panic() {
    let edges = [
        "+262143-12-31T23:59:59.999999-23:59",
        "-262144-01-01 00:00+23:59",
        "-262144-01-01T00:00:00Z",
        "+262143-12-31",
        "+262144-01-01",
        "9999-12-31T23:59:60Z",
        "0000-01-01T00:00:00+00:01",
    ];
    for field in ["created_at", "at"] {
        for edge in edges {
            let _ = parse(&json!({ field: { "_gt": edge, "_in": [edge, edge] } }));
        }
    }
}
