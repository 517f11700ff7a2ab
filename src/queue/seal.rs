//! The cipher of encryption at rest (DESIGN.md §10): AES-256-GCM through
//! ring, the check value of an app's key, and nonces that never repeat
//! under one record key.
//!
//! Here: deriving a store's record key and the key's check value, sealing
//! and opening a text bound to associated data, and handing out nonces.
//! Not here: files and fjall (the storage directory keeps the check value
//! and the nonce epoch: `dir`; which key may open which store: `encryption`),
//! the record layout (`record`), and anything that could show a key: no
//! type here implements `Debug`, and no error carries key material.
//!
//! **Keys.** The app's key is never used to seal and never written: when a
//! store starts sealing it draws a random 256-bit salt, derives its record
//! key with HKDF-SHA256 (salt, app key, a label) and records a check value,
//! HMAC-SHA256 (app key, another label ‖ salt). A directory deleted and made
//! again under the same app key so gets a record key of its own.
//!
//! **Nonces** (96 bits): 4 random bytes ‖ epoch (`u32`) ‖ counter (`u32`),
//! big-endian. An epoch is a number the storage directory hands out once:
//! the store takes the next one and writes it to disk (synced) before its
//! first seal, at each open and whenever the counter of 2^32 seals runs out,
//! so no two runs share one, whatever crash or power cut came between. The
//! random bytes, drawn from the OS for each epoch, cover what numbering
//! cannot: a directory put back from an older copy of itself, which hands
//! out its epochs again.
#![deny(unsafe_code)]

use parking_lot::Mutex;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};

/// Length of an app's key.
pub(crate) const KEY_LEN: usize = 32;
pub(crate) const SALT_LEN: usize = 32;
pub(crate) const CHECK_LEN: usize = 32;
const TAG_LEN: usize = 16;
/// Bytes sealing adds to a text: its nonce before it, its tag after it.
pub(crate) const OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// Seals under one epoch before the next is taken: the counter's range.
const SEALS_PER_EPOCH: u64 = 1 << 32;

/// Labels that keep the two values derived from one key apart.
const CHECK_LABEL: &[u8] = b"offtrack key check v1";
const RECORD_KEY_LABEL: &[u8] = b"offtrack record key v1";

/// Why a text could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// The OS gave no random bytes.
    NoRandom,
    /// The epoch's counter is used up: take the next epoch (`Sealer::renew`).
    EpochUsedUp,
    /// ring refused (only for texts beyond 2^36 bytes, which no hit is).
    Cipher,
}

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SealError::NoRandom => "the system gave no random bytes",
            SealError::EpochUsedUp => "the nonces of this epoch are used up",
            SealError::Cipher => "the cipher refused the text",
        })
    }
}

/// What a sealing store keeps beside its hits: the salt its record key is
/// derived with and the app key's check value. Neither tells anything
/// about the key.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyCheck {
    pub salt: [u8; SALT_LEN],
    pub check: [u8; CHECK_LEN],
}

impl KeyCheck {
    /// The check value of `key` with a fresh random salt, for a store that
    /// starts sealing.
    pub fn new(key: &[u8; KEY_LEN]) -> Result<KeyCheck, SealError> {
        let mut salt = [0u8; SALT_LEN];
        random(&mut salt)?;
        let tag = hmac::sign(&check_key(key), &check_message(&salt));
        let mut check = [0u8; CHECK_LEN];
        check.copy_from_slice(tag.as_ref());
        Ok(KeyCheck { salt, check })
    }

    /// Whether `key` is the key this check value was made with (compared
    /// in constant time).
    pub fn matches(&self, key: &[u8; KEY_LEN]) -> bool {
        hmac::verify(&check_key(key), &check_message(&self.salt), &self.check).is_ok()
    }
}

fn check_key(key: &[u8; KEY_LEN]) -> hmac::Key {
    hmac::Key::new(hmac::HMAC_SHA256, key)
}

fn check_message(salt: &[u8; SALT_LEN]) -> Vec<u8> {
    [CHECK_LABEL, salt.as_slice()].concat()
}

fn random(out: &mut [u8]) -> Result<(), SealError> {
    SystemRandom::new()
        .fill(out)
        .map_err(|_| SealError::NoRandom)
}

/// Seals and opens the texts of one store under its record key.
pub struct Sealer {
    key: LessSafeKey,
    check: KeyCheck,
    nonces: Mutex<Nonces>,
}

/// The nonces of the current epoch: `prefix` (random bytes and epoch) and
/// the counter of the next one.
struct Nonces {
    prefix: [u8; 8],
    epoch: u32,
    next: u64,
    per_epoch: u64,
}

impl Sealer {
    /// The sealer of a store whose check value `check` matches `key`,
    /// sealing under `epoch`, which must never have been used with this
    /// salt before (the caller has written it to disk first).
    pub fn new(key: &[u8; KEY_LEN], check: &KeyCheck, epoch: u32) -> Result<Sealer, SealError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &check.salt).extract(key);
        let okm = prk
            .expand(&[RECORD_KEY_LABEL], &AES_256_GCM)
            .map_err(|_| SealError::Cipher)?;
        let key = LessSafeKey::new(UnboundKey::from(okm));
        Ok(Sealer {
            key,
            check: check.clone(),
            nonces: Mutex::new(Nonces::new(epoch)?),
        })
    }

    /// The salt and check value this sealer's key was derived with.
    pub fn key_check(&self) -> &KeyCheck {
        &self.check
    }

    /// The epoch nonces are taken from now.
    pub fn epoch(&self) -> u32 {
        self.nonces.lock().epoch
    }

    /// The current epoch's nonces are all taken: `renew` before sealing.
    pub fn used_up(&self) -> bool {
        let nonces = self.nonces.lock();
        nonces.next >= nonces.per_epoch
    }

    /// Goes on under `epoch` (newer than every one used, and on disk).
    pub fn renew(&self, epoch: u32) -> Result<(), SealError> {
        let mut nonces = self.nonces.lock();
        let per_epoch = nonces.per_epoch;
        *nonces = Nonces::new(epoch)?;
        nonces.per_epoch = per_epoch;
        Ok(())
    }

    /// Appends to `out` a fresh nonce, `text` sealed under it with `aad`
    /// as associated data, and the tag. Nothing is appended on error.
    pub fn seal_into(&self, out: &mut Vec<u8>, aad: &[u8], text: &[u8]) -> Result<(), SealError> {
        let nonce = self.nonces.lock().take()?;
        let start = out.len();
        out.extend_from_slice(&nonce);
        let at = out.len();
        out.extend_from_slice(text);
        match self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[at..],
        ) {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(SealError::Cipher)
            }
        }
    }

    /// The text of `sealed` (nonce, sealed text, tag, as `seal_into` wrote
    /// them) if it was sealed under this key with the same `aad`; `None` for
    /// anything else: another key, another record's data, a changed byte.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < OVERHEAD {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut text = body.to_vec();
        let len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut text)
            .ok()?
            .len();
        text.truncate(len);
        Some(text)
    }

    /// Lets each epoch last `per_epoch` seals (tests of renewal).
    #[cfg(test)]
    pub fn set_seals_per_epoch(&self, per_epoch: u64) {
        self.nonces.lock().per_epoch = per_epoch;
    }
}

impl Nonces {
    fn new(epoch: u32) -> Result<Nonces, SealError> {
        let mut prefix = [0u8; 8];
        random(&mut prefix[..4])?;
        prefix[4..].copy_from_slice(&epoch.to_be_bytes());
        Ok(Nonces {
            prefix,
            epoch,
            next: 0,
            per_epoch: SEALS_PER_EPOCH,
        })
    }

    fn take(&mut self) -> Result<[u8; NONCE_LEN], SealError> {
        if self.next >= self.per_epoch {
            return Err(SealError::EpochUsedUp);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..8].copy_from_slice(&self.prefix);
        // Below 2^32: `per_epoch` is at most SEALS_PER_EPOCH.
        nonce[8..].copy_from_slice(&(self.next as u32).to_be_bytes());
        self.next += 1;
        Ok(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_LEN] = [7; KEY_LEN];
    const OTHER: [u8; KEY_LEN] = [8; KEY_LEN];

    fn sealer(epoch: u32) -> Sealer {
        Sealer::new(&KEY, &KeyCheck::new(&KEY).unwrap(), epoch).unwrap()
    }

    fn sealed(s: &Sealer, aad: &[u8], text: &[u8]) -> Vec<u8> {
        let mut out = b"head".to_vec();
        s.seal_into(&mut out, aad, text).unwrap();
        assert_eq!(&out[..4], b"head");
        out.split_off(4)
    }

    #[test]
    fn round_trip() {
        let s = sealer(1);
        for text in [&b""[..], b"x", &[0xab; 5000]] {
            let out = sealed(&s, b"id 1", text);
            assert_eq!(out.len(), text.len() + OVERHEAD);
            assert_eq!(s.open(b"id 1", &out).as_deref(), Some(text));
        }
    }

    #[test]
    fn the_text_is_not_in_what_is_sealed() {
        let s = sealer(1);
        let text = b"page=checkout&user=MARKER1234567890";
        let out = sealed(&s, b"", text);
        assert!(!out.windows(6).any(|w| w == b"MARKER"));
    }

    #[test]
    fn wrong_key_wrong_data_and_changed_bytes_are_refused() {
        let check = KeyCheck::new(&KEY).unwrap();
        let s = Sealer::new(&KEY, &check, 1).unwrap();
        let out = sealed(&s, b"id 1", b"page=home");
        // Same salt, another app key.
        let other = Sealer::new(&OTHER, &check, 1).unwrap();
        assert_eq!(other.open(b"id 1", &out), None);
        // Same app key, another store's salt.
        assert_eq!(sealer(1).open(b"id 1", &out), None);
        // Another record's associated data: records cannot be swapped.
        assert_eq!(s.open(b"id 2", &out), None);
        for at in 0..out.len() {
            let mut changed = out.clone();
            changed[at] ^= 0x01;
            assert_eq!(s.open(b"id 1", &changed), None, "byte {at}");
        }
        assert_eq!(s.open(b"id 1", &out[..out.len() - 1]), None);
        assert_eq!(s.open(b"id 1", &out[..OVERHEAD - 1]), None);
        assert_eq!(s.open(b"id 1", &[]), None);
    }

    #[test]
    fn check_value_tells_the_key_apart() {
        let check = KeyCheck::new(&KEY).unwrap();
        assert!(check.matches(&KEY));
        assert!(!check.matches(&OTHER));
        let again = KeyCheck::new(&KEY).unwrap();
        assert_ne!(check.salt, again.salt, "a fresh salt per store");
        assert_ne!(check.check, again.check);
        // The check value is not the key, nor any run of its bytes.
        assert!(!check.check.windows(4).any(|w| w == &KEY[..4]));
    }

    fn nonce_of(sealed: &[u8]) -> [u8; NONCE_LEN] {
        sealed[..NONCE_LEN].try_into().unwrap()
    }

    #[test]
    fn nonces_are_unique_across_reopens_and_renewals() {
        let check = KeyCheck::new(&KEY).unwrap();
        let mut seen = std::collections::HashSet::new();
        // Each open takes the next epoch, as the store does.
        for epoch in 1..=20u32 {
            let s = Sealer::new(&KEY, &check, epoch).unwrap();
            s.set_seals_per_epoch(50);
            let mut current = epoch;
            for _ in 0..120 {
                let mut out = Vec::new();
                match s.seal_into(&mut out, b"", b"t") {
                    Ok(()) => assert!(seen.insert(nonce_of(&out))),
                    Err(SealError::EpochUsedUp) => {
                        assert!(out.is_empty());
                        current += 1000;
                        s.renew(current).unwrap();
                        assert_eq!(s.epoch(), current);
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        assert!(seen.len() > 2000);
        // The same epoch in a directory put back from an older copy: the
        // random bytes still tell the runs apart.
        let a = Sealer::new(&KEY, &check, 5).unwrap();
        let b = Sealer::new(&KEY, &check, 5).unwrap();
        let (mut x, mut y) = (Vec::new(), Vec::new());
        a.seal_into(&mut x, b"", b"t").unwrap();
        b.seal_into(&mut y, b"", b"t").unwrap();
        assert_ne!(nonce_of(&x), nonce_of(&y));
        assert_eq!(&nonce_of(&x)[4..8], &5u32.to_be_bytes());
    }

    #[test]
    fn a_used_up_epoch_refuses_until_renewed() {
        let s = sealer(3);
        s.set_seals_per_epoch(2);
        let mut out = Vec::new();
        s.seal_into(&mut out, b"", b"a").unwrap();
        s.seal_into(&mut out, b"", b"b").unwrap();
        let len = out.len();
        assert_eq!(
            s.seal_into(&mut out, b"", b"c"),
            Err(SealError::EpochUsedUp)
        );
        assert_eq!(out.len(), len);
        s.renew(4).unwrap();
        s.seal_into(&mut out, b"", b"c").unwrap();
    }
}
