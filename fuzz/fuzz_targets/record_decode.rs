//! Decoding stored records (bytes read back from disk): never panics, and
//! whatever decodes re-encodes to a record that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offtrack::internals::Record;

fuzz_target!(|data: &[u8]| {
    let Some((&key_len, rest)) = data.split_first() else {
        return;
    };
    let key_len = (key_len as usize % 12).min(rest.len());
    let (key, value) = rest.split_at(key_len);
    if let Some(record) = Record::decode(key, value) {
        assert_eq!(key.len(), 8);
        assert_eq!(record.id, u64::from_be_bytes(key.try_into().unwrap()));
        assert!(!record.url.is_empty());
        assert_eq!(Record::decode(key, &record.encode()), Some(record.clone()));
        assert_eq!(record.size(), record.url.len() as u64);
    }
});
