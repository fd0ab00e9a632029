//! Unit tests of the query language: Syncano's exact parse errors and the reference
//! semantics of [`eval()`](super::eval()).

use super::*;
use crate::schema::validate_schema;
use serde_json::{Map, Value, json};

fn schema() -> Schema {
    validate_schema(
        &json!([
            {"name": "name", "type": "string", "filter_index": true},
            {"name": "n", "type": "integer", "filter_index": true},
            {"name": "hidden", "type": "integer"},
            {"name": "tags", "type": "array", "filter_index": true},
            {"name": "ref", "type": "reference", "target": "self", "filter_index": true},
            {"name": "loc", "type": "geopoint", "filter_index": true},
        ]),
        &Schema::default(),
        1,
        &|_| true,
    )
    .expect("schema")
}

fn parse(q: Value) -> Result<Query, QueryError> {
    let s = schema();
    let resolve = |t: &str| {
        (t == "self").then(|| Target {
            kind: TargetKind::Class(1),
            schema: schema(),
            readable: Readable::All,
        })
    };
    let ctx = ParseCtx {
        schema: &s,
        user_scope: false,
        resolve: &resolve,
    };
    parse_value(&q, &ctx)
}

fn err(q: Value) -> QueryError {
    parse(q).expect_err("invalid")
}

fn f(m: &str) -> QueryError {
    QueryError::Field(m.into())
}

#[test]
fn field_errors() {
    assert_eq!(
        err(json!({"nope": {"_eq": 1}})),
        f("Invalid field name defined: \"nope\".")
    );
    assert_eq!(
        err(json!({"hidden": {"_eq": 1}})),
        f("Field \"hidden\" cannot be used in a query as it is not indexed.")
    );
    assert_eq!(
        err(json!({"n": 1})),
        f("Invalid field \"n\" lookup type. Expected JSON object.")
    );
    assert_eq!(
        err(json!({"n": {"_foo": 1}})),
        f("Invalid lookup \"_foo\" defined for field \"n\".")
    );
    assert_eq!(
        err(json!({"n": {"_contains": "a"}})),
        f("Invalid lookup \"_contains\" defined for field \"n\".")
    );
    assert_eq!(
        err(json!({"n": {"_eq": null}})),
        f("Invalid value type provided for \"eq\" lookup of field \"n\".")
    );
    assert_eq!(
        err(json!({"n": {"_gt": "abc"}})),
        f(
            "Validation of value provided for \"gt\" lookup of field \"n\" failed: 'abc' value must be an integer."
        )
    );
    assert_eq!(
        err(json!({"id": {"_eq": -1}})),
        f(
            "Validation of value provided for \"eq\" lookup of field \"id\" failed: Ensure this value is greater than or equal to 0."
        )
    );
    assert_eq!(
        err(json!({"n": {"_in": (0..129).collect::<Vec<_>>()}})),
        f("Too many values provided for \"in\" lookup of field \"n\". Max 128.")
    );
    assert_eq!(
        err(json!({"n": {"_exists": "true"}})),
        f("Invalid value type provided for \"exists\" lookup of field \"n\".")
    );
    assert_eq!(
        err(json!({"channel": {"_in": ["a", 1]}})),
        f("Invalid value type provided for \"in\" lookup of field \"channel\".")
    );
    assert_eq!(
        err(json!({"channel_room": {"_contains": "a"}})),
        f("contains is not supported on this field type.")
    );
    assert_eq!(
        err(json!({"loc": {"_near": {"longitude": 190, "latitude": 0}}})),
        f("Invalid longitude/latitude values.")
    );
    assert_eq!(
        err(
            json!({"loc": {"_near": {"longitude": 1, "latitude": 0, "distance_in_kilometers": 50000}}})
        ),
        f("Invalid distance value.")
    );
    assert_eq!(
        err(json!({"created_at": {"_gt": "yesterday"}})),
        f(
            "Validation of value provided for \"gt\" lookup of field \"created_at\" failed: 'yesterday' value has an invalid format. It must be in YYYY-MM-DD HH:MM[:ss[.uuuuuu]][TZ] format."
        )
    );
}

#[test]
fn structural_errors() {
    let s = |m: &str| QueryError::Structural(m.into());
    assert_eq!(err(json!([1])), s("Query passed in invalid format."));
    let many: Map<String, Value> = (0..17).map(|i| (format!("k{i}"), json!({}))).collect();
    assert_eq!(
        err(Value::Object(many)),
        s("Too many keys defined (exceeds 16).")
    );
    assert_eq!(
        err(json!({"ref": {"_is": {"ref": {"_is": {"n": {"_eq": 1}}}}}})),
        s("Double nested queries are not allowed.")
    );
    assert_eq!(
        err(json!({"n": {"_in": vec!["x".repeat(100); 100]}})),
        s("Too long value defined for key n (exceeds 8192).")
    );
}

#[test]
fn eval_semantics() {
    let s = schema();
    let key = |n: &str| s.field(n).expect("field").key.clone();
    let mut data = Map::new();
    data.insert(key("n"), json!(5));
    data.insert(key("name"), json!("Hello world"));
    data.insert(key("tags"), json!(["a", 1]));
    let o = EvalObject {
        id: 1,
        created_at: 0,
        updated_at: 0,
        revision: 1,
        owner: None,
        group: None,
        channel: None,
        channel_room: None,
        data,
    };
    let yes = |q: Value| eval(&parse(q).expect("valid"), &o);
    assert!(yes(json!({"n": {"_gt": 4, "_lte": "5"}})));
    assert!(yes(json!({"owner": {"_neq": 3}})));
    assert!(yes(json!({"owner": {"_nin": [3]}})));
    assert!(!yes(json!({"owner": {"_in": [3]}})));
    assert!(!yes(json!({"n": {"_in": []}})));
    assert!(yes(
        json!({"name": {"_icontains": "WORLD", "_like": "H%o _orld"}})
    ));
    assert!(!yes(json!({"name": {"_contains": "WORLD"}})));
    assert!(yes(json!({"tags": {"_contains": ["a", 1]}})));
    assert!(!yes(json!({"tags": {"_contains": ["1"]}})));
    assert!(yes(json!({"loc": {"_exists": false}})));
}

#[test]
fn like_patterns() {
    assert!(like_match("data%_a", "data\\%\\_a"));
    assert!(!like_match("dataX_a", "data\\%\\_a"));
    assert!(like_match("abc", "a%"));
    assert!(like_match("abc", "%"));
    assert!(!like_match("abc", "a_"));
}
