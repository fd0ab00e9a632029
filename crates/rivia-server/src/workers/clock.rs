//! What "now" is for schedules. Normally the system clock; tests of schedules across
//! processes point every node at a file holding the time (`--test-clock-file`, test-only)
//! and move it forward themselves, so "100 due runs" is an exact count.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The schedules' clock.
#[derive(Debug, Clone, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// TEST ONLY: the time is read from this file (Unix seconds, fractions allowed); the
    /// system clock while it cannot be read.
    File(PathBuf),
    /// TEST ONLY: the time (µs) is whatever the test stores here.
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// Now, in µs.
    pub fn now(&self) -> i64 {
        match self {
            Clock::System => rivia_core::time::now_micros(),
            Clock::File(path) => std::fs::read_to_string(path)
                .ok()
                .and_then(|text| text.trim().parse::<f64>().ok())
                .filter(|s| s.is_finite())
                .map_or_else(rivia_core::time::now_micros, |s| (s * 1e6) as i64),
            Clock::Manual(micros) => micros.load(Ordering::Acquire),
        }
    }
}
