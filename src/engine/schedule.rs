//! The worker's rules about time and reachability: when an attempt is
//! due, the backoff after a failure (exponential, with jitter), and what an
//! outcome does to reachability, backoff and the collector's pause. No
//! request is made here.

use crate::engine::{Shared, State};
use crate::error::Error;
use crate::net::Outcome;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub struct Local {
    pub rng: u64,
    pub next_expiry: Option<Instant>,
    pub last_pass: Option<Instant>,
    /// After a failed move of the intake into fjall, when to try again (the
    /// hits are safe in the intake files meanwhile).
    pub intake_retry: Option<Instant>,
}

pub fn due(at: Option<Instant>, now: Instant) -> bool {
    at.is_none_or(|t| now >= t)
}

/// Automatic probing is allowed: no host hint against it, no Retry-After
/// pause, and the backoff delay has passed (or the host just said online).
pub fn may_probe(state: &State, now: Instant) -> bool {
    !state.host_offline
        && due(state.paused_until, now)
        && (state.probe_now || due(state.next_retry, now))
}

/// Backoff after the n-th consecutive failure, with jitter in [0.5, 1.0].
pub fn backoff(shared: &Shared, local: &mut Local, failures: u32) -> Duration {
    let c = &shared.config;
    let exp = failures.saturating_sub(1).min(40);
    let delay = c
        .retry_base_ms
        .saturating_mul(1u64 << exp)
        .min(c.retry_max_ms);
    local.rng ^= local.rng << 13;
    local.rng ^= local.rng >> 7;
    local.rng ^= local.rng << 17;
    let factor = 0.5 + (local.rng % 1_000_001) as f64 / 2_000_000.0;
    Duration::from_millis((delay as f64 * factor) as u64)
}

/// Updates reachability and backoff after an attempt.
pub fn note_outcome(shared: &Shared, local: &mut Local, outcome: &Outcome) {
    let mut state = shared.state.lock();
    let now = shared.clock.now();
    state.probe_now = false;
    match outcome {
        Outcome::Delivered { .. } | Outcome::Rejected { .. } => {
            state.online = true;
            state.failures = 0;
            state.next_retry = None;
            if let Outcome::Delivered { .. } = outcome {
                shared
                    .stats
                    .last_success_ms
                    .store(shared.clock.now_ms(), Ordering::Relaxed);
            }
        }
        Outcome::Unreachable { reason, .. } => {
            state.online = false;
            state.failures = state.failures.saturating_add(1);
            let failures = state.failures;
            state.next_retry = Some(now + backoff(shared, local, failures));
            *shared.stats.last_error.lock() = reason.clone();
        }
        Outcome::Retryable {
            status,
            retry_after,
        } => {
            state.online = true;
            state.failures = state.failures.saturating_add(1);
            let failures = state.failures;
            state.next_retry = Some(now + backoff(shared, local, failures));
            if let Some(pause) = retry_after {
                let cap = Duration::from_millis(shared.config.retry_max_ms);
                state.paused_until = Some(now + (*pause).min(cap));
            }
            shared.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
            *shared.stats.last_error.lock() = format!("HTTP {status} from the collector");
        }
    }
    if let Outcome::Rejected { reason, .. } = outcome {
        *shared.stats.last_error.lock() = reason.clone();
    }
}

pub fn note_error(shared: &Shared, error: &Error) {
    *shared.stats.last_error.lock() = error.message.clone();
}
