//! The steering tracker: learns, per copy, when in the DRAM refresh period a read of that copy is
//! likely to stall, follows the refresh phase as it drifts and jumps, and says which copy to read
//! at a given instant.
//!
//! Pure: no clock, no I/O, no threads, deterministic. It allocates only in `Tracker::new`; no
//! observation or choice allocates. The per-read work is one multiply, a shift, a table lookup
//! and two counter increments; the heavier steps (period search at the end of calibration, the
//! full phase search after a jump, the small drift check every block) run inside `observe` when a
//! block of reads completes, and are bounded (see each function).
//!
//! Time is in ticks of whatever clock the caller uses (the TSC in `SteeredReader`). The phase of
//! an instant `t` is a 64-bit fraction of the period, `(t - t_ref) * step + theta` with wrapping
//! arithmetic (exact modulo 2^64), so no division happens per read and a change of `theta` moves
//! every prediction at once.

use crate::error::{Error, Result};
use crate::layout::{MAX_REPLICAS, MIN_REPLICAS};
use crate::refresh::phase::{self, Trig};

/// Fewest and most phase bins a tracker accepts (powers of two).
pub const MIN_BINS: usize = 16;
pub const MAX_BINS: usize = 1024;

/// DDR5 fine-granularity refresh period measured on the target machines (FIELD-NOTES.md).
pub const DEFAULT_PERIOD_NS: f64 = 1950.8;

/// Signal needed to trust a learned profile: the chi-square of slow counts across bins, as a
/// z-score against chance. Chosen well above what the best of a few hundred candidate periods
/// reaches on pure noise (about 3 to 4).
const SIGNAL_Z: f64 = 8.0;

/// Prior weight (in reads) pulling each bin's slow probability toward its copy's mean.
const PRIOR_READS: f32 = 4.0;

/// A local drift step is taken only when it explains the recent block better by this many nats.
const DRIFT_GATE: f32 = 6.0;

/// Shifts whose likelihood is within this many nats of the best count as equally good.
const PLATEAU: f32 = 1.0;

/// A jump is taken only when the shift explains the last two blocks better by this many nats.
const JUMP_GATE: f32 = 8.0;
/// How far (relative) a measured period is searched when the profiles at it showed nothing to steer.
const MEASURED_PERIOD_RESCUE: f64 = 5e-4;

/// Consecutive blocks whose slow count stays well above what steering predicts before the
/// tracker decides its profiles are stale and calibrates again.
const MAX_BAD_BLOCKS: u32 = 16;

/// How a tracker is set up. `TrackerConfig::new` gives the values measured on the target machine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackerConfig {
    /// Refresh period in clock ticks (the nominal value; calibration refines it).
    pub period_ticks: f64,
    /// Phase bins per period; a power of two from 16 to 1024.
    pub bins: usize,
    /// Copies of each slot (2..=8).
    pub copies: usize,
    /// A read longer than this (ticks) is slow.
    pub slow_ticks: u64,
    /// A read longer than this (ticks) is hypervisor noise: counted, never learned from.
    pub noise_ticks: u64,
    /// Reads (round-robin over copies) that calibration learns from.
    pub calibration_reads: usize,
    /// Observed reads per monitoring block while locked: at the end of each block the phase is
    /// checked against every possible shift.
    pub block_reads: usize,
    /// Relative half-width of the period search at the end of calibration (0 = trust the period).
    pub period_search: f64,
    /// Reads spent reading a fixed copy after calibration found no signal, before trying again.
    pub retry_reads: u64,
    /// Phase error (in bins) every steering choice must tolerate: a copy is chosen by its worst
    /// stall probability within this many bins either side.
    pub margin_bins: usize,
    /// Largest drift (in bins) corrected per block without a full search.
    pub drift_bins: usize,
    /// While locked, one observed read in this many reads the copies in turn instead of the
    /// chosen one (0 = never). Steered reads avoid each copy's stalls, so they say little about
    /// where the stalls are now; these few unsteered reads keep the phase and its drift in view.
    pub explore_every: u32,
    /// A timed read faster than this (ticks) was answered by a cache, not DRAM.
    pub cached_ticks: u64,
    /// When nearly every timed read of a block was a cache hit (`RESIDENT_SHARE`), steering
    /// cannot help — refresh stalls only delay DRAM reads — and alternating copies would double
    /// the cache footprint: the reader reads copy 0, untimed, for this many reads, then looks again.
    pub resident_reads: u64,
}

/// Share of a block's timed reads that must be cache hits for the slab to count as cache-resident.
pub const RESIDENT_SHARE: f64 = 0.9;

impl TrackerConfig {
    /// Defaults from the measurements in FIELD-NOTES.md, for a clock of `ticks_per_ns`.
    pub fn new(copies: usize, ticks_per_ns: f64) -> TrackerConfig {
        TrackerConfig {
            period_ticks: DEFAULT_PERIOD_NS * ticks_per_ns,
            bins: 128,
            copies,
            slow_ticks: (290.0 * ticks_per_ns) as u64,
            noise_ticks: (1000.0 * ticks_per_ns) as u64,
            calibration_reads: 32 * 1024,
            block_reads: 512,
            // ±0.2%: the period in ticks also carries the error of the clock-rate estimate, and
            // one host measured 1953.3 ns against the 1950.8 ns of another.
            period_search: 2e-3,
            retry_reads: 1 << 20,
            margin_bins: 4,
            drift_bins: 3,
            explore_every: 4,
            // Below a DRAM read on every machine measured (80–150 ns plus the clock), above an L2 hit.
            cached_ticks: (60.0 * ticks_per_ns) as u64,
            resident_reads: 1 << 16,
        }
    }

    /// For a period measured on this machine to a few ppm (refresh-group placement measures one
    /// line for 300 ms): that period, not searched again (calibration spans tens of milliseconds
    /// and would pin it less finely than the measurement did) unless the profiles at it show
    /// nothing to steer, then only within ±0.05%; bins 100–200 ns wide; and 1024
    /// calibration reads per bin and copy (a line that stalls once every 7.8 µs is slow in only a
    /// few percent of reads), which still ends within tens of milliseconds when it has to run
    /// again while reads are being served.
    pub fn for_measured_period(copies: usize, ticks_per_ns: f64, period_ns: f64) -> TrackerConfig {
        let mut c = TrackerConfig::new(copies, ticks_per_ns);
        c.period_ticks = period_ns * ticks_per_ns;
        // Not searched, unless calibration at it finds nothing to steer (`finish_calibration`).
        c.period_search = 0.0;
        let fit = ((period_ns / 100.0).max(1.0) as usize).max(1);
        c.bins = (1usize << (usize::BITS - 1 - fit.leading_zeros())).clamp(MIN_BINS, 128);
        c.calibration_reads = (1024 * c.bins * copies).clamp(64 * c.bins, 1 << 20);
        // About ±250 ns of slack around each choice, and drift steps of up to ~250 ns per block.
        c.margin_bins = ((250.0 / (period_ns / c.bins as f64)) as usize).clamp(1, c.bins / 4 - 1);
        c.drift_bins = c.margin_bins.max(2).min(c.bins / 4 - 1);
        c
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |option: &'static str, m: String| Err(Error::bad_option(option, m));
        if !(MIN_REPLICAS..=MAX_REPLICAS).contains(&self.copies) {
            return bad("copies", format!("must be {MIN_REPLICAS}..={MAX_REPLICAS}, got {}", self.copies));
        }
        if !self.bins.is_power_of_two() || !(MIN_BINS..=MAX_BINS).contains(&self.bins) {
            return bad("bins", format!("must be a power of two from {MIN_BINS} to {MAX_BINS}, got {}", self.bins));
        }
        if !(self.period_ticks.is_finite() && self.period_ticks >= self.bins as f64 && self.period_ticks < 1e15) {
            return bad(
                "periodTicks",
                format!("must be a finite tick count of at least `bins` ({}), got {}", self.bins, self.period_ticks),
            );
        }
        if self.slow_ticks == 0 || self.noise_ticks <= self.slow_ticks {
            return bad(
                "slowTicks",
                format!("need 0 < slowTicks < noiseTicks, got slow {} and noise {}", self.slow_ticks, self.noise_ticks),
            );
        }
        if self.calibration_reads < 64 * self.bins || self.calibration_reads > 1 << 24 {
            return bad("calibrationReads", format!("must be from 64 x bins ({}) to 2^24, got {}", 64 * self.bins, self.calibration_reads));
        }
        if !(64..=1 << 20).contains(&self.block_reads) {
            return bad("blockReads", format!("must be 64..=2^20 reads, got {}", self.block_reads));
        }
        if !(self.period_search.is_finite() && (0.0..=0.01).contains(&self.period_search)) {
            return bad("periodSearch", format!("must be 0..=0.01 (relative), got {}", self.period_search));
        }
        if self.margin_bins >= self.bins / 4 || self.drift_bins >= self.bins / 4 {
            return bad(
                "marginBins",
                format!(
                    "margin and drift must be under a quarter period ({} bins), got {} and {}",
                    self.bins / 4,
                    self.margin_bins,
                    self.drift_bins
                ),
            );
        }
        Ok(())
    }
}

/// What the tracker is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteerState {
    /// Reading copies in turn to learn each one's stall profile.
    Calibrating,
    /// Steering: reading the copy least likely to be stalling.
    Locked,
    /// The profiles showed no structure above chance: reading a fixed copy, retrying later.
    NoSignal,
}

impl serde::Serialize for SteerState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl SteerState {
    pub fn name(self) -> &'static str {
        match self {
            SteerState::Calibrating => "calibrating",
            SteerState::Locked => "locked",
            SteerState::NoSignal => "no-signal",
        }
    }
}

/// A snapshot of the tracker for reports. Shares are fractions (0..1). Serialized (camelCase) it
/// is `stats().steer` in JS, as index.d.ts's `SteerStats` declares it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SteerReport {
    pub state: SteerState,
    /// Every observed read, including outliers.
    pub reads: u64,
    /// Reads slower than `slow_ticks` but under the noise ceiling.
    pub slow_reads: u64,
    /// Reads over the noise ceiling (ignored for learning).
    pub outliers: u64,
    /// Reads observed while locked (steered), and how many of them were slow.
    pub steered_reads: u64,
    pub steered_slow: u64,
    /// Exploring reads (one observed read in `explore_every` while locked reads the copies in
    /// turn, unsteered) and how many were slow: a live unsteered baseline beside `steered_*`.
    pub explored_reads: u64,
    pub explored_slow: u64,
    /// Guard windows in which steered reads were significantly slower than exploring ones (the
    /// tracker then calibrated again).
    pub not_helping: u64,
    /// Slow share over the last completed window (block, search or calibration).
    pub window_slow_share: f64,
    /// Phase jumps followed (shifts larger than drift, found by the per-block search).
    pub reacquisitions: u64,
    /// Calibrations started (the first one included).
    pub calibrations: u64,
    /// Single-bin-scale phase corrections made while locked (drift following).
    pub drift_steps: u64,
    /// Period corrections made while locked.
    pub period_updates: u64,
    /// Current phase offset, as a fraction of the period (0..1).
    pub phase_offset: f64,
    /// Current period estimate, in ticks (serialized in ns, as `periodNs`).
    #[serde(rename = "periodNs", serialize_with = "crate::tsc::serialize_ticks_as_ns")]
    pub period_ticks: f64,
    /// Per copy: highest minus lowest smoothed slow probability across bins.
    pub contrast: Vec<f64>,
    /// Per copy: chi-square z-score of its slow counts across bins (chance is about 0).
    pub signal_z: Vec<f64>,
    /// Largest circular distance between two copies' stall centres, as a fraction of the period
    /// (0..0.5; half a period means they stall as far apart as they can).
    pub stall_distance: f64,
    /// Whether the copies stall apart: stall centres at least a quarter period apart and steering
    /// predicted to at least halve the slow share.
    pub copies_apart: bool,
    /// Slow share the learned profiles predict for steered reads and for reads of a random copy.
    pub expected_steered_share: f64,
    pub expected_unsteered_share: f64,
    /// The reads are cache-resident right now (nearly every timed read of the last block was a
    /// cache hit): the reader reads copy 0, untimed, until it looks again.
    pub resident: bool,
    /// Spells of cache residence found, and reads served by copy 0 during them.
    pub resident_spells: u64,
    pub resident_reads: u64,
}

/// Reads and slow reads per copy and bin (copy-major, bins per copy).
struct BinCounts {
    reads: Vec<u32>,
    slow: Vec<u32>,
}

impl BinCounts {
    fn new(cells: usize) -> BinCounts {
        BinCounts { reads: vec![0; cells], slow: vec![0; cells] }
    }

    /// Both count arrays, for work done to each alike.
    fn arrays(&mut self) -> [&mut Vec<u32>; 2] {
        [&mut self.reads, &mut self.slow]
    }
}

/// A block's drift check in progress. Scoring one candidate shift over the decaying history costs
/// ~40 ns (2 copies x 16 bins here); the 2 x drift_bins + 1 of them at once made the read that ended
/// a block ~270 ns slower, one read in ~4000: a spike of its own in the steered tail, in reads
/// that are not refresh-stalled. So one candidate is scored per observed read after the block.
#[derive(Clone, Copy, Debug)]
struct DriftCheck {
    /// Next candidate: 0 is "no shift", then +1, -1, +2, -2, ... up to drift_bins.
    next: usize,
    /// Score of no shift plus the gate a shift must beat, then the best (score, shift) so far.
    best: (f32, i64),
    /// Whether this block halves the history once the check is done (every fourth block).
    halve: bool,
}

/// Learns and follows the refresh phase of N copies; see the module docs.
pub struct Tracker {
    cfg: TrackerConfig,
    /// 64 - log2(bins): phase >> bin_shift is the bin.
    bin_shift: u32,
    mask: usize,
    /// Phase per tick, as a fraction of 2^64.
    step: u64,
    t_ref: u64,
    theta: u64,
    state: SteerState,
    rr: usize,
    explored: u32,
    /// Whether the last `choose_observed` read explored (read a copy in turn, unsteered).
    exploring: bool,
    /// (steered reads, steered slow, explored reads, explored slow) when the guard window began:
    /// the window's counts are the totals minus these.
    guard_from: [u64; 4],

    /// Calibration observations: (t - t_ref) << 4 | copy << 1 | slow. Capacity fixed at new().
    calib: Vec<u64>,
    /// Smoothed slow probability p per copy and bin (copy-major, bins per copy), ln p and
    /// ln (1 − p).
    p: Vec<f32>,
    log_p: Vec<f32>,
    log_q: Vec<f32>,
    /// The copy to read in each bin.
    choice: Vec<u8>,
    /// Recent reads per copy and bin, in current phase coordinates, decaying over about eight
    /// blocks (drift following).
    recent: BinCounts,
    /// The same for the current and the previous block only (jump detection).
    block: BinCounts,
    prev_block: BinCounts,
    /// Scratch of copies * bins for smoothing and rotation.
    scratch: Vec<f32>,
    scratch_u: Vec<u32>,
    /// cos/sin table for the period search.
    trig: Trig,
    /// Per-candidate accumulators for the period search (copies of (re, im)).
    acc: Vec<(f64, f64)>,

    window_reads: u32,
    window_slow: u32,
    /// Timed reads of the current block that a cache answered.
    window_cached: u32,
    /// Untimed copy-0 reads left because the last block was cache-resident.
    resident_left: u64,
    resident_spells: u64,
    resident_served: u64,
    blocks: u64,
    /// The drift check of the last block, spread over the observed reads after it (see
    /// `DriftCheck`); None when none is under way.
    drift_check: Option<DriftCheck>,
    /// Slow reads in a block well above what steering predicts (a bad block).
    trigger: u32,
    nosignal_left: u64,
    bad_blocks: u32,
    /// Net drift steps (bins) since `drift_since`, for the period correction.
    drift_net: i64,
    drift_since: u64,
    last_t: u64,

    reads: u64,
    slow: u64,
    outliers: u64,
    steered_reads: u64,
    steered_slow: u64,
    explored_reads: u64,
    explored_slow: u64,
    /// Guard windows in which steered reads were slow more often than exploring ones.
    not_helping: u64,
    window_share: f64,
    reacquisitions: u64,
    calibrations: u64,
    drift_steps: u64,
    period_updates: u64,
    contrast: Vec<f64>,
    signal_z: Vec<f64>,
    stall_distance: f64,
    copies_apart: bool,
    /// Slow shares the learned profiles predict, steered and reading a random copy.
    expected_steered: f64,
    expected_unsteered: f64,
}

/// Phase step per tick for a period in ticks (period >= bins >= 16, so it fits).
#[inline(always)]
fn step_for(period_ticks: f64) -> u64 {
    phase::step(period_ticks)
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Result<Tracker> {
        cfg.validate()?;
        let cells = cfg.copies * cfg.bins;
        let trig = Trig::new();
        Ok(Tracker {
            bin_shift: 64 - cfg.bins.trailing_zeros(),
            mask: cfg.bins - 1,
            step: step_for(cfg.period_ticks),
            t_ref: 0,
            theta: 0,
            state: SteerState::Calibrating,
            rr: 0,
            explored: 0,
            exploring: false,
            guard_from: [0; 4],
            calib: Vec::with_capacity(cfg.calibration_reads),
            p: vec![0.0; cells],
            log_p: vec![0.0; cells],
            log_q: vec![0.0; cells],
            choice: vec![0; cfg.bins],
            recent: BinCounts::new(cells),
            block: BinCounts::new(cells),
            prev_block: BinCounts::new(cells),
            scratch: vec![0.0; cells],
            scratch_u: vec![0; cells],
            trig,
            acc: vec![(0.0, 0.0); cfg.copies],
            window_reads: 0,
            window_cached: 0,
            resident_left: 0,
            resident_spells: 0,
            resident_served: 0,
            window_slow: 0,
            blocks: 0,
            drift_check: None,
            trigger: u32::MAX,
            nosignal_left: 0,
            bad_blocks: 0,
            drift_net: 0,
            drift_since: 0,
            last_t: 0,
            reads: 0,
            slow: 0,
            outliers: 0,
            steered_reads: 0,
            steered_slow: 0,
            explored_reads: 0,
            explored_slow: 0,
            not_helping: 0,
            window_share: 0.0,
            reacquisitions: 0,
            calibrations: 1,
            drift_steps: 0,
            period_updates: 0,
            contrast: vec![0.0; cfg.copies],
            signal_z: vec![0.0; cfg.copies],
            stall_distance: 0.0,
            copies_apart: false,
            expected_steered: 0.0,
            expected_unsteered: 0.0,
            cfg,
        })
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    pub fn state(&self) -> SteerState {
        self.state
    }

    /// The phase bin of instant `t` under the current estimate.
    #[inline(always)]
    fn bin(&self, t: u64) -> usize {
        (t.wrapping_sub(self.t_ref).wrapping_mul(self.step).wrapping_add(self.theta) >> self.bin_shift) as usize
    }

    /// The phase of instant `t` under the current estimate, as a fraction of the period (0..1).
    pub fn phase_at(&self, t: u64) -> f64 {
        phase::cycles(t.wrapping_sub(self.t_ref).wrapping_mul(self.step).wrapping_add(self.theta))
    }

    /// The copy to read at instant `t`: while calibrating the copies in turn, while locked the
    /// copy least likely to be stalling, with no signal always copy 0.
    #[inline(always)]
    pub fn choose(&mut self, t: u64) -> usize {
        match self.state {
            SteerState::Locked => self.choice[self.bin(t) & self.mask] as usize,
            SteerState::Calibrating => {
                let c = self.rr;
                self.rr += 1;
                if self.rr == self.cfg.copies {
                    self.rr = 0;
                }
                c
            }
            SteerState::NoSignal => 0,
        }
    }

    /// The copy to read at `t` for a read that will be observed: like `choose`, except that while
    /// steering, one in `explore_every` of these reads the copies in turn.
    #[inline]
    pub fn choose_observed(&mut self, t: u64) -> usize {
        self.exploring = false;
        if self.state == SteerState::Locked && self.copies_apart && self.cfg.explore_every > 0 {
            self.explored = self.explored.wrapping_add(1);
            if self.explored % self.cfg.explore_every == 0 {
                let c = self.rr;
                self.rr = if self.rr + 1 == self.cfg.copies { 0 } else { self.rr + 1 };
                self.exploring = true;
                return c;
            }
        }
        self.choose(t)
    }

    /// The copy to read without timing it, when timing would teach nothing: no periodic signal, or
    /// copies that stall together. The reader then skips the clock and calls `count_untimed`.
    #[inline(always)]
    pub fn untimed_copy(&self) -> Option<usize> {
        match self.state {
            SteerState::NoSignal => Some(0),
            SteerState::Locked if !self.copies_apart || self.resident_left > 0 => Some(0),
            _ => None,
        }
    }

    /// Counts one read served by `untimed_copy`; after `retry_reads` of them (no signal), or
    /// `resident_reads` (cache-resident), looks again.
    #[inline(always)]
    pub fn count_untimed(&mut self) {
        self.reads += 1;
        if self.resident_left > 0 {
            self.resident_left -= 1;
            self.resident_served += 1;
            return;
        }
        self.nosignal_left = self.nosignal_left.saturating_sub(1);
        if self.nosignal_left == 0 {
            self.start_calibration();
        }
    }

    /// Feeds one timed read: it started at `t` (ticks), read `copy` and took `latency` ticks.
    /// A copy out of range is ignored.
    #[inline]
    pub fn observe(&mut self, t: u64, copy: usize, latency: u64) {
        if copy >= self.cfg.copies {
            return;
        }
        self.reads += 1;
        self.last_t = t;
        if latency > self.cfg.noise_ticks {
            self.outliers += 1;
            return;
        }
        let slow = latency > self.cfg.slow_ticks;
        self.slow += slow as u64;
        match self.state {
            SteerState::Calibrating => {
                if self.calib.is_empty() {
                    self.t_ref = t;
                }
                let rel = t.wrapping_sub(self.t_ref) & ((1 << 60) - 1);
                if self.calib.len() < self.cfg.calibration_reads {
                    self.calib.push(rel << 4 | (copy as u64) << 1 | slow as u64);
                }
                if self.calib.len() == self.cfg.calibration_reads {
                    self.finish_calibration();
                }
            }
            SteerState::Locked => {
                if std::mem::take(&mut self.exploring) {
                    self.explored_reads += 1;
                    self.explored_slow += slow as u64;
                } else {
                    self.steered_reads += 1;
                    self.steered_slow += slow as u64;
                }
                let idx = copy * self.cfg.bins + (self.bin(t) & self.mask);
                self.recent.reads[idx] += 1;
                self.recent.slow[idx] += slow as u32;
                self.block.reads[idx] += 1;
                self.block.slow[idx] += slow as u32;
                self.window_reads += 1;
                self.window_slow += slow as u32;
                self.window_cached += (latency < self.cfg.cached_ticks) as u32;
                if self.drift_check.is_some() {
                    self.drift_slice(t);
                }
                if self.window_reads as usize >= self.cfg.block_reads {
                    self.end_block(t);
                }
            }
            SteerState::NoSignal => {
                self.nosignal_left = self.nosignal_left.saturating_sub(1);
                if self.nosignal_left == 0 {
                    self.start_calibration();
                }
            }
        }
    }

    fn start_calibration(&mut self) {
        self.guard_from = self.guard_totals();
        self.state = SteerState::Calibrating;
        self.calibrations += 1;
        self.calib.clear();
        self.rr = 0;
    }

    fn clear_window(&mut self) {
        // A drift check on cleared history would score nothing: drop it.
        self.drift_check = None;
        for c in [&mut self.recent, &mut self.block, &mut self.prev_block] {
            c.arrays().into_iter().for_each(|h| h.fill(0));
        }
        self.reset_window_counts();
    }

    /// Zeroes the current window's read, slow and cached counts.
    fn reset_window_counts(&mut self) {
        self.window_reads = 0;
        self.window_slow = 0;
        self.window_cached = 0;
    }

    /// End of calibration: find the period, learn the profiles, decide whether there is a signal,
    /// build the choice table. Work: (candidate periods) x (slow reads) table lookups, then a few
    /// passes over the calibration reads; about a millisecond for the defaults.
    fn finish_calibration(&mut self) {
        let n = self.calib.len();
        let slow_calib = self.calib.iter().filter(|&&o| o & 1 == 1).count();
        self.window_share = slow_calib as f64 / n.max(1) as f64;
        let mut any_signal = self.learn_calibration(self.cfg.period_search);
        if !self.copies_apart && self.cfg.period_search == 0.0 {
            // A measured period is trusted as it is (a search on calibration pins it less finely),
            // unless the profiles at it show nothing to steer: on host A the 300 ms measurement
            // was 0.03-0.04% off in 2 of 4 placements, enough to smear tens of milliseconds of
            // calibration into "no signal". Then a narrow search; kept only if it finds copies
            // apart (the measured period is learned again otherwise).
            any_signal = self.learn_calibration(MEASURED_PERIOD_RESCUE);
            if !self.copies_apart {
                any_signal = self.learn_calibration(0.0);
            }
        }
        self.settle_calibration(any_signal);
    }

    /// Learns the period (searched within ±`search`), the profiles and the choice table from the
    /// calibration reads; returns whether any copy shows a signal (and sets `copies_apart`).
    fn learn_calibration(&mut self, search: f64) -> bool {
        let n = self.calib.len();
        self.search_period(search);
        self.theta = 0;
        let (bins, copies) = (self.cfg.bins, self.cfg.copies);

        // Raw counts per copy and bin, in the phase coordinates just found.
        self.clear_window();
        for k in 0..n {
            let o = self.calib[k];
            let c = ((o >> 1) & 7) as usize;
            if c >= copies {
                continue;
            }
            let b = ((o >> 4).wrapping_mul(self.step) >> self.bin_shift) as usize & self.mask;
            self.recent.reads[c * bins + b] += 1;
            self.recent.slow[c * bins + b] += (o & 1) as u32;
        }

        // Signal per copy: chi-square of slow counts across bins against a flat profile.
        let mut any_signal = false;
        for c in 0..copies {
            let cells = c * bins..(c + 1) * bins;
            let (nt, st) = cells.clone().fold((0u64, 0u64), |(a, b), i| (a + self.recent.reads[i] as u64, b + self.recent.slow[i] as u64));
            let pm = if nt == 0 { 0.0 } else { st as f64 / nt as f64 };
            let mut chi = 0.0;
            let mut dof = 0usize;
            if pm > 0.0 && pm < 1.0 {
                for i in cells.clone() {
                    let e = self.recent.reads[i] as f64 * pm;
                    if e > 0.0 {
                        let d = self.recent.slow[i] as f64 - e;
                        chi += d * d / (e * (1.0 - pm));
                        dof += 1;
                    }
                }
            }
            let z = if dof > 1 { (chi - (dof - 1) as f64) / (2.0 * (dof - 1) as f64).sqrt() } else { 0.0 };
            self.signal_z[c] = z;
            any_signal |= z >= SIGNAL_Z;

            // Shrink each bin toward the copy mean, then smooth circularly (two [1 2 1] passes).
            let pm32 = pm as f32;
            for i in cells.clone() {
                self.p[i] = (self.recent.slow[i] as f32 + PRIOR_READS * pm32) / (self.recent.reads[i] as f32 + PRIOR_READS);
            }
            for _ in 0..2 {
                for b in 0..bins {
                    let at = |d: usize| self.p[c * bins + ((b + d) & self.mask)];
                    self.scratch[c * bins + b] = 0.25 * at(bins - 1) + 0.5 * at(0) + 0.25 * at(1);
                }
                self.p[cells.clone()].copy_from_slice(&self.scratch[cells.clone()]);
            }
            let (lo, hi) = self.p[cells.clone()].iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            self.contrast[c] = (hi - lo).max(0.0) as f64;
        }
        for i in 0..copies * bins {
            let p = self.p[i].clamp(1e-4, 1.0 - 1e-4);
            self.log_p[i] = p.ln();
            self.log_q[i] = (1.0 - p).ln();
        }

        // Choice: per bin the copy whose worst probability within the margin is lowest.
        let m = self.cfg.margin_bins;
        let (mut es, mut eu) = (0.0f64, 0.0f64);
        for b in 0..bins {
            let mut best = (f32::MAX, 0usize);
            for c in 0..copies {
                let mut worst = 0.0f32;
                for k in 0..=2 * m {
                    worst = worst.max(self.p[c * bins + ((b + bins + k - m) & self.mask)]);
                }
                if worst < best.0 {
                    best = (worst, c);
                }
                eu += self.p[c * bins + b] as f64;
            }
            self.choice[b] = best.1 as u8;
            es += self.p[best.1 * bins + b] as f64;
        }
        self.expected_steered = es / bins as f64;
        self.expected_unsteered = eu / (bins * copies) as f64;

        // Are the copies' stalls apart? Worst bins far apart and steering predicted to help.
        // Each copy's stall centre: the phase of its profile's first harmonic (a flat-topped
        // window has no single worst bin, its centre is stable).
        let mut centre = [0.0f64; MAX_REPLICAS];
        for (c, slot) in centre.iter_mut().enumerate().take(copies) {
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for b in 0..bins {
                let a = b as f64 / bins as f64 * std::f64::consts::TAU;
                re += self.p[c * bins + b] as f64 * a.cos();
                im += self.p[c * bins + b] as f64 * a.sin();
            }
            *slot = im.atan2(re) / std::f64::consts::TAU;
        }
        let mut far = 0.0f64;
        for a in 0..copies {
            for b in a + 1..copies {
                let d = (centre[a] - centre[b]).rem_euclid(1.0);
                far = far.max(d.min(1.0 - d));
            }
        }
        self.stall_distance = far;
        self.copies_apart = any_signal && self.stall_distance >= 0.25 && self.expected_steered <= 0.75 * self.expected_unsteered;
        if !self.copies_apart {
            // Copies that stall together gain nothing from switching; switching on noise would
            // only spread reads. Read copy 0, like an unsteered reader, and say so in the report.
            self.choice.fill(0);
            self.expected_steered = (0..bins).map(|b| self.p[b] as f64).sum::<f64>() / bins as f64;
        }
        any_signal
    }

    /// After learning: the bad-block trigger, fresh windows, and the state the calibration leads to.
    fn settle_calibration(&mut self, any_signal: bool) {
        // A bad block: a slow count well above what locking predicts (exploring reads included).
        let blk = self.cfg.block_reads as f64;
        let e = if self.cfg.explore_every > 0 { 1.0 / self.cfg.explore_every as f64 } else { 0.0 };
        let base = ((1.0 - e) * self.expected_steered + e * self.expected_unsteered) * blk;
        let rise = (0.35 * (self.expected_unsteered - self.expected_steered) * blk).max(3.0 * base.max(1.0).sqrt());
        self.trigger = (base + rise).ceil().max(2.0) as u32;

        self.clear_window();
        self.bad_blocks = 0;
        self.drift_net = 0;
        self.drift_since = self.last_t;
        if any_signal {
            self.state = SteerState::Locked;
            // Copies that stall together: nothing to steer, so reads go untimed to copy 0 until a
            // recalibration after an eighth of `retry_reads` (see `untimed_copy`): a calibration
            // that fell in a noisy spell can wash out copies that do stall apart.
            self.nosignal_left = (self.cfg.retry_reads / 8).max(1);
        } else {
            self.state = SteerState::NoSignal;
            self.nosignal_left = self.cfg.retry_reads.max(1);
        }
    }

    /// Picks the period (step) that makes the slow reads of each copy most concentrated in phase
    /// (the first-harmonic power, summed over copies), on a coarse grid over ±`period_search`
    /// then a fine one around the best.
    fn search_period(&mut self, search: f64) {
        let nominal = self.cfg.period_ticks;
        let span = self.calib.last().map(|&o| o >> 4).unwrap_or(0) as f64;
        if search == 0.0 || span < nominal * 16.0 {
            self.step = step_for(nominal);
            return;
        }
        // Candidates spaced so the phase at the end of calibration moves 1/8 period per step.
        let coarse = (0.125 * nominal / span).max(1e-9);
        let k = ((search / coarse).ceil() as i64).min(1000);
        let mut best = (f64::MIN, 0.0f64);
        for i in -k..=k {
            let rel = i as f64 * coarse;
            let power = self.harmonic_power(step_for(nominal * (1.0 + rel)));
            if power > best.0 {
                best = (power, rel);
            }
        }
        let centre = best.1;
        for i in -8i64..=8 {
            let rel = centre + i as f64 * coarse / 8.0;
            let power = self.harmonic_power(step_for(nominal * (1.0 + rel)));
            if power > best.0 {
                best = (power, rel);
            }
        }
        self.step = step_for(nominal * (1.0 + best.1));
    }

    fn harmonic_power(&mut self, step: u64) -> f64 {
        self.acc.fill((0.0, 0.0));
        for &o in self.calib.iter().filter(|&&o| o & 1 == 1) {
            let c = ((o >> 1) & 7) as usize;
            let (cs, sn) = self.trig.at((o >> 4).wrapping_mul(step));
            if let Some(a) = self.acc.get_mut(c) {
                a.0 += cs;
                a.1 += sn;
            }
        }
        self.acc.iter().map(|a| a.0 * a.0 + a.1 * a.1).sum()
    }

    /// Log-likelihood of the decaying recent reads if the true phase were `delta` bins ahead.
    fn score(&self, delta: usize) -> f32 {
        self.likelihood(delta, &self.recent, None)
    }

    /// Log-likelihood of the last two blocks' reads if the true phase were `delta` bins ahead.
    fn score_recent(&self, delta: usize) -> f32 {
        self.likelihood(delta, &self.block, Some(&self.prev_block))
    }

    /// Log-likelihood of `counts` (plus `more`) under the learned profile shifted by `delta` bins.
    fn likelihood(&self, delta: usize, counts: &BinCounts, more: Option<&BinCounts>) -> f32 {
        #[cfg(test)]
        tests::SCORED.with(|n| n.set(n.get() + 1));
        let bins = self.cfg.bins;
        let mut s = 0.0f32;
        for c in 0..self.cfg.copies {
            for b in 0..bins {
                let i = c * bins + b;
                let (n, k) = match more {
                    Some(m) => (counts.reads[i] + m.reads[i], counts.slow[i] + m.slow[i]),
                    None => (counts.reads[i], counts.slow[i]),
                };
                if n == 0 {
                    continue;
                }
                let j = c * bins + ((b + delta) & self.mask);
                s += k as f32 * self.log_p[j] + (n - k) as f32 * self.log_q[j];
            }
        }
        s
    }

    /// Moves the phase estimate `delta` bins ahead (so bin(t) grows by delta), carrying the
    /// recent histograms along.
    fn shift_phase(&mut self, delta: usize) {
        let delta = delta & self.mask;
        if delta == 0 {
            return;
        }
        self.theta = self.theta.wrapping_add((delta as u64) << self.bin_shift);
        let bins = self.cfg.bins;
        for h in [&mut self.recent, &mut self.block, &mut self.prev_block].into_iter().flat_map(BinCounts::arrays) {
            self.scratch_u.copy_from_slice(h);
            for c in 0..self.cfg.copies {
                for b in 0..bins {
                    h[c * bins + ((b + delta) & self.mask)] = self.scratch_u[c * bins + b];
                }
            }
        }
    }

    /// End of a locked block. After a bad block (a slow count well above what steering predicts),
    /// every possible phase shift is scored against the last two blocks: a shift beyond drift
    /// range that explains them better by `JUMP_GATE` nats is a phase jump and is taken at once.
    /// Both tests must pass, so neither a rise of the noise floor (no shift explains it) nor a
    /// lucky shift on quiet data (no rise) moves the phase. Otherwise small drift is followed on
    /// the longer, decaying history.
    /// Many bad blocks in a row mean stale profiles: calibrate again.
    /// Work: bins x copies x bins multiply-adds (about 30 µs at the defaults), once a block.
    fn end_block(&mut self, t: u64) {
        self.window_share = self.window_slow as f64 / self.window_reads.max(1) as f64;
        if self.window_cached as f64 >= RESIDENT_SHARE * self.window_reads as f64 {
            // The reads are not DRAM-bound: nothing to steer around. The phase learned stays; the
            // first bad blocks after the spell follow any jump it missed, as after any jump.
            self.resident_left = self.cfg.resident_reads.max(1);
            self.resident_spells += 1;
            self.clear_window();
            return;
        }
        if !self.copies_apart {
            // Nothing to steer (copy 0 is always read): no phase to follow.
            self.clear_window();
            return;
        }
        let bad = self.window_slow >= self.trigger;
        if bad {
            self.bad_blocks += 1;
            if self.bad_blocks > MAX_BAD_BLOCKS {
                self.start_calibration();
                return;
            }
        } else {
            self.bad_blocks = 0;
        }
        if self.steering_hurts() {
            self.not_helping += 1;
            self.start_calibration();
            return;
        }
        let bins = self.cfg.bins;
        let d = self.cfg.drift_bins;
        let (mut best, mut here) = ((f32::MIN, 0usize), 0.0f32);
        if bad {
            for delta in 0..bins {
                let s = self.score_recent(delta);
                if delta == 0 {
                    here = s;
                }
                if s > best.0 {
                    best = (s, delta);
                }
            }
        }
        let far = best.1.min(bins - best.1) > d;
        if bad && far && best.0 > here + JUMP_GATE {
            let centre = self.plateau_centre(best);
            self.shift_phase(centre);
            self.reacquisitions += 1;
            // History from before the jump would pull the drift check back: forget it.
            self.clear_window();
            self.drift_net = 0;
            self.drift_since = t;
            return;
        }
        // Small drift is followed on the decaying history, one candidate shift per observed read
        // from here on (a check still running from the last block is finished first).
        while self.drift_check.is_some() {
            self.drift_slice(t);
        }
        self.blocks += 1;
        self.drift_check = Some(DriftCheck { next: 0, best: (0.0, 0), halve: self.blocks & 3 == 0 });
        std::mem::swap(&mut self.block, &mut self.prev_block);
        self.block.reads.fill(0);
        self.block.slow.fill(0);
        self.reset_window_counts();
    }

    /// One step of the drift check: scores one candidate shift; after the last, takes the best
    /// shift if it beats no shift by `DRIFT_GATE` nats (and corrects the period on steady
    /// drift), then halves the history every fourth block, so the check saw it unhalved.
    fn drift_slice(&mut self, t: u64) {
        let Some(mut check) = self.drift_check else { return };
        let d = self.cfg.drift_bins;
        if check.next == 0 {
            check.best = (self.score(0) + DRIFT_GATE, 0);
        } else {
            let k = check.next.div_ceil(2) as i64;
            let delta = if check.next % 2 == 1 { k } else { -k };
            let s = self.score(delta as usize & self.mask);
            if s > check.best.0 {
                check.best = (s, delta);
            }
        }
        check.next += 1;
        if check.next <= 2 * d {
            self.drift_check = Some(check);
            return;
        }
        self.drift_check = None;
        let step = check.best.1;
        if step != 0 {
            self.shift_phase(step as usize & self.mask);
            self.drift_steps += 1;
            self.drift_net += step;
            self.correct_period(t);
        }
        // Halve the history every fourth block: the drift check sees roughly the last eight
        // blocks, enough for the few slow reads at a stall edge to add up.
        if check.halve {
            for i in 0..self.recent.reads.len() {
                self.recent.reads[i] >>= 1;
                self.recent.slow[i] >>= 1;
            }
        }
    }

    /// Whether, over the guard window, steering fell significantly short of what the profiles
    /// promise: the exploring (unsteered) reads of the same moments minus the steered reads, in
    /// share of slow reads, is below half the gain the profiles predict (z > 2 on the two
    /// proportions). Stale profiles or a wrong phase: steered reads slower than unsteered ones
    /// are the extreme case, but profiles that no longer fit also show as steering that gains
    /// nothing, at every observing rate. Resets the window once it holds enough of both.
    fn steering_hurts(&mut self) -> bool {
        const ENOUGH: u64 = 1024;
        let now = self.guard_totals();
        let [sn, ss, en, es] = std::array::from_fn(|k| now[k] - self.guard_from[k]);
        if en < ENOUGH || sn < ENOUGH {
            return false;
        }
        self.guard_from = now;
        let (sn, ss, en, es) = (sn as f64, ss as f64, en as f64, es as f64);
        let p = (ss + es) / (sn + en);
        let se = (p * (1.0 - p) * (1.0 / sn + 1.0 / en)).sqrt();
        let promised = 0.5 * (self.expected_unsteered - self.expected_steered).max(0.0);
        se > 0.0 && (promised - (es / en - ss / sn)) / se > 2.0
    }

    fn guard_totals(&self) -> [u64; 4] {
        [self.steered_reads, self.steered_slow, self.explored_reads, self.explored_slow]
    }

    /// Inside the steering slack many shifts explain the reads about equally well: the middle
    /// of the run of near-best shifts around the best one.
    fn plateau_centre(&self, best: (f32, usize)) -> usize {
        let bins = self.cfg.bins;
        let near = best.0 - PLATEAU;
        let (mut lo, mut hi) = (0usize, 0usize);
        while lo < bins / 2 && self.score_recent(best.1.wrapping_sub(lo + 1) & self.mask) >= near {
            lo += 1;
        }
        while hi < bins / 2 && self.score_recent((best.1 + hi + 1) & self.mask) >= near {
            hi += 1;
        }
        (best.1 + bins + hi / 2 - lo / 2) & self.mask
    }

    /// Steady drift in one direction means the period estimate is off: fold the drift rate into
    /// the step so the phase stops running away. Keeps bin(t) continuous at `t`.
    fn correct_period(&mut self, t: u64) {
        if self.drift_net.unsigned_abs() < 8 {
            return;
        }
        let elapsed = t.wrapping_sub(self.drift_since);
        if elapsed == 0 || elapsed > 1 << 62 {
            self.drift_net = 0;
            self.drift_since = t;
            return;
        }
        // drift_net bins over `elapsed` ticks: phase per tick is off by drift_net * 2^bin_shift / elapsed.
        let dstep = (self.drift_net as i128 * (1i128 << self.bin_shift)) / elapsed as i128;
        let dstep = dstep as i64;
        let old = t.wrapping_sub(self.t_ref).wrapping_mul(self.step).wrapping_add(self.theta);
        self.step = self.step.wrapping_add(dstep as u64);
        let new = t.wrapping_sub(self.t_ref).wrapping_mul(self.step).wrapping_add(self.theta);
        self.theta = self.theta.wrapping_add(old.wrapping_sub(new));
        self.period_updates += 1;
        self.drift_net = 0;
        self.drift_since = t;
    }

    pub fn report(&self) -> SteerReport {
        SteerReport {
            state: self.state,
            reads: self.reads,
            slow_reads: self.slow,
            outliers: self.outliers,
            steered_reads: self.steered_reads,
            steered_slow: self.steered_slow,
            explored_reads: self.explored_reads,
            explored_slow: self.explored_slow,
            not_helping: self.not_helping,
            window_slow_share: self.window_share,
            reacquisitions: self.reacquisitions,
            calibrations: self.calibrations,
            drift_steps: self.drift_steps,
            period_updates: self.period_updates,
            phase_offset: phase::cycles(self.theta),
            period_ticks: phase::CYCLE / self.step.max(1) as f64,
            contrast: self.contrast.clone(),
            signal_z: self.signal_z.clone(),
            stall_distance: self.stall_distance,
            copies_apart: self.copies_apart,
            expected_steered_share: self.expected_steered,
            expected_unsteered_share: self.expected_unsteered,
            resident: self.resident_left > 0,
            resident_spells: self.resident_spells,
            resident_reads: self.resident_served,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steer::synth::{Model, Sim};

    thread_local! {
        /// Likelihood evaluations on this thread (the tracker's one costly step), for tests.
        pub(super) static SCORED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    fn locked(model: Model) -> (Tracker, Sim) {
        let mut tr = Tracker::new(model.config()).unwrap();
        let mut sim = Sim::new(model);
        let took = sim.until_settled(&mut tr, 40_000).expect("calibration ends");
        assert_eq!(took as usize, tr.config().calibration_reads);
        assert_eq!(tr.state(), SteerState::Locked, "{:?}", tr.report());
        (tr, sim)
    }

    fn assert_cuts_slow_reads(sim: &Sim, what: &str) {
        let steered = sim.steered_slow as f64 / sim.reads as f64;
        let direct = sim.direct_slow as f64 / sim.reads as f64;
        assert!(direct > 0.03, "{what}: the model should be slow often unsteered, got {direct}");
        assert!(steered <= direct / 3.0, "{what}: steered {steered:.4} vs unsteered {direct:.4}");
    }

    #[test]
    fn locks_and_cuts_slow_reads_to_a_third() {
        let (mut tr, mut sim) = locked(Model::two_groups(1));
        sim.reset_counts();
        sim.run(&mut tr, 200_000);
        assert_cuts_slow_reads(&sim, "locked");
        let r = tr.report();
        assert_eq!(r.state, SteerState::Locked);
        assert_eq!(r.reacquisitions, 0, "no jump, no search: {r:?}");
        assert!(r.contrast.iter().all(|&c| c > 0.05), "{r:?}");
        // The period search found the true period (40 ppm off the nominal) within 2 ppm.
        let true_ticks = sim.model.period_ns * sim.model.ticks_per_ns;
        assert!((r.period_ticks / true_ticks - 1.0).abs() < 2e-6, "{} vs {true_ticks}", r.period_ticks);
    }

    #[test]
    fn copies_that_stall_half_a_period_apart_are_reported_apart() {
        let (tr, _) = locked(Model::two_groups(2));
        let r = tr.report();
        assert!(r.copies_apart, "{r:?}");
        assert!((r.stall_distance - 0.5).abs() < 0.1, "{r:?}");
        assert!(r.expected_steered_share < r.expected_unsteered_share / 3.0, "{r:?}");
    }

    #[test]
    fn copies_that_stall_together_are_reported_not_apart() {
        let mut m = Model::two_groups(3);
        m.group = vec![0.0, 0.0];
        let (tr, _) = locked(m);
        let r = tr.report();
        assert!(!r.copies_apart, "{r:?}");
        assert!(r.stall_distance < 0.1, "{r:?}");
        let mut tr = tr;
        assert!((0..10_000u64).all(|k| tr.choose(k * 977) == 0), "no switching between copies that stall together");
    }

    /// Share of the next `n` reads that went to a copy inside its stall window.
    fn mis_steered(tr: &mut Tracker, sim: &mut Sim, n: u64) -> f64 {
        let mut bad = 0u64;
        for _ in 0..n {
            let t = sim.t;
            let c = sim.step(tr);
            bad += sim.model.stalling(t, c) as u64;
        }
        bad as f64 / n as f64
    }

    #[test]
    fn cache_resident_reads_are_not_steered_and_dram_reads_are_again() {
        let (mut tr, mut sim) = locked(Model::two_groups(21));
        assert!(tr.untimed_copy().is_none(), "locked on copies that stall apart: steering");
        let cfg = *tr.config();
        let hit = cfg.cached_ticks / 2;
        // A block of timed reads that a cache answered (what a hot, cache-resident table gives).
        let mut t = sim.t;
        for k in 0..cfg.block_reads {
            t += 3000;
            let c = tr.choose_observed(t);
            tr.observe(t, c, hit + (k as u64 % 7));
        }
        let r = tr.report();
        assert!(r.resident && r.resident_spells == 1, "{r:?}");
        assert_eq!(r.state, SteerState::Locked, "the learned phase is kept");
        // For `resident_reads` reads: copy 0, untimed (no clock, no second copy in the cache).
        for _ in 0..cfg.resident_reads {
            assert_eq!(tr.untimed_copy(), Some(0));
            tr.count_untimed();
        }
        let r = tr.report();
        assert!(!r.resident && r.resident_reads == cfg.resident_reads, "{r:?}");
        assert!(tr.untimed_copy().is_none(), "then it looks again");
        // DRAM-bound reads (the synthetic model's, 150 ns and up) never count as resident.
        sim.t = t;
        sim.reset_counts();
        sim.run(&mut tr, 200_000);
        let r = tr.report();
        assert_eq!(r.resident_spells, 1, "{r:?}");
        assert_cuts_slow_reads(&sim, "after a cache-resident spell");
    }

    #[test]
    fn a_phase_jump_is_recovered_within_20000_reads() {
        for (seed, jump_ns) in [(4u64, 600.0), (5, -830.0), (6, 400.0), (7, 975.0), (13, -300.0)] {
            let (mut tr, mut sim) = locked(Model::two_groups(seed));
            sim.run(&mut tr, 50_000);
            let before = mis_steered(&mut tr, &mut sim, 2000);
            assert!(before < 0.02, "steering before the jump: {before}");
            let reacq = tr.report().reacquisitions;
            sim.model.phase_ns += jump_ns;
            // Within 20 000 reads of the jump (625 observed, one in LOCKED_OBSERVE_EVERY as SteeredReader does) the
            // tracker has moved its phase and steers well again (a first move may be made on a
            // block that straddles the jump; the next corrects it).
            sim.run(&mut tr, 20_000);
            let r = tr.report();
            assert!(r.reacquisitions > reacq, "jump {jump_ns} ns: not followed within 20000 reads: {r:?}");
            assert_eq!(r.state, SteerState::Locked, "{r:?}");
            let after = mis_steered(&mut tr, &mut sim, 2000);
            assert!(after < 0.03, "jump {jump_ns} ns: {after} of reads still hit a stall 20000 reads later: {r:?}");
            sim.reset_counts();
            sim.run(&mut tr, 100_000);
            assert_cuts_slow_reads(&sim, "after a jump");
        }
    }

    #[test]
    fn slow_drift_is_followed_without_searching() {
        let mut m = Model::two_groups(8);
        m.drift_ns_per_s = 1000.0; // 12 times the worst drift measured between jumps
        let (mut tr, mut sim) = locked(m);
        sim.reset_counts();
        sim.run(&mut tr, 800_000); // about a second of reads
        assert_cuts_slow_reads(&sim, "drifting");
        let r = tr.report();
        assert!(r.drift_steps > 0, "{r:?}");
        assert!(r.reacquisitions <= 1, "{r:?}");
        assert_eq!(r.state, SteerState::Locked);
    }

    #[test]
    fn a_measured_period_a_few_hundred_ppm_off_still_locks() {
        for off in [-4e-4, 4e-4] {
            let m = Model::two_groups(11);
            let cfg = TrackerConfig::for_measured_period(2, m.ticks_per_ns, m.period_ns * (1.0 + off));
            let mut tr = Tracker::new(cfg).unwrap();
            let mut sim = Sim::new(m);
            sim.until_settled(&mut tr, 1 << 22).expect("calibration ends");
            assert_eq!(tr.state(), SteerState::Locked, "period {off:+e} off: {:?}", tr.report());
            assert!(tr.report().copies_apart, "period {off:+e} off: {:?}", tr.report());
            sim.reset_counts();
            sim.run(&mut tr, 200_000);
            assert_cuts_slow_reads(&sim, &format!("measured period {off:+e} off"));
        }
    }

    #[test]
    fn a_locked_read_scores_at_most_one_shift_unless_its_block_was_bad() {
        // The drift check is spread over the reads after a block; only the phase-jump search of
        // a bad block (every shift at once, so a jump is followed at once) scores more.
        let mut m = Model::two_groups(8);
        m.drift_ns_per_s = 1000.0;
        let (mut tr, mut sim) = locked(m);
        let (mut spread, mut blocks) = (0u64, 0u64);
        for _ in 0..400_000 {
            let (before, blocks_before) = (SCORED.with(|n| n.get()), tr.blocks);
            sim.step(&mut tr);
            let scored = SCORED.with(|n| n.get()) - before;
            blocks += (tr.blocks != blocks_before) as u64;
            if scored > 1 {
                assert!(tr.bad_blocks > 0 || tr.reacquisitions > 0, "{scored} scores in one read of a good block");
            } else {
                spread += scored;
            }
        }
        assert_eq!(tr.state(), SteerState::Locked);
        let per_block = 2 * tr.config().drift_bins as u64 + 1;
        assert!(blocks > 10 && spread >= (blocks - 1) * per_block, "{spread} single scores over {blocks} blocks");
        assert!(tr.report().drift_steps > 0, "the spread check still follows drift: {:?}", tr.report());
    }

    #[test]
    fn pure_noise_means_no_signal_a_fixed_copy_and_a_later_retry() {
        let mut m = Model::two_groups(9);
        m.p_stall = m.p_base.max(0.05);
        m.p_base = m.p_stall;
        let mut tr = Tracker::new(m.config()).unwrap();
        let mut sim = Sim::new(m);
        sim.until_settled(&mut tr, 40_000).unwrap();
        let r = tr.report();
        assert_eq!(r.state, SteerState::NoSignal, "{r:?}");
        assert!(r.signal_z.iter().all(|&z| z < SIGNAL_Z), "{r:?}");
        assert!(!r.copies_apart);
        let first = tr.choose(sim.t);
        for _ in 0..40_000 {
            assert_eq!(sim.step(&mut tr), first);
        }
        sim.run(&mut tr, 10_001);
        let r = tr.report();
        assert_eq!(r.calibrations, 2, "retried after retry_reads: {r:?}");
        assert_eq!(r.state, SteerState::Calibrating);
    }

    #[test]
    fn hypervisor_outliers_do_not_break_learning() {
        let mut m = Model::two_groups(10);
        m.p_outlier = 0.03;
        let mut tr = Tracker::new(m.config()).unwrap();
        let mut sim = Sim::new(m);
        sim.until_settled(&mut tr, 40_000).unwrap();
        assert_eq!(tr.state(), SteerState::Locked);
        sim.reset_counts();
        sim.run(&mut tr, 200_000);
        assert_cuts_slow_reads(&sim, "with outliers");
        let r = tr.report();
        assert!(r.outliers > 1_000, "observed outliers were counted, not learned from: {r:?}");
        assert!(r.copies_apart);
    }

    #[test]
    fn four_copies_in_two_groups_steer_too() {
        let mut m = Model::two_groups(11);
        m.group = vec![0.0, 0.5, 0.0, 0.5];
        let (mut tr, mut sim) = locked(m);
        sim.reset_counts();
        sim.run(&mut tr, 200_000);
        assert_cuts_slow_reads(&sim, "four copies");
        assert!(tr.report().copies_apart);
    }

    #[test]
    fn quarter_groups_with_fast_drift_jumps_and_a_noise_floor_are_steered() {
        // The host of docs/ with refresh-group placement; the tracker sees one read in
        // LOCKED_OBSERVE_EVERY while locked, as SteeredReader feeds it.
        let m = Model::quarter_groups(21);
        // As Slayer sets it up after refresh-group placement: the one-line period, here 5 ppm off
        // (the phase then runs 0.6 period a second), and no period search at calibration.
        let cfg = TrackerConfig::for_measured_period(2, m.ticks_per_ns, m.period_ns * (1.0 - 5e-6));
        let mut tr = Tracker::new(cfg).unwrap();
        let mut sim = Sim::new(m);
        sim.observe_every = crate::steer::reader::LOCKED_OBSERVE_EVERY as u64;
        sim.until_settled(&mut tr, 1_000_000).expect("calibration ends");
        let r = tr.report();
        assert_eq!(r.state, SteerState::Locked, "{r:?}");
        assert!(r.copies_apart, "{r:?}");
        sim.reset_counts();
        // About four seconds of reads: four phase jumps, two periods of drift.
        sim.run(&mut tr, 3_000_000);
        let steered = sim.steered_slow as f64 / sim.reads as f64;
        let direct = sim.direct_slow as f64 / sim.reads as f64;
        let r = tr.report();
        assert!(steered <= direct / 2.5, "steered {steered:.4} vs unsteered {direct:.4}: {r:?}");
        assert!(r.reacquisitions <= 40, "few false alarms: {r:?}");
        assert!(r.calibrations <= 2, "{r:?}");
        assert_eq!(r.not_helping, 0, "steering that helps is never called unhelpful: {r:?}");
    }

    #[test]
    fn steering_that_helps_is_not_recalibrated_through_jumps_and_drift() {
        // The guard compares steered reads with the exploring ones against the gain the profiles
        // promise: on a machine the profiles fit, through phase jumps and drift, it never fires.
        for seed in 1..=3u64 {
            for m in [Model::two_groups(40 + seed), Model::quarter_groups(50 + seed)] {
                let cfg = TrackerConfig::for_measured_period(2, m.ticks_per_ns, m.period_ns);
                let mut tr = Tracker::new(cfg).unwrap();
                let mut sim = Sim::new(m);
                sim.observe_every = crate::steer::reader::LOCKED_OBSERVE_EVERY as u64;
                sim.until_settled(&mut tr, 1_000_000).expect("calibration ends");
                sim.run(&mut tr, 2_000_000);
                let r = tr.report();
                assert_eq!(r.not_helping, 0, "seed {seed}: {r:?}");
                assert!(r.explored_reads >= 1024, "the guard had exploring reads to go by: {r:?}");
            }
        }
    }

    #[test]
    fn steering_that_hurts_is_caught_by_the_exploring_reads_and_relearned() {
        // Locked on copy 0 = groups {0, 1/4}, copy 1 = {1/2, 3/4}; then the pages' groups change to
        // copy 0 = {0, 1/2}, copy 1 = {1/4, 3/4}: no phase shift fits the old profiles, so steering
        // now sends reads into stalls more often than reading the copies in turn would.
        let mut m = Model::quarter_groups(31);
        m.jump_every_s = 0.0;
        let cfg = TrackerConfig::for_measured_period(2, m.ticks_per_ns, m.period_ns);
        let mut tr = Tracker::new(cfg).unwrap();
        let mut sim = Sim::new(m);
        sim.until_settled(&mut tr, 1_000_000).expect("calibration ends");
        assert!(tr.report().copies_apart);
        sim.model.group = vec![0.0, 0.25];
        sim.model.more = vec![(0, 0.5), (1, 0.75)];
        sim.run(&mut tr, 3_000_000);
        let r = tr.report();
        assert!(r.not_helping >= 1, "{r:?}");
        assert!(r.calibrations >= 2, "{r:?}");
        sim.reset_counts();
        sim.run(&mut tr, 1_000_000);
        let (steered, direct) = (sim.steered_slow as f64 / sim.reads as f64, sim.direct_slow as f64 / sim.reads as f64);
        assert!(steered < direct / 2.0, "relearned: steered {steered:.4} vs unsteered {direct:.4}: {:?}", tr.report());
        assert!(r.explored_reads > 0 && r.explored_slow <= r.explored_reads);
    }

    #[test]
    fn same_trace_same_decisions() {
        let run = || {
            let (mut tr, mut sim) = locked(Model::two_groups(12));
            sim.model.phase_ns += 600.0;
            sim.run(&mut tr, 20_000);
            tr.report()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn bad_observations_never_panic_and_choices_stay_in_range() {
        let mut tr = Tracker::new(TrackerConfig::new(3, 2.596)).unwrap();
        let mut t = u64::MAX - 1_000_000;
        for k in 0..200_000u64 {
            let c = tr.choose(t);
            assert!(c < 3);
            tr.observe(t, (k % 5) as usize, [0, u64::MAX, 900, 5][(k % 4) as usize]);
            t = t.wrapping_add(if k % 7 == 0 { u64::MAX - 5000 } else { 3000 });
        }
        tr.observe(0, usize::MAX, 0);
        let _ = tr.report();
    }

    #[test]
    fn bad_configs_are_refused_with_the_option_named() {
        let ok = TrackerConfig::new(2, 2.596);
        assert!(Tracker::new(ok).is_ok());
        type Case = (&'static str, fn(&mut TrackerConfig));
        let cases: [Case; 7] = [
            ("copies", |c| c.copies = 1),
            ("copies", |c| c.copies = 9),
            ("bins", |c| c.bins = 100),
            ("periodTicks", |c| c.period_ticks = f64::NAN),
            ("slowTicks", |c| c.noise_ticks = c.slow_ticks),
            ("calibrationReads", |c| c.calibration_reads = 10),
            ("marginBins", |c| c.margin_bins = 64),
        ];
        for (name, f) in cases {
            let mut c = ok;
            f(&mut c);
            match Tracker::new(c) {
                Err(Error::BadOption { option, .. }) => assert_eq!(option, name),
                other => panic!("{name}: {:?}", other.map(|_| ())),
            }
        }
    }
}
