//! Decoding stored records (bytes read back from disk): never panics, for
//! plain and sealed stores alike, and whatever decodes re-encodes to a
//! record that decodes the same. A sealed record opens only under its own
//! id and its store's key: any changed byte, another id, another key or a
//! plain store's reading refuses it.
//!
//! Input: a selector byte (low 6 bits: key length mod 12; top 2 bits: what
//! to do), the key, then the value. 0: decode as a plain store; 1: decode
//! arbitrary bytes as a sealing store; 2 and 3: seal a record built from
//! the input, then change one byte of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offtrack::internals::{KeyCheck, Record, Sealer};
use std::sync::OnceLock;

/// A store's sealer with a fixed key and salt (the nonces stay random).
fn sealer(salt: u8) -> &'static Sealer {
    static SEALERS: OnceLock<[Sealer; 2]> = OnceLock::new();
    let make = |salt: u8| {
        let check = KeyCheck {
            salt: [salt; 32],
            check: [0; 32],
        };
        Sealer::new(&[0x5a; 32], &check, 1).expect("sealer")
    };
    &SEALERS.get_or_init(|| [make(1), make(2)])[usize::from(salt != 1)]
}

fn decoded_round_trip(key: &[u8], value: &[u8], sealing: Option<&Sealer>) {
    if let Some(record) = Record::decode(key, value, sealing) {
        assert_eq!(key.len(), 8);
        assert_eq!(record.id, u64::from_be_bytes(key.try_into().unwrap()));
        assert!(!record.url.is_empty());
        let again = record.encode(sealing).expect("encode");
        assert_eq!(Record::decode(key, &again, sealing), Some(record.clone()));
        assert_eq!(Record::url_len_of(&again), record.size());
        assert_eq!(record.size(), record.url.len() as u64);
    }
}

fn sealed_then_changed(key: &[u8], value: &[u8]) {
    let url: String = String::from_utf8_lossy(value)
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
        .collect();
    if url.is_empty() {
        return;
    }
    let id = key.iter().fold(0u64, |id, &b| id << 8 | u64::from(b));
    let record = Record {
        id,
        url,
        created_ms: u64::from(value[0]) << 32,
        attempts: u32::from(value[value.len() - 1]),
        position: value.len() as u64,
        offset: id.rotate_left(7),
    };
    let s = sealer(1);
    let sealed = record.encode(Some(s)).expect("seal");
    let stored_key = id.to_be_bytes();
    assert_eq!(
        Record::decode(&stored_key, &sealed, Some(s)),
        Some(record.clone())
    );
    assert_eq!(Record::url_len_of(&sealed), record.size());
    assert_eq!(Record::decode(&stored_key, &sealed, None), None);
    assert_eq!(Record::decode(&stored_key, &sealed, Some(sealer(2))), None);
    assert_eq!(
        Record::decode(&(id ^ 1).to_be_bytes(), &sealed, Some(s)),
        None
    );
    let at = usize::from(value[0]) * 31 % sealed.len();
    let mut changed = sealed.clone();
    changed[at] ^= value[value.len() - 1] | 1;
    assert_eq!(
        Record::decode(&stored_key, &changed, Some(s)),
        None,
        "byte {at}"
    );
    assert_eq!(
        Record::decode(&stored_key, &sealed[..sealed.len() - 1], Some(s)),
        None
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let key_len = (usize::from(selector & 0x3f) % 12).min(rest.len());
    let (key, value) = rest.split_at(key_len);
    match selector >> 6 {
        0 => decoded_round_trip(key, value, None),
        1 => decoded_round_trip(key, value, Some(sealer(1))),
        _ if !value.is_empty() => sealed_then_changed(key, value),
        _ => {}
    }
});
