//! `State`: what the caller's thread and the worker agree on, behind the
//! one state lock of `Shared`. Its fields belong to the engine (the worker
//! reads and changes them under the lock); the caller's side changes it
//! only through the named transitions below, each of which keeps the
//! counters `tracker_flush` waits on consistent.
//!
//! Lock order, for the whole crate: `Shared::send_gate`, then
//! `Shared::state`, then the store's locks (`queue`'s inner lock before its
//! intake lock); the event sink's lock is never held while taking another.

use crate::config::StorageMode;
use crate::engine::schedule::Reachability;
use crate::events::{DropReason, Event};
use std::collections::VecDeque;
use std::time::Instant;

/// A never-mode hit waiting for its one attempt.
#[derive(Clone)]
pub struct MemoryHit {
    pub id: u64,
    pub url: String,
    pub created_ms: u64,
    pub seq: u64,
}

/// An event decided on the caller's thread, emitted by the worker.
pub enum Pending {
    Event(Event),
    /// Dropped hits whose text is not kept (erased, or beyond the budget).
    Erased {
        ids: VecDeque<u64>,
        reason: DropReason,
    },
}

/// Everything the caller's thread and the worker agree on.
pub struct State {
    pub(super) mode: StorageMode,
    pub(super) opt_out: bool,
    pub(super) started: bool,
    pub(super) shutdown: bool,
    pub(super) memory: VecDeque<MemoryHit>,
    pub(super) memory_accepted: u64,
    pub(super) memory_handled: u64,
    /// Last store id whose arrival was accepted / handled by the worker.
    pub(super) store_accepted: u64,
    pub(super) store_handled: u64,
    /// The same two, as the store's append sequence numbers.
    pub(super) store_accepted_seq: u64,
    pub(super) store_handled_seq: u64,
    pub(super) dispatch_requested: u64,
    pub(super) dispatch_done: u64,
    /// Reaching the collector: online, backoff, pause, the host's hint.
    pub(super) reach: Reachability,
    pub(super) pending: VecDeque<Pending>,
    pub(super) unsynced_since: Option<Instant>,
    pub(super) exited: bool,
    /// The never-mode hit whose request is in flight.
    pub(super) memory_in_flight: Option<MemoryHit>,
    /// Final events queued in `pending` so far, and emitted so far.
    pub(super) events_owed: u64,
    pub(super) events_emitted: u64,
    /// The worker waits with nothing to do, so the next hit must wake it.
    /// While it works (or gathers arrivals) a send wakes nobody: waking a
    /// thread costs a system call, more than the rest of a send.
    pub(super) worker_idle: bool,
}

impl State {
    /// Takes the next owed event, one at a time.
    pub fn pop_pending(&mut self) -> Option<Event> {
        match self.pending.front_mut()? {
            Pending::Erased { ids, reason } => {
                let reason = reason.clone();
                let id = ids.pop_front();
                if ids.is_empty() {
                    self.pending.pop_front();
                }
                id.map(|id| Event::dropped(id, String::new(), 0, reason))
            }
            Pending::Event(_) => match self.pending.pop_front() {
                Some(Pending::Event(event)) => Some(event),
                _ => None,
            },
        }
    }
}

/// What `tracker_flush` waits for: every arrival, dispatch and owed event
/// up to the moment it was called.
pub struct FlushTarget {
    memory: u64,
    stored: u64,
    dispatch: u64,
    owed: u64,
}

/// The caller's side's transitions.
impl State {
    pub fn new(mode: StorageMode, opt_out: bool, store_floor: u64, appended_floor: u64) -> State {
        State {
            mode,
            opt_out,
            started: false,
            shutdown: false,
            memory: VecDeque::new(),
            memory_accepted: 0,
            memory_handled: 0,
            store_accepted: store_floor,
            store_handled: store_floor,
            store_accepted_seq: appended_floor,
            store_handled_seq: appended_floor,
            dispatch_requested: 0,
            dispatch_done: 0,
            reach: Reachability::default(),
            pending: VecDeque::new(),
            unsynced_since: None,
            exited: false,
            memory_in_flight: None,
            events_owed: 0,
            events_emitted: 0,
            worker_idle: false,
        }
    }

    /// The worker may start working (it waits for the first send, dispatch
    /// or `set_online(true)`).
    pub fn start(&mut self) {
        self.started = true;
    }

    /// `start` for a new hit; returns whether the worker was idle, so the
    /// caller must notify it (after releasing the lock). While it works, a
    /// send wakes nobody: a wake-up costs a system call.
    pub fn nudge(&mut self) -> bool {
        self.started = true;
        std::mem::take(&mut self.worker_idle)
    }

    pub fn mode(&self) -> StorageMode {
        self.mode
    }

    pub fn set_mode(&mut self, mode: StorageMode) {
        self.mode = mode;
    }

    pub fn is_shut_down(&self) -> bool {
        self.shutdown
    }

    /// No more hits or calls; the worker finishes.
    pub fn shut_down(&mut self) {
        self.shutdown = true;
    }

    pub fn worker_exited(&self) -> bool {
        self.exited
    }

    pub fn opted_out(&self) -> bool {
        self.opt_out
    }

    pub fn set_opted_out(&mut self, opt_out: bool) {
        self.opt_out = opt_out;
    }

    /// Queues a never-mode hit for its attempt; past `max` hits the oldest
    /// one is taken out and returned (the caller drops it).
    pub fn push_memory_hit(
        &mut self,
        id: u64,
        url: String,
        created_ms: u64,
        max: usize,
    ) -> Option<MemoryHit> {
        let evicted = if self.memory.len() >= max {
            self.memory.pop_front()
        } else {
            None
        };
        if let Some(old) = &evicted {
            self.memory_handled = self.memory_handled.max(old.seq);
        }
        self.memory_accepted += 1;
        let seq = self.memory_accepted;
        self.memory.push_back(MemoryHit {
            id,
            url,
            created_ms,
            seq,
        });
        evicted
    }

    /// Takes every never-mode hit still waiting (the caller drops them).
    pub fn take_memory_hits(&mut self) -> Vec<MemoryHit> {
        let hits: Vec<_> = self.memory.drain(..).collect();
        if let Some(last) = hits.last() {
            self.memory_handled = self.memory_handled.max(last.seq);
        }
        hits
    }

    pub fn memory_len(&self) -> usize {
        self.memory.len()
    }

    /// A stored hit's append: the worker owes it a first handling, and
    /// the intake a sync.
    pub fn stored_arrival(&mut self, id: u64, seq: u64) {
        self.store_accepted = self.store_accepted.max(id);
        self.store_accepted_seq = self.store_accepted_seq.max(seq);
        self.unsynced_since.get_or_insert_with(Instant::now);
    }

    /// Last stored id the worker has handled (STORED reported, or sent).
    pub fn store_handled(&self) -> u64 {
        self.store_handled
    }

    pub fn request_dispatch(&mut self) {
        self.dispatch_requested += 1;
        self.started = true;
    }

    /// `tracker_set_online`: a host hint; `true` probes at once.
    pub fn set_host_online(&mut self, online: bool) {
        self.reach.set_host_online(online);
        if online {
            self.started = true;
        }
    }

    /// Reachable as far as the tracker knows (and not told otherwise).
    pub fn looks_online(&self) -> bool {
        self.reach.looks_online()
    }

    pub fn flush_target(&self) -> FlushTarget {
        FlushTarget {
            memory: self.memory_accepted,
            stored: self.store_accepted,
            dispatch: self.dispatch_requested,
            owed: self.events_owed,
        }
    }

    /// Whether everything `target` names is done. Before the first send,
    /// dispatch or `set_online(true)` the worker does nothing, so events
    /// owed by deletes wait for it; flush does not.
    pub fn reached(&self, target: &FlushTarget) -> bool {
        self.memory_handled >= target.memory
            && self.store_handled >= target.stored
            && self.dispatch_done >= target.dispatch
            && (!self.started || self.events_emitted >= target.owed)
    }

    /// The hits are on disk (`tracker_flush` synced them).
    pub fn synced(&mut self) {
        self.unsynced_since = None;
    }
}
