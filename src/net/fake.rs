//! An in-memory transport for the worker's unit tests: answers from a
//! script (then a default), records every request in order, and can hold
//! requests until released, to test what happens while one is in flight.
//! Test builds only; behaviour tests use a real HTTP server instead.

use super::{Method, Outcome, Request, Transport};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct FakeTransport {
    inner: Mutex<Inner>,
    changed: Condvar,
}

/// A request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: Method,
    pub url: String,
    pub content_type: Option<String>,
    pub body: String,
}

struct Inner {
    requests: Vec<Recorded>,
    script: VecDeque<Outcome>,
    default: Outcome,
    holding: bool,
    in_flight: usize,
}

impl FakeTransport {
    /// A transport that answers `default` unless a scripted answer is due.
    pub fn new(default: Outcome) -> Arc<FakeTransport> {
        Arc::new(FakeTransport {
            inner: Mutex::new(Inner {
                requests: Vec::new(),
                script: VecDeque::new(),
                default,
                holding: false,
                in_flight: 0,
            }),
            changed: Condvar::new(),
        })
    }

    /// Answers the next requests with `outcomes`, in order.
    pub fn script(&self, outcomes: impl IntoIterator<Item = Outcome>) {
        self.inner.lock().script.extend(outcomes);
    }

    pub fn set_default(&self, outcome: Outcome) {
        self.inner.lock().default = outcome;
    }

    /// From now on requests wait (until `release`) before answering.
    pub fn hold(&self) {
        self.inner.lock().holding = true;
    }

    pub fn release(&self) {
        self.inner.lock().holding = false;
        self.changed.notify_all();
    }

    /// Every URL requested so far, in order.
    pub fn requests(&self) -> Vec<String> {
        self.inner
            .lock()
            .requests
            .iter()
            .map(|r| r.url.clone())
            .collect()
    }

    /// Every request so far, in order, with method and body.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.inner.lock().requests.clone()
    }

    /// Waits until `n` requests were made (answered or not); `false` at
    /// the timeout.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inner = self.inner.lock();
        while inner.requests.len() < n {
            if self.changed.wait_until(&mut inner, deadline).timed_out() {
                return inner.requests.len() >= n;
            }
        }
        true
    }
}

/// The tracker owns a box of this; the test keeps the `Arc`.
pub struct Shared(pub Arc<FakeTransport>);

impl Transport for Shared {
    fn send(&self, request: &Request) -> Outcome {
        let fake = &self.0;
        let mut inner = fake.inner.lock();
        inner.requests.push(Recorded {
            method: request.method,
            url: request.url.to_owned(),
            content_type: request.content_type.map(str::to_owned),
            body: String::from_utf8_lossy(request.body).into_owned(),
        });
        inner.in_flight += 1;
        fake.changed.notify_all();
        while inner.holding {
            fake.changed.wait(&mut inner);
        }
        inner.in_flight -= 1;
        let default = inner.default.clone();
        inner.script.pop_front().unwrap_or(default)
    }
}
