//! File-system calls whose form differs per system: owner-only creation,
//! positional writes, syncing a directory, renames that Windows may refuse
//! for a moment, and which I/O errors mean a resource ran short.
//!
//! No knowledge of what the files hold lives here.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// Creates `path` (and missing parents) owner-only and makes it so if it
/// existed. On Unix `mkdir`'s mode is cut by the process umask (which a
/// library must not change) and `chmod`'s is not, so the mode is set
/// explicitly before anything is written inside: no file in it is ever
/// reachable by other users. For a directory that existed this is best
/// effort (another owner's directory we may write into cannot be changed).
/// On Windows the new folder inherits its parent's ACL (the user profile's
/// for the places games keep data), which is what owner-only means there.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    let existed = path.is_dir();
    if !existed {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(path)?;
    }
    match make_private(path, true) {
        Err(e) if !existed => Err(e),
        _ => Ok(()),
    }
}

/// Makes a directory (`is_dir`) 0700 or a file 0600 on Unix; nothing to do
/// on Windows (see `create_private_dir`).
pub(crate) fn make_private(path: &Path, is_dir: bool) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if is_dir { 0o700 } else { 0o600 };
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, is_dir);
        Ok(())
    }
}

/// Options that create a file owner-only (0600 on Unix).
pub(crate) fn owner_only(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(options, 0o600);
    options
}

/// Writes all of `bytes` at `offset` without moving any shared cursor that
/// matters (every write to these files is positional).
pub(crate) fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
    }
    #[cfg(windows)]
    {
        let (mut bytes, mut offset) = (bytes, offset);
        while !bytes.is_empty() {
            match std::os::windows::fs::FileExt::seek_write(file, bytes, offset) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    bytes = &bytes[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Opens a file only to sync it. Windows needs write access to flush a
/// file (`FlushFileBuffers`); Unix accepts either.
pub(crate) fn open_for_sync(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).open(path)
}

/// Makes the entries of directory `path` (renames, new files) durable. On
/// Windows NTFS journals its metadata and a directory cannot be opened as
/// a file without extra flags, so there is nothing to do.
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(path)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Renames `from` to `to`. Windows refuses to rename a folder while any
/// file in it is open, also for a moment after it was closed (a virus
/// scanner, the search indexer, our own sync on the worker): retried there
/// for up to ≈0.5 s before the error is returned.
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(windows)]
    {
        let mut tries = 0;
        loop {
            match fs::rename(from, to) {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }
    #[cfg(not(windows))]
    {
        fs::rename(from, to)
    }
}

/// Whether an I/O error means a resource ran short (disk full, quota, no
/// memory, too many open files) rather than that the files are bad.
pub(crate) fn is_resource_shortage(e: &io::Error) -> bool {
    use io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::StorageFull
            | ErrorKind::QuotaExceeded
            | ErrorKind::OutOfMemory
            | ErrorKind::Interrupted
    ) {
        return true;
    }
    #[cfg(unix)]
    const TOO_MANY_OPEN: [i32; 2] = [libc::EMFILE, libc::ENFILE];
    // ERROR_TOO_MANY_OPEN_FILES, ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY.
    #[cfg(windows)]
    const TOO_MANY_OPEN: [i32; 3] = [4, 8, 14];
    #[cfg(not(any(unix, windows)))]
    const TOO_MANY_OPEN: [i32; 0] = [];
    e.raw_os_error()
        .is_some_and(|code| TOO_MANY_OPEN.contains(&code))
}
