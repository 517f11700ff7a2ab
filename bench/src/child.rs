//! Work that runs in a child process of its own: peak memory (VmHWM) is per
//! process, an unclean shutdown is a real SIGKILL, and open time includes a
//! cold process's first use of the library. Each prints `key=value` pairs.

use crate::hits;
use crate::sqlq::SqlQueue;
use crate::util::{ms, proc_status_bytes};
use offtrack::Tracker;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Queue limits raised far past the defaults (100k hits / 50 MiB), so no
/// benchmark run evicts: it measures storing, not dropping.
pub const MAX_QUEUE_HITS: u64 = 100_000_000;
pub const MAX_QUEUE_BYTES: u64 = 1 << 40;

pub fn config(endpoint: &str, dir: Option<&Path>, storage: &str, shutdown_ms: u64) -> String {
    let path = dir.map_or(String::new(), |d| {
        format!(",\"storage_path\":\"{}\"", d.display())
    });
    format!(
        "{{\"endpoint\":\"{endpoint}\"{path},\"storage\":\"{storage}\",\
         \"max_queue_hits\":{MAX_QUEUE_HITS},\"max_queue_bytes\":{MAX_QUEUE_BYTES},\
         \"shutdown_timeout_ms\":{shutdown_ms}}}"
    )
}

pub fn create(cfg: &str) -> Tracker {
    Tracker::create(cfg).unwrap_or_else(|e| panic!("tracker_create: {e}"))
}

/// A tracker for the network drains (`always` mode), or the exit status 3
/// with the reason when the config is refused (a key this build lacks).
fn net_tracker(dir: &Path, endpoint: &str, extra: &str) -> Tracker {
    let mut cfg = config(endpoint, Some(dir), "always", 2000);
    cfg.pop();
    cfg.push_str(extra);
    cfg.push('}');
    Tracker::create(&cfg).unwrap_or_else(|e| {
        out(format!("error=config {e}"));
        std::process::exit(3);
    })
}

fn hwm() -> u64 {
    proc_status_bytes("VmHWM")
}

fn out(s: String) {
    println!("{s}");
    std::io::stdout().flush().unwrap();
}

pub fn main(args: &[String]) {
    let a = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let base = hwm();
    match a(0) {
        // fill DIR ENDPOINT N clean|kill
        "fill" => {
            let (dir, endpoint, n) = (Path::new(a(1)), a(2), a(3).parse::<u64>().unwrap());
            let t = create(&config(endpoint, Some(dir), "always", 2000));
            let mut rng = hits::Rng::new(7);
            let start = Instant::now();
            for i in 0..n {
                t.send(&hits::hit(&mut rng, 7, i)).expect("send");
            }
            let fill = start.elapsed();
            if a(4) == "kill" {
                // Acknowledged hits only; no flush, no destroy: the parent kills us.
                out(format!(
                    "READY fill_ms={:.1} hwm={}",
                    ms(fill),
                    hwm() - base
                ));
                loop {
                    std::thread::sleep(Duration::from_secs(60));
                }
            }
            t.flush(Duration::from_secs(600)).expect("flush");
            let peak = hwm() - base;
            let d = Instant::now();
            drop(t);
            out(format!(
                "fill_ms={:.1} hwm={peak} destroy_ms={:.2}",
                ms(fill),
                ms(d.elapsed())
            ));
        }
        // open DIR ENDPOINT
        "open" => {
            let (dir, endpoint) = (Path::new(a(1)), a(2));
            let start = Instant::now();
            let t = create(&config(endpoint, Some(dir), "always", 2000));
            let open = start.elapsed();
            let count = t.offline_count().unwrap();
            // Let any background work fjall started at open show in the peak.
            std::thread::sleep(Duration::from_millis(200));
            let peak = hwm() - base;
            let d = Instant::now();
            drop(t);
            out(format!(
                "open_ms={:.2} count={count} hwm={peak} base={base} destroy_ms={:.2}",
                ms(open),
                ms(d.elapsed())
            ));
        }
        // drain DIR ENDPOINT
        "drain" => {
            let (dir, endpoint) = (Path::new(a(1)), a(2));
            let t = create(&config(endpoint, Some(dir), "always", 2000));
            let before = t.offline_count().unwrap();
            let start = Instant::now();
            t.dispatch().unwrap();
            t.flush(Duration::from_secs(1200))
                .expect("flush after dispatch");
            let took = start.elapsed();
            let after = t.offline_count().unwrap();
            let peak = hwm() - base;
            let stats = t.stats_json();
            drop(t);
            let sent = stats
                .split("\"sent\":")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .unwrap_or("0")
                .to_owned();
            out(format!(
                "drained={} sent={sent} left={after} drain_ms={:.1} hwm={peak}",
                before - after,
                ms(took)
            ));
        }
        // netfill DIR ENDPOINT N EXTRA: N network hits stored (`always` mode
        // sends nothing by itself), then a clean shutdown, so the drain
        // that follows opens a settled store as an app's next start would.
        // EXTRA: more config keys, `,"key":value…`.
        "netfill" => {
            let t = net_tracker(Path::new(a(1)), a(2), a(4));
            let n: usize = a(3).parse().expect("hit count");
            for h in hits::net_hits(n, 14) {
                t.send(&h).expect("send");
            }
            t.flush(Duration::from_secs(600)).expect("flush");
            let queued = t.offline_count().unwrap();
            drop(t);
            out(format!("queued={queued}"));
        }
        // netdrain DIR ENDPOINT EXTRA: tracker_dispatch timed until the
        // worker has finished it and the queue is empty.
        "netdrain" => {
            let t = net_tracker(Path::new(a(1)), a(2), a(3));
            let queued = t.offline_count().unwrap();
            let (start, start_ns) = (Instant::now(), crate::util::mono_ns());
            t.dispatch().unwrap();
            let flushed = t.flush(Duration::from_secs(1200));
            let (took, end_ns) = (start.elapsed(), crate::util::mono_ns());
            let left = t.offline_count().unwrap();
            drop(t);
            out(format!(
                "queued={queued} left={left} drain_ms={:.1} flushed={} start_ns={start_ns} end_ns={end_ns}",
                ms(took),
                flushed.is_ok()
            ));
        }
        // netloop PORT N: the client-side limits, in a process of their own
        "netloop" => {
            let (port, n) = (a(1).parse::<u16>().unwrap(), a(2).parse::<u64>().unwrap());
            let hit = hits::hits(1, 9).pop().unwrap();
            let path = format!("/collect?{hit}");
            let url = format!("http://127.0.0.1:{port}{path}");
            let loop_rate = |f: &dyn Fn() -> bool| -> f64 {
                let start = Instant::now();
                let ok: u64 = (0..n).map(|_| f() as u64).sum();
                ok as f64 / start.elapsed().as_secs_f64()
            };
            let raw = loop_rate(&|| crate::server::raw_get(port, &path));
            let plain = loop_rate(&|| minreq::get(&url).send().is_ok_and(|r| r.status_code == 204));
            let timed = loop_rate(&|| {
                minreq::get(&url)
                    .with_timeout(10)
                    .send()
                    .is_ok_and(|r| r.status_code == 204)
            });
            out(format!("raw={raw:.0} plain={plain:.0} timed={timed:.0}"));
        }
        // sqlite-open DB
        "sqlite-open" => {
            let start = Instant::now();
            let q = SqlQueue::open(Path::new(a(1)));
            let count = q.count();
            let open = start.elapsed();
            let head = q.head().map_or(0, |r| r.id);
            std::thread::sleep(Duration::from_millis(50));
            out(format!(
                "open_ms={:.2} count={count} head={head} hwm={}",
                ms(open),
                hwm() - base
            ));
        }
        other => panic!("unknown child mode {other:?}"),
    }
}
