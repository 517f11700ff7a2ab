//! The first bytes of an intake file, allocated on disk and mapped shared
//! and writable, so an append is a copy into the page cache (which
//! survives a process kill like a `write()` does) instead of a system call.
//! All the unsafe code for it lives here.
//!
//! The blocks are allocated up front (`posix_fallocate`), so a store into
//! the mapping never needs disk space and never raises SIGBUS on a full
//! disk. The file must never be truncated below the mapped length while
//! mapped; only this module's owner, `intake`, touches the file's length.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// A shared, writable mapping of a file's first `len` bytes.
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory shared with the page cache; writes go
// through `&mut self` (one writer, under the intake lock) or through
// `Zeroer`, whose contract excludes concurrent writers.
unsafe impl Send for Mapping {}

impl Mapping {
    /// Allocates the first `len` bytes of `file` on disk and maps them.
    /// Only on Linux and Android, and only on filesystems that rewrite a
    /// page in place (ext4, f2fs, tmpfs, xfs): on copy-on-write filesystems
    /// a store into a mapped page may need new space and raise SIGBUS on a
    /// full disk. Elsewhere this fails and the intake uses `pwrite`.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn new(file: &File, len: usize) -> io::Result<Mapping> {
        if !rewrites_in_place(file)? {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "filesystem may copy on write",
            ));
        }
        let fd = file.as_raw_fd();
        let size = libc::off_t::try_from(len).map_err(|_| io::Error::other("mapping too large"))?;
        // SAFETY: plain system calls on an open descriptor we own; the
        // result of mmap is checked before use.
        unsafe {
            let rc = libc::posix_fallocate(fd, 0, size);
            if rc != 0 {
                return Err(io::Error::from_raw_os_error(rc));
            }
            let ptr = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                // Faulted in now: a first store into each page would
                // otherwise page-fault inside `tracker_send`.
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                0,
            );
            if ptr == libc::MAP_FAILED {
                return Err(io::Error::last_os_error());
            }
            let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap"))?;
            Ok(Mapping { ptr, len })
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Copies `bytes` to `offset`; `false` (nothing written) if they do
    /// not fit in the mapping.
    pub fn write(&mut self, offset: usize, bytes: &[u8]) -> bool {
        let fits = offset
            .checked_add(bytes.len())
            .is_some_and(|end| end <= self.len);
        if fits {
            // SAFETY: `offset + bytes.len() <= self.len`, inside the live
            // mapping; `bytes` cannot overlap it (it is our own buffer).
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

    /// A handle that zeroes the first `len` bytes later, without a borrow
    /// of the mapping (see `Zeroer::zero` for the contract).
    pub fn zeroer(&self, len: usize) -> Zeroer {
        Zeroer {
            ptr: self.ptr,
            len: len.min(self.len),
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
impl Mapping {
    pub fn new(_file: &File, _len: usize) -> io::Result<Mapping> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "mapped intake only on Linux and Android",
        ))
    }
}

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
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// Zeroes the start of a mapping from another place than its owner.
pub struct Zeroer {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: see `Zeroer::zero`.
unsafe impl Send for Zeroer {}

impl Zeroer {
    /// Zeroes the bytes.
    ///
    /// # Safety
    /// The mapping must still be alive and nobody may write to these bytes
    /// meanwhile (the intake zeroes only its inactive file, and only while
    /// it holds the store lock, which closing the intake needs too).
    pub unsafe fn zero(self) {
        // SAFETY: the caller's contract; `len` was clamped to the mapping.
        unsafe { std::ptr::write_bytes(self.ptr.as_ptr(), 0, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_land_in_the_file() {
        let path = std::env::temp_dir().join(format!("offtrack-map-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let mut map = Mapping::new(&file, 8192).unwrap();
        assert!(map.write(4090, b"hello"));
        assert!(!map.write(8190, b"too long"));
        assert_eq!(std::fs::read(&path).unwrap()[4090..4095], *b"hello");
        // SAFETY: the mapping is alive and nothing else writes to it.
        unsafe { map.zeroer(8192).zero() };
        assert!(std::fs::read(&path).unwrap().iter().all(|&b| b == 0));
        drop(map);
        let _ = std::fs::remove_file(&path);
    }
}
