//! The command line, parsed by hand, and the key it points to.

use offtrack::internals::EncryptionKey;
use std::ffi::OsString;
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: offtrack-inspect [OPTIONS] STORAGE_DIR

Prints what an Offtrack storage directory holds: format version, encryption,
consent and opt-out, the lock, and the queued hits. Never changes the store:
it reads a temporary copy.

options:
  --json            one JSON object instead of text
  --limit N|all     how many hits to list, oldest first (default 100)
  --full            show each hit whole (text; JSON always has them whole)
  --key-file FILE   the encryption key (64 hex characters) for an encrypted
                    store; or the environment variable OFFTRACK_ENCRYPTION_KEY
  -h, --help        this text

exit codes: 0 read, 1 failed, 2 usage, 3 not a store, 4 locked by a running
tracker, 5 newer format, 6 encrypted and no key, 7 wrong key, 8 damaged
";

/// The environment variable that may hold the key.
pub const KEY_ENV: &str = "OFFTRACK_ENCRYPTION_KEY";
const DEFAULT_LIMIT: u64 = 100;

#[derive(Debug)]
pub struct Options {
    pub dir: PathBuf,
    pub json: bool,
    pub full: bool,
    /// Hits to list; `None`: all.
    pub limit: Option<u64>,
    pub key: Option<EncryptionKey>,
}

pub enum Parsed {
    Run(Options),
    Help,
}

pub fn parse(args: impl Iterator<Item = OsString>) -> Result<Parsed, String> {
    let mut args = args.peekable();
    let (mut dir, mut json, mut full) = (None, false, false);
    let mut limit = Some(DEFAULT_LIMIT);
    let mut key_file: Option<PathBuf> = None;
    let mut only_paths = false;
    while let Some(arg) = args.next() {
        let text = arg.to_str().unwrap_or("");
        if only_paths || !text.starts_with('-') || text == "-" {
            if dir.replace(PathBuf::from(&arg)).is_some() {
                return Err("give one storage directory".into());
            }
            continue;
        }
        let (name, inline) = match text.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (text, None),
        };
        let mut value = |what: &str| -> Result<OsString, String> {
            match &inline {
                Some(value) => Ok(value.into()),
                None => args.next().ok_or_else(|| format!("{name} needs {what}")),
            }
        };
        match name {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--json" => json = true,
            "--full" => full = true,
            "--limit" => {
                let value = value("a number or \"all\"")?;
                limit = match value.to_str() {
                    Some("all") => None,
                    Some(n) => Some(
                        n.parse::<u64>()
                            .map_err(|_| format!("--limit takes a number or \"all\", not {n:?}"))?,
                    ),
                    None => return Err("--limit takes a number or \"all\"".into()),
                };
            }
            "--key-file" => key_file = Some(PathBuf::from(value("a file")?)),
            "--key" | "--encryption-key" => {
                return Err(format!(
                    "{name} is not taken: a key on the command line is visible to other \
                     users in the process list; use --key-file FILE or {KEY_ENV}"
                ));
            }
            "--" => only_paths = true,
            _ => return Err(format!("unknown option {name}")),
        }
    }
    let dir = dir.ok_or("give the storage directory to inspect")?;
    let key = read_key(key_file)?;
    Ok(Parsed::Run(Options {
        dir,
        json,
        full,
        limit,
        key,
    }))
}

/// The key from `--key-file`, else from the environment, else none.
fn read_key(file: Option<PathBuf>) -> Result<Option<EncryptionKey>, String> {
    let (mut text, source) = match file {
        Some(file) => match std::fs::read_to_string(&file) {
            Ok(text) => (text, format!("the key file {}", file.display())),
            Err(e) => return Err(format!("cannot read the key file {}: {e}", file.display())),
        },
        None => match std::env::var(KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => (text, KEY_ENV.to_owned()),
            _ => return Ok(None),
        },
    };
    let key = EncryptionKey::from_hex(text.trim());
    // Best effort, as the library does with the config's copy.
    let mut bytes = std::mem::take(&mut text).into_bytes();
    bytes.fill(0);
    std::hint::black_box(&mut bytes);
    key.map(Some)
        .ok_or_else(|| format!("{source} does not hold a key of 64 hexadecimal characters"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Options, String> {
        match parse(args.iter().map(OsString::from))? {
            Parsed::Run(options) => Ok(options),
            Parsed::Help => Err("help".into()),
        }
    }

    #[test]
    fn options() {
        let o = run(&["--json", "--limit", "5", "--full", "dir"]).unwrap();
        assert!(o.json && o.full);
        assert_eq!((o.limit, o.dir), (Some(5), PathBuf::from("dir")));
        assert_eq!(run(&["--limit=all", "d"]).unwrap().limit, None);
        assert_eq!(run(&["d"]).unwrap().limit, Some(DEFAULT_LIMIT));
        assert_eq!(run(&["--", "-odd"]).unwrap().dir, PathBuf::from("-odd"));
    }

    #[test]
    fn refusals() {
        for bad in [
            &[][..],
            &["a", "b"],
            &["--limit", "x", "d"],
            &["--limit"],
            &["--bogus", "d"],
            &["--key", "00", "d"],
        ] {
            assert!(run(bad).is_err(), "{bad:?}");
        }
        assert!(
            run(&["--key=00", "d"])
                .unwrap_err()
                .contains("process list")
        );
    }
}
