//! A counting collector for the network drains: GET hits and POST batches
//! in both formats of DESIGN §8 (`lines`: one query string per line;
//! `json`: `{"requests":["?q",…]}`), over plain TCP or TLS (rustls, with a
//! certificate made by the `openssl` CLI at run time and trusted by the
//! library through `SSL_CERT_FILE`). Runs on threads of the bench process:
//! the tracker under test is in a child process.
//!
//! Answers `204` and closes the connection unless the request asks to keep
//! it (`Connection: keep-alive`), which only the bench's own reuse client
//! does.

use crate::util::mono_ns;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub gets: AtomicU64,
    pub posts: AtomicU64,
    pub hits: AtomicU64,
    pub body_bytes: AtomicU64,
    /// Requests the collector could not make sense of (answered 400).
    pub bad: AtomicU64,
    pub connections: AtomicU64,
    /// Per request: when its head had arrived and when its body had (CLOCK_MONOTONIC ns).
    pub timeline: Mutex<Vec<(u64, u64)>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub requests: u64,
    pub gets: u64,
    pub posts: u64,
    pub hits: u64,
    pub body_bytes: u64,
    pub bad: u64,
    pub connections: u64,
}

impl Counts {
    pub fn take_timeline(&self) -> Vec<(u64, u64)> {
        std::mem::take(&mut *self.timeline.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn take(&self) -> Snapshot {
        let t = |a: &AtomicU64| a.swap(0, Ordering::SeqCst);
        Snapshot {
            requests: t(&self.requests),
            gets: t(&self.gets),
            posts: t(&self.posts),
            hits: t(&self.hits),
            body_bytes: t(&self.body_bytes),
            bad: t(&self.bad),
            connections: t(&self.connections),
        }
    }
}

/// Connections served at once (the drains make one at a time).
const THREADS: usize = 4;

pub struct CountingCollector {
    pub port: u16,
    pub counts: Arc<Counts>,
}

impl CountingCollector {
    /// Plain HTTP, or TLS with `tls`'s certificate.
    pub fn start(tls: Option<Arc<rustls::ServerConfig>>) -> CountingCollector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind counting collector");
        let port = listener.local_addr().expect("collector address").port();
        let counts = Arc::new(Counts::default());
        // A fixed pool, as the other collector has: a thread started per
        // connection cost the per-hit drain a tenth of a millisecond a hit.
        for _ in 0..THREADS {
            let (c, tls) = (counts.clone(), tls.clone());
            let l = listener.try_clone().expect("clone collector listener");
            std::thread::spawn(move || {
                for s in l.incoming().flatten() {
                    c.connections.fetch_add(1, Ordering::Relaxed);
                    let _ = s.set_nodelay(true);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                    match &tls {
                        None => serve(s, &c),
                        Some(cfg) => {
                            if let Ok(conn) = rustls::ServerConnection::new(cfg.clone()) {
                                serve(rustls::StreamOwned::new(conn, s), &c);
                            }
                        }
                    }
                }
            });
        }
        CountingCollector { port, counts }
    }
}

/// Requests on one connection until it closes or asks to.
fn serve(mut s: impl Read + Write, counts: &Counts) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Head.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head_ns = mono_ns();
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut length = 0usize;
        let mut content_type = String::new();
        let mut keep = false;
        for l in lines {
            let Some((name, value)) = l.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "content-type" => content_type = value.to_ascii_lowercase(),
                "connection" => keep = value.eq_ignore_ascii_case("keep-alive"),
                _ => {}
            }
        }
        // Body.
        while buf.len() < head_end + length {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body_ns = mono_ns();
        let body = &buf[head_end..head_end + length];
        let hits = count_hits(request_line, &content_type, body);
        counts
            .timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((head_ns, body_ns));
        counts.requests.fetch_add(1, Ordering::Relaxed);
        counts
            .body_bytes
            .fetch_add(length as u64, Ordering::Relaxed);
        if request_line.starts_with("POST ") {
            counts.posts.fetch_add(1, Ordering::Relaxed);
        } else {
            counts.gets.fetch_add(1, Ordering::Relaxed);
        }
        let status = match hits {
            Some(n) => {
                counts.hits.fetch_add(n, Ordering::Relaxed);
                "204 No Content"
            }
            None => {
                counts.bad.fetch_add(1, Ordering::Relaxed);
                "400 Bad Request"
            }
        };
        let answer = format!(
            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: {}\r\n\r\n",
            if keep { "keep-alive" } else { "close" }
        );
        if s.write_all(answer.as_bytes()).is_err() || s.flush().is_err() || !keep {
            return;
        }
        buf.drain(..head_end + length);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Hits in one request: a GET with a query is one; a POST is one per line
/// (`text/plain`) or per `"?…"` string (`application/json`). `None`: not
/// something the library sends.
fn count_hits(request_line: &str, content_type: &str, body: &[u8]) -> Option<u64> {
    let target = request_line.split(' ').nth(1)?;
    if request_line.starts_with("GET ") {
        return target.contains('?').then_some(1);
    }
    if !request_line.starts_with("POST ") || body.is_empty() {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    if content_type.starts_with("text/plain") {
        let lines = text.split('\n');
        let mut n = 0;
        for l in lines {
            if l.is_empty() || l.starts_with('?') || !l.contains('=') {
                return None;
            }
            n += 1;
        }
        Some(n)
    } else if content_type.starts_with("application/json") {
        let inner = text
            .trim()
            .strip_prefix("{\"requests\":[")?
            .strip_suffix("]}")?;
        // Query strings are percent-encoded: no quote or backslash inside.
        let mut n = 0;
        for item in inner.split(',') {
            let q = item.trim().strip_prefix("\"?")?.strip_suffix('"')?;
            if q.contains('"') || !q.contains('=') {
                return None;
            }
            n += 1;
        }
        Some(n)
    } else {
        None
    }
}

/// A test CA and a server certificate for 127.0.0.1 made with the `openssl`
/// CLI (ECDSA P-256), and the server's TLS configuration.
pub struct Pki {
    pub ca_file: PathBuf,
    pub server: Arc<rustls::ServerConfig>,
}

impl Pki {
    /// The reason, when `openssl` is missing or fails: the HTTPS rows are
    /// then skipped.
    pub fn make(dir: &Path) -> Result<Pki, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let openssl = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()
                .map_err(|e| format!("openssl: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "openssl {}: {}",
                    args.first().unwrap_or(&""),
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Offtrack Bench CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        openssl(&ca)?;
        std::fs::write(
            dir.join("server.ext"),
            "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n\
             extendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n",
        )
        .map_err(|e| e.to_string())?;
        let mut req = vec!["req"];
        req.extend(ec);
        req.extend([
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(&req)?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ])?;
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
            .map_err(|e| e.to_string())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let key =
            PrivateKeyDer::from_pem_file(dir.join("server.key")).map_err(|e| e.to_string())?;
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
        Ok(Pki {
            ca_file: dir.join("ca.pem"),
            server: Arc::new(server),
        })
    }

    /// A client configuration that trusts the CA (the bench's own reuse
    /// client; the library finds the CA through `SSL_CERT_FILE`).
    pub fn client(&self) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.ca_file)
            .expect("read CA")
            .flatten()
        {
            roots.add(c).expect("add CA");
        }
        Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
        )
    }
}
