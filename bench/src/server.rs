//! Loopback collectors: a fast one (thread pool, fixed 204, Connection:
//! close) run as a child process so its memory and threads are not counted
//! with the tracker's, and a blackhole that accepts and never answers.

use std::io::{BufRead, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const RESPONSE: &[u8] =
    b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const THREADS: usize = 4;

/// Body of `offtrack-bench serve`: prints the port, serves until stdin closes.
pub fn serve_main() -> ! {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind collector");
    let port = listener.local_addr().unwrap().port();
    println!("{port}");
    std::io::stdout().flush().unwrap();
    for _ in 0..THREADS {
        let l = listener.try_clone().unwrap();
        std::thread::spawn(move || {
            loop {
                if let Ok((s, _)) = l.accept() {
                    answer(s);
                }
            }
        });
    }
    // The parent holds our stdin; when it goes away, so do we.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    std::process::exit(0);
}

fn answer(mut s: TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = s.set_nodelay(true);
    let mut buf = [0u8; 16 * 1024];
    let mut seen: Vec<u8> = Vec::with_capacity(1024);
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let from = seen.len().saturating_sub(3);
                seen.extend_from_slice(&buf[..n]);
                if seen[from..].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
        }
    }
    let _ = s.write_all(RESPONSE);
}

/// The fast collector in a child process.
pub struct Collector {
    child: Child,
    pub port: u16,
}

impl Collector {
    pub fn start(exe: &std::path::Path) -> Collector {
        let mut child = Command::new(exe)
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start collector");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("collector port");
        Collector { child, port }
    }
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/collect", self.port)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Accepts connections and never answers; holds them until dropped.
pub struct Blackhole {
    pub port: u16,
}

impl Blackhole {
    pub fn start() -> Blackhole {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind blackhole");
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming().flatten() {
                held.push(s);
            }
        });
        Blackhole { port }
    }
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/collect", self.port)
    }
}

/// An endpoint nobody listens on: connections are refused at once.
pub fn down_endpoint() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}/collect")
}

/// One request the way minreq does it (a new connection each time), with
/// the least client work possible: the collector's own limit.
pub fn raw_get(port: u16, path_and_query: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_nodelay(true);
    let req = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut out = Vec::with_capacity(128);
    let _ = s.read_to_end(&mut out);
    out.starts_with(b"HTTP/1.1 204")
}
