//! Spike analysis: which reads stalled, and whether the stalls recur with a period.
//!
//! Pure functions over `(time, latency)` samples. Owns the threshold calibration, the windowed
//! periodogram, the chance baseline and the verdict. Never reads clocks or memory; its only
//! randomness is the seeded shuffling of the chance baseline, so a given input and seed always
//! give the same report.
//!
//! How it decides:
//! 1. Cut: reads above `median + max(k·σ, min_gap)` (σ from the MAD), or at a clear valley before
//!    a second mode, are spikes. Reads at or above `outlier_ns` (hypervisor pauses) are counted
//!    but are neither spikes nor part of the typical latency.
//! 2. Score of a candidate period P: spike times are cut into short windows; inside each window
//!    the phases `t mod P` give a Rayleigh statistic `|Σ e^{iθ}|² / n` (≈ 1 for random phases);
//!    the score is `Σ (Z_w − 1) / √windows`, except that pairs of spikes closer than 2.5 periods
//!    (and 5 µs) are left out of each `Z_w` (a burst, not a rhythm) and the windows are weighed by the
//!    variance of what is left. Short windows keep the sum immune to the refresh phase jumping
//!    (about once a second on the measured VM) and to small clock-rate errors.
//! 3. Chance baseline: the same spikes per window are moved to randomly chosen *sample* times of
//!    that window (so any rhythm of the sampling loop itself is kept) and the whole period grid is
//!    scored again, many times. The real best score must stand clear of the best scores those
//!    shuffles reach anywhere on the grid.
//! 4. Harmonics: a period P also scores at P/2, P/3, … (every spike folds to the same phase) but
//!    not at 2P (two opposite clusters cancel). So the largest period with a strong peak at a
//!    multiple of the best one is reported as the fundamental.
//! 5. Lower cuts: where the calibrated cut shows no period, the stalls may add too little to a
//!    read to stand above a wide tail (host A on 2026-12-07: reads 160 ns typical with a tail to
//!    340 ns, stalls +100–140 ns, the cut at 655 ns catching 56 reads in 3 million). Cuts lower
//!    down, at fixed tail shares, are tried in turn, each with its own chance baseline, and the
//!    first that is periodic is kept; never below `median + min_gap`.

use std::fmt;

use crate::rng::SplitMix64;

/// One timed read: when it started (ns from any fixed origin) and how long it took.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Sample {
    pub(crate) t_ns: u64,
    pub(crate) latency_ns: u32,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ThresholdOptions {
    /// Spikes lie at least `k_mad · σ` above the median (σ = 1.4826 · MAD).
    pub(crate) k_mad: f64,
    /// … and at least this many ns above it (refresh stalls add 150–250 ns on DDR5).
    pub(crate) min_gap_ns: u32,
    /// Reads this slow or slower are hypervisor/interrupt pauses: counted, never spikes.
    pub(crate) outlier_ns: u32,
    /// Use this cut instead of calibrating one.
    pub(crate) fixed_cut_ns: Option<u32>,
}

impl Default for ThresholdOptions {
    fn default() -> Self {
        ThresholdOptions { k_mad: 6.0, min_gap_ns: 80, outlier_ns: 1000, fixed_cut_ns: None }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) enum CutMethod {
    Given,
    /// median + max(k·σ, min_gap)
    Mad,
    /// the lowest point between the main mode and a second mode
    Valley,
    /// below the calibrated cut, where the stalls showed a period and the calibrated cut did not
    /// (`analyse`: stalls that add little to a read sit inside its tail, not above it)
    Lowered,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct Threshold {
    /// Reads with `cut_ns <= latency < outlier_ns` are spikes.
    pub(crate) cut_ns: u32,
    pub(crate) method: CutMethod,
    pub(crate) median_ns: u32,
    pub(crate) mad_ns: u32,
    pub(crate) p99_ns: u32,
    pub(crate) outlier_ns: u32,
    /// Reads below `outlier_ns`.
    pub(crate) counted: u64,
    /// Reads at or above `outlier_ns`.
    pub(crate) outliers: u64,
}

/// Latency histogram with 1 ns bins below `outlier_ns`.
struct Histogram {
    bins: Vec<u64>,
    counted: u64,
    outliers: u64,
}

impl Histogram {
    fn new(latencies: impl IntoIterator<Item = u32>, outlier_ns: u32) -> Histogram {
        let mut bins = vec![0u64; outlier_ns as usize];
        let (mut counted, mut outliers) = (0u64, 0u64);
        for l in latencies {
            if l >= outlier_ns {
                outliers += 1;
            } else {
                bins[l as usize] += 1;
                counted += 1;
            }
        }
        Histogram { bins, counted, outliers }
    }

    /// Smallest value v with at least `q` of the counted reads at or below it.
    fn quantile(bins: &[u64], total: u64, q: f64) -> u32 {
        if total == 0 {
            return 0;
        }
        let want = ((total as f64 * q).ceil() as u64).clamp(1, total);
        let mut acc = 0;
        for (v, &c) in bins.iter().enumerate() {
            acc += c;
            if acc >= want {
                return v as u32;
            }
        }
        bins.len().saturating_sub(1) as u32
    }
}

/// Chooses the latency above which a read counts as a spike.
pub(crate) fn calibrate(latencies: impl IntoIterator<Item = u32>, opts: &ThresholdOptions) -> Threshold {
    let outlier_ns = opts.outlier_ns.max(2);
    let h = Histogram::new(latencies, outlier_ns);
    let median = Histogram::quantile(&h.bins, h.counted, 0.5);
    let p99 = Histogram::quantile(&h.bins, h.counted, 0.99);
    let mut dev = vec![0u64; outlier_ns as usize];
    for (v, &c) in h.bins.iter().enumerate() {
        dev[(v as i64 - median as i64).unsigned_abs() as usize] += c;
    }
    let mad = Histogram::quantile(&dev, h.counted, 0.5);
    let sigma = (1.4826 * mad as f64).max(1.0);
    let gap = (opts.k_mad.max(0.0) * sigma).max(opts.min_gap_ns as f64);
    let mad_cut = ((median as f64 + gap).round() as u32).min(outlier_ns);
    let (cut, method) = match opts.fixed_cut_ns {
        Some(c) => (c.min(outlier_ns), CutMethod::Given),
        None => match valley(&h.bins, median as f64 + (3.0 * sigma).max(opts.min_gap_ns as f64 / 2.0), h.counted) {
            Some(v) => (v, CutMethod::Valley),
            None => (mad_cut, CutMethod::Mad),
        },
    };
    Threshold { cut_ns: cut, method, median_ns: median, mad_ns: mad, p99_ns: p99, outlier_ns, counted: h.counted, outliers: h.outliers }
}

/// The deepest 10 ns bin at or after `from_ns` that is followed by a clearly higher bump
/// (at least twice its count, and at least 0.2% of all reads more): the gap between the
/// typical reads and a separate population of slow ones.
fn valley(bins: &[u64], from_ns: f64, total: u64) -> Option<u32> {
    const W: usize = 10;
    let coarse: Vec<u64> = bins.chunks(W).map(|c| c.iter().sum()).collect();
    let start = (from_ns.max(0.0) as usize).div_ceil(W);
    if start + 2 >= coarse.len() {
        return None;
    }
    let min_bump = (total / 500).max(20);
    // suffix_max[i] = highest bin strictly after i
    let mut suffix_max = vec![0u64; coarse.len() + 1];
    for i in (0..coarse.len()).rev() {
        suffix_max[i] = suffix_max[i + 1].max(coarse.get(i + 1).copied().unwrap_or(0));
    }
    let mut best: Option<(u64, usize)> = None;
    let mut running_min = u64::MAX;
    for i in start..coarse.len() - 1 {
        let c = coarse[i];
        running_min = running_min.min(c);
        if c == running_min && suffix_max[i] >= 2 * c + min_bump && best.map_or(true, |(bc, _)| c < bc) {
            best = Some((c, i));
        }
    }
    best.map(|(_, i)| (i * W) as u32)
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PeriodogramOptions {
    pub(crate) min_period_ns: f64,
    pub(crate) max_period_ns: f64,
    /// Spike phases are compared only inside windows this long.
    pub(crate) window_ns: u64,
    /// Grid points per phase cycle of drift across a window (step = P² / (oversample · window)).
    pub(crate) oversample: f64,
    /// Periods always scored and reported (e.g. 1950.8, 3901.6, 7800 ns).
    pub(crate) known_periods_ns: Vec<f64>,
    /// Shuffled copies scored for the chance baseline.
    pub(crate) shuffles: usize,
    pub(crate) seed: u64,
    /// At most about this many spikes enter the periodogram (every k-th window, spread over the
    /// run).
    pub(crate) max_spikes: usize,
    /// Fewer spikes than this and the verdict is NONE without a periodogram.
    pub(crate) min_spikes: usize,
}

impl Default for PeriodogramOptions {
    fn default() -> Self {
        PeriodogramOptions {
            min_period_ns: 500.0,
            max_period_ns: 20_000.0,
            window_ns: 250_000,
            oversample: 8.0,
            known_periods_ns: vec![975.4, 1950.8, 3901.6, 7800.0],
            shuffles: 12,
            seed: 0x5EED_0F5A17,
            max_spikes: 12_000,
            min_spikes: 40,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisOptions {
    pub(crate) threshold: ThresholdOptions,
    pub(crate) periodogram: PeriodogramOptions,
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct PeriodScore {
    pub(crate) period_ns: f64,
    pub(crate) score: f64,
}

/// What the shuffled copies reached: the bar a real period has to clear.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct Baseline {
    pub(crate) shuffles: usize,
    /// Mean over shuffles of each shuffle's best score on the grid.
    pub(crate) mean_max: f64,
    pub(crate) std_max: f64,
    pub(crate) max_max: f64,
    /// Mean score over the grid and shuffles (≈ 0 without sampling artefacts).
    pub(crate) mean_score: f64,
    /// Shuffles whose best score reached the real best score.
    pub(crate) reached_best: usize,
    /// (1 + reached_best) / (1 + shuffles)
    pub(crate) p_value: f64,
    /// (best − mean_max) / std_max
    pub(crate) z: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
pub(crate) enum Verdict {
    /// A period stands far above anything chance reached.
    Periodic,
    /// Something above chance, not clearly.
    Weak,
    /// Nothing above chance.
    None,
    /// Too few spikes to look for a period at all: no periodogram, no chance baseline. For a
    /// flushed-read run that is inconclusive; for the cached-read control it is the clean outcome.
    Insufficient,
}

impl Verdict {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Verdict::Periodic => "PERIODIC",
            Verdict::Weak => "WEAK",
            Verdict::None => "NONE",
            Verdict::Insufficient => "INSUFFICIENT",
        }
    }
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[cfg_attr(test, derive(serde::Deserialize))]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpikeReport {
    pub(crate) samples: usize,
    pub(crate) duration_ns: u64,
    pub(crate) threshold: Threshold,
    /// Reads with cut ≤ latency < outlier.
    pub(crate) spikes: u64,
    /// Spikes that entered the periodogram (capped by `max_spikes`).
    pub(crate) spikes_analysed: usize,
    pub(crate) windows_analysed: usize,
    pub(crate) spike_fraction: f64,
    pub(crate) spikes_per_s: f64,
    /// Median latency of all counted reads.
    pub(crate) typical_ns: u32,
    /// Median latency of the spikes.
    pub(crate) spike_median_ns: u32,
    /// spike_median − typical: how long a stall holds a read up.
    pub(crate) stall_ns: u32,
    pub(crate) periods_scanned: usize,
    /// Highest score on the grid (refined).
    pub(crate) peak: Option<PeriodScore>,
    /// The period the spikes actually repeat with (largest strong multiple of the peak).
    pub(crate) fundamental: Option<PeriodScore>,
    /// Scores at the known periods.
    pub(crate) at_known: Vec<PeriodScore>,
    /// Highest local maxima of the grid, best first, at least 1% apart.
    pub(crate) top: Vec<PeriodScore>,
    pub(crate) baseline: Option<Baseline>,
    pub(crate) verdict: Verdict,
    /// One sentence saying why.
    pub(crate) reason: String,
}

/// Spike times grouped into windows: `spikes[ranges[w].0..ranges[w].1]` are the times (ns from
/// the window start) of window w's spikes; `samples[sample_ranges[w]…]` are all its read times.
struct Windows {
    spikes: Vec<u64>,
    ranges: Vec<(usize, usize)>,
    samples: Vec<u64>,
    sample_ranges: Vec<(usize, usize)>,
}

use crate::refresh::phase::{step as phase_step, Trig};

/// Windowed Rayleigh score of `spikes` at `period` (≈ N(0,1) for random phases), from pairs of
/// spikes further apart than a burst (`near_reach_ns`). Inside a window of n spikes, `|Σ e^{iθ}|² − n` is
/// twice the sum of `cos(θ_i − θ_j)` over its pairs. Pairs closer than that are one burst, not a
/// rhythm: two slow reads d apart fold to nearby phases at every period longer than d, and line up
/// at P ≈ d, so bursts of two (seen in a cached control: docs/refresh-hosts.md, host C) would
/// score "periodic" if their terms were kept. Each window's remaining sum is weighed by
/// its variance under random phases. `spikes` are sorted within each window.
fn score(trig: &Trig, spikes: &[u64], ranges: &[(usize, usize)], near: &Near, period: f64) -> f64 {
    let inv = phase_step(period);
    let (mut sum, mut var) = (0.0, 0.0);
    for &(a, b) in ranges {
        let n = b - a;
        if n < 2 {
            continue;
        }
        let (c, s) = trig.resultant(&spikes[a..b], inv);
        let nf = n as f64;
        sum += (c * c + s * s - nf) / nf;
        var += (nf - 1.0) / nf;
    }
    // The near pairs' terms, from their distance histogram (see `Near`).
    let bins = ((near_reach_ns(period) as usize) / NEAR_BIN_NS).min(near.cos_weight.len());
    for (k, &w) in near.cos_weight[..bins].iter().enumerate() {
        if w != 0.0 {
            let dt = (k * NEAR_BIN_NS + NEAR_BIN_NS / 2) as u64;
            sum -= 2.0 * w * trig.at(dt.wrapping_mul(inv)).0;
        }
    }
    var -= if bins == 0 { 0.0 } else { near.var_below[bins - 1] };
    if var <= 1e-9 {
        0.0
    } else {
        sum / var.sqrt()
    }
}

/// Pairs of spikes in one window closer than a burst's reach at the longest period, as a histogram
/// of their distance in `NEAR_BIN_NS` bins: `cos_weight[k]` is Σ 1/n over the pairs in bin k (n:
/// the spikes of the pair's window), `var_below[k]` the running sum of 2/n² over bins 0..=k. One
/// pass over the pairs per set of spikes; each period then costs one term per bin below its reach,
/// however many spikes there are.
struct Near {
    cos_weight: Vec<f64>,
    var_below: Vec<f64>,
}

impl Near {
    /// `spikes` sorted within each window.
    fn of(spikes: &[u64], ranges: &[(usize, usize)], max_period_ns: f64) -> Near {
        let reach = near_reach_ns(max_period_ns);
        let bins = reach as usize / NEAR_BIN_NS + 1;
        let (mut cos_weight, mut var) = (vec![0.0; bins], vec![0.0; bins]);
        for &(a, b) in ranges {
            let w = &spikes[a..b];
            let nf = w.len() as f64;
            for (i, &t) in w.iter().enumerate() {
                for &u in &w[i + 1..] {
                    let dt = u - t;
                    if dt >= reach {
                        break;
                    }
                    let k = dt as usize / NEAR_BIN_NS;
                    cos_weight[k] += 1.0 / nf;
                    var[k] += 2.0 / (nf * nf);
                }
            }
        }
        let mut acc = 0.0;
        let var_below = var
            .into_iter()
            .map(|v| {
                acc += v;
                acc
            })
            .collect();
        Near { cos_weight, var_below }
    }
}

/// Width of a bin of `Near`'s distance histogram: 2 ns off moves the phase of a 500 ns period by
/// 0.4% of a cycle.
const NEAR_BIN_NS: usize = 4;

/// Spikes closer than this many periods count as one burst in `score`: a real period shows in pairs
/// many cycles apart (a 250 µs window holds 12–500 cycles of 0.5–20 µs), a burst only in pairs
/// within a cycle or two.
const NEAR_CYCLES: f64 = 2.5;

/// Longest burst `score` leaves out, whatever the period (the bursts seen last about 1 µs). It
/// bounds the pair histogram, and with it the bins each period's score walks (2.5 periods of 20 µs
/// would be 12 500 bins).
const NEAR_MAX_NS: f64 = 5_000.0;

/// How close two spikes are to count as one burst at `period`.
fn near_reach_ns(period: f64) -> u64 {
    (period * NEAR_CYCLES).clamp(0.0, NEAR_MAX_NS) as u64
}

/// Candidate periods: geometric steps fine enough that the phase at a window's end moves by at
/// most 1/oversample of a cycle between neighbours (capped at 1%), plus the known periods.
pub(crate) fn period_grid(opts: &PeriodogramOptions) -> Vec<f64> {
    let lo = opts.min_period_ns.max(1.0);
    let hi = opts.max_period_ns.max(lo);
    let win = (opts.window_ns as f64).max(hi);
    let over = opts.oversample.max(1.0);
    let mut grid = Vec::new();
    let mut p = lo;
    while p <= hi && grid.len() < 200_000 {
        grid.push(p);
        p *= 1.0 + (p / (over * win)).min(0.01);
    }
    grid.extend(opts.known_periods_ns.iter().copied().filter(|k| (lo..=hi).contains(k)));
    grid.sort_by(f64::total_cmp);
    grid.dedup();
    grid
}

/// Cuts the samples into windows. When there are more than `max_spikes` spikes, every k-th window
/// is kept (spread over the whole run, not just its start) so the total stays under the cap.
fn windows(samples: &[Sample], th: &Threshold, window_ns: u64, max_spikes: usize) -> Windows {
    let mut w = Windows { spikes: Vec::new(), ranges: Vec::new(), samples: Vec::new(), sample_ranges: Vec::new() };
    let Some(first) = samples.first() else { return w };
    let window_ns = window_ns.max(1);
    let t0 = first.t_ns;
    let is_spike = |s: &Sample| s.latency_ns >= th.cut_ns && s.latency_ns < th.outlier_ns;
    let total = samples.iter().filter(|s| is_spike(s)).count();
    let stride = total.div_ceil(max_spikes.max(1)).max(1) as u64;
    let mut current = u64::MAX;
    let mut start = 0u64;
    let mut keep = false;
    for s in samples {
        let k = (s.t_ns - t0) / window_ns;
        if k != current {
            current = k;
            keep = k % stride == 0 && w.spikes.len() < max_spikes;
            if keep {
                start = t0 + k * window_ns;
                w.ranges.push((w.spikes.len(), w.spikes.len()));
                w.sample_ranges.push((w.samples.len(), w.samples.len()));
            }
        }
        if !keep || s.latency_ns >= th.outlier_ns {
            continue;
        }
        let rel = s.t_ns - start;
        w.samples.push(rel);
        w.sample_ranges.last_mut().expect("pushed when the window was kept").1 = w.samples.len();
        if is_spike(s) {
            w.spikes.push(rel);
            w.ranges.last_mut().expect("pushed when the window was kept").1 = w.spikes.len();
        }
    }
    w
}

/// The same number of spikes per window, placed at randomly chosen read times of that window.
fn shuffled(w: &Windows, rng: &mut SplitMix64, scratch: &mut Vec<u64>) -> Vec<u64> {
    let mut out = Vec::with_capacity(w.spikes.len());
    for (&(a, b), &(sa, sb)) in w.ranges.iter().zip(&w.sample_ranges) {
        let n = b - a;
        scratch.clear();
        scratch.extend_from_slice(&w.samples[sa..sb]);
        // Partial Fisher–Yates: the first n entries become a uniform random subset.
        let m = scratch.len();
        for i in 0..n.min(m) {
            let j = i + rng.below((m - i) as u64) as usize;
            scratch.swap(i, j);
        }
        // Sorted, as the real spikes of a window are (`score` scans pairs in time order).
        scratch[..n.min(m)].sort_unstable();
        out.extend_from_slice(&scratch[..n.min(m)]);
    }
    out
}

fn median_of_range(bins: &[u64], from: u32) -> u32 {
    let tail = &bins[(from as usize).min(bins.len())..];
    let total: u64 = tail.iter().sum();
    from + Histogram::quantile(tail, total, 0.5)
}

/// Runs the whole analysis. Samples need not be sorted (a sorted copy is made if they are not).
pub(crate) fn analyse(samples: &[Sample], opts: &AnalysisOptions) -> SpikeReport {
    let sorted_copy;
    let samples = if samples.windows(2).all(|p| p[0].t_ns <= p[1].t_ns) {
        samples
    } else {
        let mut v = samples.to_vec();
        v.sort_by_key(|s| s.t_ns);
        sorted_copy = v;
        &sorted_copy[..]
    };
    let th = calibrate(samples.iter().map(|s| s.latency_ns), &opts.threshold);
    let h = Histogram::new(samples.iter().map(|s| s.latency_ns), th.outlier_ns);
    let first = analyse_at(samples, &h, th.clone(), opts);
    if first.verdict == Verdict::Periodic || opts.threshold.fixed_cut_ns.is_some() {
        return first;
    }
    // The calibrated cut shows no period: lower cuts (step 5 of the module's doc), each read as a
    // tail share so the ladder means the same on any latency scale.
    let floor = th.median_ns.saturating_add(opts.threshold.min_gap_ns);
    let mut above = th.cut_ns;
    for share in LOWER_CUT_SHARES {
        let cut = Histogram::quantile(&h.bins, h.counted, 1.0 - share);
        if cut >= above || cut < floor {
            continue;
        }
        above = cut;
        let mut r = analyse_at(samples, &h, Threshold { cut_ns: cut, method: CutMethod::Lowered, ..th.clone() }, opts);
        if r.verdict == Verdict::Periodic {
            r.reason = format!(
                "{} (at {cut} ns, {:.1}% of reads: the calibrated cut of {} ns showed no period)",
                r.reason,
                share * 100.0,
                th.cut_ns
            );
            return r;
        }
    }
    let mut r = first;
    if above < th.cut_ns {
        r.reason = format!("{}; lower cuts down to {above} ns showed no period either", r.reason);
    }
    r
}

/// Tail shares at which `analyse` tries lower cuts, from the highest cut down: at most five more
/// periodograms, each against its own chance baseline (so a false "periodic" is at most about five
/// times as likely as with one cut, against bars set at six standard deviations of chance).
const LOWER_CUT_SHARES: [f64; 5] = [0.001, 0.003, 0.01, 0.03, 0.1];

/// `analyse` at one cut: the spikes over `th`'s cut in time-sorted `samples` (`h` their histogram).
fn analyse_at(samples: &[Sample], h: &Histogram, th: Threshold, opts: &AnalysisOptions) -> SpikeReport {
    let duration_ns = match (samples.first(), samples.last()) {
        (Some(a), Some(b)) => b.t_ns - a.t_ns,
        _ => 0,
    };
    let spikes: u64 = h.bins[(th.cut_ns as usize).min(h.bins.len())..].iter().sum();
    let spike_median = if spikes > 0 { median_of_range(&h.bins, th.cut_ns) } else { 0 };
    let po = &opts.periodogram;
    let mut report = SpikeReport {
        samples: samples.len(),
        duration_ns,
        spikes,
        spikes_analysed: 0,
        windows_analysed: 0,
        spike_fraction: if th.counted > 0 { spikes as f64 / th.counted as f64 } else { 0.0 },
        spikes_per_s: if duration_ns > 0 { spikes as f64 * 1e9 / duration_ns as f64 } else { 0.0 },
        typical_ns: th.median_ns,
        spike_median_ns: spike_median,
        stall_ns: spike_median.saturating_sub(th.median_ns),
        periods_scanned: 0,
        peak: None,
        fundamental: None,
        at_known: Vec::new(),
        top: Vec::new(),
        baseline: None,
        verdict: Verdict::None,
        reason: String::new(),
        threshold: th,
    };
    if (spikes as usize) < po.min_spikes.max(2) {
        report.reason = format!(
            "only {spikes} reads between the cut ({} ns) and the outlier bound ({} ns); need at least {} to look for a period",
            report.threshold.cut_ns,
            report.threshold.outlier_ns,
            po.min_spikes.max(2)
        );
        report.verdict = Verdict::Insufficient;
        return report;
    }
    let w = windows(samples, &report.threshold, po.window_ns, po.max_spikes.max(2));
    report.spikes_analysed = w.spikes.len();
    report.windows_analysed = w.ranges.len();
    let grid = period_grid(po);
    report.periods_scanned = grid.len();
    let trig = Trig::new();
    let near = Near::of(&w.spikes, &w.ranges, po.max_period_ns);
    let scores: Vec<f64> = grid.iter().map(|&p| score(&trig, &w.spikes, &w.ranges, &near, p)).collect();
    let Some(best_i) = (0..grid.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])) else {
        report.reason = "the period range is empty".into();
        return report;
    };
    let refine = |p: f64| -> PeriodScore {
        let step = (p / (po.oversample.max(1.0) * po.window_ns.max(1) as f64)).min(0.01);
        (-40..=40)
            .map(|k| p * (1.0 + step * k as f64 / 20.0))
            .map(|q| PeriodScore { period_ns: q, score: score(&trig, &w.spikes, &w.ranges, &near, q) })
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .expect("81 candidates")
    };
    let peak = refine(grid[best_i]);

    // Chance baseline: the whole grid, scored on shuffled spike times.
    let mut rng = SplitMix64::new(po.seed);
    let mut scratch = Vec::new();
    let mut maxima = Vec::with_capacity(po.shuffles);
    let mut score_sum = 0.0;
    for _ in 0..po.shuffles {
        let fake = shuffled(&w, &mut rng, &mut scratch);
        let fake_near = Near::of(&fake, &w.ranges, po.max_period_ns);
        let mut max = f64::NEG_INFINITY;
        for &p in &grid {
            let s = score(&trig, &fake, &w.ranges, &fake_near, p);
            score_sum += s;
            max = max.max(s);
        }
        maxima.push(max);
    }
    let baseline = (!maxima.is_empty()).then(|| {
        let n = maxima.len() as f64;
        let mean = maxima.iter().sum::<f64>() / n;
        let std = (maxima.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0)).sqrt();
        let reached = maxima.iter().filter(|&&m| m >= peak.score).count();
        Baseline {
            shuffles: maxima.len(),
            mean_max: mean,
            std_max: std,
            max_max: maxima.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            mean_score: score_sum / (n * grid.len() as f64),
            reached_best: reached,
            p_value: (1 + reached) as f64 / (1.0 + n),
            z: (peak.score - mean) / std.max(1e-9),
        }
    });
    // What a score must reach to count as real: well above the shuffles' best.
    let (strong_bar, weak_bar) = match &baseline {
        Some(b) => (b.mean_max + (6.0 * b.std_max).max(4.0), b.mean_max + (3.0 * b.std_max).max(2.0)),
        None => (8.0, 5.0),
    };
    let beats_all = baseline.as_ref().map_or(true, |b| peak.score > b.max_max);

    // Fundamental: the largest multiple of the peak that still has a strong peak of its own.
    let mut fundamental = peak;
    let mut note = None;
    if peak.score >= weak_bar {
        for m in (2..=32u32).rev() {
            let target = peak.period_ns * m as f64;
            if target > po.max_period_ns * 1.01 {
                continue;
            }
            let near = grid.iter().zip(&scores).filter(|(&p, _)| (p - target).abs() <= 0.01 * target).max_by(|a, b| a.1.total_cmp(b.1));
            if let Some((&p, &s)) = near {
                if s >= 0.5 * peak.score && s >= weak_bar {
                    fundamental = refine(p);
                    note = Some(format!(
                        "the highest peak is at {:.1} ns, which is the {m}th harmonic of {:.1} ns",
                        peak.period_ns, fundamental.period_ns
                    ));
                    break;
                }
            }
        }
    }

    report.at_known = po
        .known_periods_ns
        .iter()
        .filter(|k| (po.min_period_ns..=po.max_period_ns).contains(*k))
        .map(|&k| PeriodScore { period_ns: k, score: score(&trig, &w.spikes, &w.ranges, &near, k) })
        .collect();
    report.top = top_peaks(&grid, &scores, 5);
    report.peak = Some(peak);
    report.fundamental = Some(fundamental);
    let vs = match &baseline {
        Some(b) => {
            format!("chance (best of {} shuffles) reached {:.1} ± {:.1}, at most {:.1}", b.shuffles, b.mean_max, b.std_max, b.max_max)
        }
        None => "no shuffles were run".into(),
    };
    report.verdict = if peak.score >= strong_bar && beats_all {
        Verdict::Periodic
    } else if peak.score >= weak_bar {
        Verdict::Weak
    } else {
        Verdict::None
    };
    report.reason = match report.verdict {
        Verdict::Periodic => format!(
            "spikes repeat every {:.1} ns: score {:.1} where {vs}{}",
            fundamental.period_ns,
            fundamental.score.max(peak.score),
            note.map(|n| format!(" ({n})")).unwrap_or_default()
        ),
        Verdict::Weak => {
            format!("a period near {:.1} ns scores {:.1}, above chance but not clearly: {vs}", fundamental.period_ns, peak.score)
        }
        Verdict::None | Verdict::Insufficient => {
            format!("no period scores above chance: best {:.1} at {:.1} ns, {vs}", peak.score, peak.period_ns)
        }
    };
    report.baseline = baseline;
    report
}

/// The `n` highest local maxima of `scores`, at least 1% apart in period.
fn top_peaks(grid: &[f64], scores: &[f64], n: usize) -> Vec<PeriodScore> {
    let mut maxima: Vec<PeriodScore> = (0..grid.len())
        .filter(|&i| (i == 0 || scores[i] >= scores[i - 1]) && (i + 1 == grid.len() || scores[i] >= scores[i + 1]))
        .map(|i| PeriodScore { period_ns: grid[i], score: scores[i] })
        .collect();
    maxima.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out: Vec<PeriodScore> = Vec::new();
    for m in maxima {
        if out.iter().all(|o| (o.period_ns - m.period_ns).abs() > 0.01 * o.period_ns) {
            out.push(m);
            if out.len() == n {
                break;
            }
        }
    }
    out
}

impl fmt::Display for SpikeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let th = &self.threshold;
        writeln!(f, "verdict: {} — {}", self.verdict.name(), self.reason)?;
        writeln!(
            f,
            "reads: {} over {:.3} s; typical {} ns (MAD {} ns, p99 {} ns); cut {} ns ({:?}); {} hypervisor/interrupt outliers ≥ {} ns",
            self.samples,
            self.duration_ns as f64 / 1e9,
            th.median_ns,
            th.mad_ns,
            th.p99_ns,
            th.cut_ns,
            th.method,
            th.outliers,
            th.outlier_ns
        )?;
        write!(
            f,
            "spikes: {} ({:.2}% of reads, {:.0}/s); stall ≈ +{} ns (spike median {} ns)",
            self.spikes,
            100.0 * self.spike_fraction,
            self.spikes_per_s,
            self.stall_ns,
            self.spike_median_ns
        )?;
        if let Some(p) = self.peak {
            write!(
                f,
                "\nperiodogram: {} periods, {} spikes in {} windows; peak {:.1} ns (score {:.1})",
                self.periods_scanned, self.spikes_analysed, self.windows_analysed, p.period_ns, p.score
            )?;
            if let Some(fu) = self.fundamental {
                write!(f, "; fundamental {:.1} ns (score {:.1})", fu.period_ns, fu.score)?;
            }
        }
        if let Some(b) = &self.baseline {
            write!(
                f,
                "\nchance baseline: {} shuffles, best per shuffle {:.2} ± {:.2} (max {:.2}, grid mean {:.2}); z {:.1}, p ≤ {:.3}",
                b.shuffles, b.mean_max, b.std_max, b.max_max, b.mean_score, b.z, b.p_value
            )?;
        }
        if !self.at_known.is_empty() {
            write!(f, "\nat known periods:")?;
            for k in &self.at_known {
                write!(f, " {:.1} ns → {:.1};", k.period_ns, k.score)?;
            }
        }
        if !self.top.is_empty() {
            write!(f, "\ntop peaks:")?;
            for k in &self.top {
                write!(f, " {:.1} ns ({:.1});", k.period_ns, k.score)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod synth {
    //! Synthetic read traces shaped like the measured machine: a read every ~390 ns taking
    //! ~140 ns, a stall that adds up to ~350 ns when a read lands in it, rare hypervisor pauses.
    use super::*;

    pub(crate) struct Trace {
        pub(crate) duration_ns: u64,
        /// Stall period; None = no stalls, slow reads at random instead.
        pub(crate) period_ns: Option<f64>,
        /// Stall length within each period.
        pub(crate) stall_ns: f64,
        /// Per-stall timing jitter (σ, ns).
        pub(crate) jitter_ns: f64,
        /// Fraction of reads slow at random (noise spikes).
        pub(crate) noise_fraction: f64,
        /// The phase jumps by a random amount every this many ns (0 = never).
        pub(crate) jump_every_ns: u64,
        /// A second group of stalls half a period later (as random lines see).
        pub(crate) two_groups: bool,
        /// Spread (σ, ns) of an ordinary read around its typical 140 ns.
        pub(crate) body_sd_ns: f64,
        pub(crate) seed: u64,
    }

    impl Default for Trace {
        fn default() -> Self {
            Trace {
                duration_ns: 60_000_000,
                period_ns: Some(1950.8),
                stall_ns: 300.0,
                jitter_ns: 30.0,
                noise_fraction: 0.01,
                jump_every_ns: 20_000_000,
                two_groups: false,
                body_sd_ns: 8.0,
                seed: 1,
            }
        }
    }

    impl Trace {
        pub(crate) fn samples(&self) -> Vec<Sample> {
            let mut rng = SplitMix64::new(self.seed);
            let mut out = Vec::new();
            let mut t = 1_000_000u64;
            let mut phase = 0.0f64;
            let mut next_jump = self.jump_every_ns;
            // Jitter is per stall: keep one offset per period index.
            let mut cycle = i64::MIN;
            let mut cycle_jitter = 0.0;
            while t < self.duration_ns {
                if self.jump_every_ns > 0 && t >= next_jump {
                    phase = rng.next_f64() * 1000.0;
                    next_jump += self.jump_every_ns;
                }
                let mut lat = 140.0 + self.body_sd_ns * rng.gaussian();
                if let Some(p) = self.period_ns {
                    let x = (t as f64 + phase) / p;
                    let k = x.floor() as i64;
                    if k != cycle {
                        cycle = k;
                        cycle_jitter = self.jitter_ns * rng.gaussian();
                    }
                    let pos = (x - x.floor()) * p - cycle_jitter;
                    let pos = pos.rem_euclid(p);
                    let in_stall = |pos: f64| pos < self.stall_ns;
                    let other = (pos + p / 2.0).rem_euclid(p);
                    if in_stall(pos) {
                        lat += self.stall_ns - pos;
                    } else if self.two_groups && rng.next_f64() < 0.5 && in_stall(other) {
                        lat += self.stall_ns - other;
                    }
                }
                if rng.next_f64() < self.noise_fraction {
                    lat += 150.0 + 250.0 * rng.next_f64();
                }
                if rng.next_f64() < 0.0005 {
                    lat = 5000.0 + 20_000.0 * rng.next_f64();
                }
                let lat = lat.max(1.0) as u32;
                out.push(Sample { t_ns: t, latency_ns: lat });
                t += lat as u64 + 200 + rng.below(100);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::synth::Trace;
    use super::*;

    fn opts() -> AnalysisOptions {
        AnalysisOptions { periodogram: PeriodogramOptions { shuffles: 6, max_spikes: 1500, ..Default::default() }, ..Default::default() }
    }

    fn assert_period(r: &SpikeReport, want: f64) {
        let f = r.fundamental.expect("a fundamental");
        assert!((f.period_ns - want).abs() <= 0.02 * want, "want {want}, got {}\n{r}", f.period_ns);
    }

    #[test]
    fn cut_sits_above_typical_reads_and_ignores_hypervisor_pauses() {
        let mut lat: Vec<u32> = (0..10_000).map(|i| 140 + (i % 20)).collect();
        lat.extend([5000u32; 50]);
        let th = calibrate(lat.iter().copied(), &ThresholdOptions::default());
        assert_eq!(th.outliers, 50);
        assert_eq!(th.counted, 10_000);
        assert!((148..=150).contains(&th.median_ns), "{th:?}");
        assert!(th.cut_ns >= th.median_ns + 80 && th.cut_ns < 1000, "{th:?}");
        assert_eq!(th.method, CutMethod::Mad);
    }

    #[test]
    fn cut_falls_in_the_valley_before_a_second_mode() {
        let mut lat: Vec<u32> = (0..10_000).map(|i| 140 + (i % 20)).collect();
        lat.extend((0..2_000).map(|i| 400 + (i % 40)));
        let th = calibrate(lat, &ThresholdOptions::default());
        assert_eq!(th.method, CutMethod::Valley);
        assert!(th.cut_ns > 160 && th.cut_ns <= 400, "{th:?}");
    }

    #[test]
    fn empty_and_degenerate_inputs_are_insufficient_not_a_panic() {
        let r = analyse(&[], &opts());
        assert_eq!(r.verdict, Verdict::Insufficient);
        assert!(r.baseline.is_none() && r.reason.contains("need at least"), "{r}");
        let flat: Vec<Sample> = (0..1000).map(|i| Sample { t_ns: i * 300, latency_ns: 30 }).collect();
        let r = analyse(&flat, &opts());
        assert_eq!(r.verdict, Verdict::Insufficient);
        assert_eq!(r.spikes, 0);
        let all_outliers: Vec<Sample> = (0..100).map(|i| Sample { t_ns: i, latency_ns: u32::MAX }).collect();
        assert_eq!(analyse(&all_outliers, &opts()).verdict, Verdict::Insufficient);
        let bad = AnalysisOptions {
            threshold: ThresholdOptions { outlier_ns: 0, k_mad: -1.0, ..Default::default() },
            periodogram: PeriodogramOptions {
                min_period_ns: 5.0,
                max_period_ns: 1.0,
                window_ns: 0,
                oversample: 0.0,
                shuffles: 0,
                ..Default::default()
            },
        };
        let _ = analyse(&Trace::default().samples()[..5000], &bad);
    }

    #[test]
    fn fixed_line_stalls_every_1950_ns_are_periodic_at_1950() {
        let r = analyse(&Trace::default().samples(), &opts());
        assert_eq!(r.verdict, Verdict::Periodic, "{r}");
        assert_period(&r, 1950.8);
        assert!(r.stall_ns > 50, "{r}");
        assert!(r.threshold.outliers > 0);
    }

    #[test]
    fn stalls_every_7800_ns_with_jitter_are_periodic_at_7800() {
        let t =
            Trace { period_ns: Some(7800.0), stall_ns: 400.0, jitter_ns: 60.0, seed: 2, duration_ns: 100_000_000, ..Default::default() };
        let r = analyse(&t.samples(), &opts());
        assert_eq!(r.verdict, Verdict::Periodic, "{r}");
        assert_period(&r, 7800.0);
    }

    #[test]
    fn two_groups_half_a_period_apart_show_the_half_period() {
        let t = Trace { two_groups: true, seed: 3, ..Default::default() };
        let r = analyse(&t.samples(), &opts());
        assert_eq!(r.verdict, Verdict::Periodic, "{r}");
        assert_period(&r, 975.4);
    }

    #[test]
    fn stalls_inside_a_wide_tail_are_found_below_the_calibrated_cut() {
        // Shaped like host A on 2026-12-07: reads spread widely around the typical one, and stalls
        // that add only 100-150 ns, so the calibrated cut (median + 6σ) sits above nearly all of
        // them and sees no period; a lower cut does.
        for seed in 40..43 {
            let t = Trace { stall_ns: 150.0, body_sd_ns: 35.0, seed, duration_ns: 150_000_000, ..Default::default() };
            let s = t.samples();
            let calibrated = AnalysisOptions {
                threshold: ThresholdOptions {
                    fixed_cut_ns: Some(calibrate(s.iter().map(|x| x.latency_ns), &ThresholdOptions::default()).cut_ns),
                    ..Default::default()
                },
                ..opts()
            };
            assert_ne!(analyse(&s, &calibrated).verdict, Verdict::Periodic, "seed {seed}: the calibrated cut alone should not see it");
            let r = analyse(&s, &opts());
            assert_eq!(r.verdict, Verdict::Periodic, "seed {seed}: {r}");
            assert_eq!(r.threshold.method, CutMethod::Lowered, "seed {seed}: {r}");
            assert!(r.reason.contains("showed no period"), "{r}");
            assert_period(&r, 1950.8);
        }
    }

    #[test]
    fn a_wide_tail_without_stalls_is_not_a_period_at_any_cut() {
        for seed in 44..46 {
            let t = Trace { period_ns: None, body_sd_ns: 35.0, noise_fraction: 0.03, seed, duration_ns: 60_000_000, ..Default::default() };
            let r = analyse(&t.samples(), &opts());
            assert_ne!(r.verdict, Verdict::Periodic, "seed {seed}: {r}");
            assert!(r.reason.contains("lower cuts down to"), "seed {seed}: {r}");
        }
    }

    #[test]
    fn random_slow_reads_are_not_a_period() {
        for seed in 10..12 {
            let t = Trace { period_ns: None, noise_fraction: 0.03, seed, duration_ns: 40_000_000, ..Default::default() };
            let r = analyse(&t.samples(), &opts());
            assert_eq!(r.verdict, Verdict::None, "seed {seed}: {r}");
            assert!(r.spikes > 100);
        }
    }

    #[test]
    fn a_regular_sampling_loop_alone_is_not_a_period() {
        // Reads exactly every 400 ns with random slow ones: the loop's own rhythm shows in the
        // raw periodogram, and the shuffled baseline must absorb it.
        let mut rng = SplitMix64::new(5);
        let s: Vec<Sample> =
            (0..150_000u64).map(|i| Sample { t_ns: i * 400, latency_ns: if rng.next_f64() < 0.03 { 400 } else { 140 } }).collect();
        let r = analyse(&s, &opts());
        assert_ne!(r.verdict, Verdict::Periodic, "{r}");
    }

    #[test]
    fn slow_reads_in_pairs_at_random_times_are_not_a_period() {
        // Shaped like host C's cached control (docs/refresh-hosts.md): an L1-hit loop paced at
        // 260 ns whose only slow reads come in pairs 0.65–1.05 µs apart, a pair every few ms. Two close spikes fold to
        // nearby phases at every longer period, so before pairs within a burst's reach
        // (`near_reach_ns`) were left out, such pairs scored "periodic" near the grid's longest
        // periods.
        for seed in 20..24 {
            let mut rng = SplitMix64::new(seed);
            let mut s: Vec<Sample> = (0..2_300_000u64).map(|i| Sample { t_ns: i * 260, latency_ns: 16 }).collect();
            for _ in 0..90 {
                let at = rng.below(s.len() as u64 - 8) as usize;
                s[at].latency_ns = 250 + rng.below(150) as u32;
                s[at + 3 + rng.below(2) as usize].latency_ns = 120 + rng.below(200) as u32;
            }
            let r = analyse(&s, &opts());
            assert_ne!(r.verdict, Verdict::Periodic, "seed {seed}: {r}");
        }
    }

    #[test]
    fn unsorted_input_gives_the_same_report() {
        let s = Trace { duration_ns: 20_000_000, ..Default::default() }.samples();
        let mut rev = s.clone();
        rev.reverse();
        let mut o = opts();
        o.periodogram.max_spikes = 400;
        o.periodogram.shuffles = 3;
        assert_eq!(analyse(&s, &o), analyse(&rev, &o));
    }

    #[test]
    fn grid_includes_known_periods_and_is_fine_at_short_periods() {
        let o = PeriodogramOptions::default();
        let g = period_grid(&o);
        for k in [1950.8, 3901.6, 7800.0] {
            assert!(g.contains(&k));
        }
        assert!(g.windows(2).all(|w| w[1] > w[0]));
        assert!(g[1] / g[0] - 1.0 < 0.001);
        assert!(*g.last().unwrap() <= 20_000.0);
    }
}
