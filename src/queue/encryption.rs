//! Encryption at rest as the store sees it (DESIGN.md §10): which key may
//! open a storage directory, starting to seal an empty plain store, taking
//! a nonce epoch at each open and when one runs out, and letting go of the
//! key check once the store is empty at a clean close.
//!
//! A refusal is decided before the store changes anything: a directory
//! with `KEYCHECK` is refused (another key, or none) before its generations
//! are settled or fjall is opened; a plain one that holds hits is refused
//! after fjall has opened it as any open does, before the intake is
//! replayed. Neither takes the "damaged store moved aside" path. The cipher
//! lives in `seal`, the `KEYCHECK` file in `dir`; no message here carries
//! a byte of a key.

use super::*;
use crate::config::EncryptionKey;
use crate::queue::seal::{KeyCheck, SealError, Sealer};

/// What the key check at open found, before the database is opened.
pub(super) enum Sealing {
    /// No key, and a store without `KEYCHECK`.
    Plain,
    /// A key, and a store that has not sealed yet: it may start once it
    /// is known to hold no plain hit (`start_sealing`).
    Starting,
    /// The store's own key, with the epoch of this open already on disk
    /// (boxed: a key schedule is large, and this is made once per open).
    Sealed(Box<Sealer>),
}

/// Checks `key` against the directory's `KEYCHECK`, refusing another key
/// or none while the store may hold sealed hits. For a sealed store the
/// next nonce epoch is written to disk before this returns.
pub(super) fn check_key(dir: &StorageDir, key: Option<&EncryptionKey>) -> Result<Sealing> {
    let shown = dir.path().display();
    match (dir.key_check()?, key) {
        (None, None) => Ok(Sealing::Plain),
        (None, Some(_)) => Ok(Sealing::Starting),
        (Some(_), None) => Err(Error::storage(format!(
            "the storage directory {shown} is encrypted: encryption_key is required \
             (to stop encrypting, drain the queue with the key and destroy the tracker, \
             or delete the directory); it is left untouched"
        ))),
        (Some((check, _)), Some(key)) if !check.matches(key.bytes()) => {
            Err(Error::storage(format!(
                "the storage directory {shown} was encrypted with another key; \
                 it is left untouched (to change the key, drain the queue with the old \
                 one and destroy the tracker, or delete the directory)"
            )))
        }
        (Some((check, last_epoch)), Some(key)) => {
            let epoch = next_epoch(dir, last_epoch)?;
            dir.set_key_check(&check, epoch)?;
            let sealer = Sealer::new(key.bytes(), &check, epoch).map_err(|e| seal_error(dir, e))?;
            Ok(Sealing::Sealed(Box::new(sealer)))
        }
    }
}

/// A plain store starts sealing under `key`: refused if it holds a hit
/// (in fjall, or in an intake file and not moved yet), else a fresh salt
/// and check value are written (with the first epoch) before any seal.
pub(super) fn start_sealing(
    dir: &StorageDir,
    key: &EncryptionKey,
    open: &Open,
    files: &IntakeFiles,
) -> Result<Sealer> {
    let path = dir.queue_path();
    let moved = read_u64(&open.meta, META_INTAKE_MOVED)
        .map_err(|e| storage_error(&path, "read", &e))?
        .unwrap_or(0);
    let in_fjall = open.queue.first_key_value().is_some();
    let in_intake = || -> std::io::Result<bool> {
        for index in 0..2 {
            if files.reader(index)?.any(|entry| entry.id > moved) {
                return Ok(true);
            }
        }
        Ok(false)
    };
    let in_intake = in_intake().map_err(|e| {
        Error::storage(format!(
            "cannot read the intake files in {}: {e}",
            dir.path().display()
        ))
    })?;
    if in_fjall || in_intake {
        return Err(Error::storage(format!(
            "the storage directory {} holds unencrypted hits: drain or delete them before \
             turning encryption on (open it once without encryption_key and dispatch, or \
             call tracker_offline_delete); it is left as it was",
            dir.path().display()
        )));
    }
    let check = KeyCheck::new(key.bytes()).map_err(|e| seal_error(dir, e))?;
    // A fresh salt makes a fresh record key: its epochs start again.
    let epoch = 1;
    dir.set_key_check(&check, epoch)?;
    Sealer::new(key.bytes(), &check, epoch).map_err(|e| seal_error(dir, e))
}

/// The epoch after `last`; a directory that has used up 2^32 of them
/// (one per open) must be drained and deleted.
fn next_epoch(dir: &StorageDir, last: u32) -> Result<u32> {
    last.checked_add(1).ok_or_else(|| {
        Error::storage(format!(
            "the storage directory {} has used up its nonces: drain it and delete it",
            dir.path().display()
        ))
    })
}

pub(super) fn seal_error(dir: &StorageDir, e: SealError) -> Error {
    Error::storage(format!(
        "cannot seal a hit for the store in {}: {e}",
        dir.path().display()
    ))
}

impl Store {
    /// Runs `seal` with the store's sealer (`None` for a plain store),
    /// taking the next nonce epoch once if the current one is used up.
    pub(super) fn sealing<T>(
        &self,
        mut seal: impl FnMut(Option<&Sealer>) -> std::result::Result<T, SealError>,
    ) -> Result<T> {
        match seal(self.sealer.as_ref()) {
            Err(SealError::EpochUsedUp) => {
                self.renew_epoch()?;
                seal(self.sealer.as_ref()).map_err(|e| seal_error(&self.dir, e))
            }
            other => other.map_err(|e| seal_error(&self.dir, e)),
        }
    }

    /// Takes the next nonce epoch, on disk first. Renewals are serialized,
    /// so two sealers running out at once take one new epoch, not the same
    /// one twice.
    fn renew_epoch(&self) -> Result<()> {
        let Some(sealer) = self.sealer.as_ref() else {
            return Ok(());
        };
        let _renewing = self.renewing.lock();
        if !sealer.used_up() {
            return Ok(());
        }
        let epoch = next_epoch(&self.dir, sealer.epoch())?;
        self.dir.set_key_check(sealer.key_check(), epoch)?;
        sealer.renew(epoch).map_err(|e| seal_error(&self.dir, e))
    }

    /// Hits are sealed in this store.
    pub fn encrypted(&self) -> bool {
        self.sealer.is_some()
    }

    /// At a clean close of an empty sealing store: drops `KEYCHECK`, so the
    /// next open may use another key or none (the documented way to change
    /// or remove a key is to drain the queue first). Kept if removing fails:
    /// the store then still asks for this key.
    pub(super) fn release_key_check(&self) {
        if self.sealer.is_some() {
            let _ = self.dir.remove_key_check();
        }
    }
}
