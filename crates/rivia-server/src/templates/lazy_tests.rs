//! The lazy values print, compare and iterate exactly as the eager ones of
//! [`super::super::json::parse`] do, through the engine that renders them.

use super::*;
use crate::templates::engine;

/// A page-like document: nested maps and lists, `null`, booleans, floats, escapes, a
/// repeated key, an empty map and list, and a map large enough to be indexed.
fn document() -> String {
    let big: Vec<String> = (0..20).map(|i| format!("\"k{i}\": {i}")).collect();
    format!(
        r#"{{"objects": [{{"id": 1, "title": "a \"b\" 'c' \u00e9\ud83d\ude00", "score": 2.0,
            "none": null, "yes": true, "no": false, "links": {{"self": "/v1/x/"}},
            "tags": ["x", 1, [], {{}}], "tiny": 1e-7, "big": 1e22}},
           {{"id": 2, "dup": 1, "title": "t", "dup": [null, true]}}],
          "next": null, "prev": "/v1.1/?page=1", "big": {{{}}}}}"#,
        big.join(", ")
    )
}

/// Templates covering printing, lookups, iteration, comparison and serialisation.
const TEMPLATES: &[&str] = &[
    "{{ response }}",
    "{{ response.objects[0] }}|{{ response.objects[1] }}",
    "{{ response|tojson }}",
    "{{ response.objects[0]|tojson(indent=2) }}",
    "{{ response|string }}",
    "{{ response.objects|length }} {{ response.objects[0]|length }} {{ response.big|length }}",
    "{{ response.objects[0].title }} {{ response.objects[0]['score'] }} {{ response.objects[0].none }}",
    "{{ response.objects[0].yes }} {{ response.objects[0].no }} {{ response.objects[0].tiny }} {{ response.objects[0].big }}",
    "{{ response.objects[1].dup }} {{ response.objects[1]|list }}",
    "{{ response.objects[0]|list }} {{ response.objects[0]|reverse|list }}",
    "{% for k, v in response.objects[0].items() %}{{ k }}={{ v }};{% endfor %}",
    "{% for k, v in response.objects[0]|dictsort %}{{ k }}={{ v }};{% endfor %}",
    "{{ response.big.k17 }} {{ response.big['k3'] }} {{ response.big.k99 is defined }} {{ 'k19' in response.big }}",
    "{{ response.objects[-1].id }} {{ response.objects[0].tags[-1] }} {{ response.objects[5] is defined }}",
    "{{ response.objects[0][1] is defined }} {{ 'id' in response.objects[0] }} {{ 'zz' in response.objects[0] }}",
    "{{ response.objects[0] == response.objects[0] }} {{ response.objects[0] == response.objects[1] }}",
    "{{ response.objects[0].links == {'self': '/v1/x/'} }} {{ response.objects[0].tags == ['x', 1, [], {}] }}",
    "{{ response.objects[0].tags[2] }}{{ response.objects[0].tags[3] }} {{ response.objects[0].tags[2] is true }}",
    "{{ response.objects|map(attribute='id')|list }} {{ response.objects|selectattr('yes')|list|length }}",
    "{{ response.objects[0] is mapping }} {{ response.objects is sequence }} {{ response.next is none }}",
    "{{ response.objects[0].items()|list }}",
    "{{ response.objects[0].keys()|list }} {{ response.objects[0].values()|list }}",
    "{{ response.objects[0].get('title') }} {{ response.objects[0].get('zz', 5) }}",
    "{{ response.objects[0].tags|join(',') }} {{ response.objects[0].tags|first }} {{ response.objects[0].tags|last }}",
    "{{ debug(response.objects[1]) }}",
];

fn render_all(response: Value) -> Vec<String> {
    TEMPLATES
        .iter()
        .map(|source| {
            let compiled = engine::compile(source).unwrap_or_else(|e| panic!("{source}: {e}"));
            let context = Value::from_pairs(vec![(Value::from("response"), response.clone())]);
            compiled
                .render(context)
                .unwrap_or_else(|e| format!("error: {}", e.detail()))
        })
        .collect()
}

#[test]
fn lazy_values_render_as_the_eager_ones() {
    let text = document();
    let eager = super::super::json::parse(text.as_bytes()).expect("parses");
    let lazy = parse(Bytes::from(text)).expect("parses");
    let (ours, theirs) = (render_all(lazy), render_all(eager));
    for ((source, ours), theirs) in TEMPLATES.iter().zip(&ours).zip(&theirs) {
        assert_eq!(ours, theirs, "{source}");
    }
}

#[test]
fn python_printing_is_unchanged() {
    let lazy = parse(Bytes::from(document())).expect("parses");
    let out = render_all(lazy);
    assert_eq!(
        out[6], "a \"b\" 'c' \u{e9}\u{1F600} 2.0 None",
        "strings and floats print as Python's str()"
    );
    assert_eq!(out[7], "True False 1e-07 1e+22");
    assert_eq!(out[8], "[null,true] [\"id\",\"dup\",\"title\"]");
}

#[test]
fn scalars_and_bad_text() {
    for (text, printed) in [("1", "1"), ("\"x\"", "x"), ("null", "None"), ("[]", "[]")] {
        let v = parse(Bytes::from_static(text.as_bytes())).expect("parses");
        let compiled = engine::compile("{{ v }}").expect("compiles");
        let context = Value::from_pairs(vec![(Value::from("v"), v)]);
        assert_eq!(compiled.render(context).expect("renders"), printed);
    }
    for bad in ["{\"a\": 1} x", "[1,", "", "{\"a\": \"\\ud800\"", "not json"] {
        assert!(parse(Bytes::from_static(bad.as_bytes())).is_err(), "{bad}");
    }
    assert!(parse(Bytes::from_static(b"{\"a\": \"\xff\"}")).is_err());
}
