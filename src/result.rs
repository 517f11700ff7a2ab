//! Result codes shared by every C function, and the crate's error type.
//!
//! Every fallible operation inside the crate returns [`Error`], which carries
//! one of the public codes and a message for `tracker_last_error`. Nothing in
//! here touches the C boundary itself; that lives in `ffi`.

use std::fmt;

/// The call succeeded.
pub const TRACKER_OK: i32 = 0;
/// A required pointer argument was NULL.
pub const TRACKER_ERROR_NULL_ARGUMENT: i32 = 1;
/// Bad enum value, empty/oversized hit, CR/LF/NUL in a hit, bad UTF-8, foreign origin.
pub const TRACKER_ERROR_INVALID_ARGUMENT: i32 = 2;
/// Config JSON malformed, unknown key, bad value or missing key.
pub const TRACKER_ERROR_CONFIG: i32 = 3;
/// Disk I/O error or unreadable store.
pub const TRACKER_ERROR_STORAGE: i32 = 4;
/// The storage directory is already used by another open tracker or process.
pub const TRACKER_ERROR_LOCKED: i32 = 5;
/// `tracker_flush` reached its deadline first.
pub const TRACKER_ERROR_TIMEOUT: i32 = 6;
/// The tracker is shutting down.
pub const TRACKER_ERROR_CLOSED: i32 = 7;
/// An internal bug was caught at the boundary.
pub const TRACKER_ERROR_PANIC: i32 = 8;

/// The name of a result code, e.g. `"TRACKER_ERROR_CONFIG"`.
pub fn result_name(code: i32) -> &'static str {
    match code {
        TRACKER_OK => "TRACKER_OK",
        TRACKER_ERROR_NULL_ARGUMENT => "TRACKER_ERROR_NULL_ARGUMENT",
        TRACKER_ERROR_INVALID_ARGUMENT => "TRACKER_ERROR_INVALID_ARGUMENT",
        TRACKER_ERROR_CONFIG => "TRACKER_ERROR_CONFIG",
        TRACKER_ERROR_STORAGE => "TRACKER_ERROR_STORAGE",
        TRACKER_ERROR_LOCKED => "TRACKER_ERROR_LOCKED",
        TRACKER_ERROR_TIMEOUT => "TRACKER_ERROR_TIMEOUT",
        TRACKER_ERROR_CLOSED => "TRACKER_ERROR_CLOSED",
        TRACKER_ERROR_PANIC => "TRACKER_ERROR_PANIC",
        _ => "TRACKER_UNKNOWN_RESULT",
    }
}

/// A failed operation: a public result code plus a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: i32,
    pub message: String,
}

impl Error {
    pub fn new(code: i32, message: impl Into<String>) -> Self {
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
        write!(f, "{}: {}", result_name(self.code), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Shortens user data (hits) before it goes into a message, so a full hit is
/// never copied into logs or error strings.
pub fn truncate_for_message(text: &str) -> String {
    const LIMIT: usize = 64;
    if text.len() <= LIMIT {
        return text.to_owned();
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}
