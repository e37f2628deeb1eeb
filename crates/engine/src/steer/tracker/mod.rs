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
//! This file holds the state, the per-read path (`choose`, `observe`) and the report; the rest is
//! in `calibration` (period, profiles, predicted shares, the choice table), `following` (drift
//! and jumps while locked) and `guard` (steering measured against its prediction).
//!
//! Time is in ticks of whatever clock the caller uses (the TSC in `SteeredReader`). The phase of
//! an instant `t` is a 64-bit fraction of the period, `(t - t_ref) * step + theta` with wrapping
//! arithmetic (exact modulo 2^64), so no division happens per read and a change of `theta` moves
//! every prediction at once.

use crate::error::{Error, Result};
use crate::layout::{MAX_REPLICAS, MIN_REPLICAS};
use crate::refresh::phase::{self, Trig};

/// Fewest and most phase bins a tracker accepts (powers of two).
pub(crate) const MIN_BINS: usize = 16;
pub(crate) const MAX_BINS: usize = 1024;

/// The period `TrackerConfig::new` starts from: only where no period could be measured on this
/// machine (`refresh::period::of_this_machine`), with a ±0.2% search; where it does not fit, the
/// calibration finds no signal and copy 0 is read. (DDR5 fine-granularity refresh.)
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

/// Excess over the typical read above which a read counts as stalled (`for_measured`).
pub(crate) const STALL_EXCESS_NS: u32 = 140;

/// The alarm on steered reads (a CUSUM of the log-likelihood ratio "lost" against "locked", per
/// observed steered read): at this many nats the reader observes every read until a block is in,
/// so a phase jump in mid-serving is judged after ~300 observed reads, not at the end of a block
/// of 512 that may be too diluted to count as bad. "Locked" is taken as a quarter of the
/// unsteered share at least: steered reads measured 0.2-1% slow on host A where calibration
/// predicted 0.04-0.5%, and a tighter figure would raise the alarm on steering that works.
const ALARM_NATS: f64 = 6.0;

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
    pub(crate) copies: usize,
    /// A read longer than this (ticks) is slow.
    pub slow_ticks: u64,
    /// A read longer than this (ticks) is hypervisor noise: counted, never learned from.
    pub noise_ticks: u64,
    /// Reads (round-robin over copies) that calibration learns from.
    pub calibration_reads: usize,
    /// Observed reads per monitoring block while locked: at the end of each block the phase is
    /// checked against every possible shift.
    pub(crate) block_reads: usize,
    /// Relative half-width of the period search at the end of calibration (0 = trust the period).
    pub(crate) period_search: f64,
    /// Reads spent reading a fixed copy after calibration found no signal, before trying again.
    pub(crate) retry_reads: u64,
    /// Phase error (in bins) every steering choice must tolerate: a copy is chosen by its worst
    /// stall probability within this many bins either side.
    pub(crate) margin_bins: usize,
    /// Largest drift (in bins) corrected per block without a full search.
    pub(crate) drift_bins: usize,
    /// While locked, one observed read in this many reads the copies in turn instead of the
    /// chosen one (0 = never). Steered reads avoid each copy's stalls, so they say little about
    /// where the stalls are now; these few unsteered reads keep the phase and its drift in view.
    pub(crate) explore_every: u32,
    /// A timed read faster than this (ticks) was answered by a cache, not DRAM.
    pub(crate) cached_ticks: u64,
    /// When nearly every timed read of a block was a cache hit (`RESIDENT_SHARE`), steering
    /// cannot help — refresh stalls only delay DRAM reads — and alternating copies would double
    /// the cache footprint: the reader reads copy 0, untimed, for this many reads, then looks again.
    pub(crate) resident_reads: u64,
}

/// Share of a block's timed reads that must be cache hits for the slab to count as cache-resident.
pub(crate) const RESIDENT_SHARE: f64 = 0.9;

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

    /// `for_measured_period` with the typical read measured with the period as well: a read is
    /// slow over that typical read plus `STALL_EXCESS_NS` (a refresh stall costs 150–400 ns on top
    /// of a read, on every DRAM generation measured), instead of the defaults' fixed 290 ns, which
    /// assumed a 150 ns read. (The measured spike cut itself moved between runs by tens of ns,
    /// and with it the calibration's verdict: 1 of 3 bench runs ended "no signal" with it.)
    pub(crate) fn for_measured(copies: usize, ticks_per_ns: f64, m: &crate::refresh::period::Measured) -> TrackerConfig {
        let mut c = TrackerConfig::for_measured_period(copies, ticks_per_ns, m.period_ns);
        let slow_ns = m.typical_ns.saturating_add(STALL_EXCESS_NS);
        if m.typical_ns > 0 && slow_ns < m.outlier_ns {
            c.slow_ticks = (slow_ns as f64 * ticks_per_ns) as u64;
            c.noise_ticks = (m.outlier_ns as f64 * ticks_per_ns) as u64;
        }
        c
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |option: &'static str, m: String| Err(Error::bad_option(option, m));
        if !(MIN_REPLICAS..=MAX_REPLICAS).contains(&self.copies) {
            return bad("copies", format!("must be from {MIN_REPLICAS} to {MAX_REPLICAS}, got {}", self.copies));
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
            return bad("blockReads", format!("must be from 64 to 2^20 reads, got {}", self.block_reads));
        }
        if !(self.period_search.is_finite() && (0.0..=0.01).contains(&self.period_search)) {
            return bad("periodSearch", format!("must be from 0 to 0.01 (relative), got {}", self.period_search));
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
    /// The state as reports spell it: `calibrating`, `locked`, `no-signal`.
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
    /// What the tracker is doing.
    pub state: SteerState,
    /// Every observed read, including outliers.
    pub reads: u64,
    /// Reads slower than `slow_ticks` but under the noise ceiling.
    pub slow_reads: u64,
    /// Reads over the noise ceiling (ignored for learning).
    pub outliers: u64,
    /// Reads observed while locked (steered), and how many of them were slow.
    pub steered_reads: u64,
    /// Steered reads that were slow.
    pub steered_slow: u64,
    /// Exploring reads (one observed read in `explore_every` while locked reads the copies in
    /// turn, unsteered) and how many were slow: a live unsteered baseline beside `steered_*`.
    pub explored_reads: u64,
    /// Exploring reads that were slow.
    pub explored_slow: u64,
    /// The steered and exploring reads of a systematic sample of the locked reads (for a
    /// `SteeredReader`, one in `LOCKED_OBSERVE_EVERY` of every read it makes, whether the schedule
    /// or a resync observed it), and how many were slow: unlike `steered_*`, which a resync's
    /// block of every read weighs toward the moments the phase was lost, an estimate of the slow
    /// share over all steered reads, to hold against `expected_steered_share`.
    pub sampled_steered_reads: u64,
    /// Sampled steered reads that were slow.
    pub sampled_steered_slow: u64,
    /// Sampled exploring reads.
    pub sampled_explored_reads: u64,
    /// Sampled exploring reads that were slow.
    pub sampled_explored_slow: u64,
    /// The sampled exploring reads that fell in a quiet bin of the copy they read (a bin where its
    /// learned profile is at or below its median: away from its stall window), and how many were
    /// slow: the floor of slow reads no steering can avoid, measured while serving
    /// (`floor_share` is the same floor as calibration saw it).
    pub sampled_quiet_reads: u64,
    /// Sampled quiet exploring reads that were slow.
    pub sampled_quiet_slow: u64,
    /// Guard windows in which steered reads were significantly slower than exploring ones (the
    /// tracker then calibrated again).
    pub(crate) not_helping: u64,
    /// Slow share over the last completed window (block, search or calibration).
    pub window_slow_share: f64,
    /// Phase jumps followed (shifts larger than drift, found by the per-block search).
    pub reacquisitions: u64,
    /// Times the reader observed every read for a block because the phase may have moved: after
    /// a pause between reads (`reader::RESYNC_PAUSE_NS`) or a run of slow steered reads (the
    /// alarm, `ALARM_NATS`).
    pub resyncs: u64,
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
    /// A read slower than this (ticks; serialized in ns, as `slowNs`) counts as slow in every
    /// share and count of this report: the threshold the profiles were learned at.
    #[serde(rename = "slowNs", serialize_with = "crate::tsc::serialize_ticks_as_ns")]
    pub slow_ticks: f64,
    /// Slow share the learned profiles predict for steered reads and for reads of a random copy.
    pub expected_steered_share: f64,
    /// Slow share predicted for reads of a random copy.
    pub expected_unsteered_share: f64,
    /// The part of `expected_steered_share` that is the floor: slow reads at phases where the
    /// chosen copy is not stalling (calibration's slow share in its quiet bins). Measured on hardware,
    /// this floor moves between minutes (0.05-3% on host A, 2026-12-08) while the stall windows stay; so
    /// the steered share to expect while serving is the floor measured now (`sampled_quiet_*`)
    /// plus `stall_excess_share`.
    pub floor_share: f64,
    /// The rest of `expected_steered_share`: stalls the chosen copies still meet (their windows'
    /// edges inside the margin), over the floor.
    pub stall_excess_share: f64,
    /// The reads are cache-resident right now (nearly every timed read of the last block was a
    /// cache hit): the reader reads copy 0, untimed, until it looks again.
    pub(crate) resident: bool,
    /// Spells of cache residence found, and reads served by copy 0 during them.
    pub(crate) resident_spells: u64,
    pub(crate) resident_reads: u64,
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
    /// Per copy and bin: the learned profile is at or below the copy's median there (away from
    /// its stall window), where an exploring read measures the floor (`SteerReport::floor_share`).
    quiet: Vec<bool>,
    /// Recent reads per copy and bin, in current phase coordinates, decaying over about eight
    /// blocks (drift following).
    recent: BinCounts,
    /// The same for the current and the previous block only (jump detection).
    block: BinCounts,
    prev_block: BinCounts,
    /// Scratch of copies * bins for smoothing and rotation.
    scratch: Vec<f32>,
    scratch_u: Vec<u32>,
    /// Profiles learned from half the calibration reads (`held_out_steered`).
    held: Vec<f32>,
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
    /// The alarm (`ALARM_NATS`): its sum, what a slow and a fast steered read add to it, and
    /// whether it went off since the reader last asked (`take_alarm`).
    suspicion: f64,
    alarm_llr: (f64, f64),
    alarm: bool,
    /// Steering fell short of its prediction since the reader last asked (`take_shortfall`):
    /// the guard found it gaining too little, or blocks kept coming out bad.
    shortfall: bool,
    /// A resync's block is under way (the alarm waits for its end: a new alarm would start the
    /// block again before it is judged).
    resyncing: bool,
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
    /// `SteerReport::sampled_*`: steered reads, slow ones, exploring reads, slow ones, exploring
    /// reads in a quiet bin, slow ones.
    sampled: [u64; 6],
    /// Guard windows in which steered reads were slow more often than exploring ones.
    not_helping: u64,
    window_share: f64,
    reacquisitions: u64,
    resyncs: u64,
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
    /// `SteerReport::floor_share`.
    floor: f64,
    /// The floor followed while serving (`follow_floor`), and its decaying counts: sampled
    /// exploring reads in a quiet bin since calibration, slow ones.
    floor_now: f64,
    quiet_now: [u32; 2],
}

/// Phase step per tick for a period in ticks (period >= bins >= 16, so it fits).
#[inline(always)]
fn step_for(period_ticks: f64) -> u64 {
    phase::step(period_ticks)
}

impl Tracker {
    pub(crate) fn new(cfg: TrackerConfig) -> Result<Tracker> {
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
            quiet: vec![false; cells],
            recent: BinCounts::new(cells),
            block: BinCounts::new(cells),
            prev_block: BinCounts::new(cells),
            scratch: vec![0.0; cells],
            scratch_u: vec![0; cells],
            held: vec![0.0; cells],
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
            suspicion: 0.0,
            alarm_llr: (0.0, 0.0),
            alarm: false,
            shortfall: false,
            resyncing: false,
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
            sampled: [0; 6],
            not_helping: 0,
            window_share: 0.0,
            reacquisitions: 0,
            resyncs: 0,
            calibrations: 1,
            drift_steps: 0,
            period_updates: 0,
            contrast: vec![0.0; cfg.copies],
            signal_z: vec![0.0; cfg.copies],
            stall_distance: 0.0,
            copies_apart: false,
            expected_steered: 0.0,
            expected_unsteered: 0.0,
            floor: 0.0,
            floor_now: 0.0,
            quiet_now: [0; 2],
            cfg,
        })
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    /// What it is doing now.
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
    pub(crate) fn choose(&mut self, t: u64) -> usize {
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
    pub(crate) fn choose_observed(&mut self, t: u64) -> usize {
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
    pub(crate) fn untimed_copy(&self) -> Option<usize> {
        match self.state {
            SteerState::NoSignal => Some(0),
            SteerState::Locked if !self.copies_apart || self.resident_left > 0 => Some(0),
            _ => None,
        }
    }

    /// Counts one read served by `untimed_copy`; after `retry_reads` of them (no signal), or
    /// `resident_reads` (cache-resident), looks again.
    #[inline(always)]
    pub(crate) fn count_untimed(&mut self) {
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
    /// A copy out of range is ignored. For a caller that times every read it makes, so each one
    /// is also in the sample (`observe_in_sample`): the tests' simulations.
    #[cfg(test)]
    #[inline]
    pub(crate) fn observe(&mut self, t: u64, copy: usize, latency: u64) {
        self.observe_in_sample(t, copy, latency, true);
    }

    /// `observe`, saying whether this read is in the caller's systematic sample of its reads
    /// (`SteerReport::sampled_*`): chosen by a rule that knows nothing of stalls or phase.
    #[inline]
    pub(crate) fn observe_in_sample(&mut self, t: u64, copy: usize, latency: u64, sampled: bool) {
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
                let exploring = std::mem::take(&mut self.exploring);
                let idx = copy * self.cfg.bins + (self.bin(t) & self.mask);
                if sampled {
                    let k = if exploring { 2 } else { 0 };
                    self.sampled[k] += 1;
                    self.sampled[k + 1] += slow as u64;
                    if exploring && self.quiet[idx] {
                        self.sampled[4] += 1;
                        self.sampled[5] += slow as u64;
                        self.quiet_now[0] += 1;
                        self.quiet_now[1] += slow as u32;
                    }
                }
                if exploring {
                    self.explored_reads += 1;
                    self.explored_slow += slow as u64;
                } else {
                    self.steered_reads += 1;
                    self.steered_slow += slow as u64;
                    self.suspicion = (self.suspicion + if slow { self.alarm_llr.0 } else { self.alarm_llr.1 }).max(0.0);
                    if self.suspicion >= ALARM_NATS && !self.resyncing {
                        self.suspicion = 0.0;
                        self.alarm = true;
                        self.resync();
                    }
                }
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

    fn clear_window(&mut self) {
        // A drift check on cleared history would score nothing: drop it.
        self.drift_check = None;
        for c in [&mut self.recent, &mut self.block, &mut self.prev_block] {
            c.arrays().into_iter().for_each(|h| h.fill(0));
        }
        self.reset_window_counts();
    }

    /// The phase may have moved: the reads paused long enough (`reader::RESYNC_PAUSE_NS`), or
    /// the alarm on steered reads went off (`ALARM_NATS`). The block in progress holds reads from
    /// before, so a new one starts, to be judged (a jump, drift) on reads after it alone, and
    /// the reader observes all of them. The learned profiles and longer history stay.
    pub(crate) fn resync(&mut self) {
        self.resyncing = true;
        self.suspicion = 0.0;
        self.block.reads.fill(0);
        self.block.slow.fill(0);
        self.reset_window_counts();
        self.resyncs += 1;
    }

    /// Whether the alarm on steered reads went off since the last call: the reader then observes
    /// every read until a block is in, as after a pause.
    #[inline]
    pub(crate) fn take_alarm(&mut self) -> bool {
        std::mem::take(&mut self.alarm)
    }

    /// Whether steering fell short of its prediction (and the tracker went back to calibrating)
    /// since the last call: for a slab learned in the background, the reader then asks the
    /// learner for an early audit of its table.
    #[inline]
    pub(crate) fn take_shortfall(&mut self) -> bool {
        std::mem::take(&mut self.shortfall)
    }

    /// Marks steering as having fallen short, as the guard does (tests of what the reader does
    /// with it).
    #[cfg(test)]
    pub(crate) fn mark_shortfall(&mut self) {
        self.shortfall = true;
    }

    /// Observed reads per block (what a resync observes in full).
    pub(crate) fn block_reads(&self) -> u32 {
        self.cfg.block_reads as u32
    }

    /// Zeroes the current window's read, slow and cached counts.
    fn reset_window_counts(&mut self) {
        self.window_reads = 0;
        self.window_slow = 0;
        self.window_cached = 0;
    }

    pub(crate) fn report(&self) -> SteerReport {
        SteerReport {
            state: self.state,
            reads: self.reads,
            slow_reads: self.slow,
            outliers: self.outliers,
            steered_reads: self.steered_reads,
            steered_slow: self.steered_slow,
            explored_reads: self.explored_reads,
            explored_slow: self.explored_slow,
            sampled_steered_reads: self.sampled[0],
            sampled_steered_slow: self.sampled[1],
            sampled_explored_reads: self.sampled[2],
            sampled_explored_slow: self.sampled[3],
            sampled_quiet_reads: self.sampled[4],
            sampled_quiet_slow: self.sampled[5],
            not_helping: self.not_helping,
            window_slow_share: self.window_share,
            reacquisitions: self.reacquisitions,
            resyncs: self.resyncs,
            calibrations: self.calibrations,
            drift_steps: self.drift_steps,
            period_updates: self.period_updates,
            phase_offset: phase::cycles(self.theta),
            period_ticks: phase::CYCLE / self.step.max(1) as f64,
            contrast: self.contrast.clone(),
            signal_z: self.signal_z.clone(),
            stall_distance: self.stall_distance,
            copies_apart: self.copies_apart,
            slow_ticks: self.cfg.slow_ticks as f64,
            expected_steered_share: self.expected_steered,
            expected_unsteered_share: self.expected_unsteered,
            floor_share: self.floor,
            stall_excess_share: (self.expected_steered - self.floor).max(0.0),
            resident: self.resident_left > 0,
            resident_spells: self.resident_spells,
            resident_reads: self.resident_served,
        }
    }
}

mod calibration;
mod following;
mod guard;
#[cfg(test)]
mod tests;
