//! A bounded request fuzzer (issue #13 §4) through the whole app on both backends: the
//! query language (`query`, `order_by`), cursors (`page_size`, `direction`, `last_pk`,
//! `last_value`, `last_id`), field selection, and bodies of every content type (JSON,
//! `text/plain` with `_method`, form, multipart, garbage) sent to the data-object,
//! channel, user and batch routes. Every answer must be JSON and below 500.
//!
//! Cases: `RIVIA_FUZZ_CASES` (default 300 per backend, what CI runs); a longer run is
//! `RIVIA_FUZZ_CASES=20000 cargo test -p rivia-server --test api fuzz_requests`.

use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRunner};
use serde_json::{Value, json};

crate::both_backends!(
    settings(|s| s.poll_timeout = std::time::Duration::from_millis(20)),
    generated_requests_never_answer_a_server_error,
);

const BASE: &str = "/v1.1/instances/fuzz-inst";

fn cases() -> u32 {
    std::env::var("RIVIA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// Text a client could put in a parameter: printable, odd Unicode, or JSON-ish.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        "[ -~]{0,30}",
        "\\PC{0,12}",
        "-?[0-9]{1,12}",
        Just(String::new()),
        Just("2147483648".to_string()),
        Just("9223372036854775808".to_string()),
        Just("1e309".to_string()),
    ]
    .boxed()
}

fn field() -> BoxedStrategy<String> {
    prop_oneof![
        Just("title".to_string()),
        Just("n".to_string()),
        Just("f".to_string()),
        Just("when".to_string()),
        Just("tags".to_string()),
        Just("ref".to_string()),
        Just("rel".to_string()),
        Just("id".to_string()),
        Just("owner".to_string()),
        Just("created_at".to_string()),
        "[a-z_]{1,8}",
    ]
    .boxed()
}

fn lookup() -> BoxedStrategy<String> {
    prop_oneof![
        Just("_eq"),
        Just("_neq"),
        Just("_gt"),
        Just("_gte"),
        Just("_lt"),
        Just("_lte"),
        Just("_in"),
        Just("_nin"),
        Just("_exists"),
        Just("_contains"),
        Just("_icontains"),
        Just("_startswith"),
        Just("_istartswith"),
        Just("_endswith"),
        Just("_ieq"),
        Just("_near"),
        Just("_is"),
        Just("_contains"),
        Just("_like"),
        Just("_bogus"),
    ]
    .prop_map(str::to_string)
    .boxed()
}

fn json_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ]
    .boxed()
}

fn json_value() -> BoxedStrategy<Value> {
    json_leaf()
        .prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(field(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .boxed()
}

/// A `query` value: mostly structured (fields, lookups, values of any type, nesting),
/// sometimes arbitrary text.
fn query() -> BoxedStrategy<String> {
    let condition = (field(), lookup(), json_value()).prop_map(|(f, l, v)| json!({ f: { l: v } }));
    prop_oneof![
        3 => prop::collection::vec(condition, 1..3).prop_map(|cs| {
            let mut m = serde_json::Map::new();
            for c in cs {
                if let Value::Object(o) = c {
                    m.extend(o);
                }
            }
            Value::Object(m).to_string()
        }),
        1 => json_value().prop_map(|v| v.to_string()),
        1 => text(),
    ]
    .boxed()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Query parameters of lists and reads, each present or not.
fn params() -> BoxedStrategy<String> {
    let names = prop_oneof![
        Just("query"),
        Just("order_by"),
        Just("page_size"),
        Just("direction"),
        Just("last_pk"),
        Just("last_value"),
        Just("fields"),
        Just("excluded_fields"),
        Just("include_count"),
        Just("ordering"),
        Just("room"),
        Just("last_id"),
        Just("username__startswith"),
        Just("name__startswith"),
        Just("format"),
    ];
    let value = prop_oneof![3 => text(), 2 => query(), 1 => field().prop_map(|f| format!("-{f}"))];
    prop::collection::vec((names, value), 0..6)
        .prop_map(|ps| {
            ps.into_iter()
                .map(|(k, v)| format!("{k}={}", encode(&v)))
                .collect::<Vec<_>>()
                .join("&")
        })
        .boxed()
}

/// A body: content type and bytes.
fn body() -> BoxedStrategy<GenBody> {
    let json_body =
        json_value().prop_map(|v| ("application/json".to_string(), v.to_string().into_bytes()));
    let object_body = prop::collection::btree_map(field(), json_value(), 0..5).prop_map(|m| {
        (
            "application/json".to_string(),
            Value::Object(m.into_iter().collect())
                .to_string()
                .into_bytes(),
        )
    });
    let plain = (
        prop_oneof![Just("GET"), Just("PATCH"), Just("DELETE"), Just("bogus")],
        json_value(),
    )
        .prop_map(|(m, v)| {
            (
                "text/plain".to_string(),
                json!({"_method": m, "title": v}).to_string().into_bytes(),
            )
        });
    let form = prop::collection::vec((field(), text()), 0..4).prop_map(|ps| {
        let body = ps
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        (
            "application/x-www-form-urlencoded".to_string(),
            body.into_bytes(),
        )
    });
    let multipart = (
        field(),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(|(name, data, as_file)| {
            let disposition = if as_file {
                format!("form-data; name=\"{name}\"; filename=\"x.bin\"")
            } else {
                format!("form-data; name=\"{name}\"")
            };
            let mut b = format!("--BnD\r\nContent-Disposition: {disposition}\r\n\r\n").into_bytes();
            b.extend_from_slice(&data);
            b.extend_from_slice(b"\r\n--BnD--\r\n");
            ("multipart/form-data; boundary=BnD".to_string(), b)
        });
    let garbage = ("[ -~]{0,30}", prop::collection::vec(any::<u8>(), 0..64));
    prop_oneof![3 => object_body, 1 => json_body, 1 => plain, 1 => form, 1 => multipart, 1 => garbage].boxed()
}

/// A body's content type and bytes.
type GenBody = (String, Vec<u8>);

/// One request: method, path (with its query) and body.
fn request() -> BoxedStrategy<(String, String, Option<GenBody>)> {
    let id = prop_oneof![
        Just("1".to_string()),
        Just("2".to_string()),
        "[0-9]{1,11}",
        "[ -~&&[^/?#%]]{1,6}"
    ];
    let path = prop_oneof![
        Just(format!("{BASE}/classes/things/objects/")),
        id.clone()
            .prop_map(|i| format!("{BASE}/classes/things/objects/{}/", encode(&i))),
        Just(format!("{BASE}/channels/room/history/")),
        Just(format!("{BASE}/channels/room/poll/")),
        Just(format!("{BASE}/channels/room/publish/")),
        Just(format!("{BASE}/users/")),
        Just(format!("{BASE}/classes/")),
        Just(format!("{BASE}/classes/things/")),
        Just(format!("{BASE}/batch/")),
        id.prop_map(|i| format!("{BASE}/users/{}/", encode(&i))),
    ];
    let method = prop_oneof![3 => Just("GET"), 2 => Just("POST"), 2 => Just("PATCH"), 1 => Just("PUT"), 1 => Just("DELETE")];
    (method, path, params(), prop::option::of(body()))
        .prop_map(|(m, p, q, b)| {
            let path = if q.is_empty() { p } else { format!("{p}?{q}") };
            (m.to_string(), path, if m == "GET" { None } else { b })
        })
        .boxed()
}

async fn world(app: &TestApp) -> String {
    let key = app.admin_with_instance("fuzz-inst").await;
    let ok =
        |r: crate::helpers::Response| assert!(r.status.is_success(), "{} {}", r.request, r.body);
    ok(app
        .as_key(
            &key,
            "POST",
            &format!("{BASE}/classes/"),
            Some(json!({"name": "things", "schema": [
                {"name": "title", "type": "string", "filter_index": true, "order_index": true},
                {"name": "n", "type": "integer", "filter_index": true, "order_index": true},
                {"name": "f", "type": "float", "filter_index": true, "order_index": true},
                {"name": "when", "type": "datetime", "filter_index": true, "order_index": true},
                {"name": "tags", "type": "array", "filter_index": true},
                {"name": "ref", "type": "reference", "target": "self", "filter_index": true},
                {"name": "rel", "type": "relation", "target": "self", "filter_index": true},
                {"name": "geo", "type": "geopoint", "filter_index": true},
                {"name": "file", "type": "file"},
                {"name": "obj", "type": "object"},
            ]})),
        )
        .await);
    for i in 0..3 {
        ok(app.as_key(&key, "POST", &format!("{BASE}/classes/things/objects/"),
            Some(json!({"title": format!("t{i}"), "n": i, "f": i as f64 / 3.0, "tags": ["a", i]}))).await);
    }
    ok(app
        .as_key(
            &key,
            "POST",
            &format!("{BASE}/channels/"),
            Some(json!({"name": "room", "custom_publish": true})),
        )
        .await);
    key
}

async fn generated_requests_never_answer_a_server_error(app: TestApp) {
    let key = world(&app).await;
    let mut runner = TestRunner::new(Config {
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    });
    let strategy = request();
    let n = cases();
    for case in 0..n {
        let (method, path, body) = strategy.new_tree(&mut runner).expect("tree").current();
        let mut builder = Request::builder()
            .method(method.as_str())
            .uri(&path)
            .header("x-api-key", &key);
        let body = match body {
            Some((ct, bytes)) => {
                builder = builder.header("content-type", ct);
                Body::from(bytes)
            }
            None => Body::empty(),
        };
        let req = builder.body(body).expect("request");
        let r = app.send(req).await;
        assert!(
            r.status.as_u16() < 500,
            "case {case}: {method} {path} → {} {}",
            r.status,
            r.body
        );
        // Every answer but a 204 is JSON (the helper keeps non-JSON text as a string).
        if r.status.as_u16() != 204 {
            assert!(
                !r.body.is_string() || r.header("content-type") == Some("application/json"),
                "case {case}: {method} {path} → {} not JSON: {}",
                r.status,
                r.body
            );
        }
    }
}
