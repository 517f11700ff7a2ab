//! Events about hits (SENT, STORED, DROPPED) and the app's callback.
//!
//! The callback runs on the worker thread while the sink's mutex is held, so
//! removing it waits for a running call to return (DESIGN.md §2). The
//! strings handed to C live only for the duration of the call. Nothing here
//! decides *when* an event happens; that is the worker's job.

use parking_lot::Mutex;
use std::ffi::{CString, c_char, c_void};

/// Event kind: the collector accepted the hit.
pub const TRACKER_EVENT_SENT: i32 = 0;
/// Event kind: the hit is kept on disk for later.
pub const TRACKER_EVENT_STORED: i32 = 1;
/// Event kind: the hit is gone without being delivered; `reason` says why.
pub const TRACKER_EVENT_DROPPED: i32 = 2;

/// One event, as the callback sees it. Pointers are valid only during the call.
#[repr(C)]
pub struct TrackerEvent {
    /// `TRACKER_EVENT_SENT`, `TRACKER_EVENT_STORED` or `TRACKER_EVENT_DROPPED`.
    pub kind: i32,
    /// The hit's id, unique per storage directory.
    pub id: u64,
    /// The request URL as last built (with the timestamp parameter if any).
    pub hit: *const c_char,
    /// Last HTTP status, 0 if there was no response.
    pub http_status: i32,
    /// Why the hit was stored or dropped; "" for SENT.
    pub reason: *const c_char,
}

/// Called on the tracker's worker thread for every event.
pub type TrackerEventCallback =
    Option<unsafe extern "C" fn(event: *const TrackerEvent, user_data: *mut c_void)>;

/// An event before it is handed to C.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: i32,
    pub id: u64,
    pub hit: String,
    pub http_status: u16,
    pub reason: String,
}

impl Event {
    pub fn sent(id: u64, hit: String, status: u16) -> Event {
        Event {
            kind: TRACKER_EVENT_SENT,
            id,
            hit,
            http_status: status,
            reason: String::new(),
        }
    }
    pub fn stored(id: u64, hit: String, status: u16, reason: impl Into<String>) -> Event {
        Event {
            kind: TRACKER_EVENT_STORED,
            id,
            hit,
            http_status: status,
            reason: reason.into(),
        }
    }
    pub fn dropped(id: u64, hit: String, status: u16, reason: impl Into<String>) -> Event {
        Event {
            kind: TRACKER_EVENT_DROPPED,
            id,
            hit,
            http_status: status,
            reason: reason.into(),
        }
    }
}

struct Registered {
    callback: unsafe extern "C" fn(*const TrackerEvent, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the app promises, by registering, that its callback may be called
// from the worker thread with this user_data (DESIGN.md §2).
unsafe impl Send for Registered {}

/// Holds the app's callback.
#[derive(Default)]
pub struct EventSink {
    slot: Mutex<Option<Registered>>,
}

impl EventSink {
    /// Replaces the callback; `None` removes it. Returns after any running
    /// call has returned.
    pub fn set(&self, callback: TrackerEventCallback, user_data: *mut c_void) {
        let mut slot = self.slot.lock();
        *slot = callback.map(|callback| Registered {
            callback,
            user_data,
        });
    }

    /// Whether a callback is registered (events need not be built otherwise).
    pub fn has_callback(&self) -> bool {
        self.slot.lock().is_some()
    }

    /// Calls the callback, if any, with `event`.
    pub fn emit(&self, event: &Event) {
        let slot = self.slot.lock();
        let Some(registered) = slot.as_ref() else {
            return;
        };
        let hit = CString::new(event.hit.as_str()).unwrap_or_default();
        let reason = CString::new(event.reason.replace('\0', " ")).unwrap_or_default();
        let raw = TrackerEvent {
            kind: event.kind,
            id: event.id,
            hit: hit.as_ptr(),
            http_status: i32::from(event.http_status),
            reason: reason.as_ptr(),
        };
        // SAFETY: the pointers in `raw` outlive the call; the callback and
        // user_data were registered together by the app.
        unsafe { (registered.callback)(&raw, registered.user_data) };
    }
}
