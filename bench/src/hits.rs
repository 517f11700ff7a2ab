//! Realistic 500-byte hits: Measurement-Protocol-style query strings with
//! repeated keys, fixed per-session values and per-hit varying values, so
//! compression ratios are neither flattering nor hopeless.

pub const HIT_BYTES: usize = 500;

/// Deterministic xorshift, so every run stores the same bytes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

const EVENTS: &[&str] = &[
    "level_start",
    "level_complete",
    "item_purchase",
    "ad_impression",
    "session_ping",
    "achievement_unlocked",
];
const ITEMS: &[&str] = &[
    "sword_of_dawn",
    "health_potion",
    "gem_pack_small",
    "skin_neon_fox",
];

/// The `i`-th hit of a session: exactly `HIT_BYTES` bytes, URL-safe.
pub fn hit(rng: &mut Rng, session: u64, i: u64) -> String {
    shaped(rng, session, i, 3, HIT_BYTES)
}

/// Hits of the network drains: ≈430 bytes like those of issue 14's
/// measurements, one e-commerce item (three do not fit).
pub const NET_HIT_BYTES: usize = 430;

pub fn net_hits(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n as u64)
        .map(|i| shaped(&mut rng, seed, i, 1, NET_HIT_BYTES))
        .collect()
}

/// A hit with `items` repeated-key groups, padded to `len` bytes (the fixed
/// part must fit: up to 489 bytes with three items, 387 with one).
fn shaped(rng: &mut Rng, session: u64, i: u64, items: u64, len: usize) -> String {
    let ev = EVENTS[(rng.next() % EVENTS.len() as u64) as usize];
    let mut s = format!(
        "v=2&tid=G-7XK2P9QZ31&cid={session:016x}.{:010}&sid={}&sct=12&seg=1&_p={:010}\
         &en={ev}&ep.level={}&ep.difficulty=hard&ep.mode=campaign&epn.score={}\
         &epn.duration_ms={}&up.platform=android&up.app_version=2.14.3&up.build=20431",
        session % 10_000_000_000,
        session ^ 0x5eed,
        rng.next() % 10_000_000_000,
        rng.next() % 120,
        rng.next() % 1_000_000,
        rng.next() % 600_000,
    );
    // Repeated keys, as e-commerce items are sent.
    for n in 0..items {
        let item = ITEMS[(rng.next() % ITEMS.len() as u64) as usize];
        s.push_str(&format!(
            "&pr={item}&pr.qty={}&pr.price={}.{:02}&pr.idx={n}",
            1 + rng.next() % 5,
            rng.next() % 100,
            rng.next() % 100
        ));
    }
    s.push_str(&format!(
        "&_s={i}&dl=app%3A%2F%2Fmenu%2Fshop&ul=en-us&sr=2400x1080&pad="
    ));
    debug_assert!(
        s.len() <= len,
        "the fixed part of a hit outgrew {len} bytes"
    );
    while s.len() < len {
        s.push(b"abcdefghijklmnopqrstuvwxyz0123456789"[(rng.next() % 36) as usize] as char);
    }
    s.truncate(len);
    s
}

/// `n` hits, generated ahead of a timed loop so generation is not measured.
pub fn hits(n: usize, seed: u64) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n as u64).map(|i| hit(&mut rng, seed, i)).collect()
}
