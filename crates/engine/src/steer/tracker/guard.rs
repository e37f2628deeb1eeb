//! The guard: steering is checked against the exploring (unsteered) reads of the same moments;
//! when it gains less than half of what calibration predicted, the tracker calibrates again. The
//! bad-block trigger and the alarm are set from the shares steering should see now: the stall
//! excess calibration learned over the floor measured while serving (`follow_floor`).

use super::*;

/// Weight (in quiet exploring reads) of calibration's floor in the floor followed while serving:
/// about 130 000 reads of a reader observing one in 32 (one in 128 explores, about half of those
/// in a quiet bin) before the floor measured now has half the say.
const FLOOR_PRIOR_READS: f64 = 512.0;

/// Quiet exploring reads after which the followed floor's counts are halved, so it follows a
/// floor that moves over minutes.
const FLOOR_HALVE_AT: u32 = 4096;

impl Tracker {
    /// The floor now: calibration's, updated by the sampled exploring reads that fell in a quiet
    /// bin since (`quiet_now`); then the guards again.
    pub(super) fn follow_floor(&mut self) {
        let [n, k] = self.quiet_now;
        self.floor_now = (k as f64 + self.floor * FLOOR_PRIOR_READS) / (n as f64 + FLOOR_PRIOR_READS);
        if n >= FLOOR_HALVE_AT {
            self.quiet_now = [n / 2, k / 2];
        }
        self.set_guards();
    }

    /// The slow shares to expect now, steered and unsteered: calibration's, with its floor
    /// replaced by the floor measured while serving (the stall windows stay; the floor moves).
    pub(super) fn expected_now(&self) -> (f64, f64) {
        let d = self.floor_now - self.floor;
        ((self.expected_steered + d).clamp(0.0, 1.0), (self.expected_unsteered + d).clamp(0.0, 1.0))
    }

    /// The bad-block trigger (a slow count well above what locking predicts, exploring reads
    /// included) and the alarm on steered reads (`ALARM_NATS`: "lost" reads at the unsteered
    /// share, "locked" at the steered one but a quarter of the unsteered at least), from the
    /// shares expected now.
    pub(super) fn set_guards(&mut self) {
        let (steered, unsteered) = self.expected_now();
        let blk = self.cfg.block_reads as f64;
        let e = if self.cfg.explore_every > 0 { 1.0 / self.cfg.explore_every as f64 } else { 0.0 };
        let base = ((1.0 - e) * steered + e * unsteered) * blk;
        let rise = (0.35 * (unsteered - steered) * blk).max(3.0 * base.max(1.0).sqrt());
        self.trigger = (base + rise).ceil().max(2.0) as u32;
        let lost = unsteered.clamp(1e-4, 0.5);
        let locked = steered.max(0.25 * lost).clamp(1e-5, lost);
        self.alarm_llr = ((lost / locked).ln(), ((1.0 - lost) / (1.0 - locked)).ln());
    }

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
