//! The outcome table (DESIGN.md §4): what a status code and its
//! `Retry-After` mean for the hits of a request, whichever transport made
//! it. No I/O here.

use super::Outcome;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Maps a status code (and `Retry-After`, if any) to an outcome.
pub fn classify_status(status: u16, retry_after: Option<&str>, now: SystemTime) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered { status },
        300..=399 => Outcome::Unreachable {
            status,
            reason: format!("HTTP {status}: a redirect is not the collector (captive portal?)"),
        },
        408 | 429 | 500..=599 => Outcome::Retryable {
            status,
            retry_after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        400..=499 => Outcome::Rejected {
            status,
            reason: format!("HTTP {status}: the collector refused the hit"),
        },
        _ => Outcome::Unreachable {
            status,
            reason: format!("HTTP {status}: not a valid answer"),
        },
    }
}

/// `Retry-After` as delta-seconds or an IMF-fixdate (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// Parses `Sun, 06 Nov 1994 08:49:37 GMT` to Unix seconds.
fn parse_http_date(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day as i64);
    u64::try_from(days * 86_400)
        .ok()
        .map(|d| d + h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let now = SystemTime::now();
        assert_eq!(
            classify_status(204, None, now),
            Outcome::Delivered { status: 204 }
        );
        assert!(matches!(
            classify_status(302, None, now),
            Outcome::Unreachable { status: 302, .. }
        ));
        assert!(matches!(
            classify_status(400, None, now),
            Outcome::Rejected { status: 400, .. }
        ));
        for s in [408, 429, 500, 503] {
            assert!(
                matches!(classify_status(s, None, now), Outcome::Retryable { .. }),
                "{s}"
            );
        }
        assert_eq!(
            classify_status(503, Some("7"), now),
            Outcome::Retryable {
                status: 503,
                retry_after: Some(Duration::from_secs(7))
            }
        );
    }

    #[test]
    fn retry_after_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
