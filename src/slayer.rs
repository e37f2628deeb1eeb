//! The engine's front door: a mirrored slab plus its replica threads, for one requester.
//!
//! `Slayer` ties a `Slab` (memory + layout), a core `Placement` and an optional running
//! `ReplicaSet` together and counts what reads did. Reads take `&mut self`: one request in flight
//! per requester is enforced by the borrow checker, not by a lock. Writes take `&self` and may also
//! come from other threads through `writer()`.

use std::sync::Arc;

use crate::cache;
use crate::cores::{self, Placement};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::region::{LockRequest, PageKind, PageRequest};
use crate::replicas::{ReplicaSet, SpinPolicy};
use crate::shm::{self, SharedInfo};
use crate::slab::Slab;
use crate::stats::{Recorder, Stats};
use crate::steer::arrange::{self, Arrangement, ArrangeOptions};
use crate::steer::{SteerReport, SteeredReader, TrackerConfig};
use crate::tsc;

/// How reads are served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Replica threads race to read every copy; the first answer wins (N busy cores).
    Hedge,
    /// The calling thread predicts which copy is not refreshing now and reads only that one
    /// (no extra core); falls back to a fixed copy when no periodic stall pattern is found.
    Steer,
    /// The calling thread reads copy 0; no threads.
    Direct,
}

impl Strategy {
    pub fn parse(s: &str) -> Result<Strategy> {
        match s {
            "hedge" => Ok(Strategy::Hedge),
            "steer" => Ok(Strategy::Steer),
            "direct" => Ok(Strategy::Direct),
            other => Err(Error::option_range("strategy", format!("must be 'hedge', 'steer' or 'direct', got {other:?}"))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Hedge => "hedge",
            Strategy::Steer => "steer",
            Strategy::Direct => "direct",
        }
    }
}

/// Where the copies of a slot go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyPlacement {
    /// Refresh groups for strategy 'steer' when the slab can be built of 4 KiB pages, falling
    /// back to `Offset` (and saying why) when they cannot be had; `Offset` otherwise.
    Auto,
    /// Learn each 4 KiB page's refresh group by timing and give every replica pages of its own
    /// groups (channel offset 4096, 4 KiB pages); an error when that cannot be had.
    RefreshGroups,
    /// Copies `channel_offset` bytes apart.
    Offset,
    /// Refresh groups on the huge pages `pages` asks for, at any slab size (`placement::build`):
    /// copies split by a low address bit where one splits every frame, else 4 KiB frames chosen
    /// by group through a frame table; an error when that cannot be had. Engine-only for now:
    /// the binding's option resolution does not name it yet.
    HugePages,
}

impl CopyPlacement {
    pub fn parse(s: &str) -> Result<CopyPlacement> {
        match s {
            "auto" => Ok(CopyPlacement::Auto),
            "refresh-groups" => Ok(CopyPlacement::RefreshGroups),
            "offset" => Ok(CopyPlacement::Offset),
            other => Err(Error::option_range("placement", format!("must be 'auto', 'refresh-groups' or 'offset', got {other:?}"))),
        }
    }
}

/// Where the copies went, for `info()`.
#[derive(Clone, Debug, PartialEq)]
pub struct CopyPlacementInfo {
    /// "refresh-groups" or "offset".
    pub kind: &'static str,
    /// What refresh-group placement found, when it was used.
    pub arrangement: Option<Arrangement>,
    /// Why refresh groups were not used, when they were tried or asked for and not had.
    pub note: Option<String>,
    /// What refresh-group placement on huge pages found, when it was used.
    pub huge: Option<crate::placement::PlacementInfo>,
}

impl CopyPlacementInfo {
    /// Copies `channelOffset` bytes apart, nothing tried.
    fn offset() -> CopyPlacementInfo {
        CopyPlacementInfo { kind: "offset", arrangement: None, note: None, huge: None }
    }
}

/// How long `Slayer::new` may spend calibrating a steering tracker before the first read.
const STEER_CALIBRATION_BUDGET_MS: u64 = 300;

/// Everything `Slayer::new` needs. `Options::new(slots)` gives the documented defaults.
#[derive(Clone, Debug)]
pub struct Options {
    pub slots: u64,
    pub replicas: usize,
    pub channel_offset: usize,
    pub pages: PageRequest,
    pub lock: LockRequest,
    pub cores: Option<Vec<usize>>,
    pub spin: SpinPolicy,
    /// Idle time before hybrid/sleep threads park; None = the policy's default.
    pub idle_us: Option<u64>,
    pub start: bool,
    pub record_latency: bool,
    pub strategy: Strategy,
    pub placement: CopyPlacement,
    /// Time refresh-group placement may spend learning pages (after a 300 ms period measurement).
    pub placement_budget: std::time::Duration,
}

impl Options {
    pub fn new(slots: u64) -> Options {
        Options {
            slots,
            replicas: 2,
            channel_offset: 256,
            pages: PageRequest::Auto,
            lock: LockRequest::Auto,
            cores: None,
            spin: SpinPolicy::Busy,
            idle_us: None,
            start: true,
            record_latency: false,
            strategy: Strategy::Hedge,
            placement: CopyPlacement::Auto,
            placement_budget: ArrangeOptions::default().budget,
        }
    }
}

/// Default idle spell before parking, per policy.
pub fn default_idle_us(spin: SpinPolicy) -> u64 {
    match spin {
        SpinPolicy::Busy => u64::MAX,
        SpinPolicy::Hybrid => 2_000,
        SpinPolicy::Sleep => 0,
    }
}

/// What a slab got and how it runs: the truth, for `info()`.
#[derive(Clone, Debug)]
pub struct Info {
    pub slots: u64,
    pub replicas: usize,
    pub channel_offset: usize,
    pub page_kind: PageKind,
    pub page_size: usize,
    pub mapped_bytes: usize,
    /// For transparent huge pages: how much the kernel backed with huge pages.
    pub thp_bytes: usize,
    pub locked: bool,
    pub lock_error: Option<String>,
    /// Page kinds tried and passed over, with the reason.
    pub page_fallbacks: Vec<String>,
    pub cores: Vec<usize>,
    /// The core each running thread reported from inside itself (sched_getcpu), when running.
    pub thread_cpus: Vec<Option<usize>>,
    pub shared_cores: bool,
    pub placement_note: Option<String>,
    pub spin: SpinPolicy,
    pub idle_us: u64,
    pub running: bool,
    pub allowed_cpus: Vec<usize>,
    pub recording: bool,
    pub strategy: Strategy,
    /// Where the copies of each slot went.
    pub copies: CopyPlacementInfo,
    /// The named segment behind the slab, for shared slabs.
    pub shared: Option<SharedInfo>,
}

/// `Slayer::create_shared` settings beyond `Options`.
#[derive(Clone, Debug, Default)]
pub struct SharedOptions {
    /// Replace an existing segment of the same name (unlink, then create anew).
    pub overwrite: bool,
    /// Put (or look for) the segment in this directory instead of hugetlbfs mounts and /dev/shm.
    pub dir: Option<std::path::PathBuf>,
}

/// Everything `Slayer::open_shared` needs: this process's threads, and what it expects.
#[derive(Clone, Debug)]
pub struct OpenOptions {
    pub lock: LockRequest,
    pub cores: Option<Vec<usize>>,
    pub spin: SpinPolicy,
    pub idle_us: Option<u64>,
    pub start: bool,
    pub record_latency: bool,
    /// Refuse the segment unless its layout has these values.
    pub expect: shm::Expect,
    /// How long to wait for a segment another process is still creating.
    pub wait: std::time::Duration,
    pub dir: Option<std::path::PathBuf>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            lock: LockRequest::Auto,
            cores: None,
            spin: SpinPolicy::Busy,
            idle_us: None,
            start: true,
            record_latency: false,
            expect: shm::Expect::default(),
            wait: std::time::Duration::from_millis(1000),
            dir: None,
        }
    }
}

/// The process's allowed cores and the replica threads' placement among them.
fn place(replicas: usize, explicit: Option<&[usize]>) -> Result<(Vec<usize>, Placement)> {
    let allowed = cores::allowed();
    let placement = cores::choose(replicas, explicit, &allowed, cores::current())?;
    Ok((allowed, placement))
}

pub struct Slayer {
    slab: Arc<Slab>,
    placement: Placement,
    spin: SpinPolicy,
    idle_us: u64,
    replicas: Option<ReplicaSet>,
    recorder: Recorder,
    allowed: Vec<usize>,
    strategy: Strategy,
    steer: Option<SteeredReader>,
    copies: CopyPlacementInfo,
    shared: Option<SharedInfo>,
}

impl Slayer {
    pub fn new(opts: Options) -> Result<Slayer> {
        // Validate the offset layout first, so bad shapes fail before any measuring.
        let layout = Layout::new(opts.slots, opts.replicas, opts.channel_offset)?;
        // Choose cores before mapping, so a bad core list fails fast and cheaply.
        let (allowed, placement) = place(opts.replicas, opts.cores.as_deref())?;
        let four_k = matches!(opts.pages, PageRequest::Auto | PageRequest::Off);
        let try_groups = match opts.placement {
            CopyPlacement::Offset => false,
            CopyPlacement::HugePages => {
                let o = crate::placement::PlacementOptions { budget: opts.placement_budget, ..Default::default() };
                let (slab, info) = crate::placement::build(opts.slots, opts.replicas, opts.pages, opts.lock, &o)?;
                let copies = CopyPlacementInfo { kind: "refresh-groups", arrangement: None, note: None, huge: Some(info) };
                let (spin, idle, start, rec) = (opts.spin, opts.idle_us, opts.start, opts.record_latency);
                return Slayer::assemble(Arc::new(slab), placement, allowed, spin, idle, start, rec, opts.strategy, copies, None);
            }
            CopyPlacement::RefreshGroups if !four_k => {
                return Err(Error::option_range(
                    "placement",
                    "'refresh-groups' moves single 4 KiB pages into place, so it needs hugePages 'auto' or 'off'",
                ))
            }
            CopyPlacement::RefreshGroups => true,
            CopyPlacement::Auto => opts.strategy == Strategy::Steer && four_k,
        };
        let mut copies = CopyPlacementInfo::offset();
        let mut slab = None;
        if try_groups {
            let grouped = Layout::new(opts.slots, opts.replicas, arrange::GROUP_OFFSET)?;
            let o = ArrangeOptions { budget: opts.placement_budget, ..ArrangeOptions::default() };
            match arrange::build(&grouped, opts.lock, &o) {
                Ok((region, a)) => {
                    slab = Some(Slab::from_region(region, grouped)?);
                    copies = CopyPlacementInfo { kind: "refresh-groups", arrangement: Some(a), note: None, huge: None };
                }
                Err(e) if opts.placement == CopyPlacement::Auto && matches!(e, Error::Placement { .. } | Error::Unsupported { .. }) => {
                    copies.note = Some(format!("copies {} B apart: {e}", opts.channel_offset));
                }
                Err(e) => return Err(e),
            }
        }
        let slab = match slab {
            Some(s) => Arc::new(s),
            None => Arc::new(Slab::new(layout, opts.pages, opts.lock)?),
        };
        Slayer::assemble(slab, placement, allowed, opts.spin, opts.idle_us, opts.start, opts.record_latency, opts.strategy, copies, None)
    }

    /// The one place a Slayer is put together from its slab, whatever the slab's origin.
    #[allow(clippy::too_many_arguments)]
    fn assemble(
        slab: Arc<Slab>,
        placement: Placement,
        allowed: Vec<usize>,
        spin: SpinPolicy,
        idle_us: Option<u64>,
        start: bool,
        record_latency: bool,
        strategy: Strategy,
        copies: CopyPlacementInfo,
        shared: Option<SharedInfo>,
    ) -> Result<Slayer> {
        let replicas = slab.layout().replicas();
        let mut s = Slayer {
            slab,
            placement,
            spin,
            idle_us: idle_us.unwrap_or(default_idle_us(spin)),
            replicas: None,
            recorder: Recorder::new(replicas, record_latency),
            allowed,
            strategy,
            steer: None,
            copies,
            shared,
        };
        if strategy == Strategy::Steer {
            let n = s.slab.layout().replicas();
            // The period measured while placing is exact to a few ppm: start from it.
            let measured = s.copies.arrangement.as_ref().map(|a| a.period_ns).or(s.copies.huge.as_ref().map(|h| h.period_ns));
            let cfg = match measured {
                Some(p) => TrackerConfig::for_measured_period(n, tsc::ticks_per_ns(), p),
                None => TrackerConfig::new(n, tsc::ticks_per_ns()),
            };
            s.steer = Some(SteeredReader::new(s.slab.clone(), cfg)?);
            s.calibrate_steering();
        }
        if start {
            s.start()?;
        }
        Ok(s)
    }

    /// Feeds the steering tracker cold reads of pseudo-random slots until it has decided (locked,
    /// or no signal) or the budget is spent, so the first user reads are already steered.
    fn calibrate_steering(&mut self) {
        let Some(reader) = &mut self.steer else { return };
        let slab = self.slab.clone();
        let slots = slab.layout().slots();
        let deadline = tsc::now() + tsc::from_ns(STEER_CALIBRATION_BUDGET_MS * 1_000_000);
        let mut rng = crate::rng::SplitMix64::new(0x51EE);
        while reader.tracker().state() == crate::steer::SteerState::Calibrating && tsc::now() < deadline {
            let i = rng.below(slots);
            cache::flush_slot(&slab, i);
            let _ = reader.read(i);
        }
    }

    /// Creates the named shared slab `name` (see `shm::create`) and runs this process's replica
    /// threads over it. Other processes attach with `open_shared`; the segment outlives every
    /// process until `shm::unlink`.
    pub fn create_shared(name: &str, opts: Options, shared: SharedOptions) -> Result<Slayer> {
        shm::validate_name(name)?;
        if opts.placement == CopyPlacement::HugePages {
            let (allowed, placement) = place(opts.replicas, opts.cores.as_deref())?;
            let o = crate::placement::PlacementOptions { budget: opts.placement_budget, ..Default::default() };
            let (slab, info, p) =
                crate::placement::create_shared(name, opts.slots, opts.replicas, opts.pages, opts.lock, shared.overwrite, shared.dir.as_deref(), &o)?;
            let copies = CopyPlacementInfo { kind: "refresh-groups", arrangement: None, note: None, huge: Some(p) };
            let (spin, idle, start, rec) = (opts.spin, opts.idle_us, opts.start, opts.record_latency);
            return Slayer::assemble(Arc::new(slab), placement, allowed, spin, idle, start, rec, Strategy::Hedge, copies, Some(info));
        }
        let layout = Layout::new(opts.slots, opts.replicas, opts.channel_offset)?;
        let (allowed, placement) = place(opts.replicas, opts.cores.as_deref())?;
        let (region, info) = shm::create(name, layout.clone(), opts.pages, opts.lock, shared.overwrite, shared.dir.as_deref())?;
        let slab = Arc::new(Slab::from_region(region, layout)?);
        Slayer::assemble(slab, placement, allowed, opts.spin, opts.idle_us, opts.start, opts.record_latency, Strategy::Hedge, CopyPlacementInfo::offset(), Some(info))
    }

    /// Maps the existing shared slab `name` (validated: see `shm::open`) and runs this process's
    /// own replica threads, on its own cores, over it.
    pub fn open_shared(name: &str, opts: OpenOptions) -> Result<Slayer> {
        shm::validate_name(name)?;
        let (region, layout, info) = shm::open(name, opts.lock, opts.expect, opts.wait, opts.dir.as_deref())?;
        let (allowed, placement) = place(layout.replicas(), opts.cores.as_deref())?;
        let slab = Arc::new(Slab::from_region(region, layout)?);
        Slayer::assemble(slab, placement, allowed, opts.spin, opts.idle_us, opts.start, opts.record_latency, Strategy::Hedge, CopyPlacementInfo::offset(), Some(info))
    }

    /// Starts the replica threads (no-op when running, and for the steer/direct strategies, which
    /// use none).
    pub fn start(&mut self) -> Result<()> {
        if self.strategy != Strategy::Hedge {
            return Ok(());
        }
        if self.replicas.is_none() {
            self.replicas = Some(ReplicaSet::start(self.slab.clone(), &self.placement.cores, self.spin, self.idle_us)?);
        }
        Ok(())
    }

    /// Stops and joins the replica threads (no-op when stopped). Reads keep working, directly.
    pub fn stop(&mut self) {
        if let Some(set) = self.replicas.take() {
            set.stop();
        }
    }

    pub fn running(&self) -> bool {
        self.replicas.is_some()
    }

    #[inline(always)]
    pub fn slots(&self) -> u64 {
        self.slab.layout().slots()
    }

    pub fn replica_count(&self) -> usize {
        self.slab.layout().replicas()
    }

    /// Reads slot `i`: hedged when the threads run, from replica 0 when they are stopped.
    #[inline]
    pub fn read(&mut self, i: u64) -> Result<u64> {
        self.slab.layout().check_slot(i)?;
        let t0 = if self.recorder.recording() { tsc::now() } else { 0 };
        let v = match (&mut self.replicas, &mut self.steer) {
            (Some(set), _) => {
                let (v, answer) = set.read(i);
                self.recorder.answer(answer, 1);
                v
            }
            (None, Some(reader)) => {
                self.recorder.steered(1);
                reader.read_unchecked(i)
            }
            (None, None) => {
                self.recorder.direct(1);
                self.slab.load_unchecked(0, i)
            }
        };
        if self.recorder.recording() {
            self.recorder.latency(tsc::now().wrapping_sub(t0));
        }
        Ok(v)
    }

    /// A hedged read that refuses when the threads are stopped.
    pub fn read_hedged(&mut self, i: u64) -> Result<u64> {
        if self.replicas.is_none() {
            return Err(Error::Stopped { what: "replica threads are stopped: call start() before a hedged read" });
        }
        self.read(i)
    }

    /// Reads replica `r`'s copy directly, without threads (baselines, checks).
    #[inline]
    pub fn read_replica(&self, r: usize, i: u64) -> Result<u64> {
        self.slab.read_replica(r, i)
    }

    /// Reads many slots in one request per `BATCH_CAPACITY`; results equal reading one by one.
    pub fn read_many(&mut self, indices: &[u32], out: &mut [u64]) -> Result<()> {
        if indices.len() != out.len() {
            return Err(Error::LengthMismatch { indices: indices.len(), values: out.len() });
        }
        self.slab.check_all(indices)?;
        match (&mut self.replicas, &mut self.steer) {
            (Some(set), _) => {
                let rec = &mut self.recorder;
                set.read_many(indices, out, |a, n| rec.answer(a, n));
            }
            (None, Some(reader)) => {
                reader.read_many(indices, out)?;
                self.recorder.steered(indices.len() as u64);
            }
            (None, None) => {
                self.slab.read_many_replica(0, indices, out)?;
                self.recorder.direct(indices.len() as u64);
            }
        }
        Ok(())
    }

    /// Stores `v` in every replica of slot `i`; returns once all are stored.
    #[inline]
    pub fn write(&self, i: u64, v: u64) -> Result<()> {
        self.slab.write(i, v)
    }

    pub fn write_many(&self, indices: &[u32], values: &[u64]) -> Result<()> {
        self.slab.write_many(indices, values)
    }

    /// A handle for writing (and direct reads) from other threads while this one reads.
    pub fn writer(&self) -> Arc<Slab> {
        self.slab.clone()
    }

    pub fn stats(&self) -> Stats {
        self.recorder.snapshot()
    }

    /// The steering tracker's report (strategy 'steer' only).
    pub fn steer_report(&self) -> Option<SteerReport> {
        self.steer.as_ref().map(|r| r.report())
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    pub fn reset_stats(&mut self) {
        self.recorder.reset();
    }

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
            cores: self.placement.cores.clone(),
            thread_cpus: self.replicas.as_ref().map(|r| r.thread_cpus()).unwrap_or_default(),
            // Only hedging runs threads; steer and direct share nothing.
            shared_cores: self.placement.shared && self.strategy == Strategy::Hedge,
            placement_note: self.placement.note.clone(),
            spin: self.spin,
            idle_us: self.idle_us,
            running: self.running(),
            allowed_cpus: self.allowed.clone(),
            recording: self.recorder.recording(),
            strategy: self.strategy,
            copies: self.copies.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Slayer {
    fn drop(&mut self) {
        // Threads hold the slab through an Arc; stop them first so the unmap happens here.
        self.stop();
    }
}
