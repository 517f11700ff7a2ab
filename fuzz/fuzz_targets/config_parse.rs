//! `Config::parse` on arbitrary text: never panics; whatever it accepts is
//! within the documented ranges.
#![no_main]

use libfuzzer_sys::fuzz_target;
use offtrack::Config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Config::parse(&text) {
        Ok(c) => {
            assert!((1..=1000).contains(&c.max_attempts));
            assert!((64..=1 << 20).contains(&c.max_hit_bytes));
            assert!((1..=3600).contains(&c.request_timeout_seconds));
            assert!(c.retry_base_ms <= c.retry_max_ms);
            assert!(c.id_param.is_empty() || c.id_param != c.timestamp_param);
            assert!(c.storage == offtrack::StorageMode::Never || c.storage_path.is_some());
            let url = &c.endpoint.url;
            assert!(!url.contains('#'));
            assert!(url.bytes().all(|b| b > b' ' && b < 0x7f));
            for (name, value) in &c.headers {
                assert!(!name.is_empty());
                assert!(!value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0));
            }
        }
        Err(e) => {
            assert_eq!(
                e.code,
                offtrack::internals::TRACKER_ERROR_CONFIG,
                "{}",
                e.message
            );
            assert!(!e.message.is_empty());
        }
    }
});
