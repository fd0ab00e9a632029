//! What a finished run leaves in its trace: the `result` object (spec-scripts §1.5) and
//! the length the platform measured a value by (Python's `str()`, spec-scripts §6).

use rivia_scripts::RunOutcome;
use serde_json::{Map, Value, json};

/// The trace `result` of a run: `{"stderr", ["response",] "stdout"}` (spec-scripts §1.5).
pub(crate) fn result_json(outcome: &RunOutcome) -> Value {
    let mut m = Map::new();
    m.insert("stderr".into(), Value::String(outcome.stderr.clone()));
    if let Some(r) = &outcome.response {
        let mut resp = Map::new();
        resp.insert("status".into(), json!(r.status));
        resp.insert("content_type".into(), json!(r.content_type));
        resp.insert("content".into(), json!(r.content));
        if !r.headers.is_empty() {
            let headers: Map<String, Value> = r
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            resp.insert("headers".into(), Value::Object(headers));
        }
        m.insert("response".into(), Value::Object(resp));
    }
    m.insert("stdout".into(), Value::String(outcome.stdout.clone()));
    Value::Object(m)
}

/// The length of Python's `str()` of a JSON value, which the platform compared with its
/// list cut-off (spec-scripts §6): `{'a': 1, 'b': 'x'}`, `True`, `None`.
pub(crate) fn py_str_len(v: &Value) -> i64 {
    let n: usize = match v {
        Value::Null => 4,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => py_repr_str_len(s),
        Value::Array(a) => {
            2 + a.iter().map(|x| py_str_len(x) as usize).sum::<usize>()
                + 2 * a.len().saturating_sub(1)
        }
        Value::Object(o) => {
            2 + o
                .iter()
                .map(|(k, x)| py_repr_str_len(k) + 2 + py_str_len(x) as usize)
                .sum::<usize>()
                + 2 * o.len().saturating_sub(1)
        }
    };
    n as i64
}

fn py_repr_str_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '\\' | '\n' | '\r' | '\t' | '\'' => 2,
            c if (c as u32) < 0x20 || c as u32 == 0x7f => 4,
            _ => 1,
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_str_lengths() {
        assert_eq!(
            py_str_len(&json!({"a": 1, "b": "x"})),
            "{'a': 1, 'b': 'x'}".len() as i64
        );
        assert_eq!(
            py_str_len(&json!([true, null])),
            "[True, None]".len() as i64
        );
        assert_eq!(py_str_len(&json!("a\nb")), "'a\\nb'".len() as i64);
    }
}
