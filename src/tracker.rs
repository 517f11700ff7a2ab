//! The tracker: what the caller's thread does. Validates and appends hits,
//! answers the offline-queue calls against the store, and asks the worker
//! for work. It never does network I/O and never waits for a request.
//!
//! State shared with the worker lives in [`Shared`]; the delivery logic
//! lives in `worker`. Lock order: `send_gate`, then `state`, then the
//! store's own lock.

use crate::config::{Config, StorageMode};
use crate::events::{Event, EventSink};
use crate::record::Record;
use crate::request;
use crate::result::{Error, Result, TRACKER_ERROR_TIMEOUT};
use crate::storage_dir::StorageDir;
use crate::store::Store;
use crate::transport::Transport;
use crate::worker;
use parking_lot::{Condvar, Mutex, RwLock};
use serde_json::json;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Events queued by the caller's thread beyond this count are kept as id
/// runs without the hit text, so a runaway caller cannot grow memory.
const PENDING_FULL_EVENTS: usize = 4096;

/// How long a send pauses when a flood has left the worker far behind
/// (`Appended::outrun`).
const OUTRUN_PAUSE: Duration = Duration::from_micros(100);
/// Hits evicted per store batch (see `Shared::enforce_queue_limits`).
const EVICT_BATCH: u64 = 256;
/// The reason of a hit dropped for the queue's limits.
pub const QUEUE_FULL: &str = "queue full (max_queue_hits / max_queue_bytes)";

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
        reason: &'static str,
    },
}

/// Everything the caller's thread and the worker agree on.
pub struct State {
    pub mode: StorageMode,
    pub opt_out: bool,
    pub started: bool,
    pub shutdown: bool,
    pub memory: VecDeque<MemoryHit>,
    pub memory_accepted: u64,
    pub memory_handled: u64,
    /// Last store id whose arrival was accepted / handled by the worker.
    pub store_accepted: u64,
    pub store_handled: u64,
    /// The same two, as the store's append sequence numbers.
    pub store_accepted_seq: u64,
    pub store_handled_seq: u64,
    pub dispatch_requested: u64,
    pub dispatch_done: u64,
    pub probe_now: bool,
    pub host_offline: bool,
    pub online: bool,
    pub failures: u32,
    pub next_retry: Option<Instant>,
    pub paused_until: Option<Instant>,
    pub pending: VecDeque<Pending>,
    pub unsynced_since: Option<Instant>,
    pub exited: bool,
    /// The never-mode hit whose request is in flight.
    pub memory_in_flight: Option<MemoryHit>,
    /// Final events queued in `pending` so far, and emitted so far.
    pub events_owed: u64,
    pub events_emitted: u64,
    /// The worker waits with nothing to do, so the next hit must wake it.
    /// While it works (or gathers arrivals) a send wakes nobody: waking a
    /// thread costs a system call, more than the rest of a send.
    pub worker_idle: bool,
}

impl State {
    /// Takes the next owed event, one at a time.
    pub fn pop_pending(&mut self) -> Option<Event> {
        match self.pending.front_mut()? {
            Pending::Erased { ids, reason } => {
                let reason = *reason;
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
    pub transport: Transport,
    pub events: EventSink,
    pub stats: Stats,
    pub state: Mutex<State>,
    /// Held shared by `send` from its opt-out check to its append, and
    /// exclusively by `set_opt_out`.
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
        request::build_url(url, ts, id_param)
    }

    /// Whether a stored hit counts as offline (it got, or will get, a STORED event).
    pub fn is_offline(&self, state_handled: u64, id: u64) -> bool {
        id <= self.offline_floor || id <= state_handled
    }

    /// Queues a DROPPED event decided on the caller's thread.
    pub fn drop_later(&self, state: &mut State, id: u64, hit: String, reason: &'static str) {
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
        state.events_owed += 1;
        self.wake.notify_all();
        if state.pending.len() < PENDING_FULL_EVENTS
            || event.kind == crate::events::TRACKER_EVENT_SENT
        {
            state.pending.push_back(Pending::Event(event));
            return;
        }
        let Event { id, reason, .. } = event;
        let reason = erased_reason(&reason);
        if let Some(Pending::Erased { ids, reason: r }) = state.pending.back_mut()
            && *r == reason
        {
            ids.push_back(id);
            return;
        }
        state.pending.push_back(Pending::Erased {
            ids: VecDeque::from([id]),
            reason,
        });
    }

    /// How many more removed records may keep their text in pending events.
    pub fn text_budget(&self, state: &State) -> usize {
        PENDING_FULL_EVENTS.saturating_sub(state.pending.len())
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
            self.drop_removed_unlocked(evicted, QUEUE_FULL);
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
            self.drop_removed_unlocked(batch, QUEUE_FULL);
        }
    }

    /// `drop_removed` for a caller that does not hold the state lock: the
    /// events are made before taking it.
    pub fn drop_removed_unlocked(&self, removed: Vec<crate::store::Removed>, reason: &'static str) {
        if removed.is_empty() {
            return;
        }
        let handled = self.state.lock().store_handled;
        let events: Vec<Event> = removed
            .into_iter()
            .map(|r| {
                let hit = r.record.map_or_else(String::new, |rec| {
                    let offline = self.is_offline(handled, rec.id);
                    self.request_url(&rec.url, rec.id, rec.created_ms, offline)
                });
                Event::dropped(r.id, hit, 0, reason)
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
        removed: Vec<crate::store::Removed>,
        reason: &'static str,
    ) -> u64 {
        let count = removed.len() as u64;
        for r in removed {
            let hit = r.record.map_or_else(String::new, |rec| {
                let offline = self.is_offline(state.store_handled, rec.id);
                self.request_url(&rec.url, rec.id, rec.created_ms, offline)
            });
            self.drop_later(state, r.id, hit, reason);
        }
        self.wake.notify_all();
        count
    }
}

/// Reasons of events beyond the text budget, kept as static strings.
fn erased_reason(reason: &str) -> &'static str {
    const KNOWN: [&str; 6] = [
        "opt-out",
        "expired: older than max_age_seconds",
        QUEUE_FULL,
        "memory queue full (max_memory_hits)",
        "deleted by the app (tracker_offline_delete)",
        "deleted by the app (tracker_offline_delete_older_than)",
    ];
    KNOWN
        .into_iter()
        .find(|k| *k == reason)
        .unwrap_or("dropped (details left out: too many events waiting)")
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One tracker, as the C API's opaque `tracker`.
pub struct Tracker {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl Tracker {
    pub fn create(config_json: &str) -> Result<Tracker> {
        let config = Config::parse(config_json)?;
        let mut resets = 0;
        let (store, opt_out) = match &config.storage_path {
            Some(path) => {
                let dir = StorageDir::open(path)?;
                let opt_out = dir.opted_out();
                let (store, report) = Store::open(dir, now_ms())?;
                store.set_limits(config.max_queue_hits, config.max_queue_bytes);
                if report.moved_aside.is_some() {
                    resets += 1;
                }
                (Some(store), opt_out)
            }
            None => (None, false),
        };
        let offline_floor = store.as_ref().map_or(0, Store::last_id);
        let appended_floor = store.as_ref().map_or(0, Store::appended);
        let state = State {
            mode: config.storage,
            opt_out,
            started: false,
            shutdown: false,
            memory: VecDeque::new(),
            memory_accepted: 0,
            memory_handled: 0,
            store_accepted: offline_floor,
            store_handled: offline_floor,
            store_accepted_seq: appended_floor,
            store_handled_seq: appended_floor,
            dispatch_requested: 0,
            dispatch_done: 0,
            probe_now: false,
            host_offline: false,
            online: true,
            failures: 0,
            next_retry: None,
            paused_until: None,
            pending: VecDeque::new(),
            unsynced_since: None,
            exited: false,
            memory_in_flight: None,
            events_owed: 0,
            events_emitted: 0,
            worker_idle: false,
        };
        let shared = Arc::new(Shared {
            transport: Transport::new(&config.headers, config.request_timeout_seconds),
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
        });
        shared.stats.store_resets.store(resets, Ordering::Relaxed);
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("offtrack-worker".into())
            .spawn(move || worker::run(&worker_shared))
            .map_err(|e| Error::storage(format!("cannot start the worker thread: {e}")))?;
        Ok(Tracker {
            shared,
            worker: Some(worker),
        })
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    fn store(&self) -> Result<&Store> {
        self.shared.store.as_ref().ok_or_else(|| {
            Error::config("this tracker has no storage_path, so it has no offline queue")
        })
    }

    fn start(&self, state: &mut State) {
        state.started = true;
        self.shared.wake.notify_all();
    }

    /// `start` for a new hit: wakes the worker only if it is idle.
    /// Returns whether the worker was idle: the caller must then notify
    /// `wake` (after releasing the state lock).
    fn nudge(&self, state: &mut State) -> bool {
        state.started = true;
        std::mem::take(&mut state.worker_idle)
    }

    pub fn set_storage(&self, mode: StorageMode) -> Result<()> {
        if mode != StorageMode::Never && self.shared.store.is_none() {
            return Err(Error::config(format!(
                "storage mode \"{}\" needs a storage_path in the config; the mode is unchanged",
                mode.name()
            )));
        }
        let mut state = self.shared.state.lock();
        state.mode = mode;
        self.shared.wake.notify_all();
        Ok(())
    }

    pub fn storage(&self) -> StorageMode {
        self.shared.state.lock().mode
    }

    pub fn send(&self, hit: &str) -> Result<()> {
        let _gate = self.shared.send_gate.read();
        let c = &self.shared.config;
        let url = request::normalize_hit(
            hit,
            &c.endpoint,
            &c.timestamp_param,
            &c.id_param,
            c.max_hit_bytes,
        )?;
        let created_ms = now_ms();
        let mut state = self.shared.state.lock();
        if state.shutdown {
            return Err(Error::closed());
        }
        if state.opt_out {
            let id = self.shared.allocate_id()?;
            self.shared.drop_later(&mut state, id, url, "opt-out");
            self.wake_if_idle(state);
            return Ok(());
        }
        match state.mode {
            StorageMode::Never => {
                let id = self.shared.allocate_id()?;
                if state.memory.len() >= c.max_memory_hits
                    && let Some(old) = state.memory.pop_front()
                {
                    let hit = self
                        .shared
                        .request_url(&old.url, old.id, old.created_ms, false);
                    state.memory_handled = state.memory_handled.max(old.seq);
                    self.shared.drop_later(
                        &mut state,
                        old.id,
                        hit,
                        "memory queue full (max_memory_hits)",
                    );
                }
                state.memory_accepted += 1;
                let seq = state.memory_accepted;
                state.memory.push_back(MemoryHit {
                    id,
                    url,
                    created_ms,
                    seq,
                });
            }
            StorageMode::Required | StorageMode::Always => {
                drop(state);
                return self.store_hit(&url, created_ms);
            }
        }
        self.wake_if_idle(state);
        Ok(())
    }

    /// `nudge`, then the wake-up outside the lock.
    fn wake_if_idle(&self, mut state: parking_lot::MutexGuard<'_, State>) {
        let idle = self.nudge(&mut state);
        drop(state);
        if idle {
            self.shared.wake.notify_all();
        }
    }

    /// The stored half of `send`. The append runs outside the state lock,
    /// which the worker takes often: holding it over a journal write would
    /// make the worker wait for it and the send pay to wake the worker.
    fn store_hit(&self, url: &str, created_ms: u64) -> Result<()> {
        let store = self.store()?;
        let appended = store.append(url, created_ms)?;
        let mut state = self.shared.state.lock();
        state.store_accepted = state.store_accepted.max(appended.id);
        state.store_accepted_seq = state.store_accepted_seq.max(appended.seq);
        state.unsynced_since.get_or_insert_with(Instant::now);
        // Over a limit the worker evicts the oldest hits (see
        // `Shared::enforce_queue_limits`); it is woken like for any arrival.
        let idle = self.nudge(&mut state);
        drop(state);
        // Outside the lock, so the woken worker does not wait for it. A
        // full enough intake also ends the worker's gathering: the intake
        // then stays in memory and in the mapped part of its file.
        if idle || appended.move_soon {
            self.shared.wake.notify_all();
        }
        if appended.outrun {
            // Only a runaway writer with a worker starved of CPU gets here
            // (README "Queue limits"): a moment's pause per send, far under
            // a frame, lets the worker drop the oldest hits instead of the
            // intake growing with the flood.
            std::thread::sleep(OUTRUN_PAUSE);
        }
        Ok(())
    }

    pub fn dispatch(&self) -> Result<()> {
        let mut state = self.shared.state.lock();
        if state.shutdown {
            return Err(Error::closed());
        }
        state.dispatch_requested += 1;
        self.start(&mut state);
        Ok(())
    }

    pub fn flush(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock();
        // Ends the worker's gathering of arrivals early.
        self.shared.wake.notify_all();
        let (memory, stored, dispatch, owed) = (
            state.memory_accepted,
            state.store_accepted,
            state.dispatch_requested,
            state.events_owed,
        );
        while state.memory_handled < memory
            || state.store_handled < stored
            || state.dispatch_done < dispatch
            // Before the first send/dispatch/set_online(true) the worker does
            // nothing, so events owed by deletes wait for it; flush does not.
            || (state.started && state.events_emitted < owed)
        {
            if state.exited {
                return Err(Error::closed());
            }
            if self
                .shared
                .progress
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                return Err(Error::new(
                    TRACKER_ERROR_TIMEOUT,
                    format!(
                        "tracker_flush: the worker had not finished earlier work after {} ms",
                        timeout.as_millis()
                    ),
                ));
            }
        }
        state.unsynced_since = None;
        drop(state);
        match &self.shared.store {
            Some(store) => store.sync(),
            None => Ok(()),
        }
    }

    pub fn set_online(&self, online: bool) -> Result<()> {
        let mut state = self.shared.state.lock();
        state.host_offline = !online;
        if online {
            state.probe_now = true;
            self.start(&mut state);
        }
        Ok(())
    }

    pub fn set_opt_out(&self, opt_out: bool) -> Result<()> {
        // No send is between its checks and its append while the queue is purged.
        let _gate = self.shared.send_gate.write();
        let mut state = self.shared.state.lock();
        if state.shutdown {
            return Err(Error::closed());
        }
        if let Some(store) = &self.shared.store {
            store.dir().set_opted_out(opt_out)?;
        }
        state.opt_out = opt_out;
        if opt_out {
            while let Some(hit) = state.memory.pop_front() {
                state.memory_handled = state.memory_handled.max(hit.seq);
                let url = self
                    .shared
                    .request_url(&hit.url, hit.id, hit.created_ms, false);
                self.shared.drop_later(&mut state, hit.id, url, "opt-out");
            }
            if let Some(store) = &self.shared.store {
                let removed = store.remove_all(self.shared.text_budget(&state))?;
                self.shared.drop_removed(&mut state, removed, "opt-out");
            }
            self.shared.progress.notify_all();
        }
        self.shared.wake.notify_all();
        Ok(())
    }

    pub fn offline_count(&self) -> Result<u64> {
        self.shared.enforce_queue_limits()?;
        Ok(self.shared.store.as_ref().map_or(0, Store::count))
    }

    fn record_json(&self, record: &Record, handled: u64) -> serde_json::Value {
        let offline = self.shared.is_offline(handled, record.id);
        json!({
            "id": record.id,
            "hit": self.shared.request_url(&record.url, record.id, record.created_ms, offline),
            "created": record.created_ms,
            "attempts": record.attempts,
        })
    }

    pub fn offline_get(&self, max: u64) -> Result<String> {
        self.shared.enforce_queue_limits()?;
        let Some(store) = &self.shared.store else {
            return Ok("[]".into());
        };
        let records = store.oldest(max)?;
        let handled = self.shared.state.lock().store_handled;
        let list: Vec<_> = records
            .iter()
            .map(|r| self.record_json(r, handled))
            .collect();
        Ok(serde_json::Value::Array(list).to_string())
    }

    pub fn offline_oldest(&self) -> Result<String> {
        self.shared.enforce_queue_limits()?;
        let Some(store) = &self.shared.store else {
            return Ok("null".into());
        };
        let record = store.oldest(1)?.pop();
        let handled = self.shared.state.lock().store_handled;
        Ok(record.map_or_else(
            || "null".into(),
            |r| self.record_json(&r, handled).to_string(),
        ))
    }

    pub fn offline_latest(&self) -> Result<String> {
        self.shared.enforce_queue_limits()?;
        let Some(store) = &self.shared.store else {
            return Ok("null".into());
        };
        let record = store.latest()?;
        let handled = self.shared.state.lock().store_handled;
        Ok(record.map_or_else(
            || "null".into(),
            |r| self.record_json(&r, handled).to_string(),
        ))
    }

    pub fn offline_delete(&self) -> Result<u64> {
        let Some(store) = &self.shared.store else {
            return Ok(0);
        };
        let mut state = self.shared.state.lock();
        if state.shutdown {
            return Err(Error::closed());
        }
        let removed = store.remove_all(self.shared.text_budget(&state))?;
        Ok(self.shared.drop_removed(
            &mut state,
            removed,
            "deleted by the app (tracker_offline_delete)",
        ))
    }

    pub fn offline_delete_older_than(&self, age_seconds: u64) -> Result<u64> {
        let Some(store) = &self.shared.store else {
            return Ok(0);
        };
        let cutoff = now_ms().saturating_sub(age_seconds.saturating_mul(1000));
        let mut state = self.shared.state.lock();
        if state.shutdown {
            return Err(Error::closed());
        }
        let removed = store.remove_older_than(cutoff, self.shared.text_budget(&state))?;
        Ok(self.shared.drop_removed(
            &mut state,
            removed,
            "deleted by the app (tracker_offline_delete_older_than)",
        ))
    }

    pub fn stats_json(&self) -> String {
        // Stats never fail: an eviction that cannot run now shows as queued.
        let _ = self.shared.enforce_queue_limits();
        let s = &self.shared.stats;
        let state = self.shared.state.lock();
        let (queued, queued_bytes) = self
            .shared
            .store
            .as_ref()
            .map_or((0, 0), |st| (st.count(), st.bytes()));
        json!({
            "queued": queued,
            "queued_bytes": queued_bytes,
            "memory_queued": state.memory.len(),
            "sent": s.sent.load(Ordering::Relaxed),
            "stored": s.stored.load(Ordering::Relaxed),
            "dropped": s.dropped.load(Ordering::Relaxed),
            "failed_attempts": s.failed_attempts.load(Ordering::Relaxed),
            "online": state.online && !state.host_offline,
            "storage": state.mode.name(),
            "opt_out": state.opt_out,
            "last_error": s.last_error.lock().clone(),
            "last_success_ms": s.last_success_ms.load(Ordering::Relaxed),
            "worker_restarts": s.worker_restarts.load(Ordering::Relaxed),
            "store_resets": s.store_resets.load(Ordering::Relaxed),
        })
        .to_string()
    }

    pub fn set_event_callback(
        &self,
        callback: crate::events::TrackerEventCallback,
        user_data: *mut std::ffi::c_void,
    ) {
        self.shared.events.set(callback, user_data);
    }
}

impl Drop for Tracker {
    /// Stops accepting hits, lets the worker finish the request in flight
    /// for at most `shutdown_timeout_ms`, then closes the store and releases
    /// its lock. No callback runs after this returns.
    fn drop(&mut self) {
        let deadline =
            Instant::now() + Duration::from_millis(self.shared.config.shutdown_timeout_ms);
        let mut state = self.shared.state.lock();
        state.shutdown = true;
        self.shared.wake.notify_all();
        while !state.exited {
            if self
                .shared
                .progress
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                break;
            }
        }
        let exited = state.exited;
        drop(state);
        if !exited {
            worker::report_unsent(&self.shared);
        }
        // A worker still inside a hanging request must not call back later.
        self.shared.events.set(None, std::ptr::null_mut());
        if let Some(store) = &self.shared.store {
            store.close_by(deadline);
        }
        if let Some(handle) = self.worker.take()
            && exited
        {
            let _ = handle.join();
        }
    }
}
