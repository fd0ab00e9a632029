//! Rows as JSON lines: one JSON array per row, one value per listed column, written by
//! the column's [`Kind`] so that both backends read back exactly what the other wrote
//! (integers stay 64-bit integers, booleans are booleans whether stored as 0/1 or not,
//! JSON documents travel as their text).

use super::tables::{Column, Kind};
use crate::db::{Row, Val};
use serde_json::Value;

/// Appends one row as a JSON line.
pub(crate) fn encode_row(columns: &[Column], row: &Row, out: &mut Vec<u8>) {
    let values: Vec<Value> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| encode_value(c.kind, row.0.get(i).unwrap_or(&Val::Null)))
        .collect();
    // Serialising a Vec<Value> into a Vec<u8> cannot fail.
    let _ = serde_json::to_writer(&mut *out, &values);
    out.push(b'\n');
}

fn encode_value(kind: Kind, v: &Val) -> Value {
    match (kind, v) {
        (_, Val::Null) => Value::Null,
        (Kind::Int, Val::Int(i)) => Value::from(*i),
        (Kind::Int, Val::Bool(b)) => Value::from(*b as i64),
        (Kind::Int, Val::Float(f)) => Value::from(*f as i64),
        (Kind::Int, Val::Text(t) | Val::Json(t)) => {
            t.parse::<i64>().map_or(Value::Null, Value::from)
        }
        (Kind::Bool, Val::Bool(b)) => Value::Bool(*b),
        (Kind::Bool, Val::Int(i)) => Value::Bool(*i != 0),
        (Kind::Bool, _) => Value::Bool(false),
        (Kind::Text | Kind::Json, Val::Text(t) | Val::Json(t)) => Value::String(t.clone()),
        (Kind::Text | Kind::Json, Val::Int(i)) => Value::String(i.to_string()),
        (Kind::Text | Kind::Json, Val::Float(f)) => Value::String(f.to_string()),
        (Kind::Text | Kind::Json, Val::Bool(b)) => Value::String(b.to_string()),
    }
}

/// Parses one JSON line back into values to bind, checking each against its column.
pub(crate) fn decode_row(columns: &[Column], line: &[u8]) -> Result<Vec<Val>, String> {
    let values: Vec<Value> =
        serde_json::from_slice(line).map_err(|e| format!("a row is not valid JSON ({e})"))?;
    if values.len() != columns.len() {
        return Err(format!(
            "a row has {} values for {} columns",
            values.len(),
            columns.len()
        ));
    }
    columns
        .iter()
        .zip(values)
        .map(|(c, v)| decode_value(c, v))
        .collect()
}

fn decode_value(column: &Column, v: Value) -> Result<Val, String> {
    let wrong = || format!("column {} holds a value of the wrong type", column.name);
    Ok(match (column.kind, v) {
        (_, Value::Null) => Val::Null,
        (Kind::Int, Value::Number(n)) => Val::Int(n.as_i64().ok_or_else(wrong)?),
        (Kind::Bool, Value::Bool(b)) => Val::Bool(b),
        (Kind::Text, Value::String(s)) => Val::Text(s),
        (Kind::Json, Value::String(s)) => {
            if serde_json::from_str::<serde::de::IgnoredAny>(&s).is_err() {
                return Err(format!("column {} holds invalid JSON", column.name));
            }
            Val::Json(s)
        }
        _ => return Err(wrong()),
    })
}

/// Splits a chunk into its lines (the last may lack its newline).
pub(crate) fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::tables::OBJECT_COLUMNS;

    #[test]
    fn rows_round_trip_exactly() {
        let row = Row(vec![
            Val::Int(i64::MAX),
            Val::Int(1_700_000_000_123_456),
            Val::Int(-1),
            Val::Int(3),
            Val::Null,
            Val::Int(3),
            Val::Null,
            Val::Int(0),
            Val::Int(0),
            Val::Text("chan".into()),
            Val::Null,
            Val::Text(r#"{"a": [1, 2.5, "é\u0000"]}"#.into()),
        ]);
        let mut out = Vec::new();
        encode_row(OBJECT_COLUMNS, &row, &mut out);
        let back = decode_row(OBJECT_COLUMNS, lines(&out).next().expect("line")).expect("decode");
        assert_eq!(back[0], Val::Int(i64::MAX));
        assert_eq!(back[1], Val::Int(1_700_000_000_123_456));
        assert_eq!(back[11], Val::Json(r#"{"a": [1, 2.5, "é\u0000"]}"#.into()));
        assert!(decode_row(OBJECT_COLUMNS, b"[1]").is_err());
    }
}
