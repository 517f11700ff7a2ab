//! The queue's size as seen without the store's lock: what is in fjall as
//! of its last change, and the batch a move is carrying into it. `append`
//! reads it under the intake lock and may not wait for the store's lock,
//! which a move holds while fjall flushes. Only accounting lives here.

use std::sync::atomic::{AtomicU64, Ordering};

/// Hits and URL bytes in fjall, and in the batch being moved. Set in this
/// order (moving first, cleared last), a reader may count a batch twice but
/// never misses it.
pub(super) struct Sizes {
    fjall: (AtomicU64, AtomicU64),
    moving: (AtomicU64, AtomicU64),
}

impl Sizes {
    pub(super) fn new(count: u64, bytes: u64) -> Sizes {
        Sizes {
            fjall: (AtomicU64::new(count), AtomicU64::new(bytes)),
            moving: (AtomicU64::new(0), AtomicU64::new(0)),
        }
    }

    /// fjall's hits and bytes after a change.
    pub(super) fn publish(&self, count: u64, bytes: u64) {
        self.fjall.0.store(count, Ordering::SeqCst);
        self.fjall.1.store(bytes, Ordering::SeqCst);
    }

    /// A move takes a batch of `count` hits, `bytes` URL bytes.
    pub(super) fn moving(&self, count: u64, bytes: u64) {
        self.moving.0.store(count, Ordering::SeqCst);
        self.moving.1.store(bytes, Ordering::SeqCst);
    }

    /// The move is over (its hits are published, or back in the intake).
    pub(super) fn moved(&self) {
        self.moving(0, 0);
    }

    /// Hits and bytes in fjall and on their way there.
    pub(super) fn total(&self) -> (u64, u64) {
        (
            self.moving.0.load(Ordering::SeqCst) + self.fjall.0.load(Ordering::SeqCst),
            self.moving.1.load(Ordering::SeqCst) + self.fjall.1.load(Ordering::SeqCst),
        )
    }
}
