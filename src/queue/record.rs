//! The on-disk form of one stored hit, and its decoding.
//!
//! Layout (little-endian): version `u8`, flags `u8` (reserved, 0), attempts `u32`,
//! created_ms `u64`, position `u64`, offset `u64` (the header), then the URL:
//! its UTF-8 bytes in a plain record (version 1), or in a sealed one
//! (version 2, DESIGN.md §10) a nonce, the bytes sealed with AES-256-GCM and
//! the tag (`seal`), with the record's id and header as associated data, so
//! a sealed record can be neither changed nor passed off as another.
//! The header stays readable: it holds no text of the hit, and counting,
//! limits and expiry read it; its times are no more than the files' own
//! modification times tell.
//! `position` counts every hit ever appended to this store generation and
//! `offset` sums their URL bytes before this one, so the queue's length and
//! size follow from its first and last record without a scan. Decoding never
//! panics on bad bytes: a fuzz target feeds it arbitrary input. A store
//! reads only records of its own kind: a plain store no sealed record, a
//! sealing store no plain one.

use crate::queue::seal::{OVERHEAD, SealError, Sealer};

/// Version byte of the plain record layout.
const PLAIN_VERSION: u8 = 1;
/// Version byte of a record whose URL is sealed.
const SEALED_VERSION: u8 = 2;
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

/// The fields of a record to encode, borrowed (an append encodes straight
/// into the intake's buffer, without building a `Record`).
pub struct Fields<'a> {
    pub id: u64,
    pub url: &'a str,
    pub created_ms: u64,
    pub attempts: u32,
    pub position: u64,
    pub offset: u64,
}

impl Fields<'_> {
    /// Appends the encoding of these fields to `out`: sealed if `sealer`
    /// is given. Nothing is appended on error.
    pub fn encode_into(&self, out: &mut Vec<u8>, sealer: Option<&Sealer>) -> Result<(), SealError> {
        let start = out.len();
        out.push(match sealer {
            Some(_) => SEALED_VERSION,
            None => PLAIN_VERSION,
        });
        out.push(0);
        out.extend_from_slice(&self.attempts.to_le_bytes());
        out.extend_from_slice(&self.created_ms.to_le_bytes());
        out.extend_from_slice(&self.position.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        let Some(sealer) = sealer else {
            out.extend_from_slice(self.url.as_bytes());
            return Ok(());
        };
        let aad = associated_data(self.id, &out[start..]);
        sealer
            .seal_into(out, &aad, self.url.as_bytes())
            .inspect_err(|_| out.truncate(start))
    }
}

/// What a sealed record's text is bound to: its id (the key it is stored
/// under) and its header.
fn associated_data(id: u64, header: &[u8]) -> [u8; 8 + HEADER_LEN] {
    let mut aad = [0u8; 8 + HEADER_LEN];
    aad[..8].copy_from_slice(&id.to_be_bytes());
    aad[8..].copy_from_slice(&header[..HEADER_LEN]);
    aad
}

impl Record {
    /// The record's fields, borrowed for encoding.
    pub fn fields(&self) -> Fields<'_> {
        Fields {
            id: self.id,
            url: &self.url,
            created_ms: self.created_ms,
            attempts: self.attempts,
            position: self.position,
            offset: self.offset,
        }
    }

    /// The record's encoding: sealed if `sealer` is given.
    pub fn encode(&self, sealer: Option<&Sealer>) -> Result<Vec<u8>, SealError> {
        let extra = sealer.map_or(0, |_| OVERHEAD);
        let mut out = Vec::with_capacity(HEADER_LEN + self.url.len() + extra);
        self.fields().encode_into(&mut out, sealer)?;
        Ok(out)
    }

    /// The URL bytes of an encoded record, without decoding (or opening)
    /// it (0 if the bytes are too short to be one).
    pub fn url_len_of(encoded: &[u8]) -> u64 {
        let extra = match encoded.first() {
            Some(&SEALED_VERSION) => OVERHEAD,
            _ => 0,
        };
        encoded.len().saturating_sub(HEADER_LEN + extra) as u64
    }

    /// Decodes a record stored under `key`; `None` if the bytes are not one
    /// of this store's kind (sealed under `sealer`'s key, or plain without
    /// one) or do not open.
    pub fn decode(key: &[u8], value: &[u8], sealer: Option<&Sealer>) -> Option<Record> {
        let id = u64::from_be_bytes(key.try_into().ok()?);
        if value.len() < HEADER_LEN {
            return None;
        }
        let (header, body) = value.split_at(HEADER_LEN);
        let u64_at = |at: usize| {
            header
                .get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
        };
        let attempts = u32::from_le_bytes(header.get(2..6)?.try_into().ok()?);
        let url = match (header[0], sealer) {
            (PLAIN_VERSION, None) => std::str::from_utf8(body).ok()?.to_owned(),
            (SEALED_VERSION, Some(sealer)) => {
                String::from_utf8(sealer.open(&associated_data(id, header), body)?).ok()?
            }
            _ => return None,
        };
        if url.is_empty() || url.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return None;
        }
        Some(Record {
            id,
            url,
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
    use crate::queue::seal::KeyCheck;

    fn record() -> Record {
        Record {
            id: 42,
            url: "http://h/c?a=1&user=MARKER".into(),
            created_ms: 1_732_280_000_123,
            attempts: 2,
            position: 9,
            offset: 1234,
        }
    }

    fn sealer(key: u8) -> Sealer {
        let key = [key; 32];
        Sealer::new(&key, &KeyCheck::new(&key).unwrap(), 1).unwrap()
    }

    #[test]
    fn round_trip() {
        let r = record();
        let encoded = r.encode(None).unwrap();
        assert_eq!(Record::decode(&key_of(42), &encoded, None), Some(r.clone()));
        assert_eq!(Record::url_len_of(&encoded), r.size());
    }

    #[test]
    fn sealed_round_trip() {
        let (r, s) = (record(), sealer(1));
        let sealed = r.encode(Some(&s)).unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"MARKER"));
        assert_eq!(sealed.len(), HEADER_LEN + r.url.len() + OVERHEAD);
        assert_eq!(Record::url_len_of(&sealed), r.size());
        assert_eq!(
            Record::decode(&key_of(42), &sealed, Some(&s)),
            Some(r.clone())
        );
        // A fresh nonce each time the same record is sealed.
        assert_ne!(r.encode(Some(&s)).unwrap(), sealed);
    }

    #[test]
    fn sealed_records_refuse_another_key_another_id_and_changes() {
        let (r, s) = (record(), sealer(1));
        let sealed = r.encode(Some(&s)).unwrap();
        assert_eq!(Record::decode(&key_of(42), &sealed, Some(&sealer(2))), None);
        assert_eq!(Record::decode(&key_of(42), &sealed, None), None);
        // Moved under another id: refused, so records cannot be swapped.
        assert_eq!(Record::decode(&key_of(43), &sealed, Some(&s)), None);
        for at in 0..sealed.len() {
            let mut changed = sealed.clone();
            changed[at] ^= 0x80;
            assert_eq!(
                Record::decode(&key_of(42), &changed, Some(&s)),
                None,
                "byte {at}"
            );
        }
        // A sealing store reads no plain record.
        let plain = r.encode(None).unwrap();
        assert_eq!(Record::decode(&key_of(42), &plain, Some(&s)), None);
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(Record::decode(&[1, 2], &[1; 40], None), None);
        assert_eq!(Record::decode(&key_of(1), &[3; 40], None), None);
        assert_eq!(Record::decode(&key_of(1), &[1; 10], None), None);
        assert_eq!(Record::decode(&key_of(1), &[2; 80], Some(&sealer(1))), None);
        let mut bad_utf8 = vec![1u8; HEADER_LEN];
        bad_utf8.extend_from_slice(&[0xff, 0xfe]);
        assert_eq!(Record::decode(&key_of(1), &bad_utf8, None), None);
    }
}
