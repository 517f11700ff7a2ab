//! The durable FIFO queue of hits on fjall.
//!
//! Keys are big-endian `u64` ids, so fjall's order is FIFO order. Hits are
//! only ever removed from the head, and the head id is kept in memory, so
//! draining reads `range(head..)` and never rescans deleted keys. Counts and
//! sizes come from the `position`/`offset` fields of the first and last
//! record, so opening needs no scan.
//!
//! Built for phones: one fjall background thread, 1 MiB memtables, a 1 MiB
//! block cache. fjall replays its whole active journal on open and only
//! rotates it past 64 MB, so a long-lived store would replay tens of MB even
//! when empty. Instead, whenever the queue is empty (fully drained or
//! deleted) and this generation has written more than `RECYCLE_AFTER_BYTES`,
//! or at close, the database is closed and replaced by a fresh one: reopening
//! an empty store then replays nothing, and deleted hit bytes leave the disk.
//!
//! `append` (the caller's `tracker_send`) writes only to the intake files
//! (see `intake`) under the intake lock; every other operation first moves
//! the intake's hits into fjall in one batch, and the worker does so after
//! each pass. fjall holds its version lock over fsyncs while it flushes a
//! memtable, so a send that inserted into fjall itself would wait for the
//! disk every few thousand hits.
//!
//! With an `encryption_key` every record is sealed before it is written,
//! in the intake and in fjall alike (`seal`, `encryption`): what reaches
//! the disk is the header and the sealed text, never the hit's text.
//!
//! Lock order: `inner` before `intake` before `renewing` (the whole crate's order: `engine::state`).
//! None of the methods does network I/O.
//!
//! Here: the `Store` type, its state and opening it. Its methods live with
//! their concern: `append` (the caller's side), `moving` (intake into
//! fjall), `limits` (trimming to the queue's limits), `records` (reading
//! and removing queued hits), `db` (fjall's lifecycle and generations),
//! `recovery` (what opening reads back), `encryption` (which key opens
//! the store); on disk: `dir`, `record`, `intake`; the cipher: `seal`.

pub mod dir;
pub mod intake;
pub mod record;
pub mod seal;

mod append;
mod db;
mod encryption;
mod limits;
mod moving;
mod records;
mod recovery;
mod sizes;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_encryption;

use append::*;
use db::*;
use limits::*;
use moving::*;
use recovery::*;
use sizes::Sizes;

use crate::config::EncryptionKey;
use crate::error::{Error, Result};
use crate::queue::dir::StorageDir;
use crate::queue::record::{Record, key_of};
use crate::queue::seal::Sealer;
use encryption::Sealing;
use fjall::config::CompressionPolicy;
use fjall::{CompressionType, Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use intake::IntakeFiles;
use parking_lot::Mutex;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

const META_RESERVED: &[u8] = b"reserved_ids_until";
const META_HEAD: &[u8] = b"head";
/// Highest id moved from the intake into this database: intake entries up
/// to it are not replayed.
const META_INTAKE_MOVED: &[u8] = b"intake_moved_upto";

struct Open {
    db: Database,
    queue: Keyspace,
    meta: Keyspace,
}

struct Inner {
    open: Option<Open>,
    /// Smallest id that may still be stored; every id below is gone.
    head: u64,
    /// Largest id stored, or 0.
    tail: u64,
    /// Hits and URL bytes in fjall (the intake's are counted there).
    count: u64,
    bytes: u64,
    /// Highest intake id moved into this database (`META_INTAKE_MOVED`).
    intake_moved: u64,
    written: u64,
    /// Bytes inserted since the memtable was last rotated.
    since_rotation: u64,
    /// Memtable rotations so far (see `note_written`).
    rotations: u64,
    /// A write failed; reopen before the next use (fjall poisons itself).
    broken: bool,
    closed: bool,
}

/// The tail of the queue: hits written to the intake files and not yet
/// moved into fjall, and everything an append assigns.
struct Intake {
    files: Option<IntakeFiles>,
    pending: intake::Pending,
    /// The buffer of the last batch moved, kept for the next `take`.
    spare: Vec<u8>,
    next_id: u64,
    reserved_until: u64,
    next_position: u64,
    next_offset: u64,
    /// Sequence number of the newest append: hits found at open are 1..=count,
    /// this run's appends follow. Removals take the oldest first, so the
    /// queued hits are exactly the sequence numbers after `appended - count`.
    appended: u64,
    /// A failed write could not be cut off: replay before the next append.
    damaged: bool,
}

/// What `open` found.
pub struct OpenReport {
    /// Path the damaged queue was moved to, if it could not be opened.
    pub moved_aside: Option<std::path::PathBuf>,
    /// Why it could not be opened (fjall's error), with `moved_aside`.
    pub damage: Option<String>,
    /// Hits found in the intake files and not yet in the database (left
    /// by a kill), moved into it at this open.
    pub intake_replayed: u64,
}

/// A hit removed from the queue: its id, its size and, when asked for, the record.
pub struct Removed {
    pub id: u64,
    pub size: u64,
    pub record: Option<Record>,
}

/// A hit just appended, and the queue's size with it.
pub struct Appended {
    pub id: u64,
    /// Sequence number of the append (see `Store::queued_arrivals`).
    pub seq: u64,
    pub count: u64,
    pub bytes: u64,
    /// The intake holds enough that the worker should move it now.
    pub move_soon: bool,
    /// A flood of sends has left the worker far behind at a full queue
    /// (`Store::outrun`): the sender should give it the CPU for a moment,
    /// or the intake files would grow with the flood.
    pub outrun: bool,
}

/// The durable queue of one storage directory.
pub struct Store {
    dir: StorageDir,
    inner: Mutex<Inner>,
    intake: Mutex<Intake>,
    /// The size as seen without `inner` (see `sizes`).
    sizes: Sizes,
    /// Hits with ids up to this were in the intake when it was last synced.
    intake_synced: AtomicU64,
    /// The last move of the intake into fjall failed.
    moves_failing: std::sync::atomic::AtomicBool,
    /// `max_queue_hits` / `max_queue_bytes`: moving the intake trims the
    /// queue to them (see `limits`).
    limits: Limits,
    /// Hits the moves dropped for the limits, until their events are owed.
    evicted: Evicted,
    /// Seals and opens records when the store is encrypted.
    sealer: Option<Sealer>,
    /// Held while a new nonce epoch is taken (see `encryption`).
    renewing: Mutex<()>,
}

impl Store {
    /// Opens (or creates) the queue in a locked storage directory. A queue
    /// fjall cannot read is moved aside and a fresh one started. With
    /// `key`, records are sealed; a directory sealed under another key (or
    /// opened without one), or a plain one holding hits opened with one, is
    /// refused as it is (see `encryption`).
    pub fn open(
        dir: StorageDir,
        now_ms: u64,
        key: Option<&EncryptionKey>,
    ) -> Result<(Store, OpenReport)> {
        let sealing = encryption::check_key(&dir, key)?;
        let mut report = OpenReport {
            moved_aside: None,
            damage: None,
            intake_replayed: 0,
        };
        let mut id_floor = dir.id_floor();
        let queue_path = dir.queue_path();
        prepare_current(&dir).map_err(|e| storage_error(&queue_path, "prepare", &e))?;
        let open = match open_db(&queue_path) {
            Ok(open) => open,
            Err(e) if is_damage(&e) => {
                report.damage = Some(format!("{e:?}"));
                report.moved_aside = Some(dir.move_aside(now_ms)?);
                // Ids handed out since the floor was last written are
                // unknown; skipping 2^32 keeps the new ones unique. Written
                // at once, so a crash before the next close cannot undo it.
                id_floor = id_floor.saturating_add(1 << 32);
                dir.set_id_floor(id_floor)?;
                prepare_current(&dir)
                    .and_then(|()| open_db(&queue_path))
                    .map_err(|e| storage_error(&queue_path, "open", &e))?
            }
            Err(e) => return Err(storage_error(&queue_path, "open", &e)),
        };
        let files = IntakeFiles::open(dir.path()).map_err(|e| {
            Error::storage(format!(
                "cannot open the intake files in {}: {e}",
                dir.path().display()
            ))
        })?;
        let sealer = match (sealing, key) {
            (Sealing::Sealed(sealer), _) => Some(*sealer),
            (Sealing::Starting, Some(key)) => {
                Some(encryption::start_sealing(&dir, key, &open, &files)?)
            }
            _ => None,
        };
        let mut intake = Intake {
            files: Some(files),
            pending: intake::Pending::default(),
            spare: Vec::new(),
            next_id: 1,
            reserved_until: 0,
            next_position: 0,
            next_offset: 0,
            appended: 0,
            damaged: false,
        };
        let mut inner = Inner {
            open: None,
            head: 1,
            tail: 0,
            count: 0,
            bytes: 0,
            intake_moved: 0,
            written: 0,
            since_rotation: 0,
            rotations: 0,
            broken: false,
            closed: false,
        };
        report.intake_replayed = replay_intake(&mut inner, &mut intake, &open)
            .map_err(|e| storage_error(&dir.queue_path(), "replay the intake into", &e))?;
        load_state(&mut inner, &mut intake, &open, sealer.as_ref())
            .map_err(|e| storage_error(&dir.queue_path(), "read", &e))?;
        if inner.count == 0 {
            inner.head = inner.head.max(id_floor);
            inner.tail = inner.head - 1;
        }
        intake.next_id = intake.next_id.max(id_floor);
        intake.appended = inner.count;
        if let Some(files) = intake.files.as_mut() {
            files.map();
        }
        inner.open = Some(open);
        crate::queue::dir::restrict_permissions(&dir.queue_path());
        Ok((
            Store {
                dir,
                sizes: Sizes::new(inner.count, inner.bytes),
                inner: Mutex::new(inner),
                intake: Mutex::new(intake),
                intake_synced: AtomicU64::new(0),
                moves_failing: std::sync::atomic::AtomicBool::new(false),
                limits: Limits::default(),
                evicted: Evicted::default(),
                sealer,
                renewing: Mutex::new(()),
            },
            report,
        ))
    }

    pub fn dir(&self) -> &StorageDir {
        &self.dir
    }

    /// Sequence number of the newest append (see `queued_arrivals`).
    pub fn appended(&self) -> u64 {
        self.intake.lock().appended
    }

    /// How many of the appends with sequence numbers in `after+1..=upto`
    /// are still queued. Constant time: removals always take the oldest.
    pub fn queued_arrivals(&self, after: u64, upto: u64) -> u64 {
        let inner = self.inner.lock();
        let intake = self.intake.lock();
        let queued = inner.count + intake.pending.count();
        let gone_upto = intake.appended.saturating_sub(queued);
        upto.saturating_sub(after.max(gone_upto))
    }

    /// Makes the store fit for use: reopens after a failed write (disk
    /// full; fjall refuses all writes after one fails, so recovery needs a
    /// fresh handle) or a damaged intake, replaying the intake files, and
    /// moves the intake's pending hits into fjall.
    fn usable(&self, inner: &mut Inner) -> Result<()> {
        self.usable_without_moving(inner)?;
        self.absorb(inner, None, false, true)
    }

    /// `usable` without moving the intake.
    fn usable_without_moving(&self, inner: &mut Inner) -> Result<()> {
        if inner.closed {
            return Err(closed());
        }
        if !inner.broken && !self.intake.lock().damaged {
            return Ok(());
        }
        drop(inner.open.take());
        let path = self.dir.queue_path();
        let open = open_current(&self.dir).map_err(|e| storage_error(&path, "reopen", &e))?;
        let mut intake = self.intake.lock();
        let next_id = intake.next_id;
        let appended = intake.appended;
        replay_intake(inner, &mut intake, &open)
            .map_err(|e| storage_error(&path, "replay the intake into", &e))?;
        load_state(inner, &mut intake, &open, self.sealer.as_ref())
            .map_err(|e| storage_error(&path, "read", &e))?;
        intake.next_id = intake.next_id.max(next_id);
        intake.appended = appended;
        inner.open = Some(open);
        inner.broken = false;
        self.publish(inner);
        Ok(())
    }

    fn publish(&self, inner: &Inner) {
        self.sizes.publish(inner.count, inner.bytes);
    }

    /// `count`, without waiting for the store's lock (which a move into
    /// fjall may hold while fjall flushes): may count a batch being moved
    /// twice. For the worker's decisions, taken under the state lock.
    pub fn count_hint(&self) -> u64 {
        self.size_hint().0
    }

    /// `count_hint` and the bytes with it: whether the queue may be over a
    /// limit, without waiting for the store's lock.
    pub fn size_hint(&self) -> (u64, u64) {
        let fjall = self.sizes.total();
        let intake = self.intake.lock();
        (
            fjall.0 + intake.pending.count(),
            fjall.1 + intake.pending.url_bytes(),
        )
    }

    /// Hits queued, in fjall and in the intake.
    pub fn count(&self) -> u64 {
        let inner = self.inner.lock();
        inner.count + self.intake.lock().pending.count()
    }

    /// URL bytes queued, in fjall and in the intake.
    pub fn bytes(&self) -> u64 {
        let inner = self.inner.lock();
        inner.bytes + self.intake.lock().pending.url_bytes()
    }

    /// Newest id handed out so far (0 if none).
    pub fn last_id(&self) -> u64 {
        self.intake.lock().next_id.saturating_sub(1)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

fn closed() -> Error {
    Error::closed()
}

fn storage_error(path: &Path, what: &str, e: &fjall::Error) -> Error {
    let detail = match e {
        fjall::Error::Locked => "the store is locked by another user".to_owned(),
        other => format!("{other:?}"),
    };
    Error::storage(format!(
        "cannot {what} store in {}: {detail}",
        path.display()
    ))
}
