//! Result codes shared by every C function, and the crate's error type.
//!
//! Every fallible operation inside the crate returns [`Error`], which carries
//! one of the public codes and a message for `tracker_last_error`. Nothing in
//! here touches the C boundary itself; that lives in `ffi`.

use std::ffi::CStr;
use std::fmt;

/// The result of every function of the C API that can fail, returned as
/// `int32_t` (the values are fixed by DESIGN.md).
#[repr(i32)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackerResult {
    /// The call succeeded.
    TRACKER_OK = 0,
    /// A required pointer argument was NULL.
    TRACKER_ERROR_NULL_ARGUMENT = 1,
    /// Bad enum value, empty/oversized hit, CR/LF/NUL in a hit, bad UTF-8, foreign origin.
    TRACKER_ERROR_INVALID_ARGUMENT = 2,
    /// Config JSON malformed, unknown key, bad value or missing key.
    TRACKER_ERROR_CONFIG = 3,
    /// Disk I/O error or unreadable store.
    TRACKER_ERROR_STORAGE = 4,
    /// The storage directory is already used by another open tracker or process.
    TRACKER_ERROR_LOCKED = 5,
    /// `tracker_flush` reached its deadline first.
    TRACKER_ERROR_TIMEOUT = 6,
    /// The tracker is shutting down.
    TRACKER_ERROR_CLOSED = 7,
    /// An internal bug was caught at the boundary.
    TRACKER_ERROR_PANIC = 8,
}

pub use TrackerResult::*;

impl TrackerResult {
    /// The code as the C API returns it.
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The result with this code, if it is one.
    pub fn from_code(code: i32) -> Option<TrackerResult> {
        [
            TRACKER_OK,
            TRACKER_ERROR_NULL_ARGUMENT,
            TRACKER_ERROR_INVALID_ARGUMENT,
            TRACKER_ERROR_CONFIG,
            TRACKER_ERROR_STORAGE,
            TRACKER_ERROR_LOCKED,
            TRACKER_ERROR_TIMEOUT,
            TRACKER_ERROR_CLOSED,
            TRACKER_ERROR_PANIC,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }

    /// The result's name, e.g. `TRACKER_ERROR_CONFIG`: the one name table,
    /// for messages and `tracker_result_name`.
    pub fn name(self) -> &'static CStr {
        match self {
            TRACKER_OK => c"TRACKER_OK",
            TRACKER_ERROR_NULL_ARGUMENT => c"TRACKER_ERROR_NULL_ARGUMENT",
            TRACKER_ERROR_INVALID_ARGUMENT => c"TRACKER_ERROR_INVALID_ARGUMENT",
            TRACKER_ERROR_CONFIG => c"TRACKER_ERROR_CONFIG",
            TRACKER_ERROR_STORAGE => c"TRACKER_ERROR_STORAGE",
            TRACKER_ERROR_LOCKED => c"TRACKER_ERROR_LOCKED",
            TRACKER_ERROR_TIMEOUT => c"TRACKER_ERROR_TIMEOUT",
            TRACKER_ERROR_CLOSED => c"TRACKER_ERROR_CLOSED",
            TRACKER_ERROR_PANIC => c"TRACKER_ERROR_PANIC",
        }
    }
}

/// The name `tracker_result_name` gives a value that is no result.
pub const UNKNOWN_RESULT_NAME: &CStr = c"TRACKER_UNKNOWN_RESULT";

/// A failed operation: a public result code plus a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: TrackerResult,
    pub message: String,
}

impl Error {
    pub fn new(code: TrackerResult, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(TRACKER_ERROR_INVALID_ARGUMENT, message)
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(TRACKER_ERROR_CONFIG, message)
    }
    pub fn storage(message: impl Into<String>) -> Self {
        Self::new(TRACKER_ERROR_STORAGE, message)
    }
    pub fn closed() -> Self {
        Self::new(TRACKER_ERROR_CLOSED, "the tracker is shutting down")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            self.code.name().to_string_lossy(),
            self.message
        )
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shortens user data (hits) before it goes into a message, so a full hit is
/// never copied into logs or error strings.
pub fn truncate_for_message(text: &str) -> String {
    truncate_to(text, 64)
}

/// `text` cut to at most `limit` bytes (at a character boundary), saying
/// how long it was.
pub fn truncate_to(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}
