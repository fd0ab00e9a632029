//! Printing and filters as Jinja2 under Python: `{{ value }}` as the platform's `finalize`
//! printed it, Python's `str()`/`repr()` of values and floats, and the Jinja2 filters whose
//! behaviour differs from minijinja's (`escape`, `truncate`, `string`, `tojson`). The
//! engine ([`super::engine`]) installs them in every environment.

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Error, ErrorKind, Output, State};
use std::io;

/// Prints `{{ value }}` as the platform did: lists and dicts as compact JSON with
/// non-ASCII escaped (its `finalize` called `rapidjson.dumps`), everything else as
/// Python's `str()`: `True`, `None`, `2.0`, `1e-07`; undefined prints nothing.
pub(super) fn python_formatter(
    out: &mut Output,
    _state: &mut State,
    value: &Value,
) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => {
            let json = to_json(value, JsonStyle::RAPIDJSON)?;
            Ok(out.write_str(&json)?)
        }
        ValueKind::String => Ok(out.write_str(value.as_str().unwrap_or_default())?),
        // The commonest cells of a page, written without a String of their own (a
        // 100-object table prints ~1,500 of them).
        ValueKind::Undefined => Ok(()),
        ValueKind::None => Ok(out.write_str("None")?),
        ValueKind::Bool => Ok(out.write_str(if value.is_true() { "True" } else { "False" })?),
        ValueKind::Number if value.is_integer() => match value.as_i64() {
            Some(i) => Ok(out.write_str(itoa::Buffer::new().format(i))?),
            None => Ok(out.write_str(&python_str(value))?),
        },
        _ => Ok(out.write_str(&python_str(value))?),
    }
}

/// Python's `str()` of a value (containers as their `repr`).
fn python_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::String => value.as_str().unwrap_or_default().to_owned(),
        _ => python_repr(value),
    }
}

/// Python's `repr()` of a value: `'text'`, `[1, 'a']`, `{'k': None}`, `True`, `2.0`.
fn python_repr(value: &Value) -> String {
    match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::None => "None".into(),
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.into(),
        ValueKind::Number if value.is_integer() => value.to_string(),
        ValueKind::Number => python_float(f64::try_from(value.clone()).unwrap_or(f64::NAN)),
        ValueKind::String => python_str_repr(value.as_str().unwrap_or_default()),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = value
                .try_iter()
                .map(|it| it.map(|v| python_repr(&v)).collect())
                .unwrap_or_default();
            format!("[{}]", items.join(", "))
        }
        ValueKind::Map => {
            let items: Vec<String> = value
                .try_iter()
                .map(|keys| {
                    keys.map(|k| {
                        let v = value.get_item(&k).unwrap_or_default();
                        format!("{}: {}", python_repr(&k), python_repr(&v))
                    })
                    .collect()
                })
                .unwrap_or_default();
            format!("{{{}}}", items.join(", "))
        }
        _ => value.to_string(),
    }
}

/// Python's `repr()` of a string: single quotes unless it holds one and no double quote.
fn python_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Jinja2's `escape` (markupsafe): `&`, `<`, `>`, `'` and `"` only.
pub(super) fn escape_filter(value: Value) -> Value {
    if value.is_safe() {
        return value;
    }
    let text = python_str(&value);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    Value::from_safe_string(out)
}

/// Jinja2's `truncate(length=255, killwords=False, end='...', leeway=None)`, positional
/// arguments included (minijinja's takes keywords only).
pub(super) fn truncate_filter(
    state: &mut State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    const NAMES: [&str; 4] = ["length", "killwords", "end", "leeway"];
    if args.len() > NAMES.len() {
        return Err(Error::from(ErrorKind::TooManyArguments));
    }
    let mut merged: Vec<(&str, Value)> = NAMES.iter().copied().zip(args.0).collect();
    for name in kwargs.args() {
        merged.push((name, kwargs.get::<Value>(name)?));
    }
    minijinja_contrib::filters::truncate(state, value, Kwargs::from_iter(merged))
}

/// Jinja2's `string` filter: Python's `str()`.
pub(super) fn python_str_filter(value: Value) -> String {
    python_str(&value)
}

/// Jinja2's `tojson`: Python's `json.dumps` (`", "` and `": "` between items, non-ASCII
/// as lowercase `\uXXXX`, `indent=` for pretty printing) with `<`, `>`, `&` and `'`
/// escaped so the text is safe in HTML.
pub(super) fn tojson_filter(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let style = JsonStyle {
        indent,
        ..JsonStyle::JINJA2_TOJSON
    };
    Ok(Value::from_safe_string(to_json(&value, style)?))
}

/// Python's `repr` of a float: the shortest digits that read back the same, in fixed
/// notation with at least one decimal for exponents -4 … 15, else as `1e-07` / `1e+22`.
pub(crate) fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: `-1.2345e-7`.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..16).contains(&exp) {
        let fixed = format!("{f}");
        if fixed.contains('.') {
            fixed
        } else {
            format!("{fixed}.0")
        }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// How JSON text is written.
#[derive(Debug, Clone, Copy)]
struct JsonStyle {
    /// Spaces per level, one item a line (`None`: one line).
    indent: Option<usize>,
    /// `", "` and `": "` between items on one line (else `,` and `:`).
    spaced: bool,
    /// Hex digits of `\uXXXX` escapes in uppercase.
    upper_hex: bool,
    /// `<`, `>`, `&`, `'` escaped as `\uXXXX`.
    html_safe: bool,
}

impl JsonStyle {
    /// `rapidjson.dumps`: compact, uppercase escapes.
    const RAPIDJSON: JsonStyle = JsonStyle {
        indent: None,
        spaced: false,
        upper_hex: true,
        html_safe: false,
    };
    /// Jinja2's `tojson`: `json.dumps` made HTML-safe.
    const JINJA2_TOJSON: JsonStyle = JsonStyle {
        indent: None,
        spaced: true,
        upper_hex: false,
        html_safe: true,
    };
}

fn to_json(value: &Value, style: JsonStyle) -> Result<String, Error> {
    let mut bytes = Vec::new();
    let formatter = PyJsonFormatter {
        style,
        depth: 0,
        has_value: false,
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    serde::Serialize::serialize(value, &mut ser)
        .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
    String::from_utf8(bytes).map_err(|_| Error::new(ErrorKind::BadSerialization, "not UTF-8"))
}

/// A serde_json formatter writing Python's JSON shapes (see [`JsonStyle`]).
struct PyJsonFormatter {
    style: JsonStyle,
    depth: usize,
    has_value: bool,
}

impl PyJsonFormatter {
    fn newline_indent<W: ?Sized + io::Write>(&self, w: &mut W) -> io::Result<()> {
        if let Some(n) = self.style.indent {
            w.write_all(b"\n")?;
            for _ in 0..n * self.depth {
                w.write_all(b" ")?;
            }
        }
        Ok(())
    }

    fn separator<W: ?Sized + io::Write>(&self, w: &mut W, first: bool) -> io::Result<()> {
        if !first {
            let sep: &[u8] = if self.style.spaced && self.style.indent.is_none() {
                b", "
            } else {
                b","
            };
            w.write_all(sep)?;
        }
        self.newline_indent(w)
    }

    fn open<W: ?Sized + io::Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + io::Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.newline_indent(w)?;
        }
        self.has_value = true;
        w.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for PyJsonFormatter {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.separator(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.separator(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(if self.style.spaced { b": " } else { b":" })
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escape =
                !c.is_ascii() || (self.style.html_safe && matches!(c, '<' | '>' | '&' | '\''));
            if !escape {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                if self.style.upper_hex {
                    write!(w, "\\u{unit:04X}")?;
                } else {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_reprs() {
        for (f, repr) in [
            (2.0, "2.0"),
            (2.5, "2.5"),
            (-0.5, "-0.5"),
            (1e-7, "1e-07"),
            (1e22, "1e+22"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0001, "0.0001"),
            (0.1 + 0.2, "0.30000000000000004"),
            (-1.5e-10, "-1.5e-10"),
        ] {
            assert_eq!(python_float(f), repr, "{f}");
        }
    }

    #[test]
    fn containers_print_as_ascii_json() {
        let v = Value::from(minijinja::value::Serde(
            serde_json::json!({"a": [1, 2.0, "é😀"], "b": null}),
        ));
        assert_eq!(
            to_json(&v, JsonStyle::RAPIDJSON).expect("json"),
            r#"{"a":[1,2.0,"\u00E9\uD83D\uDE00"],"b":null}"#
        );
    }
}
