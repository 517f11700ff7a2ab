//! fjall's lifecycle: opening a generation's database, building fresh
//! generations aside and swapping them in, recycling a drained queue, syncs,
//! closing with a bounded final flush, and the memtable and journal
//! housekeeping that keeps a phone's footprint small.

use super::*;

/// Memtables are rotated by us at this size (see `note_written`). Only the
/// worker waits for fjall's flushes, never `tracker_send`, so small
/// memtables cost no send latency, and each costs ≈2.5× its size in memory.
pub(super) const MEMTABLE_BYTES: u64 = 1024 * 1024;
/// Sealed memtables fjall may have waiting for its flush before a writer
/// waits (at most `MAX_FLUSH_WAIT` per memtable); each is `MEMTABLE_BYTES`.
pub(super) const MAX_SEALED_MEMTABLES: usize = 1;
pub(super) const MAX_FLUSH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);
/// fjall's own rotation trigger, only a safety net far above ours.
pub(super) const FJALL_MEMTABLE_LIMIT: u64 = 32 * 1024 * 1024;
/// The most a close without a deadline waits for the final flush.
pub(super) const CLOSE_FLUSH_WAIT: std::time::Duration = std::time::Duration::from_millis(500);
pub(super) const CACHE_BYTES: u64 = 1024 * 1024;
/// fjall's minimum: sealed journals beyond this force their memtables to flush.
pub(super) const MAX_JOURNAL_BYTES: u64 = 64 * 1024 * 1024;
pub(super) const RECYCLE_AFTER_BYTES: u64 = 1024 * 1024;
impl Store {
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

    pub(super) fn recycle(&self, inner: &mut Inner) -> Result<()> {
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
                // Only with nothing queued and that durable: a removal the
                // journal lost would bring back a record sealed under the
                // dropped check value.
                if inner.count == 0 {
                    self.release_key_check();
                }
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
pub(super) fn rotate_memtable(queue: &Keyspace, wait_for_flush: bool, while_waiting: impl FnMut()) {
    rotate_memtable_keeping(
        queue,
        wait_for_flush.then_some(MAX_SEALED_MEMTABLES),
        while_waiting,
    );
}

/// `rotate_memtable`, waiting until at most `max_sealed` are left (if given).
pub(super) fn rotate_memtable_keeping(
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
pub(super) fn flush_memtables(keyspace: &Keyspace, deadline: std::time::Instant) -> bool {
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
pub(super) fn empty_journals(queue: &Path) {
    for path in journal_files(queue) {
        if let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path)
            && file.set_len(0).is_ok()
        {
            let _ = file.sync_all();
        }
    }
}

/// The journal files of a queue directory.
pub(super) fn journal_files(queue: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(queue) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "jnl"))
        .collect()
}

/// Makes `queue` hold a complete generation: finishes or undoes a
/// replacement a kill interrupted, and builds the first generation if
/// there is none. fjall creates a database in place, in several files; a
/// kill in the middle used to leave a directory it could never open again.
pub(super) fn prepare_current(dir: &StorageDir) -> fjall::Result<()> {
    dir.settle_generations()?;
    if !dir.queue_path().try_exists()? {
        build_generation(dir, 0)?;
        dir.install_ready()?;
    }
    Ok(())
}

/// `prepare_current`, then opens the generation.
pub(super) fn open_current(dir: &StorageDir) -> fjall::Result<Open> {
    prepare_current(dir)?;
    open_db(&dir.queue_path())
}

/// Builds an empty database generation in `queue.new` (carrying the
/// intake's "moved up to" mark), closes it, makes its files owner-only and
/// marks it complete (`queue.next`). A kill at any point leaves either an
/// incomplete build, which holds no hit and is deleted, or a complete one.
pub(super) fn build_generation(dir: &StorageDir, intake_moved: u64) -> fjall::Result<()> {
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
pub(super) fn open_db(path: &Path) -> fjall::Result<Open> {
    crate::os::priority::in_background(|| open_db_here(path))
}

pub(super) fn open_db_here(path: &Path) -> fjall::Result<Open> {
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

pub(super) fn read_u64(keyspace: &Keyspace, key: &[u8]) -> fjall::Result<Option<u64>> {
    Ok(keyspace
        .get(key)?
        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
}

/// Whether a failure to open the database is handled as damage (the queue
/// is moved aside and a fresh one started): every failure but the lock
/// being held and a shortage a later open may not meet (disk full, no
/// memory, too many open files), where the queue itself is fine and moving
/// it aside would strand its hits. A store of a newer format never gets
/// here: `StorageDir::open` refuses it first.
pub(super) fn is_damage(e: &fjall::Error) -> bool {
    match e {
        fjall::Error::Locked => false,
        fjall::Error::Io(io) | fjall::Error::Storage(fjall::LsmError::Io(io)) => {
            !crate::os::fs::is_resource_shortage(io)
        }
        _ => true,
    }
}
