//! The writer against `serde_json::to_vec`: the same bytes for every value.

use super::write;
use proptest::prelude::*;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn both<T: Serialize + ?Sized>(value: &T) -> (String, String) {
    let mut ours = Vec::new();
    write(&mut ours, value).expect("writes");
    let theirs = serde_json::to_vec(value).expect("serde_json writes");
    (
        String::from_utf8(ours).expect("utf-8"),
        String::from_utf8(theirs).expect("utf-8"),
    )
}

fn same<T: Serialize + ?Sized>(value: &T) {
    let (ours, theirs) = both(value);
    assert_eq!(ours, theirs);
}

#[test]
fn every_byte_below_0x80_alone_and_inside_longer_strings() {
    for b in 0u8..0x80 {
        let c = char::from(b);
        same(&c.to_string());
        same(&format!("abcdefg{c}"));
        same(&format!("{c}abcdefghijklmnop{c}{c}xyz"));
        same(&format!("/v1.1/instances/{c}/users/1/groups/"));
    }
}

#[test]
fn strings_of_every_length_around_the_word_size() {
    for len in 0..40 {
        let plain: String = "abcdefghij".chars().cycle().take(len).collect();
        same(&plain);
        for at in 0..len {
            for special in ['"', '\\', '\n', '\u{1}', '\u{1f}', 'é', '😀', '\u{7f}'] {
                let mut s: Vec<char> = plain.chars().collect();
                s[at] = special;
                same(&s.into_iter().collect::<String>());
            }
        }
    }
}

#[test]
fn numbers_floats_and_the_other_shapes() {
    same(&json!([
        0,
        -1,
        i64::MIN,
        u64::MAX,
        1.5,
        -0.0,
        1e300,
        1e-7,
        0.1,
        123456789.125
    ]));
    same(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
    same(&[1.5f32, f32::NAN, 3.4e38f32]);
    same(&(i128::MIN, u128::MAX, 'x', '"', (), Some(1), None::<u8>));
    same(&serde_bytes_like());
    #[derive(Serialize)]
    struct Unit;
    #[derive(Serialize)]
    struct Newtype(u8);
    #[derive(Serialize)]
    struct Tuple(u8, &'static str);
    #[derive(Serialize)]
    struct Empty {}
    #[derive(Serialize)]
    enum E {
        A,
        B(u8),
        C(u8, u8),
        D { x: u8, y: &'static str },
    }
    same(&(Unit, Newtype(7), Tuple(1, "a\tb"), Empty {}));
    same(&[E::A, E::B(1), E::C(1, 2), E::D { x: 3, y: "q\"" }]);
    same(&Vec::<u8>::new());
    same(&BTreeMap::<String, u8>::new());
}

fn serde_bytes_like() -> Vec<u8> {
    vec![0, 1, 255]
}

#[test]
fn map_keys_that_are_not_strings() {
    let ints: BTreeMap<i64, &str> = [(-3, "a"), (10, "b")].into();
    same(&ints);
    let bools: BTreeMap<bool, u8> = [(false, 0), (true, 1)].into();
    same(&bools);
    let chars: BTreeMap<char, u8> = [('"', 0), ('k', 1)].into();
    same(&chars);
    let units: BTreeMap<(), u8> = [((), 0)].into();
    let mut out = Vec::new();
    assert!(
        write(&mut out, &units).is_err(),
        "serde_json refuses a unit key too"
    );
    assert!(serde_json::to_vec(&units).is_err());
}

#[test]
fn raw_values_are_written_as_they_are() {
    let raw = RawValue::from_string(r#"{"a": [1, 2.50, "x\u0041"]}"#.to_string()).expect("raw");
    #[derive(Serialize)]
    struct WithRaw<'a> {
        data: &'a RawValue,
        after: u8,
    }
    same(&WithRaw {
        data: &raw,
        after: 1,
    });
    same(&vec![&*raw, &*raw]);
}

fn any_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![
        ".*",
        "[a-z/._\"\\\\\u{0}-\u{1f}]{0,24}",
        Just("/v1.1/instances/rivia/users/1/".to_string()),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        text.clone().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((text.clone(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_json_value_is_written_as_serde_json_writes_it(value in any_value()) {
        let (ours, theirs) = both(&value);
        prop_assert_eq!(ours, theirs);
    }
}
