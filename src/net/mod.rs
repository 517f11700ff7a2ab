//! The network side: the [`Transport`] seam the worker sends through, the
//! built-in one on minreq (`http`, feature `http`), the host's own
//! (`host`, `tracker_set_transport`), the outcome table shared by both
//! (`status`), and the URLs and batch bodies requests are made of (`url`,
//! `batch`). Nothing here knows about queues, threads or events.

pub mod batch;
pub mod host;
#[cfg(feature = "http")]
pub mod http;
pub mod status;
pub mod url;

#[cfg(test)]
pub mod fake;

use host::HostTransport;
use parking_lot::RwLock;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "http")]
pub use http::HttpTransport;

/// What one delivery attempt achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the collector has the hit.
    Delivered { status: u16 },
    /// No answer from the collector (or a 3xx, likely a captive portal):
    /// keep the hit, do not count an attempt, go offline.
    Unreachable { status: u16, reason: String },
    /// 5xx, 408, 429: count an attempt; `retry_after` pauses the queue.
    Retryable {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// Any other 4xx, or a request that can never succeed: drop at once.
    Rejected { status: u16, reason: String },
}

impl Outcome {
    /// The HTTP status it came with (0: no answer).
    pub fn status(&self) -> u16 {
        match self {
            Outcome::Delivered { status }
            | Outcome::Unreachable { status, .. }
            | Outcome::Retryable { status, .. }
            | Outcome::Rejected { status, .. } => *status,
        }
    }
}

/// GET of one hit, or POST of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One request the worker wants made. `content_type` and `body` are set
/// for POST only.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: Method,
    pub url: &'a str,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    pub fn get(url: &'a str) -> Request<'a> {
        Request {
            method: Method::Get,
            url,
            content_type: None,
            body: &[],
        }
    }
}

/// Makes one request for the worker. Called only on the worker thread,
/// never under a lock; may block (up to the request timeout).
pub trait Transport: Send + Sync {
    /// Makes `request` and says what came of it.
    fn send(&self, request: &Request) -> Outcome;
}

/// The built-in transport, and the host's when it set one: the worker
/// sends through whichever is current when a request starts.
pub struct Transports {
    builtin: Box<dyn Transport>,
    host: RwLock<Option<Arc<HostTransport>>>,
}

impl Transports {
    pub fn new(builtin: Box<dyn Transport>) -> Transports {
        Transports {
            builtin,
            host: RwLock::new(None),
        }
    }

    /// Uses `host` from the next request on; `None`: the built-in again.
    /// Once this returns, the old host transport's callback is neither
    /// running nor called again.
    pub fn set_host(&self, host: Option<Arc<HostTransport>>) {
        let old = std::mem::replace(&mut *self.host.write(), host);
        if let Some(old) = old {
            old.retire();
        }
    }

    pub fn send(&self, request: &Request) -> Outcome {
        loop {
            let host = self.host.read().clone();
            let Some(host) = host else {
                return self.builtin.send(request);
            };
            // Replaced between the read and the start: ask the new one.
            if let Some(outcome) = host.try_send(request) {
                return outcome;
            }
        }
    }
}

/// The built-in transport of a library built without its HTTP client
/// (feature `http` off): every hit stays queued until the host sets one.
#[cfg(not(feature = "http"))]
pub struct NoClient;

#[cfg(not(feature = "http"))]
impl Transport for NoClient {
    fn send(&self, _: &Request) -> Outcome {
        Outcome::Unreachable {
            status: 0,
            reason: "built without an HTTP client: set a transport with tracker_set_transport"
                .into(),
        }
    }
}

/// The `User-Agent` every request carries unless the config sets one.
pub fn request_headers(configured: &[(String, String)]) -> Vec<(String, String)> {
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
    headers
}
