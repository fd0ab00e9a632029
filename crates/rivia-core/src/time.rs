//! Timestamps are stored as microseconds since the Unix epoch (UTC) and rendered the way
//! Syncano did: `%Y-%m-%dT%H:%M:%S.%fZ` with exactly six fractional digits.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Current time in microseconds since the epoch.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// Renders stored microseconds as `2015-05-19T15:52:36.183576Z`.
pub fn format_micros(micros: i64) -> String {
    match TimestampText::new(micros) {
        Some(text) => text.as_str().to_string(),
        None => match DateTime::<Utc>::from_timestamp_micros(micros) {
            Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            None => "1970-01-01T00:00:00.000000Z".to_string(),
        },
    }
}

/// Stored microseconds serialised as [`format_micros`] text, without allocating.
#[derive(Clone, Copy)]
pub struct Timestamp(pub i64);

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match TimestampText::new(self.0) {
            Some(text) => s.serialize_str(text.as_str()),
            None => s.serialize_str(&format_micros(self.0)),
        }
    }
}

/// `YYYY-MM-DDThh:mm:ss.ffffffZ` on the stack, for years 0000–9999. Every object and
/// user in a response carries two timestamps, so the calendar arithmetic is done here
/// directly (days to civil date, as in Howard Hinnant's `civil_from_days`) rather than
/// through chrono's general formatting, and digits are written into a fixed array.
pub struct TimestampText {
    bytes: [u8; 27],
}

impl TimestampText {
    /// The text of `micros`, or `None` outside years 0000–9999.
    pub fn new(micros: i64) -> Option<TimestampText> {
        let secs = micros.div_euclid(1_000_000);
        let fraction = micros.rem_euclid(1_000_000) as u32;
        let days = secs.div_euclid(86_400);
        let of_day = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        if !(0..=9999).contains(&year) {
            return None;
        }
        let mut bytes = *b"0000-00-00T00:00:00.000000Z";
        let year = year as u32;
        // Two digits at a time: a page of users carries a dozen timestamps.
        let pairs = [
            (0, year / 100),
            (2, year % 100),
            (5, month),
            (8, day),
            (11, of_day / 3600),
            (14, of_day / 60 % 60),
            (17, of_day % 60),
            (20, fraction / 10_000),
            (22, fraction / 100 % 100),
            (24, fraction % 100),
        ];
        for (at, value) in pairs {
            bytes[at..at + 2].copy_from_slice(two_digits(value));
        }
        Some(TimestampText { bytes })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.bytes).unwrap_or_default()
    }
}

/// `00`, `01`, … `99`, back to back.
static TWO_DIGITS: [u8; 200] = {
    let mut table = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        table[2 * i] = b'0' + (i / 10) as u8;
        table[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    table
};

/// The two decimal digits of `value` (below 100; callers pass remainders and quotients
/// that are).
fn two_digits(value: u32) -> &'static [u8] {
    let at = 2 * (value as usize % 100);
    &TWO_DIGITS[at..at + 2]
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365, from March 1st
    let mp = (5 * doy + 2) / 153; // 0..=11, March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parses the strict Syncano datetime input format (`YYYY-MM-DDThh:mm:ss.f{1,6}Z`).
pub fn parse_strict(input: &str) -> Option<i64> {
    let body = input.strip_suffix('Z')?;
    let (main, frac) = body.split_once('.')?;
    if frac.is_empty() || frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if main.len() != 19 {
        return None;
    }
    let t = NaiveDateTime::parse_from_str(main, "%Y-%m-%dT%H:%M:%S").ok()?;
    let padded: i64 = format!("{frac:0<6}").parse().ok()?;
    Some(t.and_utc().timestamp() * 1_000_000 + padded)
}

/// Parses the lenient ISO-8601 forms accepted in queries and cursors:
/// `YYYY-MM-DD[T ]hh:mm[:ss[.ffffff]][Z|±hh:mm]` or a bare date.
pub fn parse_lenient(input: &str) -> Option<i64> {
    let s = input.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros());
    }
    let normalized = s.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&normalized) {
        return Some(t.with_timezone(&Utc).timestamp_micros());
    }
    let naive = normalized.strip_suffix('Z').unwrap_or(&normalized);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(&normalized, fmt) {
            return Some(t.with_timezone(&Utc).timestamp_micros());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_text(micros: i64) -> String {
        DateTime::<Utc>::from_timestamp_micros(micros)
            .expect("in range")
            .format("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string()
    }

    #[test]
    fn calendar_arithmetic_matches_chrono_over_years_0_to_9999() {
        let first = -62_167_219_200_000_000; // 0000-01-01T00:00:00Z
        let last = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
        let edges = [
            first,
            last,
            0,
            -1,
            951_782_400_000_000,    // 2000-02-29
            951_868_799_999_999,    // 2000-02-29T23:59:59.999999
            -2_203_891_200_000_001, // 1900-02-28T23:59:59.999999 (1900 is no leap year)
            4_107_542_400_000_000,  // 2100-03-01
        ];
        // Edges plus ~100k points spread over the whole range by a step prime to a day.
        let step = (last - first) / 100_003 + 7_919;
        let sweep = (0..).map(|i| first + i * step).take_while(|m| *m <= last);
        for micros in edges.into_iter().chain(sweep) {
            assert_eq!(format_micros(micros), chrono_text(micros), "{micros}");
        }
        assert!(TimestampText::new(first - 1).is_none());
        assert!(TimestampText::new(last + 1).is_none());
        assert_eq!(
            serde_json::to_string(&Timestamp(0)).expect("json"),
            "\"1970-01-01T00:00:00.000000Z\""
        );
    }

    #[test]
    fn formats_six_fraction_digits() {
        assert_eq!(
            format_micros(1_432_050_756_183_576),
            "2015-05-19T15:52:36.183576Z"
        );
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_micros(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            format_micros(253_402_300_799_999_999),
            "9999-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn strict_parse_round_trips_and_rejects_other_forms() {
        let m = parse_strict("2015-05-19T15:52:36.183576Z");
        assert_eq!(m, Some(1_432_050_756_183_576));
        assert_eq!(
            parse_strict("2015-05-19T15:52:36.1Z"),
            Some(1_432_050_756_100_000)
        );
        assert_eq!(parse_strict("2015-05-19T15:52:36Z"), None);
        assert_eq!(parse_strict("2015-05-19"), None);
        assert_eq!(parse_strict("2015-05-19T15:52:36.1234567Z"), None);
    }

    #[test]
    fn lenient_parse_accepts_dates_and_offsets() {
        assert_eq!(parse_lenient("1970-01-02"), Some(86_400_000_000));
        assert_eq!(parse_lenient("1970-01-01T01:00+01:00"), Some(0));
        assert_eq!(parse_lenient("1970-01-01 00:00:01Z"), Some(1_000_000));
        assert_eq!(parse_lenient("nope"), None);
    }
}
