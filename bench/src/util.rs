use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// CLOCK_MONOTONIC in nanoseconds: one clock for the bench and its
/// children, so a child's timestamps line up with the collector's.
pub fn mono_ns() -> u64 {
    // SAFETY: clock_gettime only writes the timespec it is given.
    let ts = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts
    };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Latency summary in nanoseconds.
#[derive(Clone, Copy, Default)]
pub struct Lat {
    pub p50: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    /// Samples over 1 ms (a frame stall).
    pub over_1ms: usize,
}

pub fn summarize(mut ns: Vec<u64>) -> Lat {
    ns.sort_unstable();
    let at = |q: f64| {
        let i = ((q * ns.len() as f64).ceil() as usize).clamp(1, ns.len()) - 1;
        ns[i]
    };
    Lat {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: *ns.last().unwrap(),
        over_1ms: ns.iter().filter(|&&n| n > 1_000_000).count(),
    }
}

pub fn us(ns: u64) -> String {
    let v = ns as f64 / 1000.0;
    if v < 10.0 {
        format!("{v:.2} µs")
    } else if v < 1000.0 {
        format!("{v:.1} µs")
    } else {
        format!("{:.2} ms", v / 1000.0)
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

pub fn krate(r: f64) -> String {
    if r >= 10_000.0 {
        format!("{:.0}k/s", r / 1000.0)
    } else {
        format!("{:.2}k/s", r / 1000.0)
    }
}

/// A `/proc/self/status` field in bytes (VmHWM, VmRSS).
pub fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
            let kb: u64 = rest
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .unwrap_or(0);
            return kb * 1024;
        }
    }
    0
}

/// (allocated bytes = st_blocks·512, apparent bytes) of a file or directory tree.
pub fn disk_usage(path: &Path) -> (u64, u64) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return (0, 0);
    };
    let mut alloc = meta.blocks() * 512;
    let mut apparent = meta.len();
    if meta.is_dir() {
        // The directory inodes themselves are not hit storage.
        alloc = 0;
        apparent = 0;
        if let Ok(entries) = std::fs::read_dir(path) {
            for e in entries.flatten() {
                let (a, b) = disk_usage(&e.path());
                alloc += a;
                apparent += b;
            }
        }
    }
    (alloc, apparent)
}

/// The `key=value` pairs a child process printed.
pub fn kv(out: &str, key: &str) -> Option<f64> {
    out.split_whitespace()
        .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
