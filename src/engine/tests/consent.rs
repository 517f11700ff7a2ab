//! Consent (DESIGN.md §10) through the in-memory transport: while it is
//! pending or denied no request of any kind starts, whatever asks for one
//! (a send, a dispatch, `set_online(true)`, a new transport, the retry
//! timer with the clock moved past it, the host's transport); a grant
//! releases what was kept, in order, with the time each hit was made; a
//! denial purges and drops.

use super::*;
use crate::consent::Consent;
use crate::net::host::{Completion, HostRequest};
use std::sync::atomic::{AtomicUsize, Ordering};

const PENDING_REASON: &str = "consent pending: kept until granted";
const MEMORY_PENDING_REASON: &str =
    "consent pending: kept in memory until granted (storage mode never)";

/// Everything that could start a request, with the clock moved far past
/// any retry, backoff or pause; none may while consent is not granted.
fn try_every_trigger(h: &Harness) {
    let t = h.tracker();
    t.dispatch().expect("dispatch");
    t.flush(SETTLE)
        .expect("a dispatch without consent is complete at once");
    t.set_online(false).expect("set_online");
    t.set_online(true).expect("set_online");
    t.set_transport(None);
    h.advance(Duration::from_secs(3600));
    t.flush(SETTLE).expect("flush");
}

fn ts_of(url: &str) -> u64 {
    url.split(['?', '&'])
        .find_map(|p| p.strip_prefix("ts="))
        .and_then(|ts| ts.parse().ok())
        .unwrap_or_else(|| panic!("no ts in {url}"))
}

fn stored_reasons(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.kind == TRACKER_EVENT_STORED)
        .map(|e| e.reason.clone())
        .collect()
}

#[test]
fn pending_sends_nothing_and_a_grant_releases_in_order_with_creation_times() {
    let h = harness(
        "pending-required",
        "\"storage\":\"required\",\"consent\":\"pending\",\"retry_base_ms\":1000,\"retry_max_ms\":2000",
        DELIVERED,
    );
    assert_eq!(h.tracker().consent(), Consent::Pending);
    // Ten seconds between hits, so each creation time is its own.
    for n in 0..4 {
        h.send(n..n + 1);
        h.tracker().flush(SETTLE).expect("flush");
        h.advance(Duration::from_secs(10));
    }
    try_every_trigger(&h);
    h.no_request_beyond(0);
    let events = h.events();
    assert_eq!(stored_reasons(&events), vec![PENDING_REASON; 4]);
    assert!(finals(&events).is_empty(), "{events:?}");
    let created: Vec<u64> = h
        .tracker()
        .shared()
        .store
        .as_ref()
        .expect("store")
        .oldest(10)
        .expect("oldest")
        .iter()
        .map(|r| r.created_ms / 1000)
        .collect();
    assert_eq!(created.len(), 4);

    h.tracker().set_consent(Consent::Granted).expect("grant");
    h.wait_for_requests(4);
    assert_eq!(h.requested(), vec![0, 1, 2, 3]);
    let sent_ts: Vec<u64> = h.fake.requests().iter().map(|u| ts_of(u)).collect();
    assert_eq!(sent_ts, created, "each hit carries the time it was made");
    h.all_sent_once(4);
}

#[test]
fn pending_stops_the_retry_timer_of_a_failing_collector() {
    let h = harness(
        "pending-retry",
        "\"storage\":\"required\",\"retry_base_ms\":1000,\"retry_max_ms\":2000",
        unreachable(),
    );
    h.send(0..1);
    h.wait_for_requests(1);
    h.tracker().set_consent(Consent::Pending).expect("pending");
    h.send(1..2);
    try_every_trigger(&h);
    h.advance(Duration::from_secs(3600));
    h.no_request_beyond(1);
    assert_eq!(h.tracker().offline_count(), Ok(2));
    // A grant probes at once, whatever the backoff; the collector is back.
    h.fake.set_default(DELIVERED);
    h.tracker().set_consent(Consent::Granted).expect("grant");
    h.wait_for_requests(3);
    assert_eq!(h.requested(), vec![0, 0, 1]);
}

#[test]
fn a_change_to_pending_stops_a_drain_before_its_next_request() {
    let h = harness("pending-mid-drain", "\"storage\":\"always\"", DELIVERED);
    h.send(0..5);
    h.fake.hold();
    h.tracker().dispatch().expect("dispatch");
    h.wait_for_requests_made(1);
    h.tracker().set_consent(Consent::Pending).expect("pending");
    h.fake.release();
    h.tracker().flush(SETTLE).expect("flush");
    h.no_request_beyond(1);
    // Granted, always mode waits for the next dispatch as it always does.
    h.tracker().set_consent(Consent::Granted).expect("grant");
    h.no_request_beyond(1);
    h.tracker().dispatch().expect("dispatch");
    h.tracker().flush(SETTLE).expect("flush");
    assert_eq!(h.requested(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn the_hosts_transport_is_never_called_while_pending() {
    let h = harness(
        "pending-host",
        "\"storage\":\"required\",\"consent\":\"pending\"",
        DELIVERED,
    );
    let started = Arc::new(AtomicUsize::new(0));
    let completions = Arc::clone(&h.tracker().shared().completions);
    let counter = Arc::clone(&started);
    h.tracker()
        .set_transport(Some(Box::new(move |request: &HostRequest| {
            counter.fetch_add(1, Ordering::SeqCst);
            let done = Completion {
                status: 204,
                retry_after: None,
                error: None,
            };
            completions.complete(request.id, done).expect("complete");
        })));
    h.send(0..3);
    h.tracker().dispatch().expect("dispatch");
    h.tracker().set_online(true).expect("set_online");
    h.advance(Duration::from_secs(3600));
    h.tracker().flush(SETTLE).expect("flush");
    std::thread::sleep(QUIET);
    assert_eq!(started.load(Ordering::SeqCst), 0);
    assert_eq!(h.fake.requests().len(), 0);
    h.tracker().set_consent(Consent::Granted).expect("grant");
    h.wait_for_events("3 SENT", |e| finals(e).len() == 3);
    assert_eq!(started.load(Ordering::SeqCst), 3);
    assert_eq!(
        h.fake.requests().len(),
        0,
        "the host's transport, not the built-in"
    );
}

#[test]
fn never_mode_keeps_hits_in_memory_within_its_bound_and_sends_them_once_on_grant() {
    let h = harness(
        "pending-never",
        "\"storage\":\"never\",\"consent\":\"pending\",\"max_memory_hits\":3,\"timestamp_offline_only\":true",
        DELIVERED,
    );
    h.send(0..5);
    h.tracker()
        .flush(SETTLE)
        .expect("flush returns while hits wait in memory");
    try_every_trigger(&h);
    h.no_request_beyond(0);
    let events = h.wait_for_events("2 DROPPED, 3 STORED", |e| e.len() == 5);
    let dropped: Vec<_> = finals(&events)
        .into_values()
        .map(|e| e[0].clone())
        .collect();
    assert_eq!(dropped.len(), 2, "{events:?}");
    for e in &dropped {
        assert_eq!(e.kind, TRACKER_EVENT_DROPPED);
        assert_eq!(e.drop_reason, Some(DropReason::MemoryQueueFull));
    }
    assert_eq!(stored_reasons(&events), vec![MEMORY_PENDING_REASON; 3]);
    let stats: serde_json::Value = serde_json::from_str(&h.tracker().stats_json()).unwrap();
    assert_eq!(stats["memory_queued"], 3);
    assert_eq!(stats["consent"], "pending");

    h.tracker().set_consent(Consent::Granted).expect("grant");
    h.wait_for_requests(3);
    assert_eq!(
        h.requested(),
        vec![2, 3, 4],
        "the newest kept, oldest first"
    );
    // Held hits count as offline: the timestamp goes with them.
    assert!(h.fake.requests().iter().all(|u| u.contains("ts=")));
    h.tracker().flush(SETTLE).expect("flush");
    h.no_request_beyond(3);
    let finals = finals(&h.events());
    let sent = finals
        .values()
        .filter(|e| e[0].kind == TRACKER_EVENT_SENT)
        .count();
    assert_eq!(sent, 3);
}

#[test]
fn denied_purges_drops_and_sends_nothing_until_granted() {
    let h = harness("denied", "\"storage\":\"always\"", DELIVERED);
    h.send(0..3);
    h.tracker().flush(SETTLE).expect("flush");
    h.tracker().set_consent(Consent::Denied).expect("deny");
    assert_eq!(h.tracker().offline_count(), Ok(0));
    h.send(3..4);
    try_every_trigger(&h);
    h.no_request_beyond(0);
    let events = h.wait_for_events("4 DROPPED", |e| finals(e).len() == 4);
    for e in finals(&events).values() {
        assert_eq!(e[0].drop_reason, Some(DropReason::ConsentDenied));
        assert_eq!(e[0].reason, "consent denied");
    }
    let stats: serde_json::Value = serde_json::from_str(&h.tracker().stats_json()).unwrap();
    assert_eq!(
        (&stats["consent"], &stats["opt_out"]),
        (&"denied".into(), &true.into())
    );

    h.tracker().set_opt_out(false).expect("opt back in");
    assert_eq!(h.tracker().consent(), Consent::Granted);
    h.send(4..5);
    h.tracker().dispatch().expect("dispatch");
    h.tracker().flush(SETTLE).expect("flush");
    assert_eq!(h.requested(), vec![4]);
}

#[test]
fn the_choice_is_remembered_and_wins_over_the_config() {
    let mut h = harness("remembered", "\"storage\":\"required\"", DELIVERED);
    drop(h.tracker.take());
    let config = |consent: &str| {
        format!(
            "{{\"endpoint\":\"http://collector.test/hit\",\"storage\":\"required\",\"storage_path\":{},\"consent\":\"{consent}\"}}",
            serde_json::json!(h.dir)
        )
    };
    let open = |consent: &str| {
        let fake = h.fake.clone();
        Tracker::create_with(&config(consent), |_| Box::new(fake::Shared(fake))).expect("create")
    };
    // No choice made yet: the config decides.
    assert_eq!(open("pending").consent(), Consent::Pending);
    assert_eq!(open("denied").consent(), Consent::Denied);
    let t = open("granted");
    t.set_consent(Consent::Pending).expect("pending");
    drop(t);
    assert_eq!(open("granted").consent(), Consent::Pending);
    let t = open("pending");
    t.set_opt_out(true).expect("opt out");
    drop(t);
    assert_eq!(open("granted").consent(), Consent::Denied);
}
