//! Calibration: the tracker reads the copies in turn, then finds the period, learns each copy's
//! stall profile and predicted slow shares, decides whether there is a signal to steer by, and
//! builds the choice table. Bounded work, done once a calibration's reads are in.

use super::*;

impl Tracker {
    pub(super) fn start_calibration(&mut self) {
        self.guard_from = self.guard_totals();
        self.state = SteerState::Calibrating;
        self.calibrations += 1;
        self.calib.clear();
        self.rr = 0;
    }

    /// End of calibration: find the period, learn the profiles, decide whether there is a signal,
    /// build the choice table. Work: (candidate periods) x (slow reads) table lookups, then a few
    /// passes over the calibration reads; about a millisecond for the defaults.
    pub(super) fn finish_calibration(&mut self) {
        let n = self.calib.len();
        let slow_calib = self.calib.iter().filter(|&&o| o & 1 == 1).count();
        self.window_share = slow_calib as f64 / n.max(1) as f64;
        let mut any_signal = self.learn_calibration(self.cfg.period_search);
        if !self.copies_apart && self.cfg.period_search == 0.0 {
            // A measured period is trusted as it is (a search on calibration pins it less finely),
            // unless the profiles at it show nothing to steer: a 300 ms measurement was seen
            // 0.03-0.04% off in 2 of 4 placements, enough to smear tens of milliseconds of
            // calibration into "no signal". Then a narrow search; kept only if it finds copies
            // apart (the measured period is learned again otherwise).
            any_signal = self.learn_calibration(MEASURED_PERIOD_RESCUE);
            if !self.copies_apart {
                any_signal = self.learn_calibration(0.0);
            }
        }
        self.settle_calibration(any_signal);
    }

    /// Learns the period (searched within ±`search`), the profiles and the choice table from the
    /// calibration reads; returns whether any copy shows a signal (and sets `copies_apart`).
    pub(super) fn learn_calibration(&mut self, search: f64) -> bool {
        let n = self.calib.len();
        self.search_period(search);
        self.theta = 0;
        let (bins, copies) = (self.cfg.bins, self.cfg.copies);

        // Raw counts per copy and bin, in the phase coordinates just found.
        self.clear_window();
        for k in 0..n {
            let o = self.calib[k];
            let c = ((o >> 1) & 7) as usize;
            if c >= copies {
                continue;
            }
            let b = ((o >> 4).wrapping_mul(self.step) >> self.bin_shift) as usize & self.mask;
            self.recent.reads[c * bins + b] += 1;
            self.recent.slow[c * bins + b] += (o & 1) as u32;
        }

        // Signal per copy: chi-square of slow counts across bins against a flat profile.
        let mut any_signal = false;
        for c in 0..copies {
            let cells = c * bins..(c + 1) * bins;
            let (nt, st) = cells.clone().fold((0u64, 0u64), |(a, b), i| (a + self.recent.reads[i] as u64, b + self.recent.slow[i] as u64));
            let pm = if nt == 0 { 0.0 } else { st as f64 / nt as f64 };
            let mut chi = 0.0;
            let mut dof = 0usize;
            if pm > 0.0 && pm < 1.0 {
                for i in cells.clone() {
                    let e = self.recent.reads[i] as f64 * pm;
                    if e > 0.0 {
                        let d = self.recent.slow[i] as f64 - e;
                        chi += d * d / (e * (1.0 - pm));
                        dof += 1;
                    }
                }
            }
            let z = if dof > 1 { (chi - (dof - 1) as f64) / (2.0 * (dof - 1) as f64).sqrt() } else { 0.0 };
            self.signal_z[c] = z;
            any_signal |= z >= SIGNAL_Z;

            smooth_profile(&self.recent, c, bins, &mut self.p, &mut self.scratch);
            let (lo, hi) = self.p[cells.clone()].iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            self.contrast[c] = (hi - lo).max(0.0) as f64;
        }
        for i in 0..copies * bins {
            let p = self.p[i].clamp(1e-4, 1.0 - 1e-4);
            self.log_p[i] = p.ln();
            self.log_q[i] = (1.0 - p).ln();
        }

        // Choice: per bin the copy whose worst probability within the margin is lowest.
        choice_table(&self.p, copies, bins, self.cfg.margin_bins, &mut self.choice);
        let (mut es, mut eu) = (0.0f64, 0.0f64);
        for b in 0..bins {
            es += self.p[self.choice[b] as usize * bins + b] as f64;
            eu += (0..copies).map(|c| self.p[c * bins + b] as f64).sum::<f64>();
        }
        self.expected_unsteered = eu / (bins * copies) as f64;
        // The steered share the profiles promise, judged on reads they were not learned from
        // (`held_out_steered`), not the in-sample lower of two noisy estimates in every bin.
        // In-sample only when the halves say nothing. (On hardware the two agree: the gap between
        // this promise and what steered reads measure later is not estimation bias,
        // docs/refresh-hosts.md.)
        self.expected_steered = self.held_out_steered().unwrap_or(es / bins as f64);

        // Are the copies' stalls apart? Worst bins far apart and steering predicted to help.
        // Each copy's stall centre: the phase of its profile's first harmonic (a flat-topped
        // window has no single worst bin, its centre is stable).
        let mut centre = [0.0f64; MAX_REPLICAS];
        for (c, slot) in centre.iter_mut().enumerate().take(copies) {
            let (mut re, mut im) = (0.0f64, 0.0f64);
            for b in 0..bins {
                let a = b as f64 / bins as f64 * std::f64::consts::TAU;
                re += self.p[c * bins + b] as f64 * a.cos();
                im += self.p[c * bins + b] as f64 * a.sin();
            }
            *slot = im.atan2(re) / std::f64::consts::TAU;
        }
        let mut far = 0.0f64;
        for a in 0..copies {
            for b in a + 1..copies {
                let d = (centre[a] - centre[b]).rem_euclid(1.0);
                far = far.max(d.min(1.0 - d));
            }
        }
        self.stall_distance = far;
        // A copy whose stalls come twice a period (two windows half a period apart, as pages from
        // two groups give) has no first harmonic, so no centre to measure the distance by: its
        // windows, set against the other copy's, say it instead.
        let medians = self.medians();
        let apart = self.stall_distance >= 0.25 || self.windows_apart(&medians);
        self.copies_apart = any_signal && apart && self.expected_steered <= 0.75 * self.expected_unsteered;
        if !self.copies_apart {
            // Copies that stall together gain nothing from switching; switching on noise would
            // only spread reads. Read copy 0, like an unsteered reader, and say so in the report.
            self.choice.fill(0);
            self.expected_steered = (0..bins).map(|b| self.p[b] as f64).sum::<f64>() / bins as f64;
        }
        self.floor = self.learn_floor(&medians);
        any_signal
    }

    /// Each copy's median over its bins of the smoothed profile (the level below which its bins
    /// are quiet). Uses `scratch`.
    fn medians(&mut self) -> [f32; MAX_REPLICAS] {
        let (bins, copies) = (self.cfg.bins, self.cfg.copies);
        let mut m = [0.0f32; MAX_REPLICAS];
        for (c, slot) in m.iter_mut().enumerate().take(copies) {
            let sorted = &mut self.scratch[c * bins..(c + 1) * bins];
            sorted.copy_from_slice(&self.p[c * bins..(c + 1) * bins]);
            sorted.sort_unstable_by(f32::total_cmp);
            *slot = sorted[(bins - 1) / 2];
        }
        m
    }

    /// Whether some two copies' stall windows do not overlap: each copy's window is its profile's
    /// excess over its median (`median`, from `medians`), and two windows overlap by the excess they share bin by bin, as a
    /// share of the smaller window; under a quarter is apart.
    fn windows_apart(&self, median: &[f32; MAX_REPLICAS]) -> bool {
        let (bins, copies) = (self.cfg.bins, self.cfg.copies);
        let excess = |p: &[f32], c: usize, b: usize| (p[c * bins + b] - median[c]).max(0.0);
        for a in 0..copies {
            for z in a + 1..copies {
                let (mut shared, mut wa, mut wz) = (0.0f32, 0.0f32, 0.0f32);
                for b in 0..bins {
                    let (x, y) = (excess(&self.p, a, b), excess(&self.p, z, b));
                    shared += x.min(y);
                    wa += x;
                    wz += y;
                }
                if wa.min(wz) > 0.0 && shared <= 0.25 * wa.min(wz) {
                    return true;
                }
            }
        }
        false
    }

    /// Marks each copy's quiet bins (its profile at or below its median: away from its stall
    /// window, which covers under half the period wherever stalls are periodic) and returns the
    /// floor steering predicts: per bin, the slow share of the chosen copy's quiet bins in the
    /// calibration reads, averaged, at most the steered prediction. `medians` from `medians`.
    pub(super) fn learn_floor(&mut self, medians: &[f32; MAX_REPLICAS]) -> f64 {
        let (bins, copies) = (self.cfg.bins, self.cfg.copies);
        let mut floor = [0.0f64; MAX_REPLICAS];
        for (c, slot) in floor.iter_mut().enumerate().take(copies) {
            let cells = c * bins..(c + 1) * bins;
            let median = medians[c];
            // The raw counts of the quiet bins (`recent` holds calibration's), not the smoothed
            // profile: smoothing carries the stall window's edge into its neighbours.
            let (mut reads, mut slow) = (0u64, 0u64);
            for i in cells {
                self.quiet[i] = self.p[i] <= median;
                if self.quiet[i] {
                    reads += self.recent.reads[i] as u64;
                    slow += self.recent.slow[i] as u64;
                }
            }
            *slot = slow as f64 / reads.max(1) as f64;
        }
        let floor = (0..bins).map(|b| floor[self.choice[b] as usize]).sum::<f64>() / bins as f64;
        // Never more than the whole prediction (both are estimates from the same few reads).
        floor.min(self.expected_steered)
    }

    /// After learning: the bad-block trigger, fresh windows, and the state the calibration leads to.
    pub(super) fn settle_calibration(&mut self, any_signal: bool) {
        self.floor_now = self.floor;
        self.quiet_now = [0; 2];
        self.set_guards();
        self.suspicion = 0.0;
        self.resyncing = false;

        self.clear_window();
        self.bad_blocks = 0;
        self.drift_net = 0;
        self.drift_since = self.last_t;
        if any_signal {
            self.state = SteerState::Locked;
            // Copies that stall together: nothing to steer, so reads go untimed to copy 0 until a
            // recalibration after an eighth of `retry_reads` (see `untimed_copy`): a calibration
            // that fell in a noisy spell can wash out copies that do stall apart.
            self.nosignal_left = (self.cfg.retry_reads / 8).max(1);
        } else {
            self.state = SteerState::NoSignal;
            self.nosignal_left = self.cfg.retry_reads.max(1);
        }
    }

    /// Picks the period (step) that makes the slow reads of each copy most concentrated in phase
    /// (the first-harmonic power, summed over copies), on a coarse grid over ±`period_search`
    /// then a fine one around the best.
    pub(super) fn search_period(&mut self, search: f64) {
        let nominal = self.cfg.period_ticks;
        let span = self.calib.last().map(|&o| o >> 4).unwrap_or(0) as f64;
        if search == 0.0 || span < nominal * 16.0 {
            self.step = step_for(nominal);
            return;
        }
        // Candidates spaced so the phase at the end of calibration moves 1/8 period per step.
        let coarse = (0.125 * nominal / span).max(1e-9);
        let k = ((search / coarse).ceil() as i64).min(1000);
        let mut best = (f64::MIN, 0.0f64);
        for i in -k..=k {
            let rel = i as f64 * coarse;
            let power = self.harmonic_power(step_for(nominal * (1.0 + rel)));
            if power > best.0 {
                best = (power, rel);
            }
        }
        let centre = best.1;
        for i in -8i64..=8 {
            let rel = centre + i as f64 * coarse / 8.0;
            let power = self.harmonic_power(step_for(nominal * (1.0 + rel)));
            if power > best.0 {
                best = (power, rel);
            }
        }
        self.step = step_for(nominal * (1.0 + best.1));
    }

    pub(super) fn harmonic_power(&mut self, step: u64) -> f64 {
        self.acc.fill((0.0, 0.0));
        for &o in self.calib.iter().filter(|&&o| o & 1 == 1) {
            let c = ((o >> 1) & 7) as usize;
            let (cs, sn) = self.trig.at((o >> 4).wrapping_mul(step));
            if let Some(a) = self.acc.get_mut(c) {
                a.0 += cs;
                a.1 += sn;
            }
        }
        self.acc.iter().map(|a| a.0 * a.0 + a.1 * a.1).sum()
    }

    /// Slow share of steered reads as the calibration's own reads show it, out of sample: the reads
    /// are split in two halves (alternate rounds of the copies, which calibration reads in turn,
    /// so each half holds every copy); for each half, profiles and a choice table are
    /// learned from the other half, and the half's reads of the copy that table would have chosen
    /// are counted. None when no read was chosen. Uses the block histograms and the `held`
    /// scratch (no allocation); the caller clears the windows afterwards.
    pub(super) fn held_out_steered(&mut self) -> Option<f64> {
        let (bins, copies) = (self.cfg.bins, self.cfg.copies);
        let (mut chosen, mut slow) = (0u64, 0u64);
        let mut table = [0u8; MAX_BINS];
        for fold in 0..2usize {
            self.block.reads.fill(0);
            self.block.slow.fill(0);
            for (k, &o) in self.calib.iter().enumerate() {
                let c = ((o >> 1) & 7) as usize;
                if (k / copies) % 2 == fold || c >= copies {
                    continue;
                }
                let b = ((o >> 4).wrapping_mul(self.step) >> self.bin_shift) as usize & self.mask;
                self.block.reads[c * bins + b] += 1;
                self.block.slow[c * bins + b] += (o & 1) as u32;
            }
            for c in 0..copies {
                smooth_profile(&self.block, c, bins, &mut self.held, &mut self.scratch);
            }
            choice_table(&self.held, copies, bins, self.cfg.margin_bins, &mut table[..bins]);
            for (k, &o) in self.calib.iter().enumerate() {
                let c = ((o >> 1) & 7) as usize;
                let b = ((o >> 4).wrapping_mul(self.step) >> self.bin_shift) as usize & self.mask;
                if (k / copies) % 2 == fold && c < copies && table[b] as usize == c {
                    chosen += 1;
                    slow += o & 1;
                }
            }
        }
        self.block.reads.fill(0);
        self.block.slow.fill(0);
        (chosen > 0).then(|| slow as f64 / chosen as f64)
    }
}

/// Copy `c`'s smoothed slow probability per bin from `counts` into `p` (copy-major, `bins` per
/// copy): each bin shrunk toward the copy's mean by `PRIOR_READS` reads, then two circular
/// [1 2 1] passes (`tmp`, same size, is scratch).
fn smooth_profile(counts: &BinCounts, c: usize, bins: usize, p: &mut [f32], tmp: &mut [f32]) {
    let cells = c * bins..(c + 1) * bins;
    let (nt, st) = cells.clone().fold((0u64, 0u64), |(a, b), i| (a + counts.reads[i] as u64, b + counts.slow[i] as u64));
    let pm = if nt == 0 { 0.0 } else { (st as f64 / nt as f64) as f32 };
    for i in cells.clone() {
        p[i] = (counts.slow[i] as f32 + PRIOR_READS * pm) / (counts.reads[i] as f32 + PRIOR_READS);
    }
    let mask = bins - 1;
    for _ in 0..2 {
        for b in 0..bins {
            let at = |d: usize| p[c * bins + ((b + d) & mask)];
            tmp[c * bins + b] = 0.25 * at(bins - 1) + 0.5 * at(0) + 0.25 * at(1);
        }
        p[cells.clone()].copy_from_slice(&tmp[cells.clone()]);
    }
}

/// Per bin, the copy whose worst slow probability within `margin` bins either side is lowest.
fn choice_table(p: &[f32], copies: usize, bins: usize, margin: usize, out: &mut [u8]) {
    let mask = bins - 1;
    for (b, slot) in out.iter_mut().enumerate().take(bins) {
        let mut best = (f32::MAX, 0usize);
        for c in 0..copies {
            let mut worst = 0.0f32;
            for k in 0..=2 * margin {
                worst = worst.max(p[c * bins + ((b + bins + k - margin) & mask)]);
            }
            if worst < best.0 {
                best = (worst, c);
            }
        }
        *slot = best.1 as u8;
    }
}
