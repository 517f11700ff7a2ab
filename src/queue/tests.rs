//! The store's own unit tests: FIFO across reopen, the lock, eviction and
//! expiry, a newer format refused, what an open reports.

use super::*;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("offtrack-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn open(path: &Path) -> Store {
    Store::open(StorageDir::open(path).unwrap(), 0, None)
        .unwrap()
        .0
}

#[test]
fn fifo_survives_reopen() {
    let path = temp_dir("fifo");
    let store = open(&path);
    for i in 0..10 {
        store
            .append(&format!("http://h/c?i={i}"), 1000 + i)
            .unwrap();
    }
    let head = store.head().unwrap().unwrap().unwrap();
    assert_eq!(store.remove_head(head.id).unwrap(), Some(head.size()));
    assert_eq!(store.remove_head(head.id).unwrap(), None);
    drop(store);
    let store = open(&path);
    assert_eq!(store.count(), 9);
    let all = store.oldest(100).unwrap();
    assert_eq!(all.len(), 9);
    assert_eq!(all[0].url, "http://h/c?i=1");
    assert_eq!(store.latest().unwrap().unwrap().url, "http://h/c?i=9");
    assert_eq!(store.bytes(), all.iter().map(Record::size).sum::<u64>());
    let next_id = store.append("http://h/c?i=10", 0).unwrap().id;
    assert!(next_id > all[8].id);
    drop(store);
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn second_open_is_locked() {
    let path = temp_dir("lock");
    let _store = open(&path);
    let err = StorageDir::open(&path).unwrap_err();
    assert_eq!(err.code, crate::error::TRACKER_ERROR_LOCKED);
    assert!(err.message.contains(&path.display().to_string()));
}

#[test]
fn eviction_and_expiry() {
    let path = temp_dir("evict");
    let store = open(&path);
    for i in 0..5u64 {
        store.append("http://h/c?a=1", i * 10).unwrap();
    }
    let evicted = store.evict_over(3, u64::MAX, u64::MAX, 0).unwrap();
    assert_eq!(evicted.len(), 2);
    assert_eq!(store.count(), 3);
    assert_eq!(store.remove_older_than(35, 10).unwrap().len(), 2);
    assert_eq!(store.count(), 1);
    let ids_before = store.last_id();
    assert_eq!(store.remove_all(10).unwrap().len(), 1);
    assert_eq!(store.count(), 0);
    assert!(store.append("http://h/c?b=1", 0).unwrap().id > ids_before);
    drop(store);
    let store = open(&path);
    assert_eq!(store.count(), 1);
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn newer_format_is_refused() {
    let path = temp_dir("format");
    drop(open(&path));
    std::fs::write(path.join("FORMAT"), "99\n").unwrap();
    let err = StorageDir::open(&path).unwrap_err();
    assert_eq!(err.code, crate::error::TRACKER_ERROR_STORAGE);
    assert!(path.join("queue").exists());
    let _ = std::fs::remove_dir_all(&path);
}

#[test]
fn the_consent_choice_is_remembered_and_a_legacy_opt_out_reads_as_denied() {
    use crate::consent::Consent;
    let path = temp_dir("consent");
    let dir = StorageDir::open(&path).unwrap();
    assert_eq!(dir.consent(), None, "no choice made yet");
    // A directory an opted-out player left with a library before consent states.
    std::fs::write(path.join("OPT_OUT"), "1\n").unwrap();
    assert_eq!(dir.consent(), Some(Consent::Denied));
    dir.set_consent(Consent::Pending).unwrap();
    assert_eq!(dir.consent(), Some(Consent::Pending));
    assert!(!path.join("OPT_OUT").exists());
    dir.set_consent(Consent::Denied).unwrap();
    assert_eq!(dir.consent(), Some(Consent::Denied));
    assert!(
        path.join("OPT_OUT").exists(),
        "older libraries see the denial"
    );
    dir.set_consent(Consent::Granted).unwrap();
    assert_eq!(dir.consent(), Some(Consent::Granted));
    assert!(!path.join("OPT_OUT").exists());
    // A kill between the two steps: CONSENT, written first, wins.
    std::fs::write(path.join("OPT_OUT"), "1\n").unwrap();
    assert_eq!(dir.consent(), Some(Consent::Granted));
    // Damaged: nothing is sent and nothing lost until the app asks again.
    std::fs::write(path.join("CONSENT"), "maybe\n").unwrap();
    assert_eq!(dir.consent(), Some(Consent::Pending));
    drop(dir);
    let _ = std::fs::remove_dir_all(&path);
}

/// Copies a storage directory as it is on disk (but its lock), as a kill
/// would leave it.
fn copy_as_killed(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_as_killed(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_open_reports_intake_hits_it_replayed_and_why_a_queue_was_moved_aside() {
    let (path, killed) = (temp_dir("report"), temp_dir("report-killed"));
    let store = open(&path);
    for i in 0..3 {
        store.append(&format!("http://h/c?i={i}"), 1).unwrap();
    }
    // The hits are in the intake files only: what a kill now leaves.
    copy_as_killed(&path, &killed);
    drop(store);
    let (store, report) = Store::open(StorageDir::open(&killed).unwrap(), 0, None).unwrap();
    assert_eq!((report.intake_replayed, store.count()), (3, 3));
    assert!(report.moved_aside.is_none() && report.damage.is_none());
    drop(store);
    let (store, report) = Store::open(StorageDir::open(&killed).unwrap(), 0, None).unwrap();
    assert_eq!((report.intake_replayed, store.count()), (0, 3));
    drop(store);

    std::fs::write(killed.join("queue").join("version"), b"garbage").unwrap();
    let (store, report) = Store::open(StorageDir::open(&killed).unwrap(), 7, None).unwrap();
    assert_eq!(report.moved_aside, Some(killed.join("damaged-7")));
    assert!(report.damage.is_some_and(|why| !why.is_empty()));
    assert_eq!(store.count(), 0);
    drop(store);
    let _ = std::fs::remove_dir_all(&path);
    let _ = std::fs::remove_dir_all(&killed);
}
