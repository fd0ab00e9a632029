//! Response templates (spec-rest §7): the rules for a template's fields and the two
//! templates every instance starts with. Rendering lives in the server (it needs the
//! template engine); this module is pure data and validation.

use serde_json::{Map, Value};

/// Longest template source, in characters (the platform's `RESPONSE_TEMPLATE_MAX_LENGTH`).
pub const MAX_CONTENT_CHARS: usize = 64 * 1024;
/// Longest content type (the platform's column is a `varchar(255)`).
pub const MAX_CONTENT_TYPE_CHARS: usize = 255;
/// Keys a context may have.
pub const MAX_CONTEXT_KEYS: usize = 32;
/// Characters of a context key.
pub const MAX_CONTEXT_KEY_CHARS: usize = 128;
/// Length of a context value, measured as the platform did (its Python `repr`).
pub const MAX_CONTEXT_VALUE_CHARS: usize = 4 * 1024;
/// Context keys the response path fills in; a stored context may not use them (the
/// `render/` endpoint's context may).
pub const RESERVED_CONTEXT_KEYS: [&str; 4] = ["instance", "user", "response", "action"];

/// Whether a content type has the shape the platform accepted:
/// `^([a-z]+)/([a-z0-9+-.]+)*$`, case-insensitive (the subtype may be empty, and its
/// class `+-.` is the range `+` … `.`, so `,` passes too).
pub fn valid_content_type(value: &str) -> bool {
    let Some((kind, subtype)) = value.split_once('/') else {
        return false;
    };
    !kind.is_empty()
        && kind.bytes().all(|b| b.is_ascii_alphabetic())
        && subtype
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b',' | b'-' | b'.'))
}

/// The content type's message.
pub const INVALID_CONTENT_TYPE: &str = "Not a valid content_type.";

/// Validates a submitted `context` (a JSON object, or JSON text of one; `""` is `{}`).
/// `reserved` refuses the keys of [`RESERVED_CONTEXT_KEYS`] (any case), as a stored
/// template's context does. The checks run in the platform's order and the first failure
/// is the message.
pub fn validate_context(value: &Value, reserved: bool) -> Result<Map<String, Value>, String> {
    let parsed = match value {
        Value::String(s) if s.is_empty() => return Ok(Map::new()),
        Value::String(s) => {
            serde_json::from_str::<Value>(s).map_err(|_| "Not a valid JSON string.".to_string())?
        }
        other => other.clone(),
    };
    let Value::Object(object) = parsed else {
        return Err("Context passed in invalid format.".into());
    };
    if object.len() > MAX_CONTEXT_KEYS {
        return Err(format!(
            "Too many keys defined (exceeds {MAX_CONTEXT_KEYS})."
        ));
    }
    for (key, v) in &object {
        if key.chars().count() > MAX_CONTEXT_KEY_CHARS {
            return Err(format!(
                "Too long key defined (exceeds {MAX_CONTEXT_KEY_CHARS})."
            ));
        }
        if reserved && RESERVED_CONTEXT_KEYS.contains(&key.to_lowercase().as_str()) {
            return Err(format!("Reserved key \"{key}\" used."));
        }
        if python_repr_len(v) > MAX_CONTEXT_VALUE_CHARS {
            return Err(format!(
                "Too long value defined for key {key} (exceeds {MAX_CONTEXT_VALUE_CHARS})."
            ));
        }
    }
    Ok(object)
}

/// The length of the Python `repr` of a JSON value, which is what the platform limited:
/// `'text'`, `True`, `None`, `[1, 2]`, `{'k': 1}`.
pub fn python_repr_len(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => python_str_repr_len(s),
        Value::Array(items) => {
            2 + items.iter().map(python_repr_len).sum::<usize>() + 2 * items.len().saturating_sub(1)
        }
        Value::Object(map) => {
            2 + map
                .iter()
                .map(|(k, v)| python_str_repr_len(k) + 2 + python_repr_len(v))
                .sum::<usize>()
                + 2 * map.len().saturating_sub(1)
        }
    }
}

/// `repr` of a string: its characters between quotes, with backslashes, quotes and control
/// characters escaped.
fn python_str_repr_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '\\' | '\'' | '\n' | '\r' | '\t' => 2,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => 4,
            _ => 1,
        })
        .sum::<usize>()
}

/// A template every instance starts with.
#[derive(Debug, Clone, Copy)]
pub struct Predefined {
    /// Name.
    pub name: &'static str,
    /// Content type.
    pub content_type: &'static str,
    /// Jinja2 source.
    pub content: &'static str,
    /// Default context, as JSON text of an object.
    pub context: &'static str,
}

/// The built-in fields of data objects (and of most other resources) that the predefined
/// templates leave out of their tables, as JSON (a macro, to be spliced into the contexts).
macro_rules! skipped_fields {
    () => {
        r#"["id", "channel", "channel_room", "group", "links", "group_permissions", "owner_permissions", "other_permissions", "owner", "revision", "updated_at", "created_at"]"#
    };
}

/// An HTML table of a list (`response.objects`) or of one object, a header row of the
/// first object's field names and a row per object. Its output is the platform's,
/// whitespace included (`{{ '    ' }}` writes the indentation the platform's template
/// carried; `trim_blocks`/`lstrip_blocks` remove the rest). The body rows, where a page's
/// time goes, are cheaper to run than the platform's source and print the same:
///
/// * a row's and a cell's opening tags (indentation and `class` included) are strings built
///   once: fewer engine steps per row and per cell;
/// * the columns a row shows (its keys not in `fields_to_skip`) are worked out once, from
///   the first row, and reused for every row whose keys are `sameas` the first row's (a
///   page's objects share theirs); any other row works out its own, so every row prints
///   its own columns as the platform's membership test per cell did;
/// * `row.keys()`, not `row|list`: the response's rows share one key set when their keys
///   are the same, so `sameas` is one pointer comparison instead of a new list per row;
/// * no `namespace` and no per-row `set`: each is an engine step and a map write per row,
///   and a 100-object page's cost is mostly per row (two cells a row in a typical class).
const HTML_TABLE: &str = r#"
{% set rows = response.objects if action == 'list' else [response] if action == 'retrieve' else [] %}
{% if rows %}
{{ '    ' }}<table{{ ' class="' ~ table_classes ~ '"' if table_classes }}>

{{ '    ' }}<tr{{ ' class="' ~ tr_header_classes ~ '"' if tr_header_classes }}>
{% for name in rows[0] if name not in fields_to_skip %}
{{ '            ' }}<th{{ ' class="' ~ th_header_classes ~ '"' if th_header_classes }}>{{ name }}</th>
{% endfor %}
{{ '    ' }}</tr>
{% set tr_open = '        <tr' ~ (' class="' ~ tr_row_classes ~ '"' if tr_row_classes else '') ~ '>' %}
{% set td_open = '            <td' ~ (' class="' ~ td_row_classes ~ '"' if td_row_classes else '') ~ '>' %}
{% set first_keys = rows[0].keys() %}
{% set first_names = first_keys|reject('in', fields_to_skip)|list %}
{% for row in rows %}
{{ tr_open }}
{% for name in (first_names if row.keys() is sameas first_keys else row.keys()|reject('in', fields_to_skip)) %}
{{ td_open }}{{ row[name] }}</td>
{% endfor %}
        </tr>
{% endfor %}
{{ '    ' }}</table>
{% endif %}
"#;

/// CSV of a list or of one object: a header line of the first object's field names, then
/// a line per object with every value quoted. The platform's output is kept as it was: a
/// value line starts with the delimiter when the object's first field is a skipped one,
/// quotes inside values are not doubled, and each value line ends with eight spaces.
const CSV: &str = r#"{% set rows = response.objects if action == 'list' else [response] if action == 'retrieve' else [] %}
{% if rows %}
{{ rows[0]|reject('in', fields_to_skip)|join(delimiter) }}{{ newline -}}
{% for row in rows %}
{% for name, cell in row.items() %}
{% if name not in fields_to_skip %}{{ delimiter if not loop.first }}"{{ cell }}"{% endif %}
{% endfor %}
{{ '        ' }}{{ newline -}}
{% endfor %}
{% endif %}
"#;

const HTML_TABLE_CONTEXT: &str = concat!(
    r#"{"table_classes": "", "tr_header_classes": "", "th_header_classes": "", "tr_row_classes": "", "td_row_classes": "", "fields_to_skip": "#,
    skipped_fields!(),
    "}"
);

const CSV_CONTEXT: &str = concat!(
    r#"{"newline": "\n", "delimiter": ",", "fields_to_skip": "#,
    skipped_fields!(),
    "}"
);

/// The templates every instance starts with (spec-rest §7).
pub const PREDEFINED: [Predefined; 2] = [
    Predefined {
        name: "objects_html_table",
        content_type: "text/html",
        content: HTML_TABLE,
        context: HTML_TABLE_CONTEXT,
    },
    Predefined {
        name: "objects_csv",
        content_type: "text/csv",
        content: CSV,
        context: CSV_CONTEXT,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types_follow_the_platform_pattern() {
        for ok in [
            "text/html",
            "text/csv",
            "application/json",
            "TEXT/Plain",
            "text/",
            "a/b+c,d-e.f",
        ] {
            assert!(valid_content_type(ok), "{ok}");
        }
        for bad in [
            "text",
            "/html",
            "text/html; charset=utf-8",
            "te xt/html",
            "text/ht_ml",
            "1/2",
        ] {
            assert!(!valid_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn contexts_are_checked_in_the_platform_order() {
        assert_eq!(validate_context(&json!(""), true), Ok(Map::new()));
        assert_eq!(
            validate_context(&json!("{\"a\": 1}"), true).map(|m| m.len()),
            Ok(1)
        );
        assert_eq!(
            validate_context(&json!("{x"), true),
            Err("Not a valid JSON string.".into())
        );
        assert_eq!(
            validate_context(&json!([1]), true),
            Err("Context passed in invalid format.".into())
        );
        assert_eq!(
            validate_context(&json!({"Response": 1}), true),
            Err("Reserved key \"Response\" used.".into())
        );
        assert!(validate_context(&json!({"action": 1}), false).is_ok());
        let many: Map<String, Value> = (0..33).map(|i| (format!("k{i}"), json!(i))).collect();
        assert_eq!(
            validate_context(&Value::Object(many), true),
            Err("Too many keys defined (exceeds 32).".into())
        );
        assert_eq!(
            validate_context(&json!({"k".repeat(129): 1}), true),
            Err("Too long key defined (exceeds 128).".into())
        );
        assert_eq!(
            validate_context(&json!({"big": "x".repeat(4095)}), true),
            Err("Too long value defined for key big (exceeds 4096).".into())
        );
        assert!(validate_context(&json!({"fits": "x".repeat(4094)}), true).is_ok());
    }

    #[test]
    fn repr_lengths_are_pythons() {
        // repr({'a': [1, True, None], 'b': 'x\'y'}) == "{'a': [1, True, None], 'b': 'x\\'y'}"
        let v = json!({"a": [1, true, null], "b": "x'y"});
        assert_eq!(
            python_repr_len(&v),
            "{'a': [1, True, None], 'b': 'x\\'y'}".len()
        );
    }

    #[test]
    fn predefined_contexts_are_objects_without_reserved_keys() {
        for t in PREDEFINED {
            let context: Value = serde_json::from_str(t.context).expect("context JSON");
            assert!(validate_context(&context, true).is_ok(), "{}", t.name);
            assert!(valid_content_type(t.content_type));
            let skipped: Value = serde_json::from_str(skipped_fields!()).expect("list");
            assert_eq!(context["fields_to_skip"], skipped);
        }
    }
}
