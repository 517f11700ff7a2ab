//! The engine's shared half: what the caller's thread and the worker
//! agree on ([`Shared`]: the config, the store, the transport, the event
//! sink, counters, and [`State`] behind one lock), and the queue
//! maintenance both sides run (limits, events owed for dropped hits).
//! The worker's loop lives in `worker`; the caller's side in `tracker`,
//! which this module never uses.
//!
//! Lock order: one place for the whole crate, `state`'s module header.

pub mod clock;
mod delivery;
pub mod schedule;
pub mod state;
pub mod worker;

#[cfg(test)]
mod tests;

use crate::config::Config;
use crate::consent::Consent;
use crate::error::Result;
use crate::events::{DropReason, Event, EventSink};
use crate::net::host::Completions;
use crate::net::{Transport, Transports, url};
use crate::queue::Store;
use clock::Clock;
use parking_lot::{Condvar, Mutex, RwLock};
pub use state::State;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Hits evicted per store batch (see `Shared::enforce_queue_limits`).
const EVICT_BATCH: u64 = 256;

/// Counters reported by `tracker_stats`.
#[derive(Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub stored: AtomicU64,
    pub dropped: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub worker_restarts: AtomicU64,
    pub store_resets: AtomicU64,
    pub last_success_ms: AtomicU64,
    pub last_error: Mutex<String>,
}

pub struct Shared {
    pub config: Config,
    pub store: Option<Store>,
    pub transport: Transports,
    /// Requests of the host's transport waiting for their completion.
    pub completions: Arc<Completions>,
    pub clock: Clock,
    pub events: EventSink,
    pub stats: Stats,
    pub state: Mutex<State>,
    /// Held shared by `send` from its consent check to its append, and
    /// exclusively by `set_consent`, so no hit slips past a denial.
    pub send_gate: RwLock<()>,
    /// Wakes the worker.
    pub wake: Condvar,
    /// Wakes `flush` and `destroy` when the worker makes progress.
    pub progress: Condvar,
    /// Hits in the store with ids up to this were stored by an earlier run.
    pub offline_floor: u64,
    memory_ids: AtomicU64,
}

impl Shared {
    /// The shared half of a new tracker: `store` as opened (if the mode
    /// stores hits), the consent to start with (remembered in its
    /// directory, else the config's), and how many times opening it had to
    /// start a fresh queue.
    pub fn new(
        config: Config,
        store: Option<Store>,
        transport: Box<dyn Transport>,
        consent: Consent,
        resets: u64,
    ) -> Shared {
        let offline_floor = store.as_ref().map_or(0, Store::last_id);
        let appended_floor = store.as_ref().map_or(0, Store::appended);
        let state = State::new(config.storage, consent, offline_floor, appended_floor);
        let shared = Shared {
            transport: Transports::new(transport),
            completions: Arc::new(Completions::default()),
            clock: Clock::default(),
            config,
            store,
            events: EventSink::default(),
            stats: Stats::default(),
            state: Mutex::new(state),
            send_gate: RwLock::new(()),
            wake: Condvar::new(),
            progress: Condvar::new(),
            offline_floor,
            memory_ids: AtomicU64::new(0),
        };
        shared.stats.store_resets.store(resets, Ordering::Relaxed);
        shared
    }

    pub fn allocate_id(&self) -> Result<u64> {
        match &self.store {
            Some(store) => store.allocate_id(),
            None => Ok(self.memory_ids.fetch_add(1, Ordering::Relaxed) + 1),
        }
    }

    /// The request URL of a hit, with the parameters the config asks for.
    /// `offline` tells whether the hit has been stored (for `timestamp_offline_only`).
    pub fn request_url(&self, url: &str, id: u64, created_ms: u64, offline: bool) -> String {
        let c = &self.config;
        let ts = (!c.timestamp_param.is_empty() && (offline || !c.timestamp_offline_only))
            .then_some((c.timestamp_param.as_str(), created_ms / 1000));
        let id_param = (!c.id_param.is_empty()).then_some((c.id_param.as_str(), id));
        url::build_url(url, ts, id_param)
    }

    /// Whether a stored hit counts as offline (it got, or will get, a STORED event).
    pub fn is_offline(&self, state_handled: u64, id: u64) -> bool {
        id <= self.offline_floor || id <= state_handled
    }

    /// Queues a DROPPED event decided on the caller's thread.
    pub fn drop_later(&self, state: &mut State, id: u64, hit: String, reason: DropReason) {
        self.owe(state, Event::dropped(id, hit, 0, reason));
    }

    /// Queues a final event (SENT or DROPPED) for the worker to emit. Called
    /// under the state lock at the moment a hit's fate is decided, so that
    /// `tracker_destroy` can emit what the worker could not.
    pub fn owe(&self, state: &mut State, event: Event) {
        let counter = if event.kind == crate::events::TRACKER_EVENT_SENT {
            &self.stats.sent
        } else {
            &self.stats.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
        state.owe(event);
        self.wake.notify_all();
    }

    /// How many more removed records may keep their text in pending events.
    pub fn text_budget(&self, state: &State) -> usize {
        state.text_budget()
    }

    /// Drops the oldest stored hits while the queue is over `max_queue_hits`
    /// or `max_queue_bytes`, with a DROPPED event each. Run by the worker at
    /// every pass and between requests, and by the calls that show the
    /// queue (offline calls, stats) before they look, so the queue is never
    /// seen over its limits; never by `tracker_send`, which would wait for
    /// the store. In batches, each removed without the state lock and owed
    /// under it, so a send waits at most for one batch's bookkeeping.
    pub fn enforce_queue_limits(&self) -> Result<u64> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let (max_hits, max_bytes) = (self.config.max_queue_hits, self.config.max_queue_bytes);
        // What the worker's moves of the intake dropped (the store trims
        // as it moves, see `Store::absorb`), oldest first.
        let mut total = self.drop_evicted_by_moves(store);
        loop {
            let (count, bytes) = store.size_hint();
            if count <= max_hits && bytes <= max_bytes {
                return Ok(total);
            }
            let budget = self.text_budget(&self.state.lock());
            let evicted = store.evict_over(max_hits, max_bytes, EVICT_BATCH, budget);
            // The move inside came first: its hits are the older ones.
            total += self.drop_evicted_by_moves(store);
            let evicted = evicted?;
            let removed = evicted.len() as u64;
            total += removed;
            self.drop_removed_unlocked(evicted, DropReason::QueueFull);
            if removed < EVICT_BATCH {
                return Ok(total);
            }
        }
    }

    /// Owes the DROPPED events of the hits moves of the intake dropped for
    /// the limits (`Store::take_evicted`).
    pub fn drop_evicted_by_moves(&self, store: &Store) -> u64 {
        let mut evicted = store.take_evicted().into_iter();
        let mut count = 0;
        // In batches, so a send waits at most for one batch's bookkeeping.
        loop {
            let batch: Vec<_> = evicted.by_ref().take(EVICT_BATCH as usize).collect();
            if batch.is_empty() {
                return count;
            }
            count += batch.len() as u64;
            self.drop_removed_unlocked(batch, DropReason::QueueFull);
        }
    }

    /// `drop_removed` for a caller that does not hold the state lock: the
    /// events are made before taking it.
    pub fn drop_removed_unlocked(&self, removed: Vec<crate::queue::Removed>, reason: DropReason) {
        if removed.is_empty() {
            return;
        }
        let handled = self.state.lock().store_handled();
        let events: Vec<Event> = removed
            .into_iter()
            .map(|r| {
                let hit = r.record.map_or_else(String::new, |rec| {
                    let offline = self.is_offline(handled, rec.id);
                    self.request_url(&rec.url, rec.id, rec.created_ms, offline)
                });
                Event::dropped(r.id, hit, 0, reason.clone())
            })
            .collect();
        let mut state = self.state.lock();
        for event in events {
            self.owe(&mut state, event);
        }
        drop(state);
        self.wake.notify_all();
    }

    /// Queues DROPPED events for hits removed from the store on the caller's thread.
    pub fn drop_removed(
        &self,
        state: &mut State,
        removed: Vec<crate::queue::Removed>,
        reason: DropReason,
    ) -> u64 {
        let count = removed.len() as u64;
        for r in removed {
            let hit = r.record.map_or_else(String::new, |rec| {
                let offline = self.is_offline(state.store_handled(), rec.id);
                self.request_url(&rec.url, rec.id, rec.created_ms, offline)
            });
            self.drop_later(state, r.id, hit, reason.clone());
        }
        self.wake.notify_all();
        count
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
