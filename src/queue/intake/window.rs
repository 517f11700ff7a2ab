//! A window of an intake file mapped shared and writable, so an append is
//! a copy into the page cache (which survives a process kill like a
//! `write()` does) instead of a system call. All the unsafe code for it
//! lives here.
//!
//! The file is mapped over a fixed span of address space, but only a few
//! chunks of it are backed and resident at a time: the one being written
//! and the next ones, allocated on disk (`posix_fallocate`, so a store never
//! needs disk space and never raises SIGBUS on a full disk) and faulted in
//! writable ahead of the writer (so a store does not page-fault inside
//! `tracker_send`). Chunks behind the writer leave the process's memory
//! (their pages stay in the page cache and the file). Preparing chunks is
//! the worker's job (`Preparation`), done without the intake lock; the
//! writer never waits for it: past the prepared part it writes with
//! `pwrite`. The file must never be cut below the prepared length while
//! mapped; only this module's owner, `intake`, touches the file's length.
//!
//! Linux and Android only. Elsewhere `Mapping::new` refuses and the intake
//! appends with positional writes: Apple's and Windows' file systems (APFS
//! is copy-on-write) cannot promise that a mapped store never needs new
//! space, and their mapping calls differ.

use std::fs::File;
use std::io;
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// Bytes the worker prepares at a time (≈0.1 ms for new blocks); it keeps
/// up to two ahead of the writer.
pub(crate) const CHUNK: usize = 256 * 1024;

/// Bytes the writer prepares at a time when it has outrun the worker:
/// small, so the pause (≈30 µs for new blocks) stays short.
const WRITER_STEP: usize = 128 * 1024;

/// Address space mapped per intake file; appends beyond it are `pwrite`s.
/// Only what is prepared is backed by memory.
pub(crate) const SPAN: usize = if cfg!(target_pointer_width = "64") {
    64 * 1024 * 1024
} else {
    8 * 1024 * 1024
};

/// A shared, writable mapping of a file's first `SPAN` bytes, of which
/// the writer may use `..ready` (allocated and, from `dropped`, resident).
pub struct Mapping {
    ptr: NonNull<u8>,
    /// Bytes from the start that are allocated on disk and may be written
    /// at or after the writer's offset.
    ready: usize,
    /// Bytes from the start whose pages were let go of (written, behind
    /// the writer).
    dropped: usize,
    /// Where a preparation handed to the worker may extend the file to,
    /// while it runs: a failed append must not cut the file below it.
    preparing_until: usize,
    /// The writer's own preparation failed (no disk space): it leaves
    /// preparing to the worker until one succeeds, rather than trying an
    /// allocation on every send.
    writer_stalled: bool,
    /// The system's page size: ranges let go of must start on a page.
    page: usize,
}

// SAFETY: the mapping is plain memory shared with the page cache; writes go
// through `&mut self` (one writer, under the intake lock) or through a
// `Preparation`, whose contract keeps it off the writer's bytes.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Maps `file` for appends and prepares its first chunk. Only on Linux
    /// and Android, and only on filesystems that rewrite a page in place
    /// (ext4, f2fs, tmpfs, xfs): on copy-on-write filesystems a store into
    /// a mapped page may need new space and raise SIGBUS on a full disk.
    /// Elsewhere this fails and the intake uses `pwrite`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn new(file: &File) -> io::Result<Mapping> {
        if !rewrites_in_place(file)? {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "filesystem may copy on write",
            ));
        }
        // SAFETY: a plain system call on an open descriptor we own; the
        // result is checked before use. Pages past the end of the file are
        // never touched: only prepared bytes are, and those are allocated.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SPAN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap"))?;
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) })
            .ok()
            .filter(|&page| page.is_power_of_two() && page <= CHUNK)
            .unwrap_or(CHUNK);
        let mut map = Mapping {
            ptr,
            ready: 0,
            dropped: 0,
            preparing_until: 0,
            writer_stalled: false,
            page,
        };
        let first = Preparation {
            ptr,
            start: 0,
            end: CHUNK,
            drop_from: 0,
            drop_to: 0,
        };
        // SAFETY: the mapping was just made; nobody writes to it yet.
        unsafe { first.run(file)? };
        map.prepared(&first, true);
        Ok(map)
    }

    /// Bytes from the start that may be written through the mapping.
    pub fn ready(&self) -> usize {
        self.ready
    }

    /// Copies `bytes` to `offset`, first preparing the chunk they need if
    /// the worker has not (a pause of ≈0.1 ms, once per chunk, only when
    /// appends outrun the worker); `false` (nothing written) if they lie
    /// beyond the span or no chunk could be prepared (no disk space).
    pub fn write(&mut self, file: &File, offset: usize, bytes: &[u8]) -> bool {
        let Some(end) = offset.checked_add(bytes.len()).filter(|&end| end <= SPAN) else {
            return false;
        };
        if end > self.ready {
            if self.writer_stalled {
                return false;
            }
            let Some(plan) = self.plan(offset, end - offset, WRITER_STEP) else {
                return false;
            };
            // SAFETY: we are the writer and hold `&mut self`; the intake
            // never empties or cuts the file it appends to.
            if unsafe { plan.run(file) }.is_err() {
                self.writer_stalled = true;
                return false;
            }
            self.ready = self.ready.max(plan.end);
            self.dropped = self.dropped.max(plan.drop_to);
        }
        let fits = end <= self.ready;
        if fits {
            // SAFETY: `offset + bytes.len() <= self.ready <= SPAN`: inside
            // the mapping, on allocated blocks; `bytes` cannot overlap it
            // (it is our own buffer).
            unsafe {
                std::ptr::copy_nonoverlapping(
                    bytes.as_ptr(),
                    self.ptr.as_ptr().add(offset),
                    bytes.len(),
                );
            }
        }
        fits
    }

    /// What the worker should prepare so that at least two chunks past the
    /// writer's `offset` are ready, or `None` if they are. Run it without
    /// the intake lock, then report it to `prepared`; until then a failed
    /// append keeps the file at least as long as it may make it.
    pub fn plan_for_worker(&mut self, offset: usize) -> Option<Preparation> {
        let plan = self.plan(offset, 2 * CHUNK, CHUNK)?;
        self.preparing_until = self.preparing_until.max(plan.end);
        Some(plan)
    }

    /// What to prepare so that at least `ahead` bytes past the writer's
    /// `offset` are ready (rounded up to whole `step`s, within the span),
    /// or `None` if they already are.
    fn plan(&self, offset: usize, ahead: usize, step: usize) -> Option<Preparation> {
        if self.ready >= SPAN || self.ready >= offset.saturating_add(ahead) {
            return None;
        }
        let offset_page = offset / self.page * self.page;
        // Pages the writer filled with `pwrite` past the prepared part need
        // no preparing: it never writes below its offset.
        let start = self.ready.max(offset_page);
        let end = offset
            .saturating_add(ahead)
            .div_ceil(step)
            .saturating_mul(step)
            .min(SPAN);
        // Only pages below `ready` were ever faulted in through the mapping.
        let drop_to = offset_page.saturating_sub(CHUNK).min(self.ready);
        Some(Preparation {
            ptr: self.ptr,
            start: start.min(end),
            end,
            drop_from: self.dropped,
            drop_to: drop_to.max(self.dropped),
        })
    }

    /// Records how a preparation from `plan_for_worker` ended.
    pub fn prepared(&mut self, done: &Preparation, succeeded: bool) {
        self.preparing_until = 0;
        if succeeded {
            self.ready = self.ready.max(done.end);
            self.dropped = self.dropped.max(done.drop_to);
            self.writer_stalled = false;
        }
    }

    /// How long the file must stay if an append fails: what may be written
    /// through the mapping, and what a running preparation may allocate.
    pub fn keep_len(&self) -> usize {
        self.ready.max(self.preparing_until)
    }

    /// After the file was emptied (zeroed, and perhaps cut): lets go of
    /// every page; the worker prepares the window again from the start
    /// (cheap: the blocks and pages are still there).
    pub fn restart(&mut self) {
        if self.ready > 0 {
            // SAFETY: the file is empty and not being written (the intake's
            // contract for emptying); the range lies in the mapping.
            unsafe { drop_pages(self.ptr.as_ptr(), self.ready) };
        }
        self.ready = 0;
        self.dropped = 0;
        self.writer_stalled = false;
    }
}

/// Chunks of a mapping to allocate and fault in ahead of the writer, and
/// pages behind it to let go of; planned under the intake lock, run
/// without it.
pub struct Preparation {
    ptr: NonNull<u8>,
    start: usize,
    end: usize,
    drop_from: usize,
    drop_to: usize,
}

// SAFETY: see `Preparation::run`.
unsafe impl Send for Preparation {}

impl Preparation {
    /// Allocates `start..end` of `file` on disk, faults it in writable, and
    /// lets go of the pages behind the writer.
    ///
    /// # Safety
    /// The mapping this was planned on must still be alive, `file` must be
    /// its file, and the file must be neither emptied nor cut meanwhile.
    /// The writer may keep appending: it writes through the mapping only
    /// below `start` (the old prepared end) and with `pwrite` at or past
    /// its offset, never below the pages let go of.
    pub unsafe fn run(&self, file: &File) -> io::Result<()> {
        if self.end > self.start {
            allocate(file, self.start, self.end - self.start)?;
            // SAFETY: inside the mapping, now allocated and inside the
            // file; see the contract for concurrent writes.
            unsafe { populate_writable(self.ptr.as_ptr().add(self.start), self.end - self.start) };
        }
        if self.drop_to > self.drop_from {
            // SAFETY: pages wholly behind the writer, which never writes
            // there again until the file is emptied; a shared file page
            // let go of keeps its contents in the page cache.
            unsafe {
                drop_pages(
                    self.ptr.as_ptr().add(self.drop_from),
                    self.drop_to - self.drop_from,
                )
            };
        }
        Ok(())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
impl Mapping {
    pub fn new(_file: &File) -> io::Result<Mapping> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "mapped intake only on Linux and Android",
        ))
    }
}

/// Allocates `len` bytes at `start` of `file` on disk (extending it), so
/// stores into them never need disk space. Never changes bytes already
/// written, so it is safe on any range.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn allocate(file: &File, start: usize, len: usize) -> io::Result<()> {
    let (offset, size) = match (libc::off_t::try_from(start), libc::off_t::try_from(len)) {
        (Ok(offset), Ok(size)) => (offset, size),
        _ => return Err(io::Error::other("mapping too large")),
    };
    // SAFETY: a system call on our own descriptor.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), offset, size) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn allocate(_file: &File, _start: usize, _len: usize) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Faults `len` bytes at `at` in writable, so the first store into each
/// page does not fault later inside `tracker_send` (a populated shared
/// mapping is read-only until written). Best effort: a page left out only
/// costs a fault later.
///
/// # Safety
/// The range must be mapped shared and writable and backed by allocated
/// file blocks.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn populate_writable(at: *mut u8, len: usize) {
    // SAFETY: the caller's contract; the kernel faults the pages in as if
    // written, without changing them.
    let rc = unsafe { libc::madvise(at.cast(), len, libc::MADV_POPULATE_WRITE) };
    if rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
        return;
    }
    // Kernels before 5.14: bring the pages into the page cache without
    // touching them (the writer may be storing into some meanwhile); the
    // first store into each then takes a minor fault.
    // SAFETY: as above; advice only.
    unsafe { libc::madvise(at.cast(), len, libc::MADV_WILLNEED) };
}

/// Lets go of the pages of `len` bytes at `at`: their contents stay in the
/// page cache and the file, they no longer count in the process's memory.
///
/// # Safety
/// The range must be mapped shared, with nobody writing to it meanwhile.
#[cfg(any(target_os = "linux", target_os = "android"))]
unsafe fn drop_pages(at: *mut u8, len: usize) {
    // SAFETY: the caller's contract; failure only leaves pages resident.
    unsafe { libc::madvise(at.cast(), len, libc::MADV_DONTNEED) };
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
unsafe fn populate_writable(_at: *mut u8, _len: usize) {}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
unsafe fn drop_pages(_at: *mut u8, _len: usize) {}

/// Whether `file` lives on a filesystem known to overwrite file pages in
/// place (so preallocated blocks stay enough for every later store).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn rewrites_in_place(file: &File) -> io::Result<bool> {
    const EXT4: i64 = 0xEF53;
    const F2FS: i64 = 0xF2F5_2010;
    const TMPFS: i64 = 0x0102_1994;
    const XFS: i64 = 0x5846_5342;
    // SAFETY: fstatfs fills the zeroed struct we pass for our own descriptor.
    let kind = unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        if libc::fstatfs(file.as_raw_fd(), &mut stat) != 0 {
            return Err(io::Error::last_os_error());
        }
        (stat.f_type as u64 & 0xFFFF_FFFF) as i64
    };
    Ok(matches!(kind, EXT4 | F2FS | TMPFS | XFS))
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped; nothing uses it after.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), SPAN);
        }
    }
}

// The mapping exists only on Linux and Android (elsewhere `Mapping::new`
// refuses and the intake writes with positional writes).
#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;

    /// Resident bytes of the mapping, from the process's own accounting.
    fn resident_bytes(map: &Mapping) -> usize {
        let start = format!("{:x}-", map.ptr.as_ptr() as usize);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let block = smaps
            .split_inclusive('\n')
            .skip_while(|line| !line.starts_with(&start))
            .find(|line| line.starts_with("Rss:"))
            .unwrap();
        let kb: usize = block.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    }

    #[test]
    fn writes_land_in_the_file_and_only_a_window_stays_mapped() {
        let path = std::env::temp_dir().join(format!("offtrack-map-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let mut map = Mapping::new(&file).unwrap();
        assert_eq!(map.ready(), CHUNK);
        assert!(map.write(&file, 4090, b"hello"));
        assert_eq!(std::fs::read(&path).unwrap()[4090..4095], *b"hello");
        // Past the span the writer is told to write elsewhere; past the
        // prepared part it prepares what it needs.
        assert!(!map.write(&file, SPAN - 2, b"too long"));
        assert!(map.write(&file, CHUNK - 2, b"across"));
        assert_eq!(map.ready(), CHUNK + WRITER_STEP);
        // Writing on through several chunks, preparing ahead as the worker
        // does, keeps what was written and lets go of the pages behind.
        let entry = [7u8; 500];
        let mut offset = 8192;
        while offset < 6 * CHUNK {
            if let Some(plan) = map.plan_for_worker(offset) {
                assert!(map.keep_len() >= plan.end);
                // SAFETY: the mapping is alive and its file is not cut.
                unsafe { plan.run(&file).unwrap() };
                map.prepared(&plan, true);
            }
            assert!(map.ready() >= offset + CHUNK);
            assert!(map.write(&file, offset, &entry));
            offset += entry.len();
        }
        let written = std::fs::read(&path).unwrap();
        assert_eq!(written[4090..4095], *b"hello");
        assert!(written[8192..offset].iter().all(|&b| b == 7));
        let resident = resident_bytes(&map);
        assert!(resident > 0 && resident <= 4 * CHUNK, "{resident}");
        map.restart();
        assert_eq!(map.ready(), 0);
        assert_eq!(resident_bytes(&map), 0);
        drop(map);
        let _ = std::fs::remove_file(&path);
    }
}
