//! The engine's front door: a mirrored slab plus its replica threads, for one requester.
//!
//! `Slayer` ties a `Slab` (memory + layout), a core `Placement` and an optional running
//! `ReplicaSet` together and counts what reads did. Reads take `&mut self`: one request in flight
//! per requester is enforced by the borrow checker, not by a lock. Writes take `&self` and may also
//! come from other threads through `slab()`.

use std::sync::Arc;

use crate::cores::{self, CoreAssignment};
use crate::error::{Error, Result};
use crate::job::{Job, Phase};
use crate::layout::Layout;
pub use crate::options::{default_idle_us, ChannelOffset, CopyPlacement, OpenOptions, Options, SharedOptions, Strategy, ThreadOptions};
use crate::placement::BackgroundWhen;
use crate::read_path::ReadPath;
use crate::region::PageKind;
use crate::replicas::ReplicaSet;
use crate::shm::{self, NewSegment, SharedInfo};
use crate::slab::Slab;
use crate::spin::SpinPolicy;
use crate::stats::Stats;
use crate::steer::arrange::{self, ArrangeOptions, Arrangement};
use crate::steer::handoff::Handoff;
use crate::steer::learner::{Learner, Warmup};
use crate::steer::orientation::Orientation;
use crate::steer::{SteerReport, SteeredReader, TrackerConfig};
use crate::strategy::{self, Choice, CoreFacts, Facts, Kind, Placement, Plan, SteerTrial, Step};
use crate::tsc;

/// Where the copies went, for `info()` (serialized: `info().placement`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyPlacementInfo {
    /// "refresh-groups" or "offset".
    pub kind: &'static str,
    /// What refresh-group placement found, when it was used (its fields beside `kind`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub arrangement: Option<Arrangement>,
    /// Why refresh groups were not used, when they were tried or asked for and not had.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Set when placement by refresh group was tried ('auto') and refused, so the copies went on
    /// an offset instead: what was tried, what the slab got, and the refusal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<PlacementFallback>,
    /// What refresh-group placement on huge pages found, when it was used.
    #[serde(rename = "hugePages", skip_serializing_if = "Option::is_none")]
    pub huge: Option<crate::placement::PlacementInfo>,
    /// In a process that opened a shared slab whose copies its creator placed (a frame table
    /// recorded in the segment): where the copies come from, in words. The placement report
    /// (`huge`) stays with the creator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_segment: Option<String>,
}

/// A refused placement the slab went on without (`placement: 'auto'`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementFallback {
    /// The placement tried (`strategy::Placement::name`): "huge-pages" (`placement::build`, or
    /// `placement::create_shared` for a shared slab, on the slab's own pages). 'auto' never tries
    /// "refresh-groups" (`steer::arrange`, single 4 KiB pages): those are moved only when asked
    /// for, and then a refusal is an error.
    pub from: &'static str,
    /// What the slab got instead: always "offset" (copies `channel_offset` bytes apart).
    pub to: &'static str,
    /// Bytes between the copies of the offset layout the slab went on.
    pub channel_offset: usize,
    /// The refusal, as its error renders it (with markers, for each front end to spell).
    pub reason: String,
}

impl CopyPlacementInfo {
    /// Copies `channelOffset` bytes apart, nothing tried.
    fn offset() -> CopyPlacementInfo {
        CopyPlacementInfo { kind: "offset", arrangement: None, note: None, fallback: None, huge: None, from_segment: None }
    }

    /// Copies `bytes` apart because placement `from` was refused with `e`.
    fn fell_back(from: &'static str, bytes: usize, e: &Error) -> CopyPlacementInfo {
        let reason = e.marked();
        CopyPlacementInfo {
            note: Some(format!("copies {bytes} B apart: {reason}")),
            fallback: Some(PlacementFallback { from, to: "offset", channel_offset: bytes, reason }),
            ..CopyPlacementInfo::offset()
        }
    }

    /// Copies laid out by the frame table an opened shared segment records.
    fn segment_table(info: &SharedInfo) -> CopyPlacementInfo {
        let from =
            format!("the shared segment's frame table: copies placed by refresh group by process {}, which created it", info.creator_pid);
        CopyPlacementInfo { kind: "refresh-groups", from_segment: Some(from), ..CopyPlacementInfo::offset() }
    }

    /// Placed by `placement::build` / `placement::create_shared`.
    fn huge(info: crate::placement::PlacementInfo) -> CopyPlacementInfo {
        CopyPlacementInfo { kind: "refresh-groups", huge: Some(info), ..CopyPlacementInfo::offset() }
    }

    /// The channel-offset source sentence for a slab placed on huge pages.
    fn huge_source(info: &crate::placement::PlacementInfo) -> String {
        format!("placement on huge pages ({}): {} B, learned by timing", info.layout, info.channel_offset)
    }
}

/// How long `Slayer::new` may spend calibrating a steering tracker before the first read.
const STEER_CALIBRATION_BUDGET_MS: u64 = 300;

/// Which strategies a shared slab takes (the rule is the strategy module's; record segments check
/// it here too).
pub(crate) use crate::strategy::shared_strategy;

/// What a slab got and how it runs: the truth, for `info()`. Serialized (camelCase, see
/// `report`) it is JS's `info()`, as index.d.ts's `SlayerInfo` declares it.
///
/// Its sentences (reasons, notes, page fallbacks) name options through the markers of
/// [`crate::error::spell`] (`⟦set:hugePages=auto⟧`), so each front end spells them its own way:
/// pass them through `spell(text, Front::Rust)` to print them from Rust.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// Slots in each copy.
    pub slots: u64,
    /// Copies of every slot.
    pub replicas: usize,
    /// Bytes between one copy of a slot and the next (0 when the copies were placed by a table).
    pub channel_offset: usize,
    /// The pages the slab got.
    pub page_kind: PageKind,
    /// Bytes of one of those pages.
    pub page_size: usize,
    /// Bytes mapped for all copies.
    pub mapped_bytes: usize,
    /// For transparent huge pages: how much the kernel backed with huge pages.
    pub thp_bytes: usize,
    /// The slab is locked in memory (mlock).
    pub locked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why locking was refused, when it was and the slab runs unlocked.
    pub lock_error: Option<String>,
    /// Page kinds tried and passed over, with the reason.
    pub page_fallbacks: Vec<String>,
    /// The core each replica thread is pinned to.
    pub cores: Vec<usize>,
    /// The core each running thread reported from inside itself (sched_getcpu), when running.
    #[serde(serialize_with = "crate::report::cores_or_minus_one")]
    pub thread_cpus: Vec<Option<usize>>,
    /// Replica threads share cores (with each other or the caller): hedging loses its point.
    pub shared_cores: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why the threads share cores or run where they do, when that needs saying.
    pub cores_note: Option<String>,
    /// How idle replica threads wait.
    pub spin: SpinPolicy,
    /// `u64::MAX`: threads never park (serialized as -1).
    #[serde(serialize_with = "crate::report::never_as_minus_one")]
    pub idle_us: u64,
    /// The replica threads are running.
    pub running: bool,
    /// Serialized with its length (`cpuCount`).
    #[serde(flatten, serialize_with = "crate::report::allowed_cpus")]
    pub allowed_cpus: Vec<usize>,
    /// Reads record their latency (for `stats()` percentiles).
    pub recording: bool,
    /// The strategy reads use (never `Auto`), what was asked for, why, and a warning when an
    /// explicit strategy is expected to lose.
    pub strategy: Strategy,
    #[serde(flatten)]
    /// What was asked for, why the strategy was chosen, and any warning.
    pub choice: Choice,
    /// Bytes between copies, and where that number came from.
    pub channel_offset_source: String,
    /// Where the copies of each slot went.
    #[serde(rename = "placement")]
    pub copies: CopyPlacementInfo,
    /// The named segment behind the slab, for shared slabs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedInfo>,
    /// For a slab learned in the background (`placement: 'background'`): how far it has come.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub learning: Option<crate::steer::learner::Learning>,
}

/// The process's cores as the strategy rule sees them, and the replica threads' cores.
struct CoreChoice {
    allowed: Vec<usize>,
    assignment: CoreAssignment,
    facts: CoreFacts,
}

/// This process's cores as the constructing thread sees them: the ones it may run on, and its own.
struct Cores {
    allowed: Vec<usize>,
    current: Option<usize>,
}

impl Cores {
    fn now() -> Cores {
        Cores { allowed: cores::allowed(), current: cores::current() }
    }

    fn facts(&self, replicas: usize, explicit: Option<&[usize]>) -> CoreFacts {
        CoreFacts::of(replicas, &self.allowed, self.current, explicit.is_some())
    }

    /// The replica threads' cores (`cores::choose`'s errors for a bad core list).
    fn assign(self, replicas: usize, explicit: Option<&[usize]>) -> Result<CoreChoice> {
        let assignment = cores::choose(replicas, explicit, &self.allowed, self.current)?;
        let facts = self.facts(replicas, explicit);
        Ok(CoreChoice { allowed: self.allowed, assignment, facts })
    }
}

fn place(replicas: usize, explicit: Option<&[usize]>) -> Result<CoreChoice> {
    Cores::now().assign(replicas, explicit)
}

/// The facts a plan for `opts` judges: the cores, what the boot cache remembers (recalled only
/// where the plan looks at it), and whether loads can be timed here.
fn facts(opts: &Options, kind: Kind, here: &Cores) -> Facts {
    let cores = here.facts(opts.replicas, opts.threads.cores.as_deref());
    let remembered = if Plan::recalls(opts, kind, &cores) { crate::refresh::boot_cache::recall() } else { None };
    Facts { cores, remembered, timing: crate::refresh::timing::supported() }
}

/// A busy thread never spins on the constructing thread's core unless the caller named that
/// core: on too few cores a default 'busy' hedged slab spins in bursts ('hybrid') instead, and
/// says so.
fn spin_for(spin: SpinPolicy, cores: &CoreChoice) -> (SpinPolicy, Option<String>) {
    let current = cores::current();
    let on_callers_core = !cores.facts.explicit && current.is_some_and(|c| cores.assignment.cores.contains(&c));
    if spin == SpinPolicy::Busy && on_callers_core {
        let note = format!(
            "⟦set:spin=busy⟧ would pin a spinning replica thread to the caller's core {}: using ⟦set:spin=hybrid⟧ (name the cores to insist)",
            current.unwrap_or(0)
        );
        (SpinPolicy::Hybrid, Some(note))
    } else {
        (spin, None)
    }
}

/// A steering reader over `slab`, calibrated (cold reads of pseudo-random slots until the tracker
/// has decided or the budget is spent), so the first user reads are already steered.
fn calibrated_reader(slab: &Arc<Slab>, copies: &CopyPlacementInfo, job: &Job) -> Result<SteeredReader> {
    let n = slab.layout().replicas();
    // The period placement measured (or was given), else this machine's as one line shows it,
    // measured once per process; the slow cut measured with it. Where no period can be measured,
    // the tracker's defaults: its calibration then finds no signal and reads copy 0.
    let placed = copies.arrangement.as_ref().map(|a| a.period_ns).or(copies.huge.as_ref().map(|h| h.period_ns));
    let measured = crate::refresh::period::of_this_machine_with(None, 0x51EE, job);
    job.check()?;
    let mut reader = SteeredReader::new(slab.clone(), tracker_config(n, measured, placed))?;
    let deadline = tsc::now() + tsc::from_ns(STEER_CALIBRATION_BUDGET_MS * 1_000_000);
    // 'calibrate', in ms of the budget; the job is looked at every 256 reads (well under 1 ms).
    let meter = job.meter(Phase::Calibrate, std::time::Duration::from_millis(STEER_CALIBRATION_BUDGET_MS));
    calibrate_on_reads(&mut reader, slab, 0x51EE, |_| true, |k, _| tsc::now() < deadline && (k % 256 != 0 || meter.tick()));
    job.check()?;
    meter.finish();
    Ok(reader)
}

/// A tracker set up for `copies` copies and this machine's refresh as `measured` found it, with
/// the period placement measured (`placed`) where there is one; where nothing could be measured,
/// the placed period alone, else the tracker's defaults (its calibration then finds no signal).
fn tracker_config(copies: usize, measured: Result<crate::refresh::period::Measured>, placed: Option<f64>) -> TrackerConfig {
    let tpn = tsc::ticks_per_ns();
    match (measured, placed) {
        (Ok(m), placed) => {
            TrackerConfig::for_measured(copies, tpn, &crate::refresh::period::Measured { period_ns: placed.unwrap_or(m.period_ns), ..m })
        }
        (Err(_), Some(p)) => TrackerConfig::for_measured_period(copies, tpn, p),
        (Err(_), None) => TrackerConfig::new(copies, tpn),
    }
}

/// Calibrates `reader`'s tracker on cold reads of random slots of `slab` (each flushed first,
/// drawn with `seed`), while it is calibrating: `wanted(slot)` says whether a drawn slot is read
/// (a draw not wanted counts as a draw, not a read), and `go(draws, read_ticks)`, asked before
/// each draw with the draws so far and the ticks spent flushing and reading, whether to go on.
fn calibrate_on_reads(
    reader: &mut SteeredReader,
    slab: &Slab,
    seed: u64,
    mut wanted: impl FnMut(u64) -> bool,
    mut go: impl FnMut(u32, u64) -> bool,
) {
    let slots = slab.layout().slots();
    let mut rng = crate::rng::SplitMix64::new(seed);
    let (mut draws, mut read_ticks) = (0u32, 0u64);
    while reader.tracker().state() == crate::steer::SteerState::Calibrating {
        if !go(draws, read_ticks) {
            return;
        }
        draws = draws.wrapping_add(1);
        let i = rng.below(slots);
        if !wanted(i) {
            continue;
        }
        let t = tsc::now();
        slab.flush_slot(i);
        let _ = reader.read(i);
        read_ticks += tsc::now().wrapping_sub(t);
    }
}

/// The steering reader of a slab learned in the background: set up for this machine's period
/// (the one placement measured), steering each frame as `orientation` learns it, with the tracker
/// the learner calibrates for it on learned frames (the `Warmup` to give the learner).
fn background_reader(slab: &Arc<Slab>, period_ns: Option<f64>, orientation: Arc<Orientation>) -> Result<(SteeredReader, Warmup)> {
    let cfg = tracker_config(2, crate::refresh::period::of_this_machine(None, 0x51EE), period_ns);
    let handoff = Arc::new(Handoff::new());
    let mut reader = SteeredReader::with_orientation(slab.clone(), cfg, orientation.clone())?;
    reader.await_handoff(handoff.clone());
    let slab = slab.clone();
    let calibrate = move |stopping: &dyn Fn() -> bool| warm_tracker(&slab, &orientation, cfg, stopping);
    Ok((reader, Warmup { handoff, calibrate: Box::new(calibrate) }))
}

/// A tracker calibrated on `slab`'s learned frames, on the learner's thread: cold reads of random
/// slots of learned, steerable frames (not noted as the slab's reads) until it has decided, within
/// `STEER_CALIBRATION_BUDGET_MS` of reads; None if it has not, or `stopping()`.
fn warm_tracker(
    slab: &Arc<Slab>,
    orientation: &Arc<Orientation>,
    cfg: TrackerConfig,
    stopping: &dyn Fn() -> bool,
) -> Option<crate::steer::Tracker> {
    use crate::steer::orientation::FrameState;
    let mut reader = SteeredReader::with_orientation(slab.clone(), cfg, orientation.clone()).ok()?.unnoted();
    let budget = tsc::from_ns(STEER_CALIBRATION_BUDGET_MS * 1_000_000);
    let learned = |i: u64| {
        let frame = slab.layout().offset(0, i) / crate::layout::FRAME_BYTES;
        matches!(orientation.state(frame), FrameState::Normal | FrameState::Swapped)
    };
    let mut stopped = false;
    calibrate_on_reads(&mut reader, slab, 0x57A2_3E11, learned, |k, ticks| {
        stopped = k % 1024 == 1023 && stopping();
        !stopped && ticks < budget
    });
    if stopped {
        return None;
    }
    (reader.tracker().state() != crate::steer::SteerState::Calibrating).then(|| reader.into_tracker())
}

/// How the copies were placed, in words, for the strategy sentence.
fn placement_words(copies: &CopyPlacementInfo, layout: &Layout) -> String {
    match copies.kind {
        "refresh-groups" => "refresh group".to_string(),
        _ => format!("a {} B offset", layout.channel_offset()),
    }
}

/// Carries out the plan's strategy over a built slab: where it calls for a trial, a calibrated
/// steering reader is the trial; it is kept when the slab steers.
fn decide(plan: &Plan, slab: &Arc<Slab>, copies: &CopyPlacementInfo, job: &Job) -> Result<(Choice, Option<SteeredReader>)> {
    let mut reader: Option<Result<SteeredReader>> = None;
    let choice = plan.choose(|| {
        let r = calibrated_reader(slab, copies, job);
        let trial = match &r {
            Ok(r) => Ok(SteerTrial::from_report(placement_words(copies, slab.layout()), &r.report())),
            Err(e) => Err(e.marked()),
        };
        reader = Some(r);
        Some(trial)
    });
    // A calibration cancelled midway decided nothing: stop here (its reader is dropped).
    job.check()?;
    let steer = match (choice.strategy, reader) {
        (Strategy::Steer, Some(r)) => Some(r?),
        _ => None,
    };
    Ok((choice, steer))
}

/// What placement on huge pages may do, as the plan's step says, within the request's budget.
fn placement_options(opts: &Options, consistent: bool, background: BackgroundWhen, job: &Job) -> crate::placement::PlacementOptions {
    crate::placement::PlacementOptions { budget: opts.placement_budget, consistent, background, job: job.clone(), ..Default::default() }
}

/// A slab whose copies a placement by refresh group put in place, and what to say of it.
struct Placed {
    slab: Slab,
    copies: CopyPlacementInfo,
    source: String,
    background: Option<crate::placement::Background>,
}

/// Tries `step` of a local slab's plan (not `Placement::Offset`, which needs no trying).
/// A refusal the plan knew beforehand comes before anything is mapped or timed (for 4 KiB pages,
/// after the check of the grouped layout's shape).
fn place_local(opts: &Options, step: &Step, job: &Job) -> Result<Placed> {
    let refused = || step.refused.clone().map_or(Ok(()), Err);
    match step.placement {
        Placement::HugePages { consistent, background } => {
            refused()?;
            // Steering predicts per copy, so a slab that may steer needs copy r in the same groups
            // for every slot (`consistent`); hedging races every copy and does not.
            let o = placement_options(opts, consistent, background, job);
            let (slab, info, background) = crate::placement::build(opts.slots, opts.replicas, opts.pages, opts.threads.lock, &o)?;
            Ok(Placed { slab, source: CopyPlacementInfo::huge_source(&info), copies: CopyPlacementInfo::huge(info), background })
        }
        Placement::RefreshGroups => {
            let grouped = Layout::new(opts.slots, opts.replicas, arrange::GROUP_OFFSET)?;
            refused()?;
            let o = ArrangeOptions { budget: opts.placement_budget, job: job.clone(), ..ArrangeOptions::default() };
            let (region, a) = arrange::build(&grouped, opts.threads.lock, &o)?;
            Ok(Placed {
                slab: Slab::from_region(region, grouped)?,
                copies: CopyPlacementInfo { kind: "refresh-groups", arrangement: Some(a), ..CopyPlacementInfo::offset() },
                source: "placement 'refresh-groups': each copy on its own 4 KiB page, pages chosen by refresh group".into(),
                background: None,
            })
        }
        Placement::Offset => Err(Error::Internal { message: "an offset placement is not tried".into() }),
    }
}

/// A creation of the segment `created` that was cancelled after the segment was published (the
/// slab already unmapped) removes it, so a cancelled creation leaves no segment behind.
pub(crate) fn removed_if_cancelled<T>(made: Result<T>, created: &SharedInfo) -> Result<T> {
    if let Err(Error::Cancelled { .. }) = &made {
        shm::remove_created(created);
    }
    made
}

/// Copy 0 of a slab whose reads are plain direct loads, laid out for a front end that reads it
/// itself (the Node binding maps it into a typed array, so a read costs no native call): copy 0 of
/// slot i is `base[(i >> shift) * stride_words + (i & mask)]`, within `words` words.
#[derive(Clone, Copy, Debug)]
pub struct DirectView {
    /// Copy 0's first word.
    pub base: *mut u64,
    /// Words readable from `base`.
    pub words: usize,
    /// Slot index bits that stay within one chunk (`i >> shift` picks the chunk).
    pub shift: u32,
    /// Mask of the slot index within its chunk.
    pub mask: u64,
    /// Words from one chunk of copy 0 to the next.
    pub stride_words: usize,
}

/// A mirrored slab of 64-bit slots: N copies placed so that their refresh stalls do not coincide, read by the strategy [`Info::strategy`] names (hedged, steered or direct). Every write reaches every copy before it returns.
///
/// ```
/// use ultraslayer::{Options, Slayer, Strategy};
///
/// let mut options = Options::new(1 << 16);
/// options.strategy = Strategy::Direct; // or Hedge (replica threads) / Steer / Auto
/// let mut slab = Slayer::new(options)?;
/// slab.write(42, 7)?;
/// assert_eq!(slab.read(42)?, 7);
/// println!("{} on {:?} pages", slab.info().strategy.name(), slab.info().page_kind);
/// # Ok::<(), ultraslayer::Error>(())
/// ```
pub struct Slayer {
    slab: Arc<Slab>,
    assignment: CoreAssignment,
    spin: SpinPolicy,
    idle_us: u64,
    /// How reads go (hedged, steered or direct) and what they did.
    path: ReadPath,
    allowed: Vec<usize>,
    choice: Choice,
    channel_offset_source: String,
    copies: CopyPlacementInfo,
    shared: Option<SharedInfo>,
    /// A slab learned in the background: the thread learning its frames (stopped when dropped).
    learner: Option<Learner>,
}

impl Slayer {
    /// A local slab, made on the calling thread (see `new_with`).
    pub fn new(opts: Options) -> Result<Slayer> {
        Slayer::new_with(opts, &Job::none())
    }

    /// `new`, as part of `job`: every long step (mapping, pre-faulting, the period, placement and
    /// its check, calibration, starting threads) reports its phase to `job` and, once `job` is
    /// cancelled, stops within ~50 ms of work with `Error::Cancelled`, having unmapped what it
    /// mapped and started no thread.
    pub fn new_with(opts: Options, job: &Job) -> Result<Slayer> {
        let here = Cores::now();
        let plan = Plan::new(&opts, Kind::Local, &facts(&opts, Kind::Local, &here))?;
        job.check()?;
        // Choose cores before mapping, so a bad core list fails fast and cheaply.
        let cores = here.assign(opts.replicas, opts.threads.cores.as_deref())?;
        let offset = opts.channel_offset.resolve(plan.steers);
        // Validate the offset layout first, so bad shapes fail before any measuring.
        let layout = Layout::new(opts.slots, opts.replicas, offset.bytes)?;
        let mut copies = CopyPlacementInfo::offset();
        let mut placed = None;
        for (i, step) in plan.placements.iter().enumerate() {
            if step.placement == Placement::Offset {
                break;
            }
            match place_local(&opts, step, job) {
                Ok(p) => {
                    placed = Some(p);
                    break;
                }
                // The plan's fallbacks are all to an offset.
                Err(e) if plan.after_refusal(i, &e).is_some() => {
                    copies = CopyPlacementInfo::fell_back(step.placement.name(), offset.bytes, &e)
                }
                Err(e) => return Err(e),
            }
        }
        let (slab, source, background) = match placed {
            Some(p) => {
                copies = p.copies;
                (Arc::new(p.slab), p.source, p.background)
            }
            None => (Arc::new(Slab::new_with(layout, opts.pages, opts.threads.lock, job)?), offset.source, None),
        };
        if let Some(bg) = background {
            // Steered from the start, each frame once it is learned: no calibration up front
            // (the tracker calibrates on the reads of learned frames).
            job.check()?;
            let frames = slab.layout().span().div_ceil(crate::layout::FRAME_BYTES);
            let orientation = Arc::new(Orientation::new(frames));
            let period_ns = copies.huge.as_ref().map(|h| h.period_ns);
            let (reader, warm) = background_reader(&slab, period_ns, orientation.clone())?;
            let (start, bit) = (bg.start.clone(), bg.start.bit());
            let learner = Learner::spawn(
                orientation,
                bg.timer(slab.clone()),
                start,
                f64::from(opts.learn_duty_percent) / 100.0,
                crate::steer::learner::DEFAULT_AUDIT_EVERY,
                Some(warm),
            )?;
            let choice = Choice::learned_in_background(opts.strategy, bit);
            let mut s = Slayer::assemble(slab, cores, &opts.threads, choice, Some(reader), source, copies, None, job)?;
            s.learner = Some(learner);
            return Ok(s);
        }
        let (choice, steer) = decide(&plan, &slab, &copies, job)?;
        Slayer::assemble(slab, cores, &opts.threads, choice, steer, source, copies, None, job)
    }

    /// The one place a Slayer is put together from its slab, whatever the slab's origin. A
    /// cancelled `job` stops it before any thread starts (the slab is dropped, so unmapped).
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        slab: Arc<Slab>,
        cores: CoreChoice,
        threads: &ThreadOptions,
        choice: Choice,
        steer: Option<SteeredReader>,
        channel_offset_source: String,
        copies: CopyPlacementInfo,
        shared: Option<SharedInfo>,
        job: &Job,
    ) -> Result<Slayer> {
        job.check()?;
        let (spin, spin_note) = if choice.strategy == Strategy::Hedge { spin_for(threads.spin, &cores) } else { (threads.spin, None) };
        let mut assignment = cores.assignment;
        if let Some(n) = spin_note {
            assignment.note = Some(match assignment.note {
                Some(p) => format!("{p}; {n}"),
                None => n,
            });
        }
        let mut s = Slayer {
            path: ReadPath::new(slab.clone(), steer, threads.record_latency),
            slab,
            assignment,
            spin,
            idle_us: threads.idle_us.unwrap_or(default_idle_us(spin)),
            allowed: cores.allowed,
            choice,
            channel_offset_source,
            copies,
            shared,
            learner: None,
        };
        if threads.start {
            // 'start', in threads (none unless the slab hedges).
            let n = if s.choice.strategy == Strategy::Hedge { s.assignment.cores.len() as u64 } else { 0 };
            job.report(Phase::Start, 0, n);
            // The last way out: dropping `s` here unmaps the slab, with no thread started.
            job.check()?;
            s.start()?;
            job.finish(Phase::Start, n);
        }
        Ok(s)
    }

    /// Creates the named shared slab `name` (see `shm::create`) and runs this process's replica
    /// threads over it when the strategy rule hedges (copies placed by refresh group where
    /// `placement::create_shared` can, else `channel_offset` apart; a shared slab is hedged or
    /// read directly, never steered). Other processes attach with
    /// `open_shared`; the segment outlives every process until `shm::unlink`.
    pub fn create_shared(name: &str, opts: Options, shared: SharedOptions) -> Result<Slayer> {
        Slayer::create_shared_with(name, opts, shared, &Job::none())
    }

    /// `create_shared`, as part of `job` (see `new_with`). A cancelled creation leaves no segment
    /// behind: the file this call made is removed (with `overwrite`, the one it replaced is gone
    /// too, as on any error).
    pub fn create_shared_with(name: &str, opts: Options, shared: SharedOptions, job: &Job) -> Result<Slayer> {
        shm::validate_name(name)?;
        job.check()?;
        let here = Cores::now();
        let plan = Plan::new(&opts, Kind::Shared, &facts(&opts, Kind::Shared, &here))?;
        let cores = here.assign(opts.replicas, opts.threads.cores.as_deref())?;
        let choice = plan.choose(|| None);
        let seg = NewSegment {
            name,
            pages: opts.pages,
            lock: opts.threads.lock,
            overwrite: shared.overwrite,
            dir: shared.dir.as_deref(),
            schema: None,
        };
        let mut refused = None;
        for (i, step) in plan.placements.iter().enumerate() {
            // The plan refuses 4 KiB pages for a shared slab: what follows huge pages is an offset.
            let Placement::HugePages { consistent, background } = step.placement else { break };
            let o = placement_options(&opts, consistent, background, job);
            let placed = match &step.refused {
                Some(e) => Err(e.clone()),
                None => crate::placement::create_shared(&seg, opts.slots, opts.replicas, &o),
            };
            match placed {
                Ok((slab, info, p)) => {
                    let source = CopyPlacementInfo::huge_source(&p);
                    let created = info.clone();
                    let made = Slayer::assemble(
                        Arc::new(slab),
                        cores,
                        &opts.threads,
                        choice,
                        None,
                        source,
                        CopyPlacementInfo::huge(p),
                        Some(info),
                        job,
                    );
                    return removed_if_cancelled(made, &created);
                }
                // The plan's fallbacks are all to an offset.
                Err(e) if plan.after_refusal(i, &e).is_some() => refused = Some((step.placement.name(), e)),
                Err(e) => return Err(e),
            }
        }
        let offset = opts.channel_offset.resolve(false);
        let layout = Layout::new(opts.slots, opts.replicas, offset.bytes)?;
        let (region, info) = shm::create(&seg, layout.clone(), job)?;
        let slab = Arc::new(Slab::from_region(region, layout)?);
        let copies = match refused {
            Some((from, e)) => CopyPlacementInfo::fell_back(from, offset.bytes, &e),
            None => CopyPlacementInfo::offset(),
        };
        let created = info.clone();
        removed_if_cancelled(Slayer::assemble(slab, cores, &opts.threads, choice, None, offset.source, copies, Some(info), job), &created)
    }

    /// Maps the existing shared slab `name` (validated: see `shm::open`) and runs this process's
    /// own replica threads, on its own cores, over it when the strategy rule hedges.
    pub fn open_shared(name: &str, opts: OpenOptions) -> Result<Slayer> {
        shm::validate_name(name)?;
        let strategy = shared_strategy(opts.strategy)?;
        let (region, layout, info) = shm::open(name, opts.threads.lock, opts.expect, opts.wait, opts.dir.as_deref())?;
        let cores = place(layout.replicas(), opts.threads.cores.as_deref())?;
        // A segment with a frame table lays the copies out through it (its creator placed them).
        let (source, copies) = match layout.frames() {
            Some(_) => ("from the shared segment's frame table (4 KiB frames)".to_string(), CopyPlacementInfo::segment_table(&info)),
            None => ("from the shared segment's header".to_string(), CopyPlacementInfo::offset()),
        };
        let slab = Arc::new(Slab::from_region(region, layout)?);
        let choice = strategy::choose(strategy, &cores.facts, || None);
        Slayer::assemble(slab, cores, &opts.threads, choice, None, source, copies, Some(info), &Job::none())
    }

    /// A Slayer over a shared slab another engine module mapped (`records` maps its segments
    /// itself, to keep the schema in the header), with this process's threads and the same
    /// strategy rule as `create_shared`/`open_shared` (hedged or direct, never steered).
    pub(crate) fn over_shared_slab(
        slab: Arc<Slab>,
        info: SharedInfo,
        threads: &ThreadOptions,
        strategy: Strategy,
        channel_offset_source: String,
        job: &Job,
    ) -> Result<Slayer> {
        let strategy = shared_strategy(strategy)?;
        let cores = place(slab.layout().replicas(), threads.cores.as_deref())?;
        let choice = strategy::choose(strategy, &cores.facts, || None);
        Slayer::assemble(slab, cores, threads, choice, None, channel_offset_source, CopyPlacementInfo::offset(), Some(info), job)
    }

    /// The read path, for a record store's reads (`records`), which go the same way and count in
    /// the same stats as this Slayer's.
    #[inline(always)]
    pub(crate) fn read_path(&mut self) -> &mut ReadPath {
        &mut self.path
    }

    /// Starts the replica threads (no-op when running, and for the steer/direct strategies, which
    /// use none).
    pub fn start(&mut self) -> Result<()> {
        if self.choice.strategy != Strategy::Hedge {
            return Ok(());
        }
        if self.path.replica_set().is_none() {
            self.path.hedge(ReplicaSet::start(self.slab.clone(), &self.assignment.cores, self.spin, self.idle_us)?);
        }
        Ok(())
    }

    /// Stops and joins the replica threads (no-op when stopped). Reads keep working, directly.
    pub fn stop(&mut self) {
        if let Some(set) = self.path.unhedge() {
            set.stop();
        }
    }

    /// Whether the replica threads run (reads are hedged).
    pub fn running(&self) -> bool {
        self.path.replica_set().is_some()
    }

    #[inline(always)]
    /// Slots in each copy.
    pub fn slots(&self) -> u64 {
        self.slab.layout().slots()
    }

    /// Copies of every slot.
    pub fn replica_count(&self) -> usize {
        self.slab.layout().replicas()
    }

    /// Reads slot `i`: hedged when the threads run, steered for a steering slab, from replica 0
    /// otherwise (the one read path, `read_path`, which also counts it in `stats()`).
    ///
    /// # Errors
    /// [`Error::SlotOutOfRange`] when `i >= slots()`.
    #[inline]
    pub fn read(&mut self, i: u64) -> Result<u64> {
        self.path.read(i)
    }

    /// A hedged read that refuses when the threads are stopped.
    pub fn read_hedged(&mut self, i: u64) -> Result<u64> {
        if !self.running() {
            return Err(Error::Stopped { what: "replica threads are stopped: call ⟦call:start⟧ before a hedged read" });
        }
        self.read(i)
    }

    /// Reads replica `r`'s copy directly, without threads (baselines, checks).
    #[inline]
    pub fn read_replica(&self, r: usize, i: u64) -> Result<u64> {
        self.slab.read_replica(r, i)
    }

    /// Reads many slots in one request per `BATCH_CAPACITY`; results equal reading one by one.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when `out` is not as long as `indices`; [`Error::SlotOutOfRange`]
    /// for the first index `>= slots()`. Either is found before anything is read.
    pub fn read_many(&mut self, indices: &[u32], out: &mut [u64]) -> Result<()> {
        if indices.len() != out.len() {
            return Err(Error::LengthMismatch { indices: indices.len(), values: out.len() });
        }
        self.slab.check_all(indices)?;
        self.path.read_many(indices, out)
    }

    /// Stores `v` in every replica of slot `i`; returns once all are stored.
    #[inline]
    pub fn write(&self, i: u64, v: u64) -> Result<()> {
        self.slab.write(i, v)
    }

    /// Writes `values[k]` to slot `indices[k]` in every copy, in order; every write has reached every copy when it returns.
    ///
    /// # Errors
    /// [`Error::LengthMismatch`] when the two slices differ in length, or an out-of-range error naming the first bad index (nothing is written then).
    pub fn write_many(&self, indices: &[u32], values: &[u64]) -> Result<()> {
        self.slab.write_many(indices, values)
    }

    /// The slab itself, shared: for writes and direct reads from other threads while this one
    /// reads (and for probes, benchmarks and flushes).
    pub fn slab(&self) -> Arc<Slab> {
        self.slab.clone()
    }

    /// The per-frame orientation of a slab learned in the background (which frames are learned,
    /// and which way round): for the benchmark's split of reads by frame. None for other slabs.
    #[cfg(feature = "bench")]
    pub(crate) fn orientation(&self) -> Option<&Arc<Orientation>> {
        self.path.steered_reader().and_then(|r| r.orientation())
    }

    /// What this Slayer's reads did (and its record store's, for one under `Records`).
    pub fn stats(&self) -> Stats {
        self.path.stats()
    }

    /// Sets the share of one core, in percent, this slab's background learner keeps busy
    /// (`Options::learn_duty_percent`), e.g. all of one while nothing else needs it and back to
    /// the default before serving. Takes effect at once, a pause under way included. Ok(false) for
    /// a slab that learns nothing in the background, or whose learning has ended.
    ///
    /// # Errors
    /// `Error::OptionOutOfRange` (option "learnDutyPercent") outside 1 to 100.
    pub fn set_learn_duty_percent(&self, percent: u32) -> Result<bool> {
        crate::options::check_learn_duty_percent(percent.into())?;
        Ok(match &self.learner {
            Some(l) if !l.done() => {
                l.set_duty(f64::from(percent) / 100.0);
                true
            }
            _ => false,
        })
    }

    /// The steering tracker's report (strategy 'steer' only).
    pub fn steer_report(&self) -> Option<SteerReport> {
        self.path.steered_reader().map(|r| r.report())
    }

    /// The strategy reads use (never `Auto`).
    pub fn strategy(&self) -> Strategy {
        self.choice.strategy
    }

    /// Whether a read now is one plain load of copy 0 (strategy 'direct', or a hedged slab with its
    /// threads stopped; not steering, not recording latency): when `direct_view` may serve it.
    #[inline(always)]
    pub fn reads_direct(&self) -> bool {
        self.path.reads_direct()
    }

    /// Copy 0 for a front end to read itself while `reads_direct()` holds (that is all a read
    /// does then): offered for slabs that do not steer or record latency, have an arithmetic layout
    /// and are not shared segments (other processes write those, and a front end's plain loads,
    /// which its compiler may merge or hoist, must only see writes made through its own calls).
    /// Reads made through the view are the caller's to count (`stats().direct` counts only reads
    /// through `read`). The view is valid while this Slayer lives; the caller must stop using it
    /// before dropping it.
    pub fn direct_view(&self) -> Option<DirectView> {
        if self.shared.is_some() {
            return None;
        }
        self.copy0_view()
    }

    /// Copy 0 as `direct_view` lays it out, for shared segments too: only for a front end that
    /// checks every value it reads through it the way `records::line` does (a sequence word read
    /// before and after, with the orderings that protocol needs), which makes a write from another
    /// process detectable instead of silently torn. None when the slab steers, records latency or
    /// has no arithmetic layout.
    pub fn copy0_view(&self) -> Option<DirectView> {
        if self.path.steered_reader().is_some() || self.path.recording() {
            return None;
        }
        let layout = self.slab.layout();
        let (shift, mask, stride_words) = layout.copy0_words()?;
        Some(DirectView { base: self.slab.region().ptr() as *mut u64, words: layout.span() / 8, shift, mask, stride_words })
    }

    /// Zeroes the read counters and the latency histogram.
    pub fn reset_stats(&mut self) {
        self.path.reset_stats();
    }

    /// What this slab is and how it runs: its size, pages, cores and threads, strategy, placement
    /// of the copies and, for a shared slab, its segment.
    pub fn info(&self) -> Info {
        let region = self.slab.region();
        let layout = self.slab.layout();
        Info {
            slots: layout.slots(),
            replicas: layout.replicas(),
            channel_offset: layout.channel_offset(),
            page_kind: region.kind(),
            page_size: region.page_size(),
            mapped_bytes: region.mapped_bytes(),
            thp_bytes: region.thp_bytes(),
            locked: region.locked(),
            lock_error: region.lock_error().map(str::to_string),
            page_fallbacks: region.fallbacks().to_vec(),
            cores: self.assignment.cores.clone(),
            thread_cpus: self.path.replica_set().map(|r| r.thread_cpus()).unwrap_or_default(),
            // Only hedging runs threads; steer and direct share nothing.
            shared_cores: self.assignment.shared && self.choice.strategy == Strategy::Hedge,
            cores_note: self.assignment.note.clone(),
            spin: self.spin,
            idle_us: self.idle_us,
            running: self.running(),
            allowed_cpus: self.allowed.clone(),
            recording: self.path.recording(),
            strategy: self.choice.strategy,
            choice: self.choice.clone(),
            channel_offset_source: self.channel_offset_source.clone(),
            copies: self.copies.clone(),
            shared: self.shared.clone(),
            learning: match (&self.learner, self.path.steered_reader().and_then(|r| r.orientation())) {
                (Some(l), Some(o)) => Some(l.learning(o)),
                _ => None,
            },
        }
    }
}

impl Drop for Slayer {
    fn drop(&mut self) {
        // Threads hold the slab through an Arc; stop them first so the unmap happens here.
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    //! Creation as a job: cancelled at each step it can be, it returns `Error::Cancelled` and
    //! leaves nothing (no region alive on this thread, which also means no replica thread, since
    //! each holds the slab; no segment file); uncancelled, it reports its phases in order.
    use super::*;
    use crate::job::testing::recording;
    use crate::region::{live, PageRequest};

    fn small(strategy: Strategy) -> Options {
        let mut o = Options::new(1 << 21); // 16 MiB per replica, 32 MiB in all
        o.pages = PageRequest::Off;
        o.placement = CopyPlacement::Offset;
        o.strategy = strategy;
        o.threads.lock = crate::region::LockRequest::Off;
        o
    }

    fn cancelled_in(r: Result<Slayer>) -> Option<&'static str> {
        match r {
            Err(Error::Cancelled { phase }) => phase,
            Err(e) => panic!("not a cancel: {e}"),
            Ok(_) => panic!("not cancelled"),
        }
    }

    #[test]
    fn a_job_cancelled_before_it_starts_maps_nothing() {
        let before = live::count();
        let job = Job::new();
        job.cancel();
        assert_eq!(cancelled_in(Slayer::new_with(small(Strategy::Direct), &job)), None);
        assert_eq!(live::count(), before);
    }

    #[test]
    fn a_cancel_mid_prefault_unmaps_the_slab() {
        let before = live::count();
        let (job, rec) = recording(|p, done, _| p == Phase::Prefault && done >= 8 << 20);
        assert_eq!(cancelled_in(Slayer::new_with(small(Strategy::Hedge), &job)), Some("prefault"));
        assert_eq!(live::count(), before, "the slab was left mapped");
        assert_eq!(rec.phases(), vec![Phase::Map, Phase::Prefault]);
        rec.assert_monotonic();
    }

    #[test]
    fn a_cancel_before_threads_start_leaves_no_thread_and_no_slab() {
        let before = live::count();
        let (job, rec) = recording(|p, _, _| p == Phase::Start);
        assert_eq!(cancelled_in(Slayer::new_with(small(Strategy::Hedge), &job)), Some("start"));
        assert_eq!(live::count(), before, "the slab (or a thread holding it) was left");
        assert_eq!(rec.phases(), vec![Phase::Map, Phase::Prefault, Phase::Start]);
    }

    #[test]
    fn a_cancel_mid_calibration_drops_the_reader_and_the_slab() {
        let before = live::count();
        let (job, rec) = recording(|p, _, _| p == Phase::Calibrate);
        assert_eq!(cancelled_in(Slayer::new_with(small(Strategy::Steer), &job)), Some("calibrate"));
        assert_eq!(live::count(), before);
        let phases = rec.phases();
        assert_eq!(phases.first(), Some(&Phase::Map));
        assert_eq!(phases.last(), Some(&Phase::Calibrate));
        rec.assert_monotonic();
    }

    #[test]
    fn a_creation_on_a_worker_thread_is_cancelled_from_the_callers_thread() {
        use std::sync::mpsc::sync_channel;
        use std::sync::Mutex;
        let (to_caller, at_caller) = sync_channel::<Phase>(1);
        let (go, gone) = sync_channel::<()>(1);
        // The worker's callback, at the first pre-fault report, tells the caller and waits until
        // the caller has cancelled: a deterministic interleaving, no timing.
        let (to_caller, gone) = (Mutex::new(Some(to_caller)), Mutex::new(gone));
        let job = Job::with_progress(move |p, _, _| {
            if p == Phase::Prefault {
                if let Some(tx) = to_caller.lock().unwrap().take() {
                    tx.send(p).unwrap();
                    gone.lock().unwrap().recv().unwrap();
                }
            }
        });
        let worker_job = job.clone();
        let worker = std::thread::spawn(move || {
            let before = live::count();
            let r = Slayer::new_with(small(Strategy::Hedge), &worker_job).map(|_| ());
            (r, live::count() - before)
        });
        assert_eq!(at_caller.recv().unwrap(), Phase::Prefault);
        job.cancel();
        go.send(()).unwrap();
        let (r, left) = worker.join().unwrap();
        assert!(matches!(r, Err(Error::Cancelled { phase: Some("prefault") })), "{r:?}");
        assert_eq!(left, 0, "the worker left a region mapped");
        assert_eq!(job.snapshot().map(|(p, _, _)| p), Some(Phase::Prefault));
    }

    #[test]
    fn an_uncancelled_creation_reports_its_phases_in_order_and_ends_each() {
        let (job, rec) = recording(|_, _, _| false);
        let s = Slayer::new_with(small(Strategy::Hedge), &job).unwrap();
        assert_eq!(rec.phases(), vec![Phase::Map, Phase::Prefault, Phase::Start]);
        rec.assert_monotonic();
        let calls = rec.calls.lock().unwrap().clone();
        let threads = s.info().cores.len() as u64;
        assert_eq!(calls.last(), Some(&(Phase::Start, threads, threads)));
        let mapped = s.info().mapped_bytes as u64;
        assert!(calls.contains(&(Phase::Prefault, mapped, mapped)), "{calls:?}");
        assert!(s.running());
    }

    #[cfg(unix)]
    #[test]
    fn a_cancelled_shared_creation_leaves_no_segment_whenever_it_stops() {
        let d = crate::shm::tests::TempDir::new("slayer-cancel");
        let before = live::count();
        let shared = || SharedOptions { dir: Some(d.0.clone()), ..SharedOptions::default() };
        for (at, phase) in [(Phase::Map, "map"), (Phase::Prefault, "prefault"), (Phase::Start, "start")] {
            let (job, rec) = recording(move |p, done, _| p == at && (done > 0 || at == Phase::Start));
            let r = Slayer::create_shared_with("sc", small(Strategy::Hedge), shared(), &job);
            assert_eq!(cancelled_in(r), Some(phase));
            rec.assert_monotonic();
            assert_eq!(live::count(), before, "{phase}: a mapping was left");
            assert_eq!(std::fs::read_dir(&d.0).unwrap().count(), 0, "{phase}: the segment was left");
        }
        let (job, rec) = recording(|p, _, _| p == Phase::Start);
        let schema = crate::records::Schema::parse("a:f64").unwrap();
        let r = crate::records::Records::create_shared_with("rc", 1000, schema, small(Strategy::Hedge), shared(), &job);
        assert!(matches!(r, Err(Error::Cancelled { phase: Some("start") })), "{:?}", r.err());
        assert_eq!(rec.phases().last(), Some(&Phase::Start));
        assert_eq!(std::fs::read_dir(&d.0).unwrap().count(), 0, "records: the segment was left");
        assert_eq!(live::count(), before);
    }
}
