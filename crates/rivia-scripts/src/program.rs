//! What each runtime executes: the wrapper (W) or template (T) of spec-scripts §1.3.
//!
//! * W (`python*`, `nodejs*`): our wrapper (`wrappers/python.py`, `wrappers/node.js`) is passed
//!   on the command line and reads one stdin line `{"ARGS","CONFIG","META","_OUTPUT_SEPARATOR",
//!   "_TIMEOUT"}` (this order, JSON spliced). Node reads the source from `/code/main.js`. Python
//!   gets everything over stdin (its rlimits line, that line, then the source), so its command
//!   line is the same for every run and the process can be started ahead of it (`crate::warm`).
//! * T (`ruby`, `php`): the source is pasted after a prelude that defines the inputs. Unlike the
//!   platform (which pasted JSON inside quotes), every input is embedded as base64 — alphabet
//!   `A-Za-z0-9+/=` only — inside a quoted literal and decoded at run time, so no value can end the
//!   literal and change the program (§13).
//! * `golang`: compiled once per source with `wrappers/go_inputs.go`, which reads the same
//!   stdin line as the W wrappers (`crate::golang`); the program is the cached binary.
//! * `swift`: no template; its toolchain cannot be installed here, so a run fails saying the
//!   toolchain is missing (or, where one is installed, that Rivia has no template for it).

use std::ffi::OsString;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::RunRequest;
use crate::runtimes::{Installed, Toolchain};

const PYTHON_WRAPPER: &str = include_str!("../wrappers/python.py");
const NODE_WRAPPER: &str = include_str!("../wrappers/node.js");
const RUBY_PRELUDE: &str = include_str!("../wrappers/ruby_prelude.rb");
const PHP_PRELUDE: &str = include_str!("../wrappers/php_prelude.php");
const PHP_EPILOGUE: &str = include_str!("../wrappers/php_epilogue.php");

/// A program ready to start: the source file's content, argv and the stdin bytes.
#[derive(Debug)]
pub(crate) struct Program {
    /// Written to `<run dir>/<file_name>` (`/code/<file_name>` in the sandbox); `None`: the
    /// program needs no file (Python reads its source from stdin).
    pub file_name: &'static str,
    pub file_content: Option<String>,
    pub argv: Vec<OsString>,
    /// `None` → stdin is `/dev/null`.
    pub stdin: Option<Vec<u8>>,
    /// The program sets the run's rlimits itself (the Python wrapper), so no `prlimit` exec
    /// goes before it.
    pub own_limits: bool,
}

/// Builds the program for `toolchain`, or says why this runtime cannot run here.
/// `code_dir` is where the source file will be seen by the interpreter.
pub(crate) fn build(
    toolchain: Toolchain,
    installed: &Installed,
    request: &RunRequest,
    separator: &str,
    code_dir: &Path,
) -> Result<Program, String> {
    let file_name = toolchain.source_file();
    let file_path = code_dir.join(file_name).into_os_string();
    let interpreter = installed.path.clone().into_os_string();
    let program = match toolchain {
        Toolchain::Python => Program {
            file_name,
            file_content: None,
            argv: python_argv(installed),
            stdin: Some(python_stdin(request, separator)),
            own_limits: true,
        },
        Toolchain::Node => {
            // Keep V8's heap under RLIMIT_DATA so a hog ends with V8's own clear message.
            let heap_mb = (request.limits.memory_bytes >> 20) * 3 / 4;
            Program {
                file_name,
                file_content: Some(request.source.clone()),
                argv: vec![
                    interpreter,
                    format!("--max-old-space-size={}", heap_mb.max(16)).into(),
                    "-e".into(),
                    NODE_WRAPPER.into(),
                    file_path,
                ],
                stdin: Some(stdin_line(request, separator)),
                own_limits: false,
            }
        }
        Toolchain::Ruby => Program {
            file_name,
            file_content: Some(format!(
                "{}\n{}\n",
                fill(RUBY_PRELUDE, request, separator),
                request.source
            )),
            argv: vec![interpreter, file_path],
            stdin: None,
            own_limits: false,
        },
        Toolchain::Php => Program {
            file_name,
            file_content: Some(format!(
                "{}\n{}\n{}",
                fill(PHP_PRELUDE, request, separator),
                request.source,
                PHP_EPILOGUE
            )),
            argv: vec![
                interpreter,
                "-d".into(),
                "display_errors=stderr".into(),
                file_path,
            ],
            stdin: None,
            own_limits: false,
        },
        // The binary compiled from the source (`crate::golang`) is linked in as `main`.
        Toolchain::Go => Program {
            file_name: crate::golang::BINARY,
            file_content: None,
            argv: vec![code_dir.join(crate::golang::BINARY).into_os_string()],
            stdin: Some(stdin_line(request, separator)),
            own_limits: false,
        },
        Toolchain::Swift => {
            return Err(format!(
                "The {} runtime is not supported by this Rivia build yet ({} is installed, but \
                 Rivia has no template for it).",
                request.runtime,
                toolchain.binary()
            ));
        }
    };
    Ok(program)
}

/// The Python command line: the same for every run (nothing of the run is on it).
/// `-S`: the wrapper loads site itself when an import needs it (see the wrapper).
pub(crate) fn python_argv(installed: &Installed) -> Vec<OsString> {
    vec![
        installed.path.clone().into_os_string(),
        "-S".into(),
        "-u".into(),
        "-c".into(),
        PYTHON_WRAPPER.into(),
    ]
}

/// The Python wrapper's stdin: the rlimits line (set before anything else is read), the inputs
/// line, then the source up to EOF.
fn python_stdin(request: &RunRequest, separator: &str) -> Vec<u8> {
    let [data, nproc, fsize, cpu] = crate::sandbox::rlimits(&request.limits);
    let mut bytes = format!("[{data}, {nproc}, {fsize}, {cpu}]\n").into_bytes();
    bytes.extend(stdin_line(request, separator));
    bytes.extend_from_slice(request.source.as_bytes());
    bytes
}

/// The W wrappers' stdin line, keys in the platform's order, values spliced as JSON.
fn stdin_line(request: &RunRequest, separator: &str) -> Vec<u8> {
    let timeout = request.limits.timeout.as_secs_f64();
    let mut line = format!(
        "{{\"ARGS\":{},\"CONFIG\":{},\"META\":{},\"_OUTPUT_SEPARATOR\":{},\"_TIMEOUT\":{}}}",
        request.args,
        request.config,
        request.meta,
        Value::String(separator.to_owned()),
        timeout
    );
    line.push('\n');
    line.into_bytes()
}

/// Replaces the `@ARGS@`, `@CONFIG@`, `@META@`, `@SEPARATOR@` holes with base64 text.
fn fill(template: &str, request: &RunRequest, separator: &str) -> String {
    let b64 = |v: &Value| STANDARD.encode(v.to_string());
    template
        .replace("@ARGS@", &b64(&request.args))
        .replace("@CONFIG@", &b64(&request.config))
        .replace("@META@", &b64(&request.meta))
        .replace("@SEPARATOR@", &STANDARD.encode(separator))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(args: Value) -> RunRequest {
        RunRequest {
            runtime: "ruby".into(),
            source: "puts 1".into(),
            args,
            config: json!({}),
            meta: json!({}),
            limits: crate::Limits::default(),
            network: false,
        }
    }

    #[test]
    fn template_inputs_are_base64_only() {
        let hostile = json!({"x": "'); system('id'); ('\\\" ?> <?php `id` ${x} #{x}"});
        let filled = fill(RUBY_PRELUDE, &request(hostile.clone()), "--s--");
        let encoded = STANDARD.encode(hostile.to_string());
        assert!(filled.contains(&format!("Base64.strict_decode64('{encoded}')")));
        assert!(!filled.contains("system"));
    }

    #[test]
    fn python_gets_its_limits_inputs_and_source_over_stdin() {
        let mut req = request(json!([1]));
        req.source = "print(1)\n".into();
        let text = String::from_utf8(python_stdin(&req, "--s--")).expect("utf-8");
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], "[335544320, 64, 16777216, 32]");
        assert!(lines[1].starts_with("{\"ARGS\":[1],"), "{text}");
        assert_eq!(&lines[2..], ["print(1)", ""]);
    }

    #[test]
    fn stdin_line_keeps_the_platform_key_order() {
        let line = stdin_line(&request(json!([1])), "--s--");
        let text = String::from_utf8_lossy(&line);
        assert!(text.starts_with(
            "{\"ARGS\":[1],\"CONFIG\":{},\"META\":{},\"_OUTPUT_SEPARATOR\":\"--s--\","
        ));
        assert!(text.ends_with(",\"_TIMEOUT\":30}\n"), "{text}");
    }
}
