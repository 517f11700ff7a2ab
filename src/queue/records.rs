//! Reading and changing what is queued in fjall: the head, the oldest and
//! latest records, ranges, updates of a record, and removals from the head
//! (delivered, expired, deleted by the app).

use super::*;

/// Rough memtable cost of one removal, and of one entry beyond its bytes
/// (skiplist node, key, sequence number), so rotation follows memory use.
pub(super) const TOMBSTONE_BYTES: u64 = 96;
impl Store {
    /// The queued entries from `head` on, oldest first: id, key, value.
    pub(super) fn queued<'a>(
        &'a self,
        open: &'a Open,
        head: u64,
    ) -> impl Iterator<Item = Result<(u64, fjall::Slice, fjall::Slice)>> + 'a {
        open.queue.range(key_of(head)..).map(move |guard| {
            let (key, value) = guard
                .into_inner()
                .map_err(|e| storage_error(self.dir.path(), "read", &e))?;
            let id = key.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
            Ok((id, key, value))
        })
    }

    /// Rewrites a stored record (attempts, flags) if it is still queued.
    pub fn update(&self, record: &Record) -> Result<bool> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        if record.id < inner.head || record.id > inner.tail {
            return Ok(false);
        }
        let open = inner.open.as_ref().ok_or_else(closed)?;
        match open.queue.contains_key(key_of(record.id)) {
            Ok(true) => {}
            Ok(false) => return Ok(false),
            Err(e) => return Err(storage_error(self.dir.path(), "read", &e)),
        }
        let encoded = self.sealing(|sealer| record.encode(sealer))?;
        if let Err(e) = open.queue.insert(key_of(record.id), &encoded) {
            inner.broken = true;
            return Err(storage_error(self.dir.path(), "write", &e));
        }
        self.note_written(
            &mut inner,
            encoded.len() as u64 + ENTRY_OVERHEAD_BYTES,
            false,
        );
        Ok(true)
    }

    /// The oldest stored hit. A record that cannot be decoded is returned as
    /// `Err((id, message))` so the caller can drop it and report that.
    pub fn head(&self) -> Result<Option<std::result::Result<Record, u64>>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        Ok(self.scan(&inner, 1)?.pop())
    }

    /// Up to `max` of the oldest stored hits, in order; a record that
    /// cannot be decoded is `Err(id)`, as in `head`.
    pub fn head_records(&self, max: u64) -> Result<Vec<std::result::Result<Record, u64>>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        self.scan(&inner, max)
    }

    /// Up to `max` hits, oldest first; undecodable ones are skipped.
    pub fn oldest(&self, max: u64) -> Result<Vec<Record>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        Ok(self
            .scan(&inner, max)?
            .into_iter()
            .filter_map(|r| r.ok())
            .collect())
    }

    /// The newest stored hit.
    pub fn latest(&self) -> Result<Option<Record>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        if inner.count == 0 {
            return Ok(None);
        }
        let open = inner.open.as_ref().ok_or_else(closed)?;
        let value = open
            .queue
            .get(key_of(inner.tail))
            .map_err(|e| storage_error(self.dir.path(), "read", &e))?;
        Ok(value.and_then(|v| Record::decode(&key_of(inner.tail), &v, self.sealer.as_ref())))
    }

    pub(super) fn scan(
        &self,
        inner: &Inner,
        max: u64,
    ) -> Result<Vec<std::result::Result<Record, u64>>> {
        let mut out = Vec::new();
        if inner.count == 0 || max == 0 {
            return Ok(out);
        }
        let open = inner.open.as_ref().ok_or_else(closed)?;
        for entry in self.queued(open, inner.head) {
            let (id, key, value) = entry?;
            out.push(Record::decode(&key, &value, self.sealer.as_ref()).ok_or(id));
            if out.len() as u64 >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Up to `max` stored hits with ids in `from..=to`, oldest first.
    pub fn records_between(&self, from: u64, to: u64, max: usize) -> Result<Vec<Record>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        let from = from.max(inner.head);
        if inner.count == 0 || from > to {
            return Ok(Vec::new());
        }
        let open = inner.open.as_ref().ok_or_else(closed)?;
        let mut out = Vec::new();
        for guard in open.queue.range(key_of(from)..=key_of(to)) {
            let (key, value) = guard
                .into_inner()
                .map_err(|e| storage_error(self.dir.path(), "read", &e))?;
            if let Some(record) = Record::decode(&key, &value, self.sealer.as_ref()) {
                out.push(record);
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }

    /// Creation time of the oldest stored hit.
    pub fn oldest_created_ms(&self) -> Result<Option<u64>> {
        Ok(self.head()?.and_then(|r| r.ok()).map(|r| r.created_ms))
    }

    /// Removes the hit `id` if it is the head of the queue. Returns the
    /// removed record's size, or `None` if it was already gone.
    pub fn remove_head(&self, id: u64) -> Result<Option<u64>> {
        let mut inner = self.inner.lock();
        // The head was read from fjall (which moved the intake); not moving
        // it again here keeps this cheap under the tracker's state lock.
        self.usable_without_moving(&mut inner)?;
        if id < inner.head || inner.count == 0 {
            return Ok(None);
        }
        let removed = self.remove_prefix(&mut inner, |rid, _| rid == id, 1, 0)?;
        Ok(removed.first().map(|r| r.size))
    }

    /// Removes the hits of `ids` (ascending, as read from the head) that
    /// are still at the head, stopping at the first other one; returns the
    /// ids removed. Hits the app removed meanwhile are simply not there.
    pub fn remove_head_ids(&self, ids: &[u64]) -> Result<Vec<u64>> {
        let mut inner = self.inner.lock();
        self.usable_without_moving(&mut inner)?;
        if inner.count == 0 || ids.is_empty() {
            return Ok(Vec::new());
        }
        let removed = self.remove_prefix(
            &mut inner,
            |id, _| ids.binary_search(&id).is_ok(),
            ids.len() as u64,
            0,
        )?;
        Ok(removed.into_iter().map(|r| r.id).collect())
    }

    /// Removes up to `max` of the oldest hits created before `cutoff_ms`
    /// and returns them (for expiry, whose events carry the hit).
    pub fn expire(&self, cutoff_ms: u64, max: u64) -> Result<Vec<Removed>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        self.remove_prefix(
            &mut inner,
            |_, r| r.is_some_and(|r| r.created_ms < cutoff_ms),
            max,
            usize::MAX,
        )
    }

    /// Removes from the head while `keep_going` says so, at most `max` hits.
    /// `keep_going` gets the id and the record (`None` if it cannot be
    /// decoded); the first `keep_records` removed records are returned whole.
    pub(super) fn remove_prefix(
        &self,
        inner: &mut Inner,
        mut keep_going: impl FnMut(u64, Option<&Record>) -> bool,
        max: u64,
        keep_records: usize,
    ) -> Result<Vec<Removed>> {
        let mut removed: Vec<Removed> = Vec::new();
        let open = inner.open.as_ref().ok_or_else(closed)?;
        let mut batch = open.db.batch();
        let mut next_head = None;
        for entry in self.queued(open, inner.head) {
            let (id, key, value) = entry?;
            let record = Record::decode(&key, &value, self.sealer.as_ref());
            if removed.len() as u64 >= max || !keep_going(id, record.as_ref()) {
                next_head = Some(id);
                break;
            }
            let size = record.as_ref().map_or(value.len() as u64, Record::size);
            let record = record.filter(|_| removed.len() < keep_records);
            batch.remove(&open.queue, key);
            removed.push(Removed { id, size, record });
        }
        if removed.is_empty() {
            return Ok(removed);
        }
        if let Err(e) = batch.commit() {
            inner.broken = true;
            return Err(storage_error(self.dir.path(), "write", &e));
        }
        let freed: u64 = removed.iter().map(|r| r.size).sum();
        self.note_written(inner, TOMBSTONE_BYTES * removed.len() as u64, false);
        inner.count = inner.count.saturating_sub(removed.len() as u64);
        inner.bytes = inner.bytes.saturating_sub(freed);
        inner.head = next_head.unwrap_or(inner.tail + 1);
        if inner.count == 0 {
            inner.bytes = 0;
            inner.head = inner.tail + 1;
        }
        self.publish(inner);
        Ok(removed)
    }

    /// Removes the oldest hits created before `cutoff_ms` (up to the first
    /// newer one); the first `keep_records` are returned whole.
    pub fn remove_older_than(&self, cutoff_ms: u64, keep_records: usize) -> Result<Vec<Removed>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        let removed = self.remove_prefix(
            &mut inner,
            |_, r| r.is_none_or(|r| r.created_ms < cutoff_ms),
            u64::MAX,
            keep_records,
        )?;
        if inner.count == 0 && !removed.is_empty() {
            self.recycle(&mut inner)?;
        }
        Ok(removed)
    }

    /// Removes every stored hit and replaces the database files, so the
    /// hits' bytes are gone from the directory, not just marked deleted.
    /// The first `keep_records` are returned whole.
    pub fn remove_all(&self, keep_records: usize) -> Result<Vec<Removed>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        let mut removed = Vec::new();
        if inner.count > 0 {
            let open = inner.open.as_ref().ok_or_else(closed)?;
            for entry in self.queued(open, inner.head) {
                let (id, key, value) = entry?;
                // Only the first `keep_records` keep their text, so a huge
                // queue is not copied into memory.
                let record = (removed.len() < keep_records)
                    .then(|| Record::decode(&key, &value, self.sealer.as_ref()))
                    .flatten();
                let size = record.as_ref().map_or(0, Record::size);
                removed.push(Removed { id, size, record });
            }
        }
        self.recycle(&mut inner)?;
        Ok(removed)
    }
}
