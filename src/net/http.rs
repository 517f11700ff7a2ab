//! The built-in transport: sending one request through minreq and
//! classifying what came back (DESIGN.md §4).
//!
//! A blocking HTTP GET through minreq, redirects not followed, the response
//! body never read. `classify_error` is the one table that maps every error
//! of the HTTP client to an outcome; `classify_status` does the same for
//! status codes. Runs only on the worker thread. No queue logic here.

use super::{Outcome, Transport};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MINREQ_NO_STATUS_LINE: &str = "Server did not provide a status line";

/// Sends requests with the configured headers and timeout.
pub struct HttpTransport {
    headers: Vec<(String, String)>,
    timeout_seconds: u64,
}

impl HttpTransport {
    pub fn new(configured: &[(String, String)], timeout_seconds: u64) -> HttpTransport {
        let mut headers = configured.to_vec();
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("user-agent"))
        {
            headers.push((
                "User-Agent".into(),
                format!("offtrack/{}", env!("CARGO_PKG_VERSION")),
            ));
        }
        HttpTransport {
            headers,
            timeout_seconds,
        }
    }
}

impl Transport for HttpTransport {
    /// One GET; blocks for at most about `timeout_seconds`.
    fn get(&self, url: &str) -> Outcome {
        let request = minreq::get(url)
            .with_headers(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .with_timeout(self.timeout_seconds)
            .with_follow_redirects(false)
            .with_max_headers_size(64 * 1024)
            .with_max_status_line_length(8 * 1024);
        match request.send_lazy() {
            // minreq reports a connection closed without a status line as a
            // made-up 503 with this reason; no collector answered.
            Ok(response)
                if response.status_code == 503
                    && response.reason_phrase == MINREQ_NO_STATUS_LINE =>
            {
                Outcome::Unreachable {
                    status: 0,
                    reason: "malformed response: the connection closed without a status line"
                        .into(),
                }
            }
            Ok(response) => classify_status(
                response.status_code,
                response
                    .headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
                    .map(|(_, value)| value.as_str()),
                SystemTime::now(),
            ),
            Err(e) => classify_error(&e, url.starts_with("https://")),
        }
    }
}

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

/// The table of every minreq error: what it means for the hit. `https`
/// tells whether the request used TLS: rustls reports a refused
/// certificate as an I/O error of kind `InvalidData`.
pub fn classify_error(error: &minreq::Error, https: bool) -> Outcome {
    use minreq::Error as E;
    let unreachable = |what: &str| Outcome::Unreachable {
        status: 0,
        reason: format!("{what}: {error}"),
    };
    let rejected = |what: &str| Outcome::Rejected {
        status: 0,
        reason: format!("{what}: {error}"),
    };
    match error {
        E::IoError(e) => match e.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => unreachable("timeout"),
            std::io::ErrorKind::InvalidData if https => unreachable("TLS"),
            _ => unreachable("network"),
        },
        E::AddressNotFound => unreachable("DNS"),
        E::RustlsCreateConnection(_) => unreachable("TLS"),
        E::MalformedChunkLength
        | E::MalformedChunkEnd
        | E::MalformedContentLength
        | E::HeadersOverflow
        | E::StatusLineOverflow
        | E::InvalidUtf8InResponse
        | E::InvalidUtf8InBody(_) => unreachable("malformed response"),
        // Redirects are not followed, so these cannot come from a collector
        // answer we asked for; treat like any 3xx.
        E::RedirectLocationMissing
        | E::InfiniteRedirectionLoop
        | E::TooManyRedirections
        | E::InvalidProtocolInRedirect => unreachable("redirect"),
        // The URL itself can never be sent: retrying cannot help.
        E::InvalidProtocol
        | E::HttpsFeatureNotEnabled
        | E::PunycodeConversionFailed
        | E::PunycodeFeatureNotEnabled => rejected("invalid request URL"),
        // No proxy is configured; keep the hit if one ever reports trouble.
        E::BadProxy | E::BadProxyCreds | E::ProxyConnect | E::InvalidProxyCreds => {
            unreachable("proxy")
        }
        // Variants added by a future minreq: keeping the hit is the safe side.
        _ => unreachable("HTTP client"),
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

    #[test]
    fn errors() {
        let refused =
            minreq::Error::IoError(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(matches!(
            classify_error(&refused, false),
            Outcome::Unreachable { .. }
        ));
        let bad_cert = minreq::Error::IoError(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate",
        ));
        match classify_error(&bad_cert, true) {
            Outcome::Unreachable { reason, .. } => assert!(reason.starts_with("TLS"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify_error(&minreq::Error::InvalidProtocol, false),
            Outcome::Rejected { .. }
        ));
    }
}
