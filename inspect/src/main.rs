//! `offtrack-inspect`: what an Offtrack storage directory holds, for a
//! tester who pulled a store off a device, without changing it.
//!
//! ```text
//! offtrack-inspect [--json] [--limit N|all] [--full] [--key-file FILE] STORAGE_DIR
//! ```
//!
//! Prints the storage directory's format version, whether it is
//! encrypted, the consent choice recorded in it (and so the opt-out),
//! whether a tracker holds its lock, and the queue: how many hits, their
//! URL bytes, the oldest and latest creation times (ISO 8601 UTC and Unix
//! milliseconds), how many were still in the intake files (left by a kill,
//! not yet moved into the database), and a listing of id, created,
//! attempts and hit (the first 100 unless `--limit`; hits cut to the
//! terminal's width unless `--full`). `--json` prints one JSON object with
//! the same fields and a `hits` array.
//!
//! **Read-only.** The store is never opened in place: fjall's open may
//! write (journal recovery, version files) and the library's open settles
//! interrupted generations and replays the intake. The tool checks the
//! lock without creating anything (a shared lock on `LOCK` if it exists,
//! held while copying, so no tracker starts writing meanwhile), copies the
//! directory (but `LOCK` and the `damaged-*` queues) into an owner-only
//! temporary directory (`TMPDIR`), opens the copy with the library's own
//! store code, and deletes the copy. Every file of the original is left
//! byte for byte as it was, and none is added or removed.
//!
//! **Key.** For an encrypted store, `--key-file FILE` (a file holding the
//! 64 hexadecimal characters of the app's `encryption_key`) or the
//! environment variable `OFFTRACK_ENCRYPTION_KEY`; never an argument,
//! which other users could read in the process list.
//!
//! **Refusals**, each with its own exit code and a message on standard
//! error (and an `error` object with `--json`): see [`Refusal`].
//! 0 is a store read in full.
//!
//! Modules: `args` (the command line), `lock` (who holds the lock),
//! `copy` (the temporary copy), `gather` (reading the copy through the
//! library), `render` (text and JSON).

mod args;
mod copy;
mod gather;
mod lock;
mod render;

use std::process::ExitCode;

/// Why a store could not be read, with the exit code of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 1: an I/O error of the tool's own (the copy, the temporary directory).
    Failed,
    /// 2: a bad command line or key file.
    Usage,
    /// 3: no such directory, or one that holds no Offtrack store.
    NotAStore,
    /// 4: a running tracker holds the store's lock.
    Locked,
    /// 5: written by a newer library (its `FORMAT` is higher than this build's).
    NewerFormat,
    /// 6: encrypted, and no key was given.
    KeyNeeded,
    /// 7: encrypted with another key.
    WrongKey,
    /// 8: the library could not read it (it would move it aside, or a read failed).
    Damaged,
}

impl Refusal {
    pub fn exit_code(self) -> u8 {
        match self {
            Refusal::Failed => 1,
            Refusal::Usage => 2,
            Refusal::NotAStore => 3,
            Refusal::Locked => 4,
            Refusal::NewerFormat => 5,
            Refusal::KeyNeeded => 6,
            Refusal::WrongKey => 7,
            Refusal::Damaged => 8,
        }
    }

    /// The name in messages and in the JSON `error.kind`.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::Failed => "failed",
            Refusal::Usage => "usage",
            Refusal::NotAStore => "not a store",
            Refusal::Locked => "locked",
            Refusal::NewerFormat => "newer format",
            Refusal::KeyNeeded => "key needed",
            Refusal::WrongKey => "wrong key",
            Refusal::Damaged => "damaged",
        }
    }
}

/// A refusal and what it says.
#[derive(Debug, Clone)]
pub struct Refused {
    pub kind: Refusal,
    pub message: String,
}

impl Refused {
    pub fn new(kind: Refusal, message: impl Into<String>) -> Refused {
        Refused {
            kind,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    let options = match args::parse(std::env::args_os().skip(1)) {
        Ok(args::Parsed::Run(options)) => options,
        Ok(args::Parsed::Help) => {
            print!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("offtrack-inspect: {message}\n\n{}", args::USAGE);
            return ExitCode::from(Refusal::Usage.exit_code());
        }
    };
    let (report, refused) = gather::inspect(&options);
    if options.json {
        println!("{}", render::json(&report, refused.as_ref()));
    } else {
        print!("{}", render::text(&report, &options));
    }
    match refused {
        None => ExitCode::SUCCESS,
        Some(refused) => {
            eprintln!(
                "offtrack-inspect: {}: {}",
                refused.kind.name(),
                refused.message
            );
            ExitCode::from(refused.kind.exit_code())
        }
    }
}
