//! How refresh stalls fall on addresses, inferred from measured stalls without a list of known
//! patterns: for every address bit tested, how often flipping it moves a line's stall window
//! clear of the original's, and by how much; from that, whether some bit splits every frame (copies
//! that far apart stall apart), whether lines of a frame stall together (frames are the unit to
//! place), or neither.
//!
//! Pure: decisions on stalls a `Timer` measured. Never on a read path.

use super::stall::Stall;

/// What flipping one address bit does to a line's stall, over a sample of lines.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BitEffect {
    pub(crate) bit: u32,
    /// Pairs X, X ^ (1 << bit) whose stalls were both clear, and how many of them stalled apart
    /// (windows not overlapping).
    pub(crate) pairs: usize,
    pub(crate) apart: usize,
    /// Mean distance between the pairs' phases, and mean clearance between their windows (cycles).
    pub(crate) mean_distance: f64,
    pub(crate) mean_clearance: f64,
}

impl BitEffect {
    pub(crate) fn share_apart(&self) -> f64 {
        if self.pairs == 0 {
            0.0
        } else {
            self.apart as f64 / self.pairs as f64
        }
    }
}

/// The effect of every bit in `bits`, from `rows`: each row is a line X's stall followed by the
/// stalls of X ^ (1 << bits[k]) in the order of `bits`.
pub(crate) fn bit_effects(bits: &[u32], rows: &[Vec<Option<Stall>>]) -> Vec<BitEffect> {
    bits.iter()
        .enumerate()
        .map(|(k, &bit)| {
            let (mut pairs, mut apart, mut dist, mut clear) = (0usize, 0usize, 0.0, 0.0);
            for row in rows {
                if let (Some(Some(a)), Some(Some(b))) = (row.first(), row.get(k + 1)) {
                    pairs += 1;
                    apart += a.apart(b) as usize;
                    dist += a.distance(b);
                    clear += a.clearance(b);
                }
            }
            let n = pairs.max(1) as f64;
            BitEffect { bit, pairs, apart, mean_distance: dist / n, mean_clearance: clear / n }
        })
        .collect()
}

/// How the refresh stalls fall on addresses, as a sample showed it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub(crate) enum Structure {
    /// Flipping address bit `bit` (< 12) moved a line's stall clear of the original's in
    /// `agreement` of the sampled pairs, by `distance` cycles on average: copies `1 << bit` bytes
    /// apart stall apart in every frame, and frames need no placement at all.
    WithinFrame { bit: u32, agreement: f64, distance: f64 },
    /// The lines of a frame stall together (in `agreement` of the sampled pairs): frames are the
    /// unit of placement.
    WholeFrame { agreement: f64 },
    /// Neither: no tested bit always moves a line clear, and lines of one frame stall together in
    /// only `agreement` of the pairs. Nothing to place by.
    Mixed { agreement: f64 },
    /// Too few sampled lines showed a clear stall phase (`clear` of `sampled`) to tell anything:
    /// the refresh signal is too weak here, now. Nothing to place by, for now.
    Unclear { clear: usize, sampled: usize },
}

/// What a sample must show.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct InferOptions {
    /// Share of pairs that must agree (apart for a split bit, together for whole frames).
    pub(crate) min_agreement: f64,
    /// Share of the sampled rows a bit's clear pairs must cover to be judged.
    pub(crate) min_coverage: f64,
}

/// The structure the bit effects show, over `rows` sampled rows (`clear` of `sampled` lines clear).
/// Of the bits that moved lines apart in at least `min_agreement` of their pairs, the one with
/// the largest share, then the largest clearance, splits frames.
pub(crate) fn infer(effects: &[BitEffect], rows: usize, clear: usize, sampled: usize, o: &InferOptions) -> Structure {
    if clear * 4 < sampled {
        return Structure::Unclear { clear, sampled };
    }
    let judged = |e: &BitEffect| e.pairs as f64 >= o.min_coverage * rows as f64 && e.pairs >= 4;
    let split = effects
        .iter()
        .filter(|e| judged(e) && e.share_apart() >= o.min_agreement)
        .max_by(|a, b| a.share_apart().total_cmp(&b.share_apart()).then(a.mean_clearance.total_cmp(&b.mean_clearance)));
    if let Some(e) = split {
        return Structure::WithinFrame { bit: e.bit, agreement: e.share_apart(), distance: e.mean_distance };
    }
    let (together, pairs) = effects.iter().fold((0, 0), |(t, p), e| (t + e.pairs - e.apart, p + e.pairs));
    if !effects.iter().any(judged) {
        // Too few frames with two clear lines to judge either way.
        return Structure::Unclear { clear, sampled };
    }
    let agreement = together as f64 / pairs.max(1) as f64;
    if agreement >= o.min_agreement {
        Structure::WholeFrame { agreement }
    } else {
        Structure::Mixed { agreement }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(phase: f64) -> Option<Stall> {
        Some(Stall { phase, width: 0.1, confidence: 1.0 })
    }

    const O: InferOptions = InferOptions { min_agreement: 0.9, min_coverage: 1.0 / 3.0 };

    #[test]
    fn a_bit_that_moves_every_line_a_third_of_a_period_splits_frames_without_any_groups() {
        // Phases spread over the whole period (host D): no clusters, but bit 6 always moves a line
        // clear of its partner; bit 7 never does.
        let rows: Vec<Vec<Option<Stall>>> =
            (0..16).map(|k| k as f64 / 16.0).map(|p| vec![st(p), st(p + if p < 0.5 { 0.34 } else { -0.34 }), st(p + 0.01)]).collect();
        let e = bit_effects(&[6, 7], &rows);
        assert_eq!((e[0].pairs, e[0].apart, e[1].apart), (16, 16, 0));
        assert!((e[0].mean_distance - 0.34).abs() < 1e-9);
        let s = infer(&e, 16, 48, 48, &O);
        assert!(matches!(s, Structure::WithinFrame { bit: 6, agreement, .. } if agreement == 1.0), "{s:?}");
    }

    #[test]
    fn lines_that_stall_together_are_whole_frames_and_a_mixture_is_neither() {
        let together: Vec<Vec<Option<Stall>>> = (0..16).map(|k| k as f64 / 16.0).map(|p| vec![st(p), st(p + 0.02), st(p)]).collect();
        assert!(matches!(infer(&bit_effects(&[6, 7], &together), 16, 48, 48, &O), Structure::WholeFrame { .. }));
        let mixed: Vec<Vec<Option<Stall>>> = (0..16)
            .map(|k| k as f64 / 16.0)
            .map(|p| vec![st(p), st(p + if p < 0.5 { 0.3 } else { 0.0 }), st(p + if p < 0.5 { 0.0 } else { 0.3 })])
            .collect();
        assert!(matches!(infer(&bit_effects(&[6, 7], &mixed), 16, 48, 48, &O), Structure::Mixed { .. }));
        // Few clear lines: unclear, whatever the few say.
        assert_eq!(infer(&bit_effects(&[6, 7], &together), 16, 10, 48, &O), Structure::Unclear { clear: 10, sampled: 48 });
    }
}
