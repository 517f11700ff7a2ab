//! Hit validation and URL building: never panics; an accepted hit becomes a
//! URL on the endpoint's origin with nothing that could break the request
//! line, within max_hit_bytes once the timestamp and id are added.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offtrack::internals::{Endpoint, build_url, normalize_hit};

const ENDPOINTS: [&str; 6] = [
    "http://127.0.0.1:8080/hit",
    "https://collect.example.com/c?v=1",
    "http://h/c?",
    "http://h/c?a=1&",
    "HTTPS://Example.COM:443",
    "http://[::1]:9000/p",
];
const PARAMS: [&str; 4] = ["", "ts", "id", "olt"];

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let endpoint = Endpoint::parse(ENDPOINTS[data[0] as usize % ENDPOINTS.len()]).unwrap();
    let ts_param = PARAMS[data[1] as usize % PARAMS.len()];
    let id_param = PARAMS[(data[1] as usize / 4) % PARAMS.len()];
    if !id_param.is_empty() && id_param == ts_param {
        return;
    }
    let max_bytes = 64 + (data[2] as usize) * 32;
    let hit = String::from_utf8_lossy(&data[4..]);
    let Ok(url) = normalize_hit(&hit, &endpoint, ts_param, id_param, max_bytes) else {
        return;
    };
    for b in url.bytes() {
        assert!(b > b' ' && b < 0x7f && b != b'#', "byte {b:#x} in {url:?}");
    }
    let lower = url.to_ascii_lowercase();
    assert!(lower.starts_with("http://") || lower.starts_with("https://"));
    let built = build_url(
        &url,
        (!ts_param.is_empty()).then_some((ts_param, 9_999_999_999)),
        (!id_param.is_empty()).then_some((id_param, u64::MAX)),
    );
    assert!(
        built.len() <= max_bytes,
        "{} > {max_bytes}: {built}",
        built.len()
    );
    let query = built.split_once('?').map_or("", |(_, q)| q);
    for name in [ts_param, id_param] {
        if !name.is_empty() {
            // Counted decoded, as the collector reads them: t%73 is a second ts.
            let n = query
                .split('&')
                .filter(|p| decode(p.split('=').next().unwrap_or("")) == name.as_bytes())
                .count();
            assert_eq!(n, 1, "{name} in {built}");
        }
    }
});

/// Decodes valid `%XX` escapes once; anything else is kept as it is.
fn decode(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}
