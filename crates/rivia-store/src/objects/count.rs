//! Counts of object lists: exact up to [`EXACT_COUNT_LIMIT`] matches, estimated above
//! (SQLite: a deterministic sample; PostgreSQL: the planner's row estimate, cached for a
//! second per query).

use crate::db::Row;

/// Counts are exact up to this many matches, then estimated (spec-core §9.8).
pub(crate) const EXACT_COUNT_LIMIT: i64 = 1000;
/// Objects sampled to estimate a larger count.
const COUNT_PROBES: i64 = 64;

/// Matches counted up to `EXACT_COUNT_LIMIT + 1`: cheap however many rows match.
pub(super) fn capped_count_sql(table: &str, where_sql: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM {table}{where_sql} LIMIT {}) AS capped",
        EXACT_COUNT_LIMIT + 1
    )
}

/// Samples [`COUNT_PROBES`] objects spread evenly over the class's id range (the bounds are
/// two MIN/MAX subqueries: in one SELECT together they scan the whole table) and returns
/// (objects sampled, samples matching, the class's object count): the matching share of
/// the sample scales the class count into an estimate. Deterministic, so repeating a
/// request repeats its count.
pub(super) fn count_estimate_sql(table: &str, cond: &str, class_param: usize) -> String {
    format!(
        "WITH RECURSIVE probe(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM probe WHERE n < {last}), \
         bounds AS (SELECT (SELECT MIN(id) FROM {table}) AS lo, (SELECT MAX(id) FROM {table}) AS hi) \
         SELECT COUNT(*), COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0), \
         (SELECT objects_count FROM classes WHERE id = ${class_param}) \
         FROM {table} WHERE id IN (SELECT (SELECT id FROM {table} \
         WHERE id >= bounds.lo + (bounds.hi - bounds.lo) * probe.n / {COUNT_PROBES} ORDER BY id LIMIT 1) \
         FROM probe, bounds)",
        last = COUNT_PROBES - 1
    )
}

/// The estimate from [`count_estimate_sql`]'s row; never below what was counted exactly.
pub(super) fn estimate_from(row: Option<&Row>) -> i64 {
    let floor = EXACT_COUNT_LIMIT + 1;
    let Some(r) = row else { return floor };
    let (sampled, hits, total) = (r.i64(0), r.i64(1), r.opt_i64(2).unwrap_or(0));
    if sampled == 0 {
        return floor;
    }
    (total.saturating_mul(hits) / sampled).max(floor)
}

/// How long a planner estimate of a count is reused. The planner's figure comes from
/// statistics that autovacuum refreshes in minutes; a second's reuse changes nothing a
/// client could rely on, and saves planning the `EXPLAIN` on every request (about 6% of
/// a filtered list + count at 10,000 objects).
const ESTIMATE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// Estimates kept at most; the cache starts over when full.
const ESTIMATES_MAX: usize = 1024;

/// PostgreSQL planner estimates of recent counts above [`EXACT_COUNT_LIMIT`], by query
/// (the `EXPLAIN` statement and its parameters, so the visibility filter is part of it).
#[derive(Default)]
pub(crate) struct EstimateCache(
    std::sync::Mutex<std::collections::HashMap<String, (i64, std::time::Instant)>>,
);

impl EstimateCache {
    fn entries(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (i64, std::time::Instant)>>
    {
        // A panic while holding the lock leaves a plain map behind: still usable.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The estimate stored for `key` less than [`ESTIMATE_TTL`] before `now`.
    pub(super) fn get(&self, key: &str, now: std::time::Instant) -> Option<i64> {
        self.entries()
            .get(key)
            .filter(|(_, at)| now.saturating_duration_since(*at) < ESTIMATE_TTL)
            .map(|(rows, _)| *rows)
    }

    pub(super) fn put(&self, key: String, rows: i64, now: std::time::Instant) {
        let mut entries = self.entries();
        if entries.len() >= ESTIMATES_MAX && !entries.contains_key(&key) {
            entries.clear();
        }
        entries.insert(key, (rows, now));
    }
}

/// The cache key of an estimate: the statement and its parameters.
pub(super) fn estimate_key(sql: &str, params: &[crate::Val]) -> String {
    format!("{sql}\u{0}{params:?}")
}

/// The row estimate of the top plan node in PostgreSQL's `EXPLAIN` text
/// (`Seq Scan on c2  (cost=0.00..284.00 rows=4950 width=4)`).
pub(super) fn planner_rows(plan: &[Row]) -> Option<i64> {
    let top = plan.first()?.str(0);
    let digits = top.split("rows=").nth(1)?;
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn an_estimate_is_reused_for_a_second_then_asked_again() {
        let cache = EstimateCache::default();
        let start = Instant::now();
        let key = estimate_key(
            "EXPLAIN SELECT 1 FROM c1 WHERE owner = $1",
            &[crate::Val::Int(7)],
        );
        assert_eq!(cache.get(&key, start), None);
        cache.put(key.clone(), 5000, start);
        assert_eq!(
            cache.get(&key, start + Duration::from_millis(999)),
            Some(5000)
        );
        assert_eq!(cache.get(&key, start + ESTIMATE_TTL), None);
        let other_owner = estimate_key(
            "EXPLAIN SELECT 1 FROM c1 WHERE owner = $1",
            &[crate::Val::Int(8)],
        );
        assert_eq!(
            cache.get(&other_owner, start),
            None,
            "parameters are part of the key"
        );
    }

    #[test]
    fn a_full_cache_starts_over() {
        let cache = EstimateCache::default();
        let now = Instant::now();
        for i in 0..ESTIMATES_MAX {
            cache.put(format!("q{i}"), 2000, now);
        }
        cache.put("q0".into(), 3000, now);
        assert_eq!(
            cache.get("q1", now),
            Some(2000),
            "replacing a key keeps the rest"
        );
        cache.put("new".into(), 4000, now);
        assert_eq!(cache.get("q1", now), None);
        assert_eq!(cache.get("new", now), Some(4000));
    }

    #[test]
    fn planner_rows_reads_the_top_node() {
        let plan = vec![Row(vec![crate::Val::Text(
            "Seq Scan on c2  (cost=0.00..284.00 rows=4950 width=4)".into(),
        )])];
        assert_eq!(planner_rows(&plan), Some(4950));
        assert_eq!(planner_rows(&[]), None);
    }
}
