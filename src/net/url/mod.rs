//! Building request URLs from hits (DESIGN.md §4): endpoint parsing, hit
//! validation, percent-encoding, and adding the timestamp and id parameters.
//!
//! Pure functions over strings: no I/O, no clocks. A hit is normalised once,
//! at `tracker_send`; the stored form is the request URL without the
//! parameters we add, which are appended each time a request is built.

use crate::error::{Error, Result, truncate_for_message};

/// The collector's base URL, split so origins can be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The endpoint exactly as configured (already validated).
    pub url: String,
    /// `scheme://host:port`, lowercased, with the default port made explicit.
    pub origin: String,
}

impl Endpoint {
    pub(crate) fn placeholder() -> Endpoint {
        Endpoint {
            url: String::new(),
            origin: String::new(),
        }
    }

    /// Validates an `http://` or `https://` base URL without a fragment.
    pub fn parse(url: &str) -> Result<Endpoint> {
        Self::parse_key("endpoint", url)
    }

    /// `parse` for the config key `key`, which errors name.
    pub fn parse_key(key: &str, url: &str) -> Result<Endpoint> {
        let bad = |why: &str| {
            Error::config(format!(
                "config key '{key}' {why}: '{}'",
                truncate_for_message(url)
            ))
        };
        if url.bytes().any(|b| b <= b' ' || b >= 0x7f) {
            return Err(bad(
                "must be an ASCII URL without spaces or control characters",
            ));
        }
        if url.contains('#') {
            return Err(bad("must not have a #fragment"));
        }
        let origin =
            origin_of(url).ok_or_else(|| bad("must be an http:// or https:// URL with a host"))?;
        Ok(Endpoint {
            url: url.to_owned(),
            origin,
        })
    }
}

/// The query a GET of `url` carries, when `url` is a request to the
/// endpoint's own path (so the hit can join a batch); `None` for a URL to
/// another path, or without a query.
pub fn batch_query<'a>(url: &'a str, endpoint: &Endpoint) -> Option<&'a str> {
    let (base, query) = url.split_once('?')?;
    if query.is_empty() {
        return None;
    }
    let endpoint_base = endpoint.url.split('?').next().unwrap_or_default();
    // Hits given as parameters are built on the endpoint itself.
    if base == endpoint_base {
        return Some(query);
    }
    let same_path = path_of(base) == path_of(endpoint_base);
    (same_path && origin_of(base).as_deref() == Some(endpoint.origin.as_str())).then_some(query)
}

/// The path of an absolute URL without its query ("/" when empty).
fn path_of(base: &str) -> &str {
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    match rest.find('/') {
        Some(i) => &rest[i..],
        None => "/",
    }
}

/// `scheme://host:port` of an absolute http(s) URL, or None.
fn origin_of(url: &str) -> Option<String> {
    let lower = url.get(..8)?.to_ascii_lowercase();
    let (scheme, rest, default_port) = if lower.starts_with("https://") {
        ("https", &url[8..], 443)
    } else if lower.starts_with("http://") {
        ("http", &url[7..], 80)
    } else {
        return None;
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority.ends_with(']') => {
            let port: u16 = authority[i + 1..].parse().ok()?;
            (&authority[..i], port)
        }
        _ => (authority, default_port),
    };
    if host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{}:{port}", host.to_ascii_lowercase()))
}

/// Validates a hit and turns it into the stored request URL (without the
/// parameters added at request time). `max_bytes` limits the final URL,
/// counting the widest timestamp and id parameters that may be added.
pub fn normalize_hit(
    hit: &str,
    endpoint: &Endpoint,
    timestamp_param: &str,
    id_param: &str,
    max_bytes: usize,
) -> Result<String> {
    if hit.is_empty() {
        return Err(Error::invalid("hit is empty"));
    }
    let starts_with = |prefix: &str| {
        hit.as_bytes()
            .get(..prefix.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
    };
    if !starts_with("http://") && !starts_with("https://") {
        return normalize_query_hit(hit, endpoint, timestamp_param, id_param, max_bytes);
    }
    check_bytes(hit)?;
    let url = match origin_of(hit) {
        Some(origin) if origin == endpoint.origin => percent_encode(hit),
        _ => {
            return Err(Error::invalid(format!(
                "hit is a URL on another origin than the endpoint {}: '{}'",
                endpoint.origin,
                truncate_for_message(hit)
            )));
        }
    };
    for name in [timestamp_param, id_param] {
        if !name.is_empty() && has_param(&url, name) {
            return Err(carries(name));
        }
    }
    check_length(url, timestamp_param, id_param, max_bytes)
}

/// A hit given as parameters (`a=1&b=2`), joined to the endpoint.
fn normalize_query_hit(
    hit: &str,
    endpoint: &Endpoint,
    timestamp_param: &str,
    id_param: &str,
    max_bytes: usize,
) -> Result<String> {
    let query = hit.trim_start_matches(['?', '&']);
    let base = &endpoint.url;
    let separator = query_separator(base);
    let mut url = String::with_capacity(base.len() + separator.len() + query.len() + 64);
    url.push_str(base);
    url.push_str(separator);
    let names = [timestamp_param, id_param];
    let scan = append_query_checking_names(&mut url, query, &names);
    if scan.control {
        return Err(control_bytes());
    }
    if scan.fragment {
        return Err(fragment(hit));
    }
    if query.is_empty() {
        return Err(Error::invalid("hit has no parameters"));
    }
    let carried = scan.carried.or_else(|| {
        names
            .into_iter()
            .find(|n| !n.is_empty() && has_param(base, n))
    });
    if let Some(name) = carried {
        return Err(carries(name));
    }
    check_length(url, timestamp_param, id_param, max_bytes)
}

/// Refuses hits with CR, LF or NUL (which could break the request) or a
/// fragment (never sent to a server).
fn check_bytes(hit: &str) -> Result<()> {
    let mut has_fragment = false;
    for &b in hit.as_bytes() {
        if !URL_SAFE[b as usize] {
            match b {
                b'\r' | b'\n' | 0 => return Err(control_bytes()),
                b'#' => has_fragment = true,
                _ => {}
            }
        }
    }
    if has_fragment {
        return Err(fragment(hit));
    }
    Ok(())
}

fn control_bytes() -> Error {
    Error::invalid("hit contains CR, LF or NUL")
}

fn fragment(hit: &str) -> Error {
    Error::invalid(format!(
        "hit has a #fragment, which is never sent to a server: '{}'",
        truncate_for_message(hit)
    ))
}

fn carries(name: &str) -> Error {
    Error::invalid(format!(
        "hit already carries the parameter '{name}', which the tracker adds itself"
    ))
}

/// The URL if it stays within `max_bytes` with the widest parameters added.
fn check_length(
    url: String,
    timestamp_param: &str,
    id_param: &str,
    max_bytes: usize,
) -> Result<String> {
    let widest = url.len() + added_params_len(timestamp_param, 10) + added_params_len(id_param, 20);
    if widest > max_bytes {
        return Err(Error::invalid(format!(
            "hit is too long: the request URL would be up to {widest} bytes, over max_hit_bytes ({max_bytes})"
        )));
    }
    Ok(url)
}

/// What `append_query_checking_names` found besides the encoded query.
#[derive(Default)]
struct QueryScan<'a> {
    /// CR, LF or NUL: the hit is refused whatever else it has.
    control: bool,
    fragment: bool,
    /// The first parameter named like one the tracker adds.
    carried: Option<&'a str>,
}

/// Byte classes for the one-pass scan: 0 stands as it is and needs no
/// look; the rest are `&`, `=`, `%` and bytes to escape (or refuse).
const QUERY_CLASS: [u8; 256] = {
    let mut table = [4u8; 256];
    let mut b = 0;
    while b < 256 {
        if URL_SAFE[b] {
            table[b] = 0;
        }
        b += 1;
    }
    table[b'&' as usize] = 1;
    table[b'=' as usize] = 2;
    table[b'%' as usize] = 3;
    table
};

/// 1 for the bytes that keep a query off the plain path: bytes to escape
/// or refuse.
const NOT_PLAIN: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (QUERY_CLASS[b] > 3) as u8;
        b += 1;
    }
    table
};

/// The scan of `append_query_checking_names` for a plain query, which most
/// hits are: every byte stands as it is, and each `%` starts a valid escape
/// in a parameter's value (names with escapes take the general scan, which
/// decodes them). `None` if the query is not plain, else the first of
/// `names` that the first parameter named like one of them has. Eight bytes
/// per step, with `&` and `%` found by word arithmetic instead of a branch
/// per byte.
fn plain_query_carries<'a>(bytes: &[u8], names: &[&'a str]) -> Option<Option<&'a str>> {
    let mut carried = names
        .iter()
        .copied()
        .find(|name| param_named_at(bytes, 0, name));
    let mut param_start = 0;
    // Whether the current parameter's value has started: looked up at its
    // first `%` only, so a value full of escapes is not rescanned.
    let mut in_value = false;
    // `false` if the byte at `at` (a `&` or `%`) keeps the query off the
    // plain path.
    let mut mark = |at: usize| {
        if bytes[at] == b'&' {
            param_start = at + 1;
            in_value = false;
            if carried.is_none() {
                carried = names
                    .iter()
                    .copied()
                    .find(|name| param_named_at(bytes, param_start, name));
            }
            return true;
        }
        in_value = in_value || bytes[param_start..at].contains(&b'=');
        in_value && escape_at(bytes, at).is_some()
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in chunks.by_ref() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if word.iter().fold(0, |any, &b| any | NOT_PLAIN[b as usize]) != 0 {
            return None;
        }
        let word = u64::from_le_bytes(word);
        let mut marks = zero_bytes(word ^ u64::from_le_bytes([b'&'; 8]))
            | zero_bytes(word ^ u64::from_le_bytes([b'%'; 8]));
        while marks != 0 {
            if !mark(at + marks.trailing_zeros() as usize / 8) {
                return None;
            }
            marks &= marks - 1;
        }
        at += 8;
    }
    for (offset, &b) in chunks.remainder().iter().enumerate() {
        if NOT_PLAIN[b as usize] != 0 || ((b == b'&' || b == b'%') && !mark(at + offset)) {
            return None;
        }
    }
    Some(carried)
}

/// The high bit of each byte of `word` that is zero, and no other bit.
fn zero_bytes(word: u64) -> u64 {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    !(((word & LOW7) + LOW7) | word | LOW7)
}

/// Whether the parameter starting at `start` of a plain query is named
/// `name` (a name with `=` or `&` never matches, as in the general scan).
fn param_named_at(bytes: &[u8], start: usize, name: &str) -> bool {
    let name = name.as_bytes();
    // The first byte alone rules out most parameters, without a call to
    // the general comparison.
    name.first()
        .is_some_and(|first| bytes.get(start) == Some(first))
        && bytes[start..].starts_with(name)
        && matches!(bytes.get(start + name.len()), None | Some(b'=' | b'&'))
        && !name.iter().any(|&b| b == b'=' || b == b'&')
}

/// `append_percent_encoded` for a query, checking on the way for bytes a
/// hit may not have and each parameter name (decoded, like `has_param`)
/// against `names`. One pass over the hit, skipping plain bytes in a tight
/// loop: this runs on every `tracker_send`.
fn append_query_checking_names<'a>(
    out: &mut String,
    query: &str,
    names: &[&'a str],
) -> QueryScan<'a> {
    if let Some(carried) = plain_query_carries(query.as_bytes(), names) {
        out.push_str(query);
        return QueryScan {
            carried,
            ..QueryScan::default()
        };
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = query.as_bytes();
    let mut scan = QueryScan::default();
    let check = |raw: &[u8], scan: &mut QueryScan<'a>| {
        if scan.carried.is_none() {
            scan.carried = names
                .iter()
                .copied()
                .find(|n| !n.is_empty() && decodes_to(raw, n.as_bytes()));
        }
    };
    let (mut run_start, mut name_start, mut in_name) = (0, 0, true);
    let mut i = 0;
    while let Some(skip) = bytes[i..]
        .iter()
        .position(|&b| QUERY_CLASS[b as usize] != 0)
    {
        i += skip;
        let b = bytes[i];
        match QUERY_CLASS[b as usize] {
            1 => {
                if in_name {
                    check(&bytes[name_start..i], &mut scan);
                }
                name_start = i + 1;
                in_name = true;
            }
            2 => {
                if in_name {
                    check(&bytes[name_start..i], &mut scan);
                    in_name = false;
                }
            }
            3 if escape_at(bytes, i).is_some() => {
                i += 3;
                continue;
            }
            _ => {
                match b {
                    b'\r' | b'\n' | 0 => {
                        scan.control = true;
                        return scan;
                    }
                    b'#' => scan.fragment = true,
                    _ => {}
                }
                // Runs start and end next to ASCII bytes: char boundaries.
                if run_start < i {
                    out.push_str(&query[run_start..i]);
                }
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 15) as usize] as char);
                run_start = i + 1;
            }
        }
        i += 1;
    }
    if in_name {
        check(&bytes[name_start..], &mut scan);
    }
    out.push_str(&query[run_start..]);
    scan
}

fn added_params_len(name: &str, value_len: usize) -> usize {
    if name.is_empty() {
        0
    } else {
        2 + name.len() + value_len
    }
}

/// Whether the query of `url` has a parameter called `name`.
/// Names are compared percent-decoded, as the collector will see them, so
/// `t%73=1` counts as `ts`.
fn has_param(url: &str, name: &str) -> bool {
    let Some((_, query)) = url.split_once('?') else {
        return false;
    };
    query.as_bytes().split(|&b| b == b'&').any(|pair| {
        let raw = pair.split(|&b| b == b'=').next().unwrap_or(&[]);
        decodes_to(raw, name.as_bytes())
    })
}

/// Whether `raw`, with its valid `%XX` escapes decoded, equals `name`
/// (anything else is kept as it is). Runs on every parameter of every hit,
/// so it compares in place instead of building the decoded name.
fn decodes_to(raw: &[u8], name: &[u8]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < raw.len() {
        let byte = match escape_at(raw, i) {
            Some(decoded) => {
                i += 3;
                decoded
            }
            None => {
                i += 1;
                raw[i - 1]
            }
        };
        if name.get(j) != Some(&byte) {
            return false;
        }
        j += 1;
    }
    j == name.len()
}

/// The byte a valid `%XX` escape at `bytes[i]` stands for.
fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    if bytes[i] != b'%' {
        return None;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    let high = digit(*bytes.get(i + 1)?)?;
    let low = digit(*bytes.get(i + 2)?)?;
    Some((high * 16 + low) as u8)
}

/// What joins another parameter to `url`: `?` if it has no query yet,
/// nothing if the query is empty or ends with `&`, else `&`. Only the first
/// `?` starts the query; a later one is part of a value.
fn query_separator(url: &str) -> &'static str {
    match url.split_once('?') {
        None => "?",
        Some((_, query)) if query.is_empty() || query.ends_with('&') => "",
        Some(_) => "&",
    }
}

/// Bytes that stand in a URL as they are: unreserved and reserved
/// characters and `+` (`%` only as part of a valid escape).
const URL_SAFE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric();
        b += 1;
    }
    let extra = b"-._~:/?[]@!$&'()*+,;=";
    let mut i = 0;
    while i < extra.len() {
        table[extra[i] as usize] = true;
        i += 1;
    }
    table
};

/// Percent-encodes every byte that may not stand in a URL. Reserved
/// characters, `+` and existing `%XX` escapes are kept as they are.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    append_percent_encoded(&mut out, text);
    out
}

/// `percent_encode`, appended to `out`; runs of safe bytes are copied whole.
fn append_percent_encoded(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = text.as_bytes();
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if URL_SAFE[b as usize] {
            i += 1;
            continue;
        }
        if escape_at(bytes, i).is_some() {
            i += 3;
            continue;
        }
        // Runs start and end next to ASCII bytes, so these are char boundaries.
        if run_start < i {
            out.push_str(&text[run_start..i]);
        }
        out.push('%');
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
        i += 1;
        run_start = i;
    }
    out.push_str(&text[run_start..]);
}

/// The request URL: the stored URL plus the timestamp and id parameters.
pub fn build_url(
    stored: &str,
    ts_param: Option<(&str, u64)>,
    id_param: Option<(&str, u64)>,
) -> String {
    let mut url = String::with_capacity(stored.len() + 48);
    url.push_str(stored);
    for (name, value) in [ts_param, id_param].into_iter().flatten() {
        if name.is_empty() {
            continue;
        }
        url.push_str(query_separator(&url));
        url.push_str(name);
        url.push('=');
        url.push_str(&value.to_string());
    }
    url
}

#[cfg(test)]
mod tests;
