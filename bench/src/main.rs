//! offtrack benchmarks, side by side with an SQLite FIFO queue in the same
//! run, then drains over a link and the many-devices simulation (10, 11).
//! `offtrack-bench run [--smoke]` (BENCH_FULL=1 adds 1M hits,
//! BENCH_ONLY=latency|network runs one part); see bench/run.sh and
//! BENCHMARKS.md.

mod child;
mod collector;
mod devices;
mod drain_net;
mod hits;
mod png;
mod proxy;
mod server;
mod sqlq;
mod util;

use child::{MAX_QUEUE_BYTES, MAX_QUEUE_HITS, config, create};
use server::{Blackhole, Collector, down_endpoint};
use sqlq::SqlQueue;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use util::*;

struct Params {
    smoke: bool,
    /// Queue sizes for open time, memory and disk.
    sizes: Vec<u64>,
    latency_n: usize,
    throughput_n: usize,
    /// Requests per collector-limit loop and per SQLite network drain.
    net_n: usize,
    root: PathBuf,
    exe: PathBuf,
    lib_dir: PathBuf,
}

/// One line of the final table.
struct Line {
    id: &'static str,
    what: String,
    offtrack: String,
    sqlite: String,
    ratio: String,
    target: &'static str,
    ok: Option<bool>,
}

struct Report {
    lines: Vec<Line>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        id: &'static str,
        what: impl Into<String>,
        offtrack: impl Into<String>,
        sqlite: impl Into<String>,
        ratio: impl Into<String>,
        target: &'static str,
        ok: Option<bool>,
    ) {
        let l = Line {
            id,
            what: what.into(),
            offtrack: offtrack.into(),
            sqlite: sqlite.into(),
            ratio: ratio.into(),
            target,
            ok,
        };
        println!(
            "  {:<4} {:<52} {:>14} {:>14} {:>9}  {}",
            l.id,
            l.what,
            l.offtrack,
            l.sqlite,
            l.ratio,
            verdict(l.ok)
        );
        self.lines.push(l);
    }

    fn table(&self) -> String {
        let mut s = String::from(
            "| # | measurement | offtrack | SQLite | ratio | target | met |\n|---|---|---:|---:|---:|---|---|\n",
        );
        for l in &self.lines {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                l.id,
                l.what,
                l.offtrack,
                l.sqlite,
                l.ratio,
                l.target,
                verdict(l.ok)
            ));
        }
        s
    }
}

fn verdict(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "",
    }
}

fn x(a: f64, b: f64) -> String {
    format!("{:.1}×", a / b)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("serve") => server::serve_main(),
        Some("child") => child::main(&args[2..]),
        Some("run") => run(&args[2..]),
        _ => {
            eprintln!("usage: offtrack-bench run [--smoke] [--lib-dir DIR] | serve | child ...");
            std::process::exit(2);
        }
    }
}

fn run(args: &[String]) {
    let smoke = args.iter().any(|a| a == "--smoke");
    let full = !smoke && std::env::var("BENCH_FULL").is_ok_and(|v| v == "1");
    let lib_dir = args
        .iter()
        .position(|a| a == "--lib-dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../target/release"));
    let exe = std::env::current_exe().unwrap();
    let root = std::env::var("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            std::env::temp_dir().join(format!("offtrack-bench-{}", std::process::id()))
        });
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let p = Params {
        smoke,
        sizes: if smoke {
            vec![2_000]
        } else if full {
            vec![10_000, 100_000, 1_000_000]
        } else {
            vec![10_000, 100_000]
        },
        latency_n: if smoke { 2_000 } else { 100_000 },
        throughput_n: if smoke { 4_000 } else { 200_000 },
        net_n: if smoke { 300 } else { 20_000 },
        root,
        exe,
        lib_dir,
    };
    let started = Instant::now();
    println!(
        "offtrack {} benchmarks ({}), hits of {} bytes; work dir {}",
        unsafe { std::ffi::CStr::from_ptr(offtrack::ffi::tracker_version()) }.to_string_lossy(),
        if smoke {
            "smoke"
        } else if full {
            "full"
        } else {
            "default"
        },
        hits::HIT_BYTES,
        p.root.display()
    );
    println!(
        "load average at start: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "queue limits raised for these runs: max_queue_hits={MAX_QUEUE_HITS}, max_queue_bytes={MAX_QUEUE_BYTES} \
         (defaults 100000 / 52428800 would evict the oldest hits)"
    );
    let collector = Collector::start(&p.exe);
    let mut r = Report { lines: Vec::new() };

    // BENCH_ONLY=latency: sections 1, 1b and 9 only; BENCH_ONLY=network:
    // 10 and 11 only (minutes less while tuning).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if only != "network" {
        latency(&p, &collector, &mut r);
    }
    if only != "latency" && only != "network" {
        throughput(&p, &collector, &mut r);
        queued(&p, &collector, &mut r);
        drain(&p, &collector, &mut r);
        destroy(&p, &mut r);
        size(&p, &mut r);
    }
    let mut network = String::new();
    if only != "latency" {
        let drains = drain_net::section(&p);
        network.push_str("\n### Drain over a link (10)\n\n");
        network.push_str(&drains.markdown());
        network.push_str("\n### Many devices, one collector (11)\n\n");
        network.push_str(&devices::section());
    }

    drop(collector);
    let _ = std::fs::remove_dir_all(&p.root);
    println!(
        "load average at end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut table = if r.lines.is_empty() {
        String::new()
    } else {
        r.table()
    };
    table.push_str(&network);
    println!(
        "\n## Results ({:.0} s)\n\n{table}",
        started.elapsed().as_secs_f64()
    );
    let out = Path::new("target").join("bench-table.md");
    if std::fs::write(&out, &table).is_ok() {
        println!("table written to bench/{}", out.display());
    }
}

fn section(title: &str) {
    println!("\n== {title}");
}

fn fresh(p: &Params, name: &str) -> PathBuf {
    let d = p.root.join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The URL offtrack stores for a hit, so the baseline stores the same bytes.
fn url_of(endpoint: &str, hit: &str) -> String {
    format!("{endpoint}?{hit}")
}

fn time_sends(t: &offtrack::Tracker, hits: &[String]) -> Lat {
    if std::env::var_os("BENCH_SWITCHES").is_some() {
        return time_sends_with_switches(t, hits);
    }
    let mut ns = Vec::with_capacity(hits.len());
    for h in hits {
        let s = Instant::now();
        t.send(h).expect("send");
        ns.push(s.elapsed().as_nanos() as u64);
    }
    summarize(ns)
}

/// `time_sends` that also tells, for each send over 1 ms, whether the
/// thread was preempted (an involuntary context switch), blocked (a
/// voluntary one: a lock, the disk) or busy on its CPU all along.
/// Two `getrusage` calls per send slow the loop, so only on request
/// (`BENCH_SWITCHES=1`), never in the table's runs.
fn time_sends_with_switches(t: &offtrack::Tracker, hits: &[String]) -> Lat {
    fn switches() -> (i64, i64) {
        // SAFETY: rusage is plain integers (all-zero is valid), and
        // getrusage only fills the struct it is given.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
            usage
        };
        (usage.ru_nivcsw, usage.ru_nvcsw)
    }
    let mut ns = Vec::with_capacity(hits.len());
    let (mut preempted, mut blocked, mut busy) = (0, 0, 0);
    for h in hits {
        let before = switches();
        let s = Instant::now();
        t.send(h).expect("send");
        let elapsed = s.elapsed().as_nanos() as u64;
        ns.push(elapsed);
        if elapsed > 1_000_000 {
            let after = switches();
            if after.0 > before.0 {
                preempted += 1;
            } else if after.1 > before.1 {
                blocked += 1;
            } else {
                busy += 1;
            }
        }
    }
    println!(
        "    sends over 1 ms: {preempted} preempted, {blocked} blocked, {busy} busy on the CPU"
    );
    summarize(ns)
}

fn lat_line(l: &Lat) -> String {
    format!(
        "p50 {} · p99 {} · p99.9 {} · max {}",
        us(l.p50),
        us(l.p99),
        us(l.p999),
        us(l.max)
    )
}

// 1 and 9: latency on the caller's thread.
fn latency(p: &Params, collector: &Collector, r: &mut Report) {
    section(&format!(
        "1/9. tracker_send latency, {} hits each, caller's thread",
        p.latency_n
    ));
    let hits = hits::hits(p.latency_n, 1);
    let warm = hits::hits(1000, 2);
    let measure_with = |name: &str, endpoint: &str, storage: &str, extra: &str| -> Lat {
        let dir = fresh(p, name);
        let storage_key = format!("\"storage\":\"{storage}\"");
        let cfg = config(endpoint, Some(&dir), storage, 300)
            .replace(&storage_key, &format!("{storage_key}{extra}"));
        let t = create(&cfg);
        for h in &warm {
            t.send(h).unwrap();
        }
        let l = time_sends(&t, &hits);
        drop(t);
        let _ = std::fs::remove_dir_all(&dir);
        println!("  {name:<22} {}", lat_line(&l));
        l
    };
    let measure =
        |name: &str, endpoint: &str, storage: &str| measure_with(name, endpoint, storage, "");
    let always = measure("always", &collector.endpoint(), "always");
    // Right after the plain run, for the ratio of the two (row 1, encrypted).
    let always_encrypted = measure_with(
        "always, encrypted",
        &collector.endpoint(),
        "always",
        &format!(",\"encryption_key\":\"{BENCH_KEY}\""),
    );
    let down_ep = down_endpoint();
    let down = measure("required, collector down", &down_ep, "required");
    let fast = measure("required, collector up", &collector.endpoint(), "required");
    let blackhole = Blackhole::start();
    let hang = measure("required, blackhole", &blackhole.endpoint(), "required");

    let db = fresh(p, "sqlite-latency.db");
    let q = SqlQueue::open(&db);
    let endpoint = collector.endpoint();
    for h in &warm {
        q.push(&url_of(&endpoint, h), now_ms());
    }
    let mut ns = Vec::with_capacity(hits.len());
    for h in &hits {
        let s = Instant::now();
        q.push(&url_of(&endpoint, h), now_ms());
        ns.push(s.elapsed().as_nanos() as u64);
    }
    drop(q);
    let sql = summarize(ns);
    println!("  {:<22} {}", "SQLite INSERT", lat_line(&sql));

    for (name, l) in [("always", &always), ("required, collector down", &down)] {
        r.add(
            "1",
            format!("send p50, {name}"),
            us(l.p50),
            us(sql.p50),
            x(sql.p50 as f64, l.p50 as f64),
            "",
            None,
        );
        r.add(
            "1",
            format!("send p99, {name}"),
            us(l.p99),
            us(sql.p99),
            x(sql.p99 as f64, l.p99 as f64),
            "p99 ≤ 5 µs, ≥ 5× SQLite",
            Some(l.p99 <= 5_000 && sql.p99 as f64 >= 5.0 * l.p99 as f64),
        );
        r.add(
            "1",
            format!("send p99.9 / max, {name}"),
            format!("{} / {}", us(l.p999), us(l.max)),
            format!("{} / {}", us(sql.p999), us(sql.max)),
            "",
            "",
            None,
        );
    }
    // Two runs one after the other see different load on a shared machine
    // (one run in four gave 1.56× here while the paired row gave 1.1-1.3×):
    // shown for reference, the target is judged on the paired row below.
    r.add(
        "1",
        "send p99, always: encrypted / plain, one run after the other",
        format!("{} / {}", us(always_encrypted.p99), us(always.p99)),
        "",
        x(always_encrypted.p99 as f64, always.p99 as f64),
        "see the paired row",
        None,
    );
    encrypted(p, &hits, &warm, &collector.endpoint(), r);
    full_queue(
        p,
        &hits,
        &warm,
        &collector.endpoint(),
        &down_ep,
        &always,
        &down,
        r,
    );
    r.add(
        "9",
        "send p99, required: collector up / blackhole",
        format!("{} / {}", us(fast.p99), us(hang.p99)),
        "",
        x(hang.p99 as f64, fast.p99 as f64),
        "unchanged by a hang",
        // Noise allowance: 1.5× or 2 µs, whichever is larger.
        Some(hang.p99 as f64 <= (1.5 * fast.p99 as f64).max(fast.p99 as f64 + 2_000.0)),
    );
    r.add(
        "9",
        "send p99.9 / max, required, blackhole",
        format!("{} / {}", us(hang.p999), us(hang.max)),
        "",
        "",
        "",
        None,
    );
}

/// A fixed 256-bit key for the encrypted runs (`encryption_key`).
const BENCH_KEY: &str = "8f1d0c2b3a4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";

// 1: the same sends with encryption at rest on and off. Two trackers in
// `always` mode take the sends in turn, each timed, so both see the same
// load on a shared machine and the ratio compares like with like; then
// each is destroyed and its directory measured (disk per hit after a
// clean close).
fn encrypted(p: &Params, hits: &[String], warm: &[String], endpoint: &str, r: &mut Report) {
    let plain_dir = fresh(p, "pair-plain");
    let sealed_dir = fresh(p, "pair-encrypted");
    // Time enough at destroy for the final flush into tables, so the disk
    // figure is the compressed tables', never a journal left behind.
    let plain = create(&config(endpoint, Some(&plain_dir), "always", 20_000));
    let sealed = create(
        &config(endpoint, Some(&sealed_dir), "always", 20_000).replace(
            "\"storage\":\"always\"",
            &format!("\"storage\":\"always\",\"encryption_key\":\"{BENCH_KEY}\""),
        ),
    );
    for h in warm {
        plain.send(h).unwrap();
        sealed.send(h).unwrap();
    }
    let (mut a, mut b) = (
        Vec::with_capacity(hits.len()),
        Vec::with_capacity(hits.len()),
    );
    for h in hits {
        let s = Instant::now();
        plain.send(h).expect("send");
        a.push(s.elapsed().as_nanos() as u64);
        let s = Instant::now();
        sealed.send(h).expect("send");
        b.push(s.elapsed().as_nanos() as u64);
    }
    let (plain_lat, sealed_lat) = (summarize(a), summarize(b));
    let n = (warm.len() + hits.len()) as f64;
    let mut disk = Vec::new();
    for (t, dir) in [(plain, &plain_dir), (sealed, &sealed_dir)] {
        let _ = t.flush(Duration::from_secs(60));
        drop(t);
        disk.push(disk_usage(dir).0 as f64 / n);
        let _ = std::fs::remove_dir_all(dir);
    }
    println!(
        "  {:<22} {}",
        "always, plain (paired)",
        lat_line(&plain_lat)
    );
    println!("  {:<22} {}", "always, encrypted", lat_line(&sealed_lat));
    println!(
        "  disk per hit after a clean close: plain {:.0} B, encrypted {:.0} B (hits of {} B)",
        disk[0],
        disk[1],
        hits::HIT_BYTES
    );
    r.add(
        "1",
        "send p99, always: encrypted / plain, sends in turn",
        format!("{} / {}", us(sealed_lat.p99), us(plain_lat.p99)),
        "",
        x(sealed_lat.p99 as f64, plain_lat.p99 as f64),
        "p99 ≤ 5 µs, ≤ 1.5× plain",
        Some(sealed_lat.p99 <= 5_000 && sealed_lat.p99 as f64 <= 1.5 * plain_lat.p99 as f64),
    );
    r.add(
        "1",
        "send p50 / p99.9, always: encrypted / plain",
        format!(
            "{} / {} · {} / {}",
            us(sealed_lat.p50),
            us(sealed_lat.p999),
            us(plain_lat.p50),
            us(plain_lat.p999)
        ),
        "",
        "",
        "",
        None,
    );
    r.add(
        "1",
        "disk per hit after a clean close, always: encrypted / plain",
        format!("{:.0} / {:.0} B", disk[1], disk[0]),
        "",
        x(disk[1], disk[0]),
        "",
        None,
    );
}

/// "p99 / p99.9 / max" of a latency summary.
fn tail_of(l: &Lat) -> String {
    format!("{} / {} / {}", us(l.p99), us(l.p999), us(l.max))
}

/// A row 1b line: `l` against the not-full latency of the same run.
fn add_vs_not_full(r: &mut Report, what: String, l: &Lat, not_full: &Lat) {
    r.add(
        "1b",
        what,
        tail_of(l),
        format!("not full: {}", tail_of(not_full)),
        x(l.p999 as f64, not_full.p999 as f64),
        "p99 ≤ 5 µs, p99.9 ≤ 2× not full",
        Some(l.p99 <= 5_000 && l.p999 as f64 <= 2.0 * not_full.p999 as f64),
    );
}

// 1b: latency with the queue at a limit, so that every send pushes the
// oldest hit out, beside the not-full rows of the same run.
#[allow(clippy::too_many_arguments)]
fn full_queue(
    p: &Params,
    hits: &[String],
    warm: &[String],
    endpoint: &str,
    down: &str,
    not_full_always: &Lat,
    not_full_down: &Lat,
    r: &mut Report,
) {
    section("1b. tracker_send latency with the queue at a limit (every send evicts)");
    let limits: [(&str, u64, u64, usize); 3] = [
        ("max_queue_hits 1,000", 1_000, MAX_QUEUE_BYTES, 1_000),
        ("max_queue_hits 50,000", 50_000, MAX_QUEUE_BYTES, 50_000),
        ("max_queue_bytes 100,000", MAX_QUEUE_HITS, 100_000, 400),
    ];
    for (mode, ep, not_full) in [
        ("always", endpoint, not_full_always),
        ("required", down, not_full_down),
    ] {
        for (name, max_hits, max_bytes, fill) in limits {
            let dir = fresh(p, "full-queue");
            let cfg = config(ep, Some(&dir), mode, 300)
                .replace(
                    &format!("\"max_queue_hits\":{MAX_QUEUE_HITS}"),
                    &format!("\"max_queue_hits\":{max_hits}"),
                )
                .replace(
                    &format!("\"max_queue_bytes\":{MAX_QUEUE_BYTES}"),
                    &format!("\"max_queue_bytes\":{max_bytes}"),
                );
            let t = create(&cfg);
            // Filled to the limit and past it, evictions under way.
            for h in warm.iter().cycle().take(fill.max(warm.len()) + warm.len()) {
                t.send(h).unwrap();
            }
            let _ = t.flush(Duration::from_secs(30));
            let l = time_sends(&t, hits);
            let stalled = l.over_1ms;
            let _ = t.flush(Duration::from_secs(30));
            let stats = t.stats_json();
            let queued = stats
                .split("\"queued\":")
                .nth(1)
                .and_then(|rest| rest.split([',', '}']).next())
                .unwrap_or("?")
                .to_owned();
            drop(t);
            let _ = std::fs::remove_dir_all(&dir);
            let label = format!("{mode}, {name}");
            println!(
                "  {label:<36} {} · over 1 ms: {stalled} · queued after: {}",
                lat_line(&l),
                queued
            );
            add_vs_not_full(
                r,
                format!("send at a full queue, {label}: p99 / p99.9 / max"),
                &l,
                not_full,
            );
            r.add(
                "1b",
                format!("sends over 1 ms at a full queue, {label}"),
                format!("{stalled} of {}", hits.len()),
                format!("not full: {}", not_full.over_1ms),
                "",
                "",
                None,
            );
        }
    }
    // Expiry: 50,000 stored hits come of age at once while sends go on.
    let dir = fresh(p, "expiring");
    let cfg = config(down, Some(&dir), "always", 300).replace(
        "\"storage\":\"always\"",
        "\"storage\":\"always\",\"max_age_seconds\":1",
    );
    let t = create(&cfg);
    let filled = Instant::now();
    for h in warm.iter().cycle().take(50_000) {
        t.send(h).unwrap();
    }
    let _ = t.flush(Duration::from_secs(30));
    // They come of age 1 s after they were sent: the timed sends start
    // just before, so the worker expires them while the sends go on.
    std::thread::sleep(Duration::from_millis(950).saturating_sub(filled.elapsed()));
    let l = time_sends(&t, hits);
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "  {:<36} {} · over 1 ms: {}",
        "always, 50,000 hits expiring",
        lat_line(&l),
        l.over_1ms
    );
    add_vs_not_full(
        r,
        "send while 50,000 hits expire, always: p99 / p99.9 / max".into(),
        &l,
        not_full_always,
    );

    // never: the in-memory queue at max_memory_hits behind a collector
    // that never answers, so every send pushes the oldest out.
    let blackhole = Blackhole::start();
    let cfg = format!(
        "{{\"endpoint\":\"{}\",\"storage\":\"never\",\"max_memory_hits\":1000,\
         \"request_timeout_seconds\":60,\"shutdown_timeout_ms\":300}}",
        blackhole.endpoint()
    );
    let t = create(&cfg);
    for h in warm.iter().cycle().take(2_000) {
        t.send(h).unwrap();
    }
    let l = time_sends(&t, hits);
    drop(t);
    let stalled = l.over_1ms;
    println!(
        "  {:<36} {} · over 1 ms: {stalled}",
        "never, max_memory_hits 1,000",
        lat_line(&l)
    );
    r.add(
        "1b",
        "send at a full memory queue, never, max_memory_hits 1,000: p99 / p99.9 / max",
        tail_of(&l),
        format!("always, not full: {}", tail_of(not_full_always)),
        "",
        "p99 ≤ 5 µs",
        Some(l.p99 <= 5_000),
    );
}

// 2: sustained enqueue throughput.
fn throughput(p: &Params, collector: &Collector, r: &mut Report) {
    let n = p.throughput_n;
    section(&format!(
        "2. sustained enqueue throughput, {n} hits, always mode"
    ));
    let hits = hits::hits(n, 3);
    let endpoint = collector.endpoint();
    let mut results = Vec::new();
    for threads in [1usize, 4] {
        let dir = fresh(p, &format!("tp{threads}"));
        let t = create(&config(&endpoint, Some(&dir), "always", 2000));
        let start = Instant::now();
        std::thread::scope(|s| {
            for chunk in hits.chunks(n.div_ceil(threads)) {
                let t = &t;
                s.spawn(move || {
                    for h in chunk {
                        t.send(h).expect("send");
                    }
                });
            }
        });
        let ours = rate(n as u64, start.elapsed());
        drop(t);
        let _ = std::fs::remove_dir_all(&dir);

        let db = fresh(p, &format!("tp{threads}.db"));
        let q = Mutex::new(SqlQueue::open(&db));
        let start = Instant::now();
        std::thread::scope(|s| {
            for chunk in hits.chunks(n.div_ceil(threads)) {
                let (q, endpoint) = (&q, &endpoint);
                s.spawn(move || {
                    for h in chunk {
                        let url = url_of(endpoint, h);
                        q.lock().unwrap().push(&url, now_ms());
                    }
                });
            }
        });
        let theirs = rate(n as u64, start.elapsed());
        println!(
            "  {threads} thread(s): offtrack {} · SQLite {}",
            krate(ours),
            krate(theirs)
        );
        results.push((threads, ours, theirs));
    }
    for (threads, ours, theirs) in results {
        r.add(
            "2",
            format!("enqueue throughput, {threads} thread(s)"),
            krate(ours),
            krate(theirs),
            x(ours, theirs),
            if threads == 1 { "≥ 300k/s" } else { "" },
            (threads == 1).then_some(ours >= 300_000.0),
        );
    }
}

fn child(p: &Params, args: &[&str]) -> String {
    let out = Command::new(&p.exe)
        .arg("child")
        .args(args)
        .stderr(Stdio::inherit())
        .output()
        .expect("run child");
    assert!(out.status.success(), "child {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fills a store in a child that is then killed with SIGKILL.
fn fill_and_kill(p: &Params, dir: &Path, endpoint: &str, n: u64) -> String {
    let mut c = Command::new(&p.exe)
        .args(["child", "fill"])
        .arg(dir)
        .args([endpoint, &n.to_string(), "kill"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run child");
    let mut line = String::new();
    BufReader::new(c.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("READY"), "fill child: {line}");
    c.kill().unwrap();
    let _ = c.wait();
    line
}

fn sqlite_fill(db: &Path, endpoint: &str, n: u64) {
    let q = SqlQueue::open(db);
    let mut rng = hits::Rng::new(7);
    for i in 0..n {
        q.push(&url_of(endpoint, &hits::hit(&mut rng, 7, i)), now_ms());
    }
}

// 4, 5, 6: open time, memory and disk with hits queued.
fn queued(p: &Params, collector: &Collector, r: &mut Report) {
    section("4/5/6. open time, peak memory and disk with hits queued (each in its own process)");
    let endpoint = collector.endpoint();
    let url_bytes = url_of(&endpoint, &"x".repeat(hits::HIT_BYTES)).len() as f64;

    let empty = child(p, &["open", fresh(p, "empty").to_str().unwrap(), &endpoint]);
    println!("  0 queued, fresh directory: {}", empty.trim());
    r.add(
        "5",
        "peak RSS over baseline, tracker open, 0 queued",
        mb(kv(&empty, "hwm").unwrap_or(0.0) as u64),
        "",
        "",
        "≤ 16 MB",
        Some(kv(&empty, "hwm").unwrap_or(f64::MAX) <= 16e6),
    );
    r.add(
        "4",
        "open, 0 queued (fresh directory)",
        format!("{:.2} ms", kv(&empty, "open_ms").unwrap()),
        "",
        "",
        "",
        None,
    );

    for &n in &p.sizes {
        let label = if n >= 1_000_000 {
            format!("{}M", n / 1_000_000)
        } else {
            format!("{}k", n / 1000)
        };
        let clean = fresh(p, &format!("clean-{n}"));
        let filled = child(
            p,
            &[
                "fill",
                clean.to_str().unwrap(),
                &endpoint,
                &n.to_string(),
                "clean",
            ],
        );
        let (alloc, apparent) = disk_usage(&clean);
        println!(
            "  {label} fill (clean): {} · disk {} allocated, {} apparent",
            filled.trim(),
            mb(alloc),
            mb(apparent)
        );
        let mut opens = Vec::new();
        let mut first = String::new();
        for i in 0..3 {
            let o = child(p, &["open", clean.to_str().unwrap(), &endpoint]);
            println!(
                "  {label} open after clean shutdown #{}: {}",
                i + 1,
                o.trim()
            );
            opens.push(kv(&o, "open_ms").unwrap());
            if i == 0 {
                first = o;
            }
        }
        let clean_open = median(opens);
        let (alloc_after, _) = disk_usage(&clean);

        let unclean = fresh(p, &format!("unclean-{n}"));
        let ready = fill_and_kill(p, &unclean, &endpoint, n);
        let (alloc_kill, _) = disk_usage(&unclean);
        let reopened = child(p, &["open", unclean.to_str().unwrap(), &endpoint]);
        println!(
            "  {label} fill then SIGKILL: {} · disk {} · first open: {}",
            ready.trim(),
            mb(alloc_kill),
            reopened.trim()
        );

        let db = fresh(p, &format!("sqlite-{n}.db"));
        sqlite_fill(&db, &endpoint, n);
        let (sql_alloc, _) = disk_usage(&db);
        let wal =
            disk_usage(&db.with_extension("db-wal")).0 + disk_usage(&db.with_extension("db-shm")).0;
        let sopen = child(p, &["sqlite-open", db.to_str().unwrap()]);
        println!(
            "  {label} SQLite: disk {} (+{} wal/shm) · open: {}",
            mb(sql_alloc),
            mb(wal),
            sopen.trim()
        );

        let sql_open = kv(&sopen, "open_ms").unwrap();
        r.add(
            "4",
            format!("open, {label} queued, after clean shutdown (median of 3)"),
            format!("{clean_open:.1} ms"),
            format!("{sql_open:.2} ms"),
            x(sql_open, clean_open),
            "≤ 20 ms",
            Some(clean_open <= 20.0),
        );
        let recovered = kv(&reopened, "count").unwrap_or(0.0) as u64;
        r.add(
            "4",
            format!("open, {label} queued, after SIGKILL ({recovered}/{n} hits back)"),
            format!("{:.1} ms", kv(&reopened, "open_ms").unwrap()),
            "",
            "",
            "all hits back",
            Some(recovered == n),
        );
        let fill_hwm = kv(&filled, "hwm").unwrap_or(0.0);
        let hold_hwm = kv(&first, "hwm").unwrap_or(0.0);
        let kill_hwm = kv(&reopened, "hwm").unwrap_or(0.0);
        let worst = fill_hwm.max(hold_hwm).max(kill_hwm);
        r.add(
            "5",
            format!("peak RSS over baseline, {label}: sending / reopened clean / after kill"),
            format!(
                "{} / {} / {}",
                mb(fill_hwm as u64),
                mb(hold_hwm as u64),
                mb(kill_hwm as u64)
            ),
            mb(kv(&sopen, "hwm").unwrap_or(0.0) as u64),
            "",
            "≤ 16 MB",
            Some(worst <= 16e6),
        );
        let per_hit = alloc as f64 / n as f64;
        let sql_per_hit = (sql_alloc + wal) as f64 / n as f64;
        r.add(
            "6",
            format!("disk per hit, {label} (URL {url_bytes:.0} B): after fill / reopened / killed"),
            format!(
                "{:.0} / {:.0} / {:.0} B",
                per_hit,
                alloc_after as f64 / n as f64,
                alloc_kill as f64 / n as f64
            ),
            format!("{sql_per_hit:.0} B"),
            format!("{:.2}× raw", per_hit / url_bytes),
            "≤ 0.6× raw",
            Some(per_hit / url_bytes <= 0.6),
        );
        let _ = std::fs::remove_dir_all(&unclean);
        let _ = std::fs::remove_file(&db);
        if Some(&n) != p.sizes.last() {
            let _ = std::fs::remove_dir_all(&clean);
        }
    }
}

// 3: drain to a loopback collector.
fn drain(p: &Params, collector: &Collector, r: &mut Report) {
    let n = *p.sizes.last().unwrap();
    section(
        "3. drain: one GET per hit to a loopback collector (thread pool, 204, Connection: close)",
    );
    // The client-side limits, measured before and after the tracker's drain
    // (best of the two: the machine may be shared).
    let netloop = || {
        let o = child(
            p,
            &["netloop", &collector.port.to_string(), &p.net_n.to_string()],
        );
        println!("  client loops, {} GETs each: {}", p.net_n, o.trim());
        ["raw", "plain", "timed"].map(|k| kv(&o, k).unwrap_or(0.0))
    };
    let before = netloop();
    let dir = p.root.join(format!("clean-{n}"));
    let out = child(p, &["drain", dir.to_str().unwrap(), &collector.endpoint()]);
    let after_loops = netloop();
    let [raw, plain, timed] = [0, 1, 2].map(|i| before[i].max(after_loops[i]));
    let drained = kv(&out, "sent").unwrap_or(0.0);
    let ours = drained / (kv(&out, "drain_ms").unwrap() / 1000.0);
    println!(
        "  tracker_dispatch of {n} queued: {} ({})",
        krate(ours),
        out.trim()
    );
    let reopened = child(p, &["open", dir.to_str().unwrap(), &collector.endpoint()]);
    let (alloc_after, _) = disk_usage(&dir);
    println!(
        "  open after the drain: {} · disk {}",
        reopened.trim(),
        mb(alloc_after)
    );

    let m = p.net_n.min(n as usize) as u64;
    let db = fresh(p, "sqlite-drain.db");
    sqlite_fill(&db, &collector.endpoint(), m);
    let q = SqlQueue::open(&db);
    let start = Instant::now();
    let mut sent = 0u64;
    while let Some(row) = q.head() {
        let url = format!("{}&ts={}", row.url, row.created_ms / 1000);
        if minreq::get(&url)
            .with_timeout(10)
            .send()
            .is_ok_and(|r| r.status_code == 204)
        {
            sent += 1;
        }
        q.remove(row.id);
    }
    let theirs = rate(sent, start.elapsed());
    drop(q);
    println!(
        "  SQLite queue + minreq (timeout), {m} hits: {}",
        krate(theirs)
    );

    let label = if n >= 1_000_000 {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    };
    r.add(
        "3",
        format!("drain {label} by tracker_dispatch ({drained:.0} sent)"),
        krate(ours),
        krate(theirs),
        x(ours, theirs),
        "≥ 4k/s",
        Some(ours >= 4000.0 && drained as u64 == n),
    );
    r.add(
        "3",
        "limits: raw TCP loop / minreq / minreq+timeout",
        format!("{} / {} / {}", krate(raw), krate(plain), krate(timed)),
        "",
        format!("{:.0}% of minreq+timeout", 100.0 * ours / timed),
        "",
        None,
    );
    r.add(
        "5",
        format!("peak RSS over baseline during the {label} drain"),
        mb(kv(&out, "hwm").unwrap_or(0.0) as u64),
        "",
        "",
        "≤ 16 MB",
        Some(kv(&out, "hwm").unwrap_or(f64::MAX) <= 16e6),
    );
    r.add(
        "4",
        format!("open, 0 queued, after the {label} drain (drained in a later process)"),
        format!("{:.2} ms", kv(&reopened, "open_ms").unwrap()),
        "",
        "",
        "≤ 20 ms",
        Some(kv(&reopened, "open_ms").unwrap() <= 20.0),
    );
    let _ = std::fs::remove_dir_all(&dir);

    // The queues alone: pop the head hit by hit, no network.
    let m = n.min(if p.smoke { 2_000 } else { 100_000 });
    let sdir = fresh(p, "store-pop");
    let store = offtrack::internals::Store::open(
        offtrack::internals::StorageDir::open(&sdir).unwrap(),
        now_ms() as u64,
        None,
    )
    .unwrap()
    .0;
    let mut rng = hits::Rng::new(11);
    for i in 0..m {
        store
            .append(
                &url_of(&collector.endpoint(), &hits::hit(&mut rng, 11, i)),
                now_ms() as u64,
            )
            .unwrap();
    }
    // Appends land in the intake; the worker (absent here) would have moved
    // them into fjall as they came. Move them now, outside the timing.
    store.absorb_intake().unwrap();
    let start = Instant::now();
    let mut popped = 0u64;
    while let Some(Ok(rec)) = store.head().unwrap() {
        store.remove_head(rec.id).unwrap();
        popped += 1;
    }
    let ours = rate(popped, start.elapsed());
    drop(store);
    let db = fresh(p, "sqlite-pop.db");
    sqlite_fill(&db, &collector.endpoint(), m);
    let q = SqlQueue::open(&db);
    let start = Instant::now();
    let mut popped = 0u64;
    while let Some(row) = q.head() {
        q.remove(row.id);
        popped += 1;
    }
    let theirs = rate(popped, start.elapsed());
    println!(
        "  queue only, pop {m} one by one: offtrack store {} · SQLite {}",
        krate(ours),
        krate(theirs)
    );
    r.add(
        "3",
        format!("queue only: pop {m} head-first, no network"),
        krate(ours),
        krate(theirs),
        x(ours, theirs),
        "",
        None,
    );
}

// 8: destroy time.
fn destroy(p: &Params, r: &mut Report) {
    section("8. tracker_destroy time");
    let hits = hits::hits(1000, 5);
    let mut offline = Vec::new();
    let mut idle = Vec::new();
    for i in 0..5 {
        let dir = fresh(p, &format!("destroy-off-{i}"));
        let t = create(&config(&down_endpoint(), Some(&dir), "required", 2000));
        for h in &hits {
            t.send(h).unwrap();
        }
        t.flush(Duration::from_secs(10)).unwrap();
        let s = Instant::now();
        drop(t);
        offline.push(ms(s.elapsed()));

        let dir = fresh(p, &format!("destroy-idle-{i}"));
        let t = create(&config(&down_endpoint(), Some(&dir), "always", 2000));
        for h in &hits {
            t.send(h).unwrap();
        }
        t.flush(Duration::from_secs(10)).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let s = Instant::now();
        drop(t);
        idle.push(ms(s.elapsed()));
    }
    let worst = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    println!("  offline (required, collector down, 1000 queued): {offline:.2?} ms");
    println!("  idle (always, 1000 queued): {idle:.2?} ms");
    r.add(
        "8",
        "destroy, offline / idle (worst of 5, 1000 queued)",
        format!("{:.2} / {:.2} ms", worst(&offline), worst(&idle)),
        "",
        "",
        "≤ 50 ms",
        Some(worst(&offline) <= 50.0 && worst(&idle) <= 50.0),
    );
}

// 7: library size.
fn size(p: &Params, r: &mut Report) {
    section("7. stripped release cdylib size");
    let lib = p.lib_dir.join("libofftrack.so");
    let Ok(meta) = std::fs::metadata(&lib) else {
        println!(
            "  {} not found: build the library first (cargo build --release)",
            lib.display()
        );
        r.add(
            "7",
            "stripped cdylib, built-in HTTPS",
            "not built",
            "",
            "",
            "≤ 3 MB",
            None,
        );
        return;
    };
    let copy = p.root.join("libofftrack.so");
    std::fs::copy(&lib, &copy).unwrap();
    let stripped = Command::new("strip")
        .arg("--strip-all")
        .arg(&copy)
        .status()
        .is_ok_and(|s| s.success());
    let bytes = std::fs::metadata(&copy).unwrap().len();
    println!(
        "  {} as built: {} · stripped copy: {}{}",
        lib.display(),
        mb(meta.len()),
        mb(bytes),
        if stripped { "" } else { " (strip failed)" }
    );
    r.add(
        "7",
        "stripped cdylib, built-in HTTPS (rustls)",
        mb(bytes),
        "",
        "",
        "≤ 3 MB",
        Some(stripped && bytes <= 3_000_000),
    );
    match std::env::var("BENCH_NOTLS_LIB")
        .ok()
        .and_then(|l| std::fs::metadata(&l).ok().map(|_| l))
    {
        Some(l) => {
            let copy = p.root.join("libofftrack-notls.so");
            std::fs::copy(&l, &copy).unwrap();
            let _ = Command::new("strip").arg("--strip-all").arg(&copy).status();
            let b = std::fs::metadata(&copy).unwrap().len();
            println!("  without built-in TLS ({l}): stripped {}", mb(b));
            r.add(
                "7",
                "stripped cdylib, HTTP only (no built-in TLS)",
                mb(b),
                "",
                "",
                "",
                None,
            );
        }
        None => {
            println!("  no HTTP-only build given (BENCH_NOTLS_LIB); skipped");
        }
    }
    let _ = std::io::stdout().flush();
}
