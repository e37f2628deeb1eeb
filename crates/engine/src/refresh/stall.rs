//! One line's refresh stall as timing saw it, and when two copies stall apart.
//!
//! The model is continuous: a line stalls in a window of every refresh period, at a phase (where
//! the window's centre falls, in cycles of the period, relative to one reference line) with a
//! width. Two copies are apart when their windows do not overlap, whatever clusters or "groups"
//! their phases might be cut into: phases have been seen spread over the whole period, with
//! copies 64 B apart still stalling a third of a period apart.

use super::phase::circular_distance;

/// Where in the refresh period a line stalls.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Stall {
    /// Centre of the stall window, cycles of the period relative to the reference line, [0, 1).
    pub(crate) phase: f64,
    /// Width of the window, cycles (0..=1).
    pub(crate) width: f64,
    /// Confidence that the phase is real and not chance (0..1).
    pub(crate) confidence: f64,
}

impl Stall {
    /// Shortest distance between the two windows' centres, cycles in [0, 0.5].
    pub(crate) fn distance(&self, other: &Stall) -> f64 {
        circular_distance(self.phase, other.phase)
    }

    /// Gap between the two windows (cycles): the centres' distance less half of each width.
    /// Positive when they do not overlap.
    pub(crate) fn clearance(&self, other: &Stall) -> f64 {
        self.distance(other) - (self.width + other.width) / 2.0
    }

    /// Whether the two windows do not overlap: a read of one copy never waits for the other's
    /// refresh.
    pub(crate) fn apart(&self, other: &Stall) -> bool {
        self.clearance(other) > 0.0
    }
}

/// Smallest clearance among every pair of `copies` (None when fewer than two, or any unknown):
/// positive when every copy stalls apart from every other.
pub(crate) fn least_clearance(copies: &[Option<Stall>]) -> Option<f64> {
    let known: Option<Vec<Stall>> = copies.iter().copied().collect();
    let known = known?;
    let mut least: Option<f64> = None;
    for a in 0..known.len() {
        for b in a + 1..known.len() {
            let c = known[a].clearance(&known[b]);
            least = Some(least.map_or(c, |l: f64| l.min(c)));
        }
    }
    least
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(phase: f64, width: f64) -> Stall {
        Stall { phase, width, confidence: 1.0 }
    }

    #[test]
    fn windows_that_do_not_overlap_are_apart_across_the_wrap() {
        assert!(!st(0.05, 0.1).apart(&st(0.95, 0.12)), "0.1 apart across the wrap, half-widths 0.11: overlapping");
        assert!(st(0.05, 0.1).apart(&st(0.95, 0.05)), "0.1 apart across the wrap, half-widths 0.075: apart");
        assert!(st(0.1, 0.1).apart(&st(0.44, 0.1)), "a third of a period apart, narrow windows");
        assert!(!st(0.0, 0.4).apart(&st(0.3, 0.4)), "wide windows overlap");
        assert!(st(0.9, 0.38).apart(&st(0.4, 0.38)), "half a period apart, 0.38-wide bursts (host A)");
        assert!((st(0.9, 0.2).clearance(&st(0.2, 0.2)) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn least_clearance_needs_every_copy() {
        assert_eq!(least_clearance(&[Some(st(0.0, 0.1)), None]), None);
        assert_eq!(least_clearance(&[Some(st(0.0, 0.1))]), None);
        let c = least_clearance(&[Some(st(0.0, 0.1)), Some(st(0.25, 0.1)), Some(st(0.5, 0.1)), Some(st(0.75, 0.1))]).unwrap();
        assert!((c - 0.15).abs() < 1e-12, "{c}");
    }
}
