//! Timestamps are stored as microseconds since the Unix epoch (UTC) and rendered the way
//! Syncano did: `%Y-%m-%dT%H:%M:%S.%fZ` with exactly six fractional digits.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Current time in microseconds since the epoch.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// Renders stored microseconds as `2015-05-19T15:52:36.183576Z`. Every response carries
/// several timestamps, so this writes digits directly instead of interpreting a format string.
pub fn format_micros(micros: i64) -> String {
    use chrono::{Datelike, Timelike};
    let Some(t) = DateTime::<Utc>::from_timestamp_micros(micros) else {
        return "1970-01-01T00:00:00.000000Z".to_string();
    };
    let mut out = String::with_capacity(27);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    }
    push_digits(&mut out, year as u32, 4);
    out.push('-');
    push_digits(&mut out, t.month(), 2);
    out.push('-');
    push_digits(&mut out, t.day(), 2);
    out.push('T');
    push_digits(&mut out, t.hour(), 2);
    out.push(':');
    push_digits(&mut out, t.minute(), 2);
    out.push(':');
    push_digits(&mut out, t.second(), 2);
    out.push('.');
    push_digits(&mut out, micros.rem_euclid(1_000_000) as u32, 6);
    out.push('Z');
    out
}

fn push_digits(out: &mut String, value: u32, width: u32) {
    let mut div = 10u32.pow(width - 1);
    while div > 0 {
        out.push(char::from(b'0' + ((value / div) % 10) as u8));
        div /= 10;
    }
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
