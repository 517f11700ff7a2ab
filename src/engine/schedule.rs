//! The worker's rules about time and reachability: when an attempt is
//! due, the backoff after a failure (exponential, with jitter), and what an
//! outcome does to reachability, backoff and the collector's pause. No
//! request is made here.

use crate::engine::Shared;
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

/// What the worker knows about reaching the collector: whether the last
/// attempt got through, the host's hint (`tracker_set_online`), the
/// consecutive failures, when to retry and the collector's own pause
/// (Retry-After). Changed only through these methods, under the state lock.
pub struct Reachability {
    online: bool,
    host_offline: bool,
    /// The host just said online: probe at once, whatever the backoff.
    probe_now: bool,
    failures: u32,
    next_retry: Option<Instant>,
    paused_until: Option<Instant>,
}

impl Default for Reachability {
    fn default() -> Self {
        Reachability {
            online: true,
            host_offline: false,
            probe_now: false,
            failures: 0,
            next_retry: None,
            paused_until: None,
        }
    }
}

impl Reachability {
    /// The host's hint; `true` also asks for a probe at once.
    pub fn set_host_online(&mut self, online: bool) {
        self.host_offline = !online;
        if online {
            self.probe_now = true;
        }
    }

    /// Something changed that may let hits through (a new transport,
    /// consent granted): probe at once, unless the host said offline.
    pub fn probe_soon(&mut self) {
        if !self.host_offline {
            self.probe_now = true;
        }
    }

    pub fn host_offline(&self) -> bool {
        self.host_offline
    }

    /// The last attempt reached the collector.
    pub fn online(&self) -> bool {
        self.online
    }

    /// Online as far as the tracker knows, and not told otherwise.
    pub fn looks_online(&self) -> bool {
        self.online && !self.host_offline
    }

    /// The collector's Retry-After pause is still running.
    pub fn paused(&self, now: Instant) -> bool {
        !due(self.paused_until, now)
    }

    /// A hit may go out now without probing: online, not paused, no hint
    /// against it.
    pub fn may_send(&self, now: Instant) -> bool {
        self.online && !self.paused(now) && !self.host_offline
    }

    /// Automatic probing is allowed: no host hint against it, no Retry-After
    /// pause, and the backoff delay has passed (or the host just said online).
    pub fn may_probe(&self, now: Instant) -> bool {
        !self.host_offline && !self.paused(now) && (self.probe_now || due(self.next_retry, now))
    }

    /// The probe the host asked for was made (or a drain ended).
    pub fn probe_taken(&mut self) {
        self.probe_now = false;
    }

    /// When the retry timer can next lead to work: the later of the backoff
    /// and the pause.
    pub fn next_wake(&self) -> Option<Instant> {
        match (self.next_retry, self.paused_until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// What an attempt's outcome does: success resets the backoff; an
    /// unreachable collector counts a failure and goes offline; a status
    /// worth retrying counts a failure and may pause (at most `max_pause`).
    /// `backoff` gives the delay after the n-th consecutive failure.
    pub fn note(
        &mut self,
        outcome: &Outcome,
        now: Instant,
        backoff: impl FnOnce(u32) -> Duration,
        max_pause: Duration,
    ) {
        self.probe_now = false;
        match outcome {
            Outcome::Delivered { .. } | Outcome::Rejected { .. } => {
                self.online = true;
                self.failures = 0;
                self.next_retry = None;
            }
            Outcome::Unreachable { .. } => {
                self.online = false;
                self.failures = self.failures.saturating_add(1);
                self.next_retry = Some(now + backoff(self.failures));
            }
            Outcome::Retryable { retry_after, .. } => {
                self.online = true;
                self.failures = self.failures.saturating_add(1);
                self.next_retry = Some(now + backoff(self.failures));
                if let Some(pause) = retry_after {
                    self.paused_until = Some(now + (*pause).min(max_pause));
                }
            }
        }
    }

    /// A disk error while draining backs off like an unreachable collector,
    /// but the collector was not at fault: it stays online.
    pub fn note_storage_failure(&mut self, now: Instant, backoff: impl FnOnce(u32) -> Duration) {
        self.note(
            &Outcome::Unreachable {
                status: 0,
                reason: String::new(),
            },
            now,
            backoff,
            Duration::ZERO,
        );
        self.online = true;
    }
}

/// Backoff after the n-th consecutive failure, with jitter in [0.5, 1.0].
pub fn backoff(shared: &Shared, local: &mut Local, failures: u32) -> Duration {
    let c = &shared.config;
    backoff_delay(
        c.retry_base_ms,
        c.retry_max_ms,
        failures,
        Some(&mut local.rng),
    )
}

/// `min(max_ms, base_ms · 2^(failures−1))`, times a factor in [0.5, 1.0]
/// drawn from `jitter` (a xorshift state, advanced) when given. A pure
/// function of its inputs so that a simulation of many devices can run the
/// same schedule the worker runs.
pub fn backoff_delay(
    base_ms: u64,
    max_ms: u64,
    failures: u32,
    jitter: Option<&mut u64>,
) -> Duration {
    let exp = failures.saturating_sub(1).min(40);
    let delay = base_ms.saturating_mul(1u64 << exp).min(max_ms);
    let Some(rng) = jitter else {
        return Duration::from_millis(delay);
    };
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    let factor = 0.5 + (*rng % 1_000_001) as f64 / 2_000_000.0;
    Duration::from_millis((delay as f64 * factor) as u64)
}

/// Updates reachability and backoff after an attempt, and the counters
/// and last error `tracker_stats` shows.
pub fn note_outcome(shared: &Shared, local: &mut Local, outcome: &Outcome) {
    let mut state = shared.state.lock();
    let now = shared.clock.now();
    let max_pause = Duration::from_millis(shared.config.retry_max_ms);
    state.reach.note(
        outcome,
        now,
        |failures| backoff(shared, local, failures),
        max_pause,
    );
    match outcome {
        Outcome::Delivered { .. } => shared
            .stats
            .last_success_ms
            .store(shared.clock.now_ms(), Ordering::Relaxed),
        Outcome::Unreachable { reason, .. } | Outcome::Rejected { reason, .. } => {
            *shared.stats.last_error.lock() = reason.clone();
        }
        Outcome::Retryable { status, .. } => {
            shared.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
            *shared.stats.last_error.lock() = format!("HTTP {status} from the collector");
        }
    }
}

pub fn note_error(shared: &Shared, error: &Error) {
    *shared.stats.last_error.lock() = error.message.clone();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Backoff of 10 s times the failure count, so each step is visible.
    fn note(r: &mut Reachability, outcome: Outcome, now: Instant) {
        r.note(&outcome, now, |n| secs(10 * u64::from(n)), secs(300));
    }

    #[test]
    fn outcomes_drive_backoff_probes_and_pauses() {
        let t0 = Instant::now();
        let mut r = Reachability::default();
        assert!(r.may_send(t0) && r.looks_online());

        let unreachable = Outcome::Unreachable {
            status: 0,
            reason: "refused".into(),
        };
        note(&mut r, unreachable.clone(), t0);
        assert!(!r.online() && !r.may_send(t0));
        assert!(!r.may_probe(t0 + secs(9)) && r.may_probe(t0 + secs(10)));
        // A second failure doubles the wait, from the time it happened.
        note(&mut r, unreachable, t0 + secs(10));
        assert_eq!(r.next_wake(), Some(t0 + secs(30)));
        assert!(!r.may_probe(t0 + secs(29)) && r.may_probe(t0 + secs(30)));

        // Retry-After pauses beyond the backoff, capped at max_pause.
        note(
            &mut r,
            Outcome::Retryable {
                status: 503,
                retry_after: Some(secs(500)),
            },
            t0 + secs(30),
        );
        assert!(r.online() && r.paused(t0 + secs(329)) && !r.paused(t0 + secs(330)));
        assert_eq!(r.next_wake(), Some(t0 + secs(330)));
        assert!(!r.may_probe(t0 + secs(329)) && r.may_probe(t0 + secs(330)));

        // The host's hint wins over a due retry; its return probes at once.
        r.set_host_online(false);
        assert!(!r.may_probe(t0 + secs(1000)) && !r.looks_online());
        r.set_host_online(true);
        assert!(r.may_probe(t0 + secs(330)));
        r.probe_taken();

        // Success resets the backoff.
        note(&mut r, Outcome::Delivered { status: 200 }, t0 + secs(400));
        assert!(r.may_send(t0 + secs(400)));
        note(
            &mut r,
            Outcome::Retryable {
                status: 500,
                retry_after: None,
            },
            t0 + secs(400),
        );
        assert_eq!(r.next_wake(), Some(t0 + secs(410)), "first failure again");
    }

    #[test]
    fn probe_soon_skips_the_backoff_but_not_the_hosts_hint() {
        let t0 = Instant::now();
        let mut r = Reachability::default();
        let unreachable = Outcome::Unreachable {
            status: 0,
            reason: "refused".into(),
        };
        note(&mut r, unreachable, t0);
        assert!(!r.may_probe(t0));
        r.probe_soon();
        assert!(r.may_probe(t0));
        r.probe_taken();
        r.set_host_online(false);
        r.probe_soon();
        assert!(!r.may_probe(t0 + secs(1000)));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitter_stays_in_its_band() {
        let plain: Vec<u64> = (1..=6)
            .map(|n| backoff_delay(1000, 20_000, n, None).as_millis() as u64)
            .collect();
        assert_eq!(plain, [1000, 2000, 4000, 8000, 16000, 20000]);
        assert_eq!(backoff_delay(1000, 300_000, u32::MAX, None), secs(300));
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        for n in 1..=12 {
            let full = backoff_delay(1000, 300_000, n, None);
            let jittered = backoff_delay(1000, 300_000, n, Some(&mut rng));
            assert!(
                jittered <= full && jittered >= full / 2,
                "{n}: {jittered:?}"
            );
        }
    }

    #[test]
    fn a_storage_failure_backs_off_but_stays_online() {
        let t0 = Instant::now();
        let mut r = Reachability::default();
        r.note_storage_failure(t0, |_| secs(5));
        assert!(r.online() && r.looks_online());
        assert!(!r.may_probe(t0 + secs(4)) && r.may_probe(t0 + secs(5)));
    }
}
