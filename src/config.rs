//! The tracker's configuration: parsing and validating the JSON given to
//! `tracker_create` (DESIGN.md §3).
//!
//! Every error names the key at fault. Defaults live here and nowhere else.
//! Nothing here opens files or sockets.

use crate::consent::Consent;
use crate::error::{Error, Result};
use crate::net::batch::BatchFormat;
use crate::net::url::Endpoint;
use serde_json::{Map, Value};
use std::path::PathBuf;

/// Storage mode: value 0.
pub const TRACKER_STORAGE_NEVER: i32 = 0;
/// Storage mode: value 1.
pub const TRACKER_STORAGE_REQUIRED: i32 = 1;
/// Storage mode: value 2.
pub const TRACKER_STORAGE_ALWAYS: i32 = 2;

/// What happens to a hit (DESIGN.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageMode {
    Never,
    Required,
    Always,
}

impl StorageMode {
    pub fn from_i32(value: i32) -> Result<Self> {
        match value {
            TRACKER_STORAGE_NEVER => Ok(StorageMode::Never),
            TRACKER_STORAGE_REQUIRED => Ok(StorageMode::Required),
            TRACKER_STORAGE_ALWAYS => Ok(StorageMode::Always),
            other => Err(Error::invalid(format!(
                "storage mode {other} is not one of TRACKER_STORAGE_NEVER (0), \
                 TRACKER_STORAGE_REQUIRED (1), TRACKER_STORAGE_ALWAYS (2)"
            ))),
        }
    }
    pub fn as_i32(self) -> i32 {
        match self {
            StorageMode::Never => TRACKER_STORAGE_NEVER,
            StorageMode::Required => TRACKER_STORAGE_REQUIRED,
            StorageMode::Always => TRACKER_STORAGE_ALWAYS,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            StorageMode::Never => "never",
            StorageMode::Required => "required",
            StorageMode::Always => "always",
        }
    }
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "never" => Some(StorageMode::Never),
            "required" => Some(StorageMode::Required),
            "always" => Some(StorageMode::Always),
            _ => None,
        }
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub endpoint: Endpoint,
    pub storage_path: Option<PathBuf>,
    pub storage: StorageMode,
    /// Consent of a tracker whose storage directory holds no choice yet.
    pub consent: Consent,
    pub timestamp_param: String,
    pub timestamp_offline_only: bool,
    pub id_param: String,
    pub headers: Vec<(String, String)>,
    pub max_attempts: u32,
    pub max_hit_bytes: usize,
    pub max_queue_hits: u64,
    pub max_queue_bytes: u64,
    pub max_memory_hits: usize,
    pub max_age_seconds: u64,
    pub request_timeout_seconds: u64,
    pub shutdown_timeout_ms: u64,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    pub send_interval_ms: u64,
    /// Batched delivery (DESIGN.md §8); `None` unless `batch_endpoint` is set.
    pub batch: Option<Batching>,
    /// The key that seals hits on disk (DESIGN.md §10); `None` if off.
    pub encryption_key: Option<EncryptionKey>,
}

/// A 256-bit key from the config's `encryption_key`. Its `Debug` shows no
/// byte of it, so no message, log or panic can carry the key, and each
/// copy is overwritten when dropped (best effort: the compiler may have
/// left copies in registers or on the stack).
#[derive(Clone)]
pub struct EncryptionKey([u8; 32]);

impl EncryptionKey {
    /// The key from its 64 hexadecimal characters (either case); `None`
    /// for anything else.
    pub fn from_hex(text: &str) -> Option<EncryptionKey> {
        let digits = text.as_bytes();
        if digits.len() != 64 {
            return None;
        }
        let mut key = [0u8; 32];
        for (byte, pair) in key.iter_mut().zip(digits.chunks_exact(2)) {
            let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
            *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
        }
        Some(EncryptionKey(key))
    }

    /// The key's bytes, for deriving the store's own keys from.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(..)")
    }
}

impl Drop for EncryptionKey {
    fn drop(&mut self) {
        self.0.fill(0);
        // Keeps the zeroing from being removed as a dead store.
        std::hint::black_box(&mut self.0);
    }
}

/// Where and how batches of hits are posted.
#[derive(Debug, Clone)]
pub struct Batching {
    pub endpoint: Endpoint,
    pub format: BatchFormat,
    pub max_hits: usize,
    pub max_bytes: usize,
}

/// Defaults of the batch limits: large enough that 1,000 queued hits of
/// about 430 bytes go in one request (one connection, two round trips on a
/// slow link), small enough for a phone's upload to finish in seconds.
pub const DEFAULT_BATCH_MAX_HITS: u64 = 1000;
pub const DEFAULT_BATCH_MAX_BYTES: u64 = 512 * 1024;

/// Upper bound for every millisecond/second setting: about 30 years, far
/// past any sensible value, and small enough that no arithmetic overflows.
const MAX_DURATION_VALUE: u64 = 1 << 40;

impl Config {
    /// Parses and validates the JSON text given to `tracker_create`.
    pub fn parse(json: &str) -> Result<Config> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| Error::config(format!("config is not valid JSON: {e}")))?;
        let Value::Object(mut map) = value else {
            return Err(Error::config("config must be a JSON object"));
        };
        let config = Self::from_map(&map);
        // The key's text is overwritten rather than only freed (best
        // effort, like `EncryptionKey`'s own drop).
        if let Some(Value::String(text)) = map.get_mut("encryption_key") {
            let mut bytes = std::mem::take(text).into_bytes();
            bytes.fill(0);
            std::hint::black_box(&mut bytes);
        }
        config
    }

    fn from_map(map: &Map<String, Value>) -> Result<Config> {
        let mut endpoint = None;
        let mut config = Config {
            endpoint: Endpoint::placeholder(),
            storage_path: None,
            storage: StorageMode::Never,
            consent: Consent::Granted,
            timestamp_param: "ts".into(),
            timestamp_offline_only: false,
            id_param: String::new(),
            headers: Vec::new(),
            max_attempts: 3,
            max_hit_bytes: 8192,
            max_queue_hits: 100_000,
            max_queue_bytes: 50 * 1024 * 1024,
            max_memory_hits: 1000,
            max_age_seconds: 2_592_000,
            request_timeout_seconds: 10,
            shutdown_timeout_ms: 2000,
            retry_base_ms: 1000,
            retry_max_ms: 300_000,
            send_interval_ms: 0,
            batch: None,
            encryption_key: None,
        };
        let mut batch_endpoint = None;
        let mut batch_format = BatchFormat::Lines;
        let mut batch_max_hits = DEFAULT_BATCH_MAX_HITS;
        let mut batch_max_bytes = DEFAULT_BATCH_MAX_BYTES;
        for (key, value) in map {
            let key = key.as_str();
            match key {
                "endpoint" => endpoint = Some(Endpoint::parse(string(key, value)?)?),
                "storage_path" => {
                    let path = string(key, value)?;
                    if path.is_empty() {
                        return Err(Error::config("config key 'storage_path' must not be empty"));
                    }
                    config.storage_path = Some(PathBuf::from(path));
                }
                "storage" => {
                    let name = string(key, value)?;
                    config.storage = StorageMode::from_name(name).ok_or_else(|| {
                        Error::config(format!(
                            "config key 'storage' must be \"never\", \"required\" or \"always\", not {}",
                            shown(value)
                        ))
                    })?;
                }
                "consent" => {
                    let name = string(key, value)?;
                    config.consent = Consent::from_name(name).ok_or_else(|| {
                        Error::config(format!(
                            "config key 'consent' must be \"granted\", \"pending\" or \"denied\", not {}",
                            shown(value)
                        ))
                    })?;
                }
                "timestamp_param" => config.timestamp_param = param_name(key, value)?,
                "timestamp_offline_only" => config.timestamp_offline_only = boolean(key, value)?,
                "id_param" => config.id_param = param_name(key, value)?,
                "headers" => config.headers = headers(value)?,
                "max_attempts" => config.max_attempts = integer(key, value, 1, 1000)? as u32,
                "max_hit_bytes" => {
                    config.max_hit_bytes = integer(key, value, 64, 1 << 20)? as usize
                }
                "max_queue_hits" => config.max_queue_hits = integer(key, value, 1, 1 << 40)?,
                "max_queue_bytes" => config.max_queue_bytes = integer(key, value, 1, 1 << 50)?,
                "max_memory_hits" => {
                    config.max_memory_hits = integer(key, value, 1, 1 << 24)? as usize
                }
                "max_age_seconds" => {
                    config.max_age_seconds = integer(key, value, 0, MAX_DURATION_VALUE)?
                }
                "request_timeout_seconds" => {
                    config.request_timeout_seconds = integer(key, value, 1, 3600)?
                }
                "shutdown_timeout_ms" => {
                    config.shutdown_timeout_ms = integer(key, value, 0, 3_600_000)?
                }
                "retry_base_ms" => {
                    config.retry_base_ms = integer(key, value, 1, MAX_DURATION_VALUE)?
                }
                "retry_max_ms" => config.retry_max_ms = integer(key, value, 1, MAX_DURATION_VALUE)?,
                "send_interval_ms" => config.send_interval_ms = integer(key, value, 0, 3_600_000)?,
                "batch_endpoint" => {
                    let url = string(key, value)?;
                    batch_endpoint = (!url.is_empty())
                        .then(|| Endpoint::parse_key(key, url))
                        .transpose()?;
                }
                "batch_format" => {
                    batch_format =
                        BatchFormat::from_name(string(key, value)?).ok_or_else(|| {
                            Error::config(format!(
                                "config key 'batch_format' must be \"lines\" or \"json\", not {}",
                                shown(value)
                            ))
                        })?;
                }
                "batch_max_hits" => batch_max_hits = integer(key, value, 1, 10_000)?,
                "batch_max_bytes" => batch_max_bytes = integer(key, value, 1024, 16 << 20)?,
                "encryption_key" => {
                    let text = string(key, value)?;
                    // The message never shows the value: it is (or is close
                    // to) a secret.
                    config.encryption_key = match text {
                        "" => None,
                        hex => Some(EncryptionKey::from_hex(hex).ok_or_else(|| {
                            Error::config(
                                "config key 'encryption_key' must be \"\" (off) or exactly \
                                 64 hexadecimal characters (a 256-bit key)",
                            )
                        })?),
                    };
                }
                unknown => {
                    return Err(Error::config(format!(
                        "unknown config key '{}'",
                        crate::error::truncate_for_message(unknown)
                    )));
                }
            }
        }
        config.endpoint =
            endpoint.ok_or_else(|| Error::config("config key 'endpoint' is required"))?;
        if let Some(endpoint) = batch_endpoint {
            if endpoint.origin != config.endpoint.origin {
                return Err(Error::config(format!(
                    "config key 'batch_endpoint' must be on the endpoint's origin {}, not {}",
                    config.endpoint.origin, endpoint.origin
                )));
            }
            config.batch = Some(Batching {
                endpoint,
                format: batch_format,
                max_hits: batch_max_hits as usize,
                max_bytes: batch_max_bytes as usize,
            });
        }
        if config.retry_max_ms < config.retry_base_ms {
            return Err(Error::config(
                "config key 'retry_max_ms' must not be smaller than 'retry_base_ms'",
            ));
        }
        if config.storage != StorageMode::Never && config.storage_path.is_none() {
            return Err(Error::config(format!(
                "config key 'storage_path' is required when 'storage' is \"{}\"",
                config.storage.name()
            )));
        }
        if !config.id_param.is_empty() && config.id_param == config.timestamp_param {
            return Err(Error::config(
                "config keys 'id_param' and 'timestamp_param' must differ",
            ));
        }
        Ok(config)
    }
}

fn string<'a>(key: &str, value: &'a Value) -> Result<&'a str> {
    value.as_str().ok_or_else(|| {
        Error::config(format!(
            "config key '{key}' must be a string, not {}",
            kind(value)
        ))
    })
}

fn boolean(key: &str, value: &Value) -> Result<bool> {
    value.as_bool().ok_or_else(|| {
        Error::config(format!(
            "config key '{key}' must be true or false, not {}",
            kind(value)
        ))
    })
}

fn integer(key: &str, value: &Value, min: u64, max: u64) -> Result<u64> {
    match value.as_u64() {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(Error::config(format!(
            "config key '{key}' must be an integer from {min} to {max}, not {}",
            shown(value)
        ))),
    }
}

/// A query parameter name we add ourselves: it must survive in a URL as is.
fn param_name(key: &str, value: &Value) -> Result<String> {
    let name = string(key, value)?;
    let valid = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if !valid || name.len() > 64 {
        return Err(Error::config(format!(
            "config key '{key}' must be at most 64 of the characters A-Z a-z 0-9 - _ . ~"
        )));
    }
    Ok(name.to_owned())
}

fn headers(value: &Value) -> Result<Vec<(String, String)>> {
    let Value::Object(map) = value else {
        return Err(Error::config(format!(
            "config key 'headers' must be an object of strings, not {}",
            kind(value)
        )));
    };
    let mut headers = Vec::with_capacity(map.len());
    for (name, value) in map {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(Error::config(format!(
                "config key 'headers': '{}' is not a valid header name",
                crate::error::truncate_for_message(name)
            )));
        }
        let Some(text) = value.as_str() else {
            return Err(Error::config(format!(
                "config key 'headers': value of '{name}' must be a string"
            )));
        };
        if text.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(Error::config(format!(
                "config key 'headers': value of '{name}' must not contain CR, LF or NUL"
            )));
        }
        headers.push((name.clone(), text.to_owned()));
    }
    Ok(headers)
}

/// A config value as it may appear in a message: shortened.
fn shown(value: &Value) -> String {
    crate::error::truncate_for_message(&value.to_string())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::parse(r#"{"endpoint":"http://127.0.0.1:1/c"}"#).unwrap();
        assert_eq!(c.storage, StorageMode::Never);
        assert_eq!(c.consent, Consent::Granted);
        assert_eq!(c.timestamp_param, "ts");
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.max_queue_bytes, 50 * 1024 * 1024);
        assert_eq!(c.retry_base_ms, 1000);
        assert!(c.batch.is_none());
        let c = Config::parse(
            r#"{"endpoint":"http://127.0.0.1:1/c","batch_endpoint":"http://127.0.0.1:1/bulk"}"#,
        )
        .unwrap();
        let batch = c.batch.unwrap();
        assert_eq!(batch.format, BatchFormat::Lines);
        assert_eq!((batch.max_hits, batch.max_bytes), (1000, 512 * 1024));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (r#"{"endpoint":"http://h/","bogus":1}"#, "bogus"),
            (
                r#"{"endpoint":"http://h/","max_attempts":"3"}"#,
                "max_attempts",
            ),
            (
                r#"{"endpoint":"http://h/","max_attempts":0}"#,
                "max_attempts",
            ),
            (
                r#"{"endpoint":"http://h/","storage":"sometimes"}"#,
                "storage",
            ),
            (
                r#"{"endpoint":"http://h/","storage":"required"}"#,
                "storage_path",
            ),
            (r#"{"endpoint":"http://h/","consent":"maybe"}"#, "consent"),
            (r#"{"endpoint":"http://h/","consent":1}"#, "consent"),
            (r#"{"endpoint":"http://h/","consent":"Granted"}"#, "consent"),
            (r#"{"endpoint":"http://h/","headers":{"X":1}}"#, "headers"),
            (
                r#"{"endpoint":"http://h/","headers":{"X":"a\r\nB: c"}}"#,
                "headers",
            ),
            (
                r#"{"endpoint":"http://h/","request_timeout_seconds":0}"#,
                "request_timeout_seconds",
            ),
            (
                r#"{"endpoint":"http://h/","batch_endpoint":"http://other/b"}"#,
                "batch_endpoint",
            ),
            (
                r#"{"endpoint":"http://h/","batch_endpoint":"h/b"}"#,
                "batch_endpoint",
            ),
            (
                r#"{"endpoint":"http://h/","batch_format":"xml"}"#,
                "batch_format",
            ),
            (
                r#"{"endpoint":"http://h/","batch_max_hits":0}"#,
                "batch_max_hits",
            ),
            (
                r#"{"endpoint":"http://h/","batch_max_hits":10001}"#,
                "batch_max_hits",
            ),
            (
                r#"{"endpoint":"http://h/","batch_max_bytes":100}"#,
                "batch_max_bytes",
            ),
            (r#"{"storage":"never"}"#, "endpoint"),
            (r#"{"endpoint":"ftp://h/"}"#, "endpoint"),
        ];
        for (json, key) in cases {
            let err = Config::parse(json).unwrap_err();
            assert_eq!(err.code, crate::error::TRACKER_ERROR_CONFIG, "{json}");
            assert!(err.message.contains(key), "{json}: {}", err.message);
        }
    }

    #[test]
    fn encryption_key_is_64_hex_digits_and_never_shown() {
        let key = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let c = Config::parse(&format!(
            r#"{{"endpoint":"http://h/","encryption_key":"{key}"}}"#
        ))
        .unwrap();
        let parsed = c.encryption_key.as_ref().unwrap();
        assert_eq!(parsed.bytes()[0], 0x00);
        assert_eq!(parsed.bytes()[31], 0xff);
        let shown = format!("{c:?}");
        assert!(!shown.contains("00112233") && !shown.to_lowercase().contains("ccddeeff"));
        let off = Config::parse(r#"{"endpoint":"http://h/","encryption_key":""}"#).unwrap();
        assert!(off.encryption_key.is_none());
        for bad in [
            "abc".to_owned(),
            key[..63].to_owned(),
            format!("{key}0"),
            format!("{}g", &key[..63]),
            format!("+{}", &key[..63]),
            format!("{}é", &key[..62]),
        ] {
            let json = format!(r#"{{"endpoint":"http://h/","encryption_key":"{bad}"}}"#);
            let err = Config::parse(&json).unwrap_err();
            assert_eq!(err.code, crate::error::TRACKER_ERROR_CONFIG, "{bad}");
            assert!(err.message.contains("'encryption_key'"), "{}", err.message);
            assert!(
                !err.message.contains(&bad[..3.min(bad.len())]),
                "{}",
                err.message
            );
        }
        let err = Config::parse(r#"{"endpoint":"http://h/","encryption_key":1}"#).unwrap_err();
        assert!(err.message.contains("encryption_key"));
    }

    #[test]
    fn malformed_json() {
        assert_eq!(
            Config::parse("{").unwrap_err().code,
            crate::error::TRACKER_ERROR_CONFIG
        );
        assert_eq!(
            Config::parse("[]").unwrap_err().code,
            crate::error::TRACKER_ERROR_CONFIG
        );
    }
}
