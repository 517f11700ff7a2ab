//! Moving the intake's hits into fjall: in one batch from memory, or a
//! chunk at a time read back from the intake file, trimmed to the limits
//! as they go (see `limits`), then emptying the file; and rotating fjall's
//! memtables as the moves write.

use super::*;

/// Hits per fjall batch when moving from the file.
pub(super) const MOVE_CHUNK_BYTES: usize = 128 * 1024;
/// The meta keyspace's memtable is rotated with every this many of the
/// queue's (16 MiB written): old journals are freed well before fjall's
/// 64 MiB journal limit would force it.
pub(super) const META_ROTATION_EVERY: u64 = 16;
pub(super) const ENTRY_OVERHEAD_BYTES: u64 = 64;
impl Store {
    /// Moves the intake's hits into fjall now, waiting for fjall to flush
    /// older memtables as it goes: the worker's move, made without the
    /// tracker's state lock. Moves made by other operations (which may hold
    /// that lock, and with it every `tracker_send`) never wait.
    pub fn absorb_intake(&self) -> Result<()> {
        let mut inner = self.inner.lock();
        self.usable_without_moving(&mut inner)?;
        self.absorb(&mut inner, None, true, true)
    }

    /// Moves every pending intake hit into fjall in one batch, then empties
    /// the intake file they were written to. On failure they stay in the
    /// intake files, which the reopen in `usable` replays.
    pub(super) fn absorb(
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
            self.sizes.moving(hits.count(), hits.url_bytes());
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
                Trim::done()
            },
            dropped: Vec::new(),
            keep_text: EVICTED_TEXT.saturating_sub(self.evicted.len()),
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
                self.sizes.moved();
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
        self.sizes.moved();
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
            let emptier = self
                .intake
                .lock()
                .files
                .as_mut()
                .and_then(|f| f.start_emptying(index));
            if let Some(emptier) = emptier {
                let emptied = emptier.run();
                if let Some(files) = self.intake.lock().files.as_mut() {
                    files.finish_emptying(index, emptied);
                }
            }
        }
        Ok(())
    }

    /// Inserts intake entries into fjall in one batch with the new
    /// "moved up to" mark, except the oldest that `trim` drops and, once the
    /// move is `doomed`, all of them (added to `dropped`, never written to
    /// fjall). The hits written are counted in at once, so a later trim in
    /// the same move sees them. Returns the last id seen.
    pub(super) fn move_batch<'a>(
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
            let dropped = cut.doomed || cut.trim.drops(Record::url_len_of(payload));
            if dropped {
                let removed = self.dropped_entry(&mut cut.keep_text, id, payload);
                cut.dropped.push(removed);
                continue;
            }
            cut.trim = Trim::done();
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

    /// Moves spilled hits (ids `hits.first_id()..=hits.last_id()`) by
    /// reading them back from intake file `source`, a chunk per batch.
    pub(super) fn move_from_file(
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

    /// Counts bytes written and rotates the memtable every `MEMTABLE_BYTES`.
    /// Rotating here keeps memtables small without fjall's own trigger,
    /// which floods its single worker's bounded queue with rotation
    /// requests under a fast writer until that worker blocks on its own
    /// queue. With `wait_for_flush` (moving the intake, the only fast
    /// writer) it then waits for fjall to flush older memtables, which
    /// bounds memory; removals and updates come at network pace and their
    /// callers may hold the tracker's state lock, so they never wait.
    pub(super) fn note_written(&self, inner: &mut Inner, bytes: u64, wait_for_flush: bool) {
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
}
