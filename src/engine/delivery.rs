//! Delivery: the never-mode hits' one attempt, draining the stored queue
//! in order (one request at a time, stopping at the first failure; many
//! hits to a request when batching is on, DESIGN.md §8), the
//! STORED reports for arrivals still queued, and settling each hit's final
//! event with its removal from the store.
//!
//! Every request starts only after `State::may_deliver` said yes under the
//! state lock: while consent is pending or denied no request of any kind
//! starts, whatever asked for it (a dispatch, a probe, a retry timer).

use crate::config::StorageMode;
use crate::consent::Consent;
use crate::engine::schedule::*;
use crate::engine::state::Arrivals;
use crate::engine::{Shared, State};
use crate::error::{Error, Result};
use crate::events::{DropReason, Event, NotAllowed};
use crate::net::batch::BatchBody;
use crate::net::url::batch_query;
use crate::net::{Method, Outcome, Request};
use crate::queue::Store;
use crate::queue::record::Record;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Stored hits are synced to disk at most this long after they arrive.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// A disk error while draining: back off like an unreachable collector,
/// so a failing store is not retried in a tight loop.
pub fn storage_failure(shared: &Shared, local: &mut Local, error: &Error) -> Option<(String, u16)> {
    let mut state = shared.state.lock();
    let now = shared.clock.now();
    state
        .reach
        .note_storage_failure(now, |failures| backoff(shared, local, failures));
    drop(state);
    *shared.stats.last_error.lock() = error.message.clone();
    Some((error.message.clone(), 0))
}

/// Sleeps `send_interval_ms` between requests; wakes early at shutdown.
pub fn throttle(shared: &Shared) {
    let interval = shared.config.send_interval_ms;
    if interval == 0 {
        return;
    }
    let deadline = shared.clock.now() + Duration::from_millis(interval);
    let mut state = shared.state.lock();
    while !state.is_shut_down() {
        if shared.clock.wait_until(&shared.wake, &mut state, deadline) {
            break;
        }
    }
}

pub fn send_memory_hits(shared: &Shared, local: &mut Local) {
    hold_memory_hits(shared);
    let mut first = true;
    loop {
        let (hit, allowed, why_not) = {
            let mut state = shared.state.lock();
            if state.is_shut_down() {
                return;
            }
            let Some(hit) = state.next_memory_hit() else {
                return;
            };
            let now = shared.clock.now();
            let why_not = if state.reach.host_offline() {
                NotAllowed::HostOffline
            } else if state.reach.paused(now) {
                NotAllowed::Paused
            } else {
                NotAllowed::WaitingToRetry
            };
            let allowed = state.reach.may_send(now) || state.reach.may_probe(now);
            (hit, allowed, why_not)
        };
        let url = shared.request_url(&hit.url, hit.id, hit.created_ms, hit.kept);
        let event = if allowed {
            if !first {
                throttle(shared);
            }
            first = false;
            let outcome = shared.transport.send(&Request::get(&url));
            note_outcome(shared, local, &outcome);
            let status = outcome.status();
            match outcome {
                Outcome::Delivered { status } => Event::sent(hit.id, url, status),
                Outcome::Unreachable { reason, .. } | Outcome::Rejected { reason, .. } => {
                    Event::dropped(hit.id, url, status, DropReason::NeverModeFailed(reason))
                }
                Outcome::Retryable { status, .. } => {
                    Event::dropped(hit.id, url, status, DropReason::NeverModeNoRetry(status))
                }
            }
        } else {
            Event::dropped(hit.id, url, 0, DropReason::NeverModeNotAllowed(why_not))
        };
        {
            let mut state = shared.state.lock();
            // `tracker_destroy` may have reported this hit already.
            if state.end_memory_attempt() {
                shared.owe(&mut state, event);
            }
        }
        // Emitted before the hit counts as handled, so `tracker_flush`
        // returns only after its event.
        emit_pending(shared);
        {
            let mut state = shared.state.lock();
            state.memory_handled_upto(hit.seq);
            shared.progress.notify_all();
        }
        sync_if_due(shared);
    }
}

/// While consent is pending, never-mode hits wait in memory: each gets
/// its STORED event once, and then counts as handled.
fn hold_memory_hits(shared: &Shared) {
    let held = shared.state.lock().hold_memory_hits();
    let Some(last) = held.last().map(|hit| hit.seq) else {
        return;
    };
    for hit in held {
        shared.stats.stored.fetch_add(1, Ordering::Relaxed);
        if shared.events.has_callback() {
            let url = shared.request_url(&hit.url, hit.id, hit.created_ms, true);
            let reason = "consent pending: kept in memory until granted (storage mode never)";
            shared.events.emit(&Event::stored(hit.id, url, 0, reason));
        }
    }
    let mut state = shared.state.lock();
    state.memory_handled_upto(last);
    shared.progress.notify_all();
}

pub fn handle_store(shared: &Shared, local: &mut Local) {
    let Some(store) = &shared.store else {
        let mut state = shared.state.lock();
        let target = state.dispatch_target();
        state.dispatched_upto(target);
        shared.progress.notify_all();
        return;
    };
    let (arrivals, dispatch_target, dispatching, deliver, auto) = {
        let state = shared.state.lock();
        let now = shared.clock.now();
        let deliver = state.may_deliver();
        let auto = state.mode() == StorageMode::Required && deliver && state.reach.may_probe(now);
        let dispatching = state.dispatching();
        (
            state.arrivals(),
            state.dispatch_target(),
            dispatching,
            deliver,
            auto,
        )
    };
    let (from, upto) = (arrivals.from, arrivals.upto);
    if upto >= from && local.next_expiry.is_none() && shared.config.max_age_seconds > 0 {
        local.next_expiry = Some(
            shared.clock.now() + Duration::from_secs(shared.config.max_age_seconds.min(1 << 32)),
        );
    }
    // Without an automatic attempt the arrivals' handling is complete now:
    // they are STORED before a dispatch asked for after them sends them.
    if !auto {
        report_stored(shared, store, &arrivals, None);
        shared.state.lock().arrivals_handled(&arrivals);
        shared.progress.notify_all();
    }
    // Without consent a dispatch sends nothing and is complete at once,
    // so `tracker_flush` does not wait for the player's answer.
    if (dispatching && deliver) || auto {
        let failure = drain(shared, local, dispatching);
        if auto {
            report_stored(shared, store, &arrivals, failure);
        }
    }
    if dispatching && let Err(e) = store.sync() {
        note_error(shared, &e);
    }
    {
        let mut state = shared.state.lock();
        state.arrivals_handled(&arrivals);
        if dispatching {
            state.dispatched_upto(dispatch_target);
        }
        state.reach.probe_taken();
        shared.progress.notify_all();
    }
    // After the dispatch counts as done: building a fresh generation takes
    // a few hundred milliseconds that `tracker_flush` need not wait for.
    if store.count() == 0
        && let Err(e) = store.recycle_if_drained()
    {
        note_error(shared, &e);
    }
}

/// STORED events for the arrivals still in the queue.
pub fn report_stored(
    shared: &Shared,
    store: &Store,
    arrivals: &Arrivals,
    failure: Option<(String, u16)>,
) {
    if !shared.events.has_callback() {
        // Nobody listens: count, without reading the hits back.
        let queued = store.queued_arrivals(arrivals.after_seq, arrivals.upto_seq);
        shared.stats.stored.fetch_add(queued, Ordering::Relaxed);
        return;
    }
    // In chunks, so a burst of arrivals never holds the store's lock (and
    // with it a caller's tracker_send) for long.
    const CHUNK: usize = 256;
    let (from, upto) = (arrivals.from, arrivals.upto);
    let mut next = from;
    let mut why: Option<(String, u16)> = None;
    while next <= upto {
        let arrivals = store
            .records_between(next, upto, CHUNK)
            .unwrap_or_else(|e| {
                note_error(shared, &e);
                Vec::new()
            });
        let Some(last) = arrivals.last() else { return };
        next = last.id + 1;
        let (reason, status) = why
            .get_or_insert_with(|| {
                failure
                    .clone()
                    .unwrap_or_else(|| (stored_reason(shared), 0))
            })
            .clone();
        for record in arrivals {
            shared.stats.stored.fetch_add(1, Ordering::Relaxed);
            let url = shared.request_url(&record.url, record.id, record.created_ms, true);
            shared
                .events
                .emit(&Event::stored(record.id, url, status, reason.clone()));
        }
    }
}

/// Why a newly arrived hit stays stored when no attempt was made for it.
pub fn stored_reason(shared: &Shared) -> String {
    let state = shared.state.lock();
    let now = shared.clock.now();
    match state.consent() {
        Consent::Pending => return "consent pending: kept until granted".into(),
        Consent::Denied => return DropReason::ConsentDenied.to_string(),
        Consent::Granted => {}
    }
    match state.mode() {
        StorageMode::Always => "storage mode always: kept until tracker_dispatch".into(),
        StorageMode::Never => {
            "stored while the mode was required/always: kept until tracker_dispatch".into()
        }
        StorageMode::Required if state.reach.host_offline() => {
            "offline (tracker_set_online(false)): kept for later".into()
        }
        StorageMode::Required if state.reach.paused(now) => {
            "collector asked to pause (Retry-After): kept for later".into()
        }
        StorageMode::Required if !state.reach.online() => {
            "offline: collector unreachable, kept for the next retry".into()
        }
        StorageMode::Required => "kept for the next retry".into(),
    }
}

/// What goes out next from the head of the queue.
enum Ready {
    Empty,
    /// The head record cannot be decoded.
    Unreadable(u64),
    One(Record),
    /// Consecutive hits with their GET URLs, and the batch's body.
    Batch(Vec<(Record, String)>, Vec<u8>),
}

/// What the worker does after a request.
enum Step {
    Next,
    /// Stop draining; the failure that stopped it, if any.
    Stop(Option<(String, u16)>),
}

/// The next request's hits: a batch of the oldest consecutive hits that
/// go to the endpoint's path, within the batch limits, when batching is
/// on, more than one is ready and `singles` is 0; else the head alone.
fn ready(shared: &Shared, store: &Store, singles: usize) -> Result<Ready> {
    let batching = shared.config.batch.as_ref().filter(|_| singles == 0);
    let max = batching.map_or(1, |b| b.max_hits as u64);
    let mut head = store.head_records(max)?.into_iter();
    let first = match head.next() {
        None => return Ok(Ready::Empty),
        Some(Err(id)) => return Ok(Ready::Unreadable(id)),
        Some(Ok(record)) => record,
    };
    let Some(batching) = batching.filter(|_| head.len() > 0) else {
        return Ok(Ready::One(first));
    };
    let handled = shared.state.lock().store_handled();
    let mut body = BatchBody::new(batching.format, batching.max_bytes);
    let mut hits = Vec::with_capacity(head.len() + 1);
    for record in std::iter::once(Ok(first.clone())).chain(head) {
        let Ok(record) = record else { break };
        let offline = shared.is_offline(handled, record.id);
        let url = shared.request_url(&record.url, record.id, record.created_ms, offline);
        match batch_query(&url, &shared.config.endpoint) {
            Some(query) if body.push(query) => hits.push((record, url)),
            _ => break,
        }
    }
    if hits.len() < 2 {
        return Ok(Ready::One(first));
    }
    Ok(Ready::Batch(hits, body.finish()))
}

/// Sends stored hits oldest first until the queue is empty, a failure
/// stops it, or (when not dispatching) automatic sending is no longer
/// allowed. Returns the failure that stopped it, if any.
pub fn drain(shared: &Shared, local: &mut Local, dispatching: bool) -> Option<(String, u16)> {
    let store = shared.store.as_ref()?;
    let mut first = true;
    // After a rejected batch, this many hits go one by one.
    let mut singles = 0usize;
    loop {
        let allowed = |state: &State| {
            !state.is_shut_down()
                && state.may_deliver()
                && (dispatching
                    || (state.mode() == StorageMode::Required && !state.reach.host_offline()))
        };
        if !allowed(&shared.state.lock()) {
            return None;
        }
        // Sends during a long drain may push the queue over a limit: the
        // oldest go before the next request, as they would have at once.
        enforce_queue_limits(shared);
        let next = match ready(shared, store, singles) {
            Ok(Ready::Empty) => return None,
            Ok(Ready::Unreadable(id)) => {
                if let Err(e) = settle(shared, store, id, || {
                    Event::dropped(id, String::new(), 0, DropReason::UnreadableRecord)
                }) {
                    return storage_failure(shared, local, &e);
                }
                continue;
            }
            Ok(next) => next,
            Err(e) => {
                note_error(shared, &e);
                return storage_failure(shared, local, &e);
            }
        };
        if !first {
            throttle(shared);
            if !allowed(&shared.state.lock()) {
                return None;
            }
        }
        first = false;
        let step = match next {
            Ready::Batch(hits, body) => send_batch(shared, local, store, hits, &body, &mut singles),
            Ready::One(record) => {
                singles = singles.saturating_sub(1);
                send_one(shared, local, store, record)
            }
            Ready::Empty | Ready::Unreadable(_) => Step::Next,
        };
        if let Step::Stop(why) = step {
            return why;
        }
        sync_if_due(shared);
    }
}

/// One stored hit as a GET, and what its outcome does to it.
fn send_one(shared: &Shared, local: &mut Local, store: &Store, record: Record) -> Step {
    let handled = shared.state.lock().store_handled();
    let offline = shared.is_offline(handled, record.id);
    let url = shared.request_url(&record.url, record.id, record.created_ms, offline);
    let outcome = shared.transport.send(&Request::get(&url));
    note_outcome(shared, local, &outcome);
    let status = outcome.status();
    let settled = match outcome {
        Outcome::Delivered { status } => settle(shared, store, record.id, || {
            Event::sent(record.id, url, status)
        }),
        Outcome::Rejected { reason, .. } => settle(shared, store, record.id, || {
            Event::dropped(record.id, url, status, DropReason::Rejected(reason))
        }),
        Outcome::Unreachable { reason, .. } => return Step::Stop(Some((reason, status))),
        Outcome::Retryable { .. } => {
            return count_attempts(shared, local, store, vec![(record, url)], status);
        }
    };
    if let Err(e) = settled {
        note_error(shared, &e);
        return Step::Stop(storage_failure(shared, local, &e));
    }
    Step::Next
}

/// A batch as one POST (DESIGN.md §8): its outcome applies to every hit
/// in it; a rejected batch has its hits sent again one by one.
fn send_batch(
    shared: &Shared,
    local: &mut Local,
    store: &Store,
    hits: Vec<(Record, String)>,
    body: &[u8],
    singles: &mut usize,
) -> Step {
    let Some(batching) = &shared.config.batch else {
        return Step::Next;
    };
    let request = Request {
        method: Method::Post,
        url: &batching.endpoint.url,
        content_type: Some(batching.format.content_type()),
        body,
    };
    let outcome = shared.transport.send(&request);
    note_outcome(shared, local, &outcome);
    let status = outcome.status();
    match outcome {
        Outcome::Delivered { status } => {
            if let Err(e) = settle_many(shared, store, hits, |record, url| {
                Event::sent(record.id, url, status)
            }) {
                note_error(shared, &e);
                return Step::Stop(storage_failure(shared, local, &e));
            }
            Step::Next
        }
        Outcome::Unreachable { reason, .. } => Step::Stop(Some((reason, status))),
        Outcome::Retryable { .. } => count_attempts(shared, local, store, hits, status),
        // Only the collector knows which hit it refused: each goes again
        // alone, so the good ones are delivered and only refused ones dropped.
        Outcome::Rejected { .. } => {
            *singles = hits.len();
            Step::Next
        }
    }
}

/// A retryable answer: one more attempt for each hit; those at
/// `max_attempts` are dropped, the rest wait for the backoff.
fn count_attempts(
    shared: &Shared,
    local: &mut Local,
    store: &Store,
    hits: Vec<(Record, String)>,
    status: u16,
) -> Step {
    let mut exhausted = Vec::new();
    for (mut record, url) in hits {
        record.attempts = record.attempts.saturating_add(1);
        if record.attempts < shared.config.max_attempts {
            if let Err(e) = store.update(&record) {
                note_error(shared, &e);
            }
        } else {
            exhausted.push((record, url));
        }
    }
    if exhausted.is_empty() {
        return Step::Stop(Some((
            format!("HTTP {status} from the collector: will retry"),
            status,
        )));
    }
    if let Err(e) = settle_many(shared, store, exhausted, |record, url| {
        let reason = DropReason::MaxAttempts {
            status,
            attempts: record.attempts,
        };
        Event::dropped(record.id, url, status, reason)
    }) {
        return Step::Stop(storage_failure(shared, local, &e));
    }
    // The rest of the queue waits for the backoff delay.
    Step::Stop(Some((format!("HTTP {status} from the collector"), status)))
}

/// `settle` for many head hits: removed in chunks, each chunk with its
/// events owed under the state lock, so a send waits at most for one
/// chunk's removal.
fn settle_many(
    shared: &Shared,
    store: &Store,
    hits: Vec<(Record, String)>,
    event: impl Fn(&Record, String) -> Event,
) -> Result<()> {
    const CHUNK: usize = 256;
    let mut hits = hits.into_iter().peekable();
    while hits.peek().is_some() {
        let chunk: Vec<_> = hits.by_ref().take(CHUNK).collect();
        let ids: Vec<u64> = chunk.iter().map(|(record, _)| record.id).collect();
        {
            let mut state = shared.state.lock();
            let removed = store.remove_head_ids(&ids)?;
            let mut removed = removed.iter().peekable();
            for (record, url) in chunk {
                // Hits removed by the caller's thread got their event there.
                if removed.next_if(|&&id| id == record.id).is_some() {
                    shared.owe(&mut state, event(&record, url));
                }
            }
        }
        emit_pending(shared);
    }
    Ok(())
}

/// Removes the head hit `id` and owes its final event, both under the state
/// lock, then emits. A hit already removed by the caller's thread (deleted,
/// evicted, purged when consent was denied) got its event there and gets
/// none here.
pub fn settle(
    shared: &Shared,
    store: &Store,
    id: u64,
    event: impl FnOnce() -> Event,
) -> Result<()> {
    {
        let mut state = shared.state.lock();
        if store.remove_head(id)?.is_some() {
            shared.owe(&mut state, event());
        }
    }
    emit_pending(shared);
    Ok(())
}

/// Emits queued final events one at a time, so whatever is left when
/// `tracker_destroy` gives up on the worker can be emitted by it instead.
pub fn emit_pending(shared: &Shared) {
    loop {
        let Some(event) = shared.state.lock().pop_pending() else {
            return;
        };
        shared.events.emit(&event);
        let mut state = shared.state.lock();
        state.event_emitted();
        shared.progress.notify_all();
    }
}

/// Evicts what sends pushed over the queue's limits (they leave that to
/// the worker, see `Shared::enforce_queue_limits`), then emits the events.
pub fn enforce_queue_limits(shared: &Shared) {
    // The worker's own move first: it waits for fjall's flushes as it goes
    // and trims to the limits (see `Store::absorb`), so under a flood of
    // sends at a full queue fjall takes what stays, at its own pace, and
    // the rest never reaches it.
    if let Some(store) = &shared.store
        && store.intake_waiting()
        && let Err(e) = store.absorb_intake()
    {
        note_error(shared, &e);
    }
    match shared.enforce_queue_limits() {
        Ok(0) => {}
        Ok(_) => emit_pending(shared),
        Err(e) => note_error(shared, &e),
    }
}

pub fn sync_if_due(shared: &Shared) {
    let Some(store) = &shared.store else { return };
    let due = {
        let now = shared.clock.now();
        shared.state.lock().take_sync_due(now, SYNC_EVERY)
    };
    if due && let Err(e) = store.sync() {
        note_error(shared, &e);
    }
}
