//! Section 10: draining a stored queue over a link with a round trip and
//! over loopback, HTTP and HTTPS, one GET per hit against batched POSTs
//! (DESIGN §8), with the requests each way costs. The tracker runs in a
//! child process (`child netdrain`); the collector that counts requests
//! and hits, its TLS and the latency proxy run on threads here.

use crate::Params;
use crate::collector::{CountingCollector, Pki, Snapshot};
use crate::hits;
use crate::proxy::Proxy;
use crate::util::kv;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const RTT: Duration = Duration::from_millis(100);

/// One transport: a counting collector, the proxy in front of it, and
/// what a client needs to trust it.
struct Transport {
    name: &'static str,
    scheme: &'static str,
    collector: CountingCollector,
    proxy: Proxy,
    ca_file: Option<std::path::PathBuf>,
    client_tls: Option<Arc<rustls::ClientConfig>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Way {
    PerHit,
    Batch {
        format: &'static str,
        max_hits: Option<u32>,
    },
}

impl Way {
    fn label(self) -> String {
        match self {
            Way::PerHit => "per-hit GET (batch_endpoint off)".into(),
            Way::Batch {
                format,
                max_hits: None,
            } => format!("batched, {format}, default batch settings"),
            Way::Batch {
                format,
                max_hits: Some(m),
            } => format!("batched, {format}, batch_max_hits {m}"),
        }
    }
}

struct Row {
    link: String,
    way: String,
    requests: String,
    time: String,
    vs: String,
    target: &'static str,
    ok: Option<bool>,
}

/// The section's table, printed as rows arrive and returned as Markdown.
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    fn add(&mut self, r: Row) {
        println!(
            "  {:<34} {:<44} {:>10} {:>24} {:>8}  {}",
            r.link,
            r.way,
            r.requests,
            r.time,
            r.vs,
            crate::verdict(r.ok)
        );
        self.rows.push(r);
    }

    pub fn markdown(&self) -> String {
        let mut s = String::from(
            "| # | transport, link, queue | delivery | requests per 1,000 hits | drain time | vs per-hit GET | target | met |\n\
             |---|---|---|---:|---:|---:|---|---|\n",
        );
        for r in &self.rows {
            s.push_str(&format!(
                "| 10 | {} | {} | {} | {} | {} | {} | {} |\n",
                r.link,
                r.way,
                r.requests,
                r.time,
                r.vs,
                r.target,
                crate::verdict(r.ok)
            ));
        }
        s
    }
}

fn secs(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.3} s")
    }
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn section(p: &Params) -> Table {
    crate::section(&format!(
        "10. drain over a link: {} ms RTT through a latency proxy, and loopback; \
         hits of {} bytes; counting collector on this process's threads",
        RTT.as_millis(),
        hits::NET_HIT_BYTES
    ));
    let mut table = Table { rows: Vec::new() };
    let plain = CountingCollector::start(None);
    let mut transports = vec![Transport {
        name: "HTTP",
        scheme: "http",
        proxy: Proxy::start(plain.port, RTT),
        collector: plain,
        ca_file: None,
        client_tls: None,
    }];
    match Pki::make(&p.root.join("pki")) {
        Ok(pki) => {
            let c = CountingCollector::start(Some(pki.server.clone()));
            transports.push(Transport {
                name: "HTTPS",
                scheme: "https",
                proxy: Proxy::start(c.port, RTT),
                collector: c,
                client_tls: Some(pki.client()),
                ca_file: Some(pki.ca_file),
            });
        }
        Err(e) => println!("  HTTPS rows skipped: no test certificate ({e})"),
    }
    // (queue, link over the proxy?)
    let (rtt_n, loop_n) = if p.smoke { (100, 500) } else { (1_000, 10_000) };
    let ways = [
        Way::PerHit,
        Way::Batch {
            format: "lines",
            max_hits: None,
        },
        Way::Batch {
            format: "json",
            max_hits: None,
        },
        Way::Batch {
            format: "lines",
            max_hits: Some(500),
        },
    ];
    for t in &transports {
        for over_rtt in [true, false] {
            let n: u64 = if over_rtt { rtt_n } else { loop_n };
            let port = if over_rtt {
                t.proxy.port
            } else {
                t.collector.port
            };
            let link = format!(
                "{}, {}, {} hits",
                t.name,
                if over_rtt {
                    format!("{} ms RTT", RTT.as_millis())
                } else {
                    "loopback".to_owned()
                },
                thousands(n)
            );
            let mut per_hit_s = None;
            for way in ways {
                // One GET per hit costs two round trips (three with TLS):
                // a sample, projected to the queue's size.
                let measured = match (way, over_rtt) {
                    (Way::PerHit, true) => {
                        if p.smoke {
                            2
                        } else {
                            25
                        }
                    }
                    (Way::PerHit, false) if t.client_tls.is_some() && !p.smoke => 2_000,
                    _ => n,
                };
                // Batched drains take a fraction of a second on a shared
                // machine: the median of three.
                let runs = if matches!(way, Way::Batch { .. }) && !p.smoke {
                    3
                } else {
                    1
                };
                let r: Result<Vec<(f64, Snapshot)>, String> = (0..runs)
                    .map(|_| drain(p, t, port, way, measured))
                    .collect();
                let (requests, time, ok_delivery) = match r {
                    Ok(results) => {
                        let mut complete = true;
                        for (_, snap) in &results {
                            if snap.hits != measured || snap.bad != 0 {
                                complete = false;
                                println!(
                                    "  incomplete: collector counted {snap:?} for {measured} hits"
                                );
                            }
                        }
                        let most = results.iter().map(|(_, s)| s.requests).max().unwrap_or(0);
                        let per_1k = most as f64 * 1000.0 / measured as f64;
                        let scale = n as f64 / measured as f64 / 1000.0;
                        let mut times: Vec<f64> =
                            results.iter().map(|(ms, _)| ms * scale).collect();
                        times.sort_by(f64::total_cmp);
                        let s = times[times.len() / 2];
                        let time = if measured < n {
                            format!("{} ({} measured, ×{})", secs(s), measured, n / measured)
                        } else if times.len() > 1 {
                            format!(
                                "{} (median of {}, {}–{})",
                                secs(s),
                                times.len(),
                                secs(times[0]).trim_end_matches(" s"),
                                secs(times[times.len() - 1])
                            )
                        } else {
                            secs(s)
                        };
                        (Some((per_1k, s)), time, complete)
                    }
                    Err(e) => {
                        println!("  {link}, {}: {e}", way.label());
                        (None, "failed".to_owned(), false)
                    }
                };
                if way == Way::PerHit {
                    per_hit_s = requests.map(|(_, s)| s);
                }
                let vs = match (requests, per_hit_s, way) {
                    (Some((_, s)), Some(base), Way::Batch { .. }) => format!("{:.0}×", base / s),
                    _ => String::new(),
                };
                let default_batch = matches!(way, Way::Batch { max_hits: None, .. });
                let (target, limit) = match (t.tls(), over_rtt, default_batch) {
                    (false, true, true) => ("≤ 0.43 s, ≤ 10 requests", Some(0.43)),
                    (false, false, true) => ("≤ 0.2 s, ≤ 10 requests", Some(0.2)),
                    (true, _, true) => ("report", None),
                    _ => ("", None),
                };
                // Smoke sizes are not the targets' sizes: no verdict.
                let ok = limit.filter(|_| !p.smoke).map(|limit| {
                    ok_delivery && requests.is_some_and(|(per_1k, s)| s <= limit && per_1k <= 10.0)
                });
                table.add(Row {
                    link: link.clone(),
                    way: way.label(),
                    requests: requests.map_or(String::new(), |(r, _)| format!("{r:.0}")),
                    time,
                    vs,
                    target,
                    ok,
                });
            }
        }
    }
    reuse(p, &transports, &mut table);
    table
}

impl Transport {
    fn tls(&self) -> bool {
        self.client_tls.is_some()
    }
}

/// One drain in a child process: Ok((drain ms, what the collector saw)).
fn drain(
    p: &Params,
    t: &Transport,
    port: u16,
    way: Way,
    n: u64,
) -> Result<(f64, Snapshot), String> {
    let base = format!("{}://127.0.0.1:{port}", t.scheme);
    let extra = match way {
        Way::PerHit => String::new(),
        Way::Batch { format, max_hits } => {
            let mut e =
                format!(",\"batch_endpoint\":\"{base}/batch\",\"batch_format\":\"{format}\"");
            if let Some(m) = max_hits {
                e.push_str(&format!(",\"batch_max_hits\":{m}"));
            }
            e
        }
    };
    let dir = crate::fresh(p, "netdrain");
    let endpoint = format!("{base}/collect");
    let run = |args: &[&str]| -> Result<String, String> {
        let mut cmd = Command::new(&p.exe);
        cmd.arg("child").args(args);
        cmd.env_remove("SSL_CERT_DIR");
        match &t.ca_file {
            Some(ca) => cmd.env("SSL_CERT_FILE", ca),
            None => cmd.env_remove("SSL_CERT_FILE"),
        };
        let out = cmd.output().map_err(|e| format!("run child: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        let why = stdout
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .to_owned();
        Err(format!("child failed: {why}"))
    };
    let dir_s = dir.to_string_lossy().into_owned();
    let filled = run(&["netfill", &dir_s, &endpoint, &n.to_string(), &extra]);
    t.collector.counts.take();
    t.collector.counts.take_timeline();
    let drained = filled.and_then(|_| run(&["netdrain", &dir_s, &endpoint, &extra]));
    let _ = std::fs::remove_dir_all(&dir);
    let snap = t.collector.counts.take();
    let stdout = drained?;
    println!("    {}", stdout.trim());
    let timeline = t.collector.counts.take_timeline();
    if let (Some(start), Some(end), Some(first), Some(last)) = (
        kv(&stdout, "start_ns"),
        kv(&stdout, "end_ns"),
        timeline.first(),
        timeline.last(),
    ) {
        // Where the drain's time went: before the first request, bodies
        // arriving, between requests (the library's own work and the
        // answer's trip), after the last one (removing, syncing).
        let ms = |ns: f64| ns / 1e6;
        let upload: u64 = timeline.iter().map(|(h, b)| b - h).sum();
        let between: u64 = timeline.windows(2).map(|w| w[1].0 - w[0].1).sum();
        println!(
            "    first request head after {:.1} ms · bodies arriving {:.1} ms · between requests {:.1} ms · after the last body {:.1} ms",
            ms(first.0 as f64 - start),
            ms(upload as f64),
            ms(between as f64),
            ms(end - last.1 as f64)
        );
    }
    let left = kv(&stdout, "left").unwrap_or(f64::NAN);
    if left != 0.0 {
        return Err(format!("{left} hits left in the queue ({})", stdout.trim()));
    }
    Ok((kv(&stdout, "drain_ms").unwrap_or(f64::NAN), snap))
}

trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

fn connect(port: u16, tls: Option<&Arc<rustls::ClientConfig>>) -> Option<Box<dyn Stream>> {
    let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = s.set_nodelay(true);
    Some(match tls {
        None => Box::new(s),
        Some(cfg) => {
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").ok()?;
            let conn = rustls::ClientConnection::new(cfg.clone(), name).ok()?;
            Box::new(rustls::StreamOwned::new(conn, s))
        }
    })
}

/// Writes one request and reads the answer's head (the collector's
/// answers have no body): the status.
fn exchange(s: &mut dyn Stream, request: &[u8]) -> Option<u16> {
    s.write_all(request).ok()?;
    s.flush().ok()?;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).ok()? == 0 {
            return None;
        }
        head.push(b[0]);
    }
    std::str::from_utf8(&head)
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}

/// What connection reuse would bring, which the library's HTTP client
/// (minreq: a new connection per request) cannot do: the bench's own
/// client makes the same requests over the proxy, a new connection each,
/// then all over one kept-alive connection.
fn reuse(p: &Params, transports: &[Transport], table: &mut Table) {
    let gets = if p.smoke { 2 } else { 10 };
    let batch: Vec<String> = hits::net_hits(500, 15)
        .into_iter()
        .map(|h| format!("{h}&ts=1733000000"))
        .collect();
    let body = batch.join("\n");
    for t in transports {
        let host = format!("127.0.0.1:{}", t.proxy.port);
        let get = |keep: bool, i: usize| {
            format!(
                "GET /collect?{}&ts=1733000000 HTTP/1.1\r\nHost: {host}\r\nConnection: {}\r\n\r\n",
                batch[i % batch.len()],
                if keep { "keep-alive" } else { "close" }
            )
            .into_bytes()
        };
        let post = |keep: bool| {
            let mut r = format!(
                "POST /batch HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: {}\r\n\r\n",
                body.len(),
                if keep { "keep-alive" } else { "close" }
            )
            .into_bytes();
            r.extend_from_slice(body.as_bytes());
            r
        };
        let tls = t.client_tls.as_ref();
        let each = |reqs: &[Vec<u8>]| -> Option<f64> {
            let start = Instant::now();
            for r in reqs {
                let mut s = connect(t.proxy.port, tls)?;
                (exchange(&mut *s, r)? == 204).then_some(())?;
            }
            Some(start.elapsed().as_secs_f64())
        };
        let kept = |reqs: &[Vec<u8>]| -> Option<f64> {
            let start = Instant::now();
            let mut s = connect(t.proxy.port, tls)?;
            for r in reqs {
                (exchange(&mut *s, r)? == 204).then_some(())?;
            }
            Some(start.elapsed().as_secs_f64())
        };
        // (what, requests per 1,000 hits, a new connection each, one kept).
        type Case = (String, u64, Vec<Vec<u8>>, Vec<Vec<u8>>);
        let cases: [Case; 2] = [
            (
                format!("{gets} GETs"),
                1000,
                (0..gets).map(|i| get(false, i)).collect(),
                (0..gets).map(|i| get(true, i)).collect(),
            ),
            (
                "2 POSTs of 500 hits (lines)".to_owned(),
                2,
                vec![post(false), post(false)],
                vec![post(true), post(true)],
            ),
        ];
        for (what, per_1k, fresh, reused) in cases {
            t.collector.counts.take();
            let (a, b) = (each(&fresh), kept(&reused));
            let snap = t.collector.counts.take();
            let time = match (a, b) {
                (Some(a), Some(b)) => format!("{} → {}", secs(a), secs(b)),
                _ => "failed".to_owned(),
            };
            println!(
                "  reuse, {} {} ms RTT, {what}: new connection each → one connection: {time} \
                 ({} connections, {} requests at the collector)",
                t.name,
                RTT.as_millis(),
                snap.connections,
                snap.requests
            );
            table.add(Row {
                link: format!("{}, {} ms RTT", t.name, RTT.as_millis()),
                way: format!(
                    "bench client, {what}: a new connection each → one kept-alive connection"
                ),
                requests: per_1k.to_string(),
                time,
                vs: String::new(),
                target: "",
                ok: None,
            });
        }
    }
}
