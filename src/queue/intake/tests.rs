//! The intake's entries and its guards around the mapped window.

use super::*;

#[test]
fn entries_round_trip_and_stop_at_damage() {
    let mut pending = Pending::default();
    pending.push(7, 5, |out| out.extend_from_slice(b"first"));
    pending.push(9, 6, |out| out.extend_from_slice(b"second"));
    let bytes = pending.entries.clone();
    let listed: Vec<_> = pending.iter().map(|(id, p)| (id, p.to_vec())).collect();
    assert_eq!(
        listed,
        vec![(7, b"first".to_vec()), (9, b"second".to_vec())]
    );
    let parsed = parse(&bytes);
    assert_eq!(parsed.len(), 2);
    assert_eq!(
        (parsed[1].id, parsed[1].payload.as_slice()),
        (9, &b"second"[..])
    );
    // A cut-off last entry and a flipped byte both end the read there.
    assert_eq!(parse(&bytes[..bytes.len() - 1]).len(), 1);
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(parse(&flipped).len(), 1);
}

/// While a window is being prepared its file is neither emptied nor
/// released (cut, unmapped); once finished it is.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn a_file_being_prepared_is_not_emptied_or_released() {
    let dir = std::env::temp_dir().join(format!("offtrack-intake-guard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = IntakeFiles::open(&dir).unwrap();
    files.map();
    let mut pending = Pending::default();
    let entry = pending
        .push(1, 5, |out| out.extend_from_slice(b"hello"))
        .to_vec();
    files.append(&entry).unwrap();
    if files.maps[files.active()].is_none() {
        // No mapping on this filesystem (it rewrites in place): nothing
        // is ever prepared, so there is nothing to guard.
        eprintln!("no mapped window here: guard test skipped");
        return;
    }
    let preparing = files.plan_preparation().expect("a window to prepare");
    let active = files.active();
    assert!(
        files.plan_preparation().is_none(),
        "one preparation at a time"
    );
    assert!(
        files.start_emptying(active).is_none(),
        "emptied while prepared"
    );
    assert!(preparing.run());
    files.finish_preparation(preparing, true);
    let emptier = files.start_emptying(active).expect("emptied once prepared");
    assert!(
        files.start_emptying(active).is_none(),
        "one emptier at a time"
    );
    assert!(files.plan_preparation().is_none(), "prepared while emptied");
    files.finish_emptying(active, emptier.run());
    assert_eq!(files.active_len(), 0);

    let preparing = files.plan_preparation().expect("a new window");
    assert!(!files.release(), "released while prepared");
    // The mapping was kept (and leaked), so the preparation is still safe.
    assert!(preparing.run());
    let _ = std::fs::remove_dir_all(&dir);
}
