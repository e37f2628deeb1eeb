//! `probe refresh`: do cold reads stall with a DRAM refresh period, and which one?
//!
//! Times flushed loads of one fixed line and of random lines in a large huge-page buffer, plus a
//! negative control (cached loads of one line, paced like the cold ones), and runs the spike
//! analysis on each. Owns its buffer for the duration of the probe; never touches a slab.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::refresh::spikes::{self, AnalysisOptions, Sample, SpikeReport, Verdict};
use crate::region::PageRequest;
#[cfg(target_arch = "x86_64")]
use crate::region::{LockRequest, Region};
#[cfg(target_arch = "x86_64")]
use crate::rng::SplitMix64;
#[cfg(target_arch = "x86_64")]
use crate::tsc;

/// Longest total measurement accepted.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(60);

/// What `probe refresh` measures: a fixed line, random lines and a cached control, timed
/// back to back, analysed for a periodic stall.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshOptions {
    /// Total measuring time, shared by the fixed-line, random-line and control runs (≤ 60 s).
    pub duration: Duration,
    /// Buffer the random lines are drawn from.
    pub buffer_bytes: usize,
    /// The pages the buffer asks for.
    pub pages: PageRequest,
    /// Run the cached-load negative control.
    pub control: bool,
    /// Per run; a run stops early when it has this many reads (and says so).
    pub max_samples: usize,
    /// Seed of the random lines.
    pub seed: u64,
    /// How the reads are analysed for spikes and a period.
    pub analysis: AnalysisOptions,
}

impl Default for RefreshOptions {
    fn default() -> Self {
        RefreshOptions {
            duration: Duration::from_secs(3),
            buffer_bytes: 256 << 20,
            pages: PageRequest::Auto,
            control: true,
            max_samples: 8_000_000,
            seed: 0x00C0_FFEE,
            analysis: AnalysisOptions::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) enum RunKind {
    /// The same line, flushed before every read.
    FixedLine,
    /// A random line of the buffer each read, flushed first.
    RandomLines,
    /// The same line, never flushed (L1 hits): must show no period.
    CachedControl,
}

impl RunKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            RunKind::FixedLine => "fixed line (flushed)",
            RunKind::RandomLines => "random lines (flushed)",
            RunKind::CachedControl => "control: cached line",
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct Run {
    pub(crate) kind: RunKind,
    pub(crate) samples: usize,
    pub(crate) measured_ns: u64,
    pub(crate) mean_interval_ns: f64,
    /// The run stopped at `max_samples` before its time was up.
    pub(crate) hit_sample_cap: bool,
    pub(crate) analysis: SpikeReport,
}

/// What `probe refresh` found: the fixed-line, random-line and control runs, the refresh period
/// they agree on (if any) and a summary (serialized camelCase for `--json`).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshReport {
    pub(crate) buffer_bytes: usize,
    pub(crate) page_kind: &'static str,
    pub(crate) ticks_per_ns: f64,
    pub(crate) fixed: Run,
    pub(crate) random: Run,
    pub(crate) control: Option<Run>,
    /// The refresh period as one line sees it, when the fixed-line run is PERIODIC and the control
    /// is clean (or was not run): with a periodic control the period may be the machine's, not
    /// DRAM's, and is not reported here (the fixed run's analysis still shows it).
    pub refresh_period_ns: Option<f64>,
    /// The control came out NONE, WEAK or INSUFFICIENT, not PERIODIC (None when no control was run).
    pub(crate) control_clean: Option<bool>,
    pub(crate) summary: String,
}

fn validate(opts: &RefreshOptions) -> Result<()> {
    if opts.duration.is_zero() || opts.duration > MAX_DURATION {
        return Err(Error::bad_option(
            "duration",
            format!("must be more than 0 and at most {} s, got {:?}", MAX_DURATION.as_secs(), opts.duration),
        ));
    }
    if opts.buffer_bytes < 1 << 20 {
        return Err(Error::bad_option("bufferBytes", format!("must be at least 1 MiB, got {}", opts.buffer_bytes)));
    }
    if opts.max_samples < 1000 {
        return Err(Error::bad_option("maxSamples", format!("must be at least 1000, got {}", opts.max_samples)));
    }
    Ok(())
}

/// Which lines a measuring loop reads.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lines {
    Fixed(usize),
    Random { base: usize, lines: u64 },
    Cached { addr: usize, pace_ticks: u64 },
}

/// Times reads until `ticks` have passed or `max` reads are taken. Times are ns from `origin`.
/// `progress(done_ticks)` is called every 1024 reads; it returns false to stop early (a cancelled
/// job), leaving the reads taken so far.
///
/// # Safety
/// Every address `lines` can produce must be readable for the whole call.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn measure(
    lines: Lines,
    ticks: u64,
    max: usize,
    seed: u64,
    origin: u64,
    tpn: f64,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Vec<Sample> {
    use crate::refresh::timing::{cached_load, flushed_load};
    let inv = 1.0 / tpn.max(1e-9);
    let mut out = Vec::with_capacity(max.min(((ticks as f64 * inv) / 150.0) as usize + 1024));
    let mut rng = SplitMix64::new(seed);
    let start = tsc::now();
    let end = start.saturating_add(ticks);
    if let Lines::Cached { addr, .. } = lines {
        // SAFETY: the caller guarantees the address is readable; this read warms the line.
        unsafe { cached_load(addr as *const u8) };
    }
    loop {
        for _ in 0..1024 {
            let (t0, d) = match lines {
                // SAFETY: the caller guarantees the fixed address is readable.
                Lines::Fixed(addr) => unsafe { flushed_load(addr as *const u8) },
                Lines::Random { base, lines } => {
                    let addr = base + (rng.below(lines) as usize) * 64;
                    // SAFETY: the index is below `lines`, so the address is inside
                    // [base, base + lines·64), which the caller guarantees is readable.
                    unsafe { flushed_load(addr as *const u8) }
                }
                Lines::Cached { addr, pace_ticks } => {
                    // SAFETY: the caller guarantees the cached address is readable.
                    let r = unsafe { cached_load(addr as *const u8) };
                    let until = r.0 + pace_ticks;
                    while tsc::now() < until {
                        std::hint::spin_loop();
                    }
                    r
                }
            };
            out.push(Sample {
                t_ns: (t0.saturating_sub(origin) as f64 * inv) as u64,
                latency_ns: (d as f64 * inv).min(u32::MAX as f64) as u32,
            });
        }
        let now = tsc::now();
        let go_on = progress(now.saturating_sub(start));
        if !go_on || now >= end || out.len() + 1024 > max {
            return out;
        }
    }
}

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn run(kind: RunKind, samples: Vec<Sample>, cap: usize, opts: &AnalysisOptions) -> Run {
    let measured_ns = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) => b.t_ns - a.t_ns,
        _ => 0,
    };
    let n = samples.len();
    let analysis = spikes::analyse(&samples, opts);
    Run {
        kind,
        samples: n,
        measured_ns,
        mean_interval_ns: if n > 1 { measured_ns as f64 / (n - 1) as f64 } else { 0.0 },
        hit_sample_cap: n + 1024 > cap,
        analysis,
    }
}

/// Runs the probe. `progress` receives the fraction done (0..=1), measuring and analysing.
///
/// # Errors
///
/// [`Error::BadOption`] for options out of range, [`Error::Unsupported`] where lines cannot be
/// timed, and what mapping the buffer refuses.
pub fn probe(opts: &RefreshOptions, mut progress: impl FnMut(f64)) -> Result<RefreshReport> {
    validate(opts)?;
    #[cfg(target_arch = "x86_64")]
    {
        let region = Region::map(opts.buffer_bytes, opts.pages, LockRequest::Auto)?;
        let tpn = tsc::ticks_per_ns();
        let runs = if opts.control { 3 } else { 2 };
        let per_run = tsc::from_ns(opts.duration.as_nanos() as u64 / runs);
        let total = per_run as f64 * runs as f64 * 1.15; // ~15% for the analysis
        let base = region.ptr() as usize;
        let lines = (region.mapped_bytes() / 64) as u64;
        let origin = tsc::now();
        // The fixed line sits in the middle of the buffer, away from its first page.
        let fixed_addr = base + ((lines / 2) as usize) * 64;
        let mut done = 0.0;
        let mut report_progress = |done: f64, ticks: u64| progress(((done + (ticks as f64).min(per_run as f64)) / total).min(1.0));

        // SAFETY: every address is inside the region, which lives until the end of this block.
        let fixed = unsafe {
            measure(Lines::Fixed(fixed_addr), per_run, opts.max_samples, opts.seed, origin, tpn, &mut |t| {
                report_progress(done, t);
                true
            })
        };
        let fixed = run(RunKind::FixedLine, fixed, opts.max_samples, &opts.analysis);
        done += per_run as f64;
        report_progress(done, 0);

        // SAFETY: line indices are below `lines`, so every address is inside the region.
        let random = unsafe {
            measure(Lines::Random { base, lines }, per_run, opts.max_samples, opts.seed ^ 1, origin, tpn, &mut |t| {
                report_progress(done, t);
                true
            })
        };
        let random = run(RunKind::RandomLines, random, opts.max_samples, &opts.analysis);
        done += per_run as f64;
        report_progress(done, 0);

        let control = if opts.control {
            let pace = tsc::from_ns(fixed.mean_interval_ns.clamp(50.0, 10_000.0) as u64);
            // SAFETY: `fixed_addr` is inside the region.
            let s = unsafe {
                measure(Lines::Cached { addr: fixed_addr, pace_ticks: pace }, per_run, opts.max_samples, 0, origin, tpn, &mut |t| {
                    report_progress(done, t);
                    true
                })
            };
            Some(run(RunKind::CachedControl, s, opts.max_samples, &opts.analysis))
        } else {
            None
        };
        progress(1.0);

        let Conclusion { refresh_period_ns, control_clean, summary } = conclude(&fixed, &random, control.as_ref());
        Ok(RefreshReport {
            buffer_bytes: region.mapped_bytes(),
            page_kind: region.kind().name(),
            ticks_per_ns: tpn,
            fixed,
            random,
            control,
            refresh_period_ns,
            control_clean,
            summary,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = &mut progress;
        Err(Error::Unsupported { what: "timing flushed loads needs x86_64 (clflush + rdtsc)".into() })
    }
}

/// What the three runs say together: the fields of `RefreshReport` that no single run decides.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Conclusion {
    pub(crate) refresh_period_ns: Option<f64>,
    pub(crate) control_clean: Option<bool>,
    pub(crate) summary: String,
}

/// Combines the runs' analyses. The control is clean unless it is PERIODIC (NONE, WEAK and
/// INSUFFICIENT all say cached loads do not stall with a rhythm). A periodic control means slow
/// reads recur here even without DRAM (hypervisor ticks, a neighbour), so a period the fixed line
/// shows is not reported as the refresh period, and the summary says why.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn conclude(fixed: &Run, random: &Run, control: Option<&Run>) -> Conclusion {
    let control_clean = control.map(|c| c.analysis.verdict != Verdict::Periodic);
    let fixed_period = (fixed.analysis.verdict == Verdict::Periodic).then(|| fixed.analysis.fundamental.map(|f| f.period_ns)).flatten();
    let refresh_period_ns = fixed_period.filter(|_| control_clean != Some(false));
    let summary = summarize(fixed, random, control, fixed_period, refresh_period_ns);
    Conclusion { refresh_period_ns, control_clean, summary }
}

/// `fixed_period`: what the fixed line's stalls repeat with, if periodic; `period`: the same, when
/// the control lets it stand as the refresh period.
fn summarize(fixed: &Run, random: &Run, control: Option<&Run>, fixed_period: Option<f64>, period: Option<f64>) -> String {
    let mut s = match (period, fixed_period) {
        (Some(p), _) => format!("one line stalls every {p:.1} ns for about +{} ns", fixed.analysis.stall_ns),
        (None, Some(p)) => format!("one line's flushed reads stall every {p:.1} ns for about +{} ns", fixed.analysis.stall_ns),
        (None, None) => format!("one line shows no clear refresh period ({})", fixed.analysis.verdict.name()),
    };
    match (random.analysis.verdict, random.analysis.fundamental) {
        (Verdict::Periodic, Some(f)) => {
            s += &format!("; random lines repeat every {:.1} ns", f.period_ns);
            if let Some(p) = period {
                let ratio = p / f.period_ns;
                let k = ratio.round();
                if k >= 2.0 && (ratio - k).abs() < 0.03 * k {
                    s += &format!(
                        " = 1/{k} of the line period: lines fall into about {k} refresh groups {:.0} ns apart (see `probe groups`)",
                        f.period_ns
                    );
                }
            }
        }
        (v, _) => s += &format!("; random lines: {}", v.name()),
    }
    if let Some(c) = control {
        s += &match (c.analysis.verdict, c.analysis.fundamental) {
            (Verdict::Periodic, f) => {
                let every = f.map(|f| format!(", every {:.1} ns", f.period_ns)).unwrap_or_default();
                match fixed_period {
                    Some(_) => format!(
                        "; WARNING: the cached-read control (no DRAM access) is periodic too{every}, so slow reads recur here \
                         for reasons that are not DRAM (hypervisor ticks, a neighbour) and the period above may be the \
                         machine's, not DRAM refresh's: no refresh period is reported (probe again)"
                    ),
                    None => format!(
                        "; WARNING: the cached-read control (no DRAM access) is periodic{every}: slow reads recur here for \
                         reasons that are not DRAM (hypervisor ticks, a neighbour), which can hide or mimic a refresh period \
                         (probe again)"
                    ),
                }
            }
            (v, _) => format!("; cached-read control: {} (as it should be)", v.name()),
        };
    }
    s
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "[{}] {} reads in {:.3} s (one per {:.0} ns){}",
            self.kind.name(),
            self.samples,
            self.measured_ns as f64 / 1e9,
            self.mean_interval_ns,
            if self.hit_sample_cap { ", stopped at the read cap" } else { "" }
        )?;
        write!(f, "{}", self.analysis)
    }
}

impl fmt::Display for RefreshReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "refresh probe: {} MiB buffer on {} pages, {:.4} ticks/ns",
            self.buffer_bytes >> 20,
            self.page_kind,
            self.ticks_per_ns
        )?;
        writeln!(f, "{}", self.fixed)?;
        writeln!(f, "{}", self.random)?;
        if let Some(c) = &self.control {
            writeln!(f, "{c}")?;
        }
        write!(f, "summary: {}", self.summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::spikes::synth::Trace;
    use crate::rng::SplitMix64;
    use std::sync::OnceLock;

    #[test]
    fn bad_options_are_refused_before_anything_is_mapped() {
        let o = RefreshOptions { duration: Duration::ZERO, ..Default::default() };
        assert!(matches!(probe(&o, |_| {}), Err(Error::BadOption { option: "duration", .. })));
        let o = RefreshOptions { duration: Duration::from_secs(61), ..Default::default() };
        assert!(matches!(probe(&o, |_| {}), Err(Error::BadOption { option: "duration", .. })));
        let o = RefreshOptions { buffer_bytes: 10, ..Default::default() };
        assert!(matches!(probe(&o, |_| {}), Err(Error::BadOption { option: "bufferBytes", .. })));
    }

    // ---- What the runs say together, on traces (never on this machine's DRAM) ----------------

    fn quick() -> AnalysisOptions {
        AnalysisOptions {
            periodogram: spikes::PeriodogramOptions { shuffles: 6, max_spikes: 1500, ..Default::default() },
            ..Default::default()
        }
    }

    /// A run of `kind` analysed from `samples`, as `probe` makes it from measured ones.
    fn run_of(kind: RunKind, samples: Vec<Sample>) -> Run {
        run(kind, samples, usize::MAX, &quick())
    }

    /// Analyses `make()`'s samples once per test binary (each takes a second or more unoptimized):
    /// the tests below combine the same few runs in different ways.
    fn cached(cell: &'static OnceLock<Run>, make: impl FnOnce() -> Run) -> Run {
        cell.get_or_init(make).clone()
    }

    /// One line flushed before every read, stalling every 1950.8 ns (the synthetic trace's default).
    fn periodic_fixed_line() -> Run {
        static CELL: OnceLock<Run> = OnceLock::new();
        let r = cached(&CELL, || run_of(RunKind::FixedLine, Trace::default().samples()));
        assert_eq!(r.analysis.verdict, Verdict::Periodic, "the input, not the code under test: {}", r.analysis);
        r
    }

    /// Random lines in two refresh groups half a period apart: periodic at 975.4 ns.
    fn two_group_random_lines() -> Run {
        static CELL: OnceLock<Run> = OnceLock::new();
        let r = cached(&CELL, || run_of(RunKind::RandomLines, Trace { two_groups: true, seed: 3, ..Default::default() }.samples()));
        assert_eq!(r.analysis.verdict, Verdict::Periodic, "the input: {}", r.analysis);
        r
    }

    /// Reads that are slow only at random (no rhythm): NONE.
    fn no_period(kind: RunKind) -> Run {
        static CELLS: [OnceLock<Run>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
        let k = match kind {
            RunKind::FixedLine => 0,
            RunKind::RandomLines => 1,
            RunKind::CachedControl => 2,
        };
        let r = cached(&CELLS[k], || {
            let t = Trace { period_ns: None, noise_fraction: 0.03, seed: 10 + k as u64, duration_ns: 40_000_000, ..Default::default() };
            run_of(kind, t.samples())
        });
        assert_eq!(r.analysis.verdict, Verdict::None, "the input: {}", r.analysis);
        r
    }

    /// Cached loads as the control takes them: L1 hits every ~300 ns, never slow but for a few
    /// hypervisor pauses (outliers, not spikes): INSUFFICIENT, the usual clean control.
    fn quiet_cached_control() -> Run {
        let mut rng = SplitMix64::new(41);
        let s: Vec<Sample> = (0..150_000u64)
            .map(|i| Sample { t_ns: i * 300, latency_ns: if rng.next_f64() < 0.0005 { 20_000 } else { 16 + rng.below(4) as u32 } })
            .collect();
        let r = run_of(RunKind::CachedControl, s);
        assert_eq!(r.analysis.verdict, Verdict::Insufficient, "the input: {}", r.analysis);
        r
    }

    /// A cached control that stalls every 5 µs: what a VM can show (hypervisor ticks, a neighbour
    /// hammering a shared resource) on loads that never touch DRAM.
    fn periodic_cached_control() -> Run {
        static CELL: OnceLock<Run> = OnceLock::new();
        let r = cached(&CELL, || {
            let t = Trace { period_ns: Some(5000.0), stall_ns: 250.0, jitter_ns: 40.0, seed: 7, ..Default::default() };
            run_of(RunKind::CachedControl, t.samples())
        });
        assert_eq!(r.analysis.verdict, Verdict::Periodic, "the input: {}", r.analysis);
        r
    }

    #[test]
    fn a_periodic_cached_control_is_not_called_clean_and_no_refresh_period_is_claimed() {
        let (fixed, random, control) = (periodic_fixed_line(), two_group_random_lines(), periodic_cached_control());
        let c = conclude(&fixed, &random, Some(&control));
        assert_eq!(c.control_clean, Some(false));
        assert_eq!(c.refresh_period_ns, None, "a period that cached loads show too may be the machine's: {}", c.summary);
        let s = &c.summary;
        assert!(s.contains("the cached-read control (no DRAM access) is periodic too, every "), "{s}");
        assert!(s.contains("may be the machine's, not DRAM refresh's: no refresh period is reported"), "{s}");
        assert!(!s.contains("one line stalls every"), "no claim of a refresh period: {s}");
        assert!(!s.contains("refresh groups"), "no refresh groups read off a period that may not be DRAM's: {s}");
        assert!(!s.contains("as it should be"), "{s}");
        // What the fixed line showed is still reported, as a measurement.
        assert!(s.starts_with("one line's flushed reads stall every 19"), "{s}");
        assert!(fixed.analysis.fundamental.is_some());
    }

    #[test]
    fn a_periodic_cached_control_beside_a_fixed_line_without_a_period_is_flagged_too() {
        let (fixed, random, control) = (no_period(RunKind::FixedLine), no_period(RunKind::RandomLines), periodic_cached_control());
        let c = conclude(&fixed, &random, Some(&control));
        assert_eq!(c.control_clean, Some(false));
        assert_eq!(c.refresh_period_ns, None);
        let s = &c.summary;
        assert!(s.starts_with("one line shows no clear refresh period (NONE); random lines: NONE"), "{s}");
        assert!(s.contains("; WARNING: the cached-read control (no DRAM access) is periodic, every "), "{s}");
        assert!(s.contains("can hide or mimic a refresh period"), "{s}");
    }

    #[test]
    fn a_clean_control_lets_the_fixed_line_period_stand_as_the_refresh_period() {
        let (fixed, random) = (periodic_fixed_line(), two_group_random_lines());
        let want = fixed.analysis.fundamental.unwrap().period_ns;
        assert!((want - 1950.8).abs() < 0.02 * 1950.8, "the input: {}", fixed.analysis);
        for (control, name) in [(quiet_cached_control(), "INSUFFICIENT"), (no_period(RunKind::CachedControl), "NONE")] {
            let c = conclude(&fixed, &random, Some(&control));
            assert_eq!(c.control_clean, Some(true), "{name}");
            assert_eq!(c.refresh_period_ns, Some(want), "{name}");
            let s = &c.summary;
            assert!(s.starts_with(&format!("one line stalls every {want:.1} ns for about +{} ns; ", fixed.analysis.stall_ns)), "{s}");
            assert!(s.contains("; random lines repeat every 97"), "{s}");
            assert!(s.contains("= 1/2 of the line period: lines fall into about 2 refresh groups"), "{s}");
            assert!(s.ends_with(&format!("; cached-read control: {name} (as it should be)")), "{s}");
            assert!(!s.contains("WARNING"), "{s}");
        }
    }

    #[test]
    fn a_fixed_line_without_a_period_reports_no_refresh_period_whatever_the_random_lines_show() {
        let (fixed, control) = (no_period(RunKind::FixedLine), quiet_cached_control());
        for random in [no_period(RunKind::RandomLines), two_group_random_lines()] {
            let c = conclude(&fixed, &random, Some(&control));
            assert_eq!(c.refresh_period_ns, None);
            assert_eq!(c.control_clean, Some(true));
            assert!(c.summary.starts_with("one line shows no clear refresh period (NONE); random lines"), "{}", c.summary);
            // Random lines may repeat on their own, but without a line period there are no groups to read off.
            assert!(!c.summary.contains("refresh groups"), "{}", c.summary);
        }
        // Too few slow reads on the fixed line: no period either, and the summary says which verdict.
        let mut s = Trace::default().samples();
        for x in &mut s {
            x.latency_ns = x.latency_ns.min(150);
        }
        let quiet = run_of(RunKind::FixedLine, s);
        assert_eq!(quiet.analysis.verdict, Verdict::Insufficient, "the input: {}", quiet.analysis);
        let c = conclude(&quiet, &two_group_random_lines(), Some(&control));
        assert_eq!(c.refresh_period_ns, None);
        assert!(c.summary.starts_with("one line shows no clear refresh period (INSUFFICIENT)"), "{}", c.summary);
    }

    #[test]
    fn without_a_control_run_nothing_is_said_about_one() {
        let (fixed, random) = (periodic_fixed_line(), two_group_random_lines());
        let c = conclude(&fixed, &random, None);
        assert_eq!(c.control_clean, None);
        assert_eq!(c.refresh_period_ns, fixed.analysis.fundamental.map(|f| f.period_ns));
        assert!(!c.summary.contains("control"), "{}", c.summary);
    }

    /// `ultraslayer probe refresh --json` as recorded on host C (tests/fixtures/host-c/, from
    /// shared/hosts/host-c/): the runs' analyses and what the report concluded from them.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Recorded {
        fixed: Run,
        random: Run,
        control: Option<Run>,
        refresh_period_ns: Option<f64>,
        control_clean: Option<bool>,
        summary: String,
    }

    fn host_c() -> Vec<(&'static str, Recorded)> {
        [
            ("refresh-1.json", include_str!("../../tests/fixtures/host-c/refresh-1.json")),
            ("refresh-2.json", include_str!("../../tests/fixtures/host-c/refresh-2.json")),
        ]
        .into_iter()
        .map(|(name, text)| (name, serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))))
        .collect()
    }

    #[test]
    fn host_c_recorded_runs_conclude_as_they_were_reported() {
        for (name, r) in host_c() {
            assert_eq!(r.control.as_ref().map(|c| c.kind), Some(RunKind::CachedControl), "{name}");
            let c = conclude(&r.fixed, &r.random, r.control.as_ref());
            assert_eq!(c.refresh_period_ns, r.refresh_period_ns, "{name}");
            assert_eq!(c.control_clean, r.control_clean, "{name}");
            assert_eq!(c.summary, r.summary, "{name}");
        }
    }

    #[test]
    fn host_c_recorded_runs_with_a_periodic_control_claim_no_refresh_period() {
        for (name, r) in host_c() {
            // The recorded random-lines analysis (PERIODIC at 1954.8 ns) standing in as the control:
            // the same rhythm on loads that never reach DRAM would say it is not DRAM's.
            assert_eq!(r.random.analysis.verdict, Verdict::Periodic, "{name}: the input");
            let control = Run { kind: RunKind::CachedControl, ..r.random.clone() };
            let c = conclude(&r.fixed, &r.random, Some(&control));
            assert_eq!(c.control_clean, Some(false), "{name}");
            assert_eq!(c.refresh_period_ns, None, "{name}");
            assert!(c.summary.contains("periodic too, every 195"), "{name}: {}", c.summary);
            assert!(c.summary.contains("no refresh period is reported"), "{name}: {}", c.summary);
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_short_probe_reports_every_run_and_progress_reaches_one() {
        let o = RefreshOptions {
            duration: Duration::from_millis(150),
            buffer_bytes: 8 << 20,
            analysis: AnalysisOptions {
                periodogram: spikes::PeriodogramOptions { shuffles: 2, max_spikes: 300, ..Default::default() },
                ..Default::default()
            },
            ..Default::default()
        };
        let mut last = 0.0;
        let mut monotonic = true;
        let r = probe(&o, |f| {
            monotonic &= f >= last;
            last = f;
        })
        .unwrap();
        assert!(monotonic);
        assert_eq!(last, 1.0);
        assert!(r.fixed.samples > 0 && r.random.samples > 0);
        let c = r.control.as_ref().unwrap();
        assert_eq!(c.kind, RunKind::CachedControl);
        assert!(r.buffer_bytes >= 8 << 20);
        assert!(r.to_string().contains("summary:"));
        // Whatever this machine's DRAM and hypervisor did: each run is well formed, and the report
        // says what `conclude` makes of the three (tested on traces above).
        for (run, kind) in [(&r.fixed, RunKind::FixedLine), (&r.random, RunKind::RandomLines), (c, RunKind::CachedControl)] {
            let a = &run.analysis;
            assert_eq!(run.kind, kind);
            assert_eq!(a.samples, run.samples, "{kind:?}");
            assert_eq!(a.threshold.counted + a.threshold.outliers, run.samples as u64, "{kind:?}");
            assert!(a.spikes <= a.threshold.counted && a.spikes_analysed as u64 <= a.spikes, "{kind:?}: {a}");
            match &a.baseline {
                None => assert!(a.verdict == Verdict::Insufficient || o.analysis.periodogram.shuffles == 0, "{kind:?}: {a}"),
                Some(b) => {
                    assert_ne!(a.verdict, Verdict::Insufficient, "{kind:?}: {a}");
                    assert!(b.reached_best <= b.shuffles && b.p_value > 0.0 && b.p_value <= 1.0, "{kind:?}: {b:?}");
                }
            }
            match a.verdict {
                Verdict::Periodic => assert!(a.fundamental.is_some(), "{kind:?}: a period names its fundamental: {a}"),
                Verdict::Insufficient => assert!(a.fundamental.is_none() && a.reason.contains("need at least"), "{kind:?}: {a}"),
                Verdict::Weak | Verdict::None => {}
            }
        }
        let want = conclude(&r.fixed, &r.random, r.control.as_ref());
        assert_eq!((r.refresh_period_ns, r.control_clean, &r.summary), (want.refresh_period_ns, want.control_clean, &want.summary));
        assert_eq!(r.control_clean, Some(c.analysis.verdict != Verdict::Periodic));
    }
}
