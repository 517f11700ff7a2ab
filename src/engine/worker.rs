//! The worker thread: all network I/O and all automatic queue maintenance.
//!
//! One pass: wait until there is work, emit events decided on the caller's
//! thread, expire old hits, give never-mode hits their one attempt, drain
//! the store when the mode, backoff and reachability allow (or a dispatch
//! asks), then report STORED for arrivals that are still queued. A panic in
//! a pass is caught and counted; the worker goes on. Requests are made
//! without holding the state lock, so the caller's thread never waits for
//! the network.

use crate::config::StorageMode;
use crate::engine::{Shared, State};
use crate::error::{Error, Result};
use crate::events::{DropReason, Event, NotAllowed};
use crate::net::Outcome;
use crate::queue::Store;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const SYNC_EVERY: Duration = Duration::from_secs(1);
/// After a pass, new arrivals wait this long for more to join them (any
/// other work, a flush or a dispatch starts the next pass at once): a
/// burst of sends then costs one pass, and the senders no wake-ups.
const GATHER: Duration = Duration::from_millis(2);
const EXPIRE_BATCH: u64 = 256;
/// How long the worker leaves the intake alone after moving it failed.
const INTAKE_RETRY: Duration = Duration::from_secs(1);

struct Local {
    rng: u64,
    next_expiry: Option<Instant>,
    last_pass: Option<Instant>,
    /// After a failed move of the intake into fjall, when to try again (the
    /// hits are safe in the intake files meanwhile).
    intake_retry: Option<Instant>,
}

/// The worker thread's body.
pub fn run(shared: &Shared) {
    let seed = shared.clock.now_ms() ^ (shared as *const Shared as u64).rotate_left(17);
    let mut local = Local {
        rng: seed | 1,
        next_expiry: Some(shared.clock.now()),
        last_pass: None,
        intake_retry: None,
    };
    loop {
        match catch_unwind(AssertUnwindSafe(|| pass(shared, &mut local))) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => {
                shared.stats.worker_restarts.fetch_add(1, Ordering::Relaxed);
                *shared.stats.last_error.lock() =
                    "internal error in the worker (caught; worker restarted)".into();
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    finish(shared);
}

fn finish(shared: &Shared) {
    report_unsent(shared);
    let mut state = shared.state.lock();
    state.exited = true;
    shared.progress.notify_all();
}

/// Emits the events still owed at shutdown: DROPPED for the never-mode hit
/// in flight and those still in memory, for stored hits a move dropped for
/// the limits, and every queued final event.
/// Called by the worker as it exits, or by `tracker_destroy` when the
/// worker is stuck in a request past the shutdown timeout; every hand-over
/// happens under the state lock, so each event is emitted exactly once.
pub fn report_unsent(shared: &Shared) {
    // Hits a move of the intake dropped for the queue's limits since the
    // worker's last look: their events are owed too.
    if let Some(store) = &shared.store {
        shared.drop_evicted_by_moves(store);
    }
    {
        let mut state = shared.state.lock();
        let in_flight = state.memory_in_flight.take();
        if let Some(hit) = in_flight {
            let url = shared.request_url(&hit.url, hit.id, hit.created_ms, false);
            let reason = DropReason::DestroyedInFlight;
            shared.owe(&mut state, Event::dropped(hit.id, url, 0, reason));
        }
        let left: Vec<_> = state.memory.drain(..).collect();
        for hit in left {
            let url = shared.request_url(&hit.url, hit.id, hit.created_ms, false);
            let reason = DropReason::DestroyedBeforeSent;
            shared.owe(&mut state, Event::dropped(hit.id, url, 0, reason));
        }
        state.memory_handled = state.memory_accepted;
    }
    emit_pending(shared);
}

fn due(at: Option<Instant>, now: Instant) -> bool {
    at.is_none_or(|t| now >= t)
}

/// Automatic probing is allowed: no host hint against it, no Retry-After
/// pause, and the backoff delay has passed (or the host just said online).
fn may_probe(state: &State, now: Instant) -> bool {
    !state.host_offline
        && due(state.paused_until, now)
        && (state.probe_now || due(state.next_retry, now))
}

fn queued(shared: &Shared) -> u64 {
    shared.store.as_ref().map_or(0, Store::count_hint)
}

/// Stored hits wait for the automatic retry timer.
fn retrying(shared: &Shared, state: &State) -> bool {
    state.mode == StorageMode::Required
        && !state.opt_out
        && !state.host_offline
        && queued(shared) > 0
}

fn has_work(shared: &Shared, state: &State, local: &Local, now: Instant) -> bool {
    has_arrivals(shared, state, local, now) || has_other_work(shared, state, local, now)
}

/// New hits whose first handling is due, or stored hits still to be moved
/// from the intake into fjall.
fn has_arrivals(shared: &Shared, state: &State, local: &Local, now: Instant) -> bool {
    !state.memory.is_empty()
        || state.store_accepted > state.store_handled
        || (due(local.intake_retry, now)
            && shared.store.as_ref().is_some_and(Store::intake_waiting))
}

fn has_other_work(shared: &Shared, state: &State, local: &Local, now: Instant) -> bool {
    !state.pending.is_empty()
        || shared.store.as_ref().is_some_and(Store::has_evicted)
        || state.dispatch_requested > state.dispatch_done
        || (retrying(shared, state) && may_probe(state, now))
        || (local.next_expiry.is_some_and(|t| now >= t) && queued(shared) > 0)
        || state.unsynced_since.is_some_and(|t| now >= t + SYNC_EVERY)
}

/// When the worker must look again without being woken: only for timers
/// that can lead to work, so an idle tracker sleeps until called.
fn next_deadline(shared: &Shared, state: &State, local: &Local) -> Option<Instant> {
    let retry = retrying(shared, state)
        .then(|| match (state.next_retry, state.paused_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        })
        .flatten();
    let expiry = local.next_expiry.filter(|_| queued(shared) > 0);
    [
        retry,
        expiry,
        state.unsynced_since.map(|t| t + SYNC_EVERY),
        local.intake_retry,
    ]
    .into_iter()
    .flatten()
    .min()
}

/// Waits for work; returns `false` at shutdown.
fn wait_for_work(shared: &Shared, local: &Local) -> bool {
    let mut state = shared.state.lock();
    loop {
        if state.shutdown {
            return false;
        }
        let now = shared.clock.now();
        if state.started && has_work(shared, &state, local, now) {
            let gather_until = local.last_pass.map(|t| t + GATHER);
            if let Some(until) = gather_until.filter(|&until| until > now)
                && !has_other_work(shared, &state, local, now)
            {
                // A notify (flush, dispatch, settings) ends this early.
                shared.clock.wait_until(&shared.wake, &mut state, until);
                return !state.shutdown;
            }
            return true;
        }
        state.worker_idle = true;
        match next_deadline(shared, &state, local).filter(|_| state.started) {
            Some(deadline) if deadline > now => {
                shared.clock.wait_until(&shared.wake, &mut state, deadline);
            }
            _ => shared.wake.wait(&mut state),
        }
        state.worker_idle = false;
    }
}

/// One round of work. Returns `false` when the tracker shuts down.
fn pass(shared: &Shared, local: &mut Local) -> bool {
    if !wait_for_work(shared, local) {
        return false;
    }
    emit_pending(shared);
    enforce_queue_limits(shared);
    expire(shared, local);
    send_memory_hits(shared, local);
    handle_store(shared, local);
    if let Some(store) = shared
        .store
        .as_ref()
        .filter(|_| due(local.intake_retry, shared.clock.now()))
    {
        match store.absorb_intake() {
            Ok(()) => {
                local.intake_retry = None;
                store.prepare_intake();
            }
            Err(e) => {
                note_error(shared, &e);
                local.intake_retry = Some(shared.clock.now() + INTAKE_RETRY);
            }
        }
    }
    sync_if_due(shared);
    local.last_pass = Some(shared.clock.now());
    true
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
        state.events_emitted += 1;
        shared.progress.notify_all();
    }
}

/// Evicts what sends pushed over the queue's limits (they leave that to
/// the worker, see `Shared::enforce_queue_limits`), then emits the events.
fn enforce_queue_limits(shared: &Shared) {
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

fn expire(shared: &Shared, local: &mut Local) {
    let max_age_ms = shared.config.max_age_seconds.saturating_mul(1000);
    let Some(store) = shared.store.as_ref().filter(|_| max_age_ms > 0) else {
        local.next_expiry = None;
        return;
    };
    if local.next_expiry.is_none_or(|t| shared.clock.now() < t) {
        return;
    }
    loop {
        let cutoff = shared.clock.now_ms().saturating_sub(max_age_ms);
        // Removed without the state lock, so sends go on meanwhile.
        let expired = match store.expire(cutoff, EXPIRE_BATCH) {
            Ok(expired) => {
                let count = expired.len() as u64;
                shared.drop_removed_unlocked(expired, DropReason::Expired);
                count
            }
            Err(e) => {
                note_error(shared, &e);
                0
            }
        };
        emit_pending(shared);
        if expired < EXPIRE_BATCH {
            break;
        }
    }
    local.next_expiry = match store.oldest_created_ms() {
        Ok(Some(created)) => {
            let wait = created
                .saturating_add(max_age_ms)
                .saturating_sub(shared.clock.now_ms());
            Some(shared.clock.now() + Duration::from_millis(wait))
        }
        // Empty: armed again when hits arrive (see `handle_store`).
        Ok(None) => None,
        Err(_) => Some(shared.clock.now() + Duration::from_secs(60)),
    };
}

fn note_error(shared: &Shared, error: &Error) {
    *shared.stats.last_error.lock() = error.message.clone();
}

/// Backoff after the n-th consecutive failure, with jitter in [0.5, 1.0].
fn backoff(shared: &Shared, local: &mut Local, failures: u32) -> Duration {
    let c = &shared.config;
    let exp = failures.saturating_sub(1).min(40);
    let delay = c
        .retry_base_ms
        .saturating_mul(1u64 << exp)
        .min(c.retry_max_ms);
    local.rng ^= local.rng << 13;
    local.rng ^= local.rng >> 7;
    local.rng ^= local.rng << 17;
    let factor = 0.5 + (local.rng % 1_000_001) as f64 / 2_000_000.0;
    Duration::from_millis((delay as f64 * factor) as u64)
}

/// Updates reachability and backoff after an attempt.
fn note_outcome(shared: &Shared, local: &mut Local, outcome: &Outcome) {
    let mut state = shared.state.lock();
    let now = shared.clock.now();
    state.probe_now = false;
    match outcome {
        Outcome::Delivered { .. } | Outcome::Rejected { .. } => {
            state.online = true;
            state.failures = 0;
            state.next_retry = None;
            if let Outcome::Delivered { .. } = outcome {
                shared
                    .stats
                    .last_success_ms
                    .store(shared.clock.now_ms(), Ordering::Relaxed);
            }
        }
        Outcome::Unreachable { reason, .. } => {
            state.online = false;
            state.failures = state.failures.saturating_add(1);
            let failures = state.failures;
            state.next_retry = Some(now + backoff(shared, local, failures));
            *shared.stats.last_error.lock() = reason.clone();
        }
        Outcome::Retryable {
            status,
            retry_after,
        } => {
            state.online = true;
            state.failures = state.failures.saturating_add(1);
            let failures = state.failures;
            state.next_retry = Some(now + backoff(shared, local, failures));
            if let Some(pause) = retry_after {
                let cap = Duration::from_millis(shared.config.retry_max_ms);
                state.paused_until = Some(now + (*pause).min(cap));
            }
            shared.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
            *shared.stats.last_error.lock() = format!("HTTP {status} from the collector");
        }
    }
    if let Outcome::Rejected { reason, .. } = outcome {
        *shared.stats.last_error.lock() = reason.clone();
    }
}

/// A disk error while draining: back off like an unreachable collector,
/// so a failing store is not retried in a tight loop.
fn storage_failure(shared: &Shared, local: &mut Local, error: &Error) -> Option<(String, u16)> {
    let outcome = Outcome::Unreachable {
        status: 0,
        reason: error.message.clone(),
    };
    note_outcome(shared, local, &outcome);
    {
        // The collector was not at fault; only the backoff applies.
        let mut state = shared.state.lock();
        state.online = true;
    }
    Some((error.message.clone(), 0))
}

/// Sleeps `send_interval_ms` between requests; wakes early at shutdown.
fn throttle(shared: &Shared) {
    let interval = shared.config.send_interval_ms;
    if interval == 0 {
        return;
    }
    let deadline = shared.clock.now() + Duration::from_millis(interval);
    let mut state = shared.state.lock();
    while !state.shutdown {
        if shared.clock.wait_until(&shared.wake, &mut state, deadline) {
            break;
        }
    }
}

fn outcome_status(outcome: &Outcome) -> u16 {
    match outcome {
        Outcome::Delivered { status }
        | Outcome::Unreachable { status, .. }
        | Outcome::Retryable { status, .. }
        | Outcome::Rejected { status, .. } => *status,
    }
}

fn send_memory_hits(shared: &Shared, local: &mut Local) {
    let mut first = true;
    loop {
        let (hit, allowed, why_not) = {
            let mut state = shared.state.lock();
            if state.shutdown {
                return;
            }
            let Some(hit) = state.memory.pop_front() else {
                return;
            };
            let now = shared.clock.now();
            let why_not = if state.host_offline {
                NotAllowed::HostOffline
            } else if !due(state.paused_until, now) {
                NotAllowed::Paused
            } else {
                NotAllowed::WaitingToRetry
            };
            let allowed = state.online && due(state.paused_until, now) && !state.host_offline
                || may_probe(&state, now);
            state.memory_in_flight = Some(hit.clone());
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
            if state.memory_in_flight.take().is_some() {
                shared.owe(&mut state, event);
            }
        }
        // Emitted before the hit counts as handled, so `tracker_flush`
        // returns only after its event.
        emit_pending(shared);
        {
            let mut state = shared.state.lock();
            state.memory_handled = state.memory_handled.max(hit.seq);
            shared.progress.notify_all();
        }
        sync_if_due(shared);
    }
}

fn handle_store(shared: &Shared, local: &mut Local) {
    let Some(store) = &shared.store else {
        let mut state = shared.state.lock();
        state.dispatch_done = state.dispatch_requested;
        shared.progress.notify_all();
        return;
    };
    let (arrivals, dispatch_target, dispatching, auto) = {
        let state = shared.state.lock();
        let now = shared.clock.now();
        let dispatching = state.dispatch_requested > state.dispatch_done;
        let auto = state.mode == StorageMode::Required && !state.opt_out && may_probe(&state, now);
        let arrivals = Arrivals {
            from: state.store_handled + 1,
            upto: state.store_accepted,
            after_seq: state.store_handled_seq,
            upto_seq: state.store_accepted_seq,
        };
        (arrivals, state.dispatch_requested, dispatching, auto)
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
        let mut state = shared.state.lock();
        state.store_handled = state.store_handled.max(upto);
        state.store_handled_seq = state.store_handled_seq.max(arrivals.upto_seq);
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
    state.store_handled = state.store_handled.max(upto);
    state.store_handled_seq = state.store_handled_seq.max(arrivals.upto_seq);
    if dispatching {
        state.dispatch_done = state.dispatch_done.max(dispatch_target);
    }
    state.probe_now = false;
    shared.progress.notify_all();
}

/// Hits accepted since the worker's last look: by id and by the store's
/// append sequence number.
struct Arrivals {
    from: u64,
    upto: u64,
    after_seq: u64,
    upto_seq: u64,
}

/// STORED events for the arrivals still in the queue.
fn report_stored(
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
fn stored_reason(shared: &Shared) -> String {
    let state = shared.state.lock();
    let now = shared.clock.now();
    match state.mode {
        StorageMode::Always => "storage mode always: kept until tracker_dispatch".into(),
        StorageMode::Never => {
            "stored while the mode was required/always: kept until tracker_dispatch".into()
        }
        StorageMode::Required if state.opt_out => "opt-out".into(),
        StorageMode::Required if state.host_offline => {
            "offline (tracker_set_online(false)): kept for later".into()
        }
        StorageMode::Required if !due(state.paused_until, now) => {
            "collector asked to pause (Retry-After): kept for later".into()
        }
        StorageMode::Required if !state.online => {
            "offline: collector unreachable, kept for the next retry".into()
        }
        StorageMode::Required => "kept for the next retry".into(),
    }
}

/// Sends stored hits oldest first until the queue is empty, a failure
/// stops it, or (when not dispatching) automatic sending is no longer
/// allowed. Returns the failure that stopped it, if any.
fn drain(shared: &Shared, local: &mut Local, dispatching: bool) -> Option<(String, u16)> {
    let store = shared.store.as_ref()?;
    let mut first = true;
    loop {
        let allowed = |state: &State| {
            !state.shutdown
                && !state.opt_out
                && (dispatching || (state.mode == StorageMode::Required && !state.host_offline))
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
        let handled = shared.state.lock().store_handled;
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
fn settle(shared: &Shared, store: &Store, id: u64, event: impl FnOnce() -> Event) -> Result<()> {
    {
        let mut state = shared.state.lock();
        if store.remove_head(id)?.is_some() {
            shared.owe(&mut state, event());
        }
    }
    emit_pending(shared);
    Ok(())
}

fn sync_if_due(shared: &Shared) {
    let Some(store) = &shared.store else { return };
    let due = {
        let mut state = shared.state.lock();
        match state.unsynced_since {
            Some(t) if shared.clock.now() >= t + SYNC_EVERY => {
                state.unsynced_since = None;
                true
            }
            _ => false,
        }
    };
    if due && let Err(e) = store.sync() {
        note_error(shared, &e);
    }
}
