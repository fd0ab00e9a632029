//! Rows ([`super::row`]) behave as minijinja's own maps of the same JSON: every template
//! here prints the same through both.

use super::engine::compile;
use super::json::parse;
use minijinja::value::Value;

/// A page-like document: rows sharing keys, one with other keys, nested maps and lists,
/// a repeated key, a map too large for a row, non-ASCII and escaped keys.
fn document() -> String {
    let big: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
    format!(
        r#"{{"next": null, "prev": "/p?x=1",
        "objects": [
          {{"id": 1, "name": "a", "n": 2.5, "ok": true, "none": null, "tags": ["x", 1],
            "links": {{"self": "/o/1/"}}, "created_at": "2020"}},
          {{"id": 2, "name": "b\u00e9", "n": -1, "ok": false, "none": null, "tags": [],
            "links": {{"self": "/o/2/", "owner": "/u/1/"}}, "created_at": "2021"}},
          {{"name": "c", "id": 3, "zz\"q": "\u0000"}},
          {{"dup": 1, "other": 2, "dup": 3}},
          {{"empty": {{}}, "b": 1, "a": 2}},
          {{{}}}
        ]}}"#,
        big.join(", ")
    )
}

/// Renders `source` with `response` built by our parse and by minijinja's own.
fn both(source: &str) -> (String, String) {
    let text = document();
    let compiled = compile(source).unwrap_or_else(|e| panic!("{source}: {e}"));
    let ours = parse(text.as_bytes()).expect("parses");
    let theirs: Value = serde_json::from_str(&text).expect("parses");
    let render = |response: Value| {
        compiled
            .render(Value::from_pairs([("response", response)]))
            .unwrap_or_else(|e| format!("error: {e:?}"))
    };
    (render(ours), render(theirs))
}

#[test]
fn rows_print_and_behave_as_maps() {
    let cases = [
        // printing, `tojson`, `string`, Python's repr inside lists
        "{% for r in response.objects %}{{ r }}|{% endfor %}",
        "{{ response|tojson }}",
        "{{ response.objects|tojson(indent=2) }}",
        "{% for r in response.objects %}{{ r|string }}|{{ [r] }}|{% endfor %}",
        "{{ response }}",
        // iteration order, `items()`, `values()`, `keys()`, `|list`, `|reverse`
        "{% for r in response.objects %}{% for k in r %}{{ k }},{% endfor %};{% endfor %}",
        "{% for r in response.objects %}{% for k, v in r.items() %}{{ k }}={{ v }},{% endfor %};{% endfor %}",
        "{% for r in response.objects %}{{ r.values()|list }}{{ r.keys()|list }}{{ r.keys() }}{% endfor %}",
        "{% for r in response.objects %}{{ r|list }}{{ r|reverse|list }}{{ r.keys()|length }}{% endfor %}",
        "{% for r in response.objects %}{{ r|dictsort }}{{ r|dictsort(reverse=true) }}{% endfor %}",
        "{% for r in response.objects %}{{ r|dictsort(by='value') if r.id is defined and r.a is not defined }}{% endfor %}",
        // lookups, missing keys (undefined), `get`, `in`, `length`, truthiness, tests
        "{% for r in response.objects %}{{ r.id }}/{{ r['name'] }}/{{ r.missing }}/{{ r[1] }}/{{ r.get('n', 'd') }}/{{ r.get('zz') }}{% endfor %}",
        "{% for r in response.objects %}{{ r.missing is defined }}{{ 'id' in r }}{{ 1 in r }}{{ r|length }}{{ r is mapping }}{{ r is iterable }}{{ r is sequence }}{{ r and 1 }}{% endfor %}",
        "{{ response.objects[4].empty is mapping }}{{ response.objects[4].empty|length }}{{ 'yes' if response.objects[4].empty else 'no' }}",
        "{{ response.objects[3].dup }}{{ response.objects[3]|list }}{{ response.objects[5].k39 }}{{ response.objects[5]|length }}",
        "{{ response.objects[0].links.self }}{{ response.objects[1].links }}{{ response.objects[1]['links']['owner'] }}",
        // comparisons: with each other, with literals, keys() of rows with the same keys
        "{{ response.objects[0] == response.objects[0] }}{{ response.objects[0] == response.objects[1] }}{{ response.objects[4].empty == {} }}",
        "{{ response.objects[0].links == {'self': '/o/1/'} }}{{ {'self': '/o/1/'} == response.objects[0].links }}{{ response.objects[0].links != {'self': 1} }}",
        "{{ response.objects[0].keys() == response.objects[1].keys() }}{{ response.objects[0].keys() != response.objects[2].keys() }}{{ response.objects[2].keys() == ['name', 'id', 'zz\"q'] }}",
        "{{ response.objects|map(attribute='id')|list }}{{ response.objects|selectattr('ok')|list }}{{ response.objects|rejectattr('id')|length }}",
        "{{ response.objects[:2]|unique|list|length }}{{ response.objects|groupby('ok')|length }}{{ response.objects[:2]|sort(attribute='name', reverse=true)|map(attribute='id')|join(',') }}",
        "{{ dict(response.objects[0], extra=1) }}{{ response.objects[0]|items|list }}{{ response.keys()|list }}",
        "{% set ns = namespace(k=none) %}{% for r in response.objects %}{{ r.keys() != ns.k }}{% set ns.k = r.keys() %}{% endfor %}",
        "{{ response.objects[0].keys(1) }}",
        "{{ response.objects[0].nokey() }}",
    ];
    let mut mismatches = Vec::new();
    for source in cases {
        let (ours, theirs) = both(source);
        // Only the last two cases are errors (a method's arguments, an unknown method).
        let failed = ours.starts_with("error");
        assert_eq!(
            failed,
            source.contains(".keys(1)") || source.contains("nokey"),
            "{source}: {ours}"
        );
        if ours != theirs {
            mismatches.push(format!("{source}\n  ours:   {ours}\n  theirs: {theirs}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn rows_with_the_same_keys_share_them() {
    let value = parse(br#"[{"a": 1, "b": {"c": 1}}, {"a": 2, "b": {"c": 2}}, {"b": 3, "a": 4}]"#)
        .expect("parses");
    let rows: Vec<Value> = value.try_iter().expect("list").collect();
    let source = "{{ a.keys() is sameas b.keys() }}";
    let compiled = compile(source).expect("compiles");
    let same = |a: &Value, b: &Value| {
        compiled
            .render(Value::from_pairs([("a", a.clone()), ("b", b.clone())]))
            .expect("renders")
    };
    assert_eq!(same(&rows[0], &rows[1]), "True");
    assert_eq!(same(&rows[0], &rows[2]), "False");
    let b = |i: usize| rows[i].get_attr("b").expect("b");
    assert_eq!(same(&b(0), &b(1)), "True");
}
