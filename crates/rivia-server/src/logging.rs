//! The process's log: human-readable lines on stderr (coloured only when stderr is a
//! terminal) or, with `--log-format json`, one JSON object per line. Every line written
//! while a request is answered carries its request id (the `request` span's
//! `request_id`, also the response's `X-Request-Id`); `--access-log` adds one line per
//! request (target `rivia::access`).
//!
//! Secrets are never logged: credential headers are marked sensitive by the stack, query
//! secrets are redacted from access lines ([`crate::observe::redacted_path`]), and the
//! few dependency modules that print statement parameters or frame payloads at debug level
//! (`tokio_postgres::query`, `tungstenite`) are capped whatever `RUST_LOG` says.

use clap::ValueEnum;
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The filter when `RUST_LOG` is unset: Rivia's own info lines, warnings of the rest.
const DEFAULT_FILTER: &str = "warn,rivia_server=info,rivia_store=info,rivia=info";

/// Caps on modules that would log secrets: PostgreSQL statement parameters (account keys,
/// password hashes) at debug, WebSocket frame payloads at trace.
const SECRET_CAPS: [&str; 2] = ["tokio_postgres::query=info", "tungstenite=debug"];

/// The access log's target.
const ACCESS_TARGET: &str = "rivia::access";
/// The target of each request's span (its `request_id`).
const REQUEST_TARGET: &str = "rivia::request";

/// The filter for `RUST_LOG` (None: unset) and `--access-log`. The access log is on when
/// asked for by the flag or by a `RUST_LOG` directive naming its target.
pub fn filter(rust_log: Option<&str>, access_log: bool) -> EnvFilter {
    let mut directives = rust_log.unwrap_or(DEFAULT_FILTER).to_string();
    if access_log {
        // With the request span, so its lines carry the request id whatever RUST_LOG says.
        directives.push_str(&format!(",{ACCESS_TARGET}=info,{REQUEST_TARGET}=info"));
    } else if !directives.contains(ACCESS_TARGET) {
        directives.push_str(&format!(",{ACCESS_TARGET}=off"));
    }
    for cap in SECRET_CAPS {
        directives.push(',');
        directives.push_str(cap);
    }
    EnvFilter::try_new(&directives).unwrap_or_else(|e| {
        eprintln!("RUST_LOG is not a valid filter ({e}); using the default");
        EnvFilter::new(format!("{DEFAULT_FILTER},{}", SECRET_CAPS.join(",")))
    })
}

/// Installs the process's logger (once; later calls do nothing) and routes panics to it,
/// so that a JSON log stays one JSON object per line.
pub fn init(format: LogFormat, access_log: bool) {
    let rust_log = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(rust_log.as_deref(), access_log))
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
    if installed.is_ok() {
        std::panic::set_hook(Box::new(|info| {
            tracing::error!(panic = %info, "a thread panicked");
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_caps_and_the_access_switch_end_every_filter() {
        let text = |rust_log: Option<&str>, access| filter(rust_log, access).to_string();
        let default = text(None, false);
        assert!(default.contains("rivia::access=off"), "{default}");
        assert!(default.contains("tokio_postgres::query=info"), "{default}");
        assert!(text(None, true).contains("rivia::access=info"));
        assert!(text(Some("warn"), true).contains("rivia::request=info"));
        let verbose = text(Some("trace"), false);
        assert!(verbose.contains("tokio_postgres::query=info"), "{verbose}");
        assert!(verbose.contains("tungstenite=debug"), "{verbose}");
        // Named in RUST_LOG: the user's directive stands.
        let named = text(Some("warn,rivia::access=info"), false);
        assert!(!named.contains("rivia::access=off"), "{named}");
    }
}
