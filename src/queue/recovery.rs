//! What opening a store reads back: the queue's bounds and counters from
//! fjall, and the intake files' entries that were not yet moved (replayed
//! into fjall before anything else happens).

use super::*;

/// Finds head, tail, count and size from the first and last records, and
/// where the intake's numbering goes on.
pub(super) fn load_state(
    inner: &mut Inner,
    intake: &mut Intake,
    open: &Open,
    sealer: Option<&Sealer>,
) -> fjall::Result<()> {
    let reserved = read_u64(&open.meta, META_RESERVED)?.unwrap_or(0);
    let saved_head = read_u64(&open.meta, META_HEAD)?.unwrap_or(0);
    inner.intake_moved = read_u64(&open.meta, META_INTAKE_MOVED)?.unwrap_or(0);
    let first = match open.queue.range(key_of(saved_head)..).next() {
        Some(guard) => Some(guard.into_inner()?),
        None => None,
    };
    let last = match open.queue.last_key_value() {
        Some(guard) => Some(guard.into_inner()?),
        None => None,
    };
    intake.reserved_until = reserved;
    intake.next_id = reserved.max(inner.intake_moved.saturating_add(1)).max(1);
    inner.count = 0;
    inner.bytes = 0;
    inner.written = 0;
    if let (Some((fk, fv)), Some((lk, lv))) = (first, last) {
        let first_id = fk.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
        let last_id = lk.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
        inner.head = first_id;
        inner.tail = last_id;
        intake.next_id = intake.next_id.max(last_id.saturating_add(1));
        match (
            Record::decode(&fk, &fv, sealer),
            Record::decode(&lk, &lv, sealer),
        ) {
            (Some(f), Some(l)) if l.position >= f.position && l.offset + l.size() >= f.offset => {
                inner.count = l.position - f.position + 1;
                inner.bytes = l.offset + l.size() - f.offset;
                intake.next_position = l.position + 1;
                intake.next_offset = l.offset + l.size();
            }
            _ => {
                // Damaged first or last record: count, and continue the
                // positions after the highest readable one so later counts
                // from first and last record stay right.
                let (mut position, mut offset) = (0, 0);
                for guard in open.queue.range(key_of(first_id)..) {
                    let (k, v) = guard.into_inner()?;
                    inner.count += 1;
                    if let Some(r) = Record::decode(&k, &v, sealer) {
                        inner.bytes += r.size();
                        position = position.max(r.position.saturating_add(1));
                        offset = offset.max(r.offset.saturating_add(r.size()));
                    }
                }
                intake.next_position = position.max(inner.count);
                intake.next_offset = offset.max(inner.bytes);
            }
        }
    } else {
        inner.head = intake.next_id;
        inner.tail = intake.next_id - 1;
        intake.next_position = 0;
        intake.next_offset = 0;
    }
    Ok(())
}

/// Moves the intake files' hits that are not in the database yet (after a
/// crash, or a write that failed) into it, durably, then empties the files.
/// Returns how many hits it moved.
pub(super) fn replay_intake(
    inner: &mut Inner,
    intake: &mut Intake,
    open: &Open,
) -> fjall::Result<u64> {
    let Some(files) = intake.files.as_mut() else {
        return Ok(0);
    };
    let already_moved = read_u64(&open.meta, META_INTAKE_MOVED)?.unwrap_or(0);
    let mut moved = already_moved;
    let mut replayed = 0;
    let mut since_rotation = 0;
    for index in files.oldest_first()? {
        let mut entries = files
            .reader(index)?
            .filter(|e| e.id > already_moved)
            .peekable();
        while entries.peek().is_some() {
            // In chunks, so a large intake is never read into memory whole.
            let mut batch = open.db.batch();
            let mut size = 0;
            for entry in entries.by_ref() {
                size += entry.payload.len();
                batch.insert(&open.queue, key_of(entry.id), entry.payload);
                moved = moved.max(entry.id);
                replayed += 1;
                if size >= MOVE_CHUNK_BYTES {
                    break;
                }
            }
            batch.insert(&open.meta, META_INTAKE_MOVED, moved.to_be_bytes());
            batch.commit()?;
            since_rotation += size as u64;
            if since_rotation >= MEMTABLE_BYTES {
                since_rotation = 0;
                // As the worker's moves do: one sealed memtable flushing
                // while the next fills bounds memory without leaving the
                // replay idle during each flush.
                rotate_memtable_keeping(&open.queue, Some(MAX_SEALED_MEMTABLES), || {});
            }
        }
    }
    if replayed > 0 {
        open.db.persist(PersistMode::SyncAll)?;
        inner.intake_moved = moved;
    }
    // Everything is in the database now; what was pending in memory too.
    intake.pending = intake::Pending::default();
    // A file that cannot be emptied keeps its entries (all moved); appends
    // then take the slow path, which replays again before they go on.
    intake.damaged = !files.empty_all();
    Ok(replayed)
}
