//! The engine's time: `now` for the worker's deadlines (backoff,
//! Retry-After, probes, expiry checks), `now_ms` for hits' creation times,
//! and waiting on a condition variable until such a deadline.
//!
//! It is the system's clock plus a skew that only tests move (`advance`):
//! the worker's rules about time are then tested by moving time forward
//! instead of sleeping through it. In a shipped build the skew stays 0.
//! Nothing here decides anything.

use parking_lot::{Condvar, MutexGuard};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Default)]
pub struct Clock {
    skew_ms: AtomicU64,
}

impl Clock {
    fn skew(&self) -> Duration {
        Duration::from_millis(self.skew_ms.load(Ordering::Relaxed))
    }

    pub fn now(&self) -> Instant {
        Instant::now() + self.skew()
    }

    /// Milliseconds since the Unix epoch (0 if the system clock is before it).
    pub fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
            .saturating_add(self.skew_ms.load(Ordering::Relaxed))
    }

    /// Waits on `condvar` until woken or until `deadline` (of this clock)
    /// has come; `true` if the deadline came.
    pub fn wait_until<T>(
        &self,
        condvar: &Condvar,
        guard: &mut MutexGuard<'_, T>,
        deadline: Instant,
    ) -> bool {
        let Some(left) = deadline.checked_duration_since(self.now()) else {
            return true;
        };
        condvar.wait_for(guard, left).timed_out()
    }

    /// Moves this clock forward. The caller wakes whoever waits on it.
    #[cfg(test)]
    pub fn advance(&self, by: Duration) {
        self.skew_ms
            .fetch_add(by.as_millis() as u64, Ordering::Relaxed);
    }
}
