//! The values built from a view's data are those parsed from its JSON.

use super::build;
use crate::templates::engine::compile;
use crate::templates::json::parse;
use minijinja::value::Value;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::json;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// A map written with a repeated key (serde_json writes both; a reader keeps the first
/// place and the last value).
struct Repeats;

impl Serialize for Repeats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("a", &1)?;
        m.serialize_entry("b", &2)?;
        m.serialize_entry("a", &3)?;
        m.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Plain,
    OtherKind,
}

#[derive(Serialize)]
struct Page<'a> {
    next: Option<String>,
    prev: Option<&'a str>,
    objects: Vec<Object<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<i64>,
}

#[derive(Serialize)]
struct Object<'a> {
    id: i64,
    neg: i32,
    big: u64,
    ratio: f64,
    nan: f64,
    flag: bool,
    kind: Kind,
    data: &'a RawValue,
    ids: BTreeMap<i32, &'a str>,
    nested: Vec<Option<(u8, char)>>,
    unit: (),
}

fn raw(text: &str) -> &RawValue {
    serde_json::from_str(text).expect("raw JSON")
}

/// Built values and parsed JSON print the same through these templates, and are equal.
fn same<T: Serialize>(body: &T) {
    let built = build(body).expect("builds");
    let text = serde_json::to_vec(body).expect("serialises");
    let parsed = parse(&text).expect("parses");
    assert_eq!(built.value, parsed);
    for source in [
        "{{ v }}",
        "{{ v|tojson }}",
        "{% for k, x in v|items %}{{ k }}={{ x }};{% endfor %}",
        "{% for o in v.objects %}{{ o.keys()|list }}{{ o.data }}{{ o.ids['1'] }}{{ o.ratio }}{{ o.kind }}{% endfor %}",
    ] {
        let compiled = compile(source).expect("compiles");
        let render = |v: &Value| {
            compiled
                .render(Value::from_pairs([("v", v.clone())]))
                .unwrap_or_else(|e| format!("error {e:?}"))
        };
        assert_eq!(render(&built.value), render(&parsed), "{source}");
    }
}

#[test]
fn built_values_are_the_parsed_json_s() {
    let data = [
        raw(r#"{"x": [1, 2.5, "é\n"], "y": {"z": null}}"#),
        raw("17"),
        raw(r#""s""#),
    ];
    let object = |i: usize| Object {
        id: i as i64,
        neg: -3,
        big: u64::MAX,
        ratio: 0.1 + i as f64,
        nan: f64::NAN,
        flag: i.is_multiple_of(2),
        kind: if i == 0 { Kind::Plain } else { Kind::OtherKind },
        data: data[i % 3],
        ids: BTreeMap::from([(1, "one"), (-2, "minus two")]),
        nested: vec![None, Some((7, 'c'))],
        unit: (),
    };
    same(&Page {
        next: Some("/n?a=1".into()),
        prev: None,
        objects: (0..5).map(object).collect(),
        count: Some(5),
    });
    same(&Page {
        next: None,
        prev: Some("p"),
        objects: Vec::new(),
        count: None,
    });
    same(&Repeats);
    same(&json!({"a": [{"k": 1}, {"k": 2, "l": 3}, {"k": 4}], "b": [], "c": {}}));
    let wide: BTreeMap<String, usize> = (0..40).map(|i| (format!("k{i}"), i)).collect();
    same(&wide);
    same(&json!([1, -1, 1.5, "x", null, true]));
}

#[test]
fn fingerprints_tell_data_apart() {
    let print = |v: &serde_json::Value| build(v).expect("builds").fingerprint;
    assert_eq!(
        print(&json!({"a": [1, "x"]})),
        print(&json!({"a": [1, "x"]}))
    );
    for (a, b) in [
        (json!({"a": 1}), json!({"a": 1.0})),
        (json!({"a": 1}), json!({"a": "1"})),
        (json!({"a": 1}), json!({"b": 1})),
        (json!(["ab"]), json!(["a", "b"])),
        (json!([[1], 2]), json!([[1, 2]])),
        (json!({"a": {}}), json!({"a": []})),
        (json!(null), json!(false)),
        // Keys are printed once per key set, then by number: the numbers still tell
        // rows with other keys apart, wherever they come.
        (json!([{"a": 1}, {"b": 1}]), json!([{"a": 1}, {"a": 1}])),
        (
            json!([{"a": 1}, {"b": 1}, {"a": 1}]),
            json!([{"a": 1}, {"b": 1}, {"b": 1}]),
        ),
        (json!([{"ab": 1, "c": 2}]), json!([{"a": 1, "bc": 2}])),
        (json!([{"a": {"b": 1}}]), json!([{"b": {"a": 1}}])),
    ] {
        assert_ne!(print(&a), print(&b), "{a} vs {b}");
    }
    // A fingerprint never equals JSON text.
    assert_eq!(print(&json!(1)).first(), Some(&0xff));
}

#[test]
fn forms_serde_json_writes_otherwise_are_refused() {
    assert!(build(&1.5f32).is_none());
    assert!(build(&serde_bytes_like()).is_none());
    #[derive(Serialize)]
    enum Data {
        Tuple(u8, u8),
    }
    assert!(build(&Data::Tuple(1, 2)).is_none());
    assert!(build(&BTreeMap::from([(true, 1)])).is_none());
}

/// A value serialised as bytes.
fn serde_bytes_like() -> impl Serialize {
    struct Bytes;
    impl Serialize for Bytes {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(b"ab")
        }
    }
    Bytes
}
