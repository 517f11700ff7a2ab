//! The tracker: what the caller's thread does. Validates and appends hits,
//! answers the offline-queue calls against the store, and asks the worker
//! for work. It never does network I/O and never waits for a request.
//!
//! State shared with the worker lives in `engine::Shared`; the delivery
//! logic in `engine::worker`. Lock order: see `engine::state`.

use crate::config::{Config, StorageMode};
use crate::consent::Consent;
use crate::engine::{Shared, State, now_ms, worker};
use crate::error::{Error, Result, TRACKER_ERROR_TIMEOUT};
use crate::events::DropReason;
use crate::net::host::{Completion, HostTransport, Starter};
use crate::net::{Transport, url};
use crate::queue::Store;
use crate::queue::dir::StorageDir;
use crate::queue::record::Record;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a send pauses when a flood has left the worker far behind
/// (`Appended::outrun`).
const OUTRUN_PAUSE: Duration = Duration::from_micros(100);

/// The transport a tracker starts with: minreq, or none in a build
/// without it (feature `http`).
fn builtin_transport(config: &Config) -> Box<dyn Transport> {
    #[cfg(feature = "http")]
    {
        Box::new(crate::net::HttpTransport::new(
            &config.headers,
            config.request_timeout_seconds,
        ))
    }
    #[cfg(not(feature = "http"))]
    {
        let _ = config;
        Box::new(crate::net::NoClient)
    }
}

/// One tracker, as the C API's opaque `tracker`.
pub struct Tracker {
    shared: Arc<Shared>,
    worker: Option<JoinHandle<()>>,
}

impl Tracker {
    pub fn create(config_json: &str) -> Result<Tracker> {
        Self::create_with(config_json, builtin_transport)
    }

    /// `create` with the transport `transport` makes for the config.
    pub(crate) fn create_with(
        config_json: &str,
        transport: impl FnOnce(&Config) -> Box<dyn Transport>,
    ) -> Result<Tracker> {
        let mut config = Config::parse(config_json)?;
        // The store keeps what it derived from the key; the key itself is
        // not kept past opening.
        let key = config.encryption_key.take();
        let mut resets = 0;
        // The player's remembered choice wins over the config's, which only
        // says what to assume before the app has asked.
        let (store, consent) = match &config.storage_path {
            Some(path) => {
                let dir = StorageDir::open(path)?;
                let consent = dir.consent().unwrap_or(config.consent);
                let (store, report) = Store::open(dir, now_ms(), key.as_ref())?;
                store.set_limits(config.max_queue_hits, config.max_queue_bytes);
                if report.moved_aside.is_some() {
                    resets += 1;
                }
                (Some(store), consent)
            }
            None => (None, config.consent),
        };
        let transport = transport(&config);
        let shared = Arc::new(Shared::new(config, store, transport, consent, resets));
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

    /// Sends through the host's `start` from the next request on (DESIGN.md
    /// §9); `None`: through the built-in client again.
    pub fn set_transport(&self, start: Option<Starter>) {
        let host = start.map(|start| {
            let config = &self.shared.config;
            Arc::new(HostTransport::new(
                start,
                Arc::clone(&self.shared.completions),
                &config.headers,
                Duration::from_secs(config.request_timeout_seconds),
            ))
        });
        self.shared.transport.set_host(host);
        // Hits kept for an unreachable collector may get through now.
        let mut state = self.shared.state.lock();
        state.transport_changed();
        self.shared.wake.notify_all();
    }

    /// The host's report for one of its requests.
    pub fn complete_request(&self, id: u64, completion: Completion) -> Result<()> {
        self.shared.completions.complete(id, completion)
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    fn store(&self) -> Result<&Store> {
        self.shared.store.as_ref().ok_or_else(|| {
            Error::config("this tracker has no storage_path, so it has no offline queue")
        })
    }

    pub fn set_storage(&self, mode: StorageMode) -> Result<()> {
        if mode != StorageMode::Never && self.shared.store.is_none() {
            return Err(Error::config(format!(
                "storage mode \"{}\" needs a storage_path in the config; the mode is unchanged",
                mode.name()
            )));
        }
        let mut state = self.shared.state.lock();
        state.set_mode(mode);
        self.shared.wake.notify_all();
        Ok(())
    }

    pub fn storage(&self) -> StorageMode {
        self.shared.state.lock().mode()
    }

    pub fn send(&self, hit: &str) -> Result<()> {
        let _gate = self.shared.send_gate.read();
        let c = &self.shared.config;
        let url = url::normalize_hit(
            hit,
            &c.endpoint,
            &c.timestamp_param,
            &c.id_param,
            c.max_hit_bytes,
        )?;
        let created_ms = self.shared.clock.now_ms();
        let mut state = self.shared.state.lock();
        if state.is_shut_down() {
            return Err(Error::closed());
        }
        if state.refuses_hits() {
            let id = self.shared.allocate_id()?;
            self.shared
                .drop_later(&mut state, id, url, DropReason::ConsentDenied);
            self.wake_if_idle(state);
            return Ok(());
        }
        match state.mode() {
            StorageMode::Never => {
                let id = self.shared.allocate_id()?;
                if let Some(old) = state.push_memory_hit(id, url, created_ms, c.max_memory_hits) {
                    let hit = self
                        .shared
                        .request_url(&old.url, old.id, old.created_ms, false);
                    self.shared
                        .drop_later(&mut state, old.id, hit, DropReason::MemoryQueueFull);
                }
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
        let idle = state.nudge();
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
        state.stored_arrival(appended.id, appended.seq);
        // Over a limit the worker evicts the oldest hits (see
        // `Shared::enforce_queue_limits`); it is woken like for any arrival.
        let idle = state.nudge();
        drop(state);
        // Outside the lock, so the woken worker does not wait for it. A
        // full enough intake also ends the worker's gathering: the intake
        // then stays in memory and in the mapped part of its file.
        if idle || appended.move_soon {
            self.shared.wake.notify_all();
        }
        if appended.outrun {
            // Only a runaway writer with a worker starved of CPU gets here
            // (docs/queue.md "Queue limits"): a moment's pause per send, far under
            // a frame, lets the worker drop the oldest hits instead of the
            // intake growing with the flood.
            std::thread::sleep(OUTRUN_PAUSE);
        }
        Ok(())
    }

    pub fn dispatch(&self) -> Result<()> {
        let mut state = self.shared.state.lock();
        if state.is_shut_down() {
            return Err(Error::closed());
        }
        state.request_dispatch();
        self.shared.wake.notify_all();
        Ok(())
    }

    pub fn flush(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.state.lock();
        // Ends the worker's gathering of arrivals early.
        self.shared.wake.notify_all();
        let target = state.flush_target();
        while !state.reached(&target) {
            if state.worker_exited() {
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
        state.synced();
        drop(state);
        match &self.shared.store {
            Some(store) => store.sync(),
            None => Ok(()),
        }
    }

    pub fn set_online(&self, online: bool) -> Result<()> {
        let mut state = self.shared.state.lock();
        state.set_host_online(online);
        self.shared.wake.notify_all();
        Ok(())
    }

    /// `true` is consent denied, `false` granted (DESIGN.md §10).
    pub fn set_opt_out(&self, opt_out: bool) -> Result<()> {
        self.set_consent(if opt_out {
            Consent::Denied
        } else {
            Consent::Granted
        })
    }

    /// Records the player's choice in the storage directory (if any), then
    /// applies it: denied purges what is queued, granted releases it.
    pub fn set_consent(&self, consent: Consent) -> Result<()> {
        // No send is between its consent check and its append while the
        // choice changes and the queue is purged.
        let _gate = self.shared.send_gate.write();
        if self.shared.state.lock().is_shut_down() {
            return Err(Error::closed());
        }
        // Written before the state lock is taken: the worker never waits
        // for these fsyncs, and the gate orders concurrent choices.
        if let Some(store) = &self.shared.store {
            store.dir().set_consent(consent)?;
        }
        let mut state = self.shared.state.lock();
        state.set_consent(consent);
        if consent == Consent::Denied {
            for hit in state.take_memory_hits() {
                let url = self
                    .shared
                    .request_url(&hit.url, hit.id, hit.created_ms, hit.kept);
                self.shared
                    .drop_later(&mut state, hit.id, url, DropReason::ConsentDenied);
            }
            if let Some(store) = &self.shared.store {
                let removed = store.remove_all(self.shared.text_budget(&state))?;
                self.shared
                    .drop_removed(&mut state, removed, DropReason::ConsentDenied);
            }
            self.shared.progress.notify_all();
        }
        self.shared.wake.notify_all();
        Ok(())
    }

    pub fn consent(&self) -> Consent {
        self.shared.state.lock().consent()
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
        let handled = self.shared.state.lock().store_handled();
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
        let handled = self.shared.state.lock().store_handled();
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
        let handled = self.shared.state.lock().store_handled();
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
        if state.is_shut_down() {
            return Err(Error::closed());
        }
        let removed = store.remove_all(self.shared.text_budget(&state))?;
        Ok(self
            .shared
            .drop_removed(&mut state, removed, DropReason::Deleted))
    }

    pub fn offline_delete_older_than(&self, age_seconds: u64) -> Result<u64> {
        let Some(store) = &self.shared.store else {
            return Ok(0);
        };
        let cutoff = now_ms().saturating_sub(age_seconds.saturating_mul(1000));
        let mut state = self.shared.state.lock();
        if state.is_shut_down() {
            return Err(Error::closed());
        }
        let removed = store.remove_older_than(cutoff, self.shared.text_budget(&state))?;
        Ok(self
            .shared
            .drop_removed(&mut state, removed, DropReason::DeletedOlderThan))
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
            "memory_queued": state.memory_len(),
            "sent": s.sent.load(Ordering::Relaxed),
            "stored": s.stored.load(Ordering::Relaxed),
            "dropped": s.dropped.load(Ordering::Relaxed),
            "failed_attempts": s.failed_attempts.load(Ordering::Relaxed),
            "online": state.looks_online(),
            "storage": state.mode().name(),
            "opt_out": state.refuses_hits(),
            "consent": state.consent().name(),
            "last_error": s.last_error.lock().clone(),
            "last_success_ms": s.last_success_ms.load(Ordering::Relaxed),
            "worker_restarts": s.worker_restarts.load(Ordering::Relaxed),
            "store_resets": s.store_resets.load(Ordering::Relaxed),
            "encrypted": self.shared.store.as_ref().is_some_and(Store::encrypted),
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
        state.shut_down();
        self.shared.wake.notify_all();
        while !state.worker_exited() {
            if self
                .shared
                .progress
                .wait_until(&mut state, deadline)
                .timed_out()
            {
                break;
            }
        }
        let exited = state.worker_exited();
        drop(state);
        // A request still waiting for the host counts as unreachable (its
        // hits stay queued), and the host's callback is not called again.
        self.shared.completions.close();
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
