//! The guard: steering is checked against the exploring (unsteered) reads of the same moments;
//! when it gains less than half of what calibration predicted, the tracker calibrates again.

use super::*;

impl Tracker {
    /// Whether, over the guard window, steering fell significantly short of what the profiles
    /// promise: the exploring (unsteered) reads of the same moments minus the steered reads, in
    /// share of slow reads, is below half the gain the profiles predict (z > 2 on the two
    /// proportions). Stale profiles or a wrong phase: steered reads slower than unsteered ones
    /// are the extreme case, but profiles that no longer fit also show as steering that gains
    /// nothing, at every observing rate. Resets the window once it holds enough of both.
    pub(super) fn steering_hurts(&mut self) -> bool {
        const ENOUGH: u64 = 1024;
        let now = self.guard_totals();
        let [sn, ss, en, es] = std::array::from_fn(|k| now[k] - self.guard_from[k]);
        if en < ENOUGH || sn < ENOUGH {
            return false;
        }
        self.guard_from = now;
        let (sn, ss, en, es) = (sn as f64, ss as f64, en as f64, es as f64);
        let p = (ss + es) / (sn + en);
        let se = (p * (1.0 - p) * (1.0 / sn + 1.0 / en)).sqrt();
        let promised = 0.5 * (self.expected_unsteered - self.expected_steered).max(0.0);
        se > 0.0 && (promised - (es / en - ss / sn)) / se > 2.0
    }

    pub(super) fn guard_totals(&self) -> [u64; 4] {
        [self.steered_reads, self.steered_slow, self.explored_reads, self.explored_slow]
    }
}
