//! What a storage directory holds: read from the original what can be
//! read without opening it (its small files, the lock), then the queue
//! from a temporary copy opened with the library's own store code.

use crate::args::Options;
use crate::copy::TempCopy;
use crate::lock::{self, Probe};
use crate::{Refusal, Refused};
use offtrack::Consent;
use offtrack::internals::{
    FORMAT_VERSION, Record, SEALED_FORMAT_VERSION, StorageDir, Store, consent_in,
};
use std::path::{Path, PathBuf};

/// Everything found; parts stay `None` once a refusal stopped the reading.
pub struct Report {
    pub dir: PathBuf,
    pub header: Option<Header>,
    pub queue: Option<Queue>,
}

/// What the directory's small files and its lock say.
pub struct Header {
    pub format: Format,
    /// `KEYCHECK` is present: the store may hold sealed hits.
    pub encrypted: bool,
    /// The choice recorded in `CONSENT` (or `OPT_OUT`); `None`: none yet,
    /// the app's config decides.
    pub consent: Option<Consent>,
    pub lock: LockState,
    /// Queues the library moved aside as damaged (`damaged-*`), kept.
    pub damaged_kept: Vec<String>,
}

pub enum Format {
    /// No `FORMAT` file (the library writes one at its first open).
    Missing,
    Version(u32),
    Unreadable(String),
}

pub enum LockState {
    NoLockFile,
    Free,
    Held(Option<u32>),
}

/// The queue as an app would see it after opening the store.
pub struct Queue {
    pub count: u64,
    pub bytes: u64,
    /// Hits that were in the intake files, not yet in the database.
    pub from_intake: u64,
    pub oldest: Option<Record>,
    pub latest: Option<Record>,
    /// The listing, oldest first; `Err(id)`: a record that does not decode.
    pub hits: Vec<Result<Record, u64>>,
}

pub fn inspect(options: &Options) -> (Report, Option<Refused>) {
    let mut report = Report {
        dir: options.dir.clone(),
        header: None,
        queue: None,
    };
    let refused = read(options, &mut report).err();
    (report, refused)
}

/// Names whose presence makes a directory an Offtrack store.
const STORE_MARKS: [&str; 7] = [
    "FORMAT",
    "queue",
    "queue.next",
    "intake-0",
    "intake-1",
    "KEYCHECK",
    "IDS",
];

fn read(options: &Options, report: &mut Report) -> Result<(), Refused> {
    let dir = &options.dir;
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(not_a_store(format!("{shown} is not a directory"))),
        Err(e) => return Err(not_a_store(format!("{shown}: {e}"))),
    }
    if !STORE_MARKS.iter().any(|name| dir.join(name).exists()) {
        return Err(not_a_store(format!(
            "{shown} holds no Offtrack store (no FORMAT, queue/ or intake files)"
        )));
    }
    let (header, probe) = read_header(dir)?;
    let (format, encrypted) = (header.format.version(), header.encrypted);
    report.header = Some(header);
    let lock_guard = match probe {
        Probe::Held(pid) => {
            let pid = pid.map_or("pid unknown".to_owned(), |pid| format!("pid {pid}"));
            return Err(Refused::new(
                Refusal::Locked,
                format!(
                    "{shown} is locked by a running tracker ({pid}): destroy the tracker \
                     (or stop the app) first; nothing was read or changed"
                ),
            ));
        }
        Probe::Free(file) => Some(file),
        Probe::NoLockFile => None,
    };
    match format {
        Ok(Some(v)) if v > SEALED_FORMAT_VERSION => {
            return Err(Refused::new(
                Refusal::NewerFormat,
                format!(
                    "{shown} has format version {v}, newer than the {FORMAT_VERSION} \
                     (plain) and {SEALED_FORMAT_VERSION} (encrypted) this build reads: \
                     use an offtrack-inspect built from the library that wrote it"
                ),
            ));
        }
        Err(message) => return Err(Refused::new(Refusal::Damaged, message)),
        _ => {}
    }
    if encrypted && options.key.is_none() {
        return Err(Refused::new(
            Refusal::KeyNeeded,
            format!(
                "{shown} is encrypted: give its key with --key-file FILE or {}",
                crate::args::KEY_ENV
            ),
        ));
    }
    let (copy, copied) = TempCopy::of(dir).map_err(|e| {
        Refused::new(
            Refusal::Failed,
            format!("cannot copy {shown} to a temporary directory: {e}"),
        )
    })?;
    // The copy is complete: a tracker may take the lock again.
    drop(lock_guard);
    let queue = read_copy(options, &copied, encrypted, dir)?;
    report.queue = Some(queue);
    drop(copy);
    Ok(())
}

fn not_a_store(message: String) -> Refused {
    Refused::new(Refusal::NotAStore, message)
}

fn read_header(dir: &Path) -> Result<(Header, Probe), Refused> {
    let format = match std::fs::read_to_string(dir.join("FORMAT")) {
        Ok(text) => match text.trim().parse() {
            Ok(v) => Format::Version(v),
            Err(_) => Format::Unreadable(format!("FORMAT holds {:?}", text.trim())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Format::Missing,
        Err(e) => Format::Unreadable(format!("cannot read FORMAT: {e}")),
    };
    let mut damaged_kept: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| Refused::new(Refusal::Failed, format!("{}: {e}", dir.display())))?
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("damaged-"))
        .collect();
    damaged_kept.sort();
    let probe = lock::probe(dir).map_err(|e| {
        Refused::new(
            Refusal::Failed,
            format!("cannot check the lock of {}: {e}", dir.display()),
        )
    })?;
    let lock = match &probe {
        Probe::NoLockFile => LockState::NoLockFile,
        Probe::Free(_) => LockState::Free,
        Probe::Held(pid) => LockState::Held(*pid),
    };
    let header = Header {
        format,
        encrypted: dir.join("KEYCHECK").exists(),
        consent: consent_in(dir),
        lock,
        damaged_kept,
    };
    Ok((header, probe))
}

impl Format {
    /// The version, `None` if there is no file, an error if it is unreadable.
    fn version(&self) -> Result<Option<u32>, String> {
        match self {
            Format::Missing => Ok(None),
            Format::Version(v) => Ok(Some(*v)),
            Format::Unreadable(why) => Err(format!("unreadable format version: {why}")),
        }
    }
}

/// Opens the copy as a tracker would and reads its queue.
fn read_copy(
    options: &Options,
    copied: &Path,
    encrypted: bool,
    original: &Path,
) -> Result<Queue, Refused> {
    // Messages name the original, not the temporary copy.
    let damaged = |message: String| {
        let message = message.replace(
            &copied.display().to_string(),
            &original.display().to_string(),
        );
        Refused::new(Refusal::Damaged, message)
    };
    let dir = StorageDir::open(copied).map_err(|e| damaged(e.message))?;
    let key = if encrypted {
        options.key.as_ref()
    } else {
        None
    };
    if let Some(key) = key {
        match dir.key_check() {
            Ok(Some((check, _))) if !check.matches(key.bytes()) => {
                return Err(Refused::new(
                    Refusal::WrongKey,
                    format!(
                        "{} is encrypted with another key than the one given",
                        original.display()
                    ),
                ));
            }
            Ok(_) => {}
            Err(e) => return Err(damaged(e.message)),
        }
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let (store, opened) = Store::open(dir, now_ms, key).map_err(|e| damaged(e.message))?;
    if let Some(why) = opened.damage {
        return Err(damaged(format!(
            "the queue database cannot be opened ({why}); a tracker would move it aside \
             to damaged-<ms> and start an empty queue"
        )));
    }
    let read = || -> Result<Queue, offtrack::Error> {
        let limit = options.limit.unwrap_or(u64::MAX);
        Ok(Queue {
            count: store.count(),
            bytes: store.bytes(),
            from_intake: opened.intake_replayed,
            oldest: store.oldest(1)?.pop(),
            latest: store.latest()?,
            hits: store.head_records(limit)?,
        })
    };
    read().map_err(|e| damaged(e.message))
}
