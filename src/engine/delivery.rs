//! Delivery: the never-mode hits' one attempt, draining the stored queue
//! in order (one request at a time, stopping at the first failure), the
//! STORED reports for arrivals still queued, and settling each hit's final
//! event with its removal from the store.

use crate::config::StorageMode;
use crate::engine::schedule::*;
use crate::engine::state::Arrivals;
use crate::engine::{Shared, State};
use crate::error::{Error, Result};
use crate::events::{DropReason, Event, NotAllowed};
use crate::net::Outcome;
use crate::queue::Store;
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

pub fn outcome_status(outcome: &Outcome) -> u16 {
    match outcome {
        Outcome::Delivered { status }
        | Outcome::Unreachable { status, .. }
        | Outcome::Retryable { status, .. }
        | Outcome::Rejected { status, .. } => *status,
    }
}

pub fn send_memory_hits(shared: &Shared, local: &mut Local) {
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
        let url = shared.request_url(&hit.url, hit.id, hit.created_ms, false);
        let event = if allowed {
            if !first {
                throttle(shared);
            }
            first = false;
            let outcome = shared.transport.get(&url);
            note_outcome(shared, local, &outcome);
            let status = outcome_status(&outcome);
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

pub fn handle_store(shared: &Shared, local: &mut Local) {
    let Some(store) = &shared.store else {
        let mut state = shared.state.lock();
        let target = state.dispatch_target();
        state.dispatched_upto(target);
        shared.progress.notify_all();
        return;
    };
    let (arrivals, dispatch_target, dispatching, auto) = {
        let state = shared.state.lock();
        let now = shared.clock.now();
        let dispatching = state.dispatching();
        let auto = state.mode() == StorageMode::Required
            && !state.opted_out()
            && state.reach.may_probe(now);
        (state.arrivals(), state.dispatch_target(), dispatching, auto)
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
    if dispatching || auto {
        let failure = drain(shared, local, dispatching);
        if auto {
            report_stored(shared, store, &arrivals, failure);
        }
    }
    if dispatching && let Err(e) = store.sync() {
        note_error(shared, &e);
    }
    if store.count() == 0
        && let Err(e) = store.recycle_if_drained()
    {
        note_error(shared, &e);
    }
    let mut state = shared.state.lock();
    state.arrivals_handled(&arrivals);
    if dispatching {
        state.dispatched_upto(dispatch_target);
    }
    state.reach.probe_taken();
    shared.progress.notify_all();
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
    match state.mode() {
        StorageMode::Always => "storage mode always: kept until tracker_dispatch".into(),
        StorageMode::Never => {
            "stored while the mode was required/always: kept until tracker_dispatch".into()
        }
        StorageMode::Required if state.opted_out() => "opt-out".into(),
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

/// Sends stored hits oldest first until the queue is empty, a failure
/// stops it, or (when not dispatching) automatic sending is no longer
/// allowed. Returns the failure that stopped it, if any.
pub fn drain(shared: &Shared, local: &mut Local, dispatching: bool) -> Option<(String, u16)> {
    let store = shared.store.as_ref()?;
    let mut first = true;
    loop {
        let allowed = |state: &State| {
            !state.is_shut_down()
                && !state.opted_out()
                && (dispatching
                    || (state.mode() == StorageMode::Required && !state.reach.host_offline()))
        };
        if !allowed(&shared.state.lock()) {
            return None;
        }
        // Sends during a long drain may push the queue over a limit: the
        // oldest go before the next request, as they would have at once.
        enforce_queue_limits(shared);
        let record = match store.head() {
            Ok(Some(Ok(record))) => record,
            Ok(Some(Err(id))) => {
                if let Err(e) = settle(shared, store, id, || {
                    Event::dropped(id, String::new(), 0, DropReason::UnreadableRecord)
                }) {
                    return storage_failure(shared, local, &e);
                }
                continue;
            }
            Ok(None) => return None,
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
        let handled = shared.state.lock().store_handled();
        let offline = shared.is_offline(handled, record.id);
        let url = shared.request_url(&record.url, record.id, record.created_ms, offline);
        let outcome = shared.transport.get(&url);
        note_outcome(shared, local, &outcome);
        let status = outcome_status(&outcome);
        let settled = match outcome {
            Outcome::Delivered { status } => settle(shared, store, record.id, || {
                Event::sent(record.id, url, status)
            }),
            Outcome::Rejected { reason, .. } => settle(shared, store, record.id, || {
                Event::dropped(record.id, url, status, DropReason::Rejected(reason))
            }),
            Outcome::Unreachable { reason, .. } => return Some((reason, status)),
            Outcome::Retryable { .. } => {
                let mut record = record;
                record.attempts = record.attempts.saturating_add(1);
                if record.attempts < shared.config.max_attempts {
                    if let Err(e) = store.update(&record) {
                        note_error(shared, &e);
                    }
                    return Some((
                        format!("HTTP {status} from the collector: will retry"),
                        status,
                    ));
                }
                let reason = DropReason::MaxAttempts {
                    status,
                    attempts: record.attempts,
                };
                if let Err(e) = settle(shared, store, record.id, || {
                    Event::dropped(record.id, url, status, reason)
                }) {
                    return storage_failure(shared, local, &e);
                }
                // The rest of the queue waits for the backoff delay.
                return Some((format!("HTTP {status} from the collector"), status));
            }
        };
        if let Err(e) = settled {
            note_error(shared, &e);
            return storage_failure(shared, local, &e);
        }
        sync_if_due(shared);
    }
}

/// Removes the head hit `id` and owes its final event, both under the state
/// lock, then emits. A hit already removed by the caller's thread (deleted,
/// evicted, opted out) got its event there and gets none here.
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
