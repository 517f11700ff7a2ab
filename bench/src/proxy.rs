//! A TCP proxy that puts a round trip between a client and a server on
//! loopback: a new connection costs one full round trip before any byte
//! goes through (the TCP handshake the client did not wait for), and every
//! chunk read on one side reaches the other half a round trip later.
//!
//! Each direction has a reader that stamps chunks with the time they are
//! due and a writer that sleeps until then, so chunks in flight overlap as
//! they would on a real link instead of paying their delays one after the
//! other. No bandwidth limit and no congestion window: a large request
//! costs the same round trips as a small one, which flatters large bodies
//! against a real link's slow start (BENCHMARKS.md says by how much).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Proxy {
    pub port: u16,
}

impl Proxy {
    /// Listens on a loopback port and forwards to `upstream` on loopback.
    /// Runs until the process ends (a bench run makes a handful).
    pub fn start(upstream: u16, rtt: Duration) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let accepted = Instant::now();
                std::thread::spawn(move || connection(client, upstream, rtt, accepted));
            }
        });
        Proxy { port }
    }
}

fn connection(client: TcpStream, upstream: u16, rtt: Duration, accepted: Instant) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    // The client's connect() returned at once on loopback; on the link it
    // would have returned a round trip later, and sent nothing before.
    let open = accepted + rtt;
    let half = rtt / 2;
    let due = move |read_at: Instant| read_at.max(open) + half;
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || pipe(c2, s2, due));
    pipe(server, client, due);
    let _ = up.join();
}

/// Copies `from` to `to`, each chunk at the time `due` gives for the
/// moment it was read; the end of the stream travels the same way.
fn pipe(mut from: TcpStream, to: TcpStream, due: impl Fn(Instant) -> Instant) {
    let (tx, rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>();
    let Ok(reader_side) = from.try_clone() else {
        return;
    };
    let writer = std::thread::spawn(move || {
        let mut to = to;
        for (at, chunk) in rx {
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            match chunk {
                Some(bytes) => {
                    if to.write_all(&bytes).is_err() {
                        // The receiver is gone: stop reading for it too.
                        let _ = reader_side.shutdown(Shutdown::Read);
                        let _ = to.shutdown(Shutdown::Both);
                        return;
                    }
                }
                None => {
                    let _ = to.shutdown(Shutdown::Write);
                    return;
                }
            }
        }
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = tx.send((due(Instant::now()), None));
                break;
            }
            Ok(n) => {
                if tx
                    .send((due(Instant::now()), Some(buf[..n].to_vec())))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.join();
}
