//! Outgoing mail. The default mailer appends each mail as one JSON line to
//! `<data-dir>/outbox.jsonl` and logs it; an SMTP mailer can implement the same call.

use serde_json::json;
use std::io::Write;
use std::path::PathBuf;

/// Writes mails to an outbox file.
pub(crate) struct Mailer {
    outbox: PathBuf,
    lock: parking_lot::Mutex<()>,
}

impl Mailer {
    /// A mailer writing to `<dir>/outbox.jsonl`.
    pub(crate) fn new(dir: PathBuf) -> Self {
        Mailer {
            outbox: dir.join("outbox.jsonl"),
            lock: parking_lot::Mutex::new(()),
        }
    }

    /// Sends (records) one mail. Failures are logged; they never fail the request.
    pub(crate) fn send(&self, to: &str, kind: &str, fields: serde_json::Value) {
        let line = json!({
            "to": to,
            "kind": kind,
            "at": rivia_core::time::format_micros(rivia_core::time::now_micros()),
            "fields": fields,
        });
        tracing::info!(to, kind, "mail queued to outbox");
        let _guard = self.lock.lock();
        if let Some(dir) = self.outbox.parent() {
            // With PostgreSQL as the store nothing else creates the data directory.
            let _ = std::fs::create_dir_all(dir);
        }
        let result = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.outbox)
            .and_then(|mut f| writeln!(f, "{line}"));
        if let Err(e) = result {
            tracing::error!(error = %e, path = %self.outbox.display(), "could not write mail to outbox");
        }
    }
}
