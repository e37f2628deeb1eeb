//! Refresh phases by timing alone: where in the refresh period one line stalls relative to
//! another line read in the same window, lines grouped by phase on the circle, and which address
//! bit flips move a line into another group.
//!
//! Pure functions over samples; no clocks, no memory. Phases are in cycles, in [0, 1).
//!
//! A line's phase in one short sub-window is the first Fourier coefficient of its excess latency
//! folded at the period (fitted as w ≈ a + Re(R̄·e^{2πi·t/P}), w = latency above typical, clipped). Two
//! lines read in the same sub-window share the refresh clock, so R_line·conj(R_ref) points at
//! their phase difference; summing those products over sub-windows adds the evidence up while
//! the common phase is free to wander or jump between sub-windows (as it does once a second).

use std::f64::consts::TAU;

use super::spikes::Sample;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseOptions {
    pub period_ns: f64,
    /// Sub-window length: short enough that a small period error cannot smear the phase inside
    /// one (≤ ~0.05 cycle drift), long enough to hold a few stalls of every line.
    pub subwindow_ns: u64,
    /// Typical (unstalled) latency; excess is measured from here.
    pub typical_ns: u32,
    /// Reads this slow or slower are hypervisor pauses and are ignored.
    pub outlier_ns: u32,
    /// Excess latency is clipped to this.
    pub max_excess_ns: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelativePhase {
    /// Phase of the line minus phase of the reference, in cycles, in [0, 1).
    pub cycles: f64,
    /// |Σ products| / Σ |products|: 1 = every sub-window agrees, ~1/√subwindows = noise.
    pub coherence: f64,
    /// Sub-windows in which both lines were read.
    pub subwindows: usize,
}

impl RelativePhase {
    /// Coherence at least `min` and at least 3/√subwindows (3σ above what noise gives).
    pub fn is_clear(&self, min: f64) -> bool {
        self.subwindows >= 4 && self.coherence >= min && self.coherence * (self.subwindows as f64).sqrt() >= 3.0
    }
}

/// Sums for a least-squares fit w ≈ a + b·cos θ + c·sin θ over one sub-window's reads. A fit
/// rather than a plain Σ w·e^{iθ} because a line read interleaved with others is not sampled evenly over the
/// phase circle (its reads come at the loop's rhythm), which would bias a plain sum.
#[derive(Clone, Copy, Default)]
struct Acc {
    n: f64,
    c: f64,
    s: f64,
    cc: f64,
    ss: f64,
    cs: f64,
    w: f64,
    wc: f64,
    ws: f64,
}

impl Acc {
    fn add(&mut self, w: f64, theta: f64) {
        let (sn, cs) = theta.sin_cos();
        self.n += 1.0;
        self.c += cs;
        self.s += sn;
        self.cc += cs * cs;
        self.ss += sn * sn;
        self.cs += cs * sn;
        self.w += w;
        self.wc += w * cs;
        self.ws += w * sn;
    }

    /// The fitted first harmonic (b, c), scaled by n/2 so that a sub-window with more reads
    /// weighs more (for even sampling this equals Σ (w − w̄)·e^{iθ}). None when the reads cover
    /// too little of the circle to fit.
    fn phasor(&self) -> Option<(f64, f64)> {
        if self.n < 4.0 {
            return None;
        }
        let m = [[self.n, self.c, self.s], [self.c, self.cc, self.cs], [self.s, self.cs, self.ss]];
        let det3 = |m: &[[f64; 3]; 3]| {
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        };
        let d = det3(&m);
        // For even sampling det = n³/4; far below that the fit is ill-conditioned.
        if d.is_nan() || d <= 1e-3 * self.n.powi(3) {
            return None;
        }
        let rhs = [self.w, self.wc, self.ws];
        let with_col = |k: usize| {
            let mut x = m;
            for (row, r) in x.iter_mut().zip(rhs) {
                row[k] = r;
            }
            det3(&x)
        };
        // Cramer's rule for the two harmonic coefficients.
        let (b, c) = (with_col(1) / d, with_col(2) / d);
        Some((b * self.n / 2.0, c * self.n / 2.0))
    }
}

/// (sub-window index, accumulated phasor) in ascending index order.
fn phasors(samples: &[Sample], o: &PhaseOptions) -> Vec<(u64, (f64, f64))> {
    let mut sorted;
    let samples = if samples.windows(2).all(|p| p[0].t_ns <= p[1].t_ns) {
        samples
    } else {
        sorted = samples.to_vec();
        sorted.sort_by_key(|s| s.t_ns);
        &sorted[..]
    };
    let sub = o.subwindow_ns.max(1);
    let inv = 1.0 / o.period_ns;
    let mut out: Vec<(u64, Acc)> = Vec::new();
    for s in samples {
        if s.latency_ns >= o.outlier_ns {
            continue;
        }
        let k = s.t_ns / sub;
        if out.last().map_or(true, |(last, _)| *last != k) {
            out.push((k, Acc::default()));
        }
        let w = s.latency_ns.saturating_sub(o.typical_ns).min(o.max_excess_ns) as f64;
        let x = s.t_ns as f64 * inv;
        out.last_mut().expect("pushed above").1.add(w, TAU * (x - x.floor()));
    }
    out.into_iter().filter_map(|(k, a)| a.phasor().map(|p| (k, p))).collect()
}

/// Phase of `line` relative to `reference`, both read interleaved over the same time span.
/// None when the period is not a positive finite number or the two never share a sub-window.
pub fn relative_phase(line: &[Sample], reference: &[Sample], o: &PhaseOptions) -> Option<RelativePhase> {
    if !(o.period_ns.is_finite() && o.period_ns > 0.0) {
        return None;
    }
    let a = phasors(line, o);
    let b = phasors(reference, o);
    let (mut re, mut im, mut norm, mut shared) = (0.0, 0.0, 0.0, 0usize);
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let ((p, q), (r, s)) = (a[i].1, b[j].1);
                // (p + iq)·(r − is)
                re += p * r + q * s;
                im += q * r - p * s;
                norm += p.hypot(q) * r.hypot(s);
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    if shared == 0 || norm == 0.0 {
        return None;
    }
    Some(RelativePhase { cycles: crate::refresh::phase::angle_cycles(re, im), coherence: re.hypot(im) / norm, subwindows: shared })
}

pub use crate::refresh::phase::{circular_distance, circular_mean, wrap};

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Clusters {
    /// Group of each input phase (None where the input was None).
    pub labels: Vec<Option<usize>>,
    /// Group centres in cycles; group 0 is the one nearest phase 0 (the reference line), the
    /// rest follow in increasing phase.
    pub centers: Vec<f64>,
    /// Arc each group spans, in cycles.
    pub spans: Vec<f64>,
    /// Every group spans at most `max_span` (false when `max_groups` was not enough).
    pub tight: bool,
}

/// Groups phases on the circle: cuts it at the k largest gaps, for the smallest k (1..=max_groups)
/// that leaves every group spanning at most `max_span` cycles.
pub fn cluster(phases: &[Option<f64>], max_span: f64, max_groups: usize) -> Clusters {
    let mut pts: Vec<(usize, f64)> = phases.iter().enumerate().filter_map(|(i, p)| p.map(|p| (i, wrap(p)))).collect();
    let mut out = Clusters { labels: vec![None; phases.len()], centers: Vec::new(), spans: Vec::new(), tight: true };
    if pts.is_empty() {
        return out;
    }
    pts.sort_by(|a, b| a.1.total_cmp(&b.1));
    let n = pts.len();
    // gap[i] = distance from point i to the next one around the circle.
    let gap: Vec<f64> = (0..n).map(|i| if i + 1 < n { pts[i + 1].1 - pts[i].1 } else { pts[0].1 + 1.0 - pts[i].1 }).collect();
    let mut by_size: Vec<usize> = (0..n).collect();
    by_size.sort_by(|&a, &b| gap[b].total_cmp(&gap[a]).then(a.cmp(&b)));
    let max_groups = max_groups.clamp(1, n);
    let mut chosen = Vec::new();
    for k in 1..=max_groups {
        let mut cuts: Vec<usize> = by_size[..k].to_vec();
        cuts.sort_unstable();
        // Group g runs from the point after cut g to cut g+1 (inclusive), around the circle.
        let groups: Vec<Vec<usize>> = (0..k)
            .map(|g| {
                let from = (cuts[g] + 1) % n;
                let to = cuts[(g + 1) % k];
                let len = (to + n - from) % n + 1;
                (0..len).map(|d| (from + d) % n).collect()
            })
            .collect();
        let spans: Vec<f64> = groups.iter().map(|g| g[..g.len() - 1].iter().map(|&i| gap[i]).sum()).collect();
        let tight = spans.iter().all(|&s| s <= max_span);
        chosen = groups.into_iter().zip(spans).collect::<Vec<_>>();
        if tight {
            break;
        }
    }
    out.tight = chosen.iter().all(|(_, s)| *s <= max_span);
    let mut groups: Vec<(f64, f64, Vec<usize>)> = chosen
        .into_iter()
        .map(|(members, span)| {
            let center = circular_mean(members.iter().map(|&i| pts[i].1)).unwrap_or(pts[members[0]].1);
            (center, span, members)
        })
        .collect();
    // Group 0: nearest phase 0; then increasing phase from it.
    let first =
        (0..groups.len()).min_by(|&a, &b| circular_distance(groups[a].0, 0.0).total_cmp(&circular_distance(groups[b].0, 0.0))).unwrap_or(0);
    let c0 = groups[first].0;
    groups.sort_by(|a, b| wrap(a.0 - c0).total_cmp(&wrap(b.0 - c0)));
    for (g, (center, span, members)) in groups.into_iter().enumerate() {
        for i in members {
            out.labels[pts[i].0] = Some(g);
        }
        out.centers.push(center);
        out.spans.push(span);
    }
    out
}

/// A line and its partner at `line ^ (1 << bit)`, by index into the phase/label arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pair {
    pub bit: u32,
    pub line: usize,
    pub partner: usize,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BitResult {
    pub bit: u32,
    /// Pairs where both lines got a clear phase.
    pub pairs: usize,
    /// … of which the partner is in another group.
    pub different: usize,
    pub fraction_different: f64,
    /// Mean circular distance partner↔line, in cycles (0 = same phase, 0.5 = opposite).
    pub mean_distance_cycles: f64,
    /// 1 << bit is below the page size, so the flip is a physical flip too.
    pub within_page: bool,
}

/// Per bit: how often flipping it moves a line to another group.
pub fn bit_results(pairs: &[Pair], labels: &[Option<usize>], phases: &[Option<f64>], page_size: usize) -> Vec<BitResult> {
    let mut bits: Vec<u32> = pairs.iter().map(|p| p.bit).collect();
    bits.sort_unstable();
    bits.dedup();
    bits.into_iter()
        .map(|bit| {
            let (mut n, mut diff, mut dist) = (0usize, 0usize, 0.0);
            for p in pairs.iter().filter(|p| p.bit == bit) {
                let get = |i: usize| (labels.get(i).copied().flatten(), phases.get(i).copied().flatten());
                if let ((Some(la), Some(pa)), (Some(lb), Some(pb))) = (get(p.line), get(p.partner)) {
                    n += 1;
                    diff += (la != lb) as usize;
                    dist += circular_distance(pa, pb);
                }
            }
            BitResult {
                bit,
                pairs: n,
                different: diff,
                fraction_different: if n > 0 { diff as f64 / n as f64 } else { 0.0 },
                mean_distance_cycles: if n > 0 { dist / n as f64 } else { 0.0 },
                within_page: bit < 64 && (1u128 << bit) < page_size as u128,
            }
        })
        .collect()
}

/// The smallest power of two ≥ 64 whose flip always (in at least `min_pairs` pairs, inside one
/// page) lands in another group.
pub fn recommend(bits: &[BitResult], min_pairs: usize) -> Option<usize> {
    bits.iter()
        .filter(|b| b.bit >= 6 && b.bit < usize::BITS && b.within_page && b.pairs >= min_pairs.max(1) && b.different == b.pairs)
        .map(|b| 1usize << b.bit)
        .min()
}

/// A power of two ≥ 256 whose flip never (in at least `min_pairs` pairs, inside one page) moved a
/// line to another group: copies that far apart refresh together. The benchmark's same-group
/// control uses it. Prefers 256 B (the common default) when it qualifies.
pub fn same_group(bits: &[BitResult], min_pairs: usize) -> Option<usize> {
    let never = |b: &&BitResult| b.bit >= 8 && b.bit < usize::BITS && b.within_page && b.pairs >= min_pairs.max(1) && b.different == 0;
    bits.iter().filter(never).map(|b| 1usize << b.bit).min()
}

#[cfg(test)]
pub(crate) mod synth {
    use super::*;
    use crate::rng::SplitMix64;

    /// Interleaved reads (a random line each time) of lines whose stalls sit at the given phases
    /// (cycles) of `period`,
    /// with the common phase jumping every `jump_ns`. Returns one trace per line.
    pub fn interleaved(phases: &[f64], period: f64, duration_ns: u64, jump_ns: u64, seed: u64) -> Vec<Vec<Sample>> {
        let mut rng = SplitMix64::new(seed);
        let mut out = vec![Vec::new(); phases.len()];
        let mut t = 0u64;
        let mut common = 0.0;
        let mut next_jump = jump_ns;
        let stall = 0.18 * period;
        while t < duration_ns && !phases.is_empty() {
            // A random line each read, as the probe does, so no line is sampled in step with the
            // period.
            let l = rng.below(phases.len() as u64) as usize;
            if jump_ns > 0 && t >= next_jump {
                common = rng.next_f64();
                next_jump += jump_ns;
            }
            let pos = wrap(t as f64 / period - phases[l] - common) * period;
            let mut lat = 140.0 + 8.0 * rng.gaussian();
            if pos < stall {
                lat += stall - pos;
            }
            if rng.next_f64() < 0.01 {
                lat += 300.0 * rng.next_f64();
            }
            if rng.next_f64() < 0.0005 {
                lat = 20_000.0;
            }
            out[l].push(Sample { t_ns: t, latency_ns: lat as u32 });
            t += lat as u64 + 200 + rng.below(100);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> PhaseOptions {
        PhaseOptions { period_ns: 1950.8, subwindow_ns: 300_000, typical_ns: 140, outlier_ns: 1000, max_excess_ns: 600 }
    }

    #[test]
    fn relative_phase_recovers_known_offsets_despite_phase_jumps() {
        let truth = [0.0, 0.5, 0.1, 0.75, 0.5];
        let lines = synth::interleaved(&truth, 1950.8, 30_000_000, 7_000_000, 3);
        for (l, &want) in truth.iter().enumerate() {
            let r = relative_phase(&lines[l], &lines[0], &opts()).unwrap();
            assert!(circular_distance(r.cycles, want) < 0.05, "line {l}: want {want}, got {r:?}");
            assert!(r.is_clear(0.3), "{r:?}");
        }
    }

    #[test]
    fn a_line_without_stalls_has_no_clear_phase() {
        let lines = synth::interleaved(&[0.0, 0.3], 1950.8, 20_000_000, 0, 4);
        // Fold line 1 at an unrelated period: its stalls no longer line up with the reference's.
        let o = PhaseOptions { period_ns: 1234.5, ..opts() };
        let r = relative_phase(&lines[1], &lines[0], &o).unwrap();
        assert!(!r.is_clear(0.3), "{r:?}");
    }

    #[test]
    fn bad_period_or_no_overlap_gives_none() {
        let lines = synth::interleaved(&[0.0, 0.3], 1950.8, 2_000_000, 0, 5);
        assert!(relative_phase(&lines[1], &lines[0], &PhaseOptions { period_ns: 0.0, ..opts() }).is_none());
        assert!(relative_phase(&lines[1], &lines[0], &PhaseOptions { period_ns: f64::NAN, ..opts() }).is_none());
        let late: Vec<Sample> = lines[1].iter().map(|s| Sample { t_ns: s.t_ns + 1_000_000_000, ..*s }).collect();
        assert!(relative_phase(&late, &lines[0], &opts()).is_none());
        assert!(relative_phase(&[], &lines[0], &opts()).is_none());
    }

    #[test]
    fn clustering_finds_two_groups_across_the_wrap() {
        let p = [Some(0.98), Some(0.51), Some(0.02), None, Some(0.49), Some(0.0), Some(0.53)];
        let c = cluster(&p, 0.2, 4);
        assert_eq!(c.centers.len(), 2);
        assert!(c.tight);
        assert_eq!(c.labels, vec![Some(0), Some(1), Some(0), None, Some(1), Some(0), Some(1)]);
        assert!(circular_distance(c.centers[0], 0.0) < 0.02);
        assert!((c.centers[1] - 0.51).abs() < 0.02);
    }

    #[test]
    fn clustering_one_group_empty_and_too_many() {
        let c = cluster(&[Some(0.3), Some(0.32), Some(0.29)], 0.2, 4);
        assert_eq!(c.centers.len(), 1);
        assert_eq!(c.labels, vec![Some(0); 3]);
        let c = cluster(&[None, None], 0.2, 4);
        assert!(c.centers.is_empty());
        let spread: Vec<Option<f64>> = (0..10).map(|i| Some(i as f64 / 10.0)).collect();
        let c = cluster(&spread, 0.05, 3);
        assert_eq!(c.centers.len(), 3);
        assert!(!c.tight);
        assert!(c.labels.iter().all(|l| l.is_some()));
    }

    #[test]
    fn the_bit_that_always_switches_group_is_recommended() {
        // lines 0..4 in group 0; partners: bit 6 → opposite, bit 8 → same, bit 7 → half and half.
        let phases: Vec<Option<f64>> = vec![
            Some(0.0),
            Some(0.01),
            Some(0.99),
            Some(0.02), // bases
            Some(0.5),
            Some(0.51),
            Some(0.49),
            Some(0.5), // bit 6 partners
            Some(0.0),
            Some(0.02),
            Some(0.98),
            Some(0.01), // bit 8 partners
            Some(0.5),
            Some(0.0),
            Some(0.5),
            None, // bit 7 partners
        ];
        let labels = cluster(&phases, 0.2, 4).labels;
        let mut pairs = Vec::new();
        for (k, bit) in [(1, 6), (2, 8), (3, 7)] {
            for j in 0..4 {
                pairs.push(Pair { bit, line: j, partner: 4 * k + j });
            }
        }
        let r = bit_results(&pairs, &labels, &phases, 2 << 20);
        assert_eq!(r.iter().map(|b| b.bit).collect::<Vec<_>>(), vec![6, 7, 8]);
        assert_eq!((r[0].pairs, r[0].different), (4, 4));
        assert!((r[0].mean_distance_cycles - 0.5).abs() < 0.02);
        assert_eq!((r[1].pairs, r[1].different), (3, 2));
        assert_eq!((r[2].pairs, r[2].different), (4, 0));
        assert_eq!(recommend(&r, 4), Some(64));
        assert_eq!(recommend(&r, 5), None);
        assert_eq!(recommend(&r[1..], 1), None);
        // A flip outside the page proves nothing physical.
        let r = bit_results(&pairs, &labels, &phases, 64);
        assert_eq!(recommend(&r, 1), None);
    }
}
