//! Following: once locked, the phase is checked against the recent reads at the end of every
//! block; a jump (a shift beyond drift range that explains the last two blocks far better) is
//! taken at once, small drift one candidate shift per observed read, and steady drift corrects
//! the period.

use super::*;

impl Tracker {
    /// Log-likelihood of the decaying recent reads if the true phase were `delta` bins ahead.
    pub(super) fn score(&self, delta: usize) -> f32 {
        self.likelihood(delta, &self.recent, None)
    }

    /// Log-likelihood of the last two blocks' reads if the true phase were `delta` bins ahead.
    pub(super) fn score_recent(&self, delta: usize) -> f32 {
        self.likelihood(delta, &self.block, Some(&self.prev_block))
    }

    /// Log-likelihood of `counts` (plus `more`) under the learned profile shifted by `delta` bins.
    pub(super) fn likelihood(&self, delta: usize, counts: &BinCounts, more: Option<&BinCounts>) -> f32 {
        #[cfg(test)]
        super::tests::SCORED.with(|n| n.set(n.get() + 1));
        let bins = self.cfg.bins;
        let mut s = 0.0f32;
        for c in 0..self.cfg.copies {
            for b in 0..bins {
                let i = c * bins + b;
                let (n, k) = match more {
                    Some(m) => (counts.reads[i] + m.reads[i], counts.slow[i] + m.slow[i]),
                    None => (counts.reads[i], counts.slow[i]),
                };
                if n == 0 {
                    continue;
                }
                let j = c * bins + ((b + delta) & self.mask);
                s += k as f32 * self.log_p[j] + (n - k) as f32 * self.log_q[j];
            }
        }
        s
    }

    /// Moves the phase estimate `delta` bins ahead (so bin(t) grows by delta), carrying the
    /// recent histograms along.
    pub(super) fn shift_phase(&mut self, delta: usize) {
        let delta = delta & self.mask;
        if delta == 0 {
            return;
        }
        self.theta = self.theta.wrapping_add((delta as u64) << self.bin_shift);
        let bins = self.cfg.bins;
        for h in [&mut self.recent, &mut self.block, &mut self.prev_block].into_iter().flat_map(BinCounts::arrays) {
            self.scratch_u.copy_from_slice(h);
            for c in 0..self.cfg.copies {
                for b in 0..bins {
                    h[c * bins + ((b + delta) & self.mask)] = self.scratch_u[c * bins + b];
                }
            }
        }
    }

    /// End of a locked block. After a bad block (a slow count well above what steering predicts),
    /// every possible phase shift is scored against the last two blocks: a shift beyond drift
    /// range that explains them better by `JUMP_GATE` nats is a phase jump and is taken at once.
    /// Both tests must pass, so neither a rise of the noise floor (no shift explains it) nor a
    /// lucky shift on quiet data (no rise) moves the phase. Otherwise small drift is followed on
    /// the longer, decaying history.
    /// Many bad blocks in a row mean stale profiles: calibrate again.
    /// Work: bins x copies x bins multiply-adds (about 30 µs at the defaults), once a block.
    pub(super) fn end_block(&mut self, t: u64) {
        self.window_share = self.window_slow as f64 / self.window_reads.max(1) as f64;
        self.follow_floor();
        self.resyncing = false;
        if self.window_cached as f64 >= RESIDENT_SHARE * self.window_reads as f64 {
            // The reads are not DRAM-bound: nothing to steer around. The phase learned stays; the
            // first bad blocks after the spell follow any jump it missed, as after any jump.
            self.resident_left = self.cfg.resident_reads.max(1);
            self.resident_spells += 1;
            self.clear_window();
            return;
        }
        if !self.copies_apart {
            // Nothing to steer (copy 0 is always read): no phase to follow.
            self.clear_window();
            return;
        }
        let bad = self.window_slow >= self.trigger;
        if bad {
            self.bad_blocks += 1;
            if self.bad_blocks > MAX_BAD_BLOCKS {
                self.shortfall = true;
                self.start_calibration();
                return;
            }
        } else {
            self.bad_blocks = 0;
        }
        if self.steering_hurts() {
            self.not_helping += 1;
            self.shortfall = true;
            self.start_calibration();
            return;
        }
        let bins = self.cfg.bins;
        let d = self.cfg.drift_bins;
        let (mut best, mut here) = ((f32::MIN, 0usize), 0.0f32);
        if bad {
            for delta in 0..bins {
                let s = self.score_recent(delta);
                if delta == 0 {
                    here = s;
                }
                if s > best.0 {
                    best = (s, delta);
                }
            }
        }
        let far = best.1.min(bins - best.1) > d;
        if bad && far && best.0 > here + JUMP_GATE {
            let centre = self.plateau_centre(best);
            self.shift_phase(centre);
            self.reacquisitions += 1;
            // History from before the jump would pull the drift check back: forget it.
            self.clear_window();
            self.drift_net = 0;
            self.drift_since = t;
            return;
        }
        // Small drift is followed on the decaying history, one candidate shift per observed read
        // from here on (a check still running from the last block is finished first).
        while self.drift_check.is_some() {
            self.drift_slice(t);
        }
        self.blocks += 1;
        self.drift_check = Some(DriftCheck { next: 0, best: (0.0, 0), halve: self.blocks & 3 == 0 });
        std::mem::swap(&mut self.block, &mut self.prev_block);
        self.block.reads.fill(0);
        self.block.slow.fill(0);
        self.reset_window_counts();
    }

    /// One step of the drift check: scores one candidate shift; after the last, takes the best
    /// shift if it beats no shift by `DRIFT_GATE` nats (and corrects the period on steady
    /// drift), then halves the history every fourth block, so the check saw it unhalved.
    pub(super) fn drift_slice(&mut self, t: u64) {
        let Some(mut check) = self.drift_check else { return };
        let d = self.cfg.drift_bins;
        if check.next == 0 {
            check.best = (self.score(0) + DRIFT_GATE, 0);
        } else {
            let k = check.next.div_ceil(2) as i64;
            let delta = if check.next % 2 == 1 { k } else { -k };
            let s = self.score(delta as usize & self.mask);
            if s > check.best.0 {
                check.best = (s, delta);
            }
        }
        check.next += 1;
        if check.next <= 2 * d {
            self.drift_check = Some(check);
            return;
        }
        self.drift_check = None;
        let step = check.best.1;
        if step != 0 {
            self.shift_phase(step as usize & self.mask);
            self.drift_steps += 1;
            self.drift_net += step;
            self.correct_period(t);
        }
        // Halve the history every fourth block: the drift check sees roughly the last eight
        // blocks, enough for the few slow reads at a stall edge to add up.
        if check.halve {
            for i in 0..self.recent.reads.len() {
                self.recent.reads[i] >>= 1;
                self.recent.slow[i] >>= 1;
            }
        }
    }

    /// Inside the steering slack many shifts explain the reads about equally well: the middle
    /// of the run of near-best shifts around the best one.
    pub(super) fn plateau_centre(&self, best: (f32, usize)) -> usize {
        let bins = self.cfg.bins;
        let near = best.0 - PLATEAU;
        let (mut lo, mut hi) = (0usize, 0usize);
        while lo < bins / 2 && self.score_recent(best.1.wrapping_sub(lo + 1) & self.mask) >= near {
            lo += 1;
        }
        while hi < bins / 2 && self.score_recent((best.1 + hi + 1) & self.mask) >= near {
            hi += 1;
        }
        (best.1 + bins + hi / 2 - lo / 2) & self.mask
    }

    /// Steady drift in one direction means the period estimate is off: fold the drift rate into
    /// the step so the phase stops running away. Keeps bin(t) continuous at `t`.
    pub(super) fn correct_period(&mut self, t: u64) {
        if self.drift_net.unsigned_abs() < 8 {
            return;
        }
        let elapsed = t.wrapping_sub(self.drift_since);
        if elapsed == 0 || elapsed > 1 << 62 {
            self.drift_net = 0;
            self.drift_since = t;
            return;
        }
        // drift_net bins over `elapsed` ticks: phase per tick is off by drift_net * 2^bin_shift / elapsed.
        let dstep = (self.drift_net as i128 * (1i128 << self.bin_shift)) / elapsed as i128;
        let dstep = dstep as i64;
        let old = t.wrapping_sub(self.t_ref).wrapping_mul(self.step).wrapping_add(self.theta);
        self.step = self.step.wrapping_add(dstep as u64);
        let new = t.wrapping_sub(self.t_ref).wrapping_mul(self.step).wrapping_add(self.theta);
        self.theta = self.theta.wrapping_add(old.wrapping_sub(new));
        self.period_updates += 1;
        self.drift_net = 0;
        self.drift_since = t;
    }
}
