//! The network side: the [`Transport`] seam the worker sends through, the
//! built-in one on minreq (`http`), and the URLs requests are made of
//! (`url`). Nothing here knows about queues, threads or events.

pub mod http;
pub mod url;

#[cfg(test)]
pub mod fake;

use std::time::Duration;

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

/// Makes one request for the worker. Called only on the worker thread,
/// never under a lock; may block (up to the request timeout).
pub trait Transport: Send + Sync {
    /// One GET of `url` and what came of it.
    fn get(&self, url: &str) -> Outcome;
}
