//! `probe refresh`: do cold reads stall with a DRAM refresh period, and which one?
//!
//! Times flushed loads of one fixed line and of random lines in a large huge-page buffer, plus a
//! negative control (cached loads of one line, paced like the cold ones), and runs the spike
//! analysis on each. Owns its buffer for the duration of the probe; never touches a slab.

use std::fmt;
use std::time::Duration;

use super::spikes::{self, AnalysisOptions, Sample, SpikeReport, Verdict};
use crate::error::{Error, Result};
use crate::region::PageRequest;
#[cfg(target_arch = "x86_64")]
use crate::region::{LockRequest, Region};
#[cfg(target_arch = "x86_64")]
use crate::rng::SplitMix64;
#[cfg(target_arch = "x86_64")]
use crate::tsc;

/// Longest total measurement accepted.
pub const MAX_DURATION: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshOptions {
    /// Total measuring time, shared by the fixed-line, random-line and control runs (≤ 60 s).
    pub duration: Duration,
    /// Buffer the random lines are drawn from.
    pub buffer_bytes: usize,
    pub pages: PageRequest,
    /// Run the cached-load negative control.
    pub control: bool,
    /// Per run; a run stops early when it has this many reads (and says so).
    pub max_samples: usize,
    pub seed: u64,
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
pub enum RunKind {
    /// The same line, flushed before every read.
    FixedLine,
    /// A random line of the buffer each read, flushed first.
    RandomLines,
    /// The same line, never flushed (L1 hits): must show no period.
    CachedControl,
}

impl RunKind {
    pub fn name(self) -> &'static str {
        match self {
            RunKind::FixedLine => "fixed line (flushed)",
            RunKind::RandomLines => "random lines (flushed)",
            RunKind::CachedControl => "control: cached line",
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub kind: RunKind,
    pub samples: usize,
    pub measured_ns: u64,
    pub mean_interval_ns: f64,
    /// The run stopped at `max_samples` before its time was up.
    pub hit_sample_cap: bool,
    pub analysis: SpikeReport,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefreshReport {
    pub buffer_bytes: usize,
    pub page_kind: &'static str,
    pub ticks_per_ns: f64,
    pub fixed: Run,
    pub random: Run,
    pub control: Option<Run>,
    /// The refresh period as one line sees it, when the fixed-line run is PERIODIC.
    pub refresh_period_ns: Option<f64>,
    /// The control came out NONE or WEAK (None when no control was run).
    pub control_clean: Option<bool>,
    pub summary: String,
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
/// `progress(done_ticks)` is called every few thousand reads.
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
    progress: &mut dyn FnMut(u64),
) -> Vec<Sample> {
    use super::timing::{cached_load, flushed_load};
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
        progress(now.saturating_sub(start));
        if now >= end || out.len() + 1024 > max {
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
            measure(Lines::Fixed(fixed_addr), per_run, opts.max_samples, opts.seed, origin, tpn, &mut |t| report_progress(done, t))
        };
        let fixed = run(RunKind::FixedLine, fixed, opts.max_samples, &opts.analysis);
        done += per_run as f64;
        report_progress(done, 0);

        // SAFETY: line indices are below `lines`, so every address is inside the region.
        let random = unsafe {
            measure(Lines::Random { base, lines }, per_run, opts.max_samples, opts.seed ^ 1, origin, tpn, &mut |t| report_progress(done, t))
        };
        let random = run(RunKind::RandomLines, random, opts.max_samples, &opts.analysis);
        done += per_run as f64;
        report_progress(done, 0);

        let control = if opts.control {
            let pace = tsc::from_ns(fixed.mean_interval_ns.clamp(50.0, 10_000.0) as u64);
            // SAFETY: `fixed_addr` is inside the region.
            let s = unsafe {
                measure(Lines::Cached { addr: fixed_addr, pace_ticks: pace }, per_run, opts.max_samples, 0, origin, tpn, &mut |t| {
                    report_progress(done, t)
                })
            };
            Some(run(RunKind::CachedControl, s, opts.max_samples, &opts.analysis))
        } else {
            None
        };
        progress(1.0);

        let refresh_period_ns =
            (fixed.analysis.verdict == Verdict::Periodic).then(|| fixed.analysis.fundamental.map(|f| f.period_ns)).flatten();
        let control_clean = control.as_ref().map(|c| c.analysis.verdict != Verdict::Periodic);
        let summary = summarize(&fixed, &random, control.as_ref(), refresh_period_ns);
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

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn summarize(fixed: &Run, random: &Run, control: Option<&Run>, period: Option<f64>) -> String {
    let mut s = match period {
        Some(p) => format!("one line stalls every {p:.1} ns for about +{} ns", fixed.analysis.stall_ns),
        None => format!("one line shows no clear refresh period ({})", fixed.analysis.verdict.name()),
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
        s += &match c.analysis.verdict {
            Verdict::Periodic => {
                "; WARNING: the cached-read control is periodic too, so the period may come from the machine, not DRAM".to_string()
            }
            v => format!("; cached-read control: {} (as it should be)", v.name()),
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

    #[test]
    fn bad_options_are_refused_before_anything_is_mapped() {
        let o = RefreshOptions { duration: Duration::ZERO, ..Default::default() };
        assert!(matches!(probe(&o, |_| {}), Err(Error::BadOption { option: "duration", .. })));
        let o = RefreshOptions { duration: Duration::from_secs(61), ..Default::default() };
        assert!(matches!(probe(&o, |_| {}), Err(Error::BadOption { option: "duration", .. })));
        let o = RefreshOptions { buffer_bytes: 10, ..Default::default() };
        assert!(matches!(probe(&o, |_| {}), Err(Error::BadOption { option: "bufferBytes", .. })));
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
        assert!(r.control_clean.is_some());
        assert!(r.buffer_bytes >= 8 << 20);
        assert!(r.to_string().contains("summary:"));
    }
}
