//! Times typed by people: `--since 2026-01-01`, `--until "2026-01-05 10:00"`, `--since 2h`.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

/// Why a typed time or duration was refused; each names the text as it was typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error(
        "{0:?} is not a time: use RFC 3339 (2026-01-05T10:00:00Z), a date (2026-01-05), \
         \"2026-01-05 10:00\" (UTC), or an age like 30m, 2h, 7d"
    )]
    NotATime(String),
    #[error("{0:?} is too far back: times start at year -262143")]
    TooFarBack(String),
    #[error("{0:?} is not a duration: use 90, 90s, 500ms, 5m or 1h")]
    NotADuration(String),
    #[error("{0:?} is too long")]
    TooLong(String),
}

/// Parse an absolute time (RFC 3339, a date, a date and time in UTC) or a relative one
/// (`30s`, `15m`, `2h`, `7d`, `3w` ago), relative to `now`.
pub fn parse_time_at(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    let s = s.trim();
    if let Some(t) = crate::store::db::parse_time_text(s) {
        return Ok(t);
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M") {
        return Ok(t.and_utc());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M") {
        return Ok(t.and_utc());
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    if let (Ok(n), false) = (num.parse::<i64>(), num.is_empty()) {
        let d = match unit {
            "s" => Some(Duration::try_seconds(n)),
            "m" => Some(Duration::try_minutes(n)),
            "h" => Some(Duration::try_hours(n)),
            "d" => Some(Duration::try_days(n)),
            "w" => Some(Duration::try_weeks(n)),
            _ => None,
        };
        if let Some(d) = d {
            return d
                .and_then(|d| now.checked_sub_signed(d))
                .ok_or_else(|| TimeError::TooFarBack(s.to_string()));
        }
    }
    Err(TimeError::NotATime(s.to_string()))
}

pub fn parse_time(s: &str) -> Result<DateTime<Utc>, TimeError> {
    parse_time_at(s, Utc::now())
}

/// A length of time typed by people: `300` or `300s`, `500ms`, `5m`, `1h`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, TimeError> {
    let t = s.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| TimeError::NotADuration(s.to_string()))?;
    let ms = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(TimeError::NotADuration(s.to_string())),
    };
    ms.map(std::time::Duration::from_millis)
        .ok_or_else(|| TimeError::TooLong(s.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative_times() {
        let now: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().unwrap();
        let p = |s| parse_time_at(s, now).unwrap().to_rfc3339();
        assert_eq!(p("2026-01-05"), "2026-01-05T00:00:00+00:00");
        assert_eq!(p("2026-01-05 10:30"), "2026-01-05T10:30:00+00:00");
        assert_eq!(p("2026-01-05T10:30:00+02:00"), "2026-01-05T08:30:00+00:00");
        assert_eq!(p("2h"), "2026-03-01T10:00:00+00:00");
        assert_eq!(p("7d"), "2026-02-22T12:00:00+00:00");
        for bad in ["", "yesterday", "2h ago", "12x", "2026-13-01"] {
            assert!(parse_time_at(bad, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ages_too_far_back_are_errors_not_panics() {
        let now: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().unwrap();
        for bad in [
            "99999999d",
            "9999999999999w",
            "9223372036854775807s",
            "99999999999999999999d",
        ] {
            assert!(parse_time_at(bad, now).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn durations() {
        let d = |s| parse_duration(s).unwrap().as_millis();
        assert_eq!(d("90"), 90_000);
        assert_eq!(d("90s"), 90_000);
        assert_eq!(d("500ms"), 500);
        assert_eq!(d("5m"), 300_000);
        assert_eq!(d("1h"), 3_600_000);
        for bad in ["", "m", "5x", "-5s", "99999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn each_refusal_says_what_kind_it_is_and_names_the_text() {
        let now: DateTime<Utc> = "2026-03-01T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_time_at("yesterday", now),
            Err(TimeError::NotATime("yesterday".into()))
        );
        assert_eq!(
            parse_time_at("9999999999999w", now),
            Err(TimeError::TooFarBack("9999999999999w".into()))
        );
        assert_eq!(
            parse_duration("5x"),
            Err(TimeError::NotADuration("5x".into()))
        );
        assert_eq!(
            parse_duration("99999999999999999h"),
            Err(TimeError::TooLong("99999999999999999h".into()))
        );
        let e = TimeError::NotATime("yesterday".into()).to_string();
        assert!(
            e.starts_with("\"yesterday\" is not a time: use RFC 3339"),
            "{e}"
        );
    }
}
