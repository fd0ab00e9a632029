//! Property tests (a bounded fuzzer) of the request body parsers: JSON, `text/plain` JSON
//! with `_method`, form-urlencoded and multipart (issue #13 §4). Arbitrary bytes under
//! any content type are answered Ok, 400 or 415, never a panic or a 500; well-formed
//! bodies come back as what was encoded.
//!
//! Cases per property: `RIVIA_FUZZ_CASES` (default 256, what CI runs); a longer run is
//! `RIVIA_FUZZ_CASES=100000 cargo test -p rivia-server --lib body_props`.

use super::{form_urlencoded_pairs, parse_bytes};
use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm};
use serde_json::{Map, Value};

fn config() -> Config {
    let cases = std::env::var("RIVIA_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        rng_algorithm: RngAlgorithm::XorShift,
        failure_persistence: None,
        ..Config::with_cases(cases)
    }
}

/// Parses on a small runtime of its own (multipart parsing is async, on bytes in memory).
fn parse(
    content_type: &str,
    method: &Method,
    bytes: Vec<u8>,
) -> Result<(super::ParsedBody, Option<Method>), crate::error::ApiError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(parse_bytes(content_type, method, Bytes::from(bytes)))
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::PATCH),
        Just(Method::DELETE)
    ]
}

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/json".to_string()),
        Just("application/json; charset=utf-8".to_string()),
        Just(String::new()),
        Just("text/plain".to_string()),
        Just("TEXT/PLAIN;charset=UTF-8".to_string()),
        Just("application/x-www-form-urlencoded".to_string()),
        Just("multipart/form-data; boundary=XyZ".to_string()),
        Just("multipart/form-data".to_string()),
        Just("multipart/form-data; boundary=".to_string()),
        "[ -~]{0,40}",
    ]
}

/// JSON values of any shape, with text that includes escapes and non-ASCII.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e300f64..1e300)
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Encodes as browsers do: letters and digits as they are, space as `+`, the rest `%XX`.
fn encode_form(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b if b.is_ascii_alphanumeric() || b"-._*".contains(&b) => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Percent-encodes every byte (the decoder must read any encoding back).
fn encode_all(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_under_any_content_type_are_ok_400_or_415(
        ct in content_type(),
        m in method(),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        if let Err(e) = parse(&ct, &m, bytes) {
            let status = e.status();
            prop_assert!(
                status == StatusCode::BAD_REQUEST || status == StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{status} {e:?}"
            );
        }
    }

    #[test]
    fn json_bodies_parse_to_what_was_sent(v in json_value(), plain in any::<bool>()) {
        let ct = if plain { "text/plain" } else { "application/json" };
        let text = serde_json::to_vec(&v).expect("json");
        let (parsed, method) = parse(ct, &Method::PUT, text).expect("valid JSON parses");
        prop_assert_eq!(parsed.value, Some(v));
        prop_assert!(method.is_none(), "only a POST's _method changes the method");
    }

    #[test]
    fn text_plain_method_override_applies_only_to_posts_and_known_methods(
        name in prop_oneof![
            Just("get".to_string()), Just("Put".to_string()), Just("PATCH".to_string()),
            Just("delete".to_string()), Just("post".to_string()), "\\PC{0,8}",
        ],
        post in any::<bool>(),
    ) {
        let body = serde_json::to_vec(&serde_json::json!({"_method": name})).expect("json");
        let method = if post { Method::POST } else { Method::PATCH };
        let (_, new) = parse("text/plain", &method, body).expect("parses");
        let upper = name.to_ascii_uppercase();
        let known = ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&upper.as_str());
        match new {
            Some(m) => prop_assert!(post && known && m.as_str() == upper),
            None => prop_assert!(!post || !known),
        }
    }

    #[test]
    fn form_bodies_decode_what_was_encoded(
        pairs in prop::collection::vec(("\\PC{1,10}", "\\PC{0,10}"), 0..8),
        percent_everything in any::<bool>(),
    ) {
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                if percent_everything {
                    format!("{}={}", encode_all(k), encode_all(v))
                } else {
                    format!("{}={}", encode_form(k), encode_form(v))
                }
            })
            .collect();
        let body = encoded.join("&");
        prop_assert_eq!(form_urlencoded_pairs(body.as_bytes()), pairs.clone());
        let (parsed, _) = parse("application/x-www-form-urlencoded", &Method::POST, body.into_bytes())
            .expect("forms always parse");
        // Last value wins, as for query parameters; an empty body is no body.
        let mut expected = Map::new();
        for (k, v) in &pairs {
            expected.insert(k.clone(), Value::String(v.clone()));
        }
        let expected = (!pairs.is_empty()).then_some(Value::Object(expected));
        prop_assert_eq!(parsed.value, expected);
    }

    #[test]
    fn multipart_bodies_give_back_their_fields_and_files(
        fields in prop::collection::btree_map("[a-z_]{1,8}", "[ -~]{0,16}", 0..5),
        files in prop::collection::vec(("[a-z]{1,8}", "[a-z]{1,8}\\.[a-z]{1,3}", prop::collection::vec(any::<u8>(), 0..64)), 0..3),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let boundary = "b0uNdArY7xq";
        let mut body = Vec::new();
        for (k, v) in &fields {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").as_bytes());
        }
        for (name, filename, data) in &files {
            body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        if truncate {
            // A body cut anywhere is a 400 (or, cut at its very end, still whole).
            let at = cut.index(body.len());
            if let Err(e) = parse(&ct, &Method::POST, body[..at].to_vec()) {
                prop_assert_eq!(e.status(), StatusCode::BAD_REQUEST);
            }
            return Ok(());
        }
        let (parsed, _) = parse(&ct, &Method::POST, body).expect("well-formed multipart parses");
        let expected: Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        prop_assert_eq!(parsed.value, Some(Value::Object(expected)));
        prop_assert_eq!(parsed.files.len(), files.len());
        for (got, (name, filename, data)) in parsed.files.iter().zip(&files) {
            prop_assert_eq!(&got.field, name);
            prop_assert_eq!(&got.filename, filename);
            prop_assert_eq!(&got.bytes[..], &data[..]);
        }
    }

    #[test]
    fn query_strings_and_field_selection_never_panic(q in "[ -~]{0,80}") {
        let _ = form_urlencoded_pairs(q.as_bytes());
        let _ = crate::middleware::FieldFilter::from_query(Some(&q));
    }
}
