//! The worker thread: all network I/O and all automatic queue maintenance.
//!
//! One pass: wait until there is work, emit events decided on the caller's
//! thread, expire old hits, give never-mode hits their one attempt, drain
//! the store when consent, the mode, backoff and reachability allow (or a
//! dispatch asks, with consent), then report STORED for arrivals that are
//! still queued. While consent is not granted no timer waits for a retry,
//! so a pending tracker sleeps until called. A panic in
//! a pass is caught and counted; the worker goes on. Requests are made
//! without holding the state lock, so the caller's thread never waits for
//! the network.

use crate::config::StorageMode;
pub use crate::engine::delivery::emit_pending;
use crate::engine::delivery::*;
use crate::engine::schedule::*;
use crate::engine::{Shared, State};
use crate::events::{DropReason, Event};
use crate::queue::Store;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// After a pass, new arrivals wait this long for more to join them (any
/// other work, a flush or a dispatch starts the next pass at once): a
/// burst of sends then costs one pass, and the senders no wake-ups.
const GATHER: Duration = Duration::from_millis(2);
const EXPIRE_BATCH: u64 = 256;
/// How long the worker leaves the intake alone after moving it failed.
const INTAKE_RETRY: Duration = Duration::from_secs(1);

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
    state.worker_ended();
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
        let (in_flight, left) = state.give_up_memory_hits();
        if let Some(hit) = in_flight {
            let url = shared.request_url(&hit.url, hit.id, hit.created_ms, hit.kept);
            let reason = DropReason::DestroyedInFlight;
            shared.owe(&mut state, Event::dropped(hit.id, url, 0, reason));
        }
        for hit in left {
            let url = shared.request_url(&hit.url, hit.id, hit.created_ms, hit.kept);
            let reason = DropReason::DestroyedBeforeSent;
            shared.owe(&mut state, Event::dropped(hit.id, url, 0, reason));
        }
    }
    emit_pending(shared);
}

fn queued(shared: &Shared) -> u64 {
    shared.store.as_ref().map_or(0, Store::count_hint)
}

/// Stored hits wait for the automatic retry timer.
fn retrying(shared: &Shared, state: &State) -> bool {
    state.mode() == StorageMode::Required
        && state.may_deliver()
        && !state.reach.host_offline()
        && queued(shared) > 0
}

fn has_work(shared: &Shared, state: &State, local: &Local, now: Instant) -> bool {
    has_arrivals(shared, state, local, now) || has_other_work(shared, state, local, now)
}

/// New hits whose first handling is due, or stored hits still to be moved
/// from the intake into fjall.
fn has_arrivals(shared: &Shared, state: &State, local: &Local, now: Instant) -> bool {
    state.has_memory_work()
        || state.has_new_arrivals()
        || (due(local.intake_retry, now)
            && shared.store.as_ref().is_some_and(Store::intake_waiting))
}

fn has_other_work(shared: &Shared, state: &State, local: &Local, now: Instant) -> bool {
    state.has_pending_events()
        || shared.store.as_ref().is_some_and(Store::has_evicted)
        || state.dispatching()
        || (retrying(shared, state) && state.reach.may_probe(now))
        || (local.next_expiry.is_some_and(|t| now >= t) && queued(shared) > 0)
        || state.sync_deadline(SYNC_EVERY).is_some_and(|t| now >= t)
}

/// When the worker must look again without being woken: only for timers
/// that can lead to work, so an idle tracker sleeps until called.
fn next_deadline(shared: &Shared, state: &State, local: &Local) -> Option<Instant> {
    let retry = retrying(shared, state)
        .then(|| state.reach.next_wake())
        .flatten();
    let expiry = local.next_expiry.filter(|_| queued(shared) > 0);
    [
        retry,
        expiry,
        state.sync_deadline(SYNC_EVERY),
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
        if state.is_shut_down() {
            return false;
        }
        let now = shared.clock.now();
        if state.has_started() && has_work(shared, &state, local, now) {
            let gather_until = local.last_pass.map(|t| t + GATHER);
            if let Some(until) = gather_until.filter(|&until| until > now)
                && !has_other_work(shared, &state, local, now)
            {
                // A notify (flush, dispatch, settings) ends this early.
                shared.clock.wait_until(&shared.wake, &mut state, until);
                return !state.is_shut_down();
            }
            return true;
        }
        state.worker_waits();
        match next_deadline(shared, &state, local).filter(|_| state.has_started()) {
            Some(deadline) if deadline > now => {
                shared.clock.wait_until(&shared.wake, &mut state, deadline);
            }
            _ => shared.wake.wait(&mut state),
        }
        state.worker_resumes();
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
