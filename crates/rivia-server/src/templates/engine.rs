//! The template engine: minijinja configured as the platform configured Jinja2
//! (`SandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, finalize=…)`, no
//! autoescaping), printing values as Python would, and limited so that a hostile template
//! ends with an error instead of holding a thread or the memory.
//!
//! The limits: minijinja's fuel is one budget for instructions executed and for the bytes
//! and items a template creates (checked before a large allocation, not after), so it
//! bounds both the CPU time and the memory a render can take; the output has its own cap;
//! macro recursion is capped below what a blocking thread's stack holds. The caller adds
//! a wall-clock deadline and runs renders on bounded blocking threads (see `super`).

use super::python::{
    escape_filter, python_formatter, python_str_filter, tojson_filter, truncate_filter,
};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Rest, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind};
use std::io;

/// Fuel of one render: about this many instructions, or 64 × this many bytes of values
/// and output (≈ 128 MB: a template doubling a string in a loop peaks near the
/// platform's 200 MB limit). The predefined HTML table over a 100-object page takes
/// ~30,000 (1.5%); an endless loop runs out of it in well under the 5 s deadline.
pub(crate) const FUEL: u64 = 2_000_000;
/// Fuel of a first, inline attempt (see [`Compiled::render_quick`]): the predefined HTML
/// table of a 100-object page fits in it, and it runs out within a few milliseconds.
pub(crate) const QUICK_FUEL: u64 = 60_000;
/// Most bytes a render may output.
pub(crate) const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;
/// Deepest macro recursion (minijinja's own ceiling is 500; each level of a recursive
/// macro takes some kilobytes of the rendering thread's 2 MiB stack).
const RECURSION_LIMIT: usize = 100;
/// The name compiled templates are stored under in their environment.
const NAME: &str = "template";

/// A compiled template, ready to render on any thread.
pub(crate) struct Compiled {
    env: Environment<'static>,
    /// The same compiled template with [`QUICK_FUEL`] (a clone shares the compiled form).
    quick: Environment<'static>,
}

/// Why a render failed, already worded for the client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RenderError {
    /// The template ran out of fuel or time (the platform's "Template rendering timeout").
    Timeout,
    /// Anything else: `Template rendering failed: <reason>`.
    Failed(String),
}

impl RenderError {
    /// The platform's message.
    pub(crate) fn detail(&self) -> String {
        match self {
            RenderError::Timeout => "Template rendering timeout".into(),
            RenderError::Failed(reason) => format!("Template rendering failed: {reason}"),
        }
    }
}

/// A fresh environment with the platform's settings and our limits.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    if let Ok(syntax) = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    // Errors carry the failing expression's place in the source (read only on failure).
    env.set_debug(true);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_formatter(python_formatter);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    // Jinja2's `truncate`, `striptags`, `filesizeformat`, `cycler`, `joiner`.
    minijinja_contrib::add_to_environment(&mut env);
    // Jinja2's behaviour where minijinja's differs.
    env.add_filter("string", python_str_filter);
    env.add_filter("tojson", tojson_filter);
    env.add_filter("escape", escape_filter);
    env.add_filter("e", escape_filter);
    env.add_filter("truncate", truncate_filter);
    env.add_function("cycler", |items: Rest<Value>| {
        minijinja_contrib::globals::cycler(items.0)
    });
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env
}

/// Compiles a template source; a syntax error is worded for the `content` field.
pub(crate) fn compile(source: &str) -> Result<Compiled, String> {
    let mut env = environment();
    env.add_template_owned(NAME, source.to_owned())
        .map_err(|e| syntax_message(&e))?;
    let mut quick = env.clone();
    quick.set_fuel(Some(QUICK_FUEL));
    Ok(Compiled { env, quick })
}

/// A syntax error as the `content` field's message: what is wrong and where.
fn syntax_message(e: &Error) -> String {
    let what = e
        .detail()
        .map_or_else(|| e.kind().to_string(), str::to_owned);
    match e.line() {
        Some(line) => format!("{what} (line {line})."),
        None => format!("{what}."),
    }
}

impl Compiled {
    /// Renders with `context` (a map). Blocking: run it off the async workers.
    pub(crate) fn render(&self, context: Value) -> Result<String, RenderError> {
        render_in(&self.env, context)
    }

    /// Renders with [`QUICK_FUEL`], short enough to run on an async worker: `None` when
    /// that ran out (then [`Compiled::render`] starts again with the full budget; a render
    /// is a pure function of its context, so the second gives what a single one would).
    pub(crate) fn render_quick(&self, context: Value) -> Option<Result<String, RenderError>> {
        match render_in(&self.quick, context) {
            Err(RenderError::Timeout) => None,
            done => Some(done),
        }
    }
}

fn render_in(env: &Environment<'static>, context: Value) -> Result<String, RenderError> {
    let template = env
        .get_template(NAME)
        .map_err(|e| RenderError::Failed(e.to_string()))?;
    let mut out = CappedWriter::default();
    match template.render_captured_to(context, &mut out) {
        Ok(_) => String::from_utf8(out.bytes)
            .map_err(|_| RenderError::Failed("the output is not UTF-8".into())),
        Err(_) if out.exceeded => Err(RenderError::Failed(format!(
            "the output exceeds {MAX_OUTPUT_BYTES} bytes"
        ))),
        Err(e) => Err(runtime_error(&e, template.source())),
    }
}

/// A runtime error as the client reads it: the engine's words (which name the undefined
/// expression, as Jinja2's `'x' is undefined` did), else the kind of error and the failing
/// expression, and the line.
fn runtime_error(e: &Error, source: &str) -> RenderError {
    if e.kind() == ErrorKind::OutOfFuel {
        return RenderError::Timeout;
    }
    let mut reason = match e.detail() {
        Some(detail) => detail.to_owned(),
        None => {
            let mut kind = e.kind().to_string();
            if let Some(expr) = e
                .range()
                .and_then(|r| source.get(r))
                .filter(|s| s.len() <= 80)
            {
                kind.push_str(&format!(" in `{}`", expr.trim()));
            }
            kind
        }
    };
    if let Some(line) = e.line() {
        reason.push_str(&format!(" (line {line})"));
    }
    RenderError::Failed(reason)
}

/// Collects the output up to [`MAX_OUTPUT_BYTES`]; past it every write fails.
#[derive(Default)]
struct CappedWriter {
    bytes: Vec<u8>,
    exceeded: bool,
}

impl io::Write for CappedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > MAX_OUTPUT_BYTES {
            self.exceeded = true;
            return Err(io::Error::other("output limit"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    // The engine writes through `write_all`: one call per piece instead of the default's
    // loop around `write` (a 100-object page writes ~600 pieces).
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write(buf).map(|_| ())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Jinja2's own output for the same templates (see the fixture's `_about`).
    fn fixture() -> serde_json::Value {
        serde_json::from_str(include_str!(
            "../../tests/api/fixtures/templates_jinja2.json"
        ))
        .expect("fixture")
    }

    fn render(source: &str, context: &serde_json::Value) -> String {
        let compiled = compile(source).unwrap_or_else(|e| panic!("{source:?}: {e}"));
        compiled
            .render(Value::from(minijinja::value::Serde(context)))
            .unwrap_or_else(|e| panic!("{source:?}: {e:?}"))
    }

    #[test]
    fn renders_as_jinja2_did() {
        let fixture = fixture();
        let context = &fixture["semantics"]["context"];
        let mut mismatches = Vec::new();
        for case in fixture["semantics"]["cases"].as_array().expect("cases") {
            let source = case["template"].as_str().expect("template");
            let got = compile(source)
                .map_err(|e| format!("syntax: {e}"))
                .and_then(|c| {
                    c.render(Value::from(minijinja::value::Serde(context)))
                        .map_err(|e| format!("{e:?}"))
                })
                .unwrap_or_else(|e| e);
            if got != case["expected"] {
                mismatches.push(format!(
                    "{source:?}\n  jinja2: {}\n  ours:   {got:?}",
                    case["expected"]
                ));
            }
        }
        assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    }

    #[test]
    fn predefined_templates_render_as_the_platform_s() {
        let fixture = fixture();
        let samples = fixture["predefined"]["samples"]
            .as_object()
            .expect("samples");
        for t in rivia_core::templates::PREDEFINED {
            let own: serde_json::Value = serde_json::from_str(t.context).expect("context");
            for (sample_name, sample) in samples {
                let mut context = sample.as_object().expect("sample").clone();
                context.extend(own.as_object().expect("object").clone());
                if let Some(over) = sample["_ctx"].as_object() {
                    context.extend(over.clone());
                }
                let got = render(t.content, &serde_json::Value::Object(context));
                let key = format!("{}/{sample_name}", t.name);
                assert_eq!(got, fixture["predefined"]["expected"][&key], "{key}");
            }
        }
    }
}
