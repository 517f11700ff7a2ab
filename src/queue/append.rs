//! The caller's side of the store: appending a hit to the intake (never
//! touching fjall), handing out ids and reserving them on disk, and
//! preparing the intake's mapped window ahead of the next sends.

use super::*;
use crate::queue::record::Fields;

/// Ids are reserved on disk in blocks, so ids stay unique per directory
/// across crashes without a write per hit.
pub(super) const ID_BLOCK: u64 = 4096;
/// The most the intake keeps in memory; past it (fjall has fallen behind)
/// the intake file is the only copy and the worker reads it back. The
/// caller's thread never waits for fjall.
pub(super) const INTAKE_MEMORY_BYTES: usize = 256 * 1024;
/// An intake file beyond this refuses hits while moving them into fjall
/// fails (a broken store, a full disk): the queue's own limits cannot evict
/// meanwhile. A store that is merely slow is not limited here.
pub(super) const INTAKE_FILE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// Past this much the worker is asked to move the intake at once instead
/// of gathering more first (see `Appended::move_soon`).
pub(super) const INTAKE_PROMPT_BYTES: u64 = 128 * 1024;

impl Store {
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
    pub(super) fn lock_intake_for_append(
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

    /// Reserves the next block of ids in the database if the current one
    /// is used up.
    pub(super) fn reserve_ids(&self, inner: &Inner, intake: &mut Intake) -> Result<()> {
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
        let fields = Fields {
            id,
            url,
            created_ms,
            attempts: 0,
            position,
            offset,
        };
        // Sealed in place in the intake's buffer before anything is
        // written: the file, and fjall after it, only get the sealed bytes.
        let pending = &mut intake.pending;
        let entry_len = self.sealing(|sealer| {
            pending
                .try_push(id, size, |out| fields.encode_into(out, sealer))
                .map(<[u8]>::len)
        })?;
        let entry = intake.pending.last_entry(entry_len);
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
        let (count, bytes) = self.sizes.total();
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

    /// Prepares the intake's mapped window ahead of the next sends (the
    /// worker's job: a send past it takes the slower `pwrite`).
    pub fn prepare_intake(&self) {
        let _inner = self.inner.lock();
        self.prepare_window();
    }

    /// Prepares the active intake file's window now. The intake lock is
    /// held only to plan and to record, never while pages are allocated and
    /// faulted in; `intake` keeps the file mapped and whole meanwhile.
    pub(super) fn prepare_window(&self) {
        let Some(preparing) = self
            .intake
            .lock()
            .files
            .as_mut()
            .and_then(IntakeFiles::plan_preparation)
        else {
            return;
        };
        let succeeded = preparing.run();
        if let Some(files) = self.intake.lock().files.as_mut() {
            files.finish_preparation(preparing, succeeded);
        }
    }

    /// Hits are waiting in the intake to be moved into fjall.
    pub fn intake_waiting(&self) -> bool {
        !self.intake.lock().pending.is_empty()
    }
}
