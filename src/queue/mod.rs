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
//! Lock order: `inner` before `intake`. None of the methods does network I/O.

pub mod dir;
pub mod intake;
pub mod record;

use crate::error::{Error, Result};
use crate::queue::dir::StorageDir;
use crate::queue::record::{Record, key_of};
use fjall::config::CompressionPolicy;
use fjall::{CompressionType, Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use intake::IntakeFiles;
use parking_lot::Mutex;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Memtables are rotated by us at this size (see `note_written`). Only the
/// worker waits for fjall's flushes, never `tracker_send`, so small
/// memtables cost no send latency, and each costs ≈2.5× its size in memory.
const MEMTABLE_BYTES: u64 = 1024 * 1024;
/// Sealed memtables fjall may have waiting for its flush before a writer
/// waits (at most `MAX_FLUSH_WAIT` per memtable); each is `MEMTABLE_BYTES`.
const MAX_SEALED_MEMTABLES: usize = 1;
const MAX_FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// fjall's own rotation trigger, only a safety net far above ours.
const FJALL_MEMTABLE_LIMIT: u64 = 32 * 1024 * 1024;
/// Rough memtable cost of one removal, and of one entry beyond its bytes
/// (skiplist node, key, sequence number), so rotation follows memory use.
const TOMBSTONE_BYTES: u64 = 96;
const ENTRY_OVERHEAD_BYTES: u64 = 64;
/// The most a close without a deadline waits for the final flush.
const CLOSE_FLUSH_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
const CACHE_BYTES: u64 = 1024 * 1024;
/// fjall's minimum: sealed journals beyond this force their memtables to flush.
const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
const RECYCLE_AFTER_BYTES: u64 = 1024 * 1024;
/// Ids are reserved on disk in blocks, so ids stay unique per directory
/// across crashes without a write per hit.
const ID_BLOCK: u64 = 4096;
const META_RESERVED: &[u8] = b"reserved_ids_until";
const META_HEAD: &[u8] = b"head";
/// Highest id moved from the intake into this database: intake entries up
/// to it are not replayed.
const META_INTAKE_MOVED: &[u8] = b"intake_moved_upto";
/// The most the intake keeps in memory; past it (fjall has fallen behind)
/// the intake file is the only copy and the worker reads it back. The
/// caller's thread never waits for fjall.
const INTAKE_MEMORY_BYTES: usize = 256 * 1024;
/// Hits per fjall batch when moving from the file.
const MOVE_CHUNK_BYTES: usize = 128 * 1024;
/// An intake file beyond this refuses hits while moving them into fjall
/// fails (a broken store, a full disk): the queue's own limits cannot evict
/// meanwhile. A store that is merely slow is not limited here.
const INTAKE_FILE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// The meta keyspace's memtable is rotated with every this many of the
/// queue's (16 MiB written): old journals are freed well before fjall's
/// 64 MiB journal limit would force it.
const META_ROTATION_EVERY: u64 = 16;
/// `Appended::outrun`: the hits waiting in the active intake file are this
/// many times the queue's limits, and the file is at least this large.
const OUTRUN_LIMITS: u64 = 2;
const OUTRUN_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Past this much the worker is asked to move the intake at once instead
/// of gathering more first (see `Appended::move_soon`).
const INTAKE_PROMPT_BYTES: u64 = 128 * 1024;

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
    /// `inner.count`/`inner.bytes` as of the last change, and the batch an
    /// absorb is moving, for `append`'s limit check: it holds the intake
    /// lock and may not wait for `inner`. Set in this order (moving first,
    /// cleared last), a reader may count a batch twice but never misses it.
    fjall_size: (AtomicU64, AtomicU64),
    moving_size: (AtomicU64, AtomicU64),
    /// Hits with ids up to this were in the intake when it was last synced.
    intake_synced: AtomicU64,
    /// The last move of the intake into fjall failed.
    moves_failing: std::sync::atomic::AtomicBool,
    /// `max_queue_hits` / `max_queue_bytes` (`set_limits`): moving the
    /// intake trims the queue to them (see `absorb`).
    limits: (AtomicU64, AtomicU64),
    /// Hits the moves dropped for the limits, oldest first, until the
    /// tracker takes them (`take_evicted`) to give each its DROPPED event.
    evicted: Mutex<Vec<Removed>>,
}

/// What a move drops for the limits: the trim still going on (`None` once
/// the queue fits), the hits dropped from the batch, and how many more may
/// keep their record.
struct Cut {
    trim: Option<Trim>,
    dropped: Vec<Removed>,
    keep_text: usize,
    /// The move watches the hits sent since its batch was taken
    /// (`newer_fill_the_queue`); set when limits apply.
    watch_newer: bool,
    /// The hits sent since the batch was taken fill the queue alone: the
    /// rest of the batch is dropped unwritten.
    doomed: bool,
}

/// How many of the hits dropped by moves keep their record (for the text
/// of their events) until the tracker takes them.
const EVICTED_TEXT: usize = 4096;

/// Decides, oldest first, which hits to drop so that the queue fits its
/// limits, keeping at least the newest hit.
struct Trim {
    /// Hits and URL bytes the queue would hold if nothing more is dropped.
    left: (u64, u64),
    max: (u64, u64),
}

impl Trim {
    fn over(&self) -> bool {
        self.left.0 > 1 && (self.left.0 > self.max.0 || self.left.1 > self.max.1)
    }

    /// Whether the next-oldest hit, of `size` URL bytes, is dropped.
    fn drops(&mut self, size: u64) -> bool {
        if !self.over() {
            return false;
        }
        self.left = (self.left.0 - 1, self.left.1.saturating_sub(size));
        true
    }
}

impl Store {
    /// Opens (or creates) the queue in a locked storage directory. A queue
    /// fjall cannot read is moved aside and a fresh one started.
    pub fn open(dir: StorageDir, now_ms: u64) -> Result<(Store, OpenReport)> {
        let mut report = OpenReport { moved_aside: None };
        let mut id_floor = dir.id_floor();
        let queue_path = dir.queue_path();
        prepare_current(&dir).map_err(|e| storage_error(&queue_path, "prepare", &e))?;
        let open = match open_db(&queue_path) {
            Ok(open) => open,
            Err(e) if is_damage(&e) => {
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
        replay_intake(&mut inner, &mut intake, &open)
            .map_err(|e| storage_error(&dir.queue_path(), "replay the intake into", &e))?;
        load_state(&mut inner, &mut intake, &open)
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
                fjall_size: (AtomicU64::new(inner.count), AtomicU64::new(inner.bytes)),
                inner: Mutex::new(inner),
                intake: Mutex::new(intake),
                moving_size: (AtomicU64::new(0), AtomicU64::new(0)),
                intake_synced: AtomicU64::new(0),
                moves_failing: std::sync::atomic::AtomicBool::new(false),
                limits: (AtomicU64::new(u64::MAX), AtomicU64::new(u64::MAX)),
                evicted: Mutex::new(Vec::new()),
            },
            report,
        ))
    }

    pub fn dir(&self) -> &StorageDir {
        &self.dir
    }

    /// The queue's limits, which moving the intake into fjall applies.
    pub fn set_limits(&self, max_hits: u64, max_bytes: u64) {
        self.limits.0.store(max_hits, Ordering::Relaxed);
        self.limits.1.store(max_bytes, Ordering::Relaxed);
    }

    /// Takes the hits moves have dropped for the limits, oldest first.
    pub fn take_evicted(&self) -> Vec<Removed> {
        std::mem::take(&mut *self.evicted.lock())
    }

    /// Moves dropped hits whose events are still to be given.
    pub fn has_evicted(&self) -> bool {
        !self.evicted.lock().is_empty()
    }

    fn note_evicted(&self, removed: Vec<Removed>) {
        if !removed.is_empty() {
            self.evicted.lock().extend(removed);
        }
    }

    fn trim_for(&self, inner: &Inner, hits: &intake::Pending) -> Option<Trim> {
        let trim = Trim {
            left: (inner.count + hits.count(), inner.bytes + hits.url_bytes()),
            max: (
                self.limits.0.load(Ordering::Relaxed),
                self.limits.1.load(Ordering::Relaxed),
            ),
        };
        trim.over().then_some(trim)
    }

    /// The first part of a trim: the oldest hits in fjall, while the queue
    /// with the batch being moved is over a limit.
    fn trim_fjall(&self, inner: &mut Inner, cut: &mut Cut) -> Result<()> {
        let Some(trim) = cut.trim.as_mut() else {
            return Ok(());
        };
        if inner.count > 0 {
            let removed = self.remove_prefix(
                inner,
                |_, r| trim.drops(r.map_or(0, Record::size)),
                u64::MAX,
                cut.keep_text,
            )?;
            cut.keep_text = cut.keep_text.saturating_sub(removed.len());
            self.note_evicted(removed);
        }
        if !trim.over() {
            cut.trim = None;
        }
        Ok(())
    }

    /// Records dropped from a move: the first `EVICTED_TEXT` waiting keep
    /// their record.
    fn dropped_entry(&self, keep_text: &mut usize, id: u64, payload: &[u8]) -> Removed {
        let record = (*keep_text > 0)
            .then(|| Record::decode(&key_of(id), payload))
            .flatten();
        *keep_text = keep_text.saturating_sub(1);
        Removed {
            id,
            size: Record::url_len_of(payload),
            record,
        }
    }

    /// Hands out an id unique within this storage directory.
    pub fn allocate_id(&self) -> Result<u64> {
        let mut intake = self.lock_intake_for_append(true)?;
        let id = intake.next_id;
        intake.next_id += 1;
        Ok(id)
    }

    /// The intake lock, once the intake is fit for appends and, if
    /// `reserved` is asked for, the next id is reserved on disk. Stored
    /// hits need no reservation: the intake entry itself records their id
    /// (and the database's "moved up to" mark once it is gone), so opening
    /// continues after it; only ids that are never written (never mode,
    /// opt-out) do. The slow path (a reservation every `ID_BLOCK` such ids,
    /// or a failed intake write) takes the store's lock first, as the lock
    /// order wants.
    fn lock_intake_for_append(
        &self,
        reserved: bool,
    ) -> Result<parking_lot::MutexGuard<'_, Intake>> {
        loop {
            let intake = self.intake.lock();
            if intake.files.is_none() {
                return Err(closed());
            }
            if !intake.damaged && (!reserved || intake.next_id < intake.reserved_until) {
                return Ok(intake);
            }
            drop(intake);
            let mut inner = self.inner.lock();
            self.usable(&mut inner)?;
            self.reserve_ids(&inner, &mut self.intake.lock())?;
        }
    }

    /// Inserts intake entries into fjall in one batch with the new
    /// "moved up to" mark, except the oldest that `trim` drops and, once the
    /// move is `doomed`, all of them (added to `dropped`, never written to
    /// fjall). The hits written are counted in at once, so a later trim in
    /// the same move sees them. Returns the last id seen.
    fn move_batch<'a>(
        &self,
        inner: &mut Inner,
        wait_for_flush: bool,
        entries: impl Iterator<Item = (u64, &'a [u8])>,
        cut: &mut Cut,
    ) -> Result<u64> {
        let open = inner.open.as_ref().ok_or_else(closed)?;
        let mut batch = open.db.batch();
        let (mut written, mut last) = (0, 0);
        let (mut kept, mut kept_bytes, mut first_kept) = (0u64, 0u64, None);
        for (id, payload) in entries {
            last = id;
            let dropped = cut.doomed
                || cut
                    .trim
                    .as_mut()
                    .is_some_and(|trim| trim.drops(Record::url_len_of(payload)));
            if dropped {
                let removed = self.dropped_entry(&mut cut.keep_text, id, payload);
                cut.dropped.push(removed);
                continue;
            }
            cut.trim = None;
            written += payload.len() as u64 + ENTRY_OVERHEAD_BYTES;
            kept += 1;
            kept_bytes += Record::url_len_of(payload);
            first_kept.get_or_insert(id);
            batch.insert(&open.queue, key_of(id), payload);
        }
        let moved = inner.intake_moved.max(last);
        batch.insert(&open.meta, META_INTAKE_MOVED, moved.to_be_bytes());
        batch
            .commit()
            .map_err(|e| storage_error(self.dir.path(), "write", &e))?;
        inner.intake_moved = moved;
        if let Some(first) = first_kept {
            if inner.count == 0 {
                inner.head = first;
            }
            inner.tail = last;
            inner.count += kept;
            inner.bytes += kept_bytes;
            self.publish(inner);
        }
        self.note_written(inner, written, wait_for_flush);
        Ok(last)
    }

    /// Whether the hits sent since the batch being moved was taken fill
    /// the queue on their own: every hit of the batch, and everything in
    /// fjall, is then older than what the limits keep. Under a flood of
    /// sends at a full queue the move stops writing to fjall there, so it
    /// keeps pace with the sends (reading the file is all that is left) and
    /// the intake files stay within about the queue's size.
    fn newer_fill_the_queue(&self) -> bool {
        let intake = self.intake.lock();
        let newer = &intake.pending;
        newer.count() > 0
            && (newer.count() >= self.limits.0.load(Ordering::Relaxed)
                || newer.url_bytes() >= self.limits.1.load(Ordering::Relaxed))
    }

    /// Once the newer hits fill the queue (`newer_fill_the_queue`), drops
    /// everything in fjall, the oldest first, and marks the move doomed.
    fn doom_if_overtaken(&self, inner: &mut Inner, cut: &mut Cut) -> Result<()> {
        if !cut.watch_newer || cut.doomed || !self.newer_fill_the_queue() {
            return Ok(());
        }
        cut.doomed = true;
        cut.trim = None;
        // What the trim dropped from the batch so far is older than
        // anything of it in fjall: its events come first.
        self.note_evicted(std::mem::take(&mut cut.dropped));
        if inner.count > 0 {
            let removed = self.remove_prefix(inner, |_, _| true, u64::MAX, cut.keep_text)?;
            cut.keep_text = cut.keep_text.saturating_sub(removed.len());
            self.note_evicted(removed);
        }
        Ok(())
    }

    /// Moves spilled hits (ids `hits.first_id()..=hits.last_id()`) by
    /// reading them back from intake file `source`, a chunk per batch.
    fn move_from_file(
        &self,
        inner: &mut Inner,
        wait_for_flush: bool,
        hits: &intake::Pending,
        source: Option<usize>,
        deadline: Option<std::time::Instant>,
        cut: &mut Cut,
    ) -> Result<u64> {
        let (first, last) = (hits.first_id().unwrap_or(0), hits.last_id());
        let reader = {
            let intake = self.intake.lock();
            let files = intake.files.as_ref().ok_or_else(closed)?;
            files.reader(source.unwrap_or(0)).map_err(|e| {
                Error::storage(format!(
                    "cannot read the intake in {}: {e}",
                    self.dir.path().display()
                ))
            })?
        };
        let mut entries = reader
            .filter(|e| e.id >= first)
            .take_while(|e| e.id <= last);
        let (mut moved_last, mut moved_count) = (0, 0);
        loop {
            let mut chunk = Vec::new();
            let mut size = 0;
            for entry in entries.by_ref() {
                size += entry.payload.len();
                chunk.push(entry);
                if size >= MOVE_CHUNK_BYTES {
                    break;
                }
            }
            if chunk.is_empty() {
                break;
            }
            // A long move would otherwise leave `tracker_send` without a
            // prepared window.
            self.prepare_window();
            self.doom_if_overtaken(inner, cut)?;
            if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                return Err(Error::storage(
                    "the store was closed before the intake was moved; it is replayed at the next open",
                ));
            }
            moved_count += chunk.len() as u64;
            moved_last = self.move_batch(
                inner,
                wait_for_flush,
                chunk.iter().map(|e| (e.id, e.payload.as_slice())),
                cut,
            )?;
        }
        if moved_last != last || moved_count != hits.count() {
            return Err(Error::storage(format!(
                "the intake file held {moved_count} of {} hits up to {last} (last read: {moved_last})",
                hits.count()
            )));
        }
        Ok(last)
    }

    /// Reserves the next block of ids in the database if the current one
    /// is used up.
    fn reserve_ids(&self, inner: &Inner, intake: &mut Intake) -> Result<()> {
        if intake.next_id < intake.reserved_until {
            return Ok(());
        }
        let until = intake.next_id + ID_BLOCK;
        let open = inner.open.as_ref().ok_or_else(closed)?;
        open.meta
            .insert(META_RESERVED, until.to_be_bytes())
            .map_err(|e| storage_error(self.dir.path(), "write", &e))?;
        intake.reserved_until = until;
        Ok(())
    }

    /// Appends a hit at the tail of the intake (a copy into its mapped
    /// file, or one `pwrite`), so it survives a process kill when this
    /// returns. Never touches fjall; the worker moves the hit on.
    pub fn append(&self, url: &str, created_ms: u64) -> Result<Appended> {
        let mut guard = self.lock_intake_for_append(false)?;
        let intake = &mut *guard;
        let id = intake.next_id;
        let (position, offset) = (intake.next_position, intake.next_offset);
        let size = url.len() as u64;
        let failing = self.moves_failing.load(Ordering::SeqCst);
        if failing
            && intake
                .files
                .as_ref()
                .is_some_and(|f| f.active_len() > INTAKE_FILE_LIMIT_BYTES)
        {
            return Err(Error::storage(format!(
                "the intake in {} is full: the store has not been able to take hits for a while",
                self.dir.path().display()
            )));
        }
        let previous_last_id = intake.pending.last_id();
        let entry = intake.pending.push(id, size, |out| {
            Record::encode_fields(out, url, created_ms, 0, position, offset)
        });
        let entry_len = entry.len();
        let written = match intake.files.as_mut() {
            Some(files) => files.append(entry),
            None => Err((std::io::Error::other("closed"), false)),
        };
        if let Err((e, damaged)) = written {
            intake.pending.pop(entry_len, size, previous_last_id);
            intake.damaged |= damaged;
            return Err(Error::storage(format!(
                "cannot write the hit to the intake in {}: {e}",
                self.dir.path().display()
            )));
        }
        if intake.pending.memory_bytes() > INTAKE_MEMORY_BYTES {
            intake.pending.spill();
        }
        intake.next_id += 1;
        intake.next_position += 1;
        intake.next_offset += size;
        intake.appended += 1;
        let count =
            self.moving_size.0.load(Ordering::SeqCst) + self.fjall_size.0.load(Ordering::SeqCst);
        let bytes =
            self.moving_size.1.load(Ordering::SeqCst) + self.fjall_size.1.load(Ordering::SeqCst);
        let appended = Appended {
            id,
            seq: intake.appended,
            count: count + intake.pending.count(),
            bytes: bytes + intake.pending.url_bytes(),
            move_soon: intake.pending.url_bytes() >= INTAKE_PROMPT_BYTES,
            outrun: self.outrun(&intake.pending, intake.files.as_ref()),
        };
        Ok(appended)
    }

    /// Whether the hits waiting in the active intake file are so many that
    /// the worker cannot be keeping up: `OUTRUN_LIMITS` times the queue's
    /// limits, in a file past `OUTRUN_FILE_BYTES`. A move stops writing to
    /// fjall once the newer hits fill the queue (`newer_fill_the_queue`),
    /// so only a worker starved of CPU falls this far behind.
    fn outrun(&self, pending: &intake::Pending, files: Option<&IntakeFiles>) -> bool {
        let max_hits = self.limits.0.load(Ordering::Relaxed);
        let max_bytes = self.limits.1.load(Ordering::Relaxed);
        (pending.count() >= max_hits.saturating_mul(OUTRUN_LIMITS)
            || pending.url_bytes() >= max_bytes.saturating_mul(OUTRUN_LIMITS))
            && files.is_some_and(|f| f.active_len() >= OUTRUN_FILE_BYTES)
    }

    /// Moves the intake's hits into fjall now, waiting for fjall to flush
    /// older memtables as it goes: the worker's move, made without the
    /// tracker's state lock. Moves made by other operations (which may hold
    /// that lock, and with it every `tracker_send`) never wait.
    pub fn absorb_intake(&self) -> Result<()> {
        let mut inner = self.inner.lock();
        self.usable_without_moving(&mut inner)?;
        self.absorb(&mut inner, None, true, true)
    }

    /// Prepares the intake's mapped window ahead of the next sends (the
    /// worker's job: a send past it takes the slower `pwrite`).
    pub fn prepare_intake(&self) {
        let _inner = self.inner.lock();
        self.prepare_window();
    }

    /// `prepare_intake` for a caller holding the inner lock, which keeps
    /// the intake files from being switched, emptied or closed meanwhile
    /// (the preparation's contract). The intake lock is held only to plan
    /// and to record, never while pages are allocated and faulted in.
    fn prepare_window(&self) {
        let Some((index, plan, file)) = self
            .intake
            .lock()
            .files
            .as_mut()
            .and_then(IntakeFiles::plan_preparation)
        else {
            return;
        };
        // SAFETY: the caller holds the inner lock (see above); `file` is
        // the mapped file; sends keep appending only as `run` allows.
        let succeeded = unsafe { plan.run(&file) }.is_ok();
        if let Some(files) = self.intake.lock().files.as_mut() {
            files.prepared(index, &plan, succeeded);
        }
    }

    /// Hits are waiting in the intake to be moved into fjall.
    pub fn intake_waiting(&self) -> bool {
        !self.intake.lock().pending.is_empty()
    }

    /// Moves every pending intake hit into fjall in one batch, then empties
    /// the intake file they were written to. On failure they stay in the
    /// intake files, which the reopen in `usable` replays.
    fn absorb(
        &self,
        inner: &mut Inner,
        deadline: Option<std::time::Instant>,
        wait_for_flush: bool,
        apply_limits: bool,
    ) -> Result<()> {
        let (hits, previous_file, source) = {
            let mut intake = self.intake.lock();
            if intake.pending.is_empty() {
                return Ok(());
            }
            let source = intake.files.as_ref().map(IntakeFiles::active);
            let previous = intake.files.as_mut().and_then(IntakeFiles::switch);
            let spare = std::mem::take(&mut intake.spare);
            let hits = intake.pending.take(spare);
            self.moving_size.0.store(hits.count(), Ordering::SeqCst);
            self.moving_size.1.store(hits.url_bytes(), Ordering::SeqCst);
            (hits, previous, source)
        };
        self.prepare_window();
        // Over a limit, the oldest hits go before anything is written: the
        // ones in fjall, then those of this batch, which are then never
        // written to fjall at all. Under a flood of sends at a full queue
        // fjall so takes only what stays, and its journal and tables stay
        // within the disk bound.
        let mut cut = Cut {
            trim: if apply_limits {
                self.trim_for(inner, &hits)
            } else {
                None
            },
            dropped: Vec::new(),
            keep_text: EVICTED_TEXT.saturating_sub(self.evicted.lock().len()),
            watch_newer: apply_limits,
            doomed: false,
        };
        // Marked broken while moving: if the move panics (the worker
        // survives it), the next use replays the intake files, which still
        // hold these hits, before any file is emptied.
        inner.broken = true;
        let moved = self.trim_fjall(inner, &mut cut).and_then(|()| {
            if hits.spilled() {
                self.move_from_file(inner, wait_for_flush, &hits, source, deadline, &mut cut)
            } else {
                self.move_batch(inner, wait_for_flush, hits.iter(), &mut cut)
            }
        });
        let last = match moved {
            Ok(done) => done,
            Err(e) => {
                // The hits stay in the intake files, which the reopen
                // replays: all but those dropped from a chunk already
                // committed (below the "moved up to" mark), which are gone.
                let moved_upto = inner.intake_moved;
                cut.dropped.retain(|r| r.id <= moved_upto);
                self.note_evicted(cut.dropped);
                self.moves_failing.store(true, Ordering::SeqCst);
                inner.broken = true;
                self.intake.lock().pending.put_back_before(hits);
                self.moving_size.0.store(0, Ordering::SeqCst);
                self.moving_size.1.store(0, Ordering::SeqCst);
                return Err(e);
            }
        };
        inner.broken = false;
        self.moves_failing.store(false, Ordering::SeqCst);
        self.note_evicted(cut.dropped);
        let first_moved = hits.first_id();
        // `move_batch` counted in what it wrote; ids up to `last` that
        // were dropped unwritten leave nothing between.
        inner.tail = inner.tail.max(last);
        if inner.count == 0 {
            inner.head = inner.tail + 1;
        }
        self.publish(inner);
        self.moving_size.0.store(0, Ordering::SeqCst);
        self.moving_size.1.store(0, Ordering::SeqCst);
        // Kept only up to the size the intake holds at most.
        let spare = hits.into_spare();
        if spare.capacity() <= 2 * INTAKE_MEMORY_BYTES {
            self.intake.lock().spare = spare;
        }
        // Hits that a sync made durable in the intake must be durable in the
        // journal before their intake copy is zeroed, or a power cut could
        // lose what `tracker_flush` promised. Rare: the intake is synced
        // about once a second and most batches move before that.
        if previous_file.is_some()
            && first_moved.is_some_and(|id| id <= self.intake_synced.load(Ordering::SeqCst))
            && let Some(open) = inner.open.as_ref()
            && let Err(e) = open.db.persist(PersistMode::SyncData)
        {
            return Err(storage_error(self.dir.path(), "sync", &e));
        }
        if let Some(index) = previous_file {
            // Outside the intake lock: zeroing a file takes a while,
            // and no append goes to the inactive file. If it fails the file
            // stays full; `switch` retries before reuse.
            let emptier = self.intake.lock().files.as_ref().map(|f| f.emptier(index));
            if emptier.is_some_and(intake::Emptier::run)
                && let Some(files) = self.intake.lock().files.as_mut()
            {
                files.mark_empty(index);
            }
        }
        Ok(())
    }

    /// Counts bytes written and rotates the memtable every `MEMTABLE_BYTES`.
    /// Rotating here keeps memtables small without fjall's own trigger,
    /// which floods its single worker's bounded queue with rotation
    /// requests under a fast writer until that worker blocks on its own
    /// queue. With `wait_for_flush` (moving the intake, the only fast
    /// writer) it then waits for fjall to flush older memtables, which
    /// bounds memory; removals and updates come at network pace and their
    /// callers may hold the tracker's state lock, so they never wait.
    fn note_written(&self, inner: &mut Inner, bytes: u64, wait_for_flush: bool) {
        inner.written += bytes;
        inner.since_rotation += bytes;
        if inner.since_rotation < MEMTABLE_BYTES {
            return;
        }
        inner.since_rotation = 0;
        inner.rotations += 1;
        if let Some(open) = inner.open.as_ref() {
            // The meta keyspace's few bytes go now and then too: a journal is
            // deleted only once every keyspace's data in it is in tables, and
            // meta's memtable would otherwise keep each journal alive until
            // fjall's journal limit forces it out (a second 64 MiB journal on
            // disk under a flood of sends). Not at every rotation: each flush
            // costs fjall's single thread a table, whatever its size.
            if inner.rotations.is_multiple_of(META_ROTATION_EVERY) {
                let _ = open.meta.rotate_memtable();
            }
            // Sends go on meanwhile: keep their window prepared.
            rotate_memtable(&open.queue, wait_for_flush, || self.prepare_window());
        }
    }

    /// Rewrites a stored record (attempts, flags) if it is still queued.
    pub fn update(&self, record: &Record) -> Result<bool> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        if record.id < inner.head || record.id > inner.tail {
            return Ok(false);
        }
        let open = inner.open.as_ref().ok_or_else(closed)?;
        match open.queue.contains_key(key_of(record.id)) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => return Err(storage_error(self.dir.path(), "read", &e)),
        }
        let encoded = record.encode();
        if let Err(e) = open.queue.insert(key_of(record.id), &encoded) {
            inner.broken = true;
            return Err(storage_error(self.dir.path(), "write", &e));
        }
        self.note_written(
            &mut inner,
            encoded.len() as u64 + ENTRY_OVERHEAD_BYTES,
            false,
        );
        Ok(true)
    }

    /// The oldest stored hit. A record that cannot be decoded is returned as
    /// `Err((id, message))` so the caller can drop it and report that.
    pub fn head(&self) -> Result<Option<std::result::Result<Record, u64>>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        Ok(self.scan(&inner, 1)?.pop())
    }

    /// Up to `max` hits, oldest first; undecodable ones are skipped.
    pub fn oldest(&self, max: u64) -> Result<Vec<Record>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        Ok(self
            .scan(&inner, max)?
            .into_iter()
            .filter_map(|r| r.ok())
            .collect())
    }

    /// The newest stored hit.
    pub fn latest(&self) -> Result<Option<Record>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        if inner.count == 0 {
            return Ok(None);
        }
        let open = inner.open.as_ref().ok_or_else(closed)?;
        let value = open
            .queue
            .get(key_of(inner.tail))
            .map_err(|e| storage_error(self.dir.path(), "read", &e))?;
        Ok(value.and_then(|v| Record::decode(&key_of(inner.tail), &v)))
    }

    fn scan(&self, inner: &Inner, max: u64) -> Result<Vec<std::result::Result<Record, u64>>> {
        let mut out = Vec::new();
        if inner.count == 0 || max == 0 {
            return Ok(out);
        }
        let open = inner.open.as_ref().ok_or_else(closed)?;
        for guard in open.queue.range(key_of(inner.head)..) {
            let (key, value) = guard
                .into_inner()
                .map_err(|e| storage_error(self.dir.path(), "read", &e))?;
            let id = key.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
            out.push(Record::decode(&key, &value).ok_or(id));
            if out.len() as u64 >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Up to `max` stored hits with ids in `from..=to`, oldest first.
    pub fn records_between(&self, from: u64, to: u64, max: usize) -> Result<Vec<Record>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        let from = from.max(inner.head);
        if inner.count == 0 || from > to {
            return Ok(Vec::new());
        }
        let open = inner.open.as_ref().ok_or_else(closed)?;
        let mut out = Vec::new();
        for guard in open.queue.range(key_of(from)..=key_of(to)) {
            let (key, value) = guard
                .into_inner()
                .map_err(|e| storage_error(self.dir.path(), "read", &e))?;
            if let Some(record) = Record::decode(&key, &value) {
                out.push(record);
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
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

    /// Removes the hit `id` if it is the head of the queue. Returns the
    /// removed record's size, or `None` if it was already gone.
    pub fn remove_head(&self, id: u64) -> Result<Option<u64>> {
        let mut inner = self.inner.lock();
        // The head was read from fjall (which moved the intake); not moving
        // it again here keeps this cheap under the tracker's state lock.
        self.usable_without_moving(&mut inner)?;
        if id < inner.head || inner.count == 0 {
            return Ok(None);
        }
        let removed = self.remove_prefix(&mut inner, |rid, _| rid == id, 1, 0)?;
        Ok(removed.first().map(|r| r.size))
    }

    /// Removes up to `max` of the oldest hits created before `cutoff_ms`
    /// and returns them (for expiry, whose events carry the hit).
    pub fn expire(&self, cutoff_ms: u64, max: u64) -> Result<Vec<Removed>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        self.remove_prefix(
            &mut inner,
            |_, r| r.is_some_and(|r| r.created_ms < cutoff_ms),
            max,
            usize::MAX,
        )
    }

    /// Creation time of the oldest stored hit.
    pub fn oldest_created_ms(&self) -> Result<Option<u64>> {
        Ok(self.head()?.and_then(|r| r.ok()).map(|r| r.created_ms))
    }

    /// Removes from the head while `keep_going` says so, at most `max` hits.
    /// `keep_going` gets the id and the record (`None` if it cannot be
    /// decoded); the first `keep_records` removed records are returned whole.
    fn remove_prefix(
        &self,
        inner: &mut Inner,
        mut keep_going: impl FnMut(u64, Option<&Record>) -> bool,
        max: u64,
        keep_records: usize,
    ) -> Result<Vec<Removed>> {
        let mut removed: Vec<Removed> = Vec::new();
        let open = inner.open.as_ref().ok_or_else(closed)?;
        let mut batch = open.db.batch();
        let mut next_head = None;
        for guard in open.queue.range(key_of(inner.head)..) {
            let (key, value) = guard
                .into_inner()
                .map_err(|e| storage_error(self.dir.path(), "read", &e))?;
            let id = key.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
            let record = Record::decode(&key, &value);
            if removed.len() as u64 >= max || !keep_going(id, record.as_ref()) {
                next_head = Some(id);
                break;
            }
            let size = record.as_ref().map_or(value.len() as u64, Record::size);
            let record = record.filter(|_| removed.len() < keep_records);
            batch.remove(&open.queue, key);
            removed.push(Removed { id, size, record });
        }
        if removed.is_empty() {
            return Ok(removed);
        }
        if let Err(e) = batch.commit() {
            inner.broken = true;
            return Err(storage_error(self.dir.path(), "write", &e));
        }
        let freed: u64 = removed.iter().map(|r| r.size).sum();
        self.note_written(inner, TOMBSTONE_BYTES * removed.len() as u64, false);
        inner.count = inner.count.saturating_sub(removed.len() as u64);
        inner.bytes = inner.bytes.saturating_sub(freed);
        inner.head = next_head.unwrap_or(inner.tail + 1);
        if inner.count == 0 {
            inner.bytes = 0;
            inner.head = inner.tail + 1;
        }
        self.publish(inner);
        Ok(removed)
    }

    /// Removes the oldest hits while the queue is over either limit, keeping
    /// at least the newest hit; at most `max` of them (the caller repeats
    /// while a full batch came back), the first `keep_records` whole.
    pub fn evict_over(
        &self,
        max_hits: u64,
        max_bytes: u64,
        max: u64,
        keep_records: usize,
    ) -> Result<Vec<Removed>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        if inner.count <= max_hits && inner.bytes <= max_bytes {
            return Ok(Vec::new());
        }
        let mut left = (inner.count, inner.bytes);
        self.remove_prefix(
            &mut inner,
            |_, r| {
                let over = left.0 > 1 && (left.0 > max_hits || left.1 > max_bytes);
                left = (left.0 - 1, left.1.saturating_sub(r.map_or(0, Record::size)));
                over
            },
            max,
            keep_records,
        )
    }

    /// Removes the oldest hits created before `cutoff_ms` (up to the first
    /// newer one); the first `keep_records` are returned whole.
    pub fn remove_older_than(&self, cutoff_ms: u64, keep_records: usize) -> Result<Vec<Removed>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        let removed = self.remove_prefix(
            &mut inner,
            |_, r| r.is_none_or(|r| r.created_ms < cutoff_ms),
            u64::MAX,
            keep_records,
        )?;
        if inner.count == 0 && !removed.is_empty() {
            self.recycle(&mut inner)?;
        }
        Ok(removed)
    }

    /// Removes every stored hit and replaces the database files, so the
    /// hits' bytes are gone from the directory, not just marked deleted.
    /// The first `keep_records` are returned whole.
    pub fn remove_all(&self, keep_records: usize) -> Result<Vec<Removed>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        let mut removed = Vec::new();
        if inner.count > 0 {
            let open = inner.open.as_ref().ok_or_else(closed)?;
            for guard in open.queue.range(key_of(inner.head)..) {
                let (key, value) = guard
                    .into_inner()
                    .map_err(|e| storage_error(self.dir.path(), "read", &e))?;
                let id = key.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
                // Only the first `keep_records` keep their text, so a huge
                // queue is not copied into memory.
                let record = (removed.len() < keep_records)
                    .then(|| Record::decode(&key, &value))
                    .flatten();
                let size = record.as_ref().map_or(0, Record::size);
                removed.push(Removed { id, size, record });
            }
        }
        self.recycle(&mut inner)?;
        Ok(removed)
    }

    /// Starts a fresh database generation if the queue is empty and enough
    /// was written since the last one that a reopen would replay it.
    pub fn recycle_if_drained(&self) -> Result<bool> {
        let mut inner = self.inner.lock();
        if inner.closed || inner.count != 0 || inner.written < RECYCLE_AFTER_BYTES {
            return Ok(false);
        }
        self.usable(&mut inner)?;
        self.recycle(&mut inner)?;
        Ok(true)
    }

    fn recycle(&self, inner: &mut Inner) -> Result<()> {
        let path = self.dir.queue_path();
        // Outside the database, so ids stay unique even if the process dies
        // between deleting the old database and starting the new one.
        self.dir.set_id_floor(self.intake.lock().next_id)?;
        // Built (carrying the intake mark: hits up to it were moved and are
        // gone) while the old generation stays open: if building fails,
        // the old one simply stays in use.
        build_generation(&self.dir, inner.intake_moved)
            .map_err(|e| storage_error(&path, "build a fresh generation of", &e))?;
        drop(inner.open.take());
        if let Err(e) = self.dir.install_ready() {
            inner.broken = true;
            return Err(Error::storage(format!(
                "cannot replace the drained store in {}: {e}",
                path.display()
            )));
        }
        inner.count = 0;
        inner.bytes = 0;
        inner.written = 0;
        inner.since_rotation = 0;
        self.publish(inner);
        let open = open_current(&self.dir).map_err(|e| {
            inner.broken = true;
            storage_error(&path, "open", &e)
        })?;
        inner.open = Some(open);
        let mut intake = self.intake.lock();
        if intake.pending.is_empty() {
            // Deleted hits' bytes leave the disk: the intake files may
            // still hold hits that were moved.
            if let Some(files) = intake.files.as_mut() {
                files.empty_all();
            }
        }
        inner.head = intake.pending.first_id().unwrap_or(intake.next_id);
        inner.tail = inner.head.saturating_sub(1);
        intake.reserved_until = 0;
        self.reserve_ids(inner, &mut intake)
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
        load_state(inner, &mut intake, &open).map_err(|e| storage_error(&path, "read", &e))?;
        intake.next_id = intake.next_id.max(next_id);
        intake.appended = appended;
        inner.open = Some(open);
        inner.broken = false;
        self.publish(inner);
        Ok(())
    }

    fn publish(&self, inner: &Inner) {
        self.fjall_size.0.store(inner.count, Ordering::SeqCst);
        self.fjall_size.1.store(inner.bytes, Ordering::SeqCst);
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
        let fjall = (
            self.moving_size.0.load(Ordering::SeqCst) + self.fjall_size.0.load(Ordering::SeqCst),
            self.moving_size.1.load(Ordering::SeqCst) + self.fjall_size.1.load(Ordering::SeqCst),
        );
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

    /// Syncs the journal to disk. Through our own file handles, outside
    /// fjall's journal lock and ours: every write is already handed to the
    /// OS, and fjall's `persist` would hold its journal lock for the whole
    /// fsync, stalling every `tracker_send` behind the disk.
    pub fn sync(&self) -> Result<()> {
        {
            let inner = self.inner.lock();
            if inner.closed || inner.broken {
                return Ok(());
            }
        }
        let in_intake_upto = self.intake.lock().next_id.saturating_sub(1);
        // Journals first: a hit moved out of the intake is then durable in
        // the journal before anything else.
        let queue = self.dir.queue_path();
        let intake_files = intake::file_paths(self.dir.path());
        for path in journal_files(&queue).into_iter().chain(intake_files) {
            let synced = crate::os::fs::open_for_sync(&path).and_then(|file| file.sync_data());
            match synced {
                Ok(()) => {}
                // Replaced by a recycle of the drained store meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::storage(format!(
                        "cannot sync {}: {e}",
                        path.display()
                    )));
                }
            }
        }
        self.intake_synced
            .fetch_max(in_intake_upto, Ordering::SeqCst);
        Ok(())
    }

    /// Records the head, recycles an empty store, and closes the database.
    /// Later calls fail with a CLOSED error.
    pub fn close(&self) {
        self.close_by(std::time::Instant::now() + CLOSE_FLUSH_WAIT);
    }

    /// `close`, flushing into tables only until `deadline` (the rest of
    /// `tracker_destroy`'s budget); past it the journal is kept and replayed
    /// at the next open instead.
    pub fn close_by(&self, deadline: std::time::Instant) {
        let mut inner = self.inner.lock();
        if inner.closed {
            return;
        }
        let mut journal_redundant = false;
        // Hits still in the intake go into fjall first; if that fails they
        // stay in the intake files for the next open.
        let absorbed = match self.usable_without_moving(&mut inner) {
            // Without the limits: nobody would give the dropped hits their
            // events now; the next open trims them, with events.
            Ok(()) => self
                .absorb(&mut inner, Some(deadline), false, false)
                .is_ok(),
            Err(_) => false,
        };
        if !inner.broken {
            if inner.count == 0 && inner.written > 0 && self.intake.lock().pending.is_empty() {
                let _ = self.recycle(&mut inner);
            }
            if let Some(open) = inner.open.as_ref() {
                let _ = open.meta.insert(META_HEAD, inner.head.to_be_bytes());
                // Everything into checksummed tables, so the journal holds
                // nothing the tables do not.
                // The meta keyspace is not waited for: what it holds (the
                // head hint, the id reservation) is also recoverable from the
                // queue and the IDS file, and its flush is not always prompt.
                journal_redundant = flush_memtables(&open.queue, deadline)
                    && open.db.persist(PersistMode::SyncAll).is_ok();
            }
            let _ = self.dir.set_id_floor(self.intake.lock().next_id);
        }
        drop(inner.open.take());
        let mut intake = self.intake.lock();
        if let Some(files) = intake.files.take() {
            // Only once the intake is empty: the journal holds the mark of
            // which intake hits were moved.
            let intake_empty = absorbed && intake.pending.is_empty() && files.release();
            if journal_redundant && intake_empty {
                empty_journals(&self.dir.queue_path());
            }
        }
        drop(intake);
        inner.closed = true;
        self.dir.release();
    }
}

/// Seals the active memtable and waits (up to `MAX_FLUSH_WAIT`) until fjall
/// has at most `MAX_SEALED_MEMTABLES` left to flush: the writer slows to
/// fjall's pace instead of memory growing. A failed rotation is retried at
/// the next threshold; fjall's own limit (FJALL_MEMTABLE_LIMIT) still
/// bounds memory.
/// `while_waiting` runs between polls.
fn rotate_memtable(queue: &Keyspace, wait_for_flush: bool, while_waiting: impl FnMut()) {
    rotate_memtable_keeping(
        queue,
        wait_for_flush.then_some(MAX_SEALED_MEMTABLES),
        while_waiting,
    );
}

/// `rotate_memtable`, waiting until at most `max_sealed` are left (if given).
fn rotate_memtable_keeping(
    queue: &Keyspace,
    max_sealed: Option<usize>,
    mut while_waiting: impl FnMut(),
) {
    let _ = queue.rotate_memtable();
    let Some(max_sealed) = max_sealed else {
        return;
    };
    let deadline = std::time::Instant::now() + MAX_FLUSH_WAIT;
    while queue.sealed_memtable_count() > max_sealed && std::time::Instant::now() < deadline {
        while_waiting();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Flushes a keyspace's memtables into tables; `false` if that did not
/// finish within a bounded wait (the journal is then kept and replayed).
fn flush_memtables(keyspace: &Keyspace, deadline: std::time::Instant) -> bool {
    if std::time::Instant::now() >= deadline || keyspace.rotate_memtable().is_err() {
        return false;
    }
    while keyspace.sealed_memtable_count() > 0 {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    true
}

/// Empties the journals of a closed database whose contents are all in
/// tables. fjall replays its whole journal on open (and only rotates it past
/// 64 MB), so this is what makes reopening a large queue take milliseconds
/// instead of a replay of tens of MB; it also frees the journal's disk
/// space, and journal damage after a clean shutdown can lose nothing
/// (fjall recovers a damaged journal by cutting it at the first bad entry,
/// without an error). A crash before this leaves a journal that is merely
/// replayed as usual.
fn empty_journals(queue: &Path) {
    for path in journal_files(queue) {
        if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path)
            && file.set_len(0).is_ok()
        {
            let _ = file.sync_all();
        }
    }
}

/// The journal files of a queue directory.
fn journal_files(queue: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(queue) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "jnl"))
        .collect()
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

/// Makes `queue` hold a complete generation: finishes or undoes a
/// replacement a kill interrupted, and builds the first generation if
/// there is none. fjall creates a database in place, in several files; a
/// kill in the middle used to leave a directory it could never open again.
fn prepare_current(dir: &StorageDir) -> fjall::Result<()> {
    dir.settle_generations()?;
    if !dir.queue_path().try_exists()? {
        build_generation(dir, 0)?;
        dir.install_ready()?;
    }
    Ok(())
}

/// `prepare_current`, then opens the generation.
fn open_current(dir: &StorageDir) -> fjall::Result<Open> {
    prepare_current(dir)?;
    open_db(&dir.queue_path())
}

/// Builds an empty database generation in `queue.new` (carrying the
/// intake's "moved up to" mark), closes it, makes its files owner-only and
/// marks it complete (`queue.next`). A kill at any point leaves either an
/// incomplete build, which holds no hit and is deleted, or a complete one.
fn build_generation(dir: &StorageDir, intake_moved: u64) -> fjall::Result<()> {
    let building = dir.start_building()?;
    {
        let open = open_db(&building)?;
        if intake_moved > 0 {
            open.meta
                .insert(META_INTAKE_MOVED, intake_moved.to_be_bytes())?;
        }
        open.db.persist(PersistMode::SyncAll)?;
    }
    crate::queue::dir::restrict_permissions(&building);
    dir.finish_building()?;
    Ok(())
}

/// Opens the database from a background-priority thread, so fjall's own
/// thread, which it starts here, inherits that priority.
fn open_db(path: &Path) -> fjall::Result<Open> {
    crate::os::priority::in_background(|| open_db_here(path))
}

fn open_db_here(path: &Path) -> fjall::Result<Open> {
    let db = Database::builder(path)
        .worker_threads(1)
        .cache_size(CACHE_BYTES)
        .max_journaling_size(MAX_JOURNAL_BYTES)
        .open()?;
    // A queue's data never leaves the first levels, which fjall leaves
    // uncompressed by default; hits (URLs with repeated keys) compress well.
    let queue = db.keyspace("queue", || {
        KeyspaceCreateOptions::default()
            .max_memtable_size(FJALL_MEMTABLE_LIMIT)
            .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
    })?;
    let meta = db.keyspace("meta", || {
        KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES)
    })?;
    Ok(Open { db, queue, meta })
}

fn read_u64(keyspace: &Keyspace, key: &[u8]) -> fjall::Result<Option<u64>> {
    Ok(keyspace
        .get(key)?
        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
}

/// Finds head, tail, count and size from the first and last records, and
/// where the intake's numbering goes on.
fn load_state(inner: &mut Inner, intake: &mut Intake, open: &Open) -> fjall::Result<()> {
    let reserved = read_u64(&open.meta, META_RESERVED)?.unwrap_or(0);
    let saved_head = read_u64(&open.meta, META_HEAD)?.unwrap_or(0);
    inner.intake_moved = read_u64(&open.meta, META_INTAKE_MOVED)?.unwrap_or(0);
    let first = match open.queue.range(key_of(saved_head)..).next() {
        Some(guard) => Some(guard.into_inner()?),
        None => None,
    };
    let last = match open.queue.last_key_value() {
        Some(guard) => Some(guard.into_inner()?),
        None => None,
    };
    intake.reserved_until = reserved;
    intake.next_id = reserved.max(inner.intake_moved.saturating_add(1)).max(1);
    inner.count = 0;
    inner.bytes = 0;
    inner.written = 0;
    if let (Some((fk, fv)), Some((lk, lv))) = (first, last) {
        let first_id = fk.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
        let last_id = lk.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
        inner.head = first_id;
        inner.tail = last_id;
        intake.next_id = intake.next_id.max(last_id.saturating_add(1));
        match (Record::decode(&fk, &fv), Record::decode(&lk, &lv)) {
            (Some(f), Some(l)) if l.position >= f.position && l.offset + l.size() >= f.offset => {
                inner.count = l.position - f.position + 1;
                inner.bytes = l.offset + l.size() - f.offset;
                intake.next_position = l.position + 1;
                intake.next_offset = l.offset + l.size();
            }
            _ => {
                // Damaged first or last record: count, and continue the
                // positions after the highest readable one so later counts
                // from first and last record stay right.
                let (mut position, mut offset) = (0, 0);
                for guard in open.queue.range(key_of(first_id)..) {
                    let (k, v) = guard.into_inner()?;
                    inner.count += 1;
                    if let Some(r) = Record::decode(&k, &v) {
                        inner.bytes += r.size();
                        position = position.max(r.position.saturating_add(1));
                        offset = offset.max(r.offset.saturating_add(r.size()));
                    }
                }
                intake.next_position = position.max(inner.count);
                intake.next_offset = offset.max(inner.bytes);
            }
        }
    } else {
        inner.head = intake.next_id;
        inner.tail = intake.next_id - 1;
        intake.next_position = 0;
        intake.next_offset = 0;
    }
    Ok(())
}

/// Moves the intake files' hits that are not in the database yet (after a
/// crash, or a write that failed) into it, durably, then empties the files.
fn replay_intake(inner: &mut Inner, intake: &mut Intake, open: &Open) -> fjall::Result<()> {
    let Some(files) = intake.files.as_mut() else {
        return Ok(());
    };
    let already_moved = read_u64(&open.meta, META_INTAKE_MOVED)?.unwrap_or(0);
    let mut moved = already_moved;
    let mut replayed = false;
    let mut since_rotation = 0;
    for index in files.oldest_first()? {
        let mut entries = files
            .reader(index)?
            .filter(|e| e.id > already_moved)
            .peekable();
        while entries.peek().is_some() {
            // In chunks, so a large intake is never read into memory whole.
            let mut batch = open.db.batch();
            let mut size = 0;
            for entry in entries.by_ref() {
                size += entry.payload.len();
                batch.insert(&open.queue, key_of(entry.id), entry.payload);
                moved = moved.max(entry.id);
                if size >= MOVE_CHUNK_BYTES {
                    break;
                }
            }
            batch.insert(&open.meta, META_INTAKE_MOVED, moved.to_be_bytes());
            batch.commit()?;
            replayed = true;
            since_rotation += size as u64;
            if since_rotation >= MEMTABLE_BYTES {
                since_rotation = 0;
                // As the worker's moves do: one sealed memtable flushing
                // while the next fills bounds memory without leaving the
                // replay idle during each flush.
                rotate_memtable_keeping(&open.queue, Some(MAX_SEALED_MEMTABLES), || {});
            }
        }
    }
    if replayed {
        open.db.persist(PersistMode::SyncAll)?;
        inner.intake_moved = moved;
    }
    // Everything is in the database now; what was pending in memory too.
    intake.pending = intake::Pending::default();
    // A file that cannot be emptied keeps its entries (all moved); appends
    // then take the slow path, which replays again before they go on.
    intake.damaged = !files.empty_all();
    Ok(())
}

/// Whether a failure to open the database is handled as damage (the queue
/// is moved aside and a fresh one started): every failure but the lock
/// being held and a shortage a later open may not meet (disk full, no
/// memory, too many open files), where the queue itself is fine and moving
/// it aside would strand its hits. A store of a newer format never gets
/// here: `StorageDir::open` refuses it first.
fn is_damage(e: &fjall::Error) -> bool {
    match e {
        fjall::Error::Locked => false,
        fjall::Error::Io(io) | fjall::Error::Storage(fjall::LsmError::Io(io)) => {
            !crate::os::fs::is_resource_shortage(io)
        }
        _ => true,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("offtrack-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn open(path: &Path) -> Store {
        Store::open(StorageDir::open(path).unwrap(), 0).unwrap().0
    }

    #[test]
    fn fifo_survives_reopen() {
        let path = temp_dir("fifo");
        let store = open(&path);
        for i in 0..10 {
            store
                .append(&format!("http://h/c?i={i}"), 1000 + i)
                .unwrap();
        }
        let head = store.head().unwrap().unwrap().unwrap();
        assert_eq!(store.remove_head(head.id).unwrap(), Some(head.size()));
        assert_eq!(store.remove_head(head.id).unwrap(), None);
        drop(store);
        let store = open(&path);
        assert_eq!(store.count(), 9);
        let all = store.oldest(100).unwrap();
        assert_eq!(all.len(), 9);
        assert_eq!(all[0].url, "http://h/c?i=1");
        assert_eq!(store.latest().unwrap().unwrap().url, "http://h/c?i=9");
        assert_eq!(store.bytes(), all.iter().map(Record::size).sum::<u64>());
        let next_id = store.append("http://h/c?i=10", 0).unwrap().id;
        assert!(next_id > all[8].id);
        drop(store);
        let _ = std::fs::remove_dir_all(&path);
    }

    #[test]
    fn second_open_is_locked() {
        let path = temp_dir("lock");
        let _store = open(&path);
        let err = StorageDir::open(&path).unwrap_err();
        assert_eq!(err.code, crate::error::TRACKER_ERROR_LOCKED);
        assert!(err.message.contains(&path.display().to_string()));
    }

    #[test]
    fn eviction_and_expiry() {
        let path = temp_dir("evict");
        let store = open(&path);
        for i in 0..5u64 {
            store.append("http://h/c?a=1", i * 10).unwrap();
        }
        let evicted = store.evict_over(3, u64::MAX, u64::MAX, 0).unwrap();
        assert_eq!(evicted.len(), 2);
        assert_eq!(store.count(), 3);
        assert_eq!(store.remove_older_than(35, 10).unwrap().len(), 2);
        assert_eq!(store.count(), 1);
        let ids_before = store.last_id();
        assert_eq!(store.remove_all(10).unwrap().len(), 1);
        assert_eq!(store.count(), 0);
        assert!(store.append("http://h/c?b=1", 0).unwrap().id > ids_before);
        drop(store);
        let store = open(&path);
        assert_eq!(store.count(), 1);
        let _ = std::fs::remove_dir_all(&path);
    }

    #[test]
    fn newer_format_is_refused() {
        let path = temp_dir("format");
        drop(open(&path));
        std::fs::write(path.join("FORMAT"), "99\n").unwrap();
        let err = StorageDir::open(&path).unwrap_err();
        assert_eq!(err.code, crate::error::TRACKER_ERROR_STORAGE);
        assert!(path.join("queue").exists());
        let _ = std::fs::remove_dir_all(&path);
    }
}
