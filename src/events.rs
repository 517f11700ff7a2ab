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
/// Event kind: the hit is kept for later: on disk, or in memory in `never`
/// mode while consent is pending; `reason` says until when.
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

/// Why a hit was dropped: every `reason` text of DROPPED events, in one
/// place. Rendered by `Display`; the texts are part of the documented
/// behaviour (README, DESIGN §4), so they change only with those.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// Sent while consent is denied (or opted out), or queued when it was
    /// denied: `tracker_set_opt_out(true)` is the same choice.
    ConsentDenied,
    /// Older than `max_age_seconds`.
    Expired,
    /// Evicted for `max_queue_hits` / `max_queue_bytes`.
    QueueFull,
    /// Evicted from never mode's memory queue (`max_memory_hits`).
    MemoryQueueFull,
    /// Removed by `tracker_offline_delete`.
    Deleted,
    /// Removed by `tracker_offline_delete_older_than`.
    DeletedOlderThan,
    /// Never mode: the tracker was destroyed while its request was out.
    DestroyedInFlight,
    /// Never mode: the tracker was destroyed before the hit's attempt.
    DestroyedBeforeSent,
    /// A stored record that cannot be decoded.
    UnreadableRecord,
    /// Beyond the event text budget, for a reason that is not kept.
    DetailsLeftOut,
    /// Never mode: the one attempt was not allowed; says why.
    NeverModeNotAllowed(NotAllowed),
    /// Never mode: the collector could not be reached, or rejected the hit.
    NeverModeFailed(String),
    /// Never mode: a status worth retrying, but never mode does not retry.
    NeverModeNoRetry(u16),
    /// Rejected by the collector (4xx): the outcome's own words.
    Rejected(String),
    /// The collector kept failing until `max_attempts`.
    MaxAttempts { status: u16, attempts: u32 },
}

/// Why never mode's one attempt was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAllowed {
    /// `tracker_set_online(false)`.
    HostOffline,
    /// The collector's Retry-After pause.
    Paused,
    /// The collector is unreachable and the retry is not due yet.
    WaitingToRetry,
}

impl DropReason {
    /// The reason kept for an event beyond the text budget, which keeps
    /// only ids: the reason itself if it carries no details, else
    /// `DetailsLeftOut`.
    pub fn without_details(&self) -> DropReason {
        use DropReason::*;
        match self {
            ConsentDenied | Expired | QueueFull | MemoryQueueFull | Deleted | DeletedOlderThan => {
                self.clone()
            }
            _ => DetailsLeftOut,
        }
    }
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use DropReason::*;
        const NEVER_KEEPS: &str = "storage mode never keeps no hits";
        match self {
            ConsentDenied => f.write_str("consent denied"),
            Expired => f.write_str("expired: older than max_age_seconds"),
            QueueFull => f.write_str("queue full (max_queue_hits / max_queue_bytes)"),
            MemoryQueueFull => f.write_str("memory queue full (max_memory_hits)"),
            Deleted => f.write_str("deleted by the app (tracker_offline_delete)"),
            DeletedOlderThan => {
                f.write_str("deleted by the app (tracker_offline_delete_older_than)")
            }
            DestroyedInFlight => f.write_str(
                "tracker destroyed while the request was in flight (outcome unknown, storage mode never)",
            ),
            DestroyedBeforeSent => {
                f.write_str("tracker destroyed before the hit could be sent (storage mode never)")
            }
            UnreadableRecord => f.write_str("unreadable stored record"),
            DetailsLeftOut => f.write_str("dropped (details left out: too many events waiting)"),
            NeverModeNotAllowed(NotAllowed::HostOffline) => {
                write!(f, "offline (tracker_set_online(false)); {NEVER_KEEPS}")
            }
            NeverModeNotAllowed(NotAllowed::Paused) => {
                write!(f, "collector asked to pause (Retry-After); {NEVER_KEEPS}")
            }
            NeverModeNotAllowed(NotAllowed::WaitingToRetry) => write!(
                f,
                "offline: collector unreachable, waiting to retry; {NEVER_KEEPS}"
            ),
            NeverModeFailed(reason) => write!(f, "{reason} (storage mode never)"),
            NeverModeNoRetry(status) => {
                write!(f, "HTTP {status} (storage mode never: no retry)")
            }
            Rejected(reason) => f.write_str(reason),
            MaxAttempts { status, attempts } => {
                write!(f, "HTTP {status} after {attempts} attempts (max_attempts)")
            }
        }
    }
}

/// An event before it is handed to C.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: i32,
    pub id: u64,
    pub hit: String,
    pub http_status: u16,
    pub reason: String,
    /// For a DROPPED event, its reason as a value (`reason` is its text).
    pub drop_reason: Option<DropReason>,
}

impl Event {
    pub fn sent(id: u64, hit: String, status: u16) -> Event {
        Event {
            kind: TRACKER_EVENT_SENT,
            id,
            hit,
            http_status: status,
            reason: String::new(),
            drop_reason: None,
        }
    }
    pub fn stored(id: u64, hit: String, status: u16, reason: impl Into<String>) -> Event {
        Event {
            kind: TRACKER_EVENT_STORED,
            id,
            hit,
            http_status: status,
            reason: reason.into(),
            drop_reason: None,
        }
    }
    pub fn dropped(id: u64, hit: String, status: u16, reason: DropReason) -> Event {
        Event {
            kind: TRACKER_EVENT_DROPPED,
            id,
            hit,
            http_status: status,
            reason: reason.to_string(),
            drop_reason: Some(reason),
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
    /// Unit tests' view of every event emitted.
    #[cfg(test)]
    recorded: Mutex<Option<std::sync::Arc<Mutex<Vec<Event>>>>>,
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
        #[cfg(test)]
        if self.recorded.lock().is_some() {
            return true;
        }
        self.slot.lock().is_some()
    }

    /// Records every event emitted from now on (unit tests).
    #[cfg(test)]
    pub fn record(&self) -> std::sync::Arc<Mutex<Vec<Event>>> {
        let events = std::sync::Arc::new(Mutex::new(Vec::new()));
        *self.recorded.lock() = Some(events.clone());
        events
    }

    /// Calls the callback, if any, with `event`.
    pub fn emit(&self, event: &Event) {
        #[cfg(test)]
        if let Some(events) = self.recorded.lock().as_ref() {
            events.lock().push(event.clone());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts are documented behaviour: a change here is a change of
    /// the API's output.
    #[test]
    fn drop_reasons_render_their_documented_texts() {
        use DropReason::*;
        let cases = [
            (ConsentDenied, "consent denied"),
            (Expired, "expired: older than max_age_seconds"),
            (QueueFull, "queue full (max_queue_hits / max_queue_bytes)"),
            (MemoryQueueFull, "memory queue full (max_memory_hits)"),
            (Deleted, "deleted by the app (tracker_offline_delete)"),
            (
                DeletedOlderThan,
                "deleted by the app (tracker_offline_delete_older_than)",
            ),
            (
                DestroyedInFlight,
                "tracker destroyed while the request was in flight (outcome unknown, storage mode never)",
            ),
            (
                DestroyedBeforeSent,
                "tracker destroyed before the hit could be sent (storage mode never)",
            ),
            (UnreadableRecord, "unreadable stored record"),
            (
                DetailsLeftOut,
                "dropped (details left out: too many events waiting)",
            ),
            (
                NeverModeNotAllowed(NotAllowed::HostOffline),
                "offline (tracker_set_online(false)); storage mode never keeps no hits",
            ),
            (
                NeverModeNotAllowed(NotAllowed::Paused),
                "collector asked to pause (Retry-After); storage mode never keeps no hits",
            ),
            (
                NeverModeNotAllowed(NotAllowed::WaitingToRetry),
                "offline: collector unreachable, waiting to retry; storage mode never keeps no hits",
            ),
            (
                NeverModeFailed("HTTP 404".into()),
                "HTTP 404 (storage mode never)",
            ),
            (
                NeverModeNoRetry(503),
                "HTTP 503 (storage mode never: no retry)",
            ),
            (Rejected("HTTP 400 rejected".into()), "HTTP 400 rejected"),
            (
                MaxAttempts {
                    status: 500,
                    attempts: 3,
                },
                "HTTP 500 after 3 attempts (max_attempts)",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
            // Only reasons without details of their own survive the
            // text budget; the others become DetailsLeftOut.
            let survives = matches!(
                reason,
                ConsentDenied | Expired | QueueFull | MemoryQueueFull | Deleted | DeletedOlderThan
            );
            let expected = if survives {
                reason.clone()
            } else {
                DetailsLeftOut
            };
            assert_eq!(reason.without_details(), expected, "{reason}");
        }
    }
}
