//! Many devices, one collector: 1,000 simulated devices in `required` mode
//! recovering from a collector outage, in simulated time. Each device keeps
//! the library's own [`Reachability`] (when it may send, when it may probe,
//! what an outcome does) and the library's own [`backoff_delay`], with its
//! own jitter state as each worker has; only the network and the drain
//! around them are modelled here: a request takes `request_time`, a drain
//! sends what is queued in requests of up to `batch_max_hits` (1 = one GET
//! per hit) and stops at the first failure, as the worker does. One rule
//! the library does not have can be switched on to show its effect
//! (`Scenario::adaptive`), and is labelled as a proposal wherever shown.

use offtrack::internals::{Outcome, Reachability, backoff_delay};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Scenario {
    pub devices: usize,
    /// Each device makes a hit this often, from a random phase.
    pub cadence: Duration,
    pub outage_from: Duration,
    pub outage_for: Duration,
    pub end: Duration,
    /// How long one request takes (the drain's requests follow each other).
    pub request_time: Duration,
    pub batch_max_hits: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub jitter: bool,
    /// A proposal, not the library's rule: the backoff's base is at least
    /// the time since the device's last delivery when it first failed.
    pub adaptive: bool,
    pub seed: u64,
}

/// What the collector saw, per second of simulated time.
pub struct Seen {
    pub requests: Vec<u32>,
    pub hits: Vec<u32>,
    /// Requests made during the outage (refused).
    pub failed: Vec<u32>,
}

impl Seen {
    /// Mean requests per second over whole seconds `[from, to)`.
    pub fn mean(&self, from: usize, to: usize) -> f64 {
        let s = &self.requests[from..to];
        s.iter().map(|&n| f64::from(n)).sum::<f64>() / s.len() as f64
    }

    /// The busiest second from `from` on: (second, requests).
    pub fn peak(&self, from: usize) -> (usize, u32) {
        self.requests
            .iter()
            .enumerate()
            .skip(from)
            .max_by_key(|(i, n)| (**n, Reverse(*i)))
            .map_or((from, 0), |(i, n)| (i, *n))
    }
}

struct Device {
    reach: Reachability,
    rng: u64,
    queued: u32,
    /// A drain in progress until then (its requests follow each other).
    busy_until: u64,
    last_ok: u64,
    base_ms: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Hit,
    Wake,
}

/// Splitmix64, for phases and each device's jitter seed.
fn mix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub fn simulate(s: &Scenario) -> Seen {
    let us = |d: Duration| d.as_micros() as u64;
    let (cadence, end) = (us(s.cadence), us(s.end));
    let (down_from, down_to) = (us(s.outage_from), us(s.outage_from + s.outage_for));
    let step = us(s.request_time).max(1);
    let seconds = s.end.as_secs() as usize + 1;
    let mut seen = Seen {
        requests: vec![0; seconds],
        hits: vec![0; seconds],
        failed: vec![0; seconds],
    };
    // Reachability works in Instants; simulated time is an offset from one.
    let origin = Instant::now();
    let at = |t: u64| origin + Duration::from_micros(t);
    let max_pause = Duration::from_millis(s.retry_max_ms);

    let mut seed = s.seed;
    let mut devices: Vec<Device> = (0..s.devices)
        .map(|_| Device {
            reach: Reachability::default(),
            rng: mix(&mut seed) | 1,
            queued: 0,
            busy_until: 0,
            last_ok: 0,
            base_ms: s.retry_base_ms,
        })
        .collect();
    let mut events: BinaryHeap<Reverse<(u64, Kind, usize)>> = BinaryHeap::new();
    for d in 0..s.devices {
        events.push(Reverse((mix(&mut seed) % cadence, Kind::Hit, d)));
    }
    while let Some(Reverse((t, kind, d))) = events.pop() {
        if t >= end {
            break;
        }
        let dev = &mut devices[d];
        if kind == Kind::Hit {
            dev.queued += 1;
            events.push(Reverse((t + cadence, Kind::Hit, d)));
        }
        if dev.busy_until > t {
            // The drain under way takes this hit too, as the worker's does.
            events.push(Reverse((dev.busy_until, Kind::Wake, d)));
            continue;
        }
        // The worker's rule in `required` mode: stored hits go when probing
        // is allowed (online, or the backoff delay has passed).
        if dev.queued == 0 || !dev.reach.may_probe(at(t)) {
            continue;
        }
        let mut now = t;
        while dev.queued > 0 {
            let k = dev.queued.min(s.batch_max_hits.max(1));
            let second = (now / 1_000_000) as usize;
            if second < seconds {
                seen.requests[second] += 1;
            }
            let up = !(down_from..down_to).contains(&now);
            now += step;
            let outcome = if up {
                Outcome::Delivered { status: 204 }
            } else {
                Outcome::Unreachable {
                    status: 0,
                    reason: String::from("connection refused"),
                }
            };
            // The proposal fixes its base at the first failure after a
            // delivery; the library's rule keeps retry_base_ms.
            if !up && s.adaptive && dev.reach.online() {
                dev.base_ms = s.retry_base_ms.max((now - dev.last_ok) / 1000);
            }
            if up {
                dev.last_ok = now;
            }
            let base_ms = dev.base_ms;
            let Device { reach, rng, .. } = dev;
            let jitter = s.jitter.then_some(rng);
            reach.note(
                &outcome,
                at(now),
                |failures| backoff_delay(base_ms, s.retry_max_ms, failures, jitter),
                max_pause,
            );
            if up {
                dev.queued -= k;
                if second < seconds {
                    seen.hits[second] += k;
                }
            } else {
                if second < seconds {
                    seen.failed[second] += 1;
                }
                if let Some(wake) = dev.reach.next_wake() {
                    let t = (wake - origin).as_micros() as u64;
                    events.push(Reverse((t, Kind::Wake, d)));
                }
                break;
            }
        }
        dev.busy_until = now;
    }
    seen
}

/// The section's scenario: 1,000 devices, a hit every `cadence_s` each,
/// the collector down from 120 s to 180 s, `retry_max_ms` at its default.
fn scenario(v: &Variant) -> Scenario {
    Scenario {
        devices: 1_000,
        cadence: Duration::from_secs(v.cadence_s),
        outage_from: Duration::from_secs(OUTAGE_FROM),
        outage_for: Duration::from_secs(60),
        end: Duration::from_secs(540),
        // Two round trips of a 100 ms link.
        request_time: Duration::from_millis(200),
        batch_max_hits: v.batch,
        retry_base_ms: v.retry_base_ms,
        retry_max_ms: 300_000,
        jitter: v.jitter,
        adaptive: v.adaptive,
        seed: 14,
    }
}

const OUTAGE_FROM: u64 = 120;

pub const PLOT: &str = "devices-recovery.png";

#[derive(Clone, Copy, PartialEq)]
enum Role {
    /// Judged against the target and drawn.
    Judged,
    /// Drawn beside the judged curves.
    Drawn,
    Listed,
}

struct Variant {
    cadence_s: u64,
    batch: u32,
    jitter: bool,
    retry_base_ms: u64,
    adaptive: bool,
    role: Role,
}

impl Variant {
    fn label(&self) -> String {
        let mut l = format!(
            "a hit every {} s each, {}, {}",
            self.cadence_s,
            if self.batch > 1 {
                "batched"
            } else {
                "one GET per hit"
            },
            if self.jitter {
                "library's jitter"
            } else {
                "no jitter"
            }
        );
        if self.retry_base_ms != 1_000 {
            l.push_str(&format!(", retry_base_ms {}", self.retry_base_ms));
        }
        if self.adaptive {
            l = format!("proposal (modelled): backoff base ≥ time since the last delivery; {l}");
        }
        l
    }
}

/// Section 11: the simulation's table rows (Markdown) and the chart,
/// written to `bench/target/devices-recovery.png`. Deterministic (fixed
/// seeds): every run draws the same chart.
pub fn section() -> String {
    crate::section(
        "11. many devices, one collector: 1,000 simulated devices (required mode, the library's \
         Reachability and backoff), collector down 60 s",
    );
    let mut md = String::from(
        "| # | 1,000 devices, collector down 60 s | steady requests/s | peak requests/s, all (second) | peak ÷ steady | answered after the outage: peak (÷ steady) | refused | target | met |\n\
         |---|---|---:|---:|---:|---:|---:|---|---|\n",
    );
    let v = |cadence_s, batch, jitter, retry_base_ms, adaptive, role| Variant {
        cadence_s,
        batch,
        jitter,
        retry_base_ms,
        adaptive,
        role,
    };
    use Role::*;
    let variants = [
        v(10, 1_000, true, 1_000, false, Judged),
        v(10, 1_000, false, 1_000, false, Judged),
        v(10, 1, true, 1_000, false, Listed),
        v(10, 1, false, 1_000, false, Listed),
        v(1, 1_000, true, 1_000, false, Listed),
        v(60, 1_000, true, 1_000, false, Listed),
        v(60, 1_000, false, 1_000, false, Listed),
        v(10, 1_000, true, 5_000, false, Listed),
        v(10, 1_000, true, 10_000, false, Listed),
        v(60, 1_000, true, 10_000, false, Listed),
        v(10, 1_000, true, 1_000, true, Drawn),
        v(10, 1_000, false, 1_000, true, Listed),
        v(60, 1_000, true, 1_000, true, Listed),
        v(1, 1_000, true, 1_000, true, Listed),
    ];
    let mut curves = Vec::new();
    for x in &variants {
        let s = scenario(x);
        let seen = simulate(&s);
        let from = s.outage_from.as_secs() as usize;
        let back = (s.outage_from + s.outage_for).as_secs() as usize;
        // Steady: the minute before the outage (every device has started).
        let steady = seen.mean(from - 60, from);
        let (at, peak) = seen.peak(from);
        let ratio = f64::from(peak) / steady;
        let answered: Vec<u32> = seen
            .requests
            .iter()
            .zip(&seen.failed)
            .map(|(r, f)| r - f)
            .collect();
        let (ans_at, ans_peak) = answered
            .iter()
            .enumerate()
            .skip(back)
            .max_by_key(|(i, n)| (**n, std::cmp::Reverse(*i)))
            .map_or((back, 0), |(i, n)| (i, *n));
        let refused: u32 = seen.failed.iter().sum();
        let label = x.label();
        println!(
            "  {label}\n      steady {steady:.1}/s · peak {peak}/s at {at} s ({ratio:.2}×) · \
             answered after the outage: peak {ans_peak}/s at {ans_at} s ({:.2}×) · {refused} refused",
            f64::from(ans_peak) / steady
        );
        let judged = x.role == Judged;
        md.push_str(&format!(
            "| 11 | {label} | {steady:.1} | {peak} ({at} s) | {ratio:.2}× | {ans_peak} ({:.2}×) | {refused} | {} | {} |\n",
            f64::from(ans_peak) / steady,
            if judged { "≤ 3×" } else { "" },
            crate::verdict(judged.then_some(ratio <= 3.0))
        ));
        if x.role != Listed {
            curves.push((
                seen.requests
                    .iter()
                    .map(|&n| f64::from(n))
                    .collect::<Vec<f64>>(),
                steady,
            ));
        }
    }
    let steady = curves.first().map_or(100.0, |c| c.1);
    let o = OUTAGE_FROM as f64;
    let chart = crate::png::Chart {
        title: "1,000 devices, a hit every 10 s each, batched, collector down 60 s",
        x_label: "time (s)",
        y_label: "requests/s at the collector (refused ones included)",
        // Drawn in this order: where the curves agree (steady state) the
        // library's is the one on top.
        series: vec![
            crate::png::Series {
                name: "proposal: base ≥ time since delivery",
                color: [44, 160, 44],
                values: &curves[2].0,
            },
            crate::png::Series {
                name: "no jitter",
                color: [230, 120, 20],
                values: &curves[1].0,
            },
            crate::png::Series {
                name: "library's jitter (as shipped)",
                color: [31, 119, 180],
                values: &curves[0].0,
            },
        ],
        band: Some((o, o + 60.0, "collector down")),
        marks: vec![
            (3.0 * steady, "3x steady (target)".to_owned(), [200, 40, 40]),
            (steady, "steady".to_owned(), [120, 120, 120]),
        ],
        x_range: (o - 60.0, o + 240.0),
    };
    let png = chart.draw(1000, 460).png();
    let out = std::path::Path::new("target").join(PLOT);
    match std::fs::write(&out, png) {
        Ok(()) => println!("  chart written to bench/{}", out.display()),
        Err(e) => println!("  chart not written ({}): {e}", out.display()),
    }
    md
}
