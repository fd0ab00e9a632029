//! From exit status and raw pipes to an outcome: spec-scripts §1.4 (separator, custom response)
//! and §1.5 (status, caps, trailing newline), with Rivia's §13 fixes: output that is not UTF-8 or
//! a custom-response block that cannot be used ends the run as `failure`, keeps what could be
//! decoded (lossy), and stderr says what went wrong.

use serde_json::Value;

use crate::capture::Captured;
use crate::{CustomResponse, RunStatus};

/// How the process ended.
#[derive(Debug)]
pub(crate) enum Exit {
    Code(i32),
    /// Killed by a signal (no sandbox) — with bubblewrap this shows as `128 + signal`.
    Signal(i32),
    /// Still running at the hard deadline; the engine killed it.
    Killed,
}

/// Everything the protocol needs from a finished process.
#[derive(Debug)]
pub(crate) struct Raw {
    pub stdout: Captured,
    pub stderr: Captured,
    /// [`crate::Limits::output_bytes`].
    pub cap: usize,
    pub exit: Exit,
    pub separator: String,
    pub timeout_secs: f64,
}

/// The decoded parts of an outcome (the caller adds the duration).
#[derive(Debug)]
pub(crate) struct Decoded {
    pub status: RunStatus,
    pub stdout: String,
    pub stderr: String,
    pub response: Option<CustomResponse>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

const SIGXCPU: i32 = 24;

pub(crate) fn decode(raw: Raw) -> Decoded {
    let (mut status, exit_note) = classify(&raw.exit, raw.timeout_secs);
    // §1.5: stderr keeps only what stdout left of the cap.
    let stdout_truncated = raw.stdout.total > raw.stdout.bytes.len() as u64;
    let stderr_room = raw.cap.saturating_sub(raw.stdout.bytes.len());
    let mut stderr_bytes = raw.stderr.bytes;
    stderr_bytes.truncate(stderr_room);
    let stderr_truncated = raw.stderr.total > stderr_bytes.len() as u64;

    let mut notes: Vec<String> = Vec::new();
    let (stdout, out_ok) = lossy(&raw.stdout.bytes, stdout_truncated);
    let (stderr, err_ok) = lossy(&stderr_bytes, stderr_truncated);
    let bad: Vec<&str> = [(!out_ok).then_some("stdout"), (!err_ok).then_some("stderr")]
        .into_iter()
        .flatten()
        .collect();
    if !bad.is_empty() {
        status = RunStatus::Failure;
        notes.push(format!(
            "Script output is not valid UTF-8 ({}); undecodable bytes are shown as U+FFFD.",
            bad.join(", ")
        ));
    }

    let mut stdout = stdout;
    let mut response = None;
    if let Some(at) = stdout.rfind(&raw.separator) {
        let block = stdout[at + raw.separator.len()..].to_owned();
        stdout.truncate(at);
        match parse_block(&block) {
            Ok(r) => response = Some(r),
            Err(problem) => {
                status = RunStatus::Failure;
                notes.push(if stdout_truncated || stderr_truncated {
                    format!("stdout and/or stderr max size exceeded. {problem}")
                } else {
                    problem
                });
            }
        }
    }
    notes.extend(exit_note);

    let mut stderr = stderr.trim_end_matches('\n').to_owned();
    for note in notes {
        if !stderr.is_empty() {
            stderr.push('\n');
        }
        stderr.push_str(&note);
    }
    Decoded {
        status,
        stdout: stdout.trim_end_matches('\n').to_owned(),
        stderr,
        response,
        stdout_truncated,
        stderr_truncated,
    }
}

/// Exit 0 → success, 124 → timeout, else failure (§1.5); a CPU-limit kill counts as a timeout.
fn classify(exit: &Exit, timeout_secs: f64) -> (RunStatus, Option<String>) {
    match *exit {
        Exit::Code(0) => (RunStatus::Success, None),
        Exit::Code(124) => (RunStatus::Timeout, None),
        Exit::Code(c) if c == 128 + SIGXCPU => (
            RunStatus::Timeout,
            Some("Script exceeded its CPU time limit.".to_owned()),
        ),
        Exit::Signal(SIGXCPU) => (
            RunStatus::Timeout,
            Some("Script exceeded its CPU time limit.".to_owned()),
        ),
        Exit::Code(c) if c > 128 && c < 128 + 65 => (
            RunStatus::Failure,
            Some(format!("Script was killed by signal {}.", c - 128)),
        ),
        Exit::Code(_) => (RunStatus::Failure, None),
        Exit::Signal(s) => (
            RunStatus::Failure,
            Some(format!("Script was killed by signal {s}.")),
        ),
        Exit::Killed => (
            RunStatus::Timeout,
            Some(format!(
                "Script timed out after {timeout_secs} s and was stopped."
            )),
        ),
    }
}

/// Lossy UTF-8; `false` if something had to be replaced. A sequence cut by the cap is not an
/// error: it is dropped.
fn lossy(bytes: &[u8], truncated: bool) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), true),
        Err(e) if truncated && e.error_len().is_none() => (
            String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned(),
            true,
        ),
        Err(_) => (String::from_utf8_lossy(bytes).into_owned(), false),
    }
}

/// `[status_code, content_type, content, headers]` → a response, or the problem in words.
fn parse_block(block: &str) -> Result<CustomResponse, String> {
    let invalid = "Incorrect custom response received: the output after the response separator \
                   is not a JSON list of [status_code, content_type, content, headers].";
    let items = match serde_json::from_str::<Value>(block.trim()) {
        Ok(Value::Array(items)) if items.len() == 4 => items,
        _ => return Err(invalid.to_owned()),
    };
    let status = int_like(&items[0]).ok_or_else(|| {
        format!(
            "Incorrect custom response received: status code {} is not an integer.",
            items[0]
        )
    })?;
    let headers = match &items[3] {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), py_str(v))).collect(),
        other if !truthy(other) => Vec::new(),
        other => {
            return Err(format!(
                "Incorrect custom response received: headers {other} are not an object."
            ));
        }
    };
    Ok(CustomResponse {
        status,
        content_type: py_str(&items[1]),
        content: py_str(&items[2]),
        headers,
    })
}

/// Python's `int(x)` on a decoded JSON value: ints, floats (truncated), bools, numeric strings.
fn int_like(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `str()` of a decoded JSON value (spec-scripts §1.4 QUIRK: `{'a': 1}`).
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(py_repr).collect::<Vec<_>>().join(", ")
            )
        }
        Value::Object(map) => {
            let pairs: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("'{k}': {}", py_repr(v)))
                .collect();
            format!("{{{}}}", pairs.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(stdout: &[u8], code: i32) -> Raw {
        Raw {
            stdout: Captured {
                bytes: stdout.to_vec(),
                total: stdout.len() as u64,
            },
            stderr: Captured::default(),
            cap: 524_288,
            exit: Exit::Code(code),
            separator: "--sep--".to_owned(),
            timeout_secs: 30.0,
        }
    }

    #[test]
    fn custom_response_is_split_at_the_last_separator() {
        let d = decode(raw(
            b"hi\n--sep--\n[201, \"text/plain\", {\"a\": 1}, {\"X\": 2}]",
            0,
        ));
        assert_eq!(d.status, RunStatus::Success);
        assert_eq!(d.stdout, "hi");
        let r = d.response.expect("response");
        assert_eq!((r.status, r.content.as_str()), (201, "{'a': 1}"));
        assert_eq!(r.headers, vec![("X".to_owned(), "2".to_owned())]);
    }

    #[test]
    fn unusable_blocks_fail_with_words() {
        let d = decode(raw(b"--sep--\nnot json", 0));
        assert_eq!(d.status, RunStatus::Failure);
        assert!(
            d.stderr.contains("Incorrect custom response"),
            "{}",
            d.stderr
        );
        let d = decode(raw(b"--sep--[\"x\", \"a\", \"b\", null]", 0));
        assert!(d.stderr.contains("not an integer"), "{}", d.stderr);
        let d = decode(raw(b"--sep--[200, \"a\", \"b\", [1]]", 0));
        assert!(d.stderr.contains("not an object"), "{}", d.stderr);
        let d = decode(raw(b"--sep--[\"200\", \"a\", \"b\", []]", 0));
        assert_eq!(d.response.map(|r| r.status), Some(200));
    }

    #[test]
    fn non_utf8_fails_and_a_cut_sequence_does_not() {
        let d = decode(raw(b"ok \xff\xfe", 0));
        assert_eq!(d.status, RunStatus::Failure);
        assert!(d.stdout.starts_with("ok "));
        assert!(d.stderr.contains("not valid UTF-8 (stdout)"));
        let mut r = raw("é".as_bytes(), 0);
        r.stdout.bytes.truncate(1);
        r.stdout.total = 100;
        assert_eq!(decode(r).status, RunStatus::Success);
    }
}
