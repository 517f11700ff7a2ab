//! Reading intake files back (bytes found on disk after a crash): never
//! panics, and every entry it accepts re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offtrack::internals::{Pending, parse};

fuzz_target!(|data: &[u8]| {
    let entries = parse(data);
    let mut rebuilt = Pending::default();
    let mut bytes = Vec::new();
    for entry in &entries {
        let written = rebuilt.push(entry.id, 0, |out| out.extend_from_slice(&entry.payload));
        bytes.extend_from_slice(written);
    }
    // Accepted entries are a prefix of the input, byte for byte.
    assert_eq!(&data[..bytes.len()], bytes.as_slice());
    assert_eq!(rebuilt.count(), entries.len() as u64);
    let again: Vec<_> = rebuilt.iter().map(|(id, p)| (id, p.to_vec())).collect();
    let first: Vec<_> = entries.iter().map(|e| (e.id, e.payload.clone())).collect();
    assert_eq!(again, first);
});
