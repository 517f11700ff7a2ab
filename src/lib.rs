//! Offtrack: analytics hits that survive going offline.
//!
//! A C ABI library (`include/offtrack.h`) with a durable FIFO queue on fjall
//! and one worker thread per tracker doing all network I/O. The contract is
//! DESIGN.md; the modules, one concern each:
//! - `ffi`: the `extern "C"` boundary (panics, pointers, last error)
//! - `tracker`: what the caller's thread does; state shared with the worker
//! - `worker`: delivery, retries, events, queue maintenance
//! - `config`, `request`, `transport`: settings, URLs, one HTTP request
//! - `store`, `record`, `storage_dir`: the durable queue and its directory
//! - `events`, `result`: callback plumbing and result codes
//! - `os`: what differs per system (permissions, positional writes, the
//!   mapped intake window, thread priority); nothing else calls the OS directly

pub mod config;
pub mod events;
pub mod ffi;
#[doc(hidden)]
pub mod intake;
mod os;
pub mod record;
pub mod request;
pub mod result;
pub mod storage_dir;
pub mod store;
pub mod tracker;
pub mod transport;
mod worker;

pub use config::{Config, StorageMode};
pub use tracker::Tracker;
