//! Builds a slab region whose replicas sit in different refresh groups, page by page: maps a pool
//! of 4 KiB pages, measures the refresh period on one line, learns each pool page's group by
//! timing (see `pages`), and gathers the chosen pages into the slab's layout.
//!
//! Touches memory and the clock (x86_64 only: clflush + rdtsc); everything it decides from the
//! timings is in `pages` and tested there on synthetic traces. Pages are timed through the same
//! sequential line test as huge-page placement (`refresh::SessionTimer` over the hardware source
//! of `placement::learn`), which supersedes this module's mremap gathering for slabs of any size.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::region::{LockRequest, PageRequest, Region};
use crate::steer::pages::{Partition, PAGE};

/// The channel offset of a refresh-group layout: each copy of a chunk on its own 4 KiB page.
pub(crate) const GROUP_OFFSET: usize = PAGE;

/// Pool pages beyond the slab's own, at least.
const MIN_SPARE_PAGES: usize = 1024;

/// Most sessions a page gets (the timer learns a lower cap from the pages already clear).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const MAX_SESSIONS: u8 = 12;

/// How much work the arrangement may do.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrangeOptions {
    /// Refresh period of one line (ns); None measures it first on the reference line.
    pub(crate) period_ns: Option<f64>,
    /// Time allowed for learning pages (after the period is known).
    pub(crate) budget: Duration,
    /// Pool pages per slab page: room for groups of unequal size.
    pub(crate) pool_factor: usize,
    /// Pages read in one session (with the reference line).
    pub(crate) session_pages: usize,
    pub(crate) session: Duration,
    pub(crate) subwindow_ns: u64,
    /// Evidence score a page needs before its phase is trusted (≈ 1 on noise; at 6 the phase is
    /// within ±0.05 period at one sigma, a fifth of the quarter period between groups).
    pub(crate) min_score: f64,
    /// Peak radius for finding refresh groups among page phases (fraction of the period); peaks
    /// closer than three times this are one group.
    pub(crate) group_radius: f64,
    pub(crate) seed: u64,
    /// The creation this is part of: mapping the pool, the period and timing pages ('place', in
    /// ms of `budget`) report to it, and stop with `Error::Cancelled`, the pool unmapped, once it
    /// is cancelled.
    pub(crate) job: crate::job::Job,
}

impl Default for ArrangeOptions {
    fn default() -> Self {
        ArrangeOptions {
            period_ns: None,
            budget: Duration::from_secs(3),
            pool_factor: 3,
            session_pages: 63,
            session: Duration::from_millis(10),
            subwindow_ns: 1_000_000,
            min_score: 6.0,
            // Groups sit a quarter period apart on the measured host; their tails meet.
            group_radius: 0.06,
            seed: 0x9A6E_5EED,
            job: crate::job::Job::none(),
        }
    }
}

/// What the arrangement did (reported by `info()`; serialized as `ArrangementReport`, the
/// `info().placement` fields of index.d.ts's `CopyPlacementInfo`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(into = "ArrangementReport")]
pub struct Arrangement {
    /// The refresh period of one line the arrangement used (ns).
    pub period_ns: f64,
    /// "given" or how the period was measured.
    pub period_source: String,
    /// Pages the slab uses.
    pub slab_pages: usize,
    /// Pages mapped to choose them from.
    pub pool_pages: usize,
    /// Pool pages read at least once.
    pub measured_pages: usize,
    /// Pages whose group was clear.
    pub clear_pages: usize,
    /// Timed reads.
    pub reads: u64,
    /// Time spent learning the pages (ms).
    pub learn_ms: f64,
    /// The pages' refresh groups and the copy each serves.
    pub partition: Partition,
}

/// An `Arrangement` as `info()` reports it: the groups' phases in ns after group 0's, each group's
/// pages and replica, and the replicas' separation in ns.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ArrangementReport {
    period_ns: f64,
    period_source: String,
    group_offsets_ns: Vec<f64>,
    group_pages: Vec<usize>,
    group_replica: Vec<usize>,
    separation_ns: f64,
    slab_pages: usize,
    pool_pages: usize,
    measured_pages: usize,
    clear_pages: usize,
    reads: u64,
    learn_ms: f64,
}

impl From<Arrangement> for ArrangementReport {
    fn from(a: Arrangement) -> ArrangementReport {
        let p = a.period_ns;
        let c0 = a.partition.centers.first().copied().unwrap_or(0.0);
        ArrangementReport {
            period_ns: p,
            period_source: a.period_source,
            group_offsets_ns: a.partition.centers.iter().map(|&x| crate::refresh::phase::wrap(x - c0) * p).collect(),
            group_pages: a.partition.group_pages,
            group_replica: a.partition.class_of_group,
            separation_ns: a.partition.separation * p,
            slab_pages: a.slab_pages,
            pool_pages: a.pool_pages,
            measured_pages: a.measured_pages,
            clear_pages: a.clear_pages,
            reads: a.reads,
            learn_ms: a.learn_ms,
        }
    }
}

/// The region for `layout` (whose channel offset must be 4096), with replica r's pages all from
/// the r-th set of refresh groups, and how it was found.
///
/// # Errors
///
/// What mapping the pool, measuring the period or timing its pages refuses.
pub fn build(layout: &Layout, lock: LockRequest, o: &ArrangeOptions) -> Result<(Region, Arrangement)> {
    if layout.channel_offset() != PAGE {
        return Err(Error::option_range(
            "channelOffset",
            format!(
                "refresh-group placement puts each copy on its own 4 KiB page: ⟦opt:channelOffset⟧ must be {PAGE}, got {}",
                layout.channel_offset()
            ),
        ));
    }
    let slab_pages = layout.span() / PAGE;
    // Small slabs get a larger pool: in a noisy spell only a third of the pages may show a
    // clear phase, and extra pages cost little next to the time it takes to time them.
    let pool_pages = (slab_pages * o.pool_factor.max(1)).max(slab_pages + MIN_SPARE_PAGES) + 1;
    // Fail before any timing when the gathered slab could not be mapped anyway.
    crate::region::check_mappings_for(slab_pages)?;
    let pool = Region::map_with(pool_pages * PAGE, PageRequest::Off, lock, &o.job)?;
    let (picks, arrangement) = learn(&pool, layout.replicas(), slab_pages, o)?;
    o.job.check()?;
    let region = Region::gather(pool, &picks)?;
    Ok((region, arrangement))
}

#[cfg(not(target_arch = "x86_64"))]
fn learn(_: &Region, _: usize, _: usize, _: &ArrangeOptions) -> Result<(Vec<usize>, Arrangement)> {
    Err(Error::Unsupported { what: "learning refresh groups needs x86_64 (clflush + rdtsc)".into() })
}

#[cfg(target_arch = "x86_64")]
fn learn(pool: &Region, classes: usize, slab_pages: usize, o: &ArrangeOptions) -> Result<(Vec<usize>, Arrangement)> {
    use std::time::Instant;

    use crate::placement::learn::{Clock, LineTimer, TimerOptions};
    use crate::refresh::evidence::SessionOptions;
    use crate::refresh::Timer;
    use crate::steer::pages;
    use crate::tsc;

    let tpn = tsc::ticks_per_ns();
    let base = pool.ptr() as usize;
    let candidates = pool.mapped_bytes() / PAGE - 1;
    // The reference: the first line of the pool's last page (never a candidate).
    let reference = base + candidates * PAGE;
    let origin = tsc::now();

    let m = crate::refresh::period::of_this_machine_with(o.period_ns, o.seed, &o.job)?;
    let (period_ns, period_source) = (m.period_ns, m.source.clone());
    let so =
        SessionOptions { period_ns, subwindow_ns: o.subwindow_ns, typical_ns: m.typical_ns, outlier_ns: m.outlier_ns, max_excess_ns: 600 };
    let started = Instant::now();
    let clock = Clock { so, origin, inv_tpn: 1.0 / tpn.max(1e-9), deadline: started + o.budget };
    let to = TimerOptions { session_lines: o.session_pages.max(1), session: o.session, max_sessions: MAX_SESSIONS, min_score: o.min_score };
    let place = o.job.meter(crate::job::Phase::Place, o.budget);
    // SAFETY: the pool (every candidate page and the reference line in its last page) stays
    // mapped for as long as the timer, which is dropped at the end of this function.
    let mut timer = unsafe { LineTimer::new_hardware(base, pool.mapped_bytes(), reference, clock, o.seed, to) }.metered(place.clone());
    // A line of page p: a different line in each page, so reads spread over cache sets.
    let line_of = |p: usize| p * PAGE + (p * 7 % (PAGE / 64)) * 64;
    let mut phases: Vec<Option<f64>> = vec![None; candidates];
    let mut measured_pages = 0usize;
    let mut result = None;
    // Pages are timed in pool order, eight sessions' worth at a time (`refresh::SessionTimer`
    // keeps a page until it is clear or given up on), and the learning stops as soon as every
    // replica has enough pages, without first visiting the whole pool.
    let per = 8 * o.session_pages.max(1);
    let mut first = 0usize;
    while first < candidates && !timer.out_of_time() {
        let chunk: Vec<usize> = (first..(first + per).min(candidates)).collect();
        let offsets: Vec<usize> = chunk.iter().map(|&p| line_of(p)).collect();
        for (&p, st) in chunk.iter().zip(timer.stalls(&offsets)) {
            phases[p] = st.map(|s| s.phase);
        }
        measured_pages += chunk.len();
        first += per;
        if let Some(part) = pages::partition(&phases, classes, o.group_radius) {
            if let Some(picks) = pages::picks(&part.labels, classes, slab_pages) {
                result = Some((picks, part));
                break;
            }
        }
    }
    timer.check()?;
    place.finish();
    let reads = timer.reads;
    let clear = phases.iter().flatten().count();
    let learn_ms = started.elapsed().as_secs_f64() * 1e3;
    let Some((picks, partition)) = result else {
        let groups = pages::find_groups(&phases, o.group_radius, 0.08, 0.4);
        let counts: Vec<usize> = (0..groups.centers.len()).map(|g| groups.labels.iter().filter(|l| **l == Some(g)).count()).collect();
        let shape = format!(
            "{} group(s) at {:?} of the {period_ns:.1} ns period ({period_source}) holding {counts:?} pages",
            groups.centers.len(),
            groups.centers.iter().map(|c| (c * 100.0).round() / 100.0).collect::<Vec<_>>(),
        );
        let message = if groups.centers.len() < classes {
            format!("{clear} of {measured_pages} pages had a clear refresh phase: {shape}, not {classes} separate groups")
        } else {
            format!(
                "in {learn_ms:.0} ms, {clear} of {measured_pages} pages had a clear refresh phase ({shape}); not enough to give each of {classes} replicas {} pages of its own groups",
                slab_pages / classes
            )
        };
        return Err(Error::Placement {
            message,
            hint: "ask for fewer slots (or records) or replicas, or use ⟦set:placement=offset⟧".into(),
        });
    };
    Ok((
        picks,
        Arrangement {
            period_ns,
            period_source,
            slab_pages,
            pool_pages: candidates + 1,
            measured_pages,
            clear_pages: clear,
            reads,
            learn_ms,
            partition,
        },
    ))
}
