//! Keeping the queue within `max_queue_hits` / `max_queue_bytes`: which
//! hits a move of the intake drops (`Trim`, `Cut`), dropping everything
//! older once newer sends fill the queue, the sender's signal that a flood
//! has left the worker behind, eviction from fjall's head, and the backlog
//! of dropped hits whose events the tracker owes. No I/O of its own
//! beyond fjall removals.

use super::*;

/// What a move drops for the limits: the trim still going on (`Trim::done`
/// once the queue fits), the hits dropped from the batch, and how many more
/// may keep their record.
pub(super) struct Cut {
    /// Not an `Option`: the optimizer may read a `None`'s uninitialized
    /// payload before its tag (harmless, but memcheck, which the
    /// reliability suite runs, reports the branch on it).
    pub(super) trim: Trim,
    pub(super) dropped: Vec<Removed>,
    pub(super) keep_text: usize,
    /// The move watches the hits sent since its batch was taken
    /// (`newer_fill_the_queue`); set when limits apply.
    pub(super) watch_newer: bool,
    /// The hits sent since the batch was taken fill the queue alone: the
    /// rest of the batch is dropped unwritten.
    pub(super) doomed: bool,
}

/// How many of the hits dropped by moves keep their record (for the text
/// of their events) until the tracker takes them.
pub(super) const EVICTED_TEXT: usize = 4096;

/// Decides, oldest first, which hits to drop so that the queue fits its
/// limits, keeping at least the newest hit.
pub(super) struct Trim {
    /// Hits and URL bytes the queue would hold if nothing more is dropped.
    pub(super) left: (u64, u64),
    pub(super) max: (u64, u64),
}

impl Trim {
    /// A trim that drops nothing more.
    pub(super) fn done() -> Trim {
        Trim {
            left: (0, 0),
            max: (0, 0),
        }
    }

    pub(super) fn over(&self) -> bool {
        self.left.0 > 1 && (self.left.0 > self.max.0 || self.left.1 > self.max.1)
    }

    /// Whether the next-oldest hit, of `size` URL bytes, is dropped.
    pub(super) fn drops(&mut self, size: u64) -> bool {
        if !self.over() {
            return false;
        }
        self.left = (self.left.0 - 1, self.left.1.saturating_sub(size));
        true
    }
}

/// `Appended::outrun`: the hits waiting in the active intake file are this
/// many times the queue's limits, and the file is at least this large.
pub(super) const OUTRUN_LIMITS: u64 = 2;
pub(super) const OUTRUN_FILE_BYTES: u64 = 16 * 1024 * 1024;
impl Store {
    /// The queue's limits, which moving the intake into fjall applies.
    pub fn set_limits(&self, max_hits: u64, max_bytes: u64) {
        self.limits.set(max_hits, max_bytes);
    }

    /// Takes the hits moves have dropped for the limits, oldest first.
    pub fn take_evicted(&self) -> Vec<Removed> {
        self.evicted.take()
    }

    /// Moves dropped hits whose events are still to be given.
    pub fn has_evicted(&self) -> bool {
        !self.evicted.is_empty()
    }

    pub(super) fn note_evicted(&self, removed: Vec<Removed>) {
        if !removed.is_empty() {
            self.evicted.push(removed);
        }
    }

    /// The trim that moving `hits` needs (`Trim::done` if none).
    pub(super) fn trim_for(&self, inner: &Inner, hits: &intake::Pending) -> Trim {
        let trim = Trim {
            left: (inner.count + hits.count(), inner.bytes + hits.url_bytes()),
            max: (self.limits.max_hits(), self.limits.max_bytes()),
        };
        if trim.over() { trim } else { Trim::done() }
    }

    /// The first part of a trim: the oldest hits in fjall, while the queue
    /// with the batch being moved is over a limit.
    pub(super) fn trim_fjall(&self, inner: &mut Inner, cut: &mut Cut) -> Result<()> {
        if !cut.trim.over() {
            return Ok(());
        }
        let trim = &mut cut.trim;
        if inner.count > 0 {
            let removed = self.remove_prefix(
                inner,
                |_, r| trim.drops(r.map_or(0, Record::size)),
                u64::MAX,
                cut.keep_text,
            )?;
            cut.keep_text = cut.keep_text.saturating_sub(removed.len());
            self.note_evicted(removed);
        }
        Ok(())
    }

    /// Records dropped from a move: the first `EVICTED_TEXT` waiting keep
    /// their record.
    pub(super) fn dropped_entry(&self, keep_text: &mut usize, id: u64, payload: &[u8]) -> Removed {
        let record = (*keep_text > 0)
            .then(|| Record::decode(&key_of(id), payload, self.sealer.as_ref()))
            .flatten();
        *keep_text = keep_text.saturating_sub(1);
        Removed {
            id,
            size: Record::url_len_of(payload),
            record,
        }
    }

    /// Whether the hits sent since the batch being moved was taken fill
    /// the queue on their own: every hit of the batch, and everything in
    /// fjall, is then older than what the limits keep. Under a flood of
    /// sends at a full queue the move stops writing to fjall there, so it
    /// keeps pace with the sends (reading the file is all that is left) and
    /// the intake files stay within about the queue's size.
    pub(super) fn newer_fill_the_queue(&self) -> bool {
        let intake = self.intake.lock();
        let newer = &intake.pending;
        newer.count() > 0
            && (newer.count() >= self.limits.max_hits()
                || newer.url_bytes() >= self.limits.max_bytes())
    }

    /// Once the newer hits fill the queue (`newer_fill_the_queue`), drops
    /// everything in fjall, the oldest first, and marks the move doomed.
    pub(super) fn doom_if_overtaken(&self, inner: &mut Inner, cut: &mut Cut) -> Result<()> {
        if !cut.watch_newer || cut.doomed || !self.newer_fill_the_queue() {
            return Ok(());
        }
        cut.doomed = true;
        cut.trim = Trim::done();
        // What the trim dropped from the batch so far is older than
        // anything of it in fjall: its events come first.
        self.note_evicted(std::mem::take(&mut cut.dropped));
        if inner.count > 0 {
            let removed = self.remove_prefix(inner, |_, _| true, u64::MAX, cut.keep_text)?;
            cut.keep_text = cut.keep_text.saturating_sub(removed.len());
            self.note_evicted(removed);
        }
        Ok(())
    }

    /// Whether the hits waiting in the active intake file are so many that
    /// the worker cannot be keeping up: `OUTRUN_LIMITS` times the queue's
    /// limits, in a file past `OUTRUN_FILE_BYTES`. A move stops writing to
    /// fjall once the newer hits fill the queue (`newer_fill_the_queue`),
    /// so only a worker starved of CPU falls this far behind.
    pub(super) fn outrun(&self, pending: &intake::Pending, files: Option<&IntakeFiles>) -> bool {
        let (max_hits, max_bytes) = (self.limits.max_hits(), self.limits.max_bytes());
        (pending.count() >= max_hits.saturating_mul(OUTRUN_LIMITS)
            || pending.url_bytes() >= max_bytes.saturating_mul(OUTRUN_LIMITS))
            && files.is_some_and(|f| f.active_len() >= OUTRUN_FILE_BYTES)
    }

    /// Removes the oldest hits while the queue is over either limit, keeping
    /// at least the newest hit; at most `max` of them (the caller repeats
    /// while a full batch came back), the first `keep_records` whole.
    pub fn evict_over(
        &self,
        max_hits: u64,
        max_bytes: u64,
        max: u64,
        keep_records: usize,
    ) -> Result<Vec<Removed>> {
        let mut inner = self.inner.lock();
        self.usable(&mut inner)?;
        if inner.count <= max_hits && inner.bytes <= max_bytes {
            return Ok(Vec::new());
        }
        let mut left = (inner.count, inner.bytes);
        self.remove_prefix(
            &mut inner,
            |_, r| {
                let over = left.0 > 1 && (left.0 > max_hits || left.1 > max_bytes);
                left = (left.0 - 1, left.1.saturating_sub(r.map_or(0, Record::size)));
                over
            },
            max,
            keep_records,
        )
    }
}

/// `max_queue_hits` / `max_queue_bytes`, read without a lock by sends and
/// moves; unlimited until `Store::set_limits`.
pub(super) struct Limits {
    max_hits: AtomicU64,
    max_bytes: AtomicU64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_hits: AtomicU64::new(u64::MAX),
            max_bytes: AtomicU64::new(u64::MAX),
        }
    }
}

impl Limits {
    pub(super) fn set(&self, max_hits: u64, max_bytes: u64) {
        self.max_hits.store(max_hits, Ordering::Relaxed);
        self.max_bytes.store(max_bytes, Ordering::Relaxed);
    }

    pub(super) fn max_hits(&self) -> u64 {
        self.max_hits.load(Ordering::Relaxed)
    }

    pub(super) fn max_bytes(&self) -> u64 {
        self.max_bytes.load(Ordering::Relaxed)
    }
}

/// The hits moves dropped for the limits, oldest first, until the tracker
/// takes them to give each its DROPPED event.
#[derive(Default)]
pub(super) struct Evicted {
    removed: Mutex<Vec<Removed>>,
}

impl Evicted {
    pub(super) fn push(&self, removed: Vec<Removed>) {
        self.removed.lock().extend(removed);
    }

    pub(super) fn take(&self) -> Vec<Removed> {
        std::mem::take(&mut *self.removed.lock())
    }

    pub(super) fn len(&self) -> usize {
        self.removed.lock().len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.removed.lock().is_empty()
    }
}
