//! The storage directory around the queue: owner-only creation, the
//! cross-process lock, the format version file, the consent choice, the
//! key check file, and moving a damaged queue aside.
//!
//! Layout of `storage_path/`: `LOCK` (locked with `File::try_lock` while a tracker is
//! open), `FORMAT` (store format version), `CONSENT` (the player's choice,
//! `granted`, `pending` or `denied`, once the app has made one), `OPT_OUT`
//! (present while consent is denied: the only marker libraries before
//! consent states read, so going back to one never sends a denied
//! player's hits; without `CONSENT` it is read as denied), `IDS` (floor for new hit ids, kept outside the database
//! so ids stay unique when the database is replaced), `KEYCHECK` (present
//! while the store may hold sealed hits: the key's check value, the salt and
//! the last nonce epoch; never the key), `queue/` (the fjall database), `damaged-<ms>/` (queues
//! that could not be opened, kept for inspection, never deleted by us).
//! The queue's contents are `store`'s business, and the cipher `seal`'s,
//! not this module's.
//!
//! Crash safety: every change a kill could interrupt is either atomic or
//! finished at the next open. Small files are written to `<name>.tmp`,
//! synced and renamed. A database generation is never created in place:
//! it is built in `queue.new` (incomplete, never holds a hit, deleted at
//! open), renamed to `queue.next` once closed (complete), and swapped in
//! (`queue` → `queue.old`, `queue.next` → `queue`, `queue.old` deleted: only
//! drained generations are replaced). `settle_generations` completes or
//! undoes whichever step a kill interrupted.

use crate::consent::Consent;
use crate::error::{Error, Result, TRACKER_ERROR_LOCKED};
use crate::os::fs::{create_private_dir, make_private, owner_only, rename, sync_dir};
use crate::queue::seal::{CHECK_LEN, KeyCheck, SALT_LEN};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the directory and record layout this build writes for a
/// plain store. 1: fjall queue; 2: plus the intake files.
pub const FORMAT_VERSION: u32 = 2;
/// The version of a store that may hold sealed records (3): a library that
/// cannot open them refuses the store as newer instead of dropping every
/// hit as unreadable. Set before `KEYCHECK` is first written, and kept.
pub const SEALED_FORMAT_VERSION: u32 = 3;
/// First line of `KEYCHECK`, with the version of its layout.
const KEYCHECK_HEADER: &str = "offtrack keycheck 1";

/// An open, locked storage directory. Dropping it releases the lock.
#[derive(Debug)]
pub struct StorageDir {
    path: PathBuf,
    lock: File,
}

impl StorageDir {
    /// Creates the directory owner-only if needed, takes its lock and checks
    /// the format version.
    pub fn open(path: &Path) -> Result<StorageDir> {
        let shown = path.display();
        // Owner-only even when the directory already existed (it holds
        // user data), and before anything is written into it.
        create_private_dir(path)
            .map_err(|e| Error::storage(format!("cannot create storage directory {shown}: {e}")))?;
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        let lock = owner_only(&mut options)
            .open(path.join("LOCK"))
            .map_err(|e| Error::storage(format!("cannot open lock file in {shown}: {e}")))?;
        if let Err(e) = lock.try_lock() {
            return Err(match e {
                std::fs::TryLockError::WouldBlock => Error::new(
                    TRACKER_ERROR_LOCKED,
                    format!(
                        "storage directory {shown} is already used by another open tracker (this process or another)"
                    ),
                ),
                std::fs::TryLockError::Error(err) => {
                    Error::storage(format!("cannot lock storage directory {shown}: {err}"))
                }
            });
        }
        let dir = StorageDir {
            path: path.to_owned(),
            lock,
        };
        dir.check_format()?;
        Ok(dir)
    }

    /// Releases the lock early, while the file handle may live on.
    pub fn release(&self) {
        let _ = self.lock.unlock();
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn queue_path(&self) -> PathBuf {
        self.path.join("queue")
    }

    /// Where a new database generation is built (see the module header).
    pub fn building_path(&self) -> PathBuf {
        self.path.join("queue.new")
    }

    fn ready_path(&self) -> PathBuf {
        self.path.join("queue.next")
    }

    fn retired_path(&self) -> PathBuf {
        self.path.join("queue.old")
    }

    /// Starts building a generation: an empty owner-only `queue.new`
    /// (whatever an interrupted build left there held no hit).
    pub fn start_building(&self) -> std::io::Result<PathBuf> {
        let building = self.building_path();
        remove_dir_if_present(&building)?;
        create_private_dir(&building)?;
        Ok(building)
    }

    /// Marks the generation built in `queue.new` complete (its database
    /// closed): renames it to `queue.next`, durably.
    pub fn finish_building(&self) -> std::io::Result<()> {
        let (building, ready) = (self.building_path(), self.ready_path());
        sync_dir(&building)?;
        remove_dir_if_present(&ready)?;
        rename(&building, &ready)?;
        sync_dir(&self.path)
    }

    /// Puts the generation in `queue.next` in place of `queue` (which must
    /// be closed and drained, or absent). On failure the directory is left
    /// as `settle_generations` can finish it.
    pub fn install_ready(&self) -> std::io::Result<()> {
        let (queue, ready, retired) = (self.queue_path(), self.ready_path(), self.retired_path());
        remove_dir_if_present(&retired)?;
        if queue.exists() {
            rename(&queue, &retired)?;
        }
        if let Err(e) = rename(&ready, &queue) {
            // Back to the old generation; if even that fails, the next
            // open installs `queue.next`.
            if retired.exists() && !queue.exists() {
                let _ = rename(&retired, &queue);
            }
            return Err(e);
        }
        sync_dir(&self.path)?;
        // Deleting the drained generation may fail (Windows, a file still
        // open elsewhere); it is retried at the next open.
        let _ = remove_dir_if_present(&retired);
        Ok(())
    }

    /// Finishes or undoes what a kill interrupted: an incomplete build is
    /// deleted, a complete one is installed if there is no `queue`
    /// (otherwise `queue` is kept: it is at least as new), a retired
    /// generation is deleted. Stale temporary files go too.
    pub fn settle_generations(&self) -> std::io::Result<()> {
        let (queue, ready) = (self.queue_path(), self.ready_path());
        remove_dir_if_present(&self.building_path())?;
        if ready.exists() {
            if queue.exists() {
                remove_dir_if_present(&ready)?;
            } else {
                rename(&ready, &queue)?;
                sync_dir(&self.path)?;
            }
        }
        remove_dir_if_present(&self.retired_path())?;
        for name in [
            "FORMAT.tmp",
            "IDS.tmp",
            "OPT_OUT.tmp",
            "CONSENT.tmp",
            "KEYCHECK.tmp",
        ] {
            match fs::remove_file(self.path.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    fn check_format(&self) -> Result<()> {
        let file = self.path.join("FORMAT");
        match fs::read_to_string(&file) {
            Ok(text) => match text.trim().parse::<u32>() {
                Ok(FORMAT_VERSION | SEALED_FORMAT_VERSION) => Ok(()),
                // Older layouts are read as they are; marking the store as
                // this version keeps an older library from opening it and
                // missing the intake files (format 2) it does not know.
                Ok(v) if v < FORMAT_VERSION => {
                    write_atomically(&file, &format!("{FORMAT_VERSION}\n"))
                }
                Ok(v) => Err(Error::storage(format!(
                    "store in {} has format version {v}, newer than this library's {SEALED_FORMAT_VERSION}; \
                     it is left untouched",
                    self.path.display()
                ))),
                Err(_) => Err(Error::storage(format!(
                    "store in {} has an unreadable FORMAT file; it is left untouched",
                    self.path.display()
                ))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_atomically(&file, &format!("{FORMAT_VERSION}\n"))
            }
            Err(e) => Err(Error::storage(format!(
                "cannot read {}: {e}",
                file.display()
            ))),
        }
    }

    /// The consent choice recorded here, `None` if the app never made one.
    /// A `CONSENT` file that cannot be read or understood counts as
    /// pending: nothing is sent and nothing is lost until the app asks
    /// the player again, which is the safe side of either mistake.
    pub fn consent(&self) -> Option<Consent> {
        consent_in(&self.path)
    }

    /// Records the player's choice. `CONSENT` first: once it is written it
    /// wins over `OPT_OUT`, so a kill between the two steps leaves the new
    /// choice in force. `OPT_OUT` matters only to older libraries, so
    /// failing to update it does not fail a choice this library will honour.
    pub fn set_consent(&self, consent: Consent) -> Result<()> {
        write_atomically(&self.path.join("CONSENT"), &format!("{}\n", consent.name()))?;
        let opt_out = self.path.join("OPT_OUT");
        if consent == Consent::Denied {
            let _ = write_atomically(&opt_out, "1\n");
        } else {
            let _ = fs::remove_file(&opt_out);
        }
        Ok(())
    }

    /// The lowest id the queue may hand out (0 if never recorded).
    pub fn id_floor(&self) -> u64 {
        fs::read_to_string(self.path.join("IDS"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Records the lowest id the queue may hand out from now on.
    pub fn set_id_floor(&self, floor: u64) -> Result<()> {
        write_atomically(&self.path.join("IDS"), &format!("{floor}\n"))
    }

    /// What `KEYCHECK` holds: the check value of the store's key with its
    /// salt, and the last nonce epoch taken; `None` if there is no such
    /// file (the store holds no sealed hit). A file that cannot be read as
    /// one is an error, and nothing is touched.
    pub fn key_check(&self) -> Result<Option<(KeyCheck, u32)>> {
        let file = self.path.join("KEYCHECK");
        let text = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::storage(format!(
                    "cannot read {}: {e}",
                    file.display()
                )));
            }
        };
        parse_key_check(&text).map(Some).ok_or_else(|| {
            Error::storage(format!(
                "the storage directory {} has an unreadable KEYCHECK file; it is left untouched",
                self.path.display()
            ))
        })
    }

    /// Records the store's key check value and the last nonce epoch taken,
    /// durably (the epoch must be on disk before anything is sealed under
    /// it). The first time, `FORMAT` is raised to the sealed version first.
    pub fn set_key_check(&self, check: &KeyCheck, epoch: u32) -> Result<()> {
        let format = self.path.join("FORMAT");
        let sealed = format!("{SEALED_FORMAT_VERSION}\n");
        if fs::read_to_string(&format).ok().as_deref() != Some(sealed.as_str()) {
            write_atomically(&format, &sealed)?;
        }
        let text = format!(
            "{KEYCHECK_HEADER}\nsalt {}\ncheck {}\nepoch {epoch}\n",
            hex(&check.salt),
            hex(&check.check)
        );
        write_atomically(&self.path.join("KEYCHECK"), &text)
    }

    /// Removes `KEYCHECK` once the store holds no hit: the next open may
    /// then use another key, or none.
    pub fn remove_key_check(&self) -> Result<()> {
        let file = self.path.join("KEYCHECK");
        match fs::remove_file(&file) {
            Ok(()) => sync_dir(&self.path)
                .map_err(|e| Error::storage(format!("cannot sync {}: {e}", self.path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::storage(format!(
                "cannot remove {}: {e}",
                file.display()
            ))),
        }
    }

    /// Renames a queue that cannot be opened to `damaged-<ms>` (with a
    /// suffix if that exists) and returns the new path.
    pub fn move_aside(&self, now_ms: u64) -> Result<PathBuf> {
        let mut target = self.path.join(format!("damaged-{now_ms}"));
        let mut suffix = 1;
        while target.exists() {
            target = self.path.join(format!("damaged-{now_ms}-{suffix}"));
            suffix += 1;
        }
        let moved = rename(&self.queue_path(), &target).and_then(|()| sync_dir(&self.path));
        // It holds hits: owner-only, whatever mode its creator gave it.
        let _ = make_private(&target, true);
        moved.map_err(|e| {
            Error::storage(format!(
                "cannot move damaged store aside to {}: {e}",
                target.display()
            ))
        })?;
        Ok(target)
    }
}

/// `StorageDir::consent` of the directory at `path`, read without opening
/// or locking it (for a QA tool; it only reads).
pub fn consent_in(path: &Path) -> Option<Consent> {
    match fs::read_to_string(path.join("CONSENT")) {
        Ok(text) => Some(Consent::from_name(text.trim()).unwrap_or(Consent::Pending)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            path.join("OPT_OUT").exists().then_some(Consent::Denied)
        }
        Err(_) => Some(Consent::Pending),
    }
}

/// Makes the queue's directories 0700 and files 0600. fjall creates them
/// with the process umask; a library must not change the process-wide umask.
/// Files fjall creates later sit inside these owner-only directories.
pub fn restrict_permissions(path: &Path) {
    let Ok(entries) = fs::read_dir(path) else {
        return;
    };
    let _ = make_private(path, true);
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            restrict_permissions(&entry.path());
        } else if kind.is_file() {
            let _ = make_private(&entry.path(), false);
        }
    }
}

fn remove_dir_if_present(path: &Path) -> std::io::Result<()> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// `KEYCHECK`'s text as check value and epoch; `None` unless it is
/// exactly what `set_key_check` writes.
fn parse_key_check(text: &str) -> Option<(KeyCheck, u32)> {
    let mut lines = text.lines();
    if lines.next()? != KEYCHECK_HEADER {
        return None;
    }
    let mut field = |name: &str| lines.next()?.strip_prefix(name)?.strip_prefix(' ');
    let salt = unhex::<SALT_LEN>(field("salt")?)?;
    let check = unhex::<CHECK_LEN>(field("check")?)?;
    let epoch = field("epoch")?.parse().ok()?;
    lines
        .next()
        .is_none()
        .then_some((KeyCheck { salt, check }, epoch))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Writes a small file so that readers see the old or the new content, never half.
fn write_atomically(file: &Path, content: &str) -> Result<()> {
    let tmp = file.with_extension("tmp");
    let result = (|| {
        let mut options = OpenOptions::new();
        options.create(true).truncate(true).write(true);
        let mut f = owner_only(&mut options).open(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()?;
        rename(&tmp, file)?;
        sync_dir(file.parent().unwrap_or(Path::new(".")))
    })();
    result.map_err(|e| Error::storage(format!("cannot write {}: {e}", file.display())))
}
