//! Whether a tracker holds a storage directory's lock, found without
//! creating or changing anything.
//!
//! The library locks `LOCK` exclusively (`File::try_lock`: `flock` on
//! Unix, `LockFileEx` on Windows) for as long as a tracker is open. Here
//! the file is opened read-only, if it exists, and locked shared without
//! waiting: that fails while a tracker holds it, and while it is held a
//! tracker cannot start (its `tracker_create` would return
//! `TRACKER_ERROR_LOCKED`), so the directory cannot change while it is
//! copied. On Linux the holder's pid is looked up in `/proc/locks`.

use std::fs::{File, TryLockError};
use std::path::Path;

/// What the probe found.
pub enum Probe {
    /// No `LOCK` file: no tracker ever opened this copy of the directory.
    NoLockFile,
    /// Free; the shared lock is held until this is dropped.
    Free(File),
    /// A tracker holds it; its process if it could be found.
    Held(Option<u32>),
}

pub fn probe(dir: &Path) -> std::io::Result<Probe> {
    let path = dir.join("LOCK");
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Probe::NoLockFile),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Probe::Free(file)),
        Err(TryLockError::WouldBlock) => Ok(Probe::Held(holder(&path))),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// The pid holding a lock on `path`, from `/proc/locks` (Linux, Android).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn holder(path: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let dev = meta.dev();
    // glibc's major()/minor() encoding of st_dev.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let wanted = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 12345 08:01:123456 0 EOF"
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields.iter().position(|f| *f == wanted)?;
        fields.get(at.checked_sub(1)?)?.parse().ok()
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn holder(_path: &Path) -> Option<u32> {
    None
}
