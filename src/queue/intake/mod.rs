//! The intake: two append-only files in the storage directory where
//! `tracker_send` writes each stored hit (a copy into the file's mapped
//! window, or one `pwrite` where there is none), so a hit survives a process kill the
//! moment the send returns without the caller's thread touching fjall
//! (whose flushes hold its locks over fsyncs).
//! The store moves the hits into fjall in batches and empties a file once
//! every hit in it is there; after a crash the files are replayed.
//!
//! Entry layout (little-endian): payload length `u32`, xxh3-64 of id and
//! payload `u64`, id `u64`, payload (an encoded `Record`, sealed when the
//! store is encrypted, so no hit text reaches these files in plain). Reading stops at
//! the first entry that does not check out (a write cut short by a crash).
//! Only file handling lives here; what is in fjall is the store's business.

pub(crate) mod window;

use crate::os::fs::{owner_only, write_all_at};
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use window::{Mapping, Preparation};

const ENTRY_HEADER: usize = 4 + 8 + 8;
/// Larger payloads are not hits (max_hit_bytes is far smaller): a length
/// beyond this is damage.
const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// One entry as read back: the hit's id and its encoded record.
pub struct Entry {
    pub id: u64,
    pub payload: Vec<u8>,
}

/// Entries written to the intake and not yet moved into fjall, back to
/// back in one buffer, as in the file. One buffer rather than one
/// allocation per hit: the worker frees what the caller's thread
/// allocated, and thousands of such frees contend for the allocator's lock
/// with the caller's next send.
#[derive(Default)]
pub struct Pending {
    entries: Vec<u8>,
    count: u64,
    url_bytes: u64,
    first_id: Option<u64>,
    last_id: u64,
    /// Past the memory bound only the file holds the entries (`spill`).
    spilled: bool,
}

impl Pending {
    /// Appends the entry for hit `id`, its payload written by `payload`,
    /// and returns the entry's bytes (to be written to the file).
    #[cfg(any(test, feature = "internals"))]
    pub fn push(&mut self, id: u64, url_bytes: u64, payload: impl FnOnce(&mut Vec<u8>)) -> &[u8] {
        let written = self.try_push(id, url_bytes, |out| {
            payload(out);
            Ok::<(), std::convert::Infallible>(())
        });
        match written {
            Ok(entry) => entry,
            Err(never) => match never {},
        }
    }

    /// `push` with a payload that may fail to be written (a seal): then
    /// nothing is added and the error is returned.
    pub fn try_push<E>(
        &mut self,
        id: u64,
        url_bytes: u64,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<&[u8], E> {
        let start = self.entries.len();
        self.entries.extend_from_slice(&[0; ENTRY_HEADER]);
        if let Err(e) = payload(&mut self.entries) {
            self.entries.truncate(start);
            return Err(e);
        }
        let len = self.entries.len() - start - ENTRY_HEADER;
        let sum = checksum(id, &self.entries[start + ENTRY_HEADER..]);
        let header = &mut self.entries[start..start + ENTRY_HEADER];
        header[..4].copy_from_slice(&(len as u32).to_le_bytes());
        header[4..12].copy_from_slice(&sum.to_le_bytes());
        header[12..].copy_from_slice(&id.to_le_bytes());
        self.count += 1;
        self.url_bytes += url_bytes;
        self.first_id.get_or_insert(id);
        self.last_id = id;
        Ok(&self.entries[start..])
    }

    /// The last `len` bytes pushed: the entry `try_push` just added.
    pub fn last_entry(&self, len: usize) -> &[u8] {
        &self.entries[self.entries.len().saturating_sub(len)..]
    }

    /// Bytes of entries held in memory.
    pub fn memory_bytes(&self) -> usize {
        self.entries.len()
    }

    /// Drops the entries from memory: from now on the intake file is the
    /// only copy, and moving them means reading it back.
    pub fn spill(&mut self) {
        self.entries.clear();
        self.spilled = true;
    }

    pub fn spilled(&self) -> bool {
        self.spilled
    }

    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// Takes back the last entry pushed (its write failed).
    pub fn pop(&mut self, entry_len: usize, url_bytes: u64, previous_last_id: u64) {
        self.last_id = previous_last_id;
        self.entries
            .truncate(self.entries.len().saturating_sub(entry_len));
        self.count = self.count.saturating_sub(1);
        self.url_bytes = self.url_bytes.saturating_sub(url_bytes);
        if self.count == 0 {
            self.first_id = None;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Takes the pending entries, leaving an empty buffer that reuses
    /// `spare`'s memory (a buffer given back by `into_spare`).
    pub fn take(&mut self, spare: Vec<u8>) -> Pending {
        let mut empty = Pending {
            entries: spare,
            ..Pending::default()
        };
        empty.entries.clear();
        std::mem::replace(self, empty)
    }

    /// The buffer, emptied, for the next `take`: reusing it spares the
    /// allocator a large allocation and free per batch.
    pub fn into_spare(mut self) -> Vec<u8> {
        self.entries.clear();
        self.entries
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// URL bytes of the pending hits.
    pub fn url_bytes(&self) -> u64 {
        self.url_bytes
    }

    pub fn first_id(&self) -> Option<u64> {
        self.first_id
    }

    /// Puts `older` (taken earlier, not moved after all) before these.
    pub fn put_back_before(&mut self, mut older: Pending) {
        older.entries.extend_from_slice(&self.entries);
        older.count += self.count;
        older.url_bytes += self.url_bytes;
        older.spilled |= self.spilled;
        if self.count > 0 {
            older.last_id = self.last_id;
        }
        *self = older;
    }

    /// Each entry's id and payload, in order. The buffer was built by
    /// `push`, so it is not checked again.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> {
        let mut at = 0;
        std::iter::from_fn(move || {
            let header = self.entries.get(at..at + ENTRY_HEADER)?;
            let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
            let id = u64::from_le_bytes(header[12..].try_into().ok()?);
            let payload = self
                .entries
                .get(at + ENTRY_HEADER..at + ENTRY_HEADER + len)?;
            at += ENTRY_HEADER + len;
            Some((id, payload))
        })
    }
}

fn checksum(id: u64, payload: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(payload, id)
}

/// Where the intake files of a storage directory are.
pub(crate) fn file_paths(dir: &Path) -> [PathBuf; 2] {
    [dir.join("intake-0"), dir.join("intake-1")]
}

/// The pair of intake files; one takes new entries, the other is empty or
/// waiting to be emptied.
pub(crate) struct IntakeFiles {
    files: [File; 2],
    paths: [PathBuf; 2],
    /// Each file's mapped window, if it could be mapped; appends past its
    /// span (or without one) are `pwrite`s.
    maps: [Option<Mapping>; 2],
    /// Where the next entry goes in each file.
    lens: [u64; 2],
    active: usize,
    /// A preparation of the file's window is running (`Preparing`): the
    /// file is not emptied, cut or unmapped until it is finished.
    preparing: [bool; 2],
    /// An `Emptier` of the file is running: no preparation starts on it.
    emptying: [bool; 2],
}

/// Allocated bytes an emptied file keeps for its next turn: reusing
/// allocated blocks makes preparing the window cheap again, and a flood
/// that grew the file does not keep its disk space.
const KEEP_ALLOCATED: u64 = 4 * 1024 * 1024;

impl IntakeFiles {
    /// Opens (or creates, owner-only) `intake-0` and `intake-1` in `dir`.
    /// The files are replayed and emptied (`empty_all`) before appends.
    pub(crate) fn open(dir: &Path) -> std::io::Result<IntakeFiles> {
        let paths = file_paths(dir);
        let open = |path: &Path| {
            let mut options = OpenOptions::new();
            options.read(true).write(true).create(true);
            owner_only(&mut options).open(path)
        };
        let files = [open(&paths[0])?, open(&paths[1])?];
        let lens = [files[0].metadata()?.len(), files[1].metadata()?.len()];
        Ok(IntakeFiles {
            files,
            paths,
            maps: [None, None],
            lens,
            active: 0,
            preparing: [false; 2],
            emptying: [false; 2],
        })
    }

    /// Maps both files for appends, once they were replayed and emptied
    /// (so opening touches no page of them). Without a mapping
    /// (no space to allocate, another system or filesystem) appends are
    /// plain writes: slower, just as durable.
    pub(crate) fn map(&mut self) {
        for index in 0..2 {
            if self.maps[index].is_none() && self.lens[index] == 0 {
                self.maps[index] = Mapping::new(&self.files[index]).ok();
            }
        }
    }

    /// Appends one entry to the active file. A write that fails is cut
    /// back off; if even that fails, `Err(true)` says the file may end in
    /// a partial entry (replay still stops there, losing nothing acknowledged).
    pub(crate) fn append(
        &mut self,
        entry: &[u8],
    ) -> std::result::Result<(), (std::io::Error, bool)> {
        let active = self.active;
        let offset = self.lens[active];
        let mapped = match (&mut self.maps[active], usize::try_from(offset)) {
            (Some(map), Ok(at)) => map.write(&self.files[active], at, entry),
            _ => false,
        };
        if mapped {
            self.lens[active] += entry.len() as u64;
            return Ok(());
        }
        match write_all_at(&self.files[active], entry, offset) {
            Ok(()) => {
                self.lens[active] += entry.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Never below what the mapping may write or a running
                // preparation may allocate: a page past the end raises SIGBUS.
                let keep = self.maps[active]
                    .as_ref()
                    .map_or(0, |m| m.keep_len() as u64)
                    .max(offset);
                let cut = self.files[active].set_len(keep).is_ok();
                Err((e, !cut))
            }
        }
    }

    /// Bytes of file `index` that may be written through its mapping.
    fn mapped_len(&self, index: usize) -> u64 {
        self.maps[index].as_ref().map_or(0, |m| m.ready() as u64)
    }

    /// What to prepare in the active file's window ahead of the next
    /// appends, if anything. Run it (`Preparing::run`, without the intake
    /// lock), then hand it back to `finish_preparation`; until then the
    /// file is neither emptied, cut nor unmapped.
    pub(crate) fn plan_preparation(&mut self) -> Option<Preparing> {
        let index = self.active;
        if self.preparing[index] || self.emptying[index] {
            return None;
        }
        let offset = usize::try_from(self.lens[index]).ok()?;
        let plan = self.maps[index].as_mut()?.plan_for_worker(offset)?;
        match self.files[index].try_clone() {
            Ok(file) => {
                self.preparing[index] = true;
                Some(Preparing { index, plan, file })
            }
            Err(_) => {
                if let Some(map) = &mut self.maps[index] {
                    map.prepared(&plan, false);
                }
                None
            }
        }
    }

    /// Records how a preparation ended; the file may be emptied again.
    pub(crate) fn finish_preparation(&mut self, done: Preparing, succeeded: bool) {
        if let Some(map) = &mut self.maps[done.index] {
            map.prepared(&done.plan, succeeded);
        }
        self.preparing[done.index] = false;
    }

    /// Makes the other file the active one if it is empty, and returns the
    /// one that was active (every entry in it is then to be moved).
    pub(crate) fn switch(&mut self) -> Option<usize> {
        let other = 1 - self.active;
        if self.lens[other] != 0 && !self.empty(other) {
            return None;
        }
        let previous = self.active;
        self.active = other;
        Some(previous)
    }

    /// Empties file `index` once all its hits are in fjall.
    pub(crate) fn empty(&mut self, index: usize) -> bool {
        let Some(emptier) = self.start_emptying(index) else {
            return false;
        };
        let emptied = emptier.run();
        self.finish_emptying(index, emptied);
        emptied
    }

    /// What empties the inactive file `index` without holding the intake
    /// lock (zeroing megabytes takes a while); `run` it, then
    /// `finish_emptying`. `None` while the file's window is being prepared
    /// or another emptier runs: the file stays full and is emptied later.
    /// Appends never go to the inactive file.
    pub(crate) fn start_emptying(&mut self, index: usize) -> Option<Emptier> {
        if self.preparing[index] || self.emptying[index] {
            return None;
        }
        self.emptying[index] = true;
        let ready = self.mapped_len(index);
        let keep_len = ready.min(KEEP_ALLOCATED);
        Some(Emptier {
            file: self.files[index].try_clone().ok(),
            zero_len: self.lens[index].min(keep_len),
            keep_len,
            needs_cut: self.lens[index].max(ready) > keep_len,
        })
    }

    /// Records how emptying file `index` ended: once emptied, appends start
    /// again at its beginning.
    pub(crate) fn finish_emptying(&mut self, index: usize, emptied: bool) {
        self.emptying[index] = false;
        if emptied {
            self.lens[index] = 0;
            if let Some(map) = &mut self.maps[index] {
                map.restart();
            }
        }
    }

    /// Unmaps both files and cuts them to nothing, once everything in them
    /// is in fjall: a closed store keeps no intake space allocated.
    /// `false` if a file could not be cut (it is then replayed at open).
    pub(crate) fn release(mut self) -> bool {
        if self.preparing.iter().any(|&p| p) {
            // A preparation still runs on a window: it is left mapped and
            // the files as they are (replayed at the next open).
            return false;
        }
        // Unmapped first: a mapped file must never be cut below the mapping.
        self.maps = [None, None];
        let cut = |file: &File| file.set_len(0).is_ok();
        cut(&self.files[0]) & cut(&self.files[1])
    }

    /// Empties both files (everything in them is in fjall).
    pub(crate) fn empty_all(&mut self) -> bool {
        self.empty(0) & self.empty(1)
    }

    /// Bytes written to the active file.
    pub(crate) fn active_len(&self) -> u64 {
        self.lens[self.active]
    }

    /// The file appends go to.
    pub(crate) fn active(&self) -> usize {
        self.active
    }

    /// A reader of file `index`'s entries.
    pub(crate) fn reader(&self, index: usize) -> std::io::Result<EntryReader> {
        let file = File::open(&self.paths[index])?;
        Ok(EntryReader {
            file: std::io::BufReader::with_capacity(64 * 1024, file),
        })
    }

    /// Both files' indexes, the one holding the older entries first: each
    /// file holds the hits appended while it was active, so their id
    /// ranges do not interleave.
    pub(crate) fn oldest_first(&self) -> std::io::Result<[usize; 2]> {
        let first_id = |index| -> std::io::Result<u64> {
            Ok(self.reader(index)?.next().map_or(u64::MAX, |e| e.id))
        };
        Ok(if first_id(1)? < first_id(0)? {
            [1, 0]
        } else {
            [0, 1]
        })
    }
}

impl Drop for IntakeFiles {
    /// A window whose preparation still runs stays mapped (its address
    /// space is leaked, never reused while pages are being faulted in).
    fn drop(&mut self) {
        for index in 0..2 {
            if self.preparing[index]
                && let Some(map) = self.maps[index].take()
            {
                std::mem::forget(map);
            }
        }
    }
}

/// A preparation of one file's mapped window, planned under the intake
/// lock and run without it.
pub(crate) struct Preparing {
    index: usize,
    plan: Preparation,
    file: File,
}

impl Preparing {
    /// Allocates and faults in the planned chunks and lets go of pages
    /// behind the writer; `false` if that failed (the writer then appends
    /// with `pwrite` past the prepared part).
    pub(crate) fn run(&self) -> bool {
        // SAFETY: `plan_preparation` made this from the file's live mapping
        // and a handle to the same file, and marked the file `preparing`:
        // until `finish_preparation` clears that, `IntakeFiles` does not
        // empty or cut the file (`start_emptying` refuses, `release` keeps
        // it) and does not unmap it (`release` and `drop` keep the mapping).
        // Appends go on meanwhile only as `Preparation::run` allows.
        unsafe { self.plan.run(&self.file) }.is_ok()
    }
}

/// Empties an intake file: cuts it to the allocated length it keeps and
/// zeroes the entries in what remains (so no stale entry can be read back).
pub(crate) struct Emptier {
    file: Option<File>,
    zero_len: u64,
    keep_len: u64,
    needs_cut: bool,
}

impl Emptier {
    /// `false` if the file could not be emptied (it is then retried).
    pub(crate) fn run(self) -> bool {
        let Some(file) = self.file.as_ref() else {
            return false;
        };
        // Cut first: if that fails nothing is zeroed, and the file keeps
        // its entries for `switch` to retry. Mapped pages past the cut are
        // never touched: the file is not written until `finish_emptying` has
        // restarted its window from nothing.
        if (self.keep_len == 0 || self.needs_cut) && file.set_len(self.keep_len).is_err() {
            return false;
        }
        // Through the page cache, not the mapping: pages of the window
        // that were let go of stay out of the process's memory.
        let zeros = vec![0u8; 64 * 1024];
        let mut at = 0;
        while at < self.zero_len {
            let n = (self.zero_len - at).min(zeros.len() as u64);
            if write_all_at(file, &zeros[..n as usize], at).is_err() {
                return false;
            }
            at += n;
        }
        true
    }
}

/// Reads one intake file's entries in order, a buffer at a time, up to the
/// first that does not check out.
pub(crate) struct EntryReader {
    file: std::io::BufReader<File>,
}

impl Iterator for EntryReader {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        let mut header = [0u8; ENTRY_HEADER];
        self.file.read_exact(&mut header).ok()?;
        let len = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
        let sum = u64::from_le_bytes(header[4..12].try_into().ok()?);
        let id = u64::from_le_bytes(header[12..20].try_into().ok()?);
        if len > MAX_PAYLOAD {
            return None;
        }
        let mut payload = vec![0; len];
        self.file.read_exact(&mut payload).ok()?;
        (checksum(id, &payload) == sum).then_some(Entry { id, payload })
    }
}

/// The entries of one file's bytes, up to the first that does not check out
/// (the fuzz target's view of replay).
#[cfg(any(test, feature = "internals"))]
pub fn parse(bytes: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + ENTRY_HEADER) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let sum = u64::from_le_bytes(header[4..12].try_into().unwrap_or([0; 8]));
        let id = u64::from_le_bytes(header[12..20].try_into().unwrap_or([0; 8]));
        let start = at + ENTRY_HEADER;
        let Some(payload) = (len <= MAX_PAYLOAD)
            .then(|| bytes.get(start..start + len))
            .flatten()
        else {
            break;
        };
        if checksum(id, payload) != sum {
            break;
        }
        entries.push(Entry {
            id,
            payload: payload.to_vec(),
        });
        at = start + len;
    }
    entries
}

#[cfg(test)]
mod tests;
