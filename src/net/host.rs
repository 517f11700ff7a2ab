//! The host's own transport (DESIGN.md §9): the worker hands each request
//! to a function the host gave (`tracker_set_transport`), then waits for
//! the host to report what came of it (`tracker_transport_complete`), at
//! most the request timeout.
//!
//! [`Completions`] is the meeting point: the worker registers a request id
//! before starting it and waits; the host's completion, from any thread,
//! fills it in. Ids are unique in the process, so a completion meant for
//! another tracker, or a destroyed one, is refused, never misapplied. No C
//! types here: `ffi` turns the host's callback into a [`Starter`].

use super::status::classify_status;
use super::{Method, Outcome, Request, Transport, request_headers};
use crate::error::{Error, Result, truncate_to};
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The host's error text kept in events and stats: enough to say why,
/// bounded whatever the host passes.
const ERROR_TEXT_LIMIT: usize = 512;

/// Ids of requests that timed out remembered per tracker, so a late
/// completion can be told from a made-up id.
const EXPIRED_KEPT: usize = 64;

static NEXT_REQUEST_ID: AtomicU64 = AtomicU64::new(1);

/// What the host reports for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The status as received, 0 when no answer came.
    pub status: u16,
    pub retry_after: Option<String>,
    pub error: Option<String>,
}

impl Completion {
    pub fn outcome(&self) -> Outcome {
        if self.status == 0 {
            let why = self.error.as_deref().unwrap_or("no answer");
            return Outcome::Unreachable {
                status: 0,
                reason: format!("host transport: {}", truncate_to(why, ERROR_TEXT_LIMIT)),
            };
        }
        classify_status(self.status, self.retry_after.as_deref(), SystemTime::now())
    }
}

/// One request as the host sees it.
pub struct HostRequest<'a> {
    pub id: u64,
    pub request: &'a Request<'a>,
    pub headers: &'a [(String, String)],
    pub timeout: Duration,
}

/// Starts a request on the host's side and returns at once.
pub type Starter = Box<dyn Fn(&HostRequest) + Send + Sync>;

/// Requests waiting for the host's completion, for one tracker.
#[derive(Default)]
pub struct Completions {
    waiting: Mutex<Waiting>,
    completed: Condvar,
    /// Held while the host's callback runs, so closing can wait it out.
    calling: Mutex<()>,
}

/// A tracker has one request in flight at a time, so a list is enough.
#[derive(Default)]
struct Waiting {
    requests: Vec<(u64, Option<Completion>)>,
    expired: VecDeque<u64>,
    closed: bool,
}

impl Waiting {
    fn slot(&mut self, id: u64) -> Option<&mut Option<Completion>> {
        self.requests
            .iter_mut()
            .find(|(at, _)| *at == id)
            .map(|(_, slot)| slot)
    }

    fn take(&mut self, id: u64) -> Option<Option<Completion>> {
        let at = self.requests.iter().position(|(at, _)| *at == id)?;
        Some(self.requests.swap_remove(at).1)
    }

    fn completed(&self, id: u64) -> bool {
        self.requests
            .iter()
            .any(|(at, slot)| *at == id && slot.is_some())
    }
}

impl Completions {
    /// A new request id, waiting for its completion; `None` once closed.
    fn open(&self) -> Option<u64> {
        let mut waiting = self.waiting.lock();
        if waiting.closed {
            return None;
        }
        let id = NEXT_REQUEST_ID.fetch_add(1, Ordering::Relaxed);
        waiting.requests.push((id, None));
        Some(id)
    }

    /// The host's report for request `id`.
    pub fn complete(&self, id: u64, completion: Completion) -> Result<()> {
        let mut waiting = self.waiting.lock();
        let expired = waiting.expired.contains(&id);
        match waiting.slot(id) {
            Some(slot @ None) => {
                *slot = Some(completion);
                self.completed.notify_all();
                Ok(())
            }
            Some(Some(_)) => Err(Error::invalid(format!(
                "request {id} was already completed"
            ))),
            None if expired => Err(Error::invalid(format!(
                "request {id} was completed after its timeout: it already counts as unreachable"
            ))),
            None => Err(Error::invalid(format!(
                "request {id} is not a request of this tracker waiting for its completion"
            ))),
        }
    }

    /// Waits for request `id` until `deadline`; `None` at the timeout or
    /// when the tracker closes. Forgets the request either way.
    fn wait(&self, id: u64, deadline: Instant) -> Option<Completion> {
        let mut waiting = self.waiting.lock();
        loop {
            if waiting.completed(id) {
                return waiting.take(id).flatten();
            }
            if waiting.closed
                || self
                    .completed
                    .wait_until(&mut waiting, deadline)
                    .timed_out()
            {
                if waiting.completed(id) {
                    continue;
                }
                waiting.take(id);
                if waiting.expired.len() == EXPIRED_KEPT {
                    waiting.expired.pop_front();
                }
                waiting.expired.push_back(id);
                return None;
            }
        }
    }

    /// No request starts from now on, a request waiting for the host
    /// counts as unreachable at once, and a callback still running has
    /// returned when this does (`tracker_destroy`).
    pub fn close(&self) {
        self.waiting.lock().closed = true;
        self.completed.notify_all();
        drop(self.calling.lock());
    }

    /// Drops a request that was never started.
    fn forget(&self, id: u64) {
        self.waiting.lock().take(id);
    }

    fn is_closed(&self) -> bool {
        self.waiting.lock().closed
    }
}

/// A transport that hands requests to the host.
pub struct HostTransport {
    start: Starter,
    /// Replaced by another transport: its callback is not called again.
    retired: AtomicBool,
    completions: Arc<Completions>,
    headers: Vec<(String, String)>,
    timeout: Duration,
}

impl HostTransport {
    pub fn new(
        start: Starter,
        completions: Arc<Completions>,
        configured_headers: &[(String, String)],
        timeout: Duration,
    ) -> HostTransport {
        HostTransport {
            start,
            retired: AtomicBool::new(false),
            completions,
            headers: request_headers(configured_headers),
            timeout,
        }
    }
}

fn closed() -> Outcome {
    Outcome::Unreachable {
        status: 0,
        reason: "host transport: the tracker is shutting down".into(),
    }
}

impl HostTransport {
    /// Its callback is not called again once this returns (and not running).
    pub fn retire(&self) {
        let _calling = self.completions.calling.lock();
        self.retired.store(true, Ordering::Relaxed);
    }

    /// `send`, or `None` (nothing started) when it was retired meanwhile.
    pub fn try_send(&self, request: &Request) -> Option<Outcome> {
        let Some(id) = self.completions.open() else {
            return Some(closed());
        };
        let deadline = Instant::now() + self.timeout;
        {
            let _calling = self.completions.calling.lock();
            let retired = self.retired.load(Ordering::Relaxed);
            if retired || self.completions.is_closed() {
                self.completions.forget(id);
                return (!retired).then(closed);
            }
            debug_assert!(request.method == Method::Get || !request.body.is_empty());
            (self.start)(&HostRequest {
                id,
                request,
                headers: &self.headers,
                timeout: self.timeout,
            });
        }
        Some(match self.completions.wait(id, deadline) {
            Some(completion) => completion.outcome(),
            None if self.completions.is_closed() => closed(),
            None => Outcome::Unreachable {
                status: 0,
                reason: format!(
                    "host transport: no completion within {} ms",
                    self.timeout.as_millis()
                ),
            },
        })
    }
}

impl Transport for HostTransport {
    fn send(&self, request: &Request) -> Outcome {
        self.try_send(request)
            .unwrap_or_else(|| Outcome::Unreachable {
                status: 0,
                reason: "host transport: replaced by another transport".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn transport(
        completions: &Arc<Completions>,
        timeout: Duration,
    ) -> (HostTransport, mpsc::Receiver<(u64, String)>) {
        let (tx, rx) = mpsc::channel();
        let tx = Mutex::new(tx);
        let start: Starter = Box::new(move |r: &HostRequest| {
            let _ = tx.lock().send((r.id, r.request.url.to_owned()));
        });
        let t = HostTransport::new(start, Arc::clone(completions), &[], timeout);
        (t, rx)
    }

    fn ok(status: u16) -> Completion {
        Completion {
            status,
            retry_after: None,
            error: None,
        }
    }

    #[test]
    fn completions_from_another_thread_late_twice_and_unknown() {
        let completions = Arc::new(Completions::default());
        let (t, rx) = transport(&completions, Duration::from_secs(5));
        let c = Arc::clone(&completions);
        let host = std::thread::spawn(move || {
            let (id, url) = rx.recv().unwrap();
            assert_eq!(url, "http://h/a");
            c.complete(id, ok(204)).unwrap();
            // Refused whether the worker has taken the first one yet or not.
            assert!(c.complete(id, ok(204)).is_err());
            id
        });
        assert_eq!(
            t.send(&Request::get("http://h/a")),
            Outcome::Delivered { status: 204 }
        );
        let id = host.join().unwrap();
        assert!(completions.complete(id + 1_000_000, ok(200)).is_err());

        let (late, rx) = transport(&completions, Duration::from_millis(20));
        assert!(matches!(
            late.send(&Request::get("http://h/b")),
            Outcome::Unreachable { .. }
        ));
        let (id, _) = rx.recv().unwrap();
        let err = completions.complete(id, ok(200)).unwrap_err();
        assert!(err.message.contains("after its timeout"), "{}", err.message);
    }

    #[test]
    fn no_answer_and_statuses_follow_the_outcome_table() {
        let none = Completion {
            status: 0,
            retry_after: None,
            error: Some("refused".into()),
        };
        assert!(
            matches!(none.outcome(), Outcome::Unreachable { reason, .. } if reason.contains("refused"))
        );
        let long = Completion {
            status: 0,
            retry_after: None,
            error: Some("e".repeat(1 << 20)),
        };
        match long.outcome() {
            Outcome::Unreachable { reason, .. } => assert!(reason.len() < 600, "{}", reason.len()),
            other => panic!("{other:?}"),
        }
        let busy = Completion {
            status: 503,
            retry_after: Some("7".into()),
            error: None,
        };
        assert_eq!(
            busy.outcome(),
            Outcome::Retryable {
                status: 503,
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert!(matches!(ok(302).outcome(), Outcome::Unreachable { .. }));
    }

    #[test]
    fn closing_ends_a_wait_and_starts_nothing() {
        let completions = Arc::new(Completions::default());
        let (t, rx) = transport(&completions, Duration::from_secs(30));
        let c = Arc::clone(&completions);
        let closer = std::thread::spawn(move || {
            rx.recv().unwrap();
            c.close();
            rx
        });
        let started = Instant::now();
        assert_eq!(t.send(&Request::get("http://h/a")), closed());
        assert!(started.elapsed() < Duration::from_secs(10));
        let rx = closer.join().unwrap();
        assert_eq!(t.send(&Request::get("http://h/b")), closed());
        assert!(rx.try_recv().is_err(), "no callback once closed");
    }
}
