//! Schedules (rest §2, spec-scripts §9, §13): checking a crontab and a time zone, and the
//! next due time of a schedule. A crontab is evaluated in the schedule's own time zone
//! (the platform ignored it), so "at 9:00 in Europe/Warsaw" stays at 9:00 local time across
//! DST changes; times are kept as UTC microseconds.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// How often a schedule comes due.
#[derive(Debug, Clone)]
pub enum Cadence {
    /// Every this many seconds.
    Interval(i64),
    /// At the minutes a crontab matches, read in a time zone.
    Crontab(Box<Cron>, Tz),
}

/// The crontab grammar of the platform (Celery's): five space-separated fields of numbers,
/// `*`, ranges, lists and steps; weekday names in the fifth. The characters croner would
/// also take (`L`, `W`, `#`, `?`, `@nicknames`, month names) are refused.
fn field_characters_ok(index: usize, part: &str) -> bool {
    part.chars().all(|c| {
        c.is_ascii_digit()
            || matches!(c, '*' | '/' | ',' | '-')
            || (index == 4 && c.is_ascii_alphabetic())
    })
}

/// Parses a crontab; the error is the field message of the platform:
/// `Crontab has to have 5 parts specified.` or `Not a valid crontab, <why>`.
pub fn parse_crontab(text: &str) -> Result<Cron, String> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    if parts.len() != 5 {
        return Err("Crontab has to have 5 parts specified.".to_owned());
    }
    if let Some((i, part)) = parts
        .iter()
        .enumerate()
        .find(|(i, p)| !field_characters_ok(*i, p))
    {
        return Err(format!(
            "Not a valid crontab, unsupported characters in part {} ({part:?}).",
            i + 1
        ));
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        // Celery: day of month AND day of week must both match.
        .dom_and_dow(true)
        .build();
    let cron = parser
        .parse(&parts.join(" "))
        .map_err(|e| format!("Not a valid crontab, {e}"))?;
    // A pattern that can never match (`0 0 31 2 *`) is refused now rather than at run time.
    if let Err(e) = cron.find_next_occurrence(&Utc::now(), false) {
        return Err(format!("Not a valid crontab, {e}"));
    }
    Ok(cron)
}

/// A time zone of the IANA database by name (`UTC`, `Europe/Warsaw`).
pub fn parse_timezone(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

fn utc(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

impl Cadence {
    /// The cadence of a stored schedule; `None` when it has neither an interval nor a
    /// readable crontab (stored rows were checked on write, so only a damaged row).
    pub fn of(interval_sec: Option<i64>, crontab: Option<&str>, timezone: &str) -> Option<Cadence> {
        match (interval_sec, crontab) {
            (Some(s), _) if s > 0 => Some(Cadence::Interval(s)),
            (_, Some(c)) => Some(Cadence::Crontab(
                Box::new(parse_crontab(c).ok()?),
                parse_timezone(timezone).unwrap_or(Tz::UTC),
            )),
            _ => None,
        }
    }

    /// The first due time strictly after `now` for a schedule created or edited at `now`:
    /// `now + interval`, or the next minute the crontab matches in its time zone.
    pub fn first_after(&self, now: i64) -> i64 {
        match self {
            Cadence::Interval(s) => now.saturating_add(s.saturating_mul(1_000_000)),
            Cadence::Crontab(cron, tz) => next_cron(cron, *tz, now),
        }
    }

    /// The due time after a run that was due at `due` and dispatched at `now`: the schedule
    /// keeps its cadence (the next point of the interval's grid, or the next crontab match,
    /// strictly after `now`), so due times missed while the server was down are not replayed.
    pub fn next_after_run(&self, due: i64, now: i64) -> i64 {
        match self {
            Cadence::Interval(s) => {
                let step = s.saturating_mul(1_000_000).max(1);
                let behind = now.saturating_sub(due).max(0);
                due.saturating_add((behind / step + 1).saturating_mul(step))
            }
            Cadence::Crontab(cron, tz) => next_cron(cron, *tz, now),
        }
    }
}

/// The next minute after `now` the crontab matches, read in `tz`; a pattern with no next
/// match (it was checked on write) falls back to a day later rather than running hot.
fn next_cron(cron: &Cron, tz: Tz, now: i64) -> i64 {
    // Croner carries the start's fraction of a second into its answer: start on a second.
    let local = utc(now.div_euclid(1_000_000) * 1_000_000).with_timezone(&tz);
    match cron.find_next_occurrence(&local, false) {
        Ok(next) => next.with_timezone(&Utc).timestamp() * 1_000_000,
        Err(_) => now.saturating_add(86_400_000_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn micros(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .expect("valid local time")
            .with_timezone(&Utc)
            .timestamp_micros()
    }

    fn at_utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        micros(Tz::UTC, y, mo, d, h, mi)
    }

    fn crontab(text: &str, tz: &str) -> Cadence {
        Cadence::of(None, Some(text), tz).expect("valid crontab")
    }

    #[test]
    fn crontab_messages_follow_the_platform() {
        assert_eq!(
            parse_crontab("5 * test").err().as_deref(),
            Some("Crontab has to have 5 parts specified.")
        );
        let bad = parse_crontab("5 * * 123445 *").expect_err("refused");
        assert!(bad.starts_with("Not a valid crontab, "), "{bad}");
        assert!(parse_crontab("0 0 L * *").is_err());
        assert!(parse_crontab("@daily x y z w").is_err());
        assert!(parse_crontab("*/15 9-17 * * mon-fri").is_ok());
        assert!(parse_crontab("0 0 31 2 *").is_err(), "never matches");
    }

    #[test]
    fn crontab_evaluates_in_its_time_zone_across_dst() {
        let warsaw: Tz = "Europe/Warsaw".parse().expect("tz");
        let daily_nine = crontab("0 9 * * *", "Europe/Warsaw");
        // Winter: 9:00 in Warsaw is 8:00 UTC.
        let winter = daily_nine.first_after(at_utc(2026, 3, 27, 12, 0));
        assert_eq!(winter, micros(warsaw, 2026, 3, 28, 9, 0));
        assert_eq!(winter, at_utc(2026, 3, 28, 8, 0));
        // Clocks go forward on 29 March 2026: 9:00 local is then 7:00 UTC.
        let summer = daily_nine.next_after_run(winter, winter + 1);
        assert_eq!(summer, at_utc(2026, 3, 29, 7, 0));
        // And back on 25 October 2026.
        let before = daily_nine.first_after(at_utc(2026, 10, 24, 12, 0));
        assert_eq!(before, at_utc(2026, 10, 25, 8, 0));
        assert_eq!(
            daily_nine.next_after_run(before, before),
            at_utc(2026, 10, 26, 8, 0)
        );
    }

    #[test]
    fn a_skipped_local_time_runs_once_and_a_repeated_one_once() {
        // 2:30 does not exist in Warsaw on 29 March 2026, and happens twice on 25 October.
        let at_two_thirty = crontab("30 2 * * *", "Europe/Warsaw");
        let spring = at_two_thirty.first_after(at_utc(2026, 3, 28, 12, 0));
        let after_spring = at_two_thirty.next_after_run(spring, spring);
        assert!(after_spring > spring);
        assert_eq!(after_spring, at_utc(2026, 3, 30, 0, 30));
        let autumn = at_two_thirty.first_after(at_utc(2026, 10, 24, 12, 0));
        let after_autumn = at_two_thirty.next_after_run(autumn, autumn);
        assert!(
            after_autumn - autumn > 20 * 3_600_000_000,
            "the repeated hour does not run the job twice"
        );
    }

    #[test]
    fn utc_crontab_matches_the_platform_example() {
        let five_past = crontab("5 * * * *", "UTC");
        assert_eq!(
            five_past.first_after(at_utc(2026, 1, 1, 10, 5)),
            at_utc(2026, 1, 1, 11, 5),
            "the first match after the current minute"
        );
        assert_eq!(
            five_past.first_after(at_utc(2026, 1, 1, 10, 4)),
            at_utc(2026, 1, 1, 10, 5)
        );
    }

    #[test]
    fn day_of_month_and_day_of_week_must_both_match() {
        // The 13th that is a Friday: 13 March 2026.
        let friday_13th = crontab("0 0 13 * 5", "UTC");
        assert_eq!(
            friday_13th.first_after(at_utc(2026, 1, 1, 0, 0)),
            at_utc(2026, 2, 13, 0, 0)
        );
    }

    #[test]
    fn intervals_keep_their_grid_after_downtime() {
        let every_minute = Cadence::Interval(60);
        let due = at_utc(2026, 1, 1, 0, 0);
        assert_eq!(every_minute.first_after(due), due + 60_000_000);
        // Dispatched on time: the next point of the grid.
        assert_eq!(every_minute.next_after_run(due, due + 5), due + 60_000_000);
        // Down for 10.5 minutes: one run now, then back on the grid.
        let late = due + 630_000_000;
        assert_eq!(every_minute.next_after_run(due, late), due + 660_000_000);
    }

    #[test]
    fn time_zones_by_name() {
        assert!(parse_timezone("UTC").is_some());
        assert!(parse_timezone("Europe/Warsaw").is_some());
        assert!(parse_timezone("Europe/Poznan").is_none());
        assert!(parse_timezone("Mordor/MountDoom").is_none());
    }
}
