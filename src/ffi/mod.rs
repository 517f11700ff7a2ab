//! The C ABI: every `extern "C"` function of `include/offtrack.h`.
//!
//! One boundary for all of them: [`boundary`] catches panics, turns errors
//! into result codes and records `tracker_last_error`; pointer and string
//! checks are the helpers below. No tracker logic lives here: each function
//! checks its arguments and calls one method of `Tracker`.

use crate::config::StorageMode;
use crate::consent::Consent;
use crate::error::{
    Error, Result, TRACKER_ERROR_NULL_ARGUMENT, TRACKER_ERROR_PANIC, TRACKER_OK, TrackerResult,
    UNKNOWN_RESULT_NAME,
};
use crate::events::TrackerEventCallback;
use crate::tracker::Tracker;
use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

mod transport;
pub use transport::{
    TrackerRequest, TrackerTransportCallback, tracker_set_transport, tracker_transport_complete,
};

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // `try_with`: during thread teardown the slot may be gone; never panic here.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = text);
}

/// Runs `body`, catching panics; errors become result codes and this
/// thread's last error message.
fn boundary(name: &str, body: impl FnOnce() -> Result<()>) -> i32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => TRACKER_OK.code(),
        Ok(Err(error)) => {
            set_last_error(&format!("{name}: {}", error.message));
            error.code.code()
        }
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            set_last_error(&format!("{name}: internal error (caught panic): {detail}"));
            TRACKER_ERROR_PANIC.code()
        }
    }
}

fn null(what: &str) -> Error {
    Error::new(TRACKER_ERROR_NULL_ARGUMENT, format!("{what} is NULL"))
}

/// # Safety
/// `t` is NULL or a pointer returned by `tracker_create` and not yet destroyed.
unsafe fn tracker_ref<'a>(t: *const Tracker) -> Result<&'a Tracker> {
    // SAFETY: the caller's contract above.
    unsafe { t.as_ref() }.ok_or_else(|| null("tracker"))
}

/// # Safety
/// `s` is NULL or a NUL-terminated string.
unsafe fn utf8<'a>(s: *const c_char, what: &str) -> Result<&'a str> {
    if s.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller's contract.
    unsafe { CStr::from_ptr(s) }
        .to_str()
        .map_err(|e| Error::invalid(format!("{what} is not valid UTF-8 ({e})")))
}

/// # Safety
/// `out` is NULL or valid for one write.
unsafe fn write_out<T>(out: *mut T, value: T, what: &str) -> Result<()> {
    if out.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL and writable per the caller's contract.
    unsafe { out.write(value) };
    Ok(())
}

/// # Safety
/// `out` is NULL or valid for one write.
unsafe fn write_string(out: *mut *mut c_char, text: String) -> Result<()> {
    if out.is_null() {
        return Err(null("out_json"));
    }
    let text = CString::new(text).map_err(|_| Error::storage("stored data contains NUL"))?;
    // SAFETY: non-NULL and writable per the caller's contract.
    unsafe { out.write(text.into_raw()) };
    Ok(())
}

/// The JSON-returning calls: check the tracker and `out_json` (before any
/// work), produce the text, hand it out.
///
/// # Safety
/// `t` is NULL or a live tracker; `out_json` is NULL or writable.
unsafe fn json_out(
    name: &str,
    t: *const Tracker,
    out_json: *mut *mut c_char,
    produce: impl FnOnce(&Tracker) -> Result<String>,
) -> i32 {
    boundary(name, || {
        // SAFETY: caller's contract.
        let tracker = unsafe { tracker_ref(t) }?;
        if out_json.is_null() {
            return Err(null("out_json"));
        }
        let json = produce(tracker)?;
        // SAFETY: caller's contract.
        unsafe { write_string(out_json, json) }
    })
}

/// The library's version, e.g. "0.1.0". The string is static.
#[unsafe(no_mangle)]
pub extern "C" fn tracker_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The name of a result code, e.g. "TRACKER_ERROR_CONFIG";
/// "TRACKER_UNKNOWN_RESULT" for a value that is not one. The string is static.
#[unsafe(no_mangle)]
pub extern "C" fn tracker_result_name(result: i32) -> *const c_char {
    TrackerResult::from_code(result)
        .map_or(UNKNOWN_RESULT_NAME, TrackerResult::name)
        .as_ptr()
}

/// This thread's message for its last failed call, "" if none. Valid until
/// the next failed call on this thread; never NULL.
#[unsafe(no_mangle)]
pub extern "C" fn tracker_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

/// Creates a tracker from a JSON configuration (see the README for keys).
/// On success `*out` is the new tracker; on failure `*out` is NULL and
/// `tracker_last_error` says why. TRACKER_ERROR_CONFIG for a bad config,
/// TRACKER_ERROR_LOCKED when the storage directory is in use,
/// TRACKER_ERROR_STORAGE when it cannot be opened. Does no network I/O.
///
/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_create(config_json: *const c_char, out: *mut *mut Tracker) -> i32 {
    boundary("tracker_create", || {
        if out.is_null() {
            return Err(null("out"));
        }
        // SAFETY: checked non-NULL; clear it first so failures leave NULL.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: caller's contract.
        let json = unsafe { utf8(config_json, "config_json") }?;
        let tracker = Tracker::create(json)?;
        let completions = transport::completions_of(&tracker);
        let tracker = Box::into_raw(Box::new(tracker));
        transport::register(tracker, completions);
        // SAFETY: checked non-NULL above.
        unsafe { out.write(tracker) };
        Ok(())
    })
}

/// Destroys a tracker: stops accepting hits, lets a request in flight finish
/// for at most `shutdown_timeout_ms`, closes the store and releases its lock.
/// Stored hits stay for the next run. No callback runs after it returns.
/// NULL is a no-op. Must not race other calls on the same tracker.
///
/// # Safety
/// `t` is NULL or a tracker from `tracker_create` not yet destroyed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_destroy(t: *mut Tracker) {
    if t.is_null() {
        return;
    }
    boundary("tracker_destroy", || {
        // SAFETY: caller's contract: `t` came from Box::into_raw in tracker_create.
        let tracker = unsafe { Box::from_raw(t) };
        let completions = transport::completions_of(&tracker);
        // Completions still count while it waits for a request in flight.
        drop(tracker);
        transport::unregister(t, &completions);
        Ok(())
    });
}

/// Sets the storage mode: TRACKER_STORAGE_NEVER, _REQUIRED or _ALWAYS.
/// TRACKER_ERROR_INVALID_ARGUMENT for another value; TRACKER_ERROR_CONFIG
/// (mode unchanged) for REQUIRED/ALWAYS on a tracker without storage_path.
///
/// # Safety
/// `t` is NULL or a live tracker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_set_storage(t: *mut Tracker, mode: i32) -> i32 {
    boundary("tracker_set_storage", || {
        // SAFETY: caller's contract.
        let tracker = unsafe { tracker_ref(t) }?;
        tracker.set_storage(StorageMode::from_i32(mode)?)
    })
}

/// Writes the current storage mode to `*out_mode`.
///
/// # Safety
/// `t` is NULL or a live tracker; `out_mode` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_get_storage(t: *const Tracker, out_mode: *mut i32) -> i32 {
    boundary("tracker_get_storage", || {
        // SAFETY: caller's contract.
        let tracker = unsafe { tracker_ref(t) }?;
        // SAFETY: caller's contract.
        unsafe { write_out(out_mode, tracker.storage().as_i32(), "out_mode") }
    })
}

/// Hands a hit to the tracker: a query string (`page=home&x=1`) or a full URL
/// on the endpoint's origin. Validates it and appends it (to disk, before
/// returning, in `required`/`always` mode); never waits for the network.
/// TRACKER_ERROR_INVALID_ARGUMENT for an empty, oversized or foreign-origin
/// hit, CR/LF/NUL, a #fragment, or a hit that already has the timestamp or
/// id parameter; TRACKER_ERROR_STORAGE if the disk write failed.
///
/// # Safety
/// `t` is NULL or a live tracker; `hit` is NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_send(t: *mut Tracker, hit: *const c_char) -> i32 {
    boundary("tracker_send", || {
        // SAFETY: caller's contract.
        let tracker = unsafe { tracker_ref(t) }?;
        // SAFETY: caller's contract.
        let hit = unsafe { utf8(hit, "hit") }?;
        tracker.send(hit)
    })
}

/// Asks the worker to send every stored hit, oldest first; returns at once.
///
/// # Safety
/// `t` is NULL or a live tracker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_dispatch(t: *mut Tracker) -> i32 {
    boundary("tracker_dispatch", || {
        // SAFETY: caller's contract.
        unsafe { tracker_ref(t) }?.dispatch()
    })
}

/// Waits until the worker has finished all work asked for before the call
/// (each earlier hit's first handling, an earlier dispatch in full) and the
/// stored hits are synced to disk. TRACKER_ERROR_TIMEOUT if `timeout_ms`
/// passes first.
/// Never starts a dispatch of its own. Must not be called from an event callback.
///
/// # Safety
/// `t` is NULL or a live tracker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_flush(t: *mut Tracker, timeout_ms: u32) -> i32 {
    boundary("tracker_flush", || {
        // SAFETY: caller's contract.
        unsafe { tracker_ref(t) }?.flush(Duration::from_millis(u64::from(timeout_ms)))
    })
}

/// The host's reachability hint. `true` probes the collector at once;
/// `false` stops all automatic probing until `true` (hits in `required` mode
/// are then stored without an attempt).
///
/// # Safety
/// `t` is NULL or a live tracker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_set_online(t: *mut Tracker, online: bool) -> i32 {
    boundary("tracker_set_online", || {
        // SAFETY: caller's contract.
        unsafe { tracker_ref(t) }?.set_online(online)
    })
}

/// Privacy opt-out, the older name of consent: `true` is
/// `tracker_set_consent(t, TRACKER_CONSENT_DENIED)` (new hits are dropped
/// with reason "consent denied", the queue is purged), `false` is
/// `TRACKER_CONSENT_GRANTED`. Remembered in the storage directory like
/// any consent choice.
///
/// # Safety
/// `t` is NULL or a live tracker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_set_opt_out(t: *mut Tracker, opt_out: bool) -> i32 {
    boundary("tracker_set_opt_out", || {
        // SAFETY: caller's contract.
        unsafe { tracker_ref(t) }?.set_opt_out(opt_out)
    })
}

/// Sets the player's consent: TRACKER_CONSENT_GRANTED, _PENDING or _DENIED
/// (TRACKER_ERROR_INVALID_ARGUMENT for another value, the state unchanged).
/// PENDING: hits are accepted and kept (on disk in `required`/`always`, in
/// the bounded memory queue in `never`) and nothing is sent, not even by
/// `tracker_dispatch`; no connection is opened. GRANTED: what was kept goes
/// out in order, each hit with the time it was made. DENIED: the queue is
/// purged and new hits are dropped (reason "consent denied"), no traffic.
/// With a storage_path the choice is remembered there (TRACKER_ERROR_STORAGE,
/// the state unchanged, if it cannot be written) and wins over the config's
/// `consent` in later runs.
///
/// # Safety
/// `t` is NULL or a live tracker.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_set_consent(t: *mut Tracker, consent: i32) -> i32 {
    boundary("tracker_set_consent", || {
        // SAFETY: caller's contract.
        let tracker = unsafe { tracker_ref(t) }?;
        tracker.set_consent(Consent::from_i32(consent)?)
    })
}

/// Writes the current consent (TRACKER_CONSENT_GRANTED, _PENDING or
/// _DENIED) to `*out_consent`.
///
/// # Safety
/// `t` is NULL or a live tracker; `out_consent` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_get_consent(t: *const Tracker, out_consent: *mut i32) -> i32 {
    boundary("tracker_get_consent", || {
        // SAFETY: caller's contract.
        let tracker = unsafe { tracker_ref(t) }?;
        // SAFETY: caller's contract.
        unsafe { write_out(out_consent, tracker.consent().as_i32(), "out_consent") }
    })
}

/// Number of hits in the offline queue (0 without storage_path).
///
/// # Safety
/// `t` is NULL or a live tracker; `out_count` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_offline_count(t: *const Tracker, out_count: *mut u64) -> i32 {
    boundary("tracker_offline_count", || {
        // SAFETY: caller's contract.
        let count = unsafe { tracker_ref(t) }?.offline_count()?;
        // SAFETY: caller's contract.
        unsafe { write_out(out_count, count, "out_count") }
    })
}

/// Up to `max` stored hits, oldest first, as a JSON array of
/// `{"id", "hit", "created", "attempts"}`. Free with `tracker_string_free`.
///
/// # Safety
/// `t` is NULL or a live tracker; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_offline_get(
    t: *const Tracker,
    max: u64,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: caller's contract, passed on.
    unsafe {
        json_out("tracker_offline_get", t, out_json, |tracker| {
            tracker.offline_get(max)
        })
    }
}

/// The oldest stored hit as a JSON object, or "null". Free with `tracker_string_free`.
///
/// # Safety
/// `t` is NULL or a live tracker; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_offline_oldest(
    t: *const Tracker,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: caller's contract, passed on.
    unsafe {
        json_out("tracker_offline_oldest", t, out_json, |tracker| {
            tracker.offline_oldest()
        })
    }
}

/// The newest stored hit as a JSON object, or "null". Free with `tracker_string_free`.
///
/// # Safety
/// `t` is NULL or a live tracker; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_offline_latest(
    t: *const Tracker,
    out_json: *mut *mut c_char,
) -> i32 {
    // SAFETY: caller's contract, passed on.
    unsafe {
        json_out("tracker_offline_latest", t, out_json, |tracker| {
            tracker.offline_latest()
        })
    }
}

/// Deletes every stored hit; their bytes leave the directory's files.
/// Each gets a DROPPED event. `out_deleted` may be NULL.
///
/// # Safety
/// `t` is NULL or a live tracker; `out_deleted` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_offline_delete(t: *mut Tracker, out_deleted: *mut u64) -> i32 {
    boundary("tracker_offline_delete", || {
        // SAFETY: caller's contract.
        let deleted = unsafe { tracker_ref(t) }?.offline_delete()?;
        if !out_deleted.is_null() {
            // SAFETY: caller's contract.
            unsafe { out_deleted.write(deleted) };
        }
        Ok(())
    })
}

/// Deletes the oldest stored hits created more than `age_seconds` ago.
/// `out_deleted` may be NULL.
///
/// # Safety
/// `t` is NULL or a live tracker; `out_deleted` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_offline_delete_older_than(
    t: *mut Tracker,
    age_seconds: u64,
    out_deleted: *mut u64,
) -> i32 {
    boundary("tracker_offline_delete_older_than", || {
        // SAFETY: caller's contract.
        let deleted = unsafe { tracker_ref(t) }?.offline_delete_older_than(age_seconds)?;
        if !out_deleted.is_null() {
            // SAFETY: caller's contract.
            unsafe { out_deleted.write(deleted) };
        }
        Ok(())
    })
}

/// Counters and state as a JSON object (queued, queued_bytes, sent, stored,
/// dropped, failed_attempts, online, storage, opt_out, consent, last_error,
/// last_success_ms, worker_restarts, store_resets, memory_queued).
/// `consent` is "granted", "pending" or "denied"; `opt_out` is true exactly
/// when it is "denied".
/// Free with `tracker_string_free`.
///
/// # Safety
/// `t` is NULL or a live tracker; `out_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_stats(t: *const Tracker, out_json: *mut *mut c_char) -> i32 {
    // SAFETY: caller's contract, passed on.
    unsafe {
        json_out("tracker_stats", t, out_json, |tracker| {
            Ok(tracker.stats_json())
        })
    }
}

/// Frees a string returned by this library. NULL is a no-op.
///
/// # Safety
/// `s` is NULL or a string from this library not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    boundary("tracker_string_free", || {
        // SAFETY: caller's contract: `s` came from CString::into_raw here.
        drop(unsafe { CString::from_raw(s) });
        Ok(())
    });
}

/// Sets the event callback, called on the worker thread; NULL removes it.
/// Removing returns only after a running callback has returned, so
/// `user_data` may be freed right after. Inside a callback, do not call
/// `tracker_destroy`, `tracker_flush` or `tracker_set_event_callback` on the
/// same tracker.
///
/// # Safety
/// `t` is NULL or a live tracker; `cb` may be called with `user_data` from
/// another thread until it is removed or the tracker destroyed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn tracker_set_event_callback(
    t: *mut Tracker,
    cb: TrackerEventCallback,
    user_data: *mut c_void,
) -> i32 {
    boundary("tracker_set_event_callback", || {
        // SAFETY: caller's contract.
        unsafe { tracker_ref(t) }?.set_event_callback(cb, user_data);
        Ok(())
    })
}
