//! The refresh period of one line: measured from 300 ms of its flushed reads (the periodogram of
//! `probe::spikes` against its chance baseline finds the fundamental), then sharpened to a few ppm
//! on the whole trace (`refine_period`), which a steering tracker needs. Placement and the
//! page-by-page arrangement start here. (The tracker's own search at the end of a calibration,
//! `steer::tracker::calibration`, is the third period search; it works on its calibration reads
//! in place, without allocating, and is not merged with these yet.)

use crate::error::{Error, Result};
use crate::refresh::boot_cache::{self, PeriodFact};
use crate::refresh::spikes::Sample;

/// Sharpens a refresh period found on a coarse grid: the period near `p0` (within ±`rel_span`)
/// that makes the slow reads of one line (`cut_ns <= latency < outlier_ns`) most concentrated in
/// phase over the whole trace. A period off by δ makes the phase run δ/P² cycles per ns, so a
/// long trace pins it far more finely than a grid can; it is searched on the first tenth of the
/// trace first, then on all of it around the best. Returns `p0` when the trace is too short or
/// has too few slow reads.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn refine_period(trace: &[Sample], cut_ns: u32, outlier_ns: u32, p0: f64, rel_span: f64) -> f64 {
    let slow: Vec<u64> = trace.iter().filter(|s| s.latency_ns >= cut_ns && s.latency_ns < outlier_ns).map(|s| s.t_ns).collect();
    if slow.len() < 50 || !(p0.is_finite() && p0 > 0.0) {
        return p0;
    }
    let first = slow[0];
    let slow: Vec<u64> = slow.into_iter().map(|t| t - first).collect();
    // Fixed-point phases and the shared cos/sin table: a strongly stalling line can have 100 000+
    // slow reads in 300 ms, where a sin_cos per read and candidate took 0.3–0.4 s.
    let trig = crate::refresh::phase::Trig::new();
    let power = |p: f64, n: usize| -> f64 {
        let (c, s) = trig.resultant(&slow[..n], crate::refresh::phase::step(p));
        c * c + s * s
    };
    let span = slow[slow.len() - 1] as f64;
    let mut best = p0;
    let mut half = p0 * rel_span;
    for frac in [0.1, 1.0] {
        let upto = span * frac;
        let n_slow = slow.partition_point(|&t| t as f64 <= upto);
        // Step: the phase at the end of this stretch moves 1/20 cycle between candidates.
        let step = (p0 * p0 / (20.0 * upto.max(p0))).max(1e-9);
        let n = ((2.0 * half / step).ceil() as usize).min(20_000);
        let from = best - half;
        let mut top = (f64::MIN, best);
        for k in 0..=n {
            let p = from + k as f64 * (2.0 * half / n.max(1) as f64);
            let w = power(p, n_slow);
            if w > top.0 {
                top = (w, p);
            }
        }
        best = top.1;
        half = 3.0 * step;
    }
    best
}

/// Spells of 300 ms `measure_period` times before it says a line shows no period. A VM's reads
/// can be contended for a while (a neighbour): on host A, 2026-12-07, one 300 ms spell read
/// 310 ns typical with a MAD of 110 ns and showed no period at any cut, the next 160/20 ns and a
/// clear one. The later spells cost time only where the first found nothing.
#[cfg(target_arch = "x86_64")]
const PERIOD_SPELLS: u64 = 3;

/// The refresh period of the line at `reference` (`given`, or measured from up to
/// `PERIOD_SPELLS` spells of 300 ms of flushed reads of it, sharpened to a few ppm), what measured
/// it, and the read-latency thresholds of those reads.
///
/// # Safety
/// `reference` must be readable for the whole call.
#[cfg(target_arch = "x86_64")]
pub(crate) unsafe fn measure_period(
    reference: usize,
    given: Option<f64>,
    seed: u64,
    origin: u64,
    tpn: f64,
    job: &crate::job::Job,
) -> Result<(f64, String, crate::refresh::spikes::Threshold)> {
    use crate::probe::refresh::{measure, Lines};
    use crate::refresh::spikes::{self, ThresholdOptions};
    use crate::tsc;
    let mut why = String::new();
    for spell in 0..PERIOD_SPELLS {
        // One line, flushed and read back to back: its refresh period and what a normal read
        // takes. `Phase::Period`, in ms of the 300 (each spell starts it again); a cancel stops
        // the reads within 1024 of them (~0.2 ms).
        let meter = job.meter(crate::job::Phase::Period, std::time::Duration::from_millis(300));
        // SAFETY: forwarded from the caller.
        let fixed = unsafe {
            measure(Lines::Fixed(reference), tsc::from_ns(300_000_000), 3_000_000, seed.wrapping_add(spell), origin, tpn, &mut |_| {
                meter.tick()
            })
        };
        job.check()?;
        meter.finish();
        let Some(p) = given else {
            // Only the fundamental is needed, to a few ns (refine_period does the rest): a
            // narrower range and fewer shuffles than `probe refresh` uses.
            let mut ao = spikes::AnalysisOptions::default();
            ao.periodogram.min_period_ns = 1000.0;
            ao.periodogram.max_period_ns = 16_000.0;
            ao.periodogram.shuffles = 4;
            // 4000 spikes show a 1.95 µs period clearly; on a 7.8 µs period they
            // cover a quarter of the periods and score only "weak" about half the time, so a weak
            // verdict is looked at again with three times the spikes (the same reads).
            ao.periodogram.max_spikes = 4000;
            let mut r = spikes::analyse(&fixed, &ao);
            if r.verdict == spikes::Verdict::Weak {
                ao.periodogram.max_spikes = 12_000;
                r = spikes::analyse(&fixed, &ao);
            }
            if let (spikes::Verdict::Periodic, Some(f)) = (r.verdict, r.fundamental) {
                // The periodogram's grid leaves the period a few ns off; a steering tracker needs
                // it to a few ppm or its phase runs away within a second. Sharpened at the cut
                // that showed the period (`analyse` lowers it where the calibrated one did not).
                let th = r.threshold;
                let p = refine_period(&fixed, th.cut_ns, th.outlier_ns, f.period_ns, 5e-3);
                let spells = if spell == 0 { String::new() } else { format!(", in spell {} of 300 ms", spell + 1) };
                return Ok((p, format!("measured on one line ({:.1} ns on the periodogram grid{spells})", f.period_ns), th));
            }
            why = format!("{}: {}", r.verdict.name(), r.reason);
            continue;
        };
        return Ok((p, "given".to_string(), spikes::calibrate(fixed.iter().map(|s| s.latency_ns), &ThresholdOptions::default())));
    }
    Err(Error::Placement {
        message: format!("one line's reads show no periodic refresh stall in {PERIOD_SPELLS} spells of 300 ms (the last: {why})"),
        hint: "there is nothing to place by on this machine; use ⟦set:placement=offset⟧".into(),
    })
}

/// One line's refresh period on this machine, and the latencies of the reads that measured it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Measured {
    pub(crate) period_ns: f64,
    /// What measured it ("given", or how and when it was measured).
    pub(crate) source: String,
    /// Typical read (the median), the cut above which a read is slow (a refresh stall or worse),
    /// and the one above which it is a hypervisor pause, not a stall (ns).
    pub(crate) typical_ns: u32,
    pub(crate) slow_ns: u32,
    pub(crate) outlier_ns: u32,
}

/// The period measured earlier in this process: a fact of the DRAM, not of one slab, so later
/// placements and steering readers start from it (only the phase, which jumps, is learned again).
static MEASURED: std::sync::Mutex<Option<Measured>> = std::sync::Mutex::new(None);

/// This machine's refresh period as one line shows it: `given` (still timing the line for its
/// latencies), or measured once per process on a page of its own (`measure_period`, 300 ms) and
/// remembered — for this process, and for the boot in the user's machine cache
/// (`boot_cache`), so a later process starts from it without the 300 ms. The `source` says which.
/// Errors: `Unsupported` where loads cannot be timed; `Placement` when one line's reads show no
/// period.
pub(crate) fn of_this_machine(given: Option<f64>, seed: u64) -> Result<Measured> {
    of_this_machine_with(given, seed, &crate::job::Job::none())
}

/// `of_this_machine`, reporting `Phase::Period` to `job` when it measures, and stopping with
/// `Error::Cancelled` (nothing cached) once `job` is cancelled.
pub(crate) fn of_this_machine_with(given: Option<f64>, seed: u64, job: &crate::job::Job) -> Result<Measured> {
    job.check()?;
    if given.is_none() {
        if let Some(m) = MEASURED.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(Measured { source: format!("{}, earlier in this process", m.source), ..m });
        }
        if let Some(m) = remembered() {
            *MEASURED.lock().unwrap_or_else(|e| e.into_inner()) = Some(m.clone());
            return Ok(m);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        use crate::region::{LockRequest, PageRequest, Region};
        let page = Region::map(4096, PageRequest::Off, LockRequest::Off)?;
        let (tpn, origin) = (crate::tsc::ticks_per_ns(), crate::tsc::now());
        // SAFETY: `page` is mapped and readable until the end of this block, after the call.
        let (period_ns, source, th) = unsafe { measure_period(page.ptr() as usize, given, seed, origin, tpn, job)? };
        let m = Measured { period_ns, source, typical_ns: th.median_ns, slow_ns: th.cut_ns, outlier_ns: th.outlier_ns };
        if given.is_none() {
            *MEASURED.lock().unwrap_or_else(|e| e.into_inner()) = Some(m.clone());
            remember(&m);
        }
        Ok(m)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (given, seed, job);
        Err(Error::Unsupported { what: "timing flushed loads needs x86_64".into() })
    }
}

/// The machine cache's record of a period (boot_cache stores plain facts and knows nothing of
/// `Measured`, so the translation lives here, with the one module that uses both).
impl PeriodFact {
    /// The record of a measured period.
    pub fn of(m: &Measured) -> PeriodFact {
        PeriodFact {
            period_ns: m.period_ns,
            source: m.source.clone(),
            typical_ns: m.typical_ns,
            slow_ns: m.slow_ns,
            outlier_ns: m.outlier_ns,
        }
    }

    /// The period a record holds.
    pub fn measured(&self) -> Measured {
        Measured {
            period_ns: self.period_ns,
            source: self.source.clone(),
            typical_ns: self.typical_ns,
            slow_ns: self.slow_ns,
            outlier_ns: self.outlier_ns,
        }
    }
}

/// The period an earlier process measured this boot, if the machine cache holds one.
fn remembered() -> Option<Measured> {
    let r = boot_cache::recall()?;
    let m = r.facts.period?.measured();
    Some(Measured {
        source: format!("{}, by an earlier process this boot ({:.0} s ago; {})", m.source, r.age.as_secs_f64(), r.path.display()),
        ..m
    })
}

/// Stores a measured period in the machine cache (a failure to store changes nothing).
#[cfg(target_arch = "x86_64")]
fn remember(m: &Measured) {
    boot_cache::record(|f| f.period = Some(PeriodFact::of(m)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refresh::phase::wrap;
    use crate::rng::SplitMix64;

    const P: f64 = 7814.0;

    /// Latency of a read at `t` of a line whose stall (width 700 ns, +200 ns) starts at `phase`
    /// of the period, the whole pattern shifted by `common` ns.
    fn latency(t: u64, phase: f64, common: f64, rng: &mut SplitMix64) -> u32 {
        let noise = (rng.below(40)) as u32;
        let x = wrap((t as f64 + common) / P - phase);
        150 + noise + if x < 700.0 / P && rng.below(3) > 0 { 200 } else { 0 }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_cancel_while_the_period_is_measured_stops_the_reads_and_caches_nothing() {
        let (job, rec) = crate::job::testing::recording(|p, _, _| p == crate::job::Phase::Period);
        let page = crate::region::Region::map(4096, crate::region::PageRequest::Off, crate::region::LockRequest::Off).unwrap();
        let (tpn, origin) = (crate::tsc::ticks_per_ns(), crate::tsc::now());
        // SAFETY: the page is mapped for the whole call.
        let r = unsafe { measure_period(page.ptr() as usize, None, 1, origin, tpn, &job) };
        assert!(matches!(r, Err(Error::Cancelled { phase: Some("period") })), "{r:?}");
        assert_eq!(rec.phases(), vec![crate::job::Phase::Period]);
        let job = crate::job::Job::new();
        job.cancel();
        assert!(matches!(of_this_machine_with(None, 1, &job), Err(Error::Cancelled { .. })));
    }

    #[test]
    fn a_coarse_period_is_sharpened_on_a_long_trace() {
        // One line stalling every 7813.35 ns for 300 ms, reads every 170 ns; start 2.3 ns off.
        let mut rng = SplitMix64::new(5);
        let trace: Vec<Sample> = (0..1_800_000u64)
            .map(|k| {
                let t = k * 170;
                Sample { t_ns: t, latency_ns: latency(t, 0.3, (t as f64) * (P / 7813.35 - 1.0), &mut rng) }
            })
            .collect();
        let p = refine_period(&trace, 300, 5000, 7811.0, 2e-3);
        assert!((p - 7813.35).abs() < 0.01, "{p}");
        assert_eq!(refine_period(&trace[..10], 300, 5000, 7811.0, 2e-3), 7811.0);
    }
}
