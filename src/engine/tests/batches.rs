//! Batched delivery (DESIGN.md §8) through the in-memory transport: which
//! hits share a request, the bodies, and what each outcome of a batch does
//! to every hit in it.

use super::*;
use crate::net::Method;
use crate::net::fake::Recorded;

const BATCHING: &str = "\"storage\":\"always\",\"batch_endpoint\":\"http://collector.test/bulk\"";

/// Each request as (method, the `n` of each hit in it).
fn shape(recorded: &[Recorded]) -> Vec<(Method, Vec<u32>)> {
    recorded
        .iter()
        .map(|r| match r.method {
            Method::Get => (Method::Get, vec![n_of(&r.url)]),
            Method::Post => (Method::Post, lines_of(r).iter().map(|l| n_of(l)).collect()),
        })
        .collect()
}

fn lines_of(r: &Recorded) -> Vec<String> {
    match r.content_type.as_deref() {
        Some("application/json") => {
            let body: serde_json::Value = serde_json::from_str(&r.body).expect("JSON body");
            body["requests"]
                .as_array()
                .expect("requests")
                .iter()
                .map(|q| format!("?{}", q.as_str().expect("string").trim_start_matches('?')))
                .collect()
        }
        _ => r.body.split('\n').map(|l| format!("?{l}")).collect(),
    }
}

fn dispatch_and_flush(h: &Harness) {
    h.tracker().dispatch().expect("dispatch");
    h.tracker().flush(SETTLE).expect("flush");
}

#[test]
fn consecutive_hits_go_in_batches_oldest_first_with_their_parameters() {
    let h = harness(
        "batches",
        &format!("{BATCHING},\"batch_max_hits\":4,\"id_param\":\"cid\""),
        DELIVERED,
    );
    h.send(0..10);
    dispatch_and_flush(&h);
    let recorded = h.fake.recorded();
    assert_eq!(
        shape(&recorded),
        vec![
            (Method::Post, vec![0, 1, 2, 3]),
            (Method::Post, vec![4, 5, 6, 7]),
            (Method::Post, vec![8, 9]),
        ]
    );
    let first = &recorded[0];
    assert_eq!(first.url, "http://collector.test/bulk");
    assert_eq!(
        first.content_type.as_deref(),
        Some("text/plain; charset=utf-8")
    );
    // Each line is the query of the hit's GET: timestamp and id included.
    for (i, line) in first.body.split('\n').enumerate() {
        let get = h.tracker().shared().request_url(
            &format!("http://collector.test/hit?n={i}"),
            i as u64 + 1,
            0,
            true,
        );
        let (_, expected) = get.split_once('?').unwrap();
        let (ours, ts) = line.split_once("&ts=").expect("timestamp");
        assert_eq!(ours, expected.split("&ts=").next().unwrap());
        assert!(ts.ends_with(&format!("&cid={}", i + 1)), "{line}");
    }
    h.all_sent_once(10);
}

#[test]
fn json_bodies_and_the_byte_limit() {
    // Each hit's query is about 20 bytes: 64 bytes hold two of them.
    let settings = format!("{BATCHING},\"batch_format\":\"json\",\"batch_max_bytes\":1024");
    let h = harness("json", &settings, DELIVERED);
    h.send(0..3);
    dispatch_and_flush(&h);
    let recorded = h.fake.recorded();
    assert_eq!(shape(&recorded), vec![(Method::Post, vec![0, 1, 2])]);
    assert_eq!(
        recorded[0].content_type.as_deref(),
        Some("application/json")
    );
    assert!(recorded[0].body.starts_with("{\"requests\":[\"?n=0&ts="));

    let big = "x".repeat(400);
    let h = harness(
        "bytes",
        &format!("{BATCHING},\"batch_max_bytes\":1024"),
        DELIVERED,
    );
    for n in 0..5 {
        h.tracker().send(&format!("n={n}&pad={big}")).expect("send");
    }
    dispatch_and_flush(&h);
    assert_eq!(
        shape(&h.fake.recorded()),
        vec![
            (Method::Post, vec![0, 1]),
            (Method::Post, vec![2, 3]),
            (Method::Get, vec![4]),
        ],
        "two 420-byte lines fit in 1024 bytes, three do not; one left goes alone"
    );
}

#[test]
fn a_hit_to_another_path_goes_alone_and_a_single_hit_as_a_get() {
    let h = harness("alone", BATCHING, DELIVERED);
    h.send(0..2);
    h.tracker()
        .send("http://collector.test/other?n=2")
        .expect("send");
    h.send(3..5);
    dispatch_and_flush(&h);
    let recorded = h.fake.recorded();
    assert_eq!(
        shape(&recorded),
        vec![
            (Method::Post, vec![0, 1]),
            (Method::Get, vec![2]),
            (Method::Post, vec![3, 4]),
        ]
    );
    assert!(
        recorded[1]
            .url
            .starts_with("http://collector.test/other?n=2&ts=")
    );
    h.send(5..6);
    dispatch_and_flush(&h);
    assert_eq!(shape(&h.fake.recorded()[3..]), vec![(Method::Get, vec![5])]);
}

#[test]
fn a_rejected_batch_is_sent_again_hit_by_hit_so_only_refused_hits_drop() {
    let h = harness("rejected-batch", BATCHING, DELIVERED);
    let rejected = Outcome::Rejected {
        status: 400,
        reason: "HTTP 400: the collector refused the hit".into(),
    };
    h.fake
        .script([rejected.clone(), DELIVERED, rejected, DELIVERED]);
    h.send(0..5);
    dispatch_and_flush(&h);
    assert_eq!(
        shape(&h.fake.recorded()),
        vec![
            (Method::Post, vec![0, 1, 2, 3, 4]),
            (Method::Get, vec![0]),
            (Method::Get, vec![1]),
            (Method::Get, vec![2]),
            (Method::Get, vec![3]),
            (Method::Get, vec![4]),
        ]
    );
    h.send(5..7);
    dispatch_and_flush(&h);
    assert_eq!(
        shape(&h.fake.recorded()[6..]),
        vec![(Method::Post, vec![5, 6])],
        "the hits after them batch again"
    );
    let events = h.wait_for_events("7 final events", |e| finals(e).len() == 7);
    let kinds: Vec<_> = finals(&events).into_values().map(|e| e[0].kind).collect();
    use crate::events::TRACKER_EVENT_DROPPED as D;
    use crate::events::TRACKER_EVENT_SENT as S;
    assert_eq!(kinds, vec![S, D, S, S, S, S, S]);
}

#[test]
fn unreachable_keeps_the_batch_and_retryable_counts_an_attempt_for_each_hit() {
    let settings = format!(
        "{BATCHING},\"storage\":\"required\",\"max_attempts\":2,\"retry_base_ms\":60000,\"retry_max_ms\":600000"
    );
    let settings = settings.replacen("\"storage\":\"always\",", "", 1);
    let h = harness("batch-outcomes", &settings, unreachable());
    h.tracker().set_online(false).expect("offline");
    h.send(0..3);
    h.tracker().flush(SETTLE).expect("flush");
    h.tracker().set_online(true).expect("online");
    h.wait_for_requests(1);
    assert_eq!(
        h.tracker().offline_count(),
        Ok(3),
        "unreachable keeps them all"
    );
    // No attempt was counted: two retryable answers are needed to drop.
    h.fake.set_default(Outcome::Retryable {
        status: 503,
        retry_after: None,
    });
    h.advance(Duration::from_secs(60));
    h.wait_for_requests(2);
    assert_eq!(h.tracker().offline_count(), Ok(3));
    h.advance(Duration::from_secs(120));
    h.wait_for_requests(3);
    let events = h.wait_for_events("3 DROPPED", |e| finals(e).len() == 3);
    for (_, e) in finals(&events) {
        assert_eq!(e[0].kind, TRACKER_EVENT_DROPPED);
        assert_eq!(
            e[0].reason,
            DropReason::MaxAttempts {
                status: 503,
                attempts: 2
            }
            .to_string()
        );
    }
    assert_eq!(
        shape(&h.fake.recorded()),
        vec![(Method::Post, vec![0, 1, 2]); 3]
    );
}
