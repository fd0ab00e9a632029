//! Reading a child's pipe with a size cap: keep the first `cap` bytes, drain and count the rest,
//! so a 50 MB writer neither blocks on a full pipe nor grows our memory.

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{Instant, timeout_at};

/// What was read from one pipe.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    /// At most `cap` bytes.
    pub bytes: Vec<u8>,
    /// Everything the writer produced (before EOF or the deadline).
    pub total: u64,
}

/// Reads until EOF, a read error, or `deadline` (a lingering grandchild holding the pipe open
/// must not hold the run).
pub(crate) async fn capture<R: AsyncRead + Unpin>(
    reader: Option<R>,
    cap: usize,
    deadline: Instant,
) -> Captured {
    let mut out = Captured::default();
    let Some(mut reader) = reader else { return out };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match timeout_at(deadline, reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => n,
        };
        out.total += n as u64;
        let room = cap.saturating_sub(out.bytes.len());
        out.bytes.extend_from_slice(&buf[..n.min(room)]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn keeps_the_head_and_counts_the_rest() {
        let data = vec![b'x'; 300_000];
        let deadline = Instant::now() + Duration::from_secs(5);
        let got = capture(Some(&data[..]), 1000, deadline).await;
        assert_eq!(got.bytes.len(), 1000);
        assert_eq!(got.total, 300_000);
    }
}
