//! The store's encryption at rest: no hit text in any file, in the intake,
//! the journal or the tables; which key opens which store, refusals
//! leaving every file as it was; nonces unique across reopens and epochs;
//! swapped records refused; the key check let go of at an empty close.

use super::*;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
const OTHER: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("offtrack-sealed-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open_with(path: &Path, key: Option<&str>) -> Result<Store> {
    let key = key.map(|k| EncryptionKey::from_hex(k).unwrap());
    Store::open(StorageDir::open(path)?, 0, key.as_ref()).map(|(store, _)| store)
}

/// Every file under `root` with its bytes.
fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Paths whose bytes differ between two `files` snapshots (or exist in one only).
fn changed(a: &BTreeMap<PathBuf, Vec<u8>>, b: &BTreeMap<PathBuf, Vec<u8>>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = a
        .iter()
        .filter(|(path, bytes)| b.get(*path) != Some(*bytes))
        .map(|(path, _)| path.clone())
        .collect();
    out.extend(b.keys().filter(|path| !a.contains_key(*path)).cloned());
    out
}

fn containing(root: &Path, marker: &[u8]) -> Vec<PathBuf> {
    files(root)
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(marker.len()).any(|w| w == marker))
        .map(|(path, _)| path)
        .collect()
}

fn hit(i: u64) -> String {
    format!("http://h/c?i={i}&user=MARKER{i:06}&pad={}", "p".repeat(300))
}

#[test]
fn no_hit_text_reaches_any_file() {
    let path = temp_dir("text");
    let store = open_with(&path, Some(KEY)).unwrap();
    assert!(store.encrypted());
    // Over 1 MiB: the moves rotate memtables, which fjall writes as tables.
    let n = 4000;
    for i in 0..n {
        store.append(&hit(i), 1000 + i).unwrap();
    }
    assert_eq!(containing(&path, b"MARKER"), Vec::<PathBuf>::new());
    store.absorb_intake().unwrap();
    store.sync().unwrap();
    assert_eq!(containing(&path, b"MARKER"), Vec::<PathBuf>::new());
    drop(store);
    assert_eq!(containing(&path, b"MARKER"), Vec::<PathBuf>::new());
    assert!(
        files(&path.join("queue"))
            .values()
            .map(Vec::len)
            .sum::<usize>()
            > 1 << 20
    );

    let store = open_with(&path, Some(KEY)).unwrap();
    let all = store.oldest(u64::MAX).unwrap();
    assert_eq!(all.len() as u64, n);
    for (i, record) in all.iter().enumerate() {
        assert_eq!(
            (record.url.clone(), record.created_ms),
            (hit(i as u64), 1000 + i as u64)
        );
    }
    assert_eq!(store.latest().unwrap().unwrap().url, hit(n - 1));
    assert_eq!(store.bytes(), all.iter().map(Record::size).sum::<u64>());
    drop(store);

    // The same without a key puts the text on disk: the check above means something.
    let plain = temp_dir("text-plain");
    let store = open_with(&plain, None).unwrap();
    store.append(&hit(1), 0).unwrap();
    drop(store);
    assert!(!containing(&plain, b"MARKER").is_empty());
    let _ = std::fs::remove_dir_all(&path);
    let _ = std::fs::remove_dir_all(&plain);
}

#[test]
fn another_key_or_none_is_refused_and_nothing_is_touched() {
    let path = temp_dir("refused");
    let store = open_with(&path, Some(KEY)).unwrap();
    for i in 0..10 {
        store.append(&hit(i), i).unwrap();
    }
    drop(store);
    let before = files(&path);
    for (key, says) in [
        (Some(OTHER), "encrypted with another key"),
        (None, "encryption_key is required"),
    ] {
        let err = open_with(&path, key).err().unwrap();
        assert_eq!(err.code, crate::error::TRACKER_ERROR_STORAGE);
        assert!(err.message.contains(says), "{}", err.message);
        let lower = err.message.to_lowercase();
        assert!(!lower.contains(&KEY.to_lowercase()[..16]) && !lower.contains(&OTHER[..16]));
        assert_eq!(
            changed(&before, &files(&path)),
            Vec::<PathBuf>::new(),
            "{says}"
        );
    }
    assert!(
        !std::fs::read_dir(&path)
            .unwrap()
            .flatten()
            .any(|e| { e.file_name().to_string_lossy().starts_with("damaged") })
    );
    let store = open_with(&path, Some(KEY)).unwrap();
    assert_eq!(store.count(), 10);
    drop(store);

    std::fs::write(path.join("KEYCHECK"), "offtrack keycheck 1\nsalt 00\n").unwrap();
    let before = files(&path);
    let err = open_with(&path, Some(KEY)).err().unwrap();
    assert!(
        err.message.contains("unreadable KEYCHECK"),
        "{}",
        err.message
    );
    assert_eq!(changed(&before, &files(&path)), Vec::<PathBuf>::new());
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn a_plain_store_with_hits_is_refused_an_empty_one_starts_sealing() {
    let path = temp_dir("plain");
    let store = open_with(&path, None).unwrap();
    for i in 0..5 {
        store.append(&hit(i), i).unwrap();
    }
    drop(store);
    let before = files(&path);
    let err = open_with(&path, Some(KEY)).err().unwrap();
    assert_eq!(err.code, crate::error::TRACKER_ERROR_STORAGE);
    assert!(
        err.message.contains("holds unencrypted hits"),
        "{}",
        err.message
    );
    // Telling needs fjall to read the queue, and fjall's open deletes its
    // own superseded version files; nothing else changes.
    let superseded_version = |path: &PathBuf| {
        let name = path.file_name().unwrap().to_string_lossy();
        path.parent()
            .unwrap()
            .parent()
            .unwrap()
            .ends_with("keyspaces")
            && name.starts_with('v')
            && name[1..].bytes().all(|b| b.is_ascii_digit())
    };
    let changes = changed(&before, &files(&path));
    assert!(changes.iter().all(superseded_version), "{changes:?}");

    let store = open_with(&path, None).unwrap();
    assert_eq!(store.count(), 5);
    assert_eq!(store.remove_all(0).unwrap().len(), 5);
    drop(store);
    let store = open_with(&path, Some(KEY)).unwrap();
    assert!(store.encrypted() && path.join("KEYCHECK").exists());
    store.append(&hit(9), 9).unwrap();
    drop(store);
    assert_eq!(std::fs::read_to_string(path.join("FORMAT")).unwrap(), "3\n");
    assert_eq!(
        open_with(&path, Some(KEY)).unwrap().oldest(9).unwrap()[0].url,
        hit(9)
    );
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn a_store_emptied_and_closed_cleanly_may_change_its_key() {
    let path = temp_dir("rekey");
    let store = open_with(&path, Some(KEY)).unwrap();
    for i in 0..3 {
        store.append(&hit(i), i).unwrap();
    }
    assert_eq!(store.remove_all(0).unwrap().len(), 3);
    drop(store);
    assert!(!path.join("KEYCHECK").exists());
    let store = open_with(&path, Some(OTHER)).unwrap();
    store.append(&hit(7), 7).unwrap();
    drop(store);
    assert!(path.join("KEYCHECK").exists());
    assert!(open_with(&path, Some(KEY)).is_err());
    assert!(open_with(&path, None).is_err());
    assert_eq!(
        open_with(&path, Some(OTHER)).unwrap().oldest(9).unwrap()[0].url,
        hit(7)
    );
    let _ = std::fs::remove_dir_all(&path);
}

/// Every stored value's nonce, read straight from fjall.
fn stored_nonces(store: &Store) -> Vec<([u8; 12], Vec<u8>)> {
    let inner = store.inner.lock();
    let open = inner.open.as_ref().unwrap();
    open.queue
        .iter()
        .map(|guard| {
            let (_, value) = guard.into_inner().unwrap();
            (value[30..42].try_into().unwrap(), value.to_vec())
        })
        .collect()
}

#[test]
fn nonces_never_repeat_across_reopens_epochs_and_updates() {
    let path = temp_dir("nonces");
    // Each nonce with the one value sealed under it.
    let mut seen: HashMap<[u8; 12], Vec<u8>> = HashMap::new();
    let mut note = |store: &Store| {
        for (nonce, value) in stored_nonces(store) {
            let first = seen.entry(nonce).or_insert_with(|| value.clone());
            assert_eq!(*first, value, "a nonce used for two values");
        }
    };
    let mut epochs = Vec::new();
    for run in 0..6u64 {
        let store = open_with(&path, Some(KEY)).unwrap();
        epochs.push(store.dir().key_check().unwrap().unwrap().1);
        if run >= 3 {
            // Epochs run out within the run: new ones are taken on the way.
            store.sealer.as_ref().unwrap().set_seals_per_epoch(7);
        }
        for i in 0..40 {
            store.append(&hit(run * 100 + i), i).unwrap();
        }
        store.absorb_intake().unwrap();
        note(&store);
        for mut record in store.oldest(10).unwrap() {
            record.attempts += 1;
            assert!(store.update(&record).unwrap());
        }
        note(&store);
        let expected = (run + 1) * 40;
        assert_eq!(store.oldest(u64::MAX).unwrap().len() as u64, expected);
        drop(store);
    }
    assert!(epochs.windows(2).all(|w| w[1] > w[0]), "{epochs:?}");
    assert_eq!(seen.len(), 6 * 40 + 6 * 10);
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn swapped_records_do_not_open() {
    let path = temp_dir("swap");
    let store = open_with(&path, Some(KEY)).unwrap();
    for i in 0..3 {
        store.append(&hit(i), i).unwrap();
    }
    let ids: Vec<u64> = store.oldest(3).unwrap().iter().map(|r| r.id).collect();
    {
        let inner = store.inner.lock();
        let open = inner.open.as_ref().unwrap();
        let value = |id| open.queue.get(key_of(id)).unwrap().unwrap();
        let (a, b) = (value(ids[0]), value(ids[1]));
        open.queue.insert(key_of(ids[0]), b).unwrap();
        open.queue.insert(key_of(ids[1]), a).unwrap();
    }
    let head = store.head_records(3).unwrap();
    assert_eq!(head[0], Err(ids[0]));
    assert_eq!(head[1], Err(ids[1]));
    assert_eq!(head[2].as_ref().unwrap().url, hit(2));
    drop(store);
    let _ = std::fs::remove_dir_all(&path);
}
