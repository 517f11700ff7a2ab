//! The temporary copy the store is opened from: owner-only (it holds
//! hits), sparse where the original's files are zeros (fjall preallocates
//! its journal), deleted when dropped.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Entries of the storage directory that are not copied: the lock (the
/// copy gets its own) and queues the library moved aside (it never reads
/// them again; the report lists them).
pub fn skipped(name: &str) -> bool {
    name == "LOCK" || name.starts_with("damaged-")
}

/// A temporary directory, deleted with everything in it when dropped.
pub struct TempCopy {
    root: PathBuf,
}

impl TempCopy {
    /// Copies `from` into a fresh directory under the system's temporary
    /// directory; returns it and the path of the copied store in it.
    pub fn of(from: &Path) -> io::Result<(TempCopy, PathBuf)> {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let root =
            std::env::temp_dir().join(format!("offtrack-inspect-{}-{stamp}", std::process::id()));
        create_private(&root)?;
        let copy = TempCopy { root };
        let store = copy.root.join("store");
        create_private(&store)?;
        copy_tree(from, &store, true)?;
        Ok((copy, store))
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn create_private(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

fn copy_tree(from: &Path, to: &Path, top: bool) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if top && skipped(&name.to_string_lossy()) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        // Not followed: a store holds no links, and the copy must not
        // reach outside it.
        let kind = entry.file_type()?;
        if kind.is_dir() {
            create_private(&target)?;
            copy_tree(&source, &target, false)?;
        } else if kind.is_file() {
            copy_file(&source, &target)?;
        }
    }
    Ok(())
}

/// Copies a file, leaving holes where it has blocks of zeros.
fn copy_file(from: &Path, to: &Path) -> io::Result<()> {
    const BLOCK: usize = 64 * 1024;
    let mut source = File::open(from)?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut target = options.open(to)?;
    let mut block = vec![0u8; BLOCK];
    let mut length = 0u64;
    loop {
        let n = read_full(&mut source, &mut block)?;
        if n == 0 {
            break;
        }
        if block[..n].iter().all(|&b| b == 0) {
            target.seek(SeekFrom::Current(n as i64))?;
        } else {
            target.write_all(&block[..n])?;
        }
        length += n as u64;
    }
    target.set_len(length)
}

fn read_full(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_contents_and_skips_lock_and_damaged() {
        let src = std::env::temp_dir().join(format!("offtrack-copy-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&src);
        fs::create_dir_all(src.join("queue/sub")).unwrap();
        fs::create_dir_all(src.join("damaged-1")).unwrap();
        fs::write(src.join("LOCK"), b"").unwrap();
        fs::write(src.join("FORMAT"), b"2\n").unwrap();
        // Zeros around data, and a tail of zeros: holes in the copy.
        let mut sparse = vec![0u8; 200_000];
        sparse[150_000] = 7;
        fs::write(src.join("queue/sub/journal.jnl"), &sparse).unwrap();
        let (copy, store) = TempCopy::of(&src).unwrap();
        assert_eq!(fs::read(store.join("FORMAT")).unwrap(), b"2\n");
        assert_eq!(
            fs::read(store.join("queue/sub/journal.jnl")).unwrap(),
            fs::read(src.join("queue/sub/journal.jnl")).unwrap()
        );
        assert!(!store.join("LOCK").exists() && !store.join("damaged-1").exists());
        drop(copy);
        assert!(!store.exists());
        fs::remove_dir_all(&src).unwrap();
    }
}
