//! `probe groups`' pure half: lines grouped by stall phase on the circle (a description: on a host
//! whose phases spread over the period the clusters are an artefact), and which address bit flips
//! move a line's stall window clear of the original's (`refresh::Stall::apart`, the judgement that
//! counts). The stalls themselves come from `refresh::evidence`.
//!
//! Pure functions; no clocks, no memory. Phases are in cycles, in [0, 1).

use crate::refresh::Stall;

pub(crate) use crate::refresh::phase::{circular_distance, circular_mean, wrap};

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Clusters {
    /// Group of each input phase (None where the input was None).
    pub(crate) labels: Vec<Option<usize>>,
    /// Group centres in cycles; group 0 is the one nearest phase 0 (the reference line), the
    /// rest follow in increasing phase.
    pub(crate) centers: Vec<f64>,
    /// Arc each group spans, in cycles.
    pub(crate) spans: Vec<f64>,
    /// Every group spans at most `max_span` (false when `max_groups` was not enough).
    pub(crate) tight: bool,
}

/// Groups phases on the circle: cuts it at the k largest gaps, for the smallest k (1..=max_groups)
/// that leaves every group spanning at most `max_span` cycles.
pub(crate) fn cluster(phases: &[Option<f64>], max_span: f64, max_groups: usize) -> Clusters {
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
pub(crate) struct Pair {
    pub(crate) bit: u32,
    pub(crate) line: usize,
    pub(crate) partner: usize,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BitResult {
    pub(crate) bit: u32,
    /// Pairs where both lines got a clear stall.
    pub(crate) pairs: usize,
    /// … of which the partner's stall window did not overlap the line's (`refresh::Stall::apart`).
    pub(crate) apart: usize,
    /// … of which the partner fell in another phase cluster (descriptive only: on a host whose
    /// phases spread over the period, clusters are an artefact of cutting the spread).
    pub(crate) different: usize,
    pub(crate) fraction_different: f64,
    /// Mean circular distance partner↔line, in cycles (0 = same phase, 0.5 = opposite), and mean
    /// clearance between their windows (negative: overlapping).
    pub(crate) mean_distance_cycles: f64,
    pub(crate) mean_clearance_cycles: f64,
    /// 1 << bit is below the page size, so the flip is a physical flip too.
    pub(crate) within_page: bool,
}

/// Per bit: how often flipping it moves a line's stall window clear of the original's (and into
/// another cluster).
pub(crate) fn bit_results(pairs: &[Pair], labels: &[Option<usize>], stalls: &[Option<Stall>], page_size: usize) -> Vec<BitResult> {
    let mut bits: Vec<u32> = pairs.iter().map(|p| p.bit).collect();
    bits.sort_unstable();
    bits.dedup();
    bits.into_iter()
        .map(|bit| {
            let (mut n, mut apart, mut diff, mut dist, mut clear) = (0usize, 0usize, 0usize, 0.0, 0.0);
            for p in pairs.iter().filter(|p| p.bit == bit) {
                let get = |i: usize| stalls.get(i).copied().flatten();
                if let (Some(a), Some(b)) = (get(p.line), get(p.partner)) {
                    n += 1;
                    apart += a.apart(&b) as usize;
                    diff += (labels.get(p.line).copied().flatten() != labels.get(p.partner).copied().flatten()) as usize;
                    dist += a.distance(&b);
                    clear += a.clearance(&b);
                }
            }
            BitResult {
                bit,
                pairs: n,
                apart,
                different: diff,
                fraction_different: if n > 0 { diff as f64 / n as f64 } else { 0.0 },
                mean_distance_cycles: if n > 0 { dist / n as f64 } else { 0.0 },
                mean_clearance_cycles: if n > 0 { clear / n as f64 } else { 0.0 },
                within_page: bit < 64 && (1u128 << bit) < page_size as u128,
            }
        })
        .collect()
}

/// The smallest power of two ≥ 64 whose flip always (in at least `min_pairs` pairs, inside one
/// page) moved a line's stall window clear of the original's.
pub(crate) fn recommend(bits: &[BitResult], min_pairs: usize) -> Option<usize> {
    bits.iter()
        .filter(|b| b.bit >= 6 && b.bit < usize::BITS && b.within_page && b.pairs >= min_pairs.max(1) && b.apart == b.pairs)
        .map(|b| 1usize << b.bit)
        .min()
}

/// A power of two ≥ 256 whose flip never (in at least `min_pairs` pairs, inside one page) moved a
/// line's stall window clear of the original's: copies that far apart refresh together. The benchmark's same-group
/// control uses it. Prefers 256 B (the common default) when it qualifies.
pub(crate) fn same_group(bits: &[BitResult], min_pairs: usize) -> Option<usize> {
    let never = |b: &&BitResult| b.bit >= 8 && b.bit < usize::BITS && b.within_page && b.pairs >= min_pairs.max(1) && b.apart == 0;
    bits.iter().filter(never).map(|b| 1usize << b.bit).min()
}

#[cfg(test)]
pub(crate) mod synth {
    use super::*;
    use crate::refresh::spikes::Sample;
    use crate::rng::SplitMix64;

    /// Interleaved reads (a random line each time) of lines whose stalls sit at the given phases
    /// (cycles) of `period`,
    /// with the common phase jumping every `jump_ns`. Returns one trace per line.
    pub(crate) fn interleaved(phases: &[f64], period: f64, duration_ns: u64, jump_ns: u64, seed: u64) -> Vec<Vec<Sample>> {
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
    fn a_bit_that_moves_stalls_apart_is_recommended_even_where_phases_form_no_clusters() {
        // Host D: bases spread over the whole period; bit 6 moves each a third of a period, bit 7
        // nothing. No clean clusters, yet bit 6 keeps every pair's windows apart.
        let mut stalls = Vec::new();
        let mut pairs = Vec::new();
        for j in 0..12 {
            let p = j as f64 / 12.0;
            stalls.push(Some(Stall { phase: p, width: 0.1, confidence: 1.0 }));
            stalls.push(Some(Stall { phase: wrap(p + 0.34), width: 0.12, confidence: 1.0 }));
            stalls.push(Some(Stall { phase: wrap(p + 0.01), width: 0.1, confidence: 1.0 }));
            pairs.push(Pair { bit: 6, line: 3 * j, partner: 3 * j + 1 });
            pairs.push(Pair { bit: 7, line: 3 * j, partner: 3 * j + 2 });
        }
        let phases: Vec<Option<f64>> = stalls.iter().map(|s| s.map(|s| s.phase)).collect();
        let c = cluster(&phases, 0.05, 3);
        assert!(!c.tight, "three clusters of 0.05 cannot hold phases spread over the period");
        let r = bit_results(&pairs, &c.labels, &stalls, 2 << 20);
        assert_eq!((r[0].apart, r[1].apart), (12, 0));
        assert_eq!(recommend(&r, 4), Some(64));
        assert_eq!(same_group(&r, 4), None, "bit 7 is below 256 B");
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
        let stalls: Vec<Option<Stall>> = phases.iter().map(|p| p.map(|phase| Stall { phase, width: 0.2, confidence: 1.0 })).collect();
        let r = bit_results(&pairs, &labels, &stalls, 2 << 20);
        assert_eq!(r.iter().map(|b| b.bit).collect::<Vec<_>>(), vec![6, 7, 8]);
        assert_eq!((r[0].pairs, r[0].apart, r[0].different), (4, 4, 4));
        assert!((r[0].mean_distance_cycles - 0.5).abs() < 0.02);
        assert!((r[0].mean_clearance_cycles - 0.3).abs() < 0.02);
        assert_eq!((r[1].pairs, r[1].apart, r[1].different), (3, 2, 2));
        assert_eq!((r[2].pairs, r[2].apart, r[2].different), (4, 0, 0));
        assert_eq!(recommend(&r, 4), Some(64));
        assert_eq!(recommend(&r, 5), None);
        assert_eq!(recommend(&r[1..], 1), None);
        // A flip outside the page proves nothing physical.
        let r = bit_results(&pairs, &labels, &stalls, 64);
        assert_eq!(recommend(&r, 1), None);
    }
}
