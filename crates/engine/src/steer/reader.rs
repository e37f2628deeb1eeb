//! Steered reads from a `Slab`: time each read with the cycle clock, read the copy the tracker
//! picks, feed the timing back.
//!
//! The read path never allocates, locks or divides: a clock read, a table lookup, one 8-byte
//! atomic load, a second clock read that waits for the load, and a few counter updates. Each read
//! is timed, so a batch does not overlap its loads (the price of learning from every read). An
//! observed read's bookkeeping runs at the next timed read, under its DRAM request
//! (`SteeredReader::settle_pending`).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::layout::FRAME_BYTES;
use crate::slab::Slab;
use crate::steer::handoff::{Handoff, Taken};
use crate::steer::orientation::{FrameState, Orientation};
use crate::steer::tracker::{SteerReport, Tracker, TrackerConfig};
use crate::tsc;

/// Steering places every read at a phase of the refresh period, in `cfg.bins` bins, by the cycle
/// clock: a clock too coarse to give each bin at least one tick (an aarch64 generic timer at
/// 25–125 MHz against a ~2 µs period; Armv8.6 cores count at 1 GHz) cannot steer. Refused with a
/// message that says so, rather than as a bad `periodTicks` the caller never passed.
fn clock_resolves(cfg: &TrackerConfig) -> Result<()> {
    if cfg.period_ticks >= cfg.bins as f64 {
        return Ok(());
    }
    Err(Error::Unsupported {
        what: format!(
            "steering needs at least {} clock ticks per refresh period, but this machine's clock ({}, a tick every {:.1} ns) counts {:.0} in {:.0} ns; use strategy 'hedge' or 'direct'",
            cfg.bins,
            tsc::SOURCE,
            1e9 / tsc::hz(),
            cfg.period_ticks,
            cfg.period_ticks / tsc::ticks_per_ns(),
        ),
    })
}

/// Reads slots of a shared slab, steering every read to the copy least likely to stall.
pub struct SteeredReader {
    slab: Arc<Slab>,
    tracker: Tracker,
    /// Counts locked reads, so only one in `LOCKED_OBSERVE_EVERY` pays for the second clock read.
    locked_reads: u32,
    /// Tick of the last observed read, and the longest a locked reader goes without one.
    last_observed: u64,
    observe_floor: u64,
    /// Tick of the last locked read, and how long a pause makes the reader look again
    /// (`RESYNC_PAUSE_NS`); reads still to be observed, every one, since the last such pause.
    last_read: u64,
    resync_pause: u64,
    resync_left: u32,
    /// For a slab learned in the background: per frame, which physical copy is the tracker's copy
    /// 0 (the one stalling inside the arc); frames not learned are read from copy 0, untimed.
    orientation: Option<std::sync::Arc<Orientation>>,
    /// Whether reads are noted in the orientation's hot-frame sample and coverage (not for the
    /// learner's own calibration reads).
    notes_reads: bool,
    /// A tracker the learner calibrates for this reader (`handoff`): until it comes, learned
    /// frames are read from copy 0, untimed, too.
    handoff: Option<Arc<Handoff>>,
    /// The last observed read's timing, not yet fed to the tracker (`settle_pending`).
    pending: Option<Observation>,
}

/// One observed read: it started at `t0` (ticks), read tracker copy `copy`, took `ticks`.
#[derive(Clone, Copy, Debug)]
struct Observation {
    t0: u64,
    copy: usize,
    ticks: u64,
    /// One of the one-in-`LOCKED_OBSERVE_EVERY` locked reads (`Tracker::observe_in_sample`),
    /// observed by the schedule or by a resync alike.
    sampled: bool,
}

/// While locked, time and feed back one read in this many: the others take one clock read (to
/// choose) instead of two plus the bookkeeping. Calibration and searching time every read.
///
/// Observed reads are the slow ones of steering: they wait for the load (the end stamp), and one
/// in four of them explores (reads the copies in turn, so it meets stalls at the unsteered rate).
/// Their bookkeeping is not theirs to pay: it runs at the next timed read, while that read's lines
/// are on their way (`settle_pending`). Observing fewer of them keeps them out of steering's
/// p99.9; what one in 8 and one in 32 measured is in docs/refresh-hosts.md.
pub(crate) const LOCKED_OBSERVE_EVERY: u32 = 32;

/// …but at least one read in this long is observed, so a caller that reads slowly still feeds
/// the tracker at least 10 000 observations a second (what one in 8 gave a caller reading 80 000
/// times a second).
pub(crate) const LOCKED_OBSERVE_FLOOR_NS: u64 = 100_000;

/// After a pause this long between reads, the phase may have moved (the VM's common phase jumps
/// about once a second, and a period a few ppm off drifts microseconds a second), so the reads
/// that follow are all observed until a block of them is in (`Tracker::resync`): a jump is then
/// found after ~`block_reads` reads instead of `LOCKED_OBSERVE_EVERY` times as many. Measured on
/// host A (2026-12-07): 5 s after calibration the first 20 000 steered reads were slow 3.2% of
/// the time (copy 0: 3.9%), the next ones 0-0.4%; a reader used in bursts met that at every burst.
/// A reader slower than one read per pause starts a new block at every read and keeps the phase
/// it learned (it could not follow a jump a second with so few reads anyway).
pub(crate) const RESYNC_PAUSE_NS: u64 = 50_000_000;

impl SteeredReader {
    /// A reader with `cfg`; `cfg.copies` must equal the slab's replica count.
    ///
    /// # Errors
    ///
    /// [`Error::BadOption`] when `cfg.copies` is not the slab's replica count, and
    /// [`Error::Unsupported`] when the clock is too coarse to tell a slow read from a fast one.
    pub fn new(slab: Arc<Slab>, cfg: TrackerConfig) -> Result<SteeredReader> {
        let replicas = slab.layout().replicas();
        if cfg.copies != replicas {
            return Err(Error::bad_option(
                "copies",
                format!("the tracker is set up for {} copies but the slab has {replicas} replicas", cfg.copies),
            ));
        }
        clock_resolves(&cfg)?;
        Ok(SteeredReader {
            slab,
            tracker: Tracker::new(cfg)?,
            locked_reads: 0,
            last_observed: 0,
            observe_floor: tsc::from_ns(LOCKED_OBSERVE_FLOOR_NS),
            last_read: tsc::now(),
            resync_pause: tsc::from_ns(RESYNC_PAUSE_NS),
            resync_left: 0,
            orientation: None,
            notes_reads: true,
            handoff: None,
            pending: None,
        })
    }

    /// A reader for a two-copy slab whose frames are learned in the background into
    /// `orientation` (one entry per 4 KiB frame of the slab): the tracker steers between "the copy
    /// stalling inside the arc" and "the other", which each learned frame maps to its physical
    /// copies; reads of frames not learned (or not steerable) go to copy 0 and are not timed.
    pub(crate) fn with_orientation(slab: Arc<Slab>, cfg: TrackerConfig, orientation: Arc<Orientation>) -> Result<SteeredReader> {
        let frames = slab.layout().span().div_ceil(FRAME_BYTES);
        if cfg.copies != 2 || orientation.frames() < frames {
            return Err(Error::Internal {
                message: format!(
                    "an orientation of {} frames cannot steer {} copies over {frames} frames",
                    orientation.frames(),
                    cfg.copies
                ),
            });
        }
        let mut r = SteeredReader::new(slab, cfg)?;
        r.orientation = Some(orientation);
        Ok(r)
    }

    /// Steers with the tracker the learner calibrates and hands over through `h`, not with one
    /// calibrated on this reader's own reads (unless the learner abandons it).
    pub(crate) fn await_handoff(&mut self, h: Arc<Handoff>) {
        self.handoff = Some(h);
    }

    /// A reader whose reads are not noted as the slab's reads (the learner's calibration reads).
    pub(crate) fn unnoted(mut self) -> SteeredReader {
        self.notes_reads = false;
        self
    }

    /// The tracker, calibrated or not, for another reader (with every observation fed to it).
    pub(crate) fn into_tracker(mut self) -> Tracker {
        self.settle_pending();
        self.tracker
    }

    /// Feeds the tracker the last observed read's timing, if it has not had it.
    ///
    /// An observed read does not do its own bookkeeping: it leaves its timing here and the next
    /// timed read feeds it, after its copies' lines have been requested (`prefetch_all`) and its
    /// clock read, before it chooses. The bookkeeping (a few counters, and now and then a drift
    /// check or a block's verdict over every phase bin) then runs while that read's DRAM request
    /// is in flight instead of after a load the caller waits for. On host A (2026-12-07, a Rust
    /// loop with reads 0-20 µs apart, where the observation floor made one read in four
    /// observed) observed reads took p50 190 ns and p99 430-450 ns from the clock read to the
    /// end, unobserved ones 150 and 250; with the bookkeeping deferred, 150 and 270 against 130
    /// and 220, and steered p99 against copy 0 went from 1.00-1.03x to 0.90-1.00x (six runs each,
    /// the two builds alternating). The choice this read makes does not see its predecessor's
    /// timing: one read's lag, in a tracker that learns from thousands.
    #[inline(always)]
    fn settle_pending(&mut self) {
        if let Some(o) = self.pending.take() {
            self.tracker.observe_in_sample(o.t0, o.copy, o.ticks, o.sampled);
            if self.tracker.take_alarm() {
                self.resync_left = self.tracker.block_reads();
            }
            if self.tracker.take_shortfall() {
                if let Some(o) = &self.orientation {
                    o.request_audit();
                }
            }
        }
    }

    /// The per-frame orientation of a slab learned in the background.
    pub(crate) fn orientation(&self) -> Option<&Arc<Orientation>> {
        self.orientation.as_ref()
    }

    /// A reader with the measured defaults (`TrackerConfig::new`) for this machine's clock.
    ///
    /// # Errors
    ///
    /// What [`SteeredReader::new`] refuses.
    pub fn with_defaults(slab: Arc<Slab>) -> Result<SteeredReader> {
        let cfg = TrackerConfig::new(slab.layout().replicas(), tsc::ticks_per_ns());
        SteeredReader::new(slab, cfg)
    }

    /// Reuses an existing tracker (e.g. one already locked); its copy count must match.
    ///
    /// # Errors
    ///
    /// What [`SteeredReader::new`] refuses.
    pub fn with_tracker(slab: Arc<Slab>, tracker: Tracker) -> Result<SteeredReader> {
        let mut r = SteeredReader::new(slab, *tracker.config())?;
        r.tracker = tracker;
        Ok(r)
    }

    /// The slab it reads.
    pub fn slab(&self) -> &Arc<Slab> {
        &self.slab
    }
    /// The tracker that picks the copy.
    pub fn tracker(&self) -> &Tracker {
        &self.tracker
    }
    /// A snapshot of the tracker's state and counters.
    pub fn report(&self) -> SteerReport {
        self.tracker.report()
    }

    /// One steered read of a slot the caller has checked (`i < slots`).
    #[inline(always)]
    pub(crate) fn read_unchecked(&mut self, i: u64) -> u64 {
        self.read_checked(i)
    }

    #[inline(always)]
    fn read_checked(&mut self, i: u64) -> u64 {
        self.read_with(i, |slab, c| slab.load_unchecked(c, i))
    }

    /// One steered access at slot `i` (the caller has checked `i < slots`): `load(slab, copy)`
    /// loads what the caller needs from the chosen copy (one slot, or the whole record line that
    /// starts at `i`), and is what gets timed and fed back to the tracker.
    #[inline(always)]
    pub(crate) fn read_with<T>(&mut self, i: u64, mut load: impl FnMut(&Slab, usize) -> T) -> T {
        // The physical copy of the tracker's copy c is c ^ swap (0 unless the frame is learned
        // swapped); a frame not learned is read from copy 0 without the tracker.
        let swap = match &self.orientation {
            None => 0,
            Some(o) => {
                let f = self.slab.layout().offset(0, i) / FRAME_BYTES;
                let s = o.state(f);
                if self.notes_reads {
                    o.note_read(f, s);
                }
                let swap = match s {
                    FrameState::Normal => 0,
                    FrameState::Swapped => 1,
                    FrameState::Unknown | FrameState::Unsteerable => return load(&self.slab, 0),
                };
                if let Some(h) = &self.handoff {
                    match h.take() {
                        Taken::Pending => return load(&self.slab, 0),
                        Taken::Ready(t) => {
                            // A timing owed to the tracker replaced is not the new one's.
                            self.pending = None;
                            self.tracker = *t;
                        }
                        Taken::Abandoned => {}
                    }
                    self.handoff = None;
                }
                swap
            }
        };
        let mut load = |slab: &Slab, c: usize| load(slab, c ^ swap);
        if let Some(c) = self.tracker.untimed_copy() {
            // A timing still owed goes in before the tracker counts reads it does not time.
            self.settle_pending();
            self.tracker.count_untimed();
            return load(&self.slab, c);
        }
        // Every copy's line is requested before the clock is read: the choice needs the time,
        // and the clock read would otherwise sit in front of the load. The chosen copy's request is
        // then already on its way; the other's is traffic, not waiting.
        self.slab.prefetch_all_unchecked(i);
        let t0 = tsc::now();
        // The previous observed read's bookkeeping, in the shadow of this read's requests. The
        // copy chosen below is as good at t0 whenever its load instruction runs: the prefetch
        // above already sent the request to DRAM, and the load takes the line that comes back.
        self.settle_pending();
        if self.tracker.state() == crate::steer::SteerState::Locked {
            self.locked_reads = self.locked_reads.wrapping_add(1);
            if t0.wrapping_sub(std::mem::replace(&mut self.last_read, t0)) > self.resync_pause {
                self.tracker.resync();
                self.resync_left = self.tracker.block_reads();
            }
            if self.resync_left > 0 {
                self.resync_left -= 1;
            } else if self.locked_reads % LOCKED_OBSERVE_EVERY != 0 && t0.wrapping_sub(self.last_observed) < self.observe_floor {
                let c = self.tracker.choose(t0);
                return load(&self.slab, c);
            }
        }
        self.last_observed = t0;
        let c = self.tracker.choose_observed(t0);
        let v = load(&self.slab, c);
        let t1 = tsc::after_loads();
        // (Counted only while locked: `locked_reads` counts the locked reads.)
        let sampled = self.locked_reads % LOCKED_OBSERVE_EVERY == 0;
        self.pending = Some(Observation { t0, copy: c, ticks: t1.wrapping_sub(t0), sampled });
        v
    }

    /// Reads slot `i` from the copy least likely to be stalling now.
    ///
    /// # Errors
    ///
    /// [`Error::SlotOutOfRange`] for a slot beyond the slab.
    #[inline]
    pub fn read(&mut self, i: u64) -> Result<u64> {
        self.slab.layout().check_slot(i)?;
        Ok(self.read_checked(i))
    }

    /// Reads many slots, steering each one; all indices are checked before anything is read.
    pub(crate) fn read_many(&mut self, indices: &[u32], out: &mut [u64]) -> Result<()> {
        if indices.len() != out.len() {
            return Err(Error::LengthMismatch { indices: indices.len(), values: out.len() });
        }
        self.slab.check_all(indices)?;
        for (o, &i) in out.iter_mut().zip(indices) {
            *o = self.read_checked(i as u64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::Layout;
    use crate::region::{LockRequest, PageRequest};
    use crate::steer::synth::{locked_tracker, Model};
    use crate::steer::SteerState;

    fn slab(slots: u64, replicas: usize) -> Arc<Slab> {
        Arc::new(Slab::new(Layout::new(slots, replicas, 64).unwrap(), PageRequest::Off, LockRequest::Off).unwrap())
    }

    /// Whether the real clock can steer (it cannot under a coarse generic timer, e.g. qemu's
    /// 62.5 MHz): if not, the reader must say so, and the test says which branch it ran.
    fn clock_can_steer(test: &str) -> bool {
        let s = slab(10, 2);
        match SteeredReader::with_defaults(s) {
            Ok(_) => true,
            Err(Error::Unsupported { what }) => {
                assert!(what.contains("ticks per refresh period"), "{what}");
                eprintln!("{test}: skipped, this clock cannot steer: {what}");
                false
            }
            Err(e) => panic!("{e:?}"),
        }
    }

    fn pattern(i: u64) -> u64 {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5_0000_0000_005A
    }

    #[test]
    fn every_steered_read_returns_the_slot_value_whichever_copy_it_chose() {
        if !clock_can_steer("every_steered_read_returns_the_slot_value_whichever_copy_it_chose") {
            return;
        }
        for replicas in [2usize, 3, 8] {
            let s = slab(4096, replicas);
            for i in 0..4096 {
                s.write(i, pattern(i)).unwrap();
            }
            let mut r = SteeredReader::with_defaults(s.clone()).unwrap();
            // Calibration reads copies in turn, so this covers every copy of every slot.
            for round in 0..replicas as u64 {
                for i in 0..4096 {
                    assert_eq!(r.read(i).unwrap(), pattern(i), "slot {i} round {round}");
                }
            }
            let idx: Vec<u32> = (0..4096u32).rev().collect();
            let mut out = vec![0u64; idx.len()];
            r.read_many(&idx, &mut out).unwrap();
            for (&i, &v) in idx.iter().zip(&out) {
                assert_eq!(v, pattern(i as u64));
            }
            // Every read while calibrating is observed; once locked, one in LOCKED_OBSERVE_EVERY.
            // (The last observed read's timing reaches the tracker at the next timed read, or as
            // the tracker is taken.)
            let total = 4096 * (replicas as u64 + 1);
            let observed = r.into_tracker().report().reads;
            assert!(observed <= total && observed >= total.min(32 * 1024), "{observed} of {total}");
        }
    }

    #[test]
    fn an_observed_reads_timing_reaches_the_tracker_at_the_next_timed_read() {
        if !clock_can_steer("an_observed_reads_timing_reaches_the_tracker_at_the_next_timed_read") {
            return;
        }
        let s = slab(64, 2);
        let mut r = SteeredReader::with_defaults(s).unwrap();
        // Calibrating: every read is observed, its bookkeeping owed until the next one.
        for k in 0..5u64 {
            r.read(k).unwrap();
            assert_eq!(r.report().reads, k, "after read {k}");
        }
        assert_eq!(r.into_tracker().report().reads, 5, "taking the tracker feeds what is owed");
    }

    #[test]
    fn a_locked_reader_still_returns_the_slot_value() {
        // A tracker locked on a synthetic trace steers by the real clock's phase, so its choices
        // spread over both copies; every value must still be right.
        if !clock_can_steer("a_locked_reader_still_returns_the_slot_value") {
            return;
        }
        let s = slab(1000, 2);
        for i in 0..1000 {
            s.write(i, pattern(i)).unwrap();
        }
        let model = Model::two_groups(7);
        let tracker = locked_tracker(&model, tsc::ticks_per_ns());
        assert_eq!(tracker.state(), SteerState::Locked);
        let mut r = SteeredReader::with_tracker(s, tracker).unwrap();
        for k in 0..20_000u64 {
            let i = k * 7919 % 1000;
            assert_eq!(r.read(i).unwrap(), pattern(i));
        }
    }

    #[test]
    fn after_a_pause_a_locked_reader_observes_every_read_for_a_block() {
        if !clock_can_steer("after_a_pause_a_locked_reader_observes_every_read_for_a_block") || !crate::cache::CAN_EVICT {
            return;
        }
        let s = slab(1000, 2);
        let model = Model::two_groups(7);
        let mut r = SteeredReader::with_tracker(s.clone(), locked_tracker(&model, tsc::ticks_per_ns())).unwrap();
        let block = r.tracker().block_reads() as u64;
        // Observed locked reads (steered, exploring, or too slow to learn from). Every read is
        // flushed first, so the tracker does not find the slab cache-resident and stop timing.
        let observed = |r: &SteeredReader| {
            let x = r.report();
            assert_eq!(x.state, SteerState::Locked);
            x.steered_reads + x.explored_reads + x.outliers
        };
        let read = |r: &mut SteeredReader, k: u64| {
            s.flush_slot(k % 1000);
            r.read(k % 1000).unwrap();
        };
        // Back to back, well inside the pause: about one read in LOCKED_OBSERVE_EVERY is observed.
        let before = observed(&r);
        for k in 0..2 * block {
            read(&mut r, k);
        }
        let busy = observed(&r);
        // (A pause the machine took, e.g. the hypervisor's, resyncs too: then nothing to check.)
        let resyncs = r.report().resyncs;
        if resyncs == 0 {
            assert!(busy - before < block, "{} of {}", busy - before, 2 * block);
        }
        std::thread::sleep(std::time::Duration::from_nanos(RESYNC_PAUSE_NS + 10_000_000));
        for k in 0..block {
            read(&mut r, k);
        }
        assert!(r.report().resyncs > resyncs);
        assert_eq!(observed(&r) - busy, block, "every read after the pause observed, until a block is in");
        // The sample stays one locked read in LOCKED_OBSERVE_EVERY, the block's reads or not (the
        // last observed read's timing is still owed; an outlier is in no count).
        let x = r.report();
        let (sampled, expected) = (x.sampled_steered_reads + x.sampled_explored_reads, 3 * block / LOCKED_OBSERVE_EVERY as u64);
        assert!(sampled <= expected && sampled + x.outliers + 1 >= expected, "{sampled} sampled of {} locked reads", 3 * block);
        assert!(x.sampled_steered_slow <= x.sampled_steered_reads && x.sampled_explored_slow <= x.sampled_explored_reads);
    }

    #[test]
    fn a_reader_awaiting_a_handed_tracker_reads_copy_0_untimed_then_steers_with_it() {
        use crate::steer::orientation::{FrameState, Orientation};
        if !clock_can_steer("a_reader_awaiting_a_handed_tracker_reads_copy_0_untimed_then_steers_with_it") {
            return;
        }
        let s = slab(4096, 2);
        for i in 0..4096 {
            s.write(i, pattern(i)).unwrap();
        }
        let frames = s.layout().span().div_ceil(FRAME_BYTES);
        let o = Arc::new(Orientation::new(frames));
        for f in 0..frames {
            o.set(f, if f % 2 == 0 { FrameState::Normal } else { FrameState::Swapped });
        }
        let mut r = SteeredReader::with_orientation(s.clone(), TrackerConfig::new(2, tsc::ticks_per_ns()), o.clone()).unwrap();
        let h = Arc::new(Handoff::new());
        r.await_handoff(h.clone());
        for i in 0..4096 {
            assert_eq!(r.read(i).unwrap(), pattern(i));
        }
        assert_eq!(r.report().reads, 0, "nothing timed while the tracker is on its way");
        assert_eq!(o.read_counts().0, 4096, "the reads still count as the slab's");
        let handed = locked_tracker(&Model::two_groups(7), tsc::ticks_per_ns());
        let calibrations = handed.report().calibrations;
        h.put(handed);
        for i in 0..4096 {
            assert_eq!(r.read(i).unwrap(), pattern(i));
        }
        let rep = r.report();
        assert_eq!(rep.state, SteerState::Locked, "{rep:?}");
        assert_eq!(rep.calibrations, calibrations, "the handed tracker, not a calibration of its own");
        // A tracker whose steering fell short has the reader ask the learner for an audit.
        assert!(!o.take_audit_request());
        let mut short = locked_tracker(&Model::two_groups(8), tsc::ticks_per_ns());
        short.mark_shortfall();
        let h = Arc::new(Handoff::new());
        r.await_handoff(h.clone());
        h.put(short);
        for i in 0..4096 {
            assert_eq!(r.read(i).unwrap(), pattern(i));
        }
        assert!(o.take_audit_request(), "the shortfall reached the orientation");
        // A reader whose hand-off is abandoned calibrates on its own reads.
        let mut r = SteeredReader::with_orientation(s.clone(), TrackerConfig::new(2, tsc::ticks_per_ns()), o).unwrap();
        let h = Arc::new(Handoff::new());
        r.await_handoff(h.clone());
        h.abandon();
        for i in 0..4096 {
            assert_eq!(r.read(i).unwrap(), pattern(i));
        }
        assert!(r.report().reads > 0);
    }

    #[test]
    fn reads_while_frames_switch_orientation_are_never_torn_or_older_than_a_completed_write() {
        // One writer, one steering reader over a background-learned slab, and a thread switching
        // frames between unknown, normal, swapped and unsteerable at random (what the learner
        // does once per frame, done here without pause): every value read must be one the writer
        // wrote whole, and never older than the last write completed before the read began.
        use crate::steer::orientation::{FrameState, Orientation};
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        if !clock_can_steer("reads_while_frames_switch_orientation_are_never_torn_or_older_than_a_completed_write") {
            return;
        }
        const SLOTS: u64 = 4096;
        let s = Arc::new(Slab::new(Layout::new(SLOTS, 2, 64).unwrap(), PageRequest::Off, LockRequest::Off).unwrap());
        let frames = s.layout().span().div_ceil(FRAME_BYTES);
        let o = Arc::new(Orientation::new(frames));
        let stop = Arc::new(AtomicBool::new(false));
        // Per slot: the last value whose write has completed (values count up from 1; each word
        // carries the slot in its top bits, so a value of another slot or a torn mix shows).
        let completed: Arc<Vec<AtomicU64>> = Arc::new((0..SLOTS).map(|_| AtomicU64::new(0)).collect());
        let word = |slot: u64, v: u64| (slot << 40) | v;
        let writer = {
            let (s, stop, completed) = (s.clone(), stop.clone(), completed.clone());
            std::thread::spawn(move || {
                let mut v = 1u64;
                // Acquire: pairs with the main thread's Release store of `stop`.
                while !stop.load(Ordering::Acquire) {
                    for slot in 0..SLOTS {
                        s.write(slot, word(slot, v)).unwrap();
                        // Release: pairs with the reader's Acquire load before its read, so a
                        // read that starts after this sees at least this write.
                        completed[slot as usize].store(v, Ordering::Release);
                    }
                    v += 1;
                }
            })
        };
        let flipper = {
            let (o, stop) = (o.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rng = crate::rng::SplitMix64::new(9);
                let states = [FrameState::Unknown, FrameState::Normal, FrameState::Swapped, FrameState::Unsteerable];
                // Acquire: as for the writer.
                while !stop.load(Ordering::Acquire) {
                    o.set(rng.below(frames as u64) as usize, states[rng.below(4) as usize]);
                    // Now and then the whole table is forgotten, as the learner does to relearn.
                    if rng.below(4096) == 0 {
                        o.forget_all();
                    }
                }
            })
        };
        let model = Model::two_groups(7);
        let cfg = *locked_tracker(&model, tsc::ticks_per_ns()).config();
        let mut r = SteeredReader::with_orientation(s.clone(), cfg, o.clone()).unwrap();
        let mut rng = crate::rng::SplitMix64::new(3);
        let reads = if cfg!(debug_assertions) { 2_000_000u64 } else { 10_000_000 };
        for _ in 0..reads {
            let slot = rng.below(SLOTS);
            // Acquire: pairs with the writer's Release store (see there).
            let done = completed[slot as usize].load(Ordering::Acquire);
            let got = r.read(slot).unwrap();
            assert_eq!(got >> 40, slot, "slot {slot}: {got:#x} is not a whole value of this slot");
            assert!(got & ((1 << 40) - 1) >= done, "slot {slot}: read {} after write {done} completed", got & ((1 << 40) - 1));
        }
        // Release: pairs with the threads' Acquire loads.
        stop.store(true, Ordering::Release);
        writer.join().unwrap();
        flipper.join().unwrap();
    }

    #[test]
    fn bad_indices_and_shapes_are_refused() {
        let s = slab(10, 2);
        let cfg = TrackerConfig::new(3, 2.596);
        assert!(matches!(SteeredReader::new(s.clone(), cfg), Err(Error::BadOption { option: "copies", .. })));
        let coarse = TrackerConfig::new(2, 0.025);
        assert!(matches!(SteeredReader::new(s.clone(), coarse), Err(Error::Unsupported { .. })), "a 25 MHz clock cannot steer");
        if !clock_can_steer("bad_indices_and_shapes_are_refused") {
            return;
        }
        let mut r = SteeredReader::with_defaults(s.clone()).unwrap();
        assert_eq!(r.read(10).unwrap_err(), Error::SlotOutOfRange { index: 10, slots: 10 });
        let mut out = [0u64; 2];
        assert!(r.read_many(&[1, 10], &mut out).is_err());
        assert!(matches!(r.read_many(&[1], &mut out).unwrap_err(), Error::LengthMismatch { .. }));
    }
}
