//! The on-disk form of one stored hit, and its decoding.
//!
//! Layout (little-endian): version `u8`, flags `u8` (reserved, 0), attempts `u32`,
//! created_ms `u64`, position `u64`, offset `u64`, then the URL's UTF-8 bytes.
//! `position` counts every hit ever appended to this store generation and
//! `offset` sums their URL bytes before this one, so the queue's length and
//! size follow from its first and last record without a scan. Decoding never
//! panics on bad bytes: a fuzz target feeds it arbitrary input.

/// Version byte of the record layout.
const RECORD_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 1 + 4 + 8 + 8 + 8;

/// One stored hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: u64,
    /// The request URL without the parameters added at request time.
    pub url: String,
    pub created_ms: u64,
    /// Failed deliveries with a server answer (5xx, 408, 429).
    pub attempts: u32,
    pub position: u64,
    pub offset: u64,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.url.len());
        Self::encode_fields(
            &mut out,
            &self.url,
            self.created_ms,
            self.attempts,
            self.position,
            self.offset,
        );
        out
    }

    /// The encoding of a record with these fields, appended to `out`
    /// (without building the record).
    pub fn encode_fields(
        out: &mut Vec<u8>,
        url: &str,
        created_ms: u64,
        attempts: u32,
        position: u64,
        offset: u64,
    ) {
        out.push(RECORD_VERSION);
        out.push(0);
        out.extend_from_slice(&attempts.to_le_bytes());
        out.extend_from_slice(&created_ms.to_le_bytes());
        out.extend_from_slice(&position.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(url.as_bytes());
    }

    /// The URL bytes of an encoded record, without decoding it (0 if the
    /// bytes are too short to be one).
    pub fn url_len_of(encoded: &[u8]) -> u64 {
        encoded.len().saturating_sub(HEADER_LEN) as u64
    }

    /// Decodes a record stored under `key`; `None` if the bytes are not one.
    pub fn decode(key: &[u8], value: &[u8]) -> Option<Record> {
        let id = u64::from_be_bytes(key.try_into().ok()?);
        if value.len() < HEADER_LEN || value[0] != RECORD_VERSION {
            return None;
        }
        let u64_at = |at: usize| {
            value
                .get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
        };
        let attempts = u32::from_le_bytes(value.get(2..6)?.try_into().ok()?);
        let url = std::str::from_utf8(&value[HEADER_LEN..]).ok()?;
        if url.is_empty() || url.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return None;
        }
        Some(Record {
            id,
            url: url.to_owned(),
            created_ms: u64_at(6)?,
            attempts,
            position: u64_at(14)?,
            offset: u64_at(22)?,
        })
    }

    /// The byte size counted against `max_queue_bytes`.
    pub fn size(&self) -> u64 {
        self.url.len() as u64
    }
}

pub fn key_of(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let r = Record {
            id: 42,
            url: "http://h/c?a=1".into(),
            created_ms: 1_732_280_000_123,
            attempts: 2,
            position: 9,
            offset: 1234,
        };
        assert_eq!(Record::decode(&key_of(42), &r.encode()), Some(r));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(Record::decode(&[1, 2], &[1; 40]), None);
        assert_eq!(Record::decode(&key_of(1), &[2; 40]), None);
        assert_eq!(Record::decode(&key_of(1), &[1; 10]), None);
        let mut bad_utf8 = vec![1u8; HEADER_LEN];
        bad_utf8.extend_from_slice(&[0xff, 0xfe]);
        assert_eq!(Record::decode(&key_of(1), &bad_utf8), None);
    }
}
