//! Placement by refresh stall on huge pages, for slabs of any size: one call (`build`) maps the
//! slab (1 GiB / 2 MiB hugetlb or transparent huge pages, as asked), learns by timing how stalls
//! fall on its addresses (`refresh::structure`), and lays the replicas out so copies of a slot
//! stall apart (their stall windows do not overlap):
//!
//! - when a low address bit moves every line's stall clear of its partner's, the copies go
//!   `1 << bit` bytes apart with the arithmetic layout: nothing to place frame by frame, and every
//!   slot's copies stall apart (enough for hedging);
//! - when, besides, copy r must stall in the same part of the period for every slot (`consistent`,
//!   which steering needs; which line of a pair stalls first may change from frame to frame), lines
//!   of every frame are timed and a paired table puts copy 0 in the frame's line that stalls
//!   inside one arc of the period (`place_paired`);
//! - when the lines of a 4 KiB frame stall together, every frame's stall is learned (timed where
//!   the huge page's pattern does not predict it) and a `FrameTable` gives every replica frames of
//!   its own groups, inside the huge pages: no mremap, no mapping per page.
//!
//! What was measured on which host, and why each rule is as it is: docs/refresh-hosts.md.
//!
//! `create_shared` does the same for a named shared segment, on the segment's own pages: the bit
//! as its channel offset, or the frame table recorded in it (`shm::Pending::publish`).
//!
//! Decisions live in `frames` (pure, tested on synthetic maps); reading the clock lives in `learn`.
//! Never used on a read path.

pub(crate) mod frames;
pub(crate) mod learn;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::job::{Job, Meter, Phase};
use crate::layout::{FrameTable, Layout, FRAME_BYTES, SLOT_BYTES};
use crate::refresh::phase::circular_distance;
use crate::refresh::BitEffect;
use crate::region::{LockRequest, PageRequest, Region};
use crate::slab::Slab;
use crate::steer::pages::Groups;
pub use frames::MapOptions;
use frames::{Known, Structure, Timer};
pub use learn::TimerOptions;

/// What `build` may do.
#[derive(Clone, Debug, PartialEq)]
pub struct PlacementOptions {
    /// Refresh period of one line (ns); None measures it (300 ms).
    pub period_ns: Option<f64>,
    /// Time allowed for timing lines, after the period is known.
    pub budget: Duration,
    /// When frames are placed one by one, the pool is sized from the sample's group shares (the
    /// smallest replica's share sets it), times this margin for the sample's error.
    pub pool_margin: f64,
    /// Slots whose copies are timed after placement, to check they stall apart.
    pub verify_slots: usize,
    /// Copy r must be in the same refresh groups for every slot (steering predicts per copy, so it
    /// needs this; hedging does not). Where a bit splits every frame but which line of a pair is in
    /// which group changes from frame to frame, this costs one timed line per frame.
    pub consistent: bool,
    /// How frames are sampled and mapped to learn the structure of the refresh groups.
    pub map: MapOptions,
    /// How lines are timed (reads per session, the evidence a line needs).
    pub timer: learn::TimerOptions,
    /// The creation this placement is part of: mapping, the period, timing lines ('place', in ms
    /// of `budget`) and the copy check ('check') report to it, and stop with `Error::Cancelled`,
    /// everything they mapped unmapped, once it is cancelled.
    pub job: Job,
    /// When a slab that steers is built at once and its frames learned in the background
    /// (`Background`), instead of placed before it serves.
    pub background: BackgroundWhen,
}

/// When a steered slab is learned in the background instead of placed up front.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackgroundWhen {
    /// Never: place up front or refuse.
    #[default]
    Never,
    /// When placing up front is projected to take over the budget (placement 'auto' with an
    /// explicit strategy 'steer').
    WhenOverBudget,
    /// Always (placement 'background').
    Always,
}

impl Default for PlacementOptions {
    fn default() -> Self {
        PlacementOptions {
            period_ns: None,
            budget: Duration::from_secs(6),
            pool_margin: 1.15,
            verify_slots: 24,
            consistent: false,
            map: MapOptions::default(),
            timer: learn::TimerOptions::default(),
            job: Job::none(),
            background: BackgroundWhen::Never,
        }
    }
}

/// The pages a placement's memory got.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pages {
    /// The page kind the memory got (`1g`, `2m`, `thp`, `4k`).
    pub page_kind: &'static str,
    pub(crate) page_size: usize,
    /// For transparent huge pages: bytes the kernel backed with huge pages.
    pub thp_bytes: usize,
}

impl Pages {
    fn of(r: &Region) -> Pages {
        Pages { page_kind: r.kind().name(), page_size: r.page_size(), thp_bytes: r.thp_bytes() }
    }
}

/// How the group of each frame was learned: timed, or inferred from the huge pages' pattern and
/// checked (one record for placement's report and for `survey_frames`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Learned {
    pub(crate) frames_timed: usize,
    pub(crate) frames_inferred: usize,
    /// The group pattern's period within a huge page (frames), when frames were placed and it had one.
    pub(crate) pattern_period: Option<usize>,
    /// Inferred frames re-timed to check the inference, and how many agreed; why the pattern was
    /// dropped when it did not hold (its frames were then timed one by one).
    pub(crate) inferred_checked: usize,
    pub(crate) inferred_agreed: usize,
    pub(crate) pattern_rejected: Option<String>,
}

impl Learned {
    fn of(map: &frames::FrameMap) -> Learned {
        Learned {
            frames_timed: map.count(Known::Timed),
            frames_inferred: map.count(Known::Inferred),
            pattern_period: map.period,
            inferred_checked: map.verified,
            inferred_agreed: map.verified_agreed,
            pattern_rejected: map.rejected.clone(),
        }
    }
}

/// What placement found and did (for `info().placement`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementInfo {
    /// "within-frame" (copies `channel_offset` apart), "paired" (copies in the two lines of a
    /// pair, a table picking per frame which is copy 0) or "frames" (a frame table).
    pub layout: &'static str,
    pub(crate) structure: Structure,
    /// Where `structure` comes from: the sample at creation, or what an earlier sample this boot
    /// found (a slab learned in the background, whose learner samples again).
    pub(crate) structure_source: String,
    /// What flipping each sampled address bit did to a line's stall (the evidence for `structure`).
    pub(crate) bits: Vec<BitEffect>,
    /// Bytes between the copies of a slot within a frame (within-frame and paired layouts).
    pub channel_offset: usize,
    /// The pages the slab got.
    #[serde(flatten)]
    pub pages: Pages,
    /// The refresh period of one line the placement used (ns).
    pub period_ns: f64,
    pub(crate) period_source: String,
    /// Group centres, in ns after group 0, and the replica class each serves ("frames"; for
    /// "within-frame" the sampled groups; for "paired" the centre of the arc copy 0 stalls in and
    /// the opposite phase, copy 1's side).
    pub(crate) group_offsets_ns: Vec<f64>,
    pub(crate) group_class: Vec<usize>,
    /// For a paired layout: half the width of the arc copy 0 stalls in (ns), around the first of
    /// `group_offsets_ns`; copy 1 stalls outside it.
    pub(crate) arc_half_ns: Option<f64>,
    /// Frames mapped, used by the slab, timed, inferred from the pattern, left unused.
    pub frames_pool: usize,
    /// Frames the slab uses.
    pub frames_used: usize,
    /// Frames mapped but not used by the slab.
    pub frames_unused: usize,
    /// Frames timed and inferred, and how well the pattern held.
    #[serde(flatten)]
    pub(crate) learned: Learned,
    /// Slots whose copies were timed after placement; how many showed every copy's group; how
    /// many of those had copies of different classes in different groups.
    pub copies_checked: usize,
    /// Checked slots whose every copy's group showed.
    pub copies_clear: usize,
    /// Clear slots whose copies of different classes were in different groups.
    pub copies_apart: usize,
    /// Lines timed in all, timed reads, sessions.
    pub lines_timed: usize,
    pub(crate) reads: u64,
    /// Milliseconds: mapping and pre-faulting (every region mapped), measuring the period, from
    /// then to the end of the copy check (timing lines; a pool mapped meanwhile is in both), in all.
    pub map_ms: f64,
    /// Measuring the period (ms).
    pub period_ms: f64,
    /// From then to the end of the copy check (ms).
    pub learn_ms: f64,
    /// The whole placement (ms).
    pub total_ms: f64,
    /// Per GiB of slab (all copies): lines timed, frames unused, total time (ms).
    pub(crate) timed_per_gib: f64,
    pub(crate) unused_per_gib: f64,
    pub(crate) ms_per_gib: f64,
    /// Bytes of the frame table (0 for "within-frame").
    pub(crate) table_bytes: usize,
}

/// The reference line, clock and period that every phase of one placement is measured against.
struct Bench {
    /// The reference line lives in a page of its own, so phases from different regions compare.
    reference: Region,
    clock: learn::Clock,
    period_source: String,
    period_ms: f64,
    learn_start: Instant,
    /// The structure sample's stalls and what every sampled address bit did to them (`sample`).
    sample: std::cell::RefCell<Option<frames::StallSample>>,
    /// The paired layout's arc centre (`place_paired`): its copy check asks for copy 0 inside it.
    arc: std::cell::Cell<Option<frames::Arc>>,
    /// 'place': ms of the budget since the period was known, every timer's sessions counting.
    place: Meter,
}

impl Bench {
    fn start(o: &PlacementOptions) -> Result<Bench> {
        if !crate::refresh::timing::supported() {
            return Err(Error::Unsupported { what: "learning refresh groups needs x86_64 (clflush + rdtsc)".into() });
        }
        let reference = Region::map(FRAME_BYTES, PageRequest::Off, LockRequest::Off)?;
        let t = Instant::now();
        let tpn = crate::tsc::ticks_per_ns();
        let origin = crate::tsc::now();
        let m = crate::refresh::period::of_this_machine_with(o.period_ns, o.map.seed, &o.job)?;
        let (period_ns, period_source) = (m.period_ns, m.source.clone());
        let so = crate::refresh::evidence::SessionOptions {
            period_ns,
            subwindow_ns: 1_000_000,
            typical_ns: m.typical_ns,
            outlier_ns: m.outlier_ns,
            max_excess_ns: 600,
        };
        let learn_start = Instant::now();
        let clock = learn::Clock { so, origin, inv_tpn: 1.0 / tpn, deadline: learn_start + o.budget };
        let place = o.job.meter(Phase::Place, o.budget);
        Ok(Bench {
            reference,
            clock,
            period_source,
            period_ms: ms(t),
            learn_start,
            sample: Default::default(),
            arc: Default::default(),
            place,
        })
    }

    /// A timer for lines of `r`, until the learning budget is spent. The caller drops it before
    /// `r` (the bench outlives it too).
    fn timer(&self, r: &Region, o: &PlacementOptions) -> learn::LineTimer {
        self.timer_until(r, o, self.clock.deadline)
    }

    fn timer_until(&self, r: &Region, o: &PlacementOptions, deadline: Instant) -> learn::LineTimer {
        self.timer_metered(r, o, deadline, self.place.clone())
    }

    /// A timer whose sessions count toward `meter` (and stop once its job is cancelled).
    fn timer_metered(&self, r: &Region, o: &PlacementOptions, deadline: Instant, meter: Meter) -> learn::LineTimer {
        let clock = learn::Clock { deadline, ..self.clock };
        // SAFETY: `r` and the reference page outlive the timer (every caller drops the timer first).
        unsafe {
            learn::LineTimer::new_hardware(
                r.ptr() as usize,
                r.mapped_bytes(),
                self.reference.ptr() as usize,
                clock,
                o.map.seed,
                o.timer.clone(),
            )
        }
        .metered(meter)
    }

    fn centers_ns(&self, c: &[f64]) -> Vec<f64> {
        let Some(&c0) = c.first() else { return Vec::new() };
        c.iter().map(|&x| crate::refresh::phase::wrap(x - c0) * self.clock.so.period_ns).collect()
    }

    /// The groups and structure a sample of `r`'s frames shows; (lines timed, reads) added to `tally`.
    fn sample(&self, r: &Region, o: &PlacementOptions, tally: &mut (usize, u64)) -> Result<(Groups, Structure)> {
        let mut timer = self.timer(r, o);
        let (sample, lines) = frames::sample_stalls(r.mapped_bytes() / FRAME_BYTES, &mut timer, &o.map);
        timer.check()?;
        tally.0 += lines;
        tally.1 += timer.reads;
        let decided = sample.decide(&o.map);
        crate::refresh::boot_cache::record(|f| f.split = crate::refresh::boot_cache::SplitFact::of(decided.as_ref().map(|(_, s)| s)));
        *self.sample.borrow_mut() = Some(sample);
        decided.ok_or_else(|| Error::Placement {
            message: format!(
                "{lines} sampled lines showed fewer than two refresh groups (period {:.1} ns, {})",
                self.clock.so.period_ns, self.period_source
            ),
            hint: "copies cannot be placed apart on this machine: use ⟦set:placement=offset⟧".into(),
        })
    }

    /// The report's common part, before the copies are checked.
    fn info(
        &self,
        layout: &'static str,
        structure: &Structure,
        r: &Region,
        centers: &[f64],
        class: Vec<usize>,
        map_ms: f64,
    ) -> PlacementInfo {
        PlacementInfo {
            layout,
            structure: structure.clone(),
            structure_source: "sampled at creation".into(),
            bits: self.sample.borrow().as_ref().map(|s| s.effects.clone()).unwrap_or_default(),
            channel_offset: 0,
            pages: Pages::of(r),
            period_ns: self.clock.so.period_ns,
            period_source: self.period_source.clone(),
            group_offsets_ns: self.centers_ns(centers),
            group_class: class,
            arc_half_ns: None,
            frames_pool: r.mapped_bytes() / FRAME_BYTES,
            frames_used: 0,
            frames_unused: 0,
            learned: Learned::default(),
            copies_checked: 0,
            copies_clear: 0,
            copies_apart: 0,
            lines_timed: 0,
            reads: 0,
            map_ms,
            period_ms: self.period_ms,
            learn_ms: 0.0,
            total_ms: 0.0,
            timed_per_gib: 0.0,
            unused_per_gib: 0.0,
            ms_per_gib: 0.0,
            table_bytes: 0,
        }
    }

    /// The frames path (`place_frames`) on `pool`, timing its lines for up to `left`; (lines
    /// timed, reads) added to `tally`.
    #[allow(clippy::too_many_arguments)]
    fn place_frames(
        &self,
        pool: Region,
        slots: u64,
        replicas: usize,
        groups: &Groups,
        left: Duration,
        tally: &mut (usize, u64),
        o: &PlacementOptions,
    ) -> Result<(Slab, frames::FrameMap, crate::steer::pages::Partition)> {
        let per_page = pool.page_size() / FRAME_BYTES;
        let mut timer = self.timer_until(&pool, o, Instant::now() + left);
        // Frames to know before the learning stops: what a pool sized for this slab holds (a 1 GiB
        // page maps far more; timing all of it would spend the whole budget on frames never used).
        let chunks = slots.div_ceil((FRAME_BYTES / SLOT_BYTES) as u64) as usize;
        let enough = pool_size(groups, replicas, chunks, o).unwrap_or(usize::MAX);
        let placed = place_frames(pool, per_page, slots, replicas, groups, &mut timer, &o.map, enough);
        *tally = (tally.0 + placed.as_ref().map_or(0, |p| p.1.lines_timed), tally.1 + timer.reads);
        if placed.is_ok() {
            self.place.finish();
        }
        placed
    }

    /// The report of the frames path (`place_frames`), before the copies are checked.
    fn frames_info(
        &self,
        structure: &Structure,
        slab: &Slab,
        map: &frames::FrameMap,
        part: &crate::steer::pages::Partition,
        map_ms: f64,
    ) -> PlacementInfo {
        let l = slab.layout();
        let mut info = self.info("frames", structure, slab.region(), &part.centers, part.class_of_group.clone(), map_ms);
        info.channel_offset = FRAME_BYTES;
        info.frames_used = l.slots().div_ceil((FRAME_BYTES / SLOT_BYTES) as u64) as usize * l.replicas();
        info.learned = Learned::of(map);
        info.table_bytes = l.frames().map_or(0, |t| t.table_bytes());
        info
    }

    /// Times the copies of a sample of `slab`'s slots, fills in the totals, and refuses a
    /// placement whose copies turn out not to stall apart.
    fn finish(
        &self,
        slab: &Slab,
        mut info: PlacementInfo,
        tally: (usize, u64),
        started: Instant,
        o: &PlacementOptions,
    ) -> Result<PlacementInfo> {
        let l = slab.layout();
        o.job.check()?;
        self.place.finish();
        // The check has time of its own, so a learning that spent the budget is still checked:
        // 'check' counts ms of the most it may take (two rounds).
        let meter = o.job.meter(Phase::Check, 2 * CHECK_TIME);
        let mut timer = self.timer_metered(slab.region(), o, Instant::now() + CHECK_TIME, meter.clone());
        let (mut checked, mut clear, mut apart) = check_copies(slab, &mut timer, o, self.arc.get());
        timer.check()?;
        let mut reads = timer.reads;
        if clear < MIN_CLEAR_CHECKS {
            // A weak signal (one busy day left 0 of 24 clear): the same slots once more.
            let mut again = self.timer_metered(slab.region(), o, Instant::now() + CHECK_TIME, meter.clone());
            let (c2, cl2, a2) = check_copies(slab, &mut again, o, self.arc.get());
            again.check()?;
            (checked, clear, apart) = (checked + c2, clear + cl2, apart + a2);
            reads += again.reads;
        }
        meter.finish();
        info.copies_checked = checked;
        info.copies_clear = clear;
        info.copies_apart = apart;
        info.lines_timed = tally.0 + checked * l.replicas();
        info.reads = tally.1 + reads;
        if info.frames_used == 0 {
            info.frames_used = l.span().div_ceil(FRAME_BYTES);
        }
        info.frames_unused = info.frames_pool.saturating_sub(info.frames_used);
        info.learn_ms = ms(self.learn_start);
        info.total_ms = ms(started);
        let gib = (l.slots() as f64 * SLOT_BYTES as f64 * l.replicas() as f64) / (1u64 << 30) as f64;
        info.timed_per_gib = info.lines_timed as f64 / gib;
        info.unused_per_gib = info.frames_unused as f64 / gib;
        info.ms_per_gib = info.total_ms / gib;
        if clear < MIN_CLEAR_CHECKS {
            return Err(Error::Placement {
                message: format!(
                    "after placing ({}), only {clear} of {checked} timed slots showed every copy's group, too few to check the \
                     copies stall apart (the refresh signal is weak here now)",
                    info.layout
                ),
                hint: "try again later (`ultraslayer probe refresh` shows the signal's strength), or use ⟦set:placement=offset⟧".into(),
            });
        }
        if apart * 10 < clear * 9 {
            return Err(Error::Placement {
                message: format!(
                    "after placing ({}), only {apart} of {clear} timed slots had their copies stall apart ({})",
                    info.layout,
                    if self.arc.get().is_some() {
                        "stall windows not overlapping, copy 0 nearer the arc's centre"
                    } else {
                        "stall windows not overlapping"
                    }
                ),
                hint: "use ⟦set:placement=offset⟧".into(),
            });
        }
        Ok(info)
    }
}

/// Maps a slab of `slots` slots × `replicas` copies on `pages` and places its copies in
/// different refresh groups (see the module comment). Errors are `Error::Placement` (what was
/// found, and what to do), `Error::Unsupported` off x86_64, or the mapping's own errors.
///
/// # Errors
///
/// [`Error::Placement`] when the copies cannot be placed apart here (the hint says what to do
/// instead), [`Error::Cancelled`] when the job is cancelled, and what mapping the memory refuses.
pub fn build(
    slots: u64,
    replicas: usize,
    pages: PageRequest,
    lock: LockRequest,
    o: &PlacementOptions,
) -> Result<(Slab, PlacementInfo, Option<Background>)> {
    // Shape errors before any mapping or timing.
    Layout::new(slots, replicas, FRAME_BYTES)?;
    let started = Instant::now();
    let chunks = slots.div_ceil((FRAME_BYTES / SLOT_BYTES) as u64) as usize;
    let needed = chunks * replicas;
    let region = Region::map_with(needed * FRAME_BYTES, pages, lock, &o.job)?;
    let mut map_ms = ms(started);
    let bench = Bench::start(o)?;
    if let Some(split) = remembered_split(slots, replicas, o) {
        return background_unsampled(bench, split, slots, region, map_ms, started, o);
    }
    let mut tally = (0usize, 0u64);
    let (groups, structure) = bench.sample(&region, o, &mut tally)?;

    match structure {
        Structure::WithinFrame { bit, .. } if o.consistent && replicas == 2 && learns_in_background(&bench, bit, slots, &tally, o) => {
            background(bench, &structure, bit, slots, region, map_ms, tally, started)
        }
        Structure::WithinFrame { bit, .. } if o.consistent => {
            drop(region);
            let (slab, info) = place_paired(&bench, &structure, bit, slots, replicas, pages, lock, map_ms, &mut tally, o)?;
            let info = bench.finish(&slab, info, tally, started, o)?;
            Ok((slab, info, None))
        }
        Structure::WithinFrame { bit, .. } => {
            let layout = split_layout(slots, replicas, bit)?;
            let mut info = bench.info("within-frame", &structure, &region, &groups.centers, (0..groups.centers.len()).collect(), map_ms);
            info.channel_offset = 1 << bit;
            info.learned.frames_timed = o.map.sample_frames.min(info.frames_pool);
            let slab = Slab::from_region(region, layout)?;
            let info = bench.finish(&slab, info, tally, started, o)?;
            Ok((slab, info, None))
        }
        _ if o.background == BackgroundWhen::Always => Err(Error::Placement {
            message: format!(
                "learning in the background needs an address bit that splits every frame into lines stalling apart, and 2 replicas; here {}",
                match &structure {
                    Structure::WholeFrame { .. } => "the lines of a frame stall together (whole frames are placed up front)",
                    Structure::Mixed { .. } => "no address bit splits every frame",
                    Structure::Unclear { .. } => "too few sampled lines were clear",
                    Structure::WithinFrame { .. } => "the slab has more than 2 replicas",
                }
            ),
            hint: "place it up front (⟦set:placement=huge-pages⟧) or use ⟦set:placement=offset⟧".into(),
        }),
        Structure::Mixed { agreement } => Err(no_structure(agreement)),
        Structure::Unclear { clear, sampled } => Err(unclear(clear, sampled)),
        Structure::WholeFrame { .. } => {
            // Frames are placed one by one: map a pool with room for unequal groups.
            drop(region);
            let t = Instant::now();
            // Mapping the pool does not count against the time for timing lines.
            let left = bench.clock.deadline.saturating_duration_since(t);
            let pool = Region::map_with(pool_size(&groups, replicas, chunks, o)? * FRAME_BYTES, pages, lock, &o.job)?;
            map_ms += ms(t);
            let (slab, map, part) = bench.place_frames(pool, slots, replicas, &groups, left, &mut tally, o)?;
            let info = bench.frames_info(&structure, &slab, &map, &part, map_ms);
            let info = bench.finish(&slab, info, tally, started, o)?;
            Ok((slab, info, None))
        }
    }
}

/// Frames to map for the frames path: room for unequal groups (`frames::pool_frames`).
fn pool_size(groups: &Groups, replicas: usize, chunks: usize, o: &PlacementOptions) -> Result<usize> {
    frames::pool_frames(groups, replicas, chunks, o.pool_margin).ok_or_else(|| Error::Placement {
        message: format!("the sample showed {} refresh group(s), not {replicas} separate groups", groups.centers.len()),
        hint: "ask for fewer replicas, or use ⟦set:placement=offset⟧".into(),
    })
}

/// The frames path on a mapped pool (huge pages of `per_page` frames): every frame's group,
/// timed or inferred (`frames::learn_map`), frames of its own groups for every replica
/// (`frames::assign`), and the slab laid out through the frame table. Frames are timed one by one
/// only until `enough` are known.
#[allow(clippy::too_many_arguments)]
pub(crate) fn place_frames(
    pool: Region,
    per_page: usize,
    slots: u64,
    replicas: usize,
    groups: &Groups,
    timer: &mut dyn Timer,
    o: &MapOptions,
    enough: usize,
) -> Result<(Slab, frames::FrameMap, crate::steer::pages::Partition)> {
    let chunks = slots.div_ceil((FRAME_BYTES / SLOT_BYTES) as u64) as usize;
    let nframes = pool.mapped_bytes() / FRAME_BYTES;
    let started = Instant::now();
    let map = frames::learn_map(nframes, per_page, groups, timer, o, enough);
    // A cancelled job leaves frames unknown: say so rather than what they would have meant.
    timer.check()?;
    let (by_class, part) = frames::assign(&map, replicas, chunks).map_err(|m| Error::Placement {
        message: format!(
            "{m} ({} frames timed, {} inferred, {} unknown{})",
            map.count(Known::Timed),
            map.count(Known::Inferred),
            map.count(Known::Unknown),
            projection(&map, ms(started))
        ),
        hint: "raise ⟦opt:placementBudgetMs⟧, ask for fewer slots (or records) or replicas, or use ⟦set:placement=offset⟧".into(),
    })?;
    let table = Arc::new(FrameTable::build(chunks as u64, replicas, |k, r| by_class[r][k as usize] as u64)?);
    let slab = Slab::from_region(pool, Layout::framed(slots, replicas, table)?)?;
    Ok((slab, map, part))
}

/// What knowing the rest of a pool would take at the rate the learning reached: the measured floor
/// said to a user whose slab could not be placed in the time allowed.
/// A placement projected to need more than this many times the budget left is refused before it
/// starts timing (the rate of one line moves between samples; a projection within it is tried).
pub(crate) const OVER_BUDGET: f64 = 1.5;

fn projection(map: &frames::FrameMap, learn_ms: f64) -> String {
    let unknown = map.count(Known::Unknown);
    if unknown == 0 || map.lines_timed == 0 {
        return String::new();
    }
    let per_line = learn_ms / map.lines_timed as f64;
    let why = if map.period.is_some() && map.rejected.is_none() { "" } else { ", no group pattern within huge pages to infer from" };
    format!(
        "; at {per_line:.2} ms per timed line here{why}, timing a line of each of the {unknown} unknown frames would take about {:.0} s more",
        per_line * unknown as f64 / 1e3
    )
}

/// Why the paired path fell short: `picks` of the `timed` frames (out of the pool's `mapped`) fit
/// the arc in `learn_ms`, where the slab needs `chunks`; each frame total is named once, with what
/// it counts.
fn paired_shortfall(chunks: usize, picks: usize, timed: usize, mapped: usize, learn_ms: f64) -> String {
    let per_frame_ms = learn_ms / timed.max(1) as f64;
    let rate = picks.max(1) as f64 / timed.max(1) as f64;
    format!(
        "copies that stall apart for every slot need {chunks} frames whose two lines fit the arc; in {learn_ms:.0} ms, {timed} frames \
         were timed ({per_frame_ms:.2} ms each) and {picks} of them fit, so finding all {chunks} would take about {:.0} s (the pool \
         mapped for them holds {mapped} frames)",
        per_frame_ms * chunks as f64 / rate / 1e3
    )
}

/// Consistent copies where an address bit splits every frame: copy 0 of every slot stalls within
/// one half-period arc and copy 1 outside it (`frames::arc_orientation`), so each copy stalls only
/// while the other does not, however the phases spread. The arc's centre is the one most of the
/// structure sample's pairs fit; the pool is sized by that share. Both lines of a frame are timed
/// (the line with the split bit clear and its partner; only the first where the sample shows the
/// partner's stall follows from it), frames taken in pool order until every chunk has one; a
/// paired table says which half of each frame is copy 0. Frames whose lines stayed
/// unclear or fit no orientation are left unused.
/// The split an earlier structure sample this boot found, when this slab is to be learned in the
/// background anyway, so creation need not sample: 2 consistent copies, and placement 'background',
/// or 'auto' of an explicit 'steer' where timing one line per frame at the rate an earlier
/// placement measured (`line_ms`; the least placing up front needs) is over the budget. Otherwise
/// (nothing remembered, or 'auto' that might fit) the sample runs at creation, as before.
fn remembered_split(slots: u64, replicas: usize, o: &PlacementOptions) -> Option<crate::refresh::boot_cache::SplitFact> {
    if !o.consistent || replicas != 2 || o.background == BackgroundWhen::Never {
        return None;
    }
    let facts = crate::refresh::boot_cache::recall()?.facts;
    let split = facts.split?;
    let background = match o.background {
        BackgroundWhen::Always => true,
        BackgroundWhen::WhenOverBudget => {
            let chunks = slots.div_ceil(crate::layout::PAIRED_SLOTS as u64) as f64;
            facts.line_ms.is_some_and(|line_ms| chunks * line_ms > o.budget.as_secs_f64() * 1e3)
        }
        BackgroundWhen::Never => false,
    };
    background.then_some(split)
}

/// How much longer than projected placing every frame up front may take and still fit: the cost
/// of a frame moves between runs (host A, 2026-12-07: the bench's default steer slab, 131 072
/// frames, fitted in 34 s of its 41 s one run and needed 42 s another, 0.32 ms a frame), and
/// running out of time throws the whole placement away, where learning in the background loses
/// nothing.
const UP_FRONT_ROOM: f64 = 1.5;

/// Whether a steered slab split at `bit` is built at once and learned in the background: always
/// for placement 'background'; for 'auto' with an explicit 'steer' when placing it up front is
/// projected (from the sample's rate per line, with `UP_FRONT_ROOM`) to take longer than the
/// budget left, and the sample allows a paired plan at all.
fn learns_in_background(bench: &Bench, bit: u32, slots: u64, tally: &(usize, u64), o: &PlacementOptions) -> bool {
    match o.background {
        BackgroundWhen::Never => false,
        BackgroundWhen::Always => true,
        BackgroundWhen::WhenOverBudget => {
            let Some(Ok((_, share))) = bench.sample.borrow().as_ref().map(|s| frames::paired_arc(s, bit)) else { return false };
            if tally.0 == 0 {
                return false;
            }
            let per_line_ms = ms(bench.learn_start) / tally.0 as f64;
            let chunks = slots.div_ceil(crate::layout::PAIRED_SLOTS as u64) as f64;
            let left_ms = bench.clock.deadline.saturating_duration_since(Instant::now()).as_secs_f64() * 1e3;
            // Up front only when it is projected to fit with room: a placement that runs out of
            // time falls back to an offset, which steers nothing on a machine like this.
            chunks / share * per_line_ms * UP_FRONT_ROOM > left_ms
        }
    }
}

/// What a slab learned in the background needs besides itself: the plan the structure sample
/// gave, and the reference line and clock every phase of it was measured against (the learner's
/// timings must be measured against the same line, or the arc would mean nothing to them).
pub struct Background {
    pub(crate) start: crate::steer::learner::Start,
    reference: Region,
    clock: learn::Clock,
    timer: learn::TimerOptions,
    seed: u64,
}

impl Background {
    /// A timer over `slab`'s lines against this placement's reference line, with no deadline. It
    /// owns `slab` and the reference page, so both stay mapped for as long as it is used.
    pub(crate) fn timer(self, slab: Arc<Slab>) -> Box<dyn crate::refresh::Timer + Send> {
        // Effectively never: the learner decides when to stop.
        let clock = learn::Clock { deadline: Instant::now() + Duration::from_secs(10 * 365 * 24 * 3600), ..self.clock };
        // SAFETY: the timer reads lines of `slab`'s region and the reference page; the returned
        // value owns both (`OwnedTimer`), and drops the timer before them (field order).
        let timer = unsafe {
            learn::LineTimer::new_hardware(
                slab.region().ptr() as usize,
                slab.region().mapped_bytes(),
                self.reference.ptr() as usize,
                clock,
                self.seed,
                self.timer,
            )
        };
        Box::new(OwnedTimer { timer, _slab: slab, _reference: self.reference })
    }
}

/// A hardware timer with the memory it reads (dropped in field order: the timer first).
struct OwnedTimer {
    timer: learn::LineTimer,
    _slab: Arc<Slab>,
    _reference: Region,
}

impl crate::refresh::Timer for OwnedTimer {
    fn stalls(&mut self, offsets: &[usize]) -> Vec<Option<crate::refresh::Stall>> {
        self.timer.stalls(offsets)
    }
    fn session_lines(&self) -> Option<usize> {
        self.timer.session_lines()
    }
}

/// The slab of a background-learned placement: the region the sample was timed on, its copies
/// split by `bit`, nothing placed yet; the info says what the sample found and that the frames are
/// learned while the slab serves.
#[allow(clippy::too_many_arguments)]
fn background(
    bench: Bench,
    structure: &Structure,
    bit: u32,
    slots: u64,
    region: Region,
    map_ms: f64,
    tally: (usize, u64),
    started: Instant,
) -> Result<(Slab, PlacementInfo, Option<Background>)> {
    let plan = match bench.sample.borrow().as_ref().map(|s| crate::steer::learner::Plan::from_sample(s, bit)) {
        Some(Ok(p)) => p,
        Some(Err(message)) => return Err(Error::Placement { message, hint: "use ⟦set:placement=offset⟧".into() }),
        None => return Err(no_structure(0.0)),
    };
    let arc = plan.arc;
    let mut info =
        bench.info("background", structure, &region, &[arc.center, crate::refresh::phase::wrap(arc.center + 0.5)], vec![0, 1], map_ms);
    info.arc_half_ns = Some(arc.half * bench.clock.so.period_ns);
    info.lines_timed = tally.0;
    info.reads = tally.1;
    background_slab(bench, info, slots, region, started, crate::steer::learner::Start::Plan(plan))
}

/// The end of both background paths: the slab laid out at `start`'s bit on `region`, its info
/// completed, and what its learner needs.
fn background_slab(
    bench: Bench,
    mut info: PlacementInfo,
    slots: u64,
    region: Region,
    started: Instant,
    start: crate::steer::learner::Start,
) -> Result<(Slab, PlacementInfo, Option<Background>)> {
    info.channel_offset = 1 << start.bit();
    bench.place.finish();
    let layout = split_layout(slots, 2, start.bit())?;
    let slab = Slab::from_region(region, layout)?;
    info.frames_used = slab.layout().span().div_ceil(FRAME_BYTES);
    info.frames_unused = info.frames_pool.saturating_sub(info.frames_used);
    info.learn_ms = ms(bench.learn_start);
    info.total_ms = ms(started);
    let bg = Background { start, reference: bench.reference, clock: bench.clock, timer: learn::TimerOptions::default(), seed: 0xBAC6 };
    Ok((slab, info, Some(bg)))
}

/// The slab of a background-learned placement laid out at the split an earlier sample this boot
/// found (`remembered_split`): no timing at creation; the learner takes the structure sample
/// first, against this placement's reference line, and stops with the reason if it no longer
/// shows that split (the slab then reads copy 0).
#[allow(clippy::too_many_arguments)]
fn background_unsampled(
    bench: Bench,
    split: crate::refresh::boot_cache::SplitFact,
    slots: u64,
    region: Region,
    map_ms: f64,
    started: Instant,
    o: &PlacementOptions,
) -> Result<(Slab, PlacementInfo, Option<Background>)> {
    let structure = Structure::WithinFrame { bit: split.bit, agreement: split.agreement, distance: split.distance };
    let mut info = bench.info("background", &structure, &region, &[], Vec::new(), map_ms);
    info.structure_source = "remembered from an earlier sample this boot; the learner samples again before its first frame".into();
    background_slab(bench, info, slots, region, started, crate::steer::learner::Start::Sample { bit: split.bit, map: o.map.clone() })
}

#[allow(clippy::too_many_arguments)]
fn place_paired(
    bench: &Bench,
    structure: &Structure,
    bit: u32,
    slots: u64,
    replicas: usize,
    pages: PageRequest,
    lock: LockRequest,
    map_ms: f64,
    tally: &mut (usize, u64),
    o: &PlacementOptions,
) -> Result<(Slab, PlacementInfo)> {
    if replicas != 2 {
        return Err(Error::Placement {
            message: format!("copies that stall apart for every slot on a bit-{bit} split are built for 2 replicas, not {replicas}"),
            hint: "ask for 2 replicas, or use ⟦set:placement=offset⟧".into(),
        });
    }
    let plan =
        bench.sample.borrow().as_ref().map(|s| frames::paired_arc(s, bit).map(|(arc, share)| (arc, share, s.partner_prediction(bit, arc))));
    let (arc, share, partner) = match plan {
        Some(Ok(arc)) => arc,
        Some(Err(message)) => {
            return Err(Error::Placement {
                message,
                hint: "hedge (copies 2^bit bytes apart stall apart in every frame, which needs no per-frame timing), or use ⟦set:placement=offset⟧"
                    .into(),
            })
        }
        None => return Err(no_structure(0.0)),
    };
    bench.arc.set(Some(arc));
    let chunks = slots.div_ceil(crate::layout::PAIRED_SLOTS as u64) as usize;
    // What timing the pool will take, before mapping it: one line per frame for the frames that fit
    // the arc and those that do not, at the rate the sample's lines took here. Remembered for the
    // boot, so a later 'auto' can tell before timing anything (`projected_refusal`).
    if tally.0 > 0 {
        let per_line_ms = ms(bench.learn_start) / tally.0 as f64;
        crate::refresh::boot_cache::record(|f| f.line_ms = Some(per_line_ms));
        let projected_ms = chunks as f64 / share * per_line_ms;
        let left_ms = bench.clock.deadline.saturating_duration_since(Instant::now()).as_secs_f64() * 1e3;
        if projected_ms > OVER_BUDGET * left_ms {
            return Err(Error::Placement {
                message: format!(
                    "copies that stall apart for every slot need about {:.0} frames timed, one line each; at the {per_line_ms:.2} ms a line took \
                     here that is about {:.1} s, and {:.1} s of the budget is left",
                    chunks as f64 / share,
                    projected_ms / 1e3,
                    left_ms / 1e3
                ),
                hint: format!(
                    "raise ⟦opt:placementBudgetMs⟧ (to about {:.0} ms), ask for fewer slots (or records), use ⟦set:placement=offset⟧, or hedge",
                    (projected_ms * 1.2 + ms(bench.learn_start)).ceil()
                ),
            });
        }
    }
    // Room for the frames that do not fit the arc (the sample's share, and its error), and for
    // lines left unclear.
    let need = (chunks as f64 + 2.0 * (chunks as f64).sqrt()) / share * o.pool_margin.max(1.0);
    let t = Instant::now();
    // Mapping the pool does not count against the time for timing lines.
    let left = bench.clock.deadline.saturating_duration_since(t);
    let pool = Region::map_with(need.ceil() as usize * FRAME_BYTES, pages, lock, &o.job)?;
    let map_ms = map_ms + ms(t);
    let nframes = pool.mapped_bytes() / FRAME_BYTES;
    let learn = Instant::now();
    let mut timer = bench.timer_until(&pool, o, Instant::now() + left);
    let map_o = frames::MapOptions { split_bit: bit, ..o.map.clone() };
    let found = frames::paired_by_phase(nframes, &mut timer, &map_o, arc, partner, chunks);
    timer.check()?;
    *tally = (tally.0 + found.lines_timed, tally.1 + timer.reads);
    if found.picks.len() < chunks {
        return Err(Error::Placement {
            message: paired_shortfall(chunks, found.picks.len(), found.frames_timed, nframes, ms(learn)),
            hint: "raise ⟦opt:placementBudgetMs⟧, ask for fewer slots (or records), use ⟦set:placement=offset⟧, or hedge (hedged copies need no per-frame consistency)".into(),
        });
    }
    let picked = found.picks;
    let table = Arc::new(FrameTable::build_paired(chunks as u64, |k| (picked[k as usize].0 as u64, picked[k as usize].1))?);
    // The arc's centre (copy 0's stalls) and the opposite phase (copy 1's), in ns after the centre.
    let mut info = bench.info("paired", structure, &pool, &[arc.center, crate::refresh::phase::wrap(arc.center + 0.5)], vec![0, 1], map_ms);
    info.arc_half_ns = Some(arc.half * bench.clock.so.period_ns);
    info.channel_offset = 1 << bit;
    info.frames_used = chunks;
    info.learned = Learned { frames_timed: found.frames_timed, ..Learned::default() };
    info.table_bytes = table.table_bytes();
    let slab = Slab::from_region(pool, Layout::paired(slots, bit, table)?)?;
    Ok((slab, info))
}

/// The layout for copies split by address `bit`: copies `1 << bit` apart, so (for an even replica
/// count, where every chunk starts with that bit clear) copies 2j and 2j + 1 of a slot are X and
/// X ^ (1 << bit). An odd count would leave copies whose addresses differ in more bits than that.
fn split_layout(slots: u64, replicas: usize, bit: u32) -> Result<Layout> {
    if replicas % 2 == 1 {
        return Err(Error::Placement {
            message: format!(
                "address bit {bit} splits refresh groups here, which pairs copies two by two; {replicas} replicas leave one unpaired"
            ),
            hint: "ask for an even number of replicas, or use ⟦set:placement=offset⟧".into(),
        });
    }
    Layout::new(slots, replicas, 1usize << bit)
}

fn no_structure(agreement: f64) -> Error {
    Error::Placement {
        message: format!(
            "no address bit below 4 KiB always switches refresh group, and lines of one frame share a group in only {:.0}% of the sampled frames",
            agreement * 100.0
        ),
        hint: "there is no structure to place copies by here: use ⟦set:placement=offset⟧".into(),
    }
}

fn unclear(clear: usize, sampled: usize) -> Error {
    Error::Placement {
        message: format!(
            "only {clear} of {sampled} sampled lines showed a clear refresh-stall phase: the refresh signal is too weak here now (other \
             load on the memory, or a host whose refresh barely shows) to tell how groups fall on addresses"
        ),
        hint: "try again later (`ultraslayer probe refresh` shows the signal's strength), or use ⟦set:placement=offset⟧".into(),
    }
}

/// Time the copies of the sample slots may be timed for, after learning.
const CHECK_TIME: Duration = Duration::from_millis(500);

/// Checked slots that must show every copy's group before a placement is trusted.
const MIN_CLEAR_CHECKS: usize = 4;

/// Scratch memory the structure of a shared slab is learned on before its segment exists.
const SHARED_SAMPLE_BYTES: usize = 8 << 20;

/// Creates the shared segment `name` (see `shm::create`) with its copies in different refresh
/// groups, recorded in the segment so that every process that opens it uses the same copies:
/// - when a low address bit splits every frame, the segment's channel offset (in its header) is
///   that bit;
/// - when whole frames share a group, the segment's data area is a pool of frames, every frame's
///   group is learned by timing lines of the segment's own mapping (`place_frames`), and the
///   frame table that gives every replica frames of its own groups is recorded in the segment
///   (`shm::Pending::publish`).
///
/// The structure is learned on scratch memory of the same page kind first. The copies are checked
/// on the segment itself; a placement that does not hold leaves no segment behind (a framed one is
/// never published: openers only ever see it unfinished, then gone).
pub(crate) fn create_shared(
    seg: &crate::shm::NewSegment,
    slots: u64,
    replicas: usize,
    o: &PlacementOptions,
) -> Result<(Slab, crate::shm::SharedInfo, PlacementInfo)> {
    crate::shm::validate_name(seg.name)?;
    let pages = seg.pages;
    Layout::new(slots, replicas, FRAME_BYTES)?;
    let started = Instant::now();
    let scratch_pages = if pages == PageRequest::Off { PageRequest::Off } else { PageRequest::Auto };
    o.job.check()?;
    let scratch = Region::map(SHARED_SAMPLE_BYTES, scratch_pages, LockRequest::Off)?;
    let bench = Bench::start(o)?;
    let mut tally = (0usize, 0u64);
    let (groups, structure) = bench.sample(&scratch, o, &mut tally)?;
    drop(scratch);
    let bit = match structure {
        Structure::WithinFrame { bit, .. } => bit,
        Structure::WholeFrame { .. } => {
            let chunks = slots.div_ceil((FRAME_BYTES / SLOT_BYTES) as u64) as usize;
            let shape = crate::shm::Shape::framed(slots, replicas, pool_size(&groups, replicas, chunks, o)?);
            let t = Instant::now();
            // Mapping the pool does not count against the time for timing lines.
            let left = bench.clock.deadline.saturating_duration_since(t);
            let (pool, pending) = crate::shm::create_pending(seg, shape, &o.job)?;
            let map_ms = ms(t);
            // On any error from here on, `pending` is dropped unpublished, which removes the file.
            let (slab, map, part) = bench.place_frames(pool, slots, replicas, &groups, left, &mut tally, o)?;
            let info = bench.frames_info(&structure, &slab, &map, &part, map_ms);
            let info = bench.finish(&slab, info, tally, started, o)?;
            let shared = pending.publish(slab.layout())?;
            return Ok((slab, shared, info));
        }
        Structure::Mixed { agreement } => return Err(no_structure(agreement)),
        Structure::Unclear { clear, sampled } => return Err(unclear(clear, sampled)),
    };
    let layout = split_layout(slots, replicas, bit)?;
    let t = Instant::now();
    let (region, shared) = crate::shm::create(seg, layout.clone(), &o.job)?;
    let mut info = bench.info("within-frame", &structure, &region, &groups.centers, (0..groups.centers.len()).collect(), ms(t));
    info.channel_offset = 1 << bit;
    info.learned.frames_timed = o.map.sample_frames;
    let slab = Slab::from_region(region, layout)?;
    match bench.finish(&slab, info, tally, started, o) {
        Ok(info) => Ok((slab, shared, info)),
        Err(e) => {
            // The segment was made for a placement that did not hold: do not leave it behind.
            let _ = crate::shm::unlink(seg.name, seg.dir);
            Err(e)
        }
    }
}

/// What learning the group of every frame of a region costs here (`survey_frames`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Survey {
    pub(crate) structure: Structure,
    #[serde(flatten)]
    pub(crate) pages: Pages,
    pub(crate) period_ns: f64,
    pub(crate) frames: usize,
    #[serde(flatten)]
    pub(crate) learned: Learned,
    pub(crate) frames_unknown: usize,
    /// Frames in each group.
    pub(crate) group_frames: Vec<usize>,
    pub(crate) period_agreement: f64,
    pub(crate) lines_timed: usize,
    pub(crate) reads: u64,
    pub(crate) sessions: usize,
    /// Timed reads per line timed, and learning time per line timed (µs).
    pub(crate) reads_per_line: f64,
    pub(crate) us_per_line: f64,
    pub(crate) learn_ms: f64,
    /// The group of the first frames of the first huge page, in order (up to 128).
    pub(crate) first_frames: Vec<Option<usize>>,
}

/// Maps `bytes` on `pages` and learns the group of a line of every frame the frame-by-frame way
/// (`frames::learn_map`, timing what the huge pages' pattern does not predict), whatever the
/// structure inside frames: a probe of what the "frames" path costs on this machine.
///
/// # Errors
///
/// What mapping the pool or measuring the period refuses.
pub fn survey_frames(bytes: usize, pages: PageRequest, o: &PlacementOptions) -> Result<Survey> {
    let region = Region::map(bytes, pages, LockRequest::Auto)?;
    let bench = Bench::start(o)?;
    let period_ns = bench.clock.so.period_ns;
    let started = bench.learn_start;
    let mut timer = bench.timer(&region, o);
    let nframes = region.mapped_bytes() / FRAME_BYTES;
    let (sample, sampled) = frames::sample_structure(nframes, &mut timer, &o.map);
    let Some((groups, structure)) = sample else {
        return Err(Error::Placement {
            message: format!("{sampled} sampled lines showed fewer than two refresh groups"),
            hint: "nothing to survey".into(),
        });
    };
    if let Structure::Unclear { clear, sampled } = structure {
        return Err(unclear(clear, sampled));
    }
    let map = frames::learn_map(nframes, region.page_size() / FRAME_BYTES, &groups, &mut timer, &o.map, usize::MAX);
    let lines = sampled + map.lines_timed;
    let learn_ms = ms(started);
    Ok(Survey {
        structure,
        pages: Pages::of(&region),
        period_ns,
        frames: nframes,
        learned: Learned::of(&map),
        frames_unknown: map.count(Known::Unknown),
        group_frames: (0..map.centers.len()).map(|g| map.groups.iter().filter(|&&x| x == Some(g)).count()).collect(),
        period_agreement: map.period_agreement,
        lines_timed: lines,
        reads: timer.reads,
        sessions: timer.sessions,
        reads_per_line: timer.reads as f64 / lines.max(1) as f64,
        us_per_line: learn_ms * 1e3 / lines.max(1) as f64,
        learn_ms,
        first_frames: map.groups.iter().take(128).copied().collect(),
    })
}

/// Phases (cycles, relative to one reference line) of the lines at `offsets` into `region`, and
/// the refresh period: a probe for studying how groups fall on addresses.
///
/// # Errors
///
/// What measuring the period refuses.
pub fn time_lines(region: &Region, offsets: &[usize], o: &PlacementOptions) -> Result<(Vec<Option<f64>>, f64)> {
    let bench = Bench::start(o)?;
    let mut timer = bench.timer(region, o);
    Ok((timer.phases(offsets), bench.clock.so.period_ns))
}

/// (slots checked, slots whose every copy showed a clear stall, slots whose copies stall apart:
/// apart with copy 0 nearer the arc's centre for a paired layout placed by phase (`arc`), every
/// copy's window clear of every other's for a frame table, each pair X, X ^ (1 << bit) clear of
/// each other for a split by a bit). Apart is judged on the stall windows timing
/// measured (`refresh::Stall::apart`), not on which group a phase is nearest.
fn check_copies(slab: &Slab, timer: &mut dyn Timer, o: &PlacementOptions, arc: Option<frames::Arc>) -> (usize, usize, usize) {
    let l = slab.layout();
    let n = l.replicas();
    let mut rng = crate::rng::SplitMix64::new(o.map.seed ^ 0xC0_9E5);
    let base = slab.region().ptr() as usize;
    let slots: Vec<u64> = (0..o.verify_slots).map(|_| rng.below(l.slots())).collect();
    let offsets: Vec<usize> =
        slots.iter().flat_map(|&i| (0..n).map(move |r| (i, r))).map(|(i, r)| slab.address(r, i).unwrap_or(base) - base).collect();
    let stalls = timer.stalls(&offsets);
    let (mut clear, mut apart) = (0, 0);
    for copies in stalls.chunks(n) {
        if copies.iter().any(Option::is_none) {
            continue;
        }
        clear += 1;
        let ok = if let (Some(arc), [Some(c0), Some(c1)], true) = (arc, copies, l.frames().is_some_and(|t| t.paired())) {
            // Paired by phase, judged on this slot's own lines (not only the line each frame was
            // placed by): the copies stall apart, and copy 0 nearer the arc's centre than copy 1
            // (a timed line's phase is noisier than the arc's edge: `arc_orientation` itself
            // would fail copies that do stall apart and on the right sides).
            c0.apart(c1) && circular_distance(c0.phase, arc.center) < circular_distance(c1.phase, arc.center)
        } else if l.frames().is_some() {
            // Every replica has frames of its own: every copy clear of every other.
            crate::refresh::stall::least_clearance(copies).is_some_and(|c| c > 0.0)
        } else {
            // Split by a bit: copies 2j and 2j + 1 are X and X ^ (1 << bit), which must be apart.
            copies.chunks(2).all(|p| p.len() < 2 || crate::refresh::stall::least_clearance(p).is_some_and(|c| c > 0.0))
        };
        apart += ok as usize;
    }
    (slots.len(), clear, apart)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::frames::testing::Synthetic;
    use super::*;

    /// Whole frames in four groups, a period-6 pattern shifted per (pretend) huge page of 64 frames.
    fn group_of_frame(f: usize) -> usize {
        const PATTERN: [usize; 6] = [0, 2, 1, 3, 2, 1];
        PATTERN[(f % 64 + (f / 64) * 5) % 6]
    }

    #[test]
    fn a_cancel_mid_placement_on_a_fixture_host_unmaps_the_pool_and_decides_nothing() {
        use crate::refresh::hosts::{timer, HostKind};
        use std::sync::atomic::{AtomicUsize, Ordering};
        let per_page = 512;
        let o = MapOptions::default();
        // Host B's whole frames, learned as `build` learns them before it maps its pool.
        let mut t = timer(HostKind::B, 1);
        let (g, st) = frames::sample_structure(4 * per_page, &mut t, &o).0.unwrap();
        assert!(matches!(st, Structure::WholeFrame { .. }), "{st:?}");
        let before = crate::region::live::count();
        let sessions = AtomicUsize::new(0);
        // Relaxed: a counter this test's one thread reads back.
        let (job, rec) = crate::job::testing::recording(move |p, _, _| p == Phase::Place && sessions.fetch_add(1, Ordering::Relaxed) == 20);
        let pool = Region::map_with(4 * per_page * FRAME_BYTES, PageRequest::Off, LockRequest::Off, &job).unwrap();
        let mut t = timer(HostKind::B, 2).metered(job.meter(Phase::Place, Duration::from_secs(6)));
        let r = place_frames(pool, per_page, 200_000, 2, &g, &mut t, &o, usize::MAX);
        assert!(matches!(r, Err(Error::Cancelled { phase: Some("place") })), "{:?}", r.err());
        assert_eq!(crate::region::live::count(), before, "the pool was left mapped");
        assert!(t.sessions <= 21, "{} sessions after the cancel", t.sessions);
        assert_eq!(rec.phases(), vec![Phase::Map, Phase::Prefault, Phase::Place]);
        rec.assert_monotonic();
    }

    #[test]
    fn the_frames_path_gives_every_replica_frames_of_its_own_groups_and_the_slab_reads_back() {
        for replicas in [2usize, 4] {
            let slots = 200_000u64;
            let chunks = slots.div_ceil(512) as usize;
            let mut t = Synthetic::new(4, |o| Some(group_of_frame(o / FRAME_BYTES)));
            let o = MapOptions { seed_frames: 48, ..MapOptions::default() };
            // The sample decides the structure and the pool size, as `build` does.
            let sample_pool = Region::map(64 * 64 * FRAME_BYTES, PageRequest::Off, LockRequest::Off).unwrap();
            let (g, st) = frames::sample_structure(sample_pool.mapped_bytes() / FRAME_BYTES, &mut t, &o).0.unwrap();
            assert!(matches!(st, Structure::WholeFrame { .. }), "{st:?}");
            let need = frames::pool_frames(&g, replicas, chunks, 1.15).unwrap();
            let pool = Region::map(need * FRAME_BYTES, PageRequest::Off, LockRequest::Off).unwrap();
            let (slab, map, part) = place_frames(pool, 64, slots, replicas, &g, &mut t, &o, usize::MAX).unwrap();
            assert_eq!(map.period, Some(6));
            assert!(
                map.count(Known::Inferred) > map.count(Known::Timed),
                "{} timed, {} inferred",
                map.count(Known::Timed),
                map.count(Known::Inferred)
            );
            let base = slab.region().ptr() as usize;
            for i in (0..slots).step_by(97) {
                for r in 0..replicas {
                    let frame = (slab.address(r, i).unwrap() - base) / FRAME_BYTES;
                    assert_eq!(part.class_of_group[group_of_frame(frame)], r, "slot {i} replica {r} in frame {frame}");
                }
            }
            for i in (0..slots).step_by(7) {
                slab.write(i, i * 3 + 1).unwrap();
            }
            for i in (0..slots).step_by(7) {
                for r in 0..replicas {
                    assert_eq!(slab.read_replica(r, i).unwrap(), i * 3 + 1);
                }
            }
        }
    }

    #[cfg(unix)]
    #[test]
    fn the_frames_path_on_a_shared_segment_records_its_table_and_an_opener_reads_the_same_copies() {
        // What `create_shared` does on a whole-frame machine, with the synthetic timer in place of
        // the clock: a pending segment sized by the sample, its own frames learned and assigned,
        // the table published, and the segment opened again.
        let dir = crate::shm::tests::TempDir::new("shared-frames");
        let d = dir.0.clone();
        let (slots, replicas) = (100_000u64, 2usize);
        let chunks = slots.div_ceil(512) as usize;
        let mut t = Synthetic::new(4, |o| Some(group_of_frame(o / FRAME_BYTES)));
        let o = MapOptions { seed_frames: 48, ..MapOptions::default() };
        let (g, st) = frames::sample_structure(64 * 64, &mut t, &o).0.unwrap();
        assert!(matches!(st, Structure::WholeFrame { .. }), "{st:?}");
        let po = PlacementOptions { map: o.clone(), ..PlacementOptions::default() };
        let pool_frames = pool_size(&g, replicas, chunks, &po).unwrap();
        let shape = crate::shm::Shape::framed(slots, replicas, pool_frames);
        let (pool, pending) = crate::shm::create_pending(
            &crate::shm::NewSegment {
                name: "sf",
                pages: PageRequest::Off,
                lock: LockRequest::Off,
                overwrite: false,
                dir: Some(&d),
                schema: None,
            },
            shape,
            &crate::job::Job::none(),
        )
        .unwrap();
        assert_eq!(pool.mapped_bytes(), pool_frames * FRAME_BYTES);
        let (slab, _map, part) = place_frames(pool, 64, slots, replicas, &g, &mut t, &o, usize::MAX).unwrap();
        pending.publish(slab.layout()).unwrap();
        for i in (0..slots).step_by(11) {
            slab.write(i, i ^ 0x5A5A).unwrap();
        }
        let (region, l, _) = crate::shm::open("sf", LockRequest::Off, crate::shm::Expect::default(), Duration::ZERO, Some(&d)).unwrap();
        assert_eq!(&l, slab.layout());
        let opened = Slab::from_region(region, l).unwrap();
        let base = opened.region().ptr() as usize;
        for i in (0..slots).step_by(11) {
            for r in 0..replicas {
                let frame = (opened.address(r, i).unwrap() - base) / FRAME_BYTES;
                assert_eq!(part.class_of_group[group_of_frame(frame)], r, "slot {i} replica {r} in frame {frame}");
                assert_eq!(opened.read_replica(r, i).unwrap(), i ^ 0x5A5A);
            }
        }
    }

    #[test]
    fn the_copy_check_passes_on_every_host_seen_and_refuses_copies_that_stall_together() {
        use crate::refresh::hosts::{timer, HostKind};
        let o = PlacementOptions::default();
        let slots = 64 * 512u64;
        for kind in HostKind::PLACEABLE {
            let mut t = timer(kind, 5);
            let (g, st) = frames::sample_structure(4 * 512, &mut t, &o.map).0.unwrap();
            let slab = match st {
                Structure::WithinFrame { bit, .. } => {
                    let region = Region::map(slots as usize * 8 * 2, PageRequest::Off, LockRequest::Off).unwrap();
                    Slab::from_region(region, split_layout(slots, 2, bit).unwrap()).unwrap()
                }
                Structure::WholeFrame { .. } => {
                    let chunks = slots.div_ceil(512) as usize;
                    let pool =
                        Region::map(pool_size(&g, 2, chunks, &o).unwrap() * FRAME_BYTES, PageRequest::Off, LockRequest::Off).unwrap();
                    place_frames(pool, 512, slots, 2, &g, &mut t, &o.map, usize::MAX).unwrap().0
                }
                other => panic!("{kind:?}: {other:?}"),
            };
            let (checked, clear, apart) = check_copies(&slab, &mut t, &o, None);
            assert_eq!(checked, o.verify_slots);
            assert!(clear >= MIN_CLEAR_CHECKS && apart * 10 >= clear * 9, "{kind:?}: {apart} of {clear} clear of {checked}");
        }
        // Host D's copies 128 B apart (bit 7, which moves nothing there) stall together: refused.
        let mut t = timer(HostKind::D, 5);
        let region = Region::map(slots as usize * 8 * 2, PageRequest::Off, LockRequest::Off).unwrap();
        let slab = Slab::from_region(region, split_layout(slots, 2, 7).unwrap()).unwrap();
        let (_, clear, apart) = check_copies(&slab, &mut t, &o, None);
        assert!(clear >= MIN_CLEAR_CHECKS && apart * 10 < clear * 9, "{apart} of {clear}");
    }

    #[test]
    fn a_paired_shortfall_names_each_frame_total_once_with_what_it_counts() {
        let m = paired_shortfall(400, 12, 300, 2048, 600.0);
        assert_eq!(
            m,
            "copies that stall apart for every slot need 400 frames whose two lines fit the arc; in 600 ms, 300 frames were timed \
             (2.00 ms each) and 12 of them fit, so finding all 400 would take about 20 s (the pool mapped for them holds 2048 frames)"
        );
    }

    #[test]
    fn too_small_a_pool_is_refused_with_the_counts() {
        let mut t = Synthetic::new(4, |o| Some(group_of_frame(o / FRAME_BYTES)));
        let o = MapOptions { seed_frames: 48, ..MapOptions::default() };
        let pool = Region::map(64 * 8 * FRAME_BYTES, PageRequest::Off, LockRequest::Off).unwrap();
        let (g, _) = frames::sample_structure(512, &mut t, &o).0.unwrap();
        let e = place_frames(pool, 64, 512 * 400, 2, &g, &mut t, &o, usize::MAX).err().unwrap();
        assert!(matches!(&e, Error::Placement { message, .. } if message.contains("needs 400 frames")), "{e}");
    }
}
