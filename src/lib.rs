//! Offtrack: analytics hits that survive going offline.
//!
//! A C ABI library (`include/offtrack.h`) with a durable FIFO queue on fjall
//! and one worker thread per tracker doing all network I/O. The contract is
//! DESIGN.md; the modules, one concern each, each depending only on those
//! listed after it:
//! - `ffi`: the `extern "C"` boundary (panics, pointers, last error)
//! - `tracker`: what the caller's thread does
//! - `engine`: state shared with the worker, and the worker's loop
//! - `net`: one HTTP request (`http`) and the URLs it is made of (`url`)
//! - `queue`: the durable queue: facade, storage directory, records, the
//!   intake files and their mapped window
//! - `config`, `consent`, `events`, `error`: settings, the consent states,
//!   callback plumbing, result codes
//! - `os`: what differs per system (permissions, positional writes, thread
//!   priority); nothing else calls the OS directly, but for the intake's
//!   mapped window (`queue::intake::window`)
//!
//! Non-goals: no network I/O on the caller's thread, no threads beyond one
//! worker per tracker (and fjall's one), no global state besides the last
//! error of each calling thread.

// Declared in the order cbindgen lays the header out.
mod config;
mod consent;
mod engine;
mod error;
mod events;
pub mod ffi;
mod net;
mod os;
mod queue;
mod tracker;

pub use config::{Config, StorageMode};
pub use consent::Consent;
pub use error::Error;
pub use tracker::Tracker;

/// Internal parts that this repository's benchmarks, fuzz targets and QA
/// tool (`offtrack-inspect`) reach
/// (feature `internals`, off in every shipped build): not an API, nothing
/// here is promised to stay.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod internals {
    pub use crate::config::EncryptionKey;
    pub use crate::engine::schedule::{Reachability, backoff_delay};
    pub use crate::error::TRACKER_ERROR_CONFIG;
    pub use crate::net::Outcome;
    pub use crate::net::url::{Endpoint, build_url, normalize_hit};
    pub use crate::queue::dir::{FORMAT_VERSION, SEALED_FORMAT_VERSION, StorageDir, consent_in};
    pub use crate::queue::intake::{Pending, parse};
    pub use crate::queue::record::Record;
    pub use crate::queue::seal::{KeyCheck, Sealer};
    pub use crate::queue::{OpenReport, Store};
}
