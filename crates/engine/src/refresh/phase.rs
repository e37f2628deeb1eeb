//! Phase maths shared by the refresh probes, refresh-group placement and the steering tracker:
//! fixed-point phases (a phase is a 64-bit fraction of a cycle, so folding a time at a period is
//! one wrapping multiply), the cos/sin table such phases index, and circular statistics on phases
//! in cycles. Pure: no clock, no memory but the table, never on a read path.

use std::f64::consts::TAU;

/// 2^64: a whole cycle in fixed-point phase units.
pub(crate) const CYCLE: f64 = 18_446_744_073_709_551_616.0;

/// Phase advance per time unit for `period` time units per cycle (2^64 / period), clamped so
/// periods below one unit do not overflow.
#[inline]
pub(crate) fn step(period: f64) -> u64 {
    (CYCLE / period.max(1.0)).min(u64::MAX as f64) as u64
}

/// A fixed-point phase as a fraction of a cycle, in [0, 1).
#[inline]
pub(crate) fn cycles(phase: u64) -> f64 {
    phase as f64 / CYCLE
}

/// log2 of the entries of `Trig`.
pub(crate) const TRIG_BITS: u32 = 10;

/// (cos, sin) of 2^TRIG_BITS evenly spaced angles, indexed by the top bits of a fixed-point phase.
pub(crate) struct Trig {
    table: Vec<(f64, f64)>,
}

impl Default for Trig {
    fn default() -> Self {
        Trig::new()
    }
}

impl Trig {
    pub(crate) fn new() -> Trig {
        let n = 1usize << TRIG_BITS;
        let angle = |i: usize| TAU * i as f64 / n as f64;
        Trig { table: (0..n).map(|i| (angle(i).cos(), angle(i).sin())).collect() }
    }

    /// (cos, sin) of a fixed-point phase.
    #[inline(always)]
    pub(crate) fn at(&self, phase: u64) -> (f64, f64) {
        self.table[(phase >> (64 - TRIG_BITS)) as usize]
    }

    /// Σ e^{iθ} over `times` folded at the phase step `k` (θ of t is t·k, wrapping).
    #[inline]
    pub(crate) fn resultant(&self, times: &[u64], k: u64) -> (f64, f64) {
        let (mut c0, mut s0, mut c1, mut s1) = (0.0, 0.0, 0.0, 0.0);
        let mut pairs = times.chunks_exact(2);
        for p in &mut pairs {
            let (a, b) = (self.at(p[0].wrapping_mul(k)), self.at(p[1].wrapping_mul(k)));
            c0 += a.0;
            s0 += a.1;
            c1 += b.0;
            s1 += b.1;
        }
        for &t in pairs.remainder() {
            let a = self.at(t.wrapping_mul(k));
            c0 += a.0;
            s0 += a.1;
        }
        (c0 + c1, s0 + s1)
    }
}

/// x mod 1, in [0, 1).
pub fn wrap(x: f64) -> f64 {
    let r = x - x.floor();
    if r >= 1.0 {
        0.0
    } else {
        r
    }
}

/// The angle of (re, im) in cycles, in [0, 1).
pub(crate) fn angle_cycles(re: f64, im: f64) -> f64 {
    wrap(im.atan2(re) / TAU)
}

/// Shortest distance between two phases on the circle, in [0, 0.5].
pub(crate) fn circular_distance(a: f64, b: f64) -> f64 {
    let d = wrap(a - b);
    d.min(1.0 - d)
}

/// Circular mean of phases (cycles), None for an empty or perfectly balanced set.
pub(crate) fn circular_mean(phases: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut c, mut s) = (0.0, 0.0);
    for p in phases {
        c += (TAU * p).cos();
        s += (TAU * p).sin();
    }
    (c.hypot(s) > 1e-9).then(|| angle_cycles(c, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_phases_fold_times_at_the_period() {
        let k = step(1950.8);
        assert!((cycles(1950u64.wrapping_mul(k)) - 1950.0 / 1950.8).abs() < 1e-9);
        assert!(circular_distance(cycles(3902u64.wrapping_mul(k)), 0.0) < 1e-3, "two periods later the phase is back near 0");
        let t = Trig::new();
        let (c, s) = t.at(1u64 << 62); // a quarter cycle
        assert!(c.abs() < 1e-2 && (s - 1.0).abs() < 1e-4);
        let (re, im) = t.resultant(&[0, 1951, 3902, 5853], k);
        assert!(re > 3.9 && im.abs() < 0.1, "in phase: {re} {im}");
    }

    #[test]
    fn circular_statistics_wrap_around() {
        assert_eq!(wrap(-0.25), 0.75);
        assert!((circular_distance(0.95, 0.05) - 0.1).abs() < 1e-12);
        assert!((circular_mean([0.95, 0.05]).unwrap()).min(1.0 - circular_mean([0.95, 0.05]).unwrap()) < 1e-9);
        assert_eq!(circular_mean([0.0, 0.5]), None);
        assert!((angle_cycles(0.0, 1.0) - 0.25).abs() < 1e-12);
    }
}
