//! `State`: what the caller's thread and the worker agree on, behind the
//! one state lock of `Shared`. Its fields are private: the caller's side
//! and the worker change it only through the named transitions below, each
//! of which keeps the counters `tracker_flush` waits on consistent. What the
//! worker knows about reaching the collector is `schedule::Reachability`,
//! with transitions of its own.
//!
//! Consent (DESIGN.md §10) lives here too, because every rule about
//! sending reads it under this lock: nothing goes out unless it is
//! granted (`may_deliver`), hits are refused while it is denied
//! (`refuses_hits`), and while it is pending never-mode hits wait in
//! memory (`hold_memory_hits`) and stored ones in the store.
//!
//! Lock order, for the whole crate: `Shared::send_gate`, then
//! `Shared::state`, then the store's locks (`queue`'s inner lock before its
//! intake lock, and the lock that takes a new nonce epoch last of all); the
//! event sink's lock is never held while taking another.
//! `tracker_set_consent` writes the storage directory's `CONSENT` file
//! holding the send gate alone, before it takes the state lock.

use crate::config::StorageMode;
use crate::consent::Consent;
use crate::engine::schedule::Reachability;
use crate::events::{DropReason, Event};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Events queued by the caller's thread beyond this count are kept as id
/// runs without the hit text, so a runaway caller cannot grow memory.
const PENDING_FULL_EVENTS: usize = 4096;

/// A never-mode hit waiting for its one attempt.
#[derive(Clone)]
pub struct MemoryHit {
    pub id: u64,
    pub url: String,
    pub created_ms: u64,
    pub seq: u64,
    /// Held while consent was pending, with a STORED event: its request
    /// counts as offline (`timestamp_offline_only`).
    pub kept: bool,
}

/// An event decided on the caller's thread, emitted by the worker.
enum Pending {
    Event(Event),
    /// Dropped hits whose text is not kept (erased, or beyond the budget).
    Erased {
        ids: VecDeque<u64>,
        reason: DropReason,
    },
}

/// Everything the caller's thread and the worker agree on.
pub struct State {
    mode: StorageMode,
    consent: Consent,
    started: bool,
    shutdown: bool,
    memory: VecDeque<MemoryHit>,
    memory_accepted: u64,
    memory_handled: u64,
    /// Last store id whose arrival was accepted / handled by the worker.
    store_accepted: u64,
    store_handled: u64,
    /// The same two, as the store's append sequence numbers.
    store_accepted_seq: u64,
    store_handled_seq: u64,
    dispatch_requested: u64,
    dispatch_done: u64,
    /// Reaching the collector: online, backoff, pause, the host's hint.
    pub(super) reach: Reachability,
    pending: VecDeque<Pending>,
    unsynced_since: Option<Instant>,
    exited: bool,
    /// The never-mode hit whose request is in flight.
    memory_in_flight: Option<MemoryHit>,
    /// Final events queued in `pending` so far, and emitted so far.
    events_owed: u64,
    events_emitted: u64,
    /// The worker waits with nothing to do, so the next hit must wake it.
    /// While it works (or gathers arrivals) a send wakes nobody: waking a
    /// thread costs a system call, more than the rest of a send.
    worker_idle: bool,
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
    pub fn new(
        mode: StorageMode,
        consent: Consent,
        store_floor: u64,
        appended_floor: u64,
    ) -> State {
        State {
            mode,
            consent,
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

    /// The worker may start working (it waits for the first send, dispatch,
    /// `set_online(true)` or grant of consent).
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

    pub fn consent(&self) -> Consent {
        self.consent
    }

    /// Hits may go out: consent is granted. Checked before every request.
    pub fn may_deliver(&self) -> bool {
        self.consent == Consent::Granted
    }

    /// New hits are dropped on arrival: consent is denied.
    pub fn refuses_hits(&self) -> bool {
        self.consent == Consent::Denied
    }

    /// The player's choice. Purging the queue when it is denied is the
    /// caller's part (it holds the send gate). A grant releases what was
    /// held: the worker starts if it had not, and probes at once (a
    /// backoff from before says nothing about the collector now).
    pub fn set_consent(&mut self, consent: Consent) {
        let before = std::mem::replace(&mut self.consent, consent);
        if consent == Consent::Granted && before != Consent::Granted {
            self.start();
            self.reach.probe_soon();
        }
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
            kept: false,
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

    /// The transport changed: what failed through the old one may get
    /// through the new one, so probe at once (unless the host said offline).
    pub fn transport_changed(&mut self) {
        self.reach.probe_soon();
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
    /// dispatch, `set_online(true)` or grant the worker does nothing, so events
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

/// Stored hits that arrived since the worker last looked: ids
/// `from..=upto`, append sequence numbers `after_seq+1..=upto_seq`.
pub struct Arrivals {
    pub from: u64,
    pub upto: u64,
    pub after_seq: u64,
    pub upto_seq: u64,
}

/// The worker's transitions (and the events owed, which both sides add).
impl State {
    pub fn has_started(&self) -> bool {
        self.started
    }

    /// The worker waits with nothing to do: the next hit must wake it.
    pub fn worker_waits(&mut self) {
        self.worker_idle = true;
    }

    pub fn worker_resumes(&mut self) {
        self.worker_idle = false;
    }

    /// Whether the worker waits with nothing to do.
    pub fn worker_idle(&self) -> bool {
        self.worker_idle
    }

    /// The worker has ended; `tracker_destroy` stops waiting.
    pub fn worker_ended(&mut self) {
        self.exited = true;
    }

    /// The next never-mode hit for its attempt, marked in flight; none
    /// while consent is not granted (they wait in memory).
    pub fn next_memory_hit(&mut self) -> Option<MemoryHit> {
        if !self.may_deliver() {
            return None;
        }
        let hit = self.memory.pop_front()?;
        self.memory_in_flight = Some(hit.clone());
        Some(hit)
    }

    /// Ends the in-flight attempt; `false` if `tracker_destroy` took it
    /// over (and reported it) meanwhile.
    pub fn end_memory_attempt(&mut self) -> bool {
        self.memory_in_flight.take().is_some()
    }

    /// Never-mode hits up to `seq` are handled (their event emitted).
    pub fn memory_handled_upto(&mut self, seq: u64) {
        self.memory_handled = self.memory_handled.max(seq);
    }

    /// At shutdown: the hit in flight, if the worker did not end its
    /// attempt, and those still waiting; all count as handled.
    pub fn give_up_memory_hits(&mut self) -> (Option<MemoryHit>, Vec<MemoryHit>) {
        let in_flight = self.memory_in_flight.take();
        let left = self.memory.drain(..).collect();
        self.memory_handled = self.memory_accepted;
        (in_flight, left)
    }

    /// Never-mode hits the worker has something to do with: an attempt
    /// each once consent is granted; until then, only those not yet held.
    pub fn has_memory_work(&self) -> bool {
        self.memory
            .back()
            .is_some_and(|last| self.may_deliver() || !last.kept)
    }

    /// While consent is pending: marks the never-mode hits that arrived
    /// since the last look as held and returns them, for their STORED
    /// events. They count as handled once those are emitted
    /// (`memory_handled_upto`), so `tracker_flush` does not wait for a grant.
    pub fn hold_memory_hits(&mut self) -> Vec<MemoryHit> {
        if self.consent != Consent::Pending {
            return Vec::new();
        }
        let mut held: Vec<MemoryHit> = self
            .memory
            .iter_mut()
            .rev()
            .take_while(|hit| !hit.kept)
            .map(|hit| {
                hit.kept = true;
                hit.clone()
            })
            .collect();
        held.reverse();
        held
    }

    /// Stored hits appended that the worker has not handled yet.
    pub fn has_new_arrivals(&self) -> bool {
        self.store_accepted > self.store_handled
    }

    pub fn arrivals(&self) -> Arrivals {
        Arrivals {
            from: self.store_handled + 1,
            upto: self.store_accepted,
            after_seq: self.store_handled_seq,
            upto_seq: self.store_accepted_seq,
        }
    }

    /// The arrivals up to `arrivals` are handled (STORED reported or sent).
    pub fn arrivals_handled(&mut self, arrivals: &Arrivals) {
        self.store_handled = self.store_handled.max(arrivals.upto);
        self.store_handled_seq = self.store_handled_seq.max(arrivals.upto_seq);
    }

    /// A dispatch is asked for and not done yet.
    pub fn dispatching(&self) -> bool {
        self.dispatch_requested > self.dispatch_done
    }

    /// The dispatches asked for so far (what one drain settles).
    pub fn dispatch_target(&self) -> u64 {
        self.dispatch_requested
    }

    pub fn dispatched_upto(&mut self, target: u64) {
        self.dispatch_done = self.dispatch_done.max(target);
    }

    /// Queues a final event for the worker to emit (see `Shared::owe`).
    pub fn owe(&mut self, event: Event) {
        self.events_owed += 1;
        if self.pending.len() < PENDING_FULL_EVENTS
            || event.kind == crate::events::TRACKER_EVENT_SENT
        {
            self.pending.push_back(Pending::Event(event));
            return;
        }
        let Event {
            id, drop_reason, ..
        } = event;
        let reason = drop_reason.map_or(DropReason::DetailsLeftOut, |r| r.without_details());
        if let Some(Pending::Erased { ids, reason: r }) = self.pending.back_mut()
            && *r == reason
        {
            ids.push_back(id);
            return;
        }
        self.pending.push_back(Pending::Erased {
            ids: VecDeque::from([id]),
            reason,
        });
    }

    pub fn has_pending_events(&self) -> bool {
        !self.pending.is_empty()
    }

    /// How many more removed records may keep their text in pending events.
    pub fn text_budget(&self) -> usize {
        PENDING_FULL_EVENTS.saturating_sub(self.pending.len())
    }

    pub fn event_emitted(&mut self) {
        self.events_emitted += 1;
    }

    /// When the hits appended since the last sync are due for one.
    pub fn sync_deadline(&self, every: Duration) -> Option<Instant> {
        self.unsynced_since.map(|t| t + every)
    }

    /// Takes the sync if it is due at `now`.
    pub fn take_sync_due(&mut self, now: Instant, every: Duration) -> bool {
        let due = self.sync_deadline(every).is_some_and(|t| now >= t);
        if due {
            self.unsynced_since = None;
        }
        due
    }
}
