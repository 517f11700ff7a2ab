//! The C side of the host's transport (DESIGN.md §9): the request struct
//! handed to the host's callback, `tracker_set_transport`,
//! `tracker_transport_complete`, and the registry of live trackers that
//! lets a completion find its tracker without touching the tracker's
//! memory (so one arriving after `tracker_destroy` is refused, not a
//! use-after-free). The waiting and the outcome rules live in `net::host`.

use super::{boundary, null, tracker_ref};
use crate::error::Error;
use crate::net::host::{Completion, Completions, HostRequest, Starter};
use crate::tracker::Tracker;
use parking_lot::Mutex;
use std::ffi::{CStr, CString, c_char, c_void};
use std::sync::Arc;

/// One request for the host's transport. Every pointer is valid only
/// during the callback: copy what the request needs.
#[repr(C)]
pub struct TrackerRequest {
    /// Unique in the process; give it back to `tracker_transport_complete`.
    pub request_id: u64,
    /// "GET" or "POST".
    pub method: *const c_char,
    pub url: *const c_char,
    /// NULL for GET.
    pub content_type: *const c_char,
    /// NULL for GET.
    pub body: *const u8,
    pub body_len: usize,
    /// Header name, value, name, value, …, NULL: the configured headers
    /// and User-Agent. Content-Type and Content-Length are the host's to set.
    pub headers: *const *const c_char,
    /// How long the tracker waits for the completion
    /// (`request_timeout_seconds`); give the request the same timeout.
    pub timeout_ms: u32,
}

/// Starts a request on the host's side (see `tracker_set_transport`).
pub type TrackerTransportCallback =
    Option<unsafe extern "C" fn(request: *const TrackerRequest, user_data: *mut c_void)>;

/// Trackers alive, by address, with where their completions go.
static LIVE: Mutex<Vec<(usize, Arc<Completions>)>> = Mutex::new(Vec::new());

pub(super) fn register(tracker: *const Tracker, completions: Arc<Completions>) {
    LIVE.lock().push((tracker as usize, completions));
}

/// After the tracker's memory is freed: a completion for it is refused.
pub(super) fn unregister(tracker: *const Tracker, completions: &Arc<Completions>) {
    LIVE.lock()
        .retain(|(at, c)| !(*at == tracker as usize && Arc::ptr_eq(c, completions)));
}

fn live(tracker: *const Tracker) -> Option<Arc<Completions>> {
    let live = LIVE.lock();
    let found = live.iter().rev().find(|(at, _)| *at == tracker as usize);
    found.map(|(_, completions)| Arc::clone(completions))
}

/// The host's callback and its `user_data`, called from the worker thread.
struct HostCallback {
    callback: unsafe extern "C" fn(*const TrackerRequest, *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: `tracker_set_transport`'s contract: the host allows the callback
// and `user_data` to be used from the worker thread.
unsafe impl Send for HostCallback {}
// SAFETY: as above; the worker is the only caller.
unsafe impl Sync for HostCallback {}

fn c_text(text: &str) -> CString {
    CString::new(text.replace('\0', " ")).unwrap_or_default()
}

impl HostCallback {
    fn start(&self, request: &HostRequest) {
        let r = request.request;
        let method = c_text(r.method.name());
        let url = c_text(r.url);
        let content_type = r.content_type.map(c_text);
        let header_texts: Vec<CString> = request
            .headers
            .iter()
            .flat_map(|(name, value)| [c_text(name), c_text(value)])
            .collect();
        let mut headers: Vec<*const c_char> = header_texts.iter().map(|h| h.as_ptr()).collect();
        headers.push(std::ptr::null());
        let c_request = TrackerRequest {
            request_id: request.id,
            method: method.as_ptr(),
            url: url.as_ptr(),
            content_type: content_type
                .as_ref()
                .map_or(std::ptr::null(), |c| c.as_ptr()),
            body: if r.body.is_empty() {
                std::ptr::null()
            } else {
                r.body.as_ptr()
            },
            body_len: r.body.len(),
            headers: headers.as_ptr(),
            timeout_ms: u32::try_from(request.timeout.as_millis()).unwrap_or(u32::MAX),
        };
        // SAFETY: the host's contract for the callback; every pointer in
        // the request outlives the call.
        unsafe { (self.callback)(&c_request, self.user_data) };
    }
}

/// Sends requests through the host instead of the built-in HTTP client
/// (DESIGN.md §9); `cb` NULL goes back to the built-in client (in a build
/// without it, hits stay queued until a transport is set). `cb` runs on the
/// worker thread for each request and must only start it and return: it
/// may not block, nor call `tracker_destroy` or `tracker_set_transport`.
/// The host reports each request's result with `tracker_transport_complete`,
/// from any thread (also from inside `cb`). A request in flight when the
/// transport changes completes through the transport that started it.
/// When this returns, the previous callback is not running and is not
/// called again. Returns TRACKER_OK, or TRACKER_ERROR_NULL_ARGUMENT.
///
/// # Safety
/// `t` is NULL or a live tracker; `cb` may be called with `user_data` from
/// the worker thread until it is replaced or the tracker destroyed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_set_transport(
    t: *mut Tracker,
    cb: TrackerTransportCallback,
    user_data: *mut c_void,
) -> i32 {
    boundary("tracker_set_transport", || {
        // SAFETY: caller's contract.
        let tracker = unsafe { tracker_ref(t) }?;
        let start = cb.map(|callback| {
            let host = HostCallback {
                callback,
                user_data,
            };
            Box::new(move |request: &HostRequest| host.start(request)) as Starter
        });
        tracker.set_transport(start);
        Ok(())
    })
}

/// Reports what came of a request of the host's transport: `http_status`
/// as received (a 3xx as it came, never followed) with `retry_after` the
/// Retry-After header's text or NULL; or `http_status` 0 and `error` a text
/// saying why no answer came (NULL allowed). The outcome rules are those of
/// the built-in client. TRACKER_ERROR_INVALID_ARGUMENT, changing nothing,
/// for a status other than 0 or 100-599, an id this tracker is not waiting
/// for (unknown, already completed, or past its timeout: the tracker then
/// counted it unreachable), or a tracker that is not alive; NULL tracker:
/// TRACKER_ERROR_NULL_ARGUMENT. Must not be called after `tracker_destroy`
/// returned (such a call is refused when detected, but the pointer may
/// have been reused).
///
/// # Safety
/// `t` is NULL or a tracker pointer; `retry_after` and `error` are NULL
/// or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_transport_complete(
    t: *mut Tracker,
    request_id: u64,
    http_status: i32,
    retry_after: *const c_char,
    error: *const c_char,
) -> i32 {
    boundary("tracker_transport_complete", || {
        if t.is_null() {
            return Err(null("tracker"));
        }
        let status = match http_status {
            0 | 100..=599 => http_status as u16,
            other => {
                return Err(Error::invalid(format!(
                    "http_status {other} is neither 0 (no answer) nor an HTTP status 100-599"
                )));
            }
        };
        // SAFETY: caller's contract.
        let retry_after = unsafe { optional_text(retry_after) };
        // SAFETY: caller's contract.
        let error = unsafe { optional_text(error) };
        let completions = live(t).ok_or_else(|| {
            Error::invalid("tracker is not a live tracker (destroyed, or never created)")
        })?;
        completions.complete(
            request_id,
            Completion {
                status,
                retry_after,
                error,
            },
        )
    })
}

/// # Safety
/// `s` is NULL or a NUL-terminated string.
unsafe fn optional_text(s: *const c_char) -> Option<String> {
    // SAFETY: the caller's contract.
    (!s.is_null()).then(|| unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned())
}

/// The tracker's completions, for `register` at create.
pub(super) fn completions_of(tracker: &Tracker) -> Arc<Completions> {
    Arc::clone(&tracker.shared().completions)
}
