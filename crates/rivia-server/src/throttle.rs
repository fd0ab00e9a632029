//! Per-second fixed-window request counters (spec-core §1.8). Counters live in this process;
//! with several nodes each node enforces the rate on its own share of the traffic.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// Fixed one-second windows keyed by an arbitrary string (`<scope>:<id>`).
#[derive(Default)]
pub(crate) struct Throttle {
    windows: Mutex<HashMap<String, (u64, u32)>>,
    /// Refused requests by scope (`/metrics`).
    refused: crate::metrics::ThrottledCounter,
}

fn current_second() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Throttle {
    /// Counts one request for `key`; false when it exceeds `rate` in this second.
    /// A rate of 0 means unlimited.
    pub(crate) fn allow(&self, key: &str, rate: u32) -> bool {
        if rate == 0 {
            return true;
        }
        let now = current_second();
        let mut windows = self.windows.lock();
        if windows.len() > 100_000 {
            windows.retain(|_, (second, _)| *second == now);
        }
        // Look up before inserting, so a known key costs no allocation.
        let entry = match windows.get_mut(key) {
            Some(entry) => entry,
            None => windows.entry(key.to_owned()).or_insert((now, 0)),
        };
        if entry.0 != now {
            *entry = (now, 0);
        }
        entry.1 += 1;
        let allowed = entry.1 <= rate;
        drop(windows);
        if !allowed {
            self.refused
                .get_or_create(&crate::metrics::ScopeLabel::new(scope_of(key)))
                .inc();
        }
        allowed
    }

    /// Refused requests by scope.
    pub(crate) fn refused(&self) -> &crate::metrics::ThrottledCounter {
        &self.refused
    }
}

/// The metrics' name of the limit a throttle key belongs to.
fn scope_of(key: &str) -> &'static str {
    match key.split(':').next() {
        Some("i") => "instance",
        Some("a") => "admin",
        Some("ip") => "anonymous",
        Some("poll") => "poll",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_within_a_second_and_zero_is_unlimited() {
        let t = Throttle::default();
        let allowed = (0..5).filter(|_| t.allow("k", 3)).count();
        // A second boundary may fall inside the loop, which can only allow more.
        assert!(allowed >= 3);
        assert!((0..1000).all(|_| t.allow("free", 0)));
        let refused = |scope| {
            t.refused()
                .get(&crate::metrics::ScopeLabel::new(scope))
                .map_or(0, |c| c.get())
        };
        assert_eq!(refused("other") as usize, 5 - allowed);
        // Three calls span at most one second boundary: at least one is refused.
        let ok = (0..3).filter(|_| t.allow("ip:127.0.0.1", 1)).count();
        assert!(ok <= 2);
        assert_eq!(refused("anonymous") as usize, 3 - ok);
    }
}
