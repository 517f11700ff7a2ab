//! The built-in transport: sending one request through minreq and
//! classifying what came back (DESIGN.md §4).
//!
//! A blocking GET or POST through minreq, redirects not followed, the
//! response body never read. `classify_error` is the one table that maps
//! every error of the HTTP client to an outcome (`status` does the same
//! for status codes). Runs only on the worker thread. No queue logic here.

use super::status::classify_status;
use super::{Method, Outcome, Request, Transport, request_headers};
use std::time::SystemTime;

const MINREQ_NO_STATUS_LINE: &str = "Server did not provide a status line";

/// Sends requests with the configured headers and timeout.
pub struct HttpTransport {
    headers: Vec<(String, String)>,
    timeout_seconds: u64,
}

impl HttpTransport {
    pub fn new(configured: &[(String, String)], timeout_seconds: u64) -> HttpTransport {
        HttpTransport {
            headers: request_headers(configured),
            timeout_seconds,
        }
    }
}

impl Transport for HttpTransport {
    /// One request; blocks for at most about `timeout_seconds`.
    fn send(&self, request: &Request) -> Outcome {
        let url = request.url;
        let mut call = match request.method {
            Method::Get => minreq::get(url),
            Method::Post => minreq::post(url).with_body(request.body.to_vec()),
        };
        if let Some(content_type) = request.content_type {
            call = call.with_header("Content-Type", content_type);
        }
        let call = call
            .with_headers(self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .with_timeout(self.timeout_seconds)
            .with_follow_redirects(false)
            .with_max_headers_size(64 * 1024)
            .with_max_status_line_length(8 * 1024);
        match call.send_lazy() {
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

#[cfg(test)]
mod tests {
    use super::*;

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
