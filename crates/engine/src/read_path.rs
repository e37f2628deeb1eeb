//! The requester's one read path: which way a read goes (a hedged request to the replica threads,
//! a steered read, or a direct load of copy 0) and the counters every read adds to, for the slot
//! reads of `Slayer` and the record reads of `Records` alike.
//!
//! Owns the route (`Route`: the running `ReplicaSet`, the `SteeredReader`, or neither) and the
//! `Recorder`: every read is counted (answers, steered and direct reads, latency) here and nowhere
//! else. Never allocates, locks or makes a system call on a read. The direct read stays small
//! enough to inline into a front end's call; the hedged and steered slot reads are kept out of
//! line. Which copies a record read tries after the route's own read found none consistent is the
//! caller's (`records`), passed in.

use std::sync::Arc;

use crate::error::Result;
use crate::records::line::{self, MAX_FIELDS};
use crate::replicas::ReplicaSet;
use crate::slab::Slab;
use crate::stats::{Answer, Recorder, Stats};
use crate::steer::SteeredReader;
use crate::tsc;

/// Which way a read goes. A slab hedges or steers, never both, so there is one reader at most.
// The steered reader (its tracker) is held inline, as it was before the route was one enum: one
// route per Slayer, and a box would put a pointer chase in front of every steered read. A tag of
// its own (repr(u8)) makes telling the routes apart one byte compare, not a niche to decode.
#[allow(clippy::large_enum_variant)]
#[repr(u8)]
pub(crate) enum Route {
    /// The replica threads run: a read is a hedged request, the first copy to answer wins.
    Hedge(ReplicaSet),
    /// A steering slab: the tracker picks the copy least likely to be stalling.
    Steer(SteeredReader),
    /// The requester loads copy 0 itself (strategy 'direct', or a hedged slab whose threads are
    /// stopped).
    Direct,
}

/// A slab's reads from one requester: the slab, the route and the counters (see the module notes).
pub(crate) struct ReadPath {
    slab: Arc<Slab>,
    route: Route,
    recorder: Recorder,
}

impl ReadPath {
    /// The read path of `slab`: steered by `steer` when given, direct otherwise (until `hedge`);
    /// per-read latency recorded when `record_latency`.
    pub(crate) fn new(slab: Arc<Slab>, steer: Option<SteeredReader>, record_latency: bool) -> ReadPath {
        let recorder = Recorder::new(slab.layout().replicas(), record_latency);
        let route = match steer {
            Some(reader) => Route::Steer(reader),
            None => Route::Direct,
        };
        ReadPath { slab, route, recorder }
    }

    /// Reads go to `set`'s threads from now on. Only a slab that neither steers nor hedges yet
    /// starts hedging (the caller's strategy is 'hedge').
    pub(crate) fn hedge(&mut self, set: ReplicaSet) {
        debug_assert!(matches!(self.route, Route::Direct), "a slab hedges or steers, never both");
        self.route = Route::Hedge(set);
    }

    /// Takes the running replica threads off the path (reads go direct from now on), for the
    /// caller to stop; None when the path does not hedge.
    pub(crate) fn unhedge(&mut self) -> Option<ReplicaSet> {
        if !matches!(self.route, Route::Hedge(_)) {
            return None;
        }
        match std::mem::replace(&mut self.route, Route::Direct) {
            Route::Hedge(set) => Some(set),
            _ => None,
        }
    }

    /// The running replica threads, when reads are hedged.
    pub(crate) fn replica_set(&self) -> Option<&ReplicaSet> {
        match &self.route {
            Route::Hedge(set) => Some(set),
            _ => None,
        }
    }

    /// The steered reader, when the slab steers.
    pub(crate) fn steered_reader(&self) -> Option<&SteeredReader> {
        match &self.route {
            Route::Steer(reader) => Some(reader),
            _ => None,
        }
    }

    /// Whether per-read latency is recorded.
    #[inline(always)]
    pub(crate) fn recording(&self) -> bool {
        self.recorder.recording()
    }

    /// What the reads did so far.
    pub(crate) fn stats(&self) -> Stats {
        self.recorder.snapshot()
    }

    /// Zeroes the counters and the latency histogram.
    pub(crate) fn reset_stats(&mut self) {
        self.recorder.reset();
    }

    /// Whether a read now is one plain load of copy 0 and one counter: the route is direct and no
    /// latency is recorded.
    #[inline(always)]
    pub(crate) fn reads_direct(&self) -> bool {
        matches!(self.route, Route::Direct) && !self.recorder.recording()
    }

    /// Reads slot `i` by the route, and counts it. (The range check is made here, on this path's
    /// own slab, so a direct read loads the slab's address once.)
    ///
    /// # Errors
    /// [`Error::SlotOutOfRange`](crate::Error::SlotOutOfRange) when `i >= slots`.
    #[inline(always)]
    pub(crate) fn read(&mut self, i: u64) -> Result<u64> {
        self.slab.layout().check_slot(i)?;
        if self.reads_direct() {
            // The direct path: one load and one counter, with the hedged and steered paths kept
            // out of line so this one stays small enough to inline into a front end's raw call.
            self.recorder.direct(1);
            return Ok(self.slab.load_unchecked(0, i));
        }
        Ok(self.read_routed(i))
    }

    /// The hedged, steered and timed slot reads (see `read`).
    #[inline(never)]
    fn read_routed(&mut self, i: u64) -> u64 {
        let t0 = if self.recorder.recording() { tsc::now() } else { 0 };
        let v = match &mut self.route {
            Route::Hedge(set) => {
                let (v, answer) = set.read(i);
                self.recorder.answer(answer, 1);
                v
            }
            Route::Steer(reader) => {
                self.recorder.steered(1);
                reader.read_unchecked(i)
            }
            Route::Direct => {
                self.recorder.direct(1);
                self.slab.load_unchecked(0, i)
            }
        };
        if self.recorder.recording() {
            self.recorder.latency(tsc::now().wrapping_sub(t0));
        }
        v
    }

    /// Reads many slots by the route, `out[k]` getting slot `indices[k]`, and counts them (no
    /// latency: a batch is not one read). The caller has checked every index and matched the
    /// lengths.
    ///
    /// # Errors
    /// Only what the steered reader's own checks refuse, which the caller's checks rule out.
    pub(crate) fn read_many(&mut self, indices: &[u32], out: &mut [u64]) -> Result<()> {
        match &mut self.route {
            Route::Hedge(set) => {
                let rec = &mut self.recorder;
                set.read_many(indices, out, |a, n| rec.answer(a, n));
            }
            Route::Steer(reader) => {
                reader.read_many(indices, out)?;
                self.recorder.steered(indices.len() as u64);
            }
            Route::Direct => {
                self.slab.read_many_replica(0, indices, out)?;
                self.recorder.direct(indices.len() as u64);
            }
        }
        Ok(())
    }

    /// Reads the record line whose first slot is `base` (the caller has checked it) into `out`:
    /// the route's own read first (hedged: each thread validates its copy and the first consistent
    /// one wins; steered: the tracker's copy; direct: none), then, when that found no consistent
    /// copy, `read_any_copy(slab, first copy to try, out)`. Counts the read, and times it when
    /// recording (a read that fails is not timed). False when `read_any_copy` found no consistent
    /// copy either.
    #[inline(always)]
    pub(crate) fn read_line(
        &mut self,
        base: u64,
        out: &mut [u64; MAX_FIELDS],
        read_any_copy: impl FnOnce(&Slab, usize, &mut [u64; MAX_FIELDS]) -> bool,
    ) -> bool {
        let recording = self.recorder.recording();
        let t0 = if recording { tsc::now() } else { 0 };
        let slab = &*self.slab;
        let n = slab.layout().replicas();
        // The copy to try first when the route's own read found no consistent copy.
        let next = match &mut self.route {
            Route::Hedge(set) => match set.read_record(base, out) {
                Ok(r) => {
                    self.recorder.answer(Answer::Replica(r), 1);
                    None
                }
                Err(a) => {
                    self.recorder.answer(a, 1);
                    Some(0)
                }
            },
            Route::Steer(reader) => {
                self.recorder.steered(1);
                let (c, got) = reader.read_with(base, |slab, c| (c, line::read_copy(slab, c, base)));
                match got {
                    Some(f) => {
                        *out = f;
                        None
                    }
                    None => Some((c + 1) % n),
                }
            }
            Route::Direct => {
                self.recorder.direct(1);
                Some(0)
            }
        };
        if let Some(start) = next {
            if !read_any_copy(slab, start, out) {
                return false;
            }
        }
        if recording {
            self.recorder.latency(tsc::now().wrapping_sub(t0));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use crate::region::{LockRequest, PageRequest};

    fn path(record_latency: bool) -> ReadPath {
        let slab = Slab::new(Layout::new(64, 2, 64).unwrap(), PageRequest::Off, LockRequest::Off).unwrap();
        ReadPath::new(Arc::new(slab), None, record_latency)
    }

    #[test]
    fn a_direct_read_loads_copy_0_and_counts_as_direct() {
        for recording in [false, true] {
            let mut p = path(recording);
            p.slab.write(9, 42).unwrap();
            assert_eq!(p.reads_direct(), !recording, "timing a read is not the plain direct read");
            assert_eq!(p.read(9), Ok(42));
            assert!(p.read(64).is_err(), "out of range");
            let mut out = [0u64; 2];
            p.read_many(&[9, 0], &mut out).unwrap();
            assert_eq!(out, [42, 0]);
            let s = p.stats();
            assert_eq!((s.direct, s.hedged, s.steered), (3, 0, 0));
            assert_eq!(s.latency.map(|l| l.count), recording.then_some(1), "a batch is not timed");
            p.reset_stats();
            assert_eq!(p.stats().direct, 0);
        }
    }

    #[test]
    fn a_record_read_no_copy_of_which_is_consistent_is_counted_but_not_timed() {
        let mut p = path(true);
        let mut out = [0u64; MAX_FIELDS];
        assert!(!p.read_line(0, &mut out, |_, start, _| {
            assert_eq!(start, 0, "a direct read tries copy 0 first");
            false
        }));
        assert!(p.read_line(8, &mut out, |_, _, out| {
            out[0] = 5;
            true
        }));
        assert_eq!(out[0], 5);
        let s = p.stats();
        assert_eq!(s.direct, 2);
        assert_eq!(s.latency.map(|l| l.count), Some(1));
    }

    #[test]
    fn a_path_that_does_not_hedge_has_no_threads_to_take_off() {
        let mut p = path(false);
        assert!(p.unhedge().is_none());
        assert!(p.replica_set().is_none() && p.steered_reader().is_none());
        assert!(p.reads_direct());
    }
}
