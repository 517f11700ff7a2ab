//! The worker's rules (DESIGN.md §4) through the in-memory transport, with
//! time moved forward by hand (`Clock::advance`) instead of slept through:
//! FIFO order, every outcome, backoff, Retry-After, probes while offline,
//! one final event per hit, destroy with a request in flight. The stores
//! are real (fjall in a temporary directory); only the network is faked.
//!
//! Waits on the real clock are only for the worker to act on what it was
//! told (bounded by `SETTLE`), never for a delay to pass.

use crate::events::{
    DropReason, Event, TRACKER_EVENT_DROPPED, TRACKER_EVENT_SENT, TRACKER_EVENT_STORED,
};
use crate::net::Outcome;
use crate::net::fake::{self, FakeTransport};
use crate::tracker::Tracker;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Long enough for the worker to act on anything it was told.
const SETTLE: Duration = Duration::from_secs(10);
/// How long a test watches for a request that must not come.
const QUIET: Duration = Duration::from_millis(150);

const DELIVERED: Outcome = Outcome::Delivered { status: 200 };

struct Harness {
    tracker: Option<Tracker>,
    fake: Arc<FakeTransport>,
    events: Arc<Mutex<Vec<Event>>>,
    dir: std::path::PathBuf,
}

fn harness(name: &str, settings: &str, default: Outcome) -> Harness {
    let dir = std::env::temp_dir().join(format!(
        "offtrack-worker-{name}-{}-{}",
        std::process::id(),
        crate::engine::now_ms()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let storage = if settings.contains("\"storage\":\"never\"") {
        String::new()
    } else {
        format!(",\"storage_path\":{}", serde_json::json!(dir))
    };
    let config = format!(
        "{{\"endpoint\":\"http://collector.test/hit\",\"shutdown_timeout_ms\":200{storage},{settings}}}"
    );
    let fake = FakeTransport::new(default);
    let for_tracker = fake.clone();
    let tracker = Tracker::create_with(&config, |_| Box::new(fake::Shared(for_tracker)))
        .unwrap_or_else(|e| panic!("create with {config}: {e}"));
    let events = tracker.shared().events.record();
    Harness {
        tracker: Some(tracker),
        fake,
        events,
        dir,
    }
}

impl Harness {
    fn tracker(&self) -> &Tracker {
        self.tracker.as_ref().expect("tracker destroyed")
    }

    fn send(&self, ns: std::ops::Range<u32>) {
        for n in ns {
            self.tracker().send(&format!("n={n}")).expect("send");
        }
    }

    /// Moves the clock under the state lock, which the worker holds from
    /// reading the clock until it waits: the wake-up cannot fall between.
    fn advance(&self, by: Duration) {
        let shared = self.tracker().shared();
        let _state = shared.state.lock();
        shared.clock.advance(by);
        shared.wake.notify_all();
    }

    /// The `n` of every request so far, in order.
    fn requested(&self) -> Vec<u32> {
        self.fake.requests().iter().map(|url| n_of(url)).collect()
    }

    /// Waits for `count` requests, then for the worker to have acted on
    /// their outcomes (it is idle again): only then may the test move the
    /// clock, or the worker would date its backoff from the moved clock.
    fn wait_for_requests(&self, count: usize) {
        self.wait_for_requests_made(count);
        let deadline = Instant::now() + SETTLE;
        while !self.tracker().shared().state.lock().worker_idle() {
            assert!(Instant::now() < deadline, "the worker never went idle");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn wait_for_requests_made(&self, count: usize) {
        assert!(
            self.fake.wait_for_requests(count, SETTLE),
            "expected {count} requests, got {:?}",
            self.requested()
        );
    }

    /// Asserts that no request beyond `count` comes for a while.
    fn no_request_beyond(&self, count: usize) {
        std::thread::sleep(QUIET);
        assert_eq!(self.fake.requests().len(), count, "{:?}", self.requested());
    }

    /// Waits for `count` final events and checks they are one SENT per
    /// hit, with nothing left in the queue.
    fn all_sent_once(&self, count: usize) {
        let events = self.wait_for_events("the SENT events", |e| finals(e).len() == count);
        let finals = finals(&events);
        assert!(
            finals
                .values()
                .all(|e| e.len() == 1 && e[0].kind == TRACKER_EVENT_SENT),
            "{finals:?}"
        );
        assert_eq!(self.tracker().offline_count(), Ok(0));
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().clone()
    }

    fn wait_for_events(&self, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + SETTLE;
        loop {
            let events = self.events();
            if done(&events) {
                return events;
            }
            assert!(Instant::now() < deadline, "no {what}: {events:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        drop(self.tracker.take());
        self.fake.release();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn n_of(url: &str) -> u32 {
    url.split(['?', '&'])
        .find_map(|p| p.strip_prefix("n="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no n in {url}"))
}

/// The final events (SENT or DROPPED) by hit id, each id's list in order.
fn finals(events: &[Event]) -> BTreeMap<u64, Vec<Event>> {
    let mut by_id: BTreeMap<u64, Vec<Event>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind != TRACKER_EVENT_STORED) {
        by_id.entry(e.id).or_default().push(e.clone());
    }
    by_id
}

fn unreachable() -> Outcome {
    Outcome::Unreachable {
        status: 0,
        reason: "connection refused".into(),
    }
}

#[test]
fn delivers_in_fifo_order_with_one_sent_event_each() {
    let h = harness("fifo", "\"storage\":\"always\"", DELIVERED);
    h.send(0..40);
    h.tracker().flush(SETTLE).expect("flush");
    assert_eq!(
        h.requested(),
        Vec::<u32>::new(),
        "always: kept until a dispatch"
    );
    h.tracker().dispatch().expect("dispatch");
    h.tracker().flush(SETTLE).expect("flush");
    assert_eq!(h.requested(), (0..40).collect::<Vec<_>>());
    let finals = finals(&h.wait_for_events("40 SENT", |e| e.len() >= 40));
    assert_eq!(finals.len(), 40);
    for (i, (id, events)) in finals.iter().enumerate() {
        assert_eq!(events.len(), 1, "hit {id}: {events:?}");
        assert_eq!(events[0].kind, TRACKER_EVENT_SENT);
        assert_eq!(n_of(&events[0].hit), i as u32);
    }
}

#[test]
fn a_rejected_hit_is_dropped_with_the_collectors_reason_and_the_next_goes_on() {
    let h = harness("rejected", "\"storage\":\"always\"", DELIVERED);
    h.fake.script([
        DELIVERED,
        Outcome::Rejected {
            status: 400,
            reason: "HTTP 400 from the collector".into(),
        },
    ]);
    h.send(0..3);
    h.tracker().dispatch().expect("dispatch");
    h.tracker().flush(SETTLE).expect("flush");
    assert_eq!(h.requested(), vec![0, 1, 2]);
    let events = h.wait_for_events("3 final events", |e| finals(e).len() == 3);
    let kinds: Vec<_> = finals(&events)
        .into_values()
        .map(|e| (e[0].kind, e[0].http_status, e[0].reason.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (TRACKER_EVENT_SENT, 200, String::new()),
            (
                TRACKER_EVENT_DROPPED,
                400,
                "HTTP 400 from the collector".into()
            ),
            (TRACKER_EVENT_SENT, 200, String::new()),
        ]
    );
    assert_eq!(h.tracker().offline_count(), Ok(0));
}

#[test]
fn a_retryable_answer_backs_off_exponentially_and_drops_at_max_attempts() {
    let h = harness(
        "retryable",
        "\"storage\":\"required\",\"max_attempts\":3,\"retry_base_ms\":60000,\"retry_max_ms\":600000",
        Outcome::Retryable {
            status: 500,
            retry_after: None,
        },
    );
    h.send(0..1);
    h.wait_for_requests(1);
    // The first backoff is 30–60 s (60 s with jitter in [0.5, 1]).
    h.no_request_beyond(1);
    h.advance(Duration::from_secs(29));
    h.no_request_beyond(1);
    h.advance(Duration::from_secs(31));
    h.wait_for_requests(2);
    // The second is 60–120 s.
    h.advance(Duration::from_secs(59));
    h.no_request_beyond(2);
    h.advance(Duration::from_secs(61));
    h.wait_for_requests(3);
    let events = h.wait_for_events("the DROPPED event", |e| !finals(e).is_empty());
    let finals = finals(&events);
    let dropped = &finals.values().next().expect("one hit")[0];
    assert_eq!(dropped.kind, TRACKER_EVENT_DROPPED);
    assert_eq!(
        dropped.reason,
        DropReason::MaxAttempts {
            status: 500,
            attempts: 3
        }
        .to_string()
    );
    h.advance(Duration::from_secs(3600));
    h.no_request_beyond(3);
    assert_eq!(h.tracker().offline_count(), Ok(0));
}

#[test]
fn retry_after_pauses_the_queue_beyond_the_backoff() {
    let h = harness(
        "retry-after",
        "\"storage\":\"required\",\"retry_base_ms\":1000,\"retry_max_ms\":600000",
        DELIVERED,
    );
    h.fake.script([Outcome::Retryable {
        status: 503,
        retry_after: Some(Duration::from_secs(120)),
    }]);
    h.send(0..2);
    h.wait_for_requests(1);
    // The backoff (at most 1 s) is over, the collector's pause is not.
    h.advance(Duration::from_secs(10));
    h.no_request_beyond(1);
    h.advance(Duration::from_secs(100));
    h.no_request_beyond(1);
    h.advance(Duration::from_secs(11));
    h.wait_for_requests(3);
    assert_eq!(
        h.requested(),
        vec![0, 0, 1],
        "the same hit first, order kept"
    );
    let events = h.wait_for_events("2 SENT", |e| finals(e).len() == 2);
    assert!(
        finals(&events)
            .values()
            .all(|e| e.len() == 1 && e[0].kind == TRACKER_EVENT_SENT)
    );
}

#[test]
fn while_offline_only_the_head_is_probed_when_the_backoff_is_over() {
    let h = harness(
        "probe",
        "\"storage\":\"required\",\"retry_base_ms\":60000,\"retry_max_ms\":600000",
        unreachable(),
    );
    h.send(0..1);
    h.wait_for_requests(1);
    let events = h.wait_for_events("STORED", |e| {
        e.iter().any(|e| e.kind == TRACKER_EVENT_STORED)
    });
    assert!(
        finals(&events).is_empty(),
        "unreachable keeps the hit: {events:?}"
    );
    // New hits while offline wait for the probe.
    h.send(1..3);
    h.no_request_beyond(1);
    // One probe with the head, not the whole queue; no attempt counted.
    h.advance(Duration::from_secs(60));
    h.wait_for_requests(2);
    h.no_request_beyond(2);
    assert_eq!(h.requested(), vec![0, 0]);
    // The collector is back: the next probe succeeds and the queue drains.
    h.fake.set_default(DELIVERED);
    h.advance(Duration::from_secs(120));
    h.wait_for_requests(5);
    assert_eq!(h.requested(), vec![0, 0, 0, 1, 2]);
    h.all_sent_once(3);
}

#[test]
fn set_online_true_probes_at_once_despite_the_backoff() {
    let h = harness(
        "set-online",
        "\"storage\":\"required\",\"retry_base_ms\":600000,\"retry_max_ms\":600000",
        unreachable(),
    );
    h.send(0..2);
    h.wait_for_requests(1);
    h.no_request_beyond(1);
    h.fake.set_default(DELIVERED);
    h.tracker().set_online(true).expect("set_online");
    h.wait_for_requests(3);
    assert_eq!(h.requested(), vec![0, 0, 1]);
}

#[test]
fn every_hit_gets_exactly_one_final_event_under_mixed_outcomes() {
    let h = harness(
        "mixed",
        "\"storage\":\"required\",\"max_attempts\":2,\"retry_base_ms\":1,\"retry_max_ms\":2",
        DELIVERED,
    );
    // A fixed, varied script: the outcomes come in request order whatever
    // the timing, so the run is the same every time.
    let mut script = Vec::new();
    for i in 0..300u32 {
        script.push(match i % 7 {
            1 => Outcome::Rejected {
                status: 404,
                reason: "HTTP 404 from the collector".into(),
            },
            3 | 4 => Outcome::Retryable {
                status: 500,
                retry_after: None,
            },
            5 => unreachable(),
            _ => DELIVERED,
        });
    }
    h.fake.script(script);
    h.send(0..100);
    let events = h.wait_for_events("100 final events", |e| finals(e).len() == 100);
    h.tracker().flush(SETTLE).expect("flush");
    let finals = finals(&events);
    for (id, events) in &finals {
        assert_eq!(events.len(), 1, "hit {id}: {events:?}");
    }
    // Requests went out oldest first: a hit is never requested after a
    // younger one was settled.
    let requested = h.requested();
    let mut settled_up_to = None;
    for n in requested {
        assert!(
            settled_up_to.is_none_or(|s| n >= s),
            "hit {n} after {settled_up_to:?}"
        );
        settled_up_to = Some(n);
    }
    assert_eq!(h.tracker().offline_count(), Ok(0));
}

#[test]
fn destroy_with_a_request_in_flight_gives_one_dropped_event() {
    let mut h = harness("in-flight", "\"storage\":\"never\"", DELIVERED);
    h.fake.hold();
    h.send(0..1);
    h.wait_for_requests_made(1);
    let started = Instant::now();
    drop(h.tracker.take());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "destroy waited for the request"
    );
    let reason = DropReason::DestroyedInFlight.to_string();
    let events = h.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0].kind, events[0].reason.as_str()),
        (TRACKER_EVENT_DROPPED, reason.as_str())
    );
    // The request ends after all: its outcome is not reported again.
    h.fake.release();
    std::thread::sleep(QUIET);
    assert_eq!(h.events().len(), 1, "{:?}", h.events());
}

mod batches;
mod consent;
